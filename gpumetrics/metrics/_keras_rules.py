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
    bfloat16 = half_precision(y_pred) == "bfloat16"  # read as float32: its labels are rounded to bfloat16 first
    y_pred, xp = any_array(y_pred, "y_pred")
    y_true, _ = any_array(y_true, "y_true")
    true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
    if bfloat16:
        y_true = labels_in_half_precision(xp, y_true, "bfloat16")
    return y_true.astype(y_pred.dtype, copy=False).reshape(true_shape), y_pred.reshape(pred_shape), xp


def keras_label_cast(y_true, y_pred):
    """``y_true`` as Keras reads it beside an integer ``y_pred``: cast to ``y_pred``'s dtype (floats truncated,
    integers wrapped to its width, on the device) where that cast can change a value; ``y_true`` itself otherwise.
    A fused pass's twin of ``aligned_pair``'s cast. With float predictions the kernels read both inputs as floats
    and cast labels themselves where a comparison needs it (``label_cast``), as they do beside bool predictions,
    which Keras's functions of values refuse (NumPy has no bool subtraction).

    >>> keras_label_cast(np.array([0.4, 2.7]), np.array([1, 1])).tolist()
    [0, 2]
    >>> keras_label_cast(np.array([257, 3]), np.array([1, 3], np.uint8)).tolist()
    [1, 3]
    """
    if y_pred.dtype.kind in "iu" and not np.can_cast(y_true.dtype, y_pred.dtype, "safe"):
        return y_true.astype(y_pred.dtype)
    return y_true


def half_precision(x):
    """``"float16"`` or ``"bfloat16"`` when input ``x`` holds half-precision floats, else None; asked of ``y_pred`` as
    given, before its import widens bfloat16 to float32. Reads the dtype alone (NumPy, CuPy, torch, JAX, lists)."""
    dtype = getattr(x, "dtype", None)
    name = getattr(dtype, "name", None) or str(dtype).rpartition(".")[2]
    return name if name in ("float16", "bfloat16") else None


def labels_in_half_precision(xp, y_true, half):
    """``y_true`` rounded to ``half`` (``y_pred``'s dtype as given), as Keras casts labels to ``y_pred``'s dtype before
    comparing them exactly: 0.1 equals float16(0.1), and 2049 beside float16 scores is 2048. On the device; float16
    labels come back as float16, bfloat16 ones as float32 (the dtype bfloat16 scores are widened to), rounded to
    nearest even through float32 as ``ml_dtypes`` and torch cast. Labels the half type holds exactly pass as they are.

    >>> labels_in_half_precision(np, np.array([0.1, 2049.0]), "float16").tolist()
    [0.0999755859375, 2048.0]
    >>> labels_in_half_precision(np, np.array([0.1, 257, -np.inf, np.nan]), "bfloat16").tolist()
    [0.10009765625, 256.0, -inf, nan]
    """
    if half == "float16":
        return y_true if np.can_cast(y_true.dtype, np.float16, "safe") else y_true.astype(np.float16)
    if y_true.dtype.kind == "b" or (y_true.dtype.kind in "iu" and y_true.dtype.itemsize == 1):
        return y_true
    wide = y_true.astype(np.float32)
    bits = wide.view(np.uint32)
    rounded = ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000))
    return xp.where(xp.isnan(wide), wide, rounded.view(np.float32))  # a NaN's bits may carry into the sign


def epsilon_param(y_true, y_pred, **_):
    """A fused kind's ``epsilon`` parameter: ``EPSILON`` rounded in ``y_pred``'s precision."""
    return {"epsilon": epsilon_bounds(y_pred.dtype)[0]}
