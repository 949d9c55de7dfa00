"""``moments``: CUDA twin (simulator here) and CPU twin against a float64 two-pass oracle, on the edges."""
import numpy as np
import pytest

import kernel_twins
from conftest import REAL_GPU

from gpumetrics._kernels.moments import cpu as cpu


class Twin(kernel_twins.Twin):
    """The moments twin: ``run`` applies it to host-built arrays."""

    def run(self, x, y, weight=None, state=None):
        """One call on a copy of ``state`` (fresh zeros by default); returns the state on the host."""
        out = self.put(np.zeros((7, x.shape[1])) if state is None else np.array(state, dtype=np.float64))
        self.module.moments(self.put(x), self.put(y), self.put(weight), out)
        return self.host(out)


CPU = Twin("cpu", cpu)


@pytest.fixture(params=kernel_twins.twin_params(Twin, "moments"))
def twin(request):
    return request.param


def oracle(x, y, weight=None):
    """``[W, mean_x, mean_y, M2x, M2y, Cxy, D]`` per column: float64, two passes (means first, then centred sums)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    w = np.ones(x.shape) if weight is None else np.broadcast_to(np.asarray(weight, np.float64), x.shape)
    mx, my = np.average(x, axis=0, weights=w), np.average(y, axis=0, weights=w)
    dx, dy = x - mx, y - my
    return np.array([w.sum(0), mx, my, (w * dx * dx).sum(0), (w * dy * dy).sum(0), (w * dx * dy).sum(0),
                     (w * (x - y) ** 2).sum(0)])


def assert_moments_close(got, want, rtol, atol=1e-25):
    """Each quantity to ``rtol`` of its own scale: means of the spread around them, ``Cxy`` of ``sqrt(M2x M2y)``
    (``atol`` for the oracle's own rounding where a scale is 0, e.g. ``M2`` of one row)."""
    got, want = np.asarray(got), np.asarray(want)
    W, m2x, m2y = want[0], want[3], want[4]
    scales = [np.abs(W), np.abs(want[1]) + np.sqrt(m2x / W), np.abs(want[2]) + np.sqrt(m2y / W), m2x, m2y,
              np.sqrt(m2x * m2y), np.abs(want[6])]
    for k, (g, e, s) in enumerate(zip(got, want, scales)):
        bad = ~(np.abs(g - e) <= rtol * s + atol)
        assert not bad.any(), f"row {k}: got {g[bad]}, want {e[bad]} (rtol {rtol})"


def draw(rng, shape, offset=0.0, dtype=np.float64, weighted=True):
    """x, y (correlated, y with spread 2) around ``offset``, and per-row weights broadcast over the columns."""
    x = rng.normal(size=shape) + offset
    y = offset + 0.5 * (x - offset) + 2 * rng.normal(size=shape)
    w = np.broadcast_to(rng.uniform(0, 2, size=(shape[0], 1)), shape) if weighted else None
    return x.astype(dtype), y.astype(dtype), w


@pytest.mark.parametrize("shape", [(300, 1), (50, 3), (12, 40)], ids=["L1", "L3", "L40"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_matches_two_pass_oracle(twin, shape, weighted, rng):
    x, y, w = draw(rng, shape, weighted=weighted)
    assert_moments_close(twin.run(x, y, w), oracle(x, y, w), 1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.bool_])
def test_every_dtype(twin, dtype, rng):
    x, y = (rng.normal(size=(20, 3)) * 3).astype(dtype), (rng.normal(size=(20, 3)) * 3).astype(dtype)
    w = rng.uniform(0, 2, size=(20, 3)).astype(np.float32)  # a full (N, L) weight of another dtype
    assert_moments_close(twin.run(x, y, w), oracle(x, y, w), 1e-12)


@pytest.mark.parametrize("shape", [(1, 1), (31, 1), (33, 2), (129, 1), (65, 5), (1, 7)],
                         ids=lambda s: "x".join(map(str, s)))
def test_ragged_grid_tails(twin, shape, rng):
    x, y, w = draw(rng, shape)
    assert_moments_close(twin.run(x, y, w), oracle(x, y, w), 1e-12)


def test_non_contiguous_and_broadcast_views(twin, rng):
    x = rng.normal(size=(40, 9))[::2, 1::3]                   # strided in both axes: (20, 3)
    y = rng.normal(size=(3, 20)).T                            # F order
    w = np.broadcast_to(np.float64(1.5), (20, 3))             # stride 0 in both axes
    assert_moments_close(twin.run(x, y, w), oracle(x, y, w), 1e-12)
    column = np.broadcast_to(rng.normal(size=(20, 1)), (20, 3))  # stride 0 across the columns
    assert_moments_close(twin.run(column, y, None), oracle(column, y, None), 1e-12)


@pytest.mark.parametrize("offset", [1e6, 1e9])
def test_far_from_zero_one_call(twin, offset, rng):
    x, y, w = draw(rng, (200, 2), offset)
    got = twin.run(x, y, w)
    assert_moments_close(got, oracle(x, y, w), 1e-10)
    # the naive one-pass formula on the same data loses most digits (a check that the test has teeth)
    wx = w * x
    naive = (wx * x).sum(0) - wx.sum(0) ** 2 / w.sum(0)
    assert (np.abs(naive - got[3]) > 1e-6 * got[3]).all()


def test_several_calls_accumulate(twin, rng):
    parts = [draw(rng, (40, 2), 1e6) for _ in range(3)]
    state = None
    for x, y, w in parts:
        state = twin.run(x, y, w, state)
    x, y, w = (np.concatenate(p) for p in zip(*parts))
    assert_moments_close(state, oracle(x, y, w), 1e-10)


def test_several_calls_far_from_zero_carry_the_means_rounding(twin, rng):
    """At 1e9 a float64 mean is known to ``ulp(1e9) / 2 = 6e-8`` only; each merge's cross term
    ``δ² W_a W_b / W`` then carries an error of about ``2 |δ| ulp(mean) W_a W_b / W``: relative to ``M2`` about
    ``ulp(mean) / (σ √n)``, here ~1e-8 (1e-11 at 1e6). One call has no such term (see the test above)."""
    parts = [draw(rng, (60, 2), 1e9) for _ in range(3)]
    state = None
    for x, y, w in parts:
        state = twin.run(x, y, w, state)
    x, y, w = (np.concatenate(p) for p in zip(*parts))
    assert_moments_close(state, oracle(x, y, w), 4 * np.spacing(1e9) / np.sqrt(len(x)))


def test_zero_weights(twin, rng):
    x, y, w = draw(rng, (30, 3))
    state = twin.run(x, y, w)
    unchanged = twin.run(x * 7, y - 3, np.zeros((30, 3)), state)
    np.testing.assert_array_equal(unchanged, state)  # a batch of total weight 0: same bits, no NaN
    partial = np.array(w)
    partial[::3] = 0.0
    keep = np.arange(30) % 3 != 0
    assert_moments_close(twin.run(x, y, partial), oracle(x[keep], y[keep], partial[keep]), 1e-12)
    assert not np.isnan(twin.run(x, y, np.zeros((30, 3)))).any()


def test_nan_propagates(twin, rng):
    x, y, w = draw(rng, (20, 3))
    x[5, 1] = np.nan
    got = twin.run(x, y, w)
    assert np.isnan(got[[1, 3, 5, 6], 1]).all() and np.isfinite(got[[0, 2, 4], 1]).all()
    keep = [0, 2]
    assert_moments_close(got[:, keep], oracle(x[:, keep], y[:, keep], w[:, keep]), 1e-12)


def test_split_batch_equals_one_call(twin, rng):
    x, y, w = draw(rng, (70, 2), 1e3)
    whole = twin.run(x, y, w)
    split = twin.run(x[45:], y[45:], w[45:], twin.run(x[:45], y[:45], w[:45]))
    np.testing.assert_allclose(split[[0, 3, 4, 6]], whole[[0, 3, 4, 6]], rtol=1e-12)
    np.testing.assert_allclose(split[[1, 2]], whole[[1, 2]], rtol=1e-15)
    np.testing.assert_allclose(split[5], whole[5], atol=1e-12 * np.sqrt(whole[3] * whole[4]).max())


def test_empty_input_is_a_noop(twin, rng):
    x, y, w = draw(rng, (5, 3))
    state = twin.run(x, y, w)
    np.testing.assert_array_equal(twin.run(np.zeros((0, 3)), np.zeros((0, 3)), None, state), state)
    np.testing.assert_array_equal(twin.run(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3)), state), state)


def test_same_bits_on_every_run(twin, rng):
    x, y, w = draw(rng, (150, 2), 10.0)
    np.testing.assert_array_equal(twin.run(x, y, w), twin.run(x, y, w))


def test_identical_inputs(twin, rng):
    x, _, w = draw(rng, (25, 2))
    got = twin.run(x, x, w)
    assert (got[6] == 0).all() and (got[1] == got[2]).all()
    np.testing.assert_allclose(got[5], got[3], rtol=1e-14)


def test_merge_rule_equals_one_stream(twin, rng):
    """``merge_moments`` (the ``"moments"`` merge rule) of two states is the state of the concatenated data."""
    (xa, ya, wa), (xb, yb, wb) = draw(rng, (30, 3), 1e6), draw(rng, (11, 3), 1e6 + 2)
    a, b = twin.put(twin.run(xa, ya, wa)), twin.put(twin.run(xb, yb, wb))
    twin.module.merge_moments(a, b)
    want = oracle(np.concatenate([xa, xb]), np.concatenate([ya, yb]), np.concatenate([wa, wb]))
    assert_moments_close(twin.host(a), want, 1e-10)
    empty = twin.put(np.zeros((7, 3)))
    twin.module.merge_moments(empty, b)  # into a fresh state: an exact copy
    np.testing.assert_array_equal(twin.host(empty), twin.host(b))
    twin.module.merge_moments(b, twin.put(np.zeros((7, 3))))  # a fresh state merged in: no change
    np.testing.assert_array_equal(twin.host(b), twin.host(empty))


def test_refuses_shapes_a_kernel_would_overrun(twin):
    module = twin.module
    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"out must have shape \(7, 3\)"):
        module.moments(x, x, None, np.zeros((7, 2)))
    with pytest.raises(ValueError, match="x and y must be 2-D of one shape"):
        module.moments(x, np.zeros((4, 2)), None, np.zeros((7, 3)))
    with pytest.raises(ValueError, match=r"weight must have the shape of x"):
        module.moments(x, x, np.zeros((4, 1)), np.zeros((7, 3)))
    with pytest.raises(ValueError, match=r"must both be \(7, \.\.\.\) of one shape"):
        module.merge_moments(np.zeros((7, 3)), np.zeros((7, 2)))


@pytest.mark.parametrize("twin", kernel_twins.twin_params(Twin, "moments")[1:])  # the CUDA twin against the CPU's
def test_twins_agree(twin, rng):
    x, y, w = draw(rng, (97, 3), 5.0)
    np.testing.assert_allclose(twin.run(x, y, w), CPU.run(x, y, w), rtol=1e-13, atol=1e-13)


def test_cpu_twin_combines_many_chunks(rng, monkeypatch):
    """More rows than one chunk holds (``CHUNK // L`` rows each), far from 0: chunk partials share the shift."""
    for cols in (1, 3):
        x, y, w = draw(rng, (2 * cpu.CHUNK // cols + 17, cols), 1e6)
        assert_moments_close(CPU.run(x, y, w), oracle(x, y, w), 1e-10)
    x, y, w = draw(rng, (200, 700), 1e6)
    monkeypatch.setattr(cpu, "PARTIALS_BUDGET", 3 * 8 * 7 * 700)  # a wide batch: at most 3 chunks of partials
    assert_moments_close(CPU.run(x, y, w), oracle(x, y, w), 1e-10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("grouped", [False, True], ids=["ungrouped", "grouped"])
def test_cpu_calling_thread_and_several_threads_give_the_same_bits(monkeypatch, rng, weighted, grouped):
    x, y, w = draw(rng, (3 * cpu.CHUNK // 2 + 5, 2), 1e3, dtype=np.float32, weighted=weighted)
    ids = rng.integers(-1, 4, x.shape[0]) if grouped else None
    states = []
    for threads in (1, 2, 5):
        kernel_twins.on_threads(monkeypatch, threads)
        state = np.zeros((7, 3 * 2 if grouped else 2))
        cpu.moments(x, y, w, state, ids)
        states.append(state)
    assert (states[0][0] > 0).all()
    for state in states[1:]:
        assert state.tobytes() == states[0].tobytes()


@pytest.mark.skipif(not REAL_GPU, reason="1e6 elements is too many for the CUDA simulator")
def test_large_batch_on_gpu(rng):
    x, y, w = draw(rng, (1_000_000, 2), 1e6)
    gpu = kernel_twins.gpu_twin(Twin, "moments")
    assert_moments_close(gpu.run(x, y, w), oracle(x, y, w), 1e-10)
    np.testing.assert_allclose(gpu.run(x, y, w), CPU.run(x, y, w), rtol=1e-11)
