"""Groups (issue 14) for ``FBetaScore`` / ``F1Score`` and ``R2Score``: per-group results against a float64
scikit-learn loop over the groups, ``grouped_mean``, merges, state dicts, sync, the refusals, and the grouped
``moments`` kernel twins against the ungrouped kernel on each group's rows."""
import kernel_twins
import numpy as np
import pytest
from sklearn.metrics import fbeta_score, r2_score

from conftest import on_device, to_host
from grouped_batches import BAD_GROUP_IDS, assert_refused_unchanged, feed, stacked
from test_distributed import TwoRanks
from test_moments_kernel import CPU, Twin, assert_moments_close, draw, oracle

import gpumetrics
from gpumetrics.metrics import _groups

G, C = 4, 3  # groups; classes (F-scores) or outputs (R2)


def ids_covering(rng, rows, groups=G):
    """``rows`` group ids in random order, every group present."""
    return rng.permutation(np.concatenate([np.arange(groups), rng.integers(0, groups, rows - groups)]))


def f_batches(rng, calls=3, rows=40):
    """(multi-label 0/1 labels, scores in [0, 1), per-sample weights, group ids) per call."""
    return [(rng.integers(0, 2, (rows, C)), rng.random((rows, C)), rng.uniform(0.1, 2.0, rows),
             ids_covering(rng, rows)) for _ in range(calls)]


def r2_batches(rng, calls=3, rows=40, offset=1e4):
    """(y_true, y_pred, weights with some zeros, group ids) per call; group ``g`` sits around ``g * offset``."""
    out = []
    for _ in range(calls):
        ids = ids_covering(rng, rows)
        y_true = rng.normal(size=(rows, C)) + offset * ids[:, None]
        y_pred = y_true + rng.normal(scale=0.7, size=(rows, C))
        weights = rng.uniform(0.0, 2.0, rows) * (rng.random(rows) > 0.15)
        out.append((y_true, y_pred, weights, ids))
    return out


def predicted(scores, threshold):
    """The predicted labels: ``score > threshold``, or the one-hot argmax (``threshold=None``; no ties here)."""
    if threshold is not None:
        return (scores > threshold).astype(int)
    return (scores == scores.max(axis=1, keepdims=True)).astype(int)


def sklearn_fbeta(labels, scores, weights, ids, average, beta, threshold, groups=G):
    return np.array([fbeta_score(labels[ids == g], predicted(scores[ids == g], threshold), beta=beta,
                                 average=average, sample_weight=weights[ids == g], zero_division=0.0)
                     for g in range(groups)])


def sklearn_r2(y_true, y_pred, weights, ids, aggregation, regressors=0, groups=G):
    """Per-group R² (scikit-learn), adjusted by hand with ``n`` = the group's rows of non-zero weight."""
    multioutput = {None: "raw_values", "uniform_average": "uniform_average",
                   "variance_weighted_average": "variance_weighted"}[aggregation]
    scores = np.array([r2_score(y_true[ids == g], y_pred[ids == g], sample_weight=weights[ids == g],
                                multioutput=multioutput) for g in range(groups)])
    if regressors:
        n = np.array([np.count_nonzero(weights[ids == g]) for g in range(groups)], dtype=float)
        scores = 1 - (1 - scores) * ((n - 1) / (n - regressors - 1)).reshape((groups,) + (1,) * (scores.ndim - 1))
    return scores


def expected_grouped_mean(values, masses):
    masses = masses.reshape(masses.shape + (1,) * (values.ndim - 1))
    return np.sum(values * masses, axis=0) / np.sum(masses, axis=0)


@pytest.mark.parametrize("threshold", [0.5, None], ids=["threshold", "argmax"])
@pytest.mark.parametrize("average, beta", [(None, 1.0), ("micro", 2.0), ("macro", 0.5), ("weighted", 1.0)])
def test_grouped_fbeta_is_scikit_learn_per_group(device, rng, threshold, average, beta):
    data = f_batches(rng)
    metric = feed(gpumetrics.FBetaScore(average, beta, threshold, dtype="float64", device=device, num_groups=G),
                  data, device)
    labels, scores, weights, ids = stacked(data)
    expected = sklearn_fbeta(labels, scores, weights, ids, average, beta, threshold)
    got = to_host(metric.result())
    assert got.shape == (G,) + ((C,) if average is None else ())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)  # Keras's EPSILON in every denominator
    sizes = np.array([weights[ids == g].sum() for g in range(G)])
    np.testing.assert_allclose(to_host(metric.grouped_mean()), expected_grouped_mean(expected, sizes), rtol=1e-5)
    np.testing.assert_allclose(to_host(metric.grouped_mean("uniform")), expected.mean(axis=0), rtol=1e-5)


def test_grouped_f1_is_fbeta_with_beta_1_and_round_trips_its_config(device, rng):
    data = f_batches(rng, calls=2)
    f1 = feed(gpumetrics.F1Score("macro", threshold=0.4, device=device, num_groups=G), data, device)
    labels, scores, weights, ids = stacked(data)
    np.testing.assert_allclose(to_host(f1.result()), sklearn_fbeta(labels, scores, weights, ids, "macro", 1.0, 0.4),
                               rtol=1e-5)
    for cls, metric in ((gpumetrics.F1Score, f1), (gpumetrics.FBetaScore, gpumetrics.FBetaScore(num_groups=G))):
        restored = cls.from_config(metric.get_config())
        assert restored.num_groups == G and restored.get_config() == metric.get_config()
        assert "num_groups" not in cls().get_config()
    assert f1.pass_spec().key[-1] == G  # a grouped collection shares its pass with members of its num_groups


@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average", None])
@pytest.mark.parametrize("regressors", [0, 2])
def test_grouped_r2_is_scikit_learn_per_group(device, rng, aggregation, regressors):
    data = r2_batches(rng)
    metric = feed(gpumetrics.R2Score(aggregation, regressors, dtype="float64", device=device, num_groups=G), data,
                  device)
    y_true, y_pred, weights, ids = stacked(data)
    expected = sklearn_r2(y_true, y_pred, weights, ids, aggregation, regressors)
    got = to_host(metric.result())
    assert got.shape == (G,) + ((C,) if aggregation is None else ())
    np.testing.assert_allclose(got, expected, rtol=1e-9)
    np.testing.assert_array_equal(to_host(metric.num_samples.value),
                                  [np.count_nonzero(weights[ids == g]) for g in range(G)])
    sizes = np.array([weights[ids == g].sum() for g in range(G)])
    np.testing.assert_allclose(to_host(metric.grouped_mean()), expected_grouped_mean(expected, sizes), rtol=1e-9)
    np.testing.assert_allclose(to_host(metric.grouped_mean("uniform")), expected.mean(axis=0), rtol=1e-9)


def test_grouped_adjusted_r2_falls_back_per_group_with_keras_warning(device, rng):
    """Group 0 has ``n = p + 1`` samples (Keras: division by zero, plain R² with a warning), group 1 enough for
    the adjusted R², group 2 none (0, no warning of its own)."""
    y_true = rng.normal(size=(12, 1))
    y_pred = y_true + rng.normal(scale=0.5, size=(12, 1))
    ids = np.array([0, 0, 0] + [1] * 9)
    metric = gpumetrics.R2Score(num_regressors=2, dtype="float64", device=device, num_groups=3)
    metric.update_state(y_true, y_pred, group_ids=ids)
    with pytest.warns(UserWarning, match="Division by zero in Adjusted R2"):
        got = to_host(metric.result())
    plain = [r2_score(y_true[ids == g], y_pred[ids == g]) for g in range(2)]
    np.testing.assert_allclose(got, [plain[0], 1 - (1 - plain[1]) * 8 / 6, 0.0], rtol=1e-12)


def test_grouped_r2_with_per_output_weights_is_the_ungrouped_metric_per_group(device, rng):
    """``(N, outputs)`` weights (scikit-learn takes one per row): each group equals an ungrouped R2Score fed only
    that group's rows."""
    y_true, y_pred, _, ids = stacked(r2_batches(rng, calls=1, rows=60))
    weights = rng.uniform(0.0, 2.0, y_true.shape)
    metric = gpumetrics.R2Score(None, dtype="float64", device=device, num_groups=G)
    metric.update_state(y_true, y_pred, weights, group_ids=ids)
    for g in range(G):
        alone = gpumetrics.R2Score(None, dtype="float64", device=device)
        alone.update_state(y_true[ids == g], y_pred[ids == g], weights[ids == g])
        np.testing.assert_allclose(to_host(metric.result())[g], to_host(alone.result()), rtol=1e-12)


@pytest.mark.parametrize("make", [
    lambda d: gpumetrics.F1Score("weighted", threshold=0.5, dtype="float64", device=d, num_groups=G + 1),
    lambda d: gpumetrics.FBetaScore(None, 2.0, dtype="float64", device=d, num_groups=G + 1),
    lambda d: gpumetrics.R2Score(dtype="float64", device=d, num_groups=G + 1),
    lambda d: gpumetrics.R2Score(None, 1, dtype="float64", device=d, num_groups=G + 1),
], ids=["f1-weighted", "fbeta-none", "r2", "r2-adjusted-raw"])
def test_a_group_without_samples_reads_as_the_ungrouped_empty_result(device, rng, make):
    """Group ``G`` never gets a sample: its result is what the ungrouped metric gives before any batch (0), and
    ``grouped_mean`` leaves it out."""
    data = f_batches(rng, calls=2) if "F" in type(make(device)).__name__ else r2_batches(rng, calls=2)
    fresh = make(device)
    assert not np.any(to_host(fresh.result()))  # before any batch: zeros, one per group
    metric = feed(make(device), data, device)
    empty = type(metric).from_config({k: v for k, v in metric.get_config().items() if k != "num_groups"})
    got = to_host(metric.result())
    np.testing.assert_array_equal(got[G], np.broadcast_to(to_host(empty.result()), got[G].shape))
    assert not np.any(got[G]) and np.all(got[:G] != 0)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(to_host(metric.grouped_mean("uniform")), got[:G].mean(axis=0), rtol=1e-12)


@pytest.mark.parametrize("family", ["fbeta", "r2"])
def test_merge_of_split_streams_state_dict_and_sync_equal_one_stream(device, rng, family):
    from gpumetrics.distributed import _pack, fingerprint, sync

    if family == "fbeta":
        data = f_batches(rng, calls=4)

        def make():
            return gpumetrics.FBetaScore("macro", 2.0, 0.5, dtype="float64", device=device, num_groups=G)
    else:
        data = r2_batches(rng, calls=4)

        def make():
            return gpumetrics.R2Score(None, dtype="float64", device=device, num_groups=G)

    whole, first, second = feed(make(), data, device), feed(make(), data[:2], device), feed(make(), data[2:], device)
    other = _pack([second], second.xp, fingerprint([second]))
    synced = sync(first, TwoRanks(other))
    first.merge_state(second)
    expected = whole.state_dict()
    for metric in (first, synced):
        for key, value in metric.state_dict().items():
            if key.startswith("__"):  # the class and fingerprint stamps
                assert value == expected[key]
            else:
                np.testing.assert_allclose(value, expected[key], rtol=1e-9, atol=1e-9)  # sums in another order
        np.testing.assert_allclose(to_host(metric.result()), to_host(whole.result()), rtol=1e-9)
    loaded = make()
    loaded.load_state_dict(whole.state_dict())
    np.testing.assert_array_equal(to_host(loaded.result()), to_host(whole.result()))
    state = whole.state_dict()["moments" if family == "r2" else "positive_histogram"]
    assert state.shape == ((7, G, C) if family == "r2" else (2, G, C))


@pytest.mark.parametrize("bad, error, match", BAD_GROUP_IDS)
@pytest.mark.parametrize("make", [lambda d: gpumetrics.F1Score(device=d, num_groups=G),
                                  lambda d: gpumetrics.FBetaScore(threshold=0.5, device=d, num_groups=G),
                                  lambda d: gpumetrics.R2Score(device=d, num_groups=G)],
                         ids=["f1-argmax", "fbeta-threshold", "r2"])
def test_bad_group_ids_raise_and_change_nothing(device, rng, make, bad, error, match):
    y_true, y_pred = rng.integers(0, 2, (6, C)), rng.random((6, C))
    fresh = gpumetrics.R2Score(num_groups=G) if "R2" in type(make(device)).__name__ else \
        gpumetrics.F1Score(num_groups=G)  # device "auto": placed by a batch
    with pytest.raises(error, match=match):
        fresh.update_state(y_true, y_pred, group_ids=bad)
    assert not fresh.is_placed and not fresh.is_built
    used = make(device)
    used.update_state(y_true, y_pred, np.ones(6), group_ids=np.array([0, 1, 2, 3, 0, 1]))
    assert_refused_unchanged(used, lambda: used.update_state(y_true, y_pred, np.ones(6), group_ids=bad), error, match)


def test_group_ids_without_num_groups_and_grouped_mean_without_groups_are_refused(device):
    for metric in (gpumetrics.F1Score(device=device), gpumetrics.R2Score(device=device)):
        with pytest.raises(ValueError, match="num_groups=None"):
            metric.update_state([[1, 0]], [[0.2, 0.7]], group_ids=[0])
        assert not metric.is_built
        with pytest.raises(ValueError, match="grouped_mean needs num_groups"):
            metric.grouped_mean()
    with pytest.raises(ValueError, match="num_groups"):
        gpumetrics.R2Score(num_groups=0)


@pytest.mark.parametrize("family", ["fbeta", "r2"])
def test_device_resident_out_of_range_ids_are_dropped_and_counted(device, rng, monkeypatch, family):
    """Ids in GPU memory are not range-checked (a sync): the kernels drop their samples and the metric counts
    them. The ids are made to look device-resident, so both backends take that path."""
    monkeypatch.setattr(_groups, "location", lambda x, name=None: "cuda")
    if family == "fbeta":
        y_true, y_pred, weights, ids = stacked(f_batches(rng, calls=1, rows=50))
        metric = gpumetrics.FBetaScore("weighted", 2.0, dtype="float64", device=device, num_groups=G)
    else:
        y_true, y_pred, weights, ids = stacked(r2_batches(rng, calls=1, rows=50))
        metric = gpumetrics.R2Score(dtype="float64", device=device, num_groups=G)
    ids = ids.copy()
    ids[[3, 10, 11]] = [-1, G, G + 5]
    metric.update_state(on_device(y_true, device), on_device(y_pred, device), on_device(weights, device),
                        group_ids=ids)
    assert int(metric.dropped_samples) == 3
    kept = (ids >= 0) & (ids < G)
    args = (y_true[kept], y_pred[kept], weights[kept], ids[kept])
    expected = sklearn_fbeta(*args, "weighted", 2.0, None) if family == "fbeta" else \
        sklearn_r2(*args, "uniform_average")
    np.testing.assert_allclose(to_host(metric.result()), expected, rtol=1e-5 if family == "fbeta" else 1e-9)


@pytest.mark.parametrize("device_ids", [False, True], ids=["host-ids", "device-ids"])
@pytest.mark.parametrize("family", ["fbeta", "r2"])
def test_grouped_updates_and_merges_read_nothing_back(device, rng, monkeypatch, family, device_ids):
    """The house rule under the one harness: a grouped update (host ids, or ids made to look device-resident: the
    unchecked path that counts dropped samples) and a merge read no device data; the results are still
    scikit-learn's."""
    from no_host_sync import no_host_sync

    if device_ids:
        monkeypatch.setattr(_groups, "location", lambda x, name=None: "cuda")

    data = f_batches(rng, calls=3) if family == "fbeta" else r2_batches(rng, calls=3)

    def make():
        return gpumetrics.FBetaScore("micro", 2.0, dtype="float64", device=device, num_groups=G) \
            if family == "fbeta" else gpumetrics.R2Score(dtype="float64", device=device, num_groups=G)

    metric, other = feed(make(), data[:1], device), feed(make(), data[1:2], device)
    metric.copy().merge_state([other.copy()])
    batch = [on_device(a, device) for a in data[2]]
    with no_host_sync(metric), no_host_sync(other):
        metric.update_state(*batch[:3], group_ids=batch[3])
        metric.merge_state([other])
    args = stacked(data)
    expected = sklearn_fbeta(*args, "micro", 2.0, None) if family == "fbeta" else \
        sklearn_r2(*args, "uniform_average")
    np.testing.assert_allclose(to_host(metric.result()), expected, rtol=1e-5 if family == "fbeta" else 1e-9)


# -- the grouped moments kernel (both twins) ---------------------------------------------------------------------
@pytest.fixture(params=kernel_twins.twin_params(Twin, "moments"))
def twin(request):
    return request.param


def grouped_run(twin, x, y, w, ids, groups, state):
    out = twin.put(np.array(state))
    twin.module.moments(twin.put(x), twin.put(y), twin.put(w), out, group_ids=twin.put(ids))
    return twin.host(out)


@pytest.mark.parametrize("groups, weighted", [(3, True), (5, False), (40, True)])
def test_grouped_moments_twins_are_the_ungrouped_kernel_per_group(twin, groups, weighted, rng):
    """Each group's columns equal the ungrouped kernel on that group's rows folded into that group's prior state
    (the float64 two-pass oracle checks the first call); out-of-range ids add nothing, absent groups keep their
    state, and a second call merges into the first exactly as the ungrouped kernel does."""
    rows, cols = 150, 2
    state = np.zeros((7, groups * cols))
    for call in range(2):
        x, y, w = draw(rng, (rows, cols), offset=1e5, weighted=weighted)
        ids = rng.integers(-2, groups + 2, rows)
        ids[ids == 1] = 0  # group 1 never appears: its columns stay as they were
        new = grouped_run(twin, x, y, w, ids, groups, state)
        for g in range(groups):
            mine = slice(g * cols, (g + 1) * cols)
            if g == 1 or not np.any(ids == g):
                np.testing.assert_array_equal(new[:, mine], state[:, mine])
                continue
            keep = ids == g
            alone = CPU.run(x[keep], y[keep], None if w is None else w[keep], state[:, mine])
            assert_moments_close(new[:, mine], alone, 1e-12)
            if call == 0:
                assert_moments_close(new[:, mine], oracle(x[keep], y[keep], None if w is None else w[keep]), 1e-9,
                                     atol=1e-15)  # the oracle's rounding of a one-row group's M2 at 1e5
        state = new


def test_grouped_moments_a_group_of_zero_total_weight_keeps_its_d_and_sums(twin):
    """Weights of one group that cancel: the zero-weight form, as the ungrouped kernel gives it."""
    x = np.array([[1.0], [3.0], [5.0], [2.0]])
    y = np.array([[0.0], [1.0], [2.0], [2.0]])
    w = np.array([[1.0], [-1.0], [0.5], [2.0]])
    ids = np.array([0, 0, 1, 1])
    x0, y0, w0 = x[:2], y[:2], w[:2]
    got = grouped_run(twin, x, y, w, ids, 2, np.zeros((7, 2)))
    np.testing.assert_allclose(got[:, 0], CPU.run(x0, y0, w0)[:, 0], rtol=1e-15)
    assert got[0, 0] == 0.0 and got[6, 0] == 1 * 1 - 1 * 4


def test_grouped_moments_refuse_bad_shapes_and_ids():
    from gpumetrics._kernels.moments import cpu

    x = np.zeros((4, 3))
    with pytest.raises(ValueError, match=r"\(7, G \* L\)"):
        cpu.moments(x, x, None, np.zeros((7, 7)), group_ids=np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        cpu.moments(x, x, None, np.zeros((7, 6)), group_ids=np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="integers"):
        cpu.moments(x, x, None, np.zeros((7, 6)), group_ids=np.zeros(4))
    with pytest.raises(ValueError, match="x and y must be 2-D"):
        cpu.moments(x, x[:, :2], None, np.zeros((7, 6)), group_ids=np.zeros(4, np.int64))
