"""What the kernel tests share: a twin (one implementation of a primitive) and the pytest params of every twin.

Every ``test_*_kernel.py`` subclasses ``Twin`` with a ``run`` that applies its
primitive to host-built arrays, and parametrizes its ``twin`` fixture with
``twin_params(Twin, "<primitive>")`` (this is the one twin table): the CPU twin; the CUDA twin in Numba's
simulator (``NUMBA_ENABLE_CUDASIM=1``, which ``conftest.py`` sets when there is
no GPU), or with CuPy on a real GPU; otherwise a skipped ``cuda`` param.
"""
import ctypes
import importlib

import numba
import numpy as np
import pytest

from conftest import REAL_GPU
from gpumetrics._kernels._shared import workers


class Twin:
    """One implementation of the primitive and how to hand it host-built arrays."""

    def __init__(self, name, module, xp=np):
        self.name = name
        self.module = module
        self.xp = xp

    def put(self, a):
        """``a`` on the twin's device, strides (stride 0, negative, transposed) kept."""
        if a is None or self.xp is np:
            return a
        low, high = np.lib.array_utils.byte_bounds(a)
        span = np.frombuffer((ctypes.c_char * (high - low)).from_address(low), dtype=np.uint8)
        device = self.xp.asarray(span)
        return self.xp.ndarray(a.shape, a.dtype, memptr=device.data + (a.ctypes.data - low), strides=a.strides)

    def host(self, a):
        return a if self.xp is np else self.xp.asnumpy(a)


def gpu_twin(twin_class, primitive):
    """``twin_class``'s CUDA twin of ``primitive`` on the real GPU, with CuPy arrays (for tests that need a GPU)."""
    import cupy

    return twin_class("cuda", importlib.import_module(f"gpumetrics._kernels.{primitive}.cuda"), cupy)


def twin_params(twin_class, primitive):
    """``pytest.param``s of ``twin_class(name, module[, xp])`` for the twins of ``primitive`` (a module name under
    ``gpumetrics._kernels.cpu`` and ``.cuda``), with ids ``cpu`` and ``cuda-simulator``, ``cuda-gpu`` or ``cuda``
    (skipped: no GPU with CuPy and no simulator)."""
    cpu_module = importlib.import_module(f"gpumetrics._kernels.{primitive}.cpu")
    twins = [pytest.param(twin_class("cpu", cpu_module), id="cpu")]
    if numba.config.ENABLE_CUDASIM:
        cuda_module = importlib.import_module(f"gpumetrics._kernels.{primitive}.cuda")
        twins.append(pytest.param(twin_class("cuda", cuda_module), id="cuda-simulator"))
    elif REAL_GPU:
        twins.append(pytest.param(gpu_twin(twin_class, primitive), id="cuda-gpu"))
    else:
        twins.append(pytest.param(None, id="cuda", marks=pytest.mark.skip(
            reason="no GPU with CuPy; set NUMBA_ENABLE_CUDASIM=1 to run the CUDA kernel in the simulator")))
    return twins


def on_threads(monkeypatch, threads):
    """Every later CPU kernel call spread over ``threads`` threads (``workers.run_items``), however small, one item
    or more per grab."""
    monkeypatch.setattr(workers, "ELEMENTS_PER_THREAD", 1)
    monkeypatch.setattr(workers, "ELEMENTS_PER_GRAB", 1)
    monkeypatch.setattr(workers, "thread_count", lambda: threads)
