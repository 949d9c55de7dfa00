"""String identifiers for metrics: ``get("mse")``, ``get("MeanSquaredError")``, ``serialize`` / ``deserialize``."""
import inspect

from .metric import Metric, to_snake_case

_REGISTRY = {"Metric": Metric, "metric": Metric}  # keras.metrics.get builds the base class too (it computes nothing)


def register(*aliases):
    """Class decorator: the class answers to its name, its snake_case name and ``aliases`` (Keras's, e.g. "mse"):
    exactly the identifiers ``keras.metrics.get`` takes, no more, but for metrics beyond Keras (``ExactAUC``),
    which answer to their two names (``tests/test_keras_identifiers.py``)."""

    def decorate(cls):
        for key in (cls.__name__, to_snake_case(cls.__name__), *aliases):
            if _REGISTRY.get(key, cls) is not cls:
                raise ValueError(f"metric identifier {key!r} is taken by {_REGISTRY[key].__name__}")
            _REGISTRY[key] = cls
        return cls

    return decorate


def registered():
    """``{class name: class}`` of every registered metric (not the base ``Metric``)."""
    return {cls.__name__: cls for cls in _REGISTRY.values() if cls is not Metric}


def check_custom_objects(custom_objects):
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of name -> object; got {type(custom_objects).__name__}")


def check_safe_mode(safe_mode):
    """A bool: a falsy None or 0 would act as False and let a config's ``fn`` import any module."""
    if not isinstance(safe_mode, bool):
        raise TypeError(f"safe_mode must be True or False; got {safe_mode!r}")


def _lookup(name, custom_objects=None):
    """The metric class ``name`` identifies: one of ``custom_objects`` or a registered class."""
    if not isinstance(name, str):
        raise TypeError(f"a metric identifier (class_name) must be a str; got {type(name).__name__} {name!r}")
    if custom_objects and name in custom_objects:
        target = custom_objects[name]
        if not (inspect.isclass(target) and issubclass(target, Metric)):
            raise TypeError(f"custom_objects[{name!r}] must be a Metric subclass; got {target!r}")
        return target
    if name not in _REGISTRY:
        close = sorted(k for k in _REGISTRY if name.lower().replace("_", "") in k.lower().replace("_", ""))
        raise ValueError(f"unknown metric identifier {name!r}" + (f"; did you mean one of {close}?" if close else ""))
    return _REGISTRY[name]


def _from_config(cls, config, custom_objects, safe_mode):
    """``cls.from_config``, handing on ``custom_objects`` and ``safe_mode`` where it takes them (a user's
    subclass may keep Keras's one-argument ``from_config(config)``)."""
    try:
        parameters = inspect.signature(cls.from_config).parameters
    except (TypeError, ValueError):
        parameters = {}
    kwargs = {}
    for key, value in (("custom_objects", custom_objects), ("safe_mode", safe_mode)):
        if key in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            kwargs[key] = value
    return cls.from_config(config, **kwargs)


def serialize(metric):
    """``{"module", "class_name", "config"}`` for a metric instance, as Keras writes it.

    >>> from gpumetrics import MeanSquaredError
    >>> serialize(MeanSquaredError())["class_name"]
    'MeanSquaredError'
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"serialize expects a Metric instance; got {type(metric).__name__}")
    return {"module": "gpumetrics", "class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None, safe_mode=True):
    """A metric from ``serialize``'s dict (or from a bare identifier string).

    Data never runs code: ``class_name`` resolves only to registered metric
    classes or to ``custom_objects``, and a ``MeanMetricWrapper``'s ``fn`` only
    to this package's registered per-sample functions or to ``custom_objects``
    (``{"my_fn": my_fn}``). ``safe_mode=False`` (as in ``keras.saving``) also
    lets ``fn`` name any ``"module:qualname"``, which imports that module and
    calls that function: use it only for configs you trust.
    """
    check_custom_objects(custom_objects)
    check_safe_mode(safe_mode)
    if isinstance(config, str):
        return _lookup(config, custom_objects)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize expects a dict with 'class_name' and 'config'; got {config!r}")
    cls = _lookup(config["class_name"], custom_objects)
    inner = config.get("config", {})
    if inner is None:
        inner = {}
    if not isinstance(inner, dict):
        raise TypeError(f"deserialize: 'config' of {config['class_name']!r} must be a dict; "
                        f"got {type(inner).__name__}")
    return _from_config(cls, inner, custom_objects, safe_mode)


def get(identifier, custom_objects=None, safe_mode=True):
    """A metric instance from a name ("mse", "mean_squared_error", "MeanSquaredError"), a config dict, a class,
    or an instance / callable (returned as is). ``None`` gives ``None``, as in Keras. ``custom_objects`` and
    ``safe_mode`` are ``deserialize``'s.

    >>> type(get("mse")).__name__
    'MeanSquaredError'
    """
    check_custom_objects(custom_objects)
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier, custom_objects, safe_mode)
    if isinstance(identifier, str):
        return _lookup(identifier, custom_objects)()
    if inspect.isclass(identifier):
        if not issubclass(identifier, Metric):  # Keras's get would build it: ours would hand back, e.g., Keras's AUC
            raise TypeError(f"get takes gpumetrics metric classes; got the class {identifier.__module__}."
                            f"{identifier.__qualname__} (pass its name, e.g. get({identifier.__name__!r}))")
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret metric identifier: {identifier!r}")
