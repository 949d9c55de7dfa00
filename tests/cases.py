"""One row per metric: how to build it, how to draw a batch, and an independent float64 oracle.

Oracles follow Keras's documented rule directly (per-sample values, weights of
rank ``k`` weighting the values' first ``k`` axes, ``sum(w * v) / sum(w)``
per batch, totals and counts added across batches), with NumPy in float64.
"""
from dataclasses import dataclass
from typing import Callable

import numpy as np

import gpumetrics

#: (values shape, sample-weight shape or None) of one batch, per layout; batch size first.
LAYOUTS = {
    "column": ((12, 1), (12,)),
    "matrix": ((10, 3), (10,)),
    "cube": ((6, 4, 3), (6,)),
    "cube_weight_per_row": ((6, 4, 3), (6, 4)),
}


def keras_mean_totals(values, weight):
    """Keras ``Mean``'s (total, count) for one batch of per-sample ``values``."""
    values = np.asarray(values, np.float64)
    if weight is None:
        per_sample = values.reshape(values.shape[0], -1).mean(axis=1)
        return per_sample.sum(), float(values.shape[0])
    k = weight.ndim
    if k == 0:  # a scalar weight scales the batch mean, and counts once
        return values.mean() * weight, float(weight)
    cells = values.reshape(values.shape[:k] + (-1,)).mean(axis=-1)
    weight = np.broadcast_to(weight, cells.shape)
    batch = values.shape[0]
    return (cells * weight).reshape(batch, -1).mean(axis=1).sum(), weight.reshape(batch, -1).mean(axis=1).sum()


def mean_of(batches, per_sample_values):
    totals = [keras_mean_totals(per_sample_values(b), b.get("sample_weight")) for b in batches]
    total, count = map(sum, zip(*totals))
    return total / count if count else 0.0


def squared(b):
    return (b["y_true"] - b["y_pred"]) ** 2


def absolute(b):
    return np.abs(b["y_true"] - b["y_pred"])


@dataclass
class Case:
    """A metric under test: ``make(device)`` builds it; ``oracle(batches)`` is the float64 expected result."""

    id: str
    make: Callable
    oracle: Callable
    takes_values: bool = False  # update_state(values, sample_weight) rather than (y_true, y_pred, sample_weight)
    layouts: tuple = tuple(LAYOUTS)
    rtol: float = 1e-5

    def batch(self, rng, layout, weighted):
        shape, weight_shape = LAYOUTS[layout]
        batch = {"y_pred": rng.normal(size=shape).astype(np.float32)}
        if not self.takes_values:
            batch["y_true"] = rng.normal(size=shape).astype(np.float32)
        if weighted:
            batch["sample_weight"] = rng.uniform(0, 2, size=weight_shape)
        return batch

    def update(self, metric, batch):
        w = batch.get("sample_weight")
        if self.takes_values:
            metric.update_state(batch["y_pred"], sample_weight=w)
        else:
            metric.update_state(batch["y_true"], batch["y_pred"], sample_weight=w)


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


CASES = [
    Case("Sum", lambda d: gpumetrics.Sum(device=d), _sum_oracle, takes_values=True),
    Case("Mean", lambda d: gpumetrics.Mean(device=d), lambda bs: mean_of(bs, lambda b: b["y_pred"]),
         takes_values=True),
    Case("MeanSquaredError", lambda d: gpumetrics.MeanSquaredError(device=d),
         lambda bs: mean_of(bs, lambda b: squared(b).mean(axis=-1))),
    Case("MeanAbsoluteError", lambda d: gpumetrics.MeanAbsoluteError(device=d),
         lambda bs: mean_of(bs, lambda b: absolute(b).mean(axis=-1))),
    Case("RootMeanSquaredError", lambda d: gpumetrics.RootMeanSquaredError(device=d),
         lambda bs: np.sqrt(mean_of(bs, squared))),
    Case("MeanMetricWrapper", lambda d: gpumetrics.MeanMetricWrapper(gpumetrics.mean_absolute_error, device=d),
         lambda bs: mean_of(bs, lambda b: absolute(b).mean(axis=-1))),
    Case("MeanMetricWrapper-plain-fn", lambda d: gpumetrics.MeanMetricWrapper(max_abs_error, device=d),
         lambda bs: mean_of(bs, lambda b: absolute(b).max(axis=-1))),
]
