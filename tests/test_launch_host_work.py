"""The host work of one update on the cuda backend, counted so that it cannot creep back: a repeated update of
the same shapes makes one kernel launch per primitive pass, builds no new device array (thresholds, parameters,
scratch) and, on a GPU, finds its compiled kernel in the launch plans instead of typing its arguments again."""
import numpy as np
import pytest

from conftest import REAL_GPU, on_device

import gpumetrics
from gpumetrics._kernels._shared import launch as launch_module, raw_launch

ROOMS = ("error_sums", "row_sums", "threshold_histogram", "weighted_bincount", "moments")
rng = np.random.default_rng(3)
LABELS, SCORES, WEIGHTS = rng.integers(0, 2, 64), rng.random(64).astype(np.float32), rng.random(64)
IDS, ROWS = rng.integers(0, 4, 64), rng.random((64, 4)).astype(np.float32)
#: (metric factory, update arguments, kernel launches per update)
CASES = {
    "MeanSquaredError": (gpumetrics.MeanSquaredError, (SCORES[:, None], SCORES[::-1, None]), 1),
    "AUC": (gpumetrics.AUC, (LABELS, SCORES), 1),
    "AUC-weighted": (gpumetrics.AUC, (LABELS, SCORES, WEIGHTS), 1),
    "Hinge": (gpumetrics.Hinge, (LABELS[:, None], SCORES[:, None]), 2),  # the label pass, then the hinge pass
    "SparseCategoricalAccuracy": (gpumetrics.SparseCategoricalAccuracy, (IDS, ROWS), 1),
    "MeanIoU": (lambda device: gpumetrics.MeanIoU(num_classes=4, device=device), (IDS, IDS[::-1]), 1),
    "R2Score": (gpumetrics.R2Score, (ROWS, ROWS[::-1]), 1),
}


@pytest.mark.parametrize("name", CASES)
def test_repeated_update_launches_once_and_allocates_nothing(name, monkeypatch):
    factory, args, launches = CASES[name]
    metric = factory(device="cuda")
    args = tuple(on_device(a, "cuda") for a in args)
    metric.update_state(*args)  # the first update builds what it keeps: thresholds, parameters, scratch, plans
    calls = []
    real_launch = launch_module.launch

    def counting_launch(kernel, *rest):
        calls.append(kernel)
        return real_launch(kernel, *rest)

    import importlib

    for room in ROOMS:
        monkeypatch.setattr(importlib.import_module(f"gpumetrics._kernels.{room}.cuda"), "launch", counting_launch)
    kept = (len(metric._device_arrays), len(launch_module._scratch), len(raw_launch._plans))
    metric.update_state(*args)
    assert len(calls) == launches, f"{name}: {len(calls)} launches per update, expected {launches}"
    assert (len(metric._device_arrays), len(launch_module._scratch), len(raw_launch._plans)) == kept, (
        f"{name}: a repeated update built device arrays, scratch or launch plans again")
    if REAL_GPU:
        assert kept[2] > 0, "no launch plan was kept on the GPU"


@pytest.mark.skipif(not REAL_GPU, reason="the raw launch runs on a GPU only (the simulator runs kernels itself)")
@pytest.mark.parametrize("name", CASES)
def test_raw_launch_matches_numba_cuda_launch(name, monkeypatch):
    """The raw launch's packed parameters mean what numba-cuda's own launch passes: same states, every room."""
    factory, args, _ = CASES[name]
    args = tuple(on_device(a, "cuda") for a in args)
    states = {}
    for mode in ("numba", "raw"):
        monkeypatch.setattr(launch_module, "CUDA_LAUNCH", mode)
        metric = factory(device="cuda")
        for _ in range(3):
            metric.update_state(*args)
        states[mode] = metric.state_dict()
    assert states["raw"].keys() == states["numba"].keys()
    for key in (k for k in states["raw"] if not k.startswith("__")):  # not the class and fingerprint entries
        np.testing.assert_allclose(states["raw"][key], states["numba"][key], rtol=1e-12, atol=0, err_msg=key)
    assert all(plan.checked for plan in raw_launch._plans.values()) or not raw_launch._plans, (
        "the driver could not confirm a plan's parameter layout")


def test_parameter_layout_is_numba_kernel_convention():
    """5 + 2 ndim 8-byte parameters per array, one per scalar of its own size: what cuLaunchKernel must get."""
    import numba

    arrays = [np.zeros(3, np.float32), np.zeros((2, 3)), np.zeros((2, 3, 4), np.int32)]
    scalars = [1, 2.0, True, np.float32(1), np.int32(2)]
    fmt, sizes = raw_launch.parameter_layout([numba.typeof(a) for a in arrays + scalars])
    assert sizes == [8] * (7 + 9 + 11) + [8, 8, 1, 4, 4]
    import struct

    packed = struct.pack(fmt, *([0] * 27 + scalars))
    assert len(packed) == 8 * len(sizes)
    assert struct.unpack_from("<f", packed, 8 * 30)[0] == 1.0 and struct.unpack_from("<i", packed, 8 * 31)[0] == 2
    with pytest.raises(TypeError, match="no raw launch"):
        raw_launch.parameter_layout([numba.typeof(1j)])
