"""``update_state`` never reads device data on the host: every row of ``cases.py`` under the one harness
(``no_host_sync.py``) on every backend, merges included, and proof that the harness catches each kind of read."""
import numpy as np
import pytest

from cases import CASES
from conftest import on_device, to_host
from no_host_sync import HostSync, no_host_sync

import gpumetrics


def on(device, batch):
    return {k: on_device(v, device) for k, v in batch.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_updates_and_merges_read_nothing_back(case, device, rng):
    """Weighted and unweighted updates, then a merge, inside the harness; the results are still the oracle's (the
    harness changed nothing). Each kind of update, and a merge of copies, runs first outside the harness (compiling
    may do anything it likes); the inputs are put on the device before it."""
    weighted = [case.batch(rng, case.layouts[-1], True) for _ in range(2)]
    unweighted = [case.batch(rng, case.layouts[-1], False) for _ in range(2)]
    metric, other = case.make(device), case.make(device)
    case.update(metric, on(device, weighted[0]))
    case.update(other, on(device, unweighted[0]))
    metric.copy().merge_state([other.copy()])
    inputs = on(device, weighted[1]), on(device, unweighted[1])
    with no_host_sync(metric), no_host_sync(other):
        case.update(metric, inputs[0])
        case.update(other, inputs[1])
    for m, batches in ((metric, weighted), (other, unweighted)):
        np.testing.assert_allclose(np.asarray(to_host(m.result()), np.float64), case.oracle(batches), rtol=case.rtol)
    with no_host_sync(metric), no_host_sync(other):
        metric.merge_state([other])


class Syncing(gpumetrics.Metric):
    """A toy metric whose ``update_state`` reads its state back in one of ``READS`` ways: the harness must fail."""

    READS = {
        "float-of-variable": lambda metric: float(metric.total) > -1,
        "if-state-any": lambda metric: bool(metric.total.value.any()),
        "item": lambda metric: metric.total.value.reshape(1)[0].item(),
        "tolist": lambda metric: metric.total.value.reshape(1).tolist(),
        "compare-state": lambda metric: metric.total.value.reshape(1)[0] > 0 or True,
        "numba-synchronize": lambda metric: __import__("numba").cuda.synchronize(),
    }

    def __init__(self, read, **kwargs):
        super().__init__(**kwargs)
        self.read = read
        self.total = self.add_state("total", (), "float64")

    def update_state(self, values):
        self.total.assign_add(self.xp.asarray(values, np.float64).sum())
        self.READS[self.read](self)

    def result(self):
        return self.total.value


@pytest.mark.parametrize("read", Syncing.READS)
def test_the_harness_catches_every_kind_of_host_read(read, device):
    if read == "numba-synchronize" and device == "cpu":
        pytest.skip("a CPU metric has no device to synchronise with")
    metric, ones = Syncing(read, device=device), on_device(np.ones(3), device)
    metric.update_state(ones)  # outside the harness: allowed
    with pytest.raises(HostSync, match="host synchronisation during update_state"):
        with no_host_sync(metric):
            metric.update_state(ones)
    metric.update_state(ones)  # the harness is gone with its block
    assert float(to_host(metric.result())) == 9.0
