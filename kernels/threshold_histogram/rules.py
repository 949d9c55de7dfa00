"""The bucket rule of ``threshold_histogram``, shared by both twins as plain scalar functions.

Numba compiles them into the CPU twin (``njit``) and the CUDA kernel (device
functions) alike, so both twins bucket every prediction with the same arithmetic.
"""
import math


def transformed(p, transform):
    """``p`` as is (0), clipped to ``[0, 1]`` (1; NaN stays NaN), or ``sigmoid(p)`` (2)."""
    if transform == 1:
        if p < 0.0:
            return 0.0
        if p > 1.0:
            return 1.0
        return p
    if transform == 2:  # sigmoid, written so that exp never overflows (NaN stays NaN)
        if p >= 0.0:
            return 1.0 / (1.0 + math.exp(-p))
        e = math.exp(p)
        return e / (1.0 + e)
    return p


def bucket_search(p, thresholds, count):
    """The number of ``thresholds[:count]`` strictly below ``p``, by a branch-free binary search (0 for NaN).

    Invariant: the answer lies in ``[base, base + n]``; each step halves ``n``
    with a select instead of a branch, so the loop runs ``ceil(log2(count))``
    times whatever the data.
    """
    if count == 0:
        return 0
    base = 0
    n = count
    while n > 1:
        half = n >> 1
        base = base + half if thresholds[base + half] < p else base
        n -= half
    return base + 1 if thresholds[base] < p else base


def bucket_evenly(p, thresholds, count):
    """``bucket_search`` for thresholds near ``i / (count - 1)``: an O(1) guess, fixed up against the values."""
    x = p * (count - 1)
    if x > 0.0:  # False for NaN: NaN stays in bucket 0, as no comparison below moves it
        k = count if x >= count else int(math.ceil(x))
    else:
        k = 0
    while k < count and thresholds[k] < p:
        k += 1
    while k > 0 and not thresholds[k - 1] < p:
        k -= 1
    return k


def check_out_shapes(y_pred, thresholds, out_pos, out_neg):
    """Both launchers refuse states that are not ``[T + 1, L]``: a kernel would write out of bounds."""
    expected = (thresholds.shape[0] + 1, y_pred.shape[1])
    if out_pos.shape != expected or out_neg.shape != expected:
        raise ValueError(f"out_pos and out_neg must have shape {expected}, got {out_pos.shape} and {out_neg.shape}")
