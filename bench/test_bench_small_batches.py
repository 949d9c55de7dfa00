"""Per-update cost of one ``update_state`` on small batches (256 and 4,096 rows) on the CPU, beside peers.

What a training loop pays per step: the state is *not* reset between rounds
(metrics accumulate, as in an epoch), and each round is one ``update_state``
on the same batch. One group per (metric, n, quiet|busy):

=============================  ================================  ===========================================  ==========================================
case                           gpumetrics (``device="cpu"``)     torchmetrics (CPU tensors)                   Keras 3 (``KERAS_BACKEND``, jax in bench)
=============================  ================================  ===========================================  ==========================================
mse: (n, 1) float32 x2         ``MeanSquaredError``              ``MeanSquaredError``                         ``keras.metrics.MeanSquaredError``
auc: int32 0/1, float32        ``AUC()`` (200 thresholds)        ``BinaryAUROC(thresholds=200)``              ``keras.metrics.AUC()``
sparse_cat_acc: int64, (n,10)  ``SparseCategoricalAccuracy``     ``MulticlassAccuracy(10, average="micro")``  ``keras.metrics.SparseCategoricalAccuracy``
mean_iou: int64 ids x2         ``MeanIoU(num_classes=10)``       ``MulticlassJaccardIndex(10)``               ``keras.metrics.MeanIoU(num_classes=10)``
=============================  ================================  ===========================================  ==========================================

``mse_weighted`` / ``auc_weighted``: the same with ``sample_weight`` float32 ``(n,)`` in [0, 1) (torchmetrics'
classes take no weights: skipped). ``five_binary``: AUC, Precision, Recall, F1Score (0.5), BinaryAccuracy on the
``auc`` inputs (shaped ``(n, 1)``), as a ``MetricCollection`` (one shared pass), a torchmetrics ``MetricCollection`` of their binary
classes, and the five Keras metrics one by one; its result is the sum of the five.

Two untimed updates come first (Numba loads or compiles, JAX traces). Keras
on JAX dispatches asynchronously: each timed update waits for its variables.
Rounds follow pytest-benchmark's own options, so keep a run short with
``--benchmark-min-rounds 5 --benchmark-max-time 0.5``. ``--busy-core``
(bench/conftest.py) keeps one core spinning in another process for the whole
session; the group names then say ``busy``. Nothing here asserts a timing;
after timing, every peer's result must agree with gpumetrics'.

    pytest bench/test_bench_small_batches.py -n 0 --benchmark-only --benchmark-min-rounds 5 --benchmark-max-time 0.5
    pytest bench/test_bench_small_batches.py -n 0 --benchmark-only --benchmark-min-rounds 5 --benchmark-max-time 0.5 --busy-core
"""
import functools
import os

import numpy as np
import pytest

from conftest import busy_mode, small_batch_rows

SIZES = (256, 4096)
NUM_CLASSES = 10
NUM_THRESHOLDS = 200
CASES = ("mse", "auc", "sparse_cat_acc", "mean_iou", "mse_weighted", "auc_weighted", "five_binary")
PEERS = ("gpumetrics", "torchmetrics", "keras")
#: results after the same number of identical updates; AUC is binned differently (gpumetrics and Keras
#: share thresholds, torchmetrics' linspace(0, 1, 200) differs a little)
TOLERANCE = {"mse": 1e-5, "auc": 1e-2, "sparse_cat_acc": 1e-6, "mean_iou": 1e-5, "mse_weighted": 1e-5,
             "auc_weighted": 1e-2, "five_binary": 1e-2}


def unweighted(case):
    return case.removesuffix("_weighted")


@functools.lru_cache(maxsize=None)
def inputs(case, n):
    """(y_true, y_pred, sample_weight or None) as NumPy arrays, seeded by (case, n)."""
    if case == "five_binary":  # (n, 1): F1Score takes 2-D inputs
        y_true, y_pred, _ = inputs("auc", n)
        return y_true.reshape(-1, 1), y_pred.reshape(-1, 1), None
    if case != unweighted(case):
        rng = np.random.default_rng([CASES.index(case), n])
        return (*inputs(unweighted(case), n)[:2], rng.random(n, dtype=np.float32))
    return (*_pair(case, n), None)


def _pair(case, n):
    rng = np.random.default_rng([CASES.index(case), n])
    if case == "mse":
        y_true = rng.normal(size=(n, 1)).astype(np.float32)
        return y_true, (y_true + rng.normal(scale=0.1, size=(n, 1))).astype(np.float32)
    if case == "auc":
        y_true = rng.integers(0, 2, n, dtype=np.int32)
        return y_true, (0.7 * rng.random(n, dtype=np.float32) + 0.3 * y_true).astype(np.float32)
    y_true = rng.integers(0, NUM_CLASSES, n, dtype=np.int64)
    if case == "sparse_cat_acc":
        scores = rng.random((n, NUM_CLASSES), dtype=np.float32)
        scores[np.arange(n), y_true] += 0.3 * rng.random(n, dtype=np.float32)  # about half right
        return y_true, scores
    hit = rng.random(n) < 0.6
    return y_true, np.where(hit, y_true, rng.integers(0, NUM_CLASSES, n, dtype=np.int64))


def first_sum(results):
    """The sum of each result's first value (F1Score's is one per label)."""
    return sum(float(np.asarray(r).reshape(-1)[0]) for r in results)


def gpumetrics_peer(case, y_true, y_pred, weight):
    import gpumetrics

    if case == "five_binary":
        c = gpumetrics.MetricCollection([
            gpumetrics.AUC(num_thresholds=NUM_THRESHOLDS, device="cpu"), gpumetrics.Precision(device="cpu"),
            gpumetrics.Recall(device="cpu"), gpumetrics.F1Score(threshold=0.5, device="cpu"),
            gpumetrics.BinaryAccuracy(device="cpu")])
        return (lambda: c.update_state(y_true, y_pred)), (lambda: first_sum(c.result().values()))

    m = {"mse": lambda: gpumetrics.MeanSquaredError(device="cpu"),
         "auc": lambda: gpumetrics.AUC(num_thresholds=NUM_THRESHOLDS, device="cpu"),
         "sparse_cat_acc": lambda: gpumetrics.SparseCategoricalAccuracy(device="cpu"),
         "mean_iou": lambda: gpumetrics.MeanIoU(num_classes=NUM_CLASSES, device="cpu")}[unweighted(case)]()
    return (lambda: m.update_state(y_true, y_pred, weight)), (lambda: float(m.result()))


def torchmetrics_peer(case, y_true, y_pred, weight):
    if weight is not None:
        pytest.skip("torchmetrics' MeanSquaredError and BinaryAUROC take no sample weights")
    torch = pytest.importorskip("torch")
    torchmetrics = pytest.importorskip("torchmetrics")
    from torchmetrics import classification

    if case == "five_binary":
        c = torchmetrics.MetricCollection([
            classification.BinaryAUROC(thresholds=NUM_THRESHOLDS), classification.BinaryPrecision(),
            classification.BinaryRecall(), classification.BinaryF1Score(), classification.BinaryAccuracy()])
        target, preds = torch.from_numpy(y_true), torch.from_numpy(y_pred)
        return (lambda: c.update(preds, target)), (lambda: first_sum(c.compute().values()))

    m = {"mse": lambda: torchmetrics.MeanSquaredError(),
         "auc": lambda: classification.BinaryAUROC(thresholds=NUM_THRESHOLDS),
         "sparse_cat_acc": lambda: classification.MulticlassAccuracy(num_classes=NUM_CLASSES, average="micro"),
         "mean_iou": lambda: classification.MulticlassJaccardIndex(num_classes=NUM_CLASSES)}[case]()
    target, preds = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    return (lambda: m.update(preds, target)), (lambda: float(m.compute()))


def keras_peer(case, y_true, y_pred, weight):
    keras = pytest.importorskip("keras")
    if case == "five_binary":
        ms = [keras.metrics.AUC(num_thresholds=NUM_THRESHOLDS), keras.metrics.Precision(), keras.metrics.Recall(),
              keras.metrics.F1Score(threshold=0.5), keras.metrics.BinaryAccuracy()]
        y_true = y_true.astype(np.float32)  # Keras's F1Score casts y_pred's dtype to labels; int32 ones fail on JAX
    else:
        ms = [{"mse": lambda: keras.metrics.MeanSquaredError(),
               "auc": lambda: keras.metrics.AUC(num_thresholds=NUM_THRESHOLDS),
               "sparse_cat_acc": lambda: keras.metrics.SparseCategoricalAccuracy(),
               "mean_iou": lambda: keras.metrics.MeanIoU(num_classes=NUM_CLASSES)}[unweighted(case)]()]
    jax_backend = keras.backend.backend() == "jax"

    def update():
        for m in ms:
            m.update_state(y_true, y_pred, sample_weight=weight)
        if jax_backend:  # asynchronous dispatch: wait until the states are written
            for m in ms:
                for variable in m.variables:
                    variable.value.block_until_ready()

    return update, (lambda: first_sum(m.result() for m in ms))


PEER_FACTORIES = {"gpumetrics": gpumetrics_peer, "torchmetrics": torchmetrics_peer, "keras": keras_peer}


@functools.lru_cache(maxsize=None)
def reference(case, n):
    """gpumetrics' result after one update: every peer's result after k identical updates equals it."""
    update, result = gpumetrics_peer(case, *inputs(case, n))
    update()
    return result()


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", CASES)
def test_small_batch_update(benchmark, request, case, n, peer):
    update, result = PEER_FACTORIES[peer](case, *inputs(case, n))
    mode = busy_mode(request.config)
    benchmark.group = f"{case} update n={n} {mode}"
    benchmark.extra_info.update(peer=peer, mode=mode)
    update()  # untimed: kernels load from the cache or compile, JAX traces
    update()
    benchmark(update)
    load = os.getloadavg()
    benchmark.extra_info["loadavg"] = load
    if benchmark.stats is not None:
        small_batch_rows.append((benchmark.group, peer, benchmark.stats.stats.median * 1e6, mode, load))
    assert result() == pytest.approx(reference(case, n), abs=TOLERANCE[case])
