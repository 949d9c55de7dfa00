"""Exact AUC on the CPU at N = 1e7: ``ExactAUC`` beside scikit-learn and torchmetrics, and its bytes of state.

Binary labels (int32 0/1) and float32 scores (AUC about 0.84; most scores distinct, as a model's are), unweighted
and with float32 weights. Peers: scikit-learn's ``roc_auc_score`` (exact, sorts) and torchmetrics
``BinaryAUROC(thresholds=None)`` (exact; it takes no weights, so it sits in the unweighted group only). Also
``ExactAUC`` on the same scores cast to float16 (the 65,536-bin histogram: constant memory).

Each round is one ``update_state`` + ``result`` on the whole batch from a fresh metric, converted with
``float()``. ``extra_info`` holds ``state_bytes_per_sample`` (the stored state over N; the buffer that doubles can
hold up to 2x that between updates). After timing, every peer must agree with scikit-learn within 1e-9 (float16:
with scikit-learn on the float16 scores; torchmetrics, which returns float32: 1e-6).
Run: ``pytest bench/test_bench_exact_auc.py --benchmark-only -n 0``.
"""
import functools

import numpy as np
import pytest

N = 10 ** 7
ROUNDS = 3


@functools.lru_cache(maxsize=None)
def inputs(weighted):
    rng = np.random.default_rng(N)
    y_true = rng.integers(0, 2, N, dtype=np.int32)
    y_pred = (0.7 * rng.random(N, dtype=np.float32) + 0.3 * y_true).astype(np.float32)
    return y_true, y_pred, rng.random(N, dtype=np.float32) if weighted else None


@functools.lru_cache(maxsize=None)
def exact(weighted, half=False):
    from sklearn.metrics import roc_auc_score

    y_true, y_pred, weight = inputs(weighted)
    return float(roc_auc_score(y_true, y_pred.astype(np.float16) if half else y_pred, sample_weight=weight))


def run_gpumetrics(y_true, y_pred, weight, holder):
    import gpumetrics

    metric = gpumetrics.ExactAUC(dtype="float64", device="cpu")
    metric.update_state(y_true, y_pred, sample_weight=weight)
    holder["bytes"] = sum(v.value.nbytes for v in metric.variables)
    return float(metric.result())


def run_sklearn(y_true, y_pred, weight, holder):
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y_true, y_pred, sample_weight=weight))


def run_torchmetrics(y_true, y_pred, weight, holder):
    import torch
    from torchmetrics.classification import BinaryAUROC

    metric = BinaryAUROC(thresholds=None)
    metric.update(torch.from_numpy(y_pred), torch.from_numpy(y_true))
    holder["bytes"] = sum(t.nbytes for name in ("preds", "target") for t in getattr(metric, name))
    return float(metric.compute())


PEERS = {"gpumetrics": run_gpumetrics, "sklearn": run_sklearn, "torchmetrics": run_torchmetrics}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("peer", list(PEERS) + ["gpumetrics-float16"])
def test_exact_auc(benchmark, peer, weighted):
    if peer == "torchmetrics" and weighted:
        pytest.skip("torchmetrics' BinaryAUROC takes no sample weights")
    if peer == "torchmetrics":
        pytest.importorskip("torchmetrics")
    half = peer == "gpumetrics-float16"
    y_true, y_pred, weight = inputs(weighted)
    y_pred = y_pred.astype(np.float16) if half else y_pred
    benchmark.group = f"exact auc N=1e7 {'weighted' if weighted else 'unweighted'}"
    holder = {}
    value = benchmark.pedantic(PEERS["gpumetrics" if half else peer], args=(y_true, y_pred, weight, holder),
                               rounds=ROUNDS, iterations=1, warmup_rounds=1 if peer.startswith("gpumetrics") else 0)
    if "bytes" in holder:
        benchmark.extra_info["state_bytes_per_sample"] = holder["bytes"] / N
    assert value == pytest.approx(exact(weighted, half), abs=1e-6 if peer == "torchmetrics" else 1e-9)
