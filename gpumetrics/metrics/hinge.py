"""Hinge metrics on the fused passes, and Keras's per-sample hinge functions.

Keras maps labels 0/1 to -1/1 when a batch holds no other label. That is a
property of the whole batch, so the fused form first counts the batch's other
labels with one ``error_sums`` pass into a scratch value on the device, and
the hinge pass reads that count as its parameter: no host sync. A grouped
metric's "batch" is each group's rows: the count is per group, and each row's
labels are mapped on the device before the pass.
"""
from .._kernels.error_sums.rules import KINDS as ERROR_KINDS
from ..registry import register
from ._fused_passes import Elementwise, Rowwise, add_sums
from ._keras_rules import aligned_pair
from ._mean import KerasMeanMetric, fused


def _hinge_labels(xp, y_true):
    """Keras's ``convert_binary_labels_to_hinge``: 0/1 labels become -1/1 when the batch has no other label."""
    binary = xp.all((y_true == 0) | (y_true == 1))
    return xp.where(binary, 2.0 * y_true - 1.0, y_true)


def _count_other_labels(metric, batch):
    """The hinge pass's batch and parameter: the labels other than 0 and 1, counted on the device.

    Ungrouped, the count goes into this metric's scratch value, which the kernel reads. Grouped, it is counted
    per group (a device temporary); the rows of groups with no other label get ``2 t - 1`` on the device, and
    the kernel is told the labels are mapped already (a count of 1)."""
    labels = batch._replace(y_pred=batch.y_true, weight=None, total_scale=1.0, weight_scale=1.0)
    if batch.ids is None:
        count = metric.device_constant("hinge_other_labels", [0.0])
        count[...] = 0.0
        add_sums(metric, ERROR_KINDS["non_binary"], labels, count, None)
        return batch, count
    xp = metric.xp
    counts = xp.zeros(metric.num_groups, dtype=xp.float64)
    add_sums(metric, ERROR_KINDS["non_binary"], labels, counts, None)
    # device ids out of range are dropped by the pass; widened first: CuPy 14 (NEP 50) packs the Python int bound
    # into the ids' own dtype and raises OverflowError for uint8 / int8 / int16 ids beside a G past their range
    in_range = xp.clip(batch.ids.astype(xp.int64, copy=False), 0, metric.num_groups - 1)
    binary = (counts[in_range] == 0.0)[:, None]
    y_true = xp.where(binary, 2.0 * batch.y_true - 1.0, batch.y_true)
    return batch._replace(y_true=y_true), metric.device_constant("hinge_labels_mapped", [1.0])


@fused(Elementwise("hinge", device_params=_count_other_labels))
def hinge(y_true, y_pred):
    """Per-sample ``mean(maximum(1 - y_true * y_pred, 0), axis=-1)``, as ``keras.metrics.hinge``.

    >>> hinge([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])  # Python floats are read as float32, as in Keras
    array([1.1, 1.5], dtype=float32)
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    return xp.mean(xp.maximum(1.0 - _hinge_labels(xp, y_true) * y_pred, 0.0), axis=-1)


@fused(Elementwise("squared_hinge", device_params=_count_other_labels))
def squared_hinge(y_true, y_pred):
    """Per-sample ``mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)``, as ``keras.metrics.squared_hinge``."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    return xp.mean(xp.square(xp.maximum(1.0 - _hinge_labels(xp, y_true) * y_pred, 0.0)), axis=-1)


@fused(Rowwise("categorical_hinge"))
def categorical_hinge(y_true, y_pred):
    """Per-sample ``maximum(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0)`` over the last axis.

    >>> categorical_hinge([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    array([1.2, 1.6], dtype=float32)
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    positive = xp.sum(y_true * y_pred, axis=-1)
    negative = xp.max((1.0 - y_true) * y_pred, axis=-1)
    return xp.maximum(negative - positive + 1.0, 0.0)


@register()
class Hinge(KerasMeanMetric):
    """Mean hinge loss over samples, as ``keras.metrics.Hinge``.

    >>> m = Hinge()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(m.result()), 4)
    1.3
    """

    per_sample = staticmethod(hinge)

    def __init__(self, name="hinge", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class SquaredHinge(KerasMeanMetric):
    """Mean squared hinge loss over samples, as ``keras.metrics.SquaredHinge``.

    >>> m = SquaredHinge()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(m.result()), 4)
    1.86
    """

    per_sample = staticmethod(squared_hinge)

    def __init__(self, name="squared_hinge", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class CategoricalHinge(KerasMeanMetric):
    """Mean categorical hinge loss over samples, as ``keras.metrics.CategoricalHinge``.

    >>> m = CategoricalHinge()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(m.result()), 4)
    1.4
    """

    per_sample = staticmethod(categorical_hinge)

    def __init__(self, name="categorical_hinge", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)
