"""Refuse the path on which Keras would silently misuse a gpumetrics metric: as a plain function.

``model.compile(metrics=[m])`` keeps ``m`` only if it is a ``keras.metrics.Metric``; any other callable goes
into Keras's ``MeanMetricWrapper`` (``keras/src/trainers/compile_utils.py``, ``get_metric``), whose
``update_state`` calls ``m(y_true, y_pred)`` and averages what comes back: for a stateful metric, the average of
running results that Keras never resets, a wrong number. ``compile(loss=m)`` likewise calls it from a
``LossFunctionWrapper``. ``Metric.__call__`` asks here who called it and raises instead.
"""
import sys

# the caller's function name -> (Keras module, class) of the wrapper that calls a plain function from it
_KERAS_CALLERS = {"update_state": ("keras.src.metrics.reduction_metrics", "MeanMetricWrapper"),
                  "call": ("keras.src.losses.losses", "LossFunctionWrapper")}


def refuse_keras_function_wrappers(metric, caller):
    """``TypeError`` naming ``gpumetrics.keras`` if ``caller`` (the frame that called ``metric``) is a Keras wrapper
    of a plain function. Costs a dict lookup or two when Keras is not the caller."""
    module, wrapper_class = _KERAS_CALLERS.get(caller.f_code.co_name, (None, None))
    module = sys.modules.get(module) if module is not None else None
    if module is None or not isinstance(caller.f_locals.get("self"), getattr(module, wrapper_class)):
        return
    label = getattr(metric, "name", None)
    what = f"gpumetrics.{type(metric).__name__}{'' if label is None else f' {label!r}'} was handed to Keras as a plain"
    if wrapper_class == "MeanMetricWrapper":
        wrapped = ("[gpumetrics.keras.wrap(m) for m in collection.metrics.values()], one per member"
                   if label is None else "[gpumetrics.keras.wrap(metric)]")
        raise TypeError(f"{what} metric function: Keras would average its running results and never reset it "
                        f"(wrong numbers). Wrap it with gpumetrics.keras: model.compile(metrics={wrapped})")
    raise TypeError(f"{what} loss function: a metric is no loss (its result is a running value without gradients). "
                    f"Pass a Keras loss as loss= and the metric as metrics=[gpumetrics.keras.wrap(metric)]")
