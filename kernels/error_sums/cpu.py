"""CPU twin of ``error_sums``: one Numba pass over fixed-size chunks, reduced in chunk order.

Memory picture: each chunk walks ``CHUNK`` consecutive elements of the
``(rows, cols)`` view row segment by row segment, summing ``f`` over a segment
in float64 and multiplying the segment sum by the row's weight once. Chunk
partials are summed in chunk order, so the result does not depend on the
number of threads nor on the build: the same input gives the same bits on
every run. Batches below ``PARALLEL_CUTOVER`` elements run the serial build of
the same source (no worker threads to wake or to wait for).

Compiled signatures (one per combination, cached on disk): ``y_true``,
``y_pred`` and ``weight`` each ``float32`` or ``float64`` (``casts.as_values``),
passed as flat read-only views with element strides; ``code`` an int64 kind
code, ``params`` float64.
syncs: none (host memory).
"""
import numba
import numpy as np

from .._shared.casts import flat, pass_views
from .._shared.compile import cpu_builds, cpu_function
from .._shared.kinds import make_switch
from .._shared.partitions import CHUNK, in_chunk_order
from .rules import KINDS

evaluate = make_switch(KINDS, numba.njit(inline="always", error_model="numpy"), 3)
_NO_PARAMS = flat(np.zeros(1))[0]


@cpu_function
def chunk_sums(k, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, rows, cols, params):
    """Chunk ``k``'s ``(sum w f, sum w)``: its ``CHUNK`` elements, row segment by row segment."""
    n = rows * cols
    i = k * CHUNK
    stop = min(i + CHUNK, n)
    r = i // cols
    c = i - r * cols
    acc_t = 0.0
    acc_w = 0.0
    if cols == 1:  # one value per row: a flat sum (or dot product with the weights)
        for j in range(i, stop):
            v = evaluate(code, np.float64(t[j * t_rs]), np.float64(p[j * p_rs]), params)
            if weighted:
                wj = np.float64(w[j * w_s])
                acc_t += wj * v
                acc_w += wj
            else:
                acc_t += v
        return acc_t, acc_w
    while i < stop:
        seg = min(cols - c, stop - i)
        s = 0.0
        for j in range(c, c + seg):
            s += evaluate(code, np.float64(t[r * t_rs + j * t_cs]), np.float64(p[r * p_rs + j * p_cs]), params)
        wr = np.float64(w[r * w_s]) if weighted else 1.0
        acc_t += wr * s
        if c == 0:
            acc_w += wr
        i += seg
        r += 1
        c = 0
    return acc_t, acc_w


@cpu_builds
def chunked_sums(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, rows, cols, params):
    """``(sum_r w_r sum_c f(t[r, c], p[r, c]), sum_r w_r)``: chunk partials summed in chunk order."""
    nchunks = (rows * cols + CHUNK - 1) // CHUNK
    totals = np.zeros(nchunks)
    weights = np.zeros(nchunks)
    for k in numba.prange(nchunks):
        totals[k], weights[k] = chunk_sums(k, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, rows, cols,
                                           params)
    return in_chunk_order(totals, weights)


def error_sums(kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale, params=None):
    """CPU twin of the CUDA ``error_sums`` launcher; same contract (see ``Backend.error_sums``).

    >>> import numpy as np
    >>> t, w = np.zeros(1), np.zeros(1)
    >>> error_sums("squared_error", np.zeros((2, 2)), np.ones((2, 2)), np.array([1.0, 3.0]), t, w, 0.5, 1.0)
    >>> t, w
    (array([4.]), array([4.]))
    """
    rows, cols = y_pred.shape
    if rows * cols == 0:
        return
    kind = KINDS[kind] if isinstance(kind, str) else kind
    weighted = weight is not None
    t, (t_rs, t_cs), p, (p_rs, p_cs), w, (w_s,) = pass_views(y_true, y_pred, weight, labels=False, weight_ndim=1)
    total, wsum = chunked_sums.for_size(rows * cols)(
        kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, rows, cols,
        _NO_PARAMS if params is None else flat(params)[0])
    out_total[0] += total_scale * total
    if out_weight is not None:
        out_weight[0] += weight_scale * (wsum if weighted else rows)
