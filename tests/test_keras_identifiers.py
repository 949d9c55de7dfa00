"""``gpumetrics.get`` takes exactly the string identifiers ``keras.metrics.get`` takes, and builds the same metrics.

The table below is Keras 3.15's (``ALL_OBJECTS_DICT`` in ``keras/src/metrics/__init__.py``), so the test runs
without Keras; where Keras is installed, its own table is read and compared as well.
"""
import pytest

import gpumetrics
from gpumetrics.registry import _REGISTRY

#: class -> every identifier ``keras.metrics.get`` builds it from
KERAS_IDENTIFIERS = {
    "AUC": ("AUC", "auc"),
    "Accuracy": ("Accuracy", "accuracy"),
    "BinaryAccuracy": ("BinaryAccuracy", "binary_accuracy"),
    "BinaryCrossentropy": ("BinaryCrossentropy", "BCE", "bce", "binary_crossentropy"),
    "BinaryIoU": ("BinaryIoU", "binary_io_u"),
    "CategoricalAccuracy": ("CategoricalAccuracy", "categorical_accuracy"),
    "CategoricalCrossentropy": ("CategoricalCrossentropy", "categorical_crossentropy"),
    "CategoricalHinge": ("CategoricalHinge", "categorical_hinge"),
    "ConcordanceCorrelation": ("ConcordanceCorrelation", "concordance_correlation"),
    "CosineSimilarity": ("CosineSimilarity", "cosine_similarity"),
    "F1Score": ("F1Score", "f1_score"),
    "FBetaScore": ("FBetaScore", "f_beta_score"),
    "FalseNegatives": ("FalseNegatives", "false_negatives"),
    "FalsePositives": ("FalsePositives", "false_positives"),
    "Hinge": ("Hinge", "hinge"),
    "IoU": ("IoU", "io_u"),
    "KLDivergence": ("KLDivergence", "kl_divergence"),
    "LogCoshError": ("LogCoshError", "log_cosh_error"),
    "Mean": ("Mean", "mean"),
    "MeanAbsoluteError": ("MeanAbsoluteError", "MAE", "mae", "mean_absolute_error"),
    "MeanAbsolutePercentageError": ("MeanAbsolutePercentageError", "MAPE", "mape", "mean_absolute_percentage_error"),
    "MeanIoU": ("MeanIoU", "mean_io_u"),
    "MeanMetricWrapper": ("MeanMetricWrapper", "mean_metric_wrapper"),
    "MeanSquaredError": ("MeanSquaredError", "MSE", "mean_squared_error", "mse"),
    "MeanSquaredLogarithmicError": ("MeanSquaredLogarithmicError", "MSLE", "mean_squared_logarithmic_error", "msle"),
    "Metric": ("Metric", "metric"),
    "OneHotIoU": ("OneHotIoU", "one_hot_io_u"),
    "OneHotMeanIoU": ("OneHotMeanIoU", "one_hot_mean_io_u"),
    "PearsonCorrelation": ("PearsonCorrelation", "pearson_correlation"),
    "Poisson": ("Poisson", "poisson"),
    "Precision": ("Precision", "precision"),
    "PrecisionAtRecall": ("PrecisionAtRecall", "precision_at_recall"),
    "R2Score": ("R2Score", "r2_score"),
    "Recall": ("Recall", "recall"),
    "RecallAtPrecision": ("RecallAtPrecision", "recall_at_precision"),
    "RootMeanSquaredError": ("RootMeanSquaredError", "root_mean_squared_error"),
    "SensitivityAtSpecificity": ("SensitivityAtSpecificity", "sensitivity_at_specificity"),
    "SparseCategoricalAccuracy": ("SparseCategoricalAccuracy", "sparse_categorical_accuracy"),
    "SparseCategoricalCrossentropy": ("SparseCategoricalCrossentropy", "sparse_categorical_crossentropy"),
    "SparseTopKCategoricalAccuracy": ("SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"),
    "SpecificityAtSensitivity": ("SpecificityAtSensitivity", "specificity_at_sensitivity"),
    "SquaredHinge": ("SquaredHinge", "squared_hinge"),
    "Sum": ("Sum", "sum"),
    "TopKCategoricalAccuracy": ("TopKCategoricalAccuracy", "top_k_categorical_accuracy"),
    "TrueNegatives": ("TrueNegatives", "true_negatives"),
    "TruePositives": ("TruePositives", "true_positives"),
}
#: classes with required arguments: ``keras.metrics.get`` raises TypeError for their identifiers
NEED_ARGUMENTS = {
    "IoU", "MeanIoU", "MeanMetricWrapper", "OneHotIoU", "OneHotMeanIoU", "PrecisionAtRecall",
    "RecallAtPrecision", "SensitivityAtSpecificity", "SpecificityAtSensitivity"
}
#: identifiers Keras refuses (ValueError) although they read like metrics: a loss alias, ``compile``'s shorthand
REFUSED = ["acc", "logcosh", "log_cosh", "Bce", "mean-squared-error", "MeanSquaredError ", "binary_iou", "r2"]


TABLE = {identifier: cls for cls, identifiers in KERAS_IDENTIFIERS.items() for identifier in identifiers}


def check_alike(identifier, cls):
    """``gpumetrics.get(identifier)`` builds a ``cls`` or, where Keras raises TypeError, raises TypeError."""
    if cls in NEED_ARGUMENTS:
        with pytest.raises(TypeError, match="missing"):
            gpumetrics.get(identifier)
    else:
        assert type(gpumetrics.get(identifier)) is getattr(gpumetrics, cls)


@pytest.mark.parametrize("identifier", sorted(TABLE))
def test_every_keras_identifier_builds_the_same_metric(identifier):
    check_alike(identifier, TABLE[identifier])


@pytest.mark.parametrize("identifier", REFUSED)
def test_identifiers_keras_refuses_are_refused(identifier):
    with pytest.raises(ValueError, match="unknown metric identifier"):
        gpumetrics.get(identifier)


#: metrics beyond Keras: their class name and snake_case name only
BEYOND_KERAS = {"ExactAUC", "exact_auc"}


def test_no_identifier_beyond_keras_table():
    assert sorted(set(_REGISTRY) - set(TABLE)) == sorted(BEYOND_KERAS)


def test_the_installed_keras_table_alike():
    keras = pytest.importorskip("keras")
    table = pytest.importorskip("keras.src.metrics").ALL_OBJECTS_DICT
    assert set(_REGISTRY) - BEYOND_KERAS == set(table)
    for identifier, cls in table.items():
        try:
            keras.metrics.get(identifier)
        except TypeError:
            assert cls.__name__ in NEED_ARGUMENTS, identifier
        check_alike(identifier, cls.__name__)
    for identifier in REFUSED:
        with pytest.raises(ValueError):
            keras.metrics.get(identifier)
