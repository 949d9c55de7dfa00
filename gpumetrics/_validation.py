"""Host-only input checks and the Keras shape rules: they read shapes and dtypes, never device data.

Every check runs before a kernel touches state, so bad input raises
``ValueError`` / ``TypeError`` and leaves the metric unchanged.
"""
import functools
import math
from typing import NamedTuple, Optional, Tuple

_NUMERIC_KINDS = "biuf"


def check_numeric(array, name):
    """Refuse strings, objects, complex numbers and dates, naming the argument and the dtype seen.

    bfloat16 (``ml_dtypes``, NumPy kind ``V``) is a real floating-point type and passes. 8-bit floats are refused,
    ``float8_e5m2`` too (``ml_dtypes`` gives it NumPy kind ``f``, unlike its other float8 types): Keras and PyTorch
    refuse them, and Keras's epsilon rounds to 0 in them.
    """
    if array.dtype.kind == "f" and array.dtype.itemsize < 2:
        raise TypeError(f"{name} has the 8-bit float dtype {array.dtype}, which a metric does not read; pass "
                        f"{name}.astype('float32')")
    if array.dtype.kind not in _NUMERIC_KINDS and array.dtype.name != "bfloat16":
        raise TypeError(f"{name} must hold bool, integer or real floating-point numbers; got dtype {array.dtype}")


def check_not_empty(shape, name):
    if math.prod(shape) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(shape)}); pass at least one sample")


def squeeze_or_expand(shape_1, shape_2):
    """Keras's ``squeeze_or_expand_to_same_rank`` on shapes: fix a rank difference of one trailing 1.

    >>> squeeze_or_expand((4, 1), (4,))
    ((4, 1), (4, 1))
    >>> squeeze_or_expand((4, 3, 1), (4, 3))
    ((4, 3), (4, 3))
    """
    shape_1, shape_2 = tuple(shape_1), tuple(shape_2)
    if len(shape_1) == len(shape_2) + 1 and shape_1[-1] == 1:
        if len(shape_2) == 1:
            shape_2 = shape_2 + (1,)
        else:
            shape_1 = shape_1[:-1]
    elif len(shape_2) == len(shape_1) + 1 and shape_2[-1] == 1:
        if len(shape_1) == 1:
            shape_1 = shape_1 + (1,)
        else:
            shape_2 = shape_2[:-1]
    return shape_1, shape_2


def broadcasts_to(shape, target):
    """Whether an array of ``shape`` broadcasts to ``target`` unchanged (NumPy's rule, aligned on the right).

    >>> broadcasts_to((4, 1), (4, 3)), broadcasts_to((3,), (4, 1))
    (True, False)
    """
    if shape == target:  # the common case, without the generator's cost
        return True
    return len(shape) <= len(target) and all(s in (1, t) for s, t in zip(shape[::-1], target[::-1]))


def broadcast(xp, array, shape):
    """``array`` broadcast to ``shape`` (a view), or itself when it has that shape: ``broadcast_to`` costs a few
    microseconds even then, a fifth of a small weighted update.

    >>> import numpy as np
    >>> a = np.ones((4, 1))
    >>> broadcast(np, a, (4, 1)) is a, broadcast(np, a, (4, 3)).shape
    (True, (4, 3))
    """
    return array if array.shape == tuple(shape) else xp.broadcast_to(array, shape)


def broadcast_shape(shape_1, shape_2, name_1, name_2):
    """NumPy broadcasting of two shapes, or a ValueError naming both arguments and shapes."""
    if shape_1 == shape_2:  # the common case, every axis its own broadcast
        return tuple(shape_1)
    result = []
    for a, b in zip(reversed((1,) * (len(shape_2) - len(shape_1)) + shape_1),
                    reversed((1,) * (len(shape_1) - len(shape_2)) + shape_2)):
        if a != b and a != 1 and b != 1:
            raise ValueError(f"{name_1} of shape {shape_1} and {name_2} of shape {shape_2} do not broadcast together")
        result.append(max(a, b) if a != 0 and b != 0 else 0)
    return tuple(reversed(result))


class ReductionPlan(NamedTuple):
    """How one batch maps onto ``error_sums``: a ``(rows, cols)`` element view, one weight per row, two scales."""

    element_shape: Tuple[int, ...]
    rows: int
    cols: int
    weight_shape: Optional[Tuple[int, ...]]  # the weight's shape after the squeeze/expand rule
    weight_cells: Optional[Tuple[int, ...]]  # what that weight broadcasts to before it is flattened to ``rows``
    total_scale: float
    weight_scale: float


@functools.lru_cache(maxsize=256)  # a function of shapes alone, asked at every update: one lookup per repeated batch
def plan_reduction(element_shape, value_ndim, weight_shape, reduce):
    """Keras's ``reduce_to_samplewise_values`` for one batch, worked out on shapes alone.

    ``element_shape`` is the shape ``f(y_true, y_pred)`` is evaluated on; the
    metric's per-sample values are its first ``value_ndim`` axes (the rest are
    averaged, as Keras's ``mean(..., axis=-1)`` functions do). With weights of
    rank ``k`` (after the squeeze/expand rule) each weight covers one cell of
    the values' first ``k`` axes; ``reduce="mean"`` reproduces Keras's
    ``Mean`` totals and counts, ``"sum"`` its ``Sum`` total.

    >>> plan_reduction((8, 3), 1, None, "mean")[1:]
    (8, 3, None, None, 0.3333333333333333, 1.0)
    >>> plan_reduction((8, 3), 2, (8,), "mean")[1:]
    (8, 3, (8,), (8,), 0.3333333333333333, 1.0)
    """
    element_shape = tuple(element_shape)
    value_shape = element_shape[:value_ndim]
    size = math.prod(element_shape)
    if weight_shape is None:
        rows = value_shape[0] if value_shape else 1
        cols = size // rows
        return ReductionPlan(element_shape, rows, cols, None, None, 1.0 / cols if reduce == "mean" else 1.0, 1.0)
    aligned_values, weight_shape = squeeze_or_expand(value_shape, weight_shape)
    if len(aligned_values) != len(value_shape):  # the values lost (squeeze) or gained (expand) a trailing 1
        value_shape = aligned_values
    if len(weight_shape) > len(value_shape):
        raise ValueError(
            f"sample_weight of shape {weight_shape} has more axes than the per-sample values of shape {value_shape}"
            + (" (this metric averages over the last axis, so a 1-D input is one sample; pass inputs of shape "
               "(n, 1) to weight each of n values)" if value_ndim < len(element_shape) else ""))
    cells = value_shape[:len(weight_shape)]
    if not broadcasts_to(weight_shape, cells):
        raise ValueError(f"sample_weight of shape {weight_shape} does not broadcast to the per-sample values' "
                         f"leading axes {cells}")
    rows = math.prod(cells)
    cols = size // rows
    inner = rows // cells[0] if cells else 1
    if reduce == "sum":
        return ReductionPlan(element_shape, rows, cols, weight_shape, cells, 1.0, 1.0)
    return ReductionPlan(element_shape, rows, cols, weight_shape, cells, 1.0 / (cols * inner), 1.0 / inner)
