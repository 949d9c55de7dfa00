"""String identifiers for metrics: ``get("mse")``, ``get("MeanSquaredError")``, ``serialize`` / ``deserialize``."""
import inspect

from .metric import Metric, to_snake_case

_REGISTRY = {}


def register(*aliases):
    """Class decorator: the class answers to its name, its snake_case name and ``aliases`` (Keras's, e.g. "mse")."""

    def decorate(cls):
        for key in (cls.__name__, to_snake_case(cls.__name__), *aliases):
            if _REGISTRY.get(key, cls) is not cls:
                raise ValueError(f"metric identifier {key!r} is taken by {_REGISTRY[key].__name__}")
            _REGISTRY[key] = cls
        return cls

    return decorate


def registered():
    """``{class name: class}`` of every registered metric."""
    return {cls.__name__: cls for cls in _REGISTRY.values()}


def _lookup(name, custom_objects=None):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if name not in _REGISTRY:
        close = sorted(k for k in _REGISTRY if name.lower().replace("_", "") in k.lower().replace("_", ""))
        raise ValueError(f"unknown metric identifier {name!r}" + (f"; did you mean one of {close}?" if close else ""))
    return _REGISTRY[name]


def serialize(metric):
    """``{"module", "class_name", "config"}`` for a metric instance, as Keras writes it.

    >>> from gpumetrics import MeanSquaredError
    >>> serialize(MeanSquaredError())["class_name"]
    'MeanSquaredError'
    """
    if not isinstance(metric, Metric):
        raise TypeError(f"serialize expects a Metric instance; got {type(metric).__name__}")
    return {"module": "gpumetrics", "class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config, custom_objects=None):
    """A metric from ``serialize``'s dict (or from a bare identifier string)."""
    if isinstance(config, str):
        return _lookup(config, custom_objects)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"deserialize expects a dict with 'class_name' and 'config'; got {config!r}")
    return _lookup(config["class_name"], custom_objects).from_config(config.get("config", {}))


def get(identifier):
    """A metric instance from a name ("mse", "mean_squared_error", "MeanSquaredError"), a config dict, a class,
    or an instance / callable (returned as is). ``None`` gives ``None``, as in Keras.

    >>> type(get("mse")).__name__
    'MeanSquaredError'
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return _lookup(identifier)()
    if inspect.isclass(identifier) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret metric identifier: {identifier!r}")
