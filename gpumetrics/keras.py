"""gpumetrics metrics in Keras's ``compile`` / ``fit`` / ``evaluate``: ``model.compile(metrics=[wrap(metric)])``.

``wrap(metric)`` gives a ``keras.metrics.Metric`` that owns the gpumetrics metric: Keras updates it on every
train and test step, reads its result into the logs and the ``History``, and resets it per epoch and per
evaluation, so the logged numbers are the ones the metric gives standalone on the same predictions.

- ``torch`` and ``numpy`` backends: steps run eagerly, so the batch tensors go straight to the metric
  (zero-copy; CUDA tensors go to a CUDA metric through DLPack; not yet run on a GPU). Under ``jit_compile=True``
  (``torch.compile``) the update and the result are kept out of the compiled graph (``torch.compiler.disable``):
  they run as Python on real tensors.
- ``jax`` and ``tensorflow`` backends: steps are compiled, so the tensors are traced. The update runs on the host
  in step order (an ordered ``jax.experimental.io_callback``; a ``tf.py_function``) on the batch copied to host
  memory, so the metric's state lives on the CPU; the callback returns the result after the update, which
  ``result()`` hands back when Keras asks in the same trace (one callback per step), else it asks the host with a
  second callback. ``reset_state`` waits for pending callbacks first. Not under XLA on TensorFlow
  (``jit_compile=True``, Keras's default there on a GPU), which cannot compile ``py_function``: Keras raises.
- Other backends are refused (``ValueError``).

Keras symbolic builds (metrics called on placeholder tensors to learn their output shapes) update nothing.
A Keras mask on ``y_pred`` (a ``Masking`` layer, ``mask_zero=True``) is read as Keras's own metrics read it: the
mean metrics weigh the masked samples 0 (on the compiled backends, Keras's ``apply_mask`` runs in the traced step,
since the host copies carry no mask), the others ignore it.

Imported only when used: Keras stays an optional dependency.
"""
import inspect
from functools import partial

import keras
import numpy as np
from keras.src.backend import get_keras_mask, in_symbolic_scope
from keras.src.losses.loss import apply_mask

from . import _keras_callbacks as callbacks
from ._masks import aligned_mask_shapes
from .backends import resolve
from .collection import MetricCollection
from .metric import Metric
from .metrics import MeanMetricWrapper
from .registry import deserialize, get, serialize

_SUPPORTED_BACKENDS = ("torch", "numpy", *callbacks.COMPILED_BACKENDS)
#: identifiers that mean another metric in Keras's compile() than in gpumetrics.get / keras.metrics.get
_COMPILE_SHORTHANDS = ("accuracy",)


def wrap(metric, name=None):
    """A ``keras.metrics.Metric`` for ``model.compile(metrics=[...])`` that runs ``metric``.

    ``metric`` is a gpumetrics metric (built-in or a subclass of ``gpumetrics.Metric``), a metric class, or an
    identifier ``gpumetrics.get`` knows (``"auc"``, a config dict). ``name`` (default: the metric's name) is
    the key in the logs; validation logs prefix it with ``val_``. ``wrapped.metric`` is the gpumetrics metric.
    """
    return KerasMetric(metric, name=name)


@keras.saving.register_keras_serializable(package="gpumetrics")
class KerasMetric(keras.metrics.Metric):
    """The ``keras.metrics.Metric`` that ``wrap`` returns; see the module's docstring."""

    def __init__(self, metric, name=None):
        backend = keras.backend.backend()
        if backend not in _SUPPORTED_BACKENDS:
            raise ValueError(f"gpumetrics.keras supports the Keras backends {_SUPPORTED_BACKENDS}; this Keras runs "
                             f"on {backend!r}")
        metric = _checked_metric(metric)
        super().__init__(name=name or metric.name, dtype=metric.dtype)
        self.metric = metric
        self._compiled = backend in callbacks.COMPILED_BACKENDS
        self._spec = None  # compiled: (shape, dtype) of the result, for the latest traced input shapes
        self._specs = {}  # compiled: input (shape, dtype)s -> the result's
        self._latest = None  # compiled: (trace, result) of the latest traced update
        self._blank = metric.copy() if self._compiled else None  # probed for the result's shape
        if self._blank is not None:
            self._blank.reset_state()
        self._eager_update, self._eager_result = metric.update_state, self._host_tensor
        if backend == "torch":  # under jit_compile=True, torch.compile breaks its graph here and calls them as Python
            import torch

            self._eager_update = torch.compiler.disable(self._eager_update)
            self._eager_result = torch.compiler.disable(self._eager_result)

    def update_state(self, y_true, y_pred, sample_weight=None):
        mask = get_keras_mask(y_pred)
        if mask is not None and self._compiled and isinstance(self.metric, MeanMetricWrapper):
            # the callback gets host copies, which carry no mask: Keras's own rule, in the traced step, after the
            # rank check the eager path makes (Keras's apply_mask broadcasts (batch,) weights over a (batch, steps)
            # mask from the right, a weight per step, where batch == steps)
            if sample_weight is not None:
                aligned_mask_shapes(self.metric, tuple(sample_weight.shape), tuple(mask.shape), "y_pred's Keras mask")
            sample_weight = apply_mask(sample_weight, mask, dtype=self.dtype, reduction="sum")
        if self._compiled:
            self._spec = self._result_spec(tuple(_input_spec(x) for x in (y_true, y_pred, sample_weight)))
            if not in_symbolic_scope():
                backend = keras.backend.backend()
                value = callbacks.call(backend, partial(self._host_update, self._spec), *self._spec, y_true, y_pred,
                                       sample_weight)
                self._latest = (callbacks.trace(backend), value)
        elif not in_symbolic_scope():
            self._eager_update(y_true, y_pred, sample_weight=sample_weight)

    def result(self):
        if self._compiled:
            backend = keras.backend.backend()
            latest, self._latest = self._latest, None
            if latest is not None and latest[0] == callbacks.trace(backend):
                return latest[1]  # the result the update's callback returned, in this same trace
            spec = self._result_spec(None) if self._spec is None else self._spec
            return callbacks.call(backend, partial(self._host_result, spec), *spec)
        return self._eager_result()

    def _host_tensor(self):
        """The metric's result as a tensor of the eager backend."""
        value = self.metric.result()
        if keras.backend.backend() == "torch":
            import torch

            # a copy on the metric's device: Keras keeps the training logs as these tensors until the epoch ends,
            # after validation has reset and updated the metric, so a result that shares a state's memory (a
            # user's result() returning self.total.value) must not change with it
            if type(value).__module__.startswith("cupy"):  # DLPack orders CuPy's stream before torch's current one
                return torch.from_dlpack(value).clone()
            return torch.as_tensor(value).clone()
        return _to_host(value)  # a host copy of a CuPy result too (np.array refuses one)

    def reset_state(self):
        if self._compiled:
            callbacks.barrier(keras.backend.backend())  # updates of steps still queued land before the reset
            self._latest = None  # an eager update's result, which result() would otherwise hand back after the reset
        self.metric.reset_state()

    def get_config(self):
        return {"name": self.name, "metric": serialize(self.metric)}

    @classmethod
    def from_config(cls, config):
        """Resolves the metric through ``gpumetrics.deserialize`` with Keras's registered custom objects."""
        metric = deserialize(config["metric"], custom_objects=keras.saving.get_custom_objects())
        return cls(metric, name=config["name"])

    # -- compiled backends: the host side of the callbacks ----------------------------------------------------
    def _host_update(self, spec, y_true, y_pred, sample_weight):
        self.metric.update_state(y_true, y_pred, sample_weight=sample_weight)
        return self._host_result(spec)

    def _host_result(self, spec):
        value = _to_host(self.metric.result())
        if (value.shape, value.dtype) != spec:
            raise ValueError(f"{self.name}: result() gave {value.dtype}{list(value.shape)} where the traced step "
                             f"expects {spec[1]}{list(spec[0])}; gpumetrics.keras needs a result whose shape "
                             f"and dtype follow from the input shapes")
        return value

    def _result_spec(self, input_specs):
        """The result's (shape, dtype), which a callback declares when traced: from a blank copy of the metric
        updated once with zeros of the traced input shapes (``None``: not updated)."""
        if input_specs not in self._specs:
            probe = self._blank.copy()
            if input_specs is not None:
                zeros = [None if s is None else np.zeros(s[0], s[1]) for s in input_specs]
                probe.update_state(zeros[0], zeros[1], sample_weight=zeros[2])
            value = _to_host(probe.result())
            self._specs[input_specs] = (value.shape, value.dtype)
        return self._specs[input_specs]


def _checked_metric(metric):
    """A gpumetrics metric whose ``update_state`` takes ``(y_true, y_pred, sample_weight=...)``, or an error; a
    grouped metric (``num_groups``) is refused here rather than at its first update in the middle of ``fit``."""
    if not isinstance(metric, Metric):
        if isinstance(metric, keras.metrics.Metric):
            raise TypeError(f"{metric.name} is already a keras.metrics.Metric: pass it to compile() as it is")
        if isinstance(metric, MetricCollection):
            raise TypeError("a MetricCollection is several metrics: wrap each member, "
                            "model.compile(metrics=[gpumetrics.keras.wrap(m) for m in collection.metrics.values()])")
        if isinstance(metric, str) and metric in _COMPILE_SHORTHANDS:
            raise ValueError(f"in compile(), Keras reads {metric!r} as the binary, categorical or sparse categorical "
                             f"accuracy its loss implies, while gpumetrics.get({metric!r}) is Accuracy (exact "
                             f"equality: 0 on probabilities); name the one you mean: 'binary_accuracy', "
                             f"'categorical_accuracy', 'sparse_categorical_accuracy', or 'Accuracy'")
        if not isinstance(metric, (str, dict)) and not (inspect.isclass(metric) and issubclass(metric, Metric)):
            raise TypeError(f"gpumetrics.keras.wrap expects a gpumetrics metric, metric class or identifier; got "
                            f"{type(metric).__name__} (a per-sample function f: wrap gpumetrics.MeanMetricWrapper(f))")
        metric = get(metric)
    if getattr(metric, "num_groups", None) is not None:
        raise ValueError(f"{metric.name} has num_groups={metric.num_groups}: its update_state needs group_ids, which "
                         f"Keras's fit / evaluate never pass; wrap an ungrouped copy (num_groups=None) for Keras, "
                         f"and update the grouped metric yourself with group_ids")
    try:
        inspect.signature(metric.update_state).bind(None, None, sample_weight=None)
    except TypeError:
        raise TypeError(f"{type(metric).__name__}.update_state does not take (y_true, y_pred, sample_weight=...), "
                        f"which is how Keras calls compiled metrics") from None
    return metric


def _input_spec(x):
    """(shape, NumPy dtype) of a traced input, unknown dimensions (TensorFlow's batch) as 2; ``None`` stays."""
    if x is None:
        return None
    dtype = getattr(x.dtype, "as_numpy_dtype", x.dtype)  # a tf.DType names its NumPy type
    return tuple(2 if d is None else int(d) for d in x.shape), np.dtype(dtype)


def _to_host(value):
    """A NumPy copy of a result, wherever it lives.  # synchronize!"""
    return resolve("auto", value).to_host(value)
