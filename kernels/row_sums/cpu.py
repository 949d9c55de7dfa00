"""CPU twin of ``row_sums``: one Numba pass over fixed-size row chunks, reduced in chunk order.

Memory picture: each chunk walks ``max(1, CHUNK // cols)`` consecutive rows; a
row's per-sample value ``g`` (``rules.KINDS``) reads its ``cols`` values
through the row and column strides of the flat views (twice for the two-pass
kinds, from cache) and is added with the weight of its group
(``weight[r // group]``) in float64. Chunk partials are summed in chunk order
and the chunk length depends on the shapes alone, so the same input gives the
same bits on every run, whatever the thread count. The chunks are spread over
threads by ``workers.run_items`` (batches below ``2 * ELEMENTS_PER_THREAD`` elements
stay in the calling thread).

Compiled signatures (one per combination, cached on disk): ``y_pred`` and
``weight`` each ``float32`` or ``float64`` (``casts.as_values``); ``y_true``
``float32``, ``float64``, ``int32`` or ``int64``: class ids (one column against
several) are labels (``as_labels``), rows of scores or targets are values
(``as_values``, a subset). All pass as flat read-only views with element
strides: at most 16 signatures. ``code`` is an int64 kind code,
``params`` float64.

Groups (``group_ids``): as ``error_sums``'s CPU twin, partitions of rows into
``[2, G]`` accumulators indexed by the row's group, added in partition order.
syncs: none (host memory).
"""
import numba
import numpy as np

from .._shared.casts import flat, pass_views
from .._shared.compile import cpu_function
from .._shared.kinds import make_switch
from .._shared.partitions import CHUNK, add_grouped_sums, summed_chunks
from .rules import KINDS

_inline = numba.njit(inline="always", error_model="numpy")
#: the rules stay calls: inlining the argmax, top-k and sparse crossentropy rules ran them 1.6-1.8x faster over
#: fresh 4,096 x 10 rows, but cost 40-60 s more to warm row_sums into an empty cache (125 -> 164-182 s)
evaluate = make_switch(KINDS, numba.njit(error_model="numpy"), 8, helper_jit=_inline, switch_jit=_inline)
_NO_PARAMS = flat(np.zeros(1))[0]


@cpu_function
def chunk_row_sums(k, chunk_rows, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, rows, cols, params):
    """Chunk ``k``'s ``(sum w g, sum w)``: rows ``k * chunk_rows`` up to the next chunk's first (or the last row)."""
    acc_t = 0.0
    acc_w = 0.0
    for r in range(k * chunk_rows, min((k + 1) * chunk_rows, rows)):
        v = evaluate(code, t, r * t_rs, t_cs, p, r * p_rs, p_cs, cols, params)
        if weighted:
            wr = np.float64(w[(r // group) * w_s])
            acc_t += wr * v
            if r % group == 0:
                acc_w += wr
        else:
            acc_t += v
    return acc_t, acc_w


@cpu_function
def sum_row_chunks(lo, hi, totals, weights, chunk_rows, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group,
                   rows, cols, params):
    """Chunks ``lo:hi``'s ``(sum w g, sum w)`` into ``totals[k]`` / ``weights[k]``: one task's share."""
    for k in range(lo, hi):
        totals[k], weights[k] = chunk_row_sums(k, chunk_rows, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted,
                                               group, rows, cols, params)


@cpu_function
def part_group_row_sums(acc, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, cols, params, gid, g_rs,
                        groups, start, stop):
    """Rows ``start:stop`` into one partition's ``acc[0 / 1, g]`` (weighted total, weight: one per ``group`` rows);
    rows whose id ``g`` is outside ``[0, groups)`` add nothing."""
    for r in range(start, stop):
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            v = evaluate(code, t, r * t_rs, t_cs, p, r * p_rs, p_cs, cols, params)
            wr = np.float64(w[(r // group) * w_s]) if weighted else 1.0
            acc[0, g] += wr * v
            if r % group == 0:
                acc[1, g] += wr


@cpu_function
def sum_group_row_parts(lo, hi, acc, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, rows, cols, params,
                        gid, g_rs, groups):
    """Partitions ``lo:hi`` of the rows, each into its own ``acc[q]`` (``[2, groups]``): one task's share."""
    parts = acc.shape[0]
    for q in range(lo, hi):
        part_group_row_sums(acc[q], code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, cols, params, gid,
                            g_rs, groups, q * rows // parts, (q + 1) * rows // parts)


def row_sums(kind, y_true, y_pred, weight, group, out_total, out_weight, total_scale, weight_scale, params=None,
             group_ids=None):
    """CPU twin of the CUDA ``row_sums`` launcher; same contract (see ``Backend.row_sums``). ``y_true`` with fewer
    columns than ``y_pred`` holds class ids (read as labels), else rows of values. With ``group_ids`` (one int per
    row), row ``r`` adds into ``out_total[g]`` / ``out_weight[g]`` (``G``-long) of its group ``g``, dropped when
    ``g`` is outside ``[0, G)``.

    >>> import numpy as np
    >>> t, w = np.zeros(1), np.zeros(1)
    >>> scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    >>> labels = np.array([[1.0], [0.0], [0.0]])
    >>> row_sums("argmax_match", labels, scores, None, 1, t, w, 1.0, 1.0, np.array([1.0, 0.0]))
    >>> t, w
    (array([2.]), array([3.]))
    """
    rows, cols = y_pred.shape
    if rows * cols == 0:
        return
    kind = KINDS[kind] if isinstance(kind, str) else kind
    weighted = weight is not None
    t, (t_rs, t_cs), p, (p_rs, p_cs), w, (w_s,) = pass_views(y_true, y_pred, weight, labels=y_true.shape[1] < cols,
                                                             weight_ndim=1)
    params = _NO_PARAMS if params is None else flat(params)[0]
    elements = rows * cols
    if group_ids is not None:
        add_grouped_sums(sum_group_row_parts,
                         (kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group, rows, cols, params),
                         group_ids, rows, elements, out_total, out_weight, total_scale, weight_scale)
        return
    chunk_rows = max(1, CHUNK // cols)
    nchunks = (rows + chunk_rows - 1) // chunk_rows
    if nchunks == 1:  # one chunk (a small batch): its sums as they are, without the partial arrays (the same bits)
        total, wsum = chunk_row_sums(0, chunk_rows, kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, group,
                                     rows, cols, params)
    else:
        total, wsum = summed_chunks(sum_row_chunks, nchunks, chunk_rows, kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w,
                                    w_s, weighted, group, rows, cols, params, elements=elements)
    out_total[0] += total_scale * total
    if out_weight is not None:
        out_weight[0] += weight_scale * (wsum if weighted else rows // group)
