"""Inputs from anywhere: lists, scalars, NumPy, PyTorch, JAX, Numba; and the device-mismatch policy."""
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


def test_jax_cpu_arrays(device):
    jnp = pytest.importorskip("jax.numpy")
    assert mse(jnp.asarray(Y_TRUE), jnp.asarray(Y_PRED), device) == EXPECTED


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
