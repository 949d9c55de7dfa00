"""Numba CUDA ``row_sums``: one thread per row over a grid-stride loop, a block reduction, a fixed-order finish.

Memory picture: thread ``t`` of ``G`` threads evaluates rows ``t, t+G, ...``
(``rules.KINDS``: each reads its row's ``cols`` values through the row and
column strides of the flat views, twice for the two-pass kinds, the second
time from L1), accumulating ``w[r // group] * g(row)`` in float64;
consecutive threads read consecutive rows, so a warp's loads of one column
fall in the same few cache lines when ``cols`` is small. Each block
tree-reduces in shared memory; the last block to finish sums the block
partials in block order into the state (``block_reduce.finish``): no float
atomics, the same bits on every run.
Launch shape: ``min(ceil(R / BLOCK), max_blocks())`` blocks of ``BLOCK`` threads.

Compiled signatures (cached on disk): as the CPU twin's, ``y_pred`` and
``weight`` ``float32`` or ``float64``, ``y_true`` ``float32``, ``float64``,
``int32`` or ``int64`` (at most 16), flat views with element strides; the kind
is an int64 code.

Groups (``group_ids``): ``grouped_row_sums_kernel``, as ``error_sums``'s grouped
kernel: one thread per row, two global float64 atomic adds into its group.
syncs: none.
"""
import math

import numpy as np
from numba import cuda

from .._shared.block_reduce import finish
from .._shared.casts import pass_views
from .._shared.groups import grouped_sum_arguments
from .._shared.kinds import make_switch
from .._shared.launch import BLOCK, cuda_kernel, device_function, launch, max_blocks, reduction_scratch
from .rules import KINDS

evaluate = make_switch(KINDS, device_function, 8)


@cuda_kernel
def row_sums_kernel(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, rows, cols, params, partials,
                    ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale, unweighted_count):
    r = cuda.blockIdx.x * BLOCK + cuda.threadIdx.x
    step = cuda.gridDim.x * BLOCK
    acc_t = 0.0
    acc_w = 0.0
    while r < rows:
        v = evaluate(code, t, r * t_rs, t_cs, p, r * p_rs, p_cs, cols, params)
        if weighted:
            wr = np.float64(w[(r // group) * w_s])
            acc_t += wr * v
            if r % group == 0:
                acc_w += wr
        else:
            acc_t += v
        r += step
    finish(acc_t, acc_w, partials, ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale,
           weighted, unweighted_count)


@cuda_kernel
def grouped_row_sums_kernel(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, rows, cols, params, gid,
                            g_rs, groups, out_total, out_weight, has_out_weight, total_scale, weight_scale):
    """One thread per row (grid-stride): ``w * g(row)`` and the row's weight (once per ``group`` rows), each one
    global float64 atomic add into its group's output; rows whose id is outside ``[0, groups)`` add nothing."""
    r = cuda.blockIdx.x * BLOCK + cuda.threadIdx.x
    while r < rows:
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            v = evaluate(code, t, r * t_rs, t_cs, p, r * p_rs, p_cs, cols, params)
            wr = np.float64(w[(r // group) * w_s]) if weighted else 1.0
            cuda.atomic.add(out_total, g, total_scale * (wr * v))
            if has_out_weight and r % group == 0:
                cuda.atomic.add(out_weight, g, weight_scale * wr)
        r += cuda.gridDim.x * BLOCK


def row_sums(kind, y_true, y_pred, weight, group, out_total, out_weight, total_scale, weight_scale, params=None,
             group_ids=None):
    """Launch ``row_sums_kernel`` (``grouped_row_sums_kernel`` with ``group_ids``) on the caller's stream; same
    contract as the CPU twin."""
    rows, cols = y_pred.shape
    if rows * cols == 0:
        return
    kind = KINDS[kind] if isinstance(kind, str) else kind
    blocks = min(math.ceil(rows / BLOCK), max_blocks())
    weighted = weight is not None
    t, (t_rs, t_cs), p, (p_rs, p_cs), w, (w_s,) = pass_views(y_true, y_pred, weight, labels=y_true.shape[1] < cols,
                                                             weight_ndim=1)
    if group_ids is not None:
        launch(grouped_row_sums_kernel, blocks, BLOCK, 0, kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted,
               group, rows, cols, out_total if params is None else params,
               *grouped_sum_arguments(group_ids, rows, out_total, out_weight), float(total_scale), float(weight_scale))
        return
    partials, ticket = reduction_scratch()
    launch(row_sums_kernel, blocks, BLOCK, 0,
        kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group,
        rows, cols, out_total if params is None else params, partials,
        ticket, out_total,
        out_weight if out_weight is not None else out_total, out_weight is not None,
        float(total_scale), float(weight_scale), float(rows // group),
    )
