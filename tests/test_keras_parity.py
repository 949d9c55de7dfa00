"""The real Keras (NumPy backend) and gpumetrics on the same random inputs, several weighted updates."""
import numpy as np
import pytest

from cases import LAYOUTS
from conftest import on_device, to_host

import gpumetrics

keras = pytest.importorskip("keras", reason="Keras parity needs keras (and jax, which its NumPy backend imports)")

PAIRS = ["MeanSquaredError", "MeanAbsoluteError", "RootMeanSquaredError"]
VALUES = ["Mean", "Sum"]


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("name", PAIRS + VALUES)
def test_same_numbers_as_keras(name, layout, weighted, device, rng):
    ours, theirs = getattr(gpumetrics, name)(device=device), getattr(keras.metrics, name)()
    shape, weight_shape = LAYOUTS[layout]
    for _ in range(3):
        y_true, y_pred = rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)
        w = rng.uniform(0, 2, size=weight_shape).astype(np.float32) if weighted else None
        args = (y_pred,) if name in VALUES else (y_true, y_pred)
        theirs.update_state(*args, sample_weight=w)
        ours.update_state(*(on_device(a, device) for a in args), sample_weight=None if w is None else on_device(w, device))
        np.testing.assert_allclose(float(to_host(ours.result())), float(theirs.result()), rtol=2e-5)


@pytest.mark.parametrize("name", PAIRS)
def test_one_dimensional_inputs_are_one_sample_as_in_keras(name, device):
    y_true, y_pred = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 4.0])
    ours, theirs = getattr(gpumetrics, name)(device=device), getattr(keras.metrics, name)()
    ours.update_state(y_true, y_pred, sample_weight=2.0)
    theirs.update_state(y_true, y_pred, sample_weight=2.0)
    np.testing.assert_allclose(float(to_host(ours.result())), float(theirs.result()), rtol=1e-6)


def test_keras_also_refuses_per_element_weights_on_one_sample():
    with pytest.raises(Exception):
        keras.metrics.MeanSquaredError().update_state(np.ones(3), np.ones(3), sample_weight=np.ones(3))
