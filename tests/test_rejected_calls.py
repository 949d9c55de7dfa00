"""A rejected call (``update_state``, ``merge_state``, ``load_state_dict``) leaves the metric exactly as it was:
its states, its device (``auto`` stays unplaced) and, for metrics that size a state from their first batch,
its unbuilt status, so that the next valid call sees a fresh metric (issue 12, defect 4)."""
import numpy as np
import pytest

from conftest import to_host

import gpumetrics

#: metrics that size a state from what they see first (labels, outputs), fed batches of ``labels`` columns
LAZY = {
    "AUC-multi_label": lambda **kw: gpumetrics.AUC(multi_label=True, num_thresholds=5, **kw),
    "F1Score": lambda **kw: gpumetrics.F1Score(threshold=0.5, **kw),
    "FBetaScore": lambda **kw: gpumetrics.FBetaScore(beta=2.0, **kw),
    "R2Score": lambda **kw: gpumetrics.R2Score(class_aggregation=None, **kw),
    "ExactAUC-multi_label": lambda **kw: gpumetrics.ExactAUC(multi_label=True, **kw),
}
KERNEL = {"AUC-multi_label": "threshold_histogram", "F1Score": "threshold_histogram",
          "FBetaScore": "threshold_histogram", "R2Score": "moments"}


def batch(labels, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, size=(8, labels)).astype(np.float64), rng.uniform(size=(8, labels)))


def seen(metric, labels):
    """A metric of ``LAZY`` that saw one batch of ``labels`` columns."""
    metric.update_state(*batch(labels))
    return metric


def looks(metric):
    """What a rejected call must not change: the device, the states that exist and their values."""
    return metric.device, {k: v.tolist() for k, v in metric.state_dict().items()}


def assert_fresh_after(metric, make):
    """The next valid 5-column batch gives the result of a fresh metric that saw only it."""
    fresh = make(device=metric.device if metric.device != "auto" else "auto")
    for m in (metric, fresh):
        m.update_state(*batch(5, seed=1))
    np.testing.assert_array_equal(to_host(metric.result()), to_host(fresh.result()))


@pytest.mark.parametrize("target", ["auto", "backend"])
@pytest.mark.parametrize("name", LAZY)
def test_a_rejected_state_dict_builds_and_places_nothing(name, target, device):
    make = LAZY[name]
    three = seen(make(device=device), 3)
    metric = make() if target == "auto" else make(device=device)
    before = looks(metric)
    with pytest.raises(ValueError, match="bogus"):
        metric.load_state_dict(dict(three.state_dict(), bogus=np.zeros(1)))
    assert looks(metric) == before
    assert_fresh_after(metric, make)


@pytest.mark.parametrize("name", LAZY)
def test_a_rejected_merge_builds_and_places_nothing(name):
    make = LAZY[name]
    on_cpu, on_cuda = seen(make(device="cpu"), 3), seen(make(device="cuda"), 3)
    for others in ([on_cpu, on_cuda], [on_cuda, on_cpu]):
        metric = make()
        before = looks(metric)
        with pytest.raises(ValueError, match="cannot merge a metric on"):
            metric.merge_state(others)
        assert looks(metric) == before == ("auto", before[1])
        assert_fresh_after(metric, make)


def test_a_fresh_metric_that_fails_to_merge_stays_unplaced():
    parts = [gpumetrics.Mean(device="cuda"), gpumetrics.Mean(device="cpu")]
    for part in parts:
        part.update_state([1.0, 3.0])
    total = gpumetrics.Mean()
    with pytest.raises(ValueError, match="cannot merge a metric on cpu into one on cuda"):
        total.merge_state(parts)
    assert total.device == "auto"
    total.merge_state(parts[1:])
    assert total.device == "cpu" and float(total.result()) == 2.0


@pytest.mark.parametrize("name", LAZY)
def test_an_update_that_fails_in_its_kernel_builds_nothing(name, device, monkeypatch):
    if name not in KERNEL:
        pytest.skip("float scores take no kernel: ExactAUC appends their keys with array math")
    make = LAZY[name]
    metric = make(device=device)
    before = looks(metric)

    def fail(*args, **kwargs):
        raise RuntimeError("kernel failed")

    monkeypatch.setattr(metric._backend, KERNEL[name], fail)
    with pytest.raises(RuntimeError, match="kernel failed"):
        metric.update_state(*batch(3))
    monkeypatch.undo()
    assert looks(metric) == before
    assert_fresh_after(metric, make)


@pytest.mark.parametrize("make", [gpumetrics.MeanSquaredError, gpumetrics.AUC, lambda: gpumetrics.MeanIoU(2)],
                         ids=["MeanSquaredError", "AUC", "MeanIoU"])
def test_a_rejected_first_batch_leaves_an_auto_metric_unplaced(make):
    metric = make()
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        metric.update_state(np.zeros((3, 1)), np.zeros((4, 1)))
    assert metric.device == "auto"
