"""CPU twin of ``error_sums``: one parallel Numba pass over fixed-size chunks, reduced in chunk order.

Memory picture: each chunk walks ``CHUNK`` consecutive elements of the
``(rows, cols)`` view row segment by row segment, summing ``f`` over a segment
in float64 and multiplying the segment sum by the row's weight once. Chunk
partials are summed in chunk order, so the result does not depend on the
number of threads: the same input gives the same bits on every run.
syncs: none (host memory).
"""
import functools

import numba
import numpy as np

from .rules import KINDS
from .._shared.casts import numba_readable
from .._shared.partitions import CHUNK, in_chunk_order

_NO_WEIGHT = np.ones(1)
_NO_PARAMS = np.zeros(1)


@functools.lru_cache(maxsize=None)
def _chunked_sums(kind):
    f = numba.njit(inline="always", error_model="numpy")(KINDS[kind])

    @numba.njit(parallel=True, nogil=True, error_model="numpy")
    def chunked_sums(y_true, y_pred, weight, weighted, params):
        rows, cols = y_pred.shape
        n = rows * cols
        nchunks = (n + CHUNK - 1) // CHUNK
        totals = np.zeros(nchunks)
        weights = np.zeros(nchunks)
        for k in numba.prange(nchunks):
            i = k * CHUNK
            stop = min(i + CHUNK, n)
            r = i // cols
            c = i - r * cols
            acc_t = 0.0
            acc_w = 0.0
            if cols == 1:  # one value per row: a flat sum (or dot product with the weights)
                if weighted:
                    for j in range(i, stop):
                        w = np.float64(weight[j])
                        acc_t += w * f(np.float64(y_true[j, 0]), np.float64(y_pred[j, 0]), params)
                        acc_w += w
                else:
                    for j in range(i, stop):
                        acc_t += f(np.float64(y_true[j, 0]), np.float64(y_pred[j, 0]), params)
                i = stop
            while i < stop:
                seg = min(cols - c, stop - i)
                s = 0.0
                for j in range(c, c + seg):
                    s += f(np.float64(y_true[r, j]), np.float64(y_pred[r, j]), params)
                w = np.float64(weight[r]) if weighted else 1.0
                acc_t += w * s
                if c == 0:
                    acc_w += w
                i += seg
                r += 1
                c = 0
            totals[k] = acc_t
            weights[k] = acc_w
        return in_chunk_order(totals, weights)

    return chunked_sums


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
    weighted = weight is not None
    total, wsum = _chunked_sums(kind)(
        numba_readable(y_true), numba_readable(y_pred), numba_readable(weight) if weighted else _NO_WEIGHT, weighted,
        _NO_PARAMS if params is None else params,
    )
    out_total[0] += total_scale * total
    if out_weight is not None:
        out_weight[0] += weight_scale * (wsum if weighted else rows)
