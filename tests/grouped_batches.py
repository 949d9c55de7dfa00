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
