"""The real Keras (NumPy backend) and gpumetrics on the same random inputs, several weighted updates."""
import numpy as np
import pytest

from cases import LAYOUTS, REGRESSION_LAYOUTS
from conftest import on_device, to_host

import gpumetrics

keras = pytest.importorskip("keras", reason="Keras parity needs keras (and jax, which its NumPy backend imports)")

PAIRS = ["MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError"]
VALUES = ["Mean", "Sum"]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", REGRESSION_LAYOUTS)
@pytest.mark.parametrize("name", PAIRS + VALUES)
def test_same_numbers_as_keras(name, layout, weighted, device, rng):
    ours, theirs = getattr(gpumetrics, name)(device=device), getattr(keras.metrics, name)()
    shape, weight_shape = LAYOUTS[layout]
    for _ in range(3):
        y_true, y_pred = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
        w = rng.uniform(0, 2, size=weight_shape).astype(np.float32) if weighted else None
        args = (y_pred,) if name in VALUES else (y_true, y_pred)
        theirs.update_state(*args, sample_weight=w)
        ours.update_state(*(on_device(a, device) for a in args), sample_weight=None if w is None else on_device(w, device))
        np.testing.assert_allclose(float(to_host(ours.result())), float(theirs.result()), rtol=2e-5)


@pytest.mark.parametrize("name", PAIRS)
def test_one_dimensional_inputs_are_one_sample_as_in_keras(name, device):
    y_true, y_pred = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 4.0])
    ours, theirs = getattr(gpumetrics, name)(device=device), getattr(keras.metrics, name)()
    ours.update_state(y_true, y_pred, sample_weight=2.0)
    theirs.update_state(y_true, y_pred, sample_weight=2.0)
    np.testing.assert_allclose(float(to_host(ours.result())), float(theirs.result()), rtol=1e-6)


def test_keras_also_refuses_per_element_weights_on_one_sample():
    with pytest.raises(Exception):
        keras.metrics.MeanSquaredError().update_state(np.ones(3), np.ones(3), sample_weight=np.ones(3))


THRESHOLD_METRICS = {
    "TruePositives": {}, "FalsePositives": {"thresholds": [0.0, 0.5, 1.0]}, "TrueNegatives": {"thresholds": [0.3, 0.7]},
    "FalseNegatives": {}, "Precision": {"thresholds": [0.25, 0.5]}, "Recall": {},
    "Precision-top_k": {"top_k": 2}, "Recall-class_id": {"class_id": 1}, "Precision-top_k-class_id": {"top_k": 1, "class_id": 2},
    "AUC": {}, "AUC-PR": {"curve": "PR"}, "AUC-PR-majoring": {"curve": "PR", "summation_method": "majoring"},
    "AUC-PRGAIN": {"curve": "PRGAIN", "num_thresholds": 50},
    "AUC-multi_label": {"multi_label": True, "num_labels": 4, "label_weights": [0.5, 1, 2, 0]},
    "AUC-thresholds-logits": {"thresholds": [0.2, 0.5, 0.9], "from_logits": True},
    "PrecisionAtRecall": {"recall": 0.7}, "RecallAtPrecision": {"precision": 0.6, "num_thresholds": 20},
    "SensitivityAtSpecificity": {"specificity": 0.5}, "SpecificityAtSensitivity": {"sensitivity": 0.5, "class_id": 3},
    "F1Score": {}, "F1Score-macro": {"average": "macro", "threshold": 0.5},
    "FBetaScore-micro": {"average": "micro", "beta": 2.0}, "FBetaScore-weighted": {"average": "weighted", "beta": 0.5},
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", THRESHOLD_METRICS)
def test_threshold_family_same_numbers_as_keras(case, weighted, device, rng):
    name, kwargs = case.split("-")[0], THRESHOLD_METRICS[case]
    ours, theirs = getattr(gpumetrics, name)(**kwargs, device=device), getattr(keras.metrics, name)(**kwargs)
    for _ in range(3):
        y_true = rng.integers(0, 2, size=(16, 4))
        y_pred = rng.uniform(size=(16, 4)).astype(np.float32)
        if "top_k" not in kwargs:  # among equal scores Keras's NumPy backend keeps the later column, TensorFlow
            y_pred[rng.uniform(size=y_pred.shape) < 0.2] = 0.5  # and JAX (and we) the earlier: no ties there
        if kwargs.get("from_logits"):
            y_pred = rng.normal(scale=3, size=(16, 4)).astype(np.float32)
        w = rng.uniform(0, 2, size=16).astype(np.float32) if weighted else None
        theirs.update_state(y_true, y_pred, sample_weight=w)
        ours.update_state(on_device(y_true, device), on_device(y_pred, device),
                          sample_weight=None if w is None else on_device(w, device))
        np.testing.assert_allclose(np.asarray(to_host(ours.result()), np.float64),
                                   np.asarray(theirs.result(), np.float64), rtol=1e-4, atol=1e-6)
