"""``row_sums``: every row kind through both kernel twins against a float64 NumPy oracle, and the pass's own edges
(weights shared by groups of rows, strides, ragged grid tails, reproducibility).

Oracles write each formula per row with plain NumPy (``np.argmax``,
``np.log``, ``np.corrcoef``...), independently of ``row_kinds``.
"""
import math

import numpy as np
import pytest

import kernel_twins

from gpumetrics._kernels.row_sums import cpu as cpu
from gpumetrics._kernels.row_sums.rules import KINDS


LO, HI, NONE = 1e-7, 1 - 1e-7, math.nan


class Twin(kernel_twins.Twin):
    """The row_sums twin: ``run`` applies it to host-built arrays."""

    def run(self, kind, y_true, y_pred, params, weight=None, group=1):
        """One call on fresh zero state; ``(total, weight sum)`` on the host."""
        total, wsum = self.put(np.zeros(1)), self.put(np.zeros(1))
        self.module.row_sums(kind, self.put(y_true), self.put(y_pred), self.put(weight), group, total, wsum, 1.0, 1.0,
                             self.put(np.asarray(params, np.float64)))
        return self.host(total)[0], self.host(wsum)[0]


@pytest.fixture(params=kernel_twins.twin_params(Twin, "row_sums"))
def twin(request):
    return request.param


def per_row(f, y_true, y_pred):
    return np.array([f(t, p) for t, p in zip(np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64))])


def lse(x):
    return x.max() + np.log(np.exp(x - x.max()).sum())


def valid_id(label, classes):
    return -1 < label < classes


def sparse_ce(t, p, ignore):
    label = t[0]
    if label == ignore or not valid_id(label, len(p)):
        return 0.0
    return -np.log(np.clip(p[int(label)] / p.sum(), LO, HI))


def in_top_k(label, p, k):
    target = p[label] if not np.isnan(p[label]) else -np.inf
    return float((p > target).sum() < k)


def _inputs():
    rng = np.random.default_rng(11)
    scores = rng.dirichlet(np.ones(5), size=40)
    scores[0] = [0.2, 0.2, 0.2, 0.2, 0.2]          # a five-way tie
    scores[1] = [0.0, 1.0, 0.0, 0.0, 0.0]          # on the clip bounds
    logits = rng.normal(scale=4, size=(40, 5))
    logits[0] = [1000.0, -1000.0, 999.0, 0.0, 3.0]  # would overflow exp
    one_hot = np.eye(5)[rng.integers(0, 5, size=40)]
    soft = rng.dirichlet(np.ones(5), size=40)
    ids = rng.integers(0, 5, size=(40, 1)).astype(np.float64)
    ids[:6, 0] = [-1.0, 5.0, 2.7, -0.5, np.nan, 4.0]  # out of range, truncated, NaN
    offset = rng.normal(size=(40, 5)) + 1e6
    return scores, logits, one_hot, soft, ids, offset


SCORES, LOGITS, ONE_HOT, SOFT, IDS, OFFSET = _inputs()

#: kind-and-params id -> (kind, params, y_true, y_pred, oracle(t_row, p_row))
CASES = {
    "crossentropy": ("crossentropy", [0.0, LO, HI, 0.0, NONE], SOFT, SCORES,
                     lambda t, p: -(t * np.log(np.clip(p / p.sum(), LO, HI))).sum()),
    "crossentropy-smoothing": ("crossentropy", [0.1, LO, HI, 0.0, NONE], ONE_HOT, SCORES,
                               lambda t, p: -((t * 0.9 + 0.1 / 5) * np.log(np.clip(p / p.sum(), LO, HI))).sum()),
    "crossentropy-sparse": ("crossentropy", [0.0, LO, HI, 1.0, NONE], IDS, SCORES,
                            lambda t, p: sparse_ce(t, p, None)),
    "crossentropy-sparse-ignore": ("crossentropy", [0.0, LO, HI, 1.0, 3.0], IDS, SCORES,
                                   lambda t, p: sparse_ce(t, p, 3.0)),
    "crossentropy_from_logits": ("crossentropy_from_logits", [0.0, 0.0, NONE], SOFT, LOGITS,
                                 lambda t, x: (t * (lse(x) - x)).sum()),
    "crossentropy_from_logits-smoothing": ("crossentropy_from_logits", [0.2, 0.0, NONE], ONE_HOT, LOGITS,
                                           lambda t, x: ((t * 0.8 + 0.2 / 5) * (lse(x) - x)).sum()),
    "crossentropy_from_logits-sparse-ignore": (
        "crossentropy_from_logits", [0.0, 1.0, 2.0], IDS, LOGITS,
        lambda t, x: 0.0 if t[0] == 2.0 or not valid_id(t[0], 5) else lse(x) - x[int(t[0])]),
    "argmax_match": ("argmax_match", [0.0, 0.0], ONE_HOT, SCORES, lambda t, p: float(t.argmax() == p.argmax())),
    "argmax_match-sparse": ("argmax_match", [1.0, 0.0], IDS, SCORES, lambda t, p: float(t[0] == p.argmax())),
    "argmax_match-sparse-truncated": ("argmax_match", [1.0, 2.0], IDS, SCORES,
                                      lambda t, p: float(np.nan_to_num(np.trunc(t[0]), nan=-9) == p.argmax())),
    "in_top_k": ("in_top_k", [2.0, 0.0], SOFT, SCORES, lambda t, p: in_top_k(t.argmax(), p, 2)),
    "in_top_k-sparse": ("in_top_k", [3.0, 1.0], IDS, SCORES,
                        lambda t, p: in_top_k(int(t[0]), p, 3) if valid_id(t[0], 5) else 0.0),
    "in_top_k-k-beyond-classes": ("in_top_k", [9.0, 1.0], IDS, SCORES, lambda t, p: float(valid_id(t[0], 5))),
    "sorted_ids_hit": ("sorted_ids_hit", [2.0, 0.0], IDS, np.argsort(-SCORES, axis=1).astype(np.float64),
                       lambda t, p: float(t[0] in p[:2])),
    "categorical_hinge": ("categorical_hinge", [], ONE_HOT, LOGITS,
                          lambda t, p: max(((1 - t) * p).max() - (t * p).sum() + 1, 0.0)),
    "cosine_similarity": ("cosine_similarity", [1e-7], np.vstack([np.zeros((1, 5)), LOGITS[1:]]), LOGITS[::-1],
                          lambda t, p: t @ p / max(np.sqrt(t @ t), 1e-7) / max(np.sqrt(p @ p), 1e-7)),
    "correlation-pearson": ("correlation", [0.0, 1e-7], OFFSET, OFFSET[::-1] + LOGITS,
                            lambda t, p: np.corrcoef(t, p)[0, 1]),
    "correlation-concordance": ("correlation", [1.0, 1e-7], OFFSET, OFFSET[::-1] + LOGITS,
                                lambda t, p: 2 * np.cov(t, p, bias=True)[0, 1]
                                / (t.var() + p.var() + (t.mean() - p.mean()) ** 2 + 1e-7)),
}


def test_every_kind_has_oracle_cases():
    assert {case[0] for case in CASES.values()} == set(KINDS)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kind_matches_oracle(twin, case):
    kind, params, y_true, y_pred, f = CASES[case]
    weight = np.linspace(0.5, 2.0, len(y_pred))
    total, wsum = twin.run(kind, y_true, y_pred, params, weight)
    values = per_row(f, y_true, y_pred)
    assert np.isfinite(values).all()
    np.testing.assert_allclose(total, math.fsum((weight * values).tolist()), rtol=1e-10)
    assert wsum == math.fsum(weight.tolist())


@pytest.mark.parametrize("case", ["crossentropy", "crossentropy_from_logits", "categorical_hinge",
                                  "cosine_similarity", "correlation-pearson"])
def test_nan_score_propagates(twin, case):
    kind, params, y_true, y_pred, _ = CASES[case]
    y_pred = y_pred.copy()
    y_pred[7, 3] = np.nan
    assert math.isnan(twin.run(kind, y_true, y_pred, params)[0])


def test_argmax_takes_the_first_maximum_and_nan_as_largest(twin):
    scores = np.array([[0.3, 0.7, 0.7], [np.nan, 1.0, np.nan], [0.1, np.nan, 0.1]])
    labels = np.array([[1.0], [0.0], [1.0]])  # np.argmax: 1, 0, 1
    assert twin.run("argmax_match", labels, scores, [1.0, 0.0])[0] == 3.0


@pytest.mark.parametrize("sparse", [True, False], ids=["class-ids", "one-hot"])
def test_a_label_matches_exactly_where_numpy_argmax_is_it(twin, sparse):
    """Each row of ties, NaNs, infinities and signed zeros against each of its labels: a hit exactly where
    ``np.argmax`` of the row is the label. Row ``i``'s weight is ``2 ** i``, so the weighted total spells every
    row's hit in its bits (exact in float64)."""
    nan, inf = math.nan, math.inf
    rows = np.array([[0.7, 0.3, 0.7, 0.7], [0.1, nan, 0.9, nan], [nan, nan, 0.1, 0.2], [-0.0, 0.0, -1.0, 0.0],
                     [-inf, -inf, -inf, -inf], [inf, 1.0, inf, nan], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.4]])
    labels = np.tile(np.arange(4), len(rows))
    y_pred = np.repeat(rows, 4, axis=0)
    y_true = labels[:, None].astype(np.float64) if sparse else np.eye(4)[labels]
    weight = 2.0 ** np.arange(len(labels))
    total, _ = twin.run("argmax_match", y_true, y_pred, [1.0 if sparse else 0.0, 0.0], weight=weight)
    hits = [(int(total) >> i) & 1 for i in range(len(labels))]
    assert hits == [int(np.argmax(p) == label) for p, label in zip(y_pred, labels)]


def test_top_k_counts_ties_as_hits_and_a_nan_label_score_as_lowest(twin):
    scores = np.array([[0.5, 0.5, 0.5], [0.1, np.nan, 0.9], [0.2, 0.3, 0.1]])
    labels = np.array([[2.0], [1.0], [0.0]])
    # scores strictly above the label's: none (a three-way tie), two (NaN counts as -inf), one
    assert twin.run("in_top_k", labels, scores, [1.0, 1.0])[0] == 1.0
    assert twin.run("in_top_k", labels, scores, [2.0, 1.0])[0] == 2.0
    assert twin.run("in_top_k", labels, scores, [3.0, 1.0])[0] == 3.0


def test_correlation_is_exact_far_from_zero(twin):
    """Two passes over the row: the same correlation at offsets 0 and 1e6 to 1e-9 (one-pass sums lose ~1e-4)."""
    y_true, y_pred = OFFSET - 1e6, OFFSET[::-1] - 1e6 + LOGITS
    near = twin.run("correlation", y_true, y_pred, [0.0, 1e-7])[0]
    far = twin.run("correlation", y_true + 1e6, y_pred + 1e6, [0.0, 1e-7])[0]
    assert abs(far - near) <= 1e-9 * abs(near)


@pytest.mark.parametrize("case", ["cosine_similarity", "correlation-pearson", "correlation-concordance"])
@pytest.mark.parametrize("power", [520, 1000])  # squares past 1.8e308 from entries past 2^512 (1.3e154)
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_squares_past_the_float64_range_give_the_exact_value(twin, case, power):
    """Rows scaled by 2^power (exact) give the unscaled rows' value (the kinds are scale-invariant, but for the
    concordance's epsilon, which counts 4^power times less), not a finite 0 from ``cov / inf`` nor NaN."""
    kind, params, y_true, y_pred, f = CASES[case]
    y_true, y_pred = np.array(y_true[1:9] - y_true[1:9].mean()), np.array(y_pred[1:9] - y_pred[1:9].mean())
    if case == "cosine_similarity":
        y_pred[:, 0] = 0.0  # one side large, the other not: each row is scaled on its own
    scaled = {"cosine_similarity": (power, 0), "correlation-pearson": (power, power - 40),
              "correlation-concordance": (power, power)}[case]
    big_true, big_pred = np.ldexp(y_true, scaled[0]), np.ldexp(y_pred, scaled[1])
    assert not np.isfinite(np.square(big_true).sum(axis=1)).any()
    expected = per_row(f, y_true, y_pred).sum()
    if case == "correlation-concordance":
        eps = math.ldexp(params[1], -2 * power)
        expected = per_row(lambda t, p: 2 * np.cov(t, p, bias=True)[0, 1]
                           / (t.var() + p.var() + (t.mean() - p.mean()) ** 2 + eps), y_true, y_pred).sum()
    total = twin.run(kind, big_true, big_pred, params)[0]
    np.testing.assert_allclose(total, expected, rtol=1e-12)


@pytest.mark.parametrize("case", ["crossentropy", "crossentropy-sparse"])
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_probabilities_summing_past_the_float64_range_are_normalised_exactly(twin, case):
    """Scores below 1 scaled by 2^1024 (exact, each finite) sum past 1.8e308: the row is normalised scaled, not
    read as p / inf = 0."""
    kind, params, y_true, y_pred, f = CASES[case]
    y_true, y_pred = y_true[2:], y_pred[2:]  # row 1 holds a 1.0
    assert not np.isfinite(np.ldexp(y_pred, 1024).sum(axis=1)).all()
    total = twin.run(kind, y_true, np.ldexp(y_pred, 1024), params)[0]
    np.testing.assert_allclose(total, per_row(f, y_true, y_pred).sum(), rtol=1e-12)


@pytest.mark.parametrize("group", [1, 3, 8])
@pytest.mark.parametrize("rows", [1, 31, 33, 96, 130])
def test_weights_shared_by_groups_of_rows_and_ragged_tails(twin, group, rows):
    """``weight[r // group]`` weights row ``r``; the weight sum counts each weight once."""
    rows = rows * group
    rng = np.random.default_rng(rows)
    scores, labels = rng.dirichlet(np.ones(3), size=rows), rng.integers(0, 3, size=(rows, 1)).astype(float)
    weight = rng.uniform(size=rows // group)
    total, wsum = twin.run("crossentropy", labels, scores, [0.0, LO, HI, 1.0, NONE], weight, group)
    values = per_row(lambda t, p: sparse_ce(t, p, None), labels, scores)
    np.testing.assert_allclose(total, (np.repeat(weight, group) * values).sum(), rtol=1e-12)
    np.testing.assert_allclose(wsum, weight.sum(), rtol=1e-12)
    unweighted = twin.run("crossentropy", labels, scores, [0.0, LO, HI, 1.0, NONE], None, group)
    np.testing.assert_allclose(unweighted, (values.sum(), rows // group), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.bool_])
def test_every_dtype_and_strided_views(twin, dtype):
    base = (np.random.default_rng(3).uniform(size=(30, 14)) * 4).astype(dtype)
    y_pred = base[::2, 1::3]                  # strided in both axes
    y_true = base.T[::3, :15].T[:, ::-1][:, :5]   # transposed and reversed
    got = twin.run("cosine_similarity", y_true, y_pred, [1e-7])[0]
    f = CASES["cosine_similarity"][4]
    np.testing.assert_allclose(got, per_row(f, y_true, y_pred).sum(), rtol=1e-12)


def test_same_bits_on_every_run_and_empty_batches_are_no_ops(twin):
    kind, params, y_true, y_pred, _ = CASES["crossentropy_from_logits"]
    weight = np.linspace(0.1, 1, len(y_pred))
    assert twin.run(kind, y_true, y_pred, params, weight) == twin.run(kind, y_true, y_pred, params, weight)
    assert twin.run(kind, y_true[:0], y_pred[:0], params) == (0.0, 0.0)


@pytest.mark.parametrize("kind", ["crossentropy", "correlation"])
def test_the_calling_thread_and_several_threads_give_the_same_bits(monkeypatch, kind):
    """Small batches run in the calling thread, large ones on several threads: on the same input every thread
    count gives identical bits (the chunks depend on the shapes alone, their partials are summed in order)."""
    rng = np.random.default_rng(5)
    rows, cols = 3001, 37  # several chunks of CHUNK // cols rows, a ragged last one
    y_pred = rng.dirichlet(np.ones(cols), size=rows)
    y_true = y_pred[::-1] + rng.normal(size=(rows, cols)) if kind == "correlation" else np.eye(cols)[
        rng.integers(0, cols, size=rows)]
    params = np.array([0.1, LO, HI, 0.0, NONE] if kind == "crossentropy" else [1.0, 1e-7])
    w = rng.uniform(size=rows)
    sums = []
    for threads in (1, 2, 5):
        kernel_twins.on_threads(monkeypatch, threads)
        total, weight = np.zeros(1), np.zeros(1)
        cpu.row_sums(kind, y_true, y_pred, w, 1, total, weight, 1.0, 1.0, params)
        sums.append((total[0], weight[0]))
    assert sums[0][0] != 0 and sums[1:] == sums[:1] * 2
