"""``Metric.asarray``: a subclass's ``update_state`` reads any input (torch tensors that require grad, JAX arrays,
lists) as an array of the metric's device, and gets a clear error for inputs without values."""
import numpy as np
import pytest

import gpumetrics


class WeightedHits(gpumetrics.Metric):
    """Sum of weights where label and prediction are both non-zero, as the Keras guide's subclass example."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hits = self.add_variable(shape=(), name="hits")

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = (self.asarray(y_true, "y_true") != 0) & (self.asarray(y_pred, "y_pred") > 0.5)
        if sample_weight is not None:
            values = values * self.asarray(sample_weight, "sample_weight")
        self.hits.assign_add(values.sum())

    def result(self):
        return self.hits.value.astype(self.dtype)


Y_TRUE = [1, 0, 1, 1]
Y_PRED = [0.9, 0.8, 0.2, 0.7]
WEIGHT = [1.0, 2.0, 3.0, 4.0]


def test_reads_torch_tensors_that_require_grad():
    torch = pytest.importorskip("torch")
    metric = WeightedHits(device="cpu")
    y_pred = torch.tensor(Y_PRED, requires_grad=True)
    metric.update_state(torch.tensor(Y_TRUE), y_pred * 1.0, torch.tensor(WEIGHT))
    assert float(metric.result()) == 5.0


def test_reads_jax_arrays_and_lists_alike():
    jnp = pytest.importorskip("jax.numpy")
    from_jax, from_lists = WeightedHits(), WeightedHits()
    from_jax.update_state(jnp.asarray(Y_TRUE), jnp.asarray(Y_PRED), jnp.asarray(WEIGHT))
    from_lists.update_state(Y_TRUE, Y_PRED, WEIGHT)
    assert float(from_jax.result()) == float(from_lists.result()) == 5.0
    assert isinstance(from_lists.asarray([1, 2], "x"), np.ndarray)


def test_refuses_a_jax_tracer():
    jax = pytest.importorskip("jax")
    metric = WeightedHits()
    with pytest.raises(TypeError, match="JAX tracer"):
        jax.jit(lambda t: metric.update_state(t, t))(jax.numpy.ones(3))
    assert float(metric.result()) == 0.0
