"""Cold start: a fresh process to its first metric result, with an empty and with a warm kernel cache.

Each measurement is a new Python process (``sys.executable``) with
``GPUMETRICS_CACHE_DIR`` set to a temporary directory:

* ``empty``: the directory is new, so every kernel the metric touches compiles;
* ``warm``: the same directory, second process: the kernels load from the cache.

The child reads ``CLOCK_MONOTONIC`` (system-wide on Linux, so the parent's
spawn time and the child's stamps share one clock) and reports

* ``startup``: spawn to the first line of the child script (interpreter start),
* ``import``: ``import gpumetrics``,
* ``first``: the first ``update_state`` + ``float(result())`` on 1e6 samples
  (inputs are made after the import and before this clock starts: not counted),
* ``total``: ``startup + import + first``, i.e. process start to first result.

Cases: ``AUC()`` (200 thresholds; int32 0/1 labels, float32 scores) and
``MeanSquaredError`` (float32 ``(N,)`` both), and the two grouped
(``num_groups=1000``, int64 ids; MSE on ``(N, 1)``, then ``grouped_mean()``),
each in its own cache directory, on ``device="cpu"``. Then ``python -m gpumetrics warmup --device cpu`` into an
empty directory (and once more into the now warm one). The load average
(1 min) is read before each process: on a shared machine it says how much
the numbers are worth.

    python bench/cold_start.py [--repeats 3] [--n 1000000]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import time
t_script = time.clock_gettime(time.CLOCK_MONOTONIC)
import gpumetrics
t_import = time.clock_gettime(time.CLOCK_MONOTONIC)
import json, sys
import numpy as np
case, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
grouped = {"group_ids": rng.integers(0, 1000, n)} if case.startswith("g") else {}
options = {"num_groups": 1000} if grouped else {}
if case.endswith("auc"):
    y_true = rng.integers(0, 2, n, dtype=np.int32)
    y_pred = (0.7 * rng.random(n, dtype=np.float32) + 0.3 * y_true).astype(np.float32)
    metric = gpumetrics.AUC(device="cpu", **options)
else:
    y_true = rng.normal(size=(n, 1) if grouped else n).astype(np.float32)
    y_pred = (y_true + rng.normal(scale=0.1, size=y_true.shape)).astype(np.float32)
    metric = gpumetrics.MeanSquaredError(device="cpu", **options)
t_first = time.clock_gettime(time.CLOCK_MONOTONIC)
metric.update_state(y_true, y_pred, **grouped)
value = float(metric.grouped_mean() if grouped else metric.result())
t_done = time.clock_gettime(time.CLOCK_MONOTONIC)
print(json.dumps({"t_script": t_script, "import": t_import - t_script, "first": t_done - t_first, "value": value}))
"""

CASES = {"auc": "AUC()", "mse": "MeanSquaredError", "gauc": "AUC(num_groups=1000)",
         "gmse": "MeanSquaredError(num_groups=1000)"}


def child_env(cache):
    env = dict(os.environ, GPUMETRICS_CACHE_DIR=cache)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the source tree, as the bench uses it
    env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
    return env


def first_result(case, n, cache):
    """One fresh process: its startup, import and first-result seconds, and the 1-min load average before it."""
    load = os.getloadavg()[0]
    spawn = time.clock_gettime(time.CLOCK_MONOTONIC)
    out = subprocess.run([sys.executable, "-c", CHILD, case, str(n)], env=child_env(cache),
                         capture_output=True, text=True, check=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    startup = row["t_script"] - spawn
    return {"startup": startup, "import": row["import"], "first": row["first"],
            "total": startup + row["import"] + row["first"], "load": load}


def warmup_run(cache):
    """Wall seconds of ``python -m gpumetrics warmup --device cpu`` (a fresh process) and the load average before."""
    load = os.getloadavg()[0]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gpumetrics", "warmup", "--device", "cpu"], env=child_env(cache),
                   capture_output=True, text=True, check=True)
    return {"total": time.perf_counter() - start, "load": load}


def summary(rows, key):
    values = [r[key] for r in rows]
    return statistics.median(values), min(values), max(values)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="fresh cache directories per case (default 3)")
    parser.add_argument("--n", type=float, default=1e6, help="samples in the first update (default 1e6)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the python -m gpumetrics warmup timing")
    args = parser.parse_args(argv)
    n = int(args.n)
    results = {}
    for repeat in range(args.repeats):
        for case in CASES:
            with tempfile.TemporaryDirectory(prefix="gpumetrics-cold-") as cache:
                results.setdefault((case, "empty"), []).append(first_result(case, n, cache))
                results.setdefault((case, "warm"), []).append(first_result(case, n, cache))
        if not args.no_warmup:
            with tempfile.TemporaryDirectory(prefix="gpumetrics-warmup-") as cache:
                results.setdefault(("warmup", "empty"), []).append(warmup_run(cache))
                results.setdefault(("warmup", "warm"), []).append(warmup_run(cache))
        print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    print(f"cold start, N = {n:,}, device='cpu', {os.cpu_count()} cores, {args.repeats} repeats: "
          f"median (min-max) seconds; load = 1-min load average before each process")
    header = f"{'case':<34} {'cache':<6} {'startup':>7} {'import':>14} {'first result':>20} {'total':>20} {'load':>11}"
    print(header)
    print("-" * len(header))
    for (case, cache), rows in results.items():
        name = CASES.get(case, "python -m gpumetrics warmup --device cpu")
        lo_load, hi_load = min(r["load"] for r in rows), max(r["load"] for r in rows)
        med, lo, hi = summary(rows, "total")
        total = f"{med:6.2f} ({lo:.2f}-{hi:.2f})"
        if case == "warmup":
            print(f"{name:<34} {cache:<6} {'':>7} {'':>14} {'':>20} {total:>20} {lo_load:5.1f}-{hi_load:<5.1f}")
            continue
        startup = f"{summary(rows, 'startup')[0]:7.3f}"
        imp = "{:6.2f} ({:.2f}-{:.2f})".format(*summary(rows, "import"))
        first = "{:6.2f} ({:.2f}-{:.2f})".format(*summary(rows, "first"))
        print(f"{name:<34} {cache:<6} {startup} {imp:>14} {first:>20} {total:>20} {lo_load:5.1f}-{hi_load:<5.1f}")


if __name__ == "__main__":
    main()
