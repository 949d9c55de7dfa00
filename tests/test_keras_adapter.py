"""``gpumetrics.keras``: real Keras fit / evaluate per backend (one subprocess each: Keras fixes its backend once
per process), and the adapter's refusals. In this process Keras runs on the ``numpy`` backend (conftest)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gpumetrics

WORKER = Path(__file__).with_name("keras_fit_worker.py")


@pytest.mark.parametrize("backend", ["torch", "jax", "tensorflow"])
def test_fit_and_evaluate_log_the_standalone_values(backend):
    if importlib.util.find_spec(backend) is None or importlib.util.find_spec("keras") is None:
        pytest.skip(f"needs keras and {backend}")
    env = {**os.environ, "KERAS_BACKEND": backend}
    done = subprocess.run([sys.executable, str(WORKER)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0 and done.stdout.split()[-2:] == ["ok", backend], done.stderr[-4000:]


def test_keras_wrappers_of_plain_functions_refuse_a_gpumetrics_metric():
    """What Keras does with a callable that is not a keras.metrics.Metric (compile_utils.get_metric / get_loss)."""
    keras = pytest.importorskip("keras")
    from keras.src.losses.losses import LossFunctionWrapper

    y_true, y_pred = np.array([[0.0], [1.0]]), np.array([[0.2], [0.9]])
    with pytest.raises(TypeError, match=r"gpumetrics\.keras\.wrap"):
        keras.metrics.MeanMetricWrapper(gpumetrics.AUC()).update_state(y_true, y_pred)
    with pytest.raises(TypeError, match=r"no loss.*gpumetrics\.keras\.wrap"):
        LossFunctionWrapper(gpumetrics.BinaryCrossentropy())(y_true, y_pred)
    standalone = gpumetrics.AUC()
    assert float(standalone(y_true, y_pred)) == 1.0  # called by anyone else, a metric updates and answers


def test_wrap_takes_metrics_classes_and_identifiers_and_refuses_the_rest():
    keras = pytest.importorskip("keras")
    from gpumetrics.keras import wrap

    assert type(wrap("auc").metric) is gpumetrics.AUC
    assert type(wrap(gpumetrics.Recall).metric) is gpumetrics.Recall
    assert wrap(gpumetrics.AUC(name="roc"), name="roc_auc").name == "roc_auc"
    with pytest.raises(TypeError, match="already a keras.metrics.Metric"):
        wrap(keras.metrics.AUC())
    with pytest.raises(TypeError, match="MeanMetricWrapper"):
        wrap(gpumetrics.binary_crossentropy)
    with pytest.raises(TypeError, match=r"does not take \(y_true, y_pred"):
        wrap(gpumetrics.Mean())
    with pytest.raises(TypeError, match=r"MetricCollection is several metrics: wrap each member"):
        wrap(gpumetrics.MetricCollection([gpumetrics.AUC(), gpumetrics.Precision()]))
    # compile()'s "accuracy" is the binary / categorical / sparse accuracy its loss implies; get("accuracy") is
    # exact equality (0 on probabilities): named, never guessed
    with pytest.raises(ValueError, match=r"'accuracy' as the binary, categorical or sparse categorical accuracy"):
        wrap("accuracy")
    assert type(wrap("binary_accuracy").metric) is gpumetrics.BinaryAccuracy
    assert type(wrap("Accuracy").metric) is gpumetrics.Accuracy


@pytest.mark.parametrize("metric", [
    lambda: gpumetrics.AUC(num_groups=3), lambda: gpumetrics.MeanSquaredError(num_groups=2),
    lambda: gpumetrics.MeanIoU(num_classes=2, num_groups=1),
    lambda: {"class_name": "Precision", "config": {"num_groups": 4}},
], ids=["AUC", "MSE", "MeanIoU", "config"])
def test_wrap_refuses_a_grouped_metric_at_wrap_time(metric):
    """Keras's fit passes no group_ids: a grouped metric is refused when wrapped, not at its first update."""
    pytest.importorskip("keras")
    from gpumetrics.keras import wrap

    with pytest.raises(ValueError, match=r"num_groups=\d.*Keras.*never pass"):
        wrap(metric())
    assert wrap(gpumetrics.AUC(num_groups=None)).metric.num_groups is None


def test_config_round_trip_through_keras_serialization():
    keras = pytest.importorskip("keras")
    from gpumetrics.keras import KerasMetric, wrap

    wrapped = wrap(gpumetrics.AUC(num_thresholds=50, curve="PR"), name="pr_auc")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapped))
    assert type(again) is KerasMetric and again.name == "pr_auc"
    assert again.metric.get_config() == wrapped.metric.get_config()


def test_evaluate_on_the_numpy_backend_equals_the_standalone_metric():
    keras = pytest.importorskip("keras")
    from gpumetrics.keras import wrap

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)).astype("float32"), rng.integers(0, 2, size=(20, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", metrics=[wrap(gpumetrics.AUC())])
    logged = model.evaluate(x, y, batch_size=7, verbose=0, return_dict=True)["auc"]
    standalone = gpumetrics.AUC()
    predictions = model.predict(x, batch_size=7, verbose=0)
    for start in range(0, 20, 7):
        standalone.update_state(y[start:start + 7], predictions[start:start + 7])
    np.testing.assert_allclose(logged, float(standalone.result()), rtol=1e-6)


def test_keras_is_a_lazy_attribute_of_the_package():
    code = ("import sys, gpumetrics\n"
            "print(not any(m in sys.modules for m in ('keras', 'gpumetrics.keras')), 'keras' in dir(gpumetrics))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "True"], done.stderr[-2000:]


def masked_batches(seed, make, weights, size=None):
    """Three batches of a sequence model's output (batch, steps, 2) with a Keras mask over (batch, steps), as a
    ``Masking`` layer attaches it; ``weights``: None, "steps" (batch, steps) or "steps1" (batch, steps, 1)."""
    from keras.src.backend import set_keras_mask

    rng = np.random.default_rng(seed)
    for size in (4, 1, 6) if size is None else (size,):
        y_true = (rng.random((size, 5, 2)) < 0.5).astype("float32")
        y_pred = make(rng.random((size, 5, 2)).astype("float32"))
        set_keras_mask(y_pred, make(rng.random((size, 5)) < 0.6))
        shape = {None: None, "steps": (size, 5), "steps1": (size, 5, 1)}[weights]
        yield y_true, y_pred, None if shape is None else rng.uniform(0.5, 2.0, shape).astype("float32")


def masked_mean_oracle(values, batches):
    """float64 masked weighted mean of per-step ``values(y_true, y_pred)`` over the batches (the mask's meaning)."""
    from gpumetrics._masks import keras_mask_of

    total = weight = 0.0
    for y_true, y_pred, sample_weight in batches:
        mask = np.asarray(keras_mask_of(y_pred), dtype="float64")
        w = mask if sample_weight is None else mask * np.asarray(sample_weight, dtype="float64").reshape(mask.shape)
        total += float((values(np.asarray(y_true, "float64"), np.asarray(y_pred, "float64")) * w).sum())
        weight += float(w.sum())
    return total / weight


@pytest.mark.parametrize("weights", [None, "steps", "steps1"])
@pytest.mark.parametrize("make", ["numpy", "torch"])
def test_a_keras_mask_on_y_pred_weighs_mean_metrics_as_keras(make, weights, device):
    """Keras's ``MeanMetricWrapper.update_state`` multiplies the weights by ``y_pred``'s Keras mask (or takes the
    mask as the weights); its confusion metrics ignore the mask. A torch tensor carries the mask as an attribute,
    a NumPy array in Keras's table by id. Checked against a float64 oracle and against Keras's own metrics, over
    several updates, for fused classes, a plain function and a collection."""
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    make = {"numpy": lambda a: a.copy(), "torch": torch.tensor}[make]
    batches = list(masked_batches(3, make, weights))
    oracles = {"MeanSquaredError": lambda t, p: ((t - p) ** 2).mean(axis=-1),
               "BinaryAccuracy": lambda t, p: (t == (p > 0.5)).mean(axis=-1)}
    plain = gpumetrics.MeanMetricWrapper(lambda t, p: abs(t - p).mean(axis=-1), name="mae_fn", device=device)
    collection = gpumetrics.MetricCollection([gpumetrics.MeanSquaredError(device=device),
                                              gpumetrics.BinaryAccuracy(device=device), gpumetrics.AUC(device=device)])
    for name, oracle in oracles.items():
        ours, theirs = getattr(gpumetrics, name)(device=device), getattr(keras.metrics, name)()
        for y_true, y_pred, sample_weight in batches:
            ours.update_state(y_true, y_pred, sample_weight=sample_weight)
            theirs.update_state(y_true, y_pred, sample_weight=sample_weight)
        np.testing.assert_allclose(float(ours.result()), masked_mean_oracle(oracle, batches), rtol=1e-6)
        np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-5)
    auc, keras_auc = gpumetrics.AUC(device=device), keras.metrics.AUC()
    for y_true, y_pred, sample_weight in batches:
        plain.update_state(y_true, y_pred, sample_weight=sample_weight)
        collection.update_state(y_true, y_pred, sample_weight=sample_weight)
        auc.update_state(y_true, y_pred, sample_weight=sample_weight)
        keras_auc.update_state(y_true, y_pred, sample_weight=sample_weight)
    np.testing.assert_allclose(float(plain.result()), masked_mean_oracle(lambda t, p: abs(t - p).mean(axis=-1),
                                                                           batches), rtol=1e-6)
    np.testing.assert_allclose(float(auc.result()), float(keras_auc.result()), rtol=1e-5)  # the mask ignored
    results = collection.result()
    for name, oracle in oracles.items():
        key = {"MeanSquaredError": "mean_squared_error", "BinaryAccuracy": "binary_accuracy"}[name]
        np.testing.assert_allclose(float(results[key]), masked_mean_oracle(oracle, batches), rtol=1e-6)
    assert float(results["auc"]) == float(auc.result())


@pytest.mark.parametrize("make", ["numpy", "torch"])
def test_weights_of_another_rank_than_the_keras_mask_are_refused_unchanged(make):
    """Weights (batch,) beside a (batch, steps) mask would broadcast along the wrong axis (a weight per step):
    Keras raises (on JAX unless batch == steps); here a ValueError naming both shapes, with every state as it
    was, alone or in a collection. A scalar weight and (batch, 1) weights broadcast (Keras's JAX backend takes
    them; its NumPy and torch backends raise, multiplying in place)."""
    torch = pytest.importorskip("torch")
    make = {"numpy": lambda a: a.copy(), "torch": torch.tensor}[make]
    (y_true, y_pred, _), *_ = masked_batches(5, make, None)
    y_square, p_square, _ = next(masked_batches(6, make, None, size=5))  # batch == steps: NumPy would broadcast
    for truth, scores in ((y_true, y_pred), (y_square, p_square)):
        size = truth.shape[0]
        metric = gpumetrics.MeanSquaredError()
        metric.update_state(truth, scores.clone() if make is torch.tensor else scores.copy())  # an unmasked copy
        before = metric.state_dict()
        collection = gpumetrics.MetricCollection([gpumetrics.MeanSquaredError(), gpumetrics.AUC()])
        weights = np.linspace(0.5, 2.0, size, dtype="float32")
        with pytest.raises(ValueError, match=rf"sample_weight of shape \({size},\) and y_pred's Keras mask of "
                                             rf"shape \({size}, 5\) differ in rank"):
            metric.update_state(truth, scores, sample_weight=weights)
        with pytest.raises(ValueError, match=r"sample_weight of shape"):
            collection.update_state(truth, scores, sample_weight=weights)
        assert all(np.array_equal(before[k], v) for k, v in metric.state_dict().items())
        assert all(float(value) == 0.0 for value in collection.result().values())
        mse = lambda t, p: ((t - p) ** 2).mean(axis=-1)  # noqa: E731
        for taken in (0.5, weights[:, None]):
            metric = gpumetrics.MeanSquaredError()
            metric.update_state(truth, scores, sample_weight=taken)
            rows = np.broadcast_to(np.asarray(taken, "float32").reshape(-1, 1), (size, 5))
            np.testing.assert_allclose(float(metric.result()),
                                       masked_mean_oracle(mse, [(truth, scores, rows)]), rtol=1e-6)
@pytest.mark.parametrize("cls", ["Mean", "Sum"])
def test_mean_and_sum_refuse_weights_of_another_rank_than_their_values_mask(cls):
    """``Mean`` / ``Sum`` apply a mask on their values by the same rule: weights of shape (3,) beside a (3, 3)
    mask would broadcast along the wrong axis (a weight per step), where Keras raises; so do we, naming both
    shapes and leaving the state. Weights of the mask's shape are taken and equal Keras's."""
    keras = pytest.importorskip("keras")
    from keras.src.backend import set_keras_mask

    values = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]], dtype="float32")
    set_keras_mask(values, np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0]], dtype=bool))
    metric = getattr(gpumetrics, cls)()
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\) and the values' mask of shape \(3, 3\)"):
        metric.update_state(values, sample_weight=np.array([1.0, 2.0, 3.0], dtype="float32"))
    assert float(metric.result()) == 0.0
    weights = np.arange(1.0, 10.0, dtype="float32").reshape(3, 3)
    reference = getattr(keras.metrics, cls)()
    metric.update_state(values, sample_weight=weights)
    reference.update_state(values, sample_weight=weights)
    np.testing.assert_allclose(float(metric.result()), float(reference.result()), rtol=1e-6)
