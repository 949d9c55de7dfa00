"""Keras's masks on per-sample values: ``sparse_categorical_crossentropy(..., ignore_class=c)`` gives each
ignored sample the value 0 and marks it, and a mean or sum over marked values with sample weights gives those
samples weight 0 (Keras's ``_keras_mask``, read by ``reduce_to_samplewise_values``). NumPy and CuPy arrays take no
attributes, so the mark is kept here by ``id`` for as long as the array lives, as Keras's NumPy backend keeps it.
A Keras layer's mask on ``y_pred`` (``keras_mask_of``) weighs a mean metric's samples the same way
(``masked_weights``).
"""
import sys
import weakref

from ._validation import broadcasts_to, squeeze_or_expand

#: ``id(values) -> mask`` of the marked arrays alive (empty almost always: a replay's check is one truth test)
MASKED = {}


def with_mask(values, mask):
    """``values``, marked with ``mask`` (True where a sample counts) until it is garbage collected."""
    key = id(values)
    MASKED[key] = mask
    weakref.finalize(values, MASKED.pop, key, None)
    return values


def mask_of(values):
    """The mask ``with_mask`` put on ``values``, or None."""
    return MASKED.get(id(values)) if MASKED else None


def keras_mask_of(x):
    """The mask a Keras layer attached to ``x`` (Keras's ``_keras_mask``: an attribute of a torch tensor, else
    Keras's table by ``id`` for arrays that take no attributes), or None. Keras is never imported here."""
    mask = getattr(x, "_keras_mask", None)
    if mask is None:
        state = sys.modules.get("keras.src.backend.common.global_state")
        table = None if state is None else state.get_global_attribute("_keras_mask_dict")
        mask = None if not table else table.get(id(x))
    return mask


def masked_weights(metric, sample_weight, mask):
    """Keras's ``apply_mask(sample_weight, mask, reduction="sum")`` of a mean metric (``MeanMetricWrapper``): the
    weights times ``y_pred``'s Keras mask, or the mask alone without weights, on ``metric``'s device. Keras
    multiplies the weights by the mask in place, after its squeeze or expand of a trailing 1, so a mask that does
    not broadcast to the weights' shape (a scalar weight, weights of shape ``(batch,)`` beside a mask of shape
    ``(batch, steps)``) is refused, as Keras's NumPy and torch backends raise."""
    mask = metric.asarray(mask, "y_pred's Keras mask")
    if sample_weight is None:
        return mask
    weight = metric.asarray(sample_weight, "sample_weight")
    mask_shape, weight_shape = squeeze_or_expand(mask.shape, weight.shape)
    if not broadcasts_to(mask_shape, weight_shape):
        raise ValueError(f"{metric.name}: sample_weight of shape {tuple(weight.shape)} does not take y_pred's Keras "
                         f"mask of shape {tuple(mask.shape)}: Keras multiplies the weights by the mask in place, so "
                         f"the mask must broadcast to the weights' shape; pass weights of the mask's shape")
    return weight.reshape(weight_shape) * mask.reshape(mask_shape)
