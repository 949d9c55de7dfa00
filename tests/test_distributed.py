"""Past one process: ``sync`` over MPI (2 and 3 ranks, ``mpirun``) and torch.distributed (gloo, 2 processes), and
``gpumetrics.dask.evaluate`` on a 2-worker ``LocalCluster``, each against the same metrics run in one process.

The ranks run ``tests/distributed_worker.py`` in fresh processes (a timeout turns a hang into a failure); NCCL
needs a GPU (a 1-rank communicator is tested where CuPy sees one).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from conftest import REAL_GPU, to_host

import gpumetrics
from gpumetrics.distributed import Engine, Local, sync

WORKER = pathlib.Path(__file__).with_name("distributed_worker.py")
TIMEOUT = 240


def run_ranks(command, out):
    """Each rank's JSON report, by rank; the ranks run with the simulator off (CPU metrics) and one thread each."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command + [str(out)], capture_output=True, text=True, timeout=TIMEOUT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(path.read_text()) for path in sorted(out.glob("*.json"), key=lambda p: int(p.stem))]


def mpirun():
    found = shutil.which("mpirun") or shutil.which("mpiexec")
    if found is None:
        pytest.skip("no mpirun (pip install mpich, or an OpenMPI / MPICH from the system)")
    pytest.importorskip("mpi4py")
    return found


def mpi_command(ranks, mode="equal"):
    return [mpirun(), "-n", str(ranks), sys.executable, str(WORKER), "mpi", mode]


def torch_command(ranks, mode="equal"):
    pytest.importorskip("torch.distributed")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
            str(WORKER), "torch", mode]


LAUNCHES = [pytest.param(mpi_command, 2, id="mpi-2-ranks"), pytest.param(mpi_command, 3, id="mpi-3-ranks"),
            pytest.param(torch_command, 2, id="torch-gloo-2-processes")]


@pytest.mark.parametrize("command,ranks", LAUNCHES)
def test_synced_metrics_equal_one_process(command, ranks, tmp_path):
    """AUC, Precision, MeanIoU, MSE, PearsonCorrelation, R2Score: whole-number states bitwise, the rest within
    float64 rounding, the same on every rank; one collective per sync once the first has checked the ranks agree."""
    reports = run_ranks(command(ranks), tmp_path)
    assert [r["rank"] for r in reports] == list(range(ranks))
    for report in reports:
        assert report["world"] == ranks
        assert report["wrong"] == [], report
        assert report["first_sync_collectives"] == 2  # the 16-byte headers, then the states
        assert report["second_sync_collectives"] == 1
        assert report["local_untouched"] and report["in_place_is_local"]
        np.testing.assert_allclose(report["results"], report["reference"], rtol=1e-12)
        assert report["results"] == reports[0]["results"]  # the same bits on every rank


def test_a_default_torch_group_made_again_is_checked_again(tmp_path):
    """The verified groups keyed the default torch group as None, the same across a destroy and a new
    ``init_process_group``: a rank that kept its metric skipped the check while a restarted one ran it."""
    reports = run_ranks(torch_command(2, "regroup"), tmp_path)
    assert [r["result"] for r in reports] == [0.5, 0.5]


@pytest.mark.parametrize("command,ranks", LAUNCHES[:1] + LAUNCHES[2:])
def test_a_rank_with_another_configuration_gets_an_error_not_a_hang(command, ranks, tmp_path):
    reports = run_ranks(command(ranks, "mismatch"), tmp_path)
    assert len(reports) == ranks
    for report in reports:
        assert report["error"] and "ranks disagree on the metrics to sync" in report["error"], report


@pytest.mark.parametrize("command,ranks", LAUNCHES[1:2])
def test_a_synced_collection_equals_one_process(command, ranks, tmp_path):
    """A MetricCollection of five binary metrics: whole-number states bitwise, one collective per sync after the
    first's header check, the same results on every rank."""
    reports = run_ranks(command(ranks, "collection"), tmp_path)
    assert len(reports) == ranks
    for report in reports:
        assert report["wrong"] == [], report
        assert (report["first_sync_collectives"], report["second_sync_collectives"]) == (2, 1)
        np.testing.assert_allclose(report["results"], report["reference"], rtol=1e-12)
        assert report["results"] == reports[0]["results"]


@pytest.mark.parametrize("command,ranks", LAUNCHES[1:2])
def test_a_rank_that_saw_no_batch_contributes_nothing_over_mpi(command, ranks, tmp_path):
    """``mpirun -n 3``: rank 1 sees no batch, so its R2Score, F1Score, multi-label AUC and ExactAUCs stay unbuilt;
    every rank's synced metrics equal one process's (twice, and in place), then again once every rank has built."""
    reports = run_ranks(command(ranks, "empty"), tmp_path)
    assert len(reports) == ranks
    assert reports[1]["built"] == [False] * 5 + [True] and reports[0]["built"] == [True] * 6
    for report in reports:
        assert report["wrong"] == [], report
        for got, want in [(report["results"], report["reference"]),
                          (report["later_results"], report["later_reference"])]:
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-12)
        assert report["results"] == reports[0]["results"]
        assert report["later_results"] == reports[0]["later_results"]


class TwoRanks(Engine):
    """Two ranks in one process: rank 1's buffer is given; the all-gather stacks it under this rank's."""

    world = 2

    def __init__(self, other):
        self.other = other

    def allgather(self, buffer):
        return np.stack([buffer, self.other[:buffer.size]])


def test_sync_merges_every_rank_in_rank_order_on_any_device(device):
    """The packing and merging alone, through an in-process engine: rank 1 holds a second half of the stream."""
    from gpumetrics.distributed import _pack, fingerprint

    halves = [gpumetrics.R2Score(device=device), gpumetrics.R2Score(device=device)]
    full = gpumetrics.R2Score(device=device)
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.normal(size=(40, 2)) + 1e6, rng.normal(size=(40, 2)) + 1e6
    halves[0].update_state(y_true[:25], y_pred[:25])
    halves[1].update_state(y_true[25:], y_pred[25:])
    full.update_state(y_true, y_pred)
    other = _pack([halves[1]], halves[1].xp, fingerprint([halves[1]]))
    synced = sync(halves[0], TwoRanks(other))
    # data centred at 1e6: a merged mean carries 1e6 x 2e-16 of rounding, so co-moments agree to ~1e-10
    np.testing.assert_allclose(synced.state_dict()["moments"], full.state_dict()["moments"], rtol=1e-9)
    np.testing.assert_allclose(float(synced.result()), float(full.result()), rtol=1e-6)


def test_sync_adds_the_r2_sample_counts_of_every_rank(device):
    """R2Score's n (rows of non-zero weight) is a state: synced ranks count the samples of the whole stream."""
    from gpumetrics.distributed import _pack, fingerprint

    halves = [gpumetrics.R2Score(num_regressors=1, device=device) for _ in range(2)]
    y = np.arange(12.0).reshape(6, 2)
    weight = np.array([1.0, 0.0, 2.0, 0.0, 0.0, 1.0])
    halves[0].update_state(y[:4], y[:4] ** 0.5, sample_weight=weight[:4])
    halves[1].update_state(y[4:], y[4:] ** 0.5, sample_weight=weight[4:])
    synced = sync(halves[0], TwoRanks(_pack([halves[1]], halves[1].xp, fingerprint([halves[1]]))))
    assert int(synced.num_samples) == 3


class ThreadRank(Engine):
    """One of the ranks run as threads of this process (two unless told). A collective out of step (buffers of two
    sizes) raises on every rank, as MPI ("Message truncated") and gloo ("collective mismatch") do."""

    def __init__(self, shared, rank):
        self.shared, self.rank = shared, rank
        self.world = len(shared[0])
        self.calls = 0

    def allgather(self, buffer):
        slots, barrier = self.shared
        self.calls += 1
        slots[self.rank] = buffer.copy()
        barrier.wait(timeout=60)
        parts = list(slots)
        barrier.wait(timeout=60)
        if len({part.size for part in parts}) != 1:
            raise RuntimeError(f"collective out of step: buffers of {[part.size for part in parts]} bytes")
        return np.stack(parts)


def run_thread_ranks(body, ranks=2):
    """``body(rank, new_engine)`` on ``ranks`` threads; each rank's return value, or the exception it raised."""
    shared, results = ([None] * ranks, threading.Barrier(ranks)), [None] * ranks

    def rank_main(rank):
        try:
            results[rank] = body(rank, lambda: ThreadRank(shared, rank))
        except Exception as error:  # noqa: BLE001 - the test reads it
            results[rank] = error

    threads = [threading.Thread(target=rank_main, args=(rank,)) for rank in range(ranks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def assert_refused_on_every_rank_once_rank_0_updates(make, update):
    """Both thread ranks sync ``make()`` once; then rank 0 alone runs ``update(metric)`` and both sync again: every
    rank must get sync's ``ValueError``, none a collective out of step."""

    def body(rank, new_engine):
        metric, engine = make(), new_engine()
        sync(metric, engine)
        if rank == 0:
            update(metric)
        try:
            sync(metric, engine)
        except ValueError as error:
            return str(error)

    results = run_thread_ranks(body)
    assert all(isinstance(r, str) and "ranks disagree on the metrics to sync" in r for r in results), results


def test_a_metric_built_on_one_rank_after_an_unbuilt_sync_is_synced_on_every_rank():
    """No rank had seen a batch at the first sync (agreed: R2Score unbuilt everywhere); then only rank 0 builds. The
    unbuilt rank must run the check again (it once skipped it and sent its 24-byte buffer against rank 0's 16-byte
    header: MPI "Message truncated" on rank 0; gloo SIGABRT), and both ranks get rank 0's states."""
    y_true, y_pred = [[1.0], [2.0], [4.0]], [[1.5], [2.0], [3.0]]

    def body(rank, new_engine):
        metric, engine = gpumetrics.R2Score(device="cpu"), new_engine()
        sync(metric, engine)
        if rank == 0:
            metric.update_state(y_true, y_pred)
        return sync(metric, engine).state_dict()

    alone = gpumetrics.R2Score(device="cpu")
    alone.update_state(y_true, y_pred)
    results = run_thread_ranks(body)
    for state in results:
        assert isinstance(state, dict), results
        assert all(np.array_equal(state[k], v) for k, v in alone.state_dict().items())


class LazySum(gpumetrics.Metric):
    """A metric of your own in Keras's style: a count declared up front, a sum added at the first batch."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seen = self.add_variable(shape=(), name="seen")

    def update_state(self, values):
        values = self.asarray(values, "values")
        if len(self.variables) == 1:
            self.total = self.add_variable(shape=(values.shape[-1],), name="total")
        self.total.assign_add(values.sum(axis=0))
        self.seen.assign_add(values.shape[0])

    def result(self):
        return self.total.value if len(self.variables) > 1 else self.xp.zeros(0)


def test_a_metric_that_adds_a_state_on_one_rank_after_a_sync_gets_the_error_on_every_rank():
    """A subclass that adds a variable at its first batch is built (no ``None`` shape) from the start: the first
    sync verified it; then only rank 0 added its state, and rank 1 skipped the header check and sent its 16-byte
    state against rank 0's header (MPI: "Message truncated" and an abort on rank 0)."""

    assert_refused_on_every_rank_once_rank_0_updates(lambda: LazySum(device="cpu"),
                                                      lambda metric: metric.update_state(np.ones((2, 3))))


def _lazy_tools():
    sys.path.insert(0, str(WORKER.parent))
    import distributed_worker

    return distributed_worker


#: world size, and the ranks that see no batch of metric ``i`` of ``make_lazy_metrics`` (a function of ``i``)
UNBUILT_RANKS = {"2-ranks-rank-1-empty": (2, lambda i: {1}), "3-ranks-rank-1-empty": (3, lambda i: {1}),
                 "2-ranks-rank-0-empty": (2, lambda i: {0}), "3-ranks-rank-0-empty": (3, lambda i: {0}),
                 "2-ranks-all-empty": (2, lambda i: {0, 1}), "3-ranks-all-empty": (3, lambda i: {0, 1, 2}),
                 "3-ranks-each-unbuilt-for-some": (3, lambda i: {i % 3})}


def _same_states(got, want):
    """Whether each synced metric is built as ``want`` is and holds its states (``compare``'s rules), and reads the
    same result."""
    worker = _lazy_tools()
    assert [m.is_built for m in got] == [m.is_built for m in want]
    assert worker.compare(got, want) == []
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g.result()), np.asarray(w.result()), rtol=1e-12)


@pytest.mark.parametrize("scenario", list(UNBUILT_RANKS))
def test_a_rank_that_saw_no_batch_contributes_nothing(scenario):
    """R2Score, F1Score, multi-label AUC, ExactAUC (keys; a float16 bit histogram) and MSE, where some ranks saw no
    batch of a metric (which stays unbuilt there): every rank gets the merge of the ranks that built it, equal to one
    process that saw every batch (unbuilt where no rank built it), the same bits on every rank; again on a second
    sync, in place (the unbuilt local metric built), after more batches on the built ranks, and once every rank has
    built its metrics."""
    worker = _lazy_tools()
    world, empty = UNBUILT_RANKS[scenario]
    data = list(worker.batches())

    def owner(i, b):
        busy = [r for r in range(world) if r not in empty(i)]
        return busy[b % len(busy)] if busy else None

    def body(rank, new_engine):
        local, engine, synced = worker.make_lazy_metrics(), new_engine(), {}
        for phase, (start, stop) in enumerate([(0, 3), (3, 5)]):
            for b in range(start, stop):
                worker.update_lazy(local, data[b], [i for i in range(6) if owner(i, b) == rank])
            synced[phase] = [sync(local, engine), sync(local, engine)]
        synced["in_place"] = sync([m.copy() for m in local], engine, in_place=True)
        for b in data[5:]:  # every rank sees a slice: all built
            worker.update_lazy(local, worker.rows(b, rank, world))
        synced["all_built"] = [sync(local, engine), sync(local, engine)]
        return synced

    def reference(stop):
        metrics = worker.make_lazy_metrics()
        for b in range(stop):
            worker.update_lazy(metrics, data[b], [i for i in range(6) if b >= 5 or owner(i, b) is not None])
        return metrics

    results = run_thread_ranks(body, world)
    assert all(isinstance(r, dict) for r in results), results
    for synced in results:
        for got in synced[0]:
            _same_states(got, reference(3))
        for got in synced[1] + [synced["in_place"]]:
            _same_states(got, reference(5))
        for got in synced["all_built"]:
            _same_states(got, reference(7))
    for key in (0, 1, "all_built"):  # the same bits on every rank
        for synced in results[1:]:
            for got, first in zip(synced[key][0], results[0][key][0]):
                assert np.asarray(got.result()).tobytes() == np.asarray(first.result()).tobytes()


def test_in_place_builds_the_unbuilt_local_metric():
    """``in_place=True`` on a rank that saw no batch: its own R2Score object, built to the peer's size, holds the
    peer's states."""

    def body(rank, new_engine):
        metric = gpumetrics.R2Score(device="cpu")
        if rank == 0:
            metric.update_state([[1.0, 2.0], [2.0, 0.0], [4.0, 1.0]], [[1.5, 2.0], [2.0, 1.0], [3.0, 1.0]])
        synced = sync(metric, new_engine(), in_place=True)
        return synced is metric, metric.is_built, metric.state_dict(), metric.result().tolist()

    (same_0, built_0, state_0, result_0), (same_1, built_1, state_1, result_1) = run_thread_ranks(body)
    assert same_0 and same_1 and built_0 and built_1 and result_0 == result_1
    assert all(np.array_equal(state_0[k], state_1[k]) for k in state_0)


def test_a_sync_with_an_unbuilt_rank_is_two_collectives_until_every_rank_has_built():
    """Rank 1 sees no batch for two syncs (the records, then the buffers with descriptions: two collectives, nothing
    remembered), then both ranks see batches: the next sync checks and remembers, the one after is one collective."""

    def body(rank, new_engine):
        metrics = [gpumetrics.R2Score(device="cpu"), gpumetrics.AUC(num_thresholds=20, multi_label=True, device="cpu"),
                   gpumetrics.MeanSquaredError(device="cpu")]
        engine, calls = new_engine(), []
        for step in range(4):
            if rank == 0 or step >= 2:
                y_true, y_pred = np.array([[0.0, 1.0], [1.0, 1.0]]) + step, np.array([[0.2, 0.9], [0.6, 0.3]])
                for metric in metrics:
                    metric.update_state(y_true > step, y_pred) if metric.name == "auc" else metric.update_state(
                        y_true, y_pred)
            before = engine.calls
            sync(metrics, engine)
            calls.append(engine.calls - before)
        return calls

    assert run_thread_ranks(body) == [[2, 2, 2, 1]] * 2


def _differing_metrics(case, rank):
    """Three ranks' metrics for ``case``; rank 1 saw no batch."""
    y = np.arange(6.0).reshape(3, 2)
    if case == "sizes":  # R2Score of 2 outputs on rank 0, 3 on rank 2
        metric = gpumetrics.R2Score(device="cpu")
        if rank != 1:
            metric.update_state(np.arange(3.0 * (2 + rank // 2)).reshape(3, -1), np.ones((3, 2 + rank // 2)))
        return [metric]
    if case == "layouts":  # ExactAUC of float32 scores (keys) on rank 0, float16 (a bit histogram) on rank 2
        metric = gpumetrics.ExactAUC(device="cpu")
        if rank != 1:
            metric.update_state([0, 1, 1], np.array([0.2, 0.7, 0.4], np.float16 if rank == 2 else np.float32))
        return [metric]
    if case == "configuration":  # rank 1's unbuilt R2Score of another class_aggregation
        metric = gpumetrics.R2Score(class_aggregation="variance_weighted_average" if rank == 1 else "uniform_average",
                                    device="cpu")
        if rank != 1:
            metric.update_state(y, y + 1)
        return [metric]
    metrics = [gpumetrics.R2Score(device="cpu")] + [gpumetrics.MeanSquaredError(device="cpu")] * (rank != 2)
    if rank != 1:  # "count": rank 2 syncs one metric of the others' two
        metrics[0].update_state(y, y + 1)
    return metrics


@pytest.mark.parametrize("case", ["sizes", "layouts", "configuration", "count"])
def test_ranks_that_differ_in_more_than_being_built_get_the_same_error_on_every_rank(case):
    """Beside a rank that saw no batch, ranks that built other sizes or layouts, or hold another configuration or
    number of metrics: every rank raises the same ``ValueError``, none a collective out of step, none merges."""

    def body(rank, new_engine):
        try:
            sync(_differing_metrics(case, rank), new_engine(), in_place=True)
        except ValueError as error:
            return str(error)

    results = run_thread_ranks(body, 3)
    said = {"sizes": "ranks [2] hold other states than rank 0 for R2Score",
            "layouts": "ranks [2] hold other states than rank 0 for ExactAUC",
            "configuration": "ranks [1] differ from rank 0 in class, configuration or order of",
            "count": "ranks [2] differ from rank 0 in class, configuration or order of"}[case]
    assert all(isinstance(r, str) and f"ranks disagree on the metrics to sync: {said}" in r for r in results), results
    assert len({r.split(" of [")[0] for r in results}) == 1, results  # the same but for each rank's own metric names


def scaled(factor):
    def error(y_true, y_pred):
        return factor * abs(y_true - y_pred).mean(axis=-1)
    return error


@pytest.mark.parametrize("case", ["closure value", "lambda constant", "default", "module global",
                                  "module global in a generator expression", "module global in a comprehension"])
def test_wrappers_of_different_lambdas_are_refused_on_every_rank(case):
    """Their configs both name ``fn`` '...scaled.<locals>.error' (or '<lambda>'): rank 0's 1 x error and rank 1's
    100 x error merged into 50.5 x error on both ranks. A global read in a generator expression or (before Python
    3.12) a comprehension is loaded by their own code object, which the digest did not read: 50.5 again."""

    def make(rank):
        return {"closure value": lambda: scaled(1.0 if rank == 0 else 100.0),
                "lambda constant": lambda: ((lambda t, p: abs(t - p).mean(axis=-1)) if rank == 0
                                            else (lambda t, p: 100 * abs(t - p).mean(axis=-1))),
                "default": lambda: (lambda t, p, k=1.0 + 99 * rank: k * abs(t - p).mean(axis=-1)),
                "module global": lambda: eval(  # one source, as in two processes' modules
                    "lambda t, p: SCALE * abs(t - p).mean(axis=-1)", {"SCALE": 1.0 + 99 * rank}),
                "module global in a generator expression": lambda: eval(
                    "lambda t, p: sum(SCALE * abs(t[..., i] - p[..., i]) for i in range(t.shape[-1])) / t.shape[-1]",
                    {"SCALE": 1.0 + 99 * rank}),
                "module global in a comprehension": lambda: eval(
                    "lambda t, p: abs(t - p).mean(axis=-1) * [SCALE for _ in range(1)][0]",
                    {"SCALE": 1.0 + 99 * rank})}[case]()

    def body(rank, new_engine):
        metric = gpumetrics.MeanMetricWrapper(make(rank), name="scaled", device="cpu")
        metric.update_state([[0.0]], [[1.0]])
        try:
            return float(sync(metric, new_engine()).result())
        except ValueError as error:
            return str(error)

    results = run_thread_ranks(body)
    said = "ranks [1] differ from rank 0 in class, configuration or order of ['MeanMetricWrapper']"
    assert all(isinstance(r, str) and said in r for r in results), results


def test_wrappers_of_alike_closures_made_on_each_rank_sync():
    """Each rank makes its own closure of the same code and value (a SPMD script): they sync as one function."""

    def body(rank, new_engine):
        metric = gpumetrics.MeanMetricWrapper(scaled(np.float32(3.0)), name="scaled", device="cpu")
        metric.update_state([[0.0], [1.0]], [[1.0 + rank], [1.0]])
        return float(sync(metric, new_engine()).result())

    assert run_thread_ranks(body) == [pytest.approx(3 * (1 + 0 + 2 + 0) / 4)] * 2


def test_a_new_engine_at_a_freed_engines_address_is_checked_again():
    """A new group object (here an ``Engine`` made for each sync) is checked again even when it lands at the address
    of one verified before: rank 0 skipped the check where rank 1, whose new engine lay elsewhere, ran it, so the
    collectives went out of step (in a training loop over ``mpirun -n 2``, rank 1 read MSE 36.91 for 42.17)."""

    def body(rank, new_engine):
        metric, kept, results = gpumetrics.MeanSquaredError(dtype="float64", device="cpu"), [], []
        for step in range(4):
            metric.update_state([[float(2 * step + rank)]], [[0.0]])
            engine = new_engine()
            results.append(float(sync(metric, engine).result()))
            if rank == 1:  # another allocation pattern on one rank: its next engine gets another address
                kept.append(engine)
            del engine
        return results

    truth = [np.mean(np.arange(2 * step + 2.0) ** 2) for step in range(4)]
    assert run_thread_ranks(body) == [truth, truth]


class FakeComm:
    """An mpi4py-like communicator of one rank that counts its all-gathers."""

    def __init__(self):
        self.calls = 0

    def Get_size(self):
        return 1

    def Allgather(self, send, receive):
        self.calls += 1
        receive[0] = send


def test_an_mpi_engine_written_in_each_call_is_checked_once():
    """``sync(m, MPI(comm, cuda_aware=True))`` in every step names one group: one collective after the first check."""
    from gpumetrics.distributed import MPI

    metric, comm = gpumetrics.MeanSquaredError(device="cpu"), FakeComm()
    metric.update_state([[1.0]], [[0.0]])
    for _ in range(3):
        sync(metric, MPI(comm))
    assert comm.calls == 2 + 1 + 1


def test_one_process_sync_is_a_copy():
    metric = gpumetrics.AUC(device="cpu")
    metric.update_state([0, 1, 1], [0.2, 0.7, 0.4])
    synced = sync(metric, Local())
    assert synced is not metric and float(synced.result()) == float(metric.result())


def test_metrics_on_two_devices_cannot_sync_together():
    with pytest.raises(ValueError, match="must share a device"):
        sync([gpumetrics.Mean(device="cpu"), gpumetrics.Mean(device="cuda")], Local())


@pytest.mark.skipif(not REAL_GPU, reason="NCCL needs a GPU")
def test_nccl_one_rank_communicator():
    import cupy
    from cupy.cuda import nccl

    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    metric = gpumetrics.MeanIoU(num_classes=3, device="cuda")
    metric.update_state(cupy.asarray([0, 1, 2, 2]), cupy.asarray([0, 1, 1, 2]))
    synced = sync(metric, comm)
    assert float(synced.result()) == float(metric.result())


def test_dask_local_cluster_equals_one_process():
    """Six metrics over Dask arrays of uneven chunks on a 2-worker LocalCluster, states merged in a tree."""
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    from gpumetrics.dask import evaluate

    sys.path.insert(0, str(WORKER.parent))
    from distributed_worker import batches, compare, make_metrics, update

    data = list(batches())
    columns = {k: np.concatenate([b[k] for b in data]) for k in data[0]}
    reference = make_metrics()
    update(reference, columns)
    chunked = {k: da.from_array(v, chunks=37) for k, v in columns.items()}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  env={"NUMBA_ENABLE_CUDASIM": "0"}) as cluster, distributed.Client(cluster):
        auc, precision, iou, mse, pearson, r2 = make_metrics()
        results = evaluate([auc, precision], chunked["labels"], chunked["scores"], chunked["weight"], split_every=3)
        results += [evaluate(iou, chunked["ids"], chunked["predicted_ids"], chunked["weight"])]
        results += evaluate([mse, pearson, r2], chunked["y_true"], chunked["y_pred"], chunked["weight"])
    assert compare(results, reference) == []


# -- gpumetrics.dask.evaluate on collections that are legal but awkward (threaded scheduler, one process) --------

def _one_process(make, y_true, y_pred, sample_weight=None):
    metric = make()
    metric.update_state(y_true, y_pred, sample_weight=sample_weight)
    return np.asarray(metric.result())


DASK_METRICS = [
    lambda: gpumetrics.MeanAbsoluteError(),
    lambda: gpumetrics.AUC(num_thresholds=50),
    lambda: gpumetrics.R2Score(),  # builds its state from its first batch: the first partitions are empty
]


@pytest.mark.parametrize("make", DASK_METRICS, ids=["MAE", "AUC", "R2Score"])
def test_dask_zero_length_chunks_contribute_nothing(make):
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(7)
    y_true = (rng.random((12, 2)) > 0.5).astype(np.float64)
    y_pred, weight = rng.random((12, 2)), rng.random(12)
    rows = ((0, 0, 5, 0, 7, 0), (2,))
    got = gpumetrics.dask.evaluate(make(), da.from_array(y_true, chunks=rows), da.from_array(y_pred, chunks=rows),
                                   da.from_array(weight, chunks=rows[:1]), split_every=2)
    np.testing.assert_allclose(np.asarray(got.result()), _one_process(make, y_true, y_pred, weight), rtol=1e-6)


@pytest.mark.parametrize("make", DASK_METRICS, ids=["MAE", "AUC", "R2Score"])
def test_dask_boolean_masked_arrays_align_block_by_block(make):
    """``y[mask]`` has unknown chunk sizes (NaN); arrays of one masking are aligned block by block."""
    da = pytest.importorskip("dask.array")
    rng = np.random.default_rng(8)
    y_true = (rng.random((40, 2)) > 0.5).astype(np.float64)
    y_pred, weight = rng.random((40, 2)), rng.random(40)
    keep = weight > 0.3
    keep[:9] = False  # the first block is empty after masking
    t, p = da.from_array(y_true, chunks=(9, 1)), da.from_array(y_pred, chunks=(9, 1))  # axis 1 split too
    w = da.from_array(weight, chunks=9)
    mask = w > 0.3
    mask = da.where(da.arange(40, chunks=9) < 9, False, mask)
    assert np.isnan(t[mask].chunks[0][0])
    got = gpumetrics.dask.evaluate(make(), t[mask], p[mask], w[mask], split_every=2)
    np.testing.assert_allclose(np.asarray(got.result()),
                               _one_process(make, y_true[keep], y_pred[keep], weight[keep]), rtol=1e-6)


def test_dask_unknown_chunks_that_cannot_be_aligned_are_refused_by_name():
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.arange(20.0).reshape(10, 2), chunks=(4, 2))  # 3 blocks
    y = da.from_array(np.arange(20.0).reshape(10, 2), chunks=(2, 2))  # 5 blocks
    metric = gpumetrics.MeanAbsoluteError()
    metric.update_state([[1.0, 2.0]], [[0.0, 0.0]])
    before = metric.state_dict()
    with pytest.raises(ValueError, match=r"y_true: 3, y_pred: 5"):
        gpumetrics.dask.evaluate(metric, x[x[:, 0] > 3], y[y[:, 0] > 3])
    after = metric.state_dict()
    assert all(before[k].tobytes() == after[k].tobytes() for k in before)


@pytest.mark.parametrize("short", ["sample_weight", "y_true", "y_pred-masked-unalike"])
def test_dask_partitions_of_unequal_rows_are_refused_not_broadcast(short):
    """Series / DataFrames of another partitioning, and arrays masked unalike, give partitions of unequal lengths:
    a short piece would broadcast over the others' rows (2 weights for 20 rows gave MSE 0.316, the first
    partition's alone); each task refuses them by name."""
    dd = pytest.importorskip("dask.dataframe")
    da = pytest.importorskip("dask.array")
    import pandas as pd

    t, p = (np.arange(20) % 2).astype(float), np.linspace(0, 1, 20)
    frames = {"y_true": dd.from_pandas(pd.DataFrame({"t": t}), npartitions=2),
              "y_pred": dd.from_pandas(pd.DataFrame({"p": p}), npartitions=2), "sample_weight": None}
    if short == "sample_weight":
        frames["sample_weight"] = dd.from_pandas(pd.Series([1.0, 0.0]), npartitions=2)
        match = r"partition [01] has rows y_true: 10, y_pred: 10, sample_weight: 1;"
    elif short == "y_true":
        frames["y_true"] = dd.from_pandas(pd.DataFrame({"t": [0.0, 1.0]}), npartitions=2)
        match = r"partition [01] has rows y_true: 1, y_pred: 10;"
    else:
        x = da.from_array(p, chunks=10)
        frames = {"y_true": da.from_array(t, chunks=10)[x > 0.3][:, None], "y_pred": x[x > 0.6][:, None],
                  "sample_weight": None}  # (N, 1): MSE reads a 1-D y_pred as one sample
        match = r"partition [01] has rows y_true: (4|10), y_pred: (0|8);"  # 4 and 0 rows, then 10 and 8
    with pytest.raises(ValueError, match=match):
        gpumetrics.dask.evaluate(gpumetrics.MeanSquaredError(), frames["y_true"], frames["y_pred"],
                                 frames["sample_weight"])


def test_dask_evaluate_refuses_bad_arguments_by_name_before_computing():
    """Mean / Sum (plain values) raised "got multiple values for argument 'sample_weight'" in a task; y_pred=None a
    KeyError; split_every=2.5 a TypeError naming nothing."""
    da = pytest.importorskip("dask.array")
    v = da.from_array(np.arange(6.0), chunks=3)
    with pytest.raises(TypeError, match=r"dask.evaluate updates its metrics as update_state\(y_true, y_pred, "):
        gpumetrics.dask.evaluate(gpumetrics.Mean(), None, v)
    with pytest.raises(TypeError, match="y_pred is None; dask.evaluate needs y_true and y_pred"):
        gpumetrics.dask.evaluate(gpumetrics.AUC(), v, None)
    with pytest.raises(TypeError, match="split_every must be an integer >= 2; got split_every=2.5 of type float"):
        gpumetrics.dask.evaluate(gpumetrics.AUC(), v > 2, v / 6, split_every=2.5)
    with pytest.raises(TypeError, match="metrics must be gpumetrics metrics or collections; got int"):
        gpumetrics.dask.evaluate([gpumetrics.AUC(), 3], v > 2, v / 6)
    assert float(gpumetrics.dask.evaluate(gpumetrics.AUC(), v > 2, v / 6, split_every=np.int64(2)).result()) == 1.0


def test_dask_partition_values_never_probe_the_cuda_array_interface():
    """``_values`` must not touch ``__cuda_array_interface__`` (it raises for torch CUDA tensors that require grad);
    a torch tensor's ``values`` is a method, never its values; pandas partitions become their arrays."""
    from gpumetrics.dask import _values

    torch = pytest.importorskip("torch")
    tensor = torch.ones(3, requires_grad=True)
    assert _values(tensor) is tensor
    pandas = pytest.importorskip("pandas")
    series = pandas.Series([1.0, 2.0])
    assert isinstance(_values(series), np.ndarray)
    array = np.zeros(2)
    assert _values(array) is array and _values(None) is None


def test_dask_partition_values_of_a_torch_cuda_tensor_that_requires_grad():
    """A stand-in for torch CUDA tensor requiring grad: its ``__cuda_array_interface__`` raises RuntimeError."""
    from gpumetrics import _interop
    from gpumetrics.dask import _values

    class GradTensor:
        values = "not the values"

        @property
        def __cuda_array_interface__(self):
            raise RuntimeError("Can't get __cuda_array_interface__ on Variable that requires grad")

    part = GradTensor()
    assert _interop.location(part) == "cuda"
    assert _values(part) is part


def test_dask_and_distributed_are_lazy_attributes_of_the_package():
    """The README writes ``gpumetrics.dask.evaluate(...)``: after ``import gpumetrics`` alone that must work,
    while the import itself stays light (no Dask, no mpi4py)."""
    import subprocess as sp

    code = ("import sys, gpumetrics\n"
            "light = not any(m in sys.modules for m in ('dask', 'mpi4py', 'gpumetrics.dask', 'gpumetrics.distributed'))\n"
            "print(light, callable(gpumetrics.dask.evaluate), callable(gpumetrics.distributed.sync),\n"
            "      'dask' in dir(gpumetrics))\n"
            "try:\n    gpumetrics.no_such_thing\nexcept AttributeError as e:\n    print('no_such_thing' in str(e))\n")
    done = sp.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True"] * 5, done.stderr[-2000:]


@pytest.mark.parametrize("make", [gpumetrics.MeanSquaredError, gpumetrics.BinaryCrossentropy,
                                  gpumetrics.CategoricalCrossentropy, gpumetrics.CosineSimilarity])
def test_dask_evaluate_refuses_a_1d_sample_split_over_partitions(make):
    """A 1-D y_pred is one sample of the mean metrics that reduce its last axis (Keras's rule): chunked in two it
    gave the mean of the two chunks' values (MSE 0.42 for 0.304 in memory; a crossentropy of half rows, NaN)."""
    da = pytest.importorskip("dask.array")
    y_true, y_pred = np.array([0., 1., 0., 1., 1.]), np.array([0.5, 0.5, 0.1, 0.9, 0.0])
    chunked = [da.from_array(a, chunks=2) for a in (y_true, y_pred)]
    with pytest.raises(ValueError, match=r"a 1-D y_pred is one sample .* pass y_true and y_pred of shape \(N, 1\)"):
        gpumetrics.dask.evaluate(make(), *chunked)
    with pytest.raises(ValueError, match="reduce over y_pred's last axis"):  # in a collection, beside AUC
        gpumetrics.dask.evaluate(gpumetrics.MetricCollection([gpumetrics.AUC(), make()]), *chunked)
    one_chunk = gpumetrics.dask.evaluate(make(), *(da.from_array(a, chunks=5) for a in (y_true, y_pred)))
    whole = make()
    whole.update_state(y_true, y_pred)
    assert float(one_chunk.result()) == float(whole.result())
    if make is gpumetrics.MeanSquaredError:  # (N, 1): one value per element, the same number in any chunks
        columns = gpumetrics.dask.evaluate(make(), *(a[:, None] for a in chunked))
        np.testing.assert_allclose(float(columns.result()), float(whole.result()), rtol=1e-6)
    for elementwise in (gpumetrics.AUC(), gpumetrics.BinaryAccuracy(), gpumetrics.RootMeanSquaredError()):
        alone = elementwise.blank()
        alone.update_state(y_true, y_pred)
        assert float(gpumetrics.dask.evaluate(elementwise, *chunked).result()) == pytest.approx(float(alone.result()))


class GpuOnlyLocal(Local):
    """One process over a transport that carries GPU states only (as NCCL, or torch's nccl backend)."""

    device = "cuda"


def test_a_metric_that_saw_nothing_is_placed_where_the_engine_moves_states():
    """A rank whose ``auto`` metric saw no batch placed it on the CPU when asked its device, so over NCCL that rank
    raised "GPU states only" while its peers waited in the all-gather (a hang); it is placed on the GPU now, built
    or not, and syncs there. A metric placed by its batches stays where it is."""
    for make in (gpumetrics.MeanSquaredError, gpumetrics.R2Score):
        metric = make()
        synced = sync(metric, GpuOnlyLocal())
        assert metric.device == "cuda" and synced.device == "cuda"
        assert float(to_host(synced.result())) == 0.0
    cpu = gpumetrics.MeanSquaredError()
    cpu.update_state([[1.0]], [[0.5]])
    assert sync(cpu, GpuOnlyLocal()).device == "cpu"


def test_place_fixes_an_auto_metric_and_refuses_another_device():
    metric = gpumetrics.AUC().place("cpu")
    assert metric.device == "cpu" and metric.is_placed
    assert metric.place("cpu") is metric
    with pytest.raises(ValueError, match=r"auc lives on 'cpu'; it cannot be placed on 'cuda'"):
        metric.place("cuda")
