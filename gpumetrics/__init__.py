"""gpumetrics: the Keras 3 metrics API with state on the device and fused hand-written kernels.

>>> import gpumetrics
>>> m = gpumetrics.get("mse")
>>> m.update_state([[0.0, 1.0]], [[1.0, 1.0]])
>>> float(m.result())
0.5
"""
from . import functional
from .collection import MetricCollection
from .metric import Metric, Variable
from .metrics import *  # noqa: F401,F403  (every metric class and per-sample function)
from .metrics import __all__ as _metric_names
from ._warmup import warmup
from .registry import deserialize, get, register, serialize

__version__ = "0.1.0"
__all__ = ["Metric", "MetricCollection", "Variable", "get", "serialize", "deserialize", "register", "functional", "warmup",
           *_metric_names]
# they import Dask / mpi4py / torch / Keras when used, never at import time
_LAZY_SUBMODULES = ("dask", "distributed", "keras")


def __getattr__(name):
    """``gpumetrics.dask``, ``gpumetrics.distributed`` and ``gpumetrics.keras``, imported on first access."""
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))
