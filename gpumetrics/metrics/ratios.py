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
    underflows nor overflows where each sum is a normal float64 (weights of 1e-165 or 1e155).

    >>> unit_scaled(np, np.array([3.0, 1.0])).tolist(), unit_scaled(np, np.array([1e-165, 1e-165])).sum() > 0.5
    ([0.375, 0.125], np.True_)
    """
    _, exponent = xp.frexp(xp.sum(weights, axis=0))
    return xp.ldexp(weights, -exponent)
