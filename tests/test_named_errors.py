"""Inputs that used to escape as NumPy or Python internals (IndexError, broadcast errors, bool negation) raise a
``ValueError`` / ``TypeError`` naming the argument and what was seen, and change nothing (issue 12, defect 11)."""
import numpy as np
import pytest

from conftest import to_host

import gpumetrics

LABELS = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 0], [0, 0, 1]], np.float64)
SCORES = np.array([[0.2, 0.7, 0.4], [0.9, 0.1, 0.3], [0.6, 0.8, 0.5], [0.3, 0.2, 0.1]])


def looks(metric):
    return metric.device, {k: v.tolist() for k, v in metric.state_dict().items()}


def refuses(metric, call, error, message):
    """``call(metric)`` raises ``error`` matching ``message`` and leaves ``metric`` as it was."""
    before = looks(metric)
    with pytest.raises(error, match=message):
        call(metric)
    assert looks(metric) == before


@pytest.mark.parametrize("cls", [gpumetrics.Precision, gpumetrics.Recall])
def test_top_k_of_a_scalar_names_top_k_and_the_shape(cls, device):
    metric = cls(top_k=1, device=device)
    refuses(metric, lambda m: m.update_state(1, 0.5), ValueError, r"top_k=1 .*y_pred of shape \(\)")
    metric.update_state(LABELS, SCORES)
    refuses(metric, lambda m: m.update_state(1, 0.5), ValueError, r"top_k=1 .*y_pred of shape \(\)")


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.uint32])
def test_top_k_ranks_bool_and_unsigned_scores_as_numbers(dtype, device):
    """Keras casts scores to float before top-k: bool scores are 0 / 1, unsigned ones must not wrap when negated."""
    scores = (SCORES > 0.35) if dtype is bool else np.round(SCORES * 10) - 1  # zeros: negation wraps all unsigned scores but 0
    expected, got = gpumetrics.Precision(top_k=2, device=device), gpumetrics.Precision(top_k=2, device=device)
    expected.update_state(LABELS, scores.astype(np.float64))
    got.update_state(LABELS, scores.astype(dtype))
    assert float(to_host(got.result())) == float(to_host(expected.result()))


def test_auc_label_weights_that_do_not_fit_the_labels_are_named(device):
    flat = gpumetrics.AUC(num_thresholds=5, label_weights=[1, 2], device=device)
    refuses(flat, lambda m: m.update_state(LABELS, SCORES), ValueError,
            r"label_weights of shape \(2,\) do not broadcast to y_pred of shape \(4, 3\)")
    multi = gpumetrics.AUC(num_thresholds=5, multi_label=True, label_weights=[1, 2], device=device)
    three = gpumetrics.AUC(num_thresholds=5, multi_label=True, label_weights=[1, 2, 3], device=device)
    three.update_state(LABELS, SCORES)
    state = {**three.state_dict(), **{k: v for k, v in multi.state_dict().items() if k.startswith("__")}}
    for call in (lambda m: m.update_state(LABELS, SCORES), lambda m: m.load_state_dict(state)):
        refuses(multi, call, ValueError, r"2 label_weights \[1\. 2\.\]; got 3 labels")
    multi.update_state(LABELS[:, :2], SCORES[:, :2])
    assert np.isfinite(float(to_host(multi.result())))


@pytest.mark.parametrize("kwargs,error,message", [
    ({"multi_label": True, "num_labels": 3, "label_weights": [1, 2]}, ValueError,
     r"label_weights must hold one weight per label \(3 labels\); got shape \(2,\)"),
    ({"label_weights": [[1, 2]]}, ValueError, r"label_weights must hold one weight per label.*shape \(1, 2\)"),
    ({"label_weights": ["a", "b"]}, TypeError, r"label_weights must hold real numbers.*dtype <U1"),
])
def test_auc_label_weights_are_checked_at_construction(kwargs, error, message):
    with pytest.raises(error, match=message):
        gpumetrics.AUC(**kwargs)


def max_error(y_true, y_pred):
    return np.abs(y_true - y_pred).max(axis=-1)


@pytest.mark.parametrize("fn,y_pred,weight,error,message", [
    (max_error, np.zeros((4, 2)), None, ValueError,
     r"fn=test_named_errors:max_error failed on y_true of shape \(4, 3\) and y_pred of shape \(4, 2\): "
     r"ValueError: operands could not be broadcast"),
    (lambda t, p: t[:, 5], np.zeros((4, 3)), None, ValueError, r"failed on y_true of shape \(4, 3\).*IndexError"),
    (lambda t, p: None, np.zeros((4, 3)), None, TypeError, r"per-sample values that fn=.* returned .*values is None"),
    (lambda t, p: np.ones(7), np.zeros((4, 3)), np.ones(4), ValueError,
     r"fn=.* returned for y_true of shape \(4, 3\) and y_pred of shape \(4, 3\) \(shape \(7,\)\): sample_weight of "
     r"shape \(4,\)"),
], ids=["inputs-do-not-broadcast", "index-error", "returns-None", "values-against-weights"])
def test_mean_metric_wrapper_names_fn_and_the_shapes(fn, y_pred, weight, error, message, device):
    metric = gpumetrics.MeanMetricWrapper(fn, device=device)
    refuses(metric, lambda m: m.update_state(np.ones((4, 3)), y_pred, sample_weight=weight), error, message)
