"""CPU twin of ``error_sums``: one Numba pass over fixed-size chunks, reduced in chunk order.

Memory picture: each chunk walks ``CHUNK`` consecutive elements of the
``(rows, cols)`` view row segment by row segment, summing ``f`` over a segment
in float64 and multiplying the segment sum by the row's weight once. Chunk
partials are summed in chunk order, so the result does not depend on the
number of threads: the same input gives the same bits on every run. The
chunks are spread over threads by ``workers.run_items`` (batches below
``2 * ELEMENTS_PER_THREAD`` elements stay in the calling thread).

Compiled signatures (one per combination, cached on disk): ``y_true``,
``y_pred`` and ``weight`` each ``float32`` or ``float64`` (``casts.as_values``),
passed as flat read-only views with element strides; ``code`` an int64 kind
code, ``params`` float64.

Groups (``group_ids``): ``sum_group_parts`` cuts the rows into partitions (``groups.partition_count``: fixed by the
shapes), each adds its rows' weighted totals and weights into its own ``[2, G]`` accumulator indexed by the row's
group, and the partitions are added in order: the same bits on every run.
syncs: none (host memory).
"""
import numba
import numpy as np

from .._shared.casts import flat, pass_views
from .._shared.compile import cpu_function
from .._shared.kinds import make_switch
from .._shared.partitions import CHUNK, add_grouped_sums, summed_chunks
from .rules import KINDS

#: the switch is inlined into each loop, its rules are compiled once as functions of their own and left to LLVM to
#: inline. Rules inlined by Numba made ``binary_accuracy`` branchy (83 against 12 ms over 1e7 float32 on one thread:
#: a mispredicted branch per element) and were compiled again into every loop and every signature (the first
#: compile of the serial kernel 5.6 -> 3.6 s, each further dtype signature 5.9 -> 1.8 s); other kinds run as fast.
evaluate = make_switch(KINDS, numba.njit(error_model="numpy"), 3,
                       switch_jit=numba.njit(inline="always", error_model="numpy"))
_NO_PARAMS = flat(np.zeros(1))[0]


@cpu_function
def flat_sums(code, t, t_s, p, p_s, w, w_s, weighted, start, stop, params):
    """``(sum w f, sum w)`` over elements ``start:stop`` of a one-column batch (a flat sum, or a dot product with
    the weights). A function of its own: compiled as one function with the row-segment loop, this loop ran 2.5-3.5x
    slower (33-35 against 10-14 ms over 1e7 float32 on one thread; the same bits)."""
    acc_t = 0.0
    acc_w = 0.0
    if weighted:
        for j in range(start, stop):
            wj = np.float64(w[j * w_s])
            acc_t += wj * evaluate(code, np.float64(t[j * t_s]), np.float64(p[j * p_s]), params)
            acc_w += wj
    else:
        for j in range(start, stop):
            acc_t += evaluate(code, np.float64(t[j * t_s]), np.float64(p[j * p_s]), params)
    return acc_t, acc_w


@cpu_function
def segment_sums(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, cols, start, stop, params):
    """``(sum_r w_r sum_c f, sum_r w_r)`` over elements ``start:stop`` of a ``(rows, cols)`` batch, row segment by
    row segment: each segment summed in float64, then multiplied by its row's weight once; a row's weight
    counts in the chunk that holds its first column."""
    acc_t = 0.0
    acc_w = 0.0
    i = start
    r = i // cols
    c = i - r * cols
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


@cpu_function
def flat_chunks(lo, hi, totals, weights, code, t, t_s, p, p_s, w, w_s, weighted, elements, params):
    """Chunks ``lo:hi`` of a one-column batch (``flat_sums``) into ``totals[k]`` / ``weights[k]``: one task's
    share. The launcher picks this or ``segment_chunks`` by the shape, so a first call compiles one loop, not both."""
    for k in range(lo, hi):
        totals[k], weights[k] = flat_sums(code, t, t_s, p, p_s, w, w_s, weighted, k * CHUNK,
                                          min((k + 1) * CHUNK, elements), params)


@cpu_function
def segment_chunks(lo, hi, totals, weights, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, cols, elements,
                   params):
    """Chunks ``lo:hi`` of a ``(rows, cols)`` batch (``segment_sums``) into ``totals[k]`` / ``weights[k]``."""
    for k in range(lo, hi):
        totals[k], weights[k] = segment_sums(code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, cols, k * CHUNK,
                                             min((k + 1) * CHUNK, elements), params)


@cpu_function
def part_group_sums(acc, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, cols, params, gid, g_rs, groups, start,
                    stop):
    """Rows ``start:stop`` into one partition's ``acc[0 / 1, group]`` (weighted total, weight); rows whose id is
    outside ``[0, groups)`` add nothing. One-column rows take a loop of their own, with no column loop inside: each
    row adds the same values, so the same bits; a grouped MSE over 1e7 rows in 1,000 groups on one thread, 62-73 ->
    35-38 ms unweighted (weighted 58-66 -> 44-46), its first compile about 1 s longer."""
    if cols == 1:
        for r in range(start, stop):
            g = gid[r * g_rs]
            if g >= 0 and g < groups:
                wr = np.float64(w[r * w_s]) if weighted else 1.0
                acc[0, g] += wr * evaluate(code, np.float64(t[r * t_rs]), np.float64(p[r * p_rs]), params)
                acc[1, g] += wr
        return
    for r in range(start, stop):
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            s = 0.0
            for c in range(cols):
                s += evaluate(code, np.float64(t[r * t_rs + c * t_cs]), np.float64(p[r * p_rs + c * p_cs]), params)
            wr = np.float64(w[r * w_s]) if weighted else 1.0
            acc[0, g] += wr * s
            acc[1, g] += wr


@cpu_function
def sum_group_parts(lo, hi, acc, code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, rows, cols, params, gid, g_rs,
                    groups):
    """Partitions ``lo:hi`` of the rows, each into its own ``acc[q]`` (``[2, groups]``): one task's share."""
    parts = acc.shape[0]
    for q in range(lo, hi):
        part_group_sums(acc[q], code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, cols, params, gid, g_rs, groups,
                        q * rows // parts, (q + 1) * rows // parts)


def error_sums(kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale, params=None,
               group_ids=None):
    """CPU twin of the CUDA ``error_sums`` launcher; same contract (see ``Backend.error_sums``). With
    ``group_ids`` (one int per row), row ``r`` adds into ``out_total[g]`` / ``out_weight[g]`` (``G``-long) of its
    group ``g``, dropped when ``g`` is outside ``[0, G)``.

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
    params = _NO_PARAMS if params is None else flat(params)[0]
    elements = rows * cols
    if group_ids is not None:
        add_grouped_sums(sum_group_parts,
                         (kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, rows, cols, params),
                         group_ids, rows, elements, out_total, out_weight, total_scale, weight_scale)
        return
    nchunks = (elements + CHUNK - 1) // CHUNK
    if nchunks == 1:  # one chunk (a small batch): its sums as they are, without the partial arrays (the same bits)
        total, wsum = (flat_sums(kind.code, t, t_rs, p, p_rs, w, w_s, weighted, 0, elements, params) if cols == 1 else
                       segment_sums(kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s, weighted, cols, 0, elements,
                                    params))
    elif cols == 1:
        total, wsum = summed_chunks(flat_chunks, nchunks, kind.code, t, t_rs, p, p_rs, w, w_s, weighted, elements,
                                    params, elements=elements)
    else:
        total, wsum = summed_chunks(segment_chunks, nchunks, kind.code, t, t_rs, t_cs, p, p_rs, p_cs, w, w_s,
                                    weighted, cols, elements, params, elements=elements)
    out_total[0] += total_scale * total
    if out_weight is not None:
        out_weight[0] += weight_scale * (wsum if weighted else rows)
