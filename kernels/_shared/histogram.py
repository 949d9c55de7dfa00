"""The privatised shared-memory histogram with replicas: what every CUDA histogram kernel shares.

A block keeps its counters in dynamic shared memory as ``replicas`` copies of
``size`` counters, copy ``q`` at ``q * stride`` (``stride = size + 1`` when
there are several: an odd stride puts the copies of one counter in different
banks). Thread ``t`` adds into copy ``t % replicas``, so threads of a warp
that hit the same counter spread over several addresses. Counters are
``uint32`` counts for unweighted kernels and ``float64`` sums for weighted
ones; a kernel declares both views of its one dynamic shared buffer
(``cuda.shared.array(0, uint32)`` and ``cuda.shared.array(0, float64)``
alias the same memory) and passes both with its ``weighted`` flag, so one
compiled kernel serves both. Unweighted counts are integers, exact in float64
in any order, so they are bitwise reproducible.

The API, all a kernel needs (used by ``threshold_histogram``; shaped to fit
``weighted_bincount``'s ``[replica][t][p]`` counters as well):

* host: :func:`replica_layout` ``(size, weighted, budget) -> (replicas, stride,
  shared_bytes)``, :func:`counter_bytes` and the constants below;
* device (inlined): :func:`clear_counters` (all ``BLOCK`` threads call it; it
  ends with a barrier), :func:`own_copy` (where the thread's copy starts),
  :func:`add_to_counter` (one shared atomic add into that copy) and
  :func:`counter_total` (the sum of one counter over the copies, in copy
  order, as float64: what a block flushes into global memory after a barrier).

syncs: none.
"""
from numba import cuda, float64, uint32

from .launch import BLOCK, device_function

#: shared-memory bytes for one block's counters (the default per-block limit without opt-in).
SHARED_BUDGET = 48 * 1024
#: most copies of a block's histogram.
MAX_REPLICAS = 8
#: most elements one block may count (its ``uint32`` counters must not wrap).
MAX_BLOCK_ELEMENTS = 1 << 31


def counter_bytes(weighted):
    """Bytes of one counter: ``float64`` sums weighted, ``uint32`` counts unweighted."""
    return 8 if weighted else 4


def replica_layout(size, weighted, budget=SHARED_BUDGET):
    """``(replicas, stride, shared_bytes)`` for ``size`` counters in ``budget`` bytes (``size`` must fit once).

    >>> replica_layout(402, False), replica_layout(402, True, 2 * 8 * 201)
    ((8, 403, 12896), (1, 402, 3216))
    """
    itemsize = counter_bytes(weighted)
    replicas = max(1, min(MAX_REPLICAS, budget // itemsize // (size + 1)))
    stride = size + 1 if replicas > 1 else size
    return replicas, stride, replicas * stride * itemsize


@device_function
def clear_counters(counts, sums, weighted, replicas, stride):
    """Zero every copy (the whole block calls it), then a barrier."""
    j = cuda.threadIdx.x
    while j < replicas * stride:
        if weighted:
            sums[j] = 0.0
        else:
            counts[j] = 0
        j += BLOCK
    cuda.syncthreads()


@device_function
def own_copy(replicas, stride):
    """Where this thread's copy starts (copy ``threadIdx % replicas``); computed once per thread."""
    return (cuda.threadIdx.x % replicas) * stride


@device_function
def add_to_counter(counts, sums, weighted, slot, value):
    """Add ``value`` (weighted) or 1 into ``slot`` = ``own_copy(...) + counter``: one shared atomic add."""
    if weighted:
        cuda.atomic.add(sums, slot, value)
    else:
        cuda.atomic.add(counts, slot, uint32(1))


@device_function
def counter_total(counts, sums, weighted, replicas, stride, counter):
    """``counter`` summed over the copies in copy order, as float64 (after a barrier)."""
    v = float64(0.0)
    for q in range(replicas):
        if weighted:
            v += sums[q * stride + counter]
        else:
            v += float64(counts[q * stride + counter])
    return v
