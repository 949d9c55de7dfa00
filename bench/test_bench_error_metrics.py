"""MSE and MAE on the CPU: gpumetrics beside NumPy, scikit-learn, torchmetrics and Keras, one group per case.

Each round is one ``update_state`` + ``result`` on the whole batch from a
fresh state, converted with ``float()`` so lazy work is counted.
Run: ``pytest bench/ --benchmark-only``.
"""
import functools

import numpy as np
import pytest

#: batch size → timed rounds (the whole suite takes about a minute on 2 cores)
SIZES = {10**6: 50, 10**7: 10}
CLASSES = {"mse": "MeanSquaredError", "mae": "MeanAbsoluteError"}
ERRORS = {"mse": lambda d: d ** 2, "mae": np.abs}


@functools.lru_cache(maxsize=None)
def regression_inputs(n):
    """``y_true``, ``y_pred`` (float32, shape ``(n,)``) and sample weights, made once per size."""
    rng = np.random.default_rng(n)
    return tuple(rng.random(n, dtype=np.float32) for _ in range(3))


def gpumetrics_peer(metric, y_true, y_pred, weight):
    import gpumetrics

    m = getattr(gpumetrics, CLASSES[metric])(device="cpu")

    def run():
        m.reset_state()
        m.update_state(y_true, y_pred, sample_weight=weight)
        return float(m.result())

    return run


def numpy_peer(metric, y_true, y_pred, weight):
    error = ERRORS[metric]
    if weight is None:
        return lambda: float(np.mean(error(y_true - y_pred)))
    return lambda: float(np.average(np.mean(error(y_true - y_pred), axis=-1), weights=weight))


def sklearn_peer(metric, y_true, y_pred, weight):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    fn = getattr(sklearn_metrics, {"mse": "mean_squared_error", "mae": "mean_absolute_error"}[metric])
    return lambda: float(fn(y_true, y_pred, sample_weight=weight))


def torchmetrics_peer(metric, y_true, y_pred, weight):
    torch = pytest.importorskip("torch")
    torchmetrics = pytest.importorskip("torchmetrics")
    if weight is not None:
        pytest.skip("torchmetrics' MeanSquaredError and MeanAbsoluteError take no sample weights")
    m = getattr(torchmetrics, CLASSES[metric])()
    target, preds = torch.from_numpy(y_true), torch.from_numpy(y_pred)

    def run():
        m.reset()
        m.update(preds, target)
        return float(m.compute())

    return run


def keras_peer(metric, y_true, y_pred, weight):
    keras = pytest.importorskip("keras")
    m = getattr(keras.metrics, CLASSES[metric])()

    def run():
        m.reset_state()
        m.update_state(y_true, y_pred, sample_weight=weight)
        return float(m.result())

    return run


PEERS = {"gpumetrics": gpumetrics_peer, "numpy": numpy_peer, "sklearn": sklearn_peer,
         "torchmetrics": torchmetrics_peer, "keras": keras_peer}


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"1e{len(str(n)) - 1}")
@pytest.mark.parametrize("metric", CLASSES)
def test_error_metric(benchmark, record_bandwidth, metric, n, weighted, peer):
    """One (metric, N, weighting) group; the first round is a warm-up (Numba and JAX compile there)."""
    y_true, y_pred, weight = regression_inputs(n)
    if weighted:
        y_true, y_pred = y_true.reshape(n, 1), y_pred.reshape(n, 1)
    else:
        weight = None
    run = PEERS[peer](metric, y_true, y_pred, weight)
    benchmark.group = f"{metric} N=1e{len(str(n)) - 1}{' weighted' if weighted else ''}"
    benchmark.extra_info["peer"] = peer
    value = benchmark.pedantic(run, rounds=SIZES[n], warmup_rounds=1)
    error = ERRORS[metric](y_true.astype(np.float64) - y_pred)
    reference = np.mean(error) if weight is None else np.average(error[:, 0], weights=weight)
    assert value == pytest.approx(reference, rel=1e-4)
    record_bandwidth(y_true.nbytes + y_pred.nbytes + (0 if weight is None else weight.nbytes))
