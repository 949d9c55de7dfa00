"""Inside a PyTorch job: metrics on each process's data, synced over torch.distributed (gloo here, nccl on GPUs).

    python -m torch.distributed.run --standalone --nproc-per-node=2 examples/sync_torch.py
"""
import torch
import torch.distributed as dist

import gpumetrics
from gpumetrics.distributed import sync


def main():
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank()
    device = torch.device("cuda", rank % torch.cuda.device_count()) if torch.cuda.is_available() else "cpu"
    if torch.cuda.is_available():
        torch.cuda.set_device(device)
    generator = torch.Generator(device=device).manual_seed(rank)
    y_true = torch.randn(50_000, 4, device=device, generator=generator)
    y_pred = y_true + 0.3 * torch.randn(50_000, 4, device=device, generator=generator)
    metrics = [gpumetrics.MeanSquaredError(), gpumetrics.R2Score(), gpumetrics.PearsonCorrelation()]
    for metric in metrics:  # torch tensors go in as they are: CUDA tensors zero-copy, the state on the GPU
        metric.update_state(y_true, y_pred)
    for metric in sync(metrics):  # the default process group
        if rank == 0:
            print(f"{metric.name:<22} {float(metric.result()):.6f}  ({dist.get_world_size()} processes)")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
