"""What every CUDA launcher shares: one lean launch on the caller's stream, per-stream scratch, the decorators.

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


#: compiled kernels by (dispatcher, argument types): a launch looks its kernel up here instead of typing its
#: arguments again (numba-cuda's dispatcher builds a Numba type per array argument on every call).
_plans = {}


def _argument_key(args):
    """What fixes the compiled types of ``args``: dtype, rank and C-contiguity of arrays, the type of scalars."""
    return tuple((a.dtype.num, a.ndim, a.flags.c_contiguous) if hasattr(a, "__cuda_array_interface__") else type(a)
                 for a in args)


@functools.lru_cache(maxsize=None)
def _core_stream(ptr):
    """numba-cuda's launch stream for the CUDA stream ``ptr`` (CuPy's current one), made once per stream."""
    from numba.cuda.cudadrv import driver

    return driver._to_core_stream(cuda.external_stream(ptr))


def _dims(d):
    return (d, 1, 1) if isinstance(d, int) else tuple(d) + (1,) * (3 - len(d))


def launch(kernel, grid, block, shared_bytes, *args):
    """Launch ``kernel`` over ``grid`` x ``block`` on CuPy's current stream (the caller's).

    Arrays are CuPy arrays (NumPy in the simulator), handed to the kernel as they
    are: numba-cuda reads them through DLPack with this launch's stream, so the
    host never waits. The compiled kernel for the arguments' types is found
    once and kept (a launch plan); later launches with the same types skip
    numba-cuda's per-call typing and launch-configuration objects.
    """
    if SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        kernel[grid, block, 0, shared_bytes](*(FakeCUDAArray(a) if isinstance(a, np.ndarray) else a for a in args))
        return
    import cupy

    key = (kernel, _argument_key(args))
    compiled = _plans.get(key)
    if compiled is None:
        compiled = _plans[key] = kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
    compiled.launch(args, _dims(grid), _dims(block), _core_stream(cupy.cuda.get_current_stream().ptr), shared_bytes)


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
