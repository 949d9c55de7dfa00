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
