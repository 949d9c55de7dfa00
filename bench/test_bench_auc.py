"""AUC on the CPU: gpumetrics beside Keras, torchmetrics and scikit-learn, one group per case.

Binary labels (int32 0/1) and float32 scores in [0, 1], unweighted and with
float32 per-sample weights. The binned peers use 200 thresholds: gpumetrics
``AUC()``, ``keras.metrics.AUC()`` (JAX backend unless ``KERAS_BACKEND`` says
otherwise) and torchmetrics ``BinaryAUROC(thresholds=200)`` (its defaults,
``validate_args=True`` included; it takes no sample weights). scikit-learn's
``roc_auc_score`` is exact (sorts the scores) and is timed beside them.

Each round of the large groups is one ``update_state`` + ``result`` on the
whole batch from a reset state, converted with ``float()`` so lazy work is
counted. The ``N=4096`` group times one ``update_state`` alone (reset before
each round, untimed): launch and dispatch overhead, not bandwidth. After
timing, every peer must agree with gpumetrics within 1e-3 and with the exact
AUC within 5e-3. Run: ``pytest bench/test_bench_auc.py --benchmark-only``.
"""
import dataclasses
import functools
from typing import Callable

import numpy as np
import pytest

#: batch size → timed rounds (fast peers, slow peers); the file takes about two minutes on 2 cores
SIZES = {10**6: (20, 5), 10**7: (5, 3)}
#: peers that take seconds per round at 1e7 and compile nothing: no warm-up round at 1e7 (the 1e6 groups ran them)
SLOW = {"torchmetrics", "sklearn"}
SMALL_N = 4096
SMALL_ROUNDS = 200
NUM_THRESHOLDS = 200
#: binned peers vs gpumetrics, and any peer vs the exact AUC (200 bins vs no bins)
BINNED_TOLERANCE, EXACT_TOLERANCE = 1e-3, 5e-3


@functools.lru_cache(maxsize=None)
def binary_inputs(n):
    """``y_true`` (int32 0/1), ``y_pred`` (float32 in [0, 1), higher for positives: AUC about 0.87), float32 weights."""
    rng = np.random.default_rng(n)
    y_true = rng.integers(0, 2, n, dtype=np.int32)
    y_pred = (0.7 * rng.random(n, dtype=np.float32) + 0.3 * y_true).astype(np.float32)
    weight = rng.random(n, dtype=np.float32)
    return y_true, y_pred, weight


@functools.lru_cache(maxsize=None)
def reference(n, weighted):
    """(gpumetrics' binned AUC, scikit-learn's exact AUC) of a case, computed once outside the timing."""
    import gpumetrics

    y_true, y_pred, weight = binary_inputs(n)
    weight = weight if weighted else None
    m = gpumetrics.AUC(num_thresholds=NUM_THRESHOLDS, device="cpu")
    m.update_state(y_true, y_pred, sample_weight=weight)
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    return float(m.result()), float(sklearn_metrics.roc_auc_score(y_true, y_pred, sample_weight=weight))


@dataclasses.dataclass
class Peer:
    """How one library computes the AUC: ``reset`` the state, ``update`` it with the batch, read the ``result``."""

    reset: Callable
    update: Callable
    result: Callable

    def run(self):
        """One round of the large groups: from a reset state, one update, the result as a Python float."""
        self.reset()
        self.update()
        return float(self.result())


def gpumetrics_peer(y_true, y_pred, weight):
    import gpumetrics

    m = gpumetrics.AUC(num_thresholds=NUM_THRESHOLDS, device="cpu")
    return Peer(m.reset_state, lambda: m.update_state(y_true, y_pred, sample_weight=weight), m.result)


def keras_peer(y_true, y_pred, weight):
    keras = pytest.importorskip("keras")
    m = keras.metrics.AUC(num_thresholds=NUM_THRESHOLDS)

    def update():
        m.update_state(y_true, y_pred, sample_weight=weight)
        if keras.backend.backend() == "jax":  # JAX dispatches asynchronously: wait until the state is written
            for variable in m.variables:
                variable.value.block_until_ready()

    return Peer(m.reset_state, update, m.result)


def torchmetrics_peer(y_true, y_pred, weight):
    torch = pytest.importorskip("torch")
    classification = pytest.importorskip("torchmetrics.classification")
    if weight is not None:
        pytest.skip("torchmetrics' BinaryAUROC takes no sample weights")
    m = classification.BinaryAUROC(thresholds=NUM_THRESHOLDS)
    preds, target = torch.from_numpy(y_pred), torch.from_numpy(y_true)
    return Peer(m.reset, lambda: m.update(preds, target), m.compute)


def sklearn_peer(y_true, y_pred, weight):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    return Peer(lambda: None, lambda: None,
                lambda: sklearn_metrics.roc_auc_score(y_true, y_pred, sample_weight=weight))


PEERS = {"gpumetrics": gpumetrics_peer, "keras": keras_peer, "torchmetrics": torchmetrics_peer,
         "sklearn": sklearn_peer}
STATEFUL_PEERS = ("gpumetrics", "torchmetrics", "keras")


def exponent(n):
    return f"1e{len(str(n)) - 1}"


def assert_agrees(peer, value, binned, exact):
    """A binned peer within ``BINNED_TOLERANCE`` of gpumetrics; every peer within ``EXACT_TOLERANCE`` of the exact AUC."""
    if peer != "sklearn":
        assert value == pytest.approx(binned, abs=BINNED_TOLERANCE)
    assert value == pytest.approx(exact, abs=EXACT_TOLERANCE)
    assert binned == pytest.approx(exact, abs=EXACT_TOLERANCE)


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n", SIZES, ids=exponent)
def test_auc(benchmark, record_bandwidth, n, weighted, peer):
    """One (N, weighting) group; the first round is a warm-up (Numba and JAX compile there), except slow peers at 1e7."""
    y_true, y_pred, weight = binary_inputs(n)
    weight = weight if weighted else None
    runner = PEERS[peer](y_true, y_pred, weight)
    benchmark.group = f"auc N={exponent(n)}{' weighted' if weighted else ''}"
    benchmark.extra_info["peer"] = peer
    fast_rounds, slow_rounds = SIZES[n]
    slow = peer in SLOW
    warmup = 0 if slow and n == max(SIZES) else 1
    value = benchmark.pedantic(runner.run, rounds=slow_rounds if slow else fast_rounds, warmup_rounds=warmup)
    assert_agrees(peer, value, *reference(n, weighted))
    record_bandwidth(y_true.nbytes + y_pred.nbytes + (0 if weight is None else weight.nbytes))


@pytest.mark.parametrize("peer", STATEFUL_PEERS)
def test_auc_small_update(benchmark, record_bandwidth, peer):
    """One ``update_state`` on 4,096 samples, the state reset before each round: per-call overhead, not bandwidth."""
    y_true, y_pred, _ = binary_inputs(SMALL_N)
    runner = PEERS[peer](y_true, y_pred, None)
    benchmark.group = f"auc update N={SMALL_N}"
    benchmark.extra_info["peer"] = peer
    benchmark.pedantic(runner.update, setup=runner.reset, rounds=SMALL_ROUNDS, warmup_rounds=2)
    assert_agrees(peer, float(runner.result()), *reference(SMALL_N, False))
    record_bandwidth(y_true.nbytes + y_pred.nbytes)
