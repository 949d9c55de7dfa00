"""``R2Score``: Keras's numbers by hand, exactness far from 0, bad input, merging, and parity with the real Keras."""
import warnings

import numpy as np
import pytest
from sklearn.metrics import r2_score

from conftest import on_device, to_host

import gpumetrics

AGGREGATIONS = [None, "uniform_average", "variance_weighted_average"]


def result_of(metric):
    return np.asarray(to_host(metric.result()), dtype=np.float64)


def state_of(metric):
    return {k: v.copy() for k, v in metric.state_dict().items()}


def update(metric, device, y_true, y_pred, sample_weight=None):
    metric.update_state(on_device(y_true, device), on_device(y_pred, device),
                        sample_weight=None if sample_weight is None else on_device(sample_weight, device))


# -- Keras's numbers, derived by hand --------------------------------------------------------------------------
def test_keras_docstring_example(device):
    # mean(y_true) = 8/3; SS_tot = (5/3)² + (4/3)² + (1/3)² = 14/3; SS_res = 1 + 0 + 1 = 2; R² = 1 - 6/14 = 4/7.
    # Keras prints 0.57142854, one float32 ulp below float32(4/7) = 0.5714286 (its float32 arithmetic).
    metric = gpumetrics.R2Score(dtype="float64", device=device)
    update(metric, device, np.array([[1], [4], [3]], np.float32), np.array([[2], [4], [4]], np.float32))
    assert float(to_host(metric.result())) == pytest.approx(4 / 7, rel=1e-15)
    single = gpumetrics.R2Score(device=device)
    update(single, device, np.array([[1], [4], [3]], np.float32), np.array([[2], [4], [4]], np.float32))
    assert to_host(single.result()).dtype == np.float32 and float(to_host(single.result())) == np.float32(4 / 7)


# Two outputs: column 0 as above (4/7, SS_tot = 14/3); column 1: mean 2, SS_tot = 1 + 0 + 1 = 2, SS_res = 1, so 1/2.
# uniform: (4/7 + 1/2) / 2 = 15/28; variance weighted: (14/3 · 4/7 + 2 · 1/2) / (14/3 + 2) = (11/3) / (20/3) = 11/20.
# Adjusted with p = 1 and n = 3 samples (current Keras and scikit-learn; Keras 3.15 counted 6 elements):
# 1 - (1 - 15/28) · 2/1 = 1/14.
TWO_TRUE = np.array([[1, 1], [4, 2], [3, 3]], np.float64)
TWO_PRED = np.array([[2, 1], [4, 2], [4, 4]], np.float64)


@pytest.mark.parametrize("kwargs,expected", [
    ({"class_aggregation": None}, [4 / 7, 1 / 2]),
    ({}, 15 / 28),
    ({"class_aggregation": "variance_weighted_average"}, 11 / 20),
    ({"num_regressors": 1}, 1 / 14),
    ({"class_aggregation": None, "num_regressors": 1}, [1 - (3 / 7) * 2, 1 - (1 / 2) * 2]),
], ids=["raw", "uniform", "variance_weighted", "adjusted", "raw-adjusted"])
def test_two_outputs_by_hand(kwargs, expected, device):
    metric = gpumetrics.R2Score(dtype="float64", device=device, **kwargs)
    update(metric, device, TWO_TRUE, TWO_PRED)
    np.testing.assert_allclose(result_of(metric), expected, rtol=1e-14)
    assert int(metric.num_samples) == 3  # samples, not rows x outputs


def test_adjusted_r2_counts_samples_of_non_zero_weight_as_current_keras(device):
    # Keras's own test values after its fix #23334 (Keras 3.15 counted rows x outputs: 9, not 3)
    y_true, y_pred = [[0, 0, 1], [0, 1, 0], [1, 0, 0]], [[0.4, 0.5, 0.6], [0.1, 0.2, 0.3], [0.5, 0.8, 0.2]]
    metric = gpumetrics.R2Score(class_aggregation=None, num_regressors=1, device=device)
    update(metric, device, np.array(y_true, np.float32), np.array(y_pred, np.float32))
    np.testing.assert_allclose(result_of(metric), [-0.26, -3.59, 0.13], rtol=1e-6, atol=1e-6)
    # a row counts when any of its outputs has a non-zero weight (NaN counts); zero-weight rows are no samples,
    # in every update, in merges and state dicts: the split stream gives the single stream's count and result
    y_true, y_pred = np.arange(24.0).reshape(8, 3) % 5, np.arange(24.0).reshape(8, 3) % 3
    weight = np.array([[1, 0, 0], [0, 0, 0], [2, 2, 2], [0, 0, 0], [0, 0, 0.5], [1, 1, 1], [0, 0, 0], [3, 1, 1]])
    single = gpumetrics.R2Score(num_regressors=2, dtype="float64", device=device)
    update(single, device, y_true, y_pred, weight)
    first, second = (gpumetrics.R2Score(num_regressors=2, dtype="float64", device=device) for _ in range(2))
    update(first, device, y_true[:3], y_pred[:3], weight[:3])
    update(first, device, y_true[3:5], y_pred[3:5], weight[3:5])
    update(second, device, y_true[5:], y_pred[5:], weight[5:])
    restored = gpumetrics.R2Score(num_regressors=2, dtype="float64", device=device)
    restored.load_state_dict(first.state_dict())
    restored.merge_state([second])
    for metric in (single, restored):
        assert int(metric.num_samples) == 5
    expected = [r2_score(y_true[:, j], y_pred[:, j], sample_weight=weight[:, j]) for j in range(3)]
    np.testing.assert_allclose(result_of(single), 1 - (1 - np.mean(expected)) * 4 / 2, rtol=1e-12)
    np.testing.assert_allclose(result_of(restored), result_of(single), rtol=1e-12)
    nan_row = gpumetrics.R2Score(device=device)
    update(nan_row, device, y_true[:2], y_pred[:2], np.array([np.nan, 0.0]))
    assert int(nan_row.num_samples) == 1
    unweighted = gpumetrics.R2Score(device=device)
    update(unweighted, device, y_true, y_pred)
    update(unweighted, device, y_true, y_pred, 0.0)  # a zero scalar weight: no samples
    assert int(unweighted.num_samples) == 8


def test_adjusted_r2_falls_back_with_keras_warnings(device):
    metric = gpumetrics.R2Score(num_regressors=2, dtype="float64", device=device)  # n = 3: p == n - 1
    update(metric, device, TWO_TRUE, TWO_PRED)
    with pytest.warns(UserWarning, match="Division by zero in Adjusted R2 score"):
        assert float(to_host(metric.result())) == pytest.approx(15 / 28, rel=1e-14)
    metric = gpumetrics.R2Score(num_regressors=3, dtype="float64", device=device)
    update(metric, device, TWO_TRUE, TWO_PRED)
    with pytest.warns(UserWarning, match="More independent predictors than datapoints"):
        assert float(to_host(metric.result())) == pytest.approx(15 / 28, rel=1e-14)


def test_constant_targets_follow_keras(device):
    # SS_tot = 0: a raw score of -inf (SS_res > 0) becomes 0; 0 / 0 (perfect predictions) stays NaN, as in Keras.
    metric = gpumetrics.R2Score(class_aggregation=None, device=device)
    y_true, y_pred = np.array([[1.0, 2.0], [4.0, 2.0], [3.0, 2.0]]), np.array([[2.0, 2.0], [4.0, 4.0], [4.0, 4.0]])
    update(metric, device, y_true, y_pred)
    np.testing.assert_allclose(result_of(metric), [4 / 7, 0.0], rtol=1e-6)
    perfect = gpumetrics.R2Score(class_aggregation=None, device=device)
    update(perfect, device, np.array([[1.0, 2.0], [4.0, 2.0]]), np.array([[2.0, 2.0], [4.0, 2.0]]))
    assert np.isnan(result_of(perfect)[1])


def test_nothing_seen_reads_zero(device):
    metric = gpumetrics.R2Score(num_regressors=2, device=device)
    assert float(to_host(metric.result())) == 0.0  # Keras: an error before the first update
    update(metric, device, TWO_TRUE, TWO_PRED)
    metric.reset_state()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(to_host(metric.result())) == 0.0  # Keras: NaN (0 / 0) after reset_state
    assert metric.moments.shape == (7, 2)  # still built for two outputs, as Keras's


def test_sample_weight_shapes_follow_keras(device, rng):
    y_true, y_pred = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    row_weight = rng.uniform(0, 2, size=8)
    full = np.broadcast_to(row_weight[:, None], (8, 3))
    expected = r2_score(y_true, y_pred, sample_weight=row_weight, multioutput="raw_values")
    for weight in (row_weight, row_weight[:, None], np.array(full)):
        metric = gpumetrics.R2Score(class_aggregation=None, dtype="float64", device=device)
        update(metric, device, y_true, y_pred, weight)
        np.testing.assert_allclose(result_of(metric), expected, rtol=1e-12)
    per_element = rng.uniform(0, 2, size=(8, 3))
    metric = gpumetrics.R2Score(class_aggregation=None, dtype="float64", device=device)
    update(metric, device, y_true, y_pred, per_element)
    expected = [r2_score(y_true[:, j], y_pred[:, j], sample_weight=per_element[:, j]) for j in range(3)]
    np.testing.assert_allclose(result_of(metric), expected, rtol=1e-12)
    metric = gpumetrics.R2Score(class_aggregation=None, dtype="float64", device=device)
    update(metric, device, y_true, y_pred, 2.5)  # a scalar weighs everything alike: R² unchanged
    np.testing.assert_allclose(result_of(metric), r2_score(y_true, y_pred, multioutput="raw_values"), rtol=1e-12)


def test_squeeze_or_expand_then_two_dimensional(device, rng):
    y_true, y_pred = rng.normal(size=(9, 1)), rng.normal(size=9)
    metric = gpumetrics.R2Score(dtype="float64", device=device)
    update(metric, device, y_true, y_pred)  # (9, 1) and (9,): y_pred gains the trailing 1, as in Keras
    assert float(to_host(metric.result())) == pytest.approx(r2_score(y_true[:, 0], y_pred), rel=1e-12)
    update(metric, device, y_true[:, :, None], y_pred[:, None])  # (9, 1, 1) and (9, 1): squeezed to (9, 1)
    assert int(metric.num_samples) == 18


# -- exact far from 0 -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("class_aggregation", AGGREGATIONS, ids=str)
def test_offset_data_give_the_same_score(class_aggregation, device, rng):
    batches = []
    for rows in (40, 25, 33):
        y_true = rng.normal(size=(rows, 3))
        batches.append((y_true, y_true + 0.7 * rng.normal(size=(rows, 3)), rng.uniform(0, 2, size=rows)))
    scores = []
    for offset in (0.0, 1e6):
        metric = gpumetrics.R2Score(class_aggregation=class_aggregation, dtype="float64", device=device)
        for y_true, y_pred, w in batches:
            update(metric, device, y_true + offset, y_pred + offset, w)
        scores.append(result_of(metric))
    np.testing.assert_allclose(scores[1], scores[0], rtol=1e-9)
    y_true, y_pred, w = (np.concatenate(part) for part in zip(*batches))
    multioutput = {None: "raw_values", "uniform_average": "uniform_average",
                   "variance_weighted_average": "variance_weighted"}[class_aggregation]
    np.testing.assert_allclose(scores[0], r2_score(y_true, y_pred, sample_weight=w, multioutput=multioutput),
                               rtol=1e-12)


# -- bad input --------------------------------------------------------------------------------------------------
GOOD = np.arange(8, dtype=np.float32).reshape(4, 2)
BAD = [
    ("1-D inputs", np.ones(4), np.ones(4), None, ValueError,
     r"R2Score expects 2D inputs .* y_pred.shape=\(4,\) and y_true.shape=\(4,\)"),
    ("3-D inputs", np.ones((4, 2, 2)), np.ones((4, 2, 2)), None, ValueError, "R2Score expects 2D inputs"),
    ("mismatched shapes", GOOD, np.ones((5, 2)), None, ValueError,
     r"y_true of shape \(4, 2\) and y_pred of shape \(5, 2\) must match"),
    ("wrong number of outputs", np.ones((4, 3)), np.ones((4, 3)), None, ValueError,
     r"built for 2 outputs by its first batch; got y_true and y_pred of shape \(4, 3\)"),
    ("strings", [["a", "b"]], GOOD, None, TypeError, "y_true must hold .* got dtype <U1"),
    ("None y_pred", GOOD, None, None, TypeError, "y_pred is None"),
    ("None y_true", None, GOOD, None, TypeError, "y_true is None"),
    ("empty", np.zeros((0, 2)), np.zeros((0, 2)), None, ValueError, r"y_true is empty \(shape \(0, 2\)\)"),
    ("weights do not broadcast", GOOD, GOOD, np.ones(3), ValueError,
     r"sample_weight of shape \(3,\) does not broadcast to y_true of shape \(4, 2\)"),
    ("per-output weights of another width", GOOD, GOOD, np.ones((4, 3)), ValueError,
     r"sample_weight of shape \(4, 3\) does not broadcast"),
    ("weights of rank 3", GOOD, GOOD, np.ones((4, 2, 1)), ValueError, r"sample_weight of shape \(4, 2, 1\)"),
    ("string weights", GOOD, GOOD, ["w"] * 4, TypeError, "sample_weight must hold"),
]


@pytest.mark.parametrize("what,y_true,y_pred,weight,error,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input_leaves_the_state_unchanged(what, y_true, y_pred, weight, error, message, device):
    metric = gpumetrics.R2Score(class_aggregation=None, device=device)
    update(metric, device, GOOD, GOOD + np.float32(0.5), np.array([1.0, 2.0, 3.0, 4.0]))
    before, result = state_of(metric), result_of(metric)
    with pytest.raises(error, match=message):
        metric.update_state(y_true, y_pred, sample_weight=weight)
    after = state_of(metric)
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    np.testing.assert_array_equal(result_of(metric), result)


def test_a_bad_first_batch_builds_nothing(device):
    metric = gpumetrics.R2Score(device=device)
    with pytest.raises(ValueError, match="R2Score expects 2D inputs"):
        metric.update_state(np.ones(5), np.ones(5))
    with pytest.raises(ValueError, match="does not broadcast"):
        metric.update_state(np.ones((5, 2)), np.ones((5, 2)), sample_weight=np.ones(4))
    assert metric.moments is None and [v.name for v in metric.variables] == ["num_samples"]
    update(metric, device, np.arange(15.0).reshape(5, 3), np.arange(15.0).reshape(5, 3) + 1)
    assert metric.moments.shape == (7, 3)


def test_bad_arguments_say_what_keras_says():
    with pytest.raises(ValueError, match=r"Invalid value for argument `class_aggregation`. Expected one of \(None, "
                                         r"'uniform_average', 'variance_weighted_average'\). Received: "
                                         r"class_aggregation=mean"):
        gpumetrics.R2Score(class_aggregation="mean")
    with pytest.raises(ValueError, match=r"Invalid value for argument `num_regressors`. Expected a value >= 0. "
                                         r"Received: num_regressors=-1"):
        gpumetrics.R2Score(num_regressors=-1)


# -- merging and state dicts --------------------------------------------------------------------------------------
@pytest.mark.parametrize("class_aggregation", AGGREGATIONS, ids=str)
def test_merge_of_clones_equals_one_stream(class_aggregation, device, rng):
    def make():
        return gpumetrics.R2Score(class_aggregation=class_aggregation, num_regressors=2, dtype="float64",
                                  device=device)

    batches = []
    for rows in (7, 12, 5, 9, 11, 6):
        y_true = rng.normal(size=(rows, 2)) + 1e4
        batches.append((y_true, y_true + rng.normal(size=(rows, 2)), rng.uniform(0, 2, size=rows)))
    single = make()
    for b in batches:
        update(single, device, *b)
    clones = [make() for _ in range(3)]
    for i, b in enumerate(batches):
        update(clones[i % 3], device, *b)
    fresh = gpumetrics.R2Score(class_aggregation=class_aggregation, num_regressors=2, dtype="float64")  # auto, unbuilt
    fresh.merge_state(clones)
    clones[0].merge_state(clones[1:] + [make()])
    for merged in (clones[0], fresh):
        np.testing.assert_allclose(result_of(merged), result_of(single), rtol=1e-12, atol=1e-12)
        assert int(merged.num_samples) == int(single.num_samples) == sum(len(b[0]) for b in batches)


def test_merge_refuses_another_number_of_outputs(device):
    a, b = gpumetrics.R2Score(device=device), gpumetrics.R2Score(device=device)
    update(a, device, TWO_TRUE, TWO_PRED)
    update(b, device, TWO_TRUE[:, :1], TWO_PRED[:, :1])
    before = state_of(a)
    with pytest.raises(ValueError, match=r"state 'moments' has shape \(7, 2\) here and \(7, 1\)"):
        a.merge_state(b)
    assert all(np.array_equal(before[k], state_of(a)[k]) for k in before)
    unbuilt = gpumetrics.R2Score(num_regressors=1, device=device)
    with pytest.raises(ValueError, match="different configurations"):
        unbuilt.merge_state(a)
    assert unbuilt.moments is None


def test_state_dict_builds_an_unbuilt_metric(device):
    metric = gpumetrics.R2Score(class_aggregation=None, dtype="float64", device=device)
    update(metric, device, TWO_TRUE, TWO_PRED)
    restored = gpumetrics.R2Score(class_aggregation=None, dtype="float64", device=device)
    bad = dict(metric.state_dict(), num_samples=np.float64(6.5))
    with pytest.raises(TypeError, match="num_samples"):
        restored.load_state_dict(bad)
    assert restored.moments is None
    restored.load_state_dict(metric.state_dict())
    np.testing.assert_array_equal(result_of(restored), result_of(metric))


# -- parity with the real Keras -----------------------------------------------------------------------------------
PARITY = [  # (outputs, constructor arguments, sample weights): every aggregation and weight shape at least once
    (1, {}, "none"), (1, {}, "per_row"), (3, {}, "per_element"), (3, {"class_aggregation": None}, "per_row"),
    (3, {"class_aggregation": "variance_weighted_average"}, "per_element"),
    (3, {"class_aggregation": "variance_weighted_average"}, "none"), (1, {"num_regressors": 3}, "scalar"),
    (3, {"class_aggregation": None, "num_regressors": 2}, "per_row"),
]


@pytest.mark.parametrize("outputs,kwargs,weights", PARITY,
                         ids=[f"{o}-{k.get('class_aggregation', 'uniform')}-p{k.get('num_regressors', 0)}-{w}"
                              for o, k, w in PARITY])
def test_same_numbers_as_keras(outputs, kwargs, weights, device, rng):
    keras = pytest.importorskip("keras")
    # the adjusted R² is taken by hand from Keras's R² with current Keras's n (samples of non-zero weight): Keras
    # 3.15 still counted rows x outputs (its fix #23334 came after)
    p = kwargs.get("num_regressors", 0)
    ours, theirs = gpumetrics.R2Score(device=device, **kwargs), keras.metrics.R2Score(**dict(kwargs, num_regressors=0))
    assert ours.get_config() == dict(theirs.get_config(), num_regressors=p)
    n = 0
    for rows in (10, 7, 12):
        y_true = rng.normal(size=(rows, outputs)).astype(np.float32)
        y_pred = (y_true + 0.8 * rng.normal(size=(rows, outputs))).astype(np.float32)
        w = {"none": None, "per_row": rng.uniform(0, 2, size=rows), "scalar": np.float32(1.7),
             "per_element": rng.uniform(0, 2, size=(rows, outputs))}[weights]
        w = None if w is None else np.asarray(w, np.float32)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        update(ours, device, y_true, y_pred, w)
        n += rows  # no weight is 0
        expected = np.asarray(theirs.result(), np.float64)
        expected = 1 - (1 - expected) * (n - 1) / (n - p - 1)
        np.testing.assert_allclose(result_of(ours), expected, rtol=2e-5, atol=2e-6)
    assert int(ours.num_samples) == n


def test_keras_warns_alike_on_adjusted_fallbacks(device):
    keras = pytest.importorskip("keras")
    n_theirs = keras.metrics.R2Score()  # 6 in Keras 3.15 (rows x outputs), 3 after its fix #23334
    n_theirs.update_state(TWO_TRUE.astype(np.float32), TWO_PRED.astype(np.float32))
    n_theirs = int(n_theirs.num_samples.numpy())
    for above, message in ((0, "Division by zero"), (3, "More independent predictors")):  # p = n - 1 + above
        ours = gpumetrics.R2Score(num_regressors=2 + above, device=device)
        theirs = keras.metrics.R2Score(num_regressors=n_theirs - 1 + above)
        theirs.update_state(TWO_TRUE.astype(np.float32), TWO_PRED.astype(np.float32))
        update(ours, device, TWO_TRUE, TWO_PRED)
        with pytest.warns(UserWarning, match=message):
            expected = float(theirs.result())
        with pytest.warns(UserWarning, match=message):
            assert float(to_host(ours.result())) == pytest.approx(expected, rel=1e-6)


def test_keras_loses_digits_far_from_zero_where_we_do_not(rng):
    keras = pytest.importorskip("keras")
    y_true = rng.normal(size=(100, 1)) + 1e4
    y_pred = y_true + 0.5 * rng.normal(size=(100, 1))
    exact = r2_score(y_true, y_pred)
    ours = gpumetrics.R2Score(dtype="float64")
    ours.update_state(y_true, y_pred)
    assert float(ours.result()) == pytest.approx(exact, rel=1e-9)
    theirs = keras.metrics.R2Score()
    theirs.update_state(y_true, y_pred)
    assert abs(float(theirs.result()) - exact) > 1e-3  # float32 squared_sum - sum * mean


# -- batches and prefixes whose weights sum to 0 (issue 12, defect 6) ----------------------------------------------
ZERO_SUM_SPLITS = [[6], [4, 2], [2, 4], [3, 3], [5, 1], [1, 5], [2, 2, 2], [1, 1, 1, 1, 1, 1], [1, 3, 2], [4, 1, 1]]


@pytest.mark.parametrize("weights", [[1, 1, 1, 1, -1, 1], [1, -1, 2, 1, 0.5, -0.5], [2, -2, 1, -1, 3, 1],
                                     [0.5, -1, 0.5, 3, 0, 1]],
                         ids=["last-pair-cancels", "prefix-cancels", "every-pair-cancels", "mixed-zeros"])
def test_zero_sum_batches_and_prefixes_give_the_single_batch_result(weights, device):
    # a batch (or prefix) of total weight 0 was kept as its D only: weights (1,1,1,1,-1,1) gave 0.852273 in one
    # batch, 0.845238 split 4 + 2
    g = np.random.default_rng(12)
    y_true = g.normal(3.0, 2.0, size=(6, 2))
    y_pred = y_true + g.normal(0.0, 0.5, size=(6, 2))
    w = np.array(weights, dtype=np.float64)[:, None] * np.ones((1, 2))

    def run(splits, aggregation="uniform_average"):
        metric = gpumetrics.R2Score(class_aggregation=aggregation, dtype="float64", device=device)
        start = 0
        for size in splits:
            update(metric, device, y_true[start:start + size], y_pred[start:start + size], w[start:start + size])
            start += size
        return metric

    one = run([6])
    mean = np.average(y_true, axis=0, weights=w[:, 0])
    want = 1.0 - (w * (y_true - y_pred) ** 2).sum(0) / (w * (y_true - mean) ** 2).sum(0)
    np.testing.assert_allclose(result_of(run([6], None)), want, rtol=1e-12)
    for splits in ZERO_SUM_SPLITS:
        np.testing.assert_allclose(result_of(run(splits)), result_of(one), rtol=1e-12, err_msg=str(splits))
        np.testing.assert_allclose(result_of(run(splits, None)), want, rtol=1e-12, err_msg=str(splits))
    # merging the parts of a split is the same as the stream
    first = gpumetrics.R2Score(dtype="float64", device=device)
    second = gpumetrics.R2Score(dtype="float64", device=device)
    update(first, device, y_true[:2], y_pred[:2], w[:2])
    update(second, device, y_true[2:], y_pred[2:], w[2:])
    second.merge_state([first])
    np.testing.assert_allclose(result_of(second), result_of(one), rtol=1e-12)


def test_a_stream_whose_weights_sum_to_zero_gives_nan(device):
    metric = gpumetrics.R2Score(device=device)
    update(metric, device, np.array([[1.0], [2.0]]), np.array([[1.5], [2.0]]), np.array([[1.0], [-1.0]]))
    assert np.isnan(result_of(metric))
