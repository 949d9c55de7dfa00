"""Host time of one GPU ``update_state`` on a machine without a GPU: the real ``cuda`` host path on the stand-in GPU.

Usage::

    python bench/host_path.py [--n 4096] [--calls 2000] [--busy-core]

Runs ``AUC`` and ``MeanSquaredError`` updates with stand-in CuPy inputs of N
rows, and ``AUC`` with stand-in torch CUDA tensors (tests/fake_gpu.py: arrays
in host memory behind CuPy's and torch's attributes), twice: replayed from kept
launches (the default on a GPU, ``gpumetrics/_replay.py``) and in full
(imports, Keras's shape rules, launch shape, packing). The driver's launch is
made a no-op, so what is timed is our host work. Prints the median µs per
update of 5 rounds of ``--calls`` updates each, and the ratio. What it leaves
out is what only a GPU has: CuPy's and torch's own attribute costs (other than
the stand-in's) and the driver's ``cuLaunchKernel`` (3-5 µs on an H100
machine); run ``bench/launch_profile.py`` there for the real figure.
``--busy-core`` keeps one other core spinning in a separate process while it
measures.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))


def per_update_us(metric, args, calls):
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            metric.update_state(*args)
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(rounds)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4096)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--busy-core", action="store_true")
    options = parser.parse_args()
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        sys.exit("host_path.py runs the real cuda host path: unset NUMBA_ENABLE_CUDASIM")
    import fake_gpu

    fake_gpu.install()
    import cupy  # the stand-in

    cupy.cuda.driver.launchKernel = lambda *args: None  # time our host work, not the stand-in's launch recorder
    import numpy as np

    import gpumetrics

    rng = np.random.default_rng(0)
    labels = cupy.asarray(rng.integers(0, 2, options.n).astype(np.float32))
    scores = cupy.asarray(rng.random(options.n).astype(np.float32))
    torch = sys.modules["torch"]  # the stand-in's: CUDA tensors over host arrays, on CuPy's stream
    cases = {"AUC": (gpumetrics.AUC, (labels, scores)),
             "MeanSquaredError": (gpumetrics.MeanSquaredError, (labels.reshape(-1, 1), scores.reshape(-1, 1))),
             "AUC, torch inputs": (gpumetrics.AUC, (torch.Tensor(labels.get()), torch.Tensor(scores.get())))}
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if options.busy_core else None
    try:
        print(f"host µs per update, N = {options.n}, stand-in GPU, {os.cpu_count()} cores, "
              f"{'one core kept busy' if spinner else 'no other load started'}")
        print(f"{'metric':<18} {'replayed':>9} {'in full':>9} {'ratio':>6}")
        for name, (factory, args) in cases.items():
            metric = factory(device="cuda")
            for _ in range(10):
                metric.update_state(*args)
            replayed = per_update_us(metric, args, options.calls)
            metric._replays = False  # every update in full from here
            full = per_update_us(metric, args, options.calls)
            print(f"{name:<18} {replayed:>9.1f} {full:>9.1f} {full / replayed:>5.1f}x")
    finally:
        if spinner is not None:
            spinner.kill()


if __name__ == "__main__":
    main()
