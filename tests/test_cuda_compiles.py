"""The CUDA kernels compile for a real GPU (sm_90, an H100) wherever NVVM is installed, GPU or not: the simulator
runs kernels as Python and cannot catch what only Numba's CUDA compiler refuses."""
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("ptx_compile.py")


def nvvm_available():
    probe = "from numba.cuda.cudadrv import nvvm; nvvm.NVVM()"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env, timeout=120).returncode == 0


def test_every_error_and_row_kind_compiles_to_ptx_for_sm90():
    if not nvvm_available():
        pytest.skip("no NVVM (CUDA toolkit) to compile PTX with")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    done = subprocess.run([sys.executable, str(SCRIPT), "9.0"], capture_output=True, text=True, env=env, timeout=900)
    lines = done.stdout.splitlines()
    assert done.returncode == 0, done.stderr[-2000:]
    assert lines and all(line.startswith("ok ") for line in lines), "\n".join(l for l in lines if not l.startswith("ok"))
