"""Every per-sample function of the package (``gpumetrics.mean_squared_error``, ...) against Keras's function of the
same name, and against its mean metric: the class's weighted mean of the function's values, on every backend.

``FUNCTIONS`` is the table: how to draw inputs, the shapes, the keyword arguments, and the metric class that
fuses the function (None: ``MeanMetricWrapper(fn, **kwargs)``, the generic path). An inventory guard fails when
a public per-sample function is missing from it.
"""
import inspect
from dataclasses import dataclass, field

import numpy as np
import pytest

from case_model import mean_of
from cases_elementwise import labels01, normal, on_threshold_scores, probabilities, signed_or_binary_labels
from cases_rowwise import class_scores, ids, logits, one_hot
from conftest import on_device, to_host

import gpumetrics

keras = pytest.importorskip("keras", reason="the per-sample functions are Keras's: comparing needs keras")

#: public callables of the package that take no (y_true, y_pred): not per-sample functions
NOT_PER_SAMPLE = {"get", "serialize", "deserialize", "register", "warmup"}
ELEMENT_SHAPES = [(12,), (10, 3), (6, 4, 3)]
ROW_SHAPES = [(4,), (10, 4), (6, 5, 4)]  # (4,): one sample, where Keras takes it (not class ids, not top-k)
UPDATES = 3


def positive(rng, shape):
    return rng.uniform(0.0, 3.0, size=shape)


def counts(rng, shape):
    return rng.poisson(2.0, size=shape)


def sorted_top_ids(rng, shape):
    """``from_sorted_ids`` predictions: each row's class ids by decreasing score."""
    return np.argsort(-class_scores(rng, shape), axis=-1)


@dataclass
class Function:
    """A row of the table: inputs ``y_true(rng, shape)`` and ``y_pred(rng, shape)`` (``logit_pred`` instead with
    ``from_logits=True``), the shapes of ``y_pred``, keyword-argument variants, and the fused class's name."""

    y_true: object
    y_pred: object
    shapes: list
    variants: list = field(default_factory=lambda: [{}])
    fused_class: str = None
    sparse: bool = False  # y_true holds a class id per row (kept integer)
    logit_pred: object = logits

    def draw(self, rng, shape, kwargs, dtype=np.float32):
        y_pred = (self.logit_pred if kwargs.get("from_logits") else self.y_pred)(rng, shape)
        if kwargs.get("from_sorted_ids"):
            y_pred = sorted_top_ids(rng, shape)
        y_true = self.y_true(rng, shape)
        as_float = y_true.dtype.kind == "f" or not self.sparse and not kwargs.get("from_sorted_ids")
        return y_true.astype(dtype) if as_float else y_true, y_pred.astype(dtype)


def elementwise(y_true, y_pred, fused_class, variants=({},)):
    return Function(y_true, y_pred, ELEMENT_SHAPES, list(variants), fused_class)


def rowwise(y_true, y_pred, fused_class, variants=({},), sparse=False, one_sample=True):
    return Function(y_true, y_pred, ROW_SHAPES[0 if one_sample else 1:], list(variants), fused_class, sparse)


FUNCTIONS = {
    "mean_absolute_error": elementwise(normal, normal, "MeanAbsoluteError"),
    "mean_squared_error": elementwise(normal, normal, "MeanSquaredError"),
    "huber": elementwise(normal, normal, None, [{}, {"delta": 0.5}]),
    "log_cosh": elementwise(normal, normal, "LogCoshError"),
    "mean_absolute_percentage_error": elementwise(normal, normal, "MeanAbsolutePercentageError"),
    "mean_squared_logarithmic_error": elementwise(positive, normal, "MeanSquaredLogarithmicError"),
    "binary_accuracy": elementwise(labels01, on_threshold_scores, "BinaryAccuracy", [{}, {"threshold": 0.3}]),
    "binary_crossentropy": elementwise(labels01, probabilities, "BinaryCrossentropy",
                                       [{}, {"label_smoothing": 0.2}, {"from_logits": True}]),
    "binary_focal_crossentropy": elementwise(labels01, probabilities, None, [
        {}, {"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5},
        {"from_logits": True, "label_smoothing": 0.1}]),
    "kl_divergence": elementwise(probabilities, probabilities, "KLDivergence"),
    "poisson": elementwise(counts, positive, "Poisson"),
    "hinge": elementwise(signed_or_binary_labels, normal, "Hinge"),
    "squared_hinge": elementwise(signed_or_binary_labels, normal, "SquaredHinge"),
    "categorical_accuracy": rowwise(one_hot, class_scores, "CategoricalAccuracy"),
    "sparse_categorical_accuracy": rowwise(ids, class_scores, "SparseCategoricalAccuracy", sparse=True,
                                           one_sample=False),
    "top_k_categorical_accuracy": rowwise(one_hot, class_scores, "TopKCategoricalAccuracy", [{}, {"k": 2}],
                                          one_sample=False),
    "sparse_top_k_categorical_accuracy": rowwise(ids, class_scores, "SparseTopKCategoricalAccuracy",
                                                 [{}, {"k": 2}, {"k": 2, "from_sorted_ids": True}], sparse=True,
                                                 one_sample=False),
    "categorical_crossentropy": rowwise(one_hot, class_scores, "CategoricalCrossentropy",
                                        [{}, {"label_smoothing": 0.1}, {"from_logits": True}]),
    "categorical_focal_crossentropy": rowwise(one_hot, class_scores, None,
                                              [{}, {"alpha": 0.5, "gamma": 1.0}, {"from_logits": True}]),
    "sparse_categorical_crossentropy": rowwise(ids, class_scores, "SparseCategoricalCrossentropy",
                                               [{}, {"from_logits": True}, {"ignore_class": 1}], sparse=True,
                                               one_sample=False),
    "categorical_hinge": rowwise(one_hot, normal, "CategoricalHinge"),
    "pearson_correlation": rowwise(normal, normal, "PearsonCorrelation"),
    "concordance_correlation": rowwise(normal, normal, "ConcordanceCorrelation"),
}
#: keyword arguments whose class differs on purpose from the plain mean of the function's values (``ignore_class``
#: also takes the masked samples out of the count when sample weights are given; cases_rowwise.py tests that rule)
CLASS_DIFFERS = {"ignore_class"}
#: functions whose float32 result has another dtype than Keras's: a defect of the package this table found,
#: checked by a strict xfail until fixed (it then fails: remove the entry)
PARAMS = [pytest.param(name, kwargs, id="-".join([name] + [f"{k}={v}" for k, v in kwargs.items()]))
          for name, row in FUNCTIONS.items() for kwargs in row.variants]


def public_per_sample_functions():
    """The package's public functions of (y_true, y_pred), those carrying a fused form, and Keras's functions."""
    public = {name for name in gpumetrics.__all__
              if inspect.isfunction(getattr(gpumetrics, name)) and name not in NOT_PER_SAMPLE}
    fused = {name for name, f in vars(gpumetrics).items() if inspect.isfunction(f) and hasattr(f, "fused")}
    theirs = {name for name, f in vars(keras.metrics).items()
              if inspect.isfunction(f) and not name.startswith("_") and name not in NOT_PER_SAMPLE}
    return public | fused | theirs


def test_every_public_per_sample_function_is_in_the_table():
    found = public_per_sample_functions()
    assert found == set(FUNCTIONS), f"not in the table: {sorted(found - set(FUNCTIONS))}; " \
                                    f"in the table but not public: {sorted(set(FUNCTIONS) - found)}"


@pytest.mark.parametrize("name,kwargs", PARAMS)
def test_same_values_as_keras(name, kwargs, rng):
    """float32 and float64 inputs of every shape Keras takes: one value per sample, Keras's values and, for float32
    inputs, Keras's dtype. Keras's NumPy backend computes most functions of float64 inputs in float32 (its
    floatx), where we keep float64: there the values agree to float32 rounding."""
    row, ours, theirs = FUNCTIONS[name], getattr(gpumetrics, name), getattr(keras.metrics, name)
    for dtype in (np.float32, np.float64):
        for shape in row.shapes:
            y_true, y_pred = row.draw(rng, shape, kwargs, dtype)
            want = np.asarray(theirs(y_true, y_pred, **kwargs))
            got = np.asarray(ours(y_true, y_pred, **kwargs))
            where = f"{np.dtype(dtype).name} {shape}"
            assert got.shape == want.shape, f"{where}: {got.shape} != {want.shape}"
            if dtype == np.float32:
                assert got.dtype == want.dtype, f"{where}: {got.dtype} != {want.dtype}"
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=where)


def float64_values(function, kwargs):
    """The per-sample values of ``function`` on a batch's inputs in float64 (class ids kept as they are)."""
    def values(batch):
        y_true, y_pred = batch["y_true"], batch["y_pred"]
        return np.asarray(function(y_true.astype(np.float64) if y_true.dtype.kind == "f" else y_true,
                                   y_pred.astype(np.float64), **kwargs))

    return values


@pytest.mark.parametrize("name,kwargs", PARAMS)
def test_fused_class_is_the_weighted_mean_of_the_function(name, kwargs, device, rng):
    """The class (or ``MeanMetricWrapper``) after each of several weighted updates: the float64 weighted mean
    (Keras's sample-weight rule, ``case_model.mean_of``) of the function's own per-sample values."""
    if CLASS_DIFFERS & set(kwargs):
        pytest.skip(f"{sorted(CLASS_DIFFERS & set(kwargs))}: the class's rule differs on purpose")
    row, function = FUNCTIONS[name], getattr(gpumetrics, name)
    if row.fused_class is None:
        metric = gpumetrics.MeanMetricWrapper(function, device=device, **kwargs)
    else:
        metric = getattr(gpumetrics, row.fused_class)(device=device, **kwargs)
    shape, batches = row.shapes[-1], []
    for seen in range(1, UPDATES + 1):
        y_true, y_pred = row.draw(rng, shape, kwargs)
        batches.append({"y_true": y_true, "y_pred": y_pred, "sample_weight": rng.uniform(0, 2, size=shape[0])})
        metric.update_state(*(on_device(batches[-1][k], device) for k in ("y_true", "y_pred", "sample_weight")))
        want = mean_of(batches, float64_values(function, kwargs))
        np.testing.assert_allclose(float(to_host(metric.result())), want, rtol=1e-5, err_msg=f"after update {seen}")


#: Keras's functions that read ``y_true`` as it is (compared with a threshold, or through its argmax)
KERAS_DOES_NOT_CAST = {"binary_accuracy", "categorical_accuracy", "top_k_categorical_accuracy"}


@pytest.mark.parametrize("labels", ["float", "wide-int"])
@pytest.mark.parametrize("pred_dtype", [np.int64, np.int8])
@pytest.mark.parametrize("name,kwargs", [p for p in PARAMS if not p.values[1].get("from_logits")])
def test_fused_class_reads_integer_predictions_as_the_function_does(name, kwargs, pred_dtype, labels, device, rng):
    """Beside integer ``y_pred`` Keras's functions cast ``y_true`` to its dtype first (floats truncated, integers
    wrapped to its width) where they cast at all: the class (one weighted update of float labels, or of int64 labels
    up to a few hundred, beside such predictions) is the weighted mean of the function's values on the labels so
    cast, computed in float32, the precision Keras takes for integer inputs (Keras's own integer arithmetic, whose
    squares overflow in int8, is not copied)."""
    if CLASS_DIFFERS & set(kwargs):
        pytest.skip(f"{sorted(CLASS_DIFFERS & set(kwargs))}: the class's rule differs on purpose")
    row, function = FUNCTIONS[name], getattr(gpumetrics, name)
    if labels == "wide-int" and (row.sparse or kwargs.get("from_sorted_ids")):
        pytest.skip("class ids are read as ids, never cast")
    shape = row.shapes[-1]
    y_true, y_pred = row.draw(rng, shape, kwargs)
    y_pred = (y_pred * 3 if y_pred.dtype.kind == "f" else y_pred).astype(pred_dtype)
    if labels == "wide-int":  # int8 wraps them
        y_true = np.rint(y_true * 100).astype(np.int64)
    weight = rng.uniform(0, 2, size=shape[0])
    metric = (gpumetrics.MeanMetricWrapper(function, device=device, **kwargs) if row.fused_class is None
              else getattr(gpumetrics, row.fused_class)(device=device, **kwargs))
    ids = row.sparse or kwargs.get("from_sorted_ids")
    read = y_true if ids else (y_true if name in KERAS_DOES_NOT_CAST else y_true.astype(pred_dtype)).astype(np.float32)
    with np.errstate(all="ignore"):
        metric.update_state(*(on_device(a, device) for a in (y_true, y_pred, weight)))
        if hasattr(function, "fused"):
            values = np.asarray(function(read, y_pred.astype(np.float32), **kwargs), dtype=np.float64)
        else:  # MeanMetricWrapper calls the function itself, integer arithmetic and all
            values = np.asarray(function(y_true, y_pred, **kwargs), dtype=np.float64)
    want = mean_of([{"y_true": y_true, "y_pred": y_pred, "sample_weight": weight}], lambda batch: values)
    np.testing.assert_allclose(float(to_host(metric.result())), want, rtol=1e-5)


def test_accuracy_reads_labels_beside_bool_predictions_as_keras_casts_them(device):
    """Keras casts the labels to bool: 2 and -1 are True. By hand: rows 2 / True, 0 / False, -1 / True, 0 / True."""
    y_true, y_pred = np.array([[2], [0], [-1], [0]]), np.array([[True], [False], [True], [True]])
    for labels in (y_true, y_true.astype(np.float32)):
        metric = gpumetrics.Accuracy(device=device)
        metric.update_state(on_device(labels, device), on_device(y_pred, device),
                            on_device(np.array([1.0, 1.0, 2.0, 4.0]), device))
        assert float(to_host(metric.result())) == 4.0 / 8.0
        per_sample = np.asarray(gpumetrics.metrics.accuracy.accuracy(labels, y_pred))  # the function agrees
        np.testing.assert_array_equal(per_sample[:, 0], [1, 1, 1, 0])
    metric = gpumetrics.Accuracy(device=device)  # and to uint8 beside uint8 predictions: 257 wraps to 1
    metric.update_state(on_device(np.array([257, 3]), device), on_device(np.array([1, 3], np.uint8), device))
    assert float(to_host(metric.result())) == 1.0


@pytest.mark.parametrize("shape, weight_shape", [((12,), (12,)), ((12,), (12, 1)), ((12,), None), ((12, 3), (12, 1)),
                                                 ((12, 3), (12, 3)), ((12, 3), None)])
@pytest.mark.parametrize("how", ["Mean", "Sum", "wrapped-lambda"])
def test_ignore_class_values_carry_kerass_mask_into_a_weighted_mean(how, shape, weight_shape, device, rng):
    """``sparse_categorical_crossentropy(..., ignore_class=c)``'s values carry Keras's mask: with sample weights a
    ``Mean`` / ``Sum`` of them, or a ``MeanMetricWrapper`` of a function returning them, weighs the ignored samples
    0, as the fused class and Keras do (unweighted, they count as zeros, as in Keras)."""
    labels, scores = rng.integers(0, 4, shape), rng.normal(size=shape + (4,))
    weights = None if weight_shape is None else rng.uniform(0.5, 2, weight_shape)
    log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
    values = np.where(labels != 2, -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0], 0.0)
    if weights is None:
        full = np.ones(shape)
    else:  # Keras's rank rule: (N, 1) weights of (N,) values drop their 1; (N,) or (N, 1) of (N, T) weigh rows
        full = np.broadcast_to(weights.reshape(shape if weights.size > 12 else (12,) + (1,) * (len(shape) - 1)),
                               shape)
    counted = full * ((labels != 2) if weights is not None else 1)
    expected = np.sum(counted * values) / (1 if how == "Sum" else counted.sum())

    def fn(t, p):
        return gpumetrics.sparse_categorical_crossentropy(t, p, from_logits=True, ignore_class=2)

    w = None if weights is None else on_device(weights, device)
    if how == "wrapped-lambda":
        metric = gpumetrics.MeanMetricWrapper(lambda t, p: fn(t, p), dtype="float64", device=device)
        metric.update_state(on_device(labels, device), on_device(scores, device), sample_weight=w)
        fused = gpumetrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2, dtype="float64",
                                                          device=device)
        fused.update_state(on_device(labels, device), on_device(scores, device), sample_weight=w)
        np.testing.assert_allclose(float(to_host(fused.result())), expected, rtol=1e-12)
    else:
        metric = getattr(gpumetrics, how)(dtype="float64", device=device)
        metric.update_state(fn(on_device(labels, device), on_device(scores, device)), sample_weight=w)
    np.testing.assert_allclose(float(to_host(metric.result())), expected, rtol=1e-12)


@pytest.mark.parametrize("shape", [(12,), (12, 3)])
def test_a_scalar_weight_beside_the_ignore_class_mask_weighs_each_value(shape, device, rng):
    """Keras's ``apply_mask`` multiplies a scalar weight ``w`` by the ignore_class mask (JAX's backend; NumPy and
    torch raise, multiplying in place), so the batch counts ``w`` per kept value, as ``np.full(shape, w)`` would,
    and as a ``MeanMetricWrapper`` of a function returning the masked values does. The fused pass counted
    ``w`` times the kept fraction: a batch's share in a mean over batches was ``1 / shape[0]`` of Keras's."""
    batches = [(rng.integers(0, 4, shape), rng.normal(size=shape + (4,)), weight) for weight in (2.5, None, 0.5)]
    total = count = 0.0
    for labels, scores, weight in batches:  # float64 oracle: Keras's Mean of (values, w * mask), T values per row
        log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
        values = np.where(labels != 2, -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0], 0.0)
        w = np.ones(shape) if weight is None else weight * (labels != 2)
        total, count = total + (w * values).sum() / np.prod(shape[1:]), count + w.sum() / np.prod(shape[1:])
    fused = gpumetrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2, dtype="float64", device=device)
    plain = gpumetrics.MeanMetricWrapper(lambda t, p: gpumetrics.sparse_categorical_crossentropy(
        t, p, from_logits=True, ignore_class=2), dtype="float64", device=device)
    for metric in (fused, plain):
        for labels, scores, weight in batches:
            metric.update_state(on_device(labels, device), on_device(scores, device), sample_weight=weight)
        np.testing.assert_allclose(float(to_host(metric.count.value)), count, rtol=1e-12)
        np.testing.assert_allclose(float(to_host(metric.result())), total / count, rtol=1e-12)


@pytest.mark.parametrize("shape, axis", [((12,), -1), ((12, 3), -1), ((12,), 0)])
def test_a_scalar_weight_beside_ignore_class_weighs_each_label_across_batches(shape, axis, device, rng):
    """Keras's ``apply_mask`` broadcasts a scalar weight over ``ignore_class``'s mask: each counted label weighs
    that scalar, as a weight per label would (Keras on JAX; its NumPy and torch backends raise). The fused class
    counted the batch's one weight instead, each label a share of it: one batch gave the same mean, but beside a
    batch of per-sample weights the scalar batch weighed 1/N of what it should (N its samples; with 4 samples,
    1.19 where Keras gives 0.93); ``Mean`` of the function's masked values was right. With ``axis=0`` the samples
    are the values' first axis, not ``y_pred``'s."""
    batches = [(rng.integers(0, 4, shape), rng.normal(size=shape + (4,)), w)
               for w in (np.float64(1.5), rng.uniform(0.5, 2, shape[:1] + (1,) * (len(shape) - 1)))]
    values, weights = [], []
    for labels, scores, w in batches:
        log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
        values.append(-np.take_along_axis(log_probs, labels[..., None], -1)[..., 0])
        weights.append(np.broadcast_to(w, shape) * (labels != 2))
    expected = sum((v * w).sum() for v, w in zip(values, weights)) / sum(w.sum() for w in weights)
    fused = gpumetrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=2, axis=axis, dtype="float64",
                                                     device=device)
    mean = gpumetrics.Mean(dtype="float64", device=device)
    for labels, scores, w in batches:
        y_true, y_pred = on_device(labels, device), on_device(np.moveaxis(scores, -1, axis), device)
        fused.update_state(y_true, y_pred, sample_weight=on_device(w, device))
        mean.update_state(gpumetrics.sparse_categorical_crossentropy(y_true, y_pred, from_logits=True, ignore_class=2,
                                                                     axis=axis), sample_weight=on_device(w, device))
    np.testing.assert_allclose(float(to_host(fused.result())), expected, rtol=1e-12)
    np.testing.assert_allclose(float(to_host(mean.result())), expected, rtol=1e-12)


def test_a_mask_that_does_not_broadcast_with_the_weights_is_refused_and_changes_nothing(device, rng):
    """Sequence values ``(N, T)`` with one weight per sequence: Keras multiplies the ``(N,)`` weights by the
    ``(N, T)`` mask and fails; here a ``ValueError`` names both shapes."""
    metric = gpumetrics.Mean(device=device)
    values = gpumetrics.sparse_categorical_crossentropy(on_device(rng.integers(0, 4, (12, 3)), device),
                                                        on_device(rng.normal(size=(12, 3, 4)), device),
                                                        from_logits=True, ignore_class=2)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(12,\) and the values' mask of shape \(12, 3\) "
                                         r"differ in rank"):
        metric.update_state(values, sample_weight=on_device(rng.uniform(0.5, 2, 12), device))
    assert float(to_host(metric.count.value)) == 0.0


def test_a_wrapper_of_binary_crossentropy_over_another_axis_calls_the_function(device, rng):
    """The fused pass averages over the last axis only; ``MeanMetricWrapper(binary_crossentropy, axis=0)`` was
    refused at the first update where Keras takes it: it now computes with the function."""
    labels, scores = rng.integers(0, 2, (6, 4)), rng.uniform(0.05, 0.95, (6, 4))
    metric = gpumetrics.MeanMetricWrapper(gpumetrics.binary_crossentropy, axis=0, dtype="float64", device=device)
    metric.update_state(on_device(labels, device), on_device(scores, device))
    per_position = -(labels * np.log(scores) + (1 - labels) * np.log(1 - scores)).mean(axis=0)
    np.testing.assert_allclose(float(to_host(metric.result())), per_position.mean(), rtol=1e-6)
    assert not metric._replayable()


@pytest.mark.parametrize("axis", [0, -3])
def test_a_class_axis_down_to_minus_rank_names_that_axis(axis, device, rng):
    """``axis`` may be any of ``-rank .. rank - 1``: ``-3`` on rank-3 scores is axis 0, the classes first."""
    labels, scores = rng.integers(0, 4, (6, 5)), rng.uniform(0.05, 1.0, (6, 5, 4))
    metric = gpumetrics.SparseCategoricalCrossentropy(axis=axis, dtype="float64", device=device)
    metric.update_state(on_device(labels, device), on_device(np.moveaxis(scores, -1, 0), device))
    probs = scores / scores.sum(axis=-1, keepdims=True)
    expected = -np.log(np.take_along_axis(probs, labels[..., None], -1)).mean()
    np.testing.assert_allclose(float(to_host(metric.result())), expected, rtol=1e-6)


@pytest.mark.parametrize("scale", [1e-80, 1e150])
def test_pearson_correlation_is_the_same_at_any_scale_whose_squares_are_finite(scale, rng):
    """The function divided by sqrt(sum dt^2 * sum dp^2): that product underflowed at 1e-80 (digits lost; inf at
    1e-160) and overflowed at 1e150 (NaN) where each sum is a normal float64. The fused class was right."""
    y_true = rng.normal(size=(4, 8))
    y_pred = y_true + rng.normal(size=(4, 8))
    np.testing.assert_allclose(gpumetrics.pearson_correlation(y_true * scale, y_pred * scale),
                               gpumetrics.pearson_correlation(y_true, y_pred), rtol=1e-12)
