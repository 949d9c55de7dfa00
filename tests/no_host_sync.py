"""The one harness for the house rule "``update_state`` never reads device data on the host", on every backend.

``with no_host_sync(metric): ...`` fails (``HostSync``) on any device-to-host
read of the metric's data inside the block:

* every backend: the backend's ``to_host`` (its one declared device-to-host
  copy, behind ``Variable.numpy()``, ``float(variable)``, ``state_dict()``) raises;
* NumPy-backed state (the ``numpy`` backend, and ``cuda-sim``, whose state is
  NumPy): the metric's state arrays are swapped for ``DeviceOnly`` views,
  arrays that can be computed on but not read into Python (``bool``,
  ``float``, ``int``, ``item``, ``tolist``, iteration) outside a backend
  kernel call; what is computed from them (``state.any()``, ``state[0]``)
  stays ``DeviceOnly``, so no scalar escapes;
* ``cuda-sim``: Numba's ``cuda.synchronize`` and the simulator's
  ``copy_to_host`` raise;
* a real GPU: ``cupy.asnumpy`` and the synchronize calls raise where Python
  can patch them. CuPy's own ``ndarray`` methods (``get``, ``item``,
  ``__bool__``...) are C and cannot be patched, so the block also runs
  behind a kernel that holds the stream until the block ends: any host
  read inside the block waits for it, and the harness fails if it has
  finished by then.

Warm the metric up before the block (an update of each kind, a merge if the block merges: compiling and loading
kernels may do anything they like), and put GPU inputs on the device before it (a copy from host memory waits for
the stream).
"""
import contextlib

import numpy as np

from conftest import REAL_GPU

from gpumetrics.backends.base import PRIMITIVES

#: backend members that run no kernel: the harness refuses ``to_host`` and leaves the rest alone
HOST_SIDE = ("asarray", "needs_copy", "owns", "zeros")
#: how long the GPU hold kernel spins at most (about 2 s at 2 GHz): what a failing block costs
HOLD_CYCLES = 4_000_000_000
_armed = [0]  # > 0 while a block is open and no kernel runs


class HostSync(AssertionError):
    """A device-to-host read during a ``no_host_sync`` block."""


def _refuse(what):
    def refuse(*args, **kwargs):
        raise HostSync(f"host synchronisation during update_state: {what}")

    return refuse


class DeviceOnly(np.ndarray):
    """A state array whose values cannot be read into Python while a block is armed (see the module docstring)."""

    def __array_wrap__(self, array, context=None, return_scalar=False):
        return super().__array_wrap__(array, context, return_scalar and not _armed[0])

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return np.asarray(item).view(DeviceOnly) if _armed[0] and not isinstance(item, np.ndarray) else item


def _refused_read(name):
    """``np.ndarray.<name>``, refused while a block is armed: it would bring a state value to the host."""
    method = getattr(np.ndarray, name)

    def read(self, *args, **kwargs):
        if _armed[0]:
            raise HostSync(f"host synchronisation during update_state: state.{name}")
        return method(self, *args, **kwargs)

    return read


for _name in ("__bool__", "__float__", "__int__", "__index__", "__complex__", "item", "tolist", "__iter__", "tobytes"):
    setattr(DeviceOnly, _name, _refused_read(_name))


def _kernel_call(method):
    """``method`` with the ``DeviceOnly`` guard lifted while it runs: a kernel reads state where it lives."""
    def call(*args, **kwargs):
        _armed[0] -= 1
        try:
            return method(*args, **kwargs)
        finally:
            _armed[0] += 1

    return call


def _patch(stack, owner, name, replacement, optional=False):
    """``owner.name = replacement`` until ``stack`` closes; ``optional``: skip what Python cannot patch (C types)."""
    had_own = name in vars(owner)
    original = vars(owner).get(name)
    try:
        setattr(owner, name, replacement)
    except (TypeError, AttributeError):
        if optional:
            return
        raise
    stack.callback(lambda: setattr(owner, name, original) if had_own else delattr(owner, name))


def _hold_state_on_device(stack, metric):
    """Swap the metric's NumPy state arrays for ``DeviceOnly`` views (plain views again when the block closes)."""
    for variable in metric.variables:
        array = variable.value
        if isinstance(array, np.ndarray):
            variable._array = array.view(DeviceOnly)
    stack.callback(lambda: [setattr(v, "_array", v._array.view(np.ndarray)) for v in metric.variables
                            if isinstance(v._array, DeviceOnly)])


def _trap_backend(stack, backend):
    _patch(stack, backend, "to_host", _refuse(f"{backend.name} backend's to_host"))
    for name in PRIMITIVES:
        if name not in HOST_SIDE and name != "to_host":
            _patch(stack, backend, name, _kernel_call(getattr(backend, name)))


def _trap_simulator(stack):
    from numba import cuda
    from numba.cuda.simulator.cudadrv import devicearray

    _patch(stack, cuda, "synchronize", _refuse("numba.cuda.synchronize"))
    _patch(stack, devicearray.FakeCUDAArray, "copy_to_host", _refuse("copy_to_host"))


def _trap_gpu(stack):
    """The GPU traps; the stream hold is entered first so that it closes last, after the patches are undone."""
    import cupy
    from numba import cuda

    stack.enter_context(_stream_held())
    _patch(stack, cupy, "asnumpy", _refuse("cupy.asnumpy"))
    _patch(stack, cuda, "synchronize", _refuse("numba.cuda.synchronize"))
    _patch(stack, cupy.cuda.Stream, "synchronize", _refuse("Stream.synchronize"), optional=True)
    _patch(stack, cupy.cuda.Device, "synchronize", _refuse("Device.synchronize"), optional=True)
    stack.enter_context(_stream_held())


@contextlib.contextmanager
def _stream_held():
    """Hold the current stream with a spinning kernel for the whole block; fail if it finished before the end."""
    import cupy

    hold = cupy.RawKernel(r'''
    extern "C" __global__ void hold(volatile int *release, long long cycles) {
        long long start = clock64();
        while (!*release && clock64() - start < cycles) { }
    }''', "hold")
    release = cupy.zeros(1, dtype=np.int32)
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    hold((1,), (1,), (release, np.int64(HOLD_CYCLES)))
    held = cupy.cuda.Event()
    held.record(stream)
    try:
        yield
        waited = held.done
    finally:
        with cupy.cuda.Stream(non_blocking=True) as side:
            release.fill(1)
            side.synchronize()
        stream.synchronize()
    if waited:
        raise HostSync("host synchronisation during update_state: the host waited for the device")


@contextlib.contextmanager
def no_host_sync(metric):
    """A block in which any device-to-host read of ``metric``'s data raises ``HostSync`` (see the module doc)."""
    from numba import config

    with contextlib.ExitStack() as stack:
        backend = metric.backend
        _trap_backend(stack, backend)
        if config.ENABLE_CUDASIM and backend.device == "cuda":
            _trap_simulator(stack)
        if REAL_GPU and backend.device == "cuda":
            _trap_gpu(stack)
        _hold_state_on_device(stack, metric)
        _armed[0] += 1
        stack.callback(_armed.__setitem__, 0, _armed[0] - 1)
        yield
