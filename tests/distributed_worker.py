"""One rank of tests/test_distributed.py, run under ``mpirun`` or torch's launcher: shard, update, sync, compare.

Every rank draws the same batches, updates its metrics with its shard
(round-robin) and syncs them; it then checks the synced metrics against the
same metrics updated with every batch in one process: whole-number states
bitwise (the weights are whole numbers), the rest within float64 rounding. It
also counts the collectives of each sync. ``mismatch``: rank 1 builds AUC with
other thresholds, and every rank must get a ValueError instead of a hang.
``exact``: ExactAUC (ROC weighted, PR, multi-label) beside AUC: ranks hold
concat states of different lengths. ``collection``: a ``MetricCollection`` of
five binary metrics. ``empty``: metrics that build their states from their
first batch (and MSE); rank 1 sees no batch, then every rank sees a slice of
the last batches. ``regroup`` (torch): the default group made again between syncs.
Writes one JSON report per rank, ``<out>/<rank>.json``.
"""
import datetime
import json
import os
import pathlib
import sys

import numpy as np

import gpumetrics
from gpumetrics.distributed import MPI, Engine, Torch, sync

BATCHES = 7


class Counting(Engine):
    """An engine that counts the collectives it runs."""

    def __init__(self, inner):
        self.inner = inner
        self.world = inner.world
        self.calls = 0

    def allgather(self, buffer):
        self.calls += 1
        return self.inner.allgather(buffer)


def make_metrics(auc_thresholds=200):
    return [gpumetrics.AUC(num_thresholds=auc_thresholds, dtype="float64", device="cpu"),
            gpumetrics.Precision(dtype="float64", device="cpu"),
            gpumetrics.MeanIoU(num_classes=4, dtype="float64", device="cpu"),
            gpumetrics.MeanSquaredError(dtype="float64", device="cpu"),
            gpumetrics.PearsonCorrelation(dtype="float64", device="cpu"),
            gpumetrics.R2Score(dtype="float64", device="cpu")]


def make_exact_metrics(auc_thresholds=200):
    return [gpumetrics.ExactAUC(dtype="float64", device="cpu"),
            gpumetrics.ExactAUC(curve="PR", dtype="float64", device="cpu"),
            gpumetrics.ExactAUC(multi_label=True, dtype="float64", device="cpu"),
            gpumetrics.AUC(num_thresholds=auc_thresholds, dtype="float64", device="cpu")]


def update_exact(metrics, b):
    roc, pr, multi, auc = metrics
    roc.update_state(b["labels"], b["scores"], sample_weight=b["weight"])
    pr.update_state(b["labels"], b["scores"])
    multi.update_state(b["y_true"] > 1e3, b["y_pred"], sample_weight=b["weight"])
    auc.update_state(b["labels"], b["scores"], sample_weight=b["weight"])


def make_lazy_metrics():
    """Metrics that build their states from their first batch (ExactAUC of float16 scores: a bit histogram), and MSE."""
    return [gpumetrics.R2Score(dtype="float64", device="cpu"),
            gpumetrics.F1Score(threshold=0.5, dtype="float64", device="cpu"),
            gpumetrics.AUC(num_thresholds=50, multi_label=True, dtype="float64", device="cpu"),
            gpumetrics.ExactAUC(dtype="float64", device="cpu"),
            gpumetrics.ExactAUC(curve="PR", dtype="float64", device="cpu"),
            gpumetrics.MeanSquaredError(dtype="float64", device="cpu")]


def update_lazy(metrics, b, which=range(6)):
    """Batch ``b`` into the metrics of ``make_lazy_metrics`` whose indices are in ``which``."""
    w = b["weight"]
    labels, scores = b["y_true"] > 1e3, 1 / (1 + np.exp(1e3 - b["y_pred"]))
    feeds = [lambda m: m.update_state(b["y_true"], b["y_pred"], sample_weight=w),
             lambda m: m.update_state(labels, scores, sample_weight=w),
             lambda m: m.update_state(labels, scores, sample_weight=w),
             lambda m: m.update_state(b["labels"], b["scores"], sample_weight=w),
             lambda m: m.update_state(b["labels"], b["scores"].astype(np.float16)),
             lambda m: m.update_state(b["y_true"], b["y_pred"], sample_weight=w)]
    for i in which:
        feeds[i](metrics[i])


def rows(b, start, step):
    """The rows ``start::step`` of every array of batch ``b``."""
    return {k: v[start::step] for k, v in b.items()}


def batches():
    rng = np.random.default_rng(2026)
    for _ in range(BATCHES):
        n = int(rng.integers(20, 40))
        labels = rng.integers(0, 2, n)
        yield {"labels": labels, "scores": np.clip(0.5 * labels + rng.normal(0.25, 0.3, n), 0, 1),
               "ids": rng.integers(0, 4, n), "predicted_ids": rng.integers(0, 4, n),
               "y_true": rng.normal(size=(n, 3)) + 1e3, "y_pred": rng.normal(size=(n, 3)) + 1e3,
               "weight": rng.integers(1, 4, n).astype(np.float64)}


def update(metrics, b):
    auc, precision, iou, mse, pearson, r2 = metrics
    w = b["weight"]
    auc.update_state(b["labels"], b["scores"], sample_weight=w)
    precision.update_state(b["labels"], b["scores"], sample_weight=w)
    iou.update_state(b["ids"], b["predicted_ids"], sample_weight=w)
    for m in (mse, pearson, r2):
        m.update_state(b["y_true"], b["y_pred"], sample_weight=w)


def compare(synced, reference):
    """Names of the metrics whose synced states differ from one process's (``concat`` states as multisets)."""
    wrong = []
    for got, want in zip(synced, reference):
        ours, theirs = got.state_dict(), want.state_dict()
        for variable in want.variables:  # the states; the class / fingerprint entries are equal
            name = variable.name
            value = theirs[name]
            if variable.merge == "concat":  # rows in rank order, not stream order: the same multiset
                ours[name], value = np.sort(ours[name], axis=0), np.sort(value, axis=0)
            whole = np.array_equal(value, np.round(value))
            same = np.array_equal(ours[name], value) if whole else np.allclose(ours[name], value, rtol=1e-12)
            if not same:
                wrong.append(f"{type(got).__name__}.{name}")
    return wrong


def main(engine_name, mode, out):
    """Run one rank; a torch process group is torn down before the process exits (gloo aborts otherwise)."""
    if engine_name == "torch":
        import torch.distributed as dist

        dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
        try:
            (run_regroup if mode == "regroup" else run)(engine_name, mode, out)
        finally:
            dist.barrier()
            dist.destroy_process_group()
    else:
        run(engine_name, mode, out)


def run(engine_name, mode, out):
    if engine_name == "mpi":
        from mpi4py import MPI as mpi

        comm = mpi.COMM_WORLD
        rank, engine = comm.Get_rank(), Counting(MPI(comm))
    else:
        import torch.distributed as dist

        rank, engine = dist.get_rank(), Counting(Torch())
    report = {"rank": rank, "world": engine.world}
    data = list(batches())
    if mode == "collection":
        return run_collection(engine, rank, data, report, out)
    if mode == "empty":
        return run_empty(engine, rank, data, report, out)
    make, feed = (make_exact_metrics, update_exact) if mode == "exact" else (make_metrics, update)
    local = make(auc_thresholds=100 if mode == "mismatch" and rank == 1 else 200)
    for b in data[rank::engine.world]:
        feed(local, b)
    if mode == "mismatch":
        try:
            sync(local, engine)
            report["error"] = None
        except ValueError as error:
            report["error"] = str(error)
        (pathlib.Path(out) / f"{rank}.json").write_text(json.dumps(report))
        return
    if mode == "exact":  # ranks hold different numbers of keys
        report["rows"] = local[0].variables[0].value.shape[0]
    before = [m.state_dict() for m in local]
    first = sync(local, engine)
    report["first_sync_collectives"] = engine.calls
    second = sync(local, engine)
    report["second_sync_collectives"] = engine.calls - report["first_sync_collectives"]
    reference = make()
    for b in data:
        feed(reference, b)
    report["wrong"] = compare(first, reference) + compare(second, reference)
    report["local_untouched"] = all(np.array_equal(before[i][k], v) for i, m in enumerate(local)
                                    for k, v in m.state_dict().items())
    report["results"] = [float(m.result()) for m in first]
    report["reference"] = [float(m.result()) for m in reference]
    in_place = sync(local, engine, in_place=True)
    report["in_place_is_local"] = all(a is b for a, b in zip(in_place, local))
    report["wrong"] += compare(local, reference)
    (pathlib.Path(out) / f"{rank}.json").write_text(json.dumps(report))


def run_regroup(engine_name, mode, out):
    """The default torch group destroyed and made again (elastic training): rank 1 comes back with a copy of its
    metric (as a restarted process restores one), which no group has verified, while rank 0 keeps its own, verified
    under the old group. Both must check again, or rank 0 sends its states against rank 1's check (gloo: an error or
    a hang)."""
    import torch.distributed as dist

    rank = dist.get_rank()
    metric = gpumetrics.MeanSquaredError(dtype="float64", device="cpu")
    metric.update_state([[float(rank)]], [[0.0]])
    sync(metric), sync(metric)  # the second is one collective: the default group verified
    dist.barrier()
    dist.destroy_process_group()
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False)
    dist.init_process_group("gloo", store=dist.PrefixStore("made again", store), rank=rank,
                            world_size=int(os.environ["WORLD_SIZE"]), timeout=datetime.timedelta(seconds=30))
    if rank == 1:
        metric = metric.copy()
    report = {"rank": rank, "result": float(sync(metric).result())}
    (pathlib.Path(out) / f"{rank}.json").write_text(json.dumps(report))


def make_collection():
    return gpumetrics.MetricCollection([
        gpumetrics.AUC(device="cpu"), gpumetrics.Precision(device="cpu"), gpumetrics.Recall(device="cpu"),
        gpumetrics.F1Score(threshold=0.5, device="cpu"), gpumetrics.BinaryAccuracy(device="cpu")])


def run_collection(engine, rank, data, report, out):
    """A collection's shards synced as one: its members' states in one collective after the header check."""
    local, reference = make_collection(), make_collection()
    for i, b in enumerate(data):
        for collection in ([local] if i % engine.world == rank else []) + [reference]:
            collection.update_state(b["labels"].reshape(-1, 1), b["scores"].reshape(-1, 1), b["weight"])
    first = sync(local, engine)
    report["first_sync_collectives"] = engine.calls
    sync(local, engine)
    report["second_sync_collectives"] = engine.calls - report["first_sync_collectives"]
    names = list(reference.metrics)
    report["wrong"] = compare([first[n] for n in names], [reference[n] for n in names])
    report["results"] = [x for n in names for x in np.ravel(first.result()[n]).tolist()]
    report["reference"] = [x for n in names for x in np.ravel(reference.result()[n]).tolist()]
    (pathlib.Path(out) / f"{rank}.json").write_text(json.dumps(report))


def run_empty(engine, rank, data, report, out):
    """Rank 1 sees no batch of the first five (its lazy metrics stay unbuilt): every rank's synced metrics must be
    the others' merge (in place: rank 1's built), twice; then each rank sees a slice of the last two batches."""
    local, reference, busy = make_lazy_metrics(), make_lazy_metrics(), [r for r in range(engine.world) if r != 1]
    for i, b in enumerate(data[:5]):
        update_lazy(reference, b)
        if busy[i % len(busy)] == rank:
            update_lazy(local, b)
    report["built"] = [m.is_built for m in local]
    first, second = sync(local, engine), sync(local, engine)
    in_place = sync([m.copy() for m in local], engine, in_place=True)
    report["wrong"] = [f"{when}:{name}" for when, synced in (("first", first), ("second", second),
                                                              ("in_place", in_place))
                       for name in (compare(synced, reference) if all(m.is_built for m in synced) else ["unbuilt"])]
    report["results"] = [np.ravel(m.result()).tolist() for m in first]
    report["reference"] = [np.ravel(m.result()).tolist() for m in reference]
    for b in data[5:]:
        update_lazy(reference, b)
        update_lazy(local, rows(b, rank, engine.world))
    later = sync(local, engine)
    report["wrong"] += [f"later:{name}" for name in compare(later, reference)]
    report["later_results"] = [np.ravel(m.result()).tolist() for m in later]
    report["later_reference"] = [np.ravel(m.result()).tolist() for m in reference]
    (pathlib.Path(out) / f"{rank}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:4])
