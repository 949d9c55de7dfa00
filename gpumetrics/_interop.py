"""Any array in (lists, NumPy, CuPy, PyTorch, JAX, Numba) → a NumPy or CuPy array, zero-copy where the memory allows.

Each input's type is classified once (later inputs of that type cost one dict
lookup), and the checks read only attributes the producer keeps on the host:
a PyTorch tensor's ``__cuda_array_interface__`` is never touched (it raises for
tensors that require grad; ``detach()`` is free and is used instead).

GPU inputs come in through DLPack first: ``cupy.from_dlpack`` hands the
producer CuPy's current stream and the producer (PyTorch, JAX, CuPy) orders its
own stream before it on the device, so the host never waits. Objects with only
``__cuda_array_interface__`` (Numba device arrays) are viewed from it, and the
interface's ``stream`` is ordered before CuPy's current stream by an event, on the
device too (``cupy.asarray`` would wait on the host). A GPU array on another
device than the current one is refused (``ValueError``).

bfloat16 (PyTorch, JAX, ``ml_dtypes``) is widened once to float32 where it
lives: on the host by NumPy/``ml_dtypes``, on a GPU by CuPy on its current
stream, from the bfloat16 bits handed over through DLPack as ``uint16`` (CuPy
and some DLPack consumers have no bfloat16).

Inputs that hold no values yet (JAX tracers inside ``jit``/``grad``/``vmap``,
PyTorch ``meta`` tensors and ``torch.compile`` fake tensors) are refused with a
``TypeError`` before any state changes. Nothing here imports CuPy, PyTorch or
JAX unless one of their arrays is handed over.

Inputs whose memory does not hold the values they mean are never read as if it
did: a NumPy masked array with masked entries is refused (``ValueError``; its
memory still holds the masked values); a PyTorch tensor with its lazy negation
bit set (``z.conj().imag``) or a zero tensor of autograd (no memory at all) is
materialised first (DLPack exports their memory as it is: un-negated, garbage);
sparse, nested, quantized and float8 tensors are refused with a ``TypeError``
naming the argument. Other NumPy subclasses (``np.matrix``,
``np.memmap``) are read as the plain array they hold, as Keras reads them. The
arrays and tensors inside a Python list or tuple are each read by these rules
(NumPy alone would read a masked element's hidden values).
"""
import ctypes
import sys
import threading
from itertools import chain

import numpy as np

from ._validation import check_numeric

_DL_CPU, _DL_CUDA, _DL_CUDA_MANAGED = 1, 2, 13
_DL_UINT, _DL_BFLOAT = 1, 4
_NUMERIC_KINDS = "biuf"
_PYTHON_NUMBERS = (list, tuple, bool, int, float)  # NumPy scalars (np.float64 subclasses float) keep their dtype
_SEQUENCES = frozenset((list, tuple))
_SCALARS = (bool, int, float, np.generic)  # elements of a list that NumPy reads as the numbers they are
_INT32 = np.iinfo(np.int32)
#: PyTorch dtypes (names without ``torch.``) whose strided tensors NumPy or CuPy read
_TORCH_READABLE = frozenset(("bool", "uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64",
                             "float16", "bfloat16", "float32", "float64"))

# What an input's type is, decided once per type by ``_classify``.
_NUMPY, _NUMPY_SUBCLASS, _TORCH, _JAX, _CUPY, _DLPACK, _CAI, _SIMULATOR, _TRACER, _FAKE, _OTHER = range(11)
_kinds = {np.ndarray: _NUMPY}
_bfloat16 = {}  # "torch" / "jax": that framework's bfloat16 dtype object, filled when its first array is seen
_UNREAL_TORCH_MODULES = ("torch._subclasses.fake_tensor", "torch._subclasses.functional_tensor")
_NO_VALUES_HINT = (
    "it holds no values yet, so a metric cannot read it. Update the metric outside the traced or compiled "
    "function, on the concrete arrays it returns; in Keras's compile(), pass gpumetrics.keras.wrap(metric)")


def _classify(cls):
    kind = _kinds.get(cls)
    if kind is not None:
        return kind
    module = cls.__module__ or ""
    torch = sys.modules.get("torch")
    jax = sys.modules.get("jax")
    cupy = sys.modules.get("cupy")
    if issubclass(cls, np.ndarray):
        kind = _NUMPY_SUBCLASS
    elif module.startswith("numba.cuda.simulator"):
        kind = _SIMULATOR
    elif torch is not None and issubclass(cls, torch.Tensor):
        kind = _FAKE if any(c.__module__ in _UNREAL_TORCH_MODULES for c in cls.__mro__) else _TORCH
        _bfloat16["torch"] = torch.bfloat16
    elif jax is not None and issubclass(cls, jax.core.Tracer):
        kind = _TRACER
    elif jax is not None and issubclass(cls, jax.Array):
        kind = _JAX
        _bfloat16["jax"] = np.dtype(jax.numpy.bfloat16)
    elif cupy is not None and issubclass(cls, cupy.ndarray):
        kind = _CUPY
    elif hasattr(cls, "__dlpack__") and hasattr(cls, "__dlpack_device__"):
        kind = _DLPACK
    elif hasattr(cls, "__cuda_array_interface__"):  # on the class: never runs a property
        kind = _CAI
    else:
        kind = _OTHER
    _kinds[cls] = kind
    return kind


def _refuse_without_values(x, name):
    kind = _classify(type(x))
    what = ("a JAX tracer (the metric is being updated inside jax.jit, jax.grad or jax.vmap)" if kind == _TRACER
            else "a torch.compile fake tensor" if kind == _FAKE
            else "a PyTorch tensor on the 'meta' device")
    raise TypeError(f"{name or 'an input'} is {what}: {type(x).__name__} of shape {tuple(x.shape)} and dtype "
                    f"{x.dtype}; {_NO_VALUES_HINT}")


def _refuse_jax(x, name, error):
    """Raise for a JAX array that tells no device or gives no NumPy view (``error``): a deleted one (its buffer
    donated to a jitted call), an array of PRNG keys, or one this package does not know."""
    name = name or "an input"
    if x.is_deleted():
        raise ValueError(f"{name} is a deleted JAX array (its buffer was donated to a jitted function or deleted); "
                         f"pass an array that still holds its values")
    jax = sys.modules["jax"]
    if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        raise TypeError(f"{name} is an array of JAX PRNG keys (dtype {x.dtype}), not numbers")
    raise TypeError(f"{name} is a JAX array that cannot be read ({type(error).__name__}: {error})")


def _on_host_devices(x):
    """Whether JAX array ``x`` (one that tells no DLPack device: a sharded one) lives on CPU devices only."""
    try:
        return not x.is_deleted() and all(device.platform == "cpu" for device in x.devices())
    except (TypeError, ValueError, RuntimeError, AttributeError):
        return False


def location(x, name=None):
    """``"cuda"`` for an array in GPU memory, ``"cpu"`` for anything else; reads no data.

    Raises ``TypeError`` naming ``name`` for inputs without values (JAX tracers, PyTorch meta and fake tensors) and
    JAX arrays that tell no device (PRNG keys; ``ValueError`` for a deleted, donated array).

    >>> location([1, 2]), location(np.zeros(3))
    ('cpu', 'cpu')
    """
    kind = _classify(type(x))
    if kind == _NUMPY or kind == _OTHER or kind == _SIMULATOR or kind == _NUMPY_SUBCLASS:
        return "cpu"
    if kind == _TORCH:
        if x.is_cuda:
            return "cuda"
        if x.is_meta:
            _refuse_without_values(x, name)
        return "cpu"
    if kind == _CUPY or kind == _CAI:
        return "cuda"
    if kind == _JAX or kind == _DLPACK:
        try:
            device_type = x.__dlpack_device__()[0]
        except (TypeError, ValueError, RuntimeError, BufferError, AttributeError) as error:
            if kind == _JAX:
                if _on_host_devices(x):  # sharded over CPU devices: no DLPack, but np.asarray gathers it
                    return "cpu"
                _refuse_jax(x, name, error)
            return "cuda" if hasattr(type(x), "__cuda_array_interface__") else "cpu"
        return "cuda" if device_type == _DL_CUDA or device_type == _DL_CUDA_MANAGED else "cpu"
    _refuse_without_values(x, name)


def _numeric(array, name):
    """``array`` itself when it holds bool, integer or real numbers; bfloat16 widened once to float32."""
    if array.dtype.kind in _NUMERIC_KINDS and not (array.dtype.kind == "f" and array.dtype.itemsize < 2):
        return array
    check_numeric(array, name)  # raises unless bfloat16 (ml_dtypes' float8_e5m2 says kind "f": refused there)
    return array.astype(np.float32)


def host_array(x, name):
    """A NumPy view of a host-side input (zero-copy for NumPy, PyTorch CPU and JAX CPU arrays).

    bfloat16 comes back widened to float32 (one copy).

    >>> host_array([[1, 2], [3, 4]], "y_true").shape
    (2, 2)
    """
    if x is None:
        raise TypeError(f"{name} is None; expected an array of numbers")
    kind = _classify(type(x))
    if kind == _NUMPY:
        array = x
    elif kind == _NUMPY_SUBCLASS:
        array = _plain_ndarray(x, name)
    elif kind == _TORCH:
        if x.requires_grad:
            x = x.detach()
        if x.dtype is _bfloat16["torch"]:
            x = x.float()
        try:
            array = np.asarray(x)  # a CPU tensor: a view of its memory, nothing read
        except (TypeError, RuntimeError, ValueError) as error:
            values = materialized(x)
            if values is x:
                _refuse_torch(x, name, error)
            array = np.asarray(values)
    elif kind == _JAX:
        try:
            array = np.asarray(x)  # zero-copy for a CPU array; keeps bfloat16 as ml_dtypes.bfloat16
        except (TypeError, RuntimeError, ValueError) as error:
            _refuse_jax(x, name, error)
    elif kind == _TRACER or kind == _FAKE:
        _refuse_without_values(x, name)
    elif kind == _DLPACK:
        try:
            array = np.from_dlpack(x)
        except (TypeError, RuntimeError, BufferError):
            array = np.asarray(x)
    else:
        if type(x) in _SEQUENCES and _holds_arrays(x):
            x = _elements_read(x, name)
        try:
            array = np.asarray(x)
        except ValueError as error:
            raise ValueError(f"{name} is not a rectangular array of numbers ({error})") from None
        if isinstance(x, _PYTHON_NUMBERS) and not isinstance(x, np.generic):
            array = _as_keras_reads(array)
    if array.dtype == object and hasattr(x, "to_numpy"):
        _refuse_object_columns(x, name)
    return _numeric(array, name)


def _holds_arrays(x):
    """Whether nested lists / tuples ``x`` hold anything but Python and NumPy scalars: one type scan per nesting
    level, at C speed (about 18 ns per number here, as much again as ``np.asarray`` of the list)."""
    level = x
    while level:
        kinds = set(map(type, level))
        if any(kind not in _SEQUENCES and not issubclass(kind, _SCALARS) for kind in kinds):
            return True
        if kinds.isdisjoint(_SEQUENCES):
            return False
        nested = level if kinds <= _SEQUENCES else [e for e in level if type(e) in _SEQUENCES]  # else ragged
        level = list(chain.from_iterable(nested))
    return False


def _elements_read(x, name):
    """Nested lists / tuples ``x`` with every array in them read by ``host_array``'s rules (a masked array with
    masked entries refused, a tensor that requires grad detached, bfloat16 widened): ``np.asarray`` of the list
    alone would read a masked array's hidden values and raise torch's own errors."""
    return [_elements_read(e, name) if type(e) in _SEQUENCES
            else e if isinstance(e, _SCALARS) or not hasattr(e, "shape") else host_array(e, name) for e in x]


def _refuse_object_columns(x, name):
    """``TypeError`` for a pandas or Arrow container that NumPy reads as Python objects (nullable or Arrow-backed
    pandas columns, Arrow arrays with nulls), with the conversion its own library offers."""
    if type(x).__module__.startswith("pyarrow"):
        way = f"{name}.fill_null(value) (an Arrow null has no numeric value), or cast it to a numeric type"
    else:
        way = f"{name}.to_numpy(dtype='float64', na_value=np.nan) or another numeric dtype"
    raise TypeError(f"{name} is a {type(x).__name__} that NumPy reads as Python objects (nullable or Arrow-backed "
                    f"columns, Arrow arrays with nulls are); pass {way}")


def _plain_ndarray(x, name):
    """The plain ndarray a NumPy subclass holds (``np.matrix`` stays 2-D), as ``np.asarray`` gives it to Keras;
    a masked array with masked entries is refused, since its memory holds the values the mask hides."""
    if isinstance(x, np.ma.MaskedArray) and np.ma.is_masked(x):
        raise ValueError(
            f"{name} is a masked array with {np.ma.count_masked(x)} masked of {x.size} entries; a metric reads "
            f"every entry, masked or not. Pass the entries to count ({name}.compressed() keeps the unmasked "
            f"ones), fill them ({name}.filled(value)), or give the masked samples a sample_weight of 0")
    return np.asarray(x)


def materialized(x):
    """PyTorch tensor ``x`` itself when its memory holds its values; else a tensor that does: a lazy negation
    (``is_neg()``) resolved, a zero tensor of autograd (``_is_zerotensor()``, no memory, ``data_ptr() == 0``)
    made real. DLPack and ``data_ptr`` hand over the memory as it is."""
    if x.is_neg():
        return x.resolve_neg()
    if x._is_zerotensor():
        return sys.modules["torch"].zeros(x.shape, dtype=x.dtype, device=x.device)
    return x


def _refuse_torch(x, name, error):
    """Re-raise a PyTorch tensor's failed import (``error``) as a ``TypeError`` that names ``name``, says what
    kind of tensor it is and what to pass instead."""
    if x.is_meta:
        _refuse_without_values(x, name)
    if x.device.type not in ("cpu", "cuda"):
        what, fix = f"a PyTorch tensor on the '{x.device}' device", f"{name}.cpu() or a CUDA tensor"
    elif x.is_nested:
        what, fix = "a nested (jagged) PyTorch tensor", "one update per sample, or a padded tensor whose padding " \
                                                         "has a sample_weight of 0"
    elif x.layout is not sys.modules["torch"].strided:
        what, fix = f"a PyTorch tensor of layout {x.layout}", f"{name}.to_dense()"
    elif x.is_quantized:
        what, fix = f"a quantized PyTorch tensor ({x.dtype})", f"{name}.dequantize()"
    elif str(x.dtype).removeprefix("torch.") not in _TORCH_READABLE:
        what, fix = f"a PyTorch tensor of dtype {x.dtype}", (f"{name}.float() (bool, integer and real float16, "
                                                             "bfloat16, float32 and float64 tensors are read)")
    else:  # a tensor of its kind is read: the failure is another (a driver error, say), and says so itself
        raise error
    raise TypeError(f"{name} is {what}, which a metric cannot read ({type(error).__name__}: {error}); pass "
                    f"{fix}") from None


def _as_keras_reads(array):
    """A Python list, tuple or scalar read as Keras reads it (``ops.convert_to_tensor``): floats as float32 (its
    ``floatx``), integers as int32, bools as bool, so precision-dependent steps (the crossentropies' clip to
    ``1 - 1e-7``) round as in Keras. Floats past float32's range stay float64 and integers past int32's range
    int64 (Keras's torch backend's rule), so no value becomes inf or wraps around.

    >>> [str(_as_keras_reads(np.asarray(x)).dtype) for x in ([0.5, 1], [1, 2], [True], [1e300], [2**40])]
    ['float32', 'int32', 'bool', 'float64', 'int64']
    """
    if array.dtype == np.float64:
        with np.errstate(over="ignore"):
            narrow = array.astype(np.float32)
        return narrow if np.array_equal(np.isinf(narrow), np.isinf(array)) else array
    if array.dtype.kind in "iu" and array.size and _INT32.min <= array.min() and array.max() <= _INT32.max:
        return array.astype(np.int32)
    return array


class _DLTensorHead(ctypes.Structure):
    """The first fields of DLPack's ``DLTensor`` (the head of a legacy ``DLManagedTensor``), up to its dtype."""

    _fields_ = [("data", ctypes.c_void_p), ("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32),
                ("ndim", ctypes.c_int32), ("dtype_code", ctypes.c_uint8), ("dtype_bits", ctypes.c_uint8),
                ("dtype_lanes", ctypes.c_uint16)]


_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))


def bfloat16_bits(x, stream=None):
    """A legacy DLPack capsule of bfloat16 ``x`` whose dtype reads ``uint16``: the same memory, zero-copy.

    ``stream`` is passed to the producer as the consumer's stream (``None`` on the host).
    """
    capsule = x.__dlpack__() if stream is None else x.__dlpack__(stream=stream)
    head = _DLTensorHead.from_address(_capsule_pointer(capsule, b"dltensor"))
    if head.dtype_code != _DL_BFLOAT or head.dtype_bits != 16 or head.dtype_lanes != 1:
        raise TypeError(f"expected a bfloat16 DLPack tensor; got dtype code {head.dtype_code}, "
                        f"{head.dtype_bits} bits, {head.dtype_lanes} lanes")
    head.dtype_code = _DL_UINT
    return capsule


def _widened_on_gpu(x, name, cupy):
    """float32 CuPy copy of a bfloat16 GPU array: its bits come in as uint16 through DLPack on CuPy's current
    stream and are widened there (a bfloat16 is the top half of a float32), so no temporary of the producer's
    allocator is read after it may have been freed."""
    _check_device(x.__dlpack_device__()[1], name, cupy)
    bits = cupy.from_dlpack(bfloat16_bits(x, cupy.cuda.get_current_stream().ptr or 1))
    wide = bits.astype(cupy.uint32)
    wide <<= 16
    return wide.view(cupy.float32)


def _check_device(device_id, name, cupy):
    current = cupy.cuda.runtime.getDevice()
    if device_id != current:
        raise ValueError(f"{name} lives on GPU {device_id} but the current device is GPU {current}; call "
                         f"update_state under `with cupy.cuda.Device({device_id}):` (or move {name} to GPU "
                         f"{current})")


def _from_interface(x, name, cupy):
    """A CuPy view of ``x``'s ``__cuda_array_interface__``, with the producer's ``stream`` (version 3: work on it
    may still be writing the data) ordered before CuPy's current stream on the device. ``cupy.asarray`` would
    wait on the host for that stream (``streamSynchronize``), which an update must never do."""
    desc = x.__cuda_array_interface__
    if desc.get("mask") is not None:
        raise ValueError(f"{name} is a masked GPU array (its __cuda_array_interface__ has a mask); a metric reads "
                         f"every entry: pass the entries to count, or weigh the masked ones 0 with sample_weight")
    dtype, shape, strides = np.dtype(desc["typestr"]), tuple(desc["shape"]), desc.get("strides")
    if dtype.byteorder == ">":
        raise ValueError(f"{name} is a big-endian GPU array ({dtype}), which CuPy cannot read; pass it in native "
                         f"byte order")
    if 0 in shape:
        nbytes = 0
    elif strides is None:
        nbytes = int(np.prod(shape)) * dtype.itemsize
    else:
        nbytes = sum((n - 1) * abs(s) for n, s in zip(shape, strides)) + dtype.itemsize
    # a null pointer (an empty array) names no device: the current one; else the pointer's own
    device = cupy.cuda.runtime.getDevice() if nbytes == 0 else -1
    memory = cupy.cuda.UnownedMemory(desc["data"][0], nbytes, x, device)
    array = cupy.ndarray(shape, dtype, memptr=cupy.cuda.MemoryPointer(memory, 0), strides=strides)
    stream = desc.get("stream")
    if stream is not None:
        _check_device(array.data.device_id, name, cupy)  # before an event of this device meets its stream
        _after_stream(stream, cupy)
    return array


#: per thread, ``{device id: event handle}``: the event ``_after_stream`` records (one thread's record and wait
#: pair must not interleave with another's)
_EVENTS = threading.local()


def _after_stream(stream, cupy):
    """Order the work queued on the ``stream`` handle (1: the legacy default stream, 2: the per-thread one, else a
    ``cudaStream_t``) before what CuPy's current stream runs next: an event recorded on the one and waited on by
    the other, on the device, without a host wait."""
    current = cupy.cuda.get_current_stream().ptr
    if stream == current or (stream in (0, 1) and current == 0):  # CuPy's null stream is the legacy default
        return
    runtime = cupy.cuda.runtime
    events = _EVENTS.__dict__
    device = runtime.getDevice()
    if device not in events:
        events[device] = runtime.eventCreateWithFlags(runtime.eventDisableTiming)
    runtime.eventRecord(events[device], stream)
    runtime.streamWaitEvent(current, events[device])


def cuda_array(x, name):
    """A CuPy view of a GPU input (DLPack first, then ``__cuda_array_interface__``), never a host round trip.

    Refuses (``ValueError``) an array on another GPU than the current device.
    """
    import cupy

    if x is None:
        raise TypeError(f"{name} is None; expected an array of numbers")
    kind = _classify(type(x))
    if kind == _CUPY:
        array = x
    elif kind == _TORCH:
        if x.requires_grad:
            x = x.detach()
        x = materialized(x)
        if x.dtype is _bfloat16["torch"]:
            return _widened_on_gpu(x, name, cupy)
        try:
            array = cupy.from_dlpack(x)
        except (TypeError, RuntimeError, ValueError, BufferError) as error:
            _refuse_torch(x, name, error)
    elif kind == _JAX:
        if x.dtype == _bfloat16["jax"]:
            return _widened_on_gpu(x, name, cupy)
        array = cupy.from_dlpack(x)
    elif kind == _TRACER or kind == _FAKE:
        _refuse_without_values(x, name)
    elif kind == _DLPACK:
        try:
            array = cupy.from_dlpack(x)
        except (TypeError, BufferError, NotImplementedError):
            if not hasattr(type(x), "__cuda_array_interface__"):
                raise
            array = _from_interface(x, name, cupy)
    else:
        array = _from_interface(x, name, cupy)
    _check_device(array.data.device_id, name, cupy)
    return _numeric(array, name)


def any_array(x, name):
    """``x`` where it already lives, with its array module: NumPy on the host, CuPy on a GPU."""
    if location(x, name) == "cuda":
        import cupy

        return cuda_array(x, name), cupy
    return host_array(x, name), np
