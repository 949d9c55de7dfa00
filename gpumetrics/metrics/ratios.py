"""Ratios of sums (``result()``, the per-sample functions): a denominator that overflowed float64 gives NaN, not 0.

A sum past 1.8e308 (weights that large, or squares past 1.3e154) is inf, and
``finite / inf`` would read 0 where the exact ratio is finite (Keras, whose
float32 state overflows sooner, returns NaN there). Only such denominators are
touched: a finite one gives the bits of the plain division. No host sync.
"""
import numpy as np


def overflow_to_nan(xp, ratio, denominator):
    """``ratio`` where ``denominator`` is finite or NaN, NaN where it is infinite.

    >>> overflow_to_nan(np, np.array([1e308, 2.0]) / np.array([np.inf, 4.0]), np.array([np.inf, 4.0])).tolist()
    [nan, 0.5]
    """
    return xp.where(xp.isinf(denominator), np.nan, ratio)


def divide_no_nan(xp, a, b):
    """Keras's ``divide_no_nan`` (``a / b``, 0 where ``b == 0``), NaN where ``b`` overflowed (``overflow_to_nan``)."""
    return overflow_to_nan(xp, xp.where(b == 0, 0.0, a / xp.where(b == 0, 1.0, b)), b)


def unit_scaled(xp, weights):
    """``weights`` times the power of 2 that brings their sum (along axis 0) into [0.5, 1): exact, so a ratio of
    products of such sums keeps its bits, and the product of two classes' sums (the ROC area's ``P * N``) neither
    underflows nor overflows (weights of 1e-165, 1e155, or two of 1e308, whose sum overflows float64).

    Scaled first by the power of 2 of the largest weight in magnitude (so that the sum is finite), then by the
    sum's. An inf or NaN weight is left as it is (``frexp`` of one leaves its exponent unspecified in CUDA: read as
    0, NumPy's).

    >>> unit_scaled(np, np.array([3.0, 1.0])).tolist(), unit_scaled(np, np.array([1e-165, 1e-165])).sum() > 0.5
    ([0.375, 0.125], np.True_)
    >>> unit_scaled(np, np.array([1e308, 1e308])).sum() < 1
    np.True_
    """
    if weights.shape[0] == 0:
        return weights
    weights = xp.ldexp(weights, -_exponent(xp, xp.max(xp.abs(weights), axis=0)))
    return xp.ldexp(weights, -_exponent(xp, xp.sum(weights, axis=0)))


def largest_to_2_960(xp, weights, largest):
    """``weights`` times the power of 2 that brings ``largest`` (their largest magnitude, per column) into
    [2**959, 2**960): exact whether it scales up or down, so ratios keep their bits, subnormal weights (1e-320)
    become normal floats, and a sum of up to 2**63 of them stays finite (weights of 1e307). Unchanged where
    ``largest`` is 0, inf or NaN.

    >>> scaled = largest_to_2_960(np, np.array([1e-320, 2e-320]), np.float64(2e-320))
    >>> bool(2.0 ** 959 <= scaled[1] < 2.0 ** 960), float(scaled[1] / scaled[0])  # the ratio of the subnormals
    (True, 2.0)
    """
    shift = xp.where(xp.isfinite(largest) & (largest > 0), 960 - _exponent(xp, largest), 0)
    return xp.ldexp(weights, shift)


def _exponent(xp, x):
    """``frexp(x)``'s exponent; 0 where ``x`` is inf or NaN."""
    _, exponent = xp.frexp(x)
    return xp.where(xp.isfinite(x), exponent, 0)
