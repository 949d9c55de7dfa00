"""Keras's masks on per-sample values: ``sparse_categorical_crossentropy(..., ignore_class=c)`` gives each
ignored sample the value 0 and marks it, and a mean or sum over marked values with sample weights gives those
samples weight 0 (Keras's ``_keras_mask``, read by ``reduce_to_samplewise_values``). NumPy and CuPy arrays take no
attributes, so the mark is kept here by ``id`` for as long as the array lives, as Keras's NumPy backend keeps it.
"""
import sys
import weakref

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


def refuse_keras_mask(who, y_pred):
    """``ValueError`` naming ``who`` if ``y_pred`` carries a Keras mask: Keras's mean metrics weigh the masked
    samples 0 (``MeanMetricWrapper.update_state``), which this package's fused passes do not read."""
    if keras_mask_of(y_pred) is not None:
        raise ValueError(f"{who}: y_pred carries a Keras mask (_keras_mask, from a Masking layer or "
                         f"mask_zero=True), which Keras's mean metrics apply as sample weights and gpumetrics does not "
                         f"read; pass the mask as sample_weight (times your weights) and drop it from y_pred")
