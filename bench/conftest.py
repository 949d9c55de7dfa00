"""Shared pieces of the CPU benchmarks: the host copy bandwidth and a bytes/time note per case."""
import atexit
import os
import subprocess
import sys
import time

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "jax")  # before anything imports keras; its own default (TensorFlow) is absent

_bandwidth_rows = []


@pytest.fixture(scope="session")
def copy_bandwidth():
    """Host memory bandwidth in bytes/s: best of five copies of 256 MiB, counting read + write.

    A one-pass metric reads its inputs once, so this is its ceiling.
    """
    src = np.ones(1 << 25)
    dst = np.empty_like(src)
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        seconds.append(time.perf_counter() - start)
    return 2 * src.nbytes / min(seconds)


@pytest.fixture
def record_bandwidth(benchmark, copy_bandwidth):
    """``record(nbytes)``: after a run, ``nbytes / median`` and its share of the copy bandwidth go in ``extra_info``."""

    def record(nbytes):
        if benchmark.stats is None:  # --benchmark-disable: nothing was timed
            return
        rate = nbytes / benchmark.stats.stats.median
        benchmark.extra_info.update(bytes=nbytes, gb_per_s=rate / 1e9, fraction_of_copy=rate / copy_bandwidth)
        _bandwidth_rows.append((benchmark.group, benchmark.name, rate / 1e9, rate / copy_bandwidth))

    return record


def pytest_terminal_summary(terminalreporter):
    """The bandwidth notes, group by group, under pytest-benchmark's timing tables; the small-batch summary."""
    if small_batch_rows:
        terminalreporter.section("small batches: median µs per update_state (load average 1/5/15 min after the case)")
        for group, peer, micros, mode, load in sorted(small_batch_rows):
            terminalreporter.write_line(f"{group:<34} {peer:<13} {micros:10.1f} µs  {mode:<5} "
                                        f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if not _bandwidth_rows:
        return
    terminalreporter.section("bandwidth: input bytes read once / median time")
    for group, name, gb_per_s, fraction in sorted(_bandwidth_rows):
        terminalreporter.write_line(f"{group:<22} {name:<45} {gb_per_s:8.2f} GB/s {fraction:7.1%} of copy")


# --busy-core: one spinning process for the whole session (the normal state of a training machine:
# a data loader or a second job holds a core). Started before the first test, killed at the end.
_busy = {}
#: (group, peer, median µs, mode, load average 1/5/15 min at the end of the case) from test_bench_small_batches
small_batch_rows = []


def pytest_addoption(parser):
    parser.addoption("--busy-core", action="store_true", default=False,
                     help="keep one core busy for the whole session with a separate spinning process "
                          "(python -c 'while True: pass'); group names of the small-batch bench say 'busy'")


def busy_mode(config):
    """``"busy"`` under ``--busy-core``, else ``"quiet"`` (the group names say which)."""
    return "busy" if config.getoption("busy_core") else "quiet"


def pytest_sessionstart(session):
    if session.config.getoption("busy_core"):
        process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        _busy["process"] = process
        atexit.register(process.kill)  # also when pytest stops without reaching sessionfinish


def pytest_sessionfinish(session):
    process = _busy.pop("process", None)
    if process is not None:
        process.kill()
        process.wait()
