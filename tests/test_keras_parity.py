"""The real Keras (NumPy backend) and gpumetrics on the same random inputs, several weighted updates."""
import re

import numpy as np
import pytest

from cases import CASES
from conftest import on_device, to_host

import gpumetrics

keras = pytest.importorskip("keras", reason="Keras parity needs keras (and jax, which its NumPy backend imports)")

ONE_SAMPLE = ["MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError"]


@pytest.mark.parametrize("name", ONE_SAMPLE)
def test_one_dimensional_inputs_are_one_sample_as_in_keras(name, device):
    y_true, y_pred = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 4.0])
    ours, theirs = getattr(gpumetrics, name)(device=device), getattr(keras.metrics, name)()
    ours.update_state(y_true, y_pred, sample_weight=2.0)
    theirs.update_state(y_true, y_pred, sample_weight=2.0)
    np.testing.assert_allclose(float(to_host(ours.result())), float(theirs.result()), rtol=1e-6)


def test_keras_also_refuses_per_element_weights_on_one_sample():
    with pytest.raises(Exception):
        keras.metrics.MeanSquaredError().update_state(np.ones(3), np.ones(3), sample_weight=np.ones(3))


#: threshold configurations beyond the rows of cases.py (those are all in test_every_case_same_numbers_as_keras),
#: on batches with scores exactly on 0.5 (exact in float32, so Keras agrees there)
THRESHOLD_METRICS = {
    "TrueNegatives": {"thresholds": [0.3, 0.7]}, "Precision": {"thresholds": [0.25, 0.5]},
    "Recall-class_id": {"class_id": 1}, "Precision-top_k-class_id": {"top_k": 1, "class_id": 2},
    "AUC-PR": {"curve": "PR"}, "AUC-PR-majoring": {"curve": "PR", "summation_method": "majoring"},
    "AUC-PRGAIN": {"curve": "PRGAIN", "num_thresholds": 50},
    "AUC-multi_label": {"multi_label": True, "num_labels": 4, "label_weights": [0.5, 1, 2, 0]},
    "AUC-thresholds-logits": {"thresholds": [0.2, 0.5, 0.9], "from_logits": True},
    "PrecisionAtRecall": {"recall": 0.7}, "RecallAtPrecision": {"precision": 0.6, "num_thresholds": 20},
    "SensitivityAtSpecificity": {"specificity": 0.5}, "SpecificityAtSensitivity": {"sensitivity": 0.5, "class_id": 3},
    "F1Score-macro": {"average": "macro", "threshold": 0.5},
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


#: rows of cases.py whose random batches Keras scores differently on purpose (each reason is a documented choice);
#: the same metrics are compared with Keras above on batches without that edge
KERAS_DIFFERS = {
    "MeanMetricWrapper": "wraps this package's own function object, which Keras cannot deserialize",
    "MeanMetricWrapper-plain-fn": "wraps a test-local function, which Keras cannot deserialize",
    "R2Score-adjusted": "n counts samples of non-zero weight, as current Keras (#23334); Keras 3.15 rows x "
                        "outputs. test_r2_semantics.py compares with Keras's R² adjusted by the current rule",
}


#: (row, layout) pairs Keras itself cannot update; the row's other layouts are compared
KERAS_FAILS = {
    ("SparseCategoricalCrossentropy-logits-ignore_class", "cube"): "Keras 3 broadcasts its ignore_class mask (N, d) "
                                                                     "against weights of shape (N,) and raises",
}


def keras_twin(metric):
    """The ``keras.metrics`` class of the same name, built from our config (the same arguments)."""
    return getattr(keras.metrics, type(metric).__name__).from_config(metric.get_config())


def keras_batch(case, rng, layout, weighted, integer_weights):
    """A batch of ``case`` as Keras takes it: float32, no scores exactly on thresholds, and whole-number weights
    where Keras keeps integer state (the IoU family, which truncates float weights)."""
    batch = case.batch(rng, layout, weighted, on_thresholds=False)
    batch = {k: v.astype(np.float32) if np.asarray(v).dtype == np.float64 else v for k, v in batch.items()}
    if integer_weights and weighted:
        batch["sample_weight"] = np.round(batch["sample_weight"] * 2).astype(np.int32)
    return batch


@pytest.mark.parametrize("case", [c for c in CASES if hasattr(keras.metrics, type(c.make("cpu")).__name__)],
                         ids=lambda c: c.id)  # metrics beyond Keras (ExactAUC) have no twin to compare with
def test_every_case_same_numbers_as_keras(case, device, rng):
    """Every row of ``cases.py`` in each of its layouts: the real Keras and gpumetrics on the same batches (weighted,
    unweighted, weighted), after each update."""
    if case.id in KERAS_DIFFERS:
        pytest.skip(KERAS_DIFFERS[case.id])
    for layout in (layout for layout in case.layouts if (case.id, layout) not in KERAS_FAILS):
        ours = case.make(device)
        theirs = keras_twin(ours)
        for weighted in (True, False, True):
            batch = keras_batch(case, rng, layout, weighted, "int" in str(theirs.dtype))
            case.update(theirs, batch)
            case.update(ours, {k: on_device(v, device) for k, v in batch.items()})
            np.testing.assert_allclose(np.asarray(to_host(ours.result()), np.float64),
                                       np.asarray(theirs.result(), np.float64), rtol=case.keras_rtol, atol=1e-6,
                                       err_msg=f"{layout}, weighted={weighted}")


def keras_default_name(class_name, config):
    """The name Keras gives ``class_name`` built from ``config`` with ``name=None``; None when Keras takes no such
    config."""
    try:
        name = getattr(keras.metrics, class_name).from_config({**config, "name": None}).name
    except (TypeError, ValueError):
        return None
    return re.sub(r"_\d+$", "", name)  # Keras numbers the second and later metrics of a name in a process


@pytest.mark.parametrize("case", [c for c in CASES if hasattr(keras.metrics, type(c.make("cpu")).__name__)],
                         ids=lambda c: c.id)
def test_default_name_is_keras(case):
    """``name=None`` gives Keras's name: the class name in snake_case (MeanSquaredError was "mean_metric_wrapper")."""
    ours = case.make("cpu")
    config = ours.get_config()
    expected = keras_default_name(type(ours).__name__, config)
    if expected is None:
        pytest.skip(f"Keras does not take {type(ours).__name__}'s config {config}")
    if "fn" in config and ":" in str(config["fn"]):
        pytest.skip("a user's function loads only through custom_objects")
    assert type(ours).from_config({**config, "name": None}).name == expected
