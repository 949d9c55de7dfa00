"""Inputs from anywhere: lists, scalars, NumPy, PyTorch, JAX, Numba; and the device-mismatch policy."""
import os
import warnings

import numpy as np
import pytest

from conftest import REAL_GPU, to_host

import gpumetrics
from gpumetrics._interop import host_array, location

Y_TRUE = [[0.0, 1.0], [2.0, 3.0]]
Y_PRED = [[1.0, 1.0], [2.0, 5.0]]
EXPECTED = (0.5 + 2.0) / 2  # per-sample MSEs 0.5 and 2.0


def mse(y_true, y_pred, device):
    metric = gpumetrics.MeanSquaredError(device=device)
    metric.update_state(y_true, y_pred)
    return float(to_host(metric.result()))


def test_python_lists_and_scalars(device):
    assert mse(Y_TRUE, Y_PRED, device) == EXPECTED
    mean = gpumetrics.Mean(device=device)
    mean.update_state(3)
    mean.update_state(5.0, sample_weight=3)
    assert float(to_host(mean.result())) == (3 + 15) / 4


PYTHON_NUMBERS = [([[0.5, 1]], "float32"), (0.5, "float32"), ((0.5, 2.0), "float32"), ([1, 2], "int32"),
                  (3, "int32"), ([True, False], "bool"), (True, "bool"), ([True, 2], "int32")]


@pytest.mark.parametrize("x,dtype", PYTHON_NUMBERS + [
    ([1e300], "float64"), ([2**40], "int64"),  # float32 / int32 would give inf / wrap: kept wide
    (np.float64(0.5), "float64"), (np.arange(2.0), "float64"), (np.arange(2), "int64"),  # NumPy keeps its dtype
], ids=repr)


def test_python_numbers_are_read_as_keras_reads_them(x, dtype):
    assert host_array(x, "x").dtype == dtype


def test_keras_reads_python_numbers_so():
    keras = pytest.importorskip("keras")
    for x, dtype in PYTHON_NUMBERS:
        assert keras.ops.convert_to_tensor(x).dtype == dtype, x


def test_python_float_lists_clip_in_float32_as_in_keras(device):
    # 1 - 1e-7 rounds to 0.99999988 in float32: -log(1 - 0.99999988) = 15.942385 (Keras); float64: 16.118095
    for y_true, y_pred, expected in (([[0]], [[1.0]], 15.942385), (np.zeros((1, 1)), np.ones((1, 1)), 16.118095)):
        metric = gpumetrics.BinaryCrossentropy(device=device)
        metric.update_state(y_true, y_pred)
        assert float(to_host(metric.result())) == pytest.approx(expected, rel=1e-7)


def test_numpy_input_is_not_copied():
    y = np.ones((4, 2), dtype=np.float32)
    assert np.shares_memory(host_array(y, "y"), y)


def test_torch_cpu_tensors_zero_copy(device):
    torch = pytest.importorskip("torch")
    y_true = torch.tensor(Y_TRUE, requires_grad=True)
    assert np.shares_memory(host_array(y_true, "y_true"), y_true.detach().numpy())
    assert mse(y_true, torch.tensor(Y_PRED), device) == EXPECTED
    # bool labels read as 0/1: rows [0, 1] vs [1, 1] -> 0.5 and [1, 1] vs [2, 5] -> 8.5
    assert mse(torch.tensor(Y_TRUE, dtype=torch.bool), torch.tensor(Y_PRED), device) == (0.5 + 8.5) / 2


def jax_on_cpu(values, dtype=None):
    """A JAX array in host memory (JAX's default device is the GPU where JAX sees one)."""
    jax = pytest.importorskip("jax")
    return jax.device_put(jax.numpy.asarray(values, dtype=dtype), jax.devices("cpu")[0])


def test_jax_cpu_arrays(device):
    assert mse(jax_on_cpu(Y_TRUE), jax_on_cpu(Y_PRED), device) == EXPECTED


def test_numba_simulator_device_arrays():
    from numba import config, cuda

    if not config.ENABLE_CUDASIM:
        pytest.skip("simulator only: on a GPU, Numba device arrays are covered by test_gpu_inputs_zero_copy")
    assert mse(cuda.to_device(np.array(Y_TRUE)), cuda.to_device(np.array(Y_PRED)), "cuda") == EXPECTED


class FakeGpuArray:
    """Looks like a GPU array (it has ``__cuda_array_interface__``) without any GPU."""

    __cuda_array_interface__ = {"shape": (2, 2), "typestr": "<f4", "data": (0, False), "version": 3}


def test_gpu_input_to_cpu_metric_is_refused_without_touching_it():
    assert location(FakeGpuArray()) == "cuda"
    metric = gpumetrics.MeanSquaredError(device="cpu")
    with pytest.raises(ValueError, match="y_true lives in GPU memory but this metric's state is on the CPU"):
        metric.update_state(FakeGpuArray(), Y_PRED)
    assert float(metric.result()) == 0.0


def test_auto_device_follows_the_first_batch():
    metric = gpumetrics.MeanSquaredError()
    assert metric.device == "auto" and float(metric.result()) == 0.0
    metric.update_state(Y_TRUE, Y_PRED)
    assert metric.device == "cpu"


@pytest.mark.skipif(not REAL_GPU, reason="needs a GPU")
def test_host_input_to_gpu_metric_is_copied_with_one_warning():
    metric = gpumetrics.MeanSquaredError(device="cuda")
    with pytest.warns(UserWarning, match="y_true is in host memory and is copied to the GPU"):
        metric.update_state(np.array(Y_TRUE), np.array(Y_PRED))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.update_state(np.array(Y_TRUE)[:1], np.array(Y_PRED)[:1])


@pytest.mark.skipif(not REAL_GPU, reason="needs a GPU")
def test_gpu_inputs_zero_copy():
    import cupy
    from numba import cuda

    expected = EXPECTED
    inputs = [(cupy.asarray(Y_TRUE), cupy.asarray(Y_PRED)),
              (cuda.to_device(np.array(Y_TRUE)), cuda.to_device(np.array(Y_PRED)))]
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        inputs.append((torch.tensor(Y_TRUE, device="cuda"), torch.tensor(Y_PRED, device="cuda")))
    for y_true, y_pred in inputs:
        metric = gpumetrics.MeanSquaredError()
        metric.update_state(y_true, y_pred)
        assert metric.device == "cuda"
        assert float(metric.result()) == expected


# -- every framework's inputs: requires_grad, bfloat16, tracers, byte order, DLPack first (issue 10) -----------
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import types  # noqa: E402

from gpumetrics import _interop  # noqa: E402
from gpumetrics._interop import cuda_array  # noqa: E402
from gpumetrics._validation import check_numeric  # noqa: E402

BF16_TRUE = [[0.0, 1.0], [0.5, 1.0], [1.0, 0.0]]
BF16_PRED = [[0.25, 0.75], [0.5, 0.125], [1.5, -2.25]]  # all exact in bfloat16


def _raises_runtime_error(self):
    raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")


def test_torch_requires_grad_never_touches_the_cuda_array_interface(device, monkeypatch):
    """A CUDA tensor that requires grad raises RuntimeError from ``__cuda_array_interface__`` (hasattr does not
    swallow it); here every tensor's interface raises so, and the inputs must still come in on both backends."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.Tensor, "__cuda_array_interface__", property(_raises_runtime_error))
    y_true = torch.tensor(Y_TRUE, requires_grad=True)
    y_pred = torch.tensor(Y_PRED, requires_grad=True) * 1.0  # a non-leaf in an autograd graph
    assert location(y_pred) == "cpu"
    assert np.shares_memory(host_array(y_true, "y_true"), y_true.detach().numpy())
    assert mse(y_true, y_pred, device) == EXPECTED
    accuracy = gpumetrics.BinaryAccuracy(device=device)  # reads its inputs through any_array
    accuracy.update_state(torch.tensor([1.0, 0.0], requires_grad=True), torch.tensor([0.9, 0.8], requires_grad=True))
    assert float(to_host(accuracy.result())) == 0.5


def _bf16_pairs():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return {
        "torch": (torch.tensor(BF16_TRUE, dtype=torch.bfloat16),
                  torch.tensor(BF16_PRED, dtype=torch.bfloat16, requires_grad=True)),
        "jax": (jax_on_cpu(BF16_TRUE, jnp.bfloat16), jax_on_cpu(BF16_PRED, jnp.bfloat16)),
        "ml_dtypes": (np.asarray(BF16_TRUE, dtype=ml_dtypes.bfloat16), np.asarray(BF16_PRED, dtype=ml_dtypes.bfloat16)),
    }


@pytest.mark.parametrize("source", ["torch", "jax", "ml_dtypes"])
def test_bfloat16_inputs_match_float32_inputs(device, source):
    y_true, y_pred = _bf16_pairs()[source]
    f32_true, f32_pred = np.asarray(BF16_TRUE, np.float32), np.asarray(BF16_PRED, np.float32)
    for make in (gpumetrics.MeanSquaredError, gpumetrics.MeanAbsoluteError, gpumetrics.BinaryAccuracy,
                 lambda device: gpumetrics.AUC(num_thresholds=7, device=device)):
        bf16, f32 = make(device=device), make(device=device)
        bf16.update_state(y_true, y_pred)
        f32.update_state(f32_true, f32_pred)
        assert float(to_host(bf16.result())) == float(to_host(f32.result()))


def test_bfloat16_is_widened_once_on_the_host():
    for y_true, _ in _bf16_pairs().values():
        array = host_array(y_true, "y_true")
        assert array.dtype == np.float32 and array.tolist() == BF16_TRUE


def test_check_numeric_accepts_bfloat16_and_still_refuses_the_rest():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    check_numeric(np.zeros(2, ml_dtypes.bfloat16), "y_pred")
    for dtype in (np.complex64, "U3", object, ml_dtypes.float8_e4m3fn):
        with pytest.raises(TypeError, match="y_pred must hold bool, integer or real"):
            check_numeric(np.zeros(2, dtype), "y_pred")


def test_bfloat16_bits_travel_as_uint16_zero_copy():
    """The GPU path hands bfloat16 over DLPack re-tagged as uint16 (CuPy has no bfloat16); checked here with a
    NumPy consumer on the same capsule."""
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    ml_dtypes = pytest.importorskip("ml_dtypes")
    for x in (torch.tensor(BF16_PRED, dtype=torch.bfloat16)[::2, 1:],
              torch.tensor(BF16_PRED, dtype=torch.bfloat16).t(), jax_on_cpu(BF16_PRED, jnp.bfloat16)):
        bits = np.from_dlpack(_Capsule(_interop.bfloat16_bits(x)))
        assert bits.dtype == np.uint16 and bits.shape == tuple(x.shape)
        assert bits.view(ml_dtypes.bfloat16).astype(np.float32).tolist() == np.asarray(x.tolist(), np.float32).tolist()
    with pytest.raises(TypeError, match="expected a bfloat16 DLPack tensor"):
        _interop.bfloat16_bits(np.zeros(2, np.float32))


class _Capsule:
    """A host DLPack producer that hands out a ready capsule (what a consumer does with it is under test)."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)


# -- the GPU path with a stand-in CuPy: which import is used, which stream is handed over, which device ----------
class FakeCupyArray(np.ndarray):
    device_id = 0

    def __new__(cls, shape, dtype=float, memptr=None, strides=None):
        """CuPy's ``ndarray(shape, dtype, memptr, strides)`` over memory it does not own: zeros here, the call
        recorded by the stand-in module (``fake_cupy``)."""
        sys.modules["cupy"].calls.append(("ndarray", shape, np.dtype(dtype).str, memptr, strides))
        array = np.zeros(shape, dtype).view(cls)
        array.device_id = memptr.memory.device
        return array

    @property
    def data(self):
        return types.SimpleNamespace(device_id=self.device_id)


class FakeProducer:
    """A GPU array of another library: DLPack and an interface property that must never be read."""

    def __init__(self, values, device_id=0, dtype=np.float32):
        self.values, self.device_id, self.streams = np.asarray(values, dtype), device_id, []

    def __dlpack__(self, stream=None, **kwargs):
        self.streams.append(stream)
        return self.values.__dlpack__()

    def __dlpack_device__(self):
        return (2, self.device_id)

    @property
    def __cuda_array_interface__(self):
        raise RuntimeError("__cuda_array_interface__ must not be read when DLPack is there")


class FakeInterfaceOnly:
    __cuda_array_interface__ = FakeGpuArray.__cuda_array_interface__


@pytest.fixture
def fake_cupy(monkeypatch):
    """A ``cupy`` module that behaves like CuPy's ``from_dlpack`` (it hands its current stream to the producer)
    on host memory, and records what it was asked."""
    cupy = types.ModuleType("cupy")
    cupy.calls, cupy.current_device, cupy.stream_ptr = [], 0, 0x5EED
    cupy.ndarray, cupy.uint32, cupy.float32 = FakeCupyArray, np.uint32, np.float32

    def from_dlpack(x):
        cupy.calls.append("from_dlpack")
        if hasattr(x, "__dlpack_device__"):
            device_type, device_id = x.__dlpack_device__()
            x = x.__dlpack__(stream=cupy.stream_ptr) if device_type == 2 else x.__dlpack__()  # host: no stream
        else:
            device_id = cupy.current_device
        array = np.from_dlpack(_Capsule(x)).view(FakeCupyArray)
        array.device_id = device_id
        return array

    def asarray(x):
        cupy.calls.append("asarray")  # CuPy's import of an interface waits on the host for its stream
        return np.zeros((2, 2), np.float32).view(FakeCupyArray)

    def unowned(ptr, size, owner, device_id=-1):  # the pointer's device is asked when none is given
        return types.SimpleNamespace(ptr=ptr, size=size, owner=owner,
                                     device=cupy.pointer_device if device_id < 0 else device_id)

    runtime = types.SimpleNamespace(
        getDevice=lambda: cupy.current_device, eventDisableTiming=2,
        eventCreateWithFlags=lambda flags: cupy.calls.append(("eventCreate", flags)) or 0xE7 + len(cupy.calls),
        eventRecord=lambda event, stream: cupy.calls.append(("eventRecord", event, stream)),
        streamWaitEvent=lambda stream, event, flags=0: cupy.calls.append(("streamWaitEvent", stream, event)))
    cupy.pointer_device = 0
    cupy.from_dlpack, cupy.asarray = from_dlpack, asarray
    cupy.cuda = types.SimpleNamespace(runtime=runtime,
                                      get_current_stream=lambda: types.SimpleNamespace(ptr=cupy.stream_ptr),
                                      UnownedMemory=unowned,
                                      MemoryPointer=lambda memory, offset: types.SimpleNamespace(memory=memory,
                                                                                                 offset=offset))
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setattr(_interop, "_EVENTS", threading.local(), raising=False)  # fresh events per test
    return cupy


def test_gpu_inputs_come_in_through_dlpack_first_with_the_consumer_stream(fake_cupy):
    producer = FakeProducer(Y_PRED)
    assert location(producer) == "cuda"  # read from __dlpack_device__, the interface untouched
    array = cuda_array(producer, "y_pred")
    assert fake_cupy.calls == ["from_dlpack"] and producer.streams == [fake_cupy.stream_ptr]
    assert array.tolist() == Y_PRED
    assert location(FakeInterfaceOnly()) == "cuda"
    fake_cupy.calls.clear()
    cuda_array(FakeInterfaceOnly(), "y_true")
    assert [call[0] for call in fake_cupy.calls] == ["ndarray"]  # viewed from the interface: no host wait


class InterfaceOnStream:
    """A GPU array offering only ``__cuda_array_interface__`` (version 3), as a Numba device array does."""

    def __init__(self, stream, shape=(3, 2), strides=None, typestr="<f4", ptr=0xA000, mask=None):
        self.__cuda_array_interface__ = {"shape": shape, "strides": strides, "typestr": typestr, "version": 3,
                                         "data": (ptr, False), "stream": stream, "mask": mask}


def test_an_interface_stream_is_ordered_before_ours_on_the_device_without_a_host_wait(fake_cupy):
    """The interface's ``stream`` (the producer may still be writing there) comes before CuPy's current stream by
    an event recorded on the one and waited on by the other; ``cupy.asarray`` would synchronise the host. No event
    where the streams are one (the same handle; 1 and CuPy's null stream are both the legacy default) or where the
    interface names none. One event per thread and device, recorded again for every input."""
    for stream in (0x51, 0x52, 2):
        cuda_array(InterfaceOnStream(stream), "y_pred")
    records = [c for c in fake_cupy.calls if c[0] == "eventRecord"]
    waits = [c for c in fake_cupy.calls if c[0] == "streamWaitEvent"]
    assert [c[2] for c in records] == [0x51, 0x52, 2] and len({c[1] for c in records}) == 1
    assert waits == [("streamWaitEvent", fake_cupy.stream_ptr, records[0][1])] * 3
    assert sum(c[0] == "eventCreate" for c in fake_cupy.calls) == 1 and "asarray" not in fake_cupy.calls
    fake_cupy.calls.clear()
    cuda_array(InterfaceOnStream(fake_cupy.stream_ptr), "y_pred")
    cuda_array(InterfaceOnStream(None), "y_pred")
    fake_cupy.stream_ptr = 0
    cuda_array(InterfaceOnStream(1), "y_pred")
    assert [c[0] for c in fake_cupy.calls] == ["ndarray"] * 3


def test_an_interface_view_covers_its_memory_and_refuses_what_cupy_cannot_read(fake_cupy):
    """The view's memory spans every element (a stride may be negative), an empty array names the current device,
    and a masked, big-endian or other-device interface is refused naming the argument, before any event."""
    fake_cupy.calls.clear()
    cuda_array(InterfaceOnStream(None, shape=(3, 2), strides=(-8, 4)), "y_pred")
    (_, shape, dtype, memptr, strides), = fake_cupy.calls
    assert (shape, dtype, strides, memptr.memory.size, memptr.offset) == ((3, 2), "<f4", (-8, 4), 2 * 8 + 4 + 4, 0)
    fake_cupy.calls.clear()
    fake_cupy.current_device, fake_cupy.pointer_device = 0, 5  # a null pointer names no device: not asked
    assert cuda_array(InterfaceOnStream(None, shape=(0, 2), ptr=0), "y_pred").shape == (0, 2)
    assert fake_cupy.calls[0][3].memory.device == 0
    for interface, message in ((InterfaceOnStream(0x51, mask=object()), "y_pred is a masked GPU array"),
                               (InterfaceOnStream(0x51, typestr=">f4"), "y_pred is a big-endian GPU array"),
                               (InterfaceOnStream(0x51), "y_pred lives on GPU 5 but the current device is GPU 0")):
        fake_cupy.calls.clear()
        with pytest.raises(ValueError, match=message):
            cuda_array(interface, "y_pred")
        assert not [c for c in fake_cupy.calls if c[0] in ("eventRecord", "streamWaitEvent")]


def test_gpu_array_on_another_device_is_refused(fake_cupy):
    with pytest.raises(ValueError, match=r"y_pred lives on GPU 1 but the current device is GPU 0"):
        cuda_array(FakeProducer(Y_PRED, device_id=1), "y_pred")
    with pytest.raises(ValueError, match=r"y_true lives on GPU 1 but the current device is GPU 0"):
        _interop._widened_on_gpu(FakeProducer([1], device_id=1, dtype=np.uint16), "y_true", fake_cupy)


def test_bfloat16_on_a_gpu_is_widened_there_from_its_bits(fake_cupy):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    fake_cupy.stream_ptr = 0  # CuPy's legacy default stream is handed over as 1, as DLPack asks
    bits = np.asarray(BF16_PRED, ml_dtypes.bfloat16)
    producer = FakeProducer(bits.view(np.uint16), dtype=np.uint16)
    producer.__dlpack__ = lambda stream=None, **kwargs: (producer.streams.append(stream),
                                                         _bfloat16_capsule(bits))[1]
    wide = _interop._widened_on_gpu(producer, "y_pred", fake_cupy)
    assert wide.dtype == np.float32 and wide.tolist() == BF16_PRED and producer.streams == [1]


def _bfloat16_capsule(bits):
    torch = pytest.importorskip("torch")
    return torch.from_numpy(bits.view(np.int16)).view(torch.bfloat16).__dlpack__()


def test_torch_gpu_route_detaches_and_widens_bfloat16_on_the_device(fake_cupy, monkeypatch):
    torch = pytest.importorskip("torch")
    seen = []
    monkeypatch.setattr(_interop, "_widened_on_gpu", lambda x, name, cupy: seen.append(x) or "widened")
    monkeypatch.setattr(torch.Tensor, "__cuda_array_interface__", property(_raises_runtime_error))
    x = torch.tensor(BF16_PRED, dtype=torch.bfloat16, requires_grad=True)
    assert cuda_array(x, "y_pred") == "widened"
    assert seen[0].dtype == torch.bfloat16 and not seen[0].requires_grad
    array = cuda_array(torch.tensor(Y_PRED, requires_grad=True), "y_pred")  # float32: plain DLPack, detached
    assert fake_cupy.calls == ["from_dlpack"] and array.tolist() == Y_PRED


# -- inputs without values: JAX tracers, torch meta and fake tensors -----------------------------------------------
def _updated_metric(device):
    metric = gpumetrics.MeanSquaredError(device=device)
    metric.update_state(Y_TRUE, Y_PRED)
    return metric


def test_jax_tracers_are_refused_clearly_and_leave_the_state_unchanged(device):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    metric = _updated_metric(device)
    auto = gpumetrics.MeanSquaredError()

    def update(y_pred):
        metric.update_state(jnp.asarray(Y_TRUE), y_pred)
        return y_pred.sum()

    def update_auto(y_pred):
        auto.update_state(y_pred, y_pred)
        return y_pred.sum()

    for transform, args in ((jax.jit, (jnp.asarray(Y_PRED),)), (jax.grad, (jnp.asarray(Y_PRED),)),
                            (jax.vmap, (jnp.asarray([Y_PRED, Y_PRED]),))):
        for fn in (update, update_auto):
            with pytest.raises(TypeError, match=r"JAX tracer .*outside the traced or compiled function.*"
                                                r"gpumetrics\.keras"):
                transform(fn)(*args)
    assert float(to_host(metric.result())) == EXPECTED
    assert auto.device == "auto" and float(auto.result()) == 0.0


def test_torch_meta_and_fake_tensors_are_refused_clearly(device):
    torch = pytest.importorskip("torch")
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        fake = torch.ones(2, 2)
    meta = torch.ones(2, 2, device="meta")
    metric = _updated_metric(device)
    for x, what in ((meta, "'meta' device"), (fake, "torch.compile fake tensor")):
        for args in ((x, Y_PRED), (Y_TRUE, x)):
            with pytest.raises(TypeError, match=f"{what}.*outside the traced or compiled function"):
                metric.update_state(*args)
        with pytest.raises(TypeError, match=what):
            host_array(x, "y_true")
        auto = gpumetrics.MeanSquaredError()
        with pytest.raises(TypeError, match=what):
            auto.update_state(x, x)
        assert auto.device == "auto"
    assert float(to_host(metric.result())) == EXPECTED


def test_plain_inputs_import_no_framework():
    code = ("import sys, numpy as np, gpumetrics; from gpumetrics._interop import location, host_array; "
            "location([1.0]); host_array(np.ones(2), 'y'); host_array([[1, 2]], 'y'); "
            "print(sorted(m for m in ('jax', 'torch', 'cupy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- byte order and long double ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [">f8", ">f4", ">i4", np.longdouble])
def test_non_native_byte_order_and_longdouble_are_never_misread(device, dtype):
    assert host_array(np.ones((2, 1), dtype), "y_true").dtype == np.dtype(dtype)  # handed on untouched
    metric = gpumetrics.MeanSquaredError(device=device)
    metric.update_state(np.ones((2, 1), dtype), np.zeros((2, 1)))
    assert float(to_host(metric.result())) == 1.0


def test_host_copies_to_a_gpu_are_native_and_at_most_float64():
    from gpumetrics.backends.cuda_backend import _copyable

    native = np.arange(3.0)
    assert _copyable(native) is native
    for dtype, expected in ((">f8", np.float64), (">i2", np.int16), (np.longdouble, np.float64)):
        copy = _copyable(np.arange(3).astype(dtype))
        assert copy.dtype == np.dtype(expected) and copy.dtype.isnative and copy.tolist() == [0, 1, 2]


# -- inputs whose memory is not the values they mean: masked arrays, negated views, exotic tensors ---------------
def _negated_view(values):
    """A float tensor that means ``values`` through torch's lazy negation bit (``z.conj().imag``), its memory
    holding ``-values``."""
    torch = pytest.importorskip("torch")
    v = torch.tensor(values)
    view = torch.complex(torch.zeros_like(v), -v).conj().imag
    assert view.is_neg() and view.tolist() == v.tolist()
    return view


def test_masked_arrays_with_masked_entries_are_refused_and_change_nothing(device):
    metric = _updated_metric(device)
    masked = np.ma.masked_array(Y_PRED, mask=[[False, True], [False, False]])
    for args, name in (((masked, Y_PRED), "y_true"), ((Y_TRUE, masked), "y_pred"),
                       ((Y_TRUE, Y_PRED, np.ma.masked_array([1.0, 2.0], mask=[True, False])), "sample_weight")):
        with pytest.raises(ValueError, match=rf"{name} is a masked array with 1 masked of \d entries.*"
                                             "sample_weight of 0"):
            metric.update_state(*args)
    assert float(to_host(metric.result())) == EXPECTED
    unmasked = np.ma.masked_array(Y_PRED, mask=False)  # nothing hidden: read as its data
    assert mse(np.ma.masked_array(Y_TRUE), unmasked, device) == EXPECTED


def test_arrays_inside_python_lists_are_read_by_the_same_rules(device):
    """NumPy reads a list of arrays through each array's memory: a masked array inside a list or tuple (a batch
    built from masked rows) was read with the value it hides (here 1000), and a list of tensors that require grad
    or hold bfloat16 raised torch's own errors, naming no argument."""
    metric = _updated_metric(device)
    row = np.ma.masked_array([2.0, 1000.0], mask=[False, True])
    for y_pred in ([Y_PRED[0], row], (Y_PRED[0], row), [[np.float64(1.0), 1.0], row], [np.asarray(Y_PRED[0]), row]):
        with pytest.raises(ValueError, match=r"y_pred is a masked array with 1 masked of 2 entries"):
            metric.update_state(Y_TRUE, y_pred)
    with pytest.raises(ValueError, match=r"sample_weight is a masked array"):
        weights = np.ma.masked_array([1.0, 2.0], mask=[False, True])
        metric.update_state(Y_TRUE, Y_PRED, [w for w in weights])  # its masked entry is np.ma.masked: NumPy reads NaN
    assert float(to_host(metric.result())) == EXPECTED
    assert mse(Y_TRUE, [np.ma.masked_array(Y_PRED[0], mask=False), Y_PRED[1]], device) == EXPECTED
    torch = pytest.importorskip("torch")
    rows = [torch.tensor(r, requires_grad=True) for r in Y_PRED]
    assert mse(Y_TRUE, rows, device) == EXPECTED
    assert mse(Y_TRUE, [[torch.tensor(v, dtype=torch.bfloat16) for v in r] for r in Y_PRED], device) == EXPECTED


def test_numpy_subclasses_are_read_as_the_plain_array_they_hold(device, tmp_path):
    assert mse(np.asmatrix(Y_TRUE), np.asmatrix(Y_PRED), device) == EXPECTED
    assert type(host_array(np.asmatrix(Y_TRUE), "y_true")) is np.ndarray
    mapped = np.memmap(tmp_path / "y_pred.f8", dtype=np.float64, mode="w+", shape=(2, 2))
    mapped[:] = Y_PRED
    assert mse(Y_TRUE, mapped, device) == EXPECTED


def _zero_tensor(shape):
    """A zero tensor as autograd makes them: no memory (``data_ptr() == 0``); DLPack hands over whatever lies there."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "_efficientzerotensor"):
        pytest.skip("this torch makes no zero tensors")
    zero = torch._efficientzerotensor(shape)
    assert zero._is_zerotensor() and zero.data_ptr() == 0
    return zero


def test_torch_lazy_tensors_are_read_as_the_values_they_mean(device):
    assert mse(_negated_view(Y_TRUE), _negated_view(Y_PRED), device) == EXPECTED
    auc = gpumetrics.AUC(num_thresholds=3, device=device)
    auc.update_state([1, 0], _negated_view([0.9, 0.1]))  # its memory, -0.9 and -0.1, would clip to 0: AUC 0.5
    assert float(to_host(auc.result())) == 1.0
    assert mse(_zero_tensor((2, 2)), Y_PRED, device) == (1.0 + 14.5) / 2


@pytest.mark.skipif(not REAL_GPU, reason="needs a GPU")
def test_numba_arrays_written_on_their_own_stream_are_read_after_it():
    """A Numba device array filled on a stream of its own exports that stream in its interface: the update orders
    it before CuPy's stream with an event (no host wait) and reads the values written there."""
    import cupy
    from numba import cuda

    stream = cuda.stream()
    y_pred = cuda.device_array((2, 2), np.float64, stream=stream)
    y_pred.copy_to_device(np.array(Y_PRED), stream=stream)
    assert y_pred.__cuda_array_interface__["stream"] not in (None, 0, 1, 2)  # a stream of its own
    for _ in range(3):
        metric = gpumetrics.MeanSquaredError(device="cuda")
        metric.update_state(cupy.asarray(Y_TRUE), y_pred)
        assert float(metric.result()) == EXPECTED


def test_torch_lazy_tensors_on_the_gpu_route_are_materialised_first(fake_cupy):
    assert cuda_array(_negated_view(Y_PRED), "y_pred").tolist() == Y_PRED
    assert cuda_array(_zero_tensor((2, 2)), "y_pred").tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.skipif(not REAL_GPU, reason="needs a GPU")
def test_torch_lazy_cuda_tensors_are_read_as_their_values_in_every_update():
    """Six updates of one signature (a repeated signature is replayed from its third update where it can be)."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("this torch has no CUDA")
    negated, zeros = gpumetrics.MeanSquaredError(device="cuda"), gpumetrics.MeanSquaredError(device="cuda")
    for _ in range(6):
        v = torch.tensor(Y_PRED, device="cuda")
        negated.update_state(torch.tensor(Y_TRUE, device="cuda"), torch.complex(torch.zeros_like(v), -v).conj().imag)
        zeros.update_state(torch._efficientzerotensor((2, 2), device="cuda"), v)
    assert float(negated.result()) == EXPECTED
    assert float(zeros.result()) == (1.0 + 14.5) / 2


def _unreadable_tensors():
    torch = pytest.importorskip("torch")
    values = torch.tensor(Y_PRED)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # prototype / deprecation notices of the constructors
        return {
            "sparse": (values.to_sparse(), r"layout torch\.sparse_coo.*pass y_pred\.to_dense\(\)"),
            "nested": (torch.nested.nested_tensor([values[0], values[1, :1]]), r"nested \(jagged\)"),
            "quantized": (torch.quantize_per_tensor(values, 0.25, 0, torch.quint8),
                          r"quantized PyTorch tensor \(torch\.quint8\).*pass y_pred\.dequantize\(\)"),
            "float8": (values.to(torch.float8_e4m3fn), r"dtype torch\.float8_e4m3fn.*pass y_pred\.float\(\)"),
        }


@pytest.mark.parametrize("kind", ["sparse", "nested", "quantized", "float8"])
def test_unreadable_torch_tensors_are_refused_naming_the_argument(device, kind):
    x, message = _unreadable_tensors()[kind]
    metric = _updated_metric(device)
    with pytest.raises(TypeError, match=rf"y_pred is (a|an) .*{message}"):
        metric.update_state(Y_TRUE, x)
    assert float(to_host(metric.result())) == EXPECTED


def test_torch_tensors_on_other_devices_are_refused_naming_the_device():
    """An Apple (``mps``) or Intel (``xpu``) GPU tensor: NumPy's refusal becomes one that names the argument and the
    device (a stand-in tensor; this machine has neither device). A readable tensor's other failure stays its own."""
    torch = pytest.importorskip("torch")
    mps = types.SimpleNamespace(is_meta=False, device=torch.device("mps", 0), dtype=torch.float32)
    with pytest.raises(TypeError, match=r"y_pred is a PyTorch tensor on the 'mps:0' device.*TypeError: can't "
                                        r"convert.*pass y_pred\.cpu\(\) or a CUDA tensor"):
        _interop._refuse_torch(mps, "y_pred", TypeError("can't convert mps:0 device type tensor to numpy"))
    plain = types.SimpleNamespace(is_meta=False, device=torch.device("cpu"), is_nested=False, layout=torch.strided,
                                  is_quantized=False, dtype=torch.float32)
    driver = RuntimeError("CUDA error: an illegal memory access was encountered")
    with pytest.raises(RuntimeError) as raised:  # a readable tensor failed for another reason: that reason, as is
        _interop._refuse_torch(plain, "y_pred", driver)
    assert raised.value is driver


@pytest.mark.parametrize("kind", ["sparse", "nested", "quantized", "float8"])
def test_unreadable_torch_tensors_on_the_gpu_route_are_refused_naming_the_argument(fake_cupy, kind):
    x, message = _unreadable_tensors()[kind]
    with pytest.raises(TypeError, match=rf"y_pred is (a|an) .*{message}"):
        cuda_array(x, "y_pred")


def test_jax_arrays_without_numbers_or_a_buffer_are_refused_naming_the_argument(device):
    jax = pytest.importorskip("jax")
    deleted = jax.numpy.ones((2, 2))
    deleted.delete()  # what donating it to a jitted function leaves behind
    keys = jax.random.split(jax.random.key(0), 2)
    metric = _updated_metric(device)
    for x, error, message in ((deleted, ValueError, "y_pred is a deleted JAX array"),
                              (keys, TypeError, r"y_pred is an array of JAX PRNG keys \(dtype key<fry>\)")):
        with pytest.raises(error, match=message):
            metric.update_state(Y_TRUE, x)
        auto = gpumetrics.MeanSquaredError()
        with pytest.raises(error, match=message):
            auto.update_state(Y_TRUE, x)
        assert auto.device == "auto"
    assert float(to_host(metric.result())) == EXPECTED


def test_pandas_frames_of_nullable_columns_are_refused_with_the_way_out(device):
    """NumPy reads them as Python objects (a Series of one such column reads as numbers): refused naming the
    argument and the conversion to pass."""
    pd = pytest.importorskip("pandas")
    metric = _updated_metric(device)
    for dtype in ("Int64", "Float32", "boolean"):
        frame = pd.DataFrame([[0, 1], [1, 0]], dtype=dtype)
        with pytest.raises(TypeError, match=r"y_true is a DataFrame that NumPy reads as Python objects.*"
                                            r"y_true\.to_numpy\(dtype='float64', na_value=np\.nan\)"):
            metric.update_state(frame, Y_PRED)
    assert float(to_host(metric.result())) == EXPECTED


def test_arrow_arrays_with_nulls_are_refused_with_arrows_own_way_out(device):
    """An Arrow array or chunked array of booleans with a null reads as Python objects: refused naming the argument
    and Arrow's ``fill_null`` (pandas's ``to_numpy(dtype=, na_value=)`` does not exist there); filled, it is read."""
    pa = pytest.importorskip("pyarrow")
    metric = _updated_metric(device)
    y_true = [[0.0], [1.0], [1.0]]
    for labels in (pa.array([False, None, True]), pa.chunked_array([[False, None], [True]])):
        with pytest.raises(TypeError, match=r"y_true is a (BooleanArray|ChunkedArray) that NumPy reads as Python "
                                            r"objects.*y_true\.fill_null\(value\)"):
            metric.update_state(labels, np.asarray(y_true, dtype="float32").ravel())
    assert float(to_host(metric.result())) == EXPECTED


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_labels_are_cast_to_float32_predictions_of_either_byte_order(device, byteorder):
    """Keras casts y_true to y_pred's dtype before an exact comparison: 0.1 (float64) equals float32(0.1), whatever
    the byte order of the float32 predictions."""
    y_true = np.array([[0.1], [0.2], [0.3]])
    y_pred = np.array([[0.1], [0.2], [0.7]], np.float32).astype(byteorder + "f4")
    cases = ((gpumetrics.Accuracy, {}, y_true, y_pred, 2 / 3),
             (gpumetrics.SparseCategoricalAccuracy, {}, np.array([[1 + 1e-9], [2]]),
              np.array([[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], np.float32).astype(byteorder + "f4"), 1.0),
             (gpumetrics.SparseTopKCategoricalAccuracy, {"k": 1, "from_sorted_ids": True}, np.array([[1 + 1e-9], [2]]),
              np.array([[1, 0], [2, 0]], np.float32).astype(byteorder + "f4"), 1.0))
    for cls, kwargs, t, p, expected in cases:
        metric = cls(device=device, **kwargs)
        metric.update_state(t, p)
        assert float(to_host(metric.result())) == pytest.approx(expected), cls.__name__


HALF_CASES = (  # (class, kwargs, y_true, y_pred, Keras 3.15's value for float16 / bfloat16 y_pred)
    (gpumetrics.Accuracy, {}, [[0.1], [0.3], [0.7], [2049.0]], [[0.1], [0.3], [0.7], [2048.0]], 1.0),
    (gpumetrics.SparseCategoricalAccuracy, {}, [[1.0000001], [2.0]], [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]], 1.0),
    (gpumetrics.SparseTopKCategoricalAccuracy, {"k": 1, "from_sorted_ids": True}, [[1.0000001], [2.0]],
     [[1.0, 0.0], [2.0, 0.0]], 1.0),
    (gpumetrics.TopKCategoricalAccuracy, {"k": 1}, [[0.5, 0.50001, 0.0]], [[0.9, 0.1, 0.0]], 1.0),
)


def half_maker(half):
    """A function making an array of ``half`` ("float16", "bfloat16": ml_dtypes, "torch-bfloat16") from values."""
    if half == "torch-bfloat16":
        torch = pytest.importorskip("torch")
        return lambda a: torch.tensor(np.asarray(a, np.float32)).to(torch.bfloat16)
    dtype = np.float16 if half == "float16" else pytest.importorskip("ml_dtypes").bfloat16
    return lambda a: np.asarray(a).astype(dtype)


@pytest.mark.parametrize("half", ["float16", "bfloat16", "torch-bfloat16"])
def test_labels_are_rounded_to_half_precision_predictions_before_an_exact_comparison(device, half):
    """Keras casts y_true to y_pred's dtype before comparing exactly: beside float16 / bfloat16 scores, label 0.1
    equals the score 0.1 and 2049 equals 2048. The kernels cast labels to float32 at most, and bfloat16 scores are
    widened to float32 at import, so these read 0.0 to 0.5 before the labels were rounded first."""
    make = half_maker(half)
    for cls, kwargs, y_true, y_pred, expected in HALF_CASES:
        metric = cls(device=device, **kwargs)
        metric.update_state(np.array(y_true), make(y_pred))
        assert float(to_host(metric.result())) == expected, cls.__name__
    values = gpumetrics.metrics.accuracy.accuracy(np.array([[0.1], [0.3]]), make([[0.1], [0.3]]))
    np.testing.assert_array_equal(to_host(values), [[1.0], [1.0]])


@pytest.mark.parametrize("half", ["float16", "bfloat16", "torch-bfloat16"])
def test_per_sample_accuracies_round_labels_to_half_precision_predictions(half):
    """The per-sample functions give the classes' values: Keras casts y_true to y_pred's dtype first, also before
    top_k_categorical_accuracy's argmax of y_true (0.5 and 0.50001 tie in float16 and bfloat16, the first wins).
    Before, the top-k function and class read 0.0 beside both types, and sparse_categorical_accuracy and
    sparse_top_k_categorical_accuracy(from_sorted_ids=True) read 0.0 beside bfloat16 (widened to float32 first)."""
    make = half_maker(half)
    for cls, kwargs, y_true, y_pred, expected in HALF_CASES[1:]:
        fn = getattr(gpumetrics, gpumetrics.metric.to_snake_case(cls.__name__))
        values = to_host(fn(np.array(y_true), make(y_pred), **kwargs))
        np.testing.assert_array_equal(values, np.full(values.shape, expected), err_msg=cls.__name__)


def test_float8_e5m2_is_refused_like_the_other_float8_types(device):
    """ml_dtypes gives float8_e5m2 (alone of its float8 types) NumPy kind "f"; Keras's epsilon rounds to 0 in it
    (KLDivergence read NaN, MAPE inf), so it is refused like float8_e4m3fn, torch's float8 and Keras."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]])
    y_pred = np.array([[0.25, 0.75], [0.5, 0.5]])
    for cls in (gpumetrics.KLDivergence, gpumetrics.MeanAbsolutePercentageError, gpumetrics.AUC):
        metric = cls(device=device)
        metric.update_state(y_true, y_pred)
        before = float(to_host(metric.result()))
        for args, name in (((y_true, y_pred.astype(ml_dtypes.float8_e5m2)), "y_pred"),
                           ((y_true.astype(ml_dtypes.float8_e5m2), y_pred), "y_true"),
                           ((y_true, y_pred, np.ones(2, ml_dtypes.float8_e5m2)), "sample_weight")):
            with pytest.raises(TypeError, match=f"{name} has the 8-bit float dtype float8_e5m2.*astype"):
                metric.update_state(*args)
        assert float(to_host(metric.result())) == before


def test_jax_arrays_sharded_over_cpu_devices_are_read_as_their_values():
    """A JAX array sharded over several CPU devices has no DLPack export, but NumPy reads it (a gather); it was
    refused as "a JAX array that cannot be read". Two CPU devices need XLA_FLAGS before JAX starts: a subprocess."""
    pytest.importorskip("jax")
    code = ("import numpy as np, jax, gpumetrics\n"
            "from jax.sharding import Mesh, NamedSharding, PartitionSpec as P\n"
            "mesh = Mesh(np.array(jax.devices()), ('d',))\n"
            "x = jax.device_put(np.array([[0.5], [2.0]]), NamedSharding(mesh, P('d')))\n"
            "assert len(x.devices()) == 2\n"
            "m = gpumetrics.MeanSquaredError()\n"
            "m.update_state(np.zeros((2, 1)), x)\n"
            "print(float(m.result()), m.device)\n")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [str((0.25 + 4.0) / 2), "cpu"]
