"""Curve points, operating points and bounds on the exact AUC, from a threshold histogram alone.

Everything here is O(T) (``T`` thresholds, times groups and labels) array math on the
metric's device (``xp`` is NumPy or CuPy); nothing passes over the data again
and nothing reads the device on the host. Counts come in ascending threshold
order (``ThresholdHistogramMetric._sorted_counts``), histograms in bucket order
(bucket ``k`` holds the weight of the scores that exceed exactly ``k``
thresholds). Curves are float64, as the states.

Layout: the threshold axis comes first (counts ``(T, ...)``, histograms ``(T + 1, ...)``), then the metric's group
axis ``G`` (``num_groups``) and label axis ``L`` (multi-label) when it has them. Curves move the threshold axis
last: ``(T,)``, ``(L, T)``, ``(G, T)`` or ``(G, L, T)``, one row per group and label; bounds and operating points
drop it: 0-d, ``(L,)``, ``(G,)`` or ``(G, L)``.

Bounds on the exact AUC (``roc_auc_bounds``, ``average_precision_bounds``).
The histogram knows the order of any two scores in different buckets; it does
not know the order inside a bucket. So the exact AUC of any scores that fill
these buckets lies in an interval computed by sending each bucket's unknown
part to its extremes (weights must be non-negative):

* ROC, the Mann-Whitney AUC with ties counted 1/2 (scikit-learn's
  ``roc_auc_score`` with ``sample_weight``). With ``p_k`` / ``n_k`` the positive
  / negative weight of bucket ``k``, ``P``, ``N`` their totals and
  ``N_<k = sum(n_j, j < k)``: a positive in bucket ``k`` outranks every
  negative below it and none above it, and a pair inside a bucket counts 0, 1/2
  or 1. Hence ``AUC in [L, L + sum(p_k n_k) / (P N)]`` with
  ``L = sum(p_k N_<k) / (P N)``. Both ends are attained (all positives of every
  bucket below / above its negatives); the width is 0 when no bucket holds both
  classes. Keras's ROC summations are these numbers when the end buckets (at or
  below ``-1e-7``, above ``1 + 1e-7``) are empty, as they are once scores are
  clipped to [0, 1] (NaN scores fall below every threshold): ``"minoring"`` is
  ``L``, ``"majoring"`` the upper end, ``"interpolation"`` (the trapezoid) the
  midpoint.
* PR, scikit-learn's ``average_precision_score`` (``AP = sum over score levels
  of (R_i - R_{i-1}) P_i``, ties one level). With ``A_k`` / ``B_k`` the positive
  / negative weight above bucket ``k``, a tie group of bucket ``k`` ends at
  precision ``tp / (tp + fp)`` with ``tp <= A_k + p_k`` and ``fp >= B_k``, so
  bucket ``k`` adds at most ``p_k (A_k + p_k) / (A_k + p_k + B_k) / P``
  (attained: the bucket's positives tie above its negatives). It adds at least
  ``∫ x / (x + c) dx`` over ``x`` in ``[A_k, A_k + p_k]`` divided by ``P``, with
  ``c = B_k + n_k`` (every negative of the bucket first; each group's
  right-end precision bounds the integrand over its span), which is
  ``(p_k - c log(1 + p_k / (A_k + c))) / P``: approached by many small
  positives, never attained by finitely many. Unlike ROC the width is not 0
  when the classes keep to their own buckets: AP depends on how the positives
  of a bucket tie among themselves, which the histogram does not keep.
  Keras's interpolated PR-AUC integrates precision along the straight line from
  one threshold's ``(TP, FP)`` to the next, one admissible path inside each
  bucket, so it lies in the interval too (end buckets empty, as above).

Which scores: the interval holds for every scoring whose buckets are these, so
for the clipped scores, the unclipped ones (clipping is monotone: it keeps the
order of scores in different buckets and moves a score only into the end
bucket it would reach anyway) and the logits under ``from_logits=True``.
"""
from typing import NamedTuple

import numpy as np

from .ratios import divide_no_nan, largest_to_2_960, overflow_to_nan, unit_scaled


class RocCurve(NamedTuple):
    """One ROC point per threshold in scikit-learn's ``roc_curve`` order: thresholds decreasing, ``fpr`` and
    ``tpr`` non-decreasing; a point is the rates of ``score > threshold``. ``fpr`` / ``tpr`` are ``(T,)``, or one
    row per group and label (``(G, T)``, ``(L, T)``, ``(G, L, T)``: the module's layout); ``thresholds`` ``(T,)``."""

    fpr: object
    tpr: object
    thresholds: object


class PrCurve(NamedTuple):
    """One precision-recall point per threshold in scikit-learn's ``precision_recall_curve`` order: thresholds
    increasing, ``recall`` non-increasing; precision is 0 where nothing scores above the threshold (Keras's
    rule; scikit-learn leaves such thresholds out). Rows per group and label as ``RocCurve``."""

    precision: object
    recall: object
    thresholds: object


class OperatingPoint(NamedTuple):
    """The threshold an ``*At*`` metric's result was read at and every rate there (0-d arrays; grouped, ``(G,)``,
    one per group); NaN throughout where no threshold meets the constraint (``result()`` then reads 0, as Keras)."""

    threshold: object
    recall: object
    specificity: object
    precision: object


class AucBounds(NamedTuple):
    """The interval the exact AUC of the data seen lies in (0-d; per group and label ``(G,)``, ``(L,)``,
    ``(G, L)``); NaN where the exact AUC is undefined: no positive weight, or for ROC no negative weight (PR
    without negatives is precision 1 throughout)."""

    low: object
    high: object


def _by_label(values):
    """A per-threshold array as the curves give it: the threshold axis last (``(T, G, L)`` becomes ``(G, L, T)``)."""
    return values if values.ndim == 1 else values.transpose(tuple(range(1, values.ndim)) + (0,))


def roc_curve(xp, counts, thresholds):
    """ROC points of ascending ``(tp, fp, tn, fn)`` counts at ascending ``thresholds``."""
    tp, fp, tn, fn = counts
    return RocCurve(_by_label(divide_no_nan(xp, fp, fp + tn)[::-1]), _by_label(divide_no_nan(xp, tp, tp + fn)[::-1]),
                    thresholds[::-1])


def pr_curve(xp, counts, thresholds):
    """Precision-recall points of ascending ``(tp, fp, tn, fn)`` counts at ascending ``thresholds``."""
    tp, fp, _, fn = counts
    return PrCurve(_by_label(divide_no_nan(xp, tp, tp + fp)), _by_label(divide_no_nan(xp, tp, tp + fn)), thresholds)


def operating_point(xp, rates, thresholds, constrained, dependent, value):
    """Where ``max(rates[dependent] over rates[constrained] >= value)`` is reached (Keras's ``*At*`` rule); among
    thresholds that tie for it, the largest. ``rates``: ``recall``, ``specificity``, ``precision`` per ascending
    threshold, each ``(T,)`` or, grouped, ``(T, G)``: one point per group."""
    feasible = rates[constrained] >= value
    score = xp.where(feasible, rates[dependent], -np.inf)
    index = score.shape[0] - 1 - xp.argmax(score[::-1], axis=0)
    found = xp.any(feasible, axis=0)
    picked = [xp.take_along_axis(rates[k], index[None], axis=0)[0] for k in ("recall", "specificity", "precision")]
    return OperatingPoint(*(xp.where(found, x, np.nan) for x in [thresholds[index]] + picked))


def _pairs_ratio(xp, numerator, denominator):
    """``numerator / denominator``, NaN where the denominator (a class's total weight) is 0 or overflowed."""
    return overflow_to_nan(xp, xp.where(denominator > 0, numerator / xp.where(denominator > 0, denominator, 1.0),
                                        np.nan), denominator)


def _exclusive_cumsum(xp, histogram, reverse=False):
    """Weight strictly below (or, ``reverse``, strictly above) each bucket."""
    if reverse:
        return _exclusive_cumsum(xp, histogram[::-1])[::-1]
    total = xp.cumsum(histogram, axis=0)
    return xp.concatenate([xp.zeros_like(total[:1]), total[:-1]], axis=0)


def roc_auc_bounds(xp, positive, negative):
    """Bounds on the Mann-Whitney ROC AUC (ties 1/2) of the data behind bucket-order ``positive`` / ``negative``
    histograms (the derivation is the module's docstring).

    >>> [float(end) for end in roc_auc_bounds(np, np.array([0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0]))]
    [0.75, 1.0]
    """
    positive, negative = unit_scaled(xp, positive), unit_scaled(xp, negative)  # P * N then cannot underflow
    pairs = xp.sum(positive, axis=0) * xp.sum(negative, axis=0)
    determined = xp.sum(positive * _exclusive_cumsum(xp, negative), axis=0)
    shared = xp.sum(positive * negative, axis=0)
    return AucBounds(_pairs_ratio(xp, determined, pairs), _pairs_ratio(xp, determined + shared, pairs))


_TINY = np.finfo(np.float64).tiny  # the smallest normal float64


def _below_overflow(xp, positive, negative):
    """Both classes times one power of 2 (their ratios keep their bits) that brings the largest weight to 2**960:
    no class's total can overflow, and subnormal weights (1e-320) become normal floats before products. Not
    ``unit_scaled``'s unit sum: against a far heavier class, a light class's weights would fall to subnormals or 0
    (positives of 1e-300 beside negatives of 1e21 read an interval without the truth; of 1e30, NaN)."""
    largest = xp.maximum(xp.max(xp.abs(positive), axis=0), xp.max(xp.abs(negative), axis=0))
    return largest_to_2_960(xp, positive, largest), largest_to_2_960(xp, negative, largest)


def average_precision_bounds(xp, positive, negative):
    """Bounds on scikit-learn's average precision of the data behind bucket-order ``positive`` / ``negative``
    histograms (the derivation is the module's docstring).

    >>> low, high = average_precision_bounds(np, np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    >>> round(float(low), 4), float(high)  # 1 - log 2 (negative first, positive split ever finer); positive first
    (0.3069, 1.0)
    """
    positive, negative = _below_overflow(xp, positive, negative)
    above_pos = _exclusive_cumsum(xp, positive, reverse=True)
    above_neg = _exclusive_cumsum(xp, negative, reverse=True)
    reached = above_pos + positive
    best = positive * divide_no_nan(xp, reached, reached + above_neg)
    worst_fp = above_neg + negative
    start = above_pos + worst_fp
    start = xp.where(start > 0, start, 1.0)
    share = positive / start  # below normal floats, worst_fp * log1p(share) is worst_fp * share: taken so, not as
    lost = xp.where(share < _TINY, positive * (worst_fp / start), worst_fp * xp.log1p(share))  # 0 (low 1 > high)
    worst = positive - lost
    worst = xp.where(worst_fp > 0, worst, positive)
    total = xp.sum(positive, axis=0)
    return AucBounds(_pairs_ratio(xp, xp.sum(worst, axis=0), total), _pairs_ratio(xp, xp.sum(best, axis=0), total))
