"""Every other Keras family on the CPU: gpumetrics beside NumPy by hand, torchmetrics and Keras, one group per metric.

Regression, binary and IoU-id metrics run on N = 1e7 samples; the
categorical ones (a class row per sample) on 1e6 x 10 classes. Each round is
one ``update_state`` + ``result`` on the whole batch from a reset state (one
expression for NumPy), converted with ``float()`` so lazy work is counted.
Keras runs on its JAX backend unless ``KERAS_BACKEND`` says otherwise.
torchmetrics joins where it has the same quantity (no crossentropy, no
per-sample correlation there). After timing, every peer must give the same
number as gpumetrics (``rtol`` per case: float32 peers sum in float32).
Run: ``pytest bench/test_bench_families.py --benchmark-only``.
"""
import dataclasses
import functools
from typing import Callable, Optional

import numpy as np
import pytest

N, ROWS, CLASSES = 10**7, 10**6, 10
ROUNDS = 5
EPS = 1e-7


@functools.lru_cache(maxsize=None)
def data(kind):
    """Inputs, made once per kind: ``(y_true, y_pred)`` as a user would hold them (float32 scores, int32 ids)."""
    rng = np.random.default_rng(2026)
    if kind == "regression":
        y_true = rng.random(N, dtype=np.float32) + 0.5  # positive, as MAPE, MSLE and Poisson expect
        return y_true, np.abs(y_true + 0.3 * rng.standard_normal(N, dtype=np.float32)).astype(np.float32)
    if kind == "regression_column":  # R2Score takes (samples, outputs)
        return tuple(a.reshape(N, 1) for a in data("regression"))
    if kind == "binary":
        labels = rng.integers(0, 2, N, dtype=np.int32)
        return labels, (0.6 * rng.random(N, dtype=np.float32) + 0.4 * labels).astype(np.float32)
    if kind == "ids":
        labels = rng.integers(0, 3, N, dtype=np.int32)
        return labels, np.where(rng.random(N) < 0.7, labels, rng.integers(0, 3, N)).astype(np.int32)
    if kind == "class_ids":
        labels = rng.integers(0, CLASSES, N, dtype=np.int32)
        return labels, np.where(rng.random(N) < 0.6, labels, rng.integers(0, CLASSES, N)).astype(np.int32)
    ids = rng.integers(0, CLASSES, ROWS, dtype=np.int32)
    scores = rng.random((ROWS, CLASSES), dtype=np.float32)
    scores[np.arange(ROWS), ids] += 0.5
    scores /= scores.sum(axis=1, keepdims=True)
    if kind == "sparse":
        return ids, scores
    if kind == "one_hot":
        return np.eye(CLASSES, dtype=np.float32)[ids], scores
    if kind == "distributions":  # two probability rows per sample
        return scores, rng.dirichlet(np.ones(CLASSES), size=ROWS).astype(np.float32)
    if kind == "rows":  # two correlated real-valued rows per sample
        return scores, (scores + 0.05 * rng.standard_normal(scores.shape, dtype=np.float32)).astype(np.float32)
    raise ValueError(kind)


def _f64(*arrays):
    return [np.asarray(a, np.float64) if a.dtype != np.float64 else a for a in arrays]


def _cross_entropy(t, p):
    p = np.clip(p / p.sum(axis=1, keepdims=True), EPS, 1 - EPS)
    return -np.mean(np.sum(t * np.log(p), axis=1))


def _pearson_rows(t, p):
    t, p = t - t.mean(axis=1, keepdims=True), p - p.mean(axis=1, keepdims=True)
    return np.mean((t * p).sum(1) / np.sqrt((t * t).sum(1) * (p * p).sum(1)))


def _mean_iou(t, p):
    matrix = np.bincount(t * CLASSES + p, minlength=CLASSES * CLASSES).reshape(CLASSES, CLASSES).astype(np.float64)
    tp = np.diag(matrix)
    return np.mean(tp / (matrix.sum(0) + matrix.sum(1) - tp))


def _f1_macro(t, p):
    predicted, positive = p > 0.5, t == 1
    tp = (predicted & positive).sum(0)
    return np.mean(2 * tp / np.maximum(tp + predicted.sum(0) + positive.sum(0), 1))


@dataclasses.dataclass
class Family:
    """One metric: its data, our class and arguments, the NumPy expression, and its torchmetrics twin."""

    metric: str
    data: str
    by_hand: Callable  # (y_true, y_pred) -> float, the NumPy a user would write
    kwargs: dict = dataclasses.field(default_factory=dict)
    torchmetrics: Optional[Callable] = None  # (torchmetrics) -> (metric, (preds, target) from (y_true, y_pred), scale)
    rtol: float = 1e-4


def tm(factory, order=lambda t, p: (p, t), scale=1.0):
    return lambda module: (factory(module), order, scale)


FAMILIES = [
    Family("MeanAbsolutePercentageError", "regression",
           lambda t, p: 100 * np.mean(np.abs((t - p) / np.maximum(np.abs(t), EPS))),
           torchmetrics=tm(lambda m: m.MeanAbsolutePercentageError(), scale=100.0)),
    Family("MeanSquaredLogarithmicError", "regression",
           lambda t, p: np.mean((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(t, EPS))) ** 2),
           torchmetrics=tm(lambda m: m.MeanSquaredLogError())),
    Family("LogCoshError", "regression", lambda t, p: np.mean(np.logaddexp(p - t, t - p) - np.log(2.0)),
           torchmetrics=tm(lambda m: m.LogCoshError())),
    Family("R2Score", "regression_column", lambda t, p: 1 - np.sum((t - p) ** 2) / np.sum((t - t.mean()) ** 2),
           torchmetrics=tm(lambda m: m.R2Score())),
    Family("BinaryCrossentropy", "binary", lambda t, p: -np.mean(
        t * np.log(np.clip(p, EPS, 1 - EPS)) + (1 - t) * np.log(np.clip(1 - p, EPS, 1 - EPS)))),
    Family("Poisson", "regression", lambda t, p: np.mean(p - t * np.log(p + EPS))),
    Family("Hinge", "binary", lambda t, p: np.mean(np.maximum(1 - (2.0 * t - 1) * p, 0)),
           torchmetrics=tm(lambda m: m.classification.BinaryHingeLoss())),
    Family("BinaryAccuracy", "binary", lambda t, p: np.mean(t == (p > 0.5)),
           torchmetrics=tm(lambda m: m.classification.BinaryAccuracy())),
    Family("Precision", "binary", lambda t, p: np.sum((p > 0.5) & (t == 1)) / np.sum(p > 0.5),
           torchmetrics=tm(lambda m: m.classification.BinaryPrecision())),
    Family("Recall", "binary", lambda t, p: np.sum((p > 0.5) & (t == 1)) / np.sum(t == 1),
           torchmetrics=tm(lambda m: m.classification.BinaryRecall())),
    Family("Accuracy", "ids", lambda t, p: np.mean(t == p),
           torchmetrics=tm(lambda m: m.classification.MulticlassAccuracy(3, average="micro"))),
    Family("CategoricalCrossentropy", "one_hot", _cross_entropy),
    Family("SparseCategoricalCrossentropy", "sparse", lambda t, p: -np.mean(np.log(np.clip(
        p[np.arange(len(t)), t] / p.sum(axis=1), EPS, 1 - EPS)))),
    Family("KLDivergence", "distributions", lambda t, p: np.mean(np.sum(
        np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1)), axis=1)),
           torchmetrics=tm(lambda m: m.KLDivergence(), order=lambda t, p: (t, p))),
    Family("CategoricalAccuracy", "one_hot", lambda t, p: np.mean(t.argmax(1) == p.argmax(1)),
           torchmetrics=tm(lambda m: m.classification.MulticlassAccuracy(CLASSES, average="micro"),
                           order=lambda t, p: (p, t.argmax(1)))),
    Family("SparseCategoricalAccuracy", "sparse", lambda t, p: np.mean(t == p.argmax(1)),
           torchmetrics=tm(lambda m: m.classification.MulticlassAccuracy(CLASSES, average="micro"))),
    Family("SparseTopKCategoricalAccuracy", "sparse",
           lambda t, p: np.mean((p > p[np.arange(len(t)), t][:, None]).sum(1) < 5), {"k": 5},
           torchmetrics=tm(lambda m: m.classification.MulticlassAccuracy(CLASSES, top_k=5, average="micro"))),
    Family("F1Score", "one_hot", _f1_macro, {"average": "macro", "threshold": 0.5},
           torchmetrics=tm(lambda m: m.classification.MultilabelF1Score(CLASSES, threshold=0.5, average="macro"),
                           order=lambda t, p: (p, t.astype(np.int32)))),
    Family("CategoricalHinge", "one_hot",
           lambda t, p: np.mean(np.maximum(((1 - t) * p).max(1) - (t * p).sum(1) + 1, 0)),
           torchmetrics=tm(lambda m: m.classification.MulticlassHingeLoss(CLASSES),
                           order=lambda t, p: (p, t.argmax(1)))),
    Family("CosineSimilarity", "rows",
           lambda t, p: np.mean((t * p).sum(1) / np.sqrt((t * t).sum(1) * (p * p).sum(1))),
           torchmetrics=tm(lambda m: m.CosineSimilarity(reduction="mean"))),
    Family("PearsonCorrelation", "rows", _pearson_rows),
    Family("MeanIoU", "class_ids", _mean_iou, {"num_classes": CLASSES},
           torchmetrics=tm(lambda m: m.classification.MulticlassJaccardIndex(CLASSES, average="macro"))),
]


def gpumetrics_peer(family, y_true, y_pred):
    import gpumetrics

    m = getattr(gpumetrics, family.metric)(**family.kwargs, device="cpu")

    def run():
        m.reset_state()
        m.update_state(y_true, y_pred)
        return float(m.result())

    return run


def numpy_peer(family, y_true, y_pred):
    return lambda: float(family.by_hand(y_true, y_pred))


def torchmetrics_peer(family, y_true, y_pred):
    torch = pytest.importorskip("torch")
    module = pytest.importorskip("torchmetrics")
    if family.torchmetrics is None:
        pytest.skip(f"torchmetrics has no {family.metric}")
    m, order, scale = family.torchmetrics(module)
    args = [torch.from_numpy(np.ascontiguousarray(a)) for a in order(y_true, y_pred)]
    args = [a.long() if a.dtype == torch.int32 else a for a in args]

    def run():
        m.reset()
        m.update(*args)
        return scale * float(m.compute())

    return run


def keras_peer(family, y_true, y_pred):
    keras = pytest.importorskip("keras")
    m = getattr(keras.metrics, family.metric)(**family.kwargs)

    def run():
        m.reset_state()
        m.update_state(y_true, y_pred)
        return float(m.result())  # waits for JAX's asynchronous dispatch

    return run


PEERS = {"gpumetrics": gpumetrics_peer, "numpy": numpy_peer, "torchmetrics": torchmetrics_peer, "keras": keras_peer}


@functools.lru_cache(maxsize=None)
def reference(metric):
    """gpumetrics' value of a family, computed once outside the timing, for the agreement check."""
    family = next(f for f in FAMILIES if f.metric == metric)
    return gpumetrics_peer(family, *data(family.data))()


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.metric)
def test_family(benchmark, record_bandwidth, family, peer):
    """One metric's group; the first round is a warm-up (Numba and JAX compile there)."""
    y_true, y_pred = data(family.data)
    run = PEERS[peer](family, y_true, y_pred)
    shape = "x".join(str(s) for s in y_pred.shape)
    benchmark.group = f"{family.metric} {shape}"
    benchmark.extra_info["peer"] = peer
    value = benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    assert value == pytest.approx(reference(family.metric), rel=family.rtol)
    record_bandwidth(y_true.nbytes + y_pred.nbytes)
