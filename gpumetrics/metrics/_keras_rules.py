"""Keras's constants and casts, in one place: ``EPSILON``, the float precision Keras computes in, its clip bounds,
and the cast of ``y_true`` to ``y_pred``'s dtype. The shape and sample-weight rules live in ``_validation.py``."""
import numpy as np

from .._interop import any_array
from .._validation import squeeze_or_expand

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


def epsilon_param(y_true, y_pred, **_):
    """A fused kind's ``epsilon`` parameter: ``EPSILON`` rounded in ``y_pred``'s precision."""
    return {"epsilon": epsilon_bounds(y_pred.dtype)[0]}
