"""The parallel CPU builds from several Python threads at once: Numba's workqueue threading layer, which
Numba falls back to where neither TBB nor OpenMP is installed, aborts the process when two threads launch
together ("Concurrent access has been detected", exit 134); its calls are now taken one at a time."""
import os
import subprocess
import sys
import textwrap

import pytest

THREADS = textwrap.dedent("""
    from concurrent.futures import ThreadPoolExecutor
    import numba
    import numpy as np
    import gpumetrics

    x = np.random.default_rng(0).random((200_000, 1))  # past PARALLEL_CUTOVER: the parallel build

    def mse(_):
        metric = gpumetrics.MeanSquaredError(dtype="float64", device="cpu")
        metric.update_state(x, x * 0.5)
        return float(metric.result())

    with ThreadPoolExecutor(4) as pool:
        values = set(pool.map(mse, range(24)))
    assert len(values) == 1 and abs(values.pop() - np.mean((x * 0.5) ** 2)) < 1e-12, values
    print(numba.threading_layer())
""")


@pytest.mark.parametrize("layer", ["workqueue", "default"])
def test_parallel_builds_from_several_threads_give_one_value_and_never_abort(layer):
    env = {**os.environ, "NUMBA_THREADING_LAYER": layer}
    done = subprocess.run([sys.executable, "-c", THREADS], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    if layer == "workqueue":
        assert done.stdout.split()[-1] == "workqueue"
