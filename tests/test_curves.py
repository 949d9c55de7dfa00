"""Curve points, per-label AUC and operating points from the threshold histogram, against scikit-learn and float64
NumPy, with sample weights, over several updates, on every backend (multi-label included)."""
import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

from conftest import on_device, to_host

import gpumetrics


def feed(metric, device, y_true, y_pred, weight, batches=3):
    """Update ``metric`` with the data split into ``batches`` consecutive batches."""
    for part in np.array_split(np.arange(len(y_true)), batches):
        metric.update_state(on_device(y_true[part], device), on_device(y_pred[part], device),
                            on_device(weight[part], device))
    return metric


def data(rng, n=600, labels=None):
    shape = (n,) if labels is None else (n, labels)
    y_true = (rng.random(shape) < 0.35).astype(np.float64)
    y_pred = np.clip(rng.normal(0.4 + 0.25 * y_true, 0.2), 0, 1)
    return y_true, y_pred, rng.uniform(0.1, 2.0, n)


def host(*arrays):
    return [np.asarray(to_host(a), dtype=np.float64) for a in arrays]


def sklearn_roc_at(y_true, y_pred, weight, thresholds):
    """scikit-learn's (fpr, tpr) of ``score > t`` for each ``t``: its point at the smallest distinct score above
    ``t`` (its first point, threshold inf, is (0, 0))."""
    fpr, tpr, cut = roc_curve(y_true, y_pred, sample_weight=weight, drop_intermediate=False)
    index = np.array([np.flatnonzero(cut > t)[-1] for t in thresholds])
    return fpr[index], tpr[index]


def sklearn_pr_at(y_true, y_pred, weight, thresholds):
    """scikit-learn's (precision, recall) of ``score > t``; (0, 0) where no score is above ``t`` (Keras's rule)."""
    precision, recall, cut = precision_recall_curve(y_true, y_pred, sample_weight=weight)
    index = np.searchsorted(cut, thresholds, side="right")
    above = index < len(cut)
    return np.where(above, precision[index], 0.0), np.where(above, recall[index], 0.0)


@pytest.mark.parametrize("make", [
    lambda d: gpumetrics.AUC(num_thresholds=23, device=d),
    lambda d: gpumetrics.AUC(thresholds=[0.7, 0.1, 0.33, 0.5], device=d),  # not evenly spaced: no clipping
    lambda d: gpumetrics.Precision(thresholds=[0.6, 0.2, 0.45, 0.2], device=d),  # unsorted, a repeat
    lambda d: gpumetrics.Recall(thresholds=[0.3, 0.5], device=d),
    lambda d: gpumetrics.TruePositives(thresholds=[0.25, 0.75, 0.5], device=d),
    lambda d: gpumetrics.FalseNegatives(thresholds=0.5, device=d),
    lambda d: gpumetrics.SpecificityAtSensitivity(0.7, num_thresholds=17, device=d),
])
def test_curves_match_scikit_learn_at_every_threshold(make, device, rng):
    y_true, y_pred, weight = data(rng)
    y_pred[:40] = rng.choice([-0.5, 0.2, 0.5, 1.5], 40)  # outside [0, 1] and exactly on thresholds
    metric = feed(make(device), device, y_true, y_pred, weight)
    clip = isinstance(metric, gpumetrics.AUC) and metric.num_thresholds == 23 or isinstance(
        metric, gpumetrics.SpecificityAtSensitivity)  # Keras clips on evenly spaced thresholds
    scores = np.clip(y_pred, 0, 1) if clip else y_pred
    fpr, tpr, roc_thresholds = host(*metric.roc_curve())
    precision, recall, pr_thresholds = host(*metric.pr_curve())
    expected = np.sort(np.asarray(metric.thresholds, dtype=np.float64))
    np.testing.assert_array_equal(pr_thresholds, expected)
    np.testing.assert_array_equal(roc_thresholds, expected[::-1])
    np.testing.assert_allclose((fpr, tpr), sklearn_roc_at(y_true, scores, weight, roc_thresholds), atol=1e-12)
    np.testing.assert_allclose((precision, recall), sklearn_pr_at(y_true, scores, weight, pr_thresholds), atol=1e-12)


def test_multi_label_curves_are_one_row_per_label(device, rng):
    y_true, y_pred, weight = data(rng, n=300, labels=3)
    metric = feed(gpumetrics.AUC(num_thresholds=9, multi_label=True, device=device), device, y_true, y_pred, weight)
    fpr, tpr, thresholds = host(*metric.roc_curve())
    precision, recall, _ = host(*metric.pr_curve())
    assert fpr.shape == tpr.shape == precision.shape == recall.shape == (3, 9) and thresholds.shape == (9,)
    for label in range(3):
        column = (y_true[:, label], y_pred[:, label], weight)
        np.testing.assert_allclose((fpr[label], tpr[label]), sklearn_roc_at(*column, thresholds), atol=1e-12)
        np.testing.assert_allclose((precision[label], recall[label]), sklearn_pr_at(*column, thresholds[::-1]),
                                   atol=1e-12)


def quantised(rng, y_true, thresholds):
    """Scores at the middle of the buckets between ``thresholds``, so that a binned ROC AUC is the exact one."""
    middles = (np.asarray(thresholds[:-1]) + np.asarray(thresholds[1:])) / 2
    bucket = np.clip(np.round(rng.normal(3 + 3 * y_true, 2)), 0, len(middles) - 1).astype(int)
    return middles[bucket]


@pytest.mark.parametrize("label_weights", [None, [0.5, 2.0, 1.0, 0.0]])
def test_per_label_result_is_each_labels_auc_and_result_their_mean(label_weights, device, rng):
    metric = gpumetrics.AUC(num_thresholds=11, multi_label=True, label_weights=label_weights, device=device)
    y_true = (rng.random((400, 4)) < 0.4).astype(np.float64)
    y_pred = quantised(rng, y_true, metric.thresholds)
    weight = rng.uniform(0.1, 2.0, 400)
    feed(metric, device, y_true, y_pred, weight)
    per_label, = host(metric.per_label_result())
    assert per_label.shape == (4,)
    expected = [roc_auc_score(y_true[:, j], y_pred[:, j], sample_weight=weight) for j in range(4)]
    np.testing.assert_allclose(per_label, expected, rtol=1e-6)
    np.testing.assert_allclose(to_host(metric.result()), np.average(expected, weights=label_weights), rtol=1e-6)


@pytest.mark.parametrize("curve,method", [("PR", "interpolation"), ("PR", "majoring"), ("ROC", "minoring")])
def test_per_label_result_equals_a_single_label_auc_of_each_column(curve, method, device, rng):
    y_true, y_pred, weight = data(rng, n=300, labels=3)
    config = {"num_thresholds": 13, "curve": curve, "summation_method": method, "device": device}
    metric = feed(gpumetrics.AUC(multi_label=True, **config), device, y_true, y_pred, weight)
    for label, value in enumerate(host(metric.per_label_result())[0]):
        single = feed(gpumetrics.AUC(**config), device, y_true[:, label], y_pred[:, label], weight)
        np.testing.assert_allclose(value, to_host(single.result()), rtol=1e-6)


def test_per_label_result_refuses_one_curve_and_an_unbuilt_metric(device):
    with pytest.raises(ValueError, match="multi_label=False"):
        gpumetrics.AUC(device=device).per_label_result()
    unbuilt = gpumetrics.AUC(multi_label=True, device=device)
    for method in (unbuilt.per_label_result, unbuilt.roc_curve, unbuilt.pr_curve, unbuilt.exact_auc_bounds):
        with pytest.raises(ValueError, match="no batch yet"):
            method()
    assert float(to_host(unbuilt.result())) == 0.0  # still usable, still unbuilt


def at_oracle(y_true, y_pred, weight, thresholds, constrained, dependent, value):
    """Keras's *At* rule in float64 NumPy: the best ``dependent`` rate where ``constrained >= value``; of the
    thresholds that tie for it, the largest (NaN when none qualifies)."""
    above = np.clip(y_pred, 0, 1)[:, None] > np.asarray(thresholds)[None, :]
    positive, negative = weight * (y_true == 1), weight * (y_true == 0)
    tp, fp = positive @ above, negative @ above
    fn, tn = positive.sum() - tp, negative.sum() - fp
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = {"recall": np.nan_to_num(tp / (tp + fn)), "specificity": np.nan_to_num(tn / (tn + fp)),
                 "precision": np.nan_to_num(tp / (tp + fp))}
    feasible = np.flatnonzero(rates[constrained] >= value)
    if not len(feasible):
        return [np.nan] * 4
    best = feasible[rates[dependent][feasible] == rates[dependent][feasible].max()][-1]
    return [thresholds[best], rates["recall"][best], rates["specificity"][best], rates["precision"][best]]


@pytest.mark.parametrize("cls,value,pair", [
    (gpumetrics.SensitivityAtSpecificity, 0.8, ("specificity", "recall")),
    (gpumetrics.SpecificityAtSensitivity, 0.6, ("recall", "specificity")),
    (gpumetrics.PrecisionAtRecall, 0.5, ("recall", "precision")),
    (gpumetrics.RecallAtPrecision, 0.7, ("precision", "recall")),
    (gpumetrics.RecallAtPrecision, 1.0, ("precision", "recall")),  # nothing qualifies: NaN point, result 0
])
def test_operating_point_is_where_the_result_is_read(cls, value, pair, device, rng):
    y_true, y_pred, weight = data(rng)
    y_pred[:5] = [1.0, 1.0, 1.0, 1.0, 1.0]
    y_true[:5] = [0, 1, 0, 1, 0]  # the top bucket is mixed: precision 1 is out of reach
    metric = feed(cls(value, num_thresholds=31, device=device), device, y_true, y_pred, weight)
    point = host(*metric.operating_point())
    expected = at_oracle(y_true, y_pred, weight, metric.thresholds, *pair, value)
    np.testing.assert_allclose(point, expected, atol=1e-12)
    result = float(to_host(metric.result()))
    if np.isnan(expected[0]):
        assert result == 0.0
    else:
        assert result == pytest.approx(point[["threshold", "recall", "specificity", "precision"].index(pair[1])])
