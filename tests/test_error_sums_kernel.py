"""``error_sums``: CUDA twin (simulator here) vs CPU twin vs a float64 oracle on the edges of the pass itself
(shapes, strides, dtypes, reproducibility); every kind's arithmetic is in ``test_error_kinds.py``."""
import math

import numpy as np
import pytest
from numba import config

from conftest import REAL_GPU, on_device, to_host

from gpumetrics._kernels.error_sums import cpu as cpu

TWINS = [pytest.param("cpu", id="cpu")]
if config.ENABLE_CUDASIM or REAL_GPU:
    TWINS.append(pytest.param("cuda", id="cuda" if REAL_GPU else "cuda-sim"))

ORACLE = {"identity": lambda t, p: p, "squared_error": lambda t, p: (t - p) ** 2,
          "absolute_error": lambda t, p: np.abs(t - p)}


def run(twin, kind, y_true, y_pred, weight, total_scale=1.0, weight_scale=1.0):
    """One call of a twin on fresh zero state; returns (total, weight sum) on the host."""
    if twin == "cpu":
        launcher, device = cpu.error_sums, "cpu"
    else:
        from gpumetrics._kernels.error_sums import cuda as gpu

        launcher, device = gpu.error_sums, "cuda"
    total, wsum = on_device(np.zeros(1), device), on_device(np.zeros(1), device)
    launcher(kind, on_device(y_true, device), on_device(y_pred, device),
             None if weight is None else on_device(weight, device), total, wsum, total_scale, weight_scale)
    return to_host(total)[0], to_host(wsum)[0]


def oracle(kind, y_true, y_pred, weight, total_scale=1.0, weight_scale=1.0):
    values = ORACLE[kind](y_true.astype(np.float64), y_pred.astype(np.float64))
    w = np.ones(values.shape[0]) if weight is None else weight.astype(np.float64)
    total = math.fsum((values * w[:, None]).ravel().tolist())
    return total_scale * total, weight_scale * math.fsum(w.tolist())


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("kind", sorted(ORACLE))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.bool_])
def test_every_dtype(twin, kind, dtype, rng):
    y_true = (rng.normal(size=(9, 7)) * 3).astype(dtype)
    y_pred = (rng.normal(size=(9, 7)) * 3).astype(dtype)
    weight = rng.uniform(0, 2, size=9)
    got = run(twin, kind, y_true, y_pred, weight, 0.5, 0.25)
    np.testing.assert_allclose(got, oracle(kind, y_true, y_pred, weight, 0.5, 0.25), rtol=1e-12)


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("shape", [(1, 1), (1, 31), (1, 33), (33, 1), (7, 37), (65, 3), (1, 257), (300, 1)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_ragged_grid_tails(twin, shape, weighted, rng):
    y_true, y_pred = rng.normal(size=shape), rng.normal(size=shape).astype(np.float32)
    weight = rng.uniform(size=shape[0]) if weighted else None
    got = run(twin, "squared_error", y_true, y_pred, weight)
    np.testing.assert_allclose(got, oracle("squared_error", y_true, y_pred, weight), rtol=1e-12)


@pytest.mark.parametrize("twin", TWINS)
def test_non_contiguous_and_broadcast_views(twin, rng):
    base = rng.normal(size=(20, 18))
    y_true = base[::2, 1::3]                       # strided in both axes
    y_pred = rng.normal(size=(6, 10)).T            # transposed (F order)
    weight = np.broadcast_to(np.float64(1.5), (10,))  # stride 0
    got = run(twin, "absolute_error", y_true, y_pred, weight)
    np.testing.assert_allclose(got, oracle("absolute_error", y_true, y_pred, np.full(10, 1.5)), rtol=1e-12)
    column = rng.normal(size=(10, 1))
    got = run(twin, "squared_error", np.broadcast_to(column, (10, 6)), y_pred, None)
    np.testing.assert_allclose(got, oracle("squared_error", np.broadcast_to(column, (10, 6)), y_pred, None),
                               rtol=1e-12)


@pytest.mark.parametrize("twin", TWINS)
def test_accumulates_into_existing_state_and_skips_empty_batches(twin, rng):
    y = rng.normal(size=(5, 4))
    first = run(twin, "identity", y, y, None)
    assert run(twin, "identity", np.zeros((0, 4)), np.zeros((0, 4)), None) == (0.0, 0.0)
    if twin == "cpu":
        total, wsum = np.array([10.0]), np.array([1.0])
        cpu.error_sums("identity", y, y, None, total, wsum, 1.0, 1.0)
        np.testing.assert_allclose([total[0], wsum[0]], [10.0 + first[0], 1.0 + first[1]], rtol=1e-12)


@pytest.mark.parametrize("twin", TWINS)
def test_nan_propagates(twin):
    y_pred = np.array([[1.0, np.nan, 2.0]])
    total, _ = run(twin, "squared_error", np.zeros((1, 3)), y_pred, None)
    assert math.isnan(total)


@pytest.mark.parametrize("twin", TWINS)
def test_same_bits_on_every_run(twin, rng):
    y_true, y_pred = rng.normal(size=(50, 13)), rng.normal(size=(50, 13))
    weight = rng.uniform(size=50)
    assert run(twin, "squared_error", y_true, y_pred, weight) == run(twin, "squared_error", y_true, y_pred, weight)


def million_float32_sum_case(rng):
    y_pred = (rng.normal(size=(1, 1_000_000)) * 1e3 + 1e4).astype(np.float32)
    return np.zeros_like(y_pred), y_pred


def test_million_float32_sum_matches_fsum(rng):
    y_true, y_pred = million_float32_sum_case(rng)
    exact = math.fsum(y_pred.astype(np.float64).ravel().tolist())
    total, count = run("cpu", "identity", y_true, y_pred, None)
    assert count == 1.0
    assert abs(total - exact) <= 1e-12 * abs(exact)


@pytest.mark.skipif(not REAL_GPU, reason="1e6 elements is too many for the CUDA simulator")
def test_million_float32_sum_matches_fsum_on_gpu(rng):
    y_true, y_pred = million_float32_sum_case(rng)
    exact = math.fsum(y_pred.astype(np.float64).ravel().tolist())
    total, _ = run("cuda", "identity", y_true, y_pred, None)
    assert abs(total - exact) <= 1e-12 * abs(exact)
