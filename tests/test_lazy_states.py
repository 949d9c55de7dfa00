"""States sized by the first batch (``add_state(name, (7, None))``): built in the base class from a batch, a state
dict or a merge, and unbuilt again by a call that raises, whichever metric declares them (issue 11)."""
import numpy as np
import pytest

from cases import CASES
from conftest import to_host

import gpumetrics

BY_ID = {case.id: case for case in CASES}
#: every row of the case table whose metric sizes a state from its first batch, and the primitive it calls
LAZY = {"AUC-multi_label-label_weights": "threshold_histogram", "F1Score": "threshold_histogram",
        "F1Score-macro-threshold": "threshold_histogram", "FBetaScore-micro": "threshold_histogram",
        "FBetaScore-weighted": "threshold_histogram", "R2Score": "moments", "R2Score-raw_values": "moments"}


class ColumnMeans(gpumetrics.Metric):
    """A user's metric with a state sized by the batch: per-column weighted sums and weights, and a row count."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rows = self.add_state("rows", (), "int64", count=True)
        self.sums = self.add_state("sums", (2, None))

    def update_state(self, values, sample_weight=None):
        values = self.asarray(values, "values")
        self.build_states(values.shape[1])
        if values.shape[1] != self.sums.shape[1]:
            raise ValueError(f"values of shape {values.shape}: {self.sums.shape[1]} columns expected")
        weight = self.xp.ones(len(values)) if sample_weight is None else self.asarray(sample_weight, "sample_weight")
        if weight.shape != values.shape[:1]:  # checked after the build, so a refusal here must unbuild
            raise ValueError(f"sample_weight of shape {weight.shape} does not fit values of shape {values.shape}")
        self.sums.assign_add(self.xp.stack([weight @ values, self.xp.full(values.shape[1], weight.sum())]))
        self.rows.assign_add(len(values))

    def result(self):
        return self.sums[0] / self.sums[1]


def draw(rng, rows=6, columns=3):
    return rng.normal(size=(rows, columns)), rng.uniform(0, 2, size=rows)


def means(batches):
    values, weights = np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    return np.average(values, axis=0, weights=weights)


def test_a_state_of_unknown_size_waits_for_the_first_batch(device, rng):
    metric = ColumnMeans(device=device)
    assert not metric.is_built and metric.sums is None
    assert [v.name for v in metric.variables] == ["rows"] and "sums" not in metric.state_dict()
    batches = [draw(rng) for _ in range(3)]
    for values, weight in batches:
        metric.update_state(values, weight)
    assert metric.is_built and metric.sums.shape == (2, 3) and [v.name for v in metric.variables] == ["rows", "sums"]
    np.testing.assert_allclose(to_host(metric.result()), means(batches), rtol=1e-12)
    metric.reset_state()
    assert metric.sums.shape == (2, 3) and not np.any(to_host(metric.sums.value))  # reset keeps the built size


def test_a_state_dict_or_a_merge_builds_an_unbuilt_metric(device, rng):
    batches = [draw(rng) for _ in range(4)]
    parts = [ColumnMeans(device=device) for _ in range(2)]
    for i, (values, weight) in enumerate(batches):
        parts[i % 2].update_state(values, weight)
    merged, loaded = ColumnMeans(), ColumnMeans(device=device)
    merged.merge_state([ColumnMeans(), *parts])  # an unbuilt part first: the first built one sizes the states
    loaded.load_state_dict(parts[0].state_dict())
    loaded.merge_state(parts[1])
    for metric in (merged, loaded):
        assert metric.is_built and metric.sums.shape == (2, 3) and int(metric.rows) == 24
        np.testing.assert_allclose(to_host(metric.result()), means(batches), rtol=1e-12)


def test_an_unbuilt_state_dict_loads_into_an_unbuilt_metric(device):
    metric = ColumnMeans(device=device)
    metric.load_state_dict(ColumnMeans().state_dict())
    assert not metric.is_built and metric.sums is None


def test_a_refused_first_batch_of_a_users_metric_unbuilds_it(device, rng):
    metric = ColumnMeans(device=device)
    values, weight = draw(rng)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(5,\)"):
        metric.update_state(values, weight[:5])
    assert not metric.is_built and metric.sums is None and "sums" not in metric.state_dict()
    batches = [draw(rng, columns=2) for _ in range(2)]
    for b in batches:
        metric.update_state(*b)
    np.testing.assert_allclose(to_host(metric.result()), means(batches), rtol=1e-12)


def test_a_none_dimension_is_declared_once():
    metric = ColumnMeans()
    with pytest.raises(ValueError, match="already has a state named 'sums'"):
        metric.add_state("sums", (None,))
    with pytest.raises(ValueError, match="initializer must be"):
        metric.add_state("other", (None,), initializer="twos")


def spy_on_builds(metric, monkeypatch):
    """Record the sizes ``metric`` is built to: proof that a refused call built the states it must then unbuild."""
    sizes = []
    build = metric.build_states

    def recording(size):
        build(size)
        sizes.append(size)

    monkeypatch.setattr(metric, "build_states", recording)
    return sizes


def good_batches_match_the_oracle(case, metric, rng):
    batches = [case.batch(rng, case.layouts[-1], weighted=True) for _ in range(3)]
    for b in batches:
        case.update(metric, b)
    np.testing.assert_allclose(to_host(metric.result()), case.oracle(batches), rtol=case.rtol, atol=1e-7)


@pytest.mark.parametrize("case_id", LAZY)
def test_a_first_batch_refused_after_the_build_leaves_the_metric_unbuilt(case_id, device, rng, monkeypatch):
    """Bad weights are found once the batch has told the size (the states are built): the call unbuilds them."""
    case = BY_ID[case_id]
    metric = case.make(device)
    sizes = spy_on_builds(metric, monkeypatch)
    batch = case.batch(rng, case.layouts[-1], weighted=True)
    with pytest.raises(ValueError, match="sample_weight"):
        case.update(metric, {**batch, "sample_weight": batch["sample_weight"][:-1]})
    assert sizes == [batch["y_pred"].shape[1]] and not metric.is_built
    assert sorted(metric.state_dict()) == sorted(case.make(device).state_dict())
    good_batches_match_the_oracle(case, metric, rng)


@pytest.mark.parametrize("case_id", LAZY)
def test_a_first_batch_whose_kernel_fails_leaves_the_metric_unbuilt(case_id, device, rng, monkeypatch):
    case = BY_ID[case_id]
    metric = case.make(device)
    sizes = spy_on_builds(metric, monkeypatch)

    def fail(*args, **kwargs):
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(metric.backend, LAZY[case_id], fail)
    batch = case.batch(rng, case.layouts[-1], weighted=True)
    with pytest.raises(RuntimeError, match="kernel failed"):
        case.update(metric, batch)
    monkeypatch.undo()
    assert sizes == [batch["y_pred"].shape[1]] and not metric.is_built
    good_batches_match_the_oracle(case, metric, rng)


@pytest.mark.parametrize("case_id", LAZY)
def test_a_refused_first_batch_leaves_an_auto_metric_unplaced_and_unbuilt(case_id, rng, monkeypatch):
    case = BY_ID[case_id]
    metric = case.make("auto")
    sizes = spy_on_builds(metric, monkeypatch)
    batch = case.batch(rng, case.layouts[-1], weighted=True)
    with pytest.raises(ValueError, match="sample_weight"):
        case.update(metric, {**batch, "sample_weight": batch["sample_weight"][:-1]})
    assert sizes and metric.device == "auto" and not metric.is_built


@pytest.mark.parametrize("case_id", ["AUC-multi_label-label_weights", "F1Score"])
def test_states_of_one_metric_are_built_to_one_size(case_id):
    """A state dict whose histograms disagree on the label count is refused by the name of the one that differs."""
    case = BY_ID[case_id]
    built = case.make("cpu")
    built.build_states(4)
    state = built.state_dict()
    state["negative_histogram"] = np.zeros((state["negative_histogram"].shape[0], 3))
    metric = case.make("auto")
    with pytest.raises(ValueError, match=r"state 'negative_histogram' needs shape \(\d+, 4\); got \(\d+, 3\)"):
        metric.load_state_dict(state)
    assert metric.device == "auto" and not metric.is_built
