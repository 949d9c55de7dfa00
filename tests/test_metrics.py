"""Every row of ``cases.py`` on every backend: several updates against the oracle, reset, merge, round trips."""
import io

import numpy as np
import pytest

from cases import CASES, max_abs_error
from conftest import REAL_GPU, on_device, to_host

import gpumetrics

UPDATES = 3


def batches_for(case, rng, layout, weighted, device, count=UPDATES):
    batches = [case.batch(rng, layout, weighted) for _ in range(count)]
    return batches, [{k: on_device(v, device) for k, v in b.items()} for b in batches]


def result_of(metric):
    """The result on the host as float64 (a scalar or, for several thresholds, a vector)."""
    return np.asarray(to_host(metric.result()), dtype=np.float64)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case,layout", [(c, layout) for c in CASES for layout in c.layouts],
                         ids=[f"{c.id}-{layout}" for c in CASES for layout in c.layouts])
def test_matches_oracle_after_each_update(case, layout, weighted, device, rng):
    metric = case.make(device)
    host, batches = batches_for(case, rng, layout, weighted, device)
    for seen in range(1, UPDATES + 1):
        case.update(metric, batches[seen - 1])
        np.testing.assert_allclose(result_of(metric), case.oracle(host[:seen]), rtol=case.rtol,
                                   err_msg=f"after update {seen}")
    assert metric.device == device


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reset_then_reuse(case, device, rng):
    metric = case.make(device)
    host, batches = batches_for(case, rng, case.layouts[-1], True, device)
    case.update(metric, batches[0])
    metric.reset_state()
    assert not result_of(metric).any()
    case.update(metric, batches[1])
    np.testing.assert_allclose(result_of(metric), case.oracle(host[1:2]), rtol=case.rtol)
    metric.reset_states()
    assert not result_of(metric).any()


@pytest.mark.parametrize("parts", [2, 3, 8])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_merge_of_split_stream_equals_single_stream(case, parts, device, rng):
    """A stream dealt round-robin to ``parts`` clones and merged gives the single stream's states: whole-number
    states (counts, sums of whole weights) bitwise, the rest within float64 rounding; ``concat`` states (rows in
    merge order, not stream order) as the same multiset of values."""
    if device == "cuda" and not REAL_GPU:
        pytest.skip("the simulator keeps NumPy state, so merging there is the numpy backend's path (run above)")
    host, batches = batches_for(case, rng, case.layouts[-1], True, device, count=8)
    for b in batches:
        b["sample_weight"] = b["sample_weight"].round() + 1  # whole weights: exact sums in any order
    single = case.make(device)
    for b in batches:
        case.update(single, b)
    clones = [case.make(device) for _ in range(parts)]
    for i, b in enumerate(batches):
        case.update(clones[i % parts], b)
    clones[0].merge_state(clones[1:])
    merged, expected = clones[0].state_dict(), single.state_dict()
    assert all(merged.pop(key) == expected.pop(key) for key in ("__class__", "__fingerprint__"))
    for name in (v.name for v in single.variables if v.merge == "concat"):
        merged[name], expected[name] = np.sort(merged[name], axis=0), np.sort(expected[name], axis=0)
    for name, value in expected.items():
        if np.array_equal(value, np.round(value)):
            np.testing.assert_array_equal(merged[name], value, err_msg=name)
        else:
            np.testing.assert_allclose(merged[name], value, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(result_of(clones[0]), result_of(single), rtol=1e-6)  # results are float32


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_config_round_trip(case, device, rng):
    metric = case.make(device)
    config = metric.get_config()
    # a user's per-sample function comes back only through custom_objects, as in Keras (data never runs code)
    custom = {"max_abs_error": max_abs_error}
    if case.id == "MeanMetricWrapper-plain-fn":
        with pytest.raises(ValueError, match="fn='cases:max_abs_error' is not a registered"):
            type(metric).from_config(config)
    clone = type(metric).from_config(config, custom_objects=custom)
    assert clone.get_config() == config
    again = gpumetrics.deserialize(gpumetrics.serialize(metric), custom_objects=custom)
    assert type(again) is type(metric) and again.get_config() == config
    host, batches = batches_for(case, rng, case.layouts[-1], True, device, count=1)
    case.update(metric, batches[0])
    case.update(clone, batches[0])
    np.testing.assert_array_equal(result_of(clone), result_of(metric))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_state_dict_round_trip_through_savez(case, device, rng):
    metric = case.make(device)
    host, batches = batches_for(case, rng, case.layouts[-1], True, device, count=2)
    case.update(metric, batches[0])
    buffer = io.BytesIO()
    np.savez(buffer, **metric.state_dict())
    buffer.seek(0)
    restored = case.make(device)
    restored.load_state_dict(np.load(buffer))
    np.testing.assert_array_equal(result_of(restored), result_of(metric))
    case.update(restored, batches[1])
    np.testing.assert_allclose(result_of(restored), case.oracle(host), rtol=case.rtol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_copy_is_independent(case, device, rng):
    metric = case.make(device)
    host, batches = batches_for(case, rng, case.layouts[-1], False, device, count=2)
    case.update(metric, batches[0])
    clone = metric.copy()
    case.update(clone, batches[1])
    np.testing.assert_allclose(result_of(metric), case.oracle(host[:1]), rtol=case.rtol)
    np.testing.assert_allclose(result_of(clone), case.oracle(host), rtol=case.rtol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_call_updates_then_returns_result(case, device, rng):
    metric = case.make(device)
    host, batches = batches_for(case, rng, case.layouts[0], False, device, count=1)
    b = batches[0]
    out = metric(b["y_pred"]) if case.takes_values else metric(b["y_true"], b["y_pred"])
    np.testing.assert_allclose(np.asarray(to_host(out), np.float64), case.oracle(host), rtol=case.rtol)
    assert to_host(out).dtype == np.float32


@pytest.mark.parametrize("case", [c for c in CASES if not c.id.startswith("MeanMetricWrapper")], ids=lambda c: c.id)
def test_functional_form_is_one_update_of_the_class(case, rng):
    metric = case.make("cpu")
    kwargs = {k: v for k, v in metric.get_config().items() if k != "name"}
    one_shot = getattr(gpumetrics.functional, gpumetrics.metric.to_snake_case(type(metric).__name__))
    host, _ = batches_for(case, rng, case.layouts[-1], True, "cpu", count=1)
    case.update(metric, host[0])
    b = host[0]
    args = (b["y_pred"],) if case.takes_values else (b["y_true"], b["y_pred"])
    np.testing.assert_array_equal(np.asarray(one_shot(*args, sample_weight=b["sample_weight"], **kwargs)),
                                  np.asarray(metric.result()))
