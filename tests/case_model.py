"""What a row of ``cases.py`` is: a metric, how to draw its batches, and an independent float64 oracle.

Oracles follow Keras's documented rule directly (per-sample values, weights of
rank ``k`` weighting the values' first ``k`` axes, ``sum(w * v) / sum(w)``
per batch, totals and counts added across batches), with NumPy in float64.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

#: (values shape, sample-weight shape) of one batch, per layout; batch size first.
LAYOUTS = {
    "column": ((12, 1), (12,)),
    "matrix": ((10, 3), (10,)),
    "cube": ((6, 4, 3), (6,)),
    "cube_weight_per_row": ((6, 4, 3), (6, 4)),
    "binary": ((24,), (24,)),
    "binary_column": ((24, 1), (24,)),
    "multiclass": ((12, 4), (12,)),
}
REGRESSION_LAYOUTS = ("column", "matrix", "cube", "cube_weight_per_row")
#: predictions drawn for classification batches include values exactly on common thresholds
ON_THRESHOLDS = np.array([0.0, 0.5, 1.0, 1 / 3, 2 / 3, 0.25])


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


@dataclass
class Case:
    """A metric under test: ``make(device)`` builds it; ``oracle(batches)`` is the float64 expected result."""

    id: str
    make: Callable
    oracle: Callable
    takes_values: bool = False  # update_state(values, sample_weight) rather than (y_true, y_pred, sample_weight)
    layouts: tuple = REGRESSION_LAYOUTS
    rtol: float = 1e-5
    keras_rtol: float = 1e-4  # against the real Keras, which computes in float32
    classification: bool = False  # 0/1 labels and scores in [0, 1] (some exactly on thresholds)
    logits: bool = False  # classification scores drawn as logits instead
    validates_pairs: bool = True  # False: a user's function receives y_true / y_pred as they are and raises its own errors
    draw: Optional[Callable] = None  # draw(rng, shape) -> {"y_true", "y_pred"} for inputs the defaults do not cover

    def batch(self, rng, layout, weighted, on_thresholds=True):
        """One batch of ``layout``; ``on_thresholds=False`` leaves out the classification scores drawn exactly on
        common thresholds (where Keras, comparing in float32, disagrees on purpose)."""
        shape, weight_shape = LAYOUTS[layout]
        if self.draw is not None:
            batch = self.draw(rng, shape)
            if weighted:
                batch["sample_weight"] = rng.uniform(0, 2, size=weight_shape)
            return batch
        if self.classification:
            scores = rng.uniform(size=shape)
            on_threshold = (rng.uniform(size=shape) < 0.25) & on_thresholds
            scores[on_threshold] = rng.choice(ON_THRESHOLDS, size=int(on_threshold.sum()))
            batch = {"y_true": rng.integers(0, 2, size=shape),
                     "y_pred": (rng.normal(scale=3, size=shape) if self.logits else scores).astype(np.float32)}
        else:
            batch = {"y_pred": rng.normal(size=shape).astype(np.float32)}
        if not self.takes_values and not self.classification:
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
