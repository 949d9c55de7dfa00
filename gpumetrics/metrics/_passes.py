"""The passes a ``MetricCollection`` shares: declared by each metric (``pass_spec()``), never inferred from values.

A metric declares its pass as a hashable spec or None (then it runs its own
``update_state``). Two members share a pass only when their specs' keys are
equal; the key holds every parameter that changes what the kernel counts.

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
"""
from typing import NamedTuple

import numpy as np

#: more union thresholds than an evenly spaced member has still take its O(1) bucket guess (then a few fix-up steps)
EXTRA_EVEN = 16


class HistogramPass(NamedTuple):
    """A threshold metric's pass: ``key`` (what the kernel counts), its sorted thresholds, whether they are evenly
    spaced (a speed hint only: both bucketings give the same bucket), and its layout (``multi_label``)."""

    key: tuple
    thresholds: tuple
    evenly_spaced: bool
    multi_label: bool

    @classmethod
    def of(cls, transform, sorted_thresholds, evenly_spaced, options):
        thresholds = tuple(float(t) for t in sorted_thresholds)
        if transform == "as_is" and all(0.0 <= t < 1.0 for t in thresholds):
            transform = "clip"  # the same buckets at these thresholds: Keras's two paths agree here
        weights = options.get("label_weights")
        key = ("threshold_histogram", transform, options.get("top_k"), options.get("class_id"),
               None if weights is None else tuple(float(w) for w in weights))
        return cls(key, thresholds, bool(evenly_spaced), bool(options.get("multi_label")))


class MatrixPass(NamedTuple):
    """An IoU metric's pass: equal keys, equal ``(C, C)`` matrices."""

    key: tuple


class Segments:
    """Where a member's buckets lie in a union's: member bucket ``k`` is the sum of union buckets
    ``[start_k, end_k)``, ``start_k = idx[k - 1] + 1`` (``idx``: positions of its thresholds in the union).
    Summed left to right as gather + scatter-add, so a one-bucket segment is copied bit for bit."""

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
        self._device = {}

    def on(self, xp):
        """The index arrays on ``xp``'s device (made once)."""
        if xp not in self._device:
            self._device[xp] = tuple(xp.asarray(a) for a in (self.starts, self.nonempty, self.extras,
                                                               self.extra_buckets))
        return self._device[xp]

    def sum(self, xp, hist):
        """The member's ``(T + 1, L)`` histogram from the union's ``hist``."""
        if self.identity:
            return hist
        starts, nonempty, extras, buckets = self.on(xp)
        out = xp.where(nonempty[:, None], hist[starts], 0.0)
        if self.extras.size:
            scatter_add(xp, out, buckets, hist[extras])
        return out


def scatter_add(xp, out, index, values):
    """``out[index[i]] += values[i]`` in order (NumPy) or atomically (CuPy)."""
    if xp is np:
        np.add.at(out, index, values)
    else:
        import cupyx

        cupyx.scatter_add(out, index, values)


class _Union:
    """One launch of a histogram group: the sorted union of its members' thresholds, a bucketing, each member's
    ``Segments``."""

    def __init__(self, members):
        self.members = [metric for metric, _ in members]
        union = np.array(sorted({t for _, spec in members for t in spec.thresholds}), dtype=np.float64)
        self.thresholds = union
        even = [len(spec.thresholds) for _, spec in members if spec.evenly_spaced]
        self.bucketing = "evenly_spaced" if even and len(union) <= max(even) + EXTRA_EVEN else "binary_search"
        self.segments = [Segments(spec.thresholds, union) for _, spec in members]
        self._device = {}

    def launch(self, backend, transform, inputs, into=None):
        """One ``threshold_histogram`` of the batch into ``into`` (two ``(U + 1, L)`` arrays) or fresh zeros;
        returns them."""
        xp = backend.xp
        if xp not in self._device:
            self._device[xp] = xp.asarray(self.thresholds)
        shape = (len(self.thresholds) + 1, inputs[1].shape[1])
        positive, negative = into or (xp.zeros(shape), xp.zeros(shape))
        backend.threshold_histogram(*inputs, self._device[xp], self.bucketing, transform, positive, negative)
        return positive, negative

    def counts_in_place(self):
        """One member at its own thresholds: the launch writes its states, as its own update does (bit for bit
        on every device, also where the kernel adds into the state in an order of its own)."""
        return len(self.members) == 1 and self.segments[0].identity

    def feed(self, xp, positive, negative):
        for metric, segments in zip(self.members, self.segments):
            metric.add_histograms(segments.sum(xp, positive), segments.sum(xp, negative))

    def launch_in_place(self, backend, transform, inputs):
        states = (self.members[0].positive_histogram, self.members[0].negative_histogram)
        self.launch(backend, transform, inputs, [s.writable().reshape(s.shape[0], -1) for s in states])


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

    def check(self, y_true, y_pred, sample_weight):
        """Every host check, no write: per layout, its first member's checked ``(N, L)`` batch."""
        batches = {}
        for flag, listed in self.layouts.items():
            leader = listed[0][0]
            batch = leader.pass_inputs(y_true, y_pred, sample_weight)
            for metric, _ in listed[1:]:
                metric.join_pass(batch[1])
            batches[flag] = (leader.backend, batch)
        return batches

    def launch(self, batches):
        """The launches into fresh histograms; returns what adds them to the members' states (a collection
        launches every pass before it writes a state)."""
        if self.together is not None and batches[False][1][1].shape == batches[True][1][1].shape:
            plan = [(self.together, batches[False])]
        else:
            plan = [(self.separate[flag], batches[flag]) for flag in self.layouts]
        counted = [(union, backend, batch, None if union.counts_in_place() else
                    union.launch(backend, self.transform, batch)) for union, (backend, batch) in plan]
        return lambda: [union.launch_in_place(backend, self.transform, batch) if histograms is None else
                        union.feed(backend.xp, *histograms) for union, backend, batch, histograms in counted]


class MatrixGroup:
    """Members of one ``MatrixPass`` key: one member's checks, one ``weighted_bincount``, the matrix added to
    every member."""

    def __init__(self, members):
        self.members = [m for m, _ in members]

    @property
    def metrics(self):
        return list(self.members)

    def check(self, y_true, y_pred, sample_weight):
        leader = self.members[0]
        batch = leader.pass_inputs(y_true, y_pred, sample_weight)
        for metric in self.members[1:]:
            metric.join_pass(batch[1])
        return batch

    def launch(self, batch):
        """One launch into a fresh matrix; returns what adds it to every member (a lone member's launch writes
        its state, as its own update does)."""
        leader = self.members[0]
        if len(self.members) == 1:
            return lambda: leader.launch_pass(batch, leader.total_cm.writable())
        matrix = leader.xp.zeros((leader.num_classes,) * 2)
        leader.launch_pass(batch, matrix)
        return lambda: [metric.add_matrix(matrix) for metric in self.members]


_GROUPS = {HistogramPass: HistogramGroup, MatrixPass: MatrixGroup}


def declared_pass(metric):
    """``metric.pass_spec()``, or None when the ``update_state`` it runs is not this package's: a subclass that
    changes the update (extra preprocessing) must declare its own ``pass_spec`` to share, never inherit one."""
    cls = type(metric)
    runs = next(c for c in cls.__mro__ if "update_state" in c.__dict__)
    declares = next((c for c in cls.__mro__ if "pass_spec" in c.__dict__), None)
    if declares is None or (not runs.__module__.startswith(__package__) and not issubclass(declares, runs)):
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
    return [_GROUPS[kind](members) for (kind, _), members in keyed.items()], own
