"""The passes a ``MetricCollection`` shares: declared by each metric (``pass_spec()``), never inferred from values.

A metric declares its pass as a hashable spec or None (then it runs its own
``update_state``). Two members share a pass only when their specs' keys are
equal; the key holds every parameter that changes what the kernel counts,
``num_groups`` included: members of one ``G`` share a grouped launch, whose
group ids the leader checks and spreads once (``_groups.pass_groups``).

* ``HistogramPass`` (the threshold family): key = transform, ``top_k``,
  ``class_id``, AUC's ``label_weights``; the thresholds are not in the key.
  A group runs one ``threshold_histogram`` over the sorted union of its
  members' thresholds, and each member gets the union buckets between its own
  thresholds summed (``Segments``). ``as_is`` with every threshold in
  ``[0, 1)`` is declared ``clip``: ``clip(p) > t`` exactly when ``p > t`` there
  (NaN: neither), so Precision at 0.5 shares AUC's clipped pass. Multi-label
  members (F-scores, ``AUC(multi_label=True)``) read ``(N, L)`` batches, the
  others ``(N * L, 1)``: the two layouts share one launch when a batch's two
  views have one shape (``L = 1``), else each layout has its own.
* ``BinaryAccuracy`` rides a ``HistogramPass`` (``exact_labels``) at its
  float32-rounded threshold: its correct weight is the positive weight above
  the threshold less that of labels other than exactly 1 (Keras's
  ``y_true == (y_pred > t)`` never matches 2, 0.3 or NaN; the kernel's third
  plane, ``out_other``, counts them), plus the negative weight at or below
  it. It checks the batch by its own (Keras ``Mean``) rules and scales the
  sums as its own pass does; it never leads, so a collection without a
  threshold metric of its key and layout runs its own ``sums`` pass.
* ``MatrixPass`` (the IoU family): key = every argument of
  ``weighted_bincount``; members of one key add the same ``(C, C)`` matrix.

What holds against standalone updates (``tests/test_collection.py``):

* a member alone in its pass at its own thresholds (and a lone IoU member) is
  launched into its own states: bitwise on every device;
* a member of a shared pass at the union's thresholds (every IoU member of a
  shared matrix) adds the batch's histogram (matrix): bitwise on the CPU, whose
  twins add a batch's sums into the state; on CUDA the kernel adds fractional
  weights in its atomics' order (two runs alone differ too): bitwise for
  whole-number weights;
* a member whose thresholds are a subset of a wider union: each of its buckets
  is a sum of union buckets in another order, so bitwise for whole-number
  weights (counts), within float64 rounding for fractional ones. Bitwise there
  would need the member's own histogram, i.e. its own pass.
* a riding ``BinaryAccuracy``: bitwise for whole-number weights and one
  element per sample (its sums are then integers); within float64 rounding
  otherwise (its own pass averages each sample's elements first).
"""
from typing import NamedTuple

import numpy as np

from .._kernels.threshold_histogram.rules import grid_hint
from ._groups import PassGroups, count_dropped, pass_groups

#: most union thresholds off an evenly spaced member's grid that still take its O(1) bucket guess (each one may cost
#: the predictions in its grid cell a fix-up step; more fall back to the binary search)
EXTRA_EVEN = 16


class HistogramPass(NamedTuple):
    """A threshold metric's pass: ``key`` (what the kernel counts), its sorted thresholds, whether they are evenly
    spaced (a speed hint only: both bucketings give the same bucket), its layout (``multi_label``), and whether it
    rides (``exact_labels``: ``BinaryAccuracy``, which reads the plane of labels other than 0 and 1 and checks
    the batch by its own rules, so it never leads a pass)."""

    key: tuple
    thresholds: tuple
    evenly_spaced: bool
    multi_label: bool
    exact_labels: bool = False

    @classmethod
    def of(cls, transform, sorted_thresholds, evenly_spaced, options, num_groups=None, exact_labels=False):
        thresholds = tuple(float(t) for t in sorted_thresholds)
        if transform == "as_is" and all(0.0 <= t < 1.0 for t in thresholds):
            transform = "clip"  # the same buckets at these thresholds: Keras's two paths agree here
        weights = options.get("label_weights")
        key = ("threshold_histogram", transform, options.get("top_k"), options.get("class_id"),
               None if weights is None else tuple(float(w) for w in weights), num_groups)
        return cls(key, thresholds, bool(evenly_spaced), bool(options.get("multi_label")), exact_labels)

    @property
    def leads(self):
        """Whether its checks can give a pass's batch: a threshold metric's (not a rider's)."""
        return not self.exact_labels


class MatrixPass(NamedTuple):
    """An IoU metric's pass: equal keys, equal ``(C, C)`` matrices."""

    key: tuple


class Segments:
    """Where a member's buckets lie in a union's: member bucket ``k`` is the sum of union buckets
    ``[start_k, end_k)``, ``start_k = idx[k - 1] + 1`` (``idx``: positions of its thresholds in the union).
    Summed left to right, so a one-bucket segment is copied bit for bit: on the CPU one ``bincount`` of the union
    buckets by their member bucket (sequential from 0.0, in bucket order), on a GPU gather + scatter-add."""

    def __init__(self, thresholds, union):
        idx = np.searchsorted(union, np.asarray(thresholds, dtype=np.float64))
        starts = np.concatenate([[0], idx + 1])
        ends = np.concatenate([idx + 1, [len(union) + 1]])
        self.identity = len(thresholds) == len(union) and bool(np.all(np.asarray(thresholds) == union))
        self.nonempty = ends > starts
        self.starts = np.minimum(starts, len(union))
        lengths = np.maximum(ends - starts, 0)
        self.extras = np.concatenate([np.arange(s + 1, e) for s, e in zip(starts, ends)] + [np.zeros(0, np.int64)])
        self.extra_buckets = np.repeat(np.arange(len(starts)), np.maximum(lengths - 1, 0))
        self.bucket_of = np.repeat(np.arange(len(starts)), lengths)  # each union bucket's member bucket
        self._device = {}
        self._flat = {}

    def on(self, xp):
        """The index arrays on ``xp``'s device (made once)."""
        key = xp.__name__  # a module is no key a deepcopy or pickle of a collection can copy
        if key not in self._device:
            self._device[key] = tuple(xp.asarray(a) for a in (self.starts, self.nonempty, self.extras,
                                                                self.extra_buckets))
        return self._device[key]

    def sum(self, xp, hist):
        """The member's ``(T + 1, L)`` histogram from the union's ``hist``."""
        if self.identity:
            return hist
        if xp is np:  # a NumPy gather + add.at costs 8-11 us a plane, a fifth of a small collection update
            cols = hist.shape[1]
            if cols not in self._flat:
                self._flat[cols] = (self.bucket_of[:, None] * cols + np.arange(cols)).reshape(-1)
            return np.bincount(self._flat[cols], weights=hist.reshape(-1),
                               minlength=len(self.starts) * cols).reshape(-1, cols)
        import cupyx

        starts, nonempty, extras, buckets = self.on(xp)
        out = xp.where(nonempty[:, None], hist[starts], 0.0)
        if self.extras.size:
            cupyx.scatter_add(out, buckets, hist[extras])  # float64 atomics: their order is the device's
        return out


class _Union:
    """One launch of a histogram group: the sorted union of its members' thresholds, a bucketing, each member's
    ``Segments``; with a rider, a third plane (the labels other than 0 and 1)."""

    def __init__(self, members):
        self.members = [metric for metric, _ in members]
        self.riders = [spec.exact_labels for _, spec in members]
        self.split = any(self.riders)
        union = np.array(sorted({t for _, spec in members for t in spec.thresholds}), dtype=np.float64)
        self.thresholds, self.extras, self.bucketing = union, 0, "binary_search"
        grids = [spec.thresholds for _, spec in members if spec.evenly_spaced]
        if grids:  # the largest grid's guess, through a table when the union holds thresholds off it
            grid = max(grids, key=len)
            off_grid = np.setdiff1d(union, grid)
            if off_grid.size <= EXTRA_EVEN:
                self.bucketing = "evenly_spaced"
                if off_grid.size:
                    hint = grid_hint(off_grid, grid)
                    self.thresholds, self.extras = np.concatenate([union, hint]), hint.size
        self.count = len(union)
        self.segments = [Segments(spec.thresholds, union) for _, spec in members]
        self._device = {}

    def launch(self, backend, transform, checked, into=None):
        """One ``threshold_histogram`` of the ``Checked`` batch into ``into`` (two ``(U + 1, G L)`` arrays) or fresh
        zeros (three when split: positive, negative, other); returns them."""
        xp = backend.xp
        key = xp.__name__  # a module is no key a deepcopy or pickle of a collection can copy
        if key not in self._device:
            self._device[key] = xp.asarray(self.thresholds)
        groups = 1 if self.members[0].num_groups is None else self.members[0].num_groups
        shape = (self.count + 1, groups * checked.batch[1].shape[1])
        planes = into or tuple(xp.zeros(shape) for _ in range(3 if self.split else 2))
        backend.threshold_histogram(*checked.batch, self._device[key], self.bucketing, transform, planes[0], planes[1],
                                    group_ids=checked.groups.rows, out_other=planes[2] if self.split else None,
                                    extras=self.extras)
        return planes

    def counts_in_place(self):
        """One member at its own thresholds: the launch writes its states, as its own update does (bit for bit
        on every device, also where the kernel adds into the state in an order of its own)."""
        return len(self.members) == 1 and self.segments[0].identity and not self.split

    def feed(self, xp, planes, checked):
        """Each member's buckets of ``planes`` and its dropped samples; a rider also gets its plane of other labels
        and its batch's scales (what its checks returned)."""
        for metric, segments, rider in zip(self.members, self.segments, self.riders):
            count_dropped(metric, checked.groups.samples, checked.groups.unchecked)
            mine = [segments.sum(xp, plane) for plane in planes]
            if rider:
                metric.add_split_histograms(*mine, checked.scales[id(metric)])
            else:
                metric.add_histograms(*mine[:2])

    def launch_in_place(self, backend, transform, checked):
        metric = self.members[0]
        count_dropped(metric, checked.groups.samples, checked.groups.unchecked)
        states = (metric.positive_histogram, metric.negative_histogram)
        self.launch(backend, transform, checked, [s.writable().reshape(s.shape[0], -1) for s in states])


class Checked(NamedTuple):
    """One layout's checked batch: the backend, the pass's ``(N, L)`` inputs, the riders' scales (``{id(rider):
    scales}``) and the group ids (``_groups.PassGroups``)."""

    backend: object
    batch: tuple
    scales: dict
    groups: PassGroups


class HistogramGroup:
    """Members of one ``HistogramPass`` key: checks by one member per layout, then one launch (two when the
    layouts' batches differ in shape), then each member's buckets added to its states."""

    def __init__(self, members):
        self.transform = members[0][1].key[1]
        self.layouts = {flag: [(m, s) for m, s in members if s.multi_label == flag] for flag in (False, True)}
        self.layouts = {flag: listed for flag, listed in self.layouts.items() if listed}
        self.separate = {flag: _Union(listed) for flag, listed in self.layouts.items()}
        self.together = _Union(members) if len(self.layouts) == 2 else None

    @property
    def metrics(self):
        return [m for listed in self.layouts.values() for m, _ in listed]

    def check(self, y_true, y_pred, sample_weight, group_ids=None):
        """Every host check, no write: per layout, ``Checked``: its first leading member's checked ``(N, L)`` batch
        and the group ids it checked, and the riders' scales (from their own rules)."""
        batches = {}
        for flag, listed in self.layouts.items():
            leader = next(metric for metric, spec in listed if spec.leads)
            batch = leader.pass_inputs(y_true, y_pred, sample_weight)
            groups = pass_groups(leader, y_pred, group_ids, batch[1].shape[0])
            scales = {}
            for metric, spec in listed:
                if spec.exact_labels:
                    scales[id(metric)] = metric.join_histogram_pass(y_true, y_pred, sample_weight)
                elif metric is not leader:
                    metric.join_pass(batch[1])
            batches[flag] = Checked(leader.backend, batch, scales, groups)
        return batches

    def launch(self, batches):
        """The launches into fresh histograms; returns what adds them to the members' states (a collection
        launches every pass before it writes a state)."""
        if self.together is not None and batches[False].batch[1].shape == batches[True].batch[1].shape:
            plan = [(self.together, batches[False]._replace(scales={**batches[False].scales,
                                                                      **batches[True].scales}))]
        else:
            plan = [(self.separate[flag], batches[flag]) for flag in self.layouts]
        counted = [(union, checked, None if union.counts_in_place() else
                    union.launch(checked.backend, self.transform, checked)) for union, checked in plan]
        return lambda: [union.launch_in_place(checked.backend, self.transform, checked) if planes is None else
                        union.feed(checked.backend.xp, planes, checked) for union, checked, planes in counted]


class MatrixGroup:
    """Members of one ``MatrixPass`` key: one member's checks, one ``weighted_bincount``, the matrix added to
    every member."""

    def __init__(self, members):
        self.members = [m for m, _ in members]

    @property
    def metrics(self):
        return list(self.members)

    def check(self, y_true, y_pred, sample_weight, group_ids=None):
        """Every host check, no write: the leader's checked batch and group ids."""
        leader = self.members[0]
        batch = leader.pass_inputs(y_true, y_pred, sample_weight)
        groups = pass_groups(leader, y_pred, group_ids, batch[0].shape[0])
        for metric in self.members[1:]:
            metric.join_pass(batch[1])
        return batch, groups

    def launch(self, checked):
        """One launch into a fresh matrix; returns what adds it to every member, with its dropped samples (a lone
        member's launch writes its state, as its own update does)."""
        batch, groups = checked
        leader = self.members[0]
        if len(self.members) == 1:
            def feed():
                count_dropped(leader, groups.samples, groups.unchecked)
                leader.launch_pass(batch, leader.total_cm.writable(), groups.rows)
            return feed
        matrix = leader.xp.zeros(leader.total_cm.shape)
        leader.launch_pass(batch, matrix, groups.rows)

        def feed():
            for metric in self.members:
                count_dropped(metric, groups.samples, groups.unchecked)
                metric.add_matrix(matrix)
        return feed


_GROUPS = {HistogramPass: HistogramGroup, MatrixPass: MatrixGroup}


#: methods a subclass may define and still share its family's pass: they do not take part in an update
_OUTSIDE_THE_UPDATE = {"__init__", "result", "get_config", "from_config", "__repr__", "pass_spec"}


def _is_method(value):
    return callable(value) or isinstance(value, (staticmethod, classmethod, property))


def _ours(cls):
    return cls.__module__.partition(".")[0] == __package__.partition(".")[0]  # gpumetrics, its base Metric included


def _changes_the_update(cls):
    """The most derived class outside the package (between ``cls`` and the package's classes) that redefines a
    method of the package's classes (``Metric``'s ``asarray`` too) other than ``_OUTSIDE_THE_UPDATE``; None when
    there is none."""
    own = [c for c in cls.__mro__ if _ours(c)]
    for c in cls.__mro__:
        if _ours(c):
            return None
        if any(name not in _OUTSIDE_THE_UPDATE and _is_method(value) and any(name in p.__dict__ for p in own)
               for name, value in c.__dict__.items()):
            return c
    return None


def declared_pass(metric):
    """``metric.pass_spec()``, or None when the update it runs is not this package's: a subclass that changes the
    update (``update_state``, or any step it calls: ``_histogram_inputs``, ...) must declare its own ``pass_spec``
    to share, never inherit one."""
    cls = type(metric)
    declares = next((c for c in cls.__mro__ if "pass_spec" in c.__dict__), None)
    if declares is None:
        return None
    changer = _changes_the_update(cls)
    if changer is not None and not issubclass(declares, changer):
        return None
    return metric.pass_spec()


def group(metrics):
    """``(groups, own)``: the shared passes of ``metrics`` (each a group of members with one spec key, in the
    order of their first member) and the metrics that run their own ``update_state``."""
    keyed, own = {}, []
    for metric in metrics:
        spec = declared_pass(metric)
        if spec is None:
            own.append(metric)
        else:
            keyed.setdefault((type(spec), spec.key), []).append((metric, spec))
    for (kind, _), members in keyed.items():  # a rider shares only a layout a threshold metric leads; else its own
        for flag in {spec.multi_label for _, spec in members if kind is HistogramPass and not spec.leads}:
            if not any(spec.leads and spec.multi_label == flag for _, spec in members):
                own += [m for m, spec in members if not spec.leads and spec.multi_label == flag]
                members[:] = [(m, spec) for m, spec in members if spec.leads or spec.multi_label != flag]
    return [_GROUPS[kind](members) for (kind, _), members in keyed.items() if members], own
