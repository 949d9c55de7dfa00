"""Host time of one GPU ``update_state`` at a launch-bound size, next to the floors of a bare kernel launch.

Usage::

    python bench/launch_profile.py [--n 4096] [--iters 1000] [--out launch_profile.txt]
    NUMBA_ENABLE_CUDASIM=1 python bench/launch_profile.py --smoke   # no GPU: checks the script runs

On a GPU: ``AUC().update_state`` and ``MeanSquaredError().update_state`` with
CuPy inputs of N = 4,096 on ``device="cuda"``, ``--iters`` times each after a
warm-up, timed two ways around the same Python loop: ``perf_counter`` (host
time per update, what the issue's 20 µs target is about) and CuPy events on
the current stream (the device's span from the first launch to the last
kernel's end). If the device finishes within a few µs of the host loop, it was
idle between launches, waiting for the host: the update is host-bound. Each
metric is timed twice: as users get it (after the warm-up, every update is
replayed from its kept launches: ``gpumetrics/_replay.py``) and in full (a
metric whose replays are off). The floors, measured in the same process the
same way: an empty Numba ``@cuda.jit`` kernel (no arguments; three CuPy
arrays, converted by Numba at each launch; three Numba device arrays made
once) and an empty CuPy ``RawKernel`` (no arguments; three CuPy arrays). Then
a cProfile of ``--iters`` AUC updates, replayed and in full, the top 25
functions by cumulative time (cProfile's own cost inflates every number there:
read it for shares, not µs).

``--smoke`` (a few iterations at N = 256, NumPy inputs) is for the CUDA
simulator, where the numbers mean nothing and the RawKernel floors are
skipped. Without a GPU and without the simulator it writes one "skipped" line
and exits with status 3.
"""
import argparse
import cProfile
import io
import os
import platform
import pstats
import sys
import time
import traceback

import numba
import numpy as np

import gpumetrics._kernels._shared.launch  # noqa: F401  (lets numba-cuda 0.30 compile under NumPy 2.5: see there)

SIMULATED = bool(numba.config.ENABLE_CUDASIM)
#: a loop whose device span ends within this many µs of the host loop left the device waiting for the host
IDLE_SLACK_US = 50.0

RAW_SOURCE = r"""
extern "C" __global__ void empty_kernel() {}
extern "C" __global__ void three_args(const float* a, const float* b, float* c) {}
"""


def _no_gpu_reason():
    """``None`` where CuPy sees a GPU that Numba can also reach, else why not."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no CUDA device"
    except Exception as error:  # no CuPy, no driver, no device
        return f"no usable CuPy GPU ({type(error).__name__}: {error})"
    from numba import cuda

    if not cuda.is_available():
        return "numba.cuda.is_available() is False"
    return None


class Timer:
    """Times ``fn`` called ``iters`` times in a Python loop: host µs per call and, on a GPU, the device span."""

    def __init__(self, out):
        self.out = out
        self.rows = []
        if not SIMULATED:
            import cupy

            self.cupy = cupy

    def measure(self, label, fn, iters, warmup):
        for _ in range(warmup):
            fn()
        if SIMULATED:
            start = time.perf_counter()
            for _ in range(iters):
                fn()
            host = time.perf_counter() - start
            row = (label, host / iters * 1e6, None, None)
        else:
            cupy = self.cupy
            cupy.cuda.get_current_stream().synchronize()
            begin, end = cupy.cuda.Event(), cupy.cuda.Event()
            begin.record()
            start = time.perf_counter()
            for _ in range(iters):
                fn()
            host = time.perf_counter() - start
            end.record()
            end.synchronize()
            drained = time.perf_counter() - start  # the host loop plus the wait for the queue to empty
            span_ms = cupy.cuda.get_elapsed_time(begin, end)
            row = (label, host / iters * 1e6, span_ms * 1e3 / iters, (drained - host) * 1e6)
        self.rows.append(row)
        self.out.write(self.format(row) + "\n")
        self.out.flush()
        return row

    @staticmethod
    def header():
        return (f"{'case':<52} {'host us/call':>12} {'device us/call':>14} {'queue drain us':>14}  device\n"
                + "-" * 116)

    @staticmethod
    def format(row):
        label, host_us, span_us, drain_us = row
        if span_us is None:
            return f"{label:<52} {host_us:>12.2f} {'-':>14} {'-':>14}  (simulator: no device timing)"
        verdict = ("idle, waiting for the host (host-bound)" if drain_us <= IDLE_SLACK_US
                   else "busy: launches queued up (device-bound)")
        return f"{label:<52} {host_us:>12.2f} {span_us:>14.2f} {drain_us:>14.1f}  {verdict}"


def make_inputs(n, xp):
    rng = np.random.default_rng(n)
    y_true = rng.integers(0, 2, n, dtype=np.int32)
    y_pred = (0.7 * rng.random(n, dtype=np.float32) + 0.3 * y_true).astype(np.float32)
    target = rng.random(n, dtype=np.float32)
    return xp.asarray(y_true), xp.asarray(y_pred), xp.asarray(target)


def numba_floors(timer, xp, iters, warmup):
    """Empty ``@cuda.jit`` launches on CuPy's current stream (the stream the metrics launch on)."""
    from numba import cuda

    @cuda.jit
    def empty_kernel():
        pass

    @cuda.jit
    def three_args(a, b, c):
        pass

    if SIMULATED:
        stream, grid = 0, (1, 1)  # the simulator runs one Python thread per CUDA thread
    else:
        ptr = xp.cuda.get_current_stream().ptr  # 0: CuPy's null stream, the legacy default stream
        stream, grid = (cuda.external_stream(ptr) if ptr else cuda.default_stream()), (1, 32)
    a, b, c = xp.zeros(4096, np.float32), xp.zeros(4096, np.float32), xp.zeros(4096, np.float32)
    timer.measure("numba @cuda.jit empty, no args", lambda: empty_kernel[grid[0], grid[1], stream](), iters, warmup)
    timer.measure("numba @cuda.jit empty, 3 CuPy arrays (CAI)", lambda: three_args[grid[0], grid[1], stream](a, b, c),
                  iters, warmup)
    if SIMULATED:
        da, db, dc = a, b, c
    else:
        da, db, dc = (cuda.as_cuda_array(x, sync=False) for x in (a, b, c))
    timer.measure("numba @cuda.jit empty, 3 Numba device arrays", lambda: three_args[grid[0], grid[1], stream](
        da, db, dc), iters, warmup)
    if not SIMULATED:  # the launch every gpumetrics kernel takes: a plan, one packed buffer, cuLaunchKernel
        from gpumetrics._kernels._shared import raw_launch

        timer.measure("raw launch (as gpumetrics kernels), empty, 3 CuPy arrays", lambda: raw_launch.launch(
            three_args, 1, 32, 0, (a, b, c)), iters, warmup)


def rawkernel_floors(timer, xp, iters, warmup, out):
    if SIMULATED:
        out.write("cupy RawKernel floors: skipped (simulator: no CuPy)\n")
        return
    module = xp.RawModule(code=RAW_SOURCE)
    empty_kernel, three_args = module.get_function("empty_kernel"), module.get_function("three_args")
    a, b, c = xp.zeros(4096, np.float32), xp.zeros(4096, np.float32), xp.zeros(4096, np.float32)
    timer.measure("cupy RawKernel empty, no args", lambda: empty_kernel((1,), (32,), ()), iters, warmup)
    timer.measure("cupy RawKernel empty, 3 CuPy arrays", lambda: three_args((1,), (32,), (a, b, c)), iters, warmup)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=lambda s: int(float(s)), default=4096, help="batch size (default 4096)")
    parser.add_argument("--iters", type=int, default=1000, help="updates / launches timed per case (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls before each case (default 50)")
    parser.add_argument("--top", type=int, default=25, help="functions listed from the cProfile (default 25)")
    parser.add_argument("--out", help="also write the report to this file")
    parser.add_argument("--smoke", action="store_true",
                        help="simulator check: 3 iterations at N = 256, NumPy inputs, no RawKernel floors")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.iters, args.warmup = min(args.n, 256), 3, 1
    report = io.StringIO()

    class Tee:
        def write(self, text):
            sys.stdout.write(text)
            report.write(text)

        def flush(self):
            sys.stdout.flush()

    out = Tee()

    def finish(status):
        if args.out:
            os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
            with open(args.out, "w", encoding="utf-8") as file:
                file.write(report.getvalue())
        return status

    if SIMULATED and not args.smoke:
        parser.error("the CUDA simulator runs a few thousand threads a second: use it only with --smoke")
    if not SIMULATED:
        reason = _no_gpu_reason()
        if reason is not None:
            out.write(f"launch profile: skipped: {reason} (NUMBA_ENABLE_CUDASIM=1 ... --smoke checks the script)\n")
            return finish(3)

    import gpumetrics

    if SIMULATED:
        xp, device_name = np, "numba cuda simulator"
    else:
        import cupy as xp

        device_name = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)["name"].decode()
    versions = {"python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
                "cupy": getattr(xp, "__version__", None) if xp is not np else None}
    try:
        import importlib.metadata

        versions["numba-cuda"] = importlib.metadata.version("numba-cuda")
    except Exception:
        versions["numba-cuda"] = None
    out.write(f"launch profile on {device_name}{' (SMOKE: numbers mean nothing)' if args.smoke else ''}\n")
    out.write(" ".join(f"{k}={v}" for k, v in versions.items()) + "\n")
    out.write(f"N = {args.n}, {args.iters} timed calls per case after {args.warmup} warm-up calls; "
              f"'queue drain' = wait after the host loop for the device to finish "
              f"(<= {IDLE_SLACK_US:.0f} us: the device sat idle, waiting for launches)\n\n")
    out.write(Timer.header() + "\n")
    timer = Timer(out)

    failures = []

    def attempt(what, fn):
        """Runs one part; a part that fails is reported and the others still run."""
        try:
            fn()
            return True
        except Exception as error:
            failures.append(error)
            out.write(f"{what} FAILED: {type(error).__name__}: {' '.join(str(error).split())[:400]}\n")
            traceback.print_exc(file=sys.stderr)
            return False

    attempt("floor", lambda: numba_floors(timer, xp, args.iters, args.warmup))
    attempt("floor", lambda: rawkernel_floors(timer, xp, args.iters, args.warmup, out))
    y_true, y_pred, target = make_inputs(args.n, xp)
    auc, auc_full = gpumetrics.AUC(device="cuda"), gpumetrics.AUC(device="cuda")
    mse, mse_full = gpumetrics.MeanSquaredError(device="cuda"), gpumetrics.MeanSquaredError(device="cuda")
    auc_full._replays = mse_full._replays = False  # every update in full: what a replay saves
    auc_update = lambda: auc.update_state(y_true, y_pred)  # noqa: E731
    auc_full_update = lambda: auc_full.update_state(y_true, y_pred)  # noqa: E731
    timed = [("AUC().update_state", auc, auc_update), ("MeanSquaredError().update_state", mse,
                                                        lambda: mse.update_state(target, y_pred)),
             ("AUC() in full (no replay)", auc_full, auc_full_update),
             ("MeanSquaredError() in full (no replay)", mse_full, lambda: mse_full.update_state(target, y_pred))]
    ok = {label: attempt(label, lambda: (timer.measure(f"gpumetrics {label}, N={args.n}", update, args.iters,
                                                       args.warmup), float(metric.result())))  # synchronize!
          for label, metric, update in timed}
    auc_ok = ok["AUC().update_state"]

    rows = {row[0]: row for row in timer.rows}
    floor_rows = [row for label, row in rows.items() if not label.startswith("gpumetrics")]
    if floor_rows:
        floor = min(row[1] for row in floor_rows)
        out.write("\nhost us per update over the cheapest floor "
                  f"({min(floor_rows, key=lambda r: r[1])[0]}, {floor:.2f} us):\n")
        for label, row in rows.items():
            if label.startswith("gpumetrics"):
                out.write(f"  {label:<52} {row[1]:>9.2f} us = {row[1] / floor:6.1f} x floor"
                          f"  (target: <= 20 us on an H100)\n")

    def profile_auc(what, update, metric):
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.iters):
            update()
        profile.disable()
        float(metric.result())  # synchronize!
        stats = io.StringIO()
        pstats.Stats(profile, stream=stats).sort_stats("cumulative").print_stats(args.top)
        out.write(f"\ncProfile of {args.iters} AUC updates {what} (N={args.n}), top {args.top} by cumulative "
                  f"time:\n")
        out.write(stats.getvalue())

    if auc_ok:
        attempt("cProfile", lambda: profile_auc("replayed", auc_update, auc))
        attempt("cProfile", lambda: profile_auc("in full", auc_full_update, auc_full))
    return finish(1 if failures else 0)


if __name__ == "__main__":
    sys.exit(main())
