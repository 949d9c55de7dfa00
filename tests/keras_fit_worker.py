"""``KERAS_BACKEND=<backend> python keras_fit_worker.py``: real Keras ``fit`` / ``evaluate`` runs with gpumetrics
metrics through ``gpumetrics.keras``, on the backend of the environment (Keras picks it once per process).

A plain Keras metric, ``Recorder``, keeps a host copy of every batch Keras hands its metrics, one segment per
``reset_state``. Every logged value (each epoch's training and validation value, and ``evaluate``'s) must equal
the same gpumetrics metric updated standalone on that segment's batches. Prints ``ok`` at the end.
"""
import sys

import keras
import numpy as np
from keras.src.backend import in_symbolic_scope

import gpumetrics
from gpumetrics.keras import wrap

BACKEND = keras.backend.backend()
if BACKEND == "tensorflow":  # two logical CPUs, for a two-replica MirroredStrategy
    import tensorflow as tf

    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 2)
RTOL = 1e-6


class Recorder(keras.metrics.Metric):
    """Host copies of the ``(y_true, y_pred, sample_weight)`` batches Keras feeds its metrics, per reset."""

    def __init__(self, name):
        super().__init__(name=name)
        self.segments = [[]]

    def update_state(self, y_true, y_pred, sample_weight=None):
        if in_symbolic_scope():
            return
        if BACKEND == "jax":
            import jax

            jax.debug.callback(self._store, y_true, y_pred, sample_weight, ordered=True)
        elif BACKEND == "tensorflow":
            import tensorflow as tf

            given = [a for a in (y_true, y_pred, sample_weight) if a is not None]
            store = lambda *arrays: self._store(*arrays, *[None] * (3 - len(arrays))) or np.float32(0)  # noqa: E731
            tf.numpy_function(store, given, tf.float32, stateful=True)
        else:
            batch = (y_true, y_pred, sample_weight)
            self._store(*(None if a is None else keras.ops.convert_to_numpy(a) for a in batch))

    def _store(self, *batch):
        self.segments[-1].append(tuple(None if a is None else np.array(a) for a in batch))

    def reset_state(self):
        if BACKEND == "jax":
            import jax

            jax.effects_barrier()
        elif BACKEND == "tensorflow":
            from tensorflow.python.eager import context

            context.async_wait()
        self.segments.append([])

    def result(self):
        return keras.ops.zeros(())


class TrueClassMass(gpumetrics.Metric):
    """A user's subclass: the mean probability given to the true class (one-hot labels)."""

    def __init__(self, name="true_class_mass", **kwargs):
        super().__init__(name=name, **kwargs)
        self.mass = self.add_variable(shape=(), name="mass")
        self.count = self.add_variable(shape=(), name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = self.asarray(y_true, "y_true"), self.asarray(y_pred, "y_pred")
        self.mass.assign_add((y_true * y_pred).sum())
        self.count.assign_add(y_true.shape[0])

    def result(self):
        return (self.mass.value / max(float(self.count), 1.0)).astype(self.dtype)


def data(seed, count, classes=3, features=4):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, features)).astype("float32")
    labels = np.argmax(x[:, :classes] + rng.normal(scale=1.0, size=(count, classes)), axis=1)
    return x, labels, rng.uniform(0.5, 2.0, size=count).astype("float32")


def model(loss):
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    return net, loss


def fit_and_check(loss, y_of, metrics, weighted=()):
    """Fit 2 epochs with validation, then evaluate; check each wrapped metric against its recorder's batches."""
    (x, labels, w), (xv, labels_v, wv) = data(1, 48), data(2, 24)
    net, loss = model(loss)
    recorder, weighted_recorder = Recorder("recorder"), Recorder("weighted_recorder")
    net.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss, metrics=[*metrics, recorder],
                weighted_metrics=[*weighted, weighted_recorder])
    history = net.fit(x, y_of(labels), sample_weight=w, batch_size=16, epochs=2, verbose=0,
                      validation_data=(xv, y_of(labels_v), wv), validation_batch_size=8).history
    evaluated = net.evaluate(xv, y_of(labels_v), sample_weight=wv, batch_size=12, verbose=0, return_dict=True)
    for wrapped, rec in [(m, recorder) for m in metrics] + [(m, weighted_recorder) for m in weighted]:
        segments = [s for s in rec.segments if s]
        assert [len(s) for s in segments] == [3, 3, 3, 3, 2], [len(s) for s in segments]
        name = wrapped.name
        logged = [history[name][0], history[f"val_{name}"][0], history[name][1], history[f"val_{name}"][1],
                  evaluated[name]]
        for segment, value in zip(segments, logged):
            standalone = wrapped.metric.copy()
            standalone.reset_state()
            for y_true, y_pred, sample_weight in segment:
                standalone.update_state(y_true, y_pred, sample_weight=sample_weight)
            np.testing.assert_allclose(value, float(standalone.result()), rtol=RTOL, err_msg=f"{BACKEND} {name}")
        assert history[name][0] != history[name][1], f"{name}: the epochs should differ for the check to mean much"


def check_torch_compile():
    """torch with jit_compile=True (torch.compile): the adapter runs outside the compiled graph, on real tensors."""
    import torch

    (x, labels, _), metric = data(5, 32), wrap(gpumetrics.AUC())
    recorder = Recorder("recorder")
    recorder.update_state = torch.compiler.disable(recorder.update_state)  # record the real tensors, not a trace
    net, _ = model(None)
    net.compile(optimizer=keras.optimizers.Adam(0.05), loss="categorical_crossentropy", metrics=[metric, recorder],
                jit_compile=True)
    logged = net.fit(x, np.eye(3, dtype="float32")[labels], batch_size=16, epochs=1, verbose=0).history["auc"]
    (segment,) = [s for s in recorder.segments if s]
    standalone = gpumetrics.AUC()
    for y_true, y_pred, _ in segment:
        standalone.update_state(y_true, y_pred)
    assert len(segment) == 2
    np.testing.assert_allclose(logged[0], float(standalone.result()), rtol=RTOL, err_msg="torch.compile auc")


class PositiveCount(gpumetrics.Metric):
    """A user's subclass whose ``result()`` is a state's own array (as ``keras.metrics.Sum``-like code writes it)."""

    def __init__(self, name="positives", **kwargs):
        super().__init__(name=name, dtype="float32", **kwargs)
        self.total = self.add_variable(shape=(), name="total", dtype="float32")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.total.assign_add(self.asarray(y_true, "y_true").sum())

    def result(self):
        return self.total.value


def check_result_sharing_a_state_with_validation():
    """The training logs of an epoch are read after its validation reset and updated the metric: a logged value
    that shares the state's memory would show the validation's count."""
    x, labels, _ = data(6, 30)
    y = np.eye(3, dtype="float32")[labels]
    net, _ = model(None)
    net.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[wrap(PositiveCount())])
    history = net.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x[:7], y[:7])).history
    assert history["positives"] == [30.0, 30.0] and history["val_positives"] == [7.0, 7.0], history


def check_masked_sequence_model():
    """A Masking layer's mask on y_pred, side by side with Keras's own metrics in one model: the mean metrics weigh
    the masked steps 0 (with and without weights of the mask's shape), AUC ignores the mask, as Keras's do. On
    JAX, Keras's training step loses the mask for its own metrics too; evaluate keeps it."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(24, 5, 3)).astype("float32")
    x[rng.random((24, 5)) < 0.4] = 0.0  # masked steps
    y = (rng.random((24, 5, 2)) < 0.5).astype("float32")
    w = rng.uniform(0.5, 2.0, size=(24, 5)).astype("float32")
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(0.0),
                            keras.layers.Dense(2, activation="sigmoid")])
    pairs = [(keras.metrics.MeanSquaredError(name=f"k_mse{t}"), wrap(gpumetrics.MeanSquaredError(), name=f"g_mse{t}"))
             for t in ("", "_w")]
    pairs += [(keras.metrics.BinaryAccuracy(name=f"k_acc{t}"), wrap(gpumetrics.BinaryAccuracy(), name=f"g_acc{t}"))
              for t in ("", "_w")]
    pairs += [(keras.metrics.AUC(name="k_auc"), wrap(gpumetrics.AUC(), name="g_auc"))]
    plain, weighted = [pairs[0], pairs[2], pairs[4]], [pairs[1], pairs[3]]
    net.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse", metrics=[m for p in plain for m in p],
                weighted_metrics=[m for p in weighted for m in p])
    history = net.fit(x, y, sample_weight=w, batch_size=8, epochs=2, verbose=0,
                      validation_data=(x[:16], y[:16], w[:16])).history
    evaluated = net.evaluate(x, y, sample_weight=w, batch_size=12, verbose=0, return_dict=True)
    for ours, theirs in [(g.name, k.name) for k, g in pairs]:
        np.testing.assert_allclose(history[ours], history[theirs], rtol=1e-5, err_msg=f"{BACKEND} {ours}")
        np.testing.assert_allclose(history[f"val_{ours}"], history[f"val_{theirs}"], rtol=1e-5,
                                   err_msg=f"{BACKEND} val_{ours}")
        np.testing.assert_allclose(evaluated[ours], evaluated[theirs], rtol=1e-5, err_msg=f"{BACKEND} {ours}")
    unmasked = wrap(gpumetrics.MeanSquaredError()).metric
    unmasked.update_state(y, net.predict(x, verbose=0))
    assert abs(evaluated["g_mse"] - float(unmasked.result())) > 1e-4, "the mask should change the number"


def check_refused_without_adapter():
    """A gpumetrics metric handed to compile() as it is: a TypeError naming gpumetrics.keras, as metric or loss."""
    x, labels, _ = data(3, 8)
    for kwargs in ({"loss": "categorical_crossentropy", "metrics": [gpumetrics.CategoricalAccuracy()]},
                   {"loss": "categorical_crossentropy",
                    "metrics": [gpumetrics.MetricCollection([gpumetrics.AUC(), gpumetrics.CategoricalAccuracy()])]},
                   {"loss": gpumetrics.CategoricalCrossentropy()}):
        net, _ = model(None)
        net.compile(optimizer="sgd", **kwargs)
        for run in (lambda: net.fit(x, np.eye(3)[labels], epochs=1, verbose=0),
                    lambda: net.evaluate(x, np.eye(3)[labels], verbose=0)):
            try:
                run()
            except TypeError as error:
                assert "gpumetrics.keras.wrap" in str(error), error
            else:
                raise AssertionError(f"{kwargs} ran without the adapter on {BACKEND}")


def check_float64_refused_on_jax_without_x64():
    """A float64 result cannot come back into a JAX step while JAX's 64-bit types are off: refused by name (JAX's
    own error named neither the metric's dtype nor the way out)."""
    if BACKEND != "jax" or jax_x64():
        return
    x, labels, _ = data(5, 8)
    net, _ = model(None)
    net.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[wrap(gpumetrics.AUC(dtype="float64"))])
    try:
        net.evaluate(x, np.eye(3)[labels], verbose=0)
    except ValueError as error:
        assert "dtype='float32'" in str(error) and "jax_enable_x64" in str(error), error
    else:
        raise AssertionError("a float64 metric ran in a JAX step with 64-bit types off")


def jax_x64():
    import jax

    return jax.config.read("jax_enable_x64")


def check_refused_in_distributed_steps():
    """Steps split over devices would each update the one host metric and log a partial result: refused."""
    x, labels, _ = data(4, 8)
    if BACKEND == "jax":
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        scope = keras.distribution.distribution().scope()
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        scope = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope()
    else:
        return
    with scope:
        net, _ = model(None)
        net.compile(optimizer="sgd", loss="categorical_crossentropy", metrics=[wrap(gpumetrics.AUC())])
    try:
        net.fit(x, np.eye(3)[labels], epochs=1, verbose=0)
    except ValueError as error:
        assert "distributed Keras step" in str(error), error
    else:
        raise AssertionError(f"a distributed fit ran with gpumetrics.keras on {BACKEND}")


def check_weights_of_another_rank_than_the_mask_refused():
    """Weights (batch,) beside a Masking layer's (batch, steps) mask: refused as the standalone metric refuses them,
    also where batch == steps, on which Keras's apply_mask (run in JAX's traced step) would broadcast them from the
    right, a weight per step, and log a number silently. (Eagerly, on torch, Keras's loss raises first; the metric's
    own refusal is tested in test_keras_adapter.py.)"""
    if BACKEND != "jax":
        return
    rng = np.random.default_rng(8)
    x = rng.normal(size=(10, 5, 3)).astype("float32")
    x[rng.random((10, 5)) < 0.4] = 0.0
    y = (rng.random((10, 5, 2)) < 0.5).astype("float32")
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((5, 3)), keras.layers.Masking(0.0), keras.layers.Dense(2, activation="sigmoid")])
    net.compile(loss=None, weighted_metrics=[wrap(gpumetrics.MeanSquaredError())])
    try:
        net.evaluate(x, y, sample_weight=np.linspace(0.5, 2.0, 10, dtype="float32"), batch_size=5, verbose=0)
    except ValueError as error:
        assert "differ in rank" in str(error), error
    else:
        raise AssertionError(f"(batch,) weights beside a (batch, steps) mask were taken on {BACKEND}")


def check_result_after_reset_is_the_reset_value():
    """An update outside a step (eagerly), then reset_state: result() is the reset metric's, not the update's."""
    wrapped = wrap(gpumetrics.BinaryAccuracy())
    wrapped.update_state(np.array([[1.0], [0.0]], "float32"), np.array([[0.9], [0.2]], "float32"))
    wrapped.reset_state()
    value = float(wrapped.result())
    assert value == 0.0, f"{BACKEND}: result() after reset_state gave {value}"


def main():
    one_hot = lambda labels: np.eye(3, dtype="float32")[labels]  # noqa: E731
    fit_and_check("categorical_crossentropy", one_hot,
                  [wrap(gpumetrics.AUC()), wrap(gpumetrics.Precision()), wrap(gpumetrics.Recall()),
                   wrap(gpumetrics.CategoricalAccuracy()),
                   wrap(gpumetrics.MeanIoU(3, sparse_y_true=False, sparse_y_pred=False)), wrap(TrueClassMass())],
                  weighted=[wrap(gpumetrics.AUC(name="weighted_auc"))])
    fit_and_check("sparse_categorical_crossentropy", lambda labels: labels,
                  [wrap("sparse_categorical_crossentropy")],
                  weighted=[wrap(gpumetrics.SparseCategoricalAccuracy(name="weighted_acc"))])
    if BACKEND == "torch":
        check_torch_compile()
    check_result_sharing_a_state_with_validation()
    check_masked_sequence_model()
    check_weights_of_another_rank_than_the_mask_refused()
    check_result_after_reset_is_the_reset_value()
    check_refused_without_adapter()
    check_float64_refused_on_jax_without_x64()
    check_refused_in_distributed_steps()
    print("ok", BACKEND)


if __name__ == "__main__":
    sys.exit(main())
