"""The backend interface as metrics use it: ``sums`` dispatches a kind to its kernel twin by the kind's room,
``merge_moments`` is the device's twin (the CUDA merge kernel on cuda / cuda-sim), and ``Metric.blank`` gives an
unplaced copy, and ``distributed.sync`` remembers verified groups without touching the metric; each against a
float64 NumPy or scikit-learn oracle on every backend."""
import importlib

import numpy as np
import pytest
from sklearn.metrics import r2_score

from conftest import on_device, to_host

import gpumetrics
from gpumetrics._kernels.error_sums.rules import KINDS as ERROR_KINDS
from gpumetrics._kernels.row_sums.rules import KINDS as ROW_KINDS
from gpumetrics.backends import resolve
from gpumetrics.distributed import Local, sync


def _zeros(backend):
    return backend.xp.zeros(1), backend.xp.zeros(1)


def test_sums_runs_an_elementwise_kind_by_the_error_sums_rules(device, rng):
    backend = resolve(device)
    t, p, w = rng.normal(size=(9, 3)), rng.normal(size=(9, 3)), rng.uniform(size=9)
    total, weight = _zeros(backend)
    for _ in range(2):  # accumulates
        backend.sums(ERROR_KINDS["squared_error"], on_device(t, device), on_device(p, device), on_device(w, device),
                     total, weight, 0.5, 2.0)
    np.testing.assert_allclose(to_host(total)[0], 2 * 0.5 * np.sum(w[:, None] * (t - p) ** 2), rtol=1e-12)
    np.testing.assert_allclose(to_host(weight)[0], 2 * 2.0 * w.sum(), rtol=1e-12)


def test_sums_runs_a_row_kind_with_one_weight_per_group_of_rows(device, rng):
    backend = resolve(device)
    t, p, w = rng.uniform(size=(8, 4)), rng.normal(size=(8, 4)), rng.uniform(size=4)
    total, weight = _zeros(backend)
    backend.sums(ROW_KINDS["categorical_hinge"], on_device(t, device), on_device(p, device), on_device(w, device),
                 total, weight, 1.0, 1.0, None, 2)
    hinge = np.maximum(np.max((1 - t) * p, axis=1) - np.sum(t * p, axis=1) + 1, 0)
    np.testing.assert_allclose(to_host(total)[0], np.sum(np.repeat(w, 2) * hinge), rtol=1e-12)
    np.testing.assert_allclose(to_host(weight)[0], w.sum(), rtol=1e-12)


def test_sums_refuses_a_group_for_an_elementwise_kind_and_a_kind_by_name(device):
    backend = resolve(device)
    total, weight = _zeros(backend)
    y = on_device(np.ones((4, 1)), device)
    with pytest.raises(ValueError, match="group must be 1 for the elementwise kind squared_error; got 2"):
        backend.sums(ERROR_KINDS["squared_error"], y, y, None, total, weight, 1.0, 1.0, None, 2)
    with pytest.raises(TypeError, match="kind must be a Kind of the error_sums or row_sums rules; got 'hinge'"):
        backend.sums("hinge", y, y, None, total, weight, 1.0, 1.0)
    assert to_host(total)[0] == 0 and to_host(weight)[0] == 0


def _spy_merges(device, monkeypatch):
    """Record each ``"moments"`` merge: the CUDA merge kernel's launches, or the CPU twin's calls."""
    seen = []
    if device == "cuda":
        room = importlib.import_module("gpumetrics._kernels.moments.cuda")
        real = room.launch

        def launch(kernel, *rest):
            seen.append(kernel)
            return real(kernel, *rest)

        monkeypatch.setattr(room, "launch", launch)
        return seen, [room.merge_moments_kernel]
    backend = resolve("cpu")
    twin = backend.merge_moments

    def merge(array, other):
        seen.append("cpu")
        return twin(array, other)

    monkeypatch.setattr(type(backend), "merge_moments", staticmethod(merge))
    return seen, ["cpu"]


def test_r2_merge_runs_the_merge_twin_of_the_device(device, monkeypatch, rng):
    """On cuda-sim (and a GPU) the CUDA merge kernel folds the states; on the CPU its njit twin. Both give
    scikit-learn's weighted R² of the whole stream, over several updates per part."""
    parts = [gpumetrics.R2Score(device=device) for _ in range(3)]
    batches = [(rng.normal(size=(7, 2)) + 50, rng.normal(size=(7, 2)) + 50, rng.uniform(size=7)) for _ in range(6)]
    for i, (t, p, w) in enumerate(batches):
        parts[i % 3].update_state(on_device(t, device), on_device(p, device), sample_weight=on_device(w, device))
    seen, expected = _spy_merges(device, monkeypatch)
    merged = parts[0].copy()
    merged.merge_state(parts[1:])
    assert seen == expected * 2, f"merges ran {seen}; expected the {device} twin twice"
    ordered = [batches[i] for i in (0, 3, 1, 4, 2, 5)]
    oracle = r2_score(*(np.concatenate([b[k] for b in ordered]) for k in (0, 1)),
                      sample_weight=np.concatenate([b[2] for b in ordered]))
    np.testing.assert_allclose(float(merged.result()), oracle, rtol=1e-6)


def test_blank_has_the_configuration_and_neither_state_nor_device(device, rng):
    metric = gpumetrics.MeanIoU(num_classes=3, ignore_class=0, name="iou", device=device)
    t, p = rng.integers(0, 3, 20), rng.integers(0, 3, 20)
    metric.update_state(on_device(t, device), on_device(p, device))
    before = metric.state_dict()
    blank = metric.blank()
    assert type(blank) is type(metric) and blank.get_config() == metric.get_config()
    assert blank.device == "auto" and not blank.is_placed
    assert all(np.all(v.numpy() == 0) for v in blank.variables)
    blank.update_state(on_device(t[:10], device), on_device(p[:10], device))
    fresh = gpumetrics.MeanIoU(num_classes=3, ignore_class=0, device=device)
    fresh.update_state(on_device(t[:10], device), on_device(p[:10], device))
    assert blank.device == resolve("auto", on_device(t, device)).device  # an auto metric follows its data
    np.testing.assert_array_equal(blank.state_dict()["total_confusion_matrix"], fresh.state_dict()["total_confusion_matrix"])
    np.testing.assert_array_equal(metric.state_dict()["total_confusion_matrix"], before["total_confusion_matrix"])  # the original is untouched


def test_blank_of_an_unbuilt_metric_builds_from_its_own_first_batch(device, rng):
    metric = gpumetrics.R2Score(device=device)
    metric.update_state(on_device(rng.normal(size=(5, 3)), device), on_device(rng.normal(size=(5, 3)), device))
    blank = gpumetrics.R2Score().blank()
    assert not blank.is_placed and not blank.is_built
    t, p = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    blank.update_state(on_device(t, device), on_device(p, device))
    assert blank.is_built and blank.is_placed and metric.blank().is_built
    np.testing.assert_allclose(float(blank.result()), r2_score(t, p), rtol=1e-6)


class _CountingLocal(Local):
    def __init__(self):
        self.calls = 0

    def allgather(self, buffer):
        self.calls += 1
        return super().allgather(buffer)


class _ComparableMSE(gpumetrics.MeanSquaredError):
    """A user subclass with ``__eq__`` (so unhashable): ``sync`` remembers its verified groups all the same."""

    def __eq__(self, other):
        return isinstance(other, _ComparableMSE) and self.name == other.name


def test_sync_checks_the_headers_once_per_metric_and_group(device, rng):
    metric = _ComparableMSE(device=device)
    t, p, w = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), rng.uniform(size=6)
    metric.update_state(on_device(t, device), on_device(p, device), sample_weight=on_device(w, device))
    group = _CountingLocal()
    first = sync(metric, group)
    assert group.calls == 2  # the 32-byte records, then the states
    second = sync(metric, group)
    assert group.calls == 3
    expected = np.sum(w[:, None] * (t - p) ** 2) / (2 * w.sum())
    for synced in (first, second):
        np.testing.assert_allclose(float(synced.result()), expected, rtol=1e-6)
