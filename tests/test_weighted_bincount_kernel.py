"""weighted_bincount: the CUDA kernel (simulator or GPU) vs the CPU twin vs a float64 NumPy oracle, on the edges.

Run the CUDA twin without a GPU with ``NUMBA_ENABLE_CUDASIM=1`` set before
Python starts; without it (and without a GPU and CuPy) only the CPU twin runs.
"""
import numpy as np
import pytest

import kernel_twins

from gpumetrics._kernels.weighted_bincount import cpu as cpu_module
from gpumetrics._kernels.weighted_bincount.rules import RULES as NAMED_RULES

VALUE, ARGMAX, THRESHOLD = (NAMED_RULES[name] for name in ("value", "argmax", "threshold"))
RULES = {"value": VALUE, "argmax": ARGMAX, "threshold": THRESHOLD}


def oracle_ids(values, rule, classes, threshold):
    """Class ids by NumPy (-1: dropped): ``np.trunc``, ``np.argmax`` on the values as given, ``>=`` in float64."""
    values = np.asarray(values)
    if rule == ARGMAX:
        ids = np.argmax(values, axis=1).astype(np.float64)
    else:
        column = values[:, 0].astype(np.float64)
        ids = np.trunc(column) if rule == VALUE else (column >= threshold).astype(np.float64)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(ids) & (ids >= 0) & (ids < classes)
    return np.where(keep, np.nan_to_num(ids), -1).astype(np.int64)


def oracle(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, classes):
    """``float64[C, C]`` by ``np.add.at`` (weighted) and ``np.bincount`` (unweighted)."""
    t = oracle_ids(y_true, true_rule, classes, threshold)
    p = oracle_ids(y_pred, pred_rule, classes, threshold)
    keep = (t >= 0) & (p >= 0) & (t != ignore_class)
    if weight is None:
        return np.bincount(t[keep] * classes + p[keep], minlength=classes * classes).reshape(classes, classes) * 1.0
    out = np.zeros((classes, classes))
    np.add.at(out, (t[keep], p[keep]), np.asarray(weight, dtype=np.float64)[keep])
    return out


class Twin(kernel_twins.Twin):
    """The weighted_bincount twin: ``run`` applies it to host-built arrays."""

    def run(self, y_true, y_pred, weight, true_rule, pred_rule, threshold=0.5, ignore_class=-1, classes=None,
            state=None):
        """Apply the primitive to a copy of ``state`` (zeros ``[classes, classes]`` by default); host result."""
        out = self.put(np.zeros((classes, classes)) if state is None else np.array(state, dtype=np.float64))
        self.module.weighted_bincount(self.put(y_true), self.put(y_pred), self.put(weight), true_rule, pred_rule,
                                      threshold, ignore_class, out)
        return self.host(out)


@pytest.fixture(params=kernel_twins.twin_params(Twin, "weighted_bincount"))
def twin(request):
    return request.param


def check(twin, y_true, y_pred, weight, true_rule, pred_rule, threshold=0.5, ignore_class=-1, classes=4,
          state=None):
    """The twin agrees with the oracle (exactly when unweighted) and with the CPU twin; returns its matrix."""
    got = twin.run(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, classes, state)
    want = oracle(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, classes)
    if state is not None:
        want = want + state
    cpu = Twin("cpu", cpu_module).run(y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, classes,
                                      state)
    assert got.dtype == np.float64 and got.shape == (classes, classes)
    if weight is None:
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, cpu)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got, cpu, rtol=1e-12, atol=1e-12)
    return got


def column(values, dtype=None):
    return np.asarray(values, dtype=dtype).reshape(-1, 1)


def _rng(seed):
    return np.random.default_rng(seed)


def draw(g, rule, rows, classes):
    """Inputs for one side: ids with some out of range (value), score rows with an extra column (argmax),
    scores around the threshold (threshold)."""
    if rule == VALUE:
        return column(g.integers(-1, classes + 2, rows) + g.choice([0.0, 0.25, 0.75, -0.5], rows))
    if rule == ARGMAX:
        return g.random((rows, classes + 1))
    return column(g.random(rows))


# --- the row rules -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pred_rule", list(RULES.values()), ids=list(RULES))
@pytest.mark.parametrize("true_rule", list(RULES.values()), ids=list(RULES))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_every_rule_pair(twin, true_rule, pred_rule, weighted):
    g = _rng(10 * true_rule.code + pred_rule.code)
    rows, classes = 90, 3
    w = g.uniform(0.0, 2.0, rows) if weighted else None
    check(twin, draw(g, true_rule, rows, classes), draw(g, pred_rule, rows, classes), w, true_rule, pred_rule,
          threshold=0.4, classes=classes)


def test_value_rule_truncates_toward_zero_and_drops_out_of_range_and_non_finite(twin):
    values = np.array([-1.0, -0.999, -0.5, -0.0, 0.0, 0.5, 0.999, 1.0, 2.5, 2.999, 3.0, 3.5, -2.0,
                       np.inf, -np.inf, np.nan, 1e300, -1e300, np.nextafter(3.0, 0.0), np.nextafter(-1.0, 0.0)])
    kept = np.array([0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1], bool)
    ids = np.array([0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0])
    zeros = column(np.zeros(values.size))
    on_true = check(twin, column(values), zeros, None, VALUE, VALUE, classes=3)
    np.testing.assert_array_equal(on_true[:, 0], np.bincount(ids[kept], minlength=3))
    on_pred = check(twin, zeros, column(values), None, VALUE, VALUE, classes=3)
    np.testing.assert_array_equal(on_pred[0], np.bincount(ids[kept], minlength=3))


def test_ids_out_of_range_on_either_side_drop_the_row(twin):
    y_true = column([0, 1, 2, 3, -1, 1, 2, 9])
    y_pred = column([0, 5, 2, 1, 1, -3, 2, 0])
    out = check(twin, y_true, y_pred, column([1.0, 2, 3, 4, 5, 6, 7, 8])[:, 0], VALUE, VALUE, classes=3)
    np.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 0], [0, 0, 10]])


@pytest.mark.parametrize("ignore_class", [-1, 0, 2, 7])
def test_ignore_class_drops_that_true_class_only(twin, ignore_class):
    y_true = column([0, 0, 1, 2, 2, 2, 1, 7])
    y_pred = column([0, 2, 2, 2, 0, 1, 1, 2])
    out = check(twin, y_true, y_pred, None, VALUE, VALUE, ignore_class=ignore_class, classes=3)
    if ignore_class in (0, 2):
        assert not out[ignore_class].any() and out[:, ignore_class].sum() > 0  # predicted as it: still counted


def test_argmax_first_index_on_ties_and_nan_is_the_largest(twin):
    rows = np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [np.nan, 5.0, 1.0], [1.0, np.nan, np.nan],
                     [-np.inf, -np.inf, -np.inf], [3.0, 3.0, 3.0], [0.0, 0.0, np.inf], [-1.0, -0.5, -0.5],
                     [2.0, -np.nan, 9.0]])
    ids = [0, 1, 0, 1, 0, 0, 2, 1, 1]
    out = check(twin, rows, column(np.zeros(len(rows))), None, ARGMAX, VALUE, classes=3)
    np.testing.assert_array_equal(out[:, 0], np.bincount(ids, minlength=3))
    out = check(twin, rows[:, :2], rows, None, ARGMAX, ARGMAX, classes=2)  # argmax 2 >= classes: dropped
    assert out.sum() == sum(1 for i in ids if i < 2)


def test_threshold_rule_is_greater_or_equal_and_nan_is_zero(twin):
    p = column([0.3, np.nextafter(0.3, 0), np.nextafter(0.3, 1), np.nan, -np.inf, np.inf, 0.0, 1.0])
    out = check(twin, column(np.ones(p.size)), p, None, VALUE, THRESHOLD, threshold=0.3, classes=2)
    np.testing.assert_array_equal(out[1], [4, 4])
    out = check(twin, column(np.ones(p.size)), p, None, VALUE, THRESHOLD, threshold=0.3, classes=1)
    assert out[0, 0] == 0  # true id 1 is out of range for one class


# --- dtypes and layouts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [bool, np.int8, np.uint8, np.int32, np.int64, np.uint64, np.float16, np.float32,
                                   np.float64])
def test_input_dtypes(twin, dtype):
    g = _rng(20)
    rows = 60
    top = 2 if dtype is bool else 5
    ids = g.integers(0, top, rows)
    if np.dtype(dtype).kind in "iu":
        ids = np.where(g.random(rows) < 0.2, 9, ids)
    ids = ids.astype(dtype)
    scores = (g.random((rows, 4)) * (1 if np.dtype(dtype).kind == "f" else 10)).astype(dtype)
    if np.dtype(dtype).kind == "f":
        ids = (ids + 0.5).astype(dtype)
        scores[3, 1] = np.nan
    weight = g.uniform(0.0, 2.0, rows).astype(np.float16 if dtype is np.float16 else np.float64)
    check(twin, column(ids), scores, None, VALUE, ARGMAX, classes=4)  # one compilation per rule pair and dtype:
    check(twin, scores, column(scores[:, 0]), weight, ARGMAX, THRESHOLD, threshold=0.5, classes=4)  # keep them few


@pytest.mark.parametrize("dtype", [bool, np.int32, np.float16, np.float32])
def test_weight_dtypes(twin, dtype):
    g = _rng(21)
    w = (g.random(50) * 4).astype(dtype)
    check(twin, column(g.integers(0, 3, 50)), column(g.integers(0, 3, 50)), w, VALUE, VALUE, classes=3)


def test_nan_and_inf_weights_reach_their_cells(twin):
    # issue 12, defect 5: both twins add a NaN / inf weight into its cell (the IoU result then propagates it)
    w = np.array([np.nan, 1.0, np.inf, -np.inf, 2.0])
    out = twin.run(column([0, 1, 1, 2, 2]), column([0, 1, 0, 2, 2]), w, VALUE, VALUE, classes=3)
    assert np.isnan(out[0, 0]) and out[1, 0] == np.inf and out[2, 2] == -np.inf
    np.testing.assert_array_equal(out[1], [np.inf, 1.0, 0.0])
    assert out[0, 1] == out[0, 2] == out[2, 0] == out[2, 1] == 0.0


def test_non_contiguous_views_strided_reversed_and_transposed(twin):
    g = _rng(22)
    scores = g.random((80, 8))
    ids = g.integers(-1, 5, (80, 3)).astype(np.float32)
    weights = g.random((3, 80))
    check(twin, ids[::2, 1:2], scores[::2, ::2], weights[1, ::2], VALUE, ARGMAX, classes=4)
    check(twin, scores[::-3, 4:], ids[::-3, :1], weights[2, ::-3], ARGMAX, VALUE, classes=4)
    check(twin, scores.T[:4].T, scores.T[4:].T, weights.T[:, 0], ARGMAX, ARGMAX, classes=4)


def test_stride_zero_broadcast_inputs_and_weights(twin):
    g = _rng(23)
    ids = column(g.integers(0, 4, 40))
    scores = g.random((40, 4))
    check(twin, ids, np.broadcast_to(scores[:1], (40, 4)), np.broadcast_to(np.float32(2.5), (40,)), VALUE, ARGMAX)
    check(twin, np.broadcast_to(np.int8(3), (40, 1)), scores, np.broadcast_to(g.random(1), (40,)), VALUE, ARGMAX)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("pred_rule", [VALUE, ARGMAX])
def test_broadcast_group_ids_add_like_their_copy_and_drop_outside_ids(twin, weighted, pred_rule):
    """One id for every row as a stride-0 view (``np.broadcast_to``): the CPU twin reads it once and must still drop
    it outside ``[0, G)``: ``G`` itself and -1 add nothing, ``G - 1`` adds as the same ids materialised."""
    g = _rng(29)
    rows, groups, classes = 300, 3, 4
    t = column(g.integers(-1, classes + 1, rows))
    p = column(g.integers(0, classes, rows)) if pred_rule == VALUE else g.random((rows, classes))
    w = g.random(rows) if weighted else None
    for value in (groups, -1, groups - 1):
        ids = np.broadcast_to(np.int64(value), (rows,))
        got, want = (twin.put(np.zeros((groups, classes, classes))) for _ in range(2))
        for out, group_ids in ((got, ids), (want, np.array(ids))):
            twin.module.weighted_bincount(twin.put(t), twin.put(p), twin.put(w), VALUE, pred_rule, 0.5, 2, out,
                                          group_ids=twin.put(group_ids))
        got, want = twin.host(got), twin.host(want)
        if twin.name == "cpu" or not weighted:  # CUDA's weighted sums add in the atomics' order
            assert got.tobytes() == want.tobytes()
        else:
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        assert got.any() == (value == groups - 1)


@pytest.mark.parametrize("rows", [1, 31, 33, 127, 129, 250])
def test_ragged_grid_tails(twin, rows):
    g = _rng(rows)
    check(twin, column(g.integers(0, 4, rows)), column(g.integers(0, 4, rows)), None, VALUE, VALUE)
    check(twin, column(g.integers(0, 4, rows)), g.random((rows, 4)), g.random(rows), VALUE, ARGMAX)


def test_accumulates_into_a_non_zero_state(twin):
    g = _rng(24)
    state = g.integers(0, 100, (4, 4)).astype(np.float64) + 0.5
    y_true, y_pred = column(g.integers(0, 4, 70)), g.random((70, 4))
    first = check(twin, y_true, y_pred, None, VALUE, ARGMAX, state=state)
    second = check(twin, y_true, y_pred, g.random(70), VALUE, ARGMAX, state=first)
    assert (second >= first).all() and (first >= state).all()


def test_empty_input_is_a_no_op(twin):
    state = np.arange(9.0).reshape(3, 3)
    for y_true, y_pred in [(np.zeros((0, 1)), np.zeros((0, 1))), (np.zeros((0, 3)), np.zeros((0, 1))),
                           (np.zeros((0, 0)), np.zeros((0, 5)))]:
        for weight in (None, np.zeros(0)):
            for rules in ((VALUE, VALUE), (ARGMAX, THRESHOLD)):
                out = twin.run(y_true, y_pred, weight, *rules, classes=3, state=state)
                np.testing.assert_array_equal(out, state)


@pytest.mark.parametrize("y_true,y_pred,weight,rules,classes,state_shape,message", [
    (np.zeros((2, 1)), np.zeros((2, 1)), None, (VALUE, VALUE), 3, (3, 2), "square"),
    (np.zeros((2, 1)), np.zeros((2, 1)), None, (VALUE, VALUE), 3, (3, 3), "float64"),
    (np.zeros((2, 1)), np.zeros((3, 1)), None, (VALUE, VALUE), 3, (3, 3), "one row per sample"),
    (np.zeros((2, 2)), np.zeros((2, 1)), None, (VALUE, VALUE), 3, (3, 3), "reads one column"),
    (np.zeros((2, 1)), np.zeros((2, 2)), None, (VALUE, THRESHOLD), 3, (3, 3), "reads one column"),
    (np.zeros((2, 0)), np.zeros((2, 1)), None, (ARGMAX, VALUE), 3, (3, 3), "at least one column"),
    (np.zeros((2, 1)), np.zeros((2, 1)), np.zeros(3), (VALUE, VALUE), 3, (3, 3), "weight must have shape"),
    (np.zeros((2, 1)), np.zeros((2, 1)), None, (VALUE, 5), 3, (3, 3), "rule must be one of"),
], ids=["state", "state-dtype", "rows", "value-columns", "threshold-columns", "argmax-no-columns", "weight", "rule"])
def test_bad_arguments_are_refused(twin, y_true, y_pred, weight, rules, classes, state_shape, message):
    out = np.zeros(state_shape, np.float32 if message == "float64" else np.float64)
    with pytest.raises(ValueError, match=message):
        twin.module.weighted_bincount(y_true, y_pred, weight, *rules, 0.5, -1, out)
    assert not out.any()


def test_unweighted_counts_are_bitwise_reproducible(twin):
    g = _rng(25)
    y_true, y_pred = column(g.integers(0, 4, 200)), g.random((200, 4))
    runs = [twin.run(y_true, y_pred, None, VALUE, ARGMAX, classes=4) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


# --- implementation-specific: partitions (CPU) and shared memory (CUDA) ---------------------------------------


def test_cpu_twin_gives_the_same_bits_on_every_run_and_thread_count(monkeypatch):
    monkeypatch.setattr(cpu_module, "CHUNK", 1000)  # many partitions on a small input
    g = _rng(26)
    y_true, y_pred, w = column(g.integers(-1, 6, 30000)), g.random((30000, 5)), g.random(30000)
    twin = Twin("cpu", cpu_module)
    kernel_twins.on_threads(monkeypatch, 1)
    one = twin.run(y_true, y_pred, w, VALUE, ARGMAX, classes=5)
    kernel_twins.on_threads(monkeypatch, 3)
    runs = [twin.run(y_true, y_pred, w, VALUE, ARGMAX, classes=5) for _ in range(3)]
    for run in runs:
        np.testing.assert_array_equal(run, one)
    np.testing.assert_allclose(one, oracle(y_true, y_pred, w, VALUE, ARGMAX, 0.5, -1, 5), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cpu_calling_thread_and_several_threads_give_the_same_bits(monkeypatch, weighted):
    monkeypatch.setattr(cpu_module, "CHUNK", 1000)  # many partitions on a small input
    g = _rng(28)
    y_true, y_pred = column(g.integers(-1, 6, 20000)), g.random((20000, 5)).astype(np.float32)
    w = g.random(20000) if weighted else None
    assert cpu_module.partitions(20000, 5) == 20
    hists = []
    for threads in (1, 2, 6):
        kernel_twins.on_threads(monkeypatch, threads)
        out = np.zeros((5, 5))
        cpu_module.weighted_bincount(y_true, y_pred, w, VALUE, ARGMAX, 0.0, 2, out)
        hists.append(out)
    assert hists[0].any()
    for hist in hists[1:]:
        assert hist.tobytes() == hists[0].tobytes()


def test_cpu_partitions_depend_on_the_shapes_only():
    assert cpu_module.partitions(10, 4) == 1
    assert cpu_module.partitions(10_000_000, 10) == cpu_module.MAX_PARTS
    assert cpu_module.partitions(10_000_000, 2000) == 1  # a 32 MB histogram per partition: one partition


def test_cuda_launch_shape_bounds_the_rows_of_a_block(monkeypatch):
    pytest.importorskip("numba.cuda")
    from gpumetrics._kernels._shared.histogram import MAX_REPLICAS
    from gpumetrics._kernels.weighted_bincount import cuda as cuda_module

    monkeypatch.setattr(cuda_module, "max_blocks", lambda: 1)  # one resident block would count every row
    rows = 5 * cuda_module.MAX_BLOCK_ELEMENTS // 2
    blocks, privatised, replicas, stride, shared = cuda_module.launch_shape(rows, 2, False)
    assert blocks == 3 and privatised and replicas == MAX_REPLICAS and stride % 2 == 1
    per_block = -(-rows // (blocks * cuda_module.BLOCK)) * cuda_module.BLOCK  # grid-stride rows of one block
    assert per_block <= cuda_module.MAX_BLOCK_ELEMENTS + cuda_module.BLOCK < 2 ** 32
    assert shared <= cuda_module.SHARED_BUDGET
    assert cuda_module.launch_shape(100, 110, False)[1:3] == (True, 1)  # 110 * 110 uint32 fit 48 KiB, once
    assert not cuda_module.launch_shape(100, 79, True)[1]  # 79 * 79 float64 do not: global atomics


@pytest.mark.parametrize("slots,replicas", [(3 * 17, 3), (16, 1), (15, 0)], ids=["replicas", "one-copy", "global"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_cuda_shared_replicas_and_global_atomics_fallback(twin, monkeypatch, slots, replicas, weighted):
    if twin.name != "cuda":
        pytest.skip("CUDA launch shape")
    budget = slots * (8 if weighted else 4)
    monkeypatch.setattr(twin.module, "SHARED_BUDGET", budget)
    blocks, privatised, got_replicas, stride, shared = twin.module.launch_shape(150, 4, weighted)
    assert privatised == (replicas > 0) and shared <= budget
    assert got_replicas == max(replicas, 1)
    g = _rng(27)
    check(twin, column(g.integers(-1, 5, 150)), g.random((150, 4)), g.random(150) if weighted else None, VALUE,
          ARGMAX)
