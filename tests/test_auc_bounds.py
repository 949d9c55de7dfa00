"""AUC.exact_auc_bounds: the exact AUC of the data (scikit-learn's roc_auc_score / average_precision_score with
weights and ties) lies in the interval the histogram gives, on adversarial score distributions, on every backend,
one curve or one per label; and Keras's summations sit where curves.py's docstring says."""
import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from conftest import on_device, to_host

import gpumetrics

T = 11  # thresholds -1e-7, 0.1, ..., 0.9, 1 + 1e-7: buckets are the tenths (0, 0.1], (0.1, 0.2], ...
MIDDLES = np.arange(10) / 10 + 0.05


def random_scores(rng, y):
    return rng.normal(0.45 + 0.2 * y, 0.3)  # some outside [0, 1]: the bound holds for the unclipped scores too


def one_bucket(rng, y):
    return rng.uniform(0.31, 0.37, y.shape) + 0.02 * y  # every score in (0.3, 0.4]: the bound is [0, 1]


def ties(rng, y):
    return rng.choice([0.25, 0.3, 0.55, 0.7, 0.7000001], y.shape)  # few values, some on thresholds


def at_thresholds(rng, y):
    return np.round(rng.uniform(0, 1, y.shape) + 0.1 * y, 1).clip(0, 1)  # every score exactly on a threshold


def separated(rng, y):
    """Positives tie at the middle of the even tenths, negatives spread over the odd ones: no shared bucket."""
    return np.where(y == 1, MIDDLES[2 * rng.integers(0, 5, y.shape)],
                    MIDDLES[2 * rng.integers(0, 5, y.shape) + 1] + rng.uniform(-0.04, 0.04, y.shape))


SCORES = {"random": random_scores, "one_bucket": one_bucket, "ties": ties, "at_thresholds": at_thresholds,
          "separated": separated}


def batches(metric, device, y_true, y_pred, weight):
    for part in np.array_split(np.arange(len(y_true)), 3):
        metric.update_state(on_device(y_true[part], device), on_device(y_pred[part], device),
                            on_device(weight[part], device))
    return metric


def exact(curve, y, score, weight):
    """The oracle: the exact AUC of the data, from scikit-learn."""
    return (roc_auc_score if curve == "ROC" else average_precision_score)(y, score, sample_weight=weight)


def bounds(metric, curve=None):
    return [np.asarray(to_host(end), dtype=np.float64) for end in metric.exact_auc_bounds(curve)]


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("kind", sorted(SCORES))
def test_exact_auc_lies_in_the_bounds(kind, curve, device, rng):
    y = (rng.random(500) < 0.4).astype(np.float64)
    score, weight = SCORES[kind](rng, y), rng.uniform(0.1, 3.0, 500)
    metric = batches(gpumetrics.AUC(num_thresholds=T, curve=curve, device=device), device, y, score, weight)
    low, high = bounds(metric)
    truth = exact(curve, y, score, weight)
    assert low - 1e-12 <= truth <= high + 1e-12
    if kind == "one_bucket" and curve == "ROC":
        assert (low, high) == (0.0, 1.0)
    if kind == "separated":  # ROC: nothing unknown; PR: positives tie above their bucket, the best case
        np.testing.assert_allclose(high if curve == "PR" else (low, high), truth if curve == "PR" else (truth,) * 2,
                                   rtol=1e-12)


@pytest.mark.parametrize("scale", [1e-165, 1e-162, 1e155, 1e306])
def test_bounds_do_not_change_when_every_weight_is_scaled(scale, device, rng):
    """Each class's total stays a normal float64, but P * N underflows (1e-165: it gave NaN; 1e-162: a zero-width
    interval without the truth) or overflows (1e155: NaN) unless the classes are scaled first. At 1e306 each class's
    total overflows too: both curves' bounds read NaN (or worse, below)."""
    y = (rng.random(400) < 0.4).astype(np.float64)
    score, weight = rng.random(400), rng.uniform(0.1, 3.0, 400)
    plain, scaled = (batches(gpumetrics.AUC(num_thresholds=T, device=device), device, y, score, w)
                     for w in (weight, weight * scale))
    for curve in ("ROC", "PR"):
        np.testing.assert_allclose(bounds(scaled, curve), bounds(plain, curve), rtol=1e-12)
        low, high = bounds(scaled, curve)
        assert low - 1e-12 <= exact(curve, y, score, weight) <= high + 1e-12


def test_pr_bounds_of_subnormal_weights_hold_the_truth(device):
    """Every weight 1e-320 (subnormal): the area is that of weights 1, but the PR bounds multiplied subnormals and
    read [0.71607, 0.75543] around 0.75556."""
    y, score = np.array([0.0, 1.0, 0.0, 1.0, 1.0, 0.0]), np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.7])
    plain, tiny = (batches(gpumetrics.AUC(num_thresholds=200, device=device), device, y, score, w)
                   for w in (np.ones(6), np.full(6, 1e-320)))
    np.testing.assert_allclose(bounds(tiny, "PR"), bounds(plain, "PR"), rtol=1e-12)
    low, high = bounds(tiny, "PR")
    assert low - 1e-12 <= exact("PR", y, score, np.ones(6)) <= high + 1e-12


def test_bounds_of_a_class_whose_total_overflows_are_the_truth_not_zero(device):
    """Two positives of weight 1e308 (their total overflows float64): the ROC bounds read (0, 0) around an AUC of
    0.7, since the class was scaled by the power of 2 of an infinite total (none)."""
    y, score = np.array([0.0, 1.0, 0.0, 1.0, 0.0]), np.array([0.1, 0.4, 0.35, 0.8, 0.5])
    weight = np.array([1.0, 1e308, 1.0, 1e308, 3.0])
    huge, scaled = (batches(gpumetrics.AUC(num_thresholds=T, device=device), device, y, score, w)
                    for w in (weight, weight / 1e308))
    for curve in ("ROC", "PR"):
        np.testing.assert_allclose(bounds(huge, curve), bounds(scaled, curve), rtol=1e-12)
        low, high = bounds(huge, curve)
        assert low - 1e-12 <= exact(curve, y, score, weight / 1e308) <= high + 1e-12


@pytest.mark.parametrize("score, weight", [
    ([0.1, 0.5, 0.9], [2e-300, 1e21, 1e-300]),  # 4636094: [0.33268, 0.33268], without 1/3
    ([0.1, 0.2, 0.8, 0.9], [1e30, 1e30, 1e-300, 1e-300]),  # 4636094: NaN for 1
    ([0.1, 0.5, 0.9], [2e-300, 1e30, 1e-300]),  # before it too: low 1 above high 1/3
], ids=["subnormal", "zero", "share-underflows"])
def test_pr_bounds_of_a_far_lighter_class_hold_the_truth(score, weight, device):
    """Positives of 1e-300 beside negatives of 1e21 or 1e30, one class per bucket. The PR bounds scaled both classes
    to the heavier's unit sum, so the positives fell to subnormals or 0; and where a positive bucket's share of the
    weight reached underflowed, the low bound took none of its weight as lost to the negatives above it."""
    y, score, weight = np.array([1.0, 0.0, 1.0] if len(score) == 3 else [0.0, 0.0, 1.0, 1.0]), np.array(score), \
        np.array(weight)
    metric = gpumetrics.AUC(curve="PR", thresholds=[0.3, 0.7], device=device)
    metric.update_state(on_device(y, device), on_device(score, device), on_device(weight, device))
    low, high = bounds(metric)
    assert low - 1e-12 <= exact("PR", y, score, weight) <= high + 1e-12


def test_bounds_hold_under_heavy_skew(device, rng):
    y = np.zeros(2000)
    y[rng.choice(2000, 2, replace=False)] = 1
    score, weight = np.clip(rng.normal(0.5, 0.25, 2000), 0, 1), rng.uniform(0.5, 1.5, 2000)
    weight[y == 1] = 0.1  # positives weigh 1e-4 of the data
    for curve in ("ROC", "PR"):
        metric = batches(gpumetrics.AUC(num_thresholds=T, curve=curve, device=device), device, y, score, weight)
        low, high = bounds(metric)
        assert low - 1e-12 <= exact(curve, y, score, weight) <= high + 1e-12


def test_bounds_hold_for_logits_under_from_logits(device, rng):
    y = (rng.random(400) < 0.5).astype(np.float64)
    logits, weight = rng.normal(2 * y - 1, 3.0), rng.uniform(0.1, 2.0, 400)
    metric = batches(gpumetrics.AUC(num_thresholds=T, from_logits=True, device=device), device, y, logits, weight)
    for curve in ("ROC", "PR"):
        low, high = bounds(metric, curve)
        assert low - 1e-12 <= exact(curve, y, logits, weight) <= high + 1e-12


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_multi_label_bounds_are_per_label(curve, device, rng):
    y = (rng.random((400, 3)) < [0.1, 0.5, 0.9]).astype(np.float64)
    score = np.stack([random_scores(rng, y[:, 0]), ties(rng, y[:, 1]), separated(rng, y[:, 2])], axis=1)
    weight = rng.uniform(0.1, 2.0, 400)
    metric = gpumetrics.AUC(num_thresholds=T, curve=curve, multi_label=True, device=device)
    low, high = bounds(batches(metric, device, y, score, weight))
    assert low.shape == high.shape == (3,)
    truth = [exact(curve, y[:, j], score[:, j], weight) for j in range(3)]
    assert np.all(low - 1e-12 <= truth) and np.all(truth <= high + 1e-12)


def test_keras_roc_summations_are_the_bounds_and_their_midpoint(device, rng):
    y = (rng.random(500) < 0.3).astype(np.float64)
    score, weight = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1), rng.uniform(0.1, 2.0, 500)

    def auc(method, curve="ROC"):
        metric = gpumetrics.AUC(num_thresholds=T, curve=curve, summation_method=method, dtype="float64",
                                device=device)
        return batches(metric, device, y, score, weight)

    low, high = bounds(auc("interpolation"))
    assert low < high
    np.testing.assert_allclose([to_host(auc(m).result()) for m in ("minoring", "majoring", "interpolation")],
                               [low, high, (low + high) / 2], rtol=1e-12)
    pr_low, pr_high = bounds(auc("interpolation", "PR"))
    assert pr_low < float(to_host(auc("interpolation", "PR").result())) < pr_high


def test_no_positive_or_no_negative_gives_nan_and_bad_curves_are_refused(device):
    metric = gpumetrics.AUC(num_thresholds=T, device=device)
    metric.update_state(on_device(np.zeros(4), device), on_device(np.array([0.1, 0.4, 0.5, 0.9]), device))
    assert all(np.isnan(end) for curve in ("ROC", "PR") for end in bounds(metric, curve))
    with pytest.raises(ValueError, match="curve='ROC' or 'PR'.*PRGAIN"):
        metric.exact_auc_bounds("prgain")
    with pytest.raises(ValueError, match="curve='ROC' or 'PR'"):
        metric.exact_auc_bounds(["ROC"])


def test_random_sweep_exact_auc_and_keras_interpolation_lie_in_the_bounds():
    """Many small random cases (any T, ties on a grid, near-constant scores, weights or none), on the CPU backend:
    the exact AUC and Keras's interpolated ROC / PR AUC stay in [low, high]."""
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n, thresholds = int(rng.integers(5, 200)), int(rng.integers(3, 30))
        y = (rng.random(n) < rng.uniform(0.05, 0.95)).astype(np.float64)
        y[:2] = [0, 1]
        score = [rng.random(n), rng.choice(np.linspace(0, 1, thresholds), n),
                 np.clip(rng.normal(0.5 + 0.1 * y, 0.05), 0, 1)][seed % 3]
        weight = rng.uniform(0.01, 3.0, n) if seed % 2 else np.ones(n)
        for curve in ("ROC", "PR"):
            metric = gpumetrics.AUC(num_thresholds=thresholds, curve=curve, dtype="float64", device="cpu")
            metric.update_state(y, score, weight)
            low, high = bounds(metric)
            for value in (exact(curve, y, score, weight), float(metric.result())):
                assert low - 1e-12 <= value <= high + 1e-12, (seed, curve)
