"""Corrupted state dicts and files: every metric refuses a state dict that is truncated, mis-shaped, mis-typed,
from another class or configuration, or carries impossible counts, with a ValueError / TypeError naming the state,
and changes nothing (fresh metrics stay unplaced and unbuilt). A file holding object arrays is never unpickled."""
import io

import numpy as np
import pytest

from . import attack

UNPICKLED = []


class Tripwire:
    """Records that it was unpickled: loading a state file must never get that far."""

    def __reduce__(self):
        return UNPICKLED.append, ("unpickled",)


def array_states(state):
    return [k for k, v in state.items() if not k.startswith("__")]


def other_class(state):
    """The ``__class__`` stamp of a class that did not save ``state``."""
    import gpumetrics

    sum_stamp = gpumetrics.Sum().state_dict()["__class__"]
    return gpumetrics.Mean().state_dict()["__class__"] if state["__class__"] == sum_stamp else sum_stamp


class Unreadable:
    """An array-like NumPy cannot read, as a bfloat16 torch tensor is (``np.asarray`` raises its own TypeError)."""

    def __init__(self, shape):
        self.shape, self.ndim = shape, len(shape)

    def __array__(self, *args, **kwargs):
        raise TypeError("Got unsupported ScalarType BFloat16")


def corruptions(state):
    """``(what, corrupted state dict, the text the error must contain)`` for a good ``state``."""
    name = array_states(state)[0]
    a = state[name]
    yield "missing state", {k: v for k, v in state.items() if k != name}, name
    yield "extra state", {**state, "extra_state": np.zeros(1)}, "extra_state"
    yield "truncated", {**state, name: a.reshape(-1)[:-1] if a.size else np.zeros(1)}, name
    yield "extra axis", {**state, name: a[None, None]}, name
    yield "complex", {**state, name: a.astype(np.complex128)}, name
    yield "strings", {**state, name: a.astype(str)}, name
    yield "objects", {**state, name: a.astype(object)}, name
    yield "None", {**state, name: None}, name
    yield "unreadable", {**state, name: Unreadable(a.shape)}, name
    yield "other class", {**state, "__class__": other_class(state)}, "saved by"
    yield "other fingerprint", {**state, "__fingerprint__": state["__fingerprint__"] + 1}, "configuration"
    yield "fingerprint as float", {**state, "__fingerprint__": np.float64(1.5)}, "__fingerprint__"


@pytest.mark.parametrize("case,device", attack.every_case_cpu_representatives_everywhere())
def test_corrupted_state_dicts_are_refused_and_change_nothing(case, device):
    state = attack.good_state(case.id)
    metrics = {"used": attack.used(case, device), "fresh": case.make(device), "auto": case.make("auto")}
    for what, bad, named in corruptions(state):
        for label, metric in metrics.items():
            if what == "missing state" and label != "used" and not metric.is_built:
                continue  # test_an_unbuilt_metric_names_the_missing_state
            attack.refuses(metric, lambda: metric.load_state_dict(bad), named,
                           what=f"{case.id} {label} metric, {what}")


COUNTS = {"negative": np.int64(-2), "NaN": np.float64(np.nan), "fraction": np.float64(2.5),
          "inf": np.float64(np.inf), "past-int64": np.uint64(2 ** 63)}


@pytest.mark.parametrize("count", list(COUNTS))
@pytest.mark.parametrize("device", attack.DEVICES)
def test_impossible_counts_are_refused(device, count):
    """R2Score's ``num_samples`` counts rows: NaN, negative, fractional or past-int64 counts are refused."""
    case = attack.BY_ID["R2Score"]
    metric = attack.used(case, device)
    bad = {**attack.good_state(case.id), "num_samples": COUNTS[count]}
    for strict in (True, False):
        attack.refuses(metric, lambda: metric.load_state_dict(bad, strict=strict), "num_samples",
                       what=f"num_samples {count}, strict={strict}")


def state_file(state):
    buffer = io.BytesIO()
    np.savez(buffer, **state)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("device", attack.DEVICES)
@pytest.mark.parametrize("case_id", ["MeanSquaredError", "AUC-multi_label-label_weights", "R2Score", "MeanIoU"])
def test_a_state_file_with_object_arrays_is_never_unpickled(case_id, device):
    case = attack.BY_ID[case_id]
    state = attack.good_state(case_id)
    name = array_states(state)[0]
    objects = np.empty(1, dtype=object)
    objects[0] = Tripwire()
    loaded = np.load(state_file({**state, name: objects}), allow_pickle=False)
    for metric in (attack.used(case, device), case.make("auto")):
        attack.refuses(metric, lambda: metric.load_state_dict(loaded), "allow_pickle", what=case_id)
    assert UNPICKLED == [], "loading a state file unpickled an object"


@pytest.mark.parametrize("device", attack.DEVICES)
def test_nan_and_negative_weighted_sums_load(device):
    """README: weighted sums (histograms, confusion matrices, Mean's count) may be negative or NaN: they load."""
    import gpumetrics

    metric = gpumetrics.Mean(device=device)
    state = {**metric.state_dict(), "total": np.float64(np.nan), "count": np.float64(-2.0)}
    metric.load_state_dict(state)
    assert np.isnan(attack.result64(metric))


LAZY = ["AUC-multi_label-label_weights", "F1Score", "F1Score-macro-threshold", "FBetaScore-micro",
        "FBetaScore-weighted", "R2Score"]
@pytest.mark.parametrize("case_id", LAZY)
def test_an_unbuilt_metric_names_the_missing_state(case_id):
    """A metric that sizes its states from the first batch or state dict still names the state a dict lacks."""
    case = attack.BY_ID[case_id]
    state = attack.good_state(case_id)
    name = array_states(state)[0]
    metric = case.make("auto")
    assert not metric.is_built
    attack.refuses(metric, lambda: metric.load_state_dict({k: v for k, v in state.items() if k != name}), name,
                   what=f"{case_id} unbuilt, without {name}")
