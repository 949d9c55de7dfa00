"""Run by tests/test_replay.py in a process of its own (no simulator): on the stand-in GPU (tests/fake_gpu.py),
each case of tests/replay_cases.py updates through the replaying ``update_state`` and, with the same arguments,
through the full one; prints, as JSON, per case: how many updates were replayed, and the first update whose
launches differed; then the same for the never-replayed cases without memory hooks, for copies of a metric and
with ``GPUMETRICS_REPLAY=off``, the streams torch tensors were exported for, and the host work of one update."""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_gpu  # noqa: E402

if __name__ == "__main__":  # not when pytest imports this file for its doctests
    fake_gpu.install()
import replay_cases  # noqa: E402  (after the stand-in: it imports gpumetrics)
from replay_cases import CASES  # noqa: E402

import gpumetrics  # noqa: E402
from gpumetrics._kernels._shared import raw_launch  # noqa: E402
from gpumetrics._masks import with_mask  # noqa: E402


def launches_of(update, *args, **kwargs):
    start = len(fake_gpu.launches)
    update(*args, **kwargs)
    return fake_gpu.launches[start:]


def run(factory, batch, metric=None):
    """Updates of two signatures (the second a shorter batch) and back, then with a state array replaced; each
    through the replaying path, then in full. Returns (replayed updates, first difference or None)."""
    metric = factory(device="cuda") if metric is None else metric
    full_launches = []
    real_launch = raw_launch.launch
    raw_launch.launch = lambda *a, **k: (full_launches.append(1), real_launch(*a, **k))
    replayed, difference = 0, None
    try:
        for step in range(14):
            replay_cases.N, replay_cases.STEP = (48 if 6 <= step < 9 else 64), step
            if step == 11:  # what load_state_dict into a new array, or a merge that reallocates, would do
                for variable in metric.variables:
                    variable._array = variable._array.copy()
            args, kwargs = batch()
            before = len(full_launches)
            fast = launches_of(metric.update_state, *args, **kwargs)
            replayed += len(full_launches) == before
            saved, metric._replays = metric._replays, False
            try:
                full = launches_of(metric.update_state, *args, **kwargs)
            finally:
                metric._replays = saved
            if fast != full and difference is None:
                difference = f"update {step}: replaying path {fast!r} vs full {full!r}"
    finally:
        raw_launch.launch = real_launch
        replay_cases.N = 64
    return [replayed, difference]


def replayed_updates(metric, calls):
    """Which of the ``(args, kwargs)`` calls were replayed (sent no launch through ``raw_launch.launch``)."""
    full = []
    real_launch = raw_launch.launch
    raw_launch.launch = lambda *a, **k: (full.append(1), real_launch(*a, **k))
    try:
        replayed = []
        for args, kwargs in calls:
            before = len(full)
            metric.update_state(*args, **kwargs)
            replayed.append(len(full) == before)
    finally:
        raw_launch.launch = real_launch
    return replayed


def host_work(metric, args, kwargs):
    """What one update does on the host: our Python and C function calls (none made inside the stand-in's own code),
    launches, device allocations."""
    calls = []
    allocations, launches = len(fake_gpu._buffers), len(fake_gpu.launches)

    def inside_stand_in(frame):
        while frame is not None:
            if frame.f_code.co_filename == fake_gpu.__file__:
                return True
            frame = frame.f_back
        return False

    def count(frame, event, arg):
        if event in ("call", "c_call") and not inside_stand_in(frame):
            calls.append(event)

    sys.setprofile(count)
    try:
        metric.update_state(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return {"calls": len(calls) - 1, "launches": len(fake_gpu.launches) - launches,  # - 1: setprofile(None)
            "allocations": len(fake_gpu._buffers) - allocations}


def host_work_of_an_update(factory, batch):
    """``host_work`` of a repeated update, replayed and in full."""
    metric = factory(device="cuda")
    args, kwargs = batch()
    for _ in range(4):
        metric.update_state(*args, **kwargs)
    replayed = host_work(metric, args, kwargs)
    metric._replays = False
    return {"replayed": replayed, "full": host_work(metric, args, kwargs)}


if __name__ == "__main__":
    report = {}
    for name, (factory, batch, _) in CASES.items():
        replayed, difference = run(factory, batch)
        report[name] = {"replayed": replayed, "difference": difference}
    # CuPy tells memory hooks only of its pool's allocations: under another allocator the temporaries' pointers
    # (a parameter from no known array) are what keeps these updates from being replayed
    cupy = sys.modules["cupy"]
    hooks = cupy.cuda.memory_hook
    del cupy.cuda.memory_hook
    report["without memory hooks"] = {name: run(factory, batch)[0] for name, (factory, batch, replayed)
                                      in CASES.items() if replayed == "never"}
    cupy.cuda.memory_hook = hooks
    # a copy of a metric that replays decides again and learns with its own arrays (a placed metric does not pickle:
    # Dask sends blank() copies)
    factory, batch, _ = CASES["AUC"]
    learned = factory(device="cuda")
    for _ in range(5):
        learned.update_state(*batch()[0])
    clone, blank = copy.deepcopy(learned), learned.blank()
    report["copies"] = {"deepcopy": [clone._replays] + run(None, batch, clone),
                        "blank": [blank._replays] + run(None, batch, blank)}
    # weighted values of a learned signature that carry Keras's mask (sparse_categorical_crossentropy's ignore_class)
    # run in full: a replay would skip the mask's product with the weights
    calls = []
    for step in range(8):
        values = replay_cases.scores()
        calls.append(((with_mask(values, values > 0.5) if step >= 5 else values,),
                      {"sample_weight": replay_cases.scores()}))
    report["masked values"] = replayed_updates(gpumetrics.Mean(device="cuda"), calls)
    # the full updates of torch tensors asked DLPack to order them before CuPy's current stream, and only that
    report["torch DLPack streams"] = sorted(set(fake_gpu.dlpack_streams))
    report["CuPy stream"] = sys.modules["cupy"].cuda.get_current_stream().ptr
    os.environ["GPUMETRICS_REPLAY"] = "off"
    report["GPUMETRICS_REPLAY=off"] = run(*CASES["AUC"][:2])
    del os.environ["GPUMETRICS_REPLAY"]
    report["host work"] = {name: host_work_of_an_update(*CASES[name][:2])
                           for name in ("AUC", "MeanSquaredError", "torch-AUC")}
    print(json.dumps(report))
