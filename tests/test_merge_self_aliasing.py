"""``a.merge_state([a, a])`` folds a's state three times (a + a + a), as merging two clones does: each fold reads
the state ``a`` had on entry, not the one the previous fold already changed."""
import copy

import numpy as np
import pytest

from conftest import to_host

import gpumetrics


def _batch(metric):
    if type(metric) in (gpumetrics.Sum, gpumetrics.Mean):
        metric.update_state([1.0, 2.0], sample_weight=[1.0, 3.0])
    else:
        metric.update_state([[1.0], [1.0], [0.0], [1.0]], [[0.9], [0.2], [0.7], [0.6]], sample_weight=[1.0, 2.0, 3.0, 0.5])


MAKERS = {
    "Sum": gpumetrics.Sum, "TruePositives": gpumetrics.TruePositives, "AUC": gpumetrics.AUC,
    "MeanSquaredError": gpumetrics.MeanSquaredError, "R2Score": gpumetrics.R2Score, "ExactAUC": gpumetrics.ExactAUC,
}


def _states(metric):
    return {k: np.asarray(v) for k, v in metric.state_dict().items() if not k.startswith("__")}


@pytest.mark.parametrize("listing", ["self-twice", "self-thrice", "shallow-copies"])
@pytest.mark.parametrize("name", list(MAKERS))
def test_a_metric_merged_with_itself_folds_its_entry_state_each_time(name, listing, device):
    make = lambda: MAKERS[name](device=device)  # noqa: E731
    a = make()
    _batch(a)
    others = {"self-twice": [a, a], "self-thrice": [a, a, a], "shallow-copies": [copy.copy(a), copy.copy(a)]}[listing]
    clones = []
    for _ in others:
        clone = make()
        _batch(clone)
        clones.append(clone)
    expected = make()
    _batch(expected)
    expected.merge_state(clones)
    a.merge_state(others)
    got, want = _states(a), _states(expected)
    assert got.keys() == want.keys()
    for key in want:
        if want[key].dtype.kind in "fc":
            np.testing.assert_allclose(got[key], want[key], rtol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(np.sort(got[key], axis=None), np.sort(want[key], axis=None), err_msg=key)
    np.testing.assert_allclose(np.asarray(to_host(a.result()), float), np.asarray(to_host(expected.result()), float),
                               rtol=1e-6)


def test_a_collection_merged_with_itself_folds_its_entry_state_each_time():
    c = gpumetrics.MetricCollection([gpumetrics.TruePositives(), gpumetrics.FalsePositives()])
    c.update_state([1, 1, 0], [0.9, 0.8, 0.7])
    c.merge_state([c, c])
    assert {k: float(v) for k, v in c.result().items()} == {"true_positives": 6.0, "false_positives": 3.0}
