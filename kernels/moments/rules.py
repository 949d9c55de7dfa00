"""The arithmetic of ``moments``, shared by both twins and the ``"moments"`` merge rule as plain scalar functions.

Numba compiles them into the CPU twin (``njit``) and the CUDA kernels (device
functions) alike, so a batch is summed, centred and merged with the same
arithmetic everywhere. Sums and parts travel as 7-tuples of float64 (kept in
registers on either device); a state's column is updated in place.

A column's state is ``(W, mean_x, mean_y, M2x, M2y, Cxy, D)``: ``W = Σw``, the
weighted means, ``M2x = Σw(x - mean_x)²``, ``M2y`` likewise,
``Cxy = Σw(x - mean_x)(y - mean_y)`` and ``D = Σw(x - y)²``. A batch is first
summed around a shift ``(shift_x, shift_y)``, into seven sums
``(Σw, Σw dx, Σw dy, Σw dx², Σw dy², Σw dx dy, Σw (x - y)²)`` with
``dx = x - shift_x`` and ``dy = y - shift_y``.
"""
from .._shared.groups import check_group_ids

#: rows of a ``moments`` state: ``out[k, l]`` holds quantity ``k`` of column ``l``, in the order above.
STATE_ROWS = 7
#: the seven sums of no element (the start of every accumulation).
NO_SUMS = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def accumulated(sums, xv, yv, w, shift_x, shift_y):
    """``sums`` (a 7-tuple around ``(shift_x, shift_y)``) with the element ``(xv, yv)`` of weight ``w`` added.

    ``xv``, ``yv``, ``w`` are float64 (the caller casts what it reads); each of
    the seven sums gets one addition, so a run of calls adds in the run's order.
    """
    sw, sx, sy, sxx, syy, sxy, sd = sums
    dx = xv - shift_x
    dy = yv - shift_y
    e = xv - yv
    wdx = w * dx
    wdy = w * dy
    return sw + w, sx + wdx, sy + wdy, sxx + wdx * dx, syy + wdy * dy, sxy + wdx * dy, sd + w * e * e


def combined(a, b):
    """The seven sums of two parts summed around one shift: ``a + b``, sum by sum (``b`` a tuple or 7 array items)."""
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], a[4] + b[4], a[5] + b[5], a[6] + b[6]


def centred(sums, shift_x, shift_y):
    """One batch's state from its seven sums around a shift: ``sums = (sw, sx, sy, sxx, syy, sxy, sd)`` with
    ``sx = Σw(x - shift_x)``, ``sxx = Σw(x - shift_x)²``, ``sxy = Σw(x - shift_x)(y - shift_y)`` and so on,
    and ``sd = Σw(x - y)²``.

    With ``a = sx / sw`` (the mean's offset from the shift) the centred sum is
    ``Σw(x - shift - a)² = sxx - a·sx``: the shift keeps ``sxx`` and ``sx`` of
    the data's spread, not of their distance from 0, so little cancels when the
    shift is one of the data (the batch's first row). A batch of total weight 0
    has no mean: its state is the zero-weight form (see ``merge``), its sums
    moved to the origin: ``Σw x = sx`` (a zero weight sum makes it the same
    around every point), ``Σw x² = sxx + 2 shift_x sx``,
    ``Σw x y = sxy + shift_x sy + shift_y sx``.
    """
    sw, sx, sy, sxx, syy, sxy, sd = sums
    if sw == 0.0:
        return (0.0, sx, sy, sxx + 2.0 * shift_x * sx, syy + 2.0 * shift_y * sy, sxy + shift_x * sy + shift_y * sx,
                sd)
    ax = sx / sw
    ay = sy / sw
    return sw, shift_x + ax, shift_y + ay, sxx - ax * sx, syy - ay * sy, sxy - ax * sy, sd


def merge(state, part):
    """``state`` ← the union of ``state`` and ``part``, in place: Chan, Golub & LeVeque's pairwise update.

    ``state`` (``a``) is 7 float64 array items, a column ``out[:, l]`` of a
    state; ``part`` (``b``) is 7 float64, a tuple or another state's column.
    Both are read in full before ``state`` is written, so they may be the same
    column. ``δ = mean_b - mean_a``; ``mean = mean_a + δ·W_b/W``;
    ``M2 = M2_a + M2_b + δ²·W_a·W_b/W`` (``δx·δy`` for ``Cxy``); ``D`` adds.

    A state (or part) of total weight 0 has no mean; it is kept in its
    zero-weight form ``(0, Σw x, Σw y, Σw x², Σw y², Σw x y, D)``, sums around
    the origin (``Σw x`` is the same around every point when ``Σw = 0``), so
    weights of mixed sign that cancel in a batch or a prefix are still counted
    exactly: with ``W_b = 0`` (``S = Σ_b w x``, ``Q = Σ_b w x²``),
    ``mean = mean_a + S/W_a`` and ``M2 = M2_a + S²/W_a + Q - 2·mean·S``
    (``Cxy = C_a + Sx·Sy/W_a + Σ_b w x y - mean_x·Sy - mean_y·Sx``); two
    zero-weight forms add; two parts whose weights cancel give the zero-weight
    form. An empty or all-zero-weight part is all zeros but ``D``: it leaves
    the other unchanged. The zero-weight form's sums around the origin lose
    about ``ulp(mean)/σ`` of ``M2`` (relative) for data far from 0.

    Precision: a state knows its mean only to half an ulp (6e-8 at 1e9), so
    the cross term carries an error of about ``2 |δ| ulp(mean) W_a W_b / W``:
    relative to ``M2``, about ``ulp(mean) / (σ √n)`` per fold (1e-11 at 1e6,
    1e-8 at 1e9 for σ = 1, n = 100). That is the limit of a mean kept in one
    float64; a single batch, centred from its shifted sums, has no such term.
    """
    wa, mxa, mya, m2xa, m2ya, ca, da = state[0], state[1], state[2], state[3], state[4], state[5], state[6]
    wb, mxb, myb, m2xb, m2yb, cb, db = part[0], part[1], part[2], part[3], part[4], part[5], part[6]
    if wa == 0.0 and wb == 0.0:
        n = (0.0, mxa + mxb, mya + myb, m2xa + m2xb, m2ya + m2yb, ca + cb, da + db)
    elif wa == 0.0 or wb == 0.0:
        if wb == 0.0:  # (w, mean, M2) of the weighted side; (S, Q) of the zero-weight side
            w, mx0, my0, m2x, m2y, c, sx, sy, qx, qy, qxy = wa, mxa, mya, m2xa, m2ya, ca, mxb, myb, m2xb, m2yb, cb
        else:
            w, mx0, my0, m2x, m2y, c, sx, sy, qx, qy, qxy = wb, mxb, myb, m2xb, m2yb, cb, mxa, mya, m2xa, m2ya, ca
        mx = mx0 + sx / w
        my = my0 + sy / w
        n = (w, mx, my, m2x + sx * sx / w + qx - 2.0 * mx * sx, m2y + sy * sy / w + qy - 2.0 * my * sy,
             c + sx * sy / w + qxy - mx * sy - my * sx, da + db)
    else:
        w = wa + wb
        dx = mxb - mxa
        dy = myb - mya
        if w == 0.0:  # the weights cancel: the zero-weight form, sums first around mean_b, then at the origin
            sx = wa * -dx
            sy = wa * -dy
            qx = m2xa + m2xb + wa * dx * dx
            qy = m2ya + m2yb + wa * dy * dy
            qxy = ca + cb + wa * dx * dy
            n = (0.0, sx, sy, qx + 2.0 * mxb * sx, qy + 2.0 * myb * sy, qxy + mxb * sy + myb * sx, da + db)
        else:
            fb = wb / w
            f = wa * fb
            n = (w, mxa + dx * fb, mya + dy * fb, m2xa + m2xb + dx * dx * f, m2ya + m2yb + dy * dy * f,
                 ca + cb + dx * dy * f, da + db)
    for k in range(STATE_ROWS):
        state[k] = n[k]


def check_inputs(x, y, weight):
    """``x``, ``y`` (and ``weight``): 2-D of one shape ``(N, L)``."""
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must be 2-D of one shape (N, L); got {x.shape} and {y.shape}")
    if weight is not None and weight.shape != x.shape:
        raise ValueError(f"weight must have the shape of x {x.shape} (broadcast it first); got {weight.shape}")


def check_shapes(x, y, weight, out):
    """Both launchers refuse what would make a kernel read or write out of bounds."""
    check_inputs(x, y, weight)
    if out.shape != (STATE_ROWS, x.shape[1]):
        raise ValueError(f"out must have shape {(STATE_ROWS, x.shape[1])}; got {out.shape}")


def check_grouped_shapes(x, y, weight, out, group_ids):
    """``G`` of a grouped call (``out``: ``[7, G * L]``), after the checks of ``check_shapes`` and the ids'."""
    check_inputs(x, y, weight)
    rows, cols = x.shape
    if out.ndim != 2 or out.shape[0] != STATE_ROWS or cols == 0 or out.shape[1] % cols or not out.shape[1]:
        raise ValueError(f"grouped moments add into out of shape (7, G * L) with L = {cols} columns; got "
                         f"{out.shape}")
    check_group_ids(group_ids, rows)
    return out.shape[1] // cols


def state_columns(out, other=None):
    """``out`` (and ``other``) as ``[7, K]``: a state of shape ``(7, ...)`` (a grouped ``(7, G, L)``) seen with its
    trailing axes flattened, in place (a C-contiguous state: the merge writes through the view)."""
    if out.shape[0] != STATE_ROWS or (other is not None and other.shape != out.shape):
        raise ValueError(f"moments states must both be (7, ...) of one shape; got {out.shape} and "
                         f"{None if other is None else other.shape}")
    if not out.flags.c_contiguous:
        raise ValueError("a moments state must be C-contiguous to be merged in place")
    return out.reshape(STATE_ROWS, -1)
