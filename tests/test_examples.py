"""The README's training examples run as they are (2 epochs): each fails on its own where gpumetrics and the
reference (torchmetrics and torch's loss; Keras's own metrics) disagree."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("script,backend,needs", [
    ("torch_training_loop.py", None, ("torch", "torchmetrics", "sklearn")),
    ("keras_fit.py", "jax", ("keras", "jax", "sklearn")),
])
def test_example_runs_and_agrees(script, backend, needs):
    missing = [module for module in needs if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"needs {missing}")
    env = {**os.environ, **({"KERAS_BACKEND": backend} if backend else {})}
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--epochs", "2"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert len(done.stdout.strip().splitlines()) == 4  # two header lines, one row per epoch
