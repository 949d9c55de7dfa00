"""Groups in the same pass (issue 14, part 3): ``num_groups=G`` metrics of the threshold family against a float64
NumPy / scikit-learn loop over the groups, merges, state dicts, sync, and the group_ids refusals."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import on_device, to_host
from grouped_batches import BAD_GROUP_IDS, assert_refused_unchanged, feed, stacked
from test_distributed import TwoRanks

import gpumetrics
from gpumetrics._kernels.threshold_histogram import cpu as cpu_twin
from gpumetrics.metrics import _groups

G, T = 4, 9  # groups; AUC thresholds (predictions on the bucket centres, so the histogram AUC is the exact one)


def batches(rng, calls=3, rows=60, groups=G, cols=None):
    """``calls`` batches of (labels, predictions on bucket centres, weights, group ids); ids cover every group."""
    out = []
    for _ in range(calls):
        shape = (rows,) if cols is None else (rows, cols)
        labels = rng.integers(0, 2, shape)
        scores = (rng.integers(0, T - 1, shape) + 0.5) / (T - 1)
        ids = np.concatenate([np.arange(groups), rng.integers(0, groups, rows - groups)])
        out.append((labels, scores, rng.uniform(0.1, 2.0, rows), rng.permutation(ids)))
    return out


def sklearn_aucs(labels, scores, weights, ids, groups=G):
    return np.array([roc_auc_score(labels[ids == g], scores[ids == g], sample_weight=weights[ids == g])
                     for g in range(groups)])


def counts_oracle(labels, scores, weights, thresholds):
    """float64 ``(tp, fp, tn, fn)`` at each threshold: ``(T,)`` each."""
    above = scores[:, None] > np.asarray(thresholds)[None, :]
    positive = (labels != 0)[:, None]
    w = weights[:, None]
    return tuple(np.sum(w * (a & b), axis=0) for a, b in
                 ((above, positive), (above, ~positive), (~above, ~positive), (~above, positive)))


def test_grouped_auc_is_scikit_learn_per_group_and_gauc(device, rng):
    data = batches(rng)
    metric = feed(gpumetrics.AUC(num_thresholds=T, num_groups=G, dtype="float64", device=device), data, device)
    labels, scores, weights, ids = stacked(data)
    expected = sklearn_aucs(labels, scores, weights, ids)
    np.testing.assert_allclose(to_host(metric.result()), expected, rtol=1e-12)
    sizes = np.array([weights[ids == g].sum() for g in range(G)])
    np.testing.assert_allclose(float(to_host(metric.grouped_mean())), np.sum(sizes * expected) / sizes.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(float(to_host(metric.grouped_mean("uniform"))), expected.mean(), rtol=1e-12)
    assert int(metric.dropped_samples) == 0


def test_gauc_skips_groups_without_both_classes(device):
    """Group 1 sees only positives, group 2 nothing: GAUC averages groups 0 and 3 alone (scikit-learn refuses 1)."""
    metric = gpumetrics.AUC(num_thresholds=T, num_groups=G, dtype="float64", device=device)
    labels, scores = np.array([0, 1, 1, 1, 1, 0, 0, 1]), np.array([.1, .9, .3, .7, .2, .6, .4, .8]) + 0.01
    ids, weights = np.array([0, 0, 0, 1, 1, 3, 3, 3]), np.array([1.0, 2.0, 1.0, 5.0, 5.0, 1.0, 3.0, 2.0])
    metric.update_state(on_device(labels, device), on_device(scores, device), on_device(weights, device),
                        group_ids=ids)
    valid = [0, 3]
    aucs = [roc_auc_score(labels[ids == g], scores[ids == g], sample_weight=weights[ids == g]) for g in valid]
    sizes = [weights[ids == g].sum() for g in valid]
    np.testing.assert_allclose(float(to_host(metric.grouped_mean())), np.average(aucs, weights=sizes), rtol=1e-12)


def test_grouped_multi_label_and_2d_auc(device, rng):
    """Multi-label: one AUC per group and label, their mean per group. Single-label on (N, 3) scores: every element
    of a sample counts in the sample's group."""
    data = batches(rng, rows=40, cols=3)
    labels, scores, weights, ids = stacked(data)
    multi = feed(gpumetrics.AUC(num_thresholds=T, multi_label=True, num_groups=G, dtype="float64", device=device),
                 data, device)
    per_label = np.array([[roc_auc_score(labels[ids == g, j], scores[ids == g, j], sample_weight=weights[ids == g])
                           for j in range(3)] for g in range(G)])
    np.testing.assert_allclose(to_host(multi.per_label_result()), per_label, rtol=1e-12)
    np.testing.assert_allclose(to_host(multi.result()), per_label.mean(axis=1), rtol=1e-12)
    flat = feed(gpumetrics.AUC(num_thresholds=T, num_groups=G, dtype="float64", device=device), data, device)
    expected = sklearn_aucs(labels.ravel(), scores.ravel(), np.repeat(weights, 3), np.repeat(ids, 3))
    np.testing.assert_allclose(to_host(flat.result()), expected, rtol=1e-12)


@pytest.mark.parametrize("make, which", [
    (lambda **k: gpumetrics.TruePositives(thresholds=[0.3, 0.5, 0.8], **k), 0),
    (lambda **k: gpumetrics.FalsePositives(**k), 1),
    (lambda **k: gpumetrics.TrueNegatives(thresholds=[0.8, 0.3], **k), 2),
    (lambda **k: gpumetrics.FalseNegatives(thresholds=0.4, **k), 3),
    (lambda **k: gpumetrics.Precision(thresholds=[0.3, 0.6], **k), "precision"),
    (lambda **k: gpumetrics.Recall(**k), "recall"),
], ids=["TP", "FP", "TN", "FN", "Precision", "Recall"])
def test_grouped_counts_precision_recall_are_the_numpy_loop(device, rng, make, which):
    data = batches(rng)
    metric = feed(make(num_groups=G, dtype="float64", device=device), data, device)
    labels, scores, weights, ids = stacked(data)
    thresholds = metric.thresholds
    expected = []
    for g in range(G):
        tp, fp, tn, fn = counts_oracle(labels[ids == g], scores[ids == g], weights[ids == g], thresholds)
        value = {"precision": lambda: tp / (tp + fp), "recall": lambda: tp / (tp + fn)}.get(
            which, lambda: (tp, fp, tn, fn)[which])()
        expected.append(value if len(thresholds) > 1 else value[0])
    result = to_host(metric.result())
    assert result.shape == ((G, len(thresholds)) if len(thresholds) > 1 else (G,))
    np.testing.assert_allclose(result, np.array(expected), rtol=1e-12)


@pytest.mark.parametrize("cls, constrained, dependent", [
    (gpumetrics.SensitivityAtSpecificity, "specificity", "recall"),
    (gpumetrics.SpecificityAtSensitivity, "recall", "specificity"),
    (gpumetrics.PrecisionAtRecall, "recall", "precision"),
    (gpumetrics.RecallAtPrecision, "precision", "recall")])
def test_grouped_at_metrics_are_the_numpy_loop(device, rng, cls, constrained, dependent):
    data = batches(rng)
    metric = feed(cls(0.6, num_thresholds=11, num_groups=G, dtype="float64", device=device), data, device)
    labels, scores, weights, ids = stacked(data)
    expected = []
    for g in range(G):
        tp, fp, tn, fn = counts_oracle(labels[ids == g], scores[ids == g], weights[ids == g], metric.thresholds)
        with np.errstate(invalid="ignore"):
            rates = {"recall": np.nan_to_num(tp / (tp + fn)), "specificity": np.nan_to_num(tn / (tn + fp)),
                     "precision": np.nan_to_num(tp / (tp + fp))}
        expected.append(np.max(np.where(rates[constrained] >= 0.6, rates[dependent], 0.0)))
    np.testing.assert_allclose(to_host(metric.result()), expected, rtol=1e-12)


def test_merge_of_split_streams_state_dict_and_sync_equal_one_stream(device, rng):
    from gpumetrics.distributed import _pack, fingerprint, sync

    data = batches(rng, calls=4)

    def make():
        return gpumetrics.AUC(num_thresholds=T, num_groups=G, dtype="float64", device=device)

    whole, first, second = feed(make(), data, device), feed(make(), data[:2], device), feed(make(), data[2:], device)
    other = _pack([second], second.xp, fingerprint([second]))
    synced = sync(first, TwoRanks(other))
    first.merge_state(second)
    for metric in (first, synced):
        for key, value in whole.state_dict().items():
            if key.startswith("__"):  # the class and fingerprint stamps
                assert metric.state_dict()[key] == value
                continue
            np.testing.assert_allclose(metric.state_dict()[key], value, rtol=1e-12)  # sums in another order
    loaded = make()
    loaded.load_state_dict(whole.state_dict())
    np.testing.assert_array_equal(to_host(loaded.result()), to_host(whole.result()))
    assert whole.state_dict()["positive_histogram"].shape == (T + 1, G)
    restored = gpumetrics.AUC.from_config(whole.get_config())
    assert restored.num_groups == G and "num_groups" not in gpumetrics.AUC().get_config()


@pytest.mark.parametrize("bad, error, match", BAD_GROUP_IDS)
def test_bad_group_ids_raise_and_change_nothing(device, bad, error, match):
    labels, scores = np.array([0, 1, 1, 0, 1, 0]), np.array([.1, .8, .6, .3, .9, .2])
    fresh = gpumetrics.AUC(num_thresholds=T, multi_label=True, num_groups=G)  # device "auto": placed by a batch
    with pytest.raises(error, match=match):
        fresh.update_state(labels[:, None], scores[:, None], group_ids=bad)
    assert not fresh.is_placed and not fresh.is_built
    used = gpumetrics.Precision(num_groups=G, device=device)
    used.update_state(labels, scores, group_ids=np.array([0, 1, 2, 3, 0, 1]))
    assert_refused_unchanged(used, lambda: used.update_state(labels, scores, np.ones(6), group_ids=bad), error, match)


def test_group_ids_without_num_groups_are_refused(device):
    metric = gpumetrics.AUC(device=device)
    with pytest.raises(ValueError, match="num_groups=None"):
        metric.update_state([0, 1], [0.2, 0.7], group_ids=[0, 1])
    assert not np.any(metric.state_dict()["negative_histogram"])
    with pytest.raises(ValueError, match="num_groups"):
        gpumetrics.AUC(num_groups=0)
    with pytest.raises(ValueError, match="grouped_mean needs num_groups"):
        metric.grouped_mean()


def test_device_resident_out_of_range_ids_are_dropped_and_counted(device, rng, monkeypatch):
    """Ids in GPU memory are not range-checked (a sync): the kernel drops their samples and the metric counts them.
    Here the ids are made to look device-resident, so both backends take that path."""
    monkeypatch.setattr(_groups, "location", lambda x, name=None: "cuda")
    labels, scores, weights, ids = stacked(batches(rng, calls=1, rows=50))
    ids = ids.copy()
    ids[[3, 10, 11]] = [-1, G, G + 5]
    metric = gpumetrics.AUC(num_thresholds=T, num_groups=G, dtype="float64", device=device)
    metric.update_state(on_device(labels, device), on_device(scores, device), on_device(weights, device),
                        group_ids=ids)
    assert int(metric.dropped_samples) == 3
    kept = (ids >= 0) & (ids < G)
    np.testing.assert_allclose(to_host(metric.result()), sklearn_aucs(labels[kept], scores[kept], weights[kept],
                                                                       ids[kept]), rtol=1e-12)


@pytest.mark.parametrize("groups, weighted", [(3, True), (7, False), (700, True)], ids=["private-w", "private",
                                                                                     "global-atomics"])
def test_kernel_twins_drop_out_of_range_rows_and_agree(groups, weighted):
    """The CPU twin against a float64 loop, the CUDA twin (simulator) against the CPU twin, on both CUDA paths
    (privatised counters; global atomics when 2 (T + 1) G L counters pass 48 KiB)."""
    from gpumetrics._kernels.threshold_histogram import cuda as cuda_twin

    rng = np.random.default_rng(groups)
    rows, cols = 300, 2
    labels, scores = rng.integers(0, 2, (rows, cols)), rng.random((rows, cols))
    weights = rng.integers(0, 4, (rows, cols)).astype(float) if weighted else None
    ids = rng.integers(-2, groups + 2, rows)
    thresholds = np.array([-1e-7, 0.25, 0.5, 0.75, 1 + 1e-7])
    assert cuda_twin.grouped_launch_shape(rows, cols, 5, groups, weighted)[1] == (groups < 700)
    bucket = np.searchsorted(thresholds, scores, side="left")
    expected = np.zeros((2, 6, groups * cols))
    for r in range(rows):
        for c in range(cols):
            if 0 <= ids[r] < groups:
                expected[int(labels[r, c] != 0), bucket[r, c], ids[r] * cols + c] += 1 if weights is None \
                    else weights[r, c]
    for twin in (cpu_twin, cuda_twin):
        pos, neg = np.zeros((6, groups * cols)), np.zeros((6, groups * cols))
        twin.threshold_histogram(labels, scores, weights, thresholds, "evenly_spaced", "clip", pos, neg,
                                 group_ids=ids)
        np.testing.assert_array_equal(neg, expected[0])
        np.testing.assert_array_equal(pos, expected[1])


def test_kernel_refuses_ids_of_another_shape_or_float():
    pos = neg = np.zeros((3, 4))
    t, p = np.zeros((5, 1)), np.zeros((5, 1))
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        cpu_twin.threshold_histogram(t, p, None, np.array([0.2, 0.6]), "binary_search", "as_is", pos, neg,
                                     group_ids=np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="integers"):
        cpu_twin.threshold_histogram(t, p, None, np.array([0.2, 0.6]), "binary_search", "as_is", pos, neg,
                                     group_ids=np.zeros(5))


# -- the mean / error family (sums) ------------------------------------------------------------------------------
def mean_batches(rng, calls=3, rows=40, shape=(3,)):
    out = []
    for _ in range(calls):
        ids = rng.permutation(np.concatenate([np.arange(G), rng.integers(0, G, rows - G)]))
        out.append((rng.normal(size=(rows,) + shape), rng.normal(size=(rows,) + shape), rng.uniform(0.1, 2, rows),
                    ids))
    return out


def per_group_mean(values, weights, ids):
    """float64 ``Σ w v / Σ w`` per group (``values`` one per sample, or ``(N, k)``: each a value of weight w)."""
    values = values.reshape(len(ids), -1)
    return np.array([np.sum(weights[ids == g, None] * values[ids == g]) / (weights[ids == g].sum() * values.shape[1])
                     for g in range(G)])


def sparse_ce(labels, scores):
    return -np.log(np.clip(scores[np.arange(len(labels)), labels], 1e-7, 1 - 1e-7))


@pytest.mark.parametrize("make, per_sample, data", [
    (lambda **k: gpumetrics.MeanSquaredError(**k), lambda t, p: ((t - p) ** 2).mean(axis=1), "normal"),
    (lambda **k: gpumetrics.RootMeanSquaredError(**k), lambda t, p: (t - p) ** 2, "normal"),
    (lambda **k: gpumetrics.MeanMetricWrapper(lambda t, p: abs(t - p).max(axis=-1), **k),
     lambda t, p: abs(t - p).max(axis=1), "normal"),
    (lambda **k: gpumetrics.Hinge(**k), lambda t, p: np.maximum(1 - (2 * t - 1) * p, 0).mean(axis=1), "binary"),
    (lambda **k: gpumetrics.CategoricalCrossentropy(**k),
     lambda t, p: -np.sum(t * np.log(np.clip(p, 1e-7, 1 - 1e-7)), axis=1), "onehot"),
    (lambda **k: gpumetrics.SparseCategoricalCrossentropy(**k),
     lambda t, p: sparse_ce(t, p), "sparse"),
    (lambda **k: gpumetrics.SparseCategoricalAccuracy(**k), lambda t, p: (p.argmax(axis=1) == t) * 1.0, "sparse"),
], ids=["MSE", "RMSE", "wrapper-fn", "Hinge", "CCE", "SCCE", "SparseCategoricalAccuracy"])
def test_grouped_mean_family_is_the_numpy_loop(device, rng, make, per_sample, data):
    batches_ = mean_batches(rng)
    if data == "binary":
        batches_ = [((t > 0) * 1.0, p, w, ids) for t, p, w, ids in batches_]
    elif data in ("onehot", "sparse"):
        batches_ = [(rng.integers(0, 3, len(ids)), rng.dirichlet(np.ones(3), len(ids)), w, ids)
                    for _, _, w, ids in batches_]
        if data == "onehot":
            batches_ = [(np.eye(3)[t], p, w, ids) for t, p, w, ids in batches_]
    metric = feed(make(num_groups=G, dtype="float64", device=device), batches_, device)
    labels, scores, weights, ids = stacked(batches_)
    expected = per_group_mean(per_sample(labels, scores), weights, ids)
    if isinstance(metric, gpumetrics.RootMeanSquaredError):
        expected = np.sqrt(expected)
    np.testing.assert_allclose(to_host(metric.result()), expected, rtol=1e-10)
    counts = np.array([weights[ids == g].sum() for g in range(G)])
    np.testing.assert_allclose(float(to_host(metric.grouped_mean())), np.sum(counts * expected) / counts.sum(),
                               rtol=1e-10)


def keras_hinge_labels(labels):
    """Keras's ``convert_binary_labels_to_hinge`` of one batch: 0/1 labels become -1/1 when no other label is there."""
    return 2 * labels - 1 if np.isin(labels, (0, 1)).all() else labels


@pytest.mark.parametrize("cls, square", [(gpumetrics.Hinge, False), (gpumetrics.SquaredHinge, True)],
                         ids=["Hinge", "SquaredHinge"])
@pytest.mark.parametrize("device_ids", [False, True], ids=["host-ids", "device-ids-out-of-range"])
def test_grouped_hinge_maps_each_groups_labels_by_that_groups_rows(device, rng, monkeypatch, cls, square, device_ids):
    """Keras maps 0/1 labels to -1/1 per batch; a group's batch is its rows, whatever labels other groups hold."""
    if device_ids:
        monkeypatch.setattr(_groups, "location", lambda x, name=None: "cuda")
    metric = cls(num_groups=G, dtype="float64", device=device)
    values, weights, kept_ids = [], [], []
    for call in range(3):
        ids = rng.permutation(np.concatenate([np.arange(G), rng.integers(0, G, 36)]))
        labels = rng.integers(0, 2, (40, 3)) * 1.0
        labels[ids == (call % G)] = rng.choice([0.0, 1.0, 2.0, -1.0, 0.5], (np.sum(ids == (call % G)), 3))
        scores, w = rng.normal(size=(40, 3)), rng.uniform(0.1, 2, 40)
        if device_ids:
            ids[[0, 7]] = [-2, G + 1]
        metric.update_state(on_device(labels, device), on_device(scores, device), on_device(w, device),
                            group_ids=ids)
        for g in range(G):
            rows = ids == g
            hinge = np.maximum(1 - keras_hinge_labels(labels[rows]) * scores[rows], 0)
            values.append((hinge ** 2 if square else hinge).mean(axis=1))
            weights.append(w[rows])
            kept_ids.append(np.full(rows.sum(), g))
    expected = per_group_mean(np.concatenate(values), np.concatenate(weights), np.concatenate(kept_ids))
    np.testing.assert_allclose(to_host(metric.result()), expected, rtol=1e-12)


def test_grouped_mean_and_sum_of_values(device, rng):
    values, _, weights, ids = stacked(mean_batches(rng, shape=()))
    mean, total = (cls(num_groups=G, dtype="float64", device=device) for cls in (gpumetrics.Mean, gpumetrics.Sum))
    for metric in (mean, total):
        metric.update_state(on_device(values, device), on_device(weights, device), group_ids=ids)
    np.testing.assert_allclose(to_host(mean.result()), per_group_mean(values, weights, ids), rtol=1e-12)
    np.testing.assert_allclose(to_host(total.result()),
                               [np.sum(values[ids == g] * weights[ids == g]) for g in range(G)], rtol=1e-12)


def test_grouped_mean_family_merge_state_dict_and_refusals(device, rng):
    data = mean_batches(rng, calls=4)

    def make():
        return gpumetrics.MeanAbsoluteError(num_groups=G, dtype="float64", device=device)

    whole, first, second = feed(make(), data, device), feed(make(), data[:2], device), feed(make(), data[2:], device)
    first.merge_state(second)
    np.testing.assert_allclose(to_host(first.result()), to_host(whole.result()), rtol=1e-12)
    loaded = make()
    loaded.load_state_dict(whole.state_dict())
    np.testing.assert_array_equal(to_host(loaded.result()), to_host(whole.result()))
    assert whole.state_dict()["total"].shape == (G,) and "num_groups" not in gpumetrics.MeanAbsoluteError().get_config()
    before = whole.state_dict()
    t, p, w, ids = data[0]
    for bad, error in ((ids[:-1], ValueError), (ids - 1, ValueError), (ids * 1.0, TypeError), (None, ValueError)):
        with pytest.raises(error):
            whole.update_state(t, p, w, group_ids=bad)
    with pytest.raises(ValueError, match="one value per sample"):  # 1-D inputs: the mean over the last axis is one
        whole.update_state(t[:, 0], p[:, 0], group_ids=ids)
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


SCALAR_WEIGHT_MEAN_FAMILY = {  # an elementwise kind, row kinds (one-hot and class-id rows), and plain values
    "MeanSquaredError": (gpumetrics.MeanSquaredError, lambda rng, n: (rng.random((n, 2)), rng.random((n, 2)))),
    "CategoricalCrossentropy": (gpumetrics.CategoricalCrossentropy,
                                lambda rng, n: (np.eye(3)[rng.integers(0, 3, n)], rng.dirichlet(np.ones(3), n))),
    "SparseCategoricalAccuracy": (gpumetrics.SparseCategoricalAccuracy,
                                  lambda rng, n: (rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n))),
    "SparseCategoricalCrossentropy-ignore_class": (  # its mask spreads the weight over the rows: checked before
        lambda **k: gpumetrics.SparseCategoricalCrossentropy(ignore_class=1, **k),
        lambda rng, n: (rng.integers(0, 3, n), rng.dirichlet(np.ones(3), n))),
    "CosineSimilarity": (gpumetrics.CosineSimilarity, lambda rng, n: (rng.random((n, 3)), rng.random((n, 3)))),
    "Mean": (gpumetrics.Mean, lambda rng, n: (rng.random(n),)),
}


@pytest.mark.parametrize("name", SCALAR_WEIGHT_MEAN_FAMILY)
def test_grouped_mean_family_refuses_a_scalar_weight_over_several_samples(device, rng, name):
    """Keras counts a batch weighted by a scalar ``w`` as one unit of weight ``w``: no per-group meaning, so it is
    refused by name (the row kinds once read it as one weight for the whole batch, in group 0: wrong per group);
    ``np.full(n, w)`` weighs each sample. One sample with a scalar weight is that sample's weight: accepted, and equal
    to the ungrouped metric fed it."""
    make, draw = SCALAR_WEIGHT_MEAN_FAMILY[name]
    inputs, ids = draw(rng, 12), np.arange(12) % 3
    metric = make(num_groups=3, dtype="float64", device=device)
    metric.update_state(*(on_device(x, device) for x in inputs), group_ids=ids)
    before = metric.state_dict()
    for weight in (0.5, np.float32(2.0), np.array(0.5)):
        with pytest.raises(ValueError, match=r"needs a weight per sample; got a scalar sample_weight for 12 "
                                             r"samples.*np\.full\(12, w\)"):
            metric.update_state(*(on_device(x, device) for x in inputs), sample_weight=weight, group_ids=ids)
    for key, value in metric.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    metric.update_state(*(on_device(x, device) for x in inputs), sample_weight=np.full(12, 0.5), group_ids=ids)
    one = [x[:1] for x in inputs]
    metric.update_state(*(on_device(x, device) for x in one), sample_weight=0.5, group_ids=ids[:1])
    for g in range(3):
        alone = make(dtype="float64", device=device)
        alone.update_state(*(on_device(x[ids == g], device) for x in inputs))
        alone.update_state(*(on_device(x[ids == g], device) for x in inputs), sample_weight=np.full(4, 0.5))
        if g == 0:
            alone.update_state(*(on_device(x, device) for x in one), sample_weight=0.5)
        np.testing.assert_allclose(to_host(metric.result())[g], float(to_host(alone.result())), rtol=1e-12)


def test_mean_family_device_ids_out_of_range_are_dropped_and_counted(device, rng, monkeypatch):
    monkeypatch.setattr(_groups, "location", lambda x, name=None: "cuda")
    t, p, w, ids = stacked(mean_batches(rng, calls=1))
    ids = ids.copy()
    ids[[0, 5]] = [-3, G]
    metric = gpumetrics.MeanSquaredError(num_groups=G, dtype="float64", device=device)
    metric.update_state(on_device(t, device), on_device(p, device), on_device(w, device), group_ids=ids)
    kept = (ids >= 0) & (ids < G)
    assert int(metric.dropped_samples) == 2
    np.testing.assert_allclose(to_host(metric.result()),
                               per_group_mean(((t - p) ** 2).mean(axis=1)[kept], w[kept], ids[kept]), rtol=1e-12)


@pytest.mark.parametrize("cols", [1, 3])
@pytest.mark.parametrize("primitive", ["error_sums", "row_sums"])
def test_grouped_sums_twins_agree_with_a_loop(primitive, cols):
    """Both twins of each ``sums`` kernel, grouped, against a float64 loop: weights, dropped ids, scales; one column
    (error_sums' CPU twin has a loop of its own for it) and several."""
    import importlib

    rng = np.random.default_rng(7)
    rows, groups = 200, 5
    t, p, w = rng.normal(size=(rows, cols)), rng.normal(size=(rows, cols)), rng.uniform(0, 2, rows)
    ids = rng.integers(-1, groups + 1, rows)
    if primitive == "error_sums":
        kind, per_row, extra, named = "squared_error", ((t - p) ** 2).sum(axis=1), (), {}
    else:
        kind, per_row = "cosine_similarity", np.sum(t * p, axis=1) / np.sqrt(np.sum(t * t, 1) * np.sum(p * p, 1))
        extra, named = (1,), {"epsilon": 1e-12}  # group 1: one weight per row
    kept = (ids >= 0) & (ids < groups)
    expected_total = np.array([2.0 * np.sum(w[kept & (ids == g)] * per_row[kept & (ids == g)]) for g in range(groups)])
    expected_weight = np.array([0.5 * np.sum(w[kept & (ids == g)]) for g in range(groups)])
    for twin in ("cpu", "cuda"):
        module = importlib.import_module(f"gpumetrics._kernels.{primitive}.{twin}")
        total, weight = np.zeros(groups), np.zeros(groups)
        kinds = importlib.import_module(f"gpumetrics._kernels.{primitive}.rules").KINDS
        fn = getattr(module, primitive)
        params = kinds[kind].pack(**named) or None
        args = (kinds[kind], t, p, w) + extra + (total, weight, 2.0, 0.5)
        fn(*args, None if params is None else np.asarray(params), group_ids=ids)
        np.testing.assert_allclose(total, expected_total, rtol=1e-12, err_msg=twin)
        np.testing.assert_allclose(weight, expected_weight, rtol=1e-12, err_msg=twin)


# -- the confusion-matrix family (weighted_bincount) ---------------------------------------------------------------
def iou_oracle(true_ids, pred_ids, weights, classes, targets, ignore=None):
    """float64 per-class IoU from a confusion matrix, averaged over ``targets`` with a non-zero denominator (with
    Keras's 1e-7 in both divisions)."""
    matrix = np.zeros((classes, classes))
    for t, p, w in zip(true_ids, pred_ids, weights):
        if 0 <= t < classes and 0 <= p < classes and t != ignore:
            matrix[t, p] += w
    tp = np.diag(matrix)
    denominator = matrix.sum(0) + matrix.sum(1) - tp
    valid = [c for c in targets if denominator[c] > 1e-9]
    return sum(tp[c] / (denominator[c] + 1e-7) for c in valid) / (len(valid) + 1e-7)


@pytest.mark.parametrize("case", ["MeanIoU", "IoU-ignore-segmentation", "BinaryIoU", "OneHotMeanIoU"])
def test_grouped_iou_family_is_the_numpy_loop(device, rng, case):
    classes, rows = 4, 30
    metric, expected_parts, batches_ = None, [], []
    for _ in range(3):
        ids = rng.permutation(np.concatenate([np.arange(G), rng.integers(0, G, rows - G)]))
        weights = rng.uniform(0.1, 2, rows)
        if case == "IoU-ignore-segmentation":  # (N, 2, 3) class maps: each sample's 6 pixels in its group
            t, p = rng.integers(0, classes, (rows, 2, 3)), rng.integers(0, classes, (rows, 2, 3))
            w = np.repeat(weights, 6).reshape(rows, 2, 3)
        elif case == "BinaryIoU":
            t, p, w = rng.integers(0, 2, rows), rng.random(rows), weights
        elif case == "OneHotMeanIoU":
            t, p, w = np.eye(classes)[rng.integers(0, classes, rows)], rng.random((rows, classes)), weights
        else:
            t, p, w = rng.integers(-1, classes + 1, rows), rng.integers(0, classes, rows), weights
        batches_.append((t, p, w, ids))
    make = {"MeanIoU": lambda **k: gpumetrics.MeanIoU(num_classes=classes, **k),
            "IoU-ignore-segmentation": lambda **k: gpumetrics.IoU(classes, [0, 2, 3], ignore_class=1, **k),
            "BinaryIoU": lambda **k: gpumetrics.BinaryIoU(threshold=0.4, **k),
            "OneHotMeanIoU": lambda **k: gpumetrics.OneHotMeanIoU(classes, **k)}[case]
    metric = feed(make(num_groups=G, dtype="float64", device=device), batches_, device)
    per_id = (-1, classes) if case == "OneHotMeanIoU" else (-1,)  # one class id (or one-hot row) per entry
    for g in range(G):
        t, p = (np.concatenate([b[i][b[3] == g].reshape(per_id) for b in batches_]) for i in (0, 1))
        w = np.concatenate([b[2][b[3] == g].reshape(-1) for b in batches_])
        if case == "BinaryIoU":
            expected_parts.append(iou_oracle(t, (p >= 0.4) * 1, w, 2, [0, 1]))
        elif case == "OneHotMeanIoU":
            expected_parts.append(iou_oracle(t.argmax(1), p.argmax(1), w, classes, range(classes)))
        elif case == "MeanIoU":
            expected_parts.append(iou_oracle(t, p, w, classes, range(classes)))
        else:
            expected_parts.append(iou_oracle(t, p, w, classes, [0, 2, 3], ignore=1))
    np.testing.assert_allclose(to_host(metric.result()), expected_parts, rtol=1e-12)


def test_grouped_iou_merge_state_dict_refusals_and_dropped_ids(device, rng, monkeypatch):
    def make():
        return gpumetrics.MeanIoU(num_classes=3, num_groups=G, dtype="float64", device=device)

    data = [(rng.integers(0, 3, 20), rng.integers(0, 3, 20), rng.integers(1, 4, 20) * 1.0, rng.integers(0, G, 20))
            for _ in range(4)]
    whole, first, second = feed(make(), data, device), feed(make(), data[:2], device), feed(make(), data[2:], device)
    first.merge_state(second)
    np.testing.assert_array_equal(first.state_dict()["total_confusion_matrix"],  # whole-number weights: exact
                                  whole.state_dict()["total_confusion_matrix"])
    loaded = make()
    loaded.load_state_dict(whole.state_dict())
    np.testing.assert_array_equal(to_host(loaded.result()), to_host(whole.result()))
    assert whole.state_dict()["total_confusion_matrix"].shape == (G, 3, 3)
    before = whole.state_dict()
    t, p, w, ids = data[0]
    for bad, error in ((ids[:5], ValueError), (ids + G, ValueError), (ids > 0, TypeError), (None, ValueError)):
        with pytest.raises(error):
            whole.update_state(t, p, w, group_ids=bad)
    for key, value in whole.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    monkeypatch.setattr(_groups, "location", lambda x, name=None: "cuda")
    dropped = make()
    dropped.update_state(on_device(t, device), on_device(p, device), on_device(w, device),
                         group_ids=np.where(np.arange(20) < 3, -1, ids))
    assert int(dropped.dropped_samples) == 3
    kept = np.arange(20) >= 3
    np.testing.assert_allclose(to_host(dropped.result()),
                               [iou_oracle(t[kept & (ids == g)], p[kept & (ids == g)], w[kept & (ids == g)], 3,
                                           range(3)) for g in range(G)], rtol=1e-12)


@pytest.mark.parametrize("groups, classes", [(3, 4), (300, 8)], ids=["privatised", "global-atomics"])
def test_grouped_bincount_twins_agree_with_a_loop(groups, classes):
    from gpumetrics._kernels.weighted_bincount import cpu, cuda

    rng = np.random.default_rng(groups)
    rows = 300
    t, p, w = rng.integers(-1, classes + 1, (rows, 1)), rng.random((rows, classes)), rng.random(rows)
    ids = rng.integers(-1, groups + 1, rows)
    assert cuda.launch_shape(rows, classes, True, groups)[1] == (groups == 3)
    expected = np.zeros((groups, classes, classes))
    for r in range(rows):
        if 0 <= ids[r] < groups and 0 <= t[r, 0] < classes and t[r, 0] != 2:
            expected[ids[r], t[r, 0], p[r].argmax()] += w[r]
    for twin in (cpu, cuda):
        out = np.zeros((groups, classes, classes))
        twin.weighted_bincount(t, p, w, "value", "argmax", 0.0, 2, out, group_ids=ids)
        np.testing.assert_allclose(out, expected, rtol=1e-12, err_msg=twin.__name__)


def test_a_collection_of_grouped_members_takes_group_ids(device, rng):
    """Grouped members run their own passes (no shared pass: each needs the ids); the collection hands them the
    batch's group_ids, refuses ids when a member has no group axis, and a refused id leaves every member as it was."""
    data = batches(rng)
    labels, scores, weights, ids = stacked(data)

    def members(groups=G):
        return {"auc": gpumetrics.AUC(num_thresholds=T, num_groups=groups, dtype="float64", device=device),
                "mse": gpumetrics.MeanSquaredError(num_groups=groups, dtype="float64", device=device)}

    collection = gpumetrics.MetricCollection(members())
    for t, p, w, i in data:
        collection.update_state(on_device(t[:, None], device), on_device(p[:, None], device), on_device(w, device),
                                group_ids=i)
    results = {name: to_host(value) for name, value in collection.result().items()}
    np.testing.assert_allclose(results["auc"], sklearn_aucs(labels, scores, weights, ids), rtol=1e-12)
    np.testing.assert_allclose(results["mse"], per_group_mean((labels - scores) ** 2, weights, ids), rtol=1e-12)
    before = {name: m.state_dict() for name, m in collection.metrics.items()}
    with pytest.raises(ValueError, match=r"\[-1\]"):
        collection.update_state(labels[:6, None], scores[:6, None], group_ids=np.array([0, 1, 2, 3, 0, -1]))
    for name, metric in collection.metrics.items():
        for key, value in metric.state_dict().items():
            np.testing.assert_array_equal(value, before[name][key])
    mixed = gpumetrics.MetricCollection({"auc": gpumetrics.AUC(num_groups=G), "mse": gpumetrics.MeanSquaredError()})
    with pytest.raises(ValueError, match=r"members \['mse'\] have no group axis"):
        mixed.update_state(labels[:, None], scores[:, None], group_ids=ids)


def test_grouped_mean_weighs_groups_of_negative_total_weight_as_the_formula_says(device):
    """``Σ_g n_g r_g / Σ_g n_g`` with ``n_g`` a group's total weight, negative ones included in both sums (the
    numerator once kept only positive ``n_g``, the denominator all: a value neither way round); by hand."""
    def grouped_mean(metric, *args, weights, ids):
        metric.update_state(*(on_device(a, device) for a in args), sample_weight=on_device(weights, device),
                            group_ids=ids)
        return float(to_host(metric.grouped_mean())), to_host(metric.result())

    mean, results = grouped_mean(gpumetrics.MeanSquaredError(num_groups=2, dtype="float64", device=device),
                                 np.zeros((2, 1)), np.array([[1.0], [2.0]]), weights=np.array([1.0, -0.5]),
                                 ids=np.array([0, 1]))
    assert results.tolist() == [1.0, 4.0] and mean == (1.0 * 1.0 - 0.5 * 4.0) / (1.0 - 0.5)
    # Precision at 0.5: group 0 (weights 1, 1) TP 1 FP 1 -> 0.5; group 1 (weights -1, -2) TP -1, FP 0 -> 1.0
    mean, results = grouped_mean(gpumetrics.Precision(num_groups=2, dtype="float64", device=device),
                                 np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.9, 0.8, 0.9, 0.2]),
                                 weights=np.array([1.0, 1.0, -1.0, -2.0]), ids=np.array([0, 0, 1, 1]))
    assert results.tolist() == [0.5, 1.0] and mean == (2.0 * 0.5 - 3.0 * 1.0) / (2.0 - 3.0)


NO_SAMPLE_OF_ITS_OWN = {  # a grouped metric whose batch gives no sample a value (or class) of its own
    "Precision-top_k-1-D": (lambda **k: gpumetrics.Precision(top_k=1, **k), np.array([1.0, 0.0, 1.0, 1.0]),
                            np.array([0.9, 0.8, 0.1, 0.2]), r"top_k=1: top_k ranks each sample's scores"),
    "Recall-top_k-1-D": (lambda **k: gpumetrics.Recall(top_k=2, **k), np.array([1.0, 0.0, 1.0, 1.0]),
                         np.array([0.9, 0.8, 0.1, 0.2]), r"top_k=2: top_k ranks each sample's scores"),
    "CosineSimilarity-axis-0": (lambda **k: gpumetrics.CosineSimilarity(axis=0, **k),
                                np.array([[1.0, 2, 0, 1], [0, 1, 1, 2], [1, 1, 1, 1], [2, 0, 1, 0]]),
                                np.array([[2.0, 1, 1, 0], [1, 1, 0, 2], [0, 1, 1, 1], [1, 2, 1, 0]]),
                                r"axis=0 reduces over y_pred's sample axis"),
    "CategoricalCrossentropy-axis-0": (lambda **k: gpumetrics.CategoricalCrossentropy(axis=0, **k), np.eye(4),
                                       np.full((4, 4), 0.25), r"axis=0 reduces over y_pred's sample axis"),
    "OneHotMeanIoU-axis-0": (lambda **k: gpumetrics.OneHotMeanIoU(num_classes=4, axis=0, **k),
                             np.eye(4), np.eye(4)[::-1], r"axis=0 puts the class scores of y_true"),
}


@pytest.mark.parametrize("case", NO_SAMPLE_OF_ITS_OWN)
def test_batches_without_values_of_their_own_samples_are_refused_grouped(device, case):
    """top_k over a 1-D batch (one sample of N scores) and a reduction or class axis along the samples mix the
    samples of several groups: refused by name (they were accepted, each group's number made of others' samples),
    the metric unchanged; the same batch with the samples on axis 0 and their classes on the last is accepted."""
    make, y_true, y_pred, message = NO_SAMPLE_OF_ITS_OWN[case]
    metric = make(num_groups=2, device=device)
    before = metric.state_dict()
    with pytest.raises(ValueError, match=message):
        metric.update_state(on_device(y_true, device), on_device(y_pred, device), group_ids=np.array([0, 0, 1, 1]))
    for key, value in metric.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
    ungrouped = make(device=device)
    ungrouped.update_state(on_device(y_true, device), on_device(y_pred, device))  # the ungrouped metric takes it


def test_a_grouped_collection_refuses_a_scalar_weight_as_its_riding_binary_accuracy_would(device):
    """``BinaryAccuracy`` riding AUC's histogram pass gives the refusal it gives alone (it named 1-D inputs)."""
    collection = gpumetrics.MetricCollection([gpumetrics.AUC(device=device), gpumetrics.BinaryAccuracy(device=device)],
                                             num_groups=2)
    assert len(collection.passes()) == 1  # one shared pass: the rider's own check speaks
    y_true, y_pred = np.array([[1.0], [0.0], [1.0]]), np.array([[0.9], [0.2], [0.4]])
    with pytest.raises(ValueError, match=r"binary_accuracy has num_groups=2, which needs a weight per sample; got "
                                         r"a scalar sample_weight for 3 samples"):
        collection.update_state(on_device(y_true, device), on_device(y_pred, device), 0.5, group_ids=[0, 1, 1])
