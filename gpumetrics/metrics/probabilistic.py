"""Crossentropies, KL divergence and Poisson on the fused passes, and Keras's per-sample probabilistic functions.

Probabilities are clipped to ``[eps, 1 - eps]`` with the bounds rounded in
``y_pred``'s precision, as Keras computes them. Logits never go through a
clipped sigmoid or softmax: ``softplus(x) - t x`` and an online log-sum-exp
are exact for any logit (Keras's TensorFlow and JAX backends agree; its NumPy
backend clips ``sigmoid(x)`` and so differs for ``|x| > 16``).
"""
import math

from .._arguments import CHECK_CLASS_ID, check_axis, check_real, keyword_checks
from .._interop import any_array
from .._masks import with_mask
from ..registry import register
from ._fused_passes import Elementwise, Rowwise
from ._keras_rules import aligned_pair, epsilon_bounds, epsilon_param
from ._mean import KerasMeanMetric, fused
from .ratios import overflow_to_nan


def _logsumexp(xp, x, axis):
    peak = xp.max(x, axis=axis, keepdims=True)
    peak = xp.where(xp.isfinite(peak), peak, 0.0)
    return xp.log(xp.sum(xp.exp(x - peak), axis=axis, keepdims=True)) + peak


def _crossentropy_params(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1, sparse=False,
                         ignore_class=None):
    named = {"label_smoothing": label_smoothing, "sparse": float(sparse),
             "ignore_class": math.nan if ignore_class is None else ignore_class}
    if not from_logits:
        named["lower"], named["upper"] = epsilon_bounds(y_pred.dtype)
    return named


def _binary_crossentropy_params(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    if from_logits:
        return {"label_smoothing": label_smoothing}
    lower, upper = epsilon_bounds(y_pred.dtype)
    return {"label_smoothing": label_smoothing, "lower": lower, "upper": upper}


def _binary_crossentropy_kind(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    return "binary_crossentropy_from_logits" if from_logits else "binary_crossentropy"


def _over_the_last_axis(axis=-1, **_):
    """The fused binary crossentropy averages over the last axis; another ``axis`` calls the function."""
    return axis == -1


def _row_kind(from_logits=False, **_):
    return "crossentropy_from_logits" if from_logits else "crossentropy"


def _sparse_crossentropy_params(y_true, y_pred, **fn_kwargs):
    return _crossentropy_params(y_true, y_pred, sparse=True, **fn_kwargs)


def _ignored_class(ignore_class=None, **_):
    return ignore_class


@fused(Elementwise(_binary_crossentropy_kind, _binary_crossentropy_params, takes=_over_the_last_axis))
@keyword_checks(label_smoothing=check_real, axis=check_axis)
def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample binary crossentropy, averaged over ``axis``, as ``keras.metrics.binary_crossentropy``.

    >>> [round(v, 4) for v in binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).tolist()]
    [0.9163, 0.7136]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        return xp.mean(xp.logaddexp(0.0, y_pred) - y_true * y_pred, axis=axis)
    lo, hi = epsilon_bounds(y_pred.dtype)
    p = xp.clip(y_pred, lo, hi)
    return xp.mean(-(y_true * xp.log(p) + (1.0 - y_true) * xp.log(1.0 - p)), axis=axis)


@fused(Rowwise(_row_kind, _crossentropy_params))
@keyword_checks(label_smoothing=check_real, axis=check_axis)
def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample ``-sum(y_true * log(y_pred / sum(y_pred)))`` along ``axis`` (log-softmax for logits), as
    ``keras.metrics.categorical_crossentropy``.

    >>> values = categorical_crossentropy([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    >>> [round(v, 4) for v in values.tolist()]
    [0.0513, 2.3026]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        log_prob = y_pred - _logsumexp(xp, y_pred, axis)
    else:
        lo, hi = epsilon_bounds(y_pred.dtype)
        total = xp.sum(y_pred, axis=axis, keepdims=True)
        log_prob = xp.log(xp.clip(overflow_to_nan(xp, y_pred / total, total), lo, hi))
    return -xp.sum(y_true * log_prob, axis=axis)


@fused(Rowwise(_row_kind, _sparse_crossentropy_params, sparse=True, ignored=_ignored_class))
@keyword_checks(ignore_class=CHECK_CLASS_ID, axis=check_axis)
def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Per-sample crossentropy of class ids ``y_true`` against ``y_pred`` along ``axis``, as
    ``keras.metrics.sparse_categorical_crossentropy``: 0 for ``ignore_class`` and for ids outside the classes.
    With ``ignore_class``, the values carry Keras's mask of the ignored samples (``_masks``): ``Mean`` / ``Sum``
    (so a ``MeanMetricWrapper`` of any ``fn`` returning them) give those samples weight 0 when weighted.

    >>> [round(v, 4) for v in sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]).tolist()]
    [0.0513, 2.3026]
    """
    y_true, _ = any_array(y_true, "y_true")
    y_pred, xp = any_array(y_pred, "y_pred")
    y_pred = xp.moveaxis(y_pred, axis, -1)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    classes = y_pred.shape[-1]
    valid = (y_true > -1) & (y_true < classes)
    if ignore_class is not None:
        valid &= y_true != ignore_class
    ids = xp.where(valid, y_true, 0).astype(xp.int64)[..., None]
    if from_logits:
        log_prob = xp.take_along_axis(y_pred, ids, axis=-1) - _logsumexp(xp, y_pred, -1)
    else:
        lo, hi = epsilon_bounds(y_pred.dtype)
        total = xp.sum(y_pred, axis=-1, keepdims=True)
        picked = overflow_to_nan(xp, xp.take_along_axis(y_pred, ids, axis=-1) / total, total)
        log_prob = xp.log(xp.clip(picked, lo, hi))
    values = xp.where(valid, -log_prob[..., 0], 0.0)
    return values if ignore_class is None else with_mask(values, y_true != ignore_class)


@fused(Elementwise("kl_divergence", epsilon_param, last_axis="sum"))
def kl_divergence(y_true, y_pred):
    """Per-sample ``sum(y_true * log(y_true / y_pred))`` over the last axis, both clipped to ``[eps, 1]``.

    >>> [round(v, 4) for v in kl_divergence([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).tolist()]
    [0.9163, -0.0]
    """
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    eps = epsilon_bounds(y_pred.dtype)[0]
    t, p = xp.clip(y_true, eps, 1.0), xp.clip(y_pred, eps, 1.0)
    return xp.sum(t * xp.log(t / p), axis=-1)


@fused(Elementwise("poisson", epsilon_param))
def poisson(y_true, y_pred):
    """Per-sample ``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``, as ``keras.metrics.poisson``."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    return xp.mean(y_pred - y_true * xp.log(y_pred + epsilon_bounds(y_pred.dtype)[0]), axis=-1)


@keyword_checks(alpha=check_real, gamma=check_real, label_smoothing=check_real, axis=check_axis)
def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Per-sample focal binary crossentropy (Lin et al.), averaged over ``axis``, as
    ``keras.metrics.binary_focal_crossentropy``: each element's crossentropy times ``(1 - p_t) ** gamma``."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        y_pred = 1.0 / (1.0 + xp.exp(-y_pred))
    lo, hi = epsilon_bounds(y_pred.dtype)
    clipped = xp.clip(y_pred, lo, hi)
    bce = -(y_true * xp.log(clipped) + (1.0 - y_true) * xp.log(1.0 - clipped))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return xp.mean(focal, axis=axis)


@keyword_checks(alpha=check_real, gamma=check_real, label_smoothing=check_real, axis=check_axis)
def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0,
                                   axis=-1):
    """Per-sample focal categorical crossentropy along ``axis``, as ``keras.metrics.categorical_focal_crossentropy``:
    ``-sum(alpha (1 - p) ** gamma * t log p)`` with ``p`` the normalised, clipped probabilities."""
    y_true, y_pred, xp = aligned_pair(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_pred.shape[axis]
    if from_logits:
        y_pred = xp.exp(y_pred - _logsumexp(xp, y_pred, axis))
    lo, hi = epsilon_bounds(y_pred.dtype)
    p = xp.clip(y_pred / xp.sum(y_pred, axis=axis, keepdims=True), lo, hi)
    return xp.sum(alpha * (1.0 - p) ** gamma * -y_true * xp.log(p), axis=axis)


@register("bce", "BCE")
class BinaryCrossentropy(KerasMeanMetric):
    """Mean binary crossentropy over samples, as ``keras.metrics.BinaryCrossentropy``.

    >>> m = BinaryCrossentropy()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(m.result()), 4)
    0.8149
    """

    per_sample = staticmethod(binary_crossentropy)

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False, label_smoothing=0, *,
                 device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, from_logits=from_logits,
                         label_smoothing=label_smoothing)
        self.from_logits = from_logits
        self.label_smoothing = self._fn_kwargs["label_smoothing"]


@register()
class CategoricalCrossentropy(KerasMeanMetric):
    """Mean categorical crossentropy over samples, as ``keras.metrics.CategoricalCrossentropy``.

    >>> m = CategoricalCrossentropy()
    >>> m.update_state([[0, 1, 0], [0, 0, 1]], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    >>> round(float(m.result()), 4)
    1.1769
    """

    per_sample = staticmethod(categorical_crossentropy)

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False, label_smoothing=0, axis=-1,
                 *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = self._fn_kwargs["label_smoothing"]
        self.axis = self._fn_kwargs["axis"]


@register()
class SparseCategoricalCrossentropy(KerasMeanMetric):
    """Mean crossentropy of class ids against class scores, as ``keras.metrics.SparseCategoricalCrossentropy``.

    A sample whose label is ``ignore_class`` adds 0 to the total; as in
    Keras, it still counts when no sample weights are given, and its weight
    becomes 0 when they are (Keras masks sample weights only; a scalar weight
    becomes each label's weight, as on Keras's JAX backend; with weights of
    lower rank than the labels, where Keras raises, each label's share of its
    weight is masked).

    >>> m = SparseCategoricalCrossentropy()
    >>> m.update_state([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    >>> round(float(m.result()), 4)
    1.1769
    """

    per_sample = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False, ignore_class=None,
                 axis=-1, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups, from_logits=from_logits,
                         ignore_class=ignore_class, axis=axis)
        self.from_logits = from_logits
        self.ignore_class = self._fn_kwargs["ignore_class"]
        self.axis = self._fn_kwargs["axis"]


@register()
class KLDivergence(KerasMeanMetric):
    """Mean over samples of ``sum(y_true * log(y_true / y_pred), axis=-1)``, as ``keras.metrics.KLDivergence``.

    >>> m = KLDivergence()
    >>> m.update_state([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    >>> round(float(m.result()), 4)
    0.4581
    """

    per_sample = staticmethod(kl_divergence)

    def __init__(self, name="kl_divergence", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)


@register()
class Poisson(KerasMeanMetric):
    """Mean over samples of ``mean(y_pred - y_true * log(y_pred + eps), axis=-1)``, as ``keras.metrics.Poisson``.

    >>> m = Poisson()
    >>> m.update_state([[0, 1], [0, 0]], [[1, 1], [0, 0]])
    >>> round(float(m.result()), 4)
    0.5
    """

    per_sample = staticmethod(poisson)

    def __init__(self, name="poisson", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)
