"""The group axis: ``num_groups=G`` on a metric, ``group_ids`` in ``update_state``, and the mean across groups.

A grouped metric keeps every state with a group axis of length ``G`` and gives one result per group. A batch's
``group_ids`` hold one integer per sample (``y_pred.shape[0]``) and are refused (``TypeError``) when float or bool,
(``ValueError``) when of another shape, given to an ungrouped metric or missing on a grouped one. The range
``[0, G)`` is checked where that costs no device sync:

* ids in host memory (NumPy, lists, CPU tensors) are checked on the host: a negative id or one ``>= G`` is
  refused with a ``ValueError`` naming the values, and the metric is unchanged;
* ids in GPU memory cannot be read without waiting for the GPU, so the kernel drops the samples whose id is out of
  range and the metric counts them on the device in its ``dropped_samples`` state (read it after the fact).

Grouped families: the threshold family and the F-scores (``confusion.py``, ``f_score.py``), the mean / error family
(``_mean.py``, ``_fused_passes.py``), the IoU family (``iou.py``) and ``R2Score`` (``r2_score.py``); not ``ExactAUC``.
"""
from typing import NamedTuple

import numpy as np

from .._arguments import MAX_INDEX, check_int
from .._interop import host_array, location

#: the weightings of ``grouped_mean``: each group's total sample weight, or 1
WEIGHTINGS = ("samples", "uniform")


def check_num_groups(num_groups):
    """``num_groups``: None (no group axis) or an int in ``[1, 2**31 - 1]``."""
    return check_int(num_groups, "num_groups", 1, MAX_INDEX, optional=True)


def group_axis(num_groups):
    """The axis a state gains: ``()`` ungrouped, ``(G,)`` grouped."""
    return () if num_groups is None else (num_groups,)


def with_num_groups(config, num_groups):
    """``config`` with ``num_groups`` when set: an ungrouped metric's config (and so its state-dict fingerprint) is
    as before groups existed."""
    return config if num_groups is None else {**config, "num_groups": num_groups}


def add_dropped_state(metric):
    """A grouped metric's count of samples dropped for a device-resident id outside ``[0, G)``."""
    if metric.num_groups is not None:
        metric.dropped_samples = metric.add_state("dropped_samples", (), "int64", count=True)


def _refuse_out_of_range(ids, num_groups):
    """Refuse (``ValueError`` naming them) host ids outside ``[0, G)``; two reductions when all are inside."""
    if ids.size and (ids.min() < 0 or ids.max() >= num_groups):
        bad = np.unique(ids[(ids < 0) | (ids >= num_groups)])  # host ids: this function only sees those
        raise ValueError(f"group_ids must lie in [0, num_groups={num_groups}); got {bad.size} distinct ids outside, "
                         f"e.g. {[int(v) for v in bad[:8]]}")


def import_group_ids(metric, group_ids, num_samples):
    """``(ids, unchecked)``: ``group_ids`` checked (the module's rules) and on the metric's device (None for an
    ungrouped metric), and whether their range is unchecked: host ids are range-checked here, device ids are not
    (that would sync); pass those to :func:`count_dropped`.
    """
    groups = metric.num_groups
    if group_ids is None:
        if groups is not None:
            raise ValueError(f"{metric.name} has num_groups={groups}: update_state needs group_ids, one integer in "
                             f"[0, {groups}) per sample")
        return None, False
    if groups is None:
        raise ValueError(f"{metric.name} has no group axis (num_groups=None); got group_ids. Build the metric with "
                         f"num_groups=G to get one result per group")
    on_host = location(group_ids, "group_ids") != "cuda"
    ids = host_array(group_ids, "group_ids") if on_host else metric.asarray(group_ids, "group_ids")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"group_ids must be integers (one group id per sample); got dtype {ids.dtype}")
    if ids.shape != (num_samples,):
        raise ValueError(f"group_ids must have shape ({num_samples},), one id per sample of y_pred; got shape "
                         f"{tuple(ids.shape)}")
    if not on_host:
        return ids, True
    _refuse_out_of_range(ids, groups)
    return metric.asarray(ids, "group_ids"), False


class PassGroups(NamedTuple):
    """A batch's group ids as one pass reads them: one per row of the pass (``rows``; None ungrouped), one per
    sample (``samples``, what ``count_dropped`` counts) and whether their range is unchecked (device ids)."""

    rows: object = None
    samples: object = None
    unchecked: bool = False


def pass_groups(metric, y_pred, group_ids, rows):
    """``group_ids`` checked (this module's rules) for ``y_pred``'s samples and spread over a pass of ``rows`` rows
    (a sample's rows are consecutive): :class:`PassGroups`, empty for an ungrouped metric."""
    if group_ids is None and metric.num_groups is None:  # the common case: nothing to import again
        return PassGroups()
    y_pred = metric.asarray(y_pred, "y_pred")
    samples = y_pred.shape[0] if y_pred.ndim else 1
    ids, unchecked = import_group_ids(metric, group_ids, samples)
    if ids is None:
        return PassGroups()
    if rows % samples:
        raise ValueError(f"{metric.name}: the batch gives {rows} rows for {samples} samples (group_ids); each sample "
                         f"must give the same number")
    return PassGroups(ids if rows == samples else metric.xp.repeat(ids, rows // samples), ids, unchecked)


def count_dropped(metric, ids, unchecked=True):
    """Add the samples whose id is outside ``[0, G)`` to ``dropped_samples``, on the device (no sync), unless the
    ids were range-checked (``unchecked`` False: none are). Call it after every check, next to the kernel that
    drops them."""
    if not unchecked:
        return
    xp = metric.xp
    metric.dropped_samples.writable()[...] += xp.count_nonzero((ids < 0) | (ids >= metric.num_groups))


def check_grouped(metric):
    """Refuse (``ValueError``) a reduction across groups on a metric without a group axis."""
    if metric.num_groups is None:
        raise ValueError(f"{metric.name} has no group axis (num_groups=None): grouped_mean needs num_groups=G")


def check_plot_group(metric, group):
    """``plot``'s ``group``: an int in ``[0, G)`` on a grouped metric (required: a figure shows one group), None on
    an ungrouped one; else a ``ValueError`` saying how to plot one group."""
    if metric.num_groups is None:
        if group is not None:
            raise ValueError(f"{metric.name} has no group axis (num_groups=None); got group={group!r}: plot() "
                             f"without group draws it")
        return None
    if group is None:
        raise ValueError(f"{metric.name} has num_groups={metric.num_groups}, one result per group: pass group=g "
                         f"(0 <= g < {metric.num_groups}) to plot group g, e.g. metric.plot(group=0)")
    return check_int(group, "group", 0, metric.num_groups - 1)


def mean_of_results(metric, weights, valid, weighting):
    """``grouped_mean``'s value: the metric's per-group ``result()`` averaged by :func:`weighted_mean_over_groups`
    (in float64), in the metric's ``dtype``."""
    xp = metric.xp
    values = xp.asarray(metric.result(), dtype=xp.float64)
    return weighted_mean_over_groups(xp, values, weights, valid, weighting).astype(metric.dtype)


def weighted_mean_over_groups(xp, values, weights, valid, weighting):
    """``Σ_g m_g v_g / Σ_g m_g`` over the groups where ``valid`` (``m_g = weights[g]`` for ``"samples"``, negative
    ones too, 1 for ``"uniform"``); ``values``: ``(G, ...)``, the rest 1-D ``(G,)``. NaN when no group is valid.
    A group of zero mass adds nothing to either sum (nor its NaN result to the numerator)."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {WEIGHTINGS}; got {weighting!r}")
    mass = xp.where(valid, weights if weighting == "samples" else 1.0, 0.0)
    mass = mass.reshape(mass.shape + (1,) * (values.ndim - 1))
    total = xp.sum(mass, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return xp.sum(xp.where(mass != 0, values * mass, 0.0), axis=0) / total
