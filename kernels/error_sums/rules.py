"""The elementwise rules ``f(y_true, y_pred, params)`` that ``error_sums`` can fuse, and their named parameters.

Each is a plain scalar function of two float64 values and the float64 vector
of its parameters (on the metric's device), declared in ``KINDS`` with the
names of those parameters in the order it reads them: metrics pass them by
name (``KINDS["huber"].pack(delta=1.0)``), never by position. Numba compiles
the same functions into the CPU twin (``njit``) and the CUDA kernel (device
functions), so both twins compute the very same arithmetic; this module
imports no Numba, and each body calls only ``math`` and NumPy scalar casts.
NaN inputs give NaN: bounds are applied as ``lo if x < lo else x``, which keeps
NaN as ``np.maximum`` (and so Keras's ``ops.maximum``) does.
"""
import math

from .._shared.kinds import declare
from .._shared.label_cast import cast_label

LOG2 = math.log(2.0)


def identity(y_true, y_pred, params):
    """The value itself (``Mean`` / ``Sum`` pass their values as ``y_pred``)."""
    return y_pred


def squared_error(y_true, y_pred, params):
    d = y_true - y_pred
    return d * d


def absolute_error(y_true, y_pred, params):
    return abs(y_true - y_pred)


def absolute_percentage_error(y_true, y_pred, params):
    """``100 |t - p| / max(|t|, eps)``; ``params[0]`` = eps."""
    scale = abs(y_true)
    scale = params[0] if scale < params[0] else scale
    return 100.0 * abs((y_true - y_pred) / scale)


def squared_logarithmic_error(y_true, y_pred, params):
    """``(log(max(p, eps) + 1) - log(max(t, eps) + 1))^2``; ``params[0]`` = eps. One logarithm, not two:
    ``log1p(p) - log1p(t) = log1p((p - t) / (1 + t))``, exact where the difference is small."""
    eps = params[0]
    p = eps if y_pred < eps else y_pred
    t = eps if y_true < eps else y_true
    d = math.log1p((p - t) / (1.0 + t))
    return d * d


def log_cosh(y_true, y_pred, params):
    """``log(cosh(p - t))`` as ``|x| + log1p(exp(-2|x|)) - log 2``: no overflow for large errors."""
    x = abs(y_pred - y_true)
    return x + math.log1p(math.exp(-2.0 * x)) - LOG2


def huber(y_true, y_pred, params):
    """``x^2 / 2`` for ``|x| <= delta``, else ``delta |x| - delta^2 / 2``, ``x = p - t``; ``params[0]`` = delta."""
    x = abs(y_pred - y_true)
    delta = params[0]
    if x <= delta:
        return 0.5 * x * x
    if x > delta:
        return delta * x - 0.5 * delta * delta
    return x  # NaN


def binary_crossentropy(y_true, y_pred, params):
    """``-(t log p + (1 - t) log(1 - p))`` with ``p`` clipped to ``[params[1], params[2]]`` (Keras's
    ``[eps, 1 - eps]`` in the input's precision) and ``t`` smoothed by ``params[0]`` towards 0.5."""
    t = y_true * (1.0 - params[0]) + 0.5 * params[0]
    p = params[1] if y_pred < params[1] else (params[2] if y_pred > params[2] else y_pred)
    return -(t * math.log(p) + (1.0 - t) * math.log(1.0 - p))


def binary_crossentropy_from_logits(y_true, y_pred, params):
    """``-(t log sigmoid(x) + (1 - t) log sigmoid(-x)) = softplus(x) - t x``, exact for any logit;
    ``t`` smoothed by ``params[0]``."""
    t = y_true * (1.0 - params[0]) + 0.5 * params[0]
    x = y_pred
    return (x if x > 0.0 else 0.0) + math.log1p(math.exp(-abs(x))) - t * x


def kl_divergence(y_true, y_pred, params):
    """``t log(t / p)`` with both clipped to ``[params[0], 1]`` (summed, not averaged, over the last axis)."""
    eps = params[0]
    t = eps if y_true < eps else (1.0 if y_true > 1.0 else y_true)
    p = eps if y_pred < eps else (1.0 if y_pred > 1.0 else y_pred)
    return t * math.log(t / p)


def poisson(y_true, y_pred, params):
    """``p - t log(p + eps)``; ``params[0]`` = eps. The logarithm of a negative ``p + eps`` is NaN and of 0 is -inf,
    as NumPy's (Keras's) and the compiled twins' ``log`` give; Python's ``math.log``, which the CUDA simulator
    runs, raises there instead."""
    x = y_pred + params[0]
    return y_pred - y_true * (math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan))


def hinge(y_true, y_pred, params):
    """``max(1 - t p, 0)``, labels mapped 0/1 → -1/1 when the batch holds only 0 and 1 (``params[0] == 0``,
    the count of other labels that the ``non_binary`` pass wrote)."""
    t = 2.0 * y_true - 1.0 if params[0] == 0.0 else y_true
    h = 1.0 - t * y_pred
    return 0.0 if h < 0.0 else h


def squared_hinge(y_true, y_pred, params):
    """``hinge`` squared; same ``params``."""
    t = 2.0 * y_true - 1.0 if params[0] == 0.0 else y_true
    h = 1.0 - t * y_pred
    h = 0.0 if h < 0.0 else h
    return h * h


def non_binary(y_true, y_pred, params):
    """1 for a label other than 0 or 1 (NaN included), else 0: counted before ``hinge`` decides its labels."""
    return 0.0 if y_true == 0.0 or y_true == 1.0 else 1.0


def equal(y_true, y_pred, params):
    """1 where ``t == p``, else 0: labels that need no cast to ``y_pred``'s dtype (integers, bool, same dtype)."""
    return 1.0 if y_true == y_pred else 0.0


def equal_cast(y_true, y_pred, params):
    """``equal`` once ``t`` is cast to ``y_pred``'s dtype as Keras casts it; ``params[0]`` = the cast
    (``label_cast.CAST_*``)."""
    return 1.0 if cast_label(y_true, params[0]) == y_pred else 0.0


def binary_accuracy(y_true, y_pred, params):
    """1 where ``t`` equals ``p > params[0]`` (as 0 or 1), else 0."""
    predicted = 1.0 if y_pred > params[0] else 0.0
    return 1.0 if y_true == predicted else 0.0


#: every kind, in the order of its code: ``(rule, names of its parameters)``.
KINDS = declare(
    (identity, ()),
    (squared_error, ()),
    (absolute_error, ()),
    (absolute_percentage_error, ("epsilon",)),
    (squared_logarithmic_error, ("epsilon",)),
    (log_cosh, ()),
    (huber, ("delta",)),
    (binary_crossentropy, ("label_smoothing", "lower", "upper")),
    (binary_crossentropy_from_logits, ("label_smoothing",)),
    (kl_divergence, ("epsilon",)),
    (poisson, ("epsilon",)),
    (hinge, ("other_labels",)),
    (squared_hinge, ("other_labels",)),
    (non_binary, ()),
    (equal, ()),
    (equal_cast, ("cast",)),
    (binary_accuracy, ("threshold",)),
    primitive="error_sums",
)
