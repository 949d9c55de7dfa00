"""The per-row rules ``g(t, t_at, t_cs, p, p_at, p_cs, cols, params)`` that ``row_sums`` can fuse, and their named
parameters.

Each reads one row of ``y_pred`` (``cols`` values at ``p[p_at + j * p_cs]``,
the class axis) and of ``y_true`` (the same shape, or one class id at
``t[t_at]``: "sparse") from the flat views the twins pass (``casts.flat``),
and returns one float64 value per sample: a crossentropy, a hit (1 or 0), a
hinge, a cosine or a correlation. ``params`` is the float64 vector of the
kind's parameters, declared by name in ``KINDS`` in the order the rule reads
them: metrics pass them by name (``KINDS["in_top_k"].pack(k=5, sparse=0)``).
Like ``error_sums.rules``, each body is plain Python calling only ``math``,
NumPy scalar casts and plain helpers of this package (``label_cast``), which
both twins compile (``kinds.make_switch``); this module imports no Numba. A row
is read once, or twice where a second pass over the (cached) row keeps the
arithmetic exact: the centred moments of the correlations, the normalising sum
of the crossentropies on probabilities.

Class ids follow Keras's casts: a sparse label is truncated toward zero, so
it names a class when ``-1 < label < cols`` (NaN never does) and ``int(label)``
is that class. ``argmax`` is NumPy's (``_shared.argmax``): the first maximum,
a NaN counting as the largest value. A ``cast`` parameter (``label_cast.CAST_*``) says how a
label is cast to ``y_pred``'s dtype before an exact comparison.
"""
import math

import numpy as np

from .._shared.argmax import argmax, is_argmax
from .._shared.kinds import declare
from .._shared.label_cast import cast_label


def crossentropy(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """``-sum(t' log(clip(p / sum(p), lower, upper)))``, ``t' = t (1 - s) + s / cols``; sparse:
    ``-log(clip(p[k] / sum(p)))`` for class id ``k``, 0 when the label equals ``ignore_class`` (NaN: none) or ``k``
    is out of range (Keras's one-hot row is then all zeros). params ``label_smoothing`` (s), ``lower``, ``upper``,
    ``sparse`` (1 or 0), ``ignore_class``. A row whose sum overflows is normalised scaled to at most 1, not read
    as ``p / inf = 0``."""
    sparse = params[3] != 0.0
    k = 0
    if sparse:
        label = np.float64(t[t_at])
        if label == params[4] or not (label > -1.0 and label < cols):
            return 0.0
        k = int(label)
    norm = 0.0
    for j in range(cols):
        norm += np.float64(p[p_at + j * p_cs])
    scale = 1.0
    if norm == math.inf:
        scale = unit_scale(p, p_at, p_cs, cols, 0.0)
        norm = 0.0
        for j in range(cols):
            norm += np.float64(p[p_at + j * p_cs]) * scale
    if sparse:
        q = np.float64(p[p_at + k * p_cs]) * scale / norm
        return -math.log(params[1] if q < params[1] else (params[2] if q > params[2] else q))
    s = params[0]
    loss = 0.0
    for j in range(cols):
        q = np.float64(p[p_at + j * p_cs]) * scale / norm
        q = params[1] if q < params[1] else (params[2] if q > params[2] else q)
        loss -= (np.float64(t[t_at + j * t_cs]) * (1.0 - s) + s / cols) * math.log(q)
    return loss


def crossentropy_from_logits(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """``sum(t' (logsumexp(x) - x))``, sparse: ``logsumexp(x) - x[k]``, in one pass: the log-sum-exp runs online (a
    running maximum ``m`` and ``sum(exp(x - m))`` rescaled when ``m`` grows), so no logit overflows. Labels as
    ``crossentropy``'s; params ``label_smoothing``, ``sparse``, ``ignore_class``."""
    sparse = params[1] != 0.0
    k = -1
    if sparse:
        label = np.float64(t[t_at])
        if label == params[2] or not (label > -1.0 and label < cols):
            return 0.0
        k = int(label)
    s = params[0]
    m = -math.inf
    e = 0.0
    tx = 0.0
    tsum = 0.0
    for j in range(cols):
        x = np.float64(p[p_at + j * p_cs])
        if sparse:
            target = 1.0 if j == k else 0.0
        else:
            target = np.float64(t[t_at + j * t_cs]) * (1.0 - s) + s / cols
        tx += target * x
        tsum += target
        if x > m:
            e = e * math.exp(m - x) + 1.0
            m = x
        else:
            e += math.exp(x - m)
    return tsum * (m + math.log(e)) - tx


def argmax_match(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """1 when ``argmax(p)`` is the true class: ``argmax(t)``, or, sparse, the label cast to ``y_pred``'s dtype
    (a class only when it is a whole number in ``[0, cols)``); checked by ``argmax.is_argmax``. params ``sparse``,
    ``cast``."""
    if params[0] != 0.0:
        label = cast_label(np.float64(t[t_at]), params[1])
        if not (label >= 0.0 and label < cols and label == math.floor(label)):
            return 0.0
        at = int(label)
    else:
        at = argmax(t, t_at, t_cs, cols)
    return 1.0 if is_argmax(p, p_at, p_cs, cols, at) else 0.0


def in_top_k(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """1 when fewer than ``k`` scores exceed the score of the true class (ties count as hits, a NaN score at the
    label as -inf: TensorFlow's and JAX's ``in_top_k``); the true class is ``argmax(t)``, or, sparse, the label
    (truncated; out of range: 0). params ``k``, ``sparse``."""
    label = 0
    if params[1] != 0.0:
        value = np.float64(t[t_at])
        if not (value > -1.0 and value < cols):
            return 0.0
        label = int(value)
    else:
        label = argmax(t, t_at, t_cs, cols)
    target = np.float64(p[p_at + label * p_cs])
    if target != target:
        target = -math.inf
    above = 0
    for j in range(cols):
        if np.float64(p[p_at + j * p_cs]) > target:
            above += 1
    return 1.0 if above < params[0] else 0.0


def sorted_ids_hit(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """1 when the label, cast to ``y_pred``'s dtype, is among the first ``k`` entries of the row, which holds class
    ids sorted by score (``from_sorted_ids=True``); params ``k``, ``cast``."""
    label = cast_label(np.float64(t[t_at]), params[1])
    for j in range(cols):
        if j < params[0] and np.float64(p[p_at + j * p_cs]) == label:
            return 1.0
    return 0.0


def categorical_hinge(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """``max(max((1 - t) p) - sum(t p) + 1, 0)`` (a NaN in the row propagates, as ``ops.max`` does)."""
    pos = 0.0
    neg = -math.inf
    for j in range(cols):
        tj = np.float64(t[t_at + j * t_cs])
        pj = np.float64(p[p_at + j * p_cs])
        pos += tj * pj
        v = (1.0 - tj) * pj
        if neg == neg and (v > neg or v != v):
            neg = v
    h = neg - pos + 1.0
    return 0.0 if h < 0.0 else h


def deviation_sums(t, t_at, t_cs, p, p_at, p_cs, cols, mean_t, mean_p, scale_t, scale_p):
    """``(sum(dt^2), sum(dp^2), sum(dt dp))`` over the row, ``dt = (t - mean_t) scale_t`` and ``dp`` alike."""
    ss_t = 0.0
    ss_p = 0.0
    cross = 0.0
    for j in range(cols):
        dt = (np.float64(t[t_at + j * t_cs]) - mean_t) * scale_t
        dp = (np.float64(p[p_at + j * p_cs]) - mean_p) * scale_p
        ss_t += dt * dt
        ss_p += dp * dp
        cross += dt * dp
    return ss_t, ss_p, cross


def unit_scale(x, at, cs, cols, mean):
    """``1 / max|x - mean|`` over the row (1 for a row equal to ``mean``): the factor that brings its deviations
    to at most 1, so that their squares cannot overflow. An inf or NaN in the row makes the scaled sums NaN."""
    largest = 0.0
    for j in range(cols):
        d = abs(np.float64(x[at + j * cs]) - mean)
        if d > largest or d != d:
            largest = d
    return 1.0 / largest if largest > 0.0 else 1.0


def cosine_similarity(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """``sum(t p) / (max(|t|, eps) max(|p|, eps))``: Keras's ``normalize`` caps ``1 / |x|`` at ``1 / eps``, so an
    all-zero row scores 0; params ``epsilon``. When a sum of squares overflows (entries past 1.3e154), the sums
    are taken again on each row scaled to at most 1 (``eps`` with it): the ratio is the same, and finite."""
    tt, pp, tp = deviation_sums(t, t_at, t_cs, p, p_at, p_cs, cols, 0.0, 0.0, 1.0, 1.0)
    eps_t = params[0]
    eps_p = params[0]
    if tt == math.inf or pp == math.inf:
        scale_t = unit_scale(t, t_at, t_cs, cols, 0.0)
        scale_p = unit_scale(p, p_at, p_cs, cols, 0.0)
        tt, pp, tp = deviation_sums(t, t_at, t_cs, p, p_at, p_cs, cols, 0.0, 0.0, scale_t, scale_p)
        eps_t *= scale_t
        eps_p *= scale_p
    norm_t = math.sqrt(tt)
    norm_p = math.sqrt(pp)
    return tp / ((eps_t if norm_t < eps_t else norm_t) * (eps_p if norm_p < eps_p else norm_p))


def correlation(t, t_at, t_cs, p, p_at, p_cs, cols, params):
    """Across the row, with population moments from two passes (means, then centred sums: exact for data far
    from 0): Pearson's ``cov / (std_t std_p)`` (NaN for a constant row, as in Keras), or, when ``concordance`` is
    1, Lin's concordance ``2 cov / (var_t + var_p + (mean_t - mean_p)^2 + epsilon)``; params ``concordance``,
    ``epsilon``. When a square overflows (deviations past 1.3e154), the centred sums are taken again on
    deviations scaled to at most 1 (Pearson: each side on its own; concordance: one scale for both and the gap,
    ``epsilon`` with it): the ratio is the same, and finite."""
    mean_t = 0.0
    mean_p = 0.0
    for j in range(cols):
        mean_t += np.float64(t[t_at + j * t_cs])
        mean_p += np.float64(p[p_at + j * p_cs])
    mean_t /= cols
    mean_p /= cols
    ss_t, ss_p, cross = deviation_sums(t, t_at, t_cs, p, p_at, p_cs, cols, mean_t, mean_p, 1.0, 1.0)
    gap = mean_t - mean_p
    eps = params[1]
    concordance = params[0] != 0.0
    if ss_t == math.inf or ss_p == math.inf or (concordance and gap * gap == math.inf):
        scale_t = unit_scale(t, t_at, t_cs, cols, mean_t)
        scale_p = unit_scale(p, p_at, p_cs, cols, mean_p)
        if concordance:
            scale_gap = 1.0 / abs(gap) if gap != 0.0 else 1.0
            scale_t = scale_t if scale_t < scale_p else scale_p  # not min(): it fails to compile for CUDA
            scale_t = scale_t if scale_t < scale_gap else scale_gap
            scale_p = scale_t
            gap *= scale_t
            eps *= scale_t * scale_t
        ss_t, ss_p, cross = deviation_sums(t, t_at, t_cs, p, p_at, p_cs, cols, mean_t, mean_p, scale_t, scale_p)
    if not concordance:
        return cross / (math.sqrt(ss_t) * math.sqrt(ss_p))
    return 2.0 * (cross / cols) / (ss_t / cols + ss_p / cols + gap * gap + eps)


#: every kind, in the order of its code: ``(rule, names of its parameters)``.
KINDS = declare(
    (crossentropy, ("label_smoothing", "lower", "upper", "sparse", "ignore_class")),
    (crossentropy_from_logits, ("label_smoothing", "sparse", "ignore_class")),
    (argmax_match, ("sparse", "cast")),
    (in_top_k, ("k", "sparse")),
    (sorted_ids_hit, ("k", "cast")),
    (categorical_hinge, ()),
    (cosine_similarity, ("epsilon",)),
    (correlation, ("concordance", "epsilon")),
    primitive="row_sums",
)
