"""One-shot scalar functions, one per metric class, built from the classes themselves (no second implementation).

``functional.<snake_case class name>(y_true, y_pred, sample_weight=None,
**constructor_arguments)`` builds the metric, runs one ``update_state`` and
returns ``result()``: an array on the inputs' device (0-d, or 1-d where the
class returns one value per threshold or class). ``mean`` and ``sum`` take
``(values, sample_weight=None)``.

These are the dataset-level numbers (one scalar for the batch); the functions
of the same names at the top of the package (``gpumetrics.mean_squared_error``
...) are Keras's per-sample functions, which return one value per sample.

>>> from gpumetrics import functional
>>> float(functional.mean_squared_error([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [1.0, 0.0]]))
0.5
>>> float(functional.auc([0, 0, 1, 1], [0.0, 0.5, 0.3, 0.9], num_thresholds=3))
0.75
>>> round(float(functional.mean_io_u([0, 0, 1, 1], [0, 1, 0, 1], num_classes=2)), 4)
0.3333
"""
import inspect

from .metric import to_snake_case
from .metrics import Mean, MeanMetricWrapper, Sum
from .registry import registered

__all__ = []


def _one_shot(cls):
    """``cls`` as a function: construct with the keyword arguments, one update, the result."""
    takes_values = issubclass(cls, (Mean, Sum)) and not issubclass(cls, MeanMetricWrapper) and \
        "y_pred" not in inspect.signature(cls.update_state).parameters

    if takes_values:
        def one_shot(values, sample_weight=None, **kwargs):
            metric = cls(**kwargs)
            metric.update_state(values, sample_weight=sample_weight)
            return metric.result()
    else:
        def one_shot(y_true, y_pred, sample_weight=None, **kwargs):
            metric = cls(**kwargs)
            metric.update_state(y_true, y_pred, sample_weight=sample_weight)
            return metric.result()

    one_shot.__name__ = one_shot.__qualname__ = to_snake_case(cls.__name__)
    one_shot.__module__ = __name__
    one_shot.__doc__ = (f"``{cls.__name__}(**kwargs)`` updated once with the batch; returns its ``result()``.\n\n"
                        f"Keyword arguments are the constructor's: {inspect.signature(cls)}.")
    return one_shot


for _name, _cls in sorted(registered().items()):
    if _cls is MeanMetricWrapper:  # needs a function: MeanMetricWrapper(fn)(y_true, y_pred) is the one-shot form
        continue
    _function = _one_shot(_cls)
    globals()[_function.__name__] = _function
    __all__.append(_function.__name__)
