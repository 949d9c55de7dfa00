"""``FBetaScore`` and ``F1Score`` on the threshold histogram: one threshold, one label per class."""
from ..registry import register
from ._groups import group_axis
from ._keras_rules import EPSILON  # Keras's F-scores add it to every denominator (we keep that arithmetic)
from .confusion import ThresholdHistogramMetric
from .ratios import overflow_to_nan

_AVERAGES = (None, "micro", "macro", "weighted")


@register()
class FBetaScore(ThresholdHistogramMetric):
    """Per-class F-beta from TP / FP / FN counts, as ``keras.metrics.FBetaScore``.

    Inputs are ``(batch, classes)``. ``threshold=None`` makes the largest
    score of each sample (all of them on a tie, none if it is 0) the
    prediction; otherwise a class is predicted when its score exceeds
    ``threshold``. ``average``: None (one value per class), ``"micro"`` (pool
    the counts), ``"macro"`` (plain mean) or ``"weighted"`` (mean weighted by
    each class's true-label support). ``num_groups=G`` gives one result per
    group (``group_ids`` in ``update_state``, one per sample): ``(G, classes)``
    for ``average=None``, else ``(G,)``; see ``grouped_mean``.

    Difference from Keras: labels count as positive when non-zero (as the
    rest of the threshold family does); Keras multiplies by soft labels here.

    >>> m = FBetaScore(beta=2.0, threshold=0.5, average="micro")
    >>> m.update_state([[1, 0], [0, 1]], [[0.9, 0.2], [0.7, 0.1]])  # TP 1, FP 1, FN 1: P = R = 0.5
    >>> round(float(m.result()), 4)
    0.5
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None, *, device="auto",
                 num_groups=None):
        if average not in _AVERAGES:
            raise ValueError(f"average must be one of {_AVERAGES}; got average={average!r}")
        if not isinstance(beta, float) or not 0.0 < beta < 1e150:  # beta ** 2 finite; NaN fails the comparison
            raise ValueError(f"beta must be a Python float in (0, 1e150); got beta={beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(f"threshold must be None or a Python float with 0 < threshold <= 1; "
                             f"got threshold={threshold!r}")
        super().__init__(name=name, dtype=dtype, device=device)
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self._init_histogram([0.5 if threshold is None else threshold], evenly_spaced=False, label_axis=(None,),
                             num_groups=num_groups)

    def _histogram_options(self):
        """A float ``threshold`` is one pass of the family (a collection may share it); None adds an argmax."""
        return None if self.threshold is None else {"multi_label": True}

    _replays_update = True  # checks and kernel passes only: a GPU may replay them (gpumetrics._replay)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        if self.threshold is None:
            scores = self._import(y_pred, "y_pred")
            if scores.ndim != 2:
                raise ValueError(f"{type(self).__name__} expects inputs of shape (batch, classes); "
                                 f"got y_pred of shape {scores.shape}")
            xp = self.xp
            y_pred = ((scores >= scores.max(axis=-1, keepdims=True)) & (xp.abs(scores) > 1e-9)).astype(xp.int8)
        self._accumulate(y_true, y_pred, sample_weight, group_ids, multi_label=True)

    def result(self):
        """The score per class, or their average (0-d); grouped, one of those per group (the group axis first).
        Before any batch: 0 (``(G,)`` zeros grouped); a class or group with no counts scores 0."""
        xp = self.xp
        if not self._built():
            return xp.zeros(group_axis(self.num_groups), dtype=self.dtype)
        tp, fp, _, fn = (c[0] for c in self._counts())  # (classes,), grouped (G, classes)
        support = tp + fn
        if self.average == "micro":
            tp, fp, fn = tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1)
        precision = overflow_to_nan(xp, tp / (tp + fp + EPSILON), tp + fp)
        recall = overflow_to_nan(xp, tp / (tp + fn + EPSILON), tp + fn)
        beta2 = self.beta ** 2
        score = (1 + beta2) * precision * recall / (beta2 * precision + recall + EPSILON)
        if self.average == "weighted":
            total = xp.sum(support, axis=-1, keepdims=True)
            score = xp.sum(score * overflow_to_nan(xp, support / (total + EPSILON), total), axis=-1)
        elif self.average == "macro":
            score = xp.mean(score, axis=-1)
        return xp.asarray(score, dtype=self.dtype)

    def grouped_mean(self, weighting="samples"):
        """The mean of the per-group ``result()`` across the groups that saw any sample weight, in ``dtype``:
        weighted by each group's total sample weight (``"samples"``: a group counts as much as its samples do, as
        the pooled score would weigh them; not by its positive support, which would drop groups without
        positives) or by 1 (``"uniform"``). ``average=None`` gives one mean per class. NaN when no group has
        weight."""
        return super().grouped_mean(weighting)

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


@register()
class F1Score(FBetaScore):
    """``FBetaScore`` with ``beta=1``, as ``keras.metrics.F1Score``.

    >>> m = F1Score(threshold=0.5)
    >>> m.update_state([[1, 0], [0, 1]], [[0.9, 0.2], [0.7, 0.1]])
    >>> [round(v, 4) for v in m.result().tolist()]
    [0.6667, 0.0]
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None, *, device="auto", num_groups=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype, device=device,
                         num_groups=num_groups)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
