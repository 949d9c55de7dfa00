"""The one NaN-aware argmax: NumPy's rule (the first maximum; the first NaN, if any, counts as the largest value).

Plain Python (no Numba): each twin compiles it into its kernels through
``kinds.retarget``. ``argmax`` walks a strided run of values with
``argmax_step``, one comparison. ``is_argmax`` answers "is index ``at`` the
argmax?" without finding it: a count with no branch on the data, where
``argmax``'s "is this one larger?" is a branch the CPU mispredicts about
``ln(cols)`` times per row of random scores.
"""
import numpy as np


def argmax_step(best, at, x, j):
    """``(best, at)`` once the value ``x`` at index ``j`` (after ``at``) has been seen: ``x`` wins when it is
    larger or NaN, unless ``best`` is NaN already (the first NaN stays).

    >>> argmax_step(1.0, 0, 2.0, 1), argmax_step(1.0, 0, 1.0, 1), argmax_step(1.0, 0, float("nan"), 1)[1]
    ((2.0, 1), (1.0, 0), 1)
    """
    if best == best and (x > best or x != x):
        return x, j
    return best, at


def argmax(values, start, step, count):
    """The index ``j < count`` of the largest ``values[start + j * step]`` read as float64 (``count >= 1``).

    >>> argmax(np.array([0.0, 3.0, 1.0, 3.0, 9.0]), 0, 1, 4), argmax(np.array([1.0, np.nan, 5.0]), 0, 1, 3)
    (1, 1)
    """
    best = np.float64(values[start])
    at = 0
    for j in range(1, count):
        best, at = argmax_step(best, at, np.float64(values[start + j * step]), j)
    return at


def is_argmax(values, start, step, count, at):
    """Whether ``argmax(values, start, step, count) == at`` (``0 <= at < count``): every value before ``at`` is
    below ``values[at]`` and every value after it at most ``values[at]`` (a NaN fails both); a NaN at ``at`` is the
    argmax when no NaN comes before it.

    >>> v = np.array([1.0, 3.0, 3.0, np.nan, np.nan])
    >>> [bool(is_argmax(v, 0, 1, 3, k)) for k in range(3)], [bool(is_argmax(v, 0, 1, 5, k)) for k in range(5)]
    ([False, True, False], [False, False, False, True, False])
    """
    target = np.float64(values[start + at * step])
    misses = 0
    if target == target:
        for j in range(count):
            x = np.float64(values[start + j * step])
            misses += (not (x < target)) if j < at else (not (x <= target))
    else:
        for j in range(at):
            x = np.float64(values[start + j * step])
            misses += x != x
    return misses == 0
