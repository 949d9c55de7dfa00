"""A state dict says which class and configuration saved it, and a metric refuses another's states; counts are
checked (issue 12, defect 9)."""
import io

import numpy as np
import pytest

from conftest import to_host

import gpumetrics

BATCH = ([1, 0, 1, 1], [0.9, 0.5, 0.2, 0.7])


def saved(metric):
    """``metric``'s state dict through ``numpy.savez`` / ``numpy.load`` (no pickling allowed), as a file would."""
    buffer = io.BytesIO()
    np.savez(buffer, **metric.state_dict())
    buffer.seek(0)
    return dict(np.load(buffer, allow_pickle=False))


def looks(metric):
    return metric.device, {k: v.tolist() for k, v in metric.state_dict().items()}


@pytest.mark.parametrize("make,other,message", [
    (lambda d: gpumetrics.Precision(thresholds=[0.3, 0.6], device=d),
     lambda d: gpumetrics.Recall(thresholds=[0.1, 0.9], device=d), r"saved by a .*\.Precision; .* is a .*\.Recall"),
    (lambda d: gpumetrics.Precision(thresholds=[0.3, 0.6], device=d),
     lambda d: gpumetrics.Recall(thresholds=[0.3, 0.6], device=d), r"saved by a .*\.Precision; .* is a .*\.Recall"),
    (lambda d: gpumetrics.Precision(thresholds=[0.3, 0.6], device=d),
     lambda d: gpumetrics.Precision(thresholds=[0.1, 0.9], device=d), r"another configuration .*0\.1, 0\.9"),
    (lambda d: gpumetrics.MeanSquaredError(device=d), lambda d: gpumetrics.MeanAbsoluteError(device=d),
     r"MeanSquaredError; .* is a .*MeanAbsoluteError"),
    (lambda d: gpumetrics.AUC(num_thresholds=5, device=d),
     lambda d: gpumetrics.AUC(num_thresholds=5, curve="PR", device=d), "another configuration"),
], ids=["Precision-into-Recall", "same-thresholds-other-class", "Precision-thresholds", "MSE-into-MAE", "AUC-curve"])
def test_a_state_of_another_class_or_configuration_is_refused(make, other, message, device):
    source, target = make(device), other(device)
    source.update_state(*BATCH)
    target.update_state([0, 1], [0.4, 0.8])
    before = looks(target)
    for state in (source.state_dict(), saved(source)):
        with pytest.raises(ValueError, match=message):
            target.load_state_dict(state)
        assert looks(target) == before


def test_the_saving_configuration_loads_back_bit_for_bit(device):
    source = gpumetrics.Precision(thresholds=[0.3, 0.6], device=device)
    source.update_state(*BATCH)
    target = gpumetrics.Precision(thresholds=[0.3, 0.6], name="other_name", device=device)
    target.load_state_dict(saved(source))
    np.testing.assert_array_equal(to_host(target.result()), to_host(source.result()))


def test_the_stamp_is_plain_data_and_the_sync_fingerprint_reads_the_same_description():
    from gpumetrics import distributed
    from gpumetrics._identity import describe, digest

    metric = gpumetrics.AUC(num_thresholds=7, multi_label=True, label_weights=[1, 2])
    state = metric.state_dict()
    assert state["__class__"].dtype.kind == "U" and str(state["__class__"]) == "gpumetrics.metrics.confusion.AUC"
    assert state["__fingerprint__"].dtype == np.int64 and int(state["__fingerprint__"]) == digest(describe(metric))
    layout = [(v.name, v.merge, v.dtype, list(v.value.shape)) for v in metric.variables]
    assert distributed.fingerprint([metric]) == digest([{**describe(metric), "states": layout}])


def test_plain_arrays_load_only_when_the_caller_says_so(device):
    metric = gpumetrics.Mean(device=device)
    plain = {"total": np.float64(6.0), "count": np.float64(4.0)}
    with pytest.raises(ValueError, match="does not say which metric saved it.*strict=False"):
        metric.load_state_dict(plain)
    assert float(to_host(metric.result())) == 0.0
    metric.load_state_dict(plain, strict=False)
    assert float(to_host(metric.result())) == 1.5
    other = gpumetrics.Sum(device=device)
    other.update_state([2.0])
    metric.load_state_dict({**other.state_dict(), "count": np.float64(1.0)}, strict=False)  # stamp ignored
    assert float(to_host(metric.result())) == 2.0


@pytest.mark.parametrize("key,value,message", [
    ("__class__", np.int64(3), "'__class__' must be a class name"),
    ("__class__", np.array(["a", "b"]), "'__class__' must be a class name"),
    ("__fingerprint__", np.array("123"), "'__fingerprint__' must be an integer"),
    ("__fingerprint__", np.float64(1.0), "'__fingerprint__' must be an integer"),
])
def test_a_malformed_stamp_is_refused(key, value, message):
    metric = gpumetrics.Mean()
    with pytest.raises(ValueError, match=message):
        metric.load_state_dict({**metric.state_dict(), key: value})
    assert metric.device == "auto"


@pytest.mark.parametrize("count", [np.int64(-1), np.uint64(2 ** 64 - 1), np.uint64(2 ** 63)],
                         ids=["negative", "wrapped", "past-int64"])
def test_a_count_state_out_of_range_is_refused(count, device):
    metric = gpumetrics.R2Score(device=device)
    metric.update_state([[1.0], [2.0], [4.0]], [[1.0], [3.0], [3.0]])
    before, state = looks(metric), metric.state_dict()
    for strict in (True, False):
        with pytest.raises(ValueError, match=r"state 'num_samples' is a count"):
            metric.load_state_dict({**state, "num_samples": count}, strict=strict)
    assert looks(metric) == before
