"""Rows for the mean metrics of an elementwise function: regression, binary crossentropy, KL, Poisson, hinge, accuracy.

Each oracle writes Keras's formula out in float64 NumPy, independently of the
code under test, and reduces it with Keras's sample-weight rule (``mean_of``).
"""
import numpy as np

from case_model import REGRESSION_LAYOUTS, Case, mean_of

import gpumetrics

EPS = 1e-7
BINARY_LAYOUTS = ("binary_column", "multiclass", "cube")


def pair(y_true, y_pred):
    return lambda rng, shape: {"y_true": y_true(rng, shape), "y_pred": y_pred(rng, shape)}


def normal(rng, shape):
    return rng.normal(size=shape).astype(np.float32)


def labels01(rng, shape):
    return rng.integers(0, 2, size=shape)


def probabilities(rng, shape):
    return rng.uniform(0.02, 0.98, size=shape).astype(np.float32)


def t_p(b):
    return np.asarray(b["y_true"], np.float64), np.asarray(b["y_pred"], np.float64)


def last_axis_mean(f):
    return lambda b: f(*t_p(b)).mean(axis=-1)


def bce(t, p, smoothing=0.0):
    t = t * (1 - smoothing) + 0.5 * smoothing
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def bce_logits(t, x, smoothing=0.0):
    t = t * (1 - smoothing) + 0.5 * smoothing
    return t * np.log1p(np.exp(-x)) + (1 - t) * np.log1p(np.exp(x))


def hinge_values(square):
    def values(b):
        t, p = t_p(b)
        if np.isin(t, [0, 1]).all():
            t = 2 * t - 1
        h = np.maximum(1 - t * p, 0)
        return (h ** 2 if square else h).mean(axis=-1)

    return values


def signed_or_binary_labels(rng, shape):
    """0/1 labels in most batches, -1/1 in some: both of Keras's label conventions."""
    labels = rng.integers(0, 2, size=shape).astype(np.float32)
    return labels if rng.uniform() < 0.6 else 2 * labels - 1


def on_threshold_scores(rng, shape):
    scores = rng.uniform(size=shape).astype(np.float32)
    scores[rng.uniform(size=shape) < 0.2] = 0.5
    return scores


def small_ints(rng, shape):
    return rng.integers(0, 3, size=shape)


ELEMENTWISE_CASES = [
    Case("MeanAbsolutePercentageError", lambda d: gpumetrics.MeanAbsolutePercentageError(device=d),
         lambda bs: mean_of(bs, last_axis_mean(lambda t, p: 100 * np.abs(t - p) / np.maximum(np.abs(t), EPS)))),
    Case("MeanSquaredLogarithmicError", lambda d: gpumetrics.MeanSquaredLogarithmicError(device=d),
         lambda bs: mean_of(bs, last_axis_mean(
             lambda t, p: (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2)),
         draw=pair(lambda rng, s: rng.uniform(0, 3, s), lambda rng, s: rng.uniform(-0.5, 3, s).astype(np.float32))),
    Case("LogCoshError", lambda d: gpumetrics.LogCoshError(device=d),
         lambda bs: mean_of(bs, last_axis_mean(lambda t, p: np.log(np.cosh(p - t))))),
    Case("BinaryCrossentropy", lambda d: gpumetrics.BinaryCrossentropy(device=d),
         lambda bs: mean_of(bs, last_axis_mean(bce)), layouts=BINARY_LAYOUTS,
         draw=pair(labels01, probabilities)),
    Case("BinaryCrossentropy-logits-smoothing",
         lambda d: gpumetrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.2, device=d),
         lambda bs: mean_of(bs, last_axis_mean(lambda t, x: bce_logits(t, x, 0.2))), layouts=BINARY_LAYOUTS,
         draw=pair(labels01, lambda rng, s: (3 * rng.normal(size=s)).astype(np.float32))),
    Case("KLDivergence", lambda d: gpumetrics.KLDivergence(device=d),
         lambda bs: mean_of(bs, lambda b: (lambda t, p: (t * np.log(t / p)).sum(axis=-1))(
             *(np.clip(a, EPS, 1) for a in t_p(b)))),
         layouts=("matrix", "cube", "cube_weight_per_row"), draw=pair(probabilities, probabilities)),
    Case("Poisson", lambda d: gpumetrics.Poisson(device=d),
         lambda bs: mean_of(bs, last_axis_mean(lambda t, p: p - t * np.log(p + EPS))),
         draw=pair(lambda rng, s: rng.poisson(2.0, s), lambda rng, s: rng.uniform(0.1, 4, s).astype(np.float32))),
    Case("Hinge", lambda d: gpumetrics.Hinge(device=d), lambda bs: mean_of(bs, hinge_values(False)),
         draw=pair(signed_or_binary_labels, normal)),
    Case("SquaredHinge", lambda d: gpumetrics.SquaredHinge(device=d), lambda bs: mean_of(bs, hinge_values(True)),
         draw=pair(signed_or_binary_labels, normal)),
    Case("Accuracy", lambda d: gpumetrics.Accuracy(device=d),
         lambda bs: mean_of(bs, lambda b: (lambda t, p: (t == p).astype(float))(*t_p(b))),
         layouts=REGRESSION_LAYOUTS + ("binary",), draw=pair(small_ints, small_ints)),
    Case("BinaryAccuracy", lambda d: gpumetrics.BinaryAccuracy(device=d),
         lambda bs: mean_of(bs, lambda b: (lambda t, p: (t == (p > 0.5)).astype(float))(*t_p(b))),
         layouts=BINARY_LAYOUTS + ("binary",), draw=pair(labels01, on_threshold_scores)),
    Case("BinaryAccuracy-threshold", lambda d: gpumetrics.BinaryAccuracy(threshold=0.3, device=d),
         lambda bs: mean_of(bs, lambda b: (lambda t, p: (t == (p > np.float32(0.3))).astype(float))(*t_p(b))),
         layouts=BINARY_LAYOUTS, draw=pair(labels01, lambda rng, s: np.where(
             rng.uniform(size=s) < 0.2, np.float32(0.3), rng.uniform(size=s)).astype(np.float32))),
]
