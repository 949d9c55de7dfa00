"""The program gpu_check's ``ncu`` step profiles: one ``AUC`` and one ``MeanSquaredError`` update at N (default 1e8).

Usage (on a GPU, from the repository root)::

    ncu --clock-control none -k 'regex:threshold_histogram|error_sums' -c 2 --section SpeedOfLight \\
        --section Occupancy --section WarpStateStats python3 bench/ncu_kernels.py [--n 1e8]

The inputs are ``bench/gpu.py``'s at that N (int32 0/1 labels and float32 scores for AUC, float32 pairs for
MSE, unweighted, as CuPy arrays), so the counters explain the bandwidth table: what holds AUC at 29% and MSE at
59% of copy bandwidth (issue 10). Each metric updates once (its kernel loads from the disk cache, which the
warm-up step fills) and reads its result back.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=lambda s: int(float(s)), default=10 ** 8)
    n = parser.parse_args().n
    import cupy

    import gpumetrics
    from gpu import binary_inputs, regression_inputs

    labels, scores, _ = (cupy.asarray(a) for a in binary_inputs(n, np.random.default_rng(n)))
    y_true, y_pred, _ = (cupy.asarray(a) for a in regression_inputs(n, np.random.default_rng(n)))
    auc, mse = gpumetrics.AUC(device="cuda"), gpumetrics.MeanSquaredError(device="cuda")
    auc.update_state(labels, scores)
    mse.update_state(y_true, y_pred)
    print(f"N = {n}: AUC {float(auc.result()):.6f}, MSE {float(mse.result()):.6f}")  # synchronize!


if __name__ == "__main__":
    main()
