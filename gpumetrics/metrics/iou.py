"""Keras 3's IoU family on one fused ``weighted_bincount`` pass into a (C, C) confusion matrix.

Every metric keeps one state, ``total_confusion_matrix[t, p]``: the summed
weight of the samples with true class ``t`` predicted as ``p``. A batch is
turned into rows on the host from shapes alone (class ids as one column, or
score rows whose argmax is the class, or scores compared with a threshold) and
one ``weighted_bincount`` pass adds it into the state; ids outside
``[0, num_classes)`` and the true class ``ignore_class`` are dropped by the
kernel. ``result()`` is O(C) on the device: per class ``IoU = TP / (TP + FP +
FN)``, the mean over ``target_class_ids`` of the classes that occur at all
(denominator > 1e-9, or NaN), with Keras's epsilon in both divisions.

Differences from Keras, all deliberate:

* Keras's default state dtype is ``"int"``: float weights are truncated (with
  a warning). The state here is float64, so float weights count exactly;
  results agree with Keras whenever the weights are integers.
* ``result()`` is returned in float32 unless ``dtype`` names a floating-point
  type (Keras returns float32 whatever ``dtype`` is); ``get_config()["dtype"]``
  is Keras's (``"int32"`` by default), so configs travel both ways.
* A NaN or inf weight reaches its cell of the matrix, and a class whose
  ``TP + FP + FN`` is then NaN gives a NaN result (Keras 3's current
  ``result()`` counts such a class as absent and returns a finite value).
* Inputs reduced by argmax (``sparse_y_true=False`` / ``sparse_y_pred=False``)
  must have exactly ``num_classes`` scores along ``axis`` (Keras silently drops
  the argmaxes beyond ``num_classes``); anything else raises ``ValueError``.
"""
import numpy as np

from .._arguments import INT64_MAX, INT64_MIN, MAX_NUM_CLASSES, check_axis, check_dtype, check_int, check_real
from .._kernels.weighted_bincount.rules import RULES
from .._validation import broadcast, check_not_empty
from ..metric import Metric
from ..registry import register
from ._passes import MatrixPass
from ._keras_rules import EPSILON  # added to both denominators of ``result()``
from ._groups import add_dropped_state, check_grouped, check_num_groups, check_plot_group, count_dropped, \
    group_axis, mean_of_results, pass_groups, with_num_groups
from .ratios import overflow_to_nan

#: the named row rules of ``weighted_bincount`` (its ``rules`` module imports no Numba).
_VALUE, _ARGMAX, _THRESHOLD = RULES["value"], RULES["argmax"], RULES["threshold"]


def _keras_dtype(dtype):
    """The dtype as Keras's ``get_config`` shows it: None and ``"int"`` are Keras's IoU default, ``"int32"``."""
    if dtype is None or (isinstance(dtype, str) and dtype == "int"):
        return "int32"
    return check_dtype(dtype, extra=("int32", "int64"))


def _check_num_classes(num_classes):
    """The state is a float64 ``num_classes x num_classes`` matrix, so at most ``MAX_NUM_CLASSES`` classes."""
    return check_int(num_classes, "num_classes", 1, MAX_NUM_CLASSES, rule=f">= 1 and <= {MAX_NUM_CLASSES}")


def _check_target_class_ids(target_class_ids, num_classes):
    """Keras's check (the largest id below ``num_classes``), and negative ids, which Keras would wrap around."""
    if isinstance(target_class_ids, (str, bytes)) or not hasattr(target_class_ids, "__iter__"):
        raise TypeError(f"target_class_ids must be a sequence of class ids; got {target_class_ids!r}")
    ids = list(target_class_ids)
    if not ids:
        raise ValueError("target_class_ids must hold at least one class id; got an empty sequence")
    if any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) for i in ids):
        raise ValueError(f"target_class_ids must be integers; got {target_class_ids!r}")
    for bad in (max(ids), min(ids)):
        if not 0 <= bad < num_classes:
            raise ValueError(f"Target class id {bad} is out of range, which is [0, {num_classes}).")
    return [int(i) for i in ids]


class _IoUBase(Metric):
    """The confusion-matrix state, the fused update and the IoU formula shared by the family."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1, *, device="auto", num_groups=None):
        num_classes = _check_num_classes(num_classes)
        target_class_ids = _check_target_class_ids(target_class_ids, num_classes)
        keras_dtype = _keras_dtype(dtype)
        super().__init__(name=name, dtype=keras_dtype if np.dtype(keras_dtype).kind == "f" else "float32",
                         device=device)
        self.num_groups = check_num_groups(num_groups)
        self._keras_dtype = keras_dtype
        self.num_classes = num_classes
        self.target_class_ids = target_class_ids
        self.ignore_class = check_int(ignore_class, "ignore_class", INT64_MIN, INT64_MAX, optional=True)
        self.sparse_y_true = bool(sparse_y_true)
        self.sparse_y_pred = bool(sparse_y_pred)
        self.axis = check_axis(axis)
        shape = group_axis(self.num_groups) + (num_classes, num_classes)  # (G, C, C) grouped
        self.total_cm = self.add_state("total_confusion_matrix", shape)
        add_dropped_state(self)

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        """Add one batch into the confusion matrix.

        Args:
            y_true: class ids (any shape, flattened), or, with
                ``sparse_y_true=False``, scores with ``num_classes`` entries
                along ``axis`` (their argmax is the class).
            y_pred: the same for the predictions (``sparse_y_pred``).
            sample_weight: None, a scalar, or one weight per class id; weights
                of rank > 1 are flattened first, as in Keras.
            group_ids: with ``num_groups``, one group id per sample
                (``y_pred.shape[0]``): every class id of a sample counts in its
                group's matrix.
        """
        self._accumulate(y_true, y_pred, sample_weight, group_ids=group_ids)

    def _row_threshold(self):
        """The threshold a prediction is compared with (``BinaryIoU``), or None when ``y_pred`` holds classes."""
        return None

    def _accumulate(self, y_true, y_pred, sample_weight, group_ids=None):
        """Validate the batch on the host (shapes and dtypes only), then one ``weighted_bincount`` pass; grouped,
        every class id of a sample into the sample's group."""
        inputs = self.pass_inputs(y_true, y_pred, sample_weight)
        groups = pass_groups(self, y_pred, group_ids, inputs[0].shape[0])
        count_dropped(self, groups.samples, groups.unchecked)
        self.launch_pass(inputs, self.total_cm.writable(), groups.rows)

    def pass_inputs(self, y_true, y_pred, sample_weight):
        """The checked batch as ``weighted_bincount``'s leading arguments (rows, rows, weight, rules)."""
        threshold = self._row_threshold()
        y_true = self._import(y_true, "y_true")
        y_pred = self._import(y_pred, "y_pred")
        check_not_empty(y_true.shape, "y_true")
        check_not_empty(y_pred.shape, "y_pred")
        true_rows, true_rule = self._rows(y_true, "y_true", self.sparse_y_true)
        if threshold is None:
            pred_rows, pred_rule = self._rows(y_pred, "y_pred", self.sparse_y_pred)
        else:
            pred_rows, pred_rule = y_pred.reshape(-1, 1), _THRESHOLD
        count = true_rows.shape[0]
        if pred_rows.shape[0] != count:
            raise ValueError(f"y_true of shape {y_true.shape} gives {count} class ids and y_pred of shape "
                             f"{y_pred.shape} gives {pred_rows.shape[0]}; they must give the same number")
        weight = self._weights(sample_weight, count, y_true.shape)
        return true_rows, pred_rows, weight, true_rule, pred_rule

    def launch_pass(self, inputs, out, group_ids=None):
        """One ``weighted_bincount`` pass of ``pass_inputs``'s batch into the ``(C, C)`` matrix ``out`` (``(G, C,
        C)`` with ``group_ids``, one per row)."""
        threshold = self._row_threshold()
        self.backend.weighted_bincount(*inputs, 0.0 if threshold is None else threshold,
                                       -1 if self.ignore_class is None else self.ignore_class, out,
                                       group_ids=group_ids)

    # -- sharing one pass in a MetricCollection (gpumetrics/metrics/_passes.py) ----------------------------------
    def pass_spec(self):
        """This metric's pass as ``MetricCollection`` groups it: equal keys count the same matrix."""
        return MatrixPass(("weighted_bincount", self.num_classes, self.ignore_class, self.sparse_y_true,
                           self.sparse_y_pred, self.axis, self._row_threshold(), self.num_groups))

    def join_pass(self, y_pred):
        """Place this metric where another member's checked rows ``y_pred`` live, before it is fed their matrix."""
        self._import(y_pred, "y_pred")

    def add_matrix(self, matrix):
        """Add a batch's ``(C, C)`` confusion matrix."""
        array = self.total_cm.writable()
        array += matrix

    def _rows(self, x, name, sparse):
        """``x`` as the 2-D rows the kernel reads: one id per row, or ``num_classes`` scores per row."""
        if sparse:
            return x.reshape(-1, 1), _VALUE
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"axis={self.axis} is out of range for {name} of shape {x.shape} "
                             f"(sparse_{name}=False takes the argmax over that axis)")
        axis = self.axis % x.ndim
        if axis == 0 and x.ndim > 1 and self.num_groups is not None:
            raise ValueError(f"{self.name} has num_groups={self.num_groups}: axis={self.axis} puts the class scores "
                             f"of {name} (shape {tuple(x.shape)}) on the sample axis, so no sample has a class of its "
                             f"own to put in a group")
        if x.shape[axis] != self.num_classes:
            raise ValueError(f"{name} of shape {x.shape} has {x.shape[axis]} class scores along axis {self.axis}; "
                             f"sparse_{name}=False needs num_classes={self.num_classes} of them")
        if axis != x.ndim - 1:
            x = self.xp.moveaxis(x, axis, -1)
        return x.reshape(-1, self.num_classes), _ARGMAX

    def _weights(self, sample_weight, count, true_shape):
        """Keras's rule: weights of rank > 1 are flattened, then broadcast to the ``count`` class ids."""
        if sample_weight is None:
            return None
        weight = self._import(sample_weight, "sample_weight")
        flat = weight.reshape(-1) if weight.ndim > 1 else weight
        if flat.ndim == 1 and flat.shape[0] not in (1, count):
            raise ValueError(f"sample_weight of shape {weight.shape} does not broadcast to the {count} class ids of "
                             f"y_true of shape {true_shape} (weights of rank > 1 are flattened first)")
        return broadcast(self.xp, flat, (count,))

    def result(self):
        """The mean IoU over ``target_class_ids`` (repeats count twice), over the classes that occur at all; grouped,
        one per group (``(G,)``)."""
        xp = self.xp
        matrix = self.total_cm.value
        true_positives = xp.diagonal(matrix, axis1=-2, axis2=-1)
        denominator = matrix.sum(axis=-2) + matrix.sum(axis=-1) - true_positives
        times = self.device_constant("target_class_times", np.bincount(self.target_class_ids,
                                                                        minlength=self.num_classes))
        # Keras's rule (a class counts when its denominator > 1e-9), except that a NaN denominator (a NaN or
        # inf weight reached the class's row or column) counts, so the NaN propagates to the result.
        # classes outside target_class_ids (times 0) are left out, so a NaN there does not reach the mean.
        # A denominator past 1.8e308 is inf: that class's IoU is NaN, not TP / inf = 0.
        valid = ((denominator > 1e-9) | xp.isnan(denominator)) & (times > 0)
        iou = xp.where(valid, overflow_to_nan(xp, true_positives / (denominator + EPSILON), denominator), 0.0)
        return xp.asarray(xp.sum(iou * times, axis=-1) / (xp.sum(valid * times, axis=-1) + EPSILON), dtype=self.dtype)

    def grouped_mean(self, weighting="samples"):
        """The mean of the per-group ``result()`` across the groups with any weight in their matrix, in ``dtype``:
        weighted by each group's total weight (``"samples"``) or by 1 (``"uniform"``); NaN when no group has any."""
        check_grouped(self)
        weights = self.total_cm.value.sum(axis=(1, 2))
        return mean_of_results(self, weights, weights != 0, weighting)

    def plot(self, ax=None, group=None):
        """Draw the confusion matrix (rows: true class) as a heat map on ``ax`` or a new figure; returns
        ``(figure, axes)``. A grouped metric draws one group's matrix: ``group=g``. Needs matplotlib
        (``pip install gpumetrics[plot]``)."""
        from .. import plot

        return plot.plot_confusion_matrix(self, ax, group=check_plot_group(self, group))

    def get_config(self):
        config = {"name": self.name, "dtype": self._keras_dtype}
        return with_num_groups(config, self.num_groups)


@register()
class IoU(_IoUBase):
    """Intersection-over-union of the ``target_class_ids``, averaged, as ``keras.metrics.IoU``.

    Per class, ``IoU = TP / (TP + FP + FN)`` from the accumulated confusion
    matrix; the result is the mean over ``target_class_ids`` of the classes
    that occur in ``y_true`` or ``y_pred`` (absent classes count neither way).
    Class ids are truncated toward zero; ids outside ``[0, num_classes)`` are
    dropped. Float sample weights are kept exactly (Keras's default integer
    state truncates them): results agree with Keras whenever weights are integers.

    Args:
        num_classes: the number of classes; the state is ``(num_classes, num_classes)``.
        target_class_ids: the class ids whose IoU is averaged (one id: that class's IoU).
        name: the metric's name (default ``"io_u"``).
        dtype: Keras's state dtype, kept for the config (default ``"int32"``);
            ``result()`` is float32 unless this names a floating-point type.
        ignore_class: a true class id whose samples are dropped (e.g. a "void"
            class, 255 or -1), or None.
        sparse_y_true: False: ``y_true`` holds scores, their argmax over ``axis``
            is the class.
        sparse_y_pred: the same for ``y_pred``.
        axis: the class axis of non-sparse inputs (default -1).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    >>> m = IoU(num_classes=2, target_class_ids=[0])
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1])  # class 0: TP 1, FP 1, FN 1
    >>> round(float(m.result()), 4)
    0.3333
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1, *, device="auto", num_groups=None):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis, device=device,
                         num_groups=num_groups)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


@register()
class BinaryIoU(IoU):
    """IoU of class 0 and / or 1 after thresholding the predictions, as ``keras.metrics.BinaryIoU``.

    A prediction is class 1 when ``y_pred >= threshold`` (note: ``>=``; NaN is
    class 0), class 0 otherwise; ``y_true`` is truncated to an integer class id
    (ids other than 0 and 1 are dropped). Float sample weights are kept exactly:
    results agree with Keras whenever weights are integers.

    Args:
        target_class_ids: ``[0]``, ``[1]`` or ``[0, 1]`` (default): the classes whose IoU is averaged.
        threshold: the prediction threshold (default 0.5), compared exactly in
            float64 (Keras compares in float32).
        name: the metric's name (default ``"binary_io_u"``).
        dtype: as for :class:`IoU`.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    >>> m = BinaryIoU(target_class_ids=[0, 1], threshold=0.3)
    >>> m.update_state([0, 1, 0, 1], [0.1, 0.2, 0.4, 0.7])  # predicted [0, 0, 1, 1]
    >>> round(float(m.result()), 4)
    0.3333
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        check_real(threshold, "threshold")
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype, device=device,
                         num_groups=num_groups)
        self.threshold = threshold

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        """Add one batch: ``y_true`` class ids, ``y_pred`` scores (any shapes, flattened), optional weights, and
        with ``num_groups`` one group id per sample (``y_pred.shape[0]``)."""
        self._accumulate(y_true, y_pred, sample_weight, group_ids)

    def _row_threshold(self):
        return float(self.threshold)

    def get_config(self):
        config = {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                  "dtype": self._keras_dtype}
        return with_num_groups(config, self.num_groups)


@register()
class MeanIoU(IoU):
    """The mean IoU over all ``num_classes`` classes, as ``keras.metrics.MeanIoU``.

    Classes that occur in neither ``y_true`` nor ``y_pred`` are left out of
    the mean. Float sample weights are kept exactly: results agree with Keras
    whenever weights are integers.

    Args:
        num_classes: the number of classes.
        name: the metric's name (default ``"mean_io_u"``).
        dtype: as for :class:`IoU`.
        ignore_class: a true class id whose samples are dropped, or None.
        sparse_y_true: False: ``y_true`` holds scores (argmax over ``axis``).
        sparse_y_pred: False: ``y_pred`` holds scores (argmax over ``axis``).
        axis: the class axis of non-sparse inputs (default -1).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    >>> m = MeanIoU(num_classes=2)
    >>> m.update_state([0, 0, 1, 1], [0, 1, 0, 1], sample_weight=[0.3, 0.3, 0.3, 0.1])
    >>> round(float(m.result()), 4)  # (0.3 / 0.9 + 0.1 / 0.7) / 2
    0.2381
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True, sparse_y_pred=True,
                 axis=-1, *, device="auto", num_groups=None):
        num_classes = _check_num_classes(num_classes)
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis, device=device,
                         num_groups=num_groups)

    def get_config(self):
        config = {"num_classes": self.num_classes, "name": self.name, "dtype": self._keras_dtype,
                  "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                  "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
        return with_num_groups(config, self.num_groups)


@register()
class OneHotIoU(IoU):
    """:class:`IoU` for one-hot labels, as ``keras.metrics.OneHotIoU``.

    ``y_true`` (and by default ``y_pred``) holds ``num_classes`` scores along
    ``axis``; the argmax (the first on ties) is the class.

    Args:
        num_classes: the number of classes (the length of ``axis``).
        target_class_ids: the class ids whose IoU is averaged.
        name: the metric's name (default ``"one_hot_io_u"``).
        dtype: as for :class:`IoU`.
        ignore_class: a true class id whose samples are dropped, or None.
        sparse_y_pred: True: ``y_pred`` holds class ids rather than scores.
        axis: the class axis (default -1).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    >>> y_true = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]]
    >>> y_pred = [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]
    >>> m = OneHotIoU(num_classes=3, target_class_ids=[0, 2])
    >>> m.update_state(y_true, y_pred, sample_weight=[0.1, 0.2, 0.3, 0.4])
    >>> round(float(m.result()), 4)  # (0 / 0.9 + 0.1 / 0.7) / 2
    0.0714
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None, sparse_y_pred=False,
                 axis=-1, *, device="auto", num_groups=None):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis, device=device,
                         num_groups=num_groups)

    def get_config(self):
        config = {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids, "name": self.name,
                  "dtype": self._keras_dtype, "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                  "axis": self.axis}
        return with_num_groups(config, self.num_groups)


@register()
class OneHotMeanIoU(MeanIoU):
    """:class:`MeanIoU` for one-hot labels, as ``keras.metrics.OneHotMeanIoU``.

    ``y_true`` (and by default ``y_pred``) holds ``num_classes`` scores along
    ``axis``; the argmax (the first on ties) is the class.

    Args:
        num_classes: the number of classes (the length of ``axis``).
        name: the metric's name (default ``"one_hot_mean_io_u"``).
        dtype: as for :class:`IoU`.
        ignore_class: a true class id whose samples are dropped, or None.
        sparse_y_pred: True: ``y_pred`` holds class ids rather than scores.
        axis: the class axis (default -1).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.

    >>> y_true = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [1, 0, 0]]
    >>> y_pred = [[0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.5, 0.3, 0.1], [0.1, 0.4, 0.5]]
    >>> m = OneHotMeanIoU(num_classes=3)
    >>> m.update_state(y_true, y_pred, sample_weight=[0.1, 0.2, 0.3, 0.4])
    >>> round(float(m.result()), 4)  # (0 + 0 + 0.1 / 0.7) / 3
    0.0476
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1, *,
                 device="auto", num_groups=None):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis, device=device,
                         num_groups=num_groups)

    def get_config(self):
        config = {"num_classes": self.num_classes, "name": self.name, "dtype": self._keras_dtype,
                  "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}
        return with_num_groups(config, self.num_groups)
