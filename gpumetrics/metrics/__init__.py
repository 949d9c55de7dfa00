"""One module per family of metrics; importing this registers them all."""
from .confusion import (AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
                        RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives,
                        TruePositives)
from .f_score import F1Score, FBetaScore
from .reduction import Mean, MeanMetricWrapper, Sum
from .regression import (MeanAbsoluteError, MeanSquaredError, RootMeanSquaredError, mean_absolute_error,
                         mean_squared_error)

__all__ = ["F1Score", "FBetaScore", "AUC", "FalseNegatives", "FalsePositives", "Precision", "PrecisionAtRecall", "Recall",
           "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity", "TrueNegatives",
           "TruePositives", "Mean", "MeanMetricWrapper", "Sum", "MeanAbsoluteError", "MeanSquaredError", "RootMeanSquaredError",
           "mean_absolute_error", "mean_squared_error"]
