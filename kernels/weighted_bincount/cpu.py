"""CPU twin of ``weighted_bincount``: one parallel Numba pass into per-partition (C, C) histograms, summed in order.

Each row ``r`` gives a true id ``t`` (from ``y_true[r, :]`` by ``true_rule``)
and a predicted id ``p`` (from ``y_pred[r, :]`` by ``pred_rule``), with the
rules of ``bincount_rules`` (value truncated toward zero, argmax, or
``>= threshold``), and adds ``w`` (``weight[r]``, or 1) to ``out[t, p]``.
Rows with an id outside ``[0, C)`` on either side, or with ``t == ignore_class``,
are dropped.

Memory picture: the rows are cut into ``parts`` contiguous partitions, a
number fixed by the shapes alone; each partition reads its rows in order
(the ``Ct + Cp`` values and the weight of a row, any strides) and adds into its
own ``float64[C, C]`` histogram, which stays in cache for the usual class
counts. The partition histograms are summed in partition order and added into
``out``, so the result does not depend on the number of threads: the same input
gives the same bits on every run. Unweighted counts are exact (float64 holds
integers up to 2**53).
syncs: none (host memory).
"""
import functools

import numba
import numpy as np

from .rules import RULES, check_arguments
from .._shared.casts import numba_readable

#: fewest rows per partition (fewer partitions for small batches).
CHUNK = 1 << 16
#: most partitions: enough to balance load over the cores.
MAX_PARTS = 64
#: bytes all partition histograms may take together (many classes get fewer partitions).
HIST_BUDGET = 32 << 20
_NO_WEIGHT = np.ones(1)
_RULES = tuple(numba.njit(inline="always")(rule) for rule in RULES)


@functools.lru_cache(maxsize=None)
def _histogram(true_rule, pred_rule):
    """The parallel pass, specialised for one pair of rules (compiled on first use, per dtype and layout).

    Only the partition loop is parallel: a small ``prange`` body keeps Numba's
    parallel compilation short; the ordered sum of the partitions is NumPy's.
    """
    true_id, pred_id = _RULES[true_rule], _RULES[pred_rule]

    @numba.njit(nogil=True)
    def fill(h, y_true, y_pred, weight, weighted, threshold, ignore_class, start, stop):
        classes = h.shape[0]
        for r in range(numba.uint64(start), numba.uint64(stop)):  # unsigned: no negative-index wraparound per read
            t = true_id(y_true, r, classes, threshold)
            p = pred_id(y_pred, r, classes, threshold)
            if t >= 0 and p >= 0 and t != ignore_class:
                h[numba.uint64(t), numba.uint64(p)] += np.float64(weight[r]) if weighted else 1.0

    @numba.njit(parallel=True, nogil=True)
    def histogram(y_true, y_pred, weight, weighted, threshold, ignore_class, hist):
        rows = y_true.shape[0]
        parts = hist.shape[0]
        for q in numba.prange(parts):
            fill(hist[q], y_true, y_pred, weight, weighted, threshold, ignore_class,
                 q * rows // parts, (q + 1) * rows // parts)

    return histogram


def partitions(rows, classes):
    """How many partitions a batch is cut into: from the shapes only, never from the thread count."""
    return max(1, min(rows, -(-rows // CHUNK), MAX_PARTS, HIST_BUDGET // (8 * classes * classes)))


def weighted_bincount(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out):
    """Add ``weight[r]`` (1 when ``weight`` is None) to ``out[t_r, p_r]`` for every row ``r``, in place.

    ``y_true``: ``(N, Ct)``, ``y_pred``: ``(N, Cp)``, any dtype and strides;
    ``weight``: ``(N,)`` or None; ``out``: ``float64[C, C]``. ``true_rule`` /
    ``pred_rule``: 0 value (one column, truncated toward zero), 1 argmax,
    2 ``>= threshold`` (one column). Rows with an id outside ``[0, C)`` or a
    true id equal to ``ignore_class`` (-1: none) are dropped.

    >>> import numpy as np
    >>> out = np.zeros((3, 3))
    >>> y_true = np.array([[0], [1], [2], [2], [5]])
    >>> y_pred = np.array([[0.1, 0.9, 0.0], [0.2, 0.7, 0.1], [0.6, 0.2, 0.2], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    >>> weighted_bincount(y_true, y_pred, np.array([1.0, 2.0, 0.5, 1.0, 9.0]), 0, 1, 0.0, 1, out)
    >>> out
    array([[0. , 1. , 0. ],
           [0. , 0. , 0. ],
           [0.5, 0. , 1. ]])
    """
    rows, classes = check_arguments(y_true, y_pred, weight, true_rule, pred_rule, out)
    if rows == 0:
        return
    weighted = weight is not None
    hist = np.zeros((partitions(rows, classes), classes, classes))
    _histogram(int(true_rule), int(pred_rule))(
        numba_readable(y_true), numba_readable(y_pred), numba_readable(weight) if weighted else _NO_WEIGHT,
        weighted, float(threshold), int(ignore_class), hist)
    total = hist[0]
    for part in hist[1:]:  # in partition order, whatever the thread count: the same bits on every run
        total += part
    out += total
