"""Numba CUDA ``weighted_bincount``: a grid-stride pass over rows into a shared-memory (C, C) histogram per block.

The row rules are the CPU twin's (``bincount_rules``: value truncated toward
zero, argmax, ``>= threshold``), compiled here as device functions: row ``r``
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
on the atomic order.

Launch shape: ``blocks = min(ceil(N / BLOCK), max_blocks())`` blocks of
``BLOCK`` threads, raised so that no block counts ``2**31`` rows (its ``uint32``
counters cannot wrap).
syncs: none.
"""
import functools

from numba import cuda, float64, uint32

from .rules import RULES, check_arguments
from .._shared.launch import BLOCK, current_stream, device_array, max_blocks

#: shared-memory bytes for one block's counters (the default per-block limit without opt-in).
SHARED_BUDGET = 48 * 1024
#: most copies of a block's histogram (spreads same-pair atomics of one warp over addresses).
MAX_REPLICAS = 8
#: most rows one block may count (``uint32`` counters per block must not wrap).
MAX_BLOCK_ELEMENTS = 1 << 31

_RULES = tuple(cuda.jit(device=True)(rule) for rule in RULES)


@functools.lru_cache(maxsize=None)
def _kernel(true_rule, pred_rule, weighted, privatised):
    counter = float64 if weighted else uint32
    true_id, pred_id = _RULES[true_rule], _RULES[pred_rule]

    @cuda.jit
    def weighted_bincount_kernel(y_true, y_pred, weight, threshold, ignore_class, out, replicas, stride):
        shared = cuda.shared.array(0, counter)
        tid = cuda.threadIdx.x
        rows = y_true.shape[0]
        classes = out.shape[0]
        size = classes * classes
        mine = (tid % replicas) * stride
        if privatised:
            j = tid
            while j < replicas * stride:
                shared[j] = 0
                j += BLOCK
            cuda.syncthreads()
        step = cuda.gridDim.x * BLOCK
        r = cuda.blockIdx.x * BLOCK + tid
        while r < rows:
            t = true_id(y_true, r, classes, threshold)
            p = pred_id(y_pred, r, classes, threshold)
            if t >= 0 and p >= 0 and t != ignore_class:
                if privatised:
                    if weighted:
                        cuda.atomic.add(shared, mine + t * classes + p, float64(weight[r]))
                    else:
                        cuda.atomic.add(shared, mine + t * classes + p, uint32(1))
                elif weighted:
                    cuda.atomic.add(out, (t, p), float64(weight[r]))
                else:
                    cuda.atomic.add(out, (t, p), float64(1.0))
            r += step
        if privatised:
            cuda.syncthreads()
            j = tid
            while j < size:
                v = float64(0.0)
                for q in range(replicas):
                    v += float64(shared[q * stride + j])
                if v != 0.0:
                    t = j // classes
                    cuda.atomic.add(out, (t, j - t * classes), v)
                j += BLOCK

    return weighted_bincount_kernel


def launch_shape(rows, classes, weighted):
    """``(blocks, privatised, replicas, stride, shared_bytes)`` for ``rows`` rows into a ``classes``-square state."""
    itemsize = 8 if weighted else 4
    slots = SHARED_BUDGET // itemsize
    size = classes * classes
    privatised = size <= slots
    if privatised:
        replicas = max(1, min(MAX_REPLICAS, slots // (size + 1)))
        stride = size + 1 if replicas > 1 else size  # odd stride: replicas of one counter sit in different banks
    else:
        replicas, stride = 1, 0
    blocks = min(-(-rows // BLOCK), max_blocks())
    blocks = max(blocks, -(-rows // MAX_BLOCK_ELEMENTS), 1)
    return blocks, privatised, replicas, stride, replicas * stride * itemsize


def weighted_bincount(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out):
    """Launch ``weighted_bincount_kernel`` on the caller's stream; same contract as the CPU twin."""
    rows, classes = check_arguments(y_true, y_pred, weight, true_rule, pred_rule, out)
    if rows == 0:
        return
    weighted = weight is not None
    blocks, privatised, replicas, stride, shared_bytes = launch_shape(rows, classes, weighted)
    _kernel(int(true_rule), int(pred_rule), weighted, privatised)[blocks, BLOCK, current_stream(), shared_bytes](
        device_array(y_true), device_array(y_pred), device_array(weight if weighted else y_true[:, 0]),
        float(threshold), int(ignore_class), device_array(out), replicas, stride,
    )
