"""The one label cast: how Keras casts a label to ``y_pred``'s dtype before comparing them exactly.

Plain Python on NumPy scalars (no Numba): each twin compiles it into its
kernels through ``kinds.retarget``.
"""
import numpy as np

#: how a label is cast to ``y_pred``'s dtype: kept (float64 predictions), rounded to float32, truncated to an
#: integer (through int64: past ``2**62`` a float64 is an integer already), or made a bool.
CAST_NONE, CAST_FLOAT32, CAST_INTEGER, CAST_BOOL = 0.0, 1.0, 2.0, 3.0


def cast_label(value, mode):
    """``value`` (a float64) cast as ``mode`` says, returned as a float64.

    >>> [float(cast_label(v, mode)) for v, mode in ((0.1, CAST_FLOAT32), (-2.7, CAST_INTEGER), (0.2, CAST_BOOL))]
    [0.10000000149011612, -2.0, 1.0]
    """
    if mode == CAST_FLOAT32:
        return np.float64(np.float32(value))
    if mode == CAST_INTEGER and abs(value) < 4.6e18:
        return np.float64(np.int64(value))
    if mode == CAST_BOOL:
        return 1.0 if value != 0.0 else 0.0
    return value


def cast_code(dtype):
    """The cast that makes a label compare as it would once Keras has cast it to ``dtype`` (the dtype of
    ``y_pred``). The kernels have no half-precision rounding: beside float16 / bfloat16 predictions the metric layer
    rounds the labels first (``gpumetrics.metrics._keras_rules.labels_in_half_precision``).

    >>> cast_code(np.float32), cast_code(np.int64), cast_code(bool), cast_code(np.float64), cast_code(">f4")
    (1.0, 2.0, 3.0, 0.0, 1.0)
    """
    dtype = np.dtype(dtype)
    kind = dtype.kind
    if kind == "b":
        return CAST_BOOL
    if kind in "iu":
        return CAST_INTEGER
    return CAST_FLOAT32 if kind == "f" and dtype.itemsize == 4 else CAST_NONE  # any byte order: ">f4" too
