"""What every twin does to its inputs before a kernel reads them: a few canonical dtypes, flat views with strides.

Numba compiles a kernel once per combination of argument types, and an array's
type carries its dtype, rank and layout (C, F or any). Handing kernels every
dtype and layout users have would mean dozens of compilations per primitive,
so each input is brought to a small closed set first:

* values (predictions, regression targets, weights): ``float32`` or ``float64``.
  ``float16`` and ``bfloat16`` widen to ``float32`` (exact); booleans, integers
  and ``longdouble`` become ``float64`` (exact below ``2**53``, which is what a
  kernel reading ``float64`` saw anyway).
* labels and class ids: ``float32``, ``float64``, ``int32`` or ``int64``; narrower
  integers and booleans widen to ``int32``, ``uint32`` to ``int64``, ``uint64`` to
  ``float64``.
* byte order: non-native arrays are converted to native (a kernel would read
  swapped bytes).

Every array then travels as :func:`flat`: a read-only 1-D view over its memory
and its strides in elements, so C, Fortran, sliced and broadcast (stride 0)
inputs share one compiled signature and are read in place. Imports no Numba.
"""
import functools

import numpy as np

F32, F64, I32, I64 = (np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64))
VALUE_DTYPES = (F32, F64)
LABEL_DTYPES = (F32, F64, I32, I64)


def _native(dtype):
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


def value_dtype(dtype):
    """The canonical dtype a kernel reads values of ``dtype`` as (see the module docstring).

    >>> [str(value_dtype(np.dtype(t))) for t in ("float16", ">f8", "int64", "bool")]
    ['float32', 'float64', 'float64', 'float64']
    """
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return F32 if dtype.itemsize <= 4 else F64
    if dtype.kind in "biu":
        return F64
    if dtype.name == "bfloat16":
        return F32
    raise TypeError(f"a kernel cannot read values of dtype {dtype}")


def label_dtype(dtype):
    """The canonical dtype a kernel reads labels or class ids of ``dtype`` as.

    >>> [str(label_dtype(np.dtype(t))) for t in ("bool", "uint8", "int64", "uint32", "uint64", "float32")]
    ['int32', 'int32', 'int64', 'int64', 'float64', 'float32']
    """
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        if dtype.itemsize < 4 or (dtype.kind == "i" and dtype.itemsize == 4):
            return I32
        return F64 if dtype.kind == "u" and dtype.itemsize == 8 else I64
    return value_dtype(dtype)


def as_values(a):
    """``a`` as ``float32`` / ``float64`` in native byte order (itself when it already is)."""
    return a if a.dtype in VALUE_DTYPES else a.astype(value_dtype(a.dtype))


def as_labels(a):
    """``a`` as one of ``LABEL_DTYPES`` in native byte order (itself when it already is)."""
    return a if a.dtype in LABEL_DTYPES else a.astype(label_dtype(a.dtype))


def _as_strided(a, shape, strides):
    if isinstance(a, np.ndarray):
        return np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    import cupy

    return cupy.lib.stride_tricks.as_strided(a, shape, strides)


@functools.lru_cache(maxsize=256)  # asked for every input of every pass: one lookup per repeated shape
def _c_strides(shape):
    """The element strides of a C-contiguous array of ``shape`` (0 along an axis of length 1).

    >>> _c_strides((3, 1, 4))
    (4, 0, 1)
    """
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step if n > 1 else 0)
        step *= n
    return tuple(reversed(strides))


def flat(a):
    """``(base, strides)``: a read-only 1-D view over ``a``'s memory from its first element, and ``a``'s strides
    in elements (0 along an axis of length 1). Arrays with negative or misaligned strides are copied first.

    >>> a = np.arange(12.0).reshape(3, 4)[:, 1:3]
    >>> base, strides = flat(a)
    >>> strides, bool(base[1 * strides[0] + 1 * strides[1]] == a[1, 1])
    ((4, 1), True)
    >>> c = np.zeros((2, 1))
    >>> base, strides = flat(c)  # a contiguous array: its view is read-only, the array itself is not
    >>> strides, base.flags.writeable, c.flags.writeable
    ((1, 0), False, True)
    """
    if a.flags.c_contiguous:  # the common case, without as_strided's Python cost: a reshaped view
        base = a.reshape(-1)
        if isinstance(base, np.ndarray):
            base.setflags(write=False)  # this view only: one compiled type whatever the caller's flags
        return base, _c_strides(a.shape)
    item = a.itemsize
    if any(n > 1 and (s < 0 or s % item) for n, s in zip(a.shape, a.strides)):
        a = a.copy()
    strides = tuple(s // item if n > 1 else 0 for n, s in zip(a.shape, a.strides))
    span = 1 + sum((n - 1) * s for n, s in zip(a.shape, strides)) if a.size else 0
    return _as_strided(a, (span,), (item,)), strides


def is_dense(rows, cols, row_stride, col_stride):
    """Whether a flat view with these element strides holds element ``(r, c)`` of the ``(rows, cols)`` grid at
    offset ``r * cols + c``, so a kernel may read element ``i`` at ``i`` (strides of length-1 axes are 0).

    >>> is_dense(3, 4, 4, 1), is_dense(3, 1, 1, 0), is_dense(1, 4, 0, 1), is_dense(3, 4, 1, 3)
    (True, True, True, False)
    """
    return (rows == 1 or row_stride == cols) and (cols == 1 or col_stride == 1)


def pass_views(y_true, y_pred, weight, labels, weight_ndim):
    """The inputs of one pass as flat views with their strides: ``(t, t_strides, p, p_strides, w, w_strides)``.

    ``y_true`` is read as labels (``labels=True``) or values, ``y_pred`` and
    ``weight`` as values. Without weights, ``y_pred``'s flat view with all
    ``weight_ndim`` strides 0 stands in for the weight the kernel never reads (no
    second view or import), so weighted and unweighted calls of one dtype share
    a compiled signature.
    """
    p, p_strides = flat(as_values(y_pred))
    t, t_strides = flat(as_labels(y_true) if labels else as_values(y_true))
    w, w_strides = (p, (0,) * weight_ndim) if weight is None else flat(as_values(weight))
    return t, t_strides, p, p_strides, w, w_strides
