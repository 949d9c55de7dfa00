"""Numba CUDA ``moments``: per-column shifted sums on a 2-D grid, block tree reductions, a fixed-order last-block merge.

Memory picture: ``blockIdx.y`` picks a column ``l`` (columns ``l, l + gridDim.y,
...`` when ``L`` exceeds the grid's height), ``blockIdx.x`` a share of the rows: thread
``t`` of the ``G = gridDim.x * BLOCK`` threads along x reads rows
``t, t + G, t + 2G, ...`` of that column (coalesced when the column is
contiguous: ``L = 1`` or F order; a C-order ``(N, L)`` batch is read with a
stride of ``L`` elements, served mostly by L2 since the other columns' blocks
read the same lines). Each thread keeps seven float64 sums around the
column's shift ``(x[0, l], y[0, l])``, the batch's first row, which every
thread reads from device memory itself: ``Σw``, ``Σw dx``, ``Σw dy``,
``Σw dx²``, ``Σw dy²``, ``Σw dx dy`` (``dx = x - x[0, l]``) and
``Σw (x - y)²``. The block tree-reduces them in shared memory (a fixed
order) and thread 0 writes the block's partials to ``partials[k, blockIdx.x, l]``,
per-(device, stream) scratch. The last block to finish (a ticket taken after
a ``threadfence``, as in ``error_sums``) gives one thread per column: it adds
the column's partials in block order, centres them and merges them into the
state with Chan et al.'s update. The scalar arithmetic is the CPU twin's,
compiled as device functions: ``moments.rules.accumulated`` per element (the
sums a 7-tuple, in registers), ``combined`` per block partial, ``centred``
and ``merge`` per column. One launch, no floating-point atomics: the same
input gives the same bits on every run.
Launch shape: ``(blocks_x, grid_y)`` blocks of ``BLOCK`` threads,
``grid_y = min(L, max_blocks())`` (more columns are looped over: the grid
already fills the device), ``blocks_x = min(ceil(N / BLOCK), ceil(max_blocks() / grid_y))``.
``merge_moments`` (the ``"moments"`` merge rule on GPU states) is one thread
per column: ``ceil(L / BLOCK)`` blocks.

Groups (``group_ids``, one per row; state ``float64[7, G * L]``, column
``g * L + l``): three launches. ``first_rows_kernel`` takes each group's first
row with an integer ``atomic.min`` (the same row the CPU twin finds); in
``grouped_moments_kernel`` one thread per element adds its seven sums around
its group's first row into a ``[7, G * L]`` scratch with global float64
atomics (no reduction tree: the partials would be ``G`` long); then
``grouped_merge_kernel``, one thread per ``(group, column)`` seen in the batch,
centres and merges them. Sums of whole numbers stay exact; others depend on
the atomic order (last bits), as in the other grouped passes.

Compiled signatures (cached on disk): as the CPU twin's, ``x``, ``y`` and
``weight`` each ``float32`` or ``float64`` flat read-only views with element
strides (a float64 placeholder when unweighted), ``weighted`` an argument the
kernel branches on; ``merge_moments_kernel``: two ``float64[7, L]`` states.
syncs: none.
"""
import math

from numba import cuda, float64, int32

from .._shared.casts import as_values, flat
from .._shared.groups import group_view
from .._shared.kinds import retarget
from .._shared.launch import BLOCK, SIMULATOR, cuda_kernel, device_function, launch, max_blocks, reduction_scratch
from .rules import NO_SUMS, STATE_ROWS, accumulated, centred, check_grouped_shapes, check_shapes, combined, merge, \
    state_columns

_MAX_GRID_Y = 65535  # the hardware limit of gridDim.y

_accumulated = retarget(accumulated, device_function)
_combined = retarget(combined, device_function)
_centred = retarget(centred, device_function)
_merge = retarget(merge, device_function)


@cuda_kernel
def moments_kernel(x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted, rows, cols, partials, ticket, out):
    tid = cuda.threadIdx.x
    shared = cuda.shared.array((STATE_ROWS, BLOCK), float64)
    is_last = cuda.shared.array(1, int32)
    step = cuda.gridDim.x * BLOCK
    c = cuda.blockIdx.y
    while c < cols:
        shift_x = float64(x[c * x_cs])
        shift_y = float64(y[c * y_cs])
        s = NO_SUMS
        r = cuda.blockIdx.x * BLOCK + tid
        while r < rows:
            s = _accumulated(s, float64(x[r * x_rs + c * x_cs]), float64(y[r * y_rs + c * y_cs]),
                             float64(w[r * w_rs + c * w_cs]) if weighted else 1.0, shift_x, shift_y)
            r += step
        for k in range(STATE_ROWS):
            shared[k, tid] = s[k]
        cuda.syncthreads()
        half = BLOCK // 2
        while half > 0:
            if tid < half:
                for k in range(STATE_ROWS):
                    shared[k, tid] += shared[k, tid + half]
            cuda.syncthreads()
            half //= 2
        if tid == 0:
            for k in range(STATE_ROWS):
                partials[k, cuda.blockIdx.x, c] = shared[k, 0]
        cuda.syncthreads()  # shared is reused by the next column
        c += cuda.gridDim.y
    if tid == 0:
        cuda.threadfence()
        is_last[0] = cuda.atomic.add(ticket, 0, 1) == cuda.gridDim.x * cuda.gridDim.y - 1
    cuda.syncthreads()
    if is_last[0]:
        c = tid
        while c < cols:
            s = NO_SUMS
            for j in range(cuda.gridDim.x):
                s = _combined(s, partials[:, j, c])
            _merge(out[:, c], _centred(s, float64(x[c * x_cs]), float64(y[c * y_cs])))
            c += BLOCK
        if tid == 0:
            ticket[0] = 0


@cuda_kernel
def merge_moments_kernel(out, other):
    c = cuda.grid(1)
    if c < out.shape[1]:
        _merge(out[:, c], other[:, c])


@cuda_kernel
def first_rows_kernel(gid, g_rs, rows, groups, first):
    r = cuda.grid(1)
    while r < rows:
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            cuda.atomic.min(first, g, r)
        r += cuda.gridDim.x * BLOCK


@cuda_kernel
def grouped_moments_kernel(x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted, rows, cols, gid, g_rs, groups,
                           first, sums):
    i = cuda.grid(1)
    while i < rows * cols:
        r = i // cols
        c = i - r * cols
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            f = first[g]
            s = _accumulated(NO_SUMS, float64(x[r * x_rs + c * x_cs]), float64(y[r * y_rs + c * y_cs]),
                             float64(w[r * w_rs + c * w_cs]) if weighted else 1.0,
                             float64(x[f * x_rs + c * x_cs]), float64(y[f * y_rs + c * y_cs]))
            for k in range(STATE_ROWS):
                cuda.atomic.add(sums, (k, g * cols + c), s[k])
        i += cuda.gridDim.x * BLOCK


@cuda_kernel
def grouped_merge_kernel(x, x_rs, x_cs, y, y_rs, y_cs, rows, cols, groups, first, sums, out):
    i = cuda.grid(1)
    if i < groups * cols:
        g = i // cols
        c = i - g * cols
        f = first[g]
        if f < rows:
            _merge(out[:, i], _centred(_combined(NO_SUMS, sums[:, i]), float64(x[f * x_rs + c * x_cs]),
                                       float64(y[f * y_rs + c * y_cs])))


def _grouped_moments(x, y, weight, out, group_ids):
    """The three launches of a grouped call (see the module's docstring), scratch from the state's array module."""
    groups = check_grouped_shapes(x, y, weight, out, group_ids)
    rows, cols = x.shape
    if rows == 0:
        return
    if SIMULATOR:
        import numpy as xp
    else:
        import cupy as xp
    first = xp.full(groups, rows, dtype=xp.int64)
    sums = xp.zeros((STATE_ROWS, groups * cols))
    gid, g_rs = group_view(group_ids)
    xf, (x_rs, x_cs) = flat(as_values(x))
    yf, (y_rs, y_cs) = flat(as_values(y))
    weighted = weight is not None
    w, (w_rs, w_cs) = flat(as_values(weight) if weighted else out[:1, :1])
    launch(first_rows_kernel, min(math.ceil(rows / BLOCK), max_blocks()), BLOCK, 0, gid, g_rs, rows, groups, first)
    launch(grouped_moments_kernel, min(math.ceil(rows * cols / BLOCK), max_blocks()), BLOCK, 0,
           xf, x_rs, x_cs, yf, y_rs, y_cs, w, w_rs, w_cs, weighted, rows, cols, gid, g_rs, groups, first, sums)
    launch(grouped_merge_kernel, math.ceil(groups * cols / BLOCK), BLOCK, 0,
           xf, x_rs, x_cs, yf, y_rs, y_cs, rows, cols, groups, first, sums, out)


def launch_shape(rows, cols):
    """``(blocks_x, grid_y)`` of ``moments_kernel`` for an ``(N, L)`` batch."""
    grid_y = min(cols, max_blocks(), _MAX_GRID_Y)
    blocks_x = min(math.ceil(rows / BLOCK), math.ceil(max_blocks() / grid_y))
    return blocks_x, grid_y


_scratch = {}


def _partials(blocks_x, cols):
    """Per-(device, stream) ``float64[7, blocks_x, L]`` block partials, grown as needed, never shrunk.

    Kernels on one stream run in order, so a stream's scratch is never used by
    two launches at once (and CuPy's pool hands a replaced buffer only to work
    ordered after it on the same stream).
    """
    size = STATE_ROWS * blocks_x * cols
    if SIMULATOR:
        import numpy as xp

        key = None
    else:
        import cupy as xp

        key = (xp.cuda.runtime.getDevice(), xp.cuda.get_current_stream().ptr)
    if key not in _scratch or _scratch[key].size < size:
        _scratch[key] = xp.empty(size)
    return _scratch[key][:size].reshape(STATE_ROWS, blocks_x, cols)


def moments(x, y, weight, out, group_ids=None):
    """Launch ``moments_kernel`` (grouped: ``_grouped_moments``) on the caller's stream; same contract as the CPU
    twin."""
    if group_ids is not None:
        _grouped_moments(x, y, weight, out, group_ids)
        return
    check_shapes(x, y, weight, out)
    rows, cols = x.shape
    if rows * cols == 0:
        return
    blocks_x, grid_y = launch_shape(rows, cols)
    _, ticket = reduction_scratch()
    xf, (x_rs, x_cs) = flat(as_values(x))
    yf, (y_rs, y_cs) = flat(as_values(y))
    weighted = weight is not None
    w, (w_rs, w_cs) = flat(as_values(weight) if weighted else out[:1, :1])
    launch(moments_kernel, (blocks_x, grid_y), BLOCK, 0,
        xf, x_rs, x_cs, yf, y_rs, y_cs, w, w_rs, w_cs, weighted, rows,
        cols, _partials(blocks_x, cols), ticket, out,
    )


def merge_moments(out, other):
    """The ``"moments"`` merge rule on GPU states: ``out`` ← the union of ``out`` and ``other`` (both ``[7, L]``, or
    ``(7, G, L)`` grouped: column by column)."""
    out = state_columns(out, other)
    cols = out.shape[1]
    if cols == 0:
        return
    launch(merge_moments_kernel, math.ceil(cols / BLOCK), BLOCK, 0, out, other.reshape(out.shape))
