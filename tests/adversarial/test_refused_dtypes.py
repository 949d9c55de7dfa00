"""Every metric, every backend, every argument: values that are not real numbers (complex, objects, strings, dates,
``None`` inside a weight, tensors without data) raise a TypeError / ValueError naming the argument and change
nothing, on a metric that holds a state and on a fresh one (which stays unplaced / unbuilt)."""
import numpy as np
import pytest

from . import attack


def complex_of(a):
    return a.astype(np.complex128)


def objects_of(a):
    return a.astype(object)


def strings_of(a):
    return a.astype(str)


def dates_of(a):
    return a.astype(np.int64).astype("datetime64[s]")


def nones_like(a):
    return np.full(a.shape, None, dtype=object)


def meta_tensor_of(a):
    import torch

    return torch.empty(a.shape, device="meta")


KINDS = {"complex": complex_of, "object": objects_of, "str": strings_of, "datetime": dates_of, "None-cells": nones_like}


def bad_batches(case, argument, kinds=KINDS):
    """``(kind, batch)``: the good batch with ``argument`` replaced by each of ``kinds`` of non-numbers."""
    good = attack.good_batch(case)
    key = attack.batch_key(argument)
    for kind, make_bad in kinds.items():
        yield kind, {**good, key: make_bad(np.asarray(good[key]))}


def arguments_of(case):
    return attack.argument_names(case) + ["sample_weight"]


PARAMS = [pytest.param(case, device, argument, id=f"{case.id}-{attack.BACKEND_IDS[device]}-{argument}")
          for case, device in (p.values for p in attack.every_case_every_backend()) for argument in arguments_of(case)]


@pytest.mark.parametrize("case,device,argument", PARAMS)
def test_non_numbers_are_refused_by_name_and_change_nothing(case, device, argument):
    assert_each_refused(case, device, argument, KINDS)


def assert_each_refused(case, device, argument, kinds):
    """Each of ``kinds`` in ``argument`` is refused by name by a used, a fresh and (on the CPU) an auto metric."""
    metrics = {"used": attack.used(case, device), "fresh": case.make(device)}
    if device == "cpu":
        metrics["auto"] = case.make("auto")
    for kind, batch in bad_batches(case, argument, kinds):
        for label, metric in metrics.items():
            attack.refuses(metric, attack.update_call(case, metric, batch), argument,
                           what=f"{case.id} {label} metric, {argument} of kind {kind}")


def meta_param(case, device, argument):
    return pytest.param(case, device, argument, id=f"{case.id}-{attack.BACKEND_IDS[device]}-{argument}")


META_PARAMS = [meta_param(case, device, argument)
               for case, device in (p.values for p in attack.every_case_cpu_representatives_everywhere())
               if case.id in attack.REPRESENTATIVES for argument in arguments_of(case)]


@pytest.mark.parametrize("case,device,argument", META_PARAMS)
def test_tensors_without_values_are_refused_by_name(case, device, argument):
    """A PyTorch ``meta`` tensor holds no values: refused, naming the argument (representatives only: one path)."""
    pytest.importorskip("torch")
    assert_each_refused(case, device, argument, {"torch-meta": meta_tensor_of})
