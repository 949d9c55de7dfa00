"""Keras's masks on per-sample values: ``sparse_categorical_crossentropy(..., ignore_class=c)`` gives each
ignored sample the value 0 and marks it, and a mean or sum over marked values with sample weights gives those
samples weight 0 (Keras's ``_keras_mask``, read by ``reduce_to_samplewise_values``). NumPy and CuPy arrays take no
attributes, so the mark is kept here by ``id`` for as long as the array lives, as Keras's NumPy backend keeps it.
A Keras layer's mask on ``y_pred`` (``keras_mask_of``) weighs a mean metric's samples the same way
(``masked_weights``).
"""
import sys
import weakref

from ._validation import broadcast_shape, squeeze_or_expand

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


def masked_weights(metric, sample_weight, mask, what):
    """Keras's ``apply_mask(sample_weight, mask, reduction="sum")``: the weights times ``mask`` (named ``what`` in
    errors), or the mask alone without weights, on ``metric``'s device, their ranks aligned first as Keras aligns
    them (a trailing 1 squeezed or added). Weights and a mask of two ranks other than a scalar's, such as weights
    ``(batch,)`` beside a mask ``(batch, steps)``, are refused: broadcasting pairs their axes from the right (a
    weight per step, not per sample), and Keras raises there (on JAX unless ``batch == steps``). A scalar weight
    and weights ``(batch, 1)`` beside ``(batch, steps)`` broadcast, as on Keras's JAX backend; its NumPy and torch
    backends raise there, multiplying in place."""
    mask = metric.asarray(mask, what)
    if sample_weight is None:
        return mask
    weight = metric.asarray(sample_weight, "sample_weight")
    mask_shape, weight_shape = aligned_mask_shapes(metric, weight.shape, mask.shape, what)
    broadcast_shape(mask_shape, weight_shape, what, "sample_weight")
    return weight.reshape(weight_shape) * mask.reshape(mask_shape)


def aligned_mask_shapes(metric, weight_shape, mask_shape, what):
    """The shapes of a mask and its weights with their ranks aligned as Keras aligns them, or the ``ValueError`` of
    ``masked_weights`` for weights and a mask of two ranks (other than a scalar weight). Shapes only, so
    ``gpumetrics.keras`` runs the same check on the traced shapes of a compiled step."""
    weight_shape, mask_shape = tuple(weight_shape), tuple(mask_shape)
    aligned_mask, aligned_weight = squeeze_or_expand(mask_shape, weight_shape)
    if len(aligned_mask) != len(aligned_weight) and aligned_mask and aligned_weight:
        raise ValueError(f"{metric.name}: sample_weight of shape {weight_shape} and {what} of shape "
                         f"{mask_shape} differ in rank: broadcasting would pair their axes from the right "
                         f"(a weight per step, not per sample), and Keras raises; pass weights of the mask's "
                         f"shape, or (batch, 1, ...) for one weight per sample")
    return aligned_mask, aligned_weight
