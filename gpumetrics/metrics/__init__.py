"""One module per family of metrics; importing this registers them all."""
from .reduction import Mean, MeanMetricWrapper, Sum
from .regression import (MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, mean_absolute_error,
                         mean_squared_error)

__all__ = ["Mean", "MeanMetricWrapper", "Sum", "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError",
           "mean_absolute_error", "mean_squared_error"]
