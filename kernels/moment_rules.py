"""The arithmetic of ``moments``, shared by both twins and the ``"moments"`` merge rule as plain scalar functions.

Numba compiles them into the CPU twin (``njit``) and the CUDA kernels (device
functions) alike, so a batch is centred and merged with the same arithmetic
everywhere. A column's state is ``(W, mean_x, mean_y, M2x, M2y, Cxy, D)``:
``W = Σw``, the weighted means, ``M2x = Σw(x - mean_x)²``, ``M2y`` likewise,
``Cxy = Σw(x - mean_x)(y - mean_y)`` and ``D = Σw(x - y)²``.
"""

#: rows of a ``moments`` state: ``out[k, l]`` holds quantity ``k`` of column ``l``, in the order above.
STATE_ROWS = 7


def centred(sw, sx, sy, sxx, syy, sxy, sd, shift_x, shift_y):
    """One batch's state from its sums around a shift: ``sx = Σw(x - shift_x)``, ``sxx = Σw(x - shift_x)²``,
    ``sxy = Σw(x - shift_x)(y - shift_y)`` and so on, and ``sd = Σw(x - y)²``.

    With ``a = sx / sw`` (the mean's offset from the shift) the centred sum is
    ``Σw(x - shift - a)² = sxx - a·sx``: the shift keeps ``sxx`` and ``sx`` of
    the data's spread, not of their distance from 0, so little cancels when the
    shift is one of the data (the batch's first row). A batch of total weight 0
    has no mean: it contributes ``D`` only.
    """
    if sw == 0.0:
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, sd
    ax = sx / sw
    ay = sy / sw
    return sw, shift_x + ax, shift_y + ay, sxx - ax * sx, syy - ay * sy, sxy - ax * sy, sd


def merged(wa, mxa, mya, m2xa, m2ya, ca, da, wb, mxb, myb, m2xb, m2yb, cb, db):
    """Chan, Golub & LeVeque's pairwise update: the state of the union of two disjoint parts ``a`` and ``b``.

    ``δ = mean_b - mean_a``; ``mean = mean_a + δ·W_b/W``;
    ``M2 = M2_a + M2_b + δ²·W_a·W_b/W`` (``δx·δy`` for ``Cxy``); ``D`` adds.
    A part of total weight 0 contributes its ``D`` only (it has no mean), so an
    empty or all-zero-weight part leaves the other unchanged. Weights of mixed
    sign whose total is 0 make ``W`` 0 and the result inf / NaN, as Keras's
    division by the weight sum does.

    Precision: a state knows its mean only to half an ulp (6e-8 at 1e9), so
    the cross term carries an error of about ``2 |δ| ulp(mean) W_a W_b / W``:
    relative to ``M2``, about ``ulp(mean) / (σ √n)`` per fold (1e-11 at 1e6,
    1e-8 at 1e9 for σ = 1, n = 100). That is the limit of a mean kept in one
    float64; a single batch, centred from its shifted sums, has no such term.
    """
    if wb == 0.0:
        return wa, mxa, mya, m2xa, m2ya, ca, da + db
    if wa == 0.0:
        return wb, mxb, myb, m2xb, m2yb, cb, da + db
    w = wa + wb
    dx = mxb - mxa
    dy = myb - mya
    fb = wb / w
    f = wa * fb
    return (w, mxa + dx * fb, mya + dy * fb, m2xa + m2xb + dx * dx * f, m2ya + m2yb + dy * dy * f,
            ca + cb + dx * dy * f, da + db)


def check_shapes(x, y, weight, out):
    """Both launchers refuse what would make a kernel read or write out of bounds."""
    if x.ndim != 2 or x.shape != y.shape:
        raise ValueError(f"x and y must be 2-D of one shape (N, L); got {x.shape} and {y.shape}")
    if weight is not None and weight.shape != x.shape:
        raise ValueError(f"weight must have the shape of x {x.shape} (broadcast it first); got {weight.shape}")
    if out.shape != (STATE_ROWS, x.shape[1]):
        raise ValueError(f"out must have shape {(STATE_ROWS, x.shape[1])}; got {out.shape}")
