"""A stand-in GPU for a machine without one: the real ``cuda`` backend's host path, kernels not run.

``install()`` puts a small CuPy look-alike into ``sys.modules`` (arrays in
host memory that expose what CuPy arrays expose: ``data.ptr``, ``shape``,
``strides``, ``flags``...) and a torch whose CUDA tensors are host arrays too
(``Tensor``: DLPack, ``data_ptr()``, strides, a current stream), tells Numba a device exists, and replaces the two
things only a driver can do: loading a kernel (``raw_launch.Plan`` is built
from Numba's parameter layout without compiling) and ``cuLaunchKernel`` (which
records each launch's packed parameter buffer instead of running it).

What runs is everything of ours between ``update_state`` and the driver, as on
a GPU: imports, Keras's shape rules, launch shapes, the raw launch's packing.
That is what ``bench/host_path.py`` times and what ``tests/test_replay.py``
compares byte for byte. Kernels never run, so states are never written: a
result read here means nothing.

Must be installed in a process where Numba's CUDA simulator is off and nothing
has imported ``gpumetrics._kernels`` yet (a subprocess of the suite).
"""
import ctypes
import sys
import threading
import types
import weakref

import numpy as np

#: what every recorded launch became: (kernel name, grid, block, shared bytes, stream, parameter bytes)
launches = []
#: pretend multiprocessor count (an H100's), so launch shapes are a GPU's
SM_COUNT = 132


class _Pointer:
    __slots__ = ("ptr", "device_id")

    def __init__(self, ptr):
        self.ptr = ptr
        self.device_id = 0


class _Device:
    id = 0


class ndarray:  # noqa: N801  (CuPy's name)
    """A host array behind CuPy's attributes; refuses to become a NumPy array implicitly, as CuPy does."""

    __slots__ = ("_a", "data", "__weakref__")

    def __init__(self, a):
        self._a = a
        self.data = _Pointer(a.__array_interface__["data"][0])
        _note_allocation(a)

    dtype = property(lambda self: self._a.dtype)
    shape = property(lambda self: self._a.shape)
    strides = property(lambda self: self._a.strides)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: self._a.flags)
    device = property(lambda self: _Device())
    T = property(lambda self: ndarray(self._a.T))

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (stand-in CuPy array)")

    def __len__(self):
        return len(self._a)

    def __getitem__(self, index):
        return _wrap(self._a[_unwrap(index)])

    def __setitem__(self, index, value):
        self._a[_unwrap(index)] = _unwrap(value)

    def reshape(self, *shape):
        return ndarray(self._a.reshape(*shape))

    def ravel(self):
        return ndarray(self._a.ravel())

    def astype(self, dtype, copy=True):
        return ndarray(self._a.astype(dtype, copy=copy))

    def copy(self):
        return ndarray(self._a.copy())

    def view(self, dtype):
        return ndarray(self._a.view(dtype))

    def get(self):
        return self._a.copy()

    def __deepcopy__(self, memo):
        return ndarray(self._a.copy())

    def __iadd__(self, other):
        self._a += _unwrap(other)
        return self

    def __getattr__(self, name):  # every other array method (max, sum, any...): NumPy's, its arrays wrapped
        if name.startswith("_"):
            raise AttributeError(name)
        return _function(getattr(self._a, name))

    def __repr__(self):
        return f"stand-in cupy array({self._a!r})"


for _name in ("add", "sub", "mul", "truediv", "pow", "and", "or", "lt", "le", "gt", "ge", "eq", "ne", "radd", "rsub",
              "rmul", "rtruediv"):
    setattr(ndarray, f"__{_name}__", (lambda op: lambda self, other: _wrap(op(self._a, _unwrap(other))))(
        getattr(np.ndarray, f"__{_name}__")))
for _name in ("abs", "neg", "invert"):
    setattr(ndarray, f"__{_name}__", (lambda op: lambda self: _wrap(op(self._a)))(getattr(np.ndarray, f"__{_name}__")))


_buffers = {}  # id → weak reference of the NumPy arrays owning the memory of every stand-in array made so far
_hooks = threading.local()


def _note_allocation(a):
    """Tell the active memory hooks when ``a``'s memory is new (what CuPy's pool does on a ``malloc``)."""
    while getattr(a, "base", None) is not None:  # views, and as_strided's views through a DummyArray
        a = a.base
    known = _buffers.get(id(a))
    if known is None or known() is not a:
        _buffers[id(a)] = weakref.ref(a, lambda _, key=id(a): _buffers.pop(key, None))
        for hook in list(getattr(_hooks, "active", {}).values()):
            hook.malloc_preprocess(device_id=0, size=a.nbytes, mem_size=a.nbytes)


class MemoryHook:
    """CuPy's ``cupy.cuda.memory_hook.MemoryHook``: entered, it is told of every allocation on this thread."""

    name = "MemoryHook"

    def __enter__(self):
        active = _hooks.__dict__.setdefault("active", {})
        if self.name in active:
            raise KeyError(f"memory hook {self.name} already exists")
        active[self.name] = self
        return self

    def __exit__(self, *exc):
        del _hooks.active[self.name]

    def malloc_preprocess(self, **kwargs):
        pass


def _wrap(x):
    return ndarray(x) if isinstance(x, np.ndarray) else x


def _unwrap(x):
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, tuple):
        return tuple(_unwrap(i) for i in x)
    return x


def _function(numpy_function):
    return lambda *args, **kwargs: _wrap(numpy_function(*(_unwrap(a) for a in args),
                                                         **{k: _unwrap(v) for k, v in kwargs.items()}))


def asarray(x, dtype=None):
    if isinstance(x, ndarray):
        return x if dtype is None or x.dtype == dtype else x.astype(dtype)
    return ndarray(np.array(x, dtype=dtype))  # a host → device copy: a new allocation


def _as_strided(a, shape, strides):
    return ndarray(np.lib.stride_tricks.as_strided(a._a, shape, strides))


class _Stream:
    ptr = 0x5EA


def _launch_kernel(handle, gx, gy, gz, bx, by, bz, shared, stream, pointers_address, extra):
    """``cuLaunchKernel`` as a recorder: the parameter bytes the kernel would have read, found as the driver finds
    them, through the array of pointers to the 8-byte slots (which raw_launch lays out one after another)."""
    plan = _plans_by_handle[handle]
    first = ctypes.cast(pointers_address, ctypes.POINTER(ctypes.c_void_p))[0]
    parameters = ctypes.string_at(first, plan.packer.size)
    launches.append((plan.name, (gx, gy, gz), (bx, by, bz), shared, stream, parameters))


_plans_by_handle = {}


def _module():
    cupy = types.ModuleType("cupy")
    cupy.ndarray = ndarray
    cupy.asarray = asarray
    cupy.array = lambda x, dtype=None, copy=True: ndarray(np.array(_unwrap(x), dtype=dtype, copy=True))
    # every other name: NumPy's (dtypes as they are, functions with their arrays wrapped)
    cupy.__getattr__ = lambda name: (_function(getattr(np, name)) if callable(getattr(np, name))
                                     and not isinstance(getattr(np, name), type) else getattr(np, name))
    cupy.from_dlpack = lambda x: ndarray(x.__dlpack__(stream=stream.ptr or 1)._a)
    cupy.asnumpy = lambda x: x._a.copy() if isinstance(x, ndarray) else np.asarray(x)
    cupy.lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))
    stream = _Stream()
    runtime = types.SimpleNamespace(getDevice=lambda: 0, getDeviceCount=lambda: 1)
    driver = types.SimpleNamespace(launchKernel=_launch_kernel)
    cupy.cuda = types.SimpleNamespace(runtime=runtime, driver=driver, get_current_stream=lambda: stream,
                                      memory_hook=types.SimpleNamespace(MemoryHook=MemoryHook))
    return cupy


class Tensor:
    """A torch CUDA tensor on the stand-in GPU: host memory behind what gpumetrics reads of a tensor, DLPack included
    (``__dlpack__`` notes the consumer's stream in ``dlpack_streams``)."""

    __slots__ = ("_a", "_neg")
    is_cuda, requires_grad = True, False

    def __init__(self, a, neg=False):
        self._a, self._neg = a, neg  # neg: torch's lazy negation bit, the values are -a
        _note_allocation(a)  # torch allocated it (before any update): not an allocation of the update that reads it

    dtype = property(lambda self: _TORCH_DTYPES[self._a.dtype])
    shape = property(lambda self: self._a.shape)
    layout = property(lambda self: sys.modules["torch"].strided)

    def stride(self):
        return tuple(s // self._a.itemsize for s in self._a.strides)

    def data_ptr(self):
        return self._a.__array_interface__["data"][0]

    def element_size(self):
        return self._a.itemsize

    def get_device(self):
        return 0

    def is_neg(self):
        return self._neg

    def resolve_neg(self):
        """The values in memory of their own, allocated by torch (which CuPy's memory hooks do not see)."""
        resolved = object.__new__(Tensor)
        resolved._a, resolved._neg = -self._a if self._neg else self._a, False
        return resolved

    def _is_zerotensor(self):
        return False

    def __dlpack_device__(self):
        return 2, 0  # kDLCUDA, device 0

    def __dlpack__(self, stream=None, max_version=None, copy=None):
        dlpack_streams.append(stream)
        return self


#: the stream every DLPack export of a stand-in tensor was asked to order itself before
dlpack_streams = []


class _TorchDtype:
    """A torch dtype: one object per dtype, hashed by identity as torch's are."""

    def __init__(self, name):
        self.name = name


_TORCH_DTYPES = {np.dtype(name): _TorchDtype(f"torch.{name}")
                 for name in ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")}


def _torch_module():
    torch = types.ModuleType("torch")
    torch.Tensor = Tensor
    torch.strided = types.SimpleNamespace(name="torch.strided")
    torch.bfloat16 = types.SimpleNamespace(name="torch.bfloat16")
    current = types.SimpleNamespace(cuda_stream=_Stream.ptr)  # torch's current stream: CuPy's, unless a test moves it
    torch.cuda = types.SimpleNamespace(current_stream=lambda device=None: current, current=current)
    return torch


def install():
    """Make this process's ``cuda`` backend run its host path on the stand-in (see the module docstring)."""
    from numba import config

    if config.ENABLE_CUDASIM or "gpumetrics._kernels._shared.launch" in sys.modules:
        raise RuntimeError("install the stand-in GPU before gpumetrics's kernels load, with the simulator off")
    sys.modules["cupy"] = _module()
    sys.modules["torch"] = _torch_module()
    from numba import cuda

    cuda.is_available = lambda: True
    cuda.get_current_device = lambda: types.SimpleNamespace(MULTIPROCESSOR_COUNT=SM_COUNT)
    from gpumetrics._kernels._shared import raw_launch

    raw_launch.Plan = type("StandInPlan", (raw_launch.Plan,), {"__init__": _plan_init, "__slots__": ()})
    raw_launch._check_layout = lambda handle, sizes, name: False  # no driver to ask


def _plan_init(self, kernel, args):
    """``raw_launch.Plan.__init__`` without a device: Numba's layout for ``args``' types, no compile or load."""
    import numba

    types_ = [numba.typeof(a._a) if isinstance(a, ndarray) else kernel.typeof_pyval(a) for a in args]
    handle = len(_plans_by_handle) + 1
    _plans_by_handle[handle] = self
    self.lay_out(kernel.py_func.__name__, handle, types_)
