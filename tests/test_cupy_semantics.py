"""CuPy semantics that NumPy-backed states cannot show, emulated on NumPy (the CuPy audit of every ``xp.`` call).

On a GPU a metric's ``xp`` is CuPy, which differs from NumPy where these tests put a stand-in module in the
backend's ``xp``: NumPy itself, with one of CuPy 14's rules (read in CuPy's source) in place of NumPy's.
"""
import sys
import types

import numpy as np
import pytest

import gpumetrics


class _CupyRules(types.ModuleType):
    """NumPy, with the CuPy functions a test overrides."""

    def __init__(self, **overrides):
        super().__init__("cupy_rules")
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(np, name)


def _clip_nep50(a, a_min, a_max, out=None):
    """CuPy 14's ``clip``: a Python int bound is packed into the loop's dtype, the array's own for an integer array
    (``cupy/_core/_kernel.pyx``: ``CScalar.apply_dtype``, ``PyArray_Pack``), so a bound out of its range raises."""
    for bound in (a_min, a_max):
        if isinstance(bound, int) and a.dtype.kind in "iu":
            np.array(bound, dtype=a.dtype)  # OverflowError: Python integer ... out of bounds
    return np.clip(a, a_min, a_max, out=out)


@pytest.mark.parametrize("cls", [gpumetrics.Hinge, gpumetrics.SquaredHinge])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16])
def test_grouped_hinge_takes_narrow_ids_beside_many_groups(cls, dtype, monkeypatch):
    """Grouped hinge clips the ids to ``[0, G)`` with CuPy: ids of a narrow integer dtype beside ``G - 1`` past its
    range (uint8 ids, 40,000 groups) must not raise, and give the NumPy result."""
    rng = np.random.default_rng(0)
    y_true = np.array([[0.0], [1.0], [2.0], [1.0], [0.0], [1.0]])  # group 3 holds a label other than 0 / 1
    y_pred = rng.normal(size=(6, 1))
    ids = np.array([1, 1, 3, 3, 100, 100], dtype=dtype)
    expected = cls(num_groups=40_000, device="cpu")
    expected.update_state(y_true, y_pred, group_ids=ids)
    metric = cls(num_groups=40_000, device="cpu")
    monkeypatch.setattr(metric.backend, "xp", _CupyRules(clip=_clip_nep50))
    metric.update_state(y_true, y_pred, group_ids=ids)
    monkeypatch.undo()
    np.testing.assert_array_equal(metric.result(), expected.result())


def _argsort_radix(a, axis=-1, kind=None):
    """CuPy 14's ``argsort`` of a 1-D float array: ``thrust::stable_sort_by_key`` with ``thrust::less``
    (``cupy/cuda/cupy_thrust.cu``), a CUB radix sort of the keys' bits twiddled (sign set: all bits flipped; else the
    sign bit flipped; -0.0 as +0.0). A NaN with its sign bit set sorts first. Other arrays: NumPy's order."""
    if a.ndim != 1 or a.dtype != np.float64:
        return np.argsort(a, axis=axis, kind="stable")
    bits = (a + 0.0).view(np.uint64)  # -0.0 + 0.0 == +0.0
    high = np.uint64(1 << 63)
    twiddled = np.where(bits & high, ~bits, bits ^ high)
    return np.argsort(twiddled, kind="stable")


@pytest.mark.parametrize("nan", [np.nan, -np.nan])
def test_top_k_of_one_row_ranks_nan_scores_last_as_numpy_does(nan, monkeypatch):
    """``top_k`` over a 1-D ``y_pred`` (one sample's scores) with a NaN score: NumPy ranks NaN last, so the k
    largest real scores survive; the CuPy sort must keep the same ones (here the 0.9 of the one positive label)."""
    y_true, y_pred = np.array([0.0, 0.0, 1.0, 0.0]), np.array([0.2, nan, 0.9, 0.5])
    for make in (lambda: gpumetrics.Precision(top_k=1, device="cpu"), lambda: gpumetrics.Recall(top_k=2, device="cpu")):
        expected = make()
        expected.update_state(y_true, y_pred)
        metric = make()
        monkeypatch.setattr(metric.backend, "xp", _CupyRules(argsort=_argsort_radix))
        metric.update_state(y_true, y_pred)
        monkeypatch.undo()
        assert float(expected.result()) == 1.0
        np.testing.assert_array_equal(metric.state_dict()["positive_histogram"],
                                      expected.state_dict()["positive_histogram"])
        np.testing.assert_array_equal(metric.result(), expected.result())


@pytest.mark.parametrize("cols", [1, 3])
def test_a_shared_pass_sums_member_buckets_on_cupy_as_on_numpy(cols, monkeypatch):
    """A member's buckets of a shared histogram: the CPU sums them with one ``bincount``, CuPy with a gather and
    ``cupyx.scatter_add`` (here NumPy's ``add.at``, which adds in order as the CPU does: the same bits). Members
    at a subset of the union, at one threshold, at the whole union (the histogram itself), over fractional sums."""
    from gpumetrics.metrics._passes import Segments

    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=np.add.at))
    rng = np.random.default_rng(1)
    union = np.sort(rng.random(40))
    hist = rng.normal(size=(41, cols)) * 10 ** rng.uniform(-3, 3, (41, cols))
    for thresholds in (union[::3], union[17:18], union, union[[0, 1, 2, 39]]):
        segments = Segments(thresholds, union)
        np.testing.assert_array_equal(segments.sum(_CupyRules(), hist), segments.sum(np, hist))
        assert segments.sum(np, hist).shape == (len(thresholds) + 1, cols)
