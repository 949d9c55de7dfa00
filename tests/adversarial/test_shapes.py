"""Every metric and backend, each argument given another rank or layout (a scalar, extra trailing or leading axes,
transposed): either a ValueError / TypeError naming an argument with nothing changed, or the float64 oracle's
result for the batch as given (Keras's squeeze / broadcast rules make some of these legal)."""
import warnings

import numpy as np
import pytest

from . import attack

NAMES = ("y_true", "y_pred", "values", "sample_weight")


def scalar_of(a):
    return a.reshape(-1)[:1].reshape(())


def extra_trailing_axes(a):
    return a[..., None, None]


def leading_axis(a):
    return a[None]


def transposed(a):
    return a.T


KINDS = {"scalar": scalar_of, "trailing-axes": extra_trailing_axes, "leading-axis": leading_axis,
         "transposed": transposed}


def variants(case, argument):
    """``(kind, batch)`` for each reshape of ``argument`` that changes its shape (a scalar weight is Keras's
    "scale the batch" rule, which the oracles of ``cases.py`` do not model: left out)."""
    good = attack.good_batch(case)
    key = attack.batch_key(argument)
    for kind, reshape in KINDS.items():
        if argument == "sample_weight" and kind == "scalar":
            continue
        a = np.asarray(good[key])
        bad = reshape(a)
        if bad.shape != a.shape:
            yield kind, {**good, key: bad}


def accepted_or_refused(case, device, kind, batch, argument):
    """One update of a fresh metric: refused cleanly by name, or its result is the oracle's."""
    metric = case.make(device)
    before = attack.snapshot(metric)
    what = f"{case.id}: {argument} {kind}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.update(metric, batch)
    except (ValueError, TypeError) as error:
        assert any(name in str(error) for name in NAMES), f"{what}: the error names no argument: {error}"
        assert attack.snapshot(metric) == before, f"{what}: a refused call changed the metric"
        return
    with np.errstate(all="ignore"):
        expected = case.oracle([oracle_batch(batch)])
    np.testing.assert_allclose(attack.result64(metric), expected, rtol=case.rtol, atol=1e-6, err_msg=what)


def without_trailing_ones(weight):
    """A weight with its trailing size-1 axes dropped (Keras squeezes them; the oracles read plain weights)."""
    while weight.ndim > 1 and weight.shape[-1] == 1:
        weight = weight[..., 0]
    return weight


def oracle_batch(batch):
    batch = attack.as_float64(batch)
    if "sample_weight" in batch:
        batch["sample_weight"] = without_trailing_ones(batch["sample_weight"])
    return batch


PARAMS = [pytest.param(case, device, argument, id=f"{case.id}-{attack.BACKEND_IDS[device]}-{argument}")
          for case, device in (p.values for p in attack.every_case_cpu_representatives_everywhere())
          for argument in attack.argument_names(case) + ["sample_weight"]]


@pytest.mark.parametrize("case,device,argument", PARAMS)
def test_other_ranks_are_refused_by_name_or_read_as_keras_reads_them(case, device, argument):
    for kind, batch in variants(case, argument):
        accepted_or_refused(case, device, kind, batch, argument)
