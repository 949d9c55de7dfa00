"""Data never runs code: a config resolves only registered metrics and per-sample functions, or what the caller
passes in ``custom_objects``; ``safe_mode=False`` is the explicit opt-in to import ``"module:qualname"`` paths.
Malformed configs and keywords a function does not take raise ValueError / TypeError naming the argument."""
import inspect
import sys

import numpy as np
import pytest

import gpumetrics
import gpumetrics.metrics


def wrapper_config(fn, **kwargs):
    return {"class_name": "MeanMetricWrapper", "config": {"fn": fn, **kwargs}}


def per_sample_max(y_true, y_pred):
    return np.abs(y_true - y_pred).max(axis=-1)


def with_scale(y_true, y_pred, scale=1.0):
    return scale * np.abs(y_true - y_pred).mean(axis=-1)


def with_kwargs(y_true, y_pred, **kwargs):
    return np.abs(y_true - y_pred).mean(axis=-1)


PER_SAMPLE = {name: getattr(gpumetrics.metrics, name) for name in gpumetrics.metrics.__all__
              if inspect.isfunction(getattr(gpumetrics.metrics, name))}

HOSTILE_FNS = [
    ("builtins:print", ValueError),
    ("this:s", ValueError),  # importing `this` prints the Zen: a module's import is code
    ("os:system", ValueError),
    ("subprocess:run", ValueError),
    ("gpumetrics.metrics._fn_config:resolve_function", ValueError),  # of this package, but not a per-sample function
    ("gpumetrics:get", ValueError),
    ("test_hostile_configs:per_sample_max", ValueError),  # a user's function, not passed in custom_objects
    ("test_hostile_configs:<lambda>", ValueError),
    ("no_such_module_xyz:f", ValueError),
    ("", ValueError),
    (3, TypeError),
    (["builtins", "print"], TypeError),
    ({"module": "builtins", "name": "print"}, TypeError),
]


def entry_points(config, **kwargs):
    """Every way a config reaches ``fn``: get, deserialize, from_config."""
    return [lambda: gpumetrics.get(config, **kwargs), lambda: gpumetrics.deserialize(config, **kwargs),
            lambda: gpumetrics.MeanMetricWrapper.from_config(config["config"], **kwargs)]


@pytest.mark.parametrize("fn,error", HOSTILE_FNS, ids=[repr(f) for f, _ in HOSTILE_FNS])
def test_hostile_fn_is_refused_without_running_code(fn, error, capsys):
    had_this = "this" in sys.modules
    for make in entry_points(wrapper_config(fn, sep="x")):
        with pytest.raises(error, match="fn") as raised:
            make()
        assert "fn" in str(raised.value) and (not isinstance(fn, str) or repr(fn) in str(raised.value)), (
            f"the error must name fn and what was given ({fn!r}); got {raised.value}")
    assert capsys.readouterr().out == "", "resolving a config printed: it ran code"
    assert had_this or "this" not in sys.modules, "resolving a config imported a module"


def test_print_config_does_not_print_on_update(capsys):
    """The reported attack: {"fn": "builtins:print", "sep": "x"} printed on every update_state."""
    with pytest.raises(ValueError, match="fn='builtins:print'"):
        metric = gpumetrics.get(wrapper_config("builtins:print", sep="x"))
        metric.update_state([[0.0]], [[1.0]])
    assert capsys.readouterr().out == ""


def test_constructor_string_resolves_only_registered_functions():
    assert gpumetrics.MeanMetricWrapper("mean_squared_error")._fn is gpumetrics.mean_squared_error
    with pytest.raises(ValueError, match="fn='builtins:print'"):
        gpumetrics.MeanMetricWrapper("builtins:print")


@pytest.mark.parametrize("name", sorted(PER_SAMPLE))
def test_registered_functions_resolve_by_name_and_by_config_path(name):
    fn = PER_SAMPLE[name]
    by_name = gpumetrics.get(wrapper_config(name))
    assert by_name._fn is fn, f"fn={name!r} must resolve to gpumetrics.{name}"
    config = gpumetrics.MeanMetricWrapper(fn).get_config()
    assert config["fn"] == f"{fn.__module__}:{fn.__qualname__}"
    for make in entry_points({"class_name": "MeanMetricWrapper", "config": config}):
        assert make()._fn is fn, f"fn={config['fn']!r} (get_config's path) must round-trip"


def test_registered_function_keywords_round_trip():
    metric = gpumetrics.MeanMetricWrapper(gpumetrics.huber, delta=2.0)
    clone = gpumetrics.deserialize(gpumetrics.serialize(metric))
    assert clone.get_config() == metric.get_config() and clone._fn_kwargs == {"delta": 2.0}


def test_custom_objects_resolve_a_users_function():
    metric = gpumetrics.MeanMetricWrapper(per_sample_max)
    config = gpumetrics.serialize(metric)
    assert config["config"]["fn"] == "test_hostile_configs:per_sample_max"
    with pytest.raises(ValueError, match="fn='test_hostile_configs:per_sample_max'.*custom_objects"):
        gpumetrics.deserialize(config)
    for custom in ({"per_sample_max": per_sample_max}, {"test_hostile_configs:per_sample_max": per_sample_max}):
        for make in entry_points(config, custom_objects=custom):
            clone = make()
            assert clone._fn is per_sample_max and clone.get_config() == metric.get_config()
    clone.update_state([[0.0, 1.0]], [[2.0, 1.0]])
    assert float(clone.result()) == 2.0
    # a custom object under a registered function's name wins, as Keras's custom_objects do
    assert gpumetrics.get(wrapper_config("hinge"), custom_objects={"hinge": per_sample_max})._fn is per_sample_max


def test_custom_objects_must_hold_callables_and_be_a_dict():
    with pytest.raises(TypeError, match=r"fn='f'.*custom_objects\['f'\].*not a callable"):
        gpumetrics.get(wrapper_config("f"), custom_objects={"f": "builtins:print"})
    with pytest.raises(TypeError, match="custom_objects must be a dict"):
        gpumetrics.get(wrapper_config("mse"), custom_objects=["builtins:print"])
    with pytest.raises(TypeError, match=r"custom_objects\['Evil'\] must be a Metric subclass"):
        gpumetrics.get({"class_name": "Evil", "config": {}}, custom_objects={"Evil": print})


def test_safe_mode_false_is_the_explicit_opt_in_to_import_paths():
    config = wrapper_config("test_hostile_configs:with_scale", scale=3.0)
    with pytest.raises(ValueError, match="safe_mode=False"):
        gpumetrics.get(config)
    for make in entry_points(config, safe_mode=False):
        metric = make()
        assert metric._fn is with_scale and metric._fn_kwargs == {"scale": 3.0}
    with pytest.raises(ValueError, match="fn='no_such_module_xyz:f' could not be resolved"):
        gpumetrics.get(wrapper_config("no_such_module_xyz:f"), safe_mode=False)
    with pytest.raises(ValueError, match="fn='not-a-path'"):
        gpumetrics.get(wrapper_config("not-a-path"), safe_mode=False)
    with pytest.raises(TypeError, match="fn='gpumetrics:__version__' names a str, not a callable"):
        gpumetrics.get(wrapper_config("gpumetrics:__version__"), safe_mode=False)


@pytest.mark.parametrize("safe_mode", [None, 0, "no"])
def test_safe_mode_must_be_a_bool_a_falsy_value_never_opens_imports(safe_mode):
    """``safe_mode=None`` or ``0`` acted as False: ``fn`` then imported any "module:qualname"."""
    for make in entry_points(wrapper_config("builtins:print"), safe_mode=safe_mode):
        with pytest.raises(TypeError, match=f"safe_mode must be True or False; got {safe_mode!r}"):
            make()


def test_kerass_serialised_function_resolves_by_its_name_and_imports_nothing():
    """Keras writes a wrapper's ``fn`` as ``{"module": ..., "class_name": "function", "config": name}``: it was
    refused ("got dict"); its name now resolves as a string does (registered functions, custom_objects), and its
    module is never imported."""
    keras_fn = {"module": "builtins", "class_name": "function", "config": "mean_squared_error",
                "registered_name": "function"}
    for make in entry_points(wrapper_config(keras_fn)):
        assert make()._fn is gpumetrics.mean_squared_error
    hostile = {"module": "os", "class_name": "function", "config": "system", "registered_name": "function"}
    for make in entry_points(wrapper_config(hostile), safe_mode=False):
        with pytest.raises(ValueError, match="fn='system'"):
            make()
    mine = {"module": "__main__", "class_name": "function", "config": "per_sample_max", "registered_name": "function"}
    assert gpumetrics.get(wrapper_config(mine), custom_objects={"per_sample_max": per_sample_max})._fn is per_sample_max


MALFORMED = [
    ({"class_name": ["MeanSquaredError"]}, TypeError, "class_name.*must be a str"),
    ({"class_name": None}, TypeError, "class_name.*must be a str"),
    ({"class_name": {"a": 1}, "config": {}}, TypeError, "class_name.*must be a str"),
    ({"config": {}}, ValueError, "'class_name'"),
    ({"class_name": "NoSuchMetric"}, ValueError, "unknown metric identifier 'NoSuchMetric'"),
    ({"class_name": "Mean", "config": [1, 2]}, TypeError, "'config' of 'Mean' must be a dict"),
    ({"class_name": "Mean", "config": "name=x"}, TypeError, "'config' of 'Mean' must be a dict"),
    ({"class_name": "Mean", "config": {1: "x"}}, TypeError, "config keys must be argument names"),
    ({"class_name": "Mean", "config": {"bogus": 1}}, TypeError, "bogus"),
    ({"class_name": "MeanSquaredError", "config": {"fn": "builtins:print"}}, (TypeError, ValueError), "fn"),
    (["MeanSquaredError"], ValueError, "could not interpret metric identifier"),
]


@pytest.mark.parametrize("config,error,message", MALFORMED, ids=[repr(c) for c, _, _ in MALFORMED])
def test_malformed_configs_raise_a_clear_error(config, error, message):
    with pytest.raises(error, match=message):
        gpumetrics.get(config)


def test_from_config_refuses_a_non_dict():
    with pytest.raises(TypeError, match="MeanSquaredError.from_config expects a dict"):
        gpumetrics.MeanSquaredError.from_config([("name", "x")])


def test_wrapper_refuses_keywords_its_function_does_not_take():
    with pytest.raises(TypeError, match="'bogus'") as raised:
        gpumetrics.MeanMetricWrapper(gpumetrics.mean_squared_error, bogus=1)
    assert "mean_squared_error" in str(raised.value)
    with pytest.raises(TypeError, match="'bogus'"):
        gpumetrics.get(wrapper_config("mean_squared_error", bogus=1))
    with pytest.raises(TypeError, match="'delta_'"):
        gpumetrics.MeanMetricWrapper(gpumetrics.huber, delta_=2.0)
    with pytest.raises(TypeError, match="'y_true'"):  # passed by position already
        gpumetrics.MeanMetricWrapper(gpumetrics.mean_squared_error, y_true=1)
    with pytest.raises(TypeError, match="'bogus'"):
        gpumetrics.MeanMetricWrapper(per_sample_max, bogus=1)
    assert gpumetrics.MeanMetricWrapper(gpumetrics.huber, delta=2.0)._fn_kwargs == {"delta": 2.0}
    assert gpumetrics.MeanMetricWrapper(with_scale, scale=2.0)._fn_kwargs == {"scale": 2.0}
    assert gpumetrics.MeanMetricWrapper(with_kwargs, anything=1)._fn_kwargs == {"anything": 1}


def test_lambda_wrapper_config_is_refused_not_resolved():
    metric = gpumetrics.MeanMetricWrapper(lambda t, p: np.abs(t - p).mean(axis=-1))
    config = gpumetrics.serialize(metric)
    for safe_mode in (True, False):
        with pytest.raises(ValueError, match=r"fn='test_hostile_configs:.*<lambda>' is a lambda"):
            gpumetrics.deserialize(config, safe_mode=safe_mode)
    lam = metric._fn
    assert gpumetrics.deserialize(config, custom_objects={config["config"]["fn"]: lam})._fn is lam
