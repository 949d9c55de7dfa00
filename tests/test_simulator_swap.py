"""Numba's CUDA simulator is not thread-safe in two places its threads meet (the swap of the ``cuda`` module per
device-function call, the first allocation of a static shared array); ``gpumetrics._kernels._shared.simulator``
fixes both. Simulator-only: a real GPU has neither."""
import sys

import numpy as np
import pytest

from conftest import REAL_GPU

pytestmark = pytest.mark.skipif(REAL_GPU, reason="the swap exists only in Numba's CUDA simulator")


def test_the_cuda_module_stays_swapped_until_the_last_thread_leaves():
    """Two threads inside device functions of one module: the first to return must not put the real module back
    (numba's own swap does, and the other thread then fails on ``cuda.atomic``)."""
    from numba import cuda

    from gpumetrics._kernels._shared.simulator import swapped_cuda_module

    module_globals = {"cuda": cuda}
    fn = eval("lambda: None", module_globals)
    fake = object()
    first, second = swapped_cuda_module(fn, fake), swapped_cuda_module(fn, fake)
    first.__enter__()
    second.__enter__()
    assert module_globals["cuda"] is fake
    first.__exit__(None, None, None)
    assert module_globals["cuda"] is fake, "the real module came back while a thread was still inside"
    second.__exit__(None, None, None)
    assert module_globals["cuda"] is cuda


def test_the_simulator_uses_the_counted_swap():
    from numba.cuda.simulator import kernel

    from gpumetrics._kernels._shared import launch, simulator

    assert launch.SIMULATOR and kernel.swapped_cuda_module is simulator.swapped_cuda_module


def test_weighted_auc_survives_thread_switches_inside_device_functions():
    """End to end: thread switches every microsecond. Numba's swap failed 1 run in 5 here (``AttributeError:
    module 'numba.cuda' has no attribute 'atomic'``), and its shared arrays gave a wrong AUC on the first run;
    every run equals the CPU twin."""
    import gpumetrics

    rng = np.random.default_rng(0)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(5):
            y_true, y_pred, weight = rng.integers(0, 2, 300), rng.random(300), rng.random(300)
            results = []
            for device in ("cuda", "cpu"):
                metric = gpumetrics.AUC(device=device)
                metric.update_state(y_true, y_pred, sample_weight=weight)
                results.append(float(metric.result()))
            assert results[0] == pytest.approx(results[1], rel=1e-12)
    finally:
        sys.setswitchinterval(interval)


def test_static_shared_arrays_are_one_per_call_site():
    """The locked ``shared.array`` keeps numba's rule: the same line gives the same array, another line another."""
    from numba.cuda.simulator.kernelapi import FakeCUDAShared

    shared = FakeCUDAShared(0)

    def staged():
        return shared.array(4, np.float64)

    first, again, other = staged(), staged(), shared.array(4, np.float64)
    assert first is again and other is not first and first.shape == (4,) and first.dtype == np.float64
