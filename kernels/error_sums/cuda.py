"""Numba CUDA ``error_sums``: a grid-stride pass, a shared-memory block reduction, a fixed-order last-block finish.

Memory picture: thread ``t`` of a grid of ``G`` threads reads elements
``t, t+G, t+2G, ...`` of the ``(rows, cols)`` view (coalesced for C order),
tracking its row and column incrementally (one division per thread, none per
element; when both inputs are laid out as the grid itself, ``casts.is_dense``,
element ``i`` is read at offset ``i`` without index arithmetic: 53% to 58% of
copy bandwidth at 1e8 on an H100; the squared and absolute errors then run a
loop of their own, the switch folded away: see ``HOT_SQUARED``), and
accumulates ``w[row] * f(y_true, y_pred)`` in float64. Each block
tree-reduces in shared memory and writes one partial; the last block to
finish (a ticket taken after a ``threadfence``) sums the partials in block
order and adds the result into the state (``block_reduce.finish``). One
launch, no atomics on floats, so the same input gives the same bits on every run.
Launch shape: ``min(ceil(n / BLOCK), max_blocks())`` blocks of ``BLOCK`` threads.

Compiled signatures (cached on disk): as the CPU twin's, ``float32`` or
``float64`` flat views with element strides; the kind is an int64 code.

Groups (``group_ids``): ``grouped_error_sums_kernel``, one thread per row, adds
the row's ``total_scale * w * sum f`` and ``weight_scale * w`` into its group
with two global float64 atomic adds (no reduction tree: the block partials
would be ``G`` long). Sums of whole numbers stay exact; others depend on the
atomic order (last bits), unlike the ungrouped pass.
syncs: none.
"""
import math

import numpy as np
from numba import cuda

from .._shared.block_reduce import finish
from .._shared.casts import is_dense, pass_views
from .._shared.groups import grouped_sum_arguments
from .._shared.kinds import make_switch
from .._shared.launch import BLOCK, cuda_kernel, device_function, launch, max_blocks, reduction_scratch
from .rules import KINDS

evaluate = make_switch(KINDS, device_function, 3)


#: kinds whose dense pass runs in a loop of its own (MSE and RMSE, MAE). On an H100 at 1e8, the kernel reached 59%
#: of copy bandwidth with every kind's branch in its loop and 89% compiled with the squared error alone.
HOT_SQUARED = KINDS["squared_error"].code
HOT_ABSOLUTE = KINDS["absolute_error"].code


@device_function
def dense_sums(code, t, p, w, w_s, weighted, params, i, n, step):
    """``(sum of w * f, sum of w)`` over this thread's elements ``i, i + step, ...`` of a dense pass with one
    weight per element (``w[i * w_s]``) or none. Inlined: a constant ``code`` folds the switch to one rule."""
    acc_t = 0.0
    acc_w = 0.0
    while i < n:
        v = evaluate(code, np.float64(t[i]), np.float64(p[i]), params)
        if weighted:
            wr = np.float64(w[i * w_s])
            acc_t += wr * v
            acc_w += wr
        else:
            acc_t += v
        i += step
    return acc_t, acc_w


@cuda_kernel
def error_sums_kernel(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, dense, params, cols, n, step_rows,
                      step_cols, partials, ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale,
                      unweighted_count):
    tid = cuda.threadIdx.x
    i = cuda.blockIdx.x * BLOCK + tid
    r = i // cols
    c = i - r * cols
    step = step_rows * cols + step_cols
    acc_t = 0.0
    acc_w = 0.0
    if dense and (not weighted or cols == 1):
        # t and p laid out as the (rows, cols) grid itself: element i at offset i (one column: its weight at i * w_s).
        # The hot kinds get a loop of their own, where the switch folds to their rule.
        if code == HOT_SQUARED:
            acc_t, acc_w = dense_sums(HOT_SQUARED, t, p, w, w_s, weighted, params, i, n, step)
        elif code == HOT_ABSOLUTE:
            acc_t, acc_w = dense_sums(HOT_ABSOLUTE, t, p, w, w_s, weighted, params, i, n, step)
        else:
            acc_t, acc_w = dense_sums(code, t, p, w, w_s, weighted, params, i, n, step)
    else:  # any strides (and weighted dense passes of several columns): row and column tracked per element
        while i < n:
            v = evaluate(code, np.float64(t[r * t_rs + c * t_cs]), np.float64(p[r * p_rs + c * p_cs]), params)
            if weighted:
                wr = np.float64(w[r * w_s])
                acc_t += wr * v
                if c == 0:
                    acc_w += wr
            else:
                acc_t += v
            i += step
            r += step_rows
            c += step_cols
            if c >= cols:
                c -= cols
                r += 1
    finish(acc_t, acc_w, partials, ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale,
           weighted, unweighted_count)


@cuda_kernel
def grouped_error_sums_kernel(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, params, rows, cols, gid, g_rs,
                              groups, out_total, out_weight, has_out_weight, total_scale, weight_scale):
    """One thread per row (grid-stride): the row's weighted sum of ``f`` and its weight, each one global float64
    atomic add into its group's output; rows whose id is outside ``[0, groups)`` add nothing."""
    r = cuda.blockIdx.x * BLOCK + cuda.threadIdx.x
    while r < rows:
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            s = 0.0
            for c in range(cols):
                s += evaluate(code, np.float64(t[r * t_rs + c * t_cs]), np.float64(p[r * p_rs + c * p_cs]), params)
            wr = np.float64(w[r * w_s]) if weighted else 1.0
            cuda.atomic.add(out_total, g, total_scale * (wr * s))
            if has_out_weight:
                cuda.atomic.add(out_weight, g, weight_scale * wr)
        r += cuda.gridDim.x * BLOCK


def error_sums(kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale, params=None,
               group_ids=None):
    """Launch ``error_sums_kernel`` (``grouped_error_sums_kernel`` with ``group_ids``) on the caller's stream; same
    contract as the CPU twin."""
    rows, cols = y_pred.shape
    n = rows * cols
    if n == 0:
        return
    kind = KINDS[kind] if isinstance(kind, str) else kind
    if group_ids is not None:
        grouped = grouped_sum_arguments(group_ids, rows, out_total, out_weight)
        t, (t_rs, t_cs), p, (p_rs, p_cs), w, (w_s,) = pass_views(y_true, y_pred, weight, labels=False, weight_ndim=1)
        launch(grouped_error_sums_kernel, min(math.ceil(rows / BLOCK), max_blocks()), BLOCK, 0,
               kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weight is not None,
               out_total if params is None else params, rows, cols, *grouped, float(total_scale), float(weight_scale))
        return
    blocks = min(math.ceil(n / BLOCK), max_blocks())
    step_rows, step_cols = divmod(blocks * BLOCK, cols)
    partials, ticket = reduction_scratch()
    weighted = weight is not None
    t, (t_rs, t_cs), p, (p_rs, p_cs), w, (w_s,) = pass_views(y_true, y_pred, weight, labels=False, weight_ndim=1)
    dense = is_dense(rows, cols, t_rs, t_cs) and is_dense(rows, cols, p_rs, p_cs)
    launch(error_sums_kernel, blocks, BLOCK, 0,
        kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, dense,
        out_total if params is None else params, cols, n, step_rows, step_cols,
        partials, ticket,
        out_total, out_weight if out_weight is not None else out_total,
        out_weight is not None, float(total_scale), float(weight_scale), float(rows),
    )
