"""The IoU family's rows of the case table: class ids, one-hot rows and scores, each against scikit-learn.

Each oracle turns every batch into flat class ids with NumPy (``np.trunc`` for
ids, ``np.argmax`` for score rows, ``>=`` for BinaryIoU), builds the
confusion matrix over all batches with scikit-learn's ``confusion_matrix``
(``labels=range(C)`` drops the out-of-range ids, ``sample_weight`` the weights
flattened and broadcast as Keras does), and writes Keras's IoU formula out in
float64: per class ``TP / (TP + FP + FN + eps)``, averaged over the target
classes whose denominator is above 1e-9 (``+ eps`` in the count).
"""
import numpy as np

from case_model import ON_THRESHOLDS, Case

import gpumetrics

EPSILON = 1e-7


def weights_of(batch, count):
    """Keras's rule: weights of rank > 1 flattened, then broadcast to the ``count`` ids."""
    w = batch.get("sample_weight")
    if w is None:
        return np.ones(count)
    w = np.asarray(w, np.float64)
    return np.broadcast_to(w.reshape(-1) if w.ndim > 1 else w, (count,))


def truncated(values):
    return np.trunc(np.asarray(values, np.float64)).reshape(-1).astype(np.int64)


def argmaxed(values, axis=-1):
    return np.argmax(np.asarray(values), axis=axis).reshape(-1)


def iou_from_matrix(matrix, target_class_ids):
    true_positives = np.diag(matrix)
    union = matrix.sum(axis=0) + matrix.sum(axis=1) - true_positives
    ids = np.asarray(target_class_ids)
    present = union[ids] > 1e-9
    iou = np.where(present, true_positives[ids] / (union[ids] + EPSILON), 0.0)
    return iou.sum() / (present.sum() + EPSILON)


def iou_oracle(classes, target_class_ids, true_ids, pred_ids, ignore_class=None):
    """The oracle of one row: ``true_ids(batch)`` / ``pred_ids(batch)`` give each batch's flat class ids."""
    from sklearn.metrics import confusion_matrix

    def oracle(batches):
        t = np.concatenate([true_ids(b) for b in batches])
        p = np.concatenate([pred_ids(b) for b in batches])
        w = np.concatenate([weights_of(b, len(true_ids(b))) for b in batches])
        keep = np.ones(t.shape, bool) if ignore_class is None else t != ignore_class
        matrix = confusion_matrix(t[keep], p[keep], labels=list(range(classes)), sample_weight=w[keep])
        return iou_from_matrix(matrix.astype(np.float64), target_class_ids)

    return oracle


# -- batches: each draw(rng, shape) returns {"y_true", "y_pred"} for a LAYOUTS shape ------------------------------


def draw_ids(classes, fractional=False, void=None):
    """Class ids of the layout's shape, some out of range (-1 and ``classes``); ``fractional`` predictions are
    floats that truncate to the ids (``-0.5`` to 0); ``void`` replaces some true ids."""
    def draw(rng, shape):
        y_true = rng.integers(-1, classes + 1, size=shape)
        if void is not None:
            y_true[rng.random(shape) < 0.15] = void
        y_pred = rng.integers(-1, classes + 1, size=shape)
        if fractional:
            offset = np.where(y_pred < 1, rng.choice([0.0, -0.5, 0.5], shape), rng.uniform(0, 0.99, shape))
            y_pred = (y_pred + offset).astype(np.float32)  # -1 + 0.5 and 0 - 0.5 truncate to class 0
        return {"y_true": y_true, "y_pred": y_pred}

    return draw


def draw_binary(rng, shape):
    """0/1 labels (an occasional 2, dropped) and scores in [0, 1], some exactly on common thresholds."""
    scores = rng.uniform(size=shape)
    on = rng.uniform(size=shape) < 0.25
    scores[on] = rng.choice(ON_THRESHOLDS, size=int(on.sum()))
    labels = np.where(rng.uniform(size=shape) < 0.1, 2, rng.integers(0, 2, size=shape))
    return {"y_true": labels, "y_pred": scores.astype(np.float32)}


def one_hot(rng, rows, classes):
    return np.eye(classes, dtype=np.int64)[rng.integers(0, classes, rows)]


def draw_one_hot(sparse_pred=False, transposed=False):
    """One-hot labels ``(rows, classes)`` (``(classes, rows)`` when ``transposed``) and score rows, or class ids
    as predictions when ``sparse_pred``."""
    def draw(rng, shape):
        rows, classes = shape
        y_true = one_hot(rng, rows, classes)
        y_pred = rng.integers(0, classes, rows) if sparse_pred else rng.uniform(size=(rows, classes)).astype(np.float32)
        if transposed:
            y_true, y_pred = y_true.T, y_pred.T
        return {"y_true": y_true, "y_pred": y_pred}

    return draw


def draw_ids_and_scores(rng, shape):
    rows, classes = shape
    return {"y_true": rng.integers(0, classes, rows), "y_pred": rng.uniform(size=(rows, classes)).astype(np.float32)}


def draw_dense_3d(rng, shape):
    rows, classes = shape
    return {"y_true": one_hot(rng, rows, classes).reshape(rows, 1, classes),
            "y_pred": rng.uniform(size=(rows, 1, classes))}


def iou_case(id, make, oracle, draw, layouts):
    return Case(id, make, oracle, layouts=layouts, draw=draw)


def ids(key):
    return lambda b: truncated(b[key])


IOU_CASES = [
    iou_case("IoU", lambda d: gpumetrics.IoU(num_classes=4, target_class_ids=[0, 2], device=d),
             iou_oracle(4, [0, 2], ids("y_true"), ids("y_pred")), draw_ids(4, fractional=True),
             ("binary", "binary_column")),
    iou_case("IoU-one-target-repeated", lambda d: gpumetrics.IoU(3, [1, 1, 2], device=d),
             iou_oracle(3, [1, 1, 2], ids("y_true"), ids("y_pred")), draw_ids(3), ("binary",)),
    iou_case("IoU-sparse_y_pred-False", lambda d: gpumetrics.IoU(4, [1, 3], sparse_y_pred=False, device=d),
             iou_oracle(4, [1, 3], ids("y_true"), lambda b: argmaxed(b["y_pred"])), draw_ids_and_scores,
             ("multiclass",)),
    iou_case("MeanIoU", lambda d: gpumetrics.MeanIoU(3, device=d),
             iou_oracle(3, range(3), ids("y_true"), ids("y_pred")), draw_ids(3), ("binary", "binary_column")),
    iou_case("MeanIoU-ignore_class", lambda d: gpumetrics.MeanIoU(3, ignore_class=1, device=d),
             iou_oracle(3, range(3), ids("y_true"), ids("y_pred"), ignore_class=1), draw_ids(3, void=255),
             ("binary",)),
    iou_case("MeanIoU-dense-3d", lambda d: gpumetrics.MeanIoU(4, sparse_y_true=False, sparse_y_pred=False, device=d),
             iou_oracle(4, range(4), lambda b: argmaxed(b["y_true"]), lambda b: argmaxed(b["y_pred"])),
             draw_dense_3d, ("multiclass",)),
    iou_case("BinaryIoU", lambda d: gpumetrics.BinaryIoU(device=d),
             iou_oracle(2, [0, 1], ids("y_true"), lambda b: (np.asarray(b["y_pred"]).reshape(-1) >= 0.5) * 1),
             draw_binary, ("binary", "binary_column")),
    iou_case("BinaryIoU-class-1-threshold", lambda d: gpumetrics.BinaryIoU(target_class_ids=[1], threshold=0.25,
                                                                           device=d),
             iou_oracle(2, [1], ids("y_true"),
                        lambda b: (np.asarray(b["y_pred"], np.float64).reshape(-1) >= 0.25) * 1),
             draw_binary, ("binary",)),
    iou_case("OneHotIoU", lambda d: gpumetrics.OneHotIoU(4, [0, 3], device=d),
             iou_oracle(4, [0, 3], lambda b: argmaxed(b["y_true"]), lambda b: argmaxed(b["y_pred"])),
             draw_one_hot(), ("multiclass",)),
    iou_case("OneHotIoU-axis-0", lambda d: gpumetrics.OneHotIoU(4, [1, 2], axis=0, device=d),
             iou_oracle(4, [1, 2], lambda b: argmaxed(b["y_true"], 0), lambda b: argmaxed(b["y_pred"], 0)),
             draw_one_hot(transposed=True), ("multiclass",)),
    iou_case("OneHotMeanIoU", lambda d: gpumetrics.OneHotMeanIoU(4, device=d),
             iou_oracle(4, range(4), lambda b: argmaxed(b["y_true"]), lambda b: argmaxed(b["y_pred"])),
             draw_one_hot(), ("multiclass",)),
    iou_case("OneHotMeanIoU-sparse_y_pred-ignore_class",
             lambda d: gpumetrics.OneHotMeanIoU(4, ignore_class=2, sparse_y_pred=True, device=d),
             iou_oracle(4, range(4), lambda b: argmaxed(b["y_true"]), ids("y_pred"), ignore_class=2),
             draw_one_hot(sparse_pred=True), ("multiclass",)),
]
