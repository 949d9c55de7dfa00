"""What every CUDA launcher shares: the caller's stream, per-stream scratch, zero-copy kernel arguments.

Under ``NUMBA_ENABLE_CUDASIM=1`` arrays are NumPy and the simulator runs the
kernels; otherwise arrays are CuPy and kernels are launched on CuPy's current
stream (the caller's), so they are ordered after the producer's work without
the host waiting for anything.
"""
import functools

import numpy as np

if not hasattr(np, "row_stack"):
    # numba-cuda 0.30 registers a CUDA overload of np.row_stack when its target loads; NumPy 2.5 removed that alias
    # of np.vstack, so without it no kernel compiles (seen on an H100 machine with numpy 2.5.2).
    np.row_stack = np.vstack

from numba import config, cuda  # noqa: E402

from .compile import install_locator

SIMULATOR = bool(config.ENABLE_CUDASIM)
#: threads per block of every reduction kernel (a power of two: tree reductions halve it);
#: smaller in the simulator, which runs one Python thread per CUDA thread.
BLOCK = 32 if SIMULATOR else 256


def _install_cuda_locator():
    """Send numba-cuda's cache of this package's kernels to the package's cache directory too."""
    if not SIMULATOR:  # the simulator compiles nothing, so caches nothing
        from numba.cuda.dispatcher import CUDACacheImpl

        install_locator(CUDACacheImpl)


_install_cuda_locator()


def cuda_kernel(fn):
    """Decorator: ``fn`` (a module-level kernel) as a ``cuda.jit`` kernel kept in the on-disk cache."""
    return cuda.jit(cache=not SIMULATOR)(fn)


def device_function(fn):
    """A rule or helper compiled as an inlined device function (see ``kinds.retarget``)."""
    return cuda.jit(device=True, inline=True)(fn)


@functools.lru_cache(maxsize=None)
def _external_stream(ptr):
    return cuda.external_stream(ptr)


def current_stream():
    """The Numba stream wrapping CuPy's current stream (the default stream in the simulator)."""
    if SIMULATOR:
        return 0
    import cupy

    return _external_stream(cupy.cuda.get_current_stream().ptr)


def device_array(x):
    """A Numba view of a CuPy array, without the host synchronisation Numba does by default.

    In the simulator, a view of the NumPy array itself: no copy in, no copy
    back, so kernels write straight into state as they do on a GPU.
    """
    if SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(x)
    return cuda.as_cuda_array(x, sync=False)


@functools.lru_cache(maxsize=None)
def max_blocks():
    """Blocks per launch: enough resident warps to saturate memory (4 in the simulator, to exercise several)."""
    if SIMULATOR:
        return 4
    return cuda.get_current_device().MULTIPROCESSOR_COUNT * 8


_scratch = {}


def reduction_scratch():
    """Per-(device, stream) partial sums ``float64[2, max_blocks]`` and a ticket counter ``int32[1]``.

    Kernels on one stream run in order, so a stream's scratch is never used by
    two launches at once; the last block of each launch resets the ticket.
    """
    if SIMULATOR:
        import numpy as xp

        key = None
    else:
        import cupy as xp

        key = (xp.cuda.runtime.getDevice(), xp.cuda.get_current_stream().ptr)
    if key not in _scratch:
        _scratch[key] = (xp.zeros((2, max_blocks())), xp.zeros(1, dtype=xp.int32))
    return _scratch[key]
