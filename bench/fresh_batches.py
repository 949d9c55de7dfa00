"""Per-update cost of the class-row metrics on fresh batches, as a training loop feeds them, and on one batch repeated.

Usage::

    python bench/fresh_batches.py [--sizes 256 4096 65536] [--classes 10] [--rounds 7]

A loop over one batch, as ``test_bench_small_batches.py`` runs, lets the CPU's
branch predictor learn the batch: a kernel that branches on the data (which
score is the largest so far?) then looks faster than it is on the new scores
every real step brings. This script times each metric over enough distinct
batches (about 4 M scores in all) that nothing is learned, and over the first
of them repeated, and prints both, beside torchmetrics'
``MulticlassAccuracy(average="micro")`` on the same batches when it is
installed. Cases (``device="cpu"``, float32 scores, int64 class ids or
float32 one-hot rows): ``SparseCategoricalAccuracy``, ``CategoricalAccuracy``,
``SparseTopKCategoricalAccuracy(k=5)``, ``SparseCategoricalCrossentropy``.
Prints the best per-update µs of ``--rounds`` sweeps; nothing is asserted, but
every peer's result must agree with gpumetrics' first.
"""
import argparse
import os
import time

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "numpy")

import gpumetrics as gm  # noqa: E402

CASES = {
    "SparseCategoricalAccuracy": (gm.SparseCategoricalAccuracy, "ids"),
    "CategoricalAccuracy": (gm.CategoricalAccuracy, "one_hot"),
    "SparseTopKCategoricalAccuracy(5)": (lambda: gm.SparseTopKCategoricalAccuracy(k=5), "ids"),
    "SparseCategoricalCrossentropy": (gm.SparseCategoricalCrossentropy, "ids"),
}


def batches(n, classes, seed):
    """Distinct ``(ids, one_hot, scores)`` batches of ``n`` rows, about 4 M scores in all (at least 2)."""
    rng = np.random.default_rng(seed)
    made = []
    for _ in range(max(2, (1 << 22) // (n * classes))):
        ids = rng.integers(0, classes, n)
        scores = rng.random((n, classes), dtype=np.float32)
        scores /= scores.sum(axis=1, keepdims=True)
        made.append((ids, np.eye(classes, dtype=np.float32)[ids], scores))
    return made


def best_us(update, pairs, rounds):
    """The best of ``rounds`` sweeps over ``pairs``, per update, in µs."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for y_true, y_pred in pairs:
            update(y_true, y_pred)
        best = min(best, (time.perf_counter() - start) / len(pairs) * 1e6)
    return best


def torchmetrics_update(classes):
    """``(update, result)`` of torchmetrics' micro accuracy on NumPy inputs, or None without torchmetrics."""
    try:
        import torch
        from torchmetrics.classification import MulticlassAccuracy
    except ImportError:
        return None
    metric = MulticlassAccuracy(num_classes=classes, average="micro")
    return (lambda ids, scores: metric.update(torch.from_numpy(scores), torch.from_numpy(ids)),
            lambda: float(metric.compute()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 4096, 65536])
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; best µs per update_state (fresh batches / one batch repeated)")
    for n in args.sizes:
        made = batches(n, args.classes, seed=n)
        for name, (make, layout) in CASES.items():
            pairs = [(ids if layout == "ids" else one_hot, scores) for ids, one_hot, scores in made]
            metric = make()
            fresh = best_us(metric.update_state, pairs, args.rounds)
            repeated = best_us(metric.update_state, pairs[:1] * len(pairs), args.rounds)
            print(f"{name:34s} n={n:6d}  {fresh:9.1f} / {repeated:9.1f}")
        peer = torchmetrics_update(args.classes)
        if peer is not None:
            update, result = peer
            check = gm.SparseCategoricalAccuracy()
            for ids, _, scores in made:
                update(ids, scores)
                check.update_state(ids, scores)
            if abs(result() - float(check.result())) > 1e-6:
                raise AssertionError(f"torchmetrics {result()} != gpumetrics {float(check.result())}")
            pairs = [(ids, scores) for ids, _, scores in made]
            fresh = best_us(update, pairs, args.rounds)
            repeated = best_us(update, pairs[:1] * len(pairs), args.rounds)
            print(f"{'torchmetrics MulticlassAccuracy':34s} n={n:6d}  {fresh:9.1f} / {repeated:9.1f}")


if __name__ == "__main__":
    main()
