"""``python -m gpumetrics``: a few metrics on the best backend found, and which backend that was."""
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


def main():
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


if __name__ == "__main__":
    main()
