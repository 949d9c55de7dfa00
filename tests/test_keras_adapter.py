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


def test_a_keras_mask_on_y_pred_is_refused():
    pytest.importorskip("keras")
    from gpumetrics.keras import wrap

    class Masked(np.ndarray):
        """An array that carries a Keras mask, as Keras layers with masking attach it to their outputs."""

    y_pred = np.array([[0.2], [0.9]]).view(Masked)
    y_pred._keras_mask = np.array([True, False])
    wrapped = wrap(gpumetrics.AUC())
    with pytest.raises(ValueError, match="Keras mask"):
        wrapped.update_state(np.array([[0.0], [1.0]]), y_pred)
    assert float(wrapped.metric.result()) == 0.0


def test_a_keras_mask_outside_the_adapter_is_applied_or_refused_as_keras_reads_it():
    """Direct updates: Keras's mean metrics weigh the masked samples of a masked ``y_pred`` 0, and ``Mean`` /
    ``Sum`` do so for weighted masked values; gpumetrics must not silently ignore the mask (it refuses the former,
    applies the latter). A torch tensor carries the mask as an attribute, a NumPy array in Keras's table by id."""
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from keras.src.backend import set_keras_mask

    y_true = np.array([[0.0], [1.0], [1.0], [0.0]], dtype="float32")
    y_pred = np.array([[0.1], [0.9], [0.2], [0.8]], dtype="float32")
    mask = np.array([True, True, False, False])
    for make in (lambda a: torch.tensor(a), lambda a: a.copy()):
        masked = make(y_pred)
        set_keras_mask(masked, make(mask))
        for metric in (gpumetrics.MeanSquaredError(), gpumetrics.BinaryAccuracy(),
                       gpumetrics.MeanMetricWrapper(lambda t, p: abs(t - p).mean(axis=-1))):
            with pytest.raises(ValueError, match="Keras mask"):
                metric.update_state(make(y_true), masked)
            assert float(metric.result()) == 0.0
        auc = gpumetrics.AUC()  # Keras's confusion metrics do not read the mask: neither do we
        auc.update_state(make(y_true), masked)
        np.testing.assert_allclose(float(auc.result()), 0.75, rtol=1e-6)
        values = make(np.array([1.0, 2.0, 3.0, 4.0], dtype="float32"))
        set_keras_mask(values, make(mask))
        weights = np.array([1.0, 2.0, 3.0, 1.0], dtype="float32")
        for metric, expected in ((gpumetrics.Mean(), 5.0 / 3.0), (gpumetrics.Sum(), 5.0)):
            metric.update_state(values, sample_weight=make(weights))
            reference = getattr(keras.metrics, type(metric).__name__)()
            reference.update_state(values, sample_weight=make(weights))  # Keras may scale its weights in place
            np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-6)
            np.testing.assert_allclose(float(metric.result()), float(reference.result()), rtol=1e-6)


def test_a_keras_mask_reaches_a_collection_of_mean_metrics_as_a_refusal():
    """A ``BinaryAccuracy`` in a collection rides the threshold histogram's shared pass, which reads no mask: the
    collection refuses a masked ``y_pred`` when any member is a mean metric (Keras weighs masked samples 0 there),
    changing no member, and takes it when every member ignores masks in Keras too (the confusion family)."""
    pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    from keras.src.backend import set_keras_mask

    y_true = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    y_pred = torch.tensor([[0.1], [0.9], [0.2], [0.8]])
    set_keras_mask(y_pred, torch.tensor([True, True, False, False]))
    mixed = gpumetrics.MetricCollection([gpumetrics.AUC(), gpumetrics.BinaryAccuracy()])
    with pytest.raises(ValueError, match=r"members \['binary_accuracy'\].*Keras mask"):
        mixed.update_state(y_true, y_pred)
    assert all(float(value) == 0.0 for value in mixed.result().values())
    confusion = gpumetrics.MetricCollection([gpumetrics.AUC(), gpumetrics.Precision()])
    confusion.update_state(y_true, y_pred)
    np.testing.assert_allclose(float(confusion.result()["auc"]), 0.75, rtol=1e-6)
