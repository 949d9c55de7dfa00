"""Every ``error_sums`` kind, with its parameters, through both kernel twins against a float64 NumPy oracle.

The oracles are Keras's formulas written out directly (``np.clip``,
``np.log``, ...); inputs span each kind's domain and its edges: values on the
clip bounds, saturated logits, NaN, integer and bool labels.
"""
import math

import numpy as np
import pytest

import kernel_twins

from gpumetrics._kernels.error_sums.rules import KINDS

LO, HI = 1e-7, 1 - 1e-7


def clip(x, lo, hi):
    return np.clip(x, lo, hi)


def trunc_or_nan(x):
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(x), np.trunc(x), x)


#: kind -> (oracle(t, p, params), params, y_true, y_pred): elementwise float64 values
def _cases():
    rng = np.random.default_rng(7)
    normal = rng.normal(size=(6, 9)) * 2
    labels = rng.integers(0, 2, size=(6, 9)).astype(np.float64)
    probs = rng.uniform(size=(6, 9))
    probs[0, :4] = [0.0, 1.0, LO, HI]
    logits = rng.normal(size=(6, 9)) * 5
    logits[0, :4] = [-1000.0, 1000.0, 40.0, -40.0]
    small = rng.integers(0, 3, size=(6, 9)).astype(np.float64)
    return {
        "identity": (lambda t, p, q: p, [], normal, normal[::-1]),
        "squared_error": (lambda t, p, q: (t - p) ** 2, [], normal, normal[::-1]),
        "absolute_error": (lambda t, p, q: np.abs(t - p), [], normal, normal[::-1]),
        "absolute_percentage_error": (lambda t, p, q: 100 * np.abs(t - p) / np.maximum(np.abs(t), q[0]), [LO],
                                      np.where(probs < 0.2, 0.0, normal), normal[::-1]),
        "squared_logarithmic_error": (
            lambda t, p, q: (np.log(np.maximum(p, q[0]) + 1) - np.log(np.maximum(t, q[0]) + 1)) ** 2, [LO],
            np.abs(normal), normal[::-1]),
        "log_cosh": (lambda t, p, q: np.log(np.cosh(p - t)), [], normal, normal[::-1] * 100),
        "huber": (lambda t, p, q: np.where(np.abs(p - t) <= q[0], 0.5 * (p - t) ** 2,
                                           q[0] * np.abs(p - t) - 0.5 * q[0] ** 2), [1.5], normal, normal[::-1]),
        "binary_crossentropy": (
            lambda t, p, q: -((t * (1 - q[0]) + 0.5 * q[0]) * np.log(clip(p, q[1], q[2]))
                              + (1 - t * (1 - q[0]) - 0.5 * q[0]) * np.log(1 - clip(p, q[1], q[2]))),
            [0.1, LO, HI], labels, probs),
        "binary_crossentropy_from_logits": (
            lambda t, x, q: (t * (1 - q[0]) + 0.5 * q[0]) * np.logaddexp(0, -x)
            + (1 - t * (1 - q[0]) - 0.5 * q[0]) * np.logaddexp(0, x), [0.2], labels, logits),
        "kl_divergence": (lambda t, p, q: clip(t, q[0], 1) * np.log(clip(t, q[0], 1) / clip(p, q[0], 1)), [LO],
                          probs[::-1], probs),
        "poisson": (lambda t, p, q: p - t * np.log(p + q[0]), [LO], small, probs + 0.1),
        "hinge": (lambda t, p, q: np.maximum(1 - (2 * t - 1) * p, 0), [0.0], labels, normal),
        "squared_hinge": (lambda t, p, q: np.maximum(1 - t * p, 0) ** 2, [3.0], 2 * labels - 1, normal),
        "non_binary": (lambda t, p, q: (~np.isin(t, [0, 1])).astype(float), [], small, small),
        "equal": (lambda t, p, q: (t == p).astype(float), [], small, small[::-1]),
        "equal_cast": (lambda t, p, q: (trunc_or_nan(t) == p).astype(float), [2.0], small + probs * 0.9, small),
        "binary_accuracy": (lambda t, p, q: (t == (p > q[0])).astype(float), [0.5], labels,
                            np.where(probs < 0.3, 0.5, probs)),
    }


CASES = _cases()


class Twin(kernel_twins.Twin):
    """The error_sums twin, applied to a weighted batch of one kind."""

    def run(self, kind, y_true, y_pred, params):
        """Sum of ``f`` over a weighted batch on fresh zero state, on the twin's device; (total, the weights)."""
        total, wsum = self.put(np.zeros(1)), self.put(np.zeros(1))
        weight = np.linspace(0.5, 2.0, y_pred.shape[0])
        self.module.error_sums(kind, self.put(y_true), self.put(y_pred), self.put(weight), total, wsum, 1.0, 1.0,
                               None if params is None else self.put(np.asarray(params, np.float64)))
        return self.host(total)[0], weight


@pytest.fixture(params=kernel_twins.twin_params(Twin, "error_sums"))
def twin(request):
    return request.param


def test_every_kind_has_an_oracle():
    assert set(KINDS) == set(CASES)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_kind_matches_oracle(twin, kind):
    f, params, y_true, y_pred = CASES[kind]
    total, weight = twin.run(kind, y_true, y_pred, params or None)
    with np.errstate(all="ignore"):
        values = f(y_true, y_pred, np.asarray(params, np.float64))
    assert np.isfinite(values).all()
    np.testing.assert_allclose(total, math.fsum((values * weight[:, None]).ravel().tolist()), rtol=1e-12)


@pytest.mark.parametrize("kind", sorted(set(CASES) - {"non_binary", "equal", "equal_cast", "binary_accuracy"}))
def test_nan_prediction_propagates(twin, kind):
    _, params, y_true, y_pred = CASES[kind]
    y_pred = y_pred.copy()
    y_pred[1, 2] = np.nan
    total, _ = twin.run(kind, y_true, y_pred, params or None)
    assert math.isnan(total)


@pytest.mark.parametrize("cast,label,prediction,dtype", [
    (0.0, 0.1, 0.1, np.float64), (1.0, 0.1, 0.1, np.float32), (2.0, 2.7, 2, np.int32), (2.0, -2.7, -2, np.int64),
    (3.0, 0.5, True, np.bool_), (1.0, 0.1, 0.1, np.float64),
], ids=["float64", "float32-rounding", "truncation", "negative-truncation", "bool", "no-rounding-for-float64"])
def test_equal_casts_the_label_to_the_prediction_dtype(twin, cast, label, prediction, dtype):
    """Keras casts ``y_true`` to ``y_pred``'s dtype before comparing: float64 0.1 equals float32 0.1 once rounded,
    2.7 equals the integer 2, 0.5 equals True. The last row shows the cast matters: a float32 cast of a float64
    prediction's label is not the same number."""
    total, weight = twin.run("equal_cast", np.array([[label]]), np.array([[prediction]], dtype=dtype), [cast])
    expected = 0.0 if cast == 1.0 and dtype == np.float64 else 1.0
    assert total == expected * weight[0]


def test_hinge_reads_its_label_rule_from_the_device(twin):
    """``params[0]`` is the count of labels other than 0/1 that the ``non_binary`` pass wrote: 0 maps 0/1 to -1/1."""
    y_true, y_pred = np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]])
    converted, weight = twin.run("hinge", y_true, y_pred, [0.0])
    as_is, _ = twin.run("hinge", y_true, y_pred, [1.0])
    # labels -1, 1: max(1 + 0.5, 0) + max(1 - 0.5, 0) = 2; labels 0, 1 as they are: max(1 - 0, 0) + 0.5 = 1.5
    assert (converted, as_is) == (2.0 * weight[0], 1.5 * weight[0])
