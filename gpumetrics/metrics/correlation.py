"""Pearson and concordance correlation, as Keras computes them: per sample, across ``axis``, then averaged.

Keras's ``PearsonCorrelation`` and ``ConcordanceCorrelation`` are mean
metrics of a per-sample value: the correlation of ``y_true`` and ``y_pred``
across each sample's ``axis`` (the features of a row), averaged over samples
with sample weights. So their state is a mergeable ``(total, count)`` pair,
and the per-sample moments are computed in one fused ``row_sums`` pass, the
row's means first and then its centred sums, which stays exact for data far
from 0 (e.g. centred at 1e6), where ``sum(x^2) - sum(x)^2 / n`` would not.
"""
from .._arguments import check_axis, keyword_checks
from ..registry import register
from ._fused_passes import Rowwise
from ._keras_rules import EPSILON, aligned_pair
from ._mean import KerasMeanMetric, fused
from .ratios import overflow_to_nan


def _moments(xp, y_true, y_pred, axis):
    dt = y_true - xp.mean(y_true, axis=axis, keepdims=True)
    dp = y_pred - xp.mean(y_pred, axis=axis, keepdims=True)
    return dt, dp


def _pearson_params(y_true, y_pred, axis=-1):
    return {"concordance": 0.0, "epsilon": EPSILON}


def _concordance_params(y_true, y_pred, axis=-1):
    return {"concordance": 1.0, "epsilon": EPSILON}


@fused(Rowwise("correlation", _pearson_params))
@keyword_checks(axis=check_axis)
def pearson_correlation(y_true, y_pred, axis=-1):
    """Per-sample Pearson correlation of ``y_true`` and ``y_pred`` across ``axis``, as
    ``keras.metrics.pearson_correlation``.

    >>> [round(v, 4) for v in pearson_correlation([[1, 2, 3], [1, 2, 3]], [[1, 2, 4], [3, 2, 1]]).tolist()]
    [0.982, -1.0]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    dt, dp = _moments(xp, y_true, y_pred, axis)
    norm = xp.sqrt(xp.sum(dt * dt, axis=axis)) * xp.sqrt(xp.sum(dp * dp, axis=axis))  # no product of the sums:
    return overflow_to_nan(xp, xp.sum(dt * dp, axis=axis) / norm, norm)  # it underflows at 1e-80, overflows at 1e150


@fused(Rowwise("correlation", _concordance_params))
@keyword_checks(axis=check_axis)
def concordance_correlation(y_true, y_pred, axis=-1):
    """Per-sample Lin's concordance of ``y_true`` and ``y_pred`` across ``axis``, as
    ``keras.metrics.concordance_correlation``: ``2 cov / (var_t + var_p + (mean_t - mean_p)^2 + eps)``.

    >>> [round(v, 4) for v in concordance_correlation([[1, 2, 3], [1, 2, 3]], [[1, 2, 4], [3, 2, 1]]).tolist()]
    [0.8571, -1.0]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    dt, dp = _moments(xp, y_true, y_pred, axis)
    gap = xp.mean(y_true, axis=axis) - xp.mean(y_pred, axis=axis)
    norm = xp.mean(dt * dt, axis=axis) + xp.mean(dp * dp, axis=axis) + gap * gap
    return overflow_to_nan(xp, 2.0 * xp.mean(dt * dp, axis=axis) / (norm + EPSILON), norm)


@register()
class PearsonCorrelation(KerasMeanMetric):
    """Mean over samples of the Pearson correlation across ``axis``, as ``keras.metrics.PearsonCorrelation``.

    >>> m = PearsonCorrelation()
    >>> m.update_state([[1, 2, 3], [1, 2, 3]], [[1, 2, 4], [3, 2, 1]])
    >>> round(float(m.result()), 4)
    -0.009
    """

    per_sample = staticmethod(pearson_correlation)

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, axis=axis)
        self.axis = self._fn_kwargs["axis"]


@register()
class ConcordanceCorrelation(KerasMeanMetric):
    """Mean over samples of Lin's concordance correlation across ``axis``, as
    ``keras.metrics.ConcordanceCorrelation``.

    >>> m = ConcordanceCorrelation()
    >>> m.update_state([[1, 2, 3], [1, 2, 3]], [[1, 2, 4], [3, 2, 1]])
    >>> round(float(m.result()), 4)
    -0.0714
    """

    per_sample = staticmethod(concordance_correlation)

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, axis=axis)
        self.axis = self._fn_kwargs["axis"]
