"""Keras's subtle rules for the threshold family, each pinned on hand-derived values, on every backend."""
import numpy as np
import pytest

from conftest import to_host

import gpumetrics


def value(metric):
    return np.asarray(to_host(metric.result()), dtype=np.float64)


def test_prediction_exactly_on_a_threshold_is_not_above_it(device):
    m = gpumetrics.TruePositives(device=device)
    m.update_state([1, 1], [0.5, 0.5000001])
    assert value(m) == 1.0


def test_auc_end_thresholds_put_0_and_1_on_the_right_side(device):
    # thresholds [-1e-7, 0.5, 1 + 1e-7]: the positive scored 1.0 is above the first two, the negative scored 0.0
    # only above -1e-7, so TP = [1, 1, 0], FP = [1, 0, 0]; ROC points (1, 1), (0, 1), (0, 0): area 1.
    m = gpumetrics.AUC(num_thresholds=3, device=device)
    m.update_state([1, 0], [1.0, 0.0])
    np.testing.assert_array_equal(to_host(m.true_positives), [1, 1, 0])
    np.testing.assert_array_equal(to_host(m.false_positives), [1, 0, 0])
    assert value(m) == 1.0


def test_one_threshold_gives_a_scalar_several_give_a_vector(device):
    assert value(gpumetrics.Precision(thresholds=0.5, device=device)).shape == ()
    assert value(gpumetrics.Precision(thresholds=[0.5], device=device)).shape == ()
    m = gpumetrics.Precision(thresholds=[0.6, 0.3], device=device)
    m.update_state([1, 0, 1], [0.4, 0.5, 0.7])
    np.testing.assert_allclose(value(m), [1.0, 2 / 3])  # given order kept: > 0.6 is {0.7}; > 0.3 is all three


def test_top_k_default_threshold_makes_exactly_the_top_k_positive(device):
    m = gpumetrics.Precision(top_k=2, device=device)
    m.update_state([[0, 0, 1, 1]], [[0.1, 0.2, 0.3, 0.05]])  # all below 0.5, yet the top two count: TP 1, FP 1
    assert value(m) == 0.5


def test_top_k_up_to_every_column_is_valid(device):
    # top_k = the column count keeps every score (the boundary of the range [1, columns]): all four count positive
    values = []
    for k in (3, 4):
        m = gpumetrics.Precision(top_k=k, device=device)
        m.update_state([[0, 1, 1, 1]], [[0.1, 0.2, 0.3, 0.05]])
        values.append(float(value(m)))
    assert values == [np.float32(2 / 3), 0.75]  # float32 results; top 3: {0.3, 0.2, 0.1} holds two positives; all four: three


def test_class_id_slices_after_the_top_k_filter(device):
    dropped = gpumetrics.Recall(top_k=1, class_id=3, device=device)
    dropped.update_state([[0, 0, 0, 1]], [[0.9, 0.0, 0.0, 0.8]])  # column 3 is not the top 1: it becomes -1e10
    kept = gpumetrics.Recall(top_k=1, class_id=0, device=device)
    kept.update_state([[1, 0, 0, 0]], [[0.9, 0.0, 0.0, 0.8]])
    assert (value(dropped), value(kept)) == (0.0, 1.0)


def test_out_of_range_predictions_are_clipped_only_for_evenly_spaced_thresholds(device):
    even = gpumetrics.TruePositives(thresholds=[0.0, 0.5, 1.0], device=device)
    uneven = gpumetrics.TruePositives(thresholds=[0.25, 0.5, 1.0], device=device)
    for m in (even, uneven):
        m.update_state([1], [1.5])
    np.testing.assert_array_equal(value(even), [1, 1, 0])  # clipped to 1.0, which is not above 1.0
    np.testing.assert_array_equal(value(uneven), [1, 1, 1])


def test_nan_prediction_is_never_above_a_threshold(device):
    tp, fn = gpumetrics.TruePositives(device=device), gpumetrics.FalseNegatives(device=device)
    for m in (tp, fn):
        m.update_state([1.0], [np.nan])
    assert (value(tp), value(fn)) == (0.0, 1.0)


def test_soft_labels_count_as_whole_positives_as_keras_casts_them_to_bool(device):
    m = gpumetrics.AUC(num_thresholds=3, device=device)
    m.update_state([0.3, 0.0, 1.0], [0.9, 0.2, 0.6])
    np.testing.assert_array_equal(to_host(m.true_positives), [2, 2, 0])


def test_keras_docstring_example(device):
    m = gpumetrics.AUC(num_thresholds=3, device=device)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert value(m) == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert value(m) == pytest.approx(1.0)


@pytest.mark.parametrize("thresholds", [[1.2, -0.3, 0.5], [-0.3, 0.5], [0.5, 1.2], [0.7, 0.2, 0.5]])
def test_auc_config_keeps_thresholds_outside_0_1(thresholds, device):
    """AUC takes thresholds outside [0, 1] (as Keras does); get_config() returned the sorted thresholds less the
    first and last, so it dropped -0.3 / 1.2 and kept the -1e-7 / 1 + 1e-7 end thresholds, and from_config built
    another metric (0.3735 instead of 0.3663 here)."""
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, 200), (rng.uniform(size=200) * 1.6 - 0.3).astype(np.float32)
    metric = gpumetrics.AUC(thresholds=thresholds, device=device)
    assert metric.get_config()["thresholds"] == sorted(thresholds)
    assert metric.thresholds == [-1e-7] + sorted(thresholds) + [1 + 1e-7]  # Keras's order: the ends first and last
    rebuilt = gpumetrics.AUC.from_config(metric.get_config())
    for m in (metric, rebuilt):
        m.update_state(y_true, y_pred)
    assert float(to_host(rebuilt.result())) == float(to_host(metric.result()))
