"""Real numbers in unusual layouts are read right on every backend: big-endian arrays, ``np.longdouble`` and
bfloat16 (``ml_dtypes``) give the state a native array of the same values gives, and the float64 oracle's result.

On the CPU twin each argument is converted alone and all together; on the CUDA twin (the simulator is slow) all
together, against a CPU twin fed the native values.
"""
import numpy as np
import pytest

from conftest import to_host

from . import attack


def big_endian(a):
    return a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a


def long_double(a):
    return a.astype(np.longdouble)


def bfloat16(a):
    import ml_dtypes

    return a.astype(ml_dtypes.bfloat16)


def native(a):
    return a


def as_float64(a):
    return a.astype(np.float64)


def bfloat16_widened(a):
    return bfloat16(a).astype(np.float32)


#: kind -> (the attacking conversion, the native array it must read as)
KINDS = {"big-endian": (big_endian, native), "longdouble": (long_double, as_float64)}
try:
    import ml_dtypes  # noqa: F401

    KINDS["bfloat16"] = (bfloat16, bfloat16_widened)
except ImportError:  # pragma: no cover
    pass


def converted(batch, keys, conversion):
    return {k: conversion(np.asarray(v)) if k in keys else v for k, v in batch.items()}


def key_sets(case, device):
    keys = [attack.batch_key(a) for a in attack.argument_names(case)] + ["sample_weight"]
    return [keys] if device != "cpu" else [[k] for k in keys] + [keys]


def assert_reads_as_native(case, device, keys, kind):
    attacking, reference = KINDS[kind]
    good = attack.good_batch(case)
    metric, twin = case.make(device), case.make("cpu")
    case.update(metric, converted(good, keys, attacking))
    case.update(twin, converted(good, keys, reference))
    got, expected = metric.state_dict(), twin.state_dict()
    if got.keys() != expected.keys():  # a layout chosen by dtype (ExactAUC's bit histogram of bfloat16 scores)
        np.testing.assert_allclose(attack.result64(metric), attack.result64(twin), rtol=1e-12,
                                   err_msg=f"{case.id}: {kind} {keys}: states {sorted(got)} vs {sorted(expected)}")
        return metric, converted(good, keys, reference)
    for name in expected:
        if device == "cpu" or name.startswith("__"):
            np.testing.assert_array_equal(got[name], expected[name], err_msg=f"{case.id}: {kind} {keys}: {name}")
        else:
            np.testing.assert_allclose(got[name], expected[name], rtol=1e-9, atol=1e-12,
                                       err_msg=f"{case.id}: {kind} {keys}: {name}")
    return metric, converted(good, keys, reference)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case,device", attack.every_case_cpu_representatives_everywhere())
def test_unusual_real_dtypes_read_as_their_values(case, device, kind):
    for keys in key_sets(case, device):
        metric, read = assert_reads_as_native(case, device, keys, kind)
        if case.id in attack.REPRESENTATIVES:
            np.testing.assert_allclose(attack.result64(metric), case.oracle([attack.as_float64(read)]),
                                       rtol=case.rtol, atol=1e-6, err_msg=f"{case.id}: {kind} {keys} vs oracle")
    assert to_host(metric.result()).dtype == np.dtype(metric.dtype)
