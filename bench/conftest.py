"""Shared pieces of the CPU benchmarks: the host copy bandwidth and a bytes/time note per case."""
import os
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
    """The bandwidth notes, group by group, under pytest-benchmark's timing tables."""
    if not _bandwidth_rows:
        return
    terminalreporter.section("bandwidth: input bytes read once / median time")
    for group, name, gb_per_s, fraction in sorted(_bandwidth_rows):
        terminalreporter.write_line(f"{group:<22} {name:<45} {gb_per_s:8.2f} GB/s {fraction:7.1%} of copy")
