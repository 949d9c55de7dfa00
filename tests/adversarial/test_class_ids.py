"""Class ids far outside ``[0, num_classes)`` (negative, past int32 and int64-sized, huge floats, ±inf, NaN) are
dropped by the IoU family (README: ids outside the range are dropped) and never hit by the sparse accuracies;
the sparse crossentropy adds 0 for them as Keras does. Compared with float64 oracles, on every backend."""
import warnings

import numpy as np
import pytest

from . import attack

CLASSES = 3
GOOD_TRUE = np.array([0, 1, 2, 1, 0, 2])
GOOD_PRED = np.array([0, 2, 2, 1, 1, 2])
WILD = {"negative": -1, "num_classes": CLASSES, "past-int32": 2 ** 31, "int64-sized": 2 ** 62, "-int64": -2 ** 62,
        "huge-float": 1e300, "inf": np.inf, "-inf": -np.inf, "nan": np.nan}


def iou_oracle(y_true, y_pred):
    keep = (y_true >= 0) & (y_true < CLASSES) & (y_pred >= 0) & (y_pred < CLASSES)
    t, p = y_true[keep].astype(int), y_pred[keep].astype(int)
    matrix = np.zeros((CLASSES, CLASSES))
    np.add.at(matrix, (t, p), 1.0)
    tp = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - tp
    present = union > 1e-9
    return np.where(present, tp / (union + 1e-7), 0.0).sum() / (present.sum() + 1e-7)


def with_wild(ids, value, where=(1, 4)):
    ids = ids.astype(np.float64)
    ids[list(where)] = value
    return ids


@pytest.mark.parametrize("argument", ["y_true", "y_pred"])
@pytest.mark.parametrize("wild", list(WILD))
@pytest.mark.parametrize("device", attack.DEVICES)
def test_mean_iou_drops_wild_ids(device, wild, argument):
    import gpumetrics

    y_true, y_pred = GOOD_TRUE.astype(np.float64), GOOD_PRED.astype(np.float64)
    if argument == "y_true":
        y_true = with_wild(GOOD_TRUE, WILD[wild])
    else:
        y_pred = with_wild(GOOD_PRED, WILD[wild])
    metric = gpumetrics.MeanIoU(CLASSES, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric.update_state(y_true, y_pred)
        expected = iou_oracle(y_true, y_pred)
    np.testing.assert_allclose(attack.result64(metric), expected, rtol=1e-6, err_msg=f"{wild} in {argument}")


def scores():
    rng = np.random.default_rng(5)
    return rng.dirichlet(np.ones(CLASSES), size=len(GOOD_TRUE)).astype(np.float32)


def sparse_oracles(labels, p):
    """(crossentropy, accuracy, top-2 accuracy) of float64 rows; a label outside the classes adds 0 / misses."""
    p = p.astype(np.float64)
    inside = [0 <= t < CLASSES for t in labels]
    loss = [-np.log(row[int(t)] / row.sum()) if ok else 0.0 for t, row, ok in zip(labels, p, inside)]
    hit = [float(ok and int(t) == row.argmax()) for t, row, ok in zip(labels, p, inside)]
    top2 = [float(ok and (row > row[int(t)]).sum() < 2) for t, row, ok in zip(labels, p, inside)]
    return np.mean(loss), np.mean(hit), np.mean(top2)


SPARSE = ["SparseCategoricalCrossentropy", "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy"]


@pytest.mark.parametrize("wild", [w for w in WILD if w != "nan"])
@pytest.mark.parametrize("device", attack.DEVICES)
def test_sparse_metrics_treat_wild_labels_as_outside_every_class(device, wild):
    labels, p = with_wild(GOOD_TRUE, WILD[wild]), scores()
    expected = dict(zip(SPARSE, sparse_oracles(labels, p)))
    for name in SPARSE:
        metric = attack.BY_ID[name].make(device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metric.update_state(labels, p)
        np.testing.assert_allclose(attack.result64(metric), expected[name], rtol=1e-6, err_msg=f"{name}: {wild}")
