"""``ExactAUC`` against scikit-learn's exact areas: ties, weights, adversarial scores, both state layouts, merges,
state dicts, ``sync`` over ranks of different lengths, ``dask.evaluate`` and the ``max_samples`` guard.

The case table (``cases_exact_auc.py``) already runs the generic checks (every backend, merges, configs, bad
input) at float32 results; here results are float64 and compared with ``rtol=1e-12`` (exact counts, weighted sums
in another order).
"""
import io

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.metrics import average_precision_score, roc_auc_score

from cases_exact_auc import exact_area
from conftest import REAL_GPU, on_device, to_host
from test_distributed import TwoRanks, mpi_command, run_ranks

import gpumetrics
from gpumetrics.distributed import _pack, fingerprint, sync

ORACLES = {"ROC": roc_auc_score, "PR": average_precision_score}


def histogram_updates(device, parts):
    """``parts``, or 1 in the simulator, where a 65,536-bin histogram launch takes seconds whatever the batch."""
    return 1 if device == "cuda" and not REAL_GPU else parts


def exact(device, **kwargs):
    return gpumetrics.ExactAUC(dtype="float64", device=device, **kwargs)


def value(metric):
    return float(to_host(metric.result()))


def feed(metric, device, labels, scores, weights=None, parts=3):
    """``parts`` update_state calls over the stream."""
    for index in np.array_split(np.arange(len(scores)), parts):
        weight = None if weights is None else on_device(weights[index], device)
        metric.update_state(on_device(labels[index], device), on_device(scores[index], device), sample_weight=weight)
    return metric


def tied_stream(rng, n=600, levels=25):
    """Labels, scores with many ties (``levels`` distinct values), weights in (0, 2)."""
    labels = rng.integers(0, 2, n)
    scores = (rng.integers(0, levels, n) / levels + 0.3 * labels).astype(np.float32)
    return labels, scores, rng.uniform(0.01, 2, n)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("weighted", [False, True])
def test_equals_sklearn_with_ties_and_weights_over_several_updates(curve, weighted, device, rng):
    labels, scores, weights = tied_stream(rng)
    weights = weights if weighted else None
    metric = feed(exact(device, curve=curve), device, labels, scores, weights)
    assert metric.layout == "keys"
    np.testing.assert_allclose(value(metric), ORACLES[curve](labels, scores, sample_weight=weights), rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-165, 1e-162, 1e155])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_scaling_every_weight_changes_nothing(scale, curve, device, rng):
    """The area is a ratio of weights: each class's total stays a normal float64 here, but the ROC's P * N
    underflowed (1e-165 gave 0.0, 1e-162 lost digits) or overflowed (1e155: NaN) before each class was scaled by
    a power of 2."""
    labels, scores, weights = tied_stream(rng)
    expected = ORACLES[curve](labels, scores, sample_weight=weights)
    np.testing.assert_allclose(value(feed(exact(device, curve=curve), device, labels, scores, weights * scale)),
                               expected, rtol=1e-12)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_weights_whose_totals_overflow_or_are_subnormal_change_nothing(curve, device, rng):
    """Whole weights 1..4 times 2**-1070 (subnormal, exact) or times 1e306 (600 of them overflow float64): the
    PR area summed unscaled cumulative weights, so it read NaN (1e306) or lost digits (2**-1070)."""
    labels, scores, _ = tied_stream(rng)
    weights = rng.integers(1, 5, len(labels)).astype(np.float64)
    expected = ORACLES[curve](labels, scores, sample_weight=weights)
    for scale in (2.0 ** -1070, 2.0 ** 1017):
        np.testing.assert_allclose(value(feed(exact(device, curve=curve), device, labels, scores, weights * scale)),
                                   expected, rtol=1e-12)


def test_unweighted_counts_are_exact_to_the_last_bit(device, rng):
    """Whole counts: the Mann-Whitney sum is an exact multiple of 1/2, so the area is the correctly rounded ratio."""
    labels, scores, _ = tied_stream(rng, n=2000, levels=7)
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum())
    assert value(feed(exact(device), device, labels, scores)) == pairs / (len(pos) * len(neg))


def test_the_argsort_beyond_2_to_the_30_rows_gives_the_same_bits(device, rng, monkeypatch):
    """Past 2**30 weighted rows the index no longer fits beside the key: a stable argsort takes over."""
    from gpumetrics.metrics import ranks

    labels, scores, weights = tied_stream(rng)
    indexed = value(feed(exact(device), device, labels, scores, weights))
    monkeypatch.setattr(ranks, "INDEXED_SORT_ROWS", 16)
    assert value(feed(exact(device), device, labels, scores, weights)) == indexed


def test_weighted_then_unweighted_updates_weigh_the_unweighted_samples_one(device, rng):
    labels, scores, weights = tied_stream(rng)
    weights[:200] = 1.0
    metric = exact(device)
    feed(metric, device, labels[:200], scores[:200], parts=2)
    feed(metric, device, labels[200:400], scores[200:400], weights[200:400], parts=2)
    feed(metric, device, labels[400:], scores[400:], parts=1)
    weights[400:] = 1.0
    np.testing.assert_allclose(value(metric), roc_auc_score(labels, scores, sample_weight=weights), rtol=1e-12)


ADVERSARIAL = {
    "all tied": (np.array([0, 1, 1, 0, 1]), np.full(5, 0.5, np.float32)),
    "perfect": (np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4], np.float32)),
    "reversed": (np.array([1, 1, 0, 0]), np.array([0.1, 0.2, 0.3, 0.4], np.float32)),
    "infinities and extremes": (np.array([0, 1, 0, 1, 1, 0, 0, 1]),
                                np.array([-np.inf, np.inf, 3e38, -3e38, 1e-45, -1e-45, np.inf, -np.inf], np.float32)),
    "signed zeros tie": (np.array([0, 1, 0, 1]), np.array([-0.0, 0.0, 0.0, -0.0], np.float32)),
    "soft and negative labels are positive when non-zero": (np.array([0.0, 0.3, -1.0, 0.0]),
                                                             np.array([0.2, 0.1, 0.9, 0.5], np.float32)),
}


def ranked(scores):
    """Scores as their ranks (ties share one), NaN below everything: what sklearn, which refuses inf and NaN, can
    score in the same order."""
    scores = np.asarray(scores, np.float64)
    return rankdata(np.where(np.isnan(scores), -np.inf, scores)) - len(scores) * np.isnan(scores)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("case", list(ADVERSARIAL), ids=list(ADVERSARIAL))
def test_adversarial_scores(case, curve, device):
    labels, scores = ADVERSARIAL[case]
    metric = feed(exact(device, curve=curve), device, labels, scores, parts=2)
    assert value(metric) == pytest.approx(ORACLES[curve](labels != 0, ranked(scores)), rel=1e-12)


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_nan_scores_rank_lowest_and_tie(curve, device):
    labels = np.array([1, 0, 1, 0, 1, 0, 1])
    scores = np.array([np.nan, -5.0, 0.3, np.nan, 0.9, -np.nan, -np.inf], np.float32)
    metric = feed(exact(device, curve=curve), device, labels, scores)
    assert value(metric) == pytest.approx(ORACLES[curve](labels, ranked(scores)), rel=1e-12)
    assert ranked(scores)[0] == ranked(scores)[3] < ranked(scores)[6]


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_one_class_absent_or_no_data_gives_zero_as_keras(curve, device):
    assert value(exact(device, curve=curve)) == 0.0
    only_negatives = feed(exact(device, curve=curve), device, np.zeros(4), np.linspace(0, 1, 4))
    assert value(only_negatives) == 0.0
    only_positives = feed(exact(device, curve=curve), device, np.ones(4), np.linspace(0, 1, 4))
    assert value(only_positives) == (0.0 if curve == "ROC" else 1.0)  # AP of all positives: 1, as sklearn
    assert average_precision_score(np.ones(4), np.linspace(0, 1, 4)) == 1.0


def test_float64_scores_are_keyed_as_float32(device):
    """Two float64 scores that round to one float32 tie; the area is sklearn's on the float32-rounded scores."""
    labels = np.array([0, 1, 0, 1])
    scores = np.array([0.5, 0.5 + 1e-12, 0.25, 0.75])
    metric = feed(exact(device), device, labels, scores, parts=1)
    assert value(metric) == roc_auc_score(labels, scores.astype(np.float32)) == 0.875
    assert roc_auc_score(labels, scores) == 1.0


def test_from_logits_keeps_the_order_of_scores(device, rng):
    labels, scores, weights = tied_stream(rng)
    logits = (scores - 0.5) * 40
    metric = feed(exact(device, from_logits=True), device, labels, logits, weights)
    np.testing.assert_allclose(value(metric), roc_auc_score(labels, logits, sample_weight=weights), rtol=1e-12)


# -- the 16-bit histogram ------------------------------------------------------------------------------------------
def bfloat16_scores(scores):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    return scores.astype(ml_dtypes.bfloat16)


@pytest.mark.parametrize("fmt", ["float16", "bfloat16"])
@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_16_bit_scores_count_bit_patterns_exactly(fmt, curve, device, rng):
    labels, scores, weights = tied_stream(rng, levels=5000)
    scores = rng.normal(size=len(labels)).astype(np.float32) + labels  # logits: every sign and binade
    scores[:50] = -0.0
    low = scores.astype(np.float16) if fmt == "float16" else bfloat16_scores(scores)
    metric = feed(exact(device, curve=curve), device, labels, low, weights, histogram_updates(device, 3))
    assert metric.layout == fmt
    assert {v.name: v.value.shape for v in metric.variables} == {f"positive_{fmt}": (65536, 1),
                                                                  f"negative_{fmt}": (65536, 1)}
    expected = ORACLES[curve](labels, low.astype(np.float64), sample_weight=weights)
    np.testing.assert_allclose(value(metric), expected, rtol=1e-12)


def test_16_bit_nan_ranks_lowest(device):
    labels = np.array([1, 0, 1, 0])
    scores = np.array([np.nan, -3.0, 0.5, np.nan], np.float16)
    metric = feed(exact(device), device, labels, scores, parts=1)
    assert value(metric) == roc_auc_score(labels, ranked(scores)) == 0.625


def test_torch_bfloat16_takes_the_histogram(device, rng):
    torch = pytest.importorskip("torch")
    if device == "cuda":
        pytest.skip("a CPU tensor; the GPU path of bfloat16 is gpumetrics._interop's (tests/test_interop.py)")
    labels, _, weights = tied_stream(rng)
    scores = torch.tensor(rng.normal(size=len(labels)) + labels, dtype=torch.bfloat16)
    metric = feed(exact(device), device, labels, scores, weights)
    assert metric.layout == "bfloat16"
    np.testing.assert_allclose(value(metric), roc_auc_score(labels, scores.float().numpy(), sample_weight=weights),
                               rtol=1e-12)


def test_wider_scores_cannot_join_a_histogram_and_change_nothing(device):
    metric = feed(exact(device), device, np.array([0, 1]), np.array([0.2, 0.7], np.float16), parts=1)
    before = metric.state_dict()
    with pytest.raises(TypeError, match="float16 bit histogram.*cast y_pred to float16"):
        metric.update_state([0, 1], np.array([0.1, 0.3], np.float32))
    after = metric.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.bool_])
def test_other_scores_refused_by_a_histogram_name_their_dtype(device, dtype):
    metric = feed(exact(device), device, np.array([0, 1]), np.array([0.2, 0.7], np.float16), parts=1)
    with pytest.raises(TypeError, match=f"got y_pred of dtype {np.dtype(dtype).name}: cast y_pred to float16"):
        metric.update_state([0, 1], np.array([0, 1], dtype))


def test_float16_scores_join_a_keys_metric_exactly(device, rng):
    labels, scores, weights = tied_stream(rng)
    metric = exact(device)
    feed(metric, device, labels[:300], scores[:300], weights[:300])
    feed(metric, device, labels[300:], scores[300:].astype(np.float16), weights[300:])
    assert metric.layout == "keys"
    both = np.concatenate([scores[:300], scores[300:].astype(np.float16).astype(np.float32)])
    np.testing.assert_allclose(value(metric), roc_auc_score(labels, both, sample_weight=weights), rtol=1e-12)


# -- multi-label ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("low", [False, True], ids=["keys", "float16"])
def test_multi_label_averages_per_label_areas_with_label_weights(curve, low, device, rng):
    labels = rng.integers(0, 2, (500, 3))
    labels[:, 2] = 0  # one label without positives scores 0, and still counts in the average (Keras)
    scores = (rng.integers(0, 30, (500, 3)) / 30 + 0.2 * labels).astype(np.float16 if low else np.float32)
    weights = rng.uniform(0.1, 2, 500)
    label_weights = [1.0, 3.0, 0.5]
    metric = feed(exact(device, curve=curve, multi_label=True, label_weights=label_weights), device, labels, scores,
                  weights, histogram_updates(device, 3) if low else 3)
    areas = [exact_area(labels[:, c], scores[:, c].astype(np.float64), weights, curve) for c in range(3)]
    np.testing.assert_allclose(value(metric), np.dot(areas, label_weights) / sum(label_weights), rtol=1e-12)


def test_flat_label_weights_weigh_each_labels_scores(device, rng):
    labels, scores = rng.integers(0, 2, (300, 2)), rng.uniform(size=(300, 2)).astype(np.float32)
    weights = rng.uniform(size=300)
    metric = feed(exact(device, label_weights=[2.0, 0.5]), device, labels, scores, weights)
    flat = (weights[:, None] * [2.0, 0.5]).ravel()
    np.testing.assert_allclose(value(metric), roc_auc_score(labels.ravel(), scores.ravel(), sample_weight=flat),
                               rtol=1e-12)


def test_multi_label_learns_and_checks_its_label_count(device):
    metric = exact(device, multi_label=True)
    metric.update_state(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="holds 3 labels; got y_pred of shape"):
        metric.update_state(np.zeros((2, 4)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="label_weights"):
        exact(device, multi_label=True, label_weights=[1, 2]).update_state(np.zeros((2, 3)), np.ones((2, 3)))
    declared = exact(device, multi_label=True, num_labels=3)  # as AUC: the declared count, not the first batch's
    with pytest.raises(ValueError, match=r"has num_labels=3; got y_pred of shape \(3, 2\)"):
        declared.update_state(np.array([[0, 1], [1, 0], [1, 1]]), np.array([[.1, .2], [.3, .4], [.5, .1]]))
    assert not declared.is_built


# -- merge, state dict, sync, dask ---------------------------------------------------------------------------------
@pytest.mark.parametrize("low", [False, True], ids=["keys", "float16"])
@pytest.mark.parametrize("weighted", [False, True])
def test_merge_of_clones_equals_the_single_stream_bit_for_bit(low, weighted, device, rng):
    labels, scores, weights = tied_stream(rng, n=900)
    scores = scores.astype(np.float16) if low else scores
    weights = np.round(weights * 4) / 4 if weighted else None  # sums of quarters: exact in any order
    parts = histogram_updates(device, 2) if low else 2
    single = feed(exact(device), device, labels, scores, weights, parts=3 * parts)
    clones = [exact(device) for _ in range(3)]
    for clone, index in zip(clones, np.array_split(np.arange(900), 3)):
        feed(clone, device, labels[index], scores[index], None if weights is None else weights[index], parts)
    clones[0].merge_state(clones[1:])
    merged, expected = clones[0].state_dict(), single.state_dict()
    assert merged.keys() == expected.keys()
    assert all(np.array_equal(merged[k], expected[k]) for k in expected)
    assert value(clones[0]) == value(single)


def test_merging_weighted_and_unweighted_clones_weighs_the_unweighted_one(device, rng):
    labels, scores, weights = tied_stream(rng)
    weighted, plain = exact(device), exact(device)
    feed(weighted, device, labels[:300], scores[:300], weights[:300])
    feed(plain, device, labels[300:], scores[300:])
    before = plain.state_dict()
    weighted.merge_state(plain)
    assert all(np.array_equal(before[k], v) for k, v in plain.state_dict().items())  # the merged one is unchanged
    weights[300:] = 1.0
    np.testing.assert_allclose(value(weighted), roc_auc_score(labels, scores, sample_weight=weights), rtol=1e-12)
    unbuilt = exact(device)
    unbuilt.merge_state([plain, weighted])
    assert unbuilt.state_dict()["weights"].shape == (900, 1)


def _float16_sources():
    """float16 scores as each source hands them over (the dtype objects differ; the imported arrays are float16)."""
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.4], np.float16)
    sources = {"numpy": scores, "big-endian": scores.astype(">f2"), "memoryview": memoryview(scores)}
    pa = pytest.importorskip("pyarrow")
    sources["pyarrow"] = pa.array(scores)
    return sources


@pytest.mark.parametrize("source", ["numpy", "big-endian", "memoryview", "pyarrow"])
def test_float16_scores_build_the_bit_histogram_from_any_source(device, source):
    labels, weights = np.array([0, 1, 0, 1, 1]), np.array([1.0, 2.0, 0.5, 1.0, 3.0])
    given = _float16_sources()[source]
    metric, reference = exact(device), exact(device)
    metric.update_state(labels, given, weights)
    reference.update_state(labels, _float16_sources()["numpy"], weights)
    assert metric.layout == "float16"
    for key, array in reference.state_dict().items():
        np.testing.assert_array_equal(metric.state_dict()[key], array)
    reference.update_state(labels, given, weights)  # and joins a float16 metric
    metric.merge_state(exact(device))
    assert value(reference) == value(metric) == roc_auc_score(labels, np.asarray(given), sample_weight=weights)


def test_layouts_do_not_merge(device):
    keys, bits = exact(device), exact(device)
    keys.update_state([0, 1], [0.1, 0.9])
    bits.update_state([0, 1], np.array([0.1, 0.9], np.float16))
    with pytest.raises(ValueError, match="cannot merge an ExactAUC holding float16 states"):
        keys.merge_state(bits)
    with pytest.raises(ValueError, match="holding keys states of 1 labels into one holding float16 states.*layout "
                                         "follows the first batch's y_pred"):
        bits.merge_state(keys)  # named as such, not as a mismatch of state shapes


@pytest.mark.parametrize("low", [False, True], ids=["keys", "float16"])
def test_state_dict_round_trip_into_a_fresh_metric(low, device, rng):
    labels, scores, weights = tied_stream(rng)
    scores = scores.astype(np.float16) if low else scores
    weights = np.round(weights * 4) / 4  # whole quarters: a CUDA histogram's sums are exact in any order
    parts = histogram_updates(device, 3) if low else 3
    metric = feed(exact(device, multi_label=True), device, labels[:, None], scores[:, None], weights, parts)
    buffer = io.BytesIO()
    np.savez(buffer, **metric.state_dict())
    buffer.seek(0)
    restored = exact(device, multi_label=True)
    restored.load_state_dict(np.load(buffer))
    assert restored.layout == metric.layout and value(restored) == value(metric)
    feed(restored, device, labels[:, None], scores[:, None], weights, parts)
    feed(metric, device, labels[:, None], scores[:, None], weights, parts)
    assert value(restored) == value(metric)


def test_a_state_dict_with_misaligned_weights_is_refused_and_changes_nothing(device):
    metric = exact(device)
    metric.update_state([0, 1, 1], [0.2, 0.4, 0.3])
    state = {**metric.state_dict(), "weights": np.ones((2, 1))}
    with pytest.raises(ValueError, match="weights must hold 0 rows or one per key"):
        metric.load_state_dict(state)
    assert metric.state_dict()["keys"].shape == (3, 1) and value(metric) == 1.0
    fresh = exact(device)
    with pytest.raises(ValueError, match="weights must hold 0 rows or one per key"):
        fresh.load_state_dict(state)
    assert fresh.layout is None and value(fresh) == 0.0


def test_sync_gathers_ranks_of_different_lengths_in_process(device, rng):
    """Rank 1 holds 3x rank 0's keys: lengths travel first, then every buffer padded to the longest."""
    labels, scores, weights = tied_stream(rng, n=400)
    halves = [feed(exact(device), device, labels[:100], scores[:100], weights[:100]),
              feed(exact(device), device, labels[100:], scores[100:], weights[100:])]
    other = _pack([halves[1]], halves[1].xp, fingerprint([halves[1]]))
    synced = sync(halves[0], TwoRanks(other))
    assert synced.state_dict()["keys"].shape == (400, 1)
    np.testing.assert_allclose(value(synced), roc_auc_score(labels, scores, sample_weight=weights), rtol=1e-12)
    assert halves[0].state_dict()["keys"].shape == (100, 1)  # the local metric is unchanged


def test_sync_over_mpi_ranks_of_different_lengths(tmp_path):
    """3 MPI ranks: ExactAUC (ROC weighted, PR, multi-label) beside AUC; two collectives per sync (lengths, data)."""
    reports = run_ranks(mpi_command(3, "exact"), tmp_path)
    assert len({r["rows"] for r in reports}) > 1  # the ranks hold different numbers of keys
    for report in reports:
        assert report["wrong"] == [], report
        assert report["first_sync_collectives"] == report["second_sync_collectives"] == 2
        assert report["local_untouched"] and report["in_place_is_local"]
        np.testing.assert_allclose(report["results"], report["reference"], rtol=1e-12)
        assert report["results"] == reports[0]["results"]


def test_dask_evaluate_equals_one_process(rng):
    da = pytest.importorskip("dask.array")
    from gpumetrics.dask import evaluate

    labels, scores, weights = tied_stream(rng, n=1000)
    y_true, y_pred = da.from_array(labels, chunks=170), da.from_array(scores, chunks=170)
    weight = da.from_array(weights, chunks=170)
    roc, pr = evaluate([exact("cpu"), exact("cpu", curve="PR")], y_true, y_pred, weight, split_every=3)
    np.testing.assert_allclose(value(roc), roc_auc_score(labels, scores, sample_weight=weights), rtol=1e-12)
    np.testing.assert_allclose(value(pr), average_precision_score(labels, scores, sample_weight=weights), rtol=1e-12)
    low = evaluate(exact("cpu"), y_true, y_pred.astype(np.float16), weight)
    assert low.layout == "float16"
    np.testing.assert_allclose(value(low), roc_auc_score(labels, scores.astype(np.float16), sample_weight=weights),
                               rtol=1e-12)


# -- growth and the max_samples guard ------------------------------------------------------------------------------
def test_keys_grow_by_doubling_at_8_bytes_per_unweighted_score(device, rng):
    metric = exact(device)
    capacities = set()
    for _ in range(200):
        metric.update_state(rng.integers(0, 2, 37), rng.uniform(size=37))
        keys = metric.variables[0].value
        capacities.add(keys.base.shape[0] if keys.base is not None else keys.shape[0])
    assert keys.shape == (7400, 1) and keys.dtype == np.uint64 and keys.nbytes == 8 * 7400
    assert metric.state_dict()["weights"].shape == (0, 1)
    assert len(capacities) <= 10  # 37 -> 7400 in doublings, not one buffer per update


def test_only_a_concat_state_extends(device):
    metric = gpumetrics.Mean(device=device)
    with pytest.raises(TypeError, match="merges by 'sum'; only a 'concat' state extends"):
        metric.variables[0].extend(3)


def test_max_samples_refuses_before_growing_and_changes_nothing(device, rng):
    metric = exact(device, max_samples=100)
    metric.update_state(rng.integers(0, 2, 60), rng.uniform(size=60))
    before = metric.state_dict()
    with pytest.raises(ValueError, match=r"would hold 120 scores per label, past max_samples=100 \(60 held, 60"):
        metric.update_state(rng.integers(0, 2, 60), rng.uniform(size=60), sample_weight=np.ones(60))
    other = exact(device, max_samples=100)
    other.update_state(rng.integers(0, 2, 50), rng.uniform(size=50))
    with pytest.raises(ValueError, match="past max_samples=100"):
        metric.merge_state(other)
    after = metric.state_dict()
    assert after.keys() == before.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    metric.update_state(rng.integers(0, 2, 40), rng.uniform(size=40))  # up to the limit is fine
    assert metric.variables[0].value.shape == (100, 1)
    assert metric.variables[0].value.base is None or metric.variables[0].value.base.shape[0] <= 100
    with pytest.raises(ValueError, match="past max_samples"):
        exact(device, max_samples=10).update_state(np.zeros(11), np.zeros(11))


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ValueError, match="curve must be one of"):
        gpumetrics.ExactAUC(curve="PRGAIN")
    with pytest.raises(ValueError, match="num_labels is only used with multi_label=True"):
        gpumetrics.ExactAUC(num_labels=3)
    with pytest.raises(ValueError, match="max_samples"):
        gpumetrics.ExactAUC(max_samples=0)
    with pytest.raises(TypeError):
        gpumetrics.ExactAUC(num_thresholds=200)  # nothing is binned


def test_registered_beyond_keras():
    assert gpumetrics.get("ExactAUC") is not None and type(gpumetrics.get("exact_auc")) is gpumetrics.ExactAUC
    assert gpumetrics.ExactAUC().name == "exact_auc"
