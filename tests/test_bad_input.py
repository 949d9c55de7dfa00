"""Bad input raises ValueError / TypeError naming the argument and what was seen, and changes no state."""
import numpy as np
import pytest

from cases import CASES
from conftest import to_host

import gpumetrics

GOOD = np.arange(6, dtype=np.float32).reshape(3, 2)


def state_of(metric):
    return {k: v.copy() for k, v in metric.state_dict().items()}


BAD_PAIRS = [
    ("mismatched shapes", GOOD, np.zeros((4, 2)), None, ValueError, r"y_true of shape \(3, 2\) and y_pred of shape \(4, 2\)"),
    ("strings", ["a", "b"], GOOD, None, TypeError, "y_true must hold .* got dtype <U1"),
    ("ragged list", [[1, 2], [3]], GOOD, None, ValueError, "y_true is not a rectangular array"),
    ("None y_pred", GOOD, None, None, TypeError, "y_pred is None"),
    ("complex", GOOD, GOOD.astype(np.complex64), None, TypeError, "y_pred must hold .* complex64"),
    ("objects", [[1, None], [2, 3], [4, 5]], GOOD, None, TypeError, "y_true must hold .* object"),
    ("empty batch", np.zeros((0, 2)), np.zeros((0, 2)), None, ValueError, r"y_pred is empty \(shape \(0, 2\)\)"),
    ("weights do not broadcast", GOOD, GOOD, np.ones(4), ValueError, r"sample_weight of shape \(4,\)"),
    ("weights of higher rank", GOOD, GOOD, np.ones((3, 2, 2)), ValueError, "sample_weight of shape"),
    ("string weights", GOOD, GOOD, ["x", "y", "z"], TypeError, "sample_weight must hold"),
    ("1-D input with per-element weights", np.ones(3), np.ones(3), np.ones(3), ValueError,
     "a 1-D input is one sample"),
]


@pytest.mark.parametrize("what,y_true,y_pred,weight,error,message", BAD_PAIRS, ids=[b[0] for b in BAD_PAIRS])
@pytest.mark.parametrize("cls", [gpumetrics.MeanSquaredError, gpumetrics.MeanAbsoluteError,
                                 gpumetrics.RootMeanSquaredError])
def test_bad_pair_input_leaves_state_unchanged(cls, what, y_true, y_pred, weight, error, message, device):
    if cls is gpumetrics.RootMeanSquaredError and what == "1-D input with per-element weights":
        pytest.skip("RMSE has no last-axis mean: a 1-D input is n samples, so per-element weights are valid")
    metric = cls(device=device)
    metric.update_state(GOOD, GOOD + 1, sample_weight=np.array([1.0, 2.0, 3.0]))
    before, result = state_of(metric), float(to_host(metric.result()))
    with pytest.raises(error, match=message):
        metric.update_state(y_true, y_pred, sample_weight=weight)
    after = state_of(metric)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert float(to_host(metric.result())) == result


@pytest.mark.parametrize("values,weight,error,message", [
    (None, None, TypeError, "values is None"),
    ("text", None, TypeError, "values must hold"),
    (np.zeros(0), None, ValueError, "values is empty"),
    (np.ones((2, 3)), np.ones(3), ValueError, r"sample_weight of shape \(3,\) does not broadcast"),
], ids=["None", "string", "empty", "weights-do-not-broadcast"])
@pytest.mark.parametrize("cls", [gpumetrics.Mean, gpumetrics.Sum])
def test_bad_values_leave_state_unchanged(cls, values, weight, error, message, device):
    metric = cls(device=device)
    metric.update_state([1.0, 2.0])
    before = state_of(metric)
    with pytest.raises(error, match=message):
        metric.update_state(values, sample_weight=weight)
    after = state_of(metric)
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_bad_device_and_dtype_arguments():
    with pytest.raises(ValueError, match="device must be one of"):
        gpumetrics.Mean(device="tpu")
    with pytest.raises(TypeError):
        gpumetrics.Mean(dtype="not-a-dtype")


def test_nan_inputs_propagate_as_in_keras(device):
    metric = gpumetrics.MeanSquaredError(device=device)
    metric.update_state([[0.0, 1.0]], [[np.nan, 1.0]])
    assert np.isnan(float(to_host(metric.result())))


BAD_THRESHOLD_INPUTS = [
    ("shapes differ", np.ones((4, 2)), np.ones((4, 3)), None, ValueError, r"y_true of shape \(4, 2\) and y_pred of shape \(4, 3\) must match"),
    ("weights do not broadcast", np.ones((4, 2)), np.ones((4, 2)), np.ones(3), ValueError, r"sample_weight of shape \(3,\)"),
    ("string labels", np.array(["a"] * 8).reshape(4, 2), np.ones((4, 2)), None, TypeError, "y_true must hold"),
    ("empty", np.ones((0, 2)), np.ones((0, 2)), None, ValueError, "y_pred is empty"),
]


@pytest.mark.parametrize("what,y_true,y_pred,weight,error,message", BAD_THRESHOLD_INPUTS,
                         ids=[b[0] for b in BAD_THRESHOLD_INPUTS])
@pytest.mark.parametrize("make", [lambda d: gpumetrics.AUC(device=d), lambda d: gpumetrics.Precision(top_k=1, device=d),
                                  lambda d: gpumetrics.Recall(class_id=1, device=d),
                                  lambda d: gpumetrics.AUC(multi_label=True, num_labels=2, device=d)],
                         ids=["AUC", "Precision-top_k", "Recall-class_id", "AUC-multi_label"])
def test_bad_threshold_input_leaves_state_unchanged(make, what, y_true, y_pred, weight, error, message, device):
    metric = make(device)
    metric.update_state(np.array([[0, 1], [1, 1]]), np.array([[0.2, 0.9], [0.6, 0.4]]))
    before = state_of(metric)
    with pytest.raises(error, match=message):
        metric.update_state(y_true, y_pred, sample_weight=weight)
    after = state_of(metric)
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("build,message", [
    (lambda: gpumetrics.Precision(thresholds=[0.5, 1.5]), r"thresholds must be floats in \[0, 1\]"),
    (lambda: gpumetrics.AUC(curve="XY"), "curve must be one of"),
    (lambda: gpumetrics.AUC(summation_method="simpson"), "summation_method must be one of"),
    (lambda: gpumetrics.AUC(num_thresholds=1), "num_thresholds must be an integer > 1"),
    (lambda: gpumetrics.AUC(num_labels=3), "num_labels is only used with multi_label=True"),
    (lambda: gpumetrics.PrecisionAtRecall(1.5), r"recall must be in the range \[0, 1\]"),
    (lambda: gpumetrics.SensitivityAtSpecificity(0.5, num_thresholds=0), "num_thresholds must be an integer > 0"),
], ids=["threshold-range", "curve", "summation", "num_thresholds", "num_labels", "recall-range", "at-num_thresholds"])
def test_bad_threshold_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_top_k_and_class_id_leave_state_unchanged(device):
    for metric, message in [(gpumetrics.Precision(top_k=5, device=device), r"top_k=5 must be in \[1, 2\]"),
                            (gpumetrics.Recall(class_id=2, device=device), "class_id=2 needs y_pred of shape")]:
        with pytest.raises(ValueError, match=message):
            metric.update_state(np.ones((3, 2)), np.full((3, 2), 0.7))
        assert not np.asarray(to_host(metric.result())).any()


def _bad_variants(case, batch):
    """``(what, batch, error, argument named in the message)``: a good batch made bad in one way."""
    values = "values" if case.takes_values else "y_pred"
    y_pred = np.asarray(batch["y_pred"])
    yield "None y_pred", {**batch, "y_pred": None}, TypeError, values
    yield "string y_pred", {**batch, "y_pred": np.full(y_pred.shape, "x")}, TypeError, values
    yield "empty batch", {k: np.asarray(v)[:0] for k, v in batch.items()}, ValueError, "empty"
    weight = np.asarray(batch["sample_weight"])
    yield "weights that do not broadcast", {**batch, "sample_weight": np.ones(weight.shape[0] + 1)}, ValueError, \
        "sample_weight"
    if not case.takes_values:
        y_true = np.asarray(batch["y_true"])
        error, named = (ValueError, "y_true") if case.validates_pairs else (Exception, "")
        yield "fewer labels than predictions", {**batch, "y_true": y_true[:-1]}, error, named


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_metric_refuses_bad_input_and_keeps_its_state(case, device, rng):
    """Each bad batch raises a ValueError / TypeError naming the argument, and no state changes."""
    metric = case.make(device)
    good = case.batch(rng, case.layouts[-1], weighted=True)
    case.update(metric, good)
    before, result = state_of(metric), np.asarray(to_host(metric.result()))
    for what, batch, error, named in _bad_variants(case, good):
        with pytest.raises(error, match=named):
            case.update(metric, batch)
        after = state_of(metric)
        assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before), what
    np.testing.assert_array_equal(np.asarray(to_host(metric.result())), result)


@pytest.mark.parametrize("case", [c for c in CASES if not c.takes_values], ids=lambda c: c.id)
def test_y_true_none_is_refused_and_changes_nothing(case, device, rng):
    """``y_true=None`` is not "the metric of plain values" (that is Mean / Sum's own path): it used to count the
    batch with ``y_true := y_pred``."""
    metric = case.make(device)
    batch = case.batch(rng, case.layouts[-1], True)
    case.update(metric, batch)
    before, result = state_of(metric), np.asarray(to_host(metric.result()), dtype=np.float64)
    with pytest.raises(TypeError, match="y_true") as raised:
        metric.update_state(None, batch["y_pred"])
    assert "y_true" in str(raised.value), f"{case.id}: the TypeError must name y_true; got {raised.value}"
    after = state_of(metric)
    assert before.keys() == after.keys(), f"{case.id}: states changed: {sorted(before)} -> {sorted(after)}"
    for k in before:
        assert before[k].tobytes() == after[k].tobytes(), f"{case.id}: state {k!r} changed by a refused y_true=None"
    np.testing.assert_array_equal(np.asarray(to_host(metric.result()), dtype=np.float64), result,
                                  err_msg=f"{case.id}: result changed by a refused y_true=None")


@pytest.mark.parametrize("cls", [gpumetrics.Mean, gpumetrics.Sum])
def test_mean_and_sum_still_take_plain_values(cls, device):
    metric = cls(device=device)
    metric.update_state([1.0, 3.0], sample_weight=[1.0, 3.0])
    assert float(to_host(metric.result())) == (2.5 if cls is gpumetrics.Mean else 10.0)


@pytest.mark.parametrize("state", [None, [1.0, 2.0], "total", 5, np.zeros(2)], ids=["None", "list", "str", "int", "array"])
@pytest.mark.parametrize("make", [lambda: gpumetrics.MeanAbsoluteError(), lambda: gpumetrics.Precision(),
                                  lambda: gpumetrics.AUC(multi_label=True), lambda: gpumetrics.F1Score(),
                                  lambda: gpumetrics.R2Score()], ids=["MAE", "Precision", "AUC-multi", "F1", "R2"])
def test_load_state_dict_of_a_non_mapping_names_state_and_changes_nothing(make, state):
    fresh, used = make(), make()
    used.update_state(np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.2, 0.9], [0.6, 0.4]]))
    for metric in (fresh, used):
        before = state_of(metric)
        with pytest.raises(TypeError, match=r"state must be a mapping .* got "):
            metric.load_state_dict(state)
        after = state_of(metric)
        assert sorted(after) == sorted(before) and all(after[k].tobytes() == before[k].tobytes() for k in before)
    assert fresh._backend is None  # a rejected load neither builds nor places a fresh metric
    np.testing.assert_array_equal(to_host(fresh.result()), to_host(make().result()))
