"""CPU twin of ``threshold_histogram``: one Numba pass into per-partition histograms, summed in order.

The bucket rule, shared by both twins (each compiles the scalar functions of
``rules.py`` for its own target):

* ``p`` is ``float64(y_pred)`` under its transform (``rules.TRANSFORMS``):
  ``as_is``, ``clip`` to ``[0, 1]`` (NaN stays NaN) or ``sigmoid``
  (``from_logits``).
* ``k`` = the number of thresholds strictly below ``p``, i.e.
  ``searchsorted(thresholds, p, side="left")``: the prediction is positive at
  threshold ``i`` (``p > thresholds[i]``) exactly when ``k > i``, so TP at
  threshold ``i`` is ``out_pos[i + 1:].sum(0)``. NaN is below no threshold
  (``NaN > t`` is False): ``k = 0``.
* The ``evenly_spaced`` bucketing (``rules.BUCKETINGS``; ``binary_search``
  otherwise) guesses ``k = ceil(p * (T - 1))`` in O(1), then steps
  the guess until ``thresholds[k - 1] < p <= thresholds[k]`` holds against the
  actual threshold values, so the result is exactly the binary search's
  (usually zero or one step; any sorted thresholds stay correct).
* ``y_true`` counts as positive when it is non-zero (NaN included) and adds
  ``w`` (``weight``, or 1) to ``out_pos[k, l]``; otherwise ``w`` goes to
  ``out_neg[k, l]``. With ``out_other``, a positive label that is not exactly 1
  (2, 0.3, NaN) also adds ``w`` to ``out_other[k, l]``: what ``BinaryAccuracy``
  needs to share the pass (Keras never matches such a label; ``rules.py``).

Keras 3 (``metrics_utils.update_confusion_matrix_variables``), for the caller:

* Clipping: only the evenly spaced path (``_update_confusion_matrix_variables_optimized``,
  taken when ``is_evenly_distributed_thresholds`` holds: at least 3 thresholds
  within 1e-7 of ``i / (T - 1)``, e.g. ``AUC``'s) clips ``y_pred`` to
  ``[0, 1]``; the general path compares the raw ``y_pred > t``. So 1.5 is
  below ``1 + 1e-7`` on the first path and above it on the second: pass
  ``transform="clip"`` exactly when Keras would take its evenly spaced path.
  ``AUC(from_logits=True)`` applies the sigmoid before either path.
* Labels: both paths cast ``y_true`` to bool, so soft labels (0.3) count as
  whole positives, not as ``0.3 w`` positive plus ``0.7 w`` negative.
* NaN predictions: the general path counts them below every threshold
  (``k = 0``). On the evenly spaced path the bucket index is ``int(NaN)``:
  the NumPy and torch backends drop it (equivalent to ``k = 0``), the JAX
  backend puts it above the first threshold only (``k = 1``); we use ``k = 0``.
* Precision: Keras compares in the state dtype (float32): ``y_pred`` and the
  thresholds are cast first, and the evenly spaced bucket is
  ``ceil(p * (T - 1)) - 1`` in float32, which for ``T = 200`` puts the float32
  values ``i / 199``, i in {31, 53, 62, 103, 106, 111, 119, 124}, above their
  own threshold. Here both are compared exactly in float64.

Memory picture: the rows are cut into ``parts`` contiguous partitions, a
number fixed by the shapes alone; each partition walks its elements in
batches of ``BATCH``: transform, bucket (binary searches run in lockstep over
the batch, so their load-compare chains overlap), then one add per element
(where no search needs batching, element by element instead: ``column_loop``
for one column, ``rows_loop`` for several, each compiled once per bucket rule,
``evenly_spaced`` (AUC's 200 thresholds over 1e7 rows on one thread in 39
against 76 ms) or, for at most ``COUNTED_MAX`` thresholds, the thresholds below
each prediction counted with no branch on the data (``Precision``'s one over 1e6
rows in 2.3-2.6 against 6.0 ms)) into its own ``[P, T + 1, L]`` histogram (label plane, bucket, column; ``P`` = 3
with ``out_other``, else 2), no branch on the label (``float64`` sums weighted; ``uint32`` counts unweighted, half the
bytes, so a grouped histogram stays in cache longer: about 35% less time for
the random adds of 1e7 rows into a 1,000-group, 201-bucket histogram here; no
partition counts ``2**32`` elements). Partition histograms are summed in partition order and added
into the state, so the result does not depend on the number of threads: the
same input gives the same bits on every run. The partition count depends on
the shapes alone, not on the threads (``workers.run_items`` spreads the
partitions over them; batches below ``2 * ELEMENTS_PER_THREAD`` elements stay in the
calling thread).

Compiled signatures (one per combination, cached on disk; at most 16):
``y_true`` ``float32``, ``float64``, ``int32`` or ``int64``
(``casts.as_labels``); ``y_pred`` ``float32`` or ``float64`` and ``weight``
``float32`` or ``float64`` (``casts.as_values``; unweighted calls pass
``y_pred`` in its place); each a flat read-only view with element strides.
``thresholds`` a flat read-only ``float64`` view (contiguous), the two kind
codes int64, the group ids a flat read-only ``int64`` view (``rules.group_view``;
ungrouped calls pass one 0 with stride 0) and their count ``G``, ``out_pos`` /
``out_neg`` the C-contiguous ``float64[T + 1, G * L]`` states, the ``split`` flag and ``out_other`` (of the
same type; ``out_neg`` in its place when not split).

Groups: element ``(n, l)`` adds into column ``g * L + l`` (``g = group_ids[n]``)
of each partition's ``[P, T + 1, G * L]`` histogram, so ``G`` multiplies the
partition histograms (fewer partitions under ``HIST_BUDGET`` when ``G`` is
large) and nothing else; rows with ``g`` outside ``[0, G)`` add nothing.
syncs: none (host memory).
"""
import numba
import numpy as np

from .._shared.compile import cpu_function, specialized
from .._shared.kinds import make_switch, retarget
from .._shared.groups import group_view
from .._shared.workers import alone, run_items
from .rules import BUCKETINGS, TRANSFORMS, OTHER, check_other, count_below, count_groups, pass_arguments

#: fewest elements per partition (fewer partitions for small batches).
CHUNK = 1 << 16
#: most partitions: enough to balance load over the cores.
MAX_PARTS = 64
#: most elements of one partition: its unweighted ``uint32`` counters must not wrap.
MAX_PART_ELEMENTS = (1 << 32) - 1
#: bytes all partition histograms may take together (large T x L gets fewer partitions).
HIST_BUDGET = 32 << 20
#: predictions bucketed together (binary searches run in lockstep over a batch).
BATCH = 32
#: the most thresholds counted one by one for each prediction (``rules.count_below``) rather than searched for in
#: lockstep batches (``searched_fill``): one column of 1e6 rows on one thread took 2.3-2.6 / 2.9-3.5 / 4.5-5.7 /
#: 5.9-6.3 / 7.2-7.9 ms counted at 1 / 3 / 7 / 15 / 31 thresholds, against 6.0 / 7.5 / 8.2 / 9.0 / 9.8-10.2 searched;
#: 63 took the same either way.
COUNTED_MAX = 32
_EVENLY_SPACED = BUCKETINGS["evenly_spaced"].code
#: the group ids of an ungrouped call: every row in group 0 (stride 0), so one compiled signature serves both
_NO_GROUPS = group_view(np.zeros(1, np.int64))[0]

_jit = numba.njit(inline="always", error_model="numpy")
transformed = make_switch(TRANSFORMS, _jit, 1)
evenly_spaced = retarget(BUCKETINGS["evenly_spaced"].rule, _jit)
counted = retarget(count_below, _jit)


@_jit
def _bucket_search_batch(p, k, m, thresholds, count):
    """``k[j] = binary_search(p[j], ...)`` for ``j < m``, the searches run in lockstep.

    One level at a time for the whole batch: the ``m`` searches are independent,
    so the CPU overlaps their load-compare chains instead of waiting on each.
    """
    for j in range(m):
        k[j] = 0
    if count == 0:
        return
    n = count
    while n > 1:
        half = n >> 1
        for j in range(m):
            k[j] += half if thresholds[k[j] + half] < p[j] else 0
        n -= half
    for j in range(m):
        k[j] += 1 if thresholds[k[j]] < p[j] else 0


@cpu_function
def searched_fill(h, n, t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, cols, thresholds, count, transform, gid,
                  g_rs, groups, split, r, stop):
    """Add rows ``r:stop`` into one partition's histogram ``[label plane, bucket, group * cols + column]``: weights
    into the float64 ``h``, or, unweighted, counts into the uint32 ``n`` (half the bytes: a grouped histogram stays
    in cache longer); ``split``: a non-zero label other than 1 also adds into plane ``OTHER``. Rows whose group id
    is outside ``[0, groups)`` are dropped. The buckets are binary searches run in lockstep over batches of
    ``BATCH`` elements: more than ``COUNTED_MAX`` thresholds that are not evenly spaced."""
    v = np.empty(BATCH)
    k = np.empty(BATCH, np.intp)
    c = 0
    left = (stop - r) * cols
    while left > 0:
        m = min(BATCH, left)
        rb = r
        cb = c
        for j in range(m):
            v[j] = transformed(transform, np.float64(p[r * p_rs + c * p_cs]))
            c += 1
            if c == cols:
                c = 0
                r += 1
        _bucket_search_batch(v, k, m, thresholds, count)
        r = rb
        c = cb
        for j in range(m):
            g = gid[r * g_rs]
            if g >= 0 and g < groups:
                tv = t[r * t_rs + c * t_cs]
                label = 1 if tv != 0 else 0
                other = split and label == 1 and tv != 1
                if weighted:
                    wv = np.float64(w[r * w_rs + c * w_cs])
                    h[label, k[j], g * cols + c] += wv
                    if other:
                        h[OTHER, k[j], g * cols + c] += wv
                else:
                    n[label, k[j], g * cols + c] += np.uint32(1)
                    if other:
                        n[OTHER, k[j], g * cols + c] += np.uint32(1)
            c += 1
            if c == cols:
                c = 0
                r += 1
        left -= m


def column_loop(h, n, t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, cols, thresholds, count, transform, gid,
                g_rs, groups, split, r, stop):
    """``searched_fill`` for a one-column batch, each bucket by ``rule`` (nothing to overlap): element by element,
    one small loop per case. Rows of one group (``g_rs == 0``: every ungrouped call) without ``split`` read no group
    id and no label beyond its sign. The same adds in the same order, so the same bits. Compiled once per rule
    (``column_fill``, ``column_counted_fill``: ``specialized`` copies with ``rule`` bound), so a first call compiles
    its own rule alone. (One loop calling either rule by a flag added 0.3-0.4 s to every first call; the rule as a
    call of its own ran 1.5-2x slower.)"""
    extras = thresholds.shape[0] - count
    if g_rs == 0 and not split:
        g = gid[0]
        if g < 0 or g >= groups:
            return
        if weighted:
            for i in range(r, stop):
                k = rule(transformed(transform, np.float64(p[i * p_rs])), thresholds, count, extras)
                h[1 if t[i * t_rs] != 0 else 0, k, g] += np.float64(w[i * w_rs])
        else:
            for i in range(r, stop):
                k = rule(transformed(transform, np.float64(p[i * p_rs])), thresholds, count, extras)
                n[1 if t[i * t_rs] != 0 else 0, k, g] += np.uint32(1)
        return
    for i in range(r, stop):
        g = gid[i * g_rs]
        if g >= 0 and g < groups:
            k = rule(transformed(transform, np.float64(p[i * p_rs])), thresholds, count, extras)
            tv = t[i * t_rs]
            label = 1 if tv != 0 else 0
            other = split and label == 1 and tv != 1
            if weighted:
                wv = np.float64(w[i * w_rs])
                h[label, k, g] += wv
                if other:
                    h[OTHER, k, g] += wv
            else:
                n[label, k, g] += np.uint32(1)
                if other:
                    n[OTHER, k, g] += np.uint32(1)


def rows_loop(h, n, t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, cols, thresholds, count, transform, gid,
              g_rs, groups, split, r, stop):
    """``column_loop`` for a batch of several columns (``AUC(multi_label=True)``, ``F1Score``), row by row: the same
    adds in the same order, so the same bits (``rows_fill``, ``rows_counted_fill``)."""
    extras = thresholds.shape[0] - count
    for i in range(r, stop):
        g = gid[i * g_rs]
        if g < 0 or g >= groups:
            continue
        for c in range(cols):
            k = rule(transformed(transform, np.float64(p[i * p_rs + c * p_cs])), thresholds, count, extras)
            tv = t[i * t_rs + c * t_cs]
            label = 1 if tv != 0 else 0
            other = split and label == 1 and tv != 1
            if weighted:
                wv = np.float64(w[i * w_rs + c * w_cs])
                h[label, k, g * cols + c] += wv
                if other:
                    h[OTHER, k, g * cols + c] += wv
            else:
                n[label, k, g * cols + c] += np.uint32(1)
                if other:
                    n[OTHER, k, g * cols + c] += np.uint32(1)


def partitioned(lo, hi, hist, counts, t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, rows, cols, thresholds,
                count, bucketing, transform, gid, g_rs, groups, split, planes, out_pos, out_neg, out_other, finish):
    """Partitions ``lo:hi`` of the rows, partition ``q`` by ``fill_one`` into ``hist[q]`` (weighted) or
    ``counts[q]``: one task's share; ``finish`` (the one task of a call): then ``add_parts`` over every bucket.
    A task per loop (``searched_parts``, ``column_parts``, ...: ``specialized`` copies with ``fill_one`` bound);
    ``fill_one`` is a compiled function of its own: a loop inlined here ran up to 20% slower (``AUC()``, 1e6 rows,
    one thread: 5.0-5.1 against 4.2-4.4 ms)."""
    parts = hist.shape[0]
    for q in range(lo, hi):
        fill_one(hist[q], counts[q], t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, cols, thresholds, count,
                 transform, gid, g_rs, groups, split, q * rows // parts, (q + 1) * rows // parts)
    if finish:
        add_parts(np.int64(0), out_pos.shape[0], hist, counts, weighted, planes, out_pos, out_neg, out_other)


@cpu_function
def add_parts(lo, hi, hist, counts, weighted, planes, out_pos, out_neg, out_other):
    """Buckets ``lo:hi`` of the partition histograms summed in partition order into the states (plane 0 negatives,
    1 positives, ``OTHER`` the other positives): one task's share."""
    parts = hist.shape[0] if weighted else counts.shape[0]
    for b in range(lo, hi):
        for c in range(out_pos.shape[1]):
            for plane in range(planes):
                v = 0.0
                for q in range(parts):
                    v += hist[q, plane, b, c] if weighted else np.float64(counts[q, plane, b, c])
                if plane == 0:
                    out_neg[b, c] += v
                elif plane == 1:
                    out_pos[b, c] += v
                else:
                    out_other[b, c] += v


#: bound in each compiled copy of the loops above (``specialized``): the bucket rule, and the loop a task runs
rule = fill_one = None
column_fill = cpu_function(specialized(column_loop, "column_fill", rule=evenly_spaced))
column_counted_fill = cpu_function(specialized(column_loop, "column_counted_fill", rule=counted))
rows_fill = cpu_function(specialized(rows_loop, "rows_fill", rule=evenly_spaced))
rows_counted_fill = cpu_function(specialized(rows_loop, "rows_counted_fill", rule=counted))
searched_parts = cpu_function(specialized(partitioned, "searched_parts", fill_one=searched_fill))
column_parts = cpu_function(specialized(partitioned, "column_parts", fill_one=column_fill))
column_counted_parts = cpu_function(specialized(partitioned, "column_counted_parts", fill_one=column_counted_fill))
rows_parts = cpu_function(specialized(partitioned, "rows_parts", fill_one=rows_fill))
rows_counted_parts = cpu_function(specialized(partitioned, "rows_counted_parts", fill_one=rows_counted_fill))


def _task(cols, bucketing, count):
    """The task function of a call, picked by the shape, the bucketing and the thresholds' count, so that a first
    call compiles the one loop it runs."""
    if bucketing == _EVENLY_SPACED:
        return column_parts if cols == 1 else rows_parts
    if count <= COUNTED_MAX:
        return column_counted_parts if cols == 1 else rows_counted_parts
    return searched_parts


def threshold_histogram(y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg, group_ids=None,
                        out_other=None, extras=0):
    """Add per-bucket positive and negative weight into ``out_pos`` / ``out_neg`` (``float64[T + 1, G * L]``), in place.

    ``y_true``, ``y_pred``: ``(N, L)`` of one shape, any strides; ``weight``:
    ``(N, L)`` or None; ``thresholds``: sorted ``float64[T]``. Element
    ``(n, l)`` lands in bucket ``k`` = number of thresholds strictly below its
    (transformed) prediction and adds ``w`` to ``out_pos[k, l]`` when
    ``y_true != 0``, else to ``out_neg[k, l]``. ``bucketing`` names a
    ``rules.BUCKETINGS`` kind (``"binary_search"``, ``"evenly_spaced"``),
    ``transform`` a ``rules.TRANSFORMS`` one (``"as_is"``, ``"clip"``: Keras
    clips only on its evenly spaced path, ``"sigmoid"``). ``group_ids``: ``(N,)``
    integers or None (``G = 1``); row ``n`` adds into column ``group_ids[n] * L + l``
    of a ``G * L``-column state and is dropped when its id is outside ``[0, G)``. ``out_other`` (of their shape)
    or None: the weight of the positive labels that are not exactly 1, counted as well (``rules.OTHER``).
    ``extras``: how many entries at the end of ``thresholds`` are ``rules.grid_hint``'s table (a hint for
    ``evenly_spaced``; ``T`` is the length less them).

    >>> import numpy as np
    >>> t = np.array([-1e-7, 0.5, 1 + 1e-7])
    >>> pos, neg = np.zeros((4, 1)), np.zeros((4, 1))
    >>> y_true = np.array([[1], [0], [1], [1]])
    >>> y_pred = np.array([[0.5], [0.7], [1.5], [np.nan]])
    >>> threshold_histogram(y_true, y_pred, None, t, "evenly_spaced", "clip", pos, neg)
    >>> pos.ravel(), neg.ravel()
    (array([1., 1., 1., 0.]), array([0., 0., 1., 0.]))
    """
    check_other(out_pos, out_other)
    groups = count_groups(y_pred, group_ids, out_pos)
    arguments = pass_arguments(y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg, groups,
                               extras)
    if arguments is None:
        return
    gid, g_rs = (_NO_GROUPS, 0) if group_ids is None else group_view(group_ids)
    rows, cols, count = arguments.rows, arguments.cols, arguments.count
    # the budget counts two planes whether or not ``out_other`` is given: the partitions, so the order of the sums,
    # are the same with and without it (a shared pass then gives the positive and negative planes bit for bit)
    parts = max(1, min(rows, -(-rows * cols // CHUNK), MAX_PARTS, HIST_BUDGET // (16 * (count + 1) * groups * cols)),
                -(-rows * cols // MAX_PART_ELEMENTS))
    split = out_other is not None
    planes = OTHER + 1 if split else 2
    shape, unused = (parts, planes, count + 1, groups * cols), (parts, 1, 1, 1)
    weighted = arguments.weighted
    hist = np.zeros(shape if weighted else unused)
    counts = np.zeros(unused if weighted else shape, np.uint32)
    task = _task(cols, arguments.bucketing, count)
    outputs = (planes, out_pos, out_neg, out_neg if out_other is None else out_other)
    if alone(rows * cols):  # one call fills and adds
        task(0, parts, hist, counts, *arguments, gid, g_rs, groups, split, *outputs, True)
        return
    run_items(task, parts, hist, counts, *arguments, gid, g_rs, groups, split, *outputs, False, elements=rows * cols)
    run_items(add_parts, count + 1, hist, counts, weighted, *outputs, elements=max(hist.size, counts.size))
