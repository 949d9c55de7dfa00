"""threshold_histogram: the CUDA kernel (simulator or GPU) vs the CPU twin vs a float64 NumPy oracle, on the edges.

Run the CUDA twin without a GPU with ``NUMBA_ENABLE_CUDASIM=1`` set before
Python starts; without it (and without a GPU and CuPy) only the CPU twin runs.
"""
import numpy as np
import pytest

import kernel_twins

from gpumetrics._kernels.threshold_histogram import cpu as cpu_module
from gpumetrics._kernels.threshold_histogram.rules import grid_hint

EPS = 1e-7
#: the named kinds the launchers take (``rules.BUCKETINGS``, ``rules.TRANSFORMS``)
EVENLY, SEARCH = "evenly_spaced", "binary_search"
AS_IS, CLIP, SIGMOID = "as_is", "clip", "sigmoid"


def keras_thresholds(count):
    """Keras's ``AUC(num_thresholds=count)`` thresholds: ``i / (count - 1)``, ``-eps`` and ``1 + eps`` at the ends."""
    return np.array([0.0 - EPS] + [(i + 1) * 1.0 / (count - 1) for i in range(count - 2)] + [1.0 + EPS])


def oracle(y_true, y_pred, weight, thresholds, transform):
    """``(pos, neg)``, ``float64[T + 1, L]``: ``np.searchsorted`` for the bucket, ``np.add.at`` for the sums."""
    p = np.array(y_pred, dtype=np.float64)
    if transform == CLIP:
        p = np.clip(p, 0.0, 1.0)
    elif transform == SIGMOID:
        with np.errstate(over="ignore"):
            p = 1.0 / (1.0 + np.exp(-p))
    k = np.searchsorted(thresholds, p, side="left")
    k[np.isnan(p)] = 0  # NaN > t is False for every t (searchsorted would sort NaN last)
    positive = np.asarray(y_true) != 0
    w = np.ones(p.shape) if weight is None else np.asarray(weight, dtype=np.float64)
    column = np.broadcast_to(np.arange(p.shape[1]), p.shape)
    pos = np.zeros((len(thresholds) + 1, p.shape[1]))
    neg = np.zeros_like(pos)
    np.add.at(pos, (k[positive], column[positive]), w[positive])
    np.add.at(neg, (k[~positive], column[~positive]), w[~positive])
    return pos, neg


class Twin(kernel_twins.Twin):
    """The threshold_histogram twin: ``run`` applies it to host-built arrays."""

    def run(self, y_true, y_pred, weight, thresholds, evenly, transform, state=None):
        """Apply the primitive to a copy of ``state`` (zeros by default) and return ``(pos, neg)`` on the host."""
        if state is None:
            shape = (len(thresholds) + 1, y_pred.shape[1])
            state = (np.zeros(shape), np.zeros(shape))
        pos, neg = (self.put(np.array(s)) for s in state)
        self.module.threshold_histogram(self.put(y_true), self.put(y_pred), self.put(weight),
                                        self.put(np.asarray(thresholds, dtype=np.float64)), evenly, transform, pos, neg)
        return self.host(pos), self.host(neg)


@pytest.fixture(params=kernel_twins.twin_params(Twin, "threshold_histogram"))
def twin(request):
    return request.param


def check(twin, y_true, y_pred, weight, thresholds, evenly, transform, state=None):
    """The twin agrees with the oracle (exactly when unweighted) and with the CPU twin; returns its ``(pos, neg)``."""
    got = twin.run(y_true, y_pred, weight, thresholds, evenly, transform, state)
    want = oracle(y_true, y_pred, weight, np.asarray(thresholds, dtype=np.float64), transform)
    if state is not None:
        want = (want[0] + state[0], want[1] + state[1])
    cpu = Twin("cpu", cpu_module).run(y_true, y_pred, weight, thresholds, evenly, transform, state)
    for g, w, c in zip(got, want, cpu):
        assert g.dtype == np.float64
        if weight is None:
            np.testing.assert_array_equal(g, w)
            np.testing.assert_array_equal(g, c)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(g, c, rtol=1e-12, atol=1e-12)
    return got


def column(values):
    return np.asarray(values).reshape(-1, 1)


def _rng(seed):
    return np.random.default_rng(seed)


# --- the bucket rule at its edges -------------------------------------------------------------------------------


@pytest.mark.parametrize("evenly", [EVENLY, SEARCH], ids=["evenly", "search"])
def test_predictions_exactly_on_thresholds_are_not_above_them(twin, evenly):
    t = keras_thresholds(200)
    inner = t[1:-1]
    p = np.concatenate([inner, np.nextafter(inner, 2.0), np.nextafter(inner, -1.0)])
    y = np.arange(p.size) % 3 == 0
    pos, neg = check(twin, column(y), column(p), None, t, evenly, AS_IS)
    # on t[i] (and just below it): i thresholds below; just above: i + 1
    k = np.concatenate([np.arange(1, 199), np.arange(2, 200), np.arange(1, 199)])
    np.testing.assert_array_equal(pos[:, 0] + neg[:, 0], np.bincount(k, minlength=201))


@pytest.mark.parametrize("evenly", [EVENLY, SEARCH], ids=["evenly", "search"])
def test_zero_and_one_fall_between_the_epsilon_end_thresholds(twin, evenly):
    t = keras_thresholds(200)
    pos, neg = check(twin, column([1, 1, 0, 0]), column([0.0, 1.0, 0.0, 1.0]), None, t, evenly, CLIP)
    # 0 is above -eps only (bucket 1); 1 is above all but 1 + eps (bucket 199 of 0..200)
    assert pos[1, 0] == neg[1, 0] == pos[199, 0] == neg[199, 0] == 1
    assert pos.sum() + neg.sum() == 4


@pytest.mark.parametrize("evenly", [EVENLY, SEARCH], ids=["evenly", "search"])
def test_out_of_range_predictions_are_clipped_with_transform_1(twin, evenly):
    t = keras_thresholds(3)
    p = column([-3.0, -np.inf, 1.5, np.inf, 1e300, -1e-8])
    pos, neg = check(twin, np.ones_like(p), p, None, t, evenly, CLIP)
    np.testing.assert_array_equal(pos[:, 0], [0, 3, 3, 0])  # clipped to 0: bucket 1; to 1: bucket 2 (below 1 + eps)
    unclipped, _ = check(twin, np.ones_like(p), p, None, t, evenly, AS_IS)
    np.testing.assert_array_equal(unclipped[:, 0], [2, 1, 0, 3])  # as is: -3, -inf below -eps; -1e-8 above it


@pytest.mark.parametrize("transform", [AS_IS, CLIP, SIGMOID], ids=["as-is", "clip", "sigmoid"])
@pytest.mark.parametrize("evenly", [EVENLY, SEARCH], ids=["evenly", "search"])
def test_nan_predictions_go_to_bucket_zero(twin, evenly, transform):
    t = keras_thresholds(200)
    p = column([np.nan, 0.5, np.nan, -np.nan])
    pos, neg = check(twin, column([1, 0, 0, 1]), p, column([2.0, 1.0, 3.0, 0.5]), t, evenly, transform)
    assert pos[0, 0] == 2.5 and neg[0, 0] == 3.0


def test_empty_batch_is_a_no_op(twin):
    t = keras_thresholds(3)
    state = (np.arange(4.0).reshape(4, 1), np.full((4, 1), 7.0))
    for y in (np.zeros((0, 1)), np.zeros((0, 3))[:, :1], np.zeros((5, 0))):
        shape = (4, y.shape[1])
        s = (np.broadcast_to(state[0][:, :1], shape).copy(), np.broadcast_to(state[1][:, :1], shape).copy())
        for weight in (None, y):
            pos, neg = twin.run(y, y, weight, t, EVENLY, CLIP, s)
            np.testing.assert_array_equal(pos, s[0])
            np.testing.assert_array_equal(neg, s[1])


def test_state_of_the_wrong_shape_is_refused(twin):
    with pytest.raises(ValueError, match="shape"):
        twin.run(np.zeros((2, 1)), np.zeros((2, 1)), None, keras_thresholds(3), EVENLY, CLIP,
                 (np.zeros((3, 1)), np.zeros((3, 1))))


# --- dtypes and layouts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [bool, np.int8, np.int64, np.float16, np.float32, np.float64])
def test_label_dtypes_count_any_nonzero_label_as_positive(twin, dtype):
    labels = np.array([0, 1, 1, 0, 1, 0, 1, 1])
    if np.dtype(dtype).kind == "f":  # soft, negative and NaN labels: Keras casts y_true to bool
        labels = np.array([0.0, 0.3, 1.0, -0.0, -2.0, 0.0, np.nan, 1.0])
    p = column(_rng(1).random(labels.size))
    check(twin, column(labels.astype(dtype)), p, column(_rng(2).random(labels.size)), keras_thresholds(7), EVENLY,
          CLIP)
    pos, neg = check(twin, column(labels.astype(dtype)), p, None, keras_thresholds(7), EVENLY, CLIP)
    assert pos.sum() == np.count_nonzero(labels) and neg.sum() == labels.size - np.count_nonzero(labels)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.uint8])
@pytest.mark.parametrize("evenly", [EVENLY, SEARCH], ids=["evenly", "search"])
def test_prediction_dtypes_are_compared_exactly_in_float64(twin, dtype, evenly):
    t = keras_thresholds(11)
    p = np.concatenate([t[1:-1], _rng(3).random(30), [0.0, 1.0, 2.0]]).astype(dtype)
    if np.dtype(dtype).kind == "f":
        p[-1] = np.nan
    check(twin, column(np.arange(p.size) % 2), column(p), None, t, evenly, AS_IS)
    w = 4 * _rng(4).random(p.size)
    check(twin, column(np.arange(p.size) % 2), column(p), column(w.astype(np.float16) if dtype is np.float16 else w),
          t, evenly, CLIP)


def test_non_contiguous_views_strided_reversed_and_transposed(twin):
    t = keras_thresholds(200)
    base = _rng(5).random((40, 6))
    labels = _rng(6).random((40, 6)) < 0.5
    weights = _rng(7).random((6, 40))
    check(twin, labels[::2, 1::2], base[::2, ::2], weights.T[::2, ::2], t, EVENLY, CLIP)
    check(twin, labels[::-3], base[::-3], None, t, SEARCH, CLIP)
    check(twin, labels.T[:3].T, base.T[2:5].T, weights[:3].T, t, EVENLY, AS_IS)


def test_stride_zero_broadcast_weights_labels_and_predictions(twin):
    t = keras_thresholds(200)
    p = _rng(8).random((30, 3))
    y = _rng(9).random((30, 3)) < 0.5
    per_row = np.broadcast_to(_rng(10).random((30, 1)), (30, 3))
    per_label = np.broadcast_to(np.array([0.5, 2.0, -1.0]), (30, 3))
    scalar = np.broadcast_to(np.float32(3.0), (30, 3))
    for w in (per_row, per_label, scalar):
        check(twin, y, p, w, t, EVENLY, CLIP)
    check(twin, np.broadcast_to(True, (30, 3)), np.broadcast_to(p[:1], (30, 3)), per_row, t, SEARCH, CLIP)


@pytest.mark.parametrize("rows", [1, 31, 33, 127, 129, 250])
def test_ragged_grid_tails(twin, rows):
    t = keras_thresholds(50)
    g = _rng(rows)
    check(twin, g.random((rows, 1)) < 0.5, g.random((rows, 1)), None, t, EVENLY, CLIP)
    check(twin, g.random((rows, 2)) < 0.5, g.random((rows, 2)), g.random((rows, 2)), t, SEARCH, CLIP)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_multi_label_three_labels_fill_one_histogram_per_label(twin, weighted):
    g = _rng(11)
    p = g.random((100, 3))
    y = g.random((100, 3)) < np.array([0.1, 0.5, 0.9])
    w = g.random((100, 3)) if weighted else None
    pos, neg = check(twin, y, p, w, keras_thresholds(200), EVENLY, CLIP)
    w = np.ones(p.shape) if w is None else w
    np.testing.assert_allclose(pos.sum(0), (w * y).sum(0), rtol=1e-12)
    np.testing.assert_allclose(neg.sum(0), (w * ~y).sum(0), rtol=1e-12)


# --- threshold sets and transforms ------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [200, 3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_keras_default_evenly_spaced_thresholds(twin, count, weighted):
    g = _rng(count)
    p = np.concatenate([g.random(150), keras_thresholds(count)[1:-1], [0.0, 1.0]])
    w = column(g.random(p.size)) if weighted else None
    check(twin, column(g.random(p.size) < 0.4), column(p), w, keras_thresholds(count), EVENLY, CLIP)


def test_arbitrary_thresholds_use_the_binary_search(twin):
    t = np.array([-0.5, 0.01, 0.1, 0.11, 0.11, 0.5, 0.93, 0.999, 3.0])  # uneven, with a repeated threshold
    g = _rng(12)
    p = np.concatenate([g.uniform(-1.0, 4.0, 120), t, np.nextafter(t, 5.0), [np.nan, np.inf, -np.inf]])
    y = column(g.random(p.size) < 0.5)
    check(twin, y, column(p), None, t, SEARCH, AS_IS)
    check(twin, y, column(p), column(g.random(p.size)), t, SEARCH, AS_IS)
    check(twin, y, column(p), None, [0.5], SEARCH, CLIP)  # Precision / Recall's single default threshold
    check(twin, y, column(p), None, [], SEARCH, AS_IS)  # no thresholds: one bucket


@pytest.mark.parametrize("evenly", [EVENLY, SEARCH], ids=["evenly", "search"])
def test_from_logits_applies_a_sigmoid_first(twin, evenly):
    g = _rng(13)
    logits = np.concatenate([g.normal(0.0, 3.0, (60, 2)), [[0.0, -800.0], [800.0, np.inf], [-np.inf, 0.0]]])
    check(twin, g.random(logits.shape) < 0.5, logits, g.random(logits.shape), keras_thresholds(200), evenly, SIGMOID)


def test_two_calls_accumulate_into_the_state(twin):
    g = _rng(14)
    t = keras_thresholds(200)
    y1, p1, w1 = g.random((40, 2)) < 0.5, g.random((40, 2)), g.random((40, 2))
    y2, p2 = g.random((25, 2)) < 0.5, g.random((25, 2))
    first = check(twin, y1, p1, w1, t, EVENLY, CLIP)
    second = check(twin, y2, p2, None, t, EVENLY, CLIP, state=first)
    w_all = np.concatenate([w1, np.ones((25, 2))])
    want = oracle(np.concatenate([y1, y2]), np.concatenate([p1, p2]), w_all, t, CLIP)
    np.testing.assert_allclose(second[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(second[1], want[1], rtol=1e-12)


def _evenly_spaced_sets():
    linspace = np.linspace(0.0, 1.0, 101)
    perturbed = np.arange(51) / 50 + _rng(15).uniform(-EPS, EPS, 51)  # evenly spaced "within 1e-7", as Keras detects
    return {"keras-200": keras_thresholds(200), "keras-3": keras_thresholds(3), "keras-1000": keras_thresholds(1000),
            "linspace-101": linspace, "perturbed-51": np.sort(perturbed), "one": np.array([0.5]),
            "two": np.array([0.0, 1.0])}


@pytest.mark.parametrize("name", list(_evenly_spaced_sets()))
def test_evenly_spaced_fast_path_equals_the_binary_search(twin, name):
    t = _evenly_spaced_sets()[name]
    count = len(t)
    grid = np.arange(count) / max(count - 1, 1)  # i / (T - 1), exactly on (or within 1e-7 of) the thresholds
    p = np.concatenate([grid, t, np.nextafter(t, 2.0), np.nextafter(t, -1.0), np.nextafter(grid, 2.0),
                        [0.0, 1.0, -EPS, 1 + EPS, np.nan, -0.0], _rng(count).random(40)])
    if twin.name == "cuda" and p.size > 400:  # the simulator is slow: every k-th value, and all the special ones
        p = np.concatenate([p[:-46][::-(-(p.size - 46) // 350)], p[-46:]])
    y = column(np.arange(p.size) % 2)
    fast = twin.run(y, column(p), None, t, EVENLY, AS_IS)
    search = twin.run(y, column(p), None, t, SEARCH, AS_IS)
    np.testing.assert_array_equal(fast[0], search[0])
    np.testing.assert_array_equal(fast[1], search[1])
    np.testing.assert_array_equal(fast[0], oracle(y, column(p), None, t, AS_IS)[0])


def test_unweighted_counts_are_bitwise_reproducible(twin):
    g = _rng(16)
    y, p = g.random((200, 2)) < 0.5, g.random((200, 2))
    runs = [twin.run(y, p, None, keras_thresholds(200), EVENLY, CLIP) for _ in range(2)]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


# --- implementation-specific: partitions (CPU) and shared-memory tiles (CUDA) ---------------------------------


def test_cpu_twin_result_does_not_depend_on_thread_count(monkeypatch):
    monkeypatch.setattr(cpu_module, "CHUNK", 1000)  # many partitions on a small input
    g = _rng(17)
    y, p, w = g.random((20000, 2)) < 0.5, g.random((20000, 2)), g.random((20000, 2))
    twin = Twin("cpu", cpu_module)
    kernel_twins.on_threads(monkeypatch, 1)
    one = twin.run(y, p, w, keras_thresholds(200), EVENLY, CLIP)
    kernel_twins.on_threads(monkeypatch, 3)
    many = twin.run(y, p, w, keras_thresholds(200), EVENLY, CLIP)
    np.testing.assert_array_equal(one[0], many[0])
    np.testing.assert_array_equal(one[1], many[1])
    np.testing.assert_allclose(many[0], oracle(y, p, w, keras_thresholds(200), CLIP)[0], rtol=1e-12)


@pytest.mark.parametrize("bucketing, transform", [(EVENLY, CLIP), (SEARCH, AS_IS), (EVENLY, SIGMOID)])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cpu_calling_thread_and_several_threads_give_identical_bits(monkeypatch, bucketing, transform, weighted):
    monkeypatch.setattr(cpu_module, "CHUNK", 1300)  # 7 partitions of ragged size
    g = _rng(19)
    y = (g.random((3000, 3)) < 0.5).astype(np.int32)
    p = g.normal(0.5, 0.5, (3000, 3)).astype(np.float32)[:, ::-1]
    w = np.broadcast_to(g.random((3000, 1)), (3000, 3)) if weighted else None  # per-row weights: stride 0
    t = keras_thresholds(200)
    twin = Twin("cpu", cpu_module)
    results = []
    for threads in (1, 2, 5):
        kernel_twins.on_threads(monkeypatch, threads)
        results.append(twin.run(y, p, w, t, bucketing, transform))
    for pos, neg in results[1:]:
        assert pos.tobytes() == results[0][0].tobytes() and neg.tobytes() == results[0][1].tobytes()
    want = oracle(y, p, w, t, transform)
    np.testing.assert_allclose(results[0][0], want[0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], want[1], rtol=1e-12)


@pytest.mark.parametrize("cols", [1, 3])
@pytest.mark.parametrize("count", [1, 2, 5, 32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("grouped_split", [False, True], ids=["plain", "grouped-split"])
def test_cpu_few_thresholds_counted_one_by_one_give_the_lockstep_search_bits(monkeypatch, cols, count, weighted,
                                                                              grouped_split):
    """With at most ``COUNTED_MAX`` thresholds each prediction's bucket is counted (``column_loop`` /
    ``rows_loop``): the same buckets as the binary search in lockstep batches (repeated thresholds, values on them,
    NaN, infinities) and the same adds in the same order, so the same bits; and the oracle's sums."""
    assert count <= cpu_module.COUNTED_MAX
    g = _rng(40 + count)
    t = np.sort(np.concatenate([g.random(count - count // 3), g.random(count // 3)[:1].repeat(count // 3)]))
    p = np.concatenate([g.uniform(-0.5, 1.5, 3000), t, np.nextafter(t, 2.0), [np.nan, np.inf, -np.inf, 0.0]])
    p = np.resize(p, (p.size // cols, cols))
    y = (g.random(p.shape) < 0.5) * g.choice([1.0, 2.0], p.shape)
    w = g.random(p.shape) if weighted else None
    ids = g.integers(-1, 4, p.shape[0]) if grouped_split else None
    groups = 3 if grouped_split else 1
    runs = []
    for limit in (cpu_module.COUNTED_MAX, 0):  # counted, then the lockstep search
        monkeypatch.setattr(cpu_module, "COUNTED_MAX", limit)
        state = [np.zeros((count + 1, groups * cols)) for _ in range(3)]
        cpu_module.threshold_histogram(y, p, w, t, SEARCH, AS_IS, state[0], state[1], group_ids=ids,
                                       out_other=state[2] if grouped_split else None)
        runs.append(state)
    for counted, searched in zip(*runs):
        assert counted.tobytes() == searched.tobytes()
    keep = np.ones(p.shape[0], bool) if ids is None else ids == 0
    pos, neg = oracle(y[keep], p[keep], None if w is None else w[keep], t, AS_IS)
    np.testing.assert_allclose(runs[0][0][:, :cols], pos, rtol=1e-12)
    np.testing.assert_allclose(runs[0][1][:, :cols], neg, rtol=1e-12)


@pytest.mark.parametrize("cols", [1, 3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cpu_evenly_spaced_loops_give_the_lockstep_search_bits(cols, weighted):
    """``AUC``'s thresholds bucketed by ``evenly_spaced`` element by element (``column_loop``, ``rows_loop``) and by
    the lockstep search over the same thresholds: the same buckets and adds, so the same bits."""
    g = _rng(60 + cols)
    t = keras_thresholds(200)
    p = np.resize(np.concatenate([g.random(6000), t, np.nextafter(t, 2.0), [np.nan, -0.0]]), (6400 // cols, cols))
    y = g.random(p.shape) < 0.5
    w = g.random(p.shape) if weighted else None
    twin = Twin("cpu", cpu_module)
    fast, searched = twin.run(y, p, w, t, EVENLY, AS_IS), twin.run(y, p, w, t, SEARCH, AS_IS)
    assert fast[0].tobytes() == searched[0].tobytes() and fast[1].tobytes() == searched[1].tobytes()
    np.testing.assert_allclose(fast[0], oracle(y, p, w, t, AS_IS)[0], rtol=1e-12)


@pytest.mark.parametrize("budget, grid_y, label_tile, bucket_tiles", [
    (48 * 1024, 65535, 3, 1),  # every label in one block, replicated histograms
    (2 * 8 * 2 * 51, 65535, 2, 1),  # weighted: two labels per tile, the third in its own tile
    (2 * 8 * 51, 65535, 1, 1),  # one label per tile
    (2 * 8 * 20, 65535, 1, 3),  # one label does not fit: 51 buckets in tiles of 20
    (2 * 8 * 20, 2, 1, 3),  # 9 tiles over 2 blocks along y: each block loops over tiles
])
@pytest.mark.parametrize("staged", [1024, 16])  # 16: the 52 thresholds are read from global memory (simulator only)
def test_cuda_shared_memory_tiles_labels_and_buckets(twin, monkeypatch, budget, grid_y, label_tile, bucket_tiles,
                                                     staged):
    if twin.name != "cuda":
        pytest.skip("CUDA launch shape")
    monkeypatch.setattr(twin.module, "COUNTER_BUDGET", budget)
    monkeypatch.setattr(twin.module, "STAGED_THRESHOLDS", staged)
    monkeypatch.setattr(twin.module, "_MAX_GRID_Y", grid_y)
    shape = twin.module.launch_shape(40, 3, 50, True)
    assert shape[2] == label_tile and shape[4] == bucket_tiles
    assert shape[-1] <= budget
    g = _rng(18)
    y, p, w = g.random((40, 3)) < 0.5, g.random((40, 3)), g.random((40, 3))
    t = keras_thresholds(50)
    check(twin, y, p, w, t, EVENLY, CLIP)
    check(twin, y, p, None, t, SEARCH, CLIP)


# -- the third plane: positive labels other than exactly 1 (what BinaryAccuracy needs to share the pass) -----------
def other_oracle(y_true, y_pred, weight, thresholds, transform):
    """``oracle``'s ``pos`` restricted to the labels that are non-zero and not exactly 1 (NaN included)."""
    y = np.asarray(y_true, dtype=np.float64)
    mask = (y != 0) & (y != 1)
    return oracle(mask, y_pred, None if weight is None else np.where(mask, weight, 0.0), thresholds, transform)[0]


def run_split(twin, y, p, w, t, bucketing, transform, groups=None, ids=None):
    """``(pos, neg, other)`` of one split call (``G * L`` columns with ``ids``), on the host."""
    shape = (len(t) + 1, (groups or 1) * y.shape[1])
    pos, neg, other = (twin.put(np.zeros(shape)) for _ in range(3))
    twin.module.threshold_histogram(twin.put(y), twin.put(p), twin.put(w), twin.put(np.asarray(t, np.float64)),
                                    bucketing, transform, pos, neg, group_ids=twin.put(ids), out_other=other)
    return twin.host(pos), twin.host(neg), twin.host(other)


LABELS = np.array([0.0, 1.0, 2.0, 0.3, np.nan, -1.0, 1.0, 0.0])


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("bucketing, transform", [(EVENLY, CLIP), (SEARCH, AS_IS)])
def test_other_plane_counts_positive_labels_other_than_one_and_leaves_the_two_planes_alone(
        twin, weighted, bucketing, transform):
    g = _rng(31)
    y = g.choice(LABELS, (257, 2))
    p = g.random((257, 2)) * 1.2 - 0.1
    w = g.random((257, 2)) if weighted else None
    t = keras_thresholds(50)
    pos, neg, other = run_split(twin, y, p, w, t, bucketing, transform)
    assert other.any() and (other <= pos).all()
    want_pos, want_neg = oracle(y, p, w, t, transform)
    plain_pos, plain_neg = twin.run(y, p, w, t, bucketing, transform)
    compare = np.testing.assert_array_equal if not weighted else \
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    compare(other, other_oracle(y, p, w, t, transform))
    compare(pos, want_pos)
    compare(neg, want_neg)
    if twin.name == "cpu" or not weighted:  # the same partitions with or without the plane: the same bits
        assert pos.tobytes() == plain_pos.tobytes() and neg.tobytes() == plain_neg.tobytes()


@pytest.mark.parametrize("integer", [np.int32, np.int64])
def test_other_plane_of_integer_labels(twin, integer):
    y = np.array([[0], [1], [2], [-3], [1]], dtype=integer)
    p = np.array([[0.9], [0.9], [0.9], [0.1], [0.1]])
    pos, neg, other = run_split(twin, y, p, None, [0.5], SEARCH, AS_IS)
    np.testing.assert_array_equal(other[:, 0], [1.0, 1.0])
    np.testing.assert_array_equal(pos[:, 0], [2.0, 2.0])
    np.testing.assert_array_equal(neg[:, 0], [0.0, 1.0])


@pytest.mark.parametrize("groups, weighted", [(3, True), (5, False), (700, True)],
                         ids=["private-w", "private", "global-atomics"])
def test_other_plane_with_groups(twin, groups, weighted):
    """Grouped, on both CUDA paths (privatised counters; global atomics once 3 (T + 1) G L counters pass 48 KiB)."""
    g = _rng(groups)
    rows, cols = 300, 2
    y, p = g.choice(LABELS, (rows, cols)), g.random((rows, cols))
    w = g.integers(0, 4, (rows, cols)).astype(float) if weighted else None
    ids = g.integers(-2, groups + 2, rows)
    t = np.array([-1e-7, 0.25, 0.5, 0.75, 1 + 1e-7])
    pos, neg, other = run_split(twin, y, p, w, t, EVENLY, CLIP, groups, ids)
    inside = (ids >= 0) & (ids < groups)
    for group in (0, groups - 1):
        rows_g = inside & (ids == group)
        sub = slice(group * cols, (group + 1) * cols)
        wg = None if w is None else w[rows_g]
        np.testing.assert_array_equal(other[:, sub], other_oracle(y[rows_g], p[rows_g], wg, t, CLIP))
        want_pos, want_neg = oracle(y[rows_g], p[rows_g], wg, t, CLIP)
        np.testing.assert_array_equal(pos[:, sub], want_pos)
        np.testing.assert_array_equal(neg[:, sub], want_neg)


def run_grouped(twin, y, p, w, t, bucketing, groups, ids, split):
    """The states of one grouped call (``G * L`` columns), with the ``OTHER`` plane when ``split``, on the host."""
    shape = (len(t) + 1, groups * y.shape[1])
    states = [twin.put(np.zeros(shape)) for _ in range(3 if split else 2)]
    twin.module.threshold_histogram(twin.put(y), twin.put(p), twin.put(w), twin.put(np.asarray(t, np.float64)),
                                    bucketing, CLIP, *states[:2], group_ids=twin.put(ids),
                                    out_other=states[2] if split else None)
    return [twin.host(state) for state in states]


@pytest.mark.parametrize("split", [False, True], ids=["two-planes", "split"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("bucketing", [EVENLY, SEARCH])
@pytest.mark.parametrize("cols", [1, 2])
def test_broadcast_group_ids_add_like_their_copy_and_drop_outside_ids(twin, split, weighted, bucketing, cols):
    """One id for every row as a stride-0 view (``np.broadcast_to``): the CPU twin reads it once and must still drop
    it outside ``[0, G)``: ``G`` itself and -1 add nothing, ``G - 1`` adds as the same ids materialised."""
    g = _rng(41)
    rows, groups = 300, 4
    y, p = g.choice(LABELS, (rows, cols)), g.random((rows, cols))
    w = g.random((rows, cols)) if weighted else None
    t = keras_thresholds(20)
    for value in (groups, -1, groups - 1):
        ids = np.broadcast_to(np.int64(value), (rows,))
        got = run_grouped(twin, y, p, w, t, bucketing, groups, ids, split)
        want = run_grouped(twin, y, p, w, t, bucketing, groups, np.array(ids), split)
        for a, b in zip(got, want):
            if twin.name == "cpu" or not weighted:  # CUDA's weighted sums add in the atomics' order
                assert a.tobytes() == b.tobytes()
            else:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
        assert got[0].any() == (value == groups - 1)


def test_cuda_tiles_count_three_planes(twin, monkeypatch):
    """Split, one label's three planes do not fit the budget: the buckets are tiled, every plane still exact."""
    if twin.name != "cuda":
        pytest.skip("CUDA launch shape")
    monkeypatch.setattr(twin.module, "COUNTER_BUDGET", 3 * 8 * 20)
    assert twin.module.launch_shape(40, 3, 50, True, planes=3)[4] == 3
    g = _rng(19)
    y, p, w = g.choice(LABELS, (40, 3)), g.random((40, 3)), g.integers(0, 3, (40, 3)).astype(float)
    t = keras_thresholds(50)
    pos, neg, other = run_split(twin, y, p, w, t, EVENLY, CLIP)
    np.testing.assert_array_equal(other, other_oracle(y, p, w, t, CLIP))
    np.testing.assert_array_equal(pos, oracle(y, p, w, t, CLIP)[0])


def test_other_plane_of_another_shape_is_refused(twin):
    pos, neg = np.zeros((3, 1)), np.zeros((3, 1))
    with pytest.raises(ValueError, match="out_other"):
        twin.module.threshold_histogram(np.zeros((4, 1)), np.zeros((4, 1)), None, np.array([0.2, 0.6]), SEARCH,
                                        AS_IS, twin.put(pos), twin.put(neg), out_other=twin.put(np.zeros((3, 2))))


# -- the evenly spaced guess on a grid with a few thresholds added (a collection's union) ------------------------
@pytest.mark.parametrize("added", [[0.5], [0.5, 0.3, 0.75], list(np.linspace(0.01, 0.99, 16))], ids=["one", "three",
                                                                                                    "sixteen"])
@pytest.mark.parametrize("hint", ["table", "garbage"])
def test_extras_hint_gives_the_binary_search_buckets(twin, added, hint):
    """AUC's grid plus ``added`` thresholds, ``grid_hint``'s table after the union (``extras``): the O(1) guess on
    the grid, fixed up, buckets every prediction (edges, NaN, out of range) as the binary search does; so does a
    table of garbage (huge, negative, NaN entries: the guess is clamped, the fix-up exact)."""
    g = _rng(len(added))
    grid = keras_thresholds(200)
    union = np.unique(np.concatenate([grid, added]))
    table = grid_hint(np.setdiff1d(union, grid), grid)
    if hint == "garbage":
        table = g.choice([1e9, -1e9, -3.0, 7.0, np.nan, np.inf], table.size)
    hinted = np.concatenate([union, table])
    p = np.concatenate([g.random(400) * 1.2 - 0.1, union, np.nextafter(union, 2), [np.nan, -np.inf, np.inf]])
    y, p = (g.random(p.size) < 0.5)[:, None], p[:, None]
    shape = (len(union) + 1, 1)
    pos, neg = twin.put(np.zeros(shape)), twin.put(np.zeros(shape))
    twin.module.threshold_histogram(twin.put(y), twin.put(p), None, twin.put(hinted), EVENLY, CLIP, pos, neg,
                                    extras=table.size)
    want = oracle(y, p, None, union, CLIP)
    np.testing.assert_array_equal(twin.host(pos), want[0])
    np.testing.assert_array_equal(twin.host(neg), want[1])


def test_grid_hint_counts_the_thresholds_off_the_grid_below_each_grid_point():
    """Entry ``j``: thresholds off the grid strictly below grid point ``j - 1``, by brute force."""
    g = _rng(7)
    grid = keras_thresholds(200)
    added = np.sort(g.random(9))
    want = [0] + [int(np.sum(added < point)) for point in grid]
    assert grid_hint(added, grid).tolist() == want


@pytest.mark.parametrize("extras", [-1, 3])
def test_extras_beyond_half_the_entries_are_refused(twin, extras):
    pos = neg = np.zeros((4, 1))
    with pytest.raises(ValueError, match="extras"):
        twin.module.threshold_histogram(np.zeros((2, 1)), np.zeros((2, 1)), None, np.array([0.2, 0.6, 0.9, 0.6]),
                                        EVENLY, CLIP, twin.put(pos), twin.put(neg), extras=extras)
