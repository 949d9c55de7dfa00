"""One row per metric, the table every backend runs (``test_metrics.py``): build, draw batches, float64 oracle.

The machinery of a row is in ``case_model.py``; families with rows of their
own live in ``cases_<family>.py`` and are joined into ``CASES`` here.
"""
import numpy as np

from case_model import Case, mean_of
from cases_elementwise import ELEMENTWISE_CASES
from cases_exact_auc import EXACT_AUC_CASES
from cases_iou import IOU_CASES
from cases_rowwise import ROWWISE_CASES
from cases_r2 import R2_CASES

import gpumetrics


def squared(b):
    return (b["y_true"] - b["y_pred"]) ** 2


def absolute(b):
    return np.abs(b["y_true"] - b["y_pred"])


def max_abs_error(y_true, y_pred):
    """A plain per-sample function (not one of the package's fused ones): exercises the generic wrapper path."""
    return abs(y_true - y_pred).max(axis=-1)


def _sum_oracle(batches):
    total = 0.0
    for b in batches:
        values, w = np.asarray(b["y_pred"], np.float64), b.get("sample_weight")
        if w is None:
            total += values.sum()
        else:
            total += (values.reshape(values.shape[:w.ndim] + (-1,)).sum(axis=-1) * w).sum()
    return total


# -- the threshold family: brute-force confusion counts (every prediction against every threshold) -----------
EPS = 1e-7
EVEN = {n: [0.0] + [(i + 1) / (n - 1) for i in range(n - 2)] + [1.0] for n in (3, 7, 200)}


def auc_thresholds(n):
    return [-EPS] + EVEN[n][1:-1] + [1 + EPS]


def top_k_mask(scores, k):
    """Exactly the k largest of each row, earlier columns first among equals (a plain sort per row)."""
    keep = np.zeros(scores.shape, dtype=bool)
    for index in np.ndindex(scores.shape[:-1]):
        row = scores[index]
        for j in sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]:
            keep[index + (j,)] = True
    return keep


def confusion(batches, thresholds, clip=False, top_k=None, class_id=None, per_label=False, label_weights=None,
              logits=False):
    """(tp, fp, tn, fn) by brute force over all batches: ``[T]``, or ``[T, labels]`` with ``per_label``."""
    totals = 0
    for b in batches:
        label = np.asarray(b["y_true"]) != 0
        score = np.asarray(b["y_pred"], np.float64)
        weight = np.ones(score.shape[0]) if b.get("sample_weight") is None else b["sample_weight"]
        weight = np.broadcast_to(weight.reshape(weight.shape + (1,) * (score.ndim - 1)), score.shape)
        if logits:
            score = 1 / (1 + np.exp(-score))
        if top_k is not None:
            score = np.where(top_k_mask(score, top_k), score, -1e10)
        if class_id is not None:
            label, score, weight = label[:, class_id], score[:, class_id], weight[:, class_id]
        if label_weights is not None:
            weight = weight * np.asarray(label_weights)
        if clip:
            score = np.clip(score, 0, 1)
        if not per_label:
            label, score, weight = label.reshape(-1, 1), score.reshape(-1, 1), weight.reshape(-1, 1)
        above = score[None] > np.asarray(thresholds, np.float64).reshape(-1, 1, 1)  # [T, N, L]
        w = weight[None]
        counts = np.stack([(w * (above & label)).sum(1), (w * (above & ~label)).sum(1),
                           (w * (~above & ~label)).sum(1), (w * (~above & label)).sum(1)])
        totals = totals + counts
    return totals if per_label else totals[..., 0]


def ratio(a, b):
    return np.where(b == 0, 0.0, a / np.where(b == 0, 1, b))


def squeeze_one(values):
    return values[0] if len(values) == 1 else values


def trapezoid_heights(y):
    """Riemann heights of the "interpolation" summation: the mean of each interval's ends."""
    return (y[:-1] + y[1:]) / 2


def roc_auc(tp, fp, tn, fn, heights=trapezoid_heights):
    x, y = ratio(fp, fp + tn), ratio(tp, tp + fn)
    return ((x[:-1] - x[1:]) * heights(y)).sum(0)


def pr_auc_interpolated(tp, fp, tn, fn):
    """Davis & Goadrich: between thresholds precision follows tp / (tp + fp) with tp linear in tp + fp;
    integrated exactly, each interval adds slope * (dtp + intercept * log(p_prev / p_next)) / positives."""
    p = tp + fp
    dtp, dp = tp[:-1] - tp[1:], p[:-1] - p[1:]
    slope = ratio(dtp, np.maximum(dp, 0))
    intercept = tp[1:] - slope * p[1:]
    safe = np.where((p[:-1] > 0) & (p[1:] > 0), ratio(p[:-1], np.maximum(p[1:], 0)), 1.0)
    return ratio(slope * (dtp + intercept * np.log(safe)), np.maximum(tp[1:] + fn[1:], 0)).sum(0)


def best_under(constrained, dependent, value):
    return max(0.0, np.where(constrained >= value, dependent, 0.0).max())


def classification(id, make, oracle, layouts=("binary", "binary_column", "multiclass"), **kwargs):
    return Case(id, make, oracle, layouts=layouts, classification=True, **kwargs)


def fbeta_oracle(batches, beta, average, threshold):
    """scikit-learn's F-beta on the binarised predictions of all batches (argmax rows when threshold is None)."""
    from sklearn.metrics import fbeta_score

    labels = np.concatenate([np.asarray(b["y_true"]) != 0 for b in batches])
    scores = np.concatenate([np.asarray(b["y_pred"], np.float64) for b in batches])
    weights = np.concatenate([np.ones(len(b["y_pred"])) if b.get("sample_weight") is None else b["sample_weight"]
                              for b in batches])
    if threshold is None:
        predicted = (scores >= scores.max(axis=1, keepdims=True)) & (np.abs(scores) > 1e-9)
    else:
        predicted = scores > threshold
    return fbeta_score(labels, predicted, beta=beta, average=None if average is None else average,
                       sample_weight=weights, zero_division=0.0)


def counts_oracle(index, thresholds=(0.5,), **options):
    """Oracle of a count metric: confusion count ``index`` (0 tp, 1 fp, 2 tn, 3 fn) per threshold."""
    def oracle(batches):
        return confusion(batches, list(thresholds), **options)[index]

    return oracle


def precision_oracle(thresholds=(0.5,), **options):
    """Oracle of ``Precision``: tp / (tp + fp) per threshold (0 where nothing is predicted positive)."""
    def oracle(batches):
        tp, fp, _, _ = confusion(batches, list(thresholds), **options)
        return ratio(tp, tp + fp)

    return oracle


def recall_oracle(thresholds=(0.5,), **options):
    """Oracle of ``Recall``: tp / (tp + fn) per threshold (0 where there are no positives)."""
    def oracle(batches):
        tp, _, _, fn = confusion(batches, list(thresholds), **options)
        return ratio(tp, tp + fn)

    return oracle


def first(oracle):
    """The first value of ``oracle``'s vector: the result of a metric of one threshold."""
    def first_value(batches):
        return oracle(batches)[0]

    return first_value


def minoring_heights(y):
    """Riemann heights of the "minoring" summation: the lower end of each interval."""
    return np.minimum(y[:-1], y[1:])


def roc_auc_oracle(thresholds, heights=trapezoid_heights, **options):
    """Oracle of ``AUC`` (ROC): the Riemann sum of the ROC curve over the confusion counts at ``thresholds``."""
    def oracle(batches):
        return roc_auc(*confusion(batches, thresholds, **options), heights=heights)

    return oracle


def pr_auc_oracle(thresholds):
    """Oracle of ``AUC(curve="PR")``: the interpolated PR area over the clipped confusion counts at ``thresholds``."""
    def oracle(batches):
        return pr_auc_interpolated(*confusion(batches, thresholds, clip=True))

    return oracle


def multi_label_auc_oracle(thresholds, label_weights):
    """Oracle of a multi-label ``AUC``: each label's ROC area, weighted by ``label_weights``, averaged over labels
    (the sum divided by the number of labels, as Keras does)."""
    def oracle(batches):
        per_label = roc_auc(*confusion(batches, thresholds, clip=True, per_label=True))
        return (per_label * label_weights).sum() / len(label_weights)

    return oracle


def best_at_oracle(constrained, dependent, value, thresholds, **options):
    """Oracle of the "X at Y" metrics: the largest ``dependent`` rate among thresholds whose ``constrained`` rate is
    at least ``value``; the rates are "precision", "recall" (= sensitivity) or "specificity" of the clipped counts."""
    def oracle(batches):
        tp, fp, tn, fn = confusion(batches, thresholds, clip=True, **options)
        rates = {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "specificity": ratio(tn, tn + fp)}
        return best_under(rates[constrained], rates[dependent], value)

    return oracle


THRESHOLD_CASES = [
    classification("TruePositives", lambda d: gpumetrics.TruePositives(device=d), counts_oracle(0)),
    classification("FalsePositives-thresholds", lambda d: gpumetrics.FalsePositives([0.0, 0.5, 1.0], device=d),
                   counts_oracle(1, [0.0, 0.5, 1.0], clip=True)),
    classification("TrueNegatives-unsorted", lambda d: gpumetrics.TrueNegatives([0.7, 0.25, 1 / 3], device=d),
                   counts_oracle(2, [0.7, 0.25, 1 / 3])),
    classification("FalseNegatives", lambda d: gpumetrics.FalseNegatives(device=d), counts_oracle(3)),
    classification("Precision", lambda d: gpumetrics.Precision(device=d), first(precision_oracle())),
    classification("Precision-thresholds", lambda d: gpumetrics.Precision(thresholds=[0.5, 0.25, 2 / 3], device=d),
                   precision_oracle([0.5, 0.25, 2 / 3])),
    classification("Precision-top_k", lambda d: gpumetrics.Precision(top_k=2, device=d),
                   first(precision_oracle([-1e10], top_k=2)), layouts=("multiclass",)),
    classification("Precision-class_id", lambda d: gpumetrics.Precision(class_id=2, device=d),
                   first(precision_oracle(class_id=2)), layouts=("multiclass",)),
    classification("Recall-top_k-class_id", lambda d: gpumetrics.Recall(top_k=2, class_id=1, device=d),
                   first(recall_oracle([-1e10], top_k=2, class_id=1)), layouts=("multiclass",)),
    classification("Recall", lambda d: gpumetrics.Recall(device=d), first(recall_oracle())),
    classification("AUC", lambda d: gpumetrics.AUC(device=d), roc_auc_oracle(auc_thresholds(200), clip=True)),
    classification("AUC-PR-interpolation", lambda d: gpumetrics.AUC(num_thresholds=7, curve="PR", device=d),
                   pr_auc_oracle(auc_thresholds(7))),
    classification("AUC-ROC-minoring", lambda d: gpumetrics.AUC(7, summation_method="minoring", device=d),
                   roc_auc_oracle(auc_thresholds(7), minoring_heights, clip=True)),
    classification("AUC-multi_label-label_weights",
                   lambda d: gpumetrics.AUC(7, multi_label=True, label_weights=[1, 2, 0, 1], device=d),
                   multi_label_auc_oracle(auc_thresholds(7), [1, 2, 0, 1]), layouts=("multiclass",)),
    classification("AUC-flat-label_weights", lambda d: gpumetrics.AUC(7, label_weights=[1, 2, 0, 1], device=d),
                   roc_auc_oracle(auc_thresholds(7), clip=True, label_weights=[1, 2, 0, 1]), layouts=("multiclass",)),
    classification("AUC-from_logits-thresholds", lambda d: gpumetrics.AUC(thresholds=[0.3, 0.6], from_logits=True,
                                                                         device=d),
                   roc_auc_oracle([-EPS, 0.3, 0.6, 1 + EPS], logits=True), logits=True),
    classification("PrecisionAtRecall", lambda d: gpumetrics.PrecisionAtRecall(0.6, num_thresholds=7, device=d),
                   best_at_oracle("recall", "precision", 0.6, EVEN[7])),
    classification("RecallAtPrecision", lambda d: gpumetrics.RecallAtPrecision(0.5, num_thresholds=7, device=d),
                   best_at_oracle("precision", "recall", 0.5, EVEN[7])),
    classification("SensitivityAtSpecificity", lambda d: gpumetrics.SensitivityAtSpecificity(0.4, device=d),
                   best_at_oracle("specificity", "recall", 0.4, EVEN[200])),
    classification("SpecificityAtSensitivity-class_id",
                   lambda d: gpumetrics.SpecificityAtSensitivity(0.5, num_thresholds=7, class_id=0, device=d),
                   best_at_oracle("recall", "specificity", 0.5, EVEN[7], class_id=0), layouts=("multiclass",)),
]

F_SCORE_CASES = [
    classification("F1Score", lambda d: gpumetrics.F1Score(device=d),
                   lambda bs: fbeta_oracle(bs, 1.0, None, None), layouts=("multiclass",)),
    classification("F1Score-macro-threshold", lambda d: gpumetrics.F1Score("macro", threshold=0.5, device=d),
                   lambda bs: fbeta_oracle(bs, 1.0, "macro", 0.5), layouts=("multiclass",)),
    classification("FBetaScore-micro", lambda d: gpumetrics.FBetaScore("micro", beta=2.0, threshold=0.3, device=d),
                   lambda bs: fbeta_oracle(bs, 2.0, "micro", 0.3), layouts=("multiclass",)),
    classification("FBetaScore-weighted", lambda d: gpumetrics.FBetaScore("weighted", beta=0.5, device=d),
                   lambda bs: fbeta_oracle(bs, 0.5, "weighted", None), layouts=("multiclass",)),
]

CASES = THRESHOLD_CASES + F_SCORE_CASES + EXACT_AUC_CASES + R2_CASES + ELEMENTWISE_CASES + ROWWISE_CASES + \
    IOU_CASES + [
    Case("Sum", lambda d: gpumetrics.Sum(device=d), _sum_oracle, takes_values=True, keras_rtol=2e-5),
    Case("Mean", lambda d: gpumetrics.Mean(device=d), lambda bs: mean_of(bs, lambda b: b["y_pred"]),
         takes_values=True, keras_rtol=2e-5),
    Case("MeanSquaredError", lambda d: gpumetrics.MeanSquaredError(device=d),
         lambda bs: mean_of(bs, lambda b: squared(b).mean(axis=-1)), keras_rtol=2e-5),
    Case("MeanAbsoluteError", lambda d: gpumetrics.MeanAbsoluteError(device=d),
         lambda bs: mean_of(bs, lambda b: absolute(b).mean(axis=-1)), keras_rtol=2e-5),
    Case("RootMeanSquaredError", lambda d: gpumetrics.RootMeanSquaredError(device=d),
         lambda bs: np.sqrt(mean_of(bs, squared)), keras_rtol=2e-5),
    Case("MeanMetricWrapper", lambda d: gpumetrics.MeanMetricWrapper(gpumetrics.mean_absolute_error, device=d),
         lambda bs: mean_of(bs, lambda b: absolute(b).mean(axis=-1))),
    Case("MeanMetricWrapper-plain-fn", lambda d: gpumetrics.MeanMetricWrapper(max_abs_error, device=d),
         lambda bs: mean_of(bs, lambda b: absolute(b).max(axis=-1)), validates_pairs=False),
]
