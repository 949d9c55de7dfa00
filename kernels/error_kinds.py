"""The elementwise functions ``f(y_true, y_pred)`` that ``error_sums`` can fuse, shared by both kernel twins.

Each is a plain scalar function of two float64 values, compiled by Numba into
the CPU twin (``njit``) and the CUDA kernel (device function) alike, so both
twins compute the very same arithmetic.
"""


def identity(y_true, y_pred):
    """The value itself (``Mean`` / ``Sum`` pass their values as ``y_pred``)."""
    return y_pred


def squared_error(y_true, y_pred):
    d = y_true - y_pred
    return d * d


def absolute_error(y_true, y_pred):
    return abs(y_true - y_pred)


KINDS = {f.__name__: f for f in (identity, squared_error, absolute_error)}
