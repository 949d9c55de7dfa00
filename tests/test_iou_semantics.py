"""The IoU family against Keras: its documented examples (values derived by hand), its configs, its input rules,
bad input that must leave the state alone, and the real ``keras.metrics`` classes on the same random batches."""
import numpy as np
import pytest

from conftest import on_device, to_host

import gpumetrics


def result(metric):
    return float(to_host(metric.result()))


def update(metric, device, y_true, y_pred, sample_weight=None):
    metric.update_state(on_device(np.asarray(y_true), device), on_device(np.asarray(y_pred), device),
                        sample_weight=None if sample_weight is None else on_device(np.asarray(sample_weight), device))


ONE_HOT_TRUE = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]]  # argmax: [2, 0, 1, 0]
SCORES = [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]  # argmax: [2, 2, 0, 2]

# Keras's docstring and test examples. IoU of class c = TP / (row sum + column sum - TP) of the confusion matrix
# cm[true, pred]; the result averages it over the target classes that occur at all.
DOCUMENTED = [
    # cm = [[1, 1], [1, 1]]: every class 1 / (2 + 2 - 1)
    ("IoU", lambda d: gpumetrics.IoU(2, [0], device=d), [0, 0, 1, 1], [0, 1, 0, 1], None, 1 / 3),
    # cm = [[0.3, 0.3], [0.3, 0.1]]: class 0: 0.3 / (0.6 + 0.6 - 0.3)
    ("IoU-weighted", lambda d: gpumetrics.IoU(2, [0], device=d), [0, 0, 1, 1], [0, 1, 0, 1], [0.3, 0.3, 0.3, 0.1],
     1 / 3),
    # cm = [[0.2, 0.3], [0.4, 0.1]]: (0.1 / (0.4 + 0.5 - 0.1) + 0.2 / (0.6 + 0.5 - 0.2)) / 2, classes listed 1, 0
    ("IoU-weighted-1-0", lambda d: gpumetrics.IoU(2, [1, 0], device=d), [0, 0, 1, 1], [0, 1, 0, 1],
     [0.2, 0.3, 0.4, 0.1], (0.1 / 0.8 + 0.2 / 0.9) / 2),
    # 2-D inputs and weights are flattened: the same matrix
    ("IoU-2d", lambda d: gpumetrics.IoU(2, [0, 1], device=d), [[0, 0], [1, 1]], [[0, 1], [0, 1]],
     [[0.2, 0.3], [0.4, 0.1]], (0.2 / 0.9 + 0.1 / 0.8) / 2),
    # class 2 (y_true) and -1 / 2 are out of range: only the (0, 0) pair counts, class 1 is absent
    ("IoU-out-of-range-true", lambda d: gpumetrics.IoU(2, [0, 1], device=d), [0, 2], [0, 1], None, 1.0),
    ("IoU-out-of-range-pred", lambda d: gpumetrics.IoU(2, [0, 1], device=d), [0, 1], [0, 2], None, 1.0),
    ("IoU-negative-true", lambda d: gpumetrics.IoU(2, [0, 1], device=d), [-1, 0], [0, 0], None, 1.0),
    ("IoU-negative-pred", lambda d: gpumetrics.IoU(2, [0, 1], device=d), [0, 1], [-1, 1], None, 1.0),
    # classes 2 and 3 never occur: they are left out of the mean, (1/3 + 1/3) / 2
    ("IoU-absent-classes", lambda d: gpumetrics.IoU(4, [0, 1, 2, 3], device=d), [0, 0, 1, 1], [0, 1, 0, 1], None,
     1 / 3),
    ("IoU-only-class-1", lambda d: gpumetrics.IoU(2, [0, 1], device=d), [1], [1.0], None, 1.0),
    # threshold 0.3: predictions [0, 0, 1, 1], cm = [[1, 1], [1, 1]]
    ("BinaryIoU", lambda d: gpumetrics.BinaryIoU([0, 1], threshold=0.3, device=d), [0, 1, 0, 1],
     [0.1, 0.2, 0.4, 0.7], None, 1 / 3),
    # cm = [[0.2, 0.4], [0.3, 0.1]]: (0.2 / (0.6 + 0.5 - 0.2) + 0.1 / (0.4 + 0.5 - 0.1)) / 2
    ("BinaryIoU-weighted", lambda d: gpumetrics.BinaryIoU([0, 1], threshold=0.3, device=d), [0, 1, 0, 1],
     [0.1, 0.2, 0.4, 0.7], [0.2, 0.3, 0.4, 0.1], (0.2 / 0.9 + 0.1 / 0.8) / 2),
    # threshold 0.5: predictions [0, 0, 0, 1], cm = [[2, 0], [1, 1]]: (2 / (2 + 3 - 2) + 1 / (2 + 1 - 1)) / 2
    ("BinaryIoU-0.5", lambda d: gpumetrics.BinaryIoU([0, 1], threshold=0.5, device=d), [0, 1, 0, 1],
     [0.1, 0.2, 0.4, 0.7], None, (2 / 3 + 1 / 2) / 2),
    # a prediction equal to the threshold is class 1 (>=): cm = [[0, 1], [0, 1]], class 1: 1 / (1 + 2 - 1)
    ("BinaryIoU-on-threshold", lambda d: gpumetrics.BinaryIoU([1], threshold=0.5, device=d), [0, 1],
     [0.5, 0.5], None, 0.5),
    # threshold 0.4 on 2-D inputs: predictions [[0, 1], [1, 0]], cm = [[0.2, 0.4], [0.1, 0.3]]
    ("BinaryIoU-2d", lambda d: gpumetrics.BinaryIoU([0, 1], threshold=0.4, device=d), [[0, 1], [0, 1]],
     [[0.1, 0.7], [0.9, 0.3]], [[0.2, 0.3], [0.4, 0.1]], (0.2 / (0.6 + 0.3 - 0.2) + 0.3 / (0.4 + 0.7 - 0.3)) / 2),
    ("MeanIoU", lambda d: gpumetrics.MeanIoU(2, device=d), [0, 0, 1, 1], [0, 1, 0, 1], None, 1 / 3),
    # cm = [[0.3, 0.3], [0.3, 0.1]]: (0.3 / 0.9 + 0.1 / 0.7) / 2; Keras's int state would truncate these to 0
    ("MeanIoU-weighted", lambda d: gpumetrics.MeanIoU(2, device=d), [0, 0, 1, 1], [0, 1, 0, 1],
     [0.3, 0.3, 0.3, 0.1], (1 / 3 + 1 / 7) / 2),
    # the 255 sample is dropped: cm = [[1, 0, 0], [0, 1, 0], [0, 1, 0]]: (1 + 1 / 2 + 0 / 1) / 3
    ("MeanIoU-ignore-255", lambda d: gpumetrics.MeanIoU(3, ignore_class=255, device=d), [0, 1, 2, 255],
     [0, 1, 1, 1], None, (1 + 1 / 2 + 0) / 3),
    ("MeanIoU-ignore-minus-1", lambda d: gpumetrics.MeanIoU(3, ignore_class=-1, device=d), [0, 1, 2, -1],
     [0, 1, 1, 1], None, (1 + 1 / 2 + 0) / 3),
    # cm = [[0.2, 0.3], [0.4, 0.0]] after dropping the -1 sample: (0.2 / 0.9 + 0 / 0.7) / 2
    ("MeanIoU-weighted-ignore", lambda d: gpumetrics.MeanIoU(2, ignore_class=-1, device=d), [0, 0, 1, -1],
     [0, 1, 0, 1], [0.2, 0.3, 0.4, 0.1], (0.2 / 0.9 + 0.0) / 2),
    # cm = [[4, 0, 0], ...]: only class 0 occurs, 4 / (4 + 4 - 4)
    ("MeanIoU-one-class", lambda d: gpumetrics.MeanIoU(3, device=d), [0, 0, 0, 0], [0, 0, 0, 0], None, 1.0),
    # cm = [[0, 0, 2], [1, 0, 0], [0, 0, 1]]: (0 / (1 + 2 - 0) + 1 / (3 + 1 - 1)) / 2
    ("OneHotIoU", lambda d: gpumetrics.OneHotIoU(3, [0, 2], device=d), ONE_HOT_TRUE, SCORES, None, (0 + 1 / 3) / 2),
    # cm = [[0, 0, 0.6], [0.3, 0, 0], [0, 0, 0.1]]: (0 / 0.9 + 0.1 / (0.7 + 0.1 - 0.1)) / 2
    ("OneHotIoU-weighted", lambda d: gpumetrics.OneHotIoU(3, [0, 2], device=d), ONE_HOT_TRUE, SCORES,
     [0.1, 0.2, 0.3, 0.4], (0 + 0.1 / 0.7) / 2),
    ("OneHotMeanIoU", lambda d: gpumetrics.OneHotMeanIoU(3, device=d), ONE_HOT_TRUE, SCORES, None, (1 / 3) / 3),
    # class 1 occurs (column sum 0.3): it counts, with IoU 0
    ("OneHotMeanIoU-weighted", lambda d: gpumetrics.OneHotMeanIoU(3, device=d), ONE_HOT_TRUE, SCORES,
     [0.1, 0.2, 0.3, 0.4], (0.1 / 0.7) / 3),
    # five samples: cm = [[0.1, 0, 0.5], [0.3, 0, 0], [0, 0, 0.1]]: (0.1 / 0.9 + 0 + 0.1 / 0.6) / 3
    ("OneHotMeanIoU-weighted-5", lambda d: gpumetrics.OneHotMeanIoU(3, device=d), ONE_HOT_TRUE + [[1, 0, 0]],
     SCORES + [[0.6, 0.2, 0.2]], [0.1, 0.2, 0.3, 0.3, 0.1], (0.1 / 0.9 + 0.1 / 0.6) / 3),
]


@pytest.mark.parametrize("what,make,y_true,y_pred,weight,expected", DOCUMENTED, ids=[d[0] for d in DOCUMENTED])
def test_keras_documented_examples(what, make, y_true, y_pred, weight, expected, device):
    metric = make(device)
    update(metric, device, y_true, y_pred, weight)
    assert to_host(metric.result()).dtype == np.float32
    np.testing.assert_allclose(result(metric), expected, rtol=1e-6)


@pytest.mark.parametrize("make", [lambda: gpumetrics.IoU(2, [0, 1]), lambda: gpumetrics.BinaryIoU(),
                                  lambda: gpumetrics.MeanIoU(2), lambda: gpumetrics.OneHotMeanIoU(3)],
                         ids=["IoU", "BinaryIoU", "MeanIoU", "OneHotMeanIoU"])
def test_no_valid_entries_give_zero(make):
    assert result(make()) == 0.0


def test_update_then_reset_then_the_documented_weighted_value(device):
    metric = gpumetrics.IoU(num_classes=2, target_class_ids=[0], device=device)
    update(metric, device, [0, 0, 1, 1], [0, 1, 0, 1])
    metric.reset_state()
    update(metric, device, [0, 0, 1, 1], [0, 1, 0, 1], [0.3, 0.3, 0.3, 0.1])
    np.testing.assert_allclose(result(metric), 1 / 3, rtol=1e-6)
    np.testing.assert_allclose(metric.total_cm.numpy(), [[0.3, 0.3], [0.3, 0.1]], rtol=1e-15)


def test_class_ids_are_truncated_toward_zero(device):
    metric = gpumetrics.MeanIoU(3, device=device)
    update(metric, device, [0.9, -0.5, 1.99, 2.5, 3.0, np.nan], [-0.9, 0.2, 1.5, 2.0, 0.0, 1.0])
    np.testing.assert_array_equal(metric.total_cm.numpy(), [[2, 0, 0], [0, 1, 0], [0, 0, 1]])


def test_argmax_over_another_axis_and_higher_ranks(device):
    scores = np.random.default_rng(0).uniform(size=(2, 3, 5))  # class axis 1 of three, ten samples
    labels = np.eye(3)[[0, 1, 2, 1, 0, 2, 2, 1, 0, 0]].reshape(2, 5, 3).transpose(0, 2, 1)
    metric = gpumetrics.OneHotMeanIoU(3, axis=1, device=device)
    update(metric, device, labels, scores, np.arange(10).reshape(2, 5))
    want = np.zeros((3, 3))
    np.add.at(want, (labels.argmax(1).ravel(), scores.argmax(1).ravel()), np.arange(10.0))
    np.testing.assert_array_equal(metric.total_cm.numpy(), want)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_weights_reach_the_matrix_and_propagate(bad, device):
    # issue 12, defect 5: the NaN / inf cell was counted as an absent class, MeanIoU gave 0.5
    metric = gpumetrics.MeanIoU(2, device=device)
    update(metric, device, [0, 1, 1], [0, 1, 0], [bad, 1.0, 1.0])
    cm = metric.total_cm.numpy()
    assert np.isnan(cm[0, 0]) if np.isnan(bad) else cm[0, 0] == bad
    np.testing.assert_array_equal(cm[1], [1.0, 1.0])
    assert np.isnan(result(metric))
    # class 1 does not see the (0, 0) cell: its IoU stays 1 / (1 + 2 - 1)
    only_one = gpumetrics.IoU(3, [1], device=device)
    update(only_one, device, [0, 1, 1], [0, 1, 0], [bad, 1.0, 1.0])
    np.testing.assert_allclose(result(only_one), 0.5, rtol=1e-6)
    # a NaN in one batch stays in the stream
    update(metric, device, [0, 1], [0, 1])
    assert np.isnan(result(metric))


def test_scalar_and_single_weights_broadcast(device):
    metric = gpumetrics.MeanIoU(2, device=device)
    update(metric, device, [0, 1, 1], [0, 1, 0], 2.5)
    update(metric, device, [[0], [1]], [[0], [0]], [[0.5]])
    np.testing.assert_array_equal(metric.total_cm.numpy(), [[3.0, 0.0], [3.0, 2.5]])


# -- configuration ------------------------------------------------------------------------------------------------

KERAS_CONFIGS = [
    (lambda: gpumetrics.IoU(3, [0, 1]),
     {"name": "io_u", "dtype": "int32", "num_classes": 3, "target_class_ids": [0, 1], "ignore_class": None,
      "sparse_y_true": True, "sparse_y_pred": True, "axis": -1}),
    (lambda: gpumetrics.BinaryIoU(), {"target_class_ids": [0, 1], "threshold": 0.5, "name": "binary_io_u",
                                      "dtype": "int32"}),
    (lambda: gpumetrics.MeanIoU(3), {"num_classes": 3, "name": "mean_io_u", "dtype": "int32", "ignore_class": None,
                                     "sparse_y_true": True, "sparse_y_pred": True, "axis": -1}),
    (lambda: gpumetrics.OneHotIoU(3, [1]), {"num_classes": 3, "target_class_ids": [1], "name": "one_hot_io_u",
                                            "dtype": "int32", "ignore_class": None, "sparse_y_pred": False,
                                            "axis": -1}),
    (lambda: gpumetrics.OneHotMeanIoU(3), {"num_classes": 3, "name": "one_hot_mean_io_u", "dtype": "int32",
                                           "ignore_class": None, "sparse_y_pred": False, "axis": -1}),
]


@pytest.mark.parametrize("make,config", KERAS_CONFIGS, ids=["IoU", "BinaryIoU", "MeanIoU", "OneHotIoU",
                                                             "OneHotMeanIoU"])
def test_default_configs_are_keras_configs(make, config):
    metric = make()
    assert metric.get_config() == config
    assert type(metric).from_config(config).get_config() == config
    again = gpumetrics.deserialize(gpumetrics.serialize(metric))
    assert type(again) is type(metric) and again.get_config() == config


@pytest.mark.parametrize("dtype,config_dtype,result_dtype", [(None, "int32", np.float32), ("int", "int32", np.float32),
                                                             ("float32", "float32", np.float32),
                                                             ("float64", "float64", np.float64)])
def test_dtype_is_keras_state_dtype_in_the_config_and_the_result_stays_floating(dtype, config_dtype, result_dtype):
    metric = gpumetrics.MeanIoU(2, dtype=dtype)
    metric.update_state([0, 1, 1], [0, 1, 0])
    assert metric.get_config()["dtype"] == config_dtype
    assert np.asarray(metric.result()).dtype == result_dtype
    assert metric.total_cm.dtype == "float64"


@pytest.mark.parametrize("build,message", [
    (lambda: gpumetrics.IoU(2, [2]), r"Target class id 2 is out of range, which is \[0, 2\)"),
    (lambda: gpumetrics.IoU(3, [0, -1]), r"Target class id -1 is out of range, which is \[0, 3\)"),
    (lambda: gpumetrics.OneHotIoU(3, [5, 1]), r"Target class id 5 is out of range, which is \[0, 3\)"),
    (lambda: gpumetrics.BinaryIoU([0, 2]), r"Target class id 2 is out of range, which is \[0, 2\)"),
    (lambda: gpumetrics.IoU(2, []), "at least one class id"),
    (lambda: gpumetrics.IoU(2, [0.5]), "must be integers"),
    (lambda: gpumetrics.MeanIoU(0), "num_classes must be an integer >= 1"),
    (lambda: gpumetrics.OneHotMeanIoU(2.0), "num_classes must be an integer >= 1"),
    (lambda: gpumetrics.BinaryIoU(threshold="high"), "threshold must be a real number"),
], ids=["too-large", "negative", "one-hot", "binary", "empty", "float-id", "zero-classes", "float-classes",
        "threshold"])
def test_bad_constructor_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# -- bad input leaves the state unchanged -------------------------------------------------------------------------

GOOD = {"IoU": ([0, 1, 2, 1], [0, 1, 1, 1]), "BinaryIoU": ([0, 1, 1, 0], [0.2, 0.8, 0.4, 0.6]),
        "OneHotIoU": (ONE_HOT_TRUE, SCORES)}
MAKE = {"IoU": lambda d: gpumetrics.IoU(3, [0, 1], device=d), "BinaryIoU": lambda d: gpumetrics.BinaryIoU(device=d),
        "OneHotIoU": lambda d: gpumetrics.OneHotIoU(3, [0, 2], device=d)}
BAD = [
    ("IoU", "lengths", np.zeros(4), np.zeros(5), None, ValueError,
     r"y_true of shape \(4,\) gives 4 class ids and y_pred of shape \(5,\) gives 5"),
    ("BinaryIoU", "lengths-2d", np.zeros((2, 3)), np.zeros((3, 3)), None, ValueError,
     r"y_true of shape \(2, 3\) gives 6 class ids and y_pred of shape \(3, 3\) gives 9"),
    ("OneHotIoU", "rows", np.eye(3), np.ones((4, 3)), None, ValueError, "gives 3 class ids .* gives 4"),
    ("IoU", "strings", ["a", "b"], [0, 1], None, TypeError, "y_true must hold"),
    ("BinaryIoU", "string-predictions", [0, 1], ["x", "y"], None, TypeError, "y_pred must hold"),
    ("IoU", "None", [0, 1], None, None, TypeError, "y_pred is None"),
    ("OneHotIoU", "None-labels", None, SCORES, None, TypeError, "y_true is None"),
    ("IoU", "empty", np.zeros(0), np.zeros(0), None, ValueError, r"y_true is empty \(shape \(0,\)\)"),
    ("OneHotIoU", "empty", np.zeros((0, 3)), np.zeros((0, 3)), None, ValueError, r"y_true is empty"),
    ("IoU", "weights", [0, 1, 1, 0], [0, 1, 0, 0], np.ones(3), ValueError,
     r"sample_weight of shape \(3,\) does not broadcast to the 4 class ids of y_true of shape \(4,\)"),
    ("IoU", "weights-2d", np.zeros((2, 4)), np.zeros((2, 4)), np.ones((2, 1)), ValueError,
     r"sample_weight of shape \(2, 1\) does not broadcast to the 8 class ids"),
    ("OneHotIoU", "weights-per-score", ONE_HOT_TRUE, SCORES, np.ones((4, 3)), ValueError,
     r"sample_weight of shape \(4, 3\) does not broadcast to the 4 class ids"),
    ("BinaryIoU", "string-weights", [0, 1], [0.3, 0.6], ["a", "b"], TypeError, "sample_weight must hold"),
    ("OneHotIoU", "columns", np.eye(4), np.eye(4), None, ValueError,
     r"y_true of shape \(4, 4\) has 4 class scores along axis -1; sparse_y_true=False needs num_classes=3"),
    ("OneHotIoU", "prediction-columns", ONE_HOT_TRUE, np.ones((4, 2)), None, ValueError,
     r"y_pred of shape \(4, 2\) has 2 class scores along axis -1; sparse_y_pred=False needs num_classes=3"),
    ("OneHotIoU", "scalar", 1.0, 1.0, None, ValueError, r"axis=-1 is out of range for y_true of shape \(\)"),
    ("IoU", "complex", [0, 1], np.array([0, 1], np.complex64), None, TypeError, "y_pred must hold .* complex64"),
]


@pytest.mark.parametrize("cls,what,y_true,y_pred,weight,error,message", BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_bad_input_leaves_state_unchanged(cls, what, y_true, y_pred, weight, error, message, device):
    metric = MAKE[cls](device)
    update(metric, device, *GOOD[cls], [1.0, 2.0, 0.5, 1.0])
    before, value = metric.state_dict(), result(metric)
    with pytest.raises(error, match=message):
        metric.update_state(y_true, y_pred, sample_weight=weight)
    after = metric.state_dict()
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert result(metric) == value


def test_bad_axis_leaves_state_unchanged(device):
    metric = gpumetrics.OneHotMeanIoU(3, axis=2, device=device)
    with pytest.raises(ValueError, match=r"axis=2 is out of range for y_true of shape \(4, 3\)"):
        metric.update_state(ONE_HOT_TRUE, SCORES)
    assert not metric.total_cm.numpy().any()


# -- the real Keras -----------------------------------------------------------------------------------------------

PARITY = {
    "IoU": (dict(num_classes=5, target_class_ids=[0, 2, 4]), "ids"),
    "IoU-ignore_class": (dict(num_classes=4, target_class_ids=[1, 3, 0], ignore_class=0), "ids"),
    "IoU-sparse_y_pred-False": (dict(num_classes=4, target_class_ids=[1, 2], sparse_y_pred=False), "ids-scores"),
    "MeanIoU": (dict(num_classes=4), "ids"),
    "MeanIoU-ignore_class-255": (dict(num_classes=4, ignore_class=255), "ids"),
    # axis=0: Keras's result() also sums its per-class IoUs over ``axis``, so any axis but 0 and -1 raises there
    "MeanIoU-dense-axis-0": (dict(num_classes=4, sparse_y_true=False, sparse_y_pred=False, axis=0), "dense-axis-0"),
    "BinaryIoU": ({}, "binary"),
    "BinaryIoU-class-1": (dict(target_class_ids=[1], threshold=0.3), "binary"),
    "OneHotIoU": (dict(num_classes=4, target_class_ids=[0, 3]), "one-hot"),
    "OneHotMeanIoU": (dict(num_classes=4), "one-hot"),
    "OneHotMeanIoU-sparse_y_pred": (dict(num_classes=4, sparse_y_pred=True), "one-hot-ids"),
}


def parity_batch(rng, kind):
    """Random inputs for one update and integer weights (Keras's int state truncates float weights)."""
    if kind == "ids":  # out-of-range ids both sides, 255 as a void class, fractional predictions truncated
        y_true = rng.choice([-1, 0, 1, 2, 3, 4, 5, 255], size=(6, 5))
        y_pred = (rng.integers(-1, 6, size=(6, 5)) + rng.uniform(0, 0.9, size=(6, 5))).astype(np.float32)
        return y_true, y_pred, rng.integers(0, 4, size=(6, 5))
    if kind == "ids-scores":
        return rng.integers(0, 5, size=20), rng.uniform(size=(20, 4)).astype(np.float32), rng.integers(0, 4, 20)
    if kind == "dense-axis-0":
        return (rng.uniform(size=(4, 3, 5)), rng.uniform(size=(4, 3, 5)).astype(np.float32),
                rng.integers(0, 4, size=(3, 5)))
    if kind == "binary":
        scores = rng.uniform(size=30).astype(np.float32)
        scores[:4] = [0.3, 0.5, 0.0, 1.0]
        return rng.choice([0, 1, 1, 2], size=30), scores, rng.integers(0, 4, 30)
    y_true = np.eye(4, dtype=np.int32)[rng.integers(0, 4, 16)]
    y_pred = rng.integers(0, 5, 16) if kind == "one-hot-ids" else rng.uniform(size=(16, 4)).astype(np.float32)
    return y_true, y_pred, rng.integers(0, 4, 16)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", PARITY)
def test_same_numbers_and_configs_as_keras(case, weighted, device, rng):
    keras = pytest.importorskip("keras")
    name, (kwargs, kind) = case.split("-")[0], PARITY[case]
    ours, theirs = getattr(gpumetrics, name)(**kwargs, device=device), getattr(keras.metrics, name)(**kwargs)
    mine, keras_config = ours.get_config(), theirs.get_config()
    assert {k: v for k, v in mine.items() if k != "name"} == {k: v for k, v in keras_config.items() if k != "name"}
    assert getattr(gpumetrics, name).from_config(keras_config).get_config() == keras_config
    for _ in range(3):
        y_true, y_pred, w = parity_batch(rng, kind)
        theirs.update_state(y_true, y_pred, sample_weight=w if weighted else None)
        update(ours, device, y_true, y_pred, w if weighted else None)
        np.testing.assert_allclose(np.asarray(ours.total_cm.numpy()), np.asarray(theirs.total_cm), rtol=0)
        np.testing.assert_allclose(result(ours), float(theirs.result()), rtol=1e-6)
