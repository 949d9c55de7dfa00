"""Curves, per-label AUC, bounds, operating points and plots of grouped threshold metrics (``num_groups=G``): one
row per group (and label), each against scikit-learn / float64 NumPy on that group's data, with sample weights,
over several updates, on every backend; ``plot`` takes ``group=`` and refuses a grouped metric without it."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import on_device, to_host
from test_curves import at_oracle, host, quantised, sklearn_pr_at, sklearn_roc_at

import gpumetrics

G = 3


def grouped_data(rng, n=900, labels=None):
    """Labels, scores (some outside [0, 1]), weights and ids; every group has both classes."""
    shape = (n,) if labels is None else (n, labels)
    y_true = (rng.random(shape) < 0.4).astype(np.float64)
    ids = rng.integers(0, G, n)
    y_pred = rng.normal(0.35 + 0.1 * ids.reshape((n,) + (1,) * (len(shape) - 1)) + 0.2 * y_true, 0.25)
    return y_true, y_pred, rng.uniform(0.1, 2.0, n), ids


def feed(metric, device, y_true, y_pred, weight, ids, batches=3):
    for part in np.array_split(np.arange(len(y_true)), batches):
        metric.update_state(on_device(y_true[part], device), on_device(y_pred[part], device),
                            on_device(weight[part], device), group_ids=on_device(ids[part], device))
    return metric


def in_group(g, ids, *arrays):
    return [a[ids == g] for a in arrays]


@pytest.mark.parametrize("make, clip", [
    (lambda **k: gpumetrics.AUC(num_thresholds=15, **k), True),
    (lambda **k: gpumetrics.AUC(thresholds=[0.7, 0.1, 0.33, 0.5], **k), False),
    (lambda **k: gpumetrics.Precision(thresholds=[0.6, 0.2, 0.45, 0.2], **k), False),
    (lambda **k: gpumetrics.Recall(thresholds=[0.3, 0.5], **k), False),
    (lambda **k: gpumetrics.SpecificityAtSensitivity(0.7, num_thresholds=17, **k), True),
], ids=["AUC", "AUC-thresholds", "Precision", "Recall", "SpecificityAtSensitivity"])
def test_grouped_curves_are_one_row_per_group(make, clip, device, rng):
    y_true, y_pred, weight, ids = grouped_data(rng)
    metric = feed(make(num_groups=G, device=device), device, y_true, y_pred, weight, ids)
    scores = np.clip(y_pred, 0, 1) if clip else y_pred  # Keras clips on evenly spaced thresholds
    fpr, tpr, roc_thresholds = host(*metric.roc_curve())
    precision, recall, pr_thresholds = host(*metric.pr_curve())
    count = len(metric.thresholds)
    assert fpr.shape == tpr.shape == precision.shape == recall.shape == (G, count)
    np.testing.assert_array_equal(pr_thresholds, np.sort(np.asarray(metric.thresholds, dtype=np.float64)))
    for g in range(G):
        data = in_group(g, ids, y_true, scores, weight)
        np.testing.assert_allclose((fpr[g], tpr[g]), sklearn_roc_at(*data, roc_thresholds), atol=1e-12)
        np.testing.assert_allclose((precision[g], recall[g]), sklearn_pr_at(*data, pr_thresholds), atol=1e-12)


def test_grouped_multi_label_curves_and_per_label_auc(device, rng):
    metric = gpumetrics.AUC(num_thresholds=11, multi_label=True, num_groups=G, device=device)
    y_true, _, weight, ids = grouped_data(rng, labels=2)
    y_pred = quantised(rng, y_true, metric.thresholds)  # bucket centres: the binned ROC AUC is the exact one
    feed(metric, device, y_true, y_pred, weight, ids)
    fpr, tpr, thresholds = host(*metric.roc_curve())
    precision, recall, _ = host(*metric.pr_curve())
    per_label, = host(metric.per_label_result())
    assert fpr.shape == precision.shape == (G, 2, 11) and per_label.shape == (G, 2)
    for g in range(G):
        labels, scores, w = in_group(g, ids, y_true, y_pred, weight)
        for j in range(2):
            column = (labels[:, j], scores[:, j], w)
            np.testing.assert_allclose((fpr[g, j], tpr[g, j]), sklearn_roc_at(*column, thresholds), atol=1e-12)
            np.testing.assert_allclose((precision[g, j], recall[g, j]), sklearn_pr_at(*column, thresholds[::-1]),
                                       atol=1e-12)
            assert per_label[g, j] == pytest.approx(roc_auc_score(*column[:2], sample_weight=w), rel=1e-6)
    with pytest.raises(ValueError, match="multi_label=False"):
        gpumetrics.AUC(num_groups=G, device=device).per_label_result()


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("labels", [None, 2], ids=["one-label", "multi-label"])
def test_grouped_bounds_hold_per_group_and_equal_each_groups_own_metric(curve, labels, device, rng):
    y_true, y_pred, weight, ids = grouped_data(rng, labels=labels)
    y_pred = np.where(rng.random(y_pred.shape) < 0.3, np.round(y_pred, 1), y_pred)  # ties, some on thresholds
    config = {"num_thresholds": 11, "curve": curve, "multi_label": labels is not None, "device": device}
    metric = feed(gpumetrics.AUC(num_groups=G, **config), device, y_true, y_pred, weight, ids)
    low, high = host(*metric.exact_auc_bounds())
    assert low.shape == high.shape == ((G,) if labels is None else (G, labels))
    exact = roc_auc_score if curve == "ROC" else average_precision_score
    for g in range(G):
        labels_g, scores_g, w = in_group(g, ids, y_true, y_pred, weight)
        truth = [exact(labels_g, scores_g, sample_weight=w)] if labels is None else \
            [exact(labels_g[:, j], scores_g[:, j], sample_weight=w) for j in range(labels)]
        assert np.all(low[g] - 1e-12 <= np.squeeze(truth)) and np.all(np.squeeze(truth) <= high[g] + 1e-12)
        alone = gpumetrics.AUC(**config)  # the group's data alone: the same histogram, the same bounds
        alone.update_state(on_device(labels_g, device), on_device(scores_g, device), on_device(w, device))
        np.testing.assert_allclose((low[g], high[g]), host(*alone.exact_auc_bounds()), rtol=1e-12)


@pytest.mark.parametrize("cls,value,pair", [
    (gpumetrics.SensitivityAtSpecificity, 0.8, ("specificity", "recall")),
    (gpumetrics.PrecisionAtRecall, 0.5, ("recall", "precision")),
    (gpumetrics.RecallAtPrecision, 0.7, ("precision", "recall")),
])
def test_grouped_operating_point_is_each_groups_point(cls, value, pair, device, rng):
    y_true, y_pred, weight, ids = grouped_data(rng)
    high = np.flatnonzero(ids == 2)[:4]
    y_pred[high], y_true[high] = 1.5, [0, 1, 0, 0]  # group 2's top bucket is mostly negative
    metric = feed(cls(value, num_thresholds=31, num_groups=G, device=device), device, y_true, y_pred, weight, ids)
    point = np.stack(host(*metric.operating_point()))
    result = np.asarray(to_host(metric.result()))
    assert point.shape == (4, G) and result.shape == (G,)
    for g in range(G):
        expected = at_oracle(*in_group(g, ids, y_true, y_pred, weight), metric.thresholds, *pair, value)
        np.testing.assert_allclose(point[:, g], expected, atol=1e-12)
        best = 0.0 if np.isnan(expected[0]) else expected[["threshold", "recall", "specificity",
                                                           "precision"].index(pair[1])]
        assert result[g] == pytest.approx(best)


def test_grouped_operating_point_is_nan_where_no_threshold_qualifies(device):
    metric = gpumetrics.RecallAtPrecision(1.0, num_thresholds=5, num_groups=2, device=device)
    # group 0: a negative above every positive, precision 1 never reached; group 1: separable
    metric.update_state(on_device(np.array([0, 1, 1, 0, 1]), device), on_device(np.array([.9, .6, .3, .2, .8]), device),
                        group_ids=on_device(np.array([0, 0, 0, 1, 1]), device))
    point = np.stack(host(*metric.operating_point()))
    assert np.isnan(point[:, 0]).all() and not np.isnan(point[:, 1]).any()
    np.testing.assert_allclose(to_host(metric.result()), [0.0, 1.0])
