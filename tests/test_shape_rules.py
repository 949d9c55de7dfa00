"""Keras's sample-weight shape rules, worked out on shapes alone, against the direct oracle on random shapes."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from case_model import keras_mean_totals

import gpumetrics


@st.composite
def values_and_weights(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    rank = draw(st.integers(0, len(shape)))
    weight_shape = tuple(draw(st.sampled_from([1, n])) for n in shape[:rank])
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), rng.uniform(0.1, 2, size=weight_shape)


@settings(max_examples=200, deadline=None)
@given(values_and_weights())
def test_mean_matches_keras_rule_for_any_weight_rank(case):
    values, weight = case
    metric = gpumetrics.Mean(device="cpu")
    metric.update_state(values, sample_weight=weight)
    total, count = keras_mean_totals(values, weight)
    np.testing.assert_allclose([float(metric.total), float(metric.count)], [total, count], rtol=1e-12)
