"""Kernels compile once per machine: a second fresh process loads every kernel a metric used from the disk cache."""
import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    import gpumetrics

    rng = np.random.default_rng(0)
    for rows in (64, 1 << 17):  # the serial build, then the parallel one
        labels, scores = rng.integers(0, 2, rows), rng.random(rows).astype(np.float32)
        for metric in (gpumetrics.MeanSquaredError(), gpumetrics.AUC(), gpumetrics.SparseCategoricalAccuracy(),
                       gpumetrics.MeanIoU(num_classes=2), gpumetrics.R2Score()):
            if isinstance(metric, gpumetrics.SparseCategoricalAccuracy):
                metric.update_state(labels, np.stack([scores, 1 - scores], axis=1))
            elif isinstance(metric, gpumetrics.R2Score):
                metric.update_state(scores[:, None], scores[:, None] * 0.5)
            else:
                metric.update_state(labels, scores if not isinstance(metric, gpumetrics.MeanIoU) else labels)
            metric.result()
    hits = misses = 0
    for name, module in list(sys.modules.items()):
        if not name.startswith("gpumetrics._kernels."):
            continue
        for value in vars(module).values():
            if isinstance(value, type):
                continue
            for dispatcher in getattr(value, "dispatchers", (value,)):
                stats = getattr(dispatcher, "stats", None)
                if isinstance(dispatcher, numba.core.dispatcher.Dispatcher) and stats is not None:
                    hits += sum(stats.cache_hits.values())
                    misses += sum(stats.cache_misses.values())
    print(json.dumps({"hits": hits, "misses": misses}))
""")


def run_fresh(cache_dir):
    env = {**os.environ, "GPUMETRICS_CACHE_DIR": str(cache_dir), "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_second_process_compiles_nothing(tmp_path):
    first = run_fresh(tmp_path)
    assert first["misses"] > 0, f"the first process should compile into an empty cache: {first}"
    assert any(tmp_path.rglob("*.nbi")), "no cache index written under GPUMETRICS_CACHE_DIR"
    second = run_fresh(tmp_path)
    # the first process also compiles the chunk workers that the cached kernels have linked in: the second
    # loads the kernels alone, so it counts fewer hits than the first counted misses, and no miss at all
    assert second["misses"] == 0 and second["hits"] > 0, (first, second)
