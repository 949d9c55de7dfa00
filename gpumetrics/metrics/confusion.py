"""The threshold family on one fused histogram: TP/FP/TN/FN, Precision, Recall, AUC and the *At* metrics.

Each metric keeps two states, the positive and the negative weight of the
predictions that exceed exactly ``k`` of its ``T`` sorted thresholds
(``k = 0..T``). One ``threshold_histogram`` pass per batch fills them; at
``result()`` time the counts at threshold ``i`` are O(T) cumulative sums on
the device: ``TP[i] = sum(pos[i+1:])``, ``FN[i] = sum(pos[:i+1])`` and the
same for FP / TN with the negative weight. No metric loops over thresholds in
Python or builds an ``N x T`` array.
"""
import numpy as np

from .._arguments import MAX_INDEX, MAX_NUM_THRESHOLDS, check_int, check_real, is_real
from .._validation import broadcast, broadcasts_to, check_not_empty, squeeze_or_expand
from ..metric import Metric
from ..registry import register
from . import curves
from ._groups import add_dropped_state, check_grouped, check_num_groups, check_plot_group, count_dropped, \
    group_axis, mean_of_results, pass_groups, with_num_groups
from ._passes import HistogramPass
from ._keras_rules import EPSILON  # the AUC end thresholds sit this far outside [0, 1]
from .ratios import divide_no_nan

#: Keras's ``NEG_INF``: what top-k filtering writes over the predictions it drops.
NEG_INF = -1e10


def is_evenly_spaced(thresholds):
    """Keras's test for thresholds it may bucket in O(1) (and then clips predictions to [0, 1] for).

    >>> is_evenly_spaced([0.0, 0.5, 1.0]), is_evenly_spaced([0.5])
    (True, False)
    """
    count = len(thresholds)
    return count >= 3 and bool(np.allclose(thresholds, np.arange(count, dtype=np.float32) / (count - 1),
                                           atol=EPSILON))


def given_thresholds(thresholds):
    """``thresholds`` as the user gave them, one number or a list, in plain Python floats (the config's form: a
    NumPy scalar or array would not serialise to JSON); anything but real numbers in [0, 1] (Keras's rule), or no
    number at all, raises ``ValueError``."""
    if thresholds is None:
        return None
    listed = list(thresholds) if isinstance(thresholds, (list, tuple)) else None
    if isinstance(thresholds, np.ndarray):
        listed, thresholds = (list(thresholds), thresholds) if thresholds.ndim else (None, thresholds[()])
    values = [thresholds] if listed is None else listed
    if not values or any(not is_real(t) or not 0 <= t <= 1 for t in values):
        raise ValueError(f"thresholds must be floats in [0, 1]; got {thresholds!r}")
    return float(thresholds) if listed is None else [float(t) for t in listed]


def parse_thresholds(given, default):
    """``given_thresholds``' form as the list of thresholds: ``[default]`` when None."""
    return [default] if given is None else list(given) if isinstance(given, list) else [given]


def _check_fraction(name, value):
    check_real(value, name)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be in the range [0, 1]; got {name}={value}")


class ThresholdHistogramMetric(Metric):
    """Base of the family: the two histogram states, the fused update, and TP/FP/TN/FN at any time."""

    def _init_histogram(self, thresholds, evenly_spaced, label_axis=(), num_groups=None):
        """Sort the thresholds (results come back in the given order) and add the two histogram states, of
        shape ``(T + 1,) + (G,) + label_axis`` (no ``G`` axis when ``num_groups`` is None): ``(None,)`` sizes the
        label axis by the first batch (``add_state``)."""
        self.num_groups = check_num_groups(num_groups)
        thresholds = np.asarray(thresholds, dtype=np.float64)
        order = np.argsort(thresholds, kind="stable")
        self._sorted_thresholds = thresholds[order]
        self._result_order = None if np.array_equal(order, np.arange(len(order))) else np.argsort(order)
        self._evenly_spaced = evenly_spaced
        shape = (len(thresholds) + 1,) + group_axis(self.num_groups) + tuple(label_axis)
        self.positive_histogram = self.add_state("positive_histogram", shape)
        self.negative_histogram = self.add_state("negative_histogram", shape)
        add_dropped_state(self)

    def get_config(self):
        return with_num_groups(super().get_config(), self.num_groups)

    def _aligned_batch(self, y_true, y_pred):
        """Keras's shape handling: ``y_true`` and ``y_pred`` rank-aligned and equal."""
        y_pred = self._import(y_pred, "y_pred")
        y_true = self._import(y_true, "y_true")
        check_not_empty(y_pred.shape, "y_pred")
        pred_shape, true_shape = squeeze_or_expand(y_pred.shape, y_true.shape)
        if pred_shape != true_shape:
            raise ValueError(f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} must match")
        return (y_true if y_true.shape == true_shape else y_true.reshape(true_shape),
                y_pred if y_pred.shape == pred_shape else y_pred.reshape(pred_shape))

    def _broadcast_weight(self, sample_weight, pred_shape):
        """``sample_weight`` broadcast to ``y_pred``'s shape as Keras does, or None."""
        if sample_weight is None:
            return None
        weight = self._import(sample_weight, "sample_weight")
        # Keras adds a trailing axis and squeezes it again when the ranks then differ by one: per-sample
        # weights spread over the labels of a sample, weights shaped like y_true stay as they are.
        weight_shape = weight.shape if weight.ndim == len(pred_shape) else weight.shape + (1,)
        if not broadcasts_to(weight_shape, pred_shape):
            raise ValueError(f"sample_weight of shape {weight.shape} does not broadcast to y_pred of shape "
                             f"{pred_shape}")
        return broadcast(self.xp, weight.reshape(weight_shape), pred_shape)

    def _count_labels(self, y_pred):
        """Multi-label: build the label axis from the first batch (a call refused later unbuilds: ``Metric``'s
        atomic methods), then refuse a batch of another label count."""
        if y_pred.ndim != 2:
            raise ValueError(f"multi_label=True needs y_pred of shape (num_samples, num_labels); got {y_pred.shape}")
        self.build_states(y_pred.shape[1])
        if y_pred.shape[1] != self.positive_histogram.shape[-1]:
            raise ValueError(f"{self.name} counts {self.positive_histogram.shape[-1]} labels; "
                             f"got y_pred of shape {y_pred.shape}")

    def _histogram_options(self):
        """The keyword arguments of ``_histogram_inputs`` this metric's batches take (its preprocessing), or None
        when its update does more than that pass (``FBetaScore(threshold=None)``'s argmax)."""
        return {}

    def _replayable(self):
        """Not an update that does more than its pass (``_histogram_options`` None: an argmax in CuPy)."""
        return super()._replayable() and self._histogram_options() is not None

    def _histogram_inputs(self, y_true, y_pred, sample_weight, *, top_k=None, class_id=None, multi_label=False,
                          label_weights=None, from_logits=False):
        """Validate one batch on the host: the ``(N, L)`` labels, predictions and weights a pass reads."""
        y_true, y_pred = self._aligned_batch(y_true, y_pred)
        if multi_label:
            self._count_labels(y_pred)
        weight = self._broadcast_weight(sample_weight, y_pred.shape)
        xp = self.xp
        if top_k is not None:
            if self.num_groups is not None and y_pred.ndim < 2:
                raise ValueError(f"{self.name} has num_groups={self.num_groups} and top_k={top_k}: top_k ranks each "
                                 f"sample's scores along the last axis, and a 1-D y_pred (shape {y_pred.shape}) is "
                                 f"one sample, which groups cannot split; pass y_pred of shape (num_samples, "
                                 f"num_classes)")
            y_pred = _keep_top_k(xp, y_pred, top_k)
        if class_id is not None:
            if y_pred.ndim < 2 or not 0 <= class_id < y_pred.shape[-1]:
                raise ValueError(f"class_id={class_id} needs y_pred of shape (num_samples, num_classes) with more "
                                 f"than {class_id} classes; got shape {y_pred.shape}")
            y_true, y_pred = y_true[..., class_id:class_id + 1], y_pred[..., class_id:class_id + 1]
            weight = None if weight is None else weight[..., class_id:class_id + 1]
        if not multi_label:
            if label_weights is not None:
                if not broadcasts_to(label_weights.shape, y_pred.shape):
                    raise ValueError(f"label_weights of shape {label_weights.shape} do not broadcast to y_pred of "
                                     f"shape {y_pred.shape}: give one weight per label (y_pred's last axis)")
                label_weights = self.device_constant("label_weights", label_weights)
                weight = label_weights if weight is None else weight * label_weights
                weight = broadcast(xp, weight, y_pred.shape)
            y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
            weight = None if weight is None else weight.reshape(-1, 1)
        return y_true, y_pred, weight

    def _transform(self, from_logits=False):
        """The named kind of ``threshold_histogram.rules.TRANSFORMS`` this metric's pass applies."""
        return "sigmoid" if from_logits else ("clip" if self._evenly_spaced else "as_is")

    def _accumulate(self, y_true, y_pred, sample_weight, group_ids=None, **options):
        """Validate one batch on the host, then one ``threshold_histogram`` pass into the states; grouped, each row
        into its sample's group (a sample's elements are consecutive rows once ``_histogram_inputs`` flattens)."""
        rows_true, rows_pred, weight = self._histogram_inputs(y_true, y_pred, sample_weight, **options)
        groups = pass_groups(self, y_pred, group_ids, rows_pred.shape[0])
        # the named kinds of gpumetrics._kernels.threshold_histogram.rules (TRANSFORMS, BUCKETINGS)
        bucketing = "evenly_spaced" if self._evenly_spaced else "binary_search"
        thresholds = self.device_constant("thresholds", self._sorted_thresholds)
        positive, negative = self.positive_histogram.writable(), self.negative_histogram.writable()
        count_dropped(self, groups.samples, groups.unchecked)
        self._backend.threshold_histogram(
            rows_true, rows_pred, weight, thresholds, bucketing, self._transform(options.get("from_logits", False)),
            positive.reshape(positive.shape[0], -1), negative.reshape(negative.shape[0], -1), group_ids=groups.rows)

    # -- sharing one pass in a MetricCollection (gpumetrics/metrics/_passes.py) ----------------------------------
    def pass_spec(self):
        """This metric's pass as ``MetricCollection`` groups it (``_passes.HistogramPass``), or None."""
        options = self._histogram_options()
        if options is None:
            return None
        return HistogramPass.of(self._transform(options.get("from_logits", False)), self._sorted_thresholds,
                                self._evenly_spaced, options, self.num_groups)

    def pass_inputs(self, y_true, y_pred, sample_weight):
        """Every host check of ``update_state``, no write: the ``(N, L)`` batch its pass reads."""
        return self._histogram_inputs(y_true, y_pred, sample_weight, **self._histogram_options())

    def join_pass(self, y_pred):
        """Before a collection feeds it a histogram another member's pass counted from ``y_pred`` (that member's
        checked ``(N, L)`` view): place this metric there and, multi-label, build or check its label axis."""
        y_pred = self._import(y_pred, "y_pred")
        if self._histogram_options().get("multi_label"):
            self._count_labels(y_pred)

    def add_histograms(self, positive, negative):
        """Add a batch's ``(T + 1, L)`` positive and negative histograms at this metric's thresholds."""
        for state, batch in ((self.positive_histogram, positive), (self.negative_histogram, negative)):
            array = state.writable()
            array += batch.reshape(array.shape)

    def _sorted_counts(self):
        """``(tp, fp, tn, fn)`` at every threshold, in ascending threshold order; on the device."""
        xp = self.xp
        positive, negative = self.positive_histogram.value, self.negative_histogram.value
        above_pos = xp.cumsum(positive[::-1], axis=0)[::-1][1:]
        above_neg = xp.cumsum(negative[::-1], axis=0)[::-1][1:]
        below_pos, below_neg = xp.cumsum(positive, axis=0)[:-1], xp.cumsum(negative, axis=0)[:-1]
        return above_pos, above_neg, below_neg, below_pos

    def _counts(self):
        """``(tp, fp, tn, fn)`` at every threshold, in the order the thresholds were given; on the device."""
        counts = self._sorted_counts()
        if self._result_order is not None:
            counts = tuple(c[self._result_order] for c in counts)
        return counts

    def _check_built(self):
        """Curves and bounds are refused, by name, before a multi-label metric knows its labels."""
        if not self._built():
            raise ValueError(f"{self.name} has seen no batch yet, so it does not know its number of labels "
                             f"(pass num_labels, or update it first)")

    def _curve_inputs(self):
        """Ascending counts and thresholds (device arrays) for ``curves``."""
        self._check_built()
        return self._sorted_counts(), self.device_constant("thresholds", self._sorted_thresholds)

    def roc_curve(self):
        """The ROC points at this metric's thresholds, from its state (``curves.RocCurve``: ``fpr``, ``tpr``,
        ``thresholds``, thresholds decreasing as in scikit-learn); rates ``(T,)``, or one row per group and label:
        ``(G, T)`` grouped, ``(L, T)`` multi-label, ``(G, L, T)`` both."""
        return curves.roc_curve(self.xp, *self._curve_inputs())

    def pr_curve(self):
        """The precision-recall points at this metric's thresholds, from its state (``curves.PrCurve``:
        ``precision``, ``recall``, ``thresholds``, thresholds increasing as in scikit-learn); rows as ``roc_curve``."""
        return curves.pr_curve(self.xp, *self._curve_inputs())

    def plot(self, curve="ROC", ax=None, group=None):
        """Draw the ``"ROC"`` or ``"PR"`` curve (one line per label) on ``ax`` or a new figure; returns
        ``(figure, axes)``. A grouped metric draws one group's curve: ``group=g``. Needs matplotlib
        (``pip install gpumetrics[plot]``)."""
        from .. import plot

        return plot.plot_curve(self, curve, ax, group=check_plot_group(self, group))

    @property
    def true_positives(self):
        """TP at every threshold, float64 on the device: ``(T,)``, then the group axis and the label axis when the
        metric has them (``(T, G)``, ``(T, L)``, ``(T, G, L)``: the threshold axis first, as the states; ``result()``
        and the curves put the group axis first). The other three counts have the same layout."""
        return self._counts()[0]

    @property
    def false_positives(self):
        return self._counts()[1]

    @property
    def true_negatives(self):
        return self._counts()[2]

    @property
    def false_negatives(self):
        return self._counts()[3]

    def _per_threshold(self, values):
        """Keras returns a scalar for one threshold and a vector otherwise; grouped, one of those per group
        (``(G,)`` or ``(G, T)``: the group axis first)."""
        if len(self._sorted_thresholds) == 1:
            return values[0, ...].astype(self.dtype)
        return (values if self.num_groups is None else self.xp.moveaxis(values, 0, -1)).astype(self.dtype)

    def _group_weights(self):
        """``(positives, negatives)``: each group's total positive and negative weight, ``(G,)`` (labels summed)."""
        groups = self.num_groups
        positive, negative = self.positive_histogram.value, self.negative_histogram.value
        return (positive.reshape(positive.shape[0], groups, -1).sum(axis=(0, 2)),
                negative.reshape(negative.shape[0], groups, -1).sum(axis=(0, 2)))

    def _groups_with_a_value(self, positives, negatives):
        """The groups ``grouped_mean`` averages: those with any weight, negative totals too, as the mean family's
        (AUC: with both classes)."""
        return positives + negatives != 0

    def grouped_mean(self, weighting="samples"):
        """The mean of the per-group ``result()`` across groups, in ``dtype``: ``Σ_g m_g r_g / Σ_g m_g`` over the
        groups that have a value (any sample weight; for AUC, positive and negative weight both), where ``m_g`` is
        the group's total sample weight (``weighting="samples"``; for AUC this is GAUC) or 1 (``"uniform"``).
        NaN when no group has a value."""
        check_grouped(self)
        positives, negatives = self._group_weights()
        return mean_of_results(self, positives + negatives, self._groups_with_a_value(positives, negatives),
                               weighting)


def _keep_top_k(xp, y_pred, k):
    """Keras's ``_filter_top_k``: the ``k`` largest of each row keep their value, the rest become ``NEG_INF``.

    Exactly ``k`` survive; among equal values the earlier column wins, as in ``top_k``. Scores are ranked as
    float64, as Keras casts them first: bool scores rank as 0 / 1 and unsigned ones do not wrap when negated.
    """
    if y_pred.ndim == 0:
        raise ValueError(f"top_k={k} keeps the k largest scores of each row of y_pred, which needs a last axis of "
                         f"scores; got y_pred of shape ()")
    if not 0 < k <= y_pred.shape[-1]:
        raise ValueError(f"top_k={k} must be in [1, {y_pred.shape[-1]}] (the last axis of y_pred)")
    keys = xp.negative(y_pred, dtype=xp.float64)
    # one NaN with its sign bit clear: NumPy sorts every NaN last, but CuPy 14 radix-sorts 1-D float arrays by their
    # bits, where a NaN with the sign bit set (the negation of a plain NaN score) comes first, before -inf
    keys = xp.where(xp.isnan(keys), np.nan, keys)
    order = xp.argsort(keys, axis=-1, kind="stable")
    rank = xp.argsort(order, axis=-1, kind="stable")
    return xp.where(rank < k, y_pred, NEG_INF)


class _ConditionCount(ThresholdHistogramMetric):
    """One of TP / FP / TN / FN at each threshold (default 0.5), as Keras's ``_ConfusionMatrixConditionCount``."""

    _which = None

    def __init__(self, thresholds=None, name=None, dtype=None, *, device="auto", num_groups=None):
        super().__init__(name=name, dtype=dtype, device=device)
        self.init_thresholds = given_thresholds(thresholds)
        self.thresholds = parse_thresholds(self.init_thresholds, 0.5)
        self._init_histogram(self.thresholds, is_evenly_spaced(self.thresholds), num_groups=num_groups)

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        self._accumulate(y_true, y_pred, sample_weight, group_ids=group_ids)

    def result(self):
        return self._per_threshold(self._counts()[self._which])

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds}


@register()
class TruePositives(_ConditionCount):
    """Weighted count of positives predicted above each threshold (``y_pred > t``), as ``keras.metrics.TruePositives``.

    >>> m = TruePositives()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> float(m.result())
    2.0
    """

    _which = 0


@register()
class FalsePositives(_ConditionCount):
    """Weighted count of negatives predicted above each threshold, as ``keras.metrics.FalsePositives``."""

    _which = 1


@register()
class TrueNegatives(_ConditionCount):
    """Weighted count of negatives predicted at or below each threshold, as ``keras.metrics.TrueNegatives``."""

    _which = 2


@register()
class FalseNegatives(_ConditionCount):
    """Weighted count of positives predicted at or below each threshold, as ``keras.metrics.FalseNegatives``."""

    _which = 3


class _PrecisionOrRecall(ThresholdHistogramMetric):
    """Shared by Precision and Recall: Keras's ``thresholds`` / ``top_k`` / ``class_id`` handling."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        top_k = check_int(top_k, "top_k", 1, MAX_INDEX, optional=True)
        class_id = check_int(class_id, "class_id", 0, MAX_INDEX, optional=True)
        super().__init__(name=name, dtype=dtype, device=device)
        self.init_thresholds = given_thresholds(thresholds)
        self.top_k = top_k
        self.class_id = class_id
        self.thresholds = parse_thresholds(self.init_thresholds, 0.5 if top_k is None else NEG_INF)
        self._init_histogram(self.thresholds, is_evenly_spaced(self.thresholds), num_groups=num_groups)

    def _histogram_options(self):
        return {"top_k": self.top_k, "class_id": self.class_id}

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        self._accumulate(y_true, y_pred, sample_weight, group_ids, **self._histogram_options())

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


@register()
class Precision(_PrecisionOrRecall):
    """``TP / (TP + FP)`` at each threshold, as ``keras.metrics.Precision`` (0 where nothing was predicted positive).

    >>> m = Precision()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
    """

    def result(self):
        tp, fp, _, _ = self._counts()
        return self._per_threshold(divide_no_nan(self.xp, tp, tp + fp))


@register()
class Recall(_PrecisionOrRecall):
    """``TP / (TP + FN)`` at each threshold, as ``keras.metrics.Recall``.

    >>> m = Recall()
    >>> m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
    >>> round(float(m.result()), 4)
    0.6667
    """

    def result(self):
        tp, _, _, fn = self._counts()
        return self._per_threshold(divide_no_nan(self.xp, tp, tp + fn))


class _AtMetric(ThresholdHistogramMetric):
    """Keras's ``SensitivitySpecificityBase``: ``num_thresholds`` evenly spaced in [0, 1], the best value under a
    constraint: the largest ``dependent`` among thresholds whose ``constrained >= value``, 0 when none qualifies."""

    _constraint_name = None
    _rate_pair = None

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        _check_fraction(self._constraint_name, value)
        num_thresholds = check_int(num_thresholds, "num_thresholds", 1, MAX_NUM_THRESHOLDS,
                                   rule=f"> 0 and <= {MAX_NUM_THRESHOLDS}")
        class_id = check_int(class_id, "class_id", 0, MAX_INDEX, optional=True)
        super().__init__(name=name, dtype=dtype, device=device)
        self.value = value
        setattr(self, self._constraint_name, value)
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds, evenly = [0.5], False
        else:
            self.thresholds = [0.0] + [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)] + [1.0]
            evenly = True
        self._init_histogram(self.thresholds, evenly, num_groups=num_groups)

    def _histogram_options(self):
        return {"class_id": self.class_id}

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        self._accumulate(y_true, y_pred, sample_weight, group_ids, **self._histogram_options())

    def _rates(self):
        xp = self.xp
        tp, fp, tn, fn = self._counts()
        return {"recall": divide_no_nan(xp, tp, tp + fn), "specificity": divide_no_nan(xp, tn, tn + fp),
                "precision": divide_no_nan(xp, tp, tp + fp)}

    def operating_point(self):
        """Where ``result()`` was read: the threshold and the recall (sensitivity), specificity and precision
        there (``curves.OperatingPoint`` of 0-d device arrays, grouped ``(G,)``: one point per group; NaN where no
        threshold meets the constraint); of the thresholds that tie for the best value, the largest."""
        constrained, dependent = self._rate_pair
        thresholds = self.device_constant("thresholds", self._sorted_thresholds)  # ascending, as _counts()
        return curves.operating_point(self.xp, self._rates(), thresholds, constrained, dependent, self.value)

    def plot(self, curve=None, ax=None, group=None):
        """As ``ThresholdHistogramMetric.plot`` (default: the curve of the metric's two rates), with the operating
        point marked."""
        from .. import plot

        group = check_plot_group(self, group)
        mark = self.operating_point()
        if group is not None:
            mark = curves.OperatingPoint(*(value[group] for value in mark))
        return plot.plot_curve(self, curve or ("PR" if "precision" in self._rate_pair else "ROC"), ax, mark=mark,
                               group=group)

    def _best(self, constrained, dependent):
        xp = self.xp
        return xp.asarray(xp.max(xp.where(constrained >= self.value, dependent, 0.0), axis=0), dtype=self.dtype)

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds,
                self._constraint_name: self.value, "class_id": self.class_id}


@register()
class SensitivityAtSpecificity(_AtMetric):
    """Best sensitivity (recall) among thresholds with specificity >= ``specificity``."""

    _constraint_name = "specificity"
    _rate_pair = ("specificity", "recall")  # (constrained, dependent) keys of _rates()

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype, device=device, num_groups=num_groups)

    def result(self):
        rates = self._rates()
        return self._best(rates["specificity"], rates["recall"])


@register()
class SpecificityAtSensitivity(_AtMetric):
    """Best specificity among thresholds with sensitivity (recall) >= ``sensitivity``."""

    _constraint_name = "sensitivity"
    _rate_pair = ("recall", "specificity")  # (constrained, dependent) keys of _rates()

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype, device=device, num_groups=num_groups)

    def result(self):
        rates = self._rates()
        return self._best(rates["recall"], rates["specificity"])


@register()
class PrecisionAtRecall(_AtMetric):
    """Best precision among thresholds with recall >= ``recall``."""

    _constraint_name = "recall"
    _rate_pair = ("recall", "precision")  # (constrained, dependent) keys of _rates()

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype, device=device, num_groups=num_groups)

    def result(self):
        rates = self._rates()
        return self._best(rates["recall"], rates["precision"])


@register()
class RecallAtPrecision(_AtMetric):
    """Best recall among thresholds with precision >= ``precision``."""

    _constraint_name = "precision"
    _rate_pair = ("precision", "recall")  # (constrained, dependent) keys of _rates()

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None, *, device="auto",
                 num_groups=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype, device=device, num_groups=num_groups)

    def result(self):
        rates = self._rates()
        return self._best(rates["precision"], rates["recall"])


def _label_weights(label_weights, num_labels):
    """``label_weights`` as float64, one real weight per label (``num_labels`` of them when that is given)."""
    try:
        weights = np.asarray(label_weights)
    except ValueError as error:  # ragged nesting
        raise TypeError(f"label_weights must hold real numbers, one per label; got {label_weights!r}") from error
    if weights.dtype.kind not in "iuf":
        raise TypeError(f"label_weights must hold real numbers, one per label; got {label_weights!r} "
                        f"(dtype {weights.dtype})")
    if weights.ndim != 1 or weights.size == 0 or (num_labels is not None and weights.size != num_labels):
        raise ValueError(f"label_weights must hold one weight per label ({num_labels or 'any number of'} labels); "
                         f"got shape {weights.shape}")
    return weights.astype(np.float64)


_CURVES = ("ROC", "PR", "PRGAIN")

def check_curve(curve, curves):
    """``curve`` upper-cased, if it is one of ``curves``; else a ``ValueError`` naming it (AUC, ExactAUC)."""
    name = curve.upper() if isinstance(curve, str) else curve
    if name not in curves:
        raise ValueError(f"curve must be one of {curves}; got curve={curve!r}")
    return name


def check_num_labels(num_labels, multi_label):
    """``num_labels`` as an int or None; refused (``ValueError``) unless ``multi_label`` (AUC, ExactAUC)."""
    num_labels = check_int(num_labels, "num_labels", 1, MAX_INDEX, optional=True)
    if not multi_label and num_labels:
        raise ValueError("num_labels is only used with multi_label=True")
    return num_labels

_SUMMATIONS = ("interpolation", "minoring", "majoring")


@register()
class AUC(ThresholdHistogramMetric):
    """Area under the ROC, PR or PR-gain curve from a ``num_thresholds`` histogram, as ``keras.metrics.AUC``.

    Thresholds are ``i / (T - 1)`` inside (0, 1) plus ``-1e-7`` and ``1 + 1e-7``
    at the ends; predictions are clipped to [0, 1] when the thresholds are
    evenly spaced (Keras does the same). ``curve="PR"`` with
    ``summation_method="interpolation"`` uses the Davis & Goadrich
    interpolation in closed form.

    >>> m = AUC(num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> float(m.result())
    0.75
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False, *,
                 device="auto", num_groups=None):
        curve_name = check_curve(curve, _CURVES)
        method = summation_method.lower() if isinstance(summation_method, str) else summation_method
        if method not in _SUMMATIONS:
            raise ValueError(f"summation_method must be one of {_SUMMATIONS}; got {summation_method!r}")
        num_labels = check_num_labels(num_labels, multi_label)
        super().__init__(name=name, dtype=dtype, device=device)
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            if not isinstance(thresholds, (list, tuple, np.ndarray)) or np.asarray(thresholds, object).ndim != 1:
                raise TypeError(f"thresholds must be a list of numbers (AUC takes no single threshold; Keras's "
                                f"fails on one); got {thresholds!r}")
            inner = sorted(float(check_real(t, "thresholds")) for t in thresholds)
            if len(inner) + 2 > MAX_NUM_THRESHOLDS:
                raise ValueError(f"thresholds must hold at most {MAX_NUM_THRESHOLDS - 2} values; got {len(inner)}")
            self.num_thresholds = len(inner) + 2
            evenly = is_evenly_spaced(np.array([0.0] + inner + [1.0]))
        else:
            num_thresholds = check_int(num_thresholds, "num_thresholds", 2, MAX_NUM_THRESHOLDS,
                                       rule=f"> 1 and <= {MAX_NUM_THRESHOLDS}")
            self.num_thresholds = num_thresholds
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            evenly = True
        self.curve = curve_name
        self.summation_method = method
        self.multi_label = multi_label
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else _label_weights(label_weights, num_labels)
        self._from_logits = from_logits
        self._init_histogram([-EPSILON] + inner + [1.0 + EPSILON], evenly, (num_labels,) if multi_label else (),
                             num_groups)

    @property
    def thresholds(self):
        """Keras's: ``[-1e-7] + sorted(given) + [1 + 1e-7]``, the ends first and last even where a given threshold
        lies outside [0, 1] (the config's thresholds are the ones between)."""
        given = self._sorted_thresholds if self._result_order is None else self._sorted_thresholds[self._result_order]
        return list(given)

    def build_states(self, size):
        """Multi-label AUC averages its labels with ``label_weights``: the label count it learns must match."""
        if self.label_weights is not None and not self._built() and self.label_weights.size != size:
            raise ValueError(f"{self.name} has {self.label_weights.size} label_weights {self.label_weights}; "
                             f"got {size} labels (y_pred's columns, or a state's or merged metric's labels)")
        super().build_states(size)

    def _histogram_options(self):
        return {"multi_label": self.multi_label, "label_weights": None if self.multi_label else self.label_weights,
                "from_logits": self._from_logits}

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        self._accumulate(y_true, y_pred, sample_weight, group_ids, **self._histogram_options())

    def _groups_with_a_value(self, positives, negatives):
        """A group's AUC is defined when it saw positive and negative weight (scikit-learn refuses the others)."""
        return (positives > 0) & (negatives > 0)

    def _interpolated_pr_auc(self, tp, fp, fn):
        """Davis & Goadrich: precision interpolated between thresholds, integrated in closed form."""
        xp = self.xp
        predicted = tp + fp
        d_tp, d_predicted = tp[:-1] - tp[1:], predicted[:-1] - predicted[1:]
        slope = divide_no_nan(xp, d_tp, xp.maximum(d_predicted, 0))
        intercept = tp[1:] - slope * predicted[1:]
        both_positive = (predicted[:-1] > 0) & (predicted[1:] > 0)
        ratio = xp.where(both_positive, divide_no_nan(xp, predicted[:-1], xp.maximum(predicted[1:], 0)), 1.0)
        return divide_no_nan(xp, slope * (d_tp + intercept * xp.log(ratio)), xp.maximum(tp[1:] + fn[1:], 0))

    def _riemann_terms(self, tp, fp, tn, fn):
        xp = self.xp
        recall = divide_no_nan(xp, tp, tp + fn)
        if self.curve == "ROC":
            x, y = divide_no_nan(xp, fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, divide_no_nan(xp, tp, tp + fp)
        else:
            scale = divide_no_nan(xp, tp + fn, tn + fp)
            x = xp.maximum(xp.where(tp == 0, 0.0, 1.0 - scale * divide_no_nan(xp, fn, tp)), 0.0)
            y = xp.where(tp == 0, 1.0, 1.0 - scale * divide_no_nan(xp, fp, tp))
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = xp.minimum(y[:-1], y[1:])
        else:
            heights = xp.maximum(y[:-1], y[1:])
        return (x[:-1] - x[1:]) * heights

    def _areas(self):
        """The area under the curve: 0-d, or one per label (multi-label), in float64."""
        tp, fp, tn, fn = self._counts()
        if self.curve == "PR" and self.summation_method == "interpolation":
            terms = self._interpolated_pr_auc(tp, fp, fn)
        else:
            terms = self._riemann_terms(tp, fp, tn, fn)
        return self.xp.sum(terms, axis=0)

    def per_label_result(self):
        """Multi-label: the AUC of each label, shape ``(num_labels,)`` (grouped: ``(G, num_labels)``) in ``dtype``;
        ``result()`` is their mean (weighted by ``label_weights`` when given)."""
        if not self.multi_label:
            raise ValueError(f"{self.name} has multi_label=False: it keeps one curve, so there is no per-label AUC")
        self._check_built()
        return self.xp.asarray(self._areas(), dtype=self.dtype)

    def exact_auc_bounds(self, curve=None):
        """The interval the exact AUC of the data seen lies in, from the histogram alone (``curves.AucBounds``;
        per group and label: ``(G,)`` grouped, ``(L,)`` multi-label, ``(G, L)`` both). ``curve`` (default: this
        metric's): ``"ROC"`` bounds the Mann-Whitney AUC (scikit-learn's ``roc_auc_score``), ``"PR"`` the average
        precision (``average_precision_score``). Weights must be non-negative. The derivation, and how Keras's
        summations relate, is in ``curves``'s docstring."""
        curve = self.curve if curve is None else (curve.upper() if isinstance(curve, str) else curve)
        bound = {"ROC": curves.roc_auc_bounds, "PR": curves.average_precision_bounds}.get(curve, None) \
            if isinstance(curve, str) else None
        if bound is None:
            raise ValueError(f"exact_auc_bounds bounds curve='ROC' or 'PR'; got curve={curve!r} (the PR-gain AUC "
                             f"has no exact counterpart here)")
        self._check_built()
        return bound(self.xp, self.positive_histogram.value, self.negative_histogram.value)

    def plot(self, curve=None, ax=None, group=None):
        """As ``ThresholdHistogramMetric.plot``; the default curve is this metric's (``"ROC"`` or ``"PR"``)."""
        return super().plot(curve or self.curve, ax, group)

    def result(self):
        """The AUC (0-d); grouped, one per group (``(G,)``; averages across groups: ``grouped_mean``)."""
        xp = self.xp
        if not self._built():
            return xp.zeros(group_axis(self.num_groups), dtype=self.dtype)
        if not self.multi_label:
            return xp.asarray(self._areas(), dtype=self.dtype)
        by_label = self._areas()
        if self.label_weights is None:
            return xp.asarray(xp.mean(by_label, axis=-1), dtype=self.dtype)
        label_weights = self.device_constant("label_weights", self.label_weights)
        weighted = divide_no_nan(xp, xp.sum(by_label * label_weights, axis=-1), xp.sum(label_weights))
        return xp.asarray(weighted, dtype=self.dtype)

    def get_config(self):
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels,
                  "label_weights": None if self.label_weights is None else [float(w) for w in self.label_weights],
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
