"""The one home of mean metrics: ``Sum``, ``Mean``, ``MeanMetricWrapper``, the base of every fixed-function mean
metric (``KerasMeanMetric``), and ``@fused``, which declares on a per-sample function's ``def`` the fused kernel pass
its mean metrics run.

Keras's ``MeanSquaredError`` is ``MeanMetricWrapper(fn=mean_squared_error)``;
here it is the same, with ``mean_squared_error`` declared
``@fused(Elementwise("squared_error"))`` so that its batches run as one
``error_sums`` pass into ``total`` and ``count`` (``_fused_passes.py``).
"""
import numpy as np

from .._arguments import checked_keywords
from .._masks import keras_mask_of, masked_weights
from ..metric import Metric
from ..registry import register
from ._fn_config import check_fn_kwargs, function_identity, function_path, named_alike, resolve_function
from ._fused_passes import add_values
from ._groups import add_dropped_state, check_grouped, check_num_groups, group_axis, mean_of_results, with_num_groups
from .ratios import divide_no_nan


def fused(form):
    """Declares on a per-sample function's ``def`` the fused pass (an ``Elementwise`` or ``Rowwise`` form) that its
    mean metrics run instead of calling it; the function stays the plain array expression Keras documents.

    >>> from gpumetrics.metrics._fused_passes import Elementwise
    >>> @fused(Elementwise("absolute_error"))
    ... def my_absolute_error(y_true, y_pred):
    ...     return abs(y_true - y_pred).mean(axis=-1)
    >>> m = MeanMetricWrapper(my_absolute_error)
    >>> m.update_state([[0.0, 1.0]], [[1.0, 1.0]])
    >>> float(m.result())
    0.5
    """

    def declare(fn):
        fn.fused = form
        return fn

    return declare


@register()
class Sum(Metric):
    """The (weighted) sum of the values seen, as ``keras.metrics.Sum``; kept in float64.

    >>> m = Sum()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    4.0
    """

    def __init__(self, name="sum", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device)
        self.num_groups = check_num_groups(num_groups)
        self.total = self.add_state("total", group_axis(self.num_groups))
        add_dropped_state(self)

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, values, sample_weight=None, group_ids=None):
        add_values(self, values, sample_weight, "sum", group_ids)

    def result(self):
        """The sum (0-d); grouped, one per group (``(G,)``)."""
        return self.total.value.astype(self.dtype)

    def get_config(self):
        return with_num_groups(super().get_config(), self.num_groups)


@register()
class Mean(Metric):
    """The (weighted) mean of the values seen, as ``keras.metrics.Mean``: ``total / count``, 0 when ``count`` is 0.

    >>> m = Mean()
    >>> m.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    >>> float(m.result())
    2.0
    """

    def __init__(self, name="mean", dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device)
        self.num_groups = check_num_groups(num_groups)
        self.total = self.add_state("total", group_axis(self.num_groups))
        self.count = self.add_state("count", group_axis(self.num_groups))
        add_dropped_state(self)

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, values, sample_weight=None, group_ids=None):
        add_values(self, values, sample_weight, "mean", group_ids)

    def get_config(self):
        return with_num_groups(super().get_config(), self.num_groups)

    def grouped_mean(self, weighting="samples"):
        """The mean of the per-group ``result()`` across the groups with a non-zero ``count``, in ``dtype``:
        weighted by each group's ``count`` (its total sample weight, Keras's count; ``"samples"``) or by 1
        (``"uniform"``). NaN when no group has a count."""
        check_grouped(self)
        return mean_of_results(self, self.count.value, self.count.value != 0, weighting)

    def _mean(self):
        """``divide_no_nan(total, count)`` in float64, on the device (NaN once ``count`` overflowed)."""
        return divide_no_nan(self.xp, self.total.value, self.count.value)

    def result(self):
        return self._mean().astype(self.dtype)


def _same_kind(error):
    """``TypeError`` for a type error, ``ValueError`` for anything else a user's function raises on bad input."""
    return TypeError if isinstance(error, TypeError) else ValueError


@register()
class MeanMetricWrapper(Mean):
    """Any ``fn(y_true, y_pred, **kwargs)`` returning per-sample values becomes a mean metric, as in Keras.

    ``fn`` receives arrays on the metric's device (NumPy or CuPy). A function
    declared ``@fused(...)`` (this package's ``mean_squared_error``, ...) is not
    called: its batches run as that one fused kernel pass instead.

    >>> import numpy as np
    >>> m = MeanMetricWrapper(lambda t, p: np.abs(t - p).max(axis=-1))
    >>> m.update_state([[0, 1], [2, 2]], [[0, 3], [2, 1]])
    >>> float(m.result())
    1.5
    """

    def __init__(self, fn, name=None, dtype=None, *, device="auto", num_groups=None, **kwargs):
        # name None: the class name in snake_case, as Keras
        super().__init__(name=name, dtype=dtype, device=device, num_groups=num_groups)
        self._fn = resolve_function(fn)
        check_fn_kwargs(self._fn, kwargs)
        self._fn_kwargs = checked_keywords(self._fn, kwargs)
        self._form = self._fused_form()

    def _fused_form(self):
        """The fused pass ``fn`` declares for these keyword arguments, or None: ``fn`` is called."""
        form = getattr(self._fn, "fused", None)
        return form if form is not None and form.takes(self._fn_kwargs) else None

    @property
    def one_value_per_row(self):
        """Whether a batch's per-sample value reduces over ``y_pred``'s last axis (a mean or sum over it, or a
        function of a class row), so that a 1-D batch is one sample (Keras's rule); False for a function of each
        element, None for a plain ``fn`` (unknown)."""
        if self._form is None:
            return None
        return getattr(self._form, "last_axis", "row") is not None

    def __getstate__(self):
        """Pickled without the fused pass (its kind choosers and parameter rules may be lambdas): ``__setstate__``
        derives it again from ``fn``, which pickles by reference, as Keras pickles its functions."""
        state = super().__getstate__()
        state.pop("_form", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._form = self._fused_form()

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        if y_true is None:  # refused before anything is placed or counted (Mean's plain values are not this)
            raise TypeError(f"{self.name}: y_true is None; update_state needs y_true and y_pred")
        mask = keras_mask_of(y_pred)
        if mask is None:
            self._update_unmasked(y_true, y_pred, sample_weight, group_ids)
            return
        weight = masked_weights(self, sample_weight, mask, "y_pred's Keras mask")  # as Keras: masked samples weigh 0
        try:
            self._update_unmasked(y_true, y_pred, weight, group_ids)
        except (ValueError, TypeError) as error:
            given = "" if sample_weight is None else " times the sample_weight given"
            raise _same_kind(error)(f"{error} (the weights are y_pred's Keras mask of shape "
                                    f"{tuple(weight.shape)}{given})") from error

    def _update_unmasked(self, y_true, y_pred, sample_weight, group_ids):
        if self._form is not None:
            self._form.update(self, y_true, y_pred, sample_weight, group_ids, **self._fn_kwargs)
        else:
            self._update_with_fn(y_true, y_pred, sample_weight, group_ids)

    def _replayable(self):
        """Only a fused function's updates are kernel passes alone; a plain ``fn`` computes with CuPy. A form with
        ``device_params`` (hinge's count of other labels) is not either: it zeroes its device scratch with CuPy
        (``count[...] = 0.0``) before its passes, a step a replay, which re-sends the kernel launches alone, would
        skip, so the count would add up over the batches."""
        return (super()._replayable() and self._form is not None
                and getattr(self._form, "device_params", None) is None)

    def _update_with_fn(self, y_true, y_pred, sample_weight, group_ids):
        """``fn``'s per-sample values of the batch, averaged as ``Mean``'s values; an error names ``fn``."""
        y_true, y_pred = self.asarray(y_true, "y_true"), self.asarray(y_pred, "y_pred")
        seen = f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape}"
        try:
            values = self._fn(y_true, y_pred, **self._fn_kwargs)
        except (ValueError, TypeError, IndexError) as error:
            raise _same_kind(error)(f"{self.name}: fn={function_path(self._fn)} failed on {seen}: "
                                    f"{type(error).__name__}: {error}") from error
        try:
            super().update_state(values, sample_weight, group_ids)
        except (ValueError, TypeError) as error:
            raise _same_kind(error)(f"{self.name}: averaging the per-sample values that "
                                    f"fn={function_path(self._fn)} returned for {seen} (shape "
                                    f"{np.shape(values)}): {error}") from error

    def get_config(self):
        return {**super().get_config(), "fn": function_path(self._fn), **self._fn_kwargs}

    def _peer_identity(self):
        """A lambda's or local function's code, values and defaults: ranks' configs name them all alike."""
        return {"fn_code": function_identity(self._fn)} if named_alike(self._fn) else {}

    def _check_compatible(self, other):
        """Beyond the config: lambdas and local functions share a path (``scaled.<locals>.fn`` for every closure
        a factory makes), so two metrics of different such function objects are refused in one process."""
        super()._check_compatible(other)
        if other._fn is not self._fn and named_alike(self._fn):
            raise ValueError(f"cannot merge {other.name} into {self.name}: their fn are two function objects named "
                             f"{function_path(self._fn)!r} (lambdas or local functions), which their configs cannot "
                             f"tell apart; build the metrics with the same function object")

    @classmethod
    def from_config(cls, config, custom_objects=None, safe_mode=True):
        """The metric of ``get_config``'s dict. ``fn`` resolves only to this package's registered per-sample
        functions or to what ``custom_objects`` holds; ``safe_mode=False`` also imports any ``"module:qualname"``
        (this runs code: only for configs you trust)."""
        config = Metric._checked_config(cls, config)
        if "fn" in config:
            config = {**config, "fn": resolve_function(config["fn"], custom_objects, safe_mode)}
        return cls(**config)


class KerasMeanMetric(MeanMetricWrapper):
    """A ``MeanMetricWrapper`` of one fixed per-sample function, the class attribute ``per_sample``, whose config is
    Keras's: name, dtype and the function's keyword arguments (no ``fn``). Every mean metric class of a per-sample
    function subclasses it."""

    per_sample = None  # each subclass: staticmethod(its per-sample function)

    def __init__(self, name=None, dtype=None, *, device="auto", num_groups=None, **fn_kwargs):
        super().__init__(type(self).per_sample, name=name, dtype=dtype, device=device, num_groups=num_groups,
                         **fn_kwargs)

    def get_config(self):
        return with_num_groups({"name": self.name, "dtype": self.dtype, **self._fn_kwargs}, self.num_groups)
