"""``ExactAUC`` rows of the case table (beyond Keras: no Keras twin), against scikit-learn's exact areas.

The oracle is ``roc_auc_score`` / ``average_precision_score`` over the concatenated batches in float64, with
labels ``y_true != 0`` and each score's weight (the sample weight spread over a sample's labels, times
``label_weights``); multi-label rows average the per-label areas with ``label_weights``. A class that is absent
scores 0 (Keras's ``AUC`` rule; scikit-learn raises).
"""
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from case_model import Case

import gpumetrics

LABEL_WEIGHTS = [1.0, 2.0, 0.0, 1.0]


def exact_area(labels, scores, weights, curve):
    """scikit-learn's exact area of one curve (0 when a class is absent)."""
    if weights.sum() == 0 or len(np.unique(labels[weights != 0])) < 2:
        return 0.0
    score = roc_auc_score if curve == "ROC" else average_precision_score
    return score(labels, scores, sample_weight=weights)


def exact_oracle(curve, multi_label=False, label_weights=None):
    def oracle(batches):
        labels = np.concatenate([np.asarray(b["y_true"]) != 0 for b in batches])
        scores = np.concatenate([np.asarray(b["y_pred"], np.float64) for b in batches])
        weights = np.concatenate([np.ones(len(b["y_pred"])) if b.get("sample_weight") is None else b["sample_weight"]
                                  for b in batches])
        weights = np.broadcast_to(weights.reshape(weights.shape + (1,) * (scores.ndim - 1)), scores.shape)
        if not multi_label:
            if label_weights is not None:
                weights = weights * np.asarray(label_weights)
            return exact_area(labels.ravel(), scores.ravel(), weights.ravel(), curve)
        areas = np.array([exact_area(labels[:, c], scores[:, c], weights[:, c], curve)
                          for c in range(scores.shape[1])])
        averaging = np.ones(len(areas)) if label_weights is None else np.asarray(label_weights)
        return (areas * averaging).sum() / averaging.sum()

    return oracle


def exact_case(id, layouts=("binary", "binary_column", "multiclass"), **kwargs):
    return Case(id, lambda d: gpumetrics.ExactAUC(device=d, **kwargs),
                exact_oracle(kwargs.get("curve", "ROC"), kwargs.get("multi_label", False),
                             kwargs.get("label_weights")),
                layouts=layouts, classification=True, rtol=1e-6)  # float32 results; exact: test_exact_auc.py


EXACT_AUC_CASES = [
    exact_case("ExactAUC"),
    exact_case("ExactAUC-PR", curve="PR"),
    exact_case("ExactAUC-multi_label-label_weights", multi_label=True, label_weights=LABEL_WEIGHTS,
               layouts=("multiclass",)),
    exact_case("ExactAUC-PR-flat-label_weights", curve="PR", label_weights=LABEL_WEIGHTS, layouts=("multiclass",)),
]
