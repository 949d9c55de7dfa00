"""Hypothesis properties against the float64 oracles of ``cases.py``, for every family (the suite's other
hypothesis test covers ``Mean`` alone): on random rows of a batch, one update equals the oracle; the same rows
updated in k random contiguous splits and merged equal the oracle of those splits, and (for the families whose
per-batch rules add up) the single update."""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from . import attack

#: per-batch rules that depend on the whole batch (Hinge reads 0/1 labels as -1/1 only when a batch holds no other)
BATCH_DEPENDENT = {"Hinge", "SquaredHinge"}
#: rows are not the leading axis here (one-hot columns are samples), so a row split is not a sample split
NOT_ROW_SPLITTABLE = {"OneHotIoU-axis-0"}
MIN_ROWS = {"r2": 3}
#: results near 0 carry the float32 rounding of their terms
ATOL = 1e-5


def rows_of(batch, index):
    return {k: np.asarray(v)[index] for k, v in batch.items()}


@st.composite
def split_stream(draw, case):
    """A random batch of ``case`` (seed, layout, weights), a random subset of its rows and k contiguous splits."""
    layout = draw(st.sampled_from(case.layouts))
    weighted = draw(st.booleans())
    batch = case.batch(np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))), layout, weighted)
    n = len(np.asarray(batch["y_pred"]))
    least = MIN_ROWS.get(attack.family_of(case.id), 1)
    rows = sorted(draw(st.sets(st.integers(0, n - 1), min_size=max(least * 2, 2), max_size=n)))
    k = draw(st.integers(1, min(4, len(rows) // least)))
    cuts = sorted(draw(st.sets(st.integers(least, len(rows) - least), min_size=k - 1, max_size=k - 1))) \
        if k > 1 else []
    whole = rows_of(batch, rows)
    edges = spaced_edges(cuts, len(rows), least)
    return whole, [rows_of(whole, slice(a, b)) for a, b in zip(edges, edges[1:])]


def spaced_edges(cuts, n, least):
    """``[0, *cuts, n]`` less the cuts that would leave a split of fewer than ``least`` rows: the splits still
    cover every row."""
    edges = [0]
    for cut in cuts:
        if cut - edges[-1] >= least and n - cut >= least:
            edges.append(cut)
    return edges + [n]


def run(case, device, batches):
    metric = case.make(device)
    for batch in batches:
        case.update(metric, batch)
    return metric


def merged(case, device, parts):
    metrics = [run(case, device, [part]) for part in parts]
    metrics[0].merge_state(metrics[1:])
    return metrics[0]


def oracle(case, batches):
    """The case's oracle; a draw scikit-learn cannot score (no in-range label at all) is rejected."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return np.asarray(case.oracle(batches), np.float64)
        except ValueError as error:
            if "At least one label specified must be in y_true" not in str(error):
                raise
            reject()


def check_split_merge(case, device, stream):
    whole, parts = stream
    single, combined = run(case, device, [whole]), merged(case, device, parts)
    np.testing.assert_allclose(attack.result64(single), oracle(case, [whole]), rtol=case.rtol, atol=ATOL,
                               err_msg=f"{case.id}: one update vs oracle")
    np.testing.assert_allclose(attack.result64(combined), oracle(case, parts), rtol=case.rtol, atol=ATOL,
                               err_msg=f"{case.id}: {len(parts)} merged splits vs oracle")
    if case.id not in BATCH_DEPENDENT:
        np.testing.assert_allclose(attack.result64(combined), attack.result64(single), rtol=1e-5, atol=ATOL,
                                   err_msg=f"{case.id}: {len(parts)} merged splits vs one update")


CPU_CASES = [c for c in attack.BY_ID.values() if c.id not in NOT_ROW_SPLITTABLE]
SETTINGS = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("case", CPU_CASES, ids=lambda c: c.id)
def test_split_and_merge_equal_one_update_and_the_oracle(case):
    @SETTINGS
    @given(split_stream(case))
    def prop(stream):
        check_split_merge(case, "cpu", stream)

    prop()


CUDA_CASES = [attack.BY_ID[i] for i in attack.REPRESENTATIVES if i not in NOT_ROW_SPLITTABLE]


@pytest.mark.parametrize("case", CUDA_CASES, ids=lambda c: c.id)
def test_split_and_merge_on_the_cuda_twin(case):
    """The same property on the CUDA twin (simulated here, so two examples per representative)."""
    @settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(split_stream(case))
    def prop(stream):
        check_split_merge(case, "cuda", stream)

    prop()
