"""Decide the CUDA simulator before anything imports numba, and parametrize tests over every backend found.

With a real GPU (CuPy sees a device) the ``cuda`` backend runs the kernels on
it; otherwise ``NUMBA_ENABLE_CUDASIM=1`` runs the same kernels in Numba's
simulator and the backend is reported as ``cuda-sim``.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "numpy")


def _real_gpu():
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device: all mean "no GPU"
        return False


REAL_GPU = os.environ.get("NUMBA_ENABLE_CUDASIM") != "1" and _real_gpu()
if not REAL_GPU:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

import numpy as np  # noqa: E402
import pytest  # noqa: E402

#: (pytest id, metric ``device=`` argument)
BACKENDS = [("numpy", "cpu"), ("cuda" if REAL_GPU else "cuda-sim", "cuda")]


@pytest.fixture(params=[device for _, device in BACKENDS], ids=[name for name, _ in BACKENDS])
def device(request):
    """The ``device=`` argument of a metric, once per backend."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261124)


def to_host(x):
    """A NumPy copy of a result (CuPy on a GPU)."""
    return x.get() if hasattr(x, "get") and not isinstance(x, np.ndarray) else np.asarray(x)  # synchronize!


def on_device(x, device):
    """A batch array where the metric's state lives (CuPy on a real GPU, NumPy otherwise)."""
    if device == "cuda" and REAL_GPU:
        import cupy

        return cupy.asarray(x)
    return x
