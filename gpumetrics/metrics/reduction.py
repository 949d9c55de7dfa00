"""``Sum``, ``Mean``, ``MeanMetricWrapper``, and the fused update every mean-style metric shares."""
import importlib

from .._kernels.error_sums.rules import KINDS as ERROR_KINDS
from .._validation import broadcast_shape, check_not_empty, plan_reduction, squeeze_or_expand
from ..metric import Metric
from ..registry import register


def weights_per_row(xp, weight, plan):
    """``sample_weight`` as one weight per row of ``plan`` (a broadcast view, flattened), or None."""
    if weight is None:
        return None
    return xp.broadcast_to(weight.reshape(plan.weight_shape), plan.weight_cells).reshape(plan.rows)


def accumulate(metric, kind, y_true, y_pred, sample_weight, last_axis, reduce, total, count=None, params=None,
               *, plain_values=False):
    """One batch of a mean-style metric: Keras's shape rules on the host, then one ``error_sums`` pass.

    ``kind`` names ``f(y_true, y_pred)`` (with ``plain_values=True``, for
    ``Mean`` / ``Sum``, there is no ``y_true``: pass None, ``y_pred`` holds the
    values and ``f`` sees them twice), or is ``kind(y_true, y_pred)`` of the views; ``last_axis`` says whether the per-sample value is the ``"mean"``
    (Keras's ``mean_squared_error`` and friends) or the ``"sum"``
    (``kl_divergence``) of ``f`` over the last axis, or ``None`` (each element
    is a value). Adds Keras's ``total`` (and ``count``) for the batch into the
    states. ``params(y_true, y_pred)``, if given, returns the kind's parameters
    on the device; it sees the ``(rows, cols)`` views once the batch is valid.
    """
    if plain_values and y_true is not None:
        raise TypeError("accumulate: plain_values=True takes no y_true")
    if not plain_values and y_true is None:  # before anything is imported or placed: a refused call changes nothing
        raise TypeError(f"{metric.name}: y_true is None; update_state needs y_true and y_pred "
                        f"(Mean / Sum take plain values)")
    y_pred = metric._import(y_pred, "values" if plain_values else "y_pred")
    check_not_empty(y_pred.shape, "values" if plain_values else "y_pred")
    if plain_values:
        y_true, true_shape = y_pred, y_pred.shape
        pred_shape = element_shape = y_pred.shape
    else:
        y_true = metric._import(y_true, "y_true")
        check_not_empty(y_true.shape, "y_true")
        true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
        element_shape = broadcast_shape(true_shape, pred_shape, "y_true", "y_pred")
    if last_axis and not element_shape:
        raise ValueError(f"{metric.name} reduces over the last axis; y_true and y_pred need at least one axis")
    weight = None if sample_weight is None else metric._import(sample_weight, "sample_weight")
    plan = plan_reduction(element_shape, len(element_shape) - bool(last_axis),
                          None if weight is None else weight.shape, reduce)
    xp = metric._xp

    def rows_by_cols(array, shape):
        if tuple(shape) != tuple(plan.element_shape):
            array = xp.broadcast_to(array.reshape(shape), plan.element_shape)
        return array.reshape(plan.rows, plan.cols)

    weight = weights_per_row(xp, weight, plan)
    y_true, y_pred = rows_by_cols(y_true, true_shape), rows_by_cols(y_pred, pred_shape)
    total_scale = plan.total_scale * (element_shape[-1] if last_axis == "sum" else 1)
    kind = kind(y_true, y_pred) if callable(kind) else ERROR_KINDS[kind]
    metric._backend.error_sums(
        kind, y_true, y_pred, weight, total._writable().reshape(1),
        None if count is None else count._writable().reshape(1), total_scale, plan.weight_scale,
        None if params is None else params(y_true, y_pred, kind))


@register()
class Sum(Metric):
    """The (weighted) sum of the values seen, as ``keras.metrics.Sum``; kept in float64.

    >>> m = Sum()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    4.0
    """

    def __init__(self, name="sum", dtype=None, *, device="auto"):
        super().__init__(name=name, dtype=dtype, device=device)
        self.total = self.add_state("total")

    def update_state(self, values, sample_weight=None):
        accumulate(self, "identity", None, values, sample_weight, None, "sum", self.total, plain_values=True)

    def result(self):
        return self.total.value.astype(self.dtype)


@register()
class Mean(Metric):
    """The (weighted) mean of the values seen, as ``keras.metrics.Mean``: ``total / count``, 0 when ``count`` is 0.

    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    def __init__(self, name="mean", dtype=None, *, device="auto"):
        super().__init__(name=name, dtype=dtype, device=device)
        self.total = self.add_state("total")
        self.count = self.add_state("count")

    def update_state(self, values, sample_weight=None):
        accumulate(self, "identity", None, values, sample_weight, None, "mean", self.total, self.count,
                   plain_values=True)

    def _mean(self):
        """``divide_no_nan(total, count)`` in float64, on the device."""
        xp = self._xp
        total, count = self.total.value, self.count.value
        return xp.where(count == 0, 0.0, total / xp.where(count == 0, 1.0, count))

    def result(self):
        return self._mean().astype(self.dtype)


def _function_path(fn):
    return f"{fn.__module__}:{fn.__qualname__}"


def _function_from_path(path):
    module, _, qualname = path.partition(":")
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


@register()
class MeanMetricWrapper(Mean):
    """Any ``fn(y_true, y_pred, **kwargs)`` returning per-sample values becomes a mean metric, as in Keras.

    ``fn`` receives arrays on the metric's device (NumPy or CuPy). The
    per-sample functions of this package (``mean_squared_error``, ...) carry a
    ``fused`` form and run as one fused kernel pass instead (see ``fused.py``).

    >>> import numpy as np
    >>> m = MeanMetricWrapper(lambda t, p: np.abs(t - p).max(axis=-1))
    >>> m.update_state([[0, 1], [2, 2]], [[0, 3], [2, 1]])
    >>> float(m.result())
    1.5
    """

    def __init__(self, fn, name=None, dtype=None, *, device="auto", **kwargs):
        super().__init__(name=name or "mean_metric_wrapper", dtype=dtype, device=device)
        self._fn = _function_from_path(fn) if isinstance(fn, str) else fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        if y_true is None:  # refused before anything is placed or counted (Mean's plain values are not this)
            raise TypeError(f"{self.name}: y_true is None; update_state needs y_true and y_pred")
        fused = getattr(self._fn, "fused", None)
        if fused is not None:
            fused.update(self, y_true, y_pred, sample_weight, **self._fn_kwargs)
        else:
            values = self._fn(self._import(y_true, "y_true"), self._import(y_pred, "y_pred"), **self._fn_kwargs)
            super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), "fn": _function_path(self._fn), **self._fn_kwargs}
