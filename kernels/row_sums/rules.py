"""The per-row functions ``g(y_true, y_pred, r, params)`` that ``row_sums`` can fuse, shared by both kernel twins.

Each reads row ``r`` of ``y_pred`` (``(R, C)``, the class axis last) and of
``y_true`` (``(R, C)``, or ``(R, 1)`` holding a class id: "sparse") and
returns one float64 value per sample: a crossentropy, a hit (1 or 0), a hinge,
a cosine or a correlation. ``params`` is a float64 array on the metric's
device; its entries are listed per kind. Like ``error_kinds``, each body calls
only ``math`` and Numba casts so that Numba compiles it unchanged into the CPU
twin and the CUDA kernel. A row is read once, or twice where a second pass
over the (cached) row keeps the arithmetic exact: the centred moments of the
correlations, the normalising sum of the crossentropies on probabilities.

Class ids follow Keras's casts: a sparse label is truncated toward zero, so
it names a class when ``-1 < label < C`` (NaN never does) and ``int(label)``
is that class. ``argmax`` is NumPy's: the first maximum, a NaN counting as
the largest value. ``cast`` codes say how a label is cast to ``y_pred``'s
dtype before an exact comparison: 0 as is, 1 rounded to float32, 2 truncated
to an integer (through int64: values past 2**62 are integers already), 3 to bool.
"""
import math

from numba import float32, float64, int64


def crossentropy(y_true, y_pred, r, params):
    """``-sum(t' log(clip(p / sum(p), lo, hi)))``, ``t' = t (1 - s) + s / C``; sparse: ``-log(clip(p[k] / sum(p)))``
    for class id ``k``, 0 when the label equals ``ignore`` (NaN: none) or ``k`` is out of range (Keras's one-hot
    row is then all zeros). params ``[s, lo, hi, sparse, ignore]``."""
    n = y_pred.shape[1]
    k = 0
    if params[3] != 0.0:
        label = float64(y_true[r, 0])
        if label == params[4] or not (label > -1.0 and label < n):
            return 0.0
        k = int(label)
    norm = 0.0
    for j in range(n):
        norm += float64(y_pred[r, j])
    if params[3] != 0.0:
        q = float64(y_pred[r, k]) / norm
        return -math.log(params[1] if q < params[1] else (params[2] if q > params[2] else q))
    s = params[0]
    loss = 0.0
    for j in range(n):
        q = float64(y_pred[r, j]) / norm
        q = params[1] if q < params[1] else (params[2] if q > params[2] else q)
        loss -= (float64(y_true[r, j]) * (1.0 - s) + s / n) * math.log(q)
    return loss


def crossentropy_from_logits(y_true, y_pred, r, params):
    """``sum(t' (logsumexp(x) - x))``, sparse: ``logsumexp(x) - x[k]``, in one pass: the log-sum-exp runs online (a
    running maximum ``m`` and ``sum(exp(x - m))`` rescaled when ``m`` grows), so no logit overflows. Labels as
    ``crossentropy``'s; params ``[s, sparse, ignore]``."""
    n = y_pred.shape[1]
    sparse = params[1] != 0.0
    k = -1
    if sparse:
        label = float64(y_true[r, 0])
        if label == params[2] or not (label > -1.0 and label < n):
            return 0.0
        k = int(label)
    s = params[0]
    m = -math.inf
    e = 0.0
    tx = 0.0
    tsum = 0.0
    for j in range(n):
        x = float64(y_pred[r, j])
        if sparse:
            t = 1.0 if j == k else 0.0
        else:
            t = float64(y_true[r, j]) * (1.0 - s) + s / n
        tx += t * x
        tsum += t
        if x > m:
            e = e * math.exp(m - x) + 1.0
            m = x
        else:
            e += math.exp(x - m)
    return tsum * (m + math.log(e)) - tx


def argmax_match(y_true, y_pred, r, params):
    """1 when ``argmax(p)`` equals ``argmax(t)`` (both found in one pass), or, sparse, the label cast to
    ``y_pred``'s dtype; params ``[sparse, cast]``."""
    n = y_pred.shape[1]
    sparse = params[0] != 0.0
    best_t = float64(y_true[r, 0])
    best_p = float64(y_pred[r, 0])
    at_t = 0.0
    at_p = 0
    for j in range(1, n):
        p = float64(y_pred[r, j])
        if best_p == best_p and (p > best_p or p != p):
            best_p = p
            at_p = j
        if not sparse:
            t = float64(y_true[r, j])
            if best_t == best_t and (t > best_t or t != t):
                best_t = t
                at_t = j
    if sparse:
        at_t = best_t
        if params[1] == 1.0:
            at_t = float64(float32(at_t))
        elif params[1] == 2.0 and abs(at_t) < 4.6e18:
            at_t = float64(int64(at_t))
        elif params[1] == 3.0:
            at_t = 1.0 if at_t != 0.0 else 0.0
    return 1.0 if at_t == at_p else 0.0


def in_top_k(y_true, y_pred, r, params):
    """1 when fewer than ``k`` scores exceed the score of the true class (ties count as hits, a NaN score at the
    label as -inf: TensorFlow's and JAX's ``in_top_k``); the true class is ``argmax(t)``, or, sparse, the label
    (truncated; out of range: 0). params ``[k, sparse]``."""
    n = y_pred.shape[1]
    label = 0
    if params[1] != 0.0:
        value = float64(y_true[r, 0])
        if not (value > -1.0 and value < n):
            return 0.0
        label = int(value)
    else:
        best = float64(y_true[r, 0])
        for j in range(1, n):
            t = float64(y_true[r, j])
            if best == best and (t > best or t != t):
                best = t
                label = j
    target = float64(y_pred[r, label])
    if target != target:
        target = -math.inf
    above = 0
    for j in range(n):
        if float64(y_pred[r, j]) > target:
            above += 1
    return 1.0 if above < params[0] else 0.0


def sorted_ids_hit(y_true, y_pred, r, params):
    """1 when the label, cast to ``y_pred``'s dtype (``params[1]``), is among the first ``k = params[0]`` entries
    of the row, which holds class ids sorted by score (``from_sorted_ids=True``)."""
    label = float64(y_true[r, 0])
    if params[1] == 1.0:
        label = float64(float32(label))
    elif params[1] == 2.0 and abs(label) < 4.6e18:
        label = float64(int64(label))
    for j in range(y_pred.shape[1]):
        if j < params[0] and float64(y_pred[r, j]) == label:
            return 1.0
    return 0.0


def categorical_hinge(y_true, y_pred, r, params):
    """``max(max((1 - t) p) - sum(t p) + 1, 0)`` (a NaN in the row propagates, as ``ops.max`` does)."""
    pos = 0.0
    neg = -math.inf
    for j in range(y_pred.shape[1]):
        t = float64(y_true[r, j])
        p = float64(y_pred[r, j])
        pos += t * p
        v = (1.0 - t) * p
        if neg == neg and (v > neg or v != v):
            neg = v
    h = neg - pos + 1.0
    return 0.0 if h < 0.0 else h


def cosine_similarity(y_true, y_pred, r, params):
    """``sum(t p) / (max(|t|, eps) max(|p|, eps))``: Keras's ``normalize`` caps ``1 / |x|`` at ``1 / eps``, so an
    all-zero row scores 0; params ``[eps]``."""
    tt = 0.0
    pp = 0.0
    tp = 0.0
    for j in range(y_pred.shape[1]):
        t = float64(y_true[r, j])
        p = float64(y_pred[r, j])
        tt += t * t
        pp += p * p
        tp += t * p
    norm_t = math.sqrt(tt)
    norm_p = math.sqrt(pp)
    eps = params[0]
    return tp / ((eps if norm_t < eps else norm_t) * (eps if norm_p < eps else norm_p))


def correlation(y_true, y_pred, r, params):
    """Across the row, with population moments from two passes (means, then centred sums: exact for data far
    from 0): Pearson's ``cov / (std_t std_p)`` (NaN for a constant row, as in Keras), or, when ``params[0]`` is
    1, Lin's concordance ``2 cov / (var_t + var_p + (mean_t - mean_p)^2 + eps)``, ``eps = params[1]``."""
    n = y_pred.shape[1]
    mean_t = 0.0
    mean_p = 0.0
    for j in range(n):
        mean_t += float64(y_true[r, j])
        mean_p += float64(y_pred[r, j])
    mean_t /= n
    mean_p /= n
    ss_t = 0.0
    ss_p = 0.0
    cross = 0.0
    for j in range(n):
        dt = float64(y_true[r, j]) - mean_t
        dp = float64(y_pred[r, j]) - mean_p
        ss_t += dt * dt
        ss_p += dp * dp
        cross += dt * dp
    if params[0] == 0.0:
        return cross / (math.sqrt(ss_t) * math.sqrt(ss_p))
    gap = mean_t - mean_p
    return 2.0 * (cross / n) / (ss_t / n + ss_p / n + gap * gap + params[1])


ROW_KINDS = {g.__name__: g for g in (crossentropy, crossentropy_from_logits, argmax_match, in_top_k, sorted_ids_hit,
                                     categorical_hinge, cosine_similarity, correlation)}
