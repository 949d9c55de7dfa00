"""``error_sums``: CUDA twin (simulator here) vs CPU twin vs a float64 oracle on the edges of the pass itself
(shapes, strides, dtypes, reproducibility); every kind's arithmetic is in ``test_error_kinds.py``."""
import math

import numpy as np
import pytest

import kernel_twins
from conftest import REAL_GPU

from gpumetrics._kernels.error_sums import cpu as cpu

ORACLE = {"identity": lambda t, p: p, "squared_error": lambda t, p: (t - p) ** 2,
          "absolute_error": lambda t, p: np.abs(t - p)}


class Twin(kernel_twins.Twin):
    """The error_sums twin: ``run`` applies it to host-built arrays."""

    def run(self, kind, y_true, y_pred, weight, total_scale=1.0, weight_scale=1.0):
        """One call on fresh zero state; returns (total, weight sum) on the host."""
        total, wsum = self.put(np.zeros(1)), self.put(np.zeros(1))
        self.module.error_sums(kind, self.put(y_true), self.put(y_pred), self.put(weight), total, wsum, total_scale,
                               weight_scale)
        return self.host(total)[0], self.host(wsum)[0]


@pytest.fixture(params=kernel_twins.twin_params(Twin, "error_sums"))
def twin(request):
    return request.param


def oracle(kind, y_true, y_pred, weight, total_scale=1.0, weight_scale=1.0):
    values = ORACLE[kind](y_true.astype(np.float64), y_pred.astype(np.float64))
    w = np.ones(values.shape[0]) if weight is None else weight.astype(np.float64)
    total = math.fsum((values * w[:, None]).ravel().tolist())
    return total_scale * total, weight_scale * math.fsum(w.tolist())


@pytest.mark.parametrize("kind", sorted(ORACLE))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.bool_])
def test_every_dtype(twin, kind, dtype, rng):
    y_true = (rng.normal(size=(9, 7)) * 3).astype(dtype)
    y_pred = (rng.normal(size=(9, 7)) * 3).astype(dtype)
    weight = rng.uniform(0, 2, size=9)
    got = twin.run(kind, y_true, y_pred, weight, 0.5, 0.25)
    np.testing.assert_allclose(got, oracle(kind, y_true, y_pred, weight, 0.5, 0.25), rtol=1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (1, 31), (1, 33), (33, 1), (7, 37), (65, 3), (1, 257), (300, 1)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_ragged_grid_tails(twin, shape, weighted, rng):
    y_true, y_pred = rng.normal(size=shape), rng.normal(size=shape).astype(np.float32)
    weight = rng.uniform(size=shape[0]) if weighted else None
    got = twin.run("squared_error", y_true, y_pred, weight)
    np.testing.assert_allclose(got, oracle("squared_error", y_true, y_pred, weight), rtol=1e-12)


def test_non_contiguous_and_broadcast_views(twin, rng):
    base = rng.normal(size=(20, 18))
    y_true = base[::2, 1::3]                       # strided in both axes
    y_pred = rng.normal(size=(6, 10)).T            # transposed (F order)
    weight = np.broadcast_to(np.float64(1.5), (10,))  # stride 0
    got = twin.run("absolute_error", y_true, y_pred, weight)
    np.testing.assert_allclose(got, oracle("absolute_error", y_true, y_pred, np.full(10, 1.5)), rtol=1e-12)
    column = rng.normal(size=(10, 1))
    got = twin.run("squared_error", np.broadcast_to(column, (10, 6)), y_pred, None)
    np.testing.assert_allclose(got, oracle("squared_error", np.broadcast_to(column, (10, 6)), y_pred, None),
                               rtol=1e-12)


def test_accumulates_into_existing_state_and_skips_empty_batches(twin, rng):
    y = rng.normal(size=(5, 4))
    first = twin.run("identity", y, y, None)
    assert twin.run("identity", np.zeros((0, 4)), np.zeros((0, 4)), None) == (0.0, 0.0)
    if twin.name == "cpu":
        total, wsum = np.array([10.0]), np.array([1.0])
        cpu.error_sums("identity", y, y, None, total, wsum, 1.0, 1.0)
        np.testing.assert_allclose([total[0], wsum[0]], [10.0 + first[0], 1.0 + first[1]], rtol=1e-12)


def test_nan_propagates(twin):
    y_pred = np.array([[1.0, np.nan, 2.0]])
    total, _ = twin.run("squared_error", np.zeros((1, 3)), y_pred, None)
    assert math.isnan(total)


def test_same_bits_on_every_run(twin, rng):
    y_true, y_pred = rng.normal(size=(50, 13)), rng.normal(size=(50, 13))
    weight = rng.uniform(size=50)
    assert twin.run("squared_error", y_true, y_pred, weight) == twin.run("squared_error", y_true, y_pred, weight)


def million_float32_sum_case(rng):
    y_pred = (rng.normal(size=(1, 1_000_000)) * 1e3 + 1e4).astype(np.float32)
    return np.zeros_like(y_pred), y_pred


def test_million_float32_sum_matches_fsum(rng):
    y_true, y_pred = million_float32_sum_case(rng)
    exact = math.fsum(y_pred.astype(np.float64).ravel().tolist())
    total, count = Twin("cpu", cpu).run("identity", y_true, y_pred, None)
    assert count == 1.0
    assert abs(total - exact) <= 1e-12 * abs(exact)


@pytest.mark.skipif(not REAL_GPU, reason="1e6 elements is too many for the CUDA simulator")
def test_million_float32_sum_matches_fsum_on_gpu(rng):
    y_true, y_pred = million_float32_sum_case(rng)
    exact = math.fsum(y_pred.astype(np.float64).ravel().tolist())
    total, _ = kernel_twins.gpu_twin(Twin, "error_sums").run("identity", y_true, y_pred, None)
    assert abs(total - exact) <= 1e-12 * abs(exact)


@pytest.mark.parametrize("shape", [(200_000, 1), (70_000, 3)], ids=["one-column", "rows"])
@pytest.mark.parametrize("grouped", [False, True], ids=["ungrouped", "grouped"])
def test_same_bits_on_any_number_of_threads(monkeypatch, rng, shape, grouped):
    """Chunk (or partition) partials written into their own slots and summed in order: 1, 2 or 5 threads taking
    ranges of them in whatever order give the same bits, and the oracle's value."""
    y_true, y_pred = rng.normal(size=shape), rng.normal(size=shape).astype(np.float32)
    weight = rng.uniform(size=shape[0])
    ids = rng.integers(0, 7, size=shape[0]) if grouped else None
    sums = []
    for threads in (1, 2, 5):
        kernel_twins.on_threads(monkeypatch, threads)
        total, wsum = np.zeros(7 if grouped else 1), np.zeros(7 if grouped else 1)
        cpu.error_sums("squared_error", y_true, y_pred, weight, total, wsum, 1.0, 1.0, group_ids=ids)
        sums.append((total.tolist(), wsum.tolist()))
    assert sums[1:] == sums[:1] * 2
    want = [oracle("squared_error", y_true[ids == g], y_pred[ids == g], weight[ids == g]) for g in range(7)] \
        if grouped else [oracle("squared_error", y_true, y_pred, weight)]
    np.testing.assert_allclose(np.array(sums[0]).T, np.array(want), rtol=1e-12)
