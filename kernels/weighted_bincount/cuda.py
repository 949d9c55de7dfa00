"""Numba CUDA ``weighted_bincount``: a grid-stride pass over rows into a shared-memory (C, C) histogram per block.

The row rules are the CPU twin's (``weighted_bincount.rules``: value truncated
toward zero, argmax, ``>= threshold``), compiled here as device functions
behind one switch on the rule's code: row ``r``
gives ``t`` from ``y_true[r, :]`` and ``p`` from ``y_pred[r, :]`` and adds
``w`` (``weight[r]``, 1 unweighted) to ``out[t, p]``; rows with an id outside
``[0, C)`` or ``t == ignore_class`` are dropped.

Memory picture: thread ``g`` of the grid reads rows ``g, g + G, ...``
(``G = blocks * BLOCK``): its ``Ct + Cp`` values (an argmax walks the row's
columns) and its weight, any strides. While the ``C * C`` counters fit
``SHARED_BUDGET`` (48 KiB: ``uint32`` counts unweighted, ``float64`` sums
weighted), each block holds them in dynamic shared memory as
``[replica][t][p]``, ``replicas`` copies when they fit (up to
``MAX_REPLICAS``, odd stride, so threads of a warp that hit the same pair
spread over several addresses and banks); a row is one shared atomic add into
replica ``threadIdx % replicas``. After a barrier the block sums its replicas
per counter and flushes each non-zero counter with one global float64 atomic
add into ``out``. Larger ``C`` skips shared memory: one global float64 atomic
add per row straight into ``out``. Unweighted counts are integers, exact in
float64 in any order, so they are bitwise reproducible; weighted sums depend
on the atomic order. The counters' type and the privatisation are arguments
the kernel branches on (two dynamic shared arrays that alias one buffer), so
one cached kernel serves every case.

Launch shape: ``blocks = min(ceil(N / BLOCK), max_blocks())`` blocks of
``BLOCK`` threads, raised so that no block counts ``2**31`` rows (its ``uint32``
counters cannot wrap).

Compiled signatures (cached on disk): as the CPU twin's, ``y_true`` and
``y_pred`` each ``float32``, ``float64``, ``int32`` or ``int64``, ``weight``
``float32`` or ``float64``, flat read-only views with element strides; the
rules are int64 codes; the group ids a flat ``int64`` view (ungrouped: a
cached device 0 read with stride 0) and their count ``G``.

Groups (``group_ids``, an ``(G, C, C)`` state seen as ``(G * C, C)``): row
``r`` adds into row ``g * C + t``; the privatised path holds all ``G C C``
counters while they fit ``SHARED_BUDGET``, else one global float64 atomic add
per row, as for a large ``C``. Rows whose id is outside ``[0, G)`` are dropped.
syncs: none.
"""
from numba import cuda, float64, uint32

from .._shared.casts import as_labels, as_values, flat
from .._shared.histogram import MAX_BLOCK_ELEMENTS, SHARED_BUDGET, add_to_counter, clear_counters, counter_bytes, \
    counter_total, own_copy, replica_layout
from .._shared.kinds import make_switch
from .._shared.launch import BLOCK, cuda_kernel, device_function, launch, max_blocks
from .._shared.groups import group_view, no_group_ids
from .rules import RULES, check_arguments, resolve

row_id = make_switch(RULES, device_function, 6)


@cuda_kernel
def weighted_bincount_kernel(t_code, t, t_rs, t_cs, t_cols, t_threshold, p_code, p, p_rs, p_cs, p_cols, p_threshold,
                             w, w_s, weighted, ignore_class, gid, g_rs, groups, rows, out, privatised, replicas,
                             stride):
    sums = cuda.shared.array(0, float64)  # weighted: float64 sums
    counts = cuda.shared.array(0, uint32)  # unweighted: uint32 counts (the same buffer)
    classes = out.shape[1]  # out: (G * C, C), row g * C + t
    mine = own_copy(replicas, stride)
    if privatised:
        clear_counters(counts, sums, weighted, replicas, stride)
    step = cuda.gridDim.x * BLOCK
    r = cuda.blockIdx.x * BLOCK + cuda.threadIdx.x
    while r < rows:
        g = gid[r * g_rs]
        ti = row_id(t_code, t, r * t_rs, t_cs, t_cols, classes, t_threshold)
        pi = row_id(p_code, p, r * p_rs, p_cs, p_cols, classes, p_threshold)
        if ti >= 0 and pi >= 0 and ti != ignore_class and g >= 0 and g < groups:
            value = float64(w[r * w_s]) if weighted else float64(1.0)
            if privatised:
                add_to_counter(counts, sums, weighted, mine + (g * classes + ti) * classes + pi, value)
            else:
                cuda.atomic.add(out, (g * classes + ti, pi), value)
        r += step
    if privatised:
        cuda.syncthreads()
        j = cuda.threadIdx.x
        while j < groups * classes * classes:
            v = counter_total(counts, sums, weighted, replicas, stride, j)
            if v != 0.0:
                ti = j // classes
                cuda.atomic.add(out, (ti, j - ti * classes), v)
            j += BLOCK


def launch_shape(rows, classes, weighted, groups=1):
    """``(blocks, privatised, replicas, stride, shared_bytes)`` for ``rows`` rows into ``groups`` ``classes``-square
    matrices."""
    size = groups * classes * classes
    privatised = size * counter_bytes(weighted) <= SHARED_BUDGET
    replicas, stride, shared_bytes = replica_layout(size, weighted, SHARED_BUDGET) if privatised else (1, 0, 0)
    blocks = min(-(-rows // BLOCK), max_blocks())
    blocks = max(blocks, -(-rows // MAX_BLOCK_ELEMENTS), 1)
    return blocks, privatised, replicas, stride, shared_bytes


def weighted_bincount(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out, group_ids=None):
    """Launch ``weighted_bincount_kernel`` on the caller's stream; same contract as the CPU twin."""
    (t_kind, t_threshold), (p_kind, p_threshold) = resolve(true_rule, threshold), resolve(pred_rule, threshold)
    rows, classes, groups = check_arguments(y_true, y_pred, weight, t_kind, p_kind, out, group_ids)
    if rows == 0:
        return
    weighted = weight is not None
    blocks, privatised, replicas, stride, shared_bytes = launch_shape(rows, classes, weighted, groups)
    t, (t_rs, t_cs) = flat(as_labels(y_true))
    p, (p_rs, p_cs) = flat(as_labels(y_pred))
    w, (w_s,) = flat(as_values(weight) if weighted else out.reshape(-1)[:1])
    gid, g_rs = (no_group_ids(out), 0) if group_ids is None else group_view(group_ids)
    launch(weighted_bincount_kernel, blocks, BLOCK, shared_bytes,
        t_kind.code, t, t_rs, t_cs, y_true.shape[1], t_threshold,
        p_kind.code, p, p_rs, p_cs, y_pred.shape[1], p_threshold,
        w, w_s, weighted, int(ignore_class), gid, g_rs, groups, rows, out.reshape(groups * classes, classes),
        privatised, replicas, stride,
    )
