"""Two thread-safety fixes for Numba's CUDA simulator (installed by ``launch.py`` when it runs).

The simulator runs each CUDA thread of a block as a Python thread. When one of
them calls a device function, it swaps the ``numba.cuda`` module in that
function's module globals for the launch's fake module (which has ``atomic``,
``shared``, ``syncthreads``), and swaps it back when the call returns. Two
threads inside device functions of one module interleave: the first to return
puts the real module back while the second still runs, which then fails with
``module 'numba.cuda' has no attribute 'atomic'`` or reads the wrong arrays.
Seen in our suite under load (a threshold-histogram kernel, whose device
functions live in ``histogram.py``, failed on the simulator). Here the swap is
counted per globals dict: the first thread in swaps, the last one out swaps back.

Static ``cuda.shared.array(shape, dtype)`` is one array per call site per
block, made by the first thread that asks; two threads asking at once each
made their own, so a thread could read a "shared" array nobody had filled
(the staged thresholds of the threshold histogram: a wrong AUC, no error).
Here the array is made under a lock.
"""
import contextlib
import sys
import threading

import numpy as np

_lock = threading.Lock()
_active = {}  # id(module globals) -> [threads inside, the globals that held numba.cuda]


@contextlib.contextmanager
def swapped_cuda_module(fn, fake_cuda_module):
    """``numba.cuda`` in ``fn``'s globals replaced by ``fake_cuda_module`` while any thread is inside."""
    from numba import cuda

    globs = fn.__globals__
    with _lock:
        entry = _active.get(id(globs))
        if entry is None:
            original = {name: value for name, value in globs.items() if value is cuda}
            globs.update(dict.fromkeys(original, fake_cuda_module))
            entry = _active[id(globs)] = [0, original]
        entry[0] += 1
    try:
        yield
    finally:
        with _lock:
            entry[0] -= 1
            if entry[0] == 0:
                globs.update(entry[1])
                del _active[id(globs)]


def shared_array(shared, shape, dtype):
    """``FakeCUDAShared.array``: dynamic (``shape == 0``) as numba's; static made once per call site, locked."""
    if shape == 0:
        return _numba_shared_array(shared, shape, dtype)
    from numba.core import types
    from numba.np import numpy_support

    if isinstance(dtype, types.Type):
        dtype = numpy_support.as_dtype(dtype)
    caller = sys._getframe(1)
    site = (caller.f_code.co_filename, caller.f_lineno)
    with _lock:
        array = shared._allocations.get(site)
        if array is None:
            array = shared._allocations[site] = np.empty(shape, dtype)
    return array


_numba_shared_array = None


def install():
    """Make the simulator use :func:`swapped_cuda_module` and :func:`shared_array`."""
    global _numba_shared_array
    from numba.cuda.simulator import kernel, kernelapi

    kernel.swapped_cuda_module = swapped_cuda_module
    if _numba_shared_array is None:
        _numba_shared_array = kernelapi.FakeCUDAShared.array
        kernelapi.FakeCUDAShared.array = shared_array
