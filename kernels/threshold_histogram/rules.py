"""The bucket rule of ``threshold_histogram`` and its named kinds, shared by both twins as plain scalar functions.

Two closed sets of named kinds, each declared once (``kinds.declare``, no
parameters), which metrics pass by name and the kernels see as codes:

* ``TRANSFORMS``: what a prediction becomes before it is bucketed:
  ``as_is``, ``clip`` (to ``[0, 1]``, as Keras does on its evenly spaced path)
  or ``sigmoid`` (``from_logits``).
* ``BUCKETINGS``: how the bucket is found: ``binary_search`` (any sorted
  thresholds) or ``evenly_spaced`` (an O(1) guess for thresholds near
  ``i / (T - 1)``, fixed up against the values, so it gives the same bucket;
  with ``extras``, a grid plus a few thresholds, guessed on the grid through
  a table, ``grid_hint``).

Numba compiles these functions into the CPU twin (``njit``) and the CUDA kernel
(device functions) alike through ``kinds.make_switch``, so both twins bucket
every prediction with the same arithmetic. Imports no Numba.
"""
import math
from typing import NamedTuple

import numpy as np

from .._shared.casts import flat, pass_views
from .._shared.groups import check_group_ids
from .._shared.kinds import declare


def as_is(p):
    """The prediction itself."""
    return p


def clip(p):
    """``p`` clipped to ``[0, 1]`` (NaN stays NaN)."""
    if p < 0.0:
        return 0.0
    if p > 1.0:
        return 1.0
    return p


def sigmoid(p):
    """``1 / (1 + exp(-p))``, written so that exp never overflows (NaN stays NaN)."""
    if p >= 0.0:
        return 1.0 / (1.0 + math.exp(-p))
    e = math.exp(p)
    return e / (1.0 + e)


def binary_search(p, thresholds, count, extras):
    """The number of ``thresholds[:count]`` strictly below ``p``, by a branch-free binary search (0 for NaN;
    ``extras``, ``evenly_spaced``'s hint, unused).

    Invariant: the answer lies in ``[base, base + n]``; each step halves ``n``
    with a select instead of a branch, so the loop runs ``ceil(log2(count))``
    times whatever the data.

    >>> binary_search(0.5, [0.0, 0.5, 1.0], 3, 0), binary_search(float("nan"), [0.0, 0.5, 1.0], 3, 0)
    (1, 0)
    """
    if count == 0:
        return 0
    base = 0
    n = count
    while n > 1:
        half = n >> 1
        base = base + half if thresholds[base + half] < p else base
        n -= half
    return base + 1 if thresholds[base] < p else base


def evenly_spaced(p, thresholds, count, extras):
    """``binary_search`` for thresholds near ``i / (n - 1)``: an O(1) guess, fixed up against the values.

    ``thresholds[:count]`` are the sorted thresholds. With ``extras = 0`` they
    are the grid (``n = count``). Otherwise they are a grid of ``n = extras -
    1`` points plus a few off it (a collection's union of AUC's 200 and a
    metric's 0.5), and the ``extras`` entries after them are
    :func:`grid_hint`'s table: entry ``j`` counts the thresholds off the grid
    below grid point ``j - 1``, added to the guess of ``j`` grid points below
    ``p``. The guess then stays as good as on the grid alone instead of one off
    for a random share of predictions (each a mispredicted branch), at the cost
    of one table read. The fix-up makes the answer exact whatever the guess;
    entries outside ``(0, count]`` (NaN included) add nothing and the guess is
    clamped to ``count``, so no table makes a read fall outside.
    (Counting the extras with a loop of one compare each, as this was first
    written, took the CUDA kernel from 48 to 91 registers per thread on sm_90:
    the loop was unrolled into its hot loop. A binary search over them kept 50
    registers but doubled the CPU time of a collection's union pass.)

    >>> evenly_spaced(0.5, [0.0, 0.5, 1.0], 3, 0), evenly_spaced(0.5000001, [0.0, 0.5, 1.0], 3, 0)
    (1, 2)
    >>> evenly_spaced(0.6, [0.0, 0.5, 0.55, 1.0, 0.0, 0.0, 1.0, 1.0], 4, 4)  # the grid 0, 0.5, 1 and the extra 0.55
    3
    """
    grid = count if extras == 0 else extras - 1
    x = p * (grid - 1)
    if x > 0.0:  # False for NaN: NaN stays in bucket 0, as no comparison below moves it
        k = grid if x >= grid else int(math.ceil(x))
    else:
        k = 0
    if extras > 0:
        below = thresholds[count + k]
        if below > 0.0 and below <= count:  # a table is data: NaN, negative or huge entries add nothing
            k += int(below)
        if k > count:
            k = count
    while k < count and thresholds[k] < p:
        k += 1
    while k > 0 and not thresholds[k - 1] < p:
        k -= 1
    return k


def count_below(p, thresholds, count, extras):
    """``binary_search``'s answer by counting: one compare per threshold and no branch on the data, so a CPU loop
    over a few thresholds (``Precision``'s one) runs without the mispredicted branches of a search (0 for NaN;
    ``extras`` unused).

    >>> count_below(0.5, [0.0, 0.5, 1.0], 3, 0), count_below(0.7, [0.0, 0.5, 1.0], 3, 0)
    (1, 2)
    >>> count_below(float("nan"), [0.5], 1, 0)
    0
    """
    k = 0
    for j in range(count):
        k += 1 if thresholds[j] < p else 0
    return k


def grid_hint(off_grid, grid):
    """``evenly_spaced``'s table for thresholds that are the evenly spaced ``grid`` (sorted) and the sorted
    ``off_grid`` ones: float64 ``[len(grid) + 1]``, entry ``j`` the number of ``off_grid`` strictly below
    ``grid[j - 1]`` (entry 0: none). Append it to the sorted union of both and pass ``extras=len(grid) + 1``.

    >>> grid_hint([0.55], [0.0, 0.5, 1.0]).tolist()
    [0.0, 0.0, 0.0, 1.0]
    """
    below = np.searchsorted(np.asarray(off_grid, dtype=np.float64), np.asarray(grid, dtype=np.float64), side="left")
    return np.concatenate([[0.0], below]).astype(np.float64)


#: what a prediction becomes before it is bucketed: ``TRANSFORMS[name]`` (no parameters).
TRANSFORMS = declare((as_is, ()), (clip, ()), (sigmoid, ()))
#: how its bucket is found: ``BUCKETINGS[name]`` (no parameters).
BUCKETINGS = declare((binary_search, ()), (evenly_spaced, ()))


#: the plane of a histogram that counts the positive labels that are not exactly 1 (both twins: planes 0 and 1
#: are the negative and the positive labels). ``BinaryAccuracy`` compares ``y_true == (y_pred > t)``, so such a label
#: never matches; the threshold family counts it as a positive. With this plane one pass serves both.
OTHER = 2


def check_other(out_pos, out_other):
    """``out_other`` is None or a ``float64`` state of ``out_pos``'s shape (a kernel would write out of bounds)."""
    if out_other is not None and (out_other.shape != out_pos.shape or out_other.dtype != out_pos.dtype):
        raise ValueError(f"out_other must be None or of out_pos's shape {out_pos.shape} and dtype {out_pos.dtype}; "
                         f"got {out_other.shape} {out_other.dtype}")


def check_out_shapes(y_pred, count, out_pos, out_neg, groups=1):
    """Both launchers refuse states that are not ``[T + 1, groups * L]`` (``T = count``): a kernel would write out of
    bounds."""
    expected = (count + 1, groups * y_pred.shape[1])
    if out_pos.shape != expected or out_neg.shape != expected:
        raise ValueError(f"out_pos and out_neg must have shape {expected}, got {out_pos.shape} and {out_neg.shape}")


def count_groups(y_pred, group_ids, out_pos):
    """``G``: 1 without ``group_ids``, else the groups the state's ``G * L`` columns hold (``y_pred``: ``(N, L)``).
    Refuses ids that are not one integer per row (``TypeError`` / ``ValueError``)."""
    if group_ids is None:
        return 1
    rows, cols = y_pred.shape
    check_group_ids(group_ids, rows)
    if cols == 0 or out_pos.ndim != 2 or out_pos.shape[1] % cols:
        raise ValueError(f"out_pos must have shape (T + 1, G * {cols}) with group_ids; got {out_pos.shape}")
    return out_pos.shape[1] // cols


def flat_thresholds(thresholds):
    """The sorted thresholds as the flat read-only view both kernels index directly (a copy when strided)."""
    return flat(thresholds if thresholds.flags.c_contiguous else thresholds.copy())[0]


class PassArguments(NamedTuple):
    """The arguments both kernels take first, in their order (a tuple: ``kernel(*arguments, ...)``)."""
    t: object
    t_rs: int
    t_cs: int
    p: object
    p_rs: int
    p_cs: int
    w: object
    w_rs: int
    w_cs: int
    weighted: bool
    rows: int
    cols: int
    thresholds: object
    count: int
    bucketing: int
    transform: int


def threshold_count(thresholds, extras):
    """``T``: the thresholds' length less the ``extras`` entries after them (``evenly_spaced``'s table, one entry
    more than its grid, which the thresholds hold: at most ``T + 1``)."""
    if not 0 <= extras <= (thresholds.shape[0] + 1) // 2:
        raise ValueError(f"extras must lie in [0, {(thresholds.shape[0] + 1) // 2}] (a table of one entry more than "
                         f"the grid the thresholds hold); got {extras} for {thresholds.shape[0]} entries")
    return thresholds.shape[0] - extras


def pass_arguments(y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg, groups=1, extras=0):
    """What both launchers check and hand their kernel: ``None`` for an empty batch, else :class:`PassArguments`
    (labels, predictions and weights as flat views, the thresholds' count, the kinds by code)."""
    count = threshold_count(thresholds, extras)
    check_out_shapes(y_pred, count, out_pos, out_neg, groups)
    rows, cols = y_pred.shape
    if rows * cols == 0:
        return None
    bucketing = BUCKETINGS[bucketing] if isinstance(bucketing, str) else bucketing
    transform = TRANSFORMS[transform] if isinstance(transform, str) else transform
    t, (t_rs, t_cs), p, (p_rs, p_cs), w, (w_rs, w_cs) = pass_views(y_true, y_pred, weight, labels=True, weight_ndim=2)
    return PassArguments(t, t_rs, t_cs, p, p_rs, p_cs, w, w_rs, w_cs, weight is not None, rows, cols,
                         flat_thresholds(thresholds), count, bucketing.code, transform.code)
