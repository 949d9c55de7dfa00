"""What every attack file shares: the case table split by family, a metric's full snapshot, and the refusal check.

A refused call must leave the metric exactly as it was: its device, its built
status and the bytes, dtype and shape of every state (``snapshot``).
"""
import functools
import warnings

import numpy as np
import pytest

from cases import CASES, F_SCORE_CASES, THRESHOLD_CASES
from cases_elementwise import ELEMENTWISE_CASES
from cases_exact_auc import EXACT_AUC_CASES
from cases_iou import IOU_CASES
from cases_r2 import R2_CASES
from cases_rowwise import ROWWISE_CASES
from conftest import BACKENDS, to_host

BY_ID = {case.id: case for case in CASES}
#: family name -> the case ids of ``cases.py`` in it
FAMILIES = {
    "threshold": [c.id for c in THRESHOLD_CASES],
    "f_score": [c.id for c in F_SCORE_CASES],
    "exact_auc": [c.id for c in EXACT_AUC_CASES],
    "r2": [c.id for c in R2_CASES],
    "elementwise": [c.id for c in ELEMENTWISE_CASES] + ["MeanSquaredError", "MeanAbsoluteError",
                                                        "RootMeanSquaredError"],
    "rowwise": [c.id for c in ROWWISE_CASES],
    "iou": [c.id for c in IOU_CASES],
    "reduction": ["Sum", "Mean"],
    "wrapper": ["MeanMetricWrapper", "MeanMetricWrapper-plain-fn"],
}
#: one metric per family (two where the family has two input conventions), for the costly attacks
REPRESENTATIVES = ["Precision-thresholds", "AUC-multi_label-label_weights", "F1Score-macro-threshold", "R2Score",
                   "MeanSquaredError", "BinaryCrossentropy", "CategoricalCrossentropy",
                   "SparseCategoricalCrossentropy", "MeanIoU", "OneHotIoU", "Mean", "MeanMetricWrapper-plain-fn"]
DEVICES = [device for _, device in BACKENDS]
BACKEND_IDS = {device: name for name, device in BACKENDS}


def family_of(case_id):
    return next(name for name, ids in FAMILIES.items() if case_id in ids)


def every_case_cpu_representatives_everywhere():
    """``(case, device)`` params: every case on the CPU twin, the representatives on every backend."""
    params = []
    for case in CASES:
        for device in DEVICES:
            if device == "cpu" or case.id in REPRESENTATIVES:
                params.append(pytest.param(case, device, id=f"{case.id}-{BACKEND_IDS[device]}"))
    return params


def every_case_every_backend():
    return [pytest.param(case, device, id=f"{case.id}-{BACKEND_IDS[device]}") for case in CASES for device in DEVICES]


def snapshot(metric):
    """Everything a refused call must not change: device, built status, and each state's dtype, shape and bytes."""
    states = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in metric.state_dict().items()}
    return metric.device, metric.is_built, states


def refuses(metric, call, named, errors=(ValueError, TypeError), what=""):
    """``call()`` raises one of ``errors`` whose message names ``named``, and ``metric`` is exactly as it was."""
    before = snapshot(metric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(errors) as raised:
            call()
    assert named in str(raised.value), f"{what}: the {type(raised.value).__name__} must name {named!r}: {raised.value}"
    after = snapshot(metric)
    assert after[:2] == before[:2], f"{what}: device/built changed {before[:2]} -> {after[:2]}"
    assert after[2] == before[2], f"{what}: a refused call changed the state bytes"


def update_call(case, metric, batch):
    """A zero-argument call that feeds ``batch`` to ``metric`` (for ``refuses``)."""
    return functools.partial(case.update, metric, batch)


@functools.lru_cache(maxsize=None)
def good_state(case_id):
    """The state dict of ``case_id``'s metric after one good weighted batch, computed once on the CPU twin."""
    case = BY_ID[case_id]
    metric = case.make("cpu")
    case.update(metric, good_batch(case))
    return metric.state_dict()


def good_batch(case, seed=20261127, weighted=True):
    return case.batch(np.random.default_rng(seed), case.layouts[-1], weighted)


def used(case, device):
    """A metric of ``case`` on ``device`` holding ``good_state`` (loaded, so no kernel runs on the simulator)."""
    metric = case.make(device)
    metric.load_state_dict(good_state(case.id))
    return metric


def result64(metric):
    return np.asarray(to_host(metric.result()), dtype=np.float64)


def as_float64(batch):
    """The batch an oracle reads: every array as float64 NumPy (the values the metric must have read)."""
    return {k: np.asarray(v).astype(np.float64) for k, v in batch.items() if v is not None}


def argument_names(case):
    """The arguments ``case.update`` passes, as the metric names them."""
    return ["values"] if case.takes_values else ["y_true", "y_pred"]


def batch_key(argument):
    """The key of ``Case.batch``'s dict that feeds ``argument`` (``values`` rides in ``y_pred``)."""
    return "y_pred" if argument == "values" else argument
