"""CPU twin of ``moments``: shifted float64 sums over fixed row chunks in parallel, combined in chunk order, merged.

Memory picture: the ``N`` rows are cut into ``parts`` chunks of
``rows_per_part`` rows, numbers fixed by the shapes alone: about ``CHUNK``
elements a chunk, fewer chunks when their partials (``7 L`` floats each)
would pass ``PARTIALS_BUDGET`` bytes. The parallel work items are the
``(chunk, column)`` pairs, chunk-major, so the threads share out rows when
``L`` is small and columns when it is large; a thread's run of columns of one
chunk reads the same ``CHUNK`` elements, which stay in cache. An item keeps
seven float64 sums in registers, around the column's shift
``(x[0, l], y[0, l])``, the batch's first row: ``Σw``, ``Σw dx``, ``Σw dy``,
``Σw dx²``, ``Σw dy²``, ``Σw dx dy`` (``dx = x - x[0, l]``) and
``Σw (x - y)²``, a 7-tuple each element is added to
(``moments.rules.accumulated``). All chunks share the shift, so their sums
add: they are added in chunk order (``moments.rules.combined``), centred
(``moments.rules.centred``) and merged into the state with Chan et al.'s
update (``moments.rules.merge``). The order of every addition is fixed by the
shapes, so the result does not depend on the number of threads: the same
input gives the same bits on every run (``workers.run_items`` spreads the
items over threads; batches below ``2 * ELEMENTS_PER_THREAD`` elements stay in the
calling thread).

Compiled signatures (one per combination, cached on disk): ``x``, ``y`` and
``weight`` each ``float32`` or ``float64`` (``casts.as_values``; a float64
placeholder when unweighted), passed as flat read-only views with element
strides; the state ``float64[7, L]`` (C order). ``merge_moments``: two
``float64[7, L]`` states.

Groups (``group_ids``, one per row; state ``float64[7, G * L]``, column
``g * L + l``): the launcher first finds each group's first row (a
serial pass over the ids), whose ``(x, y)`` is the shift of the group's
columns; the rows are cut into partitions (``groups.partition_count``, fixed
by the shapes), each summing into its own ``[G, L, 7]`` accumulator; then per
``(group, column)`` the partitions are added in order, centred and merged.
Rows whose id is outside ``[0, G)`` add nothing; a group with no row in the
batch is left unchanged. The same bits on every run.
syncs: none (host memory).
"""
import numba
import numpy as np

from .._shared.casts import as_values, flat
from .._shared.compile import cpu_function
from .._shared.groups import group_view, partition_count
from .._shared.kinds import retarget
from .._shared.workers import alone, run_items
from .rules import NO_SUMS, STATE_ROWS, accumulated, centred, check_grouped_shapes, check_shapes, combined, merge, \
    state_columns

#: elements per chunk (``CHUNK // L`` rows): fixed by the shapes, so that the summation order is fixed.
CHUNK = 1 << 15
#: bytes all chunk partials may take together (a wide batch gets fewer, taller chunks).
PARTIALS_BUDGET = 32 << 20
_NO_WEIGHT = flat(np.ones(1))[0]

_inline = numba.njit(inline="always")
_accumulated = retarget(accumulated, _inline)
_combined = retarget(combined, _inline)
_centred = retarget(centred, _inline)
_merge = retarget(merge, _inline)


@cpu_function
def chunk_sums(r0, r1, c, x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted):
    """The seven sums of rows ``[r0, r1)`` of column ``c``, around the column's shift (its first row)."""
    shift_x = np.float64(x[c * x_cs])
    shift_y = np.float64(y[c * y_cs])
    s = NO_SUMS
    for r in range(r0, r1):
        s = _accumulated(s, np.float64(x[r * x_rs + c * x_cs]), np.float64(y[r * y_rs + c * y_cs]),
                         np.float64(w[r * w_rs + c * w_cs]) if weighted else 1.0, shift_x, shift_y)
    return s


@cpu_function
def sum_items(lo, hi, sums, x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted, rows, cols, rows_per_part, out,
              finish):
    """Work items ``lo:hi`` (``(chunk, column)`` pairs, chunk-major) into ``sums[chunk, column]``: one task's share;
    ``finish`` (the one task of a call): then ``merge_chunks`` over every column."""
    for i in range(lo, hi):
        q = i // cols
        c = i - q * cols
        r0 = q * rows_per_part
        s = chunk_sums(r0, min(r0 + rows_per_part, rows), c, x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted)
        part = sums[q, c]
        for k in range(STATE_ROWS):
            part[k] = s[k]
    if finish:
        merge_chunks(np.int64(0), cols, sums, x, x_cs, y, y_cs, out)


@cpu_function
def merge_chunks(lo, hi, sums, x, x_cs, y, y_cs, out):
    """Columns ``lo:hi``: the chunks' sums added in chunk order, centred around the column's shift, merged into
    ``out``; one task's share."""
    for c in range(lo, hi):
        s = NO_SUMS
        for q in range(sums.shape[0]):
            s = _combined(s, sums[q, c])
        _merge(out[:, c], _centred(s, np.float64(x[c * x_cs]), np.float64(y[c * y_cs])))


@cpu_function
def merge_states(out, other):
    """``out[:, l]`` ← the union of ``out[:, l]`` and ``other[:, l]`` for every column ``l``."""
    for c in range(out.shape[1]):
        _merge(out[:, c], other[:, c])


@cpu_function
def first_rows(gid, g_rs, rows, groups):
    """Each group's first row in the batch (``rows`` for a group with none); ids outside ``[0, groups)`` skipped."""
    first = np.full(groups, rows, np.int64)
    for r in range(rows - 1, -1, -1):
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            first[g] = r
    return first


@cpu_function
def part_group_moments(acc, x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted, cols, gid, g_rs, groups, first,
                       start, stop):
    """Rows ``start:stop`` into one partition's ``acc[g, l]`` (seven sums around the group's first row)."""
    for r in range(start, stop):
        g = gid[r * g_rs]
        if g >= 0 and g < groups:
            f = first[g]
            for c in range(cols):
                slot = acc[g, c]
                s = _accumulated(_combined(NO_SUMS, slot), np.float64(x[r * x_rs + c * x_cs]),
                                 np.float64(y[r * y_rs + c * y_cs]),
                                 np.float64(w[r * w_rs + c * w_cs]) if weighted else 1.0,
                                 np.float64(x[f * x_rs + c * x_cs]), np.float64(y[f * y_rs + c * y_cs]))
                for k in range(STATE_ROWS):
                    slot[k] = s[k]


@cpu_function
def sum_group_parts(lo, hi, acc, x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted, rows, cols, gid, g_rs, groups,
                    first):
    """Partitions ``lo:hi`` of the rows, each into its own ``acc[q]`` (``[G, L, 7]`` sums): one task's share."""
    parts = acc.shape[0]
    for q in range(lo, hi):
        part_group_moments(acc[q], x, x_rs, x_cs, y, y_rs, y_cs, w, w_rs, w_cs, weighted, cols, gid, g_rs, groups,
                           first, q * rows // parts, (q + 1) * rows // parts)


@cpu_function
def merge_group_parts(lo, hi, acc, first, x, x_rs, x_cs, y, y_rs, y_cs, rows, out):
    """``(group, column)`` pairs ``lo:hi`` (group-major) that the batch has rows of: the partitions added in order,
    centred around the group's first row and merged into ``out[:, g * L + l]``; one task's share."""
    cols = acc.shape[2]
    for i in range(lo, hi):
        g = i // cols
        c = i - g * cols
        f = first[g]
        if f < rows:
            s = NO_SUMS
            for q in range(acc.shape[0]):
                s = _combined(s, acc[q, g, c])
            _merge(out[:, i], _centred(s, np.float64(x[f * x_rs + c * x_cs]), np.float64(y[f * y_rs + c * y_cs])))


def moments_arguments(x, y, weight, out):
    """``(x, strides, y, strides, w, strides, weighted, rows, cols, rows_per_part, parts, out)`` of a non-empty
    batch, after the casts and flat views."""
    rows, cols = x.shape
    parts = min(-(-rows // max(1, CHUNK // cols)), max(1, PARTIALS_BUDGET // (8 * STATE_ROWS * cols)))
    xf, (x_rs, x_cs) = flat(as_values(x))
    yf, (y_rs, y_cs) = flat(as_values(y))
    weighted = weight is not None
    w, (w_rs, w_cs) = flat(as_values(weight)) if weighted else (_NO_WEIGHT, (0, 0))
    return xf, x_rs, x_cs, yf, y_rs, y_cs, w, w_rs, w_cs, weighted, rows, cols, -(-rows // parts), parts, out


def moments(x, y, weight, out, group_ids=None):
    """Fold a batch's weighted moments into the state ``out`` (``float64[7, L]``), in place; with ``group_ids``
    (``(N,)`` integers) ``out`` is ``float64[7, G * L]`` and row ``r`` folds into columns ``group_ids[r] * L + l``
    (dropped when its id is outside ``[0, G)``).

    ``x``, ``y``: ``(N, L)`` of one shape, any dtype and strides (stride 0
    included); ``weight``: ``(N, L)`` or None (weight 1). ``out[:, l]`` is
    ``[W, mean_x, mean_y, M2x, M2y, Cxy, D]`` of everything folded in so far
    (see ``gpumetrics._kernels.moments.rules``); an empty batch is a no-op.

    >>> import numpy as np
    >>> out = np.zeros((7, 1))
    >>> moments(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [1.0], [1.0]]), None, out)
    >>> moments(np.array([[4.0]]), np.array([[3.0]]), None, out)
    >>> out.ravel().tolist()  # W, mean_x, mean_y, Σ(x - 2.5)², Σ(y - 1.5)², Σ(x - 2.5)(y - 1.5), Σ(x - y)²
    [4.0, 2.5, 1.5, 5.0, 3.0, 3.0, 6.0]
    """
    if group_ids is not None:
        groups = check_grouped_shapes(x, y, weight, out, group_ids)
        rows, cols = x.shape
        if rows:
            arguments = moments_arguments(x, y, weight, out)[:12]
            gid, g_rs = group_view(group_ids)
            first = first_rows(gid, g_rs, rows, groups)
            acc = np.zeros((partition_count(rows, rows * cols, CHUNK, 8 * STATE_ROWS * groups * cols), groups, cols,
                            STATE_ROWS))
            run_items(sum_group_parts, acc.shape[0], acc, *arguments, gid, g_rs, groups, first, elements=rows * cols)
            xf, x_rs, x_cs, yf, y_rs, y_cs = arguments[:6]
            run_items(merge_group_parts, groups * cols, acc, first, xf, x_rs, x_cs, yf, y_rs, y_cs, rows, out,
                      elements=acc.size)
        return
    check_shapes(x, y, weight, out)
    rows, cols = x.shape
    if rows * cols == 0:
        return
    arguments = moments_arguments(x, y, weight, out)
    parts = arguments[13]
    sums = np.zeros((parts, cols, STATE_ROWS))
    if alone(rows * cols):  # one call sums and merges
        sum_items(0, parts * cols, sums, *arguments[:13], out, True)
        return
    run_items(sum_items, parts * cols, sums, *arguments[:13], out, False, elements=rows * cols)
    xf, _, x_cs, yf, _, y_cs = arguments[:6]
    run_items(merge_chunks, cols, sums, xf, x_cs, yf, y_cs, out, elements=sums.size)


def merge_moments(out, other):
    """The ``"moments"`` merge rule on host states: ``out`` ← the union of ``out`` and ``other`` (both ``[7, L]``,
    or ``(7, G, L)`` grouped: column by column).

    >>> import numpy as np
    >>> a, b = np.zeros((7, 1)), np.zeros((7, 1))
    >>> moments(np.array([[1.0], [2.0], [3.0]]), np.ones((3, 1)), None, a)
    >>> moments(np.array([[4.0]]), np.array([[3.0]]), None, b)
    >>> merge_moments(a, b)
    >>> a.ravel().tolist()
    [4.0, 2.5, 1.5, 5.0, 3.0, 3.0, 6.0]
    """
    out2 = state_columns(out, other)
    merge_states(out2, np.ascontiguousarray(other, dtype=np.float64).reshape(out2.shape))
