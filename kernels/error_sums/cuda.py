"""Numba CUDA ``error_sums``: a grid-stride pass, a shared-memory block reduction, a fixed-order last-block finish.

Memory picture: thread ``t`` of a grid of ``G`` threads reads elements
``t, t+G, t+2G, ...`` of the ``(rows, cols)`` view (coalesced for C order),
tracking its row and column incrementally (one division per thread, none per
element), and accumulates ``w[row] * f(y_true, y_pred)`` in float64. Each
block tree-reduces in shared memory and writes one partial; the last block to
finish (a ticket taken after a ``threadfence``) sums the partials in block
order and adds the result into the state (``weighted_total.finish``). One
launch, no atomics on floats, so the same input gives the same bits on every run.
Launch shape: ``min(ceil(n / BLOCK), max_blocks())`` blocks of ``BLOCK`` threads.
syncs: none.
"""
import functools
import math

from numba import cuda, float64

from .rules import KINDS
from .._shared.launch import BLOCK, current_stream, device_array, max_blocks, reduction_scratch
from .._shared.block_reduce import finish


@functools.lru_cache(maxsize=None)
def _kernel(kind):
    f = cuda.jit(device=True)(KINDS[kind])

    @cuda.jit
    def error_sums_kernel(y_true, y_pred, weight, weighted, params, cols, n, step_rows, step_cols,
                          partials, ticket, out_total, out_weight, has_out_weight,
                          total_scale, weight_scale, unweighted_count):
        tid = cuda.threadIdx.x
        i = cuda.blockIdx.x * BLOCK + tid
        r = i // cols
        c = i - r * cols
        acc_t = 0.0
        acc_w = 0.0
        while i < n:
            v = f(float64(y_true[r, c]), float64(y_pred[r, c]), params)
            if weighted:
                w = float64(weight[r])
                acc_t += w * v
                if c == 0:
                    acc_w += w
            else:
                acc_t += v
            i += step_rows * cols + step_cols
            r += step_rows
            c += step_cols
            if c >= cols:
                c -= cols
                r += 1
        finish(acc_t, acc_w, partials, ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale,
               weighted, unweighted_count)

    return error_sums_kernel


def error_sums(kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale, params=None):
    """Launch ``error_sums_kernel`` on the caller's stream; same contract as the CPU twin."""
    rows, cols = y_pred.shape
    n = rows * cols
    if n == 0:
        return
    blocks = min(math.ceil(n / BLOCK), max_blocks())
    step_rows, step_cols = divmod(blocks * BLOCK, cols)
    partials, ticket = reduction_scratch()
    weighted = weight is not None
    _kernel(kind)[blocks, BLOCK, current_stream()](
        device_array(y_true), device_array(y_pred), device_array(weight if weighted else out_total), weighted,
        device_array(out_total if params is None else params), cols, n, step_rows, step_cols,
        device_array(partials), device_array(ticket),
        device_array(out_total), device_array(out_weight if out_weight is not None else out_total),
        out_weight is not None, float(total_scale), float(weight_scale), float(rows),
    )
