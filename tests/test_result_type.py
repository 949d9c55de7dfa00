"""Every metric's ``result()`` is an array of the metric's array module in its ``dtype``: 0-d for one number
(``float()`` works), 1-d per threshold / class. Never a NumPy scalar on one backend and an array on another."""
import numpy as np
import pytest

from cases import CASES
from test_metrics import batches_for


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_result_is_an_array_of_the_metrics_module(case, device, rng):
    metric = case.make(device)
    for batch in batches_for(case, rng, case.layouts[0], False, device, count=1)[1]:
        if case.takes_values:
            metric.update_state(batch["y_pred"], batch.get("sample_weight"))
        else:
            metric.update_state(**batch)
    result = metric.result()
    expected_type = type(metric.xp.zeros(0))
    assert type(result) is expected_type, f"{case.id}: {type(result).__name__}, not {expected_type.__name__}"
    assert result.dtype == np.dtype(metric.dtype)
    assert result.ndim in (0, 1)
    if result.ndim == 0:
        float(result)
