"""How a per-sample function runs as one fused kernel pass into a mean metric's ``total`` and ``count``.

A per-sample function (``mean_squared_error``, ``categorical_crossentropy``,
...) carries a ``fused`` attribute: an :class:`Elementwise` form (the mean or
sum over the last axis of an ``error_sums`` kind) or a :class:`Rowwise` form
(a ``row_sums`` kind of each sample's class row). ``MeanMetricWrapper`` hands
its batches to that form, so every mean metric built on such a function, the
package's classes and a user's ``MeanMetricWrapper(fn, **kwargs)`` alike,
updates in one kernel pass. The per-sample function itself stays the plain
array expression Keras documents (it returns one value per sample).
"""
import numpy as np

from .._interop import any_array
from .._kernels.error_sums.rules import KINDS as ERROR_KINDS
from .._kernels.row_sums.rules import KINDS as ROW_KINDS
from .._validation import check_not_empty, plan_reduction, squeeze_or_expand
from .reduction import accumulate, weights_per_row

#: Keras's ``backend.epsilon()``.
EPSILON = 1e-7


def precision(dtype):
    """The float dtype Keras computes in for inputs of ``dtype``: their own if floating, else ``float32`` (floatx)."""
    return np.dtype(dtype) if np.dtype(dtype).kind == "f" else np.dtype(np.float32)


def epsilon_bounds(dtype):
    """``(eps, 1 - eps)`` rounded as Keras computes them in ``y_pred``'s precision (a clip bound of float32 inputs
    is ``float32(1) - float32(1e-7)``, not ``1 - 1e-7``).

    >>> epsilon_bounds(np.float64)
    (1e-07, 0.9999999)
    >>> epsilon_bounds(np.float32)[1] == float(np.float32(1) - np.float32(1e-7))
    True
    """
    dt = precision(dtype).type
    return float(dt(EPSILON)), float(dt(1) - dt(EPSILON))


def aligned_pair(y_true, y_pred):
    """Both inputs where they live, ``y_true`` cast to ``y_pred``'s dtype and rank-aligned (Keras's rule); for the
    per-sample functions, which return plain arrays."""
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
    return y_true.astype(y_pred.dtype, copy=False).reshape(true_shape), y_pred.reshape(pred_shape), xp


def device_params(metric, kind, named):
    """The parameters of ``kind`` given by name (``{"delta": 1.0}``), packed in the kind's order and copied to the
    metric's device once per distinct set of values; None for a kind without parameters."""
    values = kind.pack(**named)
    return metric.device_constant(("params",) + values, values) if values else None


class Elementwise:
    """The per-sample value is the mean (``last_axis="mean"``) or sum (``"sum"``) over the last axis of the
    ``error_sums`` kind ``kind``: a name, or ``kind(y_true, y_pred, **fn_kwargs)`` of the batch's views.

    ``params(y_true, y_pred, **fn_kwargs)``, when given, returns the kind's
    parameters by name (the names are declared in ``error_sums.rules.KINDS``);
    it runs after the batch has passed validation, on the ``(rows, cols)``
    views the kernel will read. ``device_params(metric, y_true, y_pred)``
    instead returns a parameter vector an earlier pass wrote on the device
    (hinge's count of labels other than 0 and 1), read by the kernel only.
    """

    def __init__(self, kind, params=None, last_axis="mean", device_params=None):
        self.kind = kind
        self.params = params
        self.device_params = device_params
        self.last_axis = last_axis

    def update(self, metric, y_true, y_pred, sample_weight, **fn_kwargs):
        def kind(t, p):
            return ERROR_KINDS[self.kind(t, p, **fn_kwargs) if callable(self.kind) else self.kind]

        def params(t, p, chosen):
            if self.device_params is not None:
                return self.device_params(metric, t, p)
            return device_params(metric, chosen, {} if self.params is None else self.params(t, p, **fn_kwargs))

        accumulate(metric, kind, y_true, y_pred, sample_weight, self.last_axis, "mean", metric.total, metric.count,
                   params=params)


class Rowwise:
    """The per-sample value is the ``row_sums`` kind ``kind`` (a name, or ``kind(**fn_kwargs)``) of each sample's
    row along ``axis`` (a keyword of the function, -1 by default); ``sparse`` when ``y_true`` holds class ids.

    ``params(y_true, y_pred, **fn_kwargs)``, when given, returns the kind's
    parameters by name (``{"k": 5, "sparse": 0.0}``; the names are declared in
    ``row_sums.rules.KINDS``); it runs after the batch has passed validation, on
    the ``(rows, cols)`` views the kernel will read. The values are packed in
    the kind's order and copied to the metric's device once per distinct set.

    ``ignored(**fn_kwargs)``, when given, names a label (or None) whose samples Keras masks: their value is 0,
    and when sample weights are given their weight is 0 too, so they leave the count as well (Keras applies the
    mask to sample weights only). The masked weights are one array of a weight per row, made on the device.
    """

    def __init__(self, kind, params=None, sparse=False, ignored=None):
        self.kind = kind
        self.params = params
        self.sparse = sparse
        self.ignored = ignored

    def update(self, metric, y_true, y_pred, sample_weight, **fn_kwargs):
        kind = ROW_KINDS[self.kind(**fn_kwargs) if callable(self.kind) else self.kind]
        y_true, y_pred, weight, plan = _row_batch(metric, y_true, y_pred, sample_weight, self.sparse,
                                                  fn_kwargs.get("axis", -1))
        group, weight_scale = plan.cols, plan.weight_scale
        ignored = None if self.ignored is None else self.ignored(**fn_kwargs)
        if ignored is not None and weight is not None:
            weight = metric.xp.repeat(weight, group) * (y_true[:, 0] != ignored)
            group, weight_scale = 1, weight_scale / group
        params = device_params(metric, kind, {} if self.params is None else self.params(y_true, y_pred, **fn_kwargs))
        metric.backend.sums(kind, y_true, y_pred, weight, metric.total.writable().reshape(1),
                            metric.count.writable().reshape(1), plan.total_scale, weight_scale, params, group)


def _row_batch(metric, y_true, y_pred, sample_weight, sparse, axis):
    """Keras's shape rules for class-row functions on the host: ``(R, C)`` / ``(R, 1)`` views, one weight per
    ``group`` rows, and the reduction plan of the per-sample values."""
    y_pred = metric._import(y_pred, "y_pred")
    y_true = metric._import(y_true, "y_true")
    check_not_empty(y_pred.shape, "y_pred")
    check_not_empty(y_true.shape, "y_true")
    if y_pred.ndim == 0:
        raise ValueError(f"{metric.name} needs y_pred with a class axis; got a scalar")
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(f"axis={axis} is out of range for y_pred of shape {y_pred.shape}")
    xp = metric.xp
    if axis % y_pred.ndim != y_pred.ndim - 1:
        y_pred = xp.moveaxis(y_pred, axis, -1)
        if not sparse:
            y_true = xp.moveaxis(y_true, axis, -1) if y_true.ndim == y_pred.ndim else y_true
    values_shape, classes = y_pred.shape[:-1], y_pred.shape[-1]
    if sparse:
        true_shape = y_true.shape[:-1] if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1 else y_true.shape
        if true_shape != values_shape:
            raise ValueError(f"y_true of shape {y_true.shape} must hold one class id per row of y_pred of shape "
                             f"{y_pred.shape} (shape {values_shape} or {values_shape + (1,)})")
    else:
        true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
        if true_shape != pred_shape or pred_shape != y_pred.shape:
            raise ValueError(f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} must match")
    weight = None if sample_weight is None else metric._import(sample_weight, "sample_weight")
    plan = plan_reduction(values_shape, len(values_shape), None if weight is None else weight.shape, "mean")
    rows = int(np.prod(values_shape))
    weight = weights_per_row(xp, weight, plan)
    return y_true.reshape(rows, 1 if sparse else classes), y_pred.reshape(rows, classes), weight, plan
