"""One module per family of metrics; importing this registers them all."""
from .confusion import (AUC, FalseNegatives, FalsePositives, Precision, PrecisionAtRecall, Recall,
                        RecallAtPrecision, SensitivityAtSpecificity, SpecificityAtSensitivity, TrueNegatives,
                        TruePositives)
from .f_score import F1Score, FBetaScore
from .iou import BinaryIoU, IoU, MeanIoU, OneHotIoU, OneHotMeanIoU
from ._mean import Mean, MeanMetricWrapper, Sum
from .regression import (CosineSimilarity, LogCoshError, MeanAbsoluteError, MeanAbsolutePercentageError,
                         MeanSquaredError, MeanSquaredLogarithmicError, RootMeanSquaredError, huber, log_cosh,
                         mean_absolute_error, mean_absolute_percentage_error, mean_squared_error,
                         mean_squared_logarithmic_error)
from .accuracy import (Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                       SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy, binary_accuracy, categorical_accuracy,
                       sparse_categorical_accuracy, sparse_top_k_categorical_accuracy, top_k_categorical_accuracy)
from .probabilistic import (BinaryCrossentropy, CategoricalCrossentropy, KLDivergence, Poisson,
                            SparseCategoricalCrossentropy, binary_crossentropy, binary_focal_crossentropy,
                            categorical_crossentropy, categorical_focal_crossentropy, kl_divergence, poisson,
                            sparse_categorical_crossentropy)
from .hinge import CategoricalHinge, Hinge, SquaredHinge, categorical_hinge, hinge, squared_hinge
from .correlation import ConcordanceCorrelation, PearsonCorrelation, concordance_correlation, pearson_correlation
from .r2_score import R2Score
from .exact_auc import ExactAUC

__all__ = ["F1Score", "FBetaScore", "BinaryIoU", "IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "AUC",
           "FalseNegatives", "FalsePositives", "Precision", "PrecisionAtRecall", "Recall",
           "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity", "TrueNegatives",
           "TruePositives", "Mean", "MeanMetricWrapper", "Sum", "MeanAbsoluteError", "MeanSquaredError",
           "RootMeanSquaredError", "mean_absolute_error", "mean_squared_error",
           "CosineSimilarity", "LogCoshError", "MeanAbsolutePercentageError", "MeanSquaredLogarithmicError", "huber",
           "log_cosh", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
           "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "SparseCategoricalAccuracy",
           "SparseTopKCategoricalAccuracy", "TopKCategoricalAccuracy", "binary_accuracy", "categorical_accuracy",
           "sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "top_k_categorical_accuracy",
           "BinaryCrossentropy", "CategoricalCrossentropy", "KLDivergence", "Poisson", "SparseCategoricalCrossentropy",
           "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
           "categorical_focal_crossentropy", "kl_divergence", "poisson", "sparse_categorical_crossentropy",
           "CategoricalHinge", "Hinge", "SquaredHinge", "categorical_hinge", "hinge", "squared_hinge",
           "ConcordanceCorrelation", "PearsonCorrelation", "concordance_correlation", "pearson_correlation",
           "R2Score", "ExactAUC"]
