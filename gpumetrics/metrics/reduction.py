"""``Sum``, ``Mean``, ``MeanMetricWrapper``, and the fused update every mean-style metric shares."""
import importlib
import inspect

from .._kernels.error_sums.rules import KINDS as ERROR_KINDS
from .._validation import broadcast_shape, check_not_empty, plan_reduction, squeeze_or_expand
from ..metric import Metric
from ..registry import register
from .ratios import divide_no_nan


def weights_per_row(xp, weight, plan):
    """``sample_weight`` as one weight per row of ``plan`` (a broadcast view, flattened), or None."""
    if weight is None:
        return None
    return xp.broadcast_to(weight.reshape(plan.weight_shape), plan.weight_cells).reshape(plan.rows)


def accumulate(metric, kind, y_true, y_pred, sample_weight, last_axis, reduce, total, count=None, params=None,
               *, plain_values=False):
    """One batch of a mean-style metric: Keras's shape rules on the host, then one ``error_sums`` pass.

    ``kind`` names ``f(y_true, y_pred)`` (with ``plain_values=True``, for
    ``Mean`` / ``Sum``, there is no ``y_true``: pass None, ``y_pred`` holds the
    values and ``f`` sees them twice), or is ``kind(y_true, y_pred)`` of the views; ``last_axis`` says whether the per-sample value is the ``"mean"``
    (Keras's ``mean_squared_error`` and friends) or the ``"sum"``
    (``kl_divergence``) of ``f`` over the last axis, or ``None`` (each element
    is a value). Adds Keras's ``total`` (and ``count``) for the batch into the
    states. ``params(y_true, y_pred)``, if given, returns the kind's parameters
    on the device; it sees the ``(rows, cols)`` views once the batch is valid.
    """
    if plain_values and y_true is not None:
        raise TypeError("accumulate: plain_values=True takes no y_true")
    if not plain_values and y_true is None:  # before anything is imported or placed: a refused call changes nothing
        raise TypeError(f"{metric.name}: y_true is None; update_state needs y_true and y_pred "
                        f"(Mean / Sum take plain values)")
    y_pred = metric._import(y_pred, "values" if plain_values else "y_pred")
    check_not_empty(y_pred.shape, "values" if plain_values else "y_pred")
    if plain_values:
        y_true, true_shape = y_pred, y_pred.shape
        pred_shape = element_shape = y_pred.shape
    else:
        y_true = metric._import(y_true, "y_true")
        check_not_empty(y_true.shape, "y_true")
        true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
        element_shape = broadcast_shape(true_shape, pred_shape, "y_true", "y_pred")
    if last_axis and not element_shape:
        raise ValueError(f"{metric.name} reduces over the last axis; y_true and y_pred need at least one axis")
    weight = None if sample_weight is None else metric._import(sample_weight, "sample_weight")
    plan = plan_reduction(element_shape, len(element_shape) - bool(last_axis),
                          None if weight is None else weight.shape, reduce)
    xp = metric.xp

    def rows_by_cols(array, shape):
        if tuple(shape) != tuple(plan.element_shape):
            array = xp.broadcast_to(array.reshape(shape), plan.element_shape)
        return array.reshape(plan.rows, plan.cols)

    weight = weights_per_row(xp, weight, plan)
    y_true, y_pred = rows_by_cols(y_true, true_shape), rows_by_cols(y_pred, pred_shape)
    total_scale = plan.total_scale * (element_shape[-1] if last_axis == "sum" else 1)
    kind = kind(y_true, y_pred) if callable(kind) else ERROR_KINDS[kind]
    metric.backend.sums(
        kind, y_true, y_pred, weight, total.writable().reshape(1),
        None if count is None else count.writable().reshape(1), total_scale, plan.weight_scale,
        None if params is None else params(y_true, y_pred, kind))


@register()
class Sum(Metric):
    """The (weighted) sum of the values seen, as ``keras.metrics.Sum``; kept in float64.

    >>> m = Sum()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    4.0
    """

    def __init__(self, name="sum", dtype=None, *, device="auto"):
        super().__init__(name=name, dtype=dtype, device=device)
        self.total = self.add_state("total")

    def update_state(self, values, sample_weight=None):
        accumulate(self, "identity", None, values, sample_weight, None, "sum", self.total, plain_values=True)

    def result(self):
        return self.total.value.astype(self.dtype)


@register()
class Mean(Metric):
    """The (weighted) mean of the values seen, as ``keras.metrics.Mean``: ``total / count``, 0 when ``count`` is 0.

    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    def __init__(self, name="mean", dtype=None, *, device="auto"):
        super().__init__(name=name, dtype=dtype, device=device)
        self.total = self.add_state("total")
        self.count = self.add_state("count")

    def update_state(self, values, sample_weight=None):
        accumulate(self, "identity", None, values, sample_weight, None, "mean", self.total, self.count,
                   plain_values=True)

    def _mean(self):
        """``divide_no_nan(total, count)`` in float64, on the device (NaN once ``count`` overflowed)."""
        return divide_no_nan(self.xp, self.total.value, self.count.value)

    def result(self):
        return self._mean().astype(self.dtype)


def _function_path(fn):
    return f"{fn.__module__}:{fn.__qualname__}"


def registered_functions():
    """``{identifier: function}`` of this package's per-sample functions (the functions of
    ``gpumetrics.metrics.__all__``), each under its name and the ``"module:qualname"`` path ``get_config`` writes."""
    from . import __all__ as names
    from .. import metrics

    table = {}
    for name in names:
        fn = getattr(metrics, name)
        if inspect.isfunction(fn):
            table[name] = table[_function_path(fn)] = fn
    return table


def resolve_function(fn, custom_objects=None, safe_mode=True):
    """The per-sample function a config's ``fn`` names; data never runs code.

    ``fn`` resolves to one of this package's registered per-sample functions
    (``"mean_squared_error"`` or its ``"module:qualname"`` path) or to an object
    the caller passes in ``custom_objects`` (under the whole string or under the
    name after ``":"``). Only with ``safe_mode=False`` is any other
    ``"module:qualname"`` imported and looked up, which runs that module's code:
    do that only for configs you trust. Anything else raises ``ValueError`` /
    ``TypeError`` naming ``fn``.
    """
    if callable(fn) and not isinstance(fn, str):
        return fn
    if not isinstance(fn, str):
        raise TypeError(f"fn must be a function or the name of a registered per-sample function; "
                        f"got {type(fn).__name__} {fn!r}")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"custom_objects must be a dict of name -> object; got {type(custom_objects).__name__}")
    custom = custom_objects or {}
    for key in (fn, fn.rpartition(":")[2]):
        if key in custom:
            target = custom[key]
            if not callable(target):
                raise TypeError(f"fn={fn!r}: custom_objects[{key!r}] is {type(target).__name__}, not a callable")
            return target
    table = registered_functions()
    if fn in table:
        return table[fn]
    if "<lambda>" in fn or "<locals>" in fn:
        raise ValueError(f"fn={fn!r} is a lambda or a local function, which a config cannot name (Keras's safe "
                         f"mode refuses lambdas too); pass the function itself in custom_objects="
                         f"{{{fn!r}: function}}")
    if not safe_mode:
        module, sep, qualname = fn.partition(":")
        if not (sep and module and qualname):
            raise ValueError(f"fn={fn!r} is neither a registered per-sample function nor a 'module:qualname' path")
        try:
            target = importlib.import_module(module)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"fn={fn!r} could not be resolved: {error}") from error
        if not callable(target):
            raise TypeError(f"fn={fn!r} names a {type(target).__name__}, not a callable")
        return target
    raise ValueError(f"fn={fn!r} is not a registered per-sample function of gpumetrics (one of "
                     f"{sorted(k for k in table if ':' not in k)}); pass your own function in "
                     f"custom_objects={{{fn.rpartition(':')[2]!r}: function}}, or, for a config you trust, "
                     f"safe_mode=False to import arbitrary 'module:qualname' paths (this runs code)")


def check_fn_kwargs(fn, kwargs):
    """Keras's rule: a keyword ``fn`` does not accept is a TypeError at construction, not at the first update."""
    if not kwargs:
        return
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin, a C function): nothing to check
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    taken = {p.name for p in positional[:2]}  # y_true and y_pred are passed by position
    accepted = {p.name for p in parameters
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in taken}
    unknown = sorted(k for k in kwargs if k not in accepted)
    if unknown:
        name = getattr(fn, "__name__", type(fn).__name__)
        raise TypeError(f"{name}() does not accept the keyword argument(s) {', '.join(map(repr, unknown))} "
                        f"given to MeanMetricWrapper; it accepts {sorted(accepted)}")


def _same_kind(error):
    """``TypeError`` for a type error, ``ValueError`` for anything else a user's function raises on bad input."""
    return TypeError if isinstance(error, TypeError) else ValueError


@register()
class MeanMetricWrapper(Mean):
    """Any ``fn(y_true, y_pred, **kwargs)`` returning per-sample values becomes a mean metric, as in Keras.

    ``fn`` receives arrays on the metric's device (NumPy or CuPy). The
    per-sample functions of this package (``mean_squared_error``, ...) carry a
    ``fused`` form and run as one fused kernel pass instead (see ``fused.py``).

    >>> import numpy as np
    >>> m = MeanMetricWrapper(lambda t, p: np.abs(t - p).max(axis=-1))
    >>> m.update_state([[0, 1], [2, 2]], [[0, 3], [2, 1]])
    >>> float(m.result())
    1.5
    """

    def __init__(self, fn, name=None, dtype=None, *, device="auto", **kwargs):
        super().__init__(name=name, dtype=dtype, device=device)  # None: the class name in snake_case, as Keras
        self._fn = resolve_function(fn)
        check_fn_kwargs(self._fn, kwargs)
        self._fn_kwargs = kwargs

    def update_state(self, y_true, y_pred, sample_weight=None):
        if y_true is None:  # refused before anything is placed or counted (Mean's plain values are not this)
            raise TypeError(f"{self.name}: y_true is None; update_state needs y_true and y_pred")
        fused = getattr(self._fn, "fused", None)
        if fused is not None:
            fused.update(self, y_true, y_pred, sample_weight, **self._fn_kwargs)
        else:
            y_true, y_pred = self._import(y_true, "y_true"), self._import(y_pred, "y_pred")
            seen = f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape}"
            try:
                values = self._fn(y_true, y_pred, **self._fn_kwargs)
            except (ValueError, TypeError, IndexError) as error:
                raise _same_kind(error)(f"{self.name}: fn={_function_path(self._fn)} failed on {seen}: "
                                        f"{type(error).__name__}: {error}") from error
            try:
                super().update_state(values, sample_weight)
            except (ValueError, TypeError) as error:
                raise _same_kind(error)(f"{self.name}: averaging the per-sample values that "
                                        f"fn={_function_path(self._fn)} returned for {seen} (shape "
                                        f"{getattr(values, 'shape', None)}): {error}") from error

    def get_config(self):
        return {**super().get_config(), "fn": _function_path(self._fn), **self._fn_kwargs}

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """The metric of ``get_config``'s dict. ``fn`` resolves only to this package's registered per-sample
        functions or to what ``custom_objects`` holds; ``safe_mode=False`` also imports any ``"module:qualname"``
        (this runs code: only for configs you trust)."""
        config = Metric._checked_config(cls, config)
        if "fn" in config:
            config = {**config, "fn": resolve_function(config["fn"], custom_objects, safe_mode)}
        return cls(**config)
