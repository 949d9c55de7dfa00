"""Five binary metrics on one batch (AUC, Precision, Recall, F1Score, BinaryAccuracy) on the CPU, one group.

Peers, each a round of one update + every result from a reset state on
N = 1e7 float32 scores and int32 0/1 labels, shape ``(N, 1)``, unweighted
(torchmetrics' binary metrics take no sample weights):

* ``auc alone``: ``gpumetrics.AUC()`` by itself (the target: the collection within 1.3x of it);
* ``collection``: ``gpumetrics.MetricCollection`` of the five (one shared histogram; BinaryAccuracy rides it);
* ``one by one``: the five gpumetrics metrics updated separately (five passes);
* ``torchmetrics``: ``MetricCollection`` of ``BinaryAUROC(thresholds=200)``, ``BinaryPrecision``,
  ``BinaryRecall``, ``BinaryF1Score``, ``BinaryAccuracy`` with compute groups (formed in a warm-up update);
* ``keras``: the five ``keras.metrics`` classes (``KERAS_BACKEND``, numpy unless set), updated separately.

After timing, every peer's numbers must agree with the gpumetrics metrics alone (1e-3: 200-threshold AUCs).
Run: ``KERAS_BACKEND=numpy pytest bench/test_bench_collection.py --benchmark-only -n 0``.
"""
import functools

import numpy as np
import pytest

N = 10**7
ROUNDS = 5
#: peers that take a minute or more per round at 1e7 here: one round, no warm-up (the first update already ran)
SLOW = {"torchmetrics compute groups"}
NAMES = ("auc", "precision", "recall", "f1_score", "binary_accuracy")


@functools.lru_cache(maxsize=None)
def data():
    rng = np.random.default_rng(2026)
    labels = rng.integers(0, 2, (N, 1), dtype=np.int32)
    return labels, (0.6 * rng.random((N, 1), dtype=np.float32) + 0.4 * labels).astype(np.float32)


def five():
    import gpumetrics

    return [gpumetrics.AUC(device="cpu"), gpumetrics.Precision(device="cpu"), gpumetrics.Recall(device="cpu"),
            gpumetrics.F1Score(threshold=0.5, device="cpu"), gpumetrics.BinaryAccuracy(device="cpu")]


def values(results):
    return {name: float(np.asarray(value).reshape(-1)[0]) for name, value in zip(NAMES, results)}


def auc_alone(y_true, y_pred):
    metric = five()[0]

    def run():
        metric.reset_state()
        metric.update_state(y_true, y_pred)
        return {"auc": float(metric.result())}

    return run


def collection(y_true, y_pred):
    import gpumetrics

    metrics = gpumetrics.MetricCollection(five())

    def run():
        metrics.reset_state()
        metrics.update_state(y_true, y_pred)
        return values(metrics.result().values())

    return run


def one_by_one(y_true, y_pred):
    metrics = five()

    def run():
        for metric in metrics:
            metric.reset_state()
            metric.update_state(y_true, y_pred)
        return values(m.result() for m in metrics)

    return run


def torchmetrics_groups(y_true, y_pred):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics")
    from torchmetrics import classification as c

    metrics = tm.MetricCollection([c.BinaryAUROC(thresholds=200), c.BinaryPrecision(), c.BinaryRecall(),
                                   c.BinaryF1Score(), c.BinaryAccuracy()], compute_groups=True)
    target, preds = torch.from_numpy(y_true[:, 0]), torch.from_numpy(y_pred[:, 0])
    metrics.update(preds[:1000], target[:1000])  # the first update forms the compute groups
    order = ("BinaryAUROC", "BinaryPrecision", "BinaryRecall", "BinaryF1Score", "BinaryAccuracy")

    def run():
        metrics.reset()
        metrics.update(preds, target)
        results = metrics.compute()
        return values(results[k].item() for k in order)

    return run


def keras_five(y_true, y_pred):
    keras = pytest.importorskip("keras")
    metrics = [keras.metrics.AUC(), keras.metrics.Precision(), keras.metrics.Recall(),
               keras.metrics.F1Score(threshold=0.5), keras.metrics.BinaryAccuracy()]
    y_true_f = y_true.astype(np.float32)

    def run():
        for metric in metrics:
            metric.reset_state()
            metric.update_state(y_true_f, y_pred)
        return values(np.asarray(m.result()) for m in metrics)

    return run


PEERS = {"auc alone": auc_alone, "collection": collection, "one by one": one_by_one,
         "torchmetrics compute groups": torchmetrics_groups, "keras": keras_five}


@functools.lru_cache(maxsize=None)
def reference():
    y_true, y_pred = data()
    return one_by_one(y_true, y_pred)()


@pytest.mark.parametrize("peer", PEERS)
def test_five_binary_metrics(benchmark, record_bandwidth, peer):
    """The first round is a warm-up (Numba compiles there), except for the slow peers."""
    y_true, y_pred = data()
    run = PEERS[peer](y_true, y_pred)
    benchmark.group = f"five binary metrics N={N:.0e}"
    benchmark.extra_info["peer"] = peer
    slow = peer in SLOW
    got = benchmark.pedantic(run, rounds=1 if slow else ROUNDS, warmup_rounds=0 if slow else 1)
    expected = reference()
    for name, value in got.items():
        assert value == pytest.approx(expected[name], abs=1e-3), name
    record_bandwidth(y_true.nbytes + y_pred.nbytes)
