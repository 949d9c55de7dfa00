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
state with Chan et al.'s update; the scalar arithmetic is the CPU twin's
(``moment_rules.centred`` / ``merged`` compiled as device functions). One
launch, no floating-point atomics: the same input gives the same bits on
every run.
Launch shape: ``(blocks_x, grid_y)`` blocks of ``BLOCK`` threads,
``grid_y = min(L, max_blocks())`` (more columns are looped over: the grid
already fills the device), ``blocks_x = min(ceil(N / BLOCK), ceil(max_blocks() / grid_y))``.
``merge_moments`` (the ``"moments"`` merge rule on GPU states) is one thread
per column: ``ceil(L / BLOCK)`` blocks.
syncs: none.
"""
import functools
import math

from numba import cuda, float64, int32

from ..moment_rules import STATE_ROWS, centred, check_shapes, merged
from .launch import BLOCK, SIMULATOR, current_stream, device_array, max_blocks, reduction_scratch

_MAX_GRID_Y = 65535  # the hardware limit of gridDim.y

_centred = cuda.jit(device=True)(centred)
_merged = cuda.jit(device=True)(merged)


@cuda.jit(device=True)
def _merge_column(out, c, w, mx, my, m2x, m2y, cxy, d):
    """``out[:, c]`` ← the union of ``out[:, c]`` and the part ``(w, ..., d)``."""
    n = _merged(out[0, c], out[1, c], out[2, c], out[3, c], out[4, c], out[5, c], out[6, c],
                w, mx, my, m2x, m2y, cxy, d)
    out[0, c] = n[0]
    out[1, c] = n[1]
    out[2, c] = n[2]
    out[3, c] = n[3]
    out[4, c] = n[4]
    out[5, c] = n[5]
    out[6, c] = n[6]


@functools.lru_cache(maxsize=None)
def _kernel(weighted):
    @cuda.jit
    def moments_kernel(x, y, weight, partials, ticket, out):
        tid = cuda.threadIdx.x
        rows, cols = x.shape
        shared = cuda.shared.array((STATE_ROWS, BLOCK), float64)
        is_last = cuda.shared.array(1, int32)
        step = cuda.gridDim.x * BLOCK
        c = cuda.blockIdx.y
        while c < cols:
            shift_x = float64(x[0, c])
            shift_y = float64(y[0, c])
            sw = 0.0
            sx = 0.0
            sy = 0.0
            sxx = 0.0
            syy = 0.0
            sxy = 0.0
            sd = 0.0
            r = cuda.blockIdx.x * BLOCK + tid
            while r < rows:
                xv = float64(x[r, c])
                yv = float64(y[r, c])
                w = float64(weight[r, c]) if weighted else 1.0
                dx = xv - shift_x
                dy = yv - shift_y
                e = xv - yv
                wdx = w * dx
                wdy = w * dy
                sw += w
                sx += wdx
                sy += wdy
                sxx += wdx * dx
                syy += wdy * dy
                sxy += wdx * dy
                sd += w * e * e
                r += step
            shared[0, tid] = sw
            shared[1, tid] = sx
            shared[2, tid] = sy
            shared[3, tid] = sxx
            shared[4, tid] = syy
            shared[5, tid] = sxy
            shared[6, tid] = sd
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
                sw = 0.0
                sx = 0.0
                sy = 0.0
                sxx = 0.0
                syy = 0.0
                sxy = 0.0
                sd = 0.0
                for j in range(cuda.gridDim.x):
                    sw += partials[0, j, c]
                    sx += partials[1, j, c]
                    sy += partials[2, j, c]
                    sxx += partials[3, j, c]
                    syy += partials[4, j, c]
                    sxy += partials[5, j, c]
                    sd += partials[6, j, c]
                b = _centred(sw, sx, sy, sxx, syy, sxy, sd, float64(x[0, c]), float64(y[0, c]))
                _merge_column(out, c, b[0], b[1], b[2], b[3], b[4], b[5], b[6])
                c += BLOCK
            if tid == 0:
                ticket[0] = 0

    return moments_kernel


@cuda.jit
def merge_moments_kernel(out, other):
    c = cuda.grid(1)
    if c < out.shape[1]:
        _merge_column(out, c, other[0, c], other[1, c], other[2, c], other[3, c], other[4, c], other[5, c],
                      other[6, c])


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


def moments(x, y, weight, out):
    """Launch ``moments_kernel`` on the caller's stream; same contract as the CPU twin."""
    check_shapes(x, y, weight, out)
    rows, cols = x.shape
    if rows * cols == 0:
        return
    blocks_x, grid_y = launch_shape(rows, cols)
    _, ticket = reduction_scratch()
    weighted = weight is not None
    _kernel(weighted)[(blocks_x, grid_y), BLOCK, current_stream()](
        device_array(x), device_array(y), device_array(weight if weighted else x),
        device_array(_partials(blocks_x, cols)), device_array(ticket), device_array(out),
    )


def merge_moments(out, other):
    """The ``"moments"`` merge rule on GPU states: ``out`` ← the union of ``out`` and ``other`` (both ``[7, L]``)."""
    if out.shape != other.shape or out.shape[0] != STATE_ROWS:
        raise ValueError(f"moments states must both be (7, L); got {out.shape} and {other.shape}")
    cols = out.shape[1]
    if cols == 0:
        return
    merge_moments_kernel[math.ceil(cols / BLOCK), BLOCK, current_stream()](device_array(out), device_array(other))
