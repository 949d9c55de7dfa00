"""``ExactAUC``: the area under the ROC or PR curve at every distinct score, exact at any size (beyond Keras).

Two state layouts, chosen from the first batch's ``y_pred`` dtype:

* **keys** (float32, float64, integer scores): one ``uint64`` per score and
  label, ``sortable key << 1 | label`` (8 bytes per unweighted sample), in a
  ``concat`` state that grows by doubling (``Variable.extend``); weighted
  updates add a float64 weight per score (16 bytes per sample in all). Scores
  are keyed as float32: the area is exact for the float32-rounded scores, and
  scores that round to one float32 tie. ``result()`` sorts each label's keys
  on the device (NumPy; CuPy's radix sort on a GPU) and sums the area in one
  pass.
* **bit histogram** (float16 or bfloat16 scores): per label, the positive and
  negative weight at each of the 65,536 bit patterns, in sort order (a ``sum``
  state of 1 MiB per label whatever the sample count); ties are equal bit
  patterns, so the area is exact. A later float32 batch cannot join it (a
  ``TypeError`` says so); float16 batches join a keys metric exactly.

NaN scores rank below every other score and tie with each other; ``-0.0``
ties with ``0.0``. A label counts as positive when it is non-zero.
"""
import numpy as np

from .._arguments import check_int
from ..metric import Metric, _check_state_mapping
from ..registry import register
from .confusion import ThresholdHistogramMetric, _label_weights, check_curve, check_num_labels
from .ratios import divide_no_nan
from .ranks import BINS, area, bfloat16_bins, grouped, pack, sortable_keys

_CURVES = ("ROC", "PR")
#: a pattern's bin is found by the ``threshold_histogram`` primitive among these cuts (bins are whole numbers)
_BIN_CUTS = np.arange(BINS - 1) + 0.5


def score_format(y_pred, imported):
    """``"bfloat16"``, ``"float16"`` or ``"keys"``: bfloat16 from ``y_pred``'s dtype as given (its import widens
    it to float32), float16 from the ``imported`` array's, whatever the source (pyarrow, a memoryview) or byte
    order."""
    if str(getattr(y_pred, "dtype", "")).endswith("bfloat16"):
        return "bfloat16"
    return "float16" if imported.dtype.kind == "f" and imported.dtype.itemsize == 2 else "keys"


#: every state an ExactAUC may hold, whichever layout it builds
_STATE_NAMES = ("keys", "weights", "positive_float16", "negative_float16", "positive_bfloat16", "negative_bfloat16")


@register()
class ExactAUC(Metric):
    """Exact area under the ROC curve (``roc_auc_score``) or PR curve (``average_precision_score``), weighted,
    binary or multi-label, with ties as scikit-learn counts them.

    Args:
        curve: ``"ROC"`` or ``"PR"`` (average precision: a step sum, no interpolation).
        multi_label, num_labels, label_weights: as ``keras.metrics.AUC``: one area per label averaged (with
            ``label_weights``), or, when False, every label of a 2-D input in one curve (``label_weights`` then
            weight each label's scores).
        from_logits: accepted for Keras's signature; a sigmoid keeps the order of scores, so it changes nothing.
        max_samples: most scores a label may hold in the keys layout (default ``2**30``: 8 GiB unweighted);
            an update or merge past it raises ``ValueError`` and changes nothing.
        name, dtype, device: as every metric.

    One class absent gives 0 (as Keras's ``AUC``; scikit-learn raises for ROC); no data gives 0.

    >>> m = ExactAUC()
    >>> m.update_state([0, 0, 1, 1], [0.1, 0.4, 0.4, 0.8])
    >>> float(m.result())
    0.875
    """

    def __init__(self, curve="ROC", multi_label=False, num_labels=None, label_weights=None, from_logits=False,
                 max_samples=2 ** 30, name=None, dtype=None, *, device="auto"):
        curve_name = check_curve(curve, _CURVES)
        num_labels = check_num_labels(num_labels, multi_label)
        super().__init__(name=name, dtype=dtype, device=device)
        self.curve = curve_name
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        self.label_weights = None if label_weights is None else _label_weights(label_weights, num_labels)
        self._from_logits = bool(from_logits)
        self.max_samples = check_int(max_samples, "max_samples", 1, 2 ** 62)

    # -- states: built from the first batch, state dict or merge -----------------------------------------------
    @property
    def layout(self):
        """``"keys"``, ``"float16"``, ``"bfloat16"``, or None before the first batch."""
        if not self._variables:
            return None
        return "keys" if self._variables[0].name == "keys" else self._variables[0].name.split("_")[1]

    def _built(self):
        return bool(self._variables)

    def _build(self, layout, columns):
        """Add the states of ``layout`` for ``columns`` labels (a call refused after this unbuilds them)."""
        if self.label_weights is not None and self.multi_label and self.label_weights.size != columns:
            raise ValueError(f"{self.name} has {self.label_weights.size} label_weights; got {columns} labels")
        if layout == "keys":
            self.add_state("keys", (0, columns), "uint64", merge="concat")
            self.add_state("weights", (0, columns), "float64", merge="concat")
        else:
            self.add_state(f"positive_{layout}", (BINS, columns))
            self.add_state(f"negative_{layout}", (BINS, columns))

    def _columns(self):
        return self._variables[0].value.shape[1]

    # -- update ---------------------------------------------------------------------------------------------------
    def update_state(self, y_true, y_pred, sample_weight=None):
        given = y_pred
        y_true, y_pred = ThresholdHistogramMetric._aligned_batch(self, y_true, y_pred)
        layout = score_format(given, y_pred)
        weight = ThresholdHistogramMetric._broadcast_weight(self, sample_weight, y_pred.shape)
        y_true, y_pred, weight = self._columns_of(y_true, y_pred, weight)
        if self._built():
            if self._columns() != y_pred.shape[1]:
                raise ValueError(f"{self.name} holds {self._columns()} labels; got y_pred of shape {y_pred.shape}")
            if self.layout != "keys" and layout != self.layout:
                raise TypeError(f"{self.name} holds a {self.layout} bit histogram (its first y_pred was "
                                f"{self.layout}); got y_pred of dtype {getattr(given, 'dtype', y_pred.dtype)}: "
                                f"cast y_pred to {self.layout}, or use another ExactAUC")
            layout = self.layout
        elif self.multi_label and self.num_labels is not None and self.num_labels != y_pred.shape[1]:
            raise ValueError(f"{self.name} has num_labels={self.num_labels}; got y_pred of shape {y_pred.shape}")
        elif self.multi_label and self.label_weights is not None and self.label_weights.size != y_pred.shape[1]:
            raise ValueError(f"{self.name} has {self.label_weights.size} label_weights; got y_pred of shape "
                             f"{y_pred.shape}")
        if layout == "keys":
            self._check_room(y_pred.shape[0])
        if not self._built():
            self._build(layout, y_pred.shape[1])
        if layout == "keys":
            self._append_keys(y_true, y_pred, weight)
        else:
            self._count_bits(layout, y_true, y_pred, weight)

    def _columns_of(self, y_true, y_pred, weight):
        """``(N, C)`` labels, scores and weights (or None): C labels multi-label, else every element in one column
        with ``label_weights`` folded into the weights."""
        xp = self.xp
        if self.multi_label:
            if y_pred.ndim != 2:
                raise ValueError(f"multi_label=True needs y_pred of shape (num_samples, num_labels); got "
                                 f"{y_pred.shape}")
            return y_true, y_pred, weight
        if self.label_weights is not None:
            if y_pred.ndim == 0 or y_pred.shape[-1] != self.label_weights.size:
                raise ValueError(f"label_weights of shape {self.label_weights.shape} need y_pred's last axis to hold "
                                 f"one score per label; got y_pred of shape {y_pred.shape}")
            label_weights = self.device_constant("label_weights", self.label_weights)
            weight = xp.broadcast_to(label_weights if weight is None else weight * label_weights, y_pred.shape)
        return (y_true.reshape(-1, 1), y_pred.reshape(-1, 1),
                None if weight is None else xp.ascontiguousarray(weight).reshape(-1, 1))

    def _check_room(self, rows):
        held = self._variables[0].value.shape[0] if self._built() else 0
        if held + rows > self.max_samples:
            raise ValueError(f"{self.name} would hold {held + rows} scores per label, past max_samples="
                             f"{self.max_samples} ({held} held, {rows} in this batch); raise max_samples if the "
                             f"device has room for {8 * (held + rows)} bytes per label (16 weighted), or use a bit "
                             f"histogram (float16 / bfloat16 scores)")

    def _append_keys(self, y_true, y_pred, weight):
        """Key the batch into the end of the keys state (and its weights, 1 for samples that had none)."""
        xp = self.xp
        keys, weights = self._state_of("keys"), self._state_of("weights")
        held = keys.value.shape[0]
        scores = y_pred.astype(xp.float32, copy=False)
        pack(sortable_keys(xp, scores), y_true != 0, keys.extend(y_pred.shape[0], self.max_samples))
        if weight is None and weights.value.shape[0] == 0:
            return
        if weights.value.shape[0] == 0:  # the first weighted batch: the samples before it weigh 1
            weights.extend(held, self.max_samples)[...] = 1.0
        weights.extend(y_pred.shape[0], self.max_samples)[...] = 1.0 if weight is None else weight

    def _count_bits(self, layout, y_true, y_pred, weight):
        """Add the batch's weights at each score's bit pattern, through the ``threshold_histogram`` primitive."""
        xp = self.xp
        if layout == "bfloat16":
            bins = bfloat16_bins(xp, y_pred)
        else:
            bins = sortable_keys(xp, y_pred.astype(xp.float16, copy=False), bits=16)
        positive = self._state_of(f"positive_{layout}").writable()
        negative = self._state_of(f"negative_{layout}").writable()
        self.backend.threshold_histogram(y_true, bins.astype(xp.float32), weight,
                                         self.device_constant("bin_cuts", _BIN_CUTS), "binary_search", "as_is",
                                         positive, negative)

    # -- merging and loading: the layout and label count come with the first built state ---------------------
    def merge_state(self, metrics):
        """``Metric.merge_state``, after building from the first built metric and checking layouts, sizes and
        weights; weighted and unweighted keys merge (the unweighted samples weigh 1)."""
        others = [metrics] if isinstance(metrics, Metric) else list(metrics)
        for other in others:
            if isinstance(other, ExactAUC):  # layouts first: theirs and ours name and shape other states
                self._check_layout(other)
            self._check_compatible(other)
        built = [o for o in others if o._built()]
        if built and not self._built():
            self._build(built[0].layout, built[0]._columns())
        for other in built:
            self._check_layout(other)
        if self.layout == "keys" and built:
            self._check_room(sum(o._state_of("keys").value.shape[0] for o in built))
            if any(o._state_of("weights").value.shape[0] for o in built + [self]):
                built = [o._weighted() for o in built]
                self._weighted(in_place=True)
        super().merge_state(built)

    def _check_layout(self, other):
        """Refuse (``ValueError``) to merge a built ``other`` of another layout or label count into a built self."""
        if self._built() and other._built() and (other.layout, other._columns()) != (self.layout, self._columns()):
            raise ValueError(f"cannot merge an ExactAUC holding {other.layout} states of {other._columns()} labels "
                             f"into one holding {self.layout} states of {self._columns()} (the layout follows the "
                             f"first batch's y_pred: float16 / bfloat16 scores make a histogram, other scores keys)")

    def _weighted(self, in_place=False):
        """This metric (or a copy) with a weight for every stored key: 1 where it held none."""
        metric = self if in_place else self.copy()
        keys, weights = metric._state_of("keys"), metric._state_of("weights")
        if weights.value.shape[0] != keys.value.shape[0]:
            weights.extend(keys.value.shape[0], self.max_samples)[...] = 1.0
        return metric

    def load_state_dict(self, state, *, strict=True):
        _check_state_mapping(state)
        for name in _STATE_NAMES:  # their row counts size the build and the checks below: read only 2-D arrays
            if name in state and np.ndim(state[name]) != 2:
                raise ValueError(f"state {name!r} must be 2-D (rows or bins, labels); got shape "
                                 f"{np.shape(state[name])}")
        names = [k for k in state.keys() if k in ("keys", "positive_float16", "positive_bfloat16")]
        if names and not self._built() and np.ndim(state[names[0]]) == 2:
            self._build(names[0].split("_")[-1] if names[0] != "keys" else "keys", np.shape(state[names[0]])[1])
        if self.layout == "keys" and "keys" in state and "weights" in state:
            rows, weighted = np.shape(state["keys"])[0], np.shape(state["weights"])[0]
            if rows > self.max_samples or weighted not in (0, rows):
                raise ValueError(f"state 'keys' holds {rows} rows (max_samples={self.max_samples}) and 'weights' "
                                 f"{weighted}; weights must hold 0 rows or one per key")
        super().load_state_dict(state, strict=strict)

    # -- result ---------------------------------------------------------------------------------------------------
    def result(self):
        """Sort each label's keys (or walk its bit histogram) and sum the exact area; 0-d in ``dtype``."""
        xp = self.xp
        if not self._built():
            return xp.asarray(0.0, dtype=self.dtype)
        by_label = xp.stack([area(xp, *self._grouped(c), self.curve) for c in range(self._columns())])
        if not self.multi_label:
            return xp.asarray(by_label[0], dtype=self.dtype)
        if self.label_weights is None:
            return xp.asarray(xp.mean(by_label), dtype=self.dtype)
        label_weights = self.device_constant("label_weights", self.label_weights)
        return xp.asarray(divide_no_nan(xp, xp.sum(by_label * label_weights), xp.sum(label_weights)),
                          dtype=self.dtype)

    def _grouped(self, column):
        """``(positive, negative)`` weight at each distinct score of label ``column``, ascending."""
        if self.layout != "keys":
            return (self._state_of(f"positive_{self.layout}").value[:, column],
                    self._state_of(f"negative_{self.layout}").value[:, column])
        weights = self._state_of("weights").value
        return grouped(self.xp, self._state_of("keys").value[:, column],
                       weights[:, column] if weights.shape[0] else None)

    def get_config(self):
        return {**super().get_config(), "curve": self.curve, "multi_label": self.multi_label,
                "num_labels": self.num_labels,
                "label_weights": None if self.label_weights is None else [float(w) for w in self.label_weights],
                "from_logits": self._from_logits, "max_samples": self.max_samples}
