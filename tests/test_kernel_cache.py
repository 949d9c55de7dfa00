"""Kernels compile once per machine: a second fresh process loads every kernel a metric used from the disk cache,
and a process after ``gpumetrics.warmup()`` compiles nothing for its first (grouped) updates."""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

from gpumetrics._kernels._shared import compile as compile_module

COUNT = textwrap.dedent("""
    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("gpumetrics._kernels."):
            continue
        for value in vars(module).values():
            if isinstance(value, type):
                continue
            stats = getattr(value, "stats", None)
            if isinstance(value, numba.core.dispatcher.Dispatcher) and stats is not None:
                hits += sum(stats.cache_hits.values())
                misses += sum(stats.cache_misses.values())
    print(json.dumps({"hits": hits, "misses": misses}))
""")
#: every primitive, in the calling thread and on several threads, grouped AUC and MSE included; then the
#: dispatchers' cache counts
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    import gpumetrics

    rng = np.random.default_rng(0)
    for rows in (64, 1 << 19):  # the calling thread alone, then several threads (workers.run_items)
        labels, scores = rng.integers(0, 2, rows), rng.random(rows).astype(np.float32)
        ids = rng.integers(0, 3, rows)
        for metric in (gpumetrics.MeanSquaredError(), gpumetrics.AUC(), gpumetrics.SparseCategoricalAccuracy(),
                       gpumetrics.MeanIoU(num_classes=2), gpumetrics.R2Score()):
            if isinstance(metric, gpumetrics.SparseCategoricalAccuracy):
                metric.update_state(labels, np.stack([scores, 1 - scores], axis=1))
            elif isinstance(metric, gpumetrics.R2Score):
                metric.update_state(scores[:, None], scores[:, None] * 0.5)
            else:
                metric.update_state(labels, scores if not isinstance(metric, gpumetrics.MeanIoU) else labels)
            metric.result()
        gpumetrics.AUC(num_groups=3).update_state(labels, scores, group_ids=ids)
        gpumetrics.MeanSquaredError(num_groups=3).update_state(labels[:, None], scores[:, None], group_ids=ids)
""") + COUNT
#: ``gpumetrics.warmup`` of AUC's, MSE's and R2Score's primitives, at one common dtype each (the loop over COMMON is
#: the same for all: fewer compiles, the same code path), then nothing else
WARMUP = textwrap.dedent("""
    import numpy as np
    import gpumetrics
    from gpumetrics import _warmup

    _warmup.COMMON = {p: [(np.int64 if p == "threshold_histogram" else np.float32, np.float32, None)]
                      for p in _warmup.COMMON}
    gpumetrics.warmup(["auc", "mean_squared_error", "r2_score"], device="cpu", progress=False)
""")
#: a fresh process's first grouped AUC, MSE and R2Score updates at those dtypes (small, then on several threads),
#: and its first Precision and F1Score (loops of their own in the histogram's CPU twin)
GROUPED_FIRST = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    import gpumetrics

    rng = np.random.default_rng(1)
    for rows in (64, 1 << 19):
        labels, scores, ids = rng.integers(0, 2, rows), rng.random(rows).astype(np.float32), rng.integers(0, 5, rows)
        gpumetrics.AUC(num_groups=5).update_state(labels, scores, group_ids=ids)
        gpumetrics.MeanSquaredError(num_groups=5).update_state(scores[:, None], scores[:, None] * 0.5,
                                                               group_ids=ids.astype(np.int32))
        gpumetrics.R2Score(num_groups=5).update_state(scores[:, None], scores[:, None] * 0.5, group_ids=ids)
        gpumetrics.Precision().update_state(labels, scores)
        gpumetrics.F1Score().update_state(np.eye(3, dtype=np.int64)[labels], rng.random((rows, 3)).astype(np.float32))
""") + COUNT


def run_fresh(cache_dir, script=SCRIPT):
    env = {**os.environ, "GPUMETRICS_CACHE_DIR": str(cache_dir), "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else None


def test_second_process_compiles_nothing(tmp_path):
    first = run_fresh(tmp_path)
    assert first["misses"] > 0, f"the first process should compile into an empty cache: {first}"
    assert any(tmp_path.rglob("*.nbi")), "no cache index written under GPUMETRICS_CACHE_DIR"
    second = run_fresh(tmp_path)
    # the first process also compiles the chunk workers that the cached kernels have linked in: the second
    # loads the kernels alone, so it counts fewer hits than the first counted misses, and no miss at all
    assert second["misses"] == 0 and second["hits"] > 0, (first, second)


def test_first_grouped_updates_after_warmup_compile_nothing(tmp_path):
    """Grouped sums and moments are kernels of their own (the grouped histogram shares the ungrouped CPU kernel):
    warmup compiles them too, so a new process's first grouped AUC, MSE and R2Score load everything from the
    cache (R2Score's grouped moments were not warmed until 2026-11-29), and so do its first Precision and F1Score
    (each of the histogram's loops is warmed by a metric of its own since 2026-11-29)."""
    run_fresh(tmp_path, WARMUP)
    first = run_fresh(tmp_path, GROUPED_FIRST)
    assert first["misses"] == 0 and first["hits"] > 0, first


#: one MSE update (the serial error_sums build), its value checked; ``WARM``: a cache the script's process must
#: treat as unwritable (the tests run as root, whom file modes do not stop)
MINI = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    from gpumetrics._kernels._shared import compile

    WARM = sys.argv[1]
    if WARM:
        compile._writable = lambda path, real=compile._writable: not path.startswith(WARM) and real(path)
    import gpumetrics

    m = gpumetrics.MeanSquaredError(dtype="float64")
    m.update_state(np.array([[0.0], [1.0]]), np.array([[1.0], [3.0]]))
    assert float(m.result()) == 2.5, float(m.result())
""") + COUNT


def run_mini(tmp_path, cache, unwritable=""):
    """MINI in a fresh process with ``cache`` as GPUMETRICS_CACHE_DIR and a temporary directory of its own:
    (cache counts, stderr)."""
    env = {**os.environ, "GPUMETRICS_CACHE_DIR": str(cache), "TMPDIR": str(tmp_path / "tmp"),
           "PYTHONWARNINGS": "default"}
    (tmp_path / "tmp").mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-c", MINI, str(unwritable)], capture_output=True, text=True, env=env,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def kernel_source_indexes():
    return set((pathlib.Path(compile_module.__file__).resolve().parent.parent).rglob("*.nbi"))


def test_an_unwritable_warm_cache_still_serves_its_kernels(tmp_path):
    """A cache warmed in an image build and read by another user (or on a read-only filesystem) was ignored: every
    kernel was compiled again into ~/.cache/numba, or, without a writable home, every update raised Numba's "no
    locator available". Its files now seed a writable per-user folder, with one warning."""
    warm = tmp_path / "warm"
    first, _ = run_mini(tmp_path, warm)
    assert first["misses"] > 0
    second, stderr = run_mini(tmp_path, warm, unwritable=warm)
    assert second["misses"] == 0 and second["hits"] > 0, (first, second, stderr[-2000:])
    assert f"the kernel cache {warm}" in stderr and "cannot be written; kernels are cached in" in stderr
    assert any((tmp_path / "tmp").rglob("*.nbi"))


def test_a_cache_path_that_is_a_file_falls_back_to_a_folder_of_ours(tmp_path):
    """GPUMETRICS_CACHE_DIR naming a file sent kernels to Numba's own locations (the package's __pycache__), which
    judge a kernel fresh by its own file alone: an edited rules file left a stale kernel running."""
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    before = kernel_source_indexes()
    counts, stderr = run_mini(tmp_path, a_file)
    assert "cannot be written; kernels are cached in" in stderr, stderr[-2000:]
    assert any((tmp_path / "tmp").rglob("*.nbi")) and kernel_source_indexes() == before


def test_a_damaged_cache_entry_is_compiled_again_not_an_error_in_every_process(tmp_path):
    """An empty index raised EOFError, a data file of random bytes UnpicklingError, in every later process."""
    run_mini(tmp_path, tmp_path / "cache")
    for index in (tmp_path / "cache").rglob("*.nbi"):
        index.write_bytes(b"")
    for data in (tmp_path / "cache").rglob("*.nbc"):
        data.write_bytes(os.urandom(64))
    damaged, stderr = run_mini(tmp_path, tmp_path / "cache")
    assert damaged["misses"] > 0 and "could not be read" in stderr and "compiling it again" in stderr, stderr[-2000:]
    again, _ = run_mini(tmp_path, tmp_path / "cache")
    assert again["misses"] == 0 and again["hits"] > 0, (damaged, again)


#: the evenly spaced and the counted copies of one loop (``compile.specialized``) on thresholds out of order, where
#: their rules disagree (counting is exact for any order, ``evenly_spaced`` assumes sorted ones): each copy's counts
SPECIALIZED = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    from gpumetrics._kernels.threshold_histogram import cpu

    p = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    thresholds = np.array([0.8, 0.2, 0.6, 0.4])
    out = {}
    for fill in (cpu.column_fill, cpu.column_counted_fill):
        n = np.zeros((2, 5, 1), np.uint32)
        fill(np.zeros((2, 5, 1)), n, p, 1, 0, p, 1, 0, p, 0, 0, False, 1, thresholds, 4, 0, np.zeros(1, np.int64), 0,
             1, False, 0, 5)
        out[fill.py_func.__name__] = n[1, :, 0].tolist()
    print(json.dumps(out))
""")


def test_copies_of_one_loop_compile_and_cache_apart(tmp_path):
    """``column_fill`` and ``column_counted_fill`` share one code object: each is cached under its own name, so a
    second process loads each copy's own code (one cache entry for both would give one rule's buckets twice)."""
    runs = []
    for _ in range(2):
        env = {**os.environ, "GPUMETRICS_CACHE_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", SPECIALIZED + COUNT], capture_output=True, text=True, env=env,
                              timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append([json.loads(line) for line in done.stdout.strip().splitlines()[-2:]])
    (first, first_counts), (second, second_counts) = runs
    assert first_counts["misses"] > 0 and second_counts["misses"] == 0 and second_counts["hits"] >= 2, runs
    assert second == first and second["column_counted_fill"] == [1, 1, 1, 1, 1], runs  # 0 to 4 thresholds below
    assert second["column_fill"] != second["column_counted_fill"], runs


def test_warmup_command_refuses_what_it_cannot_warm_with_a_usage_error(capsys):
    """An unknown name was a traceback (exit 1); MeanMetricWrapper was built without its fn (TypeError); a
    device given twice ran every step twice."""
    from gpumetrics.__main__ import main
    from gpumetrics._warmup import PRIMITIVES, _devices, primitives_of

    with pytest.raises(SystemExit) as exited:
        main(["warmup", "nosuchmetric"])
    assert exited.value.code == 2 and "unknown metric identifier 'nosuchmetric'" in capsys.readouterr().err
    assert primitives_of(["mean_metric_wrapper"]) == PRIMITIVES  # any function: every primitive
    assert _devices(["cpu", "cpu"]) == ["cpu"]


def test_install_tolerance_wraps_a_cache_class_and_its_own_bases_once(tmp_path):
    """numba-cuda's ``CUDACache`` has its own ``Cache`` base, which the CPU wrapping does not reach: the CUDA
    launch module wraps it with ``install_tolerance``. A stand-in of that hierarchy: a damaged entry of our kernels
    is a miss with a warning, anyone else's error is theirs, and a second install wraps nothing twice."""
    class Base:
        def load_overload(self, sig, target_context):
            raise EOFError("Ran out of input")

        def save_overload(self, sig, data):
            raise OSError("disk full")

    class CUDACache(Base):
        def load_overload(self, sig, target_context):
            return super().load_overload(sig, target_context)

    def cache_of(locator):
        cache = CUDACache()
        cache._impl = type("Impl", (), {"locator": locator})()
        cache._name, cache._cache_path = "kernel", str(tmp_path)
        return cache

    compile_module.install_tolerance(CUDACache)
    compile_module.install_tolerance(CUDACache)
    assert CUDACache.load_overload.tolerant and not getattr(CUDACache.load_overload.__wrapped__, "tolerant", False)
    assert Base.load_overload.tolerant and Base.save_overload.tolerant
    ours = cache_of(compile_module.KernelCacheLocator.__new__(compile_module.KernelCacheLocator))
    with pytest.warns(RuntimeWarning, match="could not be read .*EOFError: Ran out of input"):
        assert ours.load_overload(None, None) is None
    with pytest.warns(RuntimeWarning, match="could not be cached .*OSError: disk full"):
        assert ours.save_overload(None, None) is None
    with pytest.raises(EOFError):
        cache_of(object()).load_overload(None, None)
