"""Numba CUDA ``error_sums``: a grid-stride pass, a shared-memory block reduction, a fixed-order last-block finish.

Memory picture: thread ``t`` of a grid of ``G`` threads reads elements
``t, t+G, t+2G, ...`` of the ``(rows, cols)`` view (coalesced for C order),
tracking its row and column incrementally (one division per thread, none per
element), and accumulates ``w[row] * f(y_true, y_pred)`` in float64. Each
block tree-reduces in shared memory and writes one partial; the last block to
finish (a ticket taken after a ``threadfence``) sums the partials in block
order and adds the result into the state. One launch, no atomics on floats, so
the same input gives the same bits on every run.
Launch shape: ``min(ceil(n / BLOCK), max_blocks())`` blocks of ``BLOCK`` threads.
syncs: none.
"""
import functools
import math

from numba import cuda, float64, int32

from ..error_kinds import KINDS
from .launch import BLOCK, current_stream, device_array, max_blocks, reduction_scratch


@cuda.jit(device=True)
def _block_sum2(shared_a, shared_b, a, b):
    """Tree-reduce two per-thread values over the block; thread 0 gets the sums."""
    tid = cuda.threadIdx.x
    shared_a[tid] = a
    shared_b[tid] = b
    cuda.syncthreads()
    half = BLOCK // 2
    while half > 0:
        if tid < half:
            shared_a[tid] += shared_a[tid + half]
            shared_b[tid] += shared_b[tid + half]
        cuda.syncthreads()
        half //= 2
    return shared_a[0], shared_b[0]


@functools.lru_cache(maxsize=None)
def _kernel(kind):
    f = cuda.jit(device=True)(KINDS[kind])

    @cuda.jit
    def error_sums_kernel(y_true, y_pred, weight, weighted, cols, n, step_rows, step_cols,
                          partials, ticket, out_total, out_weight, has_out_weight,
                          total_scale, weight_scale, unweighted_count):
        tid = cuda.threadIdx.x
        i = cuda.blockIdx.x * BLOCK + tid
        r = i // cols
        c = i - r * cols
        acc_t = 0.0
        acc_w = 0.0
        while i < n:
            v = f(float64(y_true[r, c]), float64(y_pred[r, c]))
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
        shared_t = cuda.shared.array(BLOCK, float64)
        shared_w = cuda.shared.array(BLOCK, float64)
        is_last = cuda.shared.array(1, int32)
        block_t, block_w = _block_sum2(shared_t, shared_w, acc_t, acc_w)
        if tid == 0:
            partials[0, cuda.blockIdx.x] = block_t
            partials[1, cuda.blockIdx.x] = block_w
            cuda.threadfence()
            is_last[0] = cuda.atomic.add(ticket, 0, 1) == cuda.gridDim.x - 1
        cuda.syncthreads()
        if is_last[0]:
            acc_t = 0.0
            acc_w = 0.0
            j = tid
            while j < cuda.gridDim.x:
                acc_t += partials[0, j]
                acc_w += partials[1, j]
                j += BLOCK
            total, wsum = _block_sum2(shared_t, shared_w, acc_t, acc_w)
            if tid == 0:
                out_total[0] += total_scale * total
                if has_out_weight:
                    out_weight[0] += weight_scale * (wsum if weighted else unweighted_count)
                ticket[0] = 0

    return error_sums_kernel


def error_sums(kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale):
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
        cols, n, step_rows, step_cols, device_array(partials), device_array(ticket),
        device_array(out_total), device_array(out_weight if out_weight is not None else out_total),
        out_weight is not None, float(total_scale), float(weight_scale), float(rows),
    )
