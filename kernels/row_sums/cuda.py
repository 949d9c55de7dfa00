"""Numba CUDA ``row_sums``: one thread per row over a grid-stride loop, a block reduction, a fixed-order finish.

Memory picture: thread ``t`` of ``G`` threads evaluates rows ``t, t+G, ...``
(``row_kinds``: each reads its row's ``C`` columns, twice for the two-pass
kinds, the second time from L1), accumulating ``w[r // group] * g(row)`` in
float64; consecutive threads read consecutive rows, so a warp's loads of one
column fall in the same few cache lines when ``C`` is small. Each block
tree-reduces in shared memory; the last block to finish sums the block
partials in block order into the state (``weighted_total.finish``): no float
atomics, the same bits on every run.
Launch shape: ``min(ceil(R / BLOCK), max_blocks())`` blocks of ``BLOCK`` threads.
syncs: none.
"""
import functools
import math

from numba import cuda, float64

from .rules import ROW_KINDS
from .._shared.launch import BLOCK, current_stream, device_array, max_blocks, reduction_scratch
from .._shared.block_reduce import finish


@functools.lru_cache(maxsize=None)
def _kernel(kind):
    g = cuda.jit(device=True)(ROW_KINDS[kind])

    @cuda.jit
    def row_sums_kernel(y_true, y_pred, weight, weighted, group, params, partials, ticket, out_total, out_weight,
                        has_out_weight, total_scale, weight_scale, unweighted_count):
        rows = y_pred.shape[0]
        r = cuda.blockIdx.x * BLOCK + cuda.threadIdx.x
        step = cuda.gridDim.x * BLOCK
        acc_t = 0.0
        acc_w = 0.0
        while r < rows:
            v = g(y_true, y_pred, r, params)
            if weighted:
                w = float64(weight[r // group])
                acc_t += w * v
                if r % group == 0:
                    acc_w += w
            else:
                acc_t += v
            r += step
        finish(acc_t, acc_w, partials, ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale,
               weighted, unweighted_count)

    return row_sums_kernel


def row_sums(kind, y_true, y_pred, weight, group, out_total, out_weight, total_scale, weight_scale, params=None):
    """Launch ``row_sums_kernel`` on the caller's stream; same contract as the CPU twin."""
    rows = y_pred.shape[0]
    if rows * y_pred.shape[1] == 0:
        return
    blocks = min(math.ceil(rows / BLOCK), max_blocks())
    partials, ticket = reduction_scratch()
    weighted = weight is not None
    _kernel(kind)[blocks, BLOCK, current_stream()](
        device_array(y_true), device_array(y_pred), device_array(weight if weighted else out_total), weighted, group,
        device_array(out_total if params is None else params), device_array(partials), device_array(ticket),
        device_array(out_total), device_array(out_weight if out_weight is not None else out_total),
        out_weight is not None, float(total_scale), float(weight_scale), float(rows // group),
    )
