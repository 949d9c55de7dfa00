"""The one NaN-aware argmax: NumPy's rule (the first maximum; the first NaN, if any, counts as the largest value).

Plain Python (no Numba): each twin compiles it into its kernels through
``kinds.retarget``. ``argmax_step`` is one comparison, for kernels that find
several argmaxes in one pass over a row; ``argmax`` walks a strided run of
values with it.
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
