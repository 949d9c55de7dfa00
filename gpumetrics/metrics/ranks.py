"""Exact ranking areas: scores as sortable integer keys, and ROC / PR areas from the weight at each distinct score.

A float's bit pattern with the sign bit flipped for positives and every bit
flipped for negatives is an unsigned integer in the order of the floats (the
transform radix sorts use). ``-0.0`` is made ``+0.0`` first, so the two tie,
and NaN gets key 0, below ``-inf``: the place the threshold metrics give NaN
(above no threshold). Both areas are computed as scikit-learn does, ties
included: ROC = the weighted Mann-Whitney statistic with ½ per tied
positive-negative pair (``roc_auc_score``); PR = average precision, a step sum
without interpolation (``average_precision_score``).
"""
from .ratios import divide_no_nan, largest_to_2_960, unit_scaled

#: bins of the 16-bit path: one per bit pattern of a float16 or bfloat16 score
BINS = 2 ** 16


def sortable_keys(xp, scores, bits=32):
    """``uint32`` (``bits=32``, float32 scores) or ``uint16`` (``bits=16``, float16 scores) keys in score order.

    >>> import numpy as np
    >>> keys = sortable_keys(np, np.array([np.nan, -np.inf, -1.0, -0.0, 0.0, 1e-30, 1.0, np.inf], np.float32))
    >>> keys.tolist()[:3], bool(keys[3] == keys[4]), bool(np.all(np.diff(keys[4:].astype(np.int64)) > 0))
    ([0, 8388607, 1082130431], True, True)
    """
    signed, unsigned = (xp.int32, xp.uint32) if bits == 32 else (xp.int16, xp.uint16)
    canonical = scores + scores.dtype.type(0)  # -0.0 + 0.0 == +0.0
    raw = canonical.view(signed)
    keys = (raw ^ ((raw >> (bits - 1)) | signed(-2 ** (bits - 1)))).view(unsigned)
    return xp.where(canonical != canonical, unsigned(0), keys)


def bfloat16_bins(xp, widened):
    """The 16-bit keys of bfloat16 scores widened to float32 (a bfloat16 is a float32's top half): 16-bit order."""
    return sortable_keys(xp, widened.astype(xp.float32, copy=False)) >> 16


def pack(keys, positive, out):
    """``out[...] = key << 1 | label`` (uint64): sorting the packed values sorts by score, negatives first on ties."""
    out[...] = keys
    out <<= 1
    out |= positive


#: weighted keys sort with their index in the low bits (33 + 30 bits) while there are at most this many
INDEXED_SORT_ROWS = 2 ** 30


def _sorted(xp, packed, weights):
    """``packed`` sorted, and ``weights`` in that order (ties in storage order). A keys-only sort of ``key << 30 |
    index`` carries the permutation where the index fits 30 bits (an argsort of 64-bit keys is several times
    slower), a stable argsort beyond."""
    if weights is None:
        return xp.sort(packed), None
    if packed.size > INDEXED_SORT_ROWS:
        order = xp.argsort(packed, kind="stable")
        return packed[order], weights[order]
    indexed = packed << 30
    indexed |= xp.arange(packed.size, dtype=xp.uint64)
    indexed = xp.sort(indexed)
    return indexed >> 30, weights[(indexed & (2 ** 30 - 1)).view(xp.int64)]


def grouped(xp, packed, weights=None):
    """``(positive, negative)`` weight (float64) at each distinct score, ascending, from one label's packed keys
    (``weights``: None for 1 each). Sorts on the device (``_sorted``), then one pass over the sorted keys."""
    packed, weights = _sorted(xp, packed, weights)
    if packed.size == 0:
        return xp.zeros(0), xp.zeros(0)
    labels = (packed & 1).view(xp.int64)
    keys = packed >> 1
    ends = xp.concatenate([xp.flatnonzero(keys[1:] != keys[:-1]), xp.asarray([packed.size - 1])])
    if weights is None:
        pos_total = xp.cumsum(labels)[ends]
        neg_total = (ends + 1) - pos_total
    else:
        weights = largest_to_2_960(xp, weights, xp.max(xp.abs(weights)))  # the areas are ratios: same bits; the
        positive_weights = weights * labels  # totals neither overflow (1e307) nor lose bits to subnormals (1e-320)
        pos_total = xp.cumsum(positive_weights)[ends]
        neg_total = xp.cumsum(weights - positive_weights)[ends]
    return (xp.diff(pos_total, prepend=0).astype(xp.float64),
            xp.diff(neg_total, prepend=0).astype(xp.float64))


def area(xp, positive, negative, curve):
    """The exact ROC area or average precision from per-score weights in ascending score order (0-d float64).

    One class absent (no positive or no negative weight) gives 0 for ROC, as Keras's ``AUC`` does (scikit-learn
    raises); no positive weight gives 0 for PR (scikit-learn: 0 with a warning).

    >>> import numpy as np
    >>> positive, negative = grouped(np, np.array([4 << 1 | 1, 2 << 1, 4 << 1, 6 << 1 | 1], np.uint64))
    >>> positive.tolist(), negative.tolist()
    ([0.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    >>> float(area(np, positive, negative, "ROC")), float(area(np, positive, negative, "PR"))  # = scikit-learn
    (0.875, 0.8333333333333333)
    """
    if curve == "ROC":  # each class scaled by a power of 2: the same bits, and P * N cannot underflow
        positive, negative = unit_scaled(xp, positive), unit_scaled(xp, negative)
        below = xp.cumsum(negative) - negative
        pairs = xp.sum(positive * (below + 0.5 * negative))
        return divide_no_nan(xp, pairs, xp.sum(positive) * xp.sum(negative))
    at_or_above_positive = xp.cumsum(positive[::-1])[::-1]
    at_or_above = at_or_above_positive + xp.cumsum(negative[::-1])[::-1]
    precision = divide_no_nan(xp, at_or_above_positive, at_or_above)
    return divide_no_nan(xp, xp.sum(positive * precision), xp.sum(positive))

