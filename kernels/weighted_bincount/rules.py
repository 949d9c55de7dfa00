"""How ``weighted_bincount`` turns a row into a class id, shared by both twins as plain scalar functions.

Numba compiles them into the CPU twin (``njit``) and the CUDA kernel (device
functions) alike, so both twins read every row with the same arithmetic. Each
takes ``(values, r, classes, threshold)``, where ``values`` is a 2-D array and
``r`` a row, and returns the row's class id, or -1 when that id is outside
``[0, classes)`` (the row is then dropped):

* ``VALUE`` (0): ``values[r, 0]`` truncated toward zero, as Keras's cast to an
  integer does: -0.5 and 0.9 give 0, 2.7 gives 2, -1 gives -1. The value is read
  as float64 and is in range exactly when ``-1 < v < classes`` (False for NaN,
  so NaN and +-inf are dropped as well). Integers beyond 2**53 are compared as
  their float64 roundings, which only ever moves them among out-of-range values.
* ``ARGMAX`` (1): the column of the row's largest value, the first on ties and
  the first NaN if there is one (``np.argmax``'s rule). Values compare as float64.
* ``THRESHOLD`` (2): 1 when ``values[r, 0] >= threshold``, else 0 (NaN: 0);
  the comparison is exact in float64 (Keras's ``BinaryIoU`` compares in float32).
"""
from numba import float64, int64

VALUE, ARGMAX, THRESHOLD = 0, 1, 2
RULE_NAMES = {VALUE: "value", ARGMAX: "argmax", THRESHOLD: "threshold"}


def value_id(values, r, classes, threshold):
    """``trunc(values[r, 0])`` when it lies in ``[0, classes)``, else -1."""
    v = float64(values[r, 0])
    if v > -1.0 and v < classes:
        return int64(v)
    return int64(-1)


def argmax_id(values, r, classes, threshold):
    """The first column holding the row's largest value (the first NaN wins), or -1 when it is ``>= classes``."""
    cols = values.shape[1]
    best = float64(values[r, 0])
    k = 0
    if best == best:
        for j in range(1, cols):
            x = float64(values[r, j])
            if x != x:
                k = j
                break
            if x > best:
                best = x
                k = j
    if k < classes:
        return int64(k)
    return int64(-1)


def threshold_id(values, r, classes, threshold):
    """1 when ``values[r, 0] >= threshold`` else 0 (NaN: 0), or -1 when that id is ``>= classes``."""
    k = 1 if float64(values[r, 0]) >= threshold else 0
    if k < classes:
        return int64(k)
    return int64(-1)


#: the rule functions, indexed by rule number (each twin compiles the one it needs per launch).
RULES = (value_id, argmax_id, threshold_id)


def check_arguments(y_true, y_pred, weight, true_rule, pred_rule, out):
    """Both launchers refuse shapes a kernel would read or write out of bounds; returns ``(rows, classes)``."""
    if out.ndim != 2 or out.shape[0] != out.shape[1] or out.dtype.kind != "f" or out.dtype.itemsize != 8:
        raise ValueError(f"out must be a square float64 (classes, classes) array; got {out.dtype} of shape "
                         f"{out.shape}")
    if y_true.ndim != 2 or y_pred.ndim != 2 or y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true and y_pred must be 2-D with one row per sample; got shapes {y_true.shape} "
                         f"and {y_pred.shape}")
    rows = y_true.shape[0]
    if weight is not None and weight.shape != (rows,):
        raise ValueError(f"weight must have shape ({rows},); got {weight.shape}")
    for name, values, rule in (("y_true", y_true, true_rule), ("y_pred", y_pred, pred_rule)):
        if rule not in RULE_NAMES:
            raise ValueError(f"{name} rule must be one of {RULE_NAMES}; got {rule!r}")
        if rows and rule != ARGMAX and values.shape[1] != 1:
            raise ValueError(f"the {RULE_NAMES[rule]} rule reads one column; {name} has shape {values.shape}")
        if rows and values.shape[1] == 0:
            raise ValueError(f"the argmax rule needs at least one column; {name} has shape {values.shape}")
    return rows, out.shape[0]
