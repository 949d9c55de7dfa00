"""The one list of what a metric may ask of a device (see DESIGN.md, "The backend interface")."""
import abc


class Backend(abc.ABC):
    """A device: where state arrays live and which kernels update them.

    Every update primitive writes in place into state arrays of this backend,
    accumulates in float64, and never reads device data back to the host.
    A subclass implements the abstract members and gives ``sums`` its two
    kernel twins as ``_error_sums`` and ``_row_sums`` (the launchers of
    ``gpumetrics._kernels.error_sums`` / ``.row_sums`` for its device).
    """

    #: "numpy" or "cuda"; also the name used in error messages.
    name: str
    #: the array module for the small O(state) math in ``result()`` (NumPy or CuPy).
    xp = None

    @abc.abstractmethod
    def asarray(self, x, name):
        """Import ``x`` (already a NumPy/CuPy/DLPack/CAI object) onto this device without copying when possible."""

    def needs_copy(self, x):
        """Whether ``x`` must be copied onto this device before a kernel can read it (host → GPU)."""
        return False

    @abc.abstractmethod
    def to_host(self, array):
        """A NumPy copy of a state array (for ``state_dict``); reads the device.  # synchronize!"""

    def sums(self, kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale, params=None,
             group=1, group_ids=None):
        """One fused pass of a weighted sum of a per-row value: an elementwise error, a crossentropy, a top-k hit...

        Adds ``total_scale * Σ_r w[r // group] * v_r`` to ``out_total[0]`` and
        ``weight_scale * Σ w`` (``rows // group`` when ``weight`` is None) to
        ``out_weight[0]`` unless ``out_weight`` is None, where ``v_r`` is the
        kind's value of row ``r``: ``Σ_c f(t[r, c], p[r, c])`` for an
        elementwise kind (``y_true``, ``y_pred``: ``(R, C)`` of one shape), or
        ``g(t[r], p[r])`` for a row kind (``y_pred``: ``(R, C)``; ``y_true``:
        ``(R, C)`` or ``(R, 1)``, a class id per row); any strides, stride 0
        included. ``weight``: ``(R // group,)`` or None; one weight covers
        ``group`` consecutive rows (row kinds only). ``kind``: a ``Kind`` of
        ``gpumetrics._kernels.error_sums.rules`` or ``.row_sums.rules``, whose
        ``primitive`` picks the kernel twin. ``params``: the kind's float64
        parameters on this device (None when it takes none); kernels read
        them, the host never does. ``group_ids``: ``(R,)`` integers or None; with
        them ``out_total`` / ``out_weight`` are ``(G,)`` and row ``r`` adds into
        entry ``group_ids[r]`` (dropped when outside ``[0, G)``).
        """
        primitive = getattr(kind, "primitive", None)
        if primitive == "row_sums":
            self._row_sums(kind, y_true, y_pred, weight, group, out_total, out_weight, total_scale, weight_scale,
                           params, group_ids)
        elif primitive == "error_sums":
            if group != 1:
                raise ValueError(f"sums: group must be 1 for the elementwise kind {kind.name}; got {group}")
            self._error_sums(kind, y_true, y_pred, weight, out_total, out_weight, total_scale, weight_scale, params,
                             group_ids)
        else:
            raise TypeError(f"sums: kind must be a Kind of the error_sums or row_sums rules; got {kind!r}")

    @abc.abstractmethod
    def threshold_histogram(self, y_true, y_pred, weight, thresholds, bucketing, transform, out_pos, out_neg,
                            group_ids=None, out_other=None, extras=0):
        """One fused pass bucketing each prediction by how many thresholds lie strictly below it.

        ``y_true``, ``y_pred``: ``(N, L)`` of one shape (any strides); ``weight``:
        ``(N, L)`` or None; ``thresholds``: sorted float64 ``[T]`` on this device.
        Adds each element's weight to ``out_pos[k, l]`` when its label is
        non-zero, else to ``out_neg[k, l]`` (``float64[T + 1, L]``), where ``k``
        counts the thresholds strictly below the prediction (NaN: 0).
        ``bucketing`` names how the bucket is found: ``"binary_search"``, or
        ``"evenly_spaced"`` (an O(1) guess, exact after a fix-up); ``transform``
        what the prediction becomes first: ``"as_is"``, ``"clip"`` to [0, 1],
        ``"sigmoid"``. ``group_ids``: ``(N,)`` integers or None: the states are
        then ``float64[T + 1, G * L]`` and row ``n`` adds into column
        ``group_ids[n] * L + l``; rows whose id is outside ``[0, G)`` add nothing.
        ``out_other``: None, or a third state of their shape that the weight of
        the non-zero labels other than exactly 1 is added to as well (what
        ``BinaryAccuracy`` needs to share the pass: Keras never matches them).
        ``extras``: the last ``extras`` entries of ``thresholds`` are not
        thresholds (``T`` is the length less them) but ``rules.grid_hint``'s
        table for an evenly spaced grid of ``extras - 1`` of the thresholds, so
        that ``"evenly_spaced"`` guesses on that grid (a collection's union of
        AUC's thresholds and a metric's 0.5).
        See ``gpumetrics._kernels.threshold_histogram.rules``.
        """

    @abc.abstractmethod
    def moments(self, x, y, weight, out, group_ids=None):
        """One fused pass folding a batch's weighted moments into ``out``, in place (Chan et al.'s update).

        ``x``, ``y``: ``(N, L)`` of one shape (any dtype and strides, stride 0
        included); ``weight``: ``(N, L)`` or None (weight 1); ``out``: float64
        ``[7, L]`` holding per column ``[W, mean_x, mean_y, M2x, M2y, Cxy, D]``:
        ``Σw``, the weighted means, ``Σw(x - mean_x)²``, ``Σw(y - mean_y)²``,
        ``Σw(x - mean_x)(y - mean_y)`` and ``Σw(x - y)²`` of everything seen.
        Stable far from 0 (sums around a shift, then centred). A batch of total
        weight 0 only adds its ``D``. ``group_ids``: ``(N,)`` integers or None; with
        them ``out`` is ``[7, G * L]`` and row ``n`` folds into columns
        ``group_ids[n] * L + l`` (dropped when its id is outside ``[0, G)``).
        See ``gpumetrics._kernels.moments.rules``.
        """

    @abc.abstractmethod
    def merge_moments(self, array, other):
        """The ``"moments"`` merge rule, in place: ``array`` (float64 ``[7, L]``, as ``moments`` writes it, or
        a C-contiguous ``(7, ...)`` such as a grouped ``(7, G, L)``, merged column by column) becomes
        the moments of everything either state saw (Chan et al.'s pairwise update; ``D`` adds). ``other``: a state
        of the same shape on this device, left unchanged. See ``gpumetrics._kernels.moments.rules``.
        """

    @abc.abstractmethod
    def weighted_bincount(self, y_true, y_pred, weight, true_rule, pred_rule, threshold, ignore_class, out,
                          group_ids=None):
        """One fused pass adding each row's weight into a ``(C, C)`` confusion matrix.

        ``y_true``: ``(N, Ct)``, ``y_pred``: ``(N, Cp)`` (any dtype and strides);
        ``weight``: ``(N,)`` or None; ``out``: float64 ``[C, C]`` on this device.
        Row ``r`` becomes a true id ``t`` and a predicted id ``p`` by its named
        rule (``RULES`` or its name: ``"value"``, the one value truncated toward
        zero; ``"argmax"`` of the row, NaN largest; ``"threshold"``,
        ``value >= threshold``) and adds ``weight[r]`` (1 when None)
        to ``out[t, p]``. Rows with an id outside ``[0, C)`` (NaN, inf) or with
        ``t == ignore_class`` (-1: none) are dropped. ``group_ids``: ``(N,)``
        integers or None; with them ``out`` is ``(G, C, C)`` and row ``r`` adds into
        ``out[group_ids[r], t, p]`` (dropped when its id is outside ``[0, G)``).
        See ``gpumetrics._kernels.weighted_bincount.rules``.
        """


#: the whole interface: every metric reaches its device through these members (and the data attributes ``name``,
#: ``device``, ``xp``), merges included.
PRIMITIVES = ("asarray", "needs_copy", "to_host", "sums", "threshold_histogram", "weighted_bincount", "moments",
              "merge_moments")
