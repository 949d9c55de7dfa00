"""Keras's masks on per-sample values: ``sparse_categorical_crossentropy(..., ignore_class=c)`` gives each
ignored sample the value 0 and marks it, and a mean or sum over marked values with sample weights gives those
samples weight 0 (Keras's ``_keras_mask``, read by ``reduce_to_samplewise_values``). NumPy and CuPy arrays take no
attributes, so the mark is kept here by ``id`` for as long as the array lives, as Keras's NumPy backend keeps it.
"""
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
