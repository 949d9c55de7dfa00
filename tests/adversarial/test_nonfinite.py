"""NaN and ±inf in values and weights give the documented result (README, Semantics): NaN inputs propagate as the
float64 oracle's NumPy arithmetic propagates them, NaN scores sit below every threshold, and a NaN or inf weight
in a counted IoU cell makes the IoU NaN."""
import warnings

import numpy as np
import pytest

import gpumetrics
from conftest import on_device, to_host

from . import attack

#: families whose oracle reads NaN / inf as the README says the metric does
ORACLE_FAMILIES = ("elementwise", "rowwise", "reduction", "wrapper", "threshold", "f_score")


def poisoned(a, value):
    a = np.array(a, dtype=np.float64)
    a.reshape(-1)[0] = value
    return a


def kinds_for(case):
    """``(kind, key, value)``; weights only where the oracle adds weights by plain products (not the counting
    families, whose oracle would multiply a NaN weight by a 0 mask), top-k and argmax rows left out (where a NaN
    score ranks is not documented)."""
    key = attack.batch_key(attack.argument_names(case)[-1])
    kinds = [("nan-" + key, key, np.nan)]
    if "logits" not in case.id:  # an infinite logit gives NaN (inf - inf, as TensorFlow's and JAX's losses): unpinned
        kinds += [("inf-" + key, key, np.inf), ("-inf-" + key, key, -np.inf)]
    if not case.takes_values:
        kinds.append(("nan-y_true", "y_true", np.nan))
    if attack.family_of(case.id) not in ("threshold", "f_score"):
        kinds += [("nan-weight", "sample_weight", np.nan), ("inf-weight", "sample_weight", np.inf)]
    return kinds


def documented(case):
    undocumented = ("top_k" in case.id or case.id in ("F1Score", "FBetaScore-weighted")
                    or "Sparse" in case.id)  # top-k / argmax ranks of NaN; NaN class ids (Keras's own int cast)
    return attack.family_of(case.id) in ORACLE_FAMILIES and not undocumented


def oracle_batch(case, batch):
    """The batch as the oracle must read it: float64, and ``BinaryCrossentropy``'s probabilities clipped to
    ``[eps, 1 - eps]`` as Keras clips them (the table's oracle draws probabilities inside that range)."""
    batch = attack.as_float64(batch)
    if case.id == "BinaryCrossentropy":
        batch["y_pred"] = np.clip(batch["y_pred"], 1e-7, 1 - 1e-7)
    return batch


PARAMS = [p for p in attack.every_case_cpu_representatives_everywhere() if documented(p.values[0])]


@pytest.mark.parametrize("case,device", PARAMS)
def test_nan_and_inf_give_the_oracles_result(case, device):
    good = attack.good_batch(case)
    for kind, key, value in kinds_for(case):
        batch = {**good, key: poisoned(good[key], value)}
        metric = case.make(device)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            case.update(metric, batch)
            expected = np.asarray(case.oracle([oracle_batch(case, batch)]), np.float64)
        got = attack.result64(metric)
        np.testing.assert_allclose(got, expected, rtol=case.rtol, atol=1e-6, equal_nan=True,
                                   err_msg=f"{case.id}: {kind}")
        if kind.startswith("nan-") and family_propagates(case):
            assert np.isnan(got).any(), f"{case.id}: {kind} must propagate (README: NaN inputs propagate)"


def family_propagates(case):
    return attack.family_of(case.id) in ("reduction", "wrapper") or (
        attack.family_of(case.id) in ("elementwise", "rowwise") and "Accuracy" not in case.id)


@pytest.mark.parametrize("device", attack.DEVICES)
@pytest.mark.parametrize("column", [0, 1])
def test_r2_nan_reaches_only_its_output(device, column):
    """A NaN in one output of R2Score makes that output NaN and leaves the others at the oracle's value."""
    from sklearn.metrics import r2_score

    case = attack.BY_ID["R2Score-raw_values"]
    good = attack.good_batch(case, weighted=False)
    y_pred = np.array(good["y_pred"], np.float64)
    y_pred[0, column] = np.nan
    metric = case.make(device)
    metric.update_state(good["y_true"], y_pred)
    got = attack.result64(metric)
    others = [c for c in range(y_pred.shape[1]) if c != column]
    assert np.isnan(got[column])
    np.testing.assert_allclose(got[others], r2_score(np.asarray(good["y_true"], np.float64)[:, others],
                                                     y_pred[:, others], multioutput="raw_values"), rtol=1e-5)


IOU_MAKERS = {"MeanIoU": "MeanIoU", "IoU": "IoU-one-target-repeated", "BinaryIoU": "BinaryIoU"}


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("device", attack.DEVICES)
@pytest.mark.parametrize("name", list(IOU_MAKERS))
def test_a_non_finite_weight_in_a_counted_iou_cell_makes_the_result_nan(name, device, value):
    """README: a NaN or inf weight reaches its cell and a target class whose TP + FP + FN is then NaN (or
    infinite) makes the result NaN (issue 12, defect 5: it used to be dropped)."""
    metric = attack.BY_ID[IOU_MAKERS[name]].make(device)
    y_true, y_pred = np.array([1, 1, 2, 0, 1]), np.array([1, 0, 2, 0, 1])
    if name == "BinaryIoU":
        y_true, y_pred = np.array([1, 1, 0, 0, 1]), np.array([0.9, 0.2, 0.1, 0.3, 0.8])
    metric.update_state(y_true, y_pred, sample_weight=np.array([value, 1.0, 1.0, 1.0, 1.0]))
    assert np.isnan(attack.result64(metric)), f"{name}: a {value} weight on class 1 was dropped"


@pytest.mark.parametrize("grouped", [False, True], ids=["ungrouped", "grouped"])
def test_poisson_of_a_negative_prediction_is_nan_on_every_backend(device, grouped):
    """``log(p + eps)`` of a negative ``p + eps`` is NaN, as NumPy's (Keras's): the CUDA simulator ran Python's
    ``math.log``, which raised "math domain error" (and left a grouped state half written)."""
    y_true, y_pred, ids = np.array([1.0, 2.0, 1.0, 0.0]), np.array([-0.5, 1.0, 0.5, 3.0]), np.array([0, 1, 1, 1])
    with np.errstate(invalid="ignore"):
        values = y_pred - y_true * np.log(y_pred + 1e-7)
    if grouped:
        metric = gpumetrics.Poisson(num_groups=2, device=device)
        metric.update_state(on_device(y_true[:, None], device), on_device(y_pred[:, None], device), group_ids=ids)
        want = [values[ids == g].mean() for g in range(2)]
    else:
        metric = gpumetrics.Poisson(device=device)
        metric.update_state(on_device(y_true, device), on_device(y_pred, device))
        want = values.mean()
    got = np.asarray(to_host(metric.result()), np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isnan(got).any()
