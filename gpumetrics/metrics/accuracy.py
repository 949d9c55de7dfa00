"""Accuracy metrics on the fused passes (top-k as one pass over each score row, no sort), and Keras's per-sample
accuracy functions.

Labels are compared exactly once cast to ``y_pred``'s dtype, as Keras casts
them: a float64 label 0.1 equals a float32 prediction 0.1, a label 2.7 equals
an integer prediction 2 (truncation). Top-k counts ties as hits (a class is in
the top k when fewer than k scores exceed its own), as TensorFlow's and JAX's
``in_top_k`` do.
"""
import math

import numpy as np

from .._arguments import CHECK_K, check_real, keyword_checks
from .._interop import any_array
from .._kernels._shared.label_cast import CAST_NONE, cast_code
from .._validation import squeeze_or_expand
from ..registry import register
from ._fused_passes import Elementwise, Rowwise, check_grouped_batch, elementwise_batch, imported_pair, \
    sample_count
from ._groups import with_num_groups
from ._keras_rules import aligned_pair, half_precision, labels_in_half_precision
from ._mean import KerasMeanMetric, fused
from ._passes import HistogramPass


def _label_cast(y_true, y_pred):
    """How labels compare with ``y_pred`` once cast to its dtype: bool labels and integer labels that ``y_pred``'s
    dtype holds exactly need no cast, except to bool (a label of 2 is True); int32 / int64 labels beside float32
    predictions are rounded to float32 (2**24 + 1 equals a float32 2**24, as in Keras); beside integer ``y_pred``
    the pass has cast them already (``keras_label_cast``)."""
    if y_true.dtype.kind == "b" or (y_true.dtype.kind in "iu" and y_pred.dtype.kind != "b" and (
            y_pred.dtype.kind != "f" or np.can_cast(y_true.dtype, y_pred.dtype, "safe"))):
        return CAST_NONE
    return cast_code(y_pred.dtype)


def _equal_kind(y_true, y_pred):
    """The exact comparison alone when the labels need no cast (the common case: integer labels)."""
    return "equal" if _label_cast(y_true, y_pred) == CAST_NONE else "equal_cast"


def _equal_params(y_true, y_pred, **_):
    """``equal`` takes no parameters; ``equal_cast`` the cast."""
    code = _label_cast(y_true, y_pred)
    return {} if code == CAST_NONE else {"cast": code}


def _sparse_match_params(y_true, y_pred, **_):
    return {"sparse": 1.0, "cast": _label_cast(y_true, y_pred)}


def _binary_accuracy_params(y_true, y_pred, threshold=0.5):
    """The threshold as Keras compares in float32."""
    return {"threshold": np.float32(threshold)}


def _one_hot_match_params(y_true, y_pred):
    return {"sparse": 0.0, "cast": CAST_NONE}


def _top_k_params(y_true, y_pred, k=5):
    return {"k": k, "sparse": 0.0}


def _sparse_top_k_kind(k=5, from_sorted_ids=False):
    return "sorted_ids_hit" if from_sorted_ids else "in_top_k"


def _sorted_ids(k=5, from_sorted_ids=False):
    """Sorted ids are compared with labels cast to ``y_pred``'s dtype; class ids are read as integers."""
    return from_sorted_ids


def _sparse_top_k_params(y_true, y_pred, k=5, from_sorted_ids=False):
    """``sorted_ids_hit`` compares labels cast to ``y_pred``'s dtype; ``in_top_k`` reads them as class ids."""
    return {"k": k, "cast": cast_code(y_pred.dtype)} if from_sorted_ids else {"k": k, "sparse": 1.0}


@fused(Elementwise(_equal_kind, _equal_params, last_axis=None, half_labels=True))
def accuracy(y_true, y_pred):
    """Per-element ``y_true == y_pred`` (1.0 or 0.0), ``y_true`` cast to ``y_pred``'s dtype, as Keras's ``accuracy``.

    >>> accuracy([[1, 2], [3, 4]], [[1, 0], [3, 4]]).tolist()
    [[1.0, 0.0], [1.0, 1.0]]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    return (y_true == y_pred).astype(np.float32)


@fused(Elementwise("binary_accuracy", _binary_accuracy_params, last_axis=None, keras_cast=False))
@keyword_checks(threshold=check_real)
def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Per-element ``y_true == (y_pred > threshold)`` (1.0 or 0.0), as ``keras.metrics.binary_accuracy``.

    >>> binary_accuracy([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]]).tolist()
    [[1.0], [1.0], [1.0], [0.0]]
    """
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
    predicted = (y_pred.reshape(pred_shape) > np.float32(threshold)).astype(y_true.dtype)
    return (y_true.reshape(true_shape) == predicted).astype(np.float32)


@fused(Rowwise("argmax_match", _one_hot_match_params, keras_cast=False))
def categorical_accuracy(y_true, y_pred):
    """Per-sample ``argmax(y_true) == argmax(y_pred)`` over the last axis, as ``keras.metrics.categorical_accuracy``.

    >>> categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]]).tolist()
    [0.0, 1.0]
    """
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    return (xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1)).astype(np.float32)


def _sparse_labels(y_true, y_pred):
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        return y_true[..., 0]
    return y_true


@fused(Rowwise("argmax_match", _sparse_match_params, sparse=True, half_labels=True))
def sparse_categorical_accuracy(y_true, y_pred):
    """Per-sample ``y_true == argmax(y_pred)`` for class ids ``y_true``, as
    ``keras.metrics.sparse_categorical_accuracy``.

    >>> sparse_categorical_accuracy([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]]).tolist()
    [0.0, 1.0]
    """
    half = half_precision(y_pred)  # bfloat16 scores are read as float32: their labels are rounded first
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    labels = _sparse_labels(y_true, y_pred)
    if half is not None:
        labels = labels_in_half_precision(xp, labels, half)
    return (labels.astype(y_pred.dtype) == xp.argmax(y_pred, axis=-1)).astype(np.float32)


def _in_top_k(xp, y_pred, labels, k):
    classes = y_pred.shape[-1]
    valid = (labels > -1) & (labels < classes)
    ids = xp.where(valid, labels, 0).astype(xp.int64)[..., None]
    target = xp.take_along_axis(y_pred, ids, axis=-1)
    target = xp.where(xp.isnan(target), -xp.inf, target)
    return (valid & (xp.sum(y_pred > target, axis=-1) < k)).astype(np.float32)


@fused(Rowwise("in_top_k", _top_k_params, keras_cast=False, half_labels=True))
@keyword_checks(k=CHECK_K)
def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Per-sample: is ``argmax(y_true)`` among the ``k`` largest scores (ties count), as
    ``keras.metrics.top_k_categorical_accuracy``.

    >>> top_k_categorical_accuracy([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=1).tolist()
    [0.0, 1.0]
    """
    half = half_precision(y_pred)  # Keras casts y_true to y_pred's dtype before its argmax: ties in half precision
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    if half is not None:
        y_true = labels_in_half_precision(xp, y_true, half)
    return _in_top_k(xp, y_pred, xp.argmax(y_true, axis=-1), k)


@fused(Rowwise(_sparse_top_k_kind, _sparse_top_k_params, sparse=True, half_labels=_sorted_ids))
@keyword_checks(k=CHECK_K)
def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """Per-sample: is class id ``y_true`` among the ``k`` largest scores (ties count), or, with
    ``from_sorted_ids=True``, among the first ``k`` ids of ``y_pred``, as Keras's function of that name.

    >>> sparse_top_k_categorical_accuracy([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], k=2).tolist()
    [1.0, 1.0]
    """
    half = half_precision(y_pred) if from_sorted_ids else None  # as sparse_categorical_accuracy's
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    labels = _sparse_labels(y_true, y_pred)
    if half is not None:
        labels = labels_in_half_precision(xp, labels, half)
    if from_sorted_ids:
        return xp.any(labels.astype(y_pred.dtype)[..., None] == y_pred[..., :k], axis=-1).astype(np.float32)
    return _in_top_k(xp, y_pred, labels, k)


@register()
class Accuracy(KerasMeanMetric):
    """How often ``y_pred`` equals ``y_true`` (elementwise, weighted), as ``keras.metrics.Accuracy``.

    >>> m = Accuracy()
    >>> m.update_state([[1], [2], [3], [4]], [[0], [2], [3], [4]])
    >>> float(m.result())
    0.75
    """

    per_sample = staticmethod(accuracy)

    def __init__(self, name="accuracy", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class BinaryAccuracy(KerasMeanMetric):
    """How often ``y_pred > threshold`` matches the 0/1 label, as ``keras.metrics.BinaryAccuracy``.

    >>> m = BinaryAccuracy()
    >>> m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    >>> float(m.result())
    0.75
    """

    per_sample = staticmethod(binary_accuracy)

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, threshold=threshold)
        self.threshold = self._fn_kwargs["threshold"]

    # -- riding a threshold metric's histogram in a MetricCollection (gpumetrics/metrics/_passes.py) ---------------
    def pass_spec(self):
        """A rider of the histogram pass at the float32 threshold Keras compares with (None when that threshold is
        not finite: then its own pass)."""
        threshold = float(np.float32(self.threshold))
        if not math.isfinite(threshold):
            return None
        return HistogramPass.of("as_is", [threshold], False, {}, self.num_groups, exact_labels=True)

    def join_histogram_pass(self, y_true, y_pred, sample_weight):
        """Every host check of ``update_state`` but the group ids' (the leader checks those), no write:
        ``(total_scale, count_scale)``, what the batch's correct weight and weight, summed per element, are
        multiplied by before they are added (its own pass's scales; its count's per sample, so divided by the
        elements per row)."""
        y_true, y_pred = imported_pair(self, y_true, y_pred)
        batch = elementwise_batch(self, y_true, y_pred, sample_weight, None, "mean")
        if self.num_groups is not None:
            check_grouped_batch(self, batch, sample_count(y_pred))
        return batch.total_scale, batch.weight_scale / batch.y_pred.shape[1]

    def add_split_histograms(self, positive, negative, other, scales):
        """Add a batch from its ``(2, G)`` histograms at its threshold (below, above; one column per group, one
        ungrouped): correct = label 1 above it (positive less other) + label 0 at or below it; the count is every
        element's weight."""
        total_scale, count_scale = scales
        correct = positive[1] - other[1] + negative[0]
        weight = positive[0] + positive[1] + negative[0] + negative[1]
        self.total.writable()[...] += (total_scale * correct).reshape(self.total.shape)
        self.count.writable()[...] += (count_scale * weight).reshape(self.count.shape)


@register()
class CategoricalAccuracy(KerasMeanMetric):
    """How often the largest score is the one-hot label's class, as ``keras.metrics.CategoricalAccuracy``.

    >>> m = CategoricalAccuracy()
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    per_sample = staticmethod(categorical_accuracy)

    def __init__(self, name="categorical_accuracy", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class SparseCategoricalAccuracy(KerasMeanMetric):
    """How often the largest score is the class id in ``y_true``, as ``keras.metrics.SparseCategoricalAccuracy``.

    >>> m = SparseCategoricalAccuracy()
    >>> m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    per_sample = staticmethod(sparse_categorical_accuracy)

    def __init__(self, name="sparse_categorical_accuracy", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class TopKCategoricalAccuracy(KerasMeanMetric):
    """How often the one-hot label's class is among the ``k`` largest scores, as
    ``keras.metrics.TopKCategoricalAccuracy``.

    >>> m = TopKCategoricalAccuracy(k=1)
    >>> m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    per_sample = staticmethod(top_k_categorical_accuracy)

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, k=k)
        self.k = self._fn_kwargs["k"]


@register()
class SparseTopKCategoricalAccuracy(KerasMeanMetric):
    """How often the class id in ``y_true`` is among the ``k`` largest scores (or, with
    ``from_sorted_ids=True``, the first ``k`` ids of ``y_pred``), as ``keras.metrics.SparseTopKCategoricalAccuracy``.

    >>> m = SparseTopKCategoricalAccuracy(k=1)
    >>> m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]])
    >>> float(m.result())
    0.5
    """

    per_sample = staticmethod(sparse_top_k_categorical_accuracy)

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None, from_sorted_ids=False, *,
                 device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, k=k,
                         from_sorted_ids=from_sorted_ids)
        self.k = self._fn_kwargs["k"]
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype, "k": self.k}
        if self.from_sorted_ids:
            config["from_sorted_ids"] = True
        return with_num_groups(config, self.num_groups)
