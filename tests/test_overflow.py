"""Sums past float64's range (weights summing past 1.8e308, squares of entries past 1.3e154) never give a wrong
finite number: the ratio is computed exactly where scaling can (the row kinds), and is NaN where a state has
overflowed (``result()`` of the means, the threshold and IoU families, R²), as Keras's results are."""
import math
import warnings

import numpy as np
import pytest

from conftest import on_device, to_host

import gpumetrics

BIG = np.array([1e308, 1e308])  # each weight finite, their sum is not
PROBABILITIES = np.array([[0.4, 0.6], [0.3, 0.7]])

OVERFLOWED = {  # metric, y_true, y_pred, sample_weight: a finite exact value, an overflowed denominator state
    "MeanSquaredError": (gpumetrics.MeanSquaredError, np.zeros((2, 1)), np.full((2, 1), 0.5), BIG),
    "KLDivergence": (gpumetrics.KLDivergence, np.full((2, 2), 0.5), PROBABILITIES, BIG),
    "SparseCategoricalCrossentropy": (gpumetrics.SparseCategoricalCrossentropy, np.array([0, 1]), PROBABILITIES,
                                      BIG),
    "Mean": (None, None, np.array([0.1, 0.2]), BIG),
    "MeanIoU": (lambda **k: gpumetrics.MeanIoU(2, **k), np.array([0, 1, 1]), np.array([0, 1, 0]),
                np.full(3, 1e308)),
    "Precision": (gpumetrics.Precision, np.array([1, 0]), np.array([0.9, 0.9]), BIG),
    "Recall": (gpumetrics.Recall, np.array([1, 1]), np.array([0.9, 0.1]), BIG),
    "F1Score": (lambda **k: gpumetrics.F1Score(threshold=0.5, **k), np.array([[1, 0], [1, 0]]),
                np.array([[0.9, 0.1], [0.1, 0.9]]), BIG),
    # SS_tot past the range (exact R² 0.875; 1 - SS_res / inf read 1)
    "R2Score": (gpumetrics.R2Score, np.array([[8.6e153], [-8.6e153]]), np.array([[8.6e153], [-4.3e153]]), None),
    # SS_res past the range: -inf (Keras's inf -> 0 rule is for SS_tot = 0 only)
    "R2Score-residual": (gpumetrics.R2Score, np.array([[1.0], [-1.0]]), np.array([[1e155], [0.0]]), None),
}


@pytest.mark.parametrize("name", sorted(OVERFLOWED))
def test_an_overflowed_state_gives_nan_or_inf_not_a_finite_number(name, device):
    make, y_true, y_pred, weight = OVERFLOWED[name]
    metric = (make or gpumetrics.Mean)(dtype="float64", device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        args = (y_pred,) if make is None else (on_device(y_true, device), on_device(y_pred, device))
        metric.update_state(*args, sample_weight=None if weight is None else on_device(weight, device))
        result = np.asarray(to_host(metric.result()), np.float64)
    assert not np.isfinite(result).all(), result


@pytest.mark.parametrize("name,make", [("PearsonCorrelation", gpumetrics.PearsonCorrelation),
                                       ("CosineSimilarity", gpumetrics.CosineSimilarity)])
def test_rows_past_the_float64_range_keep_their_exact_value(name, make, device):
    y_true, y_pred = np.array([[1.0, -1.0, 0.5], [2.0, 0.0, -1.0]]), np.array([[1.0, -1.0, 0.3], [1.0, 2.0, 0.0]])
    exact, scaled = make(dtype="float64", device=device), make(dtype="float64", device=device)
    exact.update_state(on_device(y_true, device), on_device(y_pred, device))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scaled.update_state(on_device(y_true * 2.0**600, device), on_device(y_pred, device))
    assert math.isclose(float(to_host(scaled.result())), float(to_host(exact.result())), rel_tol=1e-14)


@pytest.mark.parametrize("fn", [gpumetrics.pearson_correlation, gpumetrics.concordance_correlation,
                                gpumetrics.metrics.regression.cosine_similarity], ids=lambda f: f.__name__)
def test_per_sample_functions_past_the_range_give_nan_not_zero(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        values = fn(np.array([[1.0, -1.0, 0.5], [1.0, 2.0, 0.0]]) * 2.0**600, np.array([[1.0, -1.0, 0.3]] * 2))
    assert np.isnan(values).all(), values
    assert np.isfinite(fn(np.array([[1.0, -1.0, 0.5]]), np.array([[1.0, -1.0, 0.3]]))).all()


@pytest.mark.parametrize("fn,y_true", [(gpumetrics.categorical_crossentropy, [[0.0, 1.0]]),
                                       (gpumetrics.sparse_categorical_crossentropy, [1])], ids=["dense", "sparse"])
def test_crossentropy_of_probabilities_summing_past_the_range_is_nan(fn, y_true):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(fn(np.array(y_true), np.array([[1e308, 1e308]]))).all()


def test_normal_sums_are_untouched(device):
    mean = gpumetrics.Mean(dtype="float64", device=device)
    assert float(to_host(mean.result())) == 0.0  # nothing seen: 0, as before
    weight = on_device(np.array([1e307, 3e307]), device)
    mean.update_state(on_device(np.array([1.0, 2.0]), device), sample_weight=weight)
    assert float(to_host(mean.result())) == (1e307 + 6e307) / 4e307
