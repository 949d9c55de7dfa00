"""What every CUDA launcher shares: one lean launch on the caller's stream, per-stream scratch, the decorators.

Under ``NUMBA_ENABLE_CUDASIM=1`` arrays are NumPy and the simulator runs the
kernels; otherwise arrays are CuPy and kernels are launched on CuPy's current
stream (the caller's), so they are ordered after the producer's work without
the host waiting for anything.
"""
import functools
import os

import numpy as np

if not hasattr(np, "row_stack"):
    # numba-cuda 0.30 registers a CUDA overload of np.row_stack when its target loads; NumPy 2.5 removed that alias
    # of np.vstack, so without it no kernel compiles (seen on an H100 machine with numpy 2.5.2).
    np.row_stack = np.vstack

from numba import config, cuda  # noqa: E402

from . import raw_launch, simulator
from .compile import install_locator, install_tolerance
from .groups import no_group_ids_kept

SIMULATOR = bool(config.ENABLE_CUDASIM)
if SIMULATOR:
    simulator.install()
#: threads per block of every reduction kernel (a power of two: tree reductions halve it);
#: smaller in the simulator, which runs one Python thread per CUDA thread.
BLOCK = 32 if SIMULATOR else 256
#: how kernels are launched on a GPU: "raw" (raw_launch's plans), or "numba" (numba-cuda's own launch: the
#: reference the raw launch is tested against, and the way around it should a driver ever refuse it)
CUDA_LAUNCH = os.environ.get("GPUMETRICS_CUDA_LAUNCH", "raw")
if CUDA_LAUNCH not in ("raw", "numba"):
    raise ValueError(f"GPUMETRICS_CUDA_LAUNCH must be 'raw' or 'numba', not {CUDA_LAUNCH!r}")


def _install_cuda_locator():
    """Send numba-cuda's cache of this package's kernels to the package's cache directory too, where a damaged
    entry is a miss as on the CPU."""
    if not SIMULATOR:  # the simulator compiles nothing, so caches nothing
        from numba.cuda.dispatcher import CUDACache, CUDACacheImpl

        install_locator(CUDACacheImpl)
        install_tolerance(CUDACache)


_install_cuda_locator()


def cuda_kernel(fn=None, *, max_registers=None):
    """Decorator: ``fn`` (a module-level kernel) as a ``cuda.jit`` kernel kept in the on-disk cache;
    ``@cuda_kernel(max_registers=n)`` caps its registers per thread (more resident blocks, some spilled to local
    memory: only where a GPU measured it faster). The simulator takes no cap."""
    if fn is None:
        return functools.partial(cuda_kernel, max_registers=max_registers)
    if SIMULATOR:
        return cuda.jit(cache=False)(fn)
    return cuda.jit(cache=True, max_registers=max_registers)(fn)


def device_function(fn):
    """A rule or helper compiled as an inlined device function (see ``kinds.retarget``)."""
    return cuda.jit(device=True, inline=True)(fn)


def launch(kernel, grid, block, shared_bytes, *args):
    """Launch ``kernel`` over ``grid`` x ``block`` on CuPy's current stream (the caller's).

    Arrays are CuPy arrays (NumPy in the simulator), scalars Python or NumPy
    ints, floats and bools. On a GPU the launch goes through a
    :class:`raw_launch.Plan` kept per kernel and argument types (see there): no
    Numba device array, interface dict or typing step per launch, and the host
    never waits.
    """
    if SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        kernel[grid, block, 0, shared_bytes](*(FakeCUDAArray(a) if isinstance(a, np.ndarray) else a for a in args))
        return
    if CUDA_LAUNCH == "numba":
        import cupy

        ptr = cupy.cuda.get_current_stream().ptr
        kernel[grid, block, cuda.external_stream(ptr) if ptr else cuda.default_stream(), shared_bytes](*args)
        return
    raw_launch.launch(kernel, grid, block, shared_bytes, args)


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


def kept_arrays():
    """Every device array kept for the process's life by the launchers (each stream's scratch, the ids of
    ungrouped calls): what a launch replayed by ``gpumetrics._replay`` may point into besides a metric's arrays."""
    return [array for pair in _scratch.values() for array in pair] + no_group_ids_kept()
