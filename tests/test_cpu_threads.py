"""The CPU kernels' own threads (``workers.run_items``): every item once, errors raised in the caller, calls from
several Python threads at once, and a forked child (a Dask or multiprocessing worker) with threads of its own."""
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import gpumetrics
from gpumetrics._kernels._shared import workers


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
@pytest.mark.parametrize("items", [1, 2, 7, 100])
def test_run_items_covers_every_item_once(monkeypatch, items, threads):
    monkeypatch.setattr(workers, "thread_count", lambda: threads)
    seen, names = [], set()
    lock = threading.Lock()

    def task(lo, hi, scale):
        with lock:
            seen.extend(range(lo, hi))
            names.add(threading.current_thread().name)
        assert scale == 3

    workers.run_items(task, items, 3, elements=1 << 40)
    assert sorted(seen) == list(range(items))
    assert threading.current_thread().name in names  # the caller works too
    workers.run_items(task, items, 3, elements=2 * workers.ELEMENTS_PER_THREAD - 1)  # small: the caller alone
    assert sorted(seen) == sorted(list(range(items)) * 2)


@pytest.mark.parametrize("items_per_grab", [1, 4])
def test_each_grab_takes_a_share_of_the_items_left(monkeypatch, items_per_grab):
    """Large ranges first and short ones at the end (a slow thread holds up the call by little), none shorter than
    ``ELEMENTS_PER_GRAB`` elements but the last; in item order the ranges only shrink."""
    monkeypatch.setattr(workers, "thread_count", lambda: 2)
    ranges = []
    lock = threading.Lock()

    def task(lo, hi):
        with lock:
            ranges.append((lo, hi))

    items = 100
    workers.run_items(task, items, elements=items * workers.ELEMENTS_PER_GRAB // items_per_grab)
    ranges.sort()
    sizes = [hi - lo for lo, hi in ranges]
    assert [lo for lo, _ in ranges] == [0] + [hi for _, hi in ranges[:-1]] and ranges[-1][1] == items
    assert sizes[0] == items // (2 * workers.GRAB_SHARE)
    assert sizes == sorted(sizes, reverse=True)
    assert min(sizes[:-1]) == items_per_grab and sizes[-1] <= items_per_grab


def test_a_failing_task_raises_in_the_caller_and_the_threads_serve_the_next_call(monkeypatch):
    monkeypatch.setattr(workers, "thread_count", lambda: 3)

    def task(lo, hi):
        if lo <= 5 < hi:
            raise ValueError("item 5")

    with pytest.raises(ValueError, match="item 5"):
        workers.run_items(task, 12, elements=1 << 40)
    done = []
    workers.run_items(lambda lo, hi: done.append((lo, hi)), 12, elements=1 << 40)
    assert sorted(i for lo, hi in done for i in range(lo, hi)) == list(range(12))


def _mse(x):
    metric = gpumetrics.MeanSquaredError(dtype="float64", device="cpu")
    metric.update_state(x, x * 0.5)
    return float(metric.result())


def test_metrics_updated_from_several_python_threads_at_once_give_one_value():
    x = np.random.default_rng(0).random((400_000, 1))  # over two threads' worth of elements
    with ThreadPoolExecutor(4) as pool:
        values = set(pool.map(_mse, [x] * 24))
    assert len(values) == 1 and abs(values.pop() - np.mean((x * 0.5) ** 2)) < 1e-12, values


def _in_child(x, queue):
    queue.put(_mse(x))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork on this platform")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")  # Python 3.12+: the point of the test
def test_a_forked_child_runs_large_batches_on_threads_of_its_own():
    x = np.random.default_rng(1).random((400_000, 1))
    want = _mse(x)  # the parent's threads are started
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_in_child, args=(x, queue))
    child.start()
    got = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0 and got == want
