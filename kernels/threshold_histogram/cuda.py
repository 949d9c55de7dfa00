"""Numba CUDA ``threshold_histogram``: a grid-stride pass into a shared-memory histogram per block, one flush per block.

The bucket rule is the CPU twin's (its scalar functions ``transformed``,
``bucket_evenly`` and ``bucket_search`` are compiled here as device functions):
``k`` = number of thresholds strictly below the (clipped / sigmoid)
prediction, NaN in bucket 0; the element adds ``w`` (1 unweighted) to
``out_pos[k, l]`` when ``y_true != 0``, else to ``out_neg[k, l]``.

Memory picture: a block owns a tile of ``label_tile`` labels x ``bucket_tile``
buckets, held in dynamic shared memory as ``[replica][label bit][label][bucket]``
counters: ``uint32`` counts unweighted, ``float64`` sums weighted. Thread ``t``
of the ``G`` threads along x reads elements ``t, t+G, ...`` of the tile's
``(rows, label_tile)`` columns, tracking row and column incrementally, and
does one shared atomic add per element, into replica ``t % replicas`` (spare
shared memory holds up to ``MAX_REPLICAS`` copies, so threads of a warp that
hit the same bucket spread over several addresses). After a barrier the block
sums its replicas per counter and flushes each non-zero counter with one
global float64 atomic add into the state. No global atomic per element.
Unweighted counts are integers, exact in float64 in any order, so they are
bitwise reproducible; weighted sums depend on the atomic order.

Tiling: the counters of one block fit ``SHARED_BUDGET`` bytes (48 KiB).
``label_tile = min(L, budget_slots // (2 (T + 1)))`` labels per tile; when
even one label's ``2 (T + 1)`` counters do not fit, ``label_tile = 1`` and the
buckets are cut into tiles of ``budget_slots // 2`` (each such tile re-reads
its label and counts only the buckets it owns). Tiles are enumerated along
``blockIdx.y`` (a block loops over tiles ``y, y + gridDim.y, ...``).
Launch shape: ``(blocks_x, min(tiles, 65535))`` blocks of ``BLOCK`` threads,
``blocks_x = min(ceil(N label_tile / BLOCK), ceil(max_blocks() / tiles))``, raised
so that no block counts ``2**31`` elements (``uint32`` counters cannot wrap).
syncs: none.
"""
import functools

from numba import cuda, float64, uint32

from .rules import bucket_evenly, bucket_search, check_out_shapes, transformed
from .._shared.launch import BLOCK, current_stream, device_array, max_blocks

#: shared-memory bytes for one block's counters (the default per-block limit without opt-in).
SHARED_BUDGET = 48 * 1024
#: most copies of a block's histogram (spreads same-bucket atomics of one warp over addresses).
MAX_REPLICAS = 8
#: most elements one block may count (``uint32`` counters per block must not wrap).
MAX_BLOCK_ELEMENTS = 1 << 31
_MAX_GRID_Y = 65535

_transformed = cuda.jit(device=True)(transformed)
_bucket_evenly = cuda.jit(device=True)(bucket_evenly)
_bucket_search = cuda.jit(device=True)(bucket_search)


@functools.lru_cache(maxsize=None)
def _kernel(weighted, evenly, transform):
    counter = float64 if weighted else uint32
    bucket = _bucket_evenly if evenly else _bucket_search

    @cuda.jit
    def threshold_histogram_kernel(y_true, y_pred, weight, thresholds, out_pos, out_neg,
                                   label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride):
        shared = cuda.shared.array(0, counter)
        tid = cuda.threadIdx.x
        rows, cols = y_pred.shape
        count = thresholds.shape[0]
        size = 2 * label_tile * bucket_tile
        mine = (tid % replicas) * stride
        tile = cuda.blockIdx.y
        while tile < tiles:
            l0 = (tile // bucket_tiles) * label_tile
            k0 = (tile % bucket_tiles) * bucket_tile
            lt = min(label_tile, cols - l0)
            j = tid
            while j < replicas * stride:
                shared[j] = 0
                j += BLOCK
            cuda.syncthreads()
            n = rows * lt
            step = cuda.gridDim.x * BLOCK
            step_rows = step // lt
            step_cols = step - step_rows * lt
            i = cuda.blockIdx.x * BLOCK + tid
            r = i // lt
            c = i - r * lt
            while i < n:
                k = bucket(_transformed(float64(y_pred[r, l0 + c]), transform), thresholds, count) - k0
                if k >= 0 and k < bucket_tile:
                    label = 1 if y_true[r, l0 + c] != 0 else 0
                    slot = mine + (label * label_tile + c) * bucket_tile + k
                    if weighted:
                        cuda.atomic.add(shared, slot, float64(weight[r, l0 + c]))
                    else:
                        cuda.atomic.add(shared, slot, uint32(1))
                i += step
                r += step_rows
                c += step_cols
                if c >= lt:
                    c -= lt
                    r += 1
            cuda.syncthreads()
            j = tid
            while j < size:
                v = float64(0.0)
                for q in range(replicas):
                    v += float64(shared[q * stride + j])
                if v != 0.0:
                    label = j // (label_tile * bucket_tile)
                    rest = j - label * (label_tile * bucket_tile)
                    c = rest // bucket_tile
                    b = k0 + rest - c * bucket_tile
                    if label == 1:
                        cuda.atomic.add(out_pos, (b, l0 + c), v)
                    else:
                        cuda.atomic.add(out_neg, (b, l0 + c), v)
                j += BLOCK
            cuda.syncthreads()
            tile += cuda.gridDim.y

    return threshold_histogram_kernel


def launch_shape(rows, cols, count, weighted):
    """``(blocks_x, grid_y, label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, shared_bytes)``."""
    itemsize = 8 if weighted else 4
    slots = SHARED_BUDGET // itemsize
    buckets = count + 1
    if 2 * buckets <= slots:
        bucket_tile = buckets
        label_tile = min(cols, slots // (2 * buckets))
    else:
        bucket_tile = slots // 2
        label_tile = 1
    bucket_tiles = -(-buckets // bucket_tile)
    tiles = -(-cols // label_tile) * bucket_tiles
    size = 2 * label_tile * bucket_tile
    replicas = min(MAX_REPLICAS, slots // (size + 1))
    stride = size + 1 if replicas > 1 else size  # odd stride: replicas of one counter sit in different banks
    replicas = max(replicas, 1)
    per_tile = rows * label_tile
    blocks_x = min(-(-per_tile // BLOCK), -(-max_blocks() // tiles))
    blocks_x = max(blocks_x, -(-per_tile // MAX_BLOCK_ELEMENTS), 1)
    grid_y = min(tiles, _MAX_GRID_Y)
    shared_bytes = replicas * stride * itemsize
    return blocks_x, grid_y, label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, shared_bytes


def threshold_histogram(y_true, y_pred, weight, thresholds, evenly_spaced, transform, out_pos, out_neg):
    """Launch ``threshold_histogram_kernel`` on the caller's stream; same contract as the CPU twin."""
    check_out_shapes(y_pred, thresholds, out_pos, out_neg)
    rows, cols = y_pred.shape
    count = thresholds.shape[0]
    if rows * cols == 0:
        return
    weighted = weight is not None
    blocks_x, grid_y, label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, shared_bytes = launch_shape(
        rows, cols, count, weighted)
    _kernel(weighted, bool(evenly_spaced), int(transform))[(blocks_x, grid_y), BLOCK, current_stream(), shared_bytes](
        device_array(y_true), device_array(y_pred), device_array(weight if weighted else y_pred),
        device_array(thresholds), device_array(out_pos), device_array(out_neg),
        label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride,
    )
