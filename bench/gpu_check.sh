#!/usr/bin/env bash
# The prepared GPU check (issue 10, item 5): one command on a lent GPU machine, from the repository root:
#
#     bash bench/gpu_check.sh "$OUT"          # default output folder: bench/results/
#
# Steps, each under its own `timeout` and inside one overall budget (GPU_CHECK_BUDGET_S, default 380 s), each
# failure recorded without stopping the later steps:
#   1 env      GPU, driver, Python and package versions, numba.cuda / CuPy / torch / JAX see the GPU   -> env.txt
#   2 install  pip install --no-deps --no-build-isolation --no-index -e . ; import check from /tmp   -> setup.log
#   3 warmup   `python3 -m gpumetrics warmup AUC MeanSquaredError --device cuda`, then the cache check -> setup.log
#   4 suite    the whole suite (pytest.ini's testpaths) on the real cuda backend, -n <cores>        -> suite.log
#   5 gpu.py   bench/gpu.py --sizes 4096 1e6 1e7 1e8                  -> gpu_py.log, <gpu name slug>.json
#              then bench/histogram_probe.py: a 200-threshold histogram stage by stage vs the AUC launcher -> gpu_py.log
#   6 profile  bench/launch_profile.py: host us per update (replayed, in full) vs bare-launch floors, cProfile
#              -> launch_profile.txt; then ncu's counters of the AUC and MSE kernels at 1e8 (bench/ncu_kernels.py),
#              appended to it
#   7 interop  bench/gpu_interop_check.py: torch, JAX, CuPy, Numba inputs on the GPU               -> interop.txt
#   8 summary  one screen, printed last                                                        -> summary.txt
# At most 8 files, all directly in the output folder (the fetch tool takes 8, no deeper folders).
#
# Without a GPU every GPU step says "skipped: ..."; GPU_CHECK_SMOKE=1 then runs gpu.py and the launch profile in
# Numba's CUDA simulator (--smoke) to check the plumbing (never the suite). Other knobs: PYTHON (default python3),
# GPU_CHECK_SKIP_INSTALL=1, GPU_CHECK_WORKERS (default: all cores), GPU_CHECK_REPEATS (gpu.py, default 10),
# GPU_CHECK_PYTEST_ARGS (extra pytest arguments, e.g. one test file), GPU_CHECK_SIZES (gpu.py's --sizes), GPU_CHECK_ASSUME_GPU=1 (run the GPU steps
# without a GPU: only to test this script's plumbing, with GPU_CHECK_PYTEST_ARGS naming a small file).
set -u

OUT_ARG=${1:-bench/results}
mkdir -p "$OUT_ARG" || { echo "gpu_check: cannot create $OUT_ARG" >&2; exit 2; }
OUT=$(cd "$OUT_ARG" && pwd)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO" || exit 2
PY=${PYTHON:-python3}
export PY  # read by the step functions, which run in a child bash
BUDGET=${GPU_CHECK_BUDGET_S:-380}
WORKERS=${GPU_CHECK_WORKERS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}  # nproc obeys OMP_NUM_THREADS
REPEATS=${GPU_CHECK_REPEATS:-10}
START=$(date +%s)
STEPS=$(mktemp -d)  # step records, outside the output folder (its file count is limited)
trap 'rm -rf "$STEPS"' EXIT

# Many processes on one GPU: JAX must not grab 75% of its memory in every pytest worker; BLAS/OpenMP pools
# of 16 workers x 16 threads would only fight over the cores.
export XLA_PYTHON_CLIENT_PREALLOCATE=false TF_CPP_MIN_LOG_LEVEL=2
# The machine runs everything as root; Open MPI's mpirun (the MPI sync tests) refuses root unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-1}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} PYTHONUNBUFFERED=1

elapsed() { echo $(( $(date +%s) - START )); }

note() {  # a progress line for the console (the caller sees the tail of the output: keep it short)
    printf '[%4ss] %s\n' "$(elapsed)" "$*"
}

record() {  # name status seconds detail
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$STEPS/steps.tsv"
    note "$1: $2 (${3} s) $4"
}

# run_step NAME CAP RESERVE LOG CMD...: run CMD with output appended to LOG, under `timeout` of
# min(CAP, what the budget leaves after RESERVE seconds kept for the later steps); SIGINT first (pytest then
# prints its summary), SIGKILL $KILL_AFTER (default 10) s later.
run_step() {
    local name=$1 cap=$2 reserve=$3 log=$4 kill_after=${KILL_AFTER:-10}
    shift 4
    local left=$(( BUDGET - $(elapsed) - reserve - kill_after ))
    local limit=$(( cap < left ? cap : left ))
    if (( limit < 10 )); then
        echo "== $name: skipped: out of time budget (${BUDGET} s)" >> "$log"
        record "$name" "skipped" 0 "out of time budget"
        return 0
    fi
    echo "== $name (limit ${limit} s): $*" >> "$log"
    if declare -F "$1" > /dev/null; then  # a shell function: `timeout` runs programs, so a child bash runs it
        export -f "$1"
        set -- bash -c "$1"
    fi
    local t0=$(date +%s) rc
    timeout -s INT -k "$kill_after" "$limit" "$@" >> "$log" 2>&1
    rc=$?
    local secs=$(( $(date +%s) - t0 ))
    case $rc in
        0) record "$name" "ok" "$secs" "" ;;
        124|137) record "$name" "TIMEOUT rc=$rc" "$secs" "interrupted at ${limit} s" ;;
        *) record "$name" "FAILED rc=$rc" "$secs" "see $(basename "$log")" ;;
    esac
    echo "== $name: exit $rc after ${secs} s" >> "$log"
    return 0
}

skip_step() {  # name reason
    record "$1" "skipped" 0 "$2"
}

note "gpu_check: repo $REPO, output $OUT, python $PY, budget ${BUDGET} s"

# 0. Is there a GPU? (CuPy sees a device; the simulator is never what the suite runs on here.)
unset NUMBA_ENABLE_CUDASIM
GPU_REASON=$(timeout 60 "$PY" - <<'PY' 2>&1 | tail -1
try:
    import cupy
    n = cupy.cuda.runtime.getDeviceCount()
    print("yes" if n > 0 else "no: CuPy sees no CUDA device")
except Exception as error:
    print(f"no: {type(error).__name__}: {error}".replace("\n", " ")[:200])
PY
)
export GPU_REASON STEPS WORKERS
if [[ $GPU_REASON == yes || -n ${GPU_CHECK_ASSUME_GPU:-} ]]; then  # ASSUME: tests the plumbing of the GPU steps
    HAVE_GPU=1
else
    HAVE_GPU=0
    [[ -n $GPU_REASON ]] || GPU_REASON="no: the CuPy probe printed nothing (hung or crashed)"
    note "no GPU (${GPU_REASON#no: }): GPU steps will say skipped${GPU_CHECK_SMOKE:+ (simulator smoke runs instead)}"
fi

# 1. Environment.
env_report() {
    echo "date: $(date -u +%FT%TZ)   host: $(hostname)   $(uname -srm)"
    echo "cores: $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc), pytest workers: $WORKERS   memory: $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')"
    echo "gpu probe: $GPU_REASON"
    echo
    if command -v nvidia-smi > /dev/null; then
        timeout 20 nvidia-smi --query-gpu=index,name,memory.total,memory.used,driver_version,compute_cap,clocks.max.sm \
            --format=csv 2>&1
        timeout 20 nvidia-smi 2>&1 | head -12
    else
        echo "nvidia-smi: not found"
    fi
    echo
    "$PY" - <<'PY'
import importlib.metadata as md
import os
import platform
import sys

print(f"python {platform.python_version()} at {sys.executable}")
print(f"os.cpu_count() = {os.cpu_count()}, usable cores = {len(os.sched_getaffinity(0))}")
print("env:", {k: v for k, v in os.environ.items()
               if k.startswith(("NUMBA_", "CUDA_", "CUPY_", "XLA_", "JAX_", "GPUMETRICS_", "OMP_", "PYTHONPATH"))})
names = ["gpumetrics", "numpy", "numba", "numba-cuda", "cupy-cuda13x", "cupy-cuda12x", "cuda-bindings", "cuda-python",
         "cuda-core", "torch", "jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin", "pytest", "pytest-xdist",
         "pytest-timeout", "hypothesis", "mpi4py", "scikit-learn", "torchmetrics", "keras", "dask", "setuptools", "pip",
         "ml_dtypes"]
for name in names:
    try:
        print(f"  {name:<20} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name:<20} -")
nvidia = sorted(f"{d.metadata['Name']}=={d.version}" for d in md.distributions()
                if (d.metadata["Name"] or "").lower().startswith(("nvidia-", "cuda-")))
print("  nvidia/cuda wheels:", ", ".join(nvidia) or "-")


def check(label, fn):
    try:
        print(f"{label}: {fn()}")
    except BaseException as error:  # noqa: BLE001  (report anything, go on)
        print(f"{label}: FAILED {type(error).__name__}: {' '.join(str(error).split())[:300]}")


def numba_cuda():
    from numba import cuda
    return cuda.is_available()


def numba_launch():
    import numpy as np
    from numba import cuda

    @cuda.jit
    def add_one(x):
        i = cuda.grid(1)
        if i < x.size:
            x[i] += 1

    x = cuda.to_device(np.zeros(64, np.float32))
    add_one[1, 64](x)
    return "ok" if float(x.copy_to_host().sum()) == 64.0 else "WRONG RESULT"


def nvvm():
    from numba.cuda.cudadrv import nvvm
    return nvvm.NVVM().get_version()


def cupy_device():
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(0)
    return (f"{cupy.cuda.runtime.getDeviceCount()} device(s), {props['name'].decode()}, sm_{props['major']}{props['minor']}, "
            f"runtime {cupy.cuda.runtime.runtimeGetVersion()}, driver {cupy.cuda.runtime.driverGetVersion()}")


def torch_cuda():
    import torch
    return f"{torch.cuda.is_available()} (torch CUDA {torch.version.cuda})"


def jax_devices():
    import jax
    return jax.devices()


check("numba.cuda.is_available()", numba_cuda)
check("numba NVVM version", nvvm)
check("numba @cuda.jit compile + launch", numba_launch)
check("cupy", cupy_device)
check("torch.cuda.is_available()", torch_cuda)
check("jax.devices()", jax_devices)
PY
}
run_step env 60 200 "$OUT/env.txt" env_report

# 2. Install (offline: pyproject.toml declares setuptools, --no-build-isolation uses the installed one).
install() {
    local args=(-m pip install --no-deps --no-build-isolation --no-index -e .)
    "$PY" "${args[@]}" > "$STEPS/pip.log" 2>&1
    local rc=$?
    cat "$STEPS/pip.log"
    if (( rc != 0 )) && grep -q externally-managed "$STEPS/pip.log"; then
        echo "-- retrying with --break-system-packages (PEP 668 interpreter)"
        "$PY" "${args[@]}" --break-system-packages
        rc=$?
    fi
    return $rc
}
import_check() {  # from outside the repository, so that only the installed package can answer
    cd /tmp && env -u PYTHONPATH "$PY" -c \
        "import gpumetrics, gpumetrics._kernels as k; print('import ok:', gpumetrics.__file__, k.__file__)"
}
if [[ -n ${GPU_CHECK_SKIP_INSTALL:-} ]]; then
    skip_step install "GPU_CHECK_SKIP_INSTALL is set"
else
    run_step install 90 180 "$OUT/setup.log" install
    run_step import-check 30 170 "$OUT/setup.log" import_check
    if ! grep -q "^import ok:" "$OUT/setup.log"; then
        # Fallback: the source tree itself, with the package_dir mapping (kernels/ -> gpumetrics/_kernels) as a link.
        [[ -e gpumetrics/_kernels ]] || ln -s ../kernels gpumetrics/_kernels
        export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
        echo "== install fallback: PYTHONPATH=$REPO, gpumetrics/_kernels -> ../kernels" >> "$OUT/setup.log"
        record install-fallback "used" 0 "PYTHONPATH=$REPO (not installed)"
    fi
fi

# 3. Kernel-cache warm-up, where the subcommand exists (python -m gpumetrics without it runs a demo instead).
if (( ! HAVE_GPU )); then
    skip_step warmup "no GPU"
elif grep -qs warmup gpumetrics/__main__.py \
        && timeout 30 "$PY" -m gpumetrics --help 2>&1 | grep -q warmup; then
    run_step warmup 90 250 "$OUT/setup.log" "$PY" -m gpumetrics warmup AUC MeanSquaredError --device cuda
    # A fresh process after the warm-up must load the CUDA kernels from the disk cache, compiling none.
    run_step cuda-cache 30 250 "$OUT/setup.log" "$PY" bench/cuda_cache_check.py
else
    skip_step warmup "no 'python3 -m gpumetrics warmup' subcommand"
fi

# 4. The whole suite on the real cuda backend (tests/conftest.py picks the GPU when CuPy sees one).
suite() {
    local extra=()
    if "$PY" -c "import pytest_timeout" 2> /dev/null; then
        extra+=(--timeout 120)
    else
        echo "(pytest-timeout not installed: no per-test timeout)"
    fi
    # GPU_CHECK_PYTEST_ARGS (unquoted on purpose: several words) narrows the run, e.g. to one file.
    # shellcheck disable=SC2086
    "$PY" -m pytest -n "$WORKERS" -p no:cacheprovider "${extra[@]}" -q -rfE --durations=20 ${GPU_CHECK_PYTEST_ARGS:-}
}
if (( HAVE_GPU )); then
    # xdist needs ~10-15 s after SIGINT to stop its workers and print the summary: hence KILL_AFTER=20.
    KILL_AFTER=20 run_step suite 200 150 "$OUT/suite.log" suite
else
    skip_step suite "no GPU (${GPU_REASON#no: }); the suite is not run in the simulator here"
fi

# 5. bench/gpu.py: writes <out>/<slug of the GPU name>.json (e.g. nvidia-h100-80gb-hbm3.json) and prints a table.
if (( HAVE_GPU )); then
    run_step gpu.py 100 60 "$OUT/gpu_py.log" \
        "$PY" bench/gpu.py --sizes ${GPU_CHECK_SIZES:-4096 1e6 1e7 1e8} --repeats "$REPEATS" --out "$OUT"
elif [[ -n ${GPU_CHECK_SMOKE:-} ]]; then
    run_step gpu.py-smoke 100 35 "$OUT/gpu_py.log" env NUMBA_ENABLE_CUDASIM=1 "$PY" bench/gpu.py --sizes 1000 --smoke
else
    skip_step gpu.py "no GPU"
fi

# 5b. What a 200-threshold histogram reaches stage by stage at 1e8, next to the AUC launcher (bench/histogram_probe.py).
if (( HAVE_GPU )); then
    run_step histogram-probe 60 60 "$OUT/gpu_py.log" "$PY" bench/histogram_probe.py --n 1e8
elif [[ -n ${GPU_CHECK_SMOKE:-} ]]; then
    run_step histogram-probe-smoke 30 30 "$OUT/gpu_py.log" env NUMBA_ENABLE_CUDASIM=1 "$PY" bench/histogram_probe.py --smoke
else
    skip_step histogram-probe "no GPU"
fi

# 6. Host time per update vs bare launch floors, and a cProfile of AUC updates.
if (( HAVE_GPU )); then
    run_step profile 45 20 "$OUT/launch_profile.txt" "$PY" bench/launch_profile.py --n 4096 --iters 1000
elif [[ -n ${GPU_CHECK_SMOKE:-} ]]; then
    run_step profile-smoke 60 0 "$OUT/launch_profile.txt" env NUMBA_ENABLE_CUDASIM=1 "$PY" bench/launch_profile.py --smoke
else
    skip_step profile "no GPU"
fi

# 6b. Hardware counters of the AUC and MSE kernels at N = 1e8 (Nsight Compute, where the machine lets it read them;
# the clocks left alone), appended to launch_profile.txt: what holds the kernels below copy bandwidth.
ncu_profile() {
    local ncu
    ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2> /dev/null | tail -1)
    if [[ -z $ncu ]]; then
        echo "ncu: not found"
        return 3
    fi
    "$ncu" --clock-control none -k 'regex:threshold_histogram|error_sums' -c 2 --section SpeedOfLight \
        --section LaunchStats --section Occupancy --section WarpStateStats "$PY" bench/ncu_kernels.py --n 1e8
}
if (( HAVE_GPU )); then
    run_step ncu 75 20 "$OUT/launch_profile.txt" ncu_profile
else
    skip_step ncu "no GPU"
fi

# 7. Inputs from every framework on the GPU: torch (requires_grad, side streams, bf16), JAX, CuPy, Numba.
if (( HAVE_GPU )); then
    run_step interop 20 0 "$OUT/interop.txt" "$PY" bench/gpu_interop_check.py
else
    skip_step interop "no GPU"
fi

# 8. One screen, printed last.
GPU_CHECK_START=$START GPU_CHECK_TOTAL_S=$(elapsed) GPU_CHECK_BUDGET=$BUDGET GPU_CHECK_STEPS="$STEPS/steps.tsv" GPU_CHECK_GPU="$GPU_REASON" \
    timeout 30 "$PY" - "$OUT" > "$OUT/summary.txt" 2>&1 <<'PY'
import glob
import json
import os
import re
import sys

out = sys.argv[1]


def read(name):
    try:
        with open(os.path.join(out, name), encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return None


env = read("env.txt") or ""
gpu_line = next((line for line in env.splitlines() if line.startswith("cupy:")), "cupy: ?")
driver = next((line for line in env.splitlines() if "driver_version" not in line and ", " in line
               and line[:1].isdigit()), "")
print(f"gpu_check summary: {os.environ['GPU_CHECK_TOTAL_S']} s of a {os.environ['GPU_CHECK_BUDGET']} s budget")
print(f"  {gpu_line}")
if driver:
    print(f"  nvidia-smi: {driver}")
for name in ("numba.cuda.is_available()", "numba @cuda.jit compile + launch", "numba-cuda ", "cupy-cuda13x ",
             "torch ", "jax "):
    line = next((line.strip() for line in env.splitlines() if line.strip().startswith(name)), None)
    if line:
        print(f"  {line}")

print("\nsteps:")
try:
    with open(os.environ["GPU_CHECK_STEPS"], encoding="utf-8") as file:
        for row in file:
            name, status, secs, detail = (row.rstrip("\n").split("\t") + ["", "", ""])[:4]
            print(f"  {name:<15} {status:<16} {secs:>4} s  {detail}")
except OSError:
    print("  (no step records)")

suite = read("suite.log")
print("\nsuite (suite.log):")
if suite is None:
    print("  not run")
else:
    counts = [line for line in suite.splitlines()
              if re.search(r"\b(passed|failed|errors?|skipped|no tests ran)\b", line) and re.search(r" in [\d.]+s", line)]
    print(f"  {counts[-1].strip('= ') if counts else 'no final count line (killed? see the tail of suite.log)'}")
    bad = [line for line in suite.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    for line in bad[:20]:
        print(f"  {line[:160]}")
    if len(bad) > 20:
        print(f"  ... and {len(bad) - 20} more (suite.log)")
    if "KeyboardInterrupt" in suite:
        progress = "".join(line.split("[")[0].strip() for line in suite.splitlines()
                           if re.fullmatch(r"[.FEsxX]+(\s+\[\s*\d+%\])?", line.strip()))
        seen = ", ".join(f"{progress.count(c)} {word}" for c, word in
                         ((".", "passed"), ("F", "failed"), ("E", "errors"), ("s", "skipped"), ("x", "xfailed"))
                         if progress.count(c))
        print(f"  INTERRUPTED by the step's timeout; progress marks before that: {seen or 'none'}")
    if "+++ Timeout" in suite:
        print(f"  {suite.count('+++ Timeout')} test(s) hit pytest-timeout (stacks in suite.log, '+++ Timeout')")

print("\nbench/gpu.py:")
start = float(os.environ.get("GPU_CHECK_START", 0))
reports = [path for path in glob.glob(os.path.join(out, "*.json")) if os.path.getmtime(path) >= start]  # this run's
if reports:
    path = max(reports, key=os.path.getmtime)
    with open(path, encoding="utf-8") as file:
        report = json.load(file)
    print(f"  {os.path.basename(path)}: {report['device']}, copy {report['copy_gb_per_s']:.0f} GB/s (read + write), "
          f"{report['repeats']} repeats")
    rows = {}
    for r in report["records"]:
        rows.setdefault((r["metric"], r["n"], r["weighted"]), {})[r["peer"]] = r
    print(f"  {'metric':<6} {'N':>10} {'w':>1} {'update ms':>10} {'+result ms':>10} {'GB/s':>7} {'of copy':>7}"
          f" {'torchm x':>8} {'by hand x':>9}")
    for (metric, n, weighted), peers in rows.items():
        mine = peers.get("gpumetrics")
        if mine is None:
            continue
        ratio = {}
        for label, other in (("torchmetrics", peers.get("torchmetrics")),
                             ("hand", next((p for k, p in peers.items() if k.endswith("by hand")), None))):
            ratio[label] = "-" if other is None else f"{other['update_result_ms'] / mine['update_result_ms']:.1f}"
        update = "-" if mine["update_ms"] is None else f"{mine['update_ms']:.4f}"
        print(f"  {metric:<6} {n:>10} {'w' if weighted else '':>1} {update:>10} {mine['update_result_ms']:>10.4f} "
              f"{mine['gb_per_s']:>7.1f} {mine['fraction_of_copy']:>7.1%} {ratio['torchmetrics']:>8} {ratio['hand']:>9}")
    print("  (x = peer time / gpumetrics time, update + result; >1: gpumetrics faster)")
else:
    log = read("gpu_py.log")
    print("  no JSON report" + ("" if log is None else "; tail of gpu_py.log:"))
    for line in (log or "").splitlines()[-12:]:
        print(f"  | {line[:150]}")

probe = [line for line in (read("gpu_py.log") or "").splitlines()
         if line.startswith(("histogram", "read ", "bucket ", "AUC launcher", "== histogram-probe"))]
print("\nhistogram probe (gpu_py.log):")
for line in probe or ["  not run"]:
    print(f"  {line[:150]}")

print("\nlaunch profile (launch_profile.txt):")
profile = read("launch_profile.txt")
if profile is None:
    print("  not run")
else:
    lines = profile.splitlines()
    keep = [line for line in lines if line.startswith(("launch profile", "gpumetrics ", "numba @", "cupy Raw", "  gpumetrics",
                                                         "host us per", "floor FAILED", "case ", "Traceback"))
            or re.match(r"\w+Error", line)]
    for line in keep or lines[-12:]:
        print(f"  {line[:150]}")
    counters = profile.split("== ncu", 1)[1].splitlines() if "== ncu" in profile else []
    wanted = ("Duration", "Memory Throughput", "DRAM Throughput", "Compute (SM) Throughput", "Registers Per Thread",
              "Theoretical Occupancy", "Achieved Occupancy", "Warp Cycles Per Issued Instruction", "ncu:", "==PROF==",
              "== ncu: exit")
    print("  ncu:" if counters else "  ncu: not run")
    for line in counters:
        if re.search(r"threshold_histogram|error_sums", line) and "(" in line or line.strip().startswith(wanted):
            print(f"    {' '.join(line.split())[:140]}")

print("\nfiles in the output folder:")
for path in sorted(glob.glob(os.path.join(out, "*"))):
    print(f"  {os.path.basename(path):<32} {os.path.getsize(path):>10,} bytes")
PY
[[ -s $OUT/summary.txt ]] || echo "summary failed to write" > "$OUT/summary.txt"
echo
cat "$OUT/summary.txt"
