"""How ``weighted_bincount`` turns a row into a class id: the named row rules both twins compile, and their parameters.

Each rule is a plain scalar function (no Numba: the twins compile it with
``kinds.make_switch``) of ``(values, start, step, cols, classes, threshold)``:
the row is ``values[start + j * step]`` for ``j < cols`` (a flat view, see
``casts.flat``), read as float64. It returns the row's class id, or -1 when
that id is outside ``[0, classes)`` (the row is then dropped). Metrics name a
rule (``RULES["threshold"]``) and pass its parameter by name; ``threshold`` is
read only by the rule that declares it.

* ``value``: the row's one value truncated toward zero, as Keras's cast to an
  integer does: -0.5 and 0.9 give 0, 2.7 gives 2, -1 gives -1. It is in range
  exactly when ``-1 < v < classes`` (False for NaN, so NaN and +-inf are
  dropped as well). Integers beyond 2**53 are compared as their float64
  roundings, which only ever moves them among out-of-range values.
* ``argmax``: the column of the row's largest value, the first on ties and the
  first NaN if there is one (``np.argmax``'s rule, ``_shared.argmax``).
* ``threshold``: 1 when the row's one value is ``>= threshold``, else 0 (NaN:
  0); the comparison is exact in float64 (Keras's ``BinaryIoU`` compares in
  float32).
"""
import numpy as np

from .._shared.argmax import argmax as first_argmax
from .._shared.groups import check_group_ids
from .._shared.kinds import declare


def value(values, start, step, cols, classes, threshold):
    """``trunc(values[start])`` when it lies in ``[0, classes)``, else -1."""
    v = np.float64(values[start])
    if v > -1.0 and v < classes:
        return np.int64(v)
    return np.int64(-1)


def argmax(values, start, step, cols, classes, threshold):
    """The first column holding the row's largest value (the first NaN wins), or -1 when it is ``>= classes``."""
    k = first_argmax(values, start, step, cols)
    if k < classes:
        return np.int64(k)
    return np.int64(-1)


def threshold(values, start, step, cols, classes, threshold):
    """1 when ``values[start] >= threshold`` else 0 (NaN: 0), or -1 when that id is ``>= classes``."""
    k = 1 if np.float64(values[start]) >= threshold else 0
    if k < classes:
        return np.int64(k)
    return np.int64(-1)


#: every row rule, in the order of its code: ``(rule, names of its parameters)``.
RULES = declare(
    (value, ()),
    (argmax, ()),
    (threshold, ("threshold",)),
)


def resolve(rule, threshold_value):
    """``(kind, threshold)`` for the kernels: ``rule`` (a name or one of ``RULES``) and its packed parameter
    (``threshold_value`` for the rule that declares ``threshold``, else unused and 0)."""
    kind = RULES.get(rule) if isinstance(rule, str) else rule
    if kind not in RULES.values():
        raise ValueError(f"a row rule must be one of {sorted(RULES)}; got {rule!r}")
    packed = kind.pack(**{name: threshold_value for name in kind.params})
    return kind, packed[0] if packed else 0.0


def check_arguments(y_true, y_pred, weight, true_rule, pred_rule, out, group_ids=None):
    """Both launchers refuse shapes a kernel would read or write out of bounds; returns ``(rows, classes,
    groups)``. ``true_rule`` and ``pred_rule`` are ``RULES`` entries; with ``group_ids`` ``out`` is ``(G, C, C)``."""
    square = out.ndim == 2 + (group_ids is not None) and out.shape[-2] == out.shape[-1]
    if group_ids is not None and not (square and out.flags.c_contiguous):  # the kernels see it as (G * C, C)
        raise ValueError(f"out must be a C-contiguous float64 (groups, classes, classes) array with group_ids; got "
                         f"{out.dtype} of shape {out.shape}")
    if not square or out.dtype.kind != "f" or out.dtype.itemsize != 8:
        raise ValueError(f"out must be a square float64 (classes, classes) array; got {out.dtype} of shape "
                         f"{out.shape}")
    if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true and y_pred must be 2-D with one row per sample; got shapes {y_true.shape} "
                         f"and {y_pred.shape}")
    rows = y_true.shape[0]
    if weight is not None and weight.shape != (rows,):
        raise ValueError(f"weight must have shape ({rows},); got {weight.shape}")
    for name, values, rule in (("y_true", y_true, true_rule), ("y_pred", y_pred, pred_rule)):
        if rows and rule is not RULES["argmax"] and values.shape[1] != 1:
            raise ValueError(f"the {rule.name} rule reads one column; {name} has shape {values.shape}")
        if rows and values.shape[1] == 0:
            raise ValueError(f"the argmax rule needs at least one column; {name} has shape {values.shape}")
    if group_ids is not None:
        check_group_ids(group_ids, rows)
    return rows, out.shape[-1], 1 if group_ids is None else out.shape[0]
