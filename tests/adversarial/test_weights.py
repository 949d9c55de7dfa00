"""Weights no rule refuses but few tests feed: negative, mixed-sign, zero and integer / bool / big-endian weights give
the float64 oracle's ``sum(w * v) / sum(w)`` (README: weights follow Keras's rules; negative and NaN weights make
negative or NaN weighted sums), on every metric of the CPU twin and the representatives of every backend."""
import warnings

import numpy as np
import pytest

from . import attack


def mixed_sign(w, rng):
    return w * rng.choice([-1.0, 1.0], size=w.shape)


def negative(w, rng):
    return -w


def zeros_and_ones(w, rng):
    return rng.integers(0, 2, size=w.shape)


def booleans(w, rng):
    return rng.integers(0, 2, size=w.shape).astype(bool)


KINDS = {"mixed-sign": mixed_sign, "negative": negative, "zeros-and-ones-int": zeros_and_ones, "bool": booleans}


def oracle_of(case):
    """The case's oracle; the adjusted R² with no more samples than regressors + 1 falls back to the plain R²,
    as Keras's does (with a warning)."""
    if case.id != "R2Score-adjusted":
        return case.oracle

    def oracle(batches):
        weight = np.concatenate([b["sample_weight"] for b in batches])
        if np.count_nonzero(weight) - 3 - 1 <= 0:
            return attack.BY_ID["R2Score"].oracle(batches)
        return case.oracle(batches)

    return oracle


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case,device", attack.every_case_cpu_representatives_everywhere())
def test_unusual_weights_give_the_oracles_result(case, device, kind):
    rng = np.random.default_rng(11)
    good = attack.good_batch(case)
    batch = {**good, "sample_weight": KINDS[kind](np.asarray(good["sample_weight"]), rng)}
    metric = case.make(device)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        case.update(metric, batch)
        expected = np.asarray(oracle_of(case)([attack.as_float64(batch)]), np.float64)
    np.testing.assert_allclose(attack.result64(metric), expected, rtol=case.rtol, atol=1e-5, equal_nan=True,
                               err_msg=f"{case.id}: {kind} weights")
