"""Hostile configs for every registered metric: each config value replaced by garbage (nested lists and dicts,
strings, bytes, NaN, huge or negative numbers), unknown and nested keys, and identifiers of the wrong type reach
``get`` / ``deserialize`` / ``from_config`` and raise a ValueError / TypeError naming the key, or build a metric
whose first update gives a result or such an error: never a raw Python or NumPy exception."""
import math
import warnings

import numpy as np
import pytest

import gpumetrics
from gpumetrics.registry import registered

from . import attack

GARBAGE = {"nested-list": [[1, [2]]], "nested-dict": {"a": {"b": [1]}}, "str": "garbage", "bytes": b"x",
           "nan": math.nan, "huge": 2 ** 70, "negative": -3}


def class_configs():
    """``(class name, config)``: one valid config per registered class, from its first row in the case table."""
    seen = {}
    for case in attack.BY_ID.values():
        metric = case.make("cpu")
        seen.setdefault(type(metric).__name__, (case, metric.get_config()))
    return seen


CONFIGS = class_configs()


def entry_points(class_name, config):
    cls = registered()[class_name]
    return {"get": lambda: gpumetrics.get({"class_name": class_name, "config": config}),
            "deserialize": lambda: gpumetrics.deserialize({"class_name": class_name, "config": config}),
            "from_config": lambda: cls.from_config(config)}


def names(message, key):
    """Whether an error message names config ``key`` (``target_class_ids`` also as Keras's "Target class id")."""
    return key in message or key.replace("_", " ").rstrip("s") in message.lower()


def builds_or_refuses_by_name(class_name, config, key, what):
    """Each entry point raises an error naming ``key`` or builds a metric; returns the metric (or None)."""
    metric = None
    for entry, build in entry_points(class_name, config).items():
        try:
            metric = build()
        except (ValueError, TypeError) as error:
            assert names(str(error), key), f"{what} via {entry}: the {type(error).__name__} must name {key!r}: {error}"
            metric = None
    return metric


def first_update_is_clean(case, metric):
    """One update of a metric built from an odd config: a result, or a ValueError / TypeError (a legal value such
    as ``axis=-3`` may make the batch itself wrong for it); any other exception fails the test."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            case.update(metric, attack.good_batch(case))
            metric.result()
    except (ValueError, TypeError):
        pass


PARAMS = [pytest.param(name, key, garbage, id=f"{name}-{key}-{garbage}")
          for name, (case, config) in sorted(CONFIGS.items()) for key in config for garbage in GARBAGE]


@pytest.mark.parametrize("class_name,key,garbage", PARAMS)
def test_garbage_config_values_are_refused_by_name_or_harmless(class_name, key, garbage):
    case, config = CONFIGS[class_name]
    what = f"{class_name}({key}={GARBAGE[garbage]!r})"
    metric = builds_or_refuses_by_name(class_name, {**config, key: GARBAGE[garbage]}, key, what)
    if metric is not None and key != "name":
        first_update_is_clean(case, metric)


@pytest.mark.parametrize("class_name", sorted(CONFIGS))
def test_unknown_and_nested_keys_are_refused_by_name(class_name):
    case, config = CONFIGS[class_name]
    for key, bad in [("bogus_key", {**config, "bogus_key": 1}), ("config", {**config, "config": dict(config)}),
                     ("__class__", {**config, "__class__": "os.system"})]:
        for entry, build in entry_points(class_name, bad).items():
            with pytest.raises((TypeError, ValueError), match=key) as raised:
                build()
            assert key in str(raised.value), f"{class_name} via {entry}: {raised.value}"


IDENTIFIERS = [None, 3, 2.5, b"MeanSquaredError", {"MeanSquaredError"}, ("MeanSquaredError",), [["mse"]],
               {"class_name": "MeanSquaredError", "config": None},
               {"class_name": "MeanSquaredError", "config": {"name": "x"}, "module": ["evil"]},
               {"class_name": ("MeanSquaredError",)}]


@pytest.mark.parametrize("identifier", IDENTIFIERS, ids=[repr(i)[:40] for i in IDENTIFIERS])
def test_identifiers_of_the_wrong_type_raise_cleanly(identifier):
    """``get`` / ``deserialize`` of a non-identifier: a metric, ``None`` (Keras's ``get(None)``), or a clean error."""
    for resolve in (gpumetrics.get, gpumetrics.deserialize):
        try:
            got = resolve(identifier)
        except (ValueError, TypeError):
            continue
        assert got is None or isinstance(got, gpumetrics.Metric), f"{resolve.__name__}({identifier!r}) -> {got!r}"
