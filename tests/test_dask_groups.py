"""``gpumetrics.dask.evaluate(..., group_ids=)``: grouped metrics and collections of them over Dask arrays and
Series equal the same metrics updated in memory (and scikit-learn per group); group_ids refused by name for
ungrouped metrics and required for grouped ones, before anything runs."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import gpumetrics

da = pytest.importorskip("dask.array")
G, N = 5, 230
ROWS = (0, 40, 0, 77, 13, 100)  # uneven, zero-length partitions included


def data(seed=3, columns=False):
    """Labels, scores, weights, ids; ``columns``: labels and scores ``(N, 1)`` (a mean metric's samples)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, N)
    scores = np.clip(rng.normal(0.4 + 0.2 * labels, 0.25), 0, 1)
    ids = rng.permutation(np.concatenate([np.arange(G), rng.integers(0, G, N - G)]))
    shape = (N, 1) if columns else (N,)
    return labels.astype(np.float64).reshape(shape), scores.reshape(shape), rng.uniform(0.1, 2.0, N), ids


def sklearn_aucs(labels, scores, weights, ids, thresholds):
    """scikit-learn's AUC per group on the scores bucketed at ``thresholds`` evenly spaced ones (then exact)."""
    bucketed = np.maximum(np.ceil(scores * (thresholds - 1)), 1)  # a score of 0 lies above the first, -1e-7
    return [roc_auc_score(labels[ids == g], bucketed[ids == g], sample_weight=weights[ids == g]) for g in range(G)]


def makers():
    return [lambda: gpumetrics.AUC(num_thresholds=17, num_groups=G, dtype="float64"),
            lambda: gpumetrics.MeanSquaredError(num_groups=G, dtype="float64"),
            lambda: gpumetrics.MetricCollection({"auc": gpumetrics.AUC(num_thresholds=9, num_groups=G),
                                                 "recall": gpumetrics.Recall(thresholds=[0.3, 0.6], num_groups=G)})]


def in_memory(make, labels, scores, weights, ids):
    metric = make()
    for part in np.array_split(np.arange(N), 3):
        metric.update_state(labels[part], scores[part], weights[part], group_ids=ids[part])
    return metric


def assert_same_state(got, expected):
    got, expected = got.state_dict(), expected.state_dict()
    assert got.keys() == expected.keys()
    for key in expected:
        if np.asarray(expected[key]).dtype.kind not in "iufb":  # the stamp: class and configuration digest
            assert np.array_equal(got[key], expected[key]), key
            continue
        np.testing.assert_allclose(np.asarray(got[key], dtype=np.float64),
                                   np.asarray(expected[key], dtype=np.float64), rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("index", range(3), ids=["AUC", "MSE", "collection"])
def test_grouped_dask_evaluate_equals_the_in_memory_metric(index):
    make = makers()[index]
    labels, scores, weights, ids = data(columns=index == 1)
    chunked = [da.from_array(a, chunks=(ROWS,) + a.shape[1:]) for a in (labels, scores, weights)]
    group_ids = da.from_array(ids, chunks=50)  # other chunks than y_pred's: rechunked to them
    got = gpumetrics.dask.evaluate(make(), *chunked, group_ids=group_ids, split_every=2)
    assert_same_state(got, in_memory(make, labels, scores, weights, ids))
    if index == 0:  # and the per-group AUC is scikit-learn's
        np.testing.assert_allclose(np.asarray(got.result()), sklearn_aucs(labels, scores, weights, ids, 17),
                                   rtol=1e-9)
    if index == 1:
        expected = [np.average((labels - scores)[ids == g, 0] ** 2, weights=weights[ids == g]) for g in range(G)]
        np.testing.assert_allclose(np.asarray(got.result()), expected, rtol=1e-12)


def test_grouped_dask_evaluate_takes_dataframe_columns():
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    labels, scores, weights, ids = data(4)
    frame = dd.from_pandas(pd.DataFrame({"y": labels, "p": scores, "w": weights, "g": ids}), npartitions=4)
    make = makers()[0]
    got = gpumetrics.dask.evaluate(make(), frame["y"], frame["p"], frame["w"], group_ids=frame["g"])
    assert_same_state(got, in_memory(make, labels, scores, weights, ids))
    np.testing.assert_allclose(np.asarray(got.result()), sklearn_aucs(labels, scores, weights, ids, 17), rtol=1e-9)
    other = dd.from_pandas(pd.Series(ids), npartitions=3)
    with pytest.raises(ValueError, match="y_true, y_pred, sample_weight, group_ids must have as many partitions; "
                                         "got y_true: 4, y_pred: 4, sample_weight: 4, group_ids: 3"):
        gpumetrics.dask.evaluate(make(), frame["y"], frame["p"], frame["w"], group_ids=other)


def test_group_ids_refused_for_ungrouped_metrics_and_required_for_grouped_ones():
    labels, scores, _, ids = data()
    y, p, g = (da.from_array(a, chunks=50) for a in (labels, scores, ids))
    grouped, plain = gpumetrics.AUC(num_groups=G), gpumetrics.AUC()
    plain.update_state(labels[:20], scores[:20])
    before = plain.state_dict()
    with pytest.raises(ValueError, match=r"group_ids given, but metrics \['auc'\] have no group axis"):
        gpumetrics.dask.evaluate(plain, y, p, group_ids=g)
    mixed = gpumetrics.MetricCollection({"grouped": grouped, "plain": gpumetrics.Recall()})
    with pytest.raises(ValueError, match=r"\['plain'\] have no group axis"):
        gpumetrics.dask.evaluate(mixed, y, p, group_ids=g)
    for metrics in (grouped, [gpumetrics.MeanSquaredError(), grouped]):
        with pytest.raises(ValueError, match=r"metrics \['auc'\] have num_groups set: evaluate needs group_ids"):
            gpumetrics.dask.evaluate(metrics, y, p)
    assert all(before[k].tobytes() == plain.state_dict()[k].tobytes() for k in before)
    short = da.from_array(ids[:-3], chunks=50)
    with pytest.raises(ValueError, match="group_ids with 227 and y_pred with 230"):
        gpumetrics.dask.evaluate(grouped, y, p, group_ids=short)
