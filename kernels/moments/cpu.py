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
(``moment_rules.accumulated``). All chunks share the shift, so their sums
add: they are added in chunk order (``moment_rules.combined``), centred
(``moment_rules.centred``) and merged into the state with Chan et al.'s
update (``moment_rules.merge``). The order of every addition is fixed by the
shapes, so the result does not depend on the number of threads: the same
input gives the same bits on every run.
syncs: none (host memory).
"""
import numba
import numpy as np

from .rules import NO_SUMS, STATE_ROWS, accumulated, centred, check_shapes, combined, merge
from .._shared.casts import numba_readable

#: elements per chunk (``CHUNK // L`` rows): fixed by the shapes, so that the summation order is fixed.
CHUNK = 1 << 15
#: bytes all chunk partials may take together (a wide batch gets fewer, taller chunks).
PARTIALS_BUDGET = 32 << 20
_NO_WEIGHT = np.ones((1, 1))

_accumulated = numba.njit(inline="always")(accumulated)
_combined = numba.njit(inline="always")(combined)
_centred = numba.njit(inline="always")(centred)
_merge = numba.njit(inline="always")(merge)


@numba.njit(parallel=True, nogil=True)
def _moments(x, y, weight, weighted, rows_per_part, parts, out):
    rows, cols = x.shape
    sums = np.zeros((parts, cols, STATE_ROWS))
    for i in numba.prange(parts * cols):
        q = i // cols
        c = i - q * cols
        r0 = q * rows_per_part
        r1 = min(r0 + rows_per_part, rows)
        shift_x = np.float64(x[0, c])
        shift_y = np.float64(y[0, c])
        s = NO_SUMS
        for r in range(r0, r1):
            s = _accumulated(s, np.float64(x[r, c]), np.float64(y[r, c]),
                             np.float64(weight[r, c]) if weighted else 1.0, shift_x, shift_y)
        part = sums[q, c]
        for k in range(STATE_ROWS):
            part[k] = s[k]
    for c in numba.prange(cols):
        s = NO_SUMS
        for q in range(parts):
            s = _combined(s, sums[q, c])
        _merge(out[:, c], _centred(s, np.float64(x[0, c]), np.float64(y[0, c])))


@numba.njit(nogil=True)
def _merge_states(out, other):
    for c in range(out.shape[1]):
        _merge(out[:, c], other[:, c])


def moments(x, y, weight, out):
    """Fold a batch's weighted moments into the state ``out`` (``float64[7, L]``), in place.

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
    check_shapes(x, y, weight, out)
    rows, cols = x.shape
    if rows * cols == 0:
        return
    parts = min(-(-rows // max(1, CHUNK // cols)), max(1, PARTIALS_BUDGET // (8 * STATE_ROWS * cols)))
    rows_per_part = -(-rows // parts)
    weighted = weight is not None
    _moments(numba_readable(x), numba_readable(y), numba_readable(weight) if weighted else _NO_WEIGHT, weighted,
             rows_per_part, parts, out)


def merge_moments(out, other):
    """The ``"moments"`` merge rule on host states: ``out`` ← the union of ``out`` and ``other`` (both ``[7, L]``).

    >>> import numpy as np
    >>> a, b = np.zeros((7, 1)), np.zeros((7, 1))
    >>> moments(np.array([[1.0], [2.0], [3.0]]), np.ones((3, 1)), None, a)
    >>> moments(np.array([[4.0]]), np.array([[3.0]]), None, b)
    >>> merge_moments(a, b)
    >>> a.ravel().tolist()
    [4.0, 2.5, 1.5, 5.0, 3.0, 3.0, 6.0]
    """
    if out.shape != other.shape or out.shape[0] != STATE_ROWS:
        raise ValueError(f"moments states must both be (7, L); got {out.shape} and {other.shape}")
    _merge_states(out, np.asarray(other, dtype=np.float64))
