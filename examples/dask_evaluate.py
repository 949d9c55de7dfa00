"""AUC and a Brier score (MSE of probabilities) over 2e8 samples generated lazily, on a 2-worker LocalCluster.

Partitions are made on the workers and read once; only metric states travel. Prints Dask's progress bar, the
time, and each worker's memory before the run and at most during it (sampled every 100 ms), in partitions.

    python examples/dask_evaluate.py [--samples 2e8] [--chunk 5e6]
"""
import argparse
import threading
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

import gpumetrics
from gpumetrics.dask import evaluate


def chunk_of(block_id, size):
    """One partition's labels (int8) and scores (float32), made from its block number: nothing is stored."""
    rng = np.random.default_rng(block_id)
    labels = rng.integers(0, 2, size, dtype=np.int8)
    scores = np.clip(0.35 * labels + rng.normal(0.3, 0.2, size).astype(np.float32), 0, 1)
    return labels, scores


def lazy_columns(samples, chunk):
    """Dask arrays of ``samples`` labels and scores in partitions of ``chunk``, generated when computed."""
    sizes = [min(chunk, samples - start) for start in range(0, samples, chunk)]
    labels = da.map_blocks(lambda block_info=None: chunk_of(block_info[None]["chunk-location"][0],
                                                          block_info[None]["chunk-shape"][0])[0],
                           chunks=(tuple(sizes),), dtype=np.int8)
    scores = da.map_blocks(lambda block_info=None: chunk_of(block_info[None]["chunk-location"][0],
                                                          block_info[None]["chunk-shape"][0])[1],
                           chunks=(tuple(sizes),), dtype=np.float32)
    return labels, scores


def warm_up():
    """Compile the kernels this example uses, in a worker process."""
    labels, scores = chunk_of(0, 1000)
    for metric in (gpumetrics.AUC(), gpumetrics.MeanSquaredError()):
        metric.update_state(labels, scores)


def peak_worker_memory(client, stop, peaks):
    """Sample every worker's resident memory until ``stop`` is set; keep the largest per worker."""
    while not stop.is_set():
        for worker, rss in client.run(lambda: __import__("psutil").Process().memory_info().rss).items():
            peaks[worker] = max(peaks.get(worker, 0), rss)
        time.sleep(0.1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=lambda s: int(float(s)), default=200_000_000)
    parser.add_argument("--chunk", type=lambda s: int(float(s)), default=5_000_000)
    args = parser.parse_args()
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        labels, scores = lazy_columns(args.samples, args.chunk)
        client.run(warm_up)  # every worker compiles its kernels before memory is measured
        baseline = client.run(lambda: __import__("psutil").Process().memory_info().rss)
        stop, peaks = threading.Event(), {}
        sampler = threading.Thread(target=peak_worker_memory, args=(client, stop, peaks), daemon=True)
        sampler.start()
        start = time.perf_counter()
        auc, brier = evaluate([gpumetrics.AUC(), gpumetrics.MeanSquaredError()], labels[:, None], scores[:, None],
                              progress=True)  # (N, 1): one squared error per sample
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    partition = args.chunk * (1 + 4)
    print(f"\n{args.samples:,} samples in {labels.npartitions} partitions of {partition / 2**20:.0f} MiB: "
          f"{seconds:.1f} s ({args.samples / seconds / 1e6:.0f} M samples/s)")
    print(f"AUC {float(auc.result()):.6f}   Brier (MSE) {float(brier.result()):.6f}")
    print("per worker, memory before -> most during the run: " + ", ".join(
        f"{baseline[w] / 2**20:.0f} -> {rss / 2**20:.0f} MiB (+{(rss - baseline[w]) / partition:.1f} partitions)"
        for w, rss in peaks.items()))


if __name__ == "__main__":
    main()
