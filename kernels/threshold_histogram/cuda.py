"""Numba CUDA ``threshold_histogram``: a grid-stride pass into a shared-memory histogram per block, one flush per block.

The bucket rule is the CPU twin's (the scalar functions of ``rules.py``, its
``TRANSFORMS`` and ``BUCKETINGS`` kinds, are compiled here as device functions):
``k`` = number of thresholds strictly below the (clipped / sigmoid)
prediction, NaN in bucket 0; the element adds ``w`` (1 unweighted) to
``out_pos[k, l]`` when ``y_true != 0``, else to ``out_neg[k, l]``; with ``out_other`` (``split``), a
positive label other than exactly 1 adds to ``out_other[k, l]`` as well (``rules.OTHER``).

Memory picture: a block owns a tile of ``label_tile`` labels x ``bucket_tile``
buckets, held in dynamic shared memory as ``[replica][label plane][label][bucket]`` (``P`` = 2 planes, 3 split)
counters: ``uint32`` counts unweighted, ``float64`` sums weighted (the
privatised histogram of ``_shared/histogram.py``). Thread ``t``
of the ``G`` threads along x reads elements ``t, t+G, ...`` of the tile's
``(rows, label_tile)`` columns, tracking row and column incrementally, and
does one shared atomic add per element, into replica ``t % replicas`` (spare
shared memory holds up to ``histogram.MAX_REPLICAS`` copies, so threads of a warp that
hit the same bucket spread over several addresses). After a barrier the block
sums its replicas per counter and flushes each non-zero counter with one
global float64 atomic add into the state. No global atomic per element.
Unweighted counts are integers, exact in float64 in any order, so they are
bitwise reproducible; weighted sums depend on the atomic order.

Up to ``STAGED_THRESHOLDS`` thresholds are first copied into static shared
memory by each block, so the bucket search reads shared, not global, memory.
When one tile spans every label and the inputs are laid out as the
``(rows, cols)`` grid itself (``casts.is_dense``), element ``i`` is read at
offset ``i``, without per-element index arithmetic.

Tiling: the counters of one block fit ``COUNTER_BUDGET`` bytes (48 KiB less the staged thresholds).
``label_tile = min(L, budget_slots // (P (T + 1)))`` labels per tile; when
even one label's ``P (T + 1)`` counters do not fit, ``label_tile = 1`` and the
buckets are cut into tiles of ``budget_slots // P`` (each such tile re-reads
its label and counts only the buckets it owns). Tiles are enumerated along
``blockIdx.y`` (a block loops over tiles ``y, y + gridDim.y, ...``).
Launch shape: ``(blocks_x, min(tiles, 65535))`` blocks of ``BLOCK`` threads,
``blocks_x = min(ceil(N label_tile / BLOCK), ceil(max_blocks() / tiles))``, raised
so that no block counts ``2**31`` elements (``uint32`` counters cannot wrap).

Compiled signatures (cached on disk; at most 16): ``y_true`` ``float32``,
``float64``, ``int32`` or ``int64`` (``casts.as_labels``), ``y_pred`` and
``weight`` ``float32`` or ``float64`` (``casts.as_values``; unweighted calls
pass ``y_pred`` in its place), each a flat read-only view with element
strides; ``thresholds`` a flat ``float64`` view; the two kind codes int64;
``out_pos`` / ``out_neg`` the C-contiguous ``float64[T + 1, L]`` states, then the ``split``
flag and ``out_other`` (of their type: ``out_neg`` in its place when not split). The
weighted flag is an argument: one kernel holds both counter types (two views
of one dynamic shared buffer).
Groups (``group_ids``, a ``G * L``-column state): ``grouped_histogram_kernel``,
a grid-stride pass where element ``(r, c)`` adds into column ``g[r] * L + c``
(rows whose id is outside ``[0, G)`` are dropped). (a) When the block's
``P (T + 1) G L`` counters fit ``SHARED_BUDGET`` (48 KiB: e.g. ``T + 1 = 201``
buckets and ``G L <= 15`` weighted, ``<= 30`` unweighted), it privatises them as
above, with replicas, and flushes once per block. (b) Otherwise, with no tiles
over groups (a tile would re-read the batch once per tile), each element is one
global float64 atomic add into the state: ``G (T + 1) L`` addresses spread the
contention, and the cost is one atomic per element instead of one shared atomic;
whole-number weights stay exact, other weighted sums depend on the atomic order
(as the privatised flush already does). Thresholds are read from global memory
(cached), not staged.
syncs: none.
"""
from numba import cuda, float64, uint32

from .._shared.histogram import MAX_BLOCK_ELEMENTS, SHARED_BUDGET, add_to_counter, clear_counters, counter_bytes, \
    counter_total, own_copy, replica_layout
from .._shared.casts import is_dense
from .._shared.kinds import make_switch
from .._shared.launch import BLOCK, cuda_kernel, device_function, launch, max_blocks
from .._shared.groups import group_view
from .rules import BUCKETINGS, OTHER, TRANSFORMS, check_other, count_groups, pass_arguments

_MAX_GRID_Y = 65535
#: thresholds a block copies into static shared memory (8 KiB) before it counts; more are read from global memory
STAGED_THRESHOLDS = 1024
#: dynamic shared memory left for the counters next to the staged thresholds (48 KiB per block in all)
COUNTER_BUDGET = SHARED_BUDGET - 8 * STAGED_THRESHOLDS
#: registers per thread of ``threshold_histogram_kernel``: 8 blocks of 256 threads resident per SM instead of 4 (51
#: registers uncapped, sm_90), some 128 bytes spilled to local memory. On an H100 (2026-11-27, AUC(200) at 1e8, int32
#: labels, float32 scores, the kernel of that day, whose ptxas register and spill profile this one repeats) the cap
#: of 32 gave 36.9% of copy bandwidth against 29.3% uncapped (40: 34.1%); weighted passes unmeasured.
HISTOGRAM_REGISTERS = 32

transformed = make_switch(TRANSFORMS, device_function, 1)
bucket = make_switch(BUCKETINGS, device_function, 4)


@device_function
def count_element(t, ti, p, pi, w, wi, weighted, thresholds, count, extras, bucketing, transform, counts, sums, mine,
                  c, label_tile, bucket_tile, k0, split):
    """Count the element at offsets ``ti``, ``pi``, ``wi`` (column ``c`` of the tile) into this thread's copy:
    plane 1 (positive) or 0 (negative), and plane ``OTHER`` too for a positive label other than 1 when ``split``."""
    k = bucket(bucketing, transformed(transform, float64(p[pi])), thresholds, count, extras) - k0
    if k >= 0 and k < bucket_tile:
        tv = t[ti]
        label = 1 if tv != 0 else 0
        value = float64(w[wi]) if weighted else float64(1.0)
        add_to_counter(counts, sums, weighted, mine + (label * label_tile + c) * bucket_tile + k, value)
        if split and label == 1 and tv != 1:
            add_to_counter(counts, sums, weighted, mine + (OTHER * label_tile + c) * bucket_tile + k, value)


@device_function
def flush_counter(out_neg, out_pos, out_other, plane, b, column, v):
    """One global float64 atomic add of a block's total ``v`` into the state of ``plane``."""
    if plane == 0:
        cuda.atomic.add(out_neg, (b, column), v)
    elif plane == 1:
        cuda.atomic.add(out_pos, (b, column), v)
    else:
        cuda.atomic.add(out_other, (b, column), v)


@cuda_kernel(max_registers=HISTOGRAM_REGISTERS)
def threshold_histogram_kernel(t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, rows, cols, thresholds,
                               count, bucketing, transform, out_pos, out_neg, label_tile, bucket_tile, bucket_tiles,
                               tiles, replicas, stride, dense, split, out_other):
    counts = cuda.shared.array(0, uint32)
    sums = cuda.shared.array(0, float64)
    staged = cuda.shared.array(STAGED_THRESHOLDS, float64)
    tid = cuda.threadIdx.x
    size = thresholds.shape[0]  # the thresholds, then the extras (evenly_spaced's table)
    extras = size - count
    if size <= STAGED_THRESHOLDS:  # every bucket search then reads shared memory, not global
        j = tid
        while j < size:
            staged[j] = thresholds[j]
            j += BLOCK
        cuda.syncthreads()
        cuts = staged
    else:
        cuts = thresholds
    size = (OTHER + 1 if split else 2) * label_tile * bucket_tile
    mine = own_copy(replicas, stride)
    tile = cuda.blockIdx.y
    while tile < tiles:
        l0 = (tile // bucket_tiles) * label_tile
        k0 = (tile % bucket_tiles) * bucket_tile
        lt = cols - l0 if cols - l0 < label_tile else label_tile  # numba-cuda's min() does not compile to PTX
        clear_counters(counts, sums, weighted, replicas, stride)
        n = rows * lt
        step = cuda.gridDim.x * BLOCK
        step_rows = step // lt
        step_cols = step - step_rows * lt
        i = cuda.blockIdx.x * BLOCK + tid
        r = i // lt
        c = i - r * lt
        if dense:  # one tile spans every label and the inputs are laid out as the grid: offset i, no arithmetic
            while i < n:
                count_element(t, i, p, i, w, i, weighted, cuts, count, extras, bucketing, transform, counts, sums,
                              mine, c, label_tile, bucket_tile, k0, split)
                i += step
                c += step_cols
                if c >= lt:
                    c -= lt
        else:
            while i < n:
                count_element(t, r * t_rs + (l0 + c) * t_cs, p, r * p_rs + (l0 + c) * p_cs, w,
                              r * w_rs + (l0 + c) * w_cs, weighted, cuts, count, extras, bucketing, transform,
                              counts, sums, mine, c, label_tile, bucket_tile, k0, split)
                i += step
                r += step_rows
                c += step_cols
                if c >= lt:
                    c -= lt
                    r += 1
        cuda.syncthreads()
        j = tid
        while j < size:
            v = counter_total(counts, sums, weighted, replicas, stride, j)
            if v != 0.0:
                label = j // (label_tile * bucket_tile)
                rest = j - label * (label_tile * bucket_tile)
                c = rest // bucket_tile
                flush_counter(out_neg, out_pos, out_other, label, k0 + rest - c * bucket_tile, l0 + c, v)
            j += BLOCK
        cuda.syncthreads()
        tile += cuda.gridDim.y


@cuda_kernel
def grouped_histogram_kernel(t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weighted, rows, cols, thresholds, count,
                             bucketing, transform, gid, g_rs, groups, out_pos, out_neg, private, replicas, stride,
                             split, out_other):
    """Element ``(r, c)`` adds into column ``gid[r] * cols + c`` (dropped when the id is outside ``[0, groups)``):
    into the block's shared ``[replica][label plane][column][bucket]`` counters when ``private``, else straight into
    the state with one global float64 atomic add; ``split``: plane ``OTHER`` as ``count_element``'s."""
    counts = cuda.shared.array(0, uint32)
    sums = cuda.shared.array(0, float64)
    tid = cuda.threadIdx.x
    extras = thresholds.shape[0] - count
    buckets = count + 1
    width = groups * cols
    if private:
        clear_counters(counts, sums, weighted, replicas, stride)
    mine = own_copy(replicas, stride)
    i = cuda.blockIdx.x * BLOCK + tid
    while i < rows * cols:
        r = i // cols
        c = i - r * cols
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            k = bucket(bucketing, transformed(transform, float64(p[r * p_rs + c * p_cs])), thresholds, count, extras)
            tv = t[r * t_rs + c * t_cs]
            label = 1 if tv != 0 else 0
            other = split and label == 1 and tv != 1
            value = float64(w[r * w_rs + c * w_cs]) if weighted else float64(1.0)
            column = g * cols + c
            if private:
                add_to_counter(counts, sums, weighted, mine + (label * width + column) * buckets + k, value)
                if other:
                    add_to_counter(counts, sums, weighted, mine + (OTHER * width + column) * buckets + k, value)
            else:
                flush_counter(out_neg, out_pos, out_other, label, k, column, value)
                if other:
                    flush_counter(out_neg, out_pos, out_other, OTHER, k, column, value)
        i += cuda.gridDim.x * BLOCK
    if private:
        cuda.syncthreads()
        j = tid
        while j < (OTHER + 1 if split else 2) * width * buckets:
            v = counter_total(counts, sums, weighted, replicas, stride, j)
            if v != 0.0:
                label = j // (width * buckets)
                column = (j - label * width * buckets) // buckets
                flush_counter(out_neg, out_pos, out_other, label, j - (label * width + column) * buckets, column, v)
            j += BLOCK


def grouped_launch_shape(rows, cols, count, groups, weighted, planes=2):
    """``(blocks, private, replicas, stride, shared_bytes)`` of ``grouped_histogram_kernel``: privatised when the
    block's ``planes (T + 1) G L`` counters fit ``SHARED_BUDGET``, else global atomics (no shared memory)."""
    size = planes * (count + 1) * groups * cols
    private = size * counter_bytes(weighted) <= SHARED_BUDGET
    replicas, stride, shared_bytes = replica_layout(size, weighted, SHARED_BUDGET) if private else (1, 0, 0)
    n = rows * cols
    blocks = max(min(-(-n // BLOCK), max_blocks()), -(-n // MAX_BLOCK_ELEMENTS), 1)
    return blocks, private, replicas, stride, shared_bytes


def launch_shape(rows, cols, count, weighted, planes=2):
    """``(blocks_x, grid_y, label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, shared_bytes)`` for
    ``planes`` label planes (3 with ``out_other``)."""
    slots = COUNTER_BUDGET // counter_bytes(weighted)
    buckets = count + 1
    if planes * buckets <= slots:
        bucket_tile = buckets
        label_tile = min(cols, slots // (planes * buckets))
    else:
        bucket_tile = slots // planes
        label_tile = 1
    bucket_tiles = -(-buckets // bucket_tile)
    tiles = -(-cols // label_tile) * bucket_tiles
    replicas, stride, shared_bytes = replica_layout(planes * label_tile * bucket_tile, weighted, COUNTER_BUDGET)
    per_tile = rows * label_tile
    blocks_x = min(-(-per_tile // BLOCK), -(-max_blocks() // tiles))
    blocks_x = max(blocks_x, -(-per_tile // MAX_BLOCK_ELEMENTS), 1)
    grid_y = min(tiles, _MAX_GRID_Y)
    return blocks_x, grid_y, label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, shared_bytes


def threshold_histogram(y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg, group_ids=None,
                        out_other=None, extras=0):
    """Launch ``threshold_histogram_kernel`` (``grouped_histogram_kernel`` with ``group_ids``) on the caller's
    stream; same contract as the CPU twin."""
    check_other(out_pos, out_other)
    groups = count_groups(y_pred, group_ids, out_pos)
    arguments = pass_arguments(y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg, groups,
                               extras)
    if arguments is None:
        return
    split = out_other is not None
    planes, other = (OTHER + 1, out_other) if split else (2, out_neg)
    if group_ids is not None:
        blocks, private, replicas, stride, shared_bytes = grouped_launch_shape(
            arguments.rows, arguments.cols, arguments.count, groups, arguments.weighted, planes)
        launch(grouped_histogram_kernel, blocks, BLOCK, shared_bytes, *arguments, *group_view(group_ids), groups,
               out_pos, out_neg, private, replicas, stride, split, other)
        return
    blocks_x, grid_y, label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, shared_bytes = launch_shape(
        arguments.rows, arguments.cols, arguments.count, arguments.weighted, planes)
    rows, cols = arguments.rows, arguments.cols
    dense = (label_tile >= cols and is_dense(rows, cols, arguments.t_rs, arguments.t_cs)
             and is_dense(rows, cols, arguments.p_rs, arguments.p_cs)
             and (not arguments.weighted or is_dense(rows, cols, arguments.w_rs, arguments.w_cs)))
    launch(threshold_histogram_kernel, (blocks_x, grid_y), BLOCK, shared_bytes, *arguments, out_pos, out_neg,
           label_tile, bucket_tile, bucket_tiles, tiles, replicas, stride, dense, split, other)
