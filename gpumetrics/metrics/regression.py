"""Regression metrics on the fused ``error_sums`` / ``row_sums`` passes, and Keras's per-sample regression functions."""
import contextlib
import math

from .._arguments import check_axis, check_real, keyword_checks
from ..registry import register
from ._fused_passes import Elementwise, Rowwise
from ._keras_rules import EPSILON, aligned_pair, epsilon_bounds, epsilon_param
from ._mean import KerasMeanMetric, Mean, fused
from .ratios import overflow_to_nan


@fused(Elementwise("squared_error"))
def mean_squared_error(y_true, y_pred):
    """Per-sample ``mean(square(y_true - y_pred), axis=-1)``, as ``keras.metrics.mean_squared_error``.

    >>> mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]).tolist()
    [0.5, 0.5]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    return xp.mean(xp.square(y_true - y_pred), axis=-1)


@fused(Elementwise("absolute_error"))
def mean_absolute_error(y_true, y_pred):
    """Per-sample ``mean(abs(y_true - y_pred), axis=-1)``, as ``keras.metrics.mean_absolute_error``."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    return xp.mean(xp.abs(y_true - y_pred), axis=-1)


@fused(Elementwise("absolute_percentage_error", epsilon_param))
def mean_absolute_percentage_error(y_true, y_pred):
    """Per-sample ``100 * mean(abs((y_true - y_pred) / max(abs(y_true), eps)), axis=-1)``.

    >>> mean_absolute_percentage_error([[2.0, 4.0]], [[1.0, 5.0]]).tolist()
    [37.5]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    eps = epsilon_bounds(y_pred.dtype)[0]  # the fused kind's bound: eps rounded to y_pred's precision
    return 100.0 * xp.mean(xp.abs((y_true - y_pred) / xp.maximum(xp.abs(y_true), eps)), axis=-1)


@fused(Elementwise("squared_logarithmic_error", epsilon_param))
def mean_squared_logarithmic_error(y_true, y_pred):
    """Per-sample ``mean(square(log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1)), axis=-1)``."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    log_true, log_pred = xp.log1p(xp.maximum(y_true, EPSILON)), xp.log1p(xp.maximum(y_pred, EPSILON))
    return xp.mean(xp.square(log_pred - log_true), axis=-1)


@fused(Elementwise("log_cosh"))
def log_cosh(y_true, y_pred):
    """Per-sample ``mean(log(cosh(y_pred - y_true)), axis=-1)``, computed without overflow."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    x = xp.abs(y_pred - y_true)
    return xp.mean(x + xp.log1p(xp.exp(-2.0 * x)) - math.log(2.0), axis=-1)  # a Python float keeps x's dtype


@fused(Elementwise("huber", lambda y_true, y_pred, delta=1.0: {"delta": delta}))
@keyword_checks(delta=check_real)
def huber(y_true, y_pred, delta=1.0):
    """Per-sample Huber loss: ``x^2 / 2`` for ``|x| <= delta``, else ``delta (|x| - delta / 2)``, averaged over the
    last axis (``x = y_pred - y_true``), as ``keras.metrics.huber``."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    x = xp.abs(y_pred - y_true)
    return xp.mean(xp.where(x <= delta, 0.5 * x * x, delta * x - 0.5 * delta * delta), axis=-1)


@fused(Rowwise("cosine_similarity", epsilon_param))
@keyword_checks(axis=check_axis)
def cosine_similarity(y_true, y_pred, axis=-1):
    """Per-sample cosine of ``y_true`` and ``y_pred`` along ``axis`` (an all-zero vector scores 0), as Keras's."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)

    def normalized(x):
        squares = xp.sum(x * x, axis=axis, keepdims=True)
        return x * overflow_to_nan(xp, xp.minimum(1.0 / xp.sqrt(squares), 1e7), squares)

    with _quiet_division(xp):
        return xp.sum(normalized(y_true) * normalized(y_pred), axis=axis)


def _quiet_division(xp):
    """NumPy's ``errstate`` for the expected ``1 / 0`` of an all-zero vector (CuPy does not warn)."""
    return xp.errstate(divide="ignore") if hasattr(xp, "errstate") else contextlib.nullcontext()


@register("mse", "MSE")
class MeanSquaredError(KerasMeanMetric):
    """Mean of ``mean(square(y_true - y_pred), axis=-1)`` over samples, as ``keras.metrics.MeanSquaredError``.

    >>> m = MeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    >>> float(m.result())
    0.5
    """

    per_sample = staticmethod(mean_squared_error)

    def __init__(self, name="mean_squared_error", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register("mae", "MAE")
class MeanAbsoluteError(KerasMeanMetric):
    """Mean of ``mean(abs(y_true - y_pred), axis=-1)`` over samples, as ``keras.metrics.MeanAbsoluteError``.

    >>> m = MeanAbsoluteError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.25
    """

    per_sample = staticmethod(mean_absolute_error)

    def __init__(self, name="mean_absolute_error", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register("mape", "MAPE")
class MeanAbsolutePercentageError(KerasMeanMetric):
    """Mean of ``mean_absolute_percentage_error`` over samples, as ``keras.metrics.MeanAbsolutePercentageError``.

    >>> m = MeanAbsolutePercentageError()
    >>> m.update_state([[2.0, 4.0], [1.0, 1.0]], [[1.0, 5.0], [1.0, 1.0]])
    >>> float(m.result())
    18.75
    """

    per_sample = staticmethod(mean_absolute_percentage_error)

    def __init__(self, name="mean_absolute_percentage_error", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register("msle", "MSLE")
class MeanSquaredLogarithmicError(KerasMeanMetric):
    """Mean of ``mean_squared_logarithmic_error`` over samples, as ``keras.metrics.MeanSquaredLogarithmicError``.

    >>> m = MeanSquaredLogarithmicError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.result()), 6)
    0.120113
    """

    per_sample = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class LogCoshError(KerasMeanMetric):
    """Mean of ``log(cosh(y_pred - y_true))`` over the last axis and samples, as ``keras.metrics.LogCoshError``.

    >>> m = LogCoshError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.result()), 6)
    0.108445
    """

    per_sample = staticmethod(log_cosh)

    def __init__(self, name="logcosh", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class CosineSimilarity(KerasMeanMetric):
    """Mean over samples of the cosine of ``y_true`` and ``y_pred`` along ``axis``, as
    ``keras.metrics.CosineSimilarity`` (whose ``get_config`` drops ``axis``; ours keeps it).

    >>> m = CosineSimilarity()
    >>> m.update_state([[0.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
    >>> round(float(m.result()), 6)
    0.5
    """

    per_sample = staticmethod(cosine_similarity)

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, axis=axis)


# each element's square error is one value; Keras casts both inputs to float here, not y_true to y_pred's dtype
_SQUARED_ERRORS = Elementwise("squared_error", last_axis=None, keras_cast=False)


@register()
class RootMeanSquaredError(Mean):
    """``sqrt`` of the weighted mean of elementwise squared errors, as ``keras.metrics.RootMeanSquaredError``.

    Unlike ``MeanSquaredError`` there is no mean over the last axis first:
    each element's square error is a value, weighted like ``Mean``'s values.

    >>> m = RootMeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, name="root_mean_squared_error", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        _SQUARED_ERRORS.update(self, y_true, y_pred, sample_weight, group_ids)

    def result(self):
        return self.xp.asarray(self.xp.sqrt(self._mean()), dtype=self.dtype)
