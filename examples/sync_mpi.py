"""Each MPI rank scores its shard; one all-gather gives every rank the whole-stream metrics.

    mpirun -n 4 python examples/sync_mpi.py       # pip install -e ".[distributed]" mpich (or a system MPI)
"""
import numpy as np
from mpi4py import MPI

import gpumetrics
from gpumetrics.distributed import sync


def main():
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(comm.rank)  # this rank's shard
    labels = rng.integers(0, 2, 100_000)
    scores = np.clip(0.4 * labels + rng.normal(0.3, 0.25, labels.size), 0, 1).astype(np.float32)
    metrics = [gpumetrics.AUC(), gpumetrics.Precision(), gpumetrics.BinaryCrossentropy()]
    for metric in metrics:
        metric.update_state(labels, scores)
    synced = sync(metrics, comm)  # copies: `metrics` keep this rank's shard only
    if comm.rank == 0:
        for metric in synced:
            print(f"{metric.name:<22} {float(metric.result()):.6f}  ({comm.size} ranks)")


if __name__ == "__main__":
    main()
