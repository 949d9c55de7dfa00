"""Tuning probe for a GPU session: what limits the error_sums and threshold_histogram passes at 1e8.

Prints, for one GPU: the device copy bandwidth; the queued device time per
update at N = 1e8 of the two launchers alone, and of MSE and AUC(200) over 8
and 16 blocks per SM; the same for stand-alone sum-of-squared-differences
kernels unrolled 1 and 4 ways (what a grid-stride loop reaches); the registers
per thread and queued time of both kernels compiled with a sweep of
``max_registers`` (is occupancy what holds them back?) and with a one-kind
switch (do the other kinds cost the common ones their speed?); the host time of
one update at N = 4,096 with the raw launch and with numba-cuda's own launch.
Not part of the check: run it by hand (``python bench/gpu_probe.py``, about a
minute on an H100).
"""
import importlib
import statistics
import types
import time

import numpy as np

N = 10**8
REPEATS = 20


def main():
    import cupy
    from numba import cuda

    import gpumetrics
    from gpumetrics._kernels._shared import launch as launch_module

    def queued_ms(fn, repeats=REPEATS):
        fn()
        cupy.cuda.Device().synchronize()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        for _ in range(repeats):
            fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / repeats

    src = cupy.ones(2**30, dtype=cupy.uint8)
    dst = cupy.empty_like(src)
    copy = 2 * src.nbytes / (statistics.median(queued_ms(lambda: cupy.copyto(dst, src), 5) for _ in range(3)) / 1e3)
    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    print(f"copy bandwidth {copy / 1e9:.0f} GB/s, {sms} SMs")
    rng = np.random.default_rng(0)
    t = cupy.asarray(rng.random(N, dtype=np.float32))
    p = cupy.asarray(rng.random(N, dtype=np.float32))
    labels = cupy.asarray(rng.integers(0, 2, N, dtype=np.int32))

    # the launchers alone (no metric layer): is the time in the kernel, or in other device work of an update?
    from gpumetrics._kernels.error_sums.cuda import error_sums
    from gpumetrics._kernels.threshold_histogram.cuda import threshold_histogram

    total, weight = cupy.zeros(1), cupy.zeros(1)
    ms = queued_ms(lambda: error_sums("squared_error", t.reshape(-1, 1), p.reshape(-1, 1), None, total, weight, 1.0,
                                      1.0))
    print(f"error_sums launcher alone, (N, 1) float32: {ms:.3f} ms = {8 * N / (ms / 1e3) / copy:6.1%} of copy")
    cuts = cupy.asarray(np.linspace(0, 1, 200))
    pos, neg = cupy.zeros((201, 1)), cupy.zeros((201, 1))
    ms = queued_ms(lambda: threshold_histogram(labels.reshape(-1, 1), p.reshape(-1, 1), None, cuts, "evenly_spaced",
                                               "clip", pos, neg))
    print(f"threshold_histogram launcher alone, (N, 1): {ms:.3f} ms = {8 * N / (ms / 1e3) / copy:6.1%} of copy")

    rooms = [importlib.import_module(f"gpumetrics._kernels.{room}.cuda")
             for room in ("error_sums", "threshold_histogram")]
    for per_sm in (8, 16):
        blocks = sms * per_sm
        for module in rooms + [launch_module]:
            module.max_blocks = lambda blocks=blocks: blocks
        launch_module._scratch.clear()
        mse, auc = gpumetrics.MeanSquaredError(device="cuda"), gpumetrics.AUC(device="cuda")
        ms_mse = queued_ms(lambda: mse.update_state(t, p))
        ms_auc = queued_ms(lambda: auc.update_state(labels, p))
        print(f"blocks/SM {per_sm:>3}: MSE {ms_mse:.3f} ms = {8 * N / (ms_mse / 1e3) / copy:6.1%} of copy;"
              f"  AUC {ms_auc:.3f} ms = {8 * N / (ms_auc / 1e3) / copy:6.1%} of copy")

    kernels = {u: make_sum_kernel(cuda, u) for u in (1, 4)}
    out = cupy.zeros(1, dtype=np.float64)
    for u, kernel in kernels.items():
        for per_sm in (8,):
            blocks = sms * per_sm
            ms = queued_ms(lambda: kernel[blocks, 256](t, p, out))
            print(f"stand-alone sq-diff sum, unroll {u}, blocks/SM {per_sm:>2}: {ms:.3f} ms = "
                  f"{8 * N / (ms / 1e3) / copy:6.1%} of copy")

    def metric_pass(factory, *args):
        def run():
            metric = factory(device="cuda")
            ms = queued_ms(lambda: metric.update_state(*args))
            return ms, float(metric.result())  # synchronize!
        return run

    sweeps = (("error_sums", "error_sums_kernel", "MSE", metric_pass(gpumetrics.MeanSquaredError, t, p)),
              ("threshold_histogram", "threshold_histogram_kernel", "AUC", metric_pass(gpumetrics.AUC, labels, p)))
    for room, name, label, run in sweeps:
        module = importlib.import_module(f"gpumetrics._kernels.{room}.cuda")
        original = getattr(module, name)
        for most in (None, 32, 40, 48, 64, 80):
            kernel = original if most is None else cuda.jit(max_registers=most)(original.py_func)
            setattr(module, name, kernel)
            report(f"{label} max_registers={most}", kernel, run, copy)
        setattr(module, name, original)

    # the same kernels with a one-kind switch (the rule MSE and AUC use only): do the other kinds' registers or
    # code, inlined into one kernel, cost the common ones their speed?
    from gpumetrics._kernels._shared.kinds import make_switch
    from gpumetrics._kernels._shared.launch import device_function
    from gpumetrics._kernels.error_sums.rules import KINDS
    from gpumetrics._kernels.threshold_histogram.rules import BUCKETINGS, TRANSFORMS

    def one_kind(kinds, name, arity):
        return make_switch({name: kinds[name]}, device_function, arity)

    narrowed = (("error_sums", "error_sums_kernel", "MSE", sweeps[0][3],
                 {"evaluate": one_kind(KINDS, "squared_error", 3)}),
                ("threshold_histogram", "threshold_histogram_kernel", "AUC", sweeps[1][3],
                 {"transformed": one_kind(TRANSFORMS, "clip", 1), "bucket": one_kind(BUCKETINGS, "evenly_spaced", 3)}))
    for room, name, label, run, replacements in narrowed:
        module = importlib.import_module(f"gpumetrics._kernels.{room}.cuda")
        original = getattr(module, name)
        fn = original.py_func
        variant = types.FunctionType(fn.__code__, {**fn.__globals__, **replacements}, fn.__name__, fn.__defaults__,
                                     fn.__closure__)
        kernel = cuda.jit(variant)
        setattr(module, name, kernel)
        report(f"{label} one-kind switch", kernel, run, copy)
        setattr(module, name, original)

    small_t, small_p = t[:4096], p[:4096]
    small_labels = labels[:4096]
    for mode in ("numba", "raw"):
        launch_module.CUDA_LAUNCH = mode
        mse, auc = gpumetrics.MeanSquaredError(device="cuda"), gpumetrics.AUC(device="cuda")
        for name, fn in (("MSE", lambda: mse.update_state(small_t, small_p)),
                         ("AUC", lambda: auc.update_state(small_labels, small_p))):
            fn()
            cupy.cuda.Device().synchronize()
            times = []
            for _ in range(5):
                start = time.perf_counter()
                for _ in range(200):
                    fn()
                times.append((time.perf_counter() - start) / 200 * 1e6)
                cupy.cuda.Device().synchronize()
            print(f"{mode:>5} launch: {name} update at 4096: host {min(times):.1f} us (min of 5 x 200)")


def report(label, kernel, run, copy):
    """One line: ``kernel``'s registers per thread and ``run()``'s queued time; a failure is reported, not raised."""
    try:
        ms, value = run()
        regs = ",".join(str(r) for r in kernel.get_regs_per_thread().values())
        print(f"{label}: {regs} registers/thread, {ms:.3f} ms = {8 * N / (ms / 1e3) / copy:6.1%} of copy, "
              f"result {value!r}")
    except Exception as error:  # report and go on: a probe
        print(f"{label}: FAILED {type(error).__name__}: {error}")


def make_sum_kernel(cuda, unroll):
    """sum((t - p)**2) in float64 per thread, ``unroll`` independent loads in flight, one atomic per block."""
    from numba import float64

    @cuda.jit
    def kernel(t, p, out):
        acc = cuda.shared.array(256, float64)
        tid = cuda.threadIdx.x
        g = cuda.gridDim.x * 256
        i = cuda.blockIdx.x * 256 + tid
        n = t.shape[0]
        s = 0.0
        while i + (unroll - 1) * g < n:
            for k in range(unroll):  # literal_unroll-free: unroll is a compile-time constant closure
                d = float64(t[i + k * g]) - float64(p[i + k * g])
                s += d * d
            i += unroll * g
        while i < n:
            d = float64(t[i]) - float64(p[i])
            s += d * d
            i += g
        acc[tid] = s
        cuda.syncthreads()
        step = 128
        while step > 0:
            if tid < step:
                acc[tid] += acc[tid + step]
            cuda.syncthreads()
            step //= 2
        if tid == 0:
            cuda.atomic.add(out, 0, acc[0])

    return kernel


if __name__ == "__main__":
    main()
