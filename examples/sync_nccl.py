"""GPU states synced with NCCL through CuPy, one process per GPU (here: one process per visible GPU, spawned).

    python examples/sync_nccl.py            # needs CuPy with NCCL and at least one GPU
"""
import multiprocessing

import cupy
from cupy.cuda import nccl

import gpumetrics
from gpumetrics.distributed import sync


def rank_main(rank, world, unique_id):
    with cupy.cuda.Device(rank):
        comm = nccl.NcclCommunicator(world, unique_id, rank)
        rng = cupy.random.default_rng(rank)
        y_true = rng.integers(0, 10, 1_000_000)
        y_pred = cupy.where(rng.random(y_true.size) < 0.7, y_true, rng.integers(0, 10, y_true.size))
        metric = gpumetrics.MeanIoU(num_classes=10)  # state on this GPU
        metric.update_state(y_true, y_pred)
        synced = sync(metric, comm)
        if rank == 0:
            print(f"MeanIoU over {world} GPUs: {float(synced.result()):.6f}")


def main():
    world = cupy.cuda.runtime.getDeviceCount()
    unique_id = nccl.get_unique_id()
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=rank_main, args=(rank, world, unique_id)) for rank in range(world)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()


if __name__ == "__main__":
    main()
