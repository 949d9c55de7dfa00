"""The host work of one update on the cuda backend, counted so that it cannot creep back: a repeated update of
the same shapes makes one kernel launch per primitive pass, builds no new device array (thresholds, parameters,
scratch) and, on a GPU, finds its compiled kernel in the launch plans instead of typing its arguments again."""
import numpy as np
import pytest

from conftest import REAL_GPU, on_device

import gpumetrics
from gpumetrics._kernels._shared import launch as launch_module

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
    kept = (len(metric._device_arrays), len(launch_module._scratch), len(launch_module._plans))
    metric.update_state(*args)
    assert len(calls) == launches, f"{name}: {len(calls)} launches per update, expected {launches}"
    assert (len(metric._device_arrays), len(launch_module._scratch), len(launch_module._plans)) == kept, (
        f"{name}: a repeated update built device arrays, scratch or launch plans again")
    if REAL_GPU:
        assert kept[2] > 0, "no launch plan was kept on the GPU"
