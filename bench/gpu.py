"""GPU benchmark: gpumetrics on ``device="cuda"`` beside torchmetrics and CuPy by hand, against copy bandwidth.

Usage::

    python bench/gpu.py [--sizes 1e4 1e5 ...] [--out bench/results] [--repeats 20]
    NUMBA_ENABLE_CUDASIM=1 python bench/gpu.py --sizes 1000 --smoke   # no GPU: NumPy arrays, the simulator

Each case is timed with CUDA events after a warm-up, from a fresh state:
``update_state`` alone and ``update_state`` + ``result`` (no host copy of the
result). Launch-bound cases (AUC) are also timed at N = 4,096, where
``update_state`` alone measures the per-call overhead, not bandwidth. A
case's bandwidth is the bytes of its inputs, read once, over the median
``update_state`` + ``result`` time, also given as a fraction of a
device-to-device copy's bandwidth (read + write), the ceiling for a one-pass
metric. Writes ``<out>/<gpu name>.json`` and prints a table; ``--smoke``
(few repetitions, a small copy) writes to a temporary directory instead.
"""
import argparse
import dataclasses
import importlib
import importlib.metadata
import json
import os
import re
import statistics
import sys
import tempfile
import time
from typing import Callable, Optional

import numba
import numpy as np

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
DEFAULT_SIZES = [10**4, 10**5, 10**6, 10**7, 10**8]
#: the small batch at which a ``launch_bound`` case is also timed (``--launch-size``)
LAUNCH_SIZE = 4096
NUM_THRESHOLDS = 200


def regression_inputs(n, rng):
    """Host ``y_true``, ``y_pred`` and sample weights: float32, shape ``(n,)``, uniform on [0, 1)."""
    return tuple(rng.random(n, dtype=np.float32) for _ in range(3))


def binary_inputs(n, rng):
    """Host ``y_true`` (int32 0/1), ``y_pred`` (float32 in [0, 1), higher for positives) and float32 weights."""
    y_true = rng.integers(0, 2, n, dtype=np.int32)
    y_pred = (0.7 * rng.random(n, dtype=np.float32) + 0.3 * y_true).astype(np.float32)
    return y_true, y_pred, rng.random(n, dtype=np.float32)


def class_inputs(n, rng, classes=10):
    """Host class ids (int32, shape ``(n,)``), probability rows (float32 ``(n, classes)``, the true class
    favoured) and float32 weights."""
    ids = rng.integers(0, classes, n, dtype=np.int32)
    scores = rng.random((n, classes), dtype=np.float32)
    scores[np.arange(n), ids] += 0.5
    return ids, scores / scores.sum(axis=1, keepdims=True), rng.random(n, dtype=np.float32)


def id_pairs(n, rng, classes=10):
    """Host true and predicted class ids (int32, ``(n,)``, 60% agreeing) and float32 weights."""
    ids = rng.integers(0, classes, n, dtype=np.int32)
    predicted = np.where(rng.random(n) < 0.6, ids, rng.integers(0, classes, n)).astype(np.int32)
    return ids, predicted, rng.random(n, dtype=np.float32)


def sparse_crossentropy(xp, y_true, y_pred, weight):
    """By hand: ``-log(p[label] / sum(p))`` clipped as Keras does, weighted per sample."""
    picked = xp.take_along_axis(y_pred, y_true[:, None].astype(xp.int64), axis=1)[:, 0] / y_pred.sum(axis=1)
    losses = -xp.log(xp.clip(picked, 1e-7, 1 - 1e-7))
    return xp.mean(losses) if weight is None else xp.sum(weight * losses) / xp.sum(weight)


def mean_error(error):
    """The peer a user writes by hand: ``mean(error(y_true - y_pred))``, weighted per row when weights are given."""

    def by_hand(xp, y_true, y_pred, weight):
        per_element = error(xp, y_true - y_pred)
        if weight is None:
            return xp.mean(per_element)
        return xp.sum(weight * xp.mean(per_element, axis=-1)) / xp.sum(weight)

    return by_hand


@dataclasses.dataclass(frozen=True)
class Case:
    """One metric to time: its inputs, and its counterpart in each peer (``None``: that peer has none)."""

    metric: str
    gpumetrics_class: str
    make_inputs: Callable  # (n, rng) -> host (y_true, y_pred, sample_weight), each of shape (n,)
    torchmetrics_metric: Optional[Callable]  # torchmetrics module -> a fresh metric object
    by_hand: Optional[Callable]  # (xp, y_true, y_pred, sample_weight or None) -> 0-d device array
    gpumetrics_kwargs: dict = dataclasses.field(default_factory=dict)  # constructor arguments beside device
    weighted_as_column: bool = True  # weighted runs pass y_true, y_pred as (n, 1) beside (n,) weights
    launch_bound: bool = False  # also timed at the launch size (update_state alone: per-call overhead)


#: What is timed. A metric family joins with one entry here (and an input maker if it needs other data).
CASES = [
    Case("mse", "MeanSquaredError", regression_inputs, lambda tm: tm.MeanSquaredError(),
         mean_error(lambda xp, d: d ** 2)),
    Case("mae", "MeanAbsoluteError", regression_inputs, lambda tm: tm.MeanAbsoluteError(),
         mean_error(lambda xp, d: xp.abs(d))),
    Case("auc", "AUC", binary_inputs, lambda tm: tm.classification.BinaryAUROC(thresholds=NUM_THRESHOLDS), None,
         gpumetrics_kwargs={"num_thresholds": NUM_THRESHOLDS}, weighted_as_column=False, launch_bound=True),
    Case("scce", "SparseCategoricalCrossentropy", class_inputs, None, sparse_crossentropy,
         weighted_as_column=False),
    Case("top5", "SparseTopKCategoricalAccuracy", class_inputs,
         lambda tm: tm.classification.MulticlassAccuracy(10, top_k=5, average="micro"), None,
         gpumetrics_kwargs={"k": 5}, weighted_as_column=False),
    Case("miou", "MeanIoU", id_pairs, lambda tm: tm.classification.MulticlassJaccardIndex(10, average="macro"), None,
         gpumetrics_kwargs={"num_classes": 10}, weighted_as_column=False),
]


@dataclasses.dataclass
class Runner:
    """How one peer runs one case: ``reset`` (untimed), ``update`` (``None`` if it has no separate step), ``result``."""

    reset: Callable
    update: Optional[Callable]
    result: Callable


def optional(module):
    """The module, or ``None`` where it is not installed (its peer is then left out)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def gpumetrics_peer(case, xp, y_true, y_pred, weight):
    """The metric under test, on ``device="cuda"`` (the simulator's NumPy state under ``NUMBA_ENABLE_CUDASIM=1``)."""
    import gpumetrics

    m = getattr(gpumetrics, case.gpumetrics_class)(device="cuda", **case.gpumetrics_kwargs)
    return Runner(m.reset_state, lambda: m.update_state(y_true, y_pred, sample_weight=weight), m.result)


def torchmetrics_peer(case, xp, y_true, y_pred, weight):
    """torchmetrics on tensors sharing the inputs' memory (CPU tensors in the simulator); it takes no weights."""
    torch, torchmetrics = optional("torch"), optional("torchmetrics")
    if torchmetrics is None or case.torchmetrics_metric is None or weight is not None:
        return None
    if not SIMULATED and not torch.cuda.is_available():
        return None
    m = case.torchmetrics_metric(torchmetrics).to("cpu" if SIMULATED else "cuda")
    preds, target = torch.from_dlpack(y_pred), torch.from_dlpack(y_true)
    return Runner(m.reset, lambda: m.update(preds, target), m.compute)


def by_hand_peer(case, xp, y_true, y_pred, weight):
    """The array-library expression a user would write instead of a metric object; one step, nothing to reset."""
    if case.by_hand is None:
        return None
    return Runner(lambda: None, None, lambda: case.by_hand(xp, y_true, y_pred, weight))


PEERS = {"gpumetrics": gpumetrics_peer, "torchmetrics": torchmetrics_peer, "by hand": by_hand_peer}


@dataclasses.dataclass
class Device:
    """Where the cases run: a GPU (CuPy arrays, CUDA events) or, in the simulator, the host (NumPy, perf_counter)."""

    name: str
    xp: object
    elapsed_ms: Callable  # runs a callable once, waits for its device work, returns milliseconds


def open_device():
    """The current GPU, or the host when the simulator is on."""
    if SIMULATED:
        def elapsed_ms(fn):
            start = time.perf_counter()
            fn()
            return (time.perf_counter() - start) * 1e3

        return Device("numba cuda simulator", np, elapsed_ms)
    cupy = optional("cupy")
    if cupy is None:
        raise SystemExit("bench/gpu.py needs CuPy and a GPU (or NUMBA_ENABLE_CUDASIM=1 and --smoke to check it runs)")

    def elapsed_ms(fn):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end)

    name = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()
    return Device(name, cupy, elapsed_ms)


def time_runner(runner, device, repeats, warmup):
    """Median ms of ``update`` alone (``None`` if the peer has none), of ``update`` + ``result``, and the device ms
    per update of ``repeats`` updates queued back to back (the host runs ahead: the device's own pace)."""

    def update_and_result():
        if runner.update is not None:
            runner.update()
        runner.result()

    for _ in range(warmup):
        runner.reset()
        device.elapsed_ms(update_and_result)
    update_ms, total_ms = [], []
    for _ in range(repeats):
        if runner.update is not None:
            runner.reset()
            update_ms.append(device.elapsed_ms(runner.update))
        runner.reset()
        total_ms.append(device.elapsed_ms(update_and_result))
    queued_ms = None
    if runner.update is not None:
        runner.reset()
        queued_ms = device.elapsed_ms(lambda: [runner.update() for _ in range(repeats)]) / repeats
    return (statistics.median(update_ms) if update_ms else None), statistics.median(total_ms), queued_ms


def copy_bandwidth(device, nbytes, repeats):
    """Device-to-device copy bandwidth in bytes/s, counting the read and the write (``2 * nbytes / median``)."""
    xp = device.xp
    src = xp.ones(nbytes, dtype=xp.uint8)
    dst = xp.empty_like(src)
    device.elapsed_ms(lambda: xp.copyto(dst, src))
    ms = statistics.median(device.elapsed_ms(lambda: xp.copyto(dst, src)) for _ in range(repeats))
    return 2 * nbytes / (ms / 1e3)


def versions():
    """Versions of everything that shapes the numbers (``None``: not installed)."""
    found = {}
    for module in ("numpy", "numba", "cupy", "torch", "torchmetrics", "gpumetrics"):
        imported = optional(module)
        found[module] = getattr(imported, "__version__", None) if imported else None
    try:
        found["numba-cuda"] = importlib.metadata.version("numba-cuda")
    except importlib.metadata.PackageNotFoundError:
        found["numba-cuda"] = None
    if not SIMULATED:
        import cupy

        found["cuda runtime"] = cupy.cuda.runtime.runtimeGetVersion()
        found["cuda driver"] = cupy.cuda.runtime.driverGetVersion()
    return found


def run_cases(device, sizes, launch_size, repeats, warmup, copy_rate):
    """One record per (metric, peer, N, weighted) that the installed peers can run."""
    xp = device.xp
    records = []
    for case in CASES:
        for n in sorted(set(sizes) | ({launch_size} if case.launch_bound else set())):
            y_true, y_pred, weight = (xp.asarray(a) for a in case.make_inputs(n, np.random.default_rng(n)))
            for weighted in (False, True):
                if not weighted:
                    args = (y_true, y_pred, None)
                elif case.weighted_as_column:
                    args = (y_true.reshape(n, 1), y_pred.reshape(n, 1), weight)
                else:
                    args = (y_true, y_pred, weight)
                nbytes = sum(a.nbytes for a in args if a is not None)
                for peer, make_runner in PEERS.items():
                    runner = make_runner(case, xp, *args)
                    if runner is None:
                        continue
                    update_ms, total_ms, queued_ms = time_runner(runner, device, repeats, warmup)
                    value = float(runner.result())  # synchronize! (after timing: lets a reader see the peers agree)
                    rate = nbytes / (total_ms / 1e3)
                    records.append({
                        "metric": case.metric, "peer": f"{xp.__name__} by hand" if peer == "by hand" else peer,
                        "n": n, "weighted": weighted, "bytes": nbytes, "update_ms": update_ms,
                        "update_result_ms": total_ms, "value": value, "gb_per_s": rate / 1e9,
                        "fraction_of_copy": rate / copy_rate, "queued_update_ms": queued_ms,
                        "queued_fraction_of_copy": (None if queued_ms is None
                                                    else nbytes / (queued_ms / 1e3) / copy_rate),
                    })
    return records


def print_table(report):
    """The records as a fixed-width table, with the copy bandwidth they are measured against."""
    print(f"{report['device']}: copy bandwidth {report['copy_gb_per_s']:.1f} GB/s (read + write)")
    print(f"{'metric':<6} {'peer':<14} {'N':>10} {'weighted':>8} {'update ms':>10} {'+result ms':>10} "
          f"{'GB/s':>8} {'of copy':>8} {'queued':>8} {'value':>10}")
    for r in report["records"]:
        update = "-" if r["update_ms"] is None else f"{r['update_ms']:.4f}"
        queued = "-" if r.get("queued_fraction_of_copy") is None else f"{r['queued_fraction_of_copy']:.1%}"
        print(f"{r['metric']:<6} {r['peer']:<14} {r['n']:>10} {str(r['weighted']):>8} {update:>10} "
              f"{r['update_result_ms']:>10.4f} {r['gb_per_s']:>8.2f} {r['fraction_of_copy']:>8.1%} {queued:>8} "
              f"{r['value']:>10.6f}")


def slug(name):
    """``"NVIDIA H100 80GB HBM3"`` → ``"nvidia-h100-80gb-hbm3"``: the report's file name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_report(report, out):
    """``<out>/<slug of the device name>.json``, replacing an earlier run on the same kind of GPU."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, f"{slug(report['device'])}.json")
    with open(path, "w", encoding="utf-8") as file:
        json.dump(report, file, indent=1)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=lambda s: int(float(s)), default=DEFAULT_SIZES,
                        help="batch sizes N (default: 1e4 to 1e8)")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                        help="folder of the JSON report (default: bench/results)")
    parser.add_argument("--repeats", type=int, default=20, help="timed repetitions per case (default: 20)")
    parser.add_argument("--launch-size", type=lambda s: int(float(s)), default=LAUNCH_SIZE,
                        help=f"the small N at which launch-bound cases are also timed (default: {LAUNCH_SIZE}; "
                             "--smoke: at most the largest --sizes)")
    parser.add_argument("--copy-bytes", type=int, default=1 << 30, help="size of the copy measured (default: 1 GiB)")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick end-to-end check: 2 repetitions, a 1 MiB copy, the report in a temporary folder")
    args = parser.parse_args(argv)
    if SIMULATED and not args.smoke:
        parser.error("the CUDA simulator runs a few thousand elements a second: use it only with --smoke")
    repeats, warmup, copy_bytes = (2, 1, 1 << 20) if args.smoke else (args.repeats, 3, args.copy_bytes)
    launch_size = min(args.launch_size, max(args.sizes)) if args.smoke else args.launch_size

    device = open_device()
    copy_rate = copy_bandwidth(device, copy_bytes, repeats)
    report = {
        "device": device.name, "simulated": SIMULATED, "versions": versions(), "repeats": repeats,
        "launch_size": launch_size,
        "copy_bytes": copy_bytes, "copy_gb_per_s": copy_rate / 1e9,
        "records": run_cases(device, args.sizes, launch_size, repeats, warmup, copy_rate),
    }
    print_table(report)
    if args.smoke:
        with tempfile.TemporaryDirectory() as out:
            write_report(report, out)
    else:
        write_report(report, args.out)


if __name__ == "__main__":
    sys.exit(main())
