"""The CUDA kernels compile for a real GPU (sm_90, an H100) wherever NVVM is installed, GPU or not: the simulator
runs kernels as Python and cannot catch what only Numba's CUDA compiler refuses. Where the toolkit's ``ptxas`` is
installed too, each kernel's registers per thread are held under a ceiling: they set how many blocks an SM keeps
resident, and a memory-bound pass lives on that (one rule, a loop counting a collection's extra thresholds, took
AUC's kernel from 48 to 91 registers, half its resident blocks, with nothing else to show it without a GPU)."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("ptx_compile.py")
#: most registers per thread for each kernel family (the name up to its dtypes): at 256 threads a block, 64 keep
#: 4 blocks an SM resident, 48 keep 5, 80 keep 3. Set at the smallest step above what sm_90 needs now with numba's
#: and numba-cuda's code generators alike; a kernel that needs more loses resident blocks, so raise one only with
#: a GPU measurement that says the pass did not get slower.
REGISTER_CEILINGS = {
    "error_sums": 64, "error_sums/grouped": 48,
    "threshold_histogram": 64, "threshold_histogram/grouped": 48,
    "weighted_bincount": 64,
    "moments": 80, "moments/merge": 64, "moments/grouped": 64,
    "row_sums": 96, "row_sums/grouped": 64,
}


def nvvm_available():
    probe = "from numba.cuda.cudadrv import nvvm; nvvm.NVVM()"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env, timeout=120).returncode == 0


def find_ptxas():
    """The CUDA toolkit's PTX assembler: on PATH, under $CUDA_HOME, or the default toolkit folder; None if absent."""
    for candidate in (shutil.which("ptxas"), os.path.join(os.environ.get("CUDA_HOME", "/nonexistent"), "bin", "ptxas"),
                      "/usr/local/cuda/bin/ptxas"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def compiled():
    """``(ptxas or None, the script's lines)``: every kernel variant compiled to sm_90 PTX (and assembled)."""
    if not nvvm_available():
        pytest.skip("no NVVM (CUDA toolkit) to compile PTX with")
    ptxas = find_ptxas()
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    done = subprocess.run([sys.executable, str(SCRIPT), "9.0", *(["--ptxas", ptxas] if ptxas else [])],
                          capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return ptxas, done.stdout.splitlines()


def test_every_kernel_variant_compiles_to_ptx_for_sm90(compiled):
    _, lines = compiled
    assert lines and all(line.startswith("ok ") for line in lines), "\n".join(l for l in lines if not l.startswith("ok"))


def ceiling(name):
    """The ceiling of the longest family in ``REGISTER_CEILINGS`` that ``name`` starts with."""
    families = [family for family in REGISTER_CEILINGS if name == family or name.startswith(family + "/")]
    assert families, f"{name}: no register ceiling (add its family to REGISTER_CEILINGS)"
    return REGISTER_CEILINGS[max(families, key=len)]


def test_ceiling_picks_the_longest_family():
    assert ceiling("threshold_histogram/int32/float32/float32") == 64
    assert ceiling("threshold_histogram/grouped/int32/float32") == 48
    with pytest.raises(AssertionError, match="no register ceiling"):
        ceiling("new_kernel/float32")


def test_registers_per_thread_stay_under_each_kernels_ceiling(compiled):
    """Under its ceiling, and nothing spilled to local memory unless the kernel has a register cap (chosen, with its
    spills, by a GPU measurement)."""
    ptxas, lines = compiled
    if ptxas is None:
        pytest.skip("no ptxas (CUDA toolkit) to assemble PTX with")
    usage = [re.fullmatch(r"ok (\S+) registers=(\d+) spills=(\d+) cap=(\w+)", line) for line in lines]
    assert all(usage), [line for line, match in zip(lines, usage) if not match]
    over = [f"{m[1]}: {m[2]} registers (ceiling {ceiling(m[1])}), {m[3]} bytes spilled (cap {m[4]})" for m in usage
            if int(m[2]) > ceiling(m[1]) or (int(m[3]) and m[4] == "None")]
    assert not over, "\n".join(over)
