"""Replayed GPU updates (gpumetrics/_replay.py) send exactly the launches the full update sends.

The replay is a GPU-only path, so it runs here on the stand-in GPU of
tests/fake_gpu.py, in a process of its own (tests/replay_worker.py): the real
``cuda`` backend's host path with kernels recorded, not run. Every update of
every case goes through the replaying ``update_state`` and then, with the same
arguments, through the full one; their launches (kernel, grid, block, shared
memory, stream and every byte of the packed parameters) must be equal. The
updates change the input arrays each time, switch to a shorter batch and back,
read inputs through views that start inside their allocation, and replace the
states' arrays (as a reallocating ``load_state_dict`` would).
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import REAL_GPU
from replay_cases import CASES

HERE = os.path.dirname(os.path.abspath(__file__))
REPLAYED = [name for name, case in CASES.items() if case[2] == "replayed"]
NOT_REPLAYED = [name for name, case in CASES.items() if case[2] == "never"]
CHECKED = [name for name, case in CASES.items() if case[2] != "never"]


@pytest.fixture(scope="module")
def report():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    done = subprocess.run([sys.executable, os.path.join(HERE, "replay_worker.py")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", CHECKED)
def test_replayed_updates_launch_what_full_updates_launch(report, name):
    """Including inputs that overlap (two columns of one buffer) for a signature's first updates, then lie apart:
    a launch learned from the overlap could follow the wrong input's pointer."""
    assert report[name]["difference"] is None, report[name]["difference"]


@pytest.mark.parametrize("name", REPLAYED)
def test_repeated_signatures_are_replayed(report, name):
    case = report[name]
    # 14 updates: 6 of one signature, 3 of a shorter batch, 5 more of the first with the states replaced at the
    # third; two updates of a signature teach it (a metric's very first update, which allocates, teaches nothing)
    assert case["replayed"] >= 7, f"{name}: only {case['replayed']} of 14 updates were replayed"


@pytest.mark.parametrize("name", NOT_REPLAYED)
def test_updates_that_compute_with_cupy_or_are_not_ours_are_never_replayed(report, name):
    """Label weights and top_k (CuPy products), a float16 cast, an argmax, a grouped count of dropped ids, a
    user's function, a user's subclass, an update that computes with CuPy besides its pass (which only the
    allocation watch can tell), one whose kernel scalar changes on every update (which only the second learning
    update's comparison can tell), and torch tensors from a stream other than CuPy's (DLPack orders the two on
    every update), and a torch tensor whose memory holds the negation of its values (resolved in every update):
    each runs in full, every time."""
    assert report[name]["replayed"] == 0


@pytest.mark.parametrize("name", [n for n in NOT_REPLAYED if n != "allocating-update"])
def test_temporaries_keep_an_update_from_being_replayed_without_memory_hooks(report, name):
    """Under an allocator CuPy's memory hooks do not see, a launch parameter that points into no array of the inputs
    or of the metric (a temporary) is enough, as are the other reasons. (An update whose CuPy work feeds no kernel
    is then not seen: the package's replayed classes have none, and users' classes are never replayed.)"""
    assert report["without memory hooks"][name] == 0


@pytest.mark.parametrize("name", ["AUC", "MeanSquaredError", "torch-AUC"])
def test_host_work_of_a_replayed_update(report, name):
    """One launch, no allocation, and a handful of calls (the full update makes about 180): this cannot creep
    back unnoticed."""
    work = report["host work"][name]
    assert work["replayed"] == {"calls": work["replayed"]["calls"], "launches": 1, "allocations": 0}
    assert work["replayed"]["calls"] <= 30, work
    assert work["full"]["launches"] == 1 and work["full"]["calls"] > 100, work


def test_full_torch_updates_ask_dlpack_to_order_them_before_cupys_stream(report):
    """Every torch tensor a full update imports (the side-stream case's every update) is exported with CuPy's
    current stream as the consumer's, so torch orders its own stream before ours."""
    assert report["torch DLPack streams"] == [report["CuPy stream"]]


@pytest.mark.parametrize("how", ["deepcopy", "blank"])
def test_copies_of_a_metric_decide_again_and_learn_their_own_arrays(report, how):
    """A copy of a metric that replays keeps none of the original's launches (they point into the original's
    states): each starts undecided, then replays its own, checked as every case above."""
    decided, replayed, difference = report["copies"][how]
    assert decided is None and difference is None and replayed >= 7, report["copies"][how]


def test_values_that_carry_a_keras_mask_are_never_replayed(report):
    """Mean's weighted values of a learned signature, then the same signature with the mask that
    ``sparse_categorical_crossentropy(..., ignore_class=c)`` puts on its values: those run in full."""
    assert report["masked values"] == [False, False, True, True, True, False, False, False]


def test_replays_can_be_turned_off(report, monkeypatch):
    """``GPUMETRICS_REPLAY=off``: every update in full (the worker's AUC, 14 updates, none replayed)."""
    assert report["GPUMETRICS_REPLAY=off"] == [0, None]
    from gpumetrics._replay import enabled

    monkeypatch.setenv("GPUMETRICS_REPLAY", "off")
    assert enabled() is False
    monkeypatch.setenv("GPUMETRICS_REPLAY", "no")
    with pytest.raises(ValueError, match="GPUMETRICS_REPLAY must be 'on' or 'off', not 'no'"):
        enabled()


@pytest.mark.skipif(not REAL_GPU, reason="replays run on a GPU only (the stand-in above checks their launches here)")
@pytest.mark.parametrize("name", ["AUC", "AUC-weighted", "AUC-offset-views", "AUC-multi-label", "F1Score",
                                  "MeanSquaredError", "SparseCategoricalAccuracy", "Mean", "MeanIoU",
                                  "torch-AUC", "torch-MSE-weighted", "torch-and-cupy"])
def test_replayed_states_equal_full_states_on_a_gpu(name, monkeypatch):
    """On the GPU itself: six batches of one signature into a metric that replays and one that does not (the
    kernels really run); the states agree and most updates were replayed."""
    from gpumetrics._kernels._shared import raw_launch

    factory, batch, _ = CASES[name]
    batches = [batch() for _ in range(6)]
    launches = []
    real_launch = raw_launch.launch
    monkeypatch.setattr(raw_launch, "launch", lambda *a: (launches.append(a[0]), real_launch(*a)))
    monkeypatch.setenv("GPUMETRICS_REPLAY", "off")
    full = factory(device="cuda")
    for args, kwargs in batches:
        full.update_state(*args, **kwargs)
    in_full = len(launches)
    monkeypatch.setenv("GPUMETRICS_REPLAY", "on")
    replaying = factory(device="cuda")
    for args, kwargs in batches:
        replaying.update_state(*args, **kwargs)
    assert len(launches) - in_full <= in_full // 2, "at most 3 of the 6 updates should have run in full"
    mine, theirs = replaying.state_dict(), full.state_dict()
    for key in (k for k in theirs if not k.startswith("__")):
        np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-12, atol=0, err_msg=key)
