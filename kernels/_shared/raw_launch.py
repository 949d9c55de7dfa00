"""The GPU launch of every kernel: a plan per kernel and argument types, then one driver call per launch.

numba-cuda's own launch types every argument again and wraps each CuPy array
in a Numba device array through DLPack (about 40 µs per array on an H100), so
an AUC update spent over 300 µs of host time launching one kernel. Here a launch
packs one parameter buffer and calls ``cuLaunchKernel`` (through CuPy) once.

A :class:`Plan` is made once per (device, kernel, argument types): numba-cuda
compiles the kernel for the arguments' Numba types (or loads it from the disk
cache), loads it onto the device, and the plan keeps the loaded kernel's driver
handle and the layout of its parameters. That layout is Numba's calling
convention for kernels:

* an array of rank ``d`` is ``5 + 2 d`` parameters of 8 bytes: meminfo and
  parent (null on the device), item count, item size, data pointer, then the
  shape and the strides in bytes;
* an integer, float or boolean scalar is one parameter of its own size.

Every parameter gets an 8-byte slot of the plan's buffer, and the driver reads
an array of pointers to the slots. ``cuLaunchKernel`` copies the values before
it returns, so the next launch reuses the buffer; a lock keeps two threads from
packing it at once. Where the driver reports a kernel's parameter sizes
(``cuKernelGetParamInfo``, CUDA 12.4+), the plan checks its layout against them
and refuses to launch on a mismatch: a wrong layout would pass garbage pointers.
Inside :func:`recording` a thread's launches are also noted (plan, dimensions,
packed values, arguments): what ``gpumetrics._replay`` learns a repeated
update from, to re-send as a :class:`Bound` (its own packed buffer, only the
input pointers rewritten per launch).
Imports no CuPy or Numba until the first plan is made (CPU-only machines import
the CUDA twins to compile PTX).
"""
import contextlib
import ctypes
import struct
import threading

import numpy as np

#: struct format (little-endian, padded to an 8-byte slot) of each scalar Numba type a kernel may take
_SCALAR_FORMATS = {"int64": "q", "uint64": "Q", "int32": "i4x", "uint32": "I4x", "float64": "d", "float32": "f4x",
                   "bool": "?7x"}
SCALAR_TYPES = (int, float, bool, np.integer, np.floating, np.bool_)

_plans = {}
_cupy = None
_recorder = threading.local()


def _import_cupy():
    global _cupy
    if _cupy is None:
        import cupy

        _cupy = cupy
    return _cupy


def _dims(d):
    return (d, 1, 1) if isinstance(d, int) else tuple(d) + (1,) * (3 - len(d))


class LayoutMismatch(RuntimeError):
    """The driver reports other parameter sizes than Numba's calling convention gives for a compiled kernel."""


class Plan:
    """A compiled, loaded kernel for one list of argument types, with its parameter buffer."""

    __slots__ = ("name", "handle", "packer", "parameters", "lock", "checked")

    def __init__(self, kernel, args):
        compiled = kernel.compile(tuple(kernel.typeof_pyval(a) for a in args))
        compiled.bind()  # load onto the current device and run the module's set-up, as numba-cuda's launch does
        function = compiled._codelibrary.get_cufunc()
        self.lay_out(function.name, int(function.handle), compiled.argument_types)

    def lay_out(self, name, handle, argument_types):
        """Keep the loaded kernel's ``name`` and driver ``handle``, and the parameter buffer of its argument types."""
        self.name, self.handle = name, handle
        fmt, sizes = parameter_layout(argument_types, name)
        self.checked = _check_layout(handle, sizes, name)
        self.packer = struct.Struct(fmt)
        self.parameters = Bound(self)
        self.lock = threading.Lock()

    def launch(self, dims, shared_bytes, stream, values):
        """One ``cuLaunchKernel`` with ``values`` packed; ``dims``: grid x, y, z, then block x, y, z."""
        with self.lock:
            self.packer.pack_into(self.parameters.buffer, 0, *values)
            self.parameters.launch(dims, shared_bytes, stream)


class Bound:
    """Parameters of a plan's kernel in a buffer of their own, one 8-byte slot each (``words[i]``: parameter
    ``i``), and the array of pointers to the slots that ``cuLaunchKernel`` reads. A plan keeps one it packs on
    every launch; a replay (``gpumetrics._replay``) packs its own once, with ``values``, and rewrites only the
    input pointer slots."""

    __slots__ = ("handle", "buffer", "words", "pointers", "pointers_address")

    def __init__(self, plan, values=None):
        self.handle = plan.handle
        self.buffer = ctypes.create_string_buffer(plan.packer.size)
        if values is not None:
            plan.packer.pack_into(self.buffer, 0, *values)
        slots = plan.packer.size // 8
        self.words = (ctypes.c_uint64 * slots).from_buffer(self.buffer)
        base = ctypes.addressof(self.buffer)
        self.pointers = (ctypes.c_void_p * slots)(*(base + 8 * i for i in range(slots)))
        self.pointers_address = ctypes.addressof(self.pointers)

    def launch(self, dims, shared_bytes, stream):
        """One ``cuLaunchKernel`` with the buffer as it stands (the driver copies it before returning); ``dims``:
        grid x, y, z, then block x, y, z."""
        gx, gy, gz, bx, by, bz = dims
        _cupy.cuda.driver.launchKernel(self.handle, gx, gy, gz, bx, by, bz, shared_bytes, stream,
                                       self.pointers_address, 0)


def parameter_layout(argument_types, name="kernel"):
    """``(struct format, parameter sizes)`` of a kernel taking ``argument_types`` (Numba types), one 8-byte slot each.

    >>> import numba, numpy as np
    >>> fmt, sizes = parameter_layout([numba.typeof(np.zeros((2, 3))), numba.typeof(1), numba.typeof(True)])
    >>> sizes, struct.calcsize(fmt) == 8 * len(sizes)
    ([8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 1], True)
    """
    fmt, sizes = "<", []
    for ty in argument_types:
        ndim = getattr(ty, "ndim", None)
        if ndim is not None and hasattr(ty, "layout"):
            fmt += "QQqqQ" + "q" * (2 * ndim)
            sizes += [8] * (5 + 2 * ndim)
        elif str(ty) in _SCALAR_FORMATS:
            fmt += _SCALAR_FORMATS[str(ty)]
            sizes.append(struct.calcsize("<" + _SCALAR_FORMATS[str(ty)][0]))
        else:
            raise TypeError(f"{name}: no raw launch for a kernel parameter of Numba type {ty}")
    return fmt, sizes


def _check_layout(handle, sizes, name):
    """Compare ``sizes`` with the driver's parameter sizes of ``handle``; ``False`` where the driver cannot say."""
    try:
        from cuda.bindings import driver
    except ImportError:
        return False
    get_info = getattr(driver, "cuKernelGetParamInfo", None)
    if get_info is None:
        return False
    kernel = driver.CUkernel(handle)
    reported = []
    while True:
        err, _offset, size = get_info(kernel, len(reported))
        if err != driver.CUresult.CUDA_SUCCESS:
            break
        reported.append(size)
    if not reported and sizes:
        return False  # the call itself is unsupported here (an older driver): nothing was reported
    if reported != sizes:
        raise LayoutMismatch(f"{name}: the driver reports parameter sizes {reported}, Numba's convention gives "
                             f"{sizes}; refusing to launch")
    return True


def launch(kernel, grid, block, shared_bytes, args):
    """Launch ``kernel`` on CuPy's current device and stream with ``args`` (CuPy arrays, or anything CuPy reads
    without a copy through ``__cuda_array_interface__``, and scalars)."""
    cupy = _cupy or _import_cupy()
    ndarray = cupy.ndarray
    key = [kernel, cupy.cuda.runtime.getDevice()]
    values = []
    arrays = list(args)
    for i, a in enumerate(arrays):
        if type(a) is not ndarray:  # most arguments are CuPy arrays: test for them first
            if isinstance(a, SCALAR_TYPES):
                key.append(type(a))
                values.append(a)
                continue
            a = arrays[i] = cupy.asarray(a)
        flags = a.flags
        key.append((a.dtype.num, a.ndim, flags.c_contiguous, flags.f_contiguous))
        values += (0, 0, a.size, a.itemsize, a.data.ptr, *a.shape, *a.strides)
    key = tuple(key)
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = Plan(kernel, arrays)
    dims = _dims(grid) + _dims(block)
    plan.launch(dims, shared_bytes, cupy.cuda.get_current_stream().ptr, values)
    recorded = getattr(_recorder, "launches", None)
    if recorded is not None:
        recorded.append((plan, dims, shared_bytes, values, arrays))


def recording_active():
    """Whether this thread is inside :func:`recording`."""
    return getattr(_recorder, "launches", None) is not None


@contextlib.contextmanager
def recording():
    """A block whose launches (on this thread) are noted, as ``(plan, dims, shared_bytes, values, arrays)``, in
    the list it yields: what ``gpumetrics._replay`` learns an update's launches from."""
    _recorder.launches = launches = []
    try:
        yield launches
    finally:
        _recorder.launches = None
