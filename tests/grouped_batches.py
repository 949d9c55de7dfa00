"""What the grouped-metric tests share: batches of ``(y_true, y_pred, weights, group ids)`` fed and stacked."""
import numpy as np
import pytest

from conftest import on_device


def stacked(data):
    """The batches' arrays concatenated: one stream per field."""
    return [np.concatenate(parts) for parts in zip(*data)]


def feed(metric, data, device):
    """Update ``metric`` with each batch of ``data`` (its arrays on ``device``; the ids from the host)."""
    for y_true, y_pred, weights, ids in data:
        metric.update_state(on_device(y_true, device), on_device(y_pred, device), on_device(weights, device),
                            group_ids=ids)
    return metric


def assert_refused_unchanged(metric, update, error, match):
    """``update()`` raises ``error`` matching ``match`` and leaves every state of ``metric`` as it was."""
    before = metric.state_dict()
    with pytest.raises(error, match=match):
        update()
    for key, value in metric.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)


#: ``(group_ids, error, match)`` that every grouped metric refuses for a batch of 6 samples and ``G`` of 4 or 5
BAD_GROUP_IDS = [
    pytest.param(np.zeros(5, np.int64), ValueError, r"shape \(6,\)", id="short"),
    pytest.param(np.zeros((6, 1), np.int64), ValueError, r"shape \(6,\)", id="2-d"),
    pytest.param(np.array([0, 1, -1, 2, 3, 0]), ValueError, r"\[-1\]", id="negative"),
    pytest.param(np.array([0, 1, 4, 2, 7, 0]), ValueError, r"\[4, 7\]", id="too-large"),
    pytest.param(np.zeros(6), TypeError, "float64", id="float"),
    pytest.param(np.zeros(6, bool), TypeError, "bool", id="bool"),
    pytest.param([0.0, 1.0, 1.0, 0.0, 2.0, 3.0], TypeError, "integers", id="float-list"),
    pytest.param(None, ValueError, "needs group_ids", id="missing"),
]
