"""``python -m gpumetrics``: a few metrics on the best backend found, and which backend that was.

``python -m gpumetrics warmup [--device cpu|cuda] [METRIC ...]`` compiles the kernels' common signatures
into the on-disk cache (all metrics by default), so that later processes start fast.
"""
import argparse
import sys

import numpy as np

import gpumetrics
from gpumetrics.backends import get_backend


def best_device():
    """``"cuda"`` when a GPU (or the CUDA simulator) is usable, else ``"cpu"``, with the reason."""
    try:
        backend = get_backend("cuda")
    except RuntimeError:
        return "cpu", "numpy (CPU; no usable GPU: on a CUDA machine, pip install 'gpumetrics[cuda12]')"
    return "cuda", "cuda (Numba CUDA simulator)" if backend.simulated else "cuda (GPU, CuPy state)"


def demo():
    device, description = best_device()
    rng = np.random.default_rng(0)
    n = 1_000 if description.startswith("cuda (Numba") else 1_000_000
    y_true = rng.normal(size=(n, 1)).astype(np.float32)
    y_pred = (y_true + rng.normal(scale=0.1, size=(n, 1))).astype(np.float32)
    weight = rng.uniform(size=n).astype(np.float32)
    if device == "cuda" and not description.startswith("cuda (Numba"):
        import cupy

        y_true, y_pred, weight = cupy.asarray(y_true), cupy.asarray(y_pred), cupy.asarray(weight)
    print(f"gpumetrics {gpumetrics.__version__} on backend: {description}")
    print(f"{n:,} samples, y_pred = y_true + N(0, 0.1^2), weighted")
    for cls in [gpumetrics.MeanSquaredError, gpumetrics.MeanAbsoluteError, gpumetrics.RootMeanSquaredError]:
        metric = cls(device=device)
        metric.update_state(y_true, y_pred, sample_weight=weight)
        print(f"  {cls.__name__:<22} {float(metric.result()):.6f}")
    bias = gpumetrics.Mean(device=device)
    bias.update_state(y_pred - y_true, sample_weight=weight)
    print(f"  {'Mean (of the error)':<22} {float(bias.result()):.6f}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gpumetrics", description=__doc__.splitlines()[0].replace("``", ""))
    commands = parser.add_subparsers(dest="command")
    warm = commands.add_parser("warmup", help="compile the common kernel signatures into the on-disk cache")
    warm.add_argument("metrics", nargs="*", help="metric identifiers (e.g. auc mse); all metrics when none")
    warm.add_argument("--device", choices=["cpu", "cuda"], action="append",
                      help="device to compile for (repeatable); default: the CPU and a GPU when one is usable")
    args = parser.parse_args(argv)
    if args.command == "warmup":
        from gpumetrics._kernels._shared.compile import writable_cache_dir
        from gpumetrics._warmup import primitives_of

        try:
            primitives_of(args.metrics or None)
        except (ValueError, TypeError) as error:
            warm.error(str(error))
        try:
            steps = gpumetrics.warmup(args.metrics or None, args.device)
        except RuntimeError as error:  # a device that cannot be used here: its message says what to install
            warm.exit(1, f"{warm.prog}: error: {error}\n")
        print(f"compiled or loaded {steps} kernel signatures; cache: {writable_cache_dir()}")
    else:
        demo()


if __name__ == "__main__":
    sys.exit(main())
