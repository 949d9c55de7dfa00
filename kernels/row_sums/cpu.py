"""CPU twin of ``row_sums``: one parallel Numba pass over fixed-size row chunks, reduced in chunk order.

Memory picture: each chunk walks ``chunk_rows`` consecutive rows; a row's
per-sample value ``g(y_true, y_pred, r)`` (``row_kinds``) reads its ``C``
columns (twice for the two-pass kinds, from cache) and is added with the
weight of its group (``weight[r // group]``) in float64. Chunk partials are
summed in chunk order and the chunk length depends on the shapes alone, so
the same input gives the same bits on every run, whatever the thread count.
syncs: none (host memory).
"""
import functools

import numba
import numpy as np

from .rules import ROW_KINDS
from .._shared.partitions import CHUNK, in_chunk_order
from .._shared.casts import numba_readable

_NO_WEIGHT = np.ones(1)
_NO_PARAMS = np.zeros(1)


@functools.lru_cache(maxsize=None)
def _chunked_row_sums(kind):
    g = numba.njit(inline="always", error_model="numpy")(ROW_KINDS[kind])

    @numba.njit(parallel=True, nogil=True, error_model="numpy")
    def chunked_row_sums(y_true, y_pred, weight, weighted, group, params, chunk_rows):
        rows = y_pred.shape[0]
        nchunks = (rows + chunk_rows - 1) // chunk_rows
        totals = np.zeros(nchunks)
        weights = np.zeros(nchunks)
        for k in numba.prange(nchunks):
            acc_t = 0.0
            acc_w = 0.0
            for r in range(k * chunk_rows, min((k + 1) * chunk_rows, rows)):
                v = g(y_true, y_pred, r, params)
                if weighted:
                    w = np.float64(weight[r // group])
                    acc_t += w * v
                    if r % group == 0:
                        acc_w += w
                else:
                    acc_t += v
            totals[k] = acc_t
            weights[k] = acc_w
        return in_chunk_order(totals, weights)

    return chunked_row_sums


def row_sums(kind, y_true, y_pred, weight, group, out_total, out_weight, total_scale, weight_scale, params=None):
    """CPU twin of the CUDA ``row_sums`` launcher; same contract (see ``Backend.row_sums``).

    >>> import numpy as np
    >>> t, w = np.zeros(1), np.zeros(1)
    >>> scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    >>> labels = np.array([[1.0], [0.0], [0.0]])
    >>> row_sums("argmax_match", labels, scores, None, 1, t, w, 1.0, 1.0, np.array([1.0, 0.0]))
    >>> t, w
    (array([2.]), array([3.]))
    """
    rows = y_pred.shape[0]
    if rows * y_pred.shape[1] == 0:
        return
    weighted = weight is not None
    total, wsum = _chunked_row_sums(kind)(
        numba_readable(y_true), numba_readable(y_pred), numba_readable(weight) if weighted else _NO_WEIGHT,
        weighted, group, _NO_PARAMS if params is None else params, max(1, CHUNK // y_pred.shape[1]))
    out_total[0] += total_scale * total
    if out_weight is not None:
        out_weight[0] += weight_scale * (wsum if weighted else rows // group)
