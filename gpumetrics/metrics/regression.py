"""Regression metrics on the fused ``error_sums`` pass, and Keras's per-sample regression functions."""
from .._interop import any_array
from .._validation import squeeze_or_expand
from ..registry import register
from .reduction import Mean, MeanMetricWrapper, accumulate


def _aligned_pair(y_true, y_pred):
    """Both inputs where they live, ``y_true`` cast to ``y_pred``'s dtype and rank-aligned (Keras's rule)."""
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
    return y_true.astype(y_pred.dtype, copy=False).reshape(true_shape), y_pred.reshape(pred_shape), xp


def mean_squared_error(y_true, y_pred):
    """Per-sample ``mean(square(y_true - y_pred), axis=-1)``, as ``keras.metrics.mean_squared_error``.

    >>> mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]).tolist()
    [0.5, 0.5]
    """
    y_true, y_pred, xp = _aligned_pair(y_true, y_pred)
    return xp.mean(xp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Per-sample ``mean(abs(y_true - y_pred), axis=-1)``, as ``keras.metrics.mean_absolute_error``."""
    y_true, y_pred, xp = _aligned_pair(y_true, y_pred)
    return xp.mean(xp.abs(y_true - y_pred), axis=-1)


mean_squared_error.fused_kind = "squared_error"
mean_absolute_error.fused_kind = "absolute_error"


@register("mse", "MSE")
class MeanSquaredError(MeanMetricWrapper):
    """Mean of ``mean(square(y_true - y_pred), axis=-1)`` over samples, as ``keras.metrics.MeanSquaredError``.

    >>> m = MeanSquaredError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]], sample_weight=[1, 0])
    >>> float(m.result())
    0.5
    """

    def __init__(self, name="mean_squared_error", dtype=None, *, device="auto"):
        super().__init__(mean_squared_error, name=name, dtype=dtype, device=device)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@register("mae", "MAE")
class MeanAbsoluteError(MeanMetricWrapper):
    """Mean of ``mean(abs(y_true - y_pred), axis=-1)`` over samples, as ``keras.metrics.MeanAbsoluteError``.

    >>> m = MeanAbsoluteError()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> float(m.result())
    0.25
    """

    def __init__(self, name="mean_absolute_error", dtype=None, *, device="auto"):
        super().__init__(mean_absolute_error, name=name, dtype=dtype, device=device)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


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

    def __init__(self, name="root_mean_squared_error", dtype=None, *, device="auto"):
        super().__init__(name=name, dtype=dtype, device=device)

    def update_state(self, y_true, y_pred, sample_weight=None):
        accumulate(self, "squared_error", y_true, y_pred, sample_weight, False, "mean", self.total, self.count)

    def result(self):
        return self._xp.sqrt(self._mean()).astype(self.dtype)
