"""``R2Score``: Keras 3's coefficient of determination on the fused, mergeable ``moments`` pass."""
import warnings

import numpy as np

from .._arguments import check_int
from .._kernels.weighted_bincount.rules import RULES
from .._validation import broadcast, broadcasts_to, check_not_empty, squeeze_or_expand
from ..metric import Metric
from ..registry import register
from ._groups import add_dropped_state, check_grouped, check_num_groups, count_dropped, group_axis, \
    import_group_ids, mean_of_results, with_num_groups
from .ratios import overflow_to_nan

_CLASS_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")
#: rows of the ``moments`` state read here (x = y_true, y = y_pred): Σw(y_true - mean)² and Σw(y_true - y_pred)²
_SUM_OF_SQUARES, _RESIDUAL = 3, 6


@register()
class R2Score(Metric):
    """The coefficient of determination ``1 - SS_res / SS_tot`` per output, as ``keras.metrics.R2Score``.

    For each output (column) ``l`` of the 2-D inputs ``(batch_size, outputs)``:
    ``SS_res = Σ w (y_true - y_pred)²`` and ``SS_tot = Σ w (y_true - ȳ)²``
    about the weighted mean ``ȳ`` of ``y_true``, over every batch seen. A raw
    score that is infinite (``SS_tot = 0 < SS_res``) becomes 0; ``0 / 0`` stays
    NaN, as in Keras. The scores are then returned as they are
    (``class_aggregation=None``), averaged (``"uniform_average"``) or averaged
    with weights ``SS_tot`` (``"variance_weighted_average"``); with
    ``num_regressors = p > 0`` the aggregate becomes the adjusted
    ``1 - (1 - R²)(n - 1) / (n - p - 1)``, falling back to R² with Keras's
    warnings when ``p >= n - 1``. ``n``, Keras's ``num_samples``, counts the
    samples (rows) with a non-zero weight in at least one output, as current
    Keras (its fix #23334, after 3.15) and scikit-learn do: zero-weight rows
    are no samples. A stream of only such rows therefore reads as nothing
    seen (0).

    Keras's rules, reproduced: inputs go through Keras's squeeze-or-expand rule
    and must then be 2-D; the number of outputs is fixed by the first batch
    (a later batch with another number is a ``ValueError``); sample weights
    of shape ``(batch_size,)`` become ``(batch_size, 1)`` and broadcast over the
    outputs, ``(batch_size, outputs)`` or a scalar weigh each element.

    Where we differ from Keras, deliberately:

    * Keras keeps float32 sums and computes ``SS_tot = Σwy² - Σwy · mean``,
      which cancels catastrophically when ``y_true`` is far from 0 (100
      samples of unit spread at 1e4: Keras 0.974 where the exact R² is
      0.735). The state here is the weighted moments ``[W, mean_true,
      mean_pred, SS_tot, M2_pred, C, SS_res]`` per output in float64,
      centred, folded in with Chan et al.'s update (merge rule
      ``"moments"``), so results barely depend on how far the data sit from
      0 or on how a stream is split over updates and merged metrics (each
      fold adds a relative error of about ``ulp(mean) / (spread · √n)``:
      1e-11 at 1e6, 1e-8 at 1e9 for unit spread and n = 100). Inputs are
      read in float64 (Keras first casts them to float32); ``num_samples``
      is an exact int64 count.
    * A metric that has seen nothing returns 0 (Keras: NaN after
      ``reset_state``, an error before the first update).
    * ``y_true`` and ``y_pred`` must have one shape (Keras would also
      broadcast a ``(1, outputs)`` prediction); bad input is refused before
      any state changes.
    * With ``num_regressors`` set, ``result()`` reads ``num_samples`` back to
      the host to choose between Keras's branches (its warnings are host
      decisions); ``update_state`` never reads the device.

    Args:
        class_aggregation: ``None``, ``"uniform_average"`` (default) or
            ``"variance_weighted_average"`` (scikit-learn's ``multioutput``).
        num_regressors: the number of independent regressors for the
            adjusted R²; 0 (default) is the plain R².
        name: the metric's name (default ``"r2_score"``).
        dtype: dtype of ``result()`` (default float32).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (see ``Metric``).
        num_groups: None, or ``G``: one R² per group (``group_ids`` in
            ``update_state``, one per sample; ``_groups``'s rules), the
            states with a group axis (``moments`` ``(7, G, outputs)``,
            ``num_samples`` ``(G,)``); ``result()`` is ``(G,)`` (``(G,
            outputs)`` for ``class_aggregation=None``), 0 for a group with no
            sample, as the ungrouped metric before any; see ``grouped_mean``.

    >>> m = R2Score()
    >>> m.update_state([[1], [4], [3]], [[2], [4], [4]])
    >>> round(float(m.result()), 6)  # 1 - 2 / (14/3) = 4/7; Keras prints 0.57142854
    0.571429
    >>> m = R2Score(class_aggregation=None)
    >>> m.update_state([[1, 1], [4, 2], [3, 3]], [[2, 1], [4, 2], [4, 4]], sample_weight=[1, 1, 0])
    >>> m.result().tolist()
    [0.7777777910232544, 1.0]
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None, *,
                 device="auto", num_groups=None):
        if class_aggregation not in _CLASS_AGGREGATIONS:
            raise ValueError("Invalid value for argument `class_aggregation`. Expected one of "
                             f"{_CLASS_AGGREGATIONS}. Received: class_aggregation={class_aggregation}")
        check_int(num_regressors, "num_regressors")
        if num_regressors < 0:
            raise ValueError("Invalid value for argument `num_regressors`. Expected a value >= 0. "
                             f"Received: num_regressors={num_regressors}")
        super().__init__(name=name, dtype=dtype, device=device)
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_groups = check_num_groups(num_groups)
        groups = group_axis(self.num_groups)
        self.num_samples = self.add_state("num_samples", groups, "int64", "sum", count=True)
        self.moments = self.add_state("moments", (7,) + groups + (None,), "float64", "moments")  # None: outputs
        add_dropped_state(self)

    # -- Keras surface -----------------------------------------------------------------------------------------
    def _sample_weight(self, sample_weight, shape):
        """Keras's rule: ``(N,)`` → ``(N, 1)``, then broadcast to ``(N, outputs)``; a view, no copy."""
        if sample_weight is None:
            return None
        weight = self._import(sample_weight, "sample_weight")
        weight_shape = weight.shape + (1,) if weight.ndim == 1 else weight.shape
        if not broadcasts_to(weight_shape, shape):
            raise ValueError(f"sample_weight of shape {weight.shape} does not broadcast to y_true of shape {shape}; "
                             f"R2Score takes a scalar or weights of shape (batch_size,), (batch_size, 1) or "
                             f"(batch_size, outputs)")
        return broadcast(self.xp, weight.reshape(weight_shape), shape)

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        """Fold one batch ``(batch_size, outputs)`` into the moments (grouped: each row into its group's); all checks
        run on shapes, before any kernel."""
        y_true = self._import(y_true, "y_true")
        y_pred = self._import(y_pred, "y_pred")
        check_not_empty(y_true.shape, "y_true")
        check_not_empty(y_pred.shape, "y_pred")
        true_shape, pred_shape = squeeze_or_expand(y_true.shape, y_pred.shape)
        if len(true_shape) != 2 or len(pred_shape) != 2:
            raise ValueError("R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                             f"shapes: y_pred.shape={y_pred.shape} and y_true.shape={y_true.shape}.")
        if true_shape != pred_shape:
            raise ValueError(f"y_true of shape {y_true.shape} and y_pred of shape {y_pred.shape} must match")
        rows, outputs = pred_shape
        ids, unchecked = import_group_ids(self, group_ids, rows)
        self.build_states(outputs)  # a call refused from here on unbuilds (Metric's atomic methods)
        if outputs != self.moments.shape[-1]:
            raise ValueError(f"{self.name} was built for {self.moments.shape[-1]} outputs by its first batch; got "
                             f"y_true and y_pred of shape {pred_shape}")
        weight = self._sample_weight(sample_weight, pred_shape)
        moments, count = self.moments.writable(), self.num_samples.writable()
        if ids is not None:
            count_dropped(self, ids, unchecked)
        self._backend.moments(y_true.reshape(true_shape), y_pred.reshape(pred_shape), weight,
                              moments.reshape(7, -1), group_ids=ids)
        if ids is None:
            count += rows if weight is None else (weight != 0).any(axis=1).sum()  # on the device: no host sync
        else:
            count += self._samples_per_group(ids, weight, rows)

    def _samples_per_group(self, ids, weight, rows):
        """Each group's rows of non-zero weight in a batch (``int64[G]``, on the device): a ``weighted_bincount``
        pass of one class, which drops the rows of an id outside ``[0, G)`` as ``moments`` does."""
        xp = self.xp
        zeros = xp.broadcast_to(xp.zeros((1, 1)), (rows, 1))  # every row's class is 0
        nonzero = None if weight is None else (weight != 0).any(axis=1).astype(xp.float64)
        counts = xp.zeros((self.num_groups, 1, 1))
        value = RULES["value"]
        self._backend.weighted_bincount(zeros, zeros, nonzero, value, value, 0.0, -1, counts, group_ids=ids)
        return counts.reshape(-1).astype(xp.int64)  # whole numbers below 2**53: exact

    def result(self):
        """The R² (0-d, or per output); grouped, one of those per group (the group axis first)."""
        xp = self.xp
        if not self._built():
            return xp.zeros(group_axis(self.num_groups), dtype=self.dtype)
        state = self.moments.value
        total, residual = state[_SUM_OF_SQUARES], state[_RESIDUAL]  # (outputs,), grouped (G, outputs)
        # weights of mixed sign that sum to 0 over the stream: no mean (the zero-weight form of ``moments``), NaN
        total = xp.where((state[0] == 0.0) & ((state[1] != 0.0) | (total != 0.0)), np.nan, total)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = overflow_to_nan(xp, 1.0 - residual / total, total)  # SS_tot past 1.8e308: not 1 - x / inf = 1
            raw = xp.where(xp.isinf(raw) & ~xp.isinf(residual), 0.0, raw)  # Keras's SS_tot = 0 rule, not overflow
            if self.class_aggregation == "uniform_average":
                score = xp.mean(raw, axis=-1)
            elif self.class_aggregation == "variance_weighted_average":
                score = xp.sum(total * raw, axis=-1) / xp.sum(total, axis=-1)
            else:
                score = raw
        seen = self.num_samples.value.reshape(group_axis(self.num_groups) + (1,) * (score.ndim - total.ndim + 1))
        if self.num_regressors != 0:
            score = self._adjusted(score, seen.shape)
        return xp.where(seen == 0, 0.0, score).astype(self.dtype)

    def _adjusted(self, score, shape):
        """Keras's adjusted R² with ``n`` = samples of non-zero weight (per group, in ``shape``), or ``score`` with
        Keras's warnings where undefined (``n`` of 0: nothing seen, no warning)."""
        n = self.num_samples.numpy().reshape(shape).astype(object)  # synchronize! Python ints: p may pass int64
        p = self.num_regressors
        seen = np.asarray(n > 0, dtype=bool)
        if np.any(seen & np.asarray(p > n - 1, dtype=bool)):
            warnings.warn("More independent predictors than datapoints in adjusted R2 score. Falling back to "
                          "standard R2 score.", stacklevel=3)
        if np.any(seen & np.asarray(p == n - 1, dtype=bool)):
            warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.", stacklevel=3)
        dof = np.asarray(n - p - 1, dtype=object)
        defined = np.asarray(dof > 0, dtype=bool)
        factor = np.asarray(np.where(defined, (n - 1) / np.where(defined, dof, 1), 1.0), dtype=np.float64)
        factor = self.xp.asarray(factor)
        return self.xp.where(self.xp.asarray(defined), 1.0 - (1.0 - score) * factor, score)

    def grouped_mean(self, weighting="samples"):
        """The mean of the per-group ``result()`` across the groups with a sample of non-zero weight, in ``dtype``:
        weighted by each group's total sample weight (``"samples"``: ``Σw`` averaged over the outputs, so a group
        counts as much as its samples do, as for ``Mean``) or by 1 (``"uniform"``). ``class_aggregation=None``
        gives one mean per output. NaN when no group has a sample."""
        check_grouped(self)
        return mean_of_results(self, self.xp.mean(self.moments.value[0], axis=-1), self.num_samples.value > 0,
                               weighting) if self._built() else self.xp.asarray(np.nan, dtype=self.dtype)

    def get_config(self):
        return {**with_num_groups(super().get_config(), self.num_groups), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
