"""The two fused passes a mean metric's batch runs as: Keras's shape rules on the host, then one kernel pass that
adds the batch's weighted sum and weight sum to the metric's ``total`` and ``count`` in place.

``Elementwise``: an ``error_sums`` kind of each element, then the mean or sum
over the last axis (or each element is a value). ``Rowwise``: a ``row_sums``
kind of each sample's class row. A per-sample function declares its pass with
``@fused(...)`` (``_mean.py``); the pass names its kind and packs the kind's
parameters by name (``gpumetrics._kernels.<primitive>.rules.KINDS``).
"""
import math
from typing import NamedTuple, Optional

from .._kernels.error_sums.rules import KINDS as ERROR_KINDS
from .._kernels.row_sums.rules import KINDS as ROW_KINDS
from .._masks import keras_mask_of, mask_of, masked_weights
from .._validation import broadcast, broadcast_shape, check_not_empty, plan_reduction, squeeze_or_expand
from ._groups import count_dropped, import_group_ids
from ._keras_rules import half_precision, keras_label_cast, labels_in_half_precision


class Batch(NamedTuple):
    """One batch as the kernels read it: ``(rows, cols)`` views, one weight per row (or None), the two scales, and
    a grouped metric's group id per row (None ungrouped)."""

    y_true: object
    y_pred: object
    weight: Optional[object]
    total_scale: float
    weight_scale: float
    ids: Optional[object] = None


def fixed_kind(name):
    """A kind chooser that names ``name`` whatever the batch and the function's keyword arguments."""
    return lambda *args, **kwargs: name


def no_params(*args, **kwargs):
    """The parameters of a kind that takes none."""
    return {}


def packed_params(metric, kind, named):
    """The parameters of ``kind`` given by name (``{"delta": 1.0}``), packed in the kind's order and copied to the
    metric's device once per distinct set of values; None for a kind without parameters."""
    values = kind.pack(**named)
    return metric.device_constant(("params",) + values, values) if values else None


def state_out(variable):
    """A state as the 1-D array a kernel adds into (one element, or ``G`` grouped); None stays None (no count)."""
    return None if variable is None else variable.writable().reshape(-1)


def add_sums(metric, kind, batch, out_total, out_count, params=None, group=1):
    """The one backend pass: ``total_scale * sum(w * kind(...))`` into ``out_total``, ``weight_scale * sum(w)`` into
    ``out_count`` (unless None), for an elementwise or a row kind; the contract is ``Backend.sums``'s."""
    metric.backend.sums(kind, batch.y_true, batch.y_pred, batch.weight, out_total, out_count, batch.total_scale,
                        batch.weight_scale, params, group, batch.ids)


def sample_count(y_pred, row_family=False):
    """How many samples a batch holds (``group_ids`` gives one id each): ``y_pred.shape[0]``; a scalar, or one 1-D
    class row of the row family, is one sample."""
    return y_pred.shape[0] if y_pred.ndim > int(row_family) else 1


def check_values_per_sample(metric, rows, samples):
    """Refuse (``ValueError``) a grouped batch whose ``rows`` per-sample values span several samples."""
    if rows % samples:
        raise ValueError(f"{metric.name} has num_groups={metric.num_groups}, which needs one value per sample; the "
                         f"batch's {samples} samples give {rows} value(s) (a mean over the last axis of 1-D inputs "
                         f"is one value: pass y_true and y_pred of shape ({samples}, 1))")


def check_grouped_batch(metric, batch, samples):
    """Refuse (``ValueError``) for a grouped metric a scalar weight over several samples (the one weight shape with
    fewer weights than samples) and a batch whose per-sample values span several samples."""
    if batch.weight is not None and batch.weight.shape[0] < samples:
        raise ValueError(
            f"{metric.name} has num_groups={metric.num_groups}, which needs a weight per sample; got a scalar "
            f"sample_weight for {samples} samples. Keras counts a batch weighted by a scalar w as one unit of "
            f"weight w (its count grows by w, not by w per sample), which has no per-group meaning: pass "
            f"np.full({samples}, w) to weigh each sample by w")
    check_values_per_sample(metric, batch.y_pred.shape[0], samples)


def grouped(metric, batch, ids, samples):
    """``batch`` with each row's group id (a sample's rows are consecutive: ``rows / samples`` of them), or as it
    is for an ungrouped metric; refuses what ``check_grouped_batch`` refuses."""
    if ids is None:
        return batch
    check_grouped_batch(metric, batch, samples)
    rows = batch.y_pred.shape[0]
    return batch._replace(ids=ids if rows == samples else metric.xp.repeat(ids, rows // samples))


def add_grouped_sums(metric, kind, batch, unchecked_ids, params=None, group=1):
    """``add_sums`` into ``metric.total`` and ``metric.count``, after counting the samples a grouped metric drops
    (``unchecked_ids``: ids in device memory, whose range was not checked; ``_groups.count_dropped``)."""
    if unchecked_ids is not None:
        count_dropped(metric, unchecked_ids)
    add_sums(metric, kind, batch, state_out(metric.total), state_out(getattr(metric, "count", None)), params, group)


def imported(metric, x, name):
    """``x`` as an array of the metric's device (the first import places an ``auto`` metric); refused if empty."""
    array = metric.asarray(x, name)
    check_not_empty(array.shape, name)
    return array


def imported_pair(metric, y_true, y_pred):
    """``y_true`` and ``y_pred`` on the metric's device, ``y_pred`` first (it places an ``auto`` metric)."""
    if y_true is None:  # before anything is imported or placed: a refused call changes nothing
        raise TypeError(f"{metric.name}: y_true is None; update_state needs y_true and y_pred "
                        f"(Mean / Sum take plain values)")
    y_pred = imported(metric, y_pred, "y_pred")
    return imported(metric, y_true, "y_true"), y_pred


def cast_pair(metric, y_true, y_pred, keras_cast, half_labels):
    """``imported_pair`` with Keras's casts of ``y_true`` to ``y_pred``'s dtype where a fused form declares them:
    beside integer predictions (``keras_cast``: ``keras_label_cast``) and beside float16 / bfloat16 ones
    (``half_labels``: ``labels_in_half_precision``, asked of ``y_pred`` as given, before import widens bfloat16)."""
    half = half_precision(y_pred) if half_labels else None
    y_true, y_pred = imported_pair(metric, y_true, y_pred)
    if keras_cast:
        y_true = keras_label_cast(y_true, y_pred)
    if half is not None:
        y_true = labels_in_half_precision(metric.xp, y_true, half)
    return y_true, y_pred


def imported_weight(metric, sample_weight):
    return None if sample_weight is None else metric.asarray(sample_weight, "sample_weight")


def weights_per_row(xp, weight, plan):
    """``sample_weight`` as one weight per row of ``plan`` (a broadcast view, flattened), or None."""
    if weight is None:
        return None
    return broadcast(xp, weight.reshape(plan.weight_shape), plan.weight_cells).reshape(plan.rows)


def rows_by_cols(xp, array, shape, plan):
    """``array`` (read as ``shape``) broadcast to the plan's element shape, as a ``(rows, cols)`` view (``array``
    itself when it already has that shape: a reshape costs a fifth of a microsecond)."""
    array = broadcast(xp, array if array.shape == shape else array.reshape(shape), plan.element_shape)
    return array if array.shape == (plan.rows, plan.cols) else array.reshape(plan.rows, plan.cols)


def elementwise_batch(metric, y_true, y_pred, sample_weight, last_axis, reduce):
    """Keras's shape rules for an elementwise function: rank alignment, broadcasting, then ``reduce`` ("mean":
    ``Mean``'s total and count, "sum": ``Sum``'s total) of the per-sample values with their weights; a per-sample
    value is the ``last_axis`` "mean" or "sum" of the elements, or (None) each element."""
    true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
    element_shape = broadcast_shape(true_shape, pred_shape, "y_true", "y_pred")
    if last_axis and not element_shape:
        raise ValueError(f"{metric.name} reduces over the last axis; y_true and y_pred need at least one axis")
    weight = imported_weight(metric, sample_weight)
    plan = plan_reduction(element_shape, len(element_shape) - bool(last_axis),
                          None if weight is None else weight.shape, reduce)
    xp = metric.xp
    total_scale = plan.total_scale * (element_shape[-1] if last_axis == "sum" else 1)
    return Batch(rows_by_cols(xp, y_true, true_shape, plan), rows_by_cols(xp, y_pred, pred_shape, plan),
                 weights_per_row(xp, weight, plan), total_scale, plan.weight_scale)


def add_values(metric, values, sample_weight, reduce, group_ids=None):
    """``Mean`` / ``Sum``: the values themselves (kind ``identity``, which reads ``y_pred``) into ``metric.total``
    and ``metric.count`` (``Sum`` has none). Weighted values that carry Keras's mask (``_masks``) weigh their
    masked samples 0, as Keras's ``apply_mask``."""
    mask = mask_of(values)
    if mask is None:
        mask = keras_mask_of(values)  # a Keras layer's mask on the values themselves, as Keras's Mean reads it
    values = imported(metric, values, "values")
    if mask is not None and sample_weight is not None:
        sample_weight = masked_weights(metric, sample_weight, mask, "the values' mask")
    ids, unchecked = import_group_ids(metric, group_ids, sample_count(values))
    batch = grouped(metric, elementwise_batch(metric, values, values, sample_weight, None, reduce), ids,
                    sample_count(values))
    add_grouped_sums(metric, ERROR_KINDS["identity"], batch, ids if unchecked else None)


class Elementwise:
    """The per-sample value is the mean (``last_axis="mean"``) or sum (``"sum"``) over the last axis, or (None)
    each element, of the ``error_sums`` kind ``kind``: a name, or ``kind(y_true, y_pred, **fn_kwargs)`` of the
    batch's views.

    ``params(y_true, y_pred, **fn_kwargs)`` returns the kind's parameters by
    name (declared in ``error_sums.rules.KINDS``); it runs after the batch has
    passed validation, on the ``(rows, cols)`` views the kernel will read.
    ``device_params(metric, batch)`` instead returns the batch to pass (its
    labels may be mapped on the device) and a parameter vector an earlier pass
    wrote on the device (hinge's count of labels other than 0 and 1), read by
    the kernel only.

    ``keras_cast``: the function casts ``y_true`` to ``y_pred``'s dtype first, as
    Keras's does (``aligned_pair``), so a float label beside integer predictions
    is truncated (``keras_label_cast``); False for functions Keras does not cast
    (``binary_accuracy``, ``RootMeanSquaredError``'s squared errors).

    ``takes(**fn_kwargs)``: whether the pass computes the function for those keyword arguments (binary
    crossentropy's: only over the last axis); a ``MeanMetricWrapper`` given others calls the function instead.

    ``half_labels``: the kind compares labels exactly with ``y_pred``, so beside float16 / bfloat16 predictions the
    labels are rounded to that type first, as Keras's cast does (``labels_in_half_precision``); the kernels' own
    label cast covers the wider types.
    """

    def __init__(self, kind, params=no_params, last_axis="mean", device_params=None, keras_cast=True, takes=None,
                 half_labels=False):
        self.half_labels = half_labels
        self.choose_kind = kind if callable(kind) else fixed_kind(kind)
        self.params = params
        self.device_params = device_params
        self.last_axis = last_axis
        self.keras_cast = keras_cast
        self._takes = takes

    def takes(self, fn_kwargs):
        return self._takes is None or self._takes(**fn_kwargs)

    def update(self, metric, y_true, y_pred, sample_weight, group_ids=None, **fn_kwargs):
        y_true, y_pred = cast_pair(metric, y_true, y_pred, self.keras_cast, self.half_labels)
        ids, unchecked = import_group_ids(metric, group_ids, sample_count(y_pred))
        batch = elementwise_batch(metric, y_true, y_pred, sample_weight, self.last_axis, "mean")
        batch = grouped(metric, batch, ids, sample_count(y_pred))
        kind = ERROR_KINDS[self.choose_kind(batch.y_true, batch.y_pred, **fn_kwargs)]
        if self.device_params is not None:
            batch, params = self.device_params(metric, batch)
        else:
            params = packed_params(metric, kind, self.params(batch.y_true, batch.y_pred, **fn_kwargs))
        add_grouped_sums(metric, kind, batch, ids if unchecked else None, params)


class Rowwise:
    """The per-sample value is the ``row_sums`` kind ``kind`` (a name, or ``kind(**fn_kwargs)``) of each sample's
    row along ``axis`` (a keyword of the function, -1 by default); ``sparse`` when ``y_true`` holds class ids.

    ``params(y_true, y_pred, **fn_kwargs)`` returns the kind's parameters by
    name (``{"k": 5, "sparse": 0.0}``; declared in ``row_sums.rules.KINDS``);
    it runs after the batch has passed validation, on the ``(rows, cols)``
    views the kernel will read.

    ``ignored(**fn_kwargs)``, when given, names a label (or None) whose samples Keras masks: their value is 0,
    and when sample weights are given their weight is 0 too, so they leave the count as well (Keras applies the
    mask to sample weights only). The masked weights are one array of a weight per row, made on the device; a
    scalar weight is first spread over the values, as Keras's ``apply_mask`` multiplies it by the mask, so that the
    batch counts ``w`` per unmasked sample (its count would otherwise grow by ``w`` times the unmasked fraction).

    ``keras_cast``: as ``Elementwise``'s, for rows of the same shape (class ids, ``sparse``, are never cast); False
    for functions Keras does not cast (the argmax and top-k accuracies).
    """

    def __init__(self, kind, params=no_params, sparse=False, ignored=None, keras_cast=True, half_labels=False):
        self.half_labels = half_labels  # as Elementwise's; or f(**fn_kwargs) -> bool, for some arguments alone
        self.choose_kind = kind if callable(kind) else fixed_kind(kind)
        self.params = params
        self.sparse = sparse
        self.ignored = ignored
        self.keras_cast = keras_cast and not sparse

    def takes(self, fn_kwargs):
        """Every keyword argument of the function (its ``axis`` included)."""
        return True

    def update(self, metric, y_true, y_pred, sample_weight, group_ids=None, **fn_kwargs):
        kind = ROW_KINDS[self.choose_kind(**fn_kwargs)]
        rounds = self.half_labels(**fn_kwargs) if callable(self.half_labels) else self.half_labels
        y_true, y_pred = cast_pair(metric, y_true, y_pred, self.keras_cast, rounds)
        samples = sample_count(y_pred, row_family=True)
        ids, unchecked = import_group_ids(metric, group_ids, samples)
        axis = fn_kwargs.get("axis", -1)
        if ids is not None and y_pred.ndim > 1 and axis % y_pred.ndim == 0:
            raise ValueError(f"{metric.name} has num_groups={metric.num_groups}, which needs one value per sample; "
                             f"axis={axis} reduces over y_pred's sample axis (shape {tuple(y_pred.shape)}), so no "
                             f"sample has a value of its own to put in a group")
        ignored = None if self.ignored is None else self.ignored(**fn_kwargs)
        spread = ignored is not None and ids is None  # unspread, a grouped metric's scalar weight is refused
        batch, group = row_batch(metric, y_true, y_pred, sample_weight, self.sparse, axis, spread)
        batch = grouped(metric, batch, ids, samples)
        batch, group = masked(metric.xp, batch, group, ignored)
        params = packed_params(metric, kind, self.params(batch.y_true, batch.y_pred, **fn_kwargs))
        add_grouped_sums(metric, kind, batch, ids if unchecked else None, params, group)


def masked(xp, batch, group, ignored):
    """With sample weights, the rows whose label is ``ignored`` get weight 0 (one weight per row, made on the
    device); without, or with no ``ignored`` label, the batch is unchanged."""
    if ignored is None or batch.weight is None:
        return batch, group
    weight = xp.repeat(batch.weight, group) * (batch.y_true[:, 0] != ignored)
    return batch._replace(weight=weight, weight_scale=batch.weight_scale / group), 1


def row_batch(metric, y_true, y_pred, sample_weight, sparse, axis, spread_scalar=False):
    """Keras's shape rules for class-row functions: ``(R, C)`` / ``(R, 1)`` views with one weight per ``group``
    rows; returns ``(batch, group)``. ``spread_scalar``: a scalar weight is read as that weight for every value
    (Keras's ``apply_mask`` of a mask on the values), not as one weight for the whole batch."""
    if y_pred.ndim == 0:
        raise ValueError(f"{metric.name} needs y_pred with a class axis; got a scalar")
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(f"axis={axis} is out of range for y_pred of shape {y_pred.shape}")
    xp = metric.xp
    if axis % y_pred.ndim != y_pred.ndim - 1:
        y_pred = xp.moveaxis(y_pred, axis, -1)
        if not sparse:
            y_true = xp.moveaxis(y_true, axis, -1) if y_true.ndim == y_pred.ndim else y_true
    values_shape, classes = y_pred.shape[:-1], y_pred.shape[-1]
    check_row_labels(y_true.shape, y_pred.shape, sparse)
    weight = imported_weight(metric, sample_weight)
    if spread_scalar and weight is not None and weight.ndim == 0:
        weight = xp.broadcast_to(weight, values_shape)
    plan = plan_reduction(values_shape, len(values_shape), None if weight is None else weight.shape, "mean")
    rows = math.prod(values_shape)
    batch = Batch(y_true.reshape(rows, 1 if sparse else classes), y_pred.reshape(rows, classes),
                  weights_per_row(xp, weight, plan), plan.total_scale, plan.weight_scale)
    return batch, plan.cols


def check_row_labels(true_shape, pred_shape, sparse):
    """``y_true`` holds one class id per row of ``y_pred`` (``sparse``) or a row of the same shape."""
    values_shape = pred_shape[:-1]
    if sparse:
        ids_shape = true_shape[:-1] if len(true_shape) == len(pred_shape) and true_shape[-1] == 1 else true_shape
        if ids_shape != values_shape:
            raise ValueError(f"y_true of shape {true_shape} must hold one class id per row of y_pred of shape "
                             f"{pred_shape} (shape {values_shape} or {values_shape + (1,)})")
        return
    aligned_true, aligned_pred = squeeze_or_expand(true_shape, pred_shape)
    if aligned_true != aligned_pred or aligned_pred != pred_shape:
        raise ValueError(f"y_true of shape {true_shape} and y_pred of shape {pred_shape} must match")

