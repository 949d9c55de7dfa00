"""CPU twin of ``weighted_bincount``: one Numba pass into per-partition (C, C) histograms, summed in order.

Each row ``r`` gives a true id ``t`` (from ``y_true[r, :]`` by its rule) and a
predicted id ``p`` (from ``y_pred[r, :]`` by its rule), with the named rules of
``weighted_bincount.rules`` (value truncated toward zero, argmax, or
``>= threshold``), and adds ``w`` (``weight[r]``, or 1) to ``out[t, p]``.
Rows with an id outside ``[0, C)`` on either side, or with ``t == ignore_class``,
are dropped.

Memory picture: the rows are cut into ``parts`` contiguous partitions, a
number fixed by the shapes alone; each partition reads its rows in order
(the ``Ct + Cp`` values and the weight of a row, any strides) and adds into its
own ``float64[C, C]`` histogram, which stays in cache for the usual class
counts. The partition histograms are summed in partition order and added into
``out``, so the result does not depend on the number of threads: the same
input gives the same bits on every run. ``workers.run_items`` spreads the
partitions over threads (batches below ``2 * ELEMENTS_PER_THREAD`` elements
read stay in the calling thread).
Unweighted counts are exact (float64 holds integers up to 2**53).

Compiled signatures (one per combination, cached on disk): ``y_true`` and
``y_pred`` each ``float32``, ``float64``, ``int32`` or ``int64``
(``casts.as_labels``), ``weight`` ``float32`` or ``float64``
(``casts.as_values``; a float64 placeholder when unweighted), all passed as flat
read-only views with element strides; the rules are int64 codes, thresholds
float64, the group ids a flat read-only ``int64`` view (one 0 with stride 0
ungrouped) and their count ``G``, the partition histograms
``float64[parts, G * C, C]`` (row ``g * C + t``: ``G`` multiplies the partition
histograms, so large ``G C C`` gets fewer partitions under ``HIST_BUDGET``).
syncs: none (host memory).
"""
import numba
import numpy as np

from .._shared.casts import as_labels, as_values, flat
from .._shared.compile import cpu_function
from .._shared.kinds import make_switch
from .._shared.groups import group_view
from .._shared.workers import run_items
from .rules import RULES, check_arguments, resolve

#: fewest rows per partition (fewer partitions for small batches).
CHUNK = 1 << 16
#: most partitions: enough to balance load over the cores.
MAX_PARTS = 64
#: bytes all partition histograms may take together (many classes get fewer partitions).
HIST_BUDGET = 32 << 20

row_id = make_switch(RULES, numba.njit(inline="always"), 6)
_NO_WEIGHT = flat(np.ones(1))[0]
#: the group ids of an ungrouped call: every row in group 0 (stride 0)
_NO_GROUPS = group_view(np.zeros(1, np.int64))[0]


@cpu_function
def fill(h, start, stop, t_code, t, t_rs, t_cs, t_cols, t_threshold, p_code, p, p_rs, p_cs, p_cols, p_threshold, w,
         w_s, weighted, ignore_class, gid, g_rs, groups):
    """Rows ``[start, stop)`` added into one partition's histogram ``h`` (``float64[G * C, C]``: row ``g * C + t``
    of group ``g``); rows whose group id is outside ``[0, groups)`` are dropped."""
    classes = h.shape[1]
    for r in range(start, stop):
        g = gid[r * g_rs]
        ti = row_id(t_code, t, r * t_rs, t_cs, t_cols, classes, t_threshold)
        pi = row_id(p_code, p, r * p_rs, p_cs, p_cols, classes, p_threshold)
        if ti >= 0 and pi >= 0 and ti != ignore_class and g >= 0 and g < groups:
            h[g * classes + ti, pi] += np.float64(w[r * w_s]) if weighted else 1.0


@cpu_function
def fill_one_group(h, start, stop, t_code, t, t_rs, t_threshold, p_code, p, p_rs, p_threshold, w, w_s, weighted,
                   ignore_class):
    """``fill`` for rows of one group (``h`` that group's ``[C, C]`` rows) with one column on both sides (class
    ids, thresholded scores): the rules read with ``cols = 1`` (the compiler drops the argmax's column loop) and no
    group id. The same adds in the same order as ``fill``, so the same bits; ``MeanIoU(10)`` update + result over
    1e7 class ids on one thread, 47-52 -> 30-37 ms (its first compile into an empty cache about 1.3 s longer)."""
    classes = h.shape[1]
    for r in range(start, stop):
        ti = row_id(t_code, t, r * t_rs, 0, 1, classes, t_threshold)
        pi = row_id(p_code, p, r * p_rs, 0, 1, classes, p_threshold)
        if ti >= 0 and pi >= 0 and ti != ignore_class:
            h[ti, pi] += np.float64(w[r * w_s]) if weighted else 1.0


@cpu_function
def fill_parts(lo, hi, t_code, t, t_rs, t_cs, t_cols, t_threshold, p_code, p, p_rs, p_cs, p_cols, p_threshold, w, w_s,
               weighted, ignore_class, gid, g_rs, groups, rows, hist):
    """Partitions ``lo:hi`` of ``hist.shape[0]`` (``fill``): partition ``q`` adds its rows
    ``[q N / parts, (q + 1) N / parts)`` into ``hist[q]``; one task's share."""
    parts = hist.shape[0]
    for q in range(lo, hi):
        fill(hist[q], q * rows // parts, (q + 1) * rows // parts, t_code, t, t_rs, t_cs, t_cols, t_threshold,
             p_code, p, p_rs, p_cs, p_cols, p_threshold, w, w_s, weighted, ignore_class, gid, g_rs, groups)


@cpu_function
def fill_one_group_parts(lo, hi, t_code, t, t_rs, t_cs, t_cols, t_threshold, p_code, p, p_rs, p_cs, p_cols,
                         p_threshold, w, w_s, weighted, ignore_class, gid, g_rs, groups, rows, hist):
    """``fill_parts`` for one column on both sides and one id for every row (ungrouped, or broadcast ids):
    ``fill_one_group``. The launcher picks one by the shapes, so a first call compiles one loop, not both."""
    parts = hist.shape[0]
    g = gid[0]
    if g < 0 or g >= groups:
        return
    classes = hist.shape[2]
    for q in range(lo, hi):
        fill_one_group(hist[q, g * classes:(g + 1) * classes], q * rows // parts, (q + 1) * rows // parts, t_code, t,
                       t_rs, t_threshold, p_code, p, p_rs, p_threshold, w, w_s, weighted, ignore_class)


def partitions(rows, classes, groups=1):
    """How many partitions a batch is cut into: from the shapes only, never from the thread count."""
    return max(1, min(rows, -(-rows // CHUNK), MAX_PARTS, HIST_BUDGET // (8 * groups * classes * classes)))


def histogram_arguments(y_true, y_pred, weight, true_side, pred_side, ignore_class, classes, group_ids=None,
                        groups=1):
    """The arguments of ``fill_parts`` after its range, the partition histograms (zeroed) last, after the casts and
    flat views; each side a ``(kind, threshold)`` pair from ``rules.resolve``; ungrouped, every row is in group 0 of
    1."""
    (t_kind, t_threshold), (p_kind, p_threshold) = true_side, pred_side
    t, (t_rs, t_cs) = flat(as_labels(y_true))
    p, (p_rs, p_cs) = flat(as_labels(y_pred))
    weighted = weight is not None
    w, (w_s,) = flat(as_values(weight)) if weighted else (_NO_WEIGHT, (0,))
    gid, g_rs = (_NO_GROUPS, 0) if group_ids is None else group_view(group_ids)
    rows = y_true.shape[0]
    return (t_kind.code, t, t_rs, t_cs, y_true.shape[1], t_threshold, p_kind.code, p, p_rs, p_cs, y_pred.shape[1],
            p_threshold, w, w_s, weighted, int(ignore_class), gid, g_rs, groups, rows,
            np.zeros((partitions(rows, classes, groups), groups * classes, classes)))


def weighted_bincount(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out, group_ids=None):
    """Add ``weight[r]`` (1 when ``weight`` is None) to ``out[t_r, p_r]`` for every row ``r``, in place; with
    ``group_ids`` (one int per row) ``out`` is ``(G, C, C)`` and row ``r`` adds into ``out[group_ids[r], t_r, p_r]``,
    dropped when its id is outside ``[0, G)``.

    ``y_true``: ``(N, Ct)``, ``y_pred``: ``(N, Cp)``, any dtype and strides;
    ``weight``: ``(N,)`` or None; ``out``: ``float64[C, C]``. ``true_rule`` /
    ``pred_rule``: a rule of ``RULES`` or its name: ``"value"`` (one column,
    truncated toward zero), ``"argmax"``, ``"threshold"`` (one column,
    ``>= threshold``). Rows with an id outside ``[0, C)`` or a true id equal to
    ``ignore_class`` (-1: none) are dropped.

    >>> import numpy as np
    >>> out = np.zeros((3, 3))
    >>> y_true = np.array([[0], [1], [2], [2], [5]])
    >>> y_pred = np.array([[0.1, 0.9, 0.0], [0.2, 0.7, 0.1], [0.6, 0.2, 0.2], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    >>> weighted_bincount(y_true, y_pred, np.array([1.0, 2.0, 0.5, 1.0, 9.0]), "value", "argmax", 0.0, 1, out)
    >>> out
    array([[0. , 1. , 0. ],
           [0. , 0. , 0. ],
           [0.5, 0. , 1. ]])
    """
    true_side, pred_side = resolve(true_rule, threshold), resolve(pred_rule, threshold)
    rows, classes, groups = check_arguments(y_true, y_pred, weight, true_side[0], pred_side[0], out, group_ids)
    if rows == 0:
        return
    args = histogram_arguments(y_true, y_pred, weight, true_side, pred_side, ignore_class, classes, group_ids, groups)
    hist = args[-1]
    one_group = y_true.shape[1] == 1 and y_pred.shape[1] == 1 and args[17] == 0  # one id per row, stride 0
    run_items(fill_one_group_parts if one_group else fill_parts, hist.shape[0], *args,
              elements=rows * (y_true.shape[1] + y_pred.shape[1]))
    total = hist[0]
    for part in hist[1:]:  # in partition order, whatever the thread count: the same bits on every run
        total += part
    out += total.reshape(out.shape)
