"""Constructor arguments are checked at construction by gpumetrics._arguments (issue 12, defect 8): a bad dtype,
integer or threshold raises ValueError / TypeError naming the argument and the value seen, instead of a silently
wrong result, a hang, a huge allocation or an error at the first update."""
import numpy as np
import pytest

import gpumetrics

M = gpumetrics

# (build, error, message): each row was accepted (or failed later, elsewhere) before the checks.
BAD = {
    "AUC-dtype-int8": (lambda: M.AUC(dtype="int8"), TypeError, r"dtype must be None or one of float16.*dtype='int8'"),
    "Sum-dtype-bool": (lambda: M.Sum(dtype="bool"), TypeError, r"dtype=.*'bool'"),
    "AUC-dtype-str": (lambda: M.AUC(dtype="str"), TypeError, r"got dtype='str'"),
    "Mean-dtype-int32": (lambda: M.Mean(dtype=np.int32), TypeError, r"got dtype=<class 'numpy.int32'>"),
    "Mean-dtype-complex": (lambda: M.Mean(dtype="complex64"), TypeError, r"got dtype='complex64'"),
    "Mean-dtype-longdouble": (lambda: M.Mean(dtype=np.longdouble), TypeError, r"dtype="),
    "Mean-dtype-f4-spelling": (lambda: M.Mean(dtype="f4"), TypeError, r"got dtype='f4'"),  # Keras refuses 'f4'
    "MeanIoU-dtype-str": (lambda: M.MeanIoU(2, dtype="str"), TypeError, r"got dtype='str'"),
    "Precision-top_k-float": (lambda: M.Precision(top_k=1.5), TypeError, r"top_k must be None or an integer.*1\.5"),
    "Precision-top_k-zero": (lambda: M.Precision(top_k=0), ValueError, r"top_k must be None or an integer.*top_k=0"),
    "SparseTopK-k-str": (lambda: M.SparseTopKCategoricalAccuracy(k="2"), TypeError, r"k must be an integer.*k='2'"),
    "TopK-k-float": (lambda: M.TopKCategoricalAccuracy(k=2.0), TypeError, r"k must be an integer.*k=2\.0"),
    "BinaryAccuracy-threshold-None": (lambda: M.BinaryAccuracy(threshold=None), TypeError,
                                      r"threshold must be a real number.*threshold=None"),
    "BinaryAccuracy-threshold-nan": (lambda: M.BinaryAccuracy(threshold=float("nan")), ValueError,
                                     r"threshold must be a real number.*threshold=nan"),
    "Recall-class_id-bool": (lambda: M.Recall(class_id=True), TypeError, r"class_id must be None or an integer.*True"),
    "Recall-class_id-negative": (lambda: M.Recall(class_id=-1), ValueError, r"class_id.*class_id=-1"),
    "Precision-thresholds-bool": (lambda: M.Precision(thresholds=[True]), ValueError, r"thresholds must be floats"),
    "AUC-num_thresholds-huge": (lambda: M.AUC(num_thresholds=10 ** 12), ValueError,
                                r"num_thresholds must be an integer > 1 and <= 1048576; got num_thresholds=10{12}"),
    "AUC-num_thresholds-float": (lambda: M.AUC(num_thresholds=200.0), TypeError, r"num_thresholds.*200\.0"),
    "AUC-thresholds-str": (lambda: M.AUC(thresholds=["0.5"]), TypeError, r"thresholds must be a real number.*'0.5'"),
    "AUC-num_labels-float": (lambda: M.AUC(multi_label=True, num_labels=2.5), TypeError, r"num_labels.*2\.5"),
    "AtRecall-num_thresholds-huge": (lambda: M.PrecisionAtRecall(0.5, num_thresholds=10 ** 12), ValueError,
                                     r"num_thresholds must be an integer > 0 and <= 1048576"),
    "AtRecall-num_thresholds-str": (lambda: M.PrecisionAtRecall(0.5, num_thresholds="9"), TypeError,
                                    r"num_thresholds.*'9'"),
    "AtRecall-recall-str": (lambda: M.PrecisionAtRecall("0.5"), TypeError, r"recall must be a real number.*'0.5'"),
    "AtSpecificity-class_id-float": (lambda: M.SensitivityAtSpecificity(0.5, class_id=1.0), TypeError,
                                     r"class_id.*1\.0"),
    "MeanIoU-num_classes-huge": (lambda: M.MeanIoU(num_classes=2 ** 40), ValueError,
                                 r"num_classes must be an integer >= 1 and <= 65536; got num_classes=1099511627776"),
    "MeanIoU-ignore_class-huge": (lambda: M.MeanIoU(2, ignore_class=2 ** 70), ValueError,
                                  r"ignore_class must be None or an integer.*ignore_class=1180591620717411303424"),
    "MeanIoU-ignore_class-float": (lambda: M.MeanIoU(2, ignore_class=255.0), TypeError, r"ignore_class.*255\.0"),
    "IoU-axis-float": (lambda: M.IoU(2, [0], axis=1.5), TypeError, r"axis must be an integer.*axis=1\.5"),
    "SCCE-ignore_class-str": (lambda: M.SparseCategoricalCrossentropy(ignore_class="0"), TypeError,
                              r"ignore_class.*'0'"),
    "CosineSimilarity-axis-float": (lambda: M.CosineSimilarity(axis=1.5), TypeError, r"axis must be an integer.*1\.5"),
    "Pearson-axis-str": (lambda: M.PearsonCorrelation(axis="-1"), TypeError, r"axis must be an integer.*'-1'"),
    "R2Score-num_regressors-float": (lambda: M.R2Score(num_regressors=1.5), TypeError, r"num_regressors.*1\.5"),
    "FBeta-beta-nan": (lambda: M.FBetaScore(beta=float("nan")), ValueError, r"beta must be a Python float.*nan"),
    "FBeta-beta-inf": (lambda: M.FBetaScore(beta=float("inf")), ValueError, r"beta must be a Python float.*inf"),
    "FBeta-beta-huge": (lambda: M.FBetaScore(beta=1e300), ValueError,  # beta ** 2 overflowed in result()
                        r"beta must be a Python float in \(0, 1e150\); got beta=1e\+300"),
    "AUC-thresholds-scalar": (lambda: M.AUC(thresholds=0.5), TypeError, r"thresholds must be a list of numbers"),
    "BCE-label_smoothing-None": (lambda: M.BinaryCrossentropy(label_smoothing=None), TypeError,
                                 r"label_smoothing must be a real number.*label_smoothing=None"),
    # the keyword arguments a MeanMetricWrapper passes to the package's functions: checked as the classes check them
    # (k=2.5 gave a number; axis=1.5 / None and threshold='a' raw errors at the first update)
    "Wrapper-top_k-k-float": (lambda: M.MeanMetricWrapper(M.top_k_categorical_accuracy, k=2.5), TypeError,
                              r"k must be an integer in \[1, 2147483647\]; got k=2\.5"),
    "Wrapper-sparse_top_k-k-zero": (lambda: M.MeanMetricWrapper(M.sparse_top_k_categorical_accuracy, k=0),
                                    ValueError, r"k must be an integer.*got k=0"),
    "Wrapper-cce-axis-float": (lambda: M.MeanMetricWrapper(M.categorical_crossentropy, axis=1.5), TypeError,
                               r"axis must be an integer.*axis=1\.5"),
    "Wrapper-pearson-axis-None": (lambda: M.MeanMetricWrapper(M.pearson_correlation, axis=None), TypeError,
                                 r"axis must be an integer.*axis=None"),
    "Wrapper-binary_accuracy-threshold-str": (lambda: M.MeanMetricWrapper(M.binary_accuracy, threshold="a"),
                                              TypeError, r"threshold must be a real number.*threshold='a'"),
    "Wrapper-huber-delta-nan": (lambda: M.MeanMetricWrapper(M.huber, delta=float("nan")), ValueError,
                                r"delta must be a real number.*delta=nan"),
    "Wrapper-scce-ignore_class-float": (lambda: M.MeanMetricWrapper(M.sparse_categorical_crossentropy,
                                                                    ignore_class=1.5), TypeError,
                                        r"ignore_class must be None or an integer.*ignore_class=1\.5"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_constructor_argument_is_refused_at_construction(name):
    build, error, message = BAD[name]
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("call", [lambda f, t, p: f(t, p, k=2.5), lambda f, t, p: f(t, p, 2.5)],
                         ids=["keyword", "positional"])
def test_the_functions_check_their_keyword_arguments_too(call):
    """``top_k_categorical_accuracy(t, p, k=2.5)`` read as k=1 ([1, 1, 1, 1] here) where Keras raises."""
    one_hot = np.eye(3, dtype="float32")[[0, 1, 2, 0]]
    scores = np.array([[.1, .2, .7], [.5, .3, .2], [.2, .3, .5], [.6, .3, .1]], "float32")
    with pytest.raises(TypeError, match=r"k must be an integer.*k=2\.5"):
        call(M.top_k_categorical_accuracy, one_hot, scores)
    assert M.top_k_categorical_accuracy(one_hot, scores, np.int64(1)).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_type_refusals_are_also_value_errors_as_in_keras():
    with pytest.raises(ValueError, match="axis"):
        M.CategoricalCrossentropy(axis=1.5)


@pytest.mark.parametrize("dtype,name", [(None, "float32"), ("float16", "float16"), ("float64", "float64"),
                                        (np.float64, "float64"), (np.dtype(">f8"), "float64"), (float, "float32")])
def test_floating_dtypes_are_accepted_as_keras_names_them(dtype, name):
    assert M.AUC(dtype=dtype).dtype == name
    assert M.Sum(dtype=dtype).get_config()["dtype"] == name


def test_keras_dtype_policy_is_read_as_its_compute_dtype():
    class Policy:  # the part of keras.DTypePolicy the check reads
        compute_dtype = "float64"
    assert M.Mean(dtype=Policy()).dtype == "float64"


@pytest.mark.parametrize("name", ["mixed_float32", "mixed_float64", "mixed_int32", "mixed_", "mixed_bfloat16"])
def test_only_kerass_mixed_policy_names_are_read_as_their_compute_dtype(name):
    """Keras has two mixed policies, "mixed_float16" (float16) and "mixed_bfloat16", and refuses every other
    "mixed_" name; stripping any "mixed_" read "mixed_float64" as float64 and gave the IoU family "mixed_int32"."""
    assert M.Mean(dtype="mixed_float16").dtype == "float16"
    for make in (M.Mean, M.AUC, lambda dtype: M.MeanIoU(3, dtype=dtype)):
        with pytest.raises(ValueError, match=f"dtype={name!r}"):
            make(dtype=name)


def test_legal_integer_arguments_still_construct():
    assert M.Precision(top_k=np.int64(2), class_id=np.int32(1)).get_config()["top_k"] == 2
    assert M.AUC(num_thresholds=2 ** 20).num_thresholds == 2 ** 20
    assert M.SensitivityAtSpecificity(0.5, num_thresholds=1).thresholds == [0.5]
    assert M.MeanIoU(2 ** 4, ignore_class=-1, axis=np.int64(-1)).ignore_class == -1
    assert M.BinaryAccuracy(threshold=1).threshold == 1
    assert M.MeanIoU(2, dtype="int").get_config()["dtype"] == "int32"


@pytest.mark.parametrize("make", [lambda: M.Precision(thresholds=np.array([0.3, 0.6])),
                                  lambda: M.Recall(thresholds=np.float32(0.25)),
                                  lambda: M.TruePositives(thresholds=np.array(0.25)),
                                  lambda: M.BinaryAccuracy(threshold=np.float32(0.3)),
                                  lambda: M.PrecisionAtRecall(np.float64(0.5)),
                                  lambda: M.TopKCategoricalAccuracy(k=np.int64(2))],
                         ids=["array", "float32", "0-d-array", "BinaryAccuracy", "AtRecall", "int64-k"])
def test_configs_of_numpy_arguments_are_plain_json_and_keep_the_fingerprint(make):
    """NumPy scalars and arrays stayed in get_config(): ``json.dumps`` failed on them."""
    import json

    from gpumetrics._identity import describe, digest

    metric = make()
    rebuilt = type(metric).from_config(json.loads(json.dumps(metric.get_config())))
    assert digest(describe(rebuilt)) == digest(describe(metric))
