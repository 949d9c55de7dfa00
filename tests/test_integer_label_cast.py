"""Integer labels beside float32 predictions are compared once cast to float32, as Keras casts ``y_true`` to
``y_pred``'s dtype (and as this package's own per-sample ``accuracy`` and its float64 labels do): a label of
2**24 + 1 equals a float32 prediction of 2**24."""
import numpy as np
import pytest

from conftest import to_host

import gpumetrics
from gpumetrics.metrics.accuracy import _equal_kind, accuracy


@pytest.mark.parametrize("label_dtype", ["int32", "int64", "uint32", "uint64", ">i8", "float64"])
def test_accuracy_rounds_wide_integer_labels_to_float32_predictions(label_dtype, device):
    y_true = np.array([2**24 + 1, 5, 7], dtype=label_dtype)
    y_pred = np.array([2.0**24, 5.0, 6.0], dtype=np.float32)
    metric = gpumetrics.Accuracy(device=device)
    metric.update_state(y_true, y_pred)
    expected = float(np.mean(accuracy(y_true, y_pred)))
    assert expected == pytest.approx(2 / 3)
    assert float(to_host(metric.result())) == pytest.approx(expected)


def test_narrow_integer_labels_keep_the_plain_comparison():
    assert _equal_kind(np.zeros(2, np.int16), np.zeros(2, np.float32)) == "equal"
    assert _equal_kind(np.zeros(2, np.int32), np.zeros(2, np.float64)) == "equal"
    assert _equal_kind(np.zeros(2, np.int64), np.zeros(2, np.float32)) == "equal_cast"
