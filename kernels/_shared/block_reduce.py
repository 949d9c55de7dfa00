"""Device functions every weighted-sum kernel shares: a block tree reduction and a fixed-order last-block finish.

A kernel accumulates per thread a weighted total and a weight sum, calls
``finish`` once per block, and the last block to arrive adds the grid's sums
into the state. No float atomics, so the same input gives the same bits.
syncs: none.
"""
from numba import cuda, float64, int32

from .launch import BLOCK


@cuda.jit(device=True)
def block_sum2(shared_a, shared_b, a, b):
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


@cuda.jit(device=True)
def finish(acc_t, acc_w, partials, ticket, out_total, out_weight, has_out_weight, total_scale, weight_scale,
           weighted, unweighted_count):
    """Block partials into ``partials[:, block]``; the last block (a ticket taken after a ``threadfence``) sums
    them in block order and adds ``total_scale * total`` and ``weight_scale * weight sum`` (``unweighted_count``
    when ``weighted`` is False) into the state, then resets the ticket for the next launch on this stream.
    Every thread of the block must call it."""
    tid = cuda.threadIdx.x
    shared_t = cuda.shared.array(BLOCK, float64)
    shared_w = cuda.shared.array(BLOCK, float64)
    is_last = cuda.shared.array(1, int32)
    block_t, block_w = block_sum2(shared_t, shared_w, acc_t, acc_w)
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
        total, wsum = block_sum2(shared_t, shared_w, acc_t, acc_w)
        if tid == 0:
            out_total[0] += total_scale * total
            if has_out_weight:
                out_weight[0] += weight_scale * (wsum if weighted else unweighted_count)
            ticket[0] = 0
