"""What a 200-threshold histogram can reach on this GPU, stage by stage, next to the AUC kernel (issue 10).

Usage::

    python bench/histogram_probe.py [--n 1e8]                          # on a GPU (gpu_check runs it)
    NUMBA_ENABLE_CUDASIM=1 python bench/histogram_probe.py --smoke     # no GPU: checks the counts, times nothing

AUC's kernel reaches 29% of copy bandwidth on an H100 (the target is 70%). Minimal kernels over the same
inputs (int32 0/1 labels, float32 scores in [0, 1), 8 bytes an element) tell where the rest goes, each timed
as the queued device time of 20 launches:

* ``read``: both inputs read, summed in a register (the memory floor of any single pass);
* ``bucket``: ``+`` the bucket of each score (``ceil(p * 199)`` clipped to [0, 200]) summed instead;
* ``histogram``: ``+`` one shared-memory atomic add per element into 8 replicas of 2 x 201 ``uint32``
  counters, one global flush per block (the design of the AUC kernel, without its generality);
* ``histogram x4``: the same with four elements' loads in flight per thread;
* ``AUC launcher``: ``threshold_histogram`` itself (``evenly_spaced``, ``clip``), unweighted and weighted
  (12 bytes an element), with its kernel's register cap (``HISTOGRAM_REGISTERS``) and without.

A large gap between ``histogram`` and the launcher is the launcher's generality (index arithmetic, kind
switches, float64); a large gap between ``bucket`` and ``histogram`` is the shared atomics. ``--smoke``
checks each histogram kernel's counts against NumPy at a small N in the simulator.
"""
import argparse
import os
import sys

import numpy as np
from numba import config, cuda, float32, float64, int32, int64, uint32

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # bench/gpu.py's timing helpers

THRESHOLDS = 200
BUCKETS = THRESHOLDS + 1
REPLICAS = 8
BLOCK = 256
STRIDE = 2 * BUCKETS + 1  # odd: a counter's replicas fall in different banks
COUNTERS = REPLICAS * STRIDE  # a compile-time constant: the shared array's size
UNROLL = 4  # elements whose loads "histogram x4" issues together


def make_kernels():
    def bucket_of(p):
        k = int64(p * (THRESHOLDS - 1) + 0.9999999)  # ceil for p in [0, 1)
        return 0 if k < 0 else (BUCKETS - 1 if k > BUCKETS - 1 else k)

    bucket_of = cuda.jit(device=True, inline=True)(bucket_of)

    @cuda.jit
    def read(t, p, out):
        i = cuda.grid(1)
        s = float64(0.0)
        while i < p.shape[0]:
            s += float64(p[i]) + t[i]
            i += cuda.gridsize(1)
        cuda.atomic.add(out, 0, s)

    @cuda.jit
    def bucket(t, p, out):
        i = cuda.grid(1)
        s = int64(0)
        while i < p.shape[0]:
            s += bucket_of(p[i]) + t[i]
            i += cuda.gridsize(1)
        cuda.atomic.add(out, 0, float64(s))

    def make_histogram(unrolled):
        @cuda.jit
        def histogram(t, p, out):
            counts = cuda.shared.array(COUNTERS, uint32)
            tid = cuda.threadIdx.x
            j = tid
            while j < COUNTERS:
                counts[j] = 0
                j += BLOCK
            cuda.syncthreads()
            mine = (tid % REPLICAS) * STRIDE
            g = cuda.gridsize(1)
            i = cuda.grid(1)
            n = p.shape[0]
            labels = cuda.local.array(UNROLL, int32)  # registers once the loops below unroll
            scores = cuda.local.array(UNROLL, float32)
            while unrolled and i + (UNROLL - 1) * g < n:
                for u in range(UNROLL):  # every load of the group issued before the first atomic
                    labels[u] = t[i + u * g]
                    scores[u] = p[i + u * g]
                for u in range(UNROLL):
                    label = 1 if labels[u] != 0 else 0
                    cuda.atomic.add(counts, mine + label * BUCKETS + bucket_of(scores[u]), uint32(1))
                i += UNROLL * g
            while i < n:
                label = 1 if t[i] != 0 else 0
                cuda.atomic.add(counts, mine + label * BUCKETS + bucket_of(p[i]), uint32(1))
                i += g
            cuda.syncthreads()
            j = tid
            while j < 2 * BUCKETS:
                v = float64(0.0)
                for q in range(REPLICAS):
                    v += float64(counts[q * STRIDE + j])
                if v != 0.0:
                    cuda.atomic.add(out, j, v)
                j += BLOCK

        return histogram

    return {"read": read, "bucket": bucket, "histogram": make_histogram(False), "histogram x4": make_histogram(True)}


def registers(kernel):
    """Registers per thread of each signature ``kernel`` compiled, as one column (``"32"``, ``"32,40"``)."""
    return ",".join(str(r) for r in kernel.get_regs_per_thread().values())


def expected_counts(labels, scores):
    """The histogram kernels' counts, in float64 NumPy: the same bucket rule."""
    k = np.clip((scores.astype(np.float64) * (THRESHOLDS - 1) + 0.9999999).astype(np.int64), 0, BUCKETS - 1)
    out = np.zeros(2 * BUCKETS)
    np.add.at(out, (labels != 0) * BUCKETS + k, 1.0)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=lambda s: int(float(s)), default=10**8)
    parser.add_argument("--smoke", action="store_true", help="simulator: check counts at N = 3,000, no timing")
    args = parser.parse_args()
    smoke = args.smoke or bool(config.ENABLE_CUDASIM)
    n = 3000 if smoke else args.n
    rng = np.random.default_rng(0)
    labels_host = rng.integers(0, 2, n, dtype=np.int32)
    scores_host = rng.random(n, dtype=np.float32)
    kernels = make_kernels()
    if smoke:
        expected = expected_counts(labels_host, scores_host)
        blocks = 4
        for name in ("histogram", "histogram x4"):
            out = np.zeros(2 * BUCKETS)
            kernels[name][blocks, BLOCK](labels_host, scores_host, out)
            status = "ok" if np.array_equal(out, expected) else "WRONG COUNTS"
            print(f"{name}: {status} (N = {n}, simulator)")
            if status != "ok":
                raise SystemExit(1)
        return
    import cupy

    from gpu import copy_bandwidth, open_device
    from gpumetrics._kernels.threshold_histogram.cuda import threshold_histogram

    labels, scores = cupy.asarray(labels_host), cupy.asarray(scores_host)

    device = open_device()

    def queued_ms(fn, repeats=20):
        fn()
        return device.elapsed_ms(lambda: [fn() for _ in range(repeats)]) / repeats

    copy = copy_bandwidth(device, 2**30, 3)
    sms = cuda.get_current_device().MULTIPROCESSOR_COUNT
    print(f"histogram probe: N = {n}, copy bandwidth {copy / 1e9:.0f} GB/s, {sms} SMs, 8 bytes an element")
    expected = None
    for name, kernel in kernels.items():
        for per_sm in (8, 16):
            out = cupy.zeros(2 * BUCKETS)
            ms = queued_ms(lambda: kernel[sms * per_sm, BLOCK](labels, scores, out))
            check = ""
            if name.startswith("histogram"):
                out[...] = 0
                kernel[sms * per_sm, BLOCK](labels, scores, out)
                counts = out.get()
                expected = counts if expected is None else expected
                check = "" if np.array_equal(counts, expected) else "  COUNTS DIFFER from the first histogram"
            print(f"{name:<14} blocks/SM {per_sm:>2}: {ms:.3f} ms = {8 * n / (ms / 1e3) / copy:6.1%} of copy, "
                  f"{registers(kernel)} registers/thread{check}")
    # The launcher as metrics call it (its kernel capped at HISTOGRAM_REGISTERS), then the same kernel uncapped:
    # the cap rests on one unweighted H100 measurement of an earlier kernel; this says whether it still pays.
    from gpumetrics._kernels.threshold_histogram import cuda as histogram_module

    cuts = cupy.asarray(np.linspace(0, 1, THRESHOLDS))
    weights = cupy.asarray(rng.random(n, dtype=np.float32)).reshape(-1, 1)
    capped = histogram_module.threshold_histogram_kernel
    for label, kernel in ((f"cap {histogram_module.HISTOGRAM_REGISTERS}", capped),
                          ("uncapped", cuda.jit(capped.py_func))):
        histogram_module.threshold_histogram_kernel = kernel
        try:
            for weight in (None, weights):
                pos, neg = cupy.zeros((BUCKETS, 1)), cupy.zeros((BUCKETS, 1))
                ms = queued_ms(lambda: threshold_histogram(labels.reshape(-1, 1), scores.reshape(-1, 1), weight,
                                                           cuts, "evenly_spaced", "clip", pos, neg))
                size = 8 if weight is None else 12  # bytes an element: label, score, weight
                print(f"AUC launcher {label:<8} {'unweighted' if weight is None else 'weighted':<10}: {ms:.3f} ms = "
                      f"{size * n / (ms / 1e3) / copy:6.1%} of copy, {registers(kernel)} registers/thread")
        finally:
            histogram_module.threshold_histogram_kernel = capped


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
