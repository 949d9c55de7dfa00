"""Metrics over Dask collections that outgrow one machine: per-partition states on the workers, a tree merge.

``evaluate(metrics, y_true, y_pred, sample_weight=None, group_ids=None)`` sends a blank copy
of each metric (its configuration, no state, no device) to the workers; each
task updates the copies with one partition, where the partition lives (NumPy
on CPU workers, CuPy on GPU workers: an ``auto`` metric follows its data), and
returns their states as small host arrays. States, never data, travel: they
are merged ``split_every`` at a time up a tree and the final merge gives the
whole-dataset metrics, on the caller's host. Partitions are read once, as the
scheduler produces them, so memory stays flat however large the collection.
It runs on whatever Dask scheduler is active (threads, a ``LocalCluster``, a
real ``distributed`` cluster) unchanged.
"""
import math

from . import _interop
from ._arguments import check_int
from .collection import MetricCollection, check_takes_pairs
from .metric import Metric


def _partition_states(blanks, index, y_true, y_pred, sample_weight, group_ids=None):
    """One task: fresh copies of the blank metrics updated with partition ``index`` (and its ``group_ids`` when
    the metrics are grouped); their states on the host. Its pieces must have as many rows: Series / DataFrames of
    another partitioning would otherwise broadcast a short piece over the others' rows."""
    parts = {"y_true": _values(y_true), "y_pred": _values(y_pred), "sample_weight": _values(sample_weight),
             "group_ids": _values(group_ids)}
    rows = {name: _rows(part) for name, part in parts.items() if part is not None}
    if len({n for n in rows.values() if n is not None}) > 1:
        raise ValueError(f"partition {index} has rows " + ", ".join(f"{name}: {n}" for name, n in rows.items())
                         + "; every argument must be partitioned alike (Series / DataFrames of the same divisions; "
                           "Dask arrays are rechunked to y_pred's chunks)")
    y_true, y_pred, sample_weight, group_ids = parts.values()
    empty = all(n == 0 for n in rows.values())
    grouped = {} if group_ids is None else {"group_ids": group_ids}
    states = []
    for blank in blanks:
        metric = blank.blank()
        if not empty:  # a zero-length partition (common after filtering) contributes nothing
            metric.update_state(y_true, y_pred, sample_weight=sample_weight, **grouped)
        states.append(metric.state_dict())  # synchronize! a partition's result is its state, on the host
    return states


def _values(part):
    """A pandas / cuDF partition as its array (NumPy or CuPy); arrays (NumPy, CuPy, PyTorch, JAX, ...) as they are.

    ``_interop.location`` tells GPU arrays from the type, reading no data: probing an instance's
    ``__cuda_array_interface__`` raises ``RuntimeError`` for a PyTorch CUDA tensor that requires grad. A PyTorch
    tensor's ``values`` is a method, not its values.
    """
    if part is None or _interop.location(part) == "cuda":
        return part
    values = getattr(part, "values", None)
    return part if values is None or callable(values) or hasattr(part, "__array_interface__") else values


def _rows(part):
    """The length of a partition along axis 0 (``None`` when it has no shape, e.g. a list)."""
    shape = getattr(part, "shape", None)
    return shape[0] if shape else None


def _merge_states(blanks, groups):
    """Merge the states of several tasks (each a list with one state dict per metric) into one such list."""
    merged = []
    for i, blank in enumerate(blanks):
        parts = []
        for states in groups:
            part = blank.blank()
            part.load_state_dict(states[i])
            parts.append(part)
        total = blank.blank()
        total.merge_state(parts)
        merged.append(total.state_dict())
    return merged


def _partitions(collection, name):
    """The partitions of a Dask array (along axis 0) or DataFrame / Series, as delayed objects in order."""
    if collection is None:
        return None
    if hasattr(collection, "to_delayed") and hasattr(collection, "chunks"):  # an array (it has npartitions too)
        blocks = collection.to_delayed()
        return [blocks[(i,) + (0,) * (collection.ndim - 1)] for i in range(blocks.shape[0])]
    if hasattr(collection, "to_delayed") and hasattr(collection, "npartitions"):
        return list(collection.to_delayed())
    raise TypeError(f"{name} must be a Dask array, DataFrame or Series; got {type(collection).__name__}")


def _aligned(named):
    """``named`` (``{"y_true": ..., "y_pred": ..., ...}``, None for an argument not given) with its Dask arrays
    rechunked along axis 0 to ``y_pred``'s chunks (one chunk across the other axes).

    Arrays with unknown chunk sizes (``x[mask]`` with a Dask boolean mask) cannot be rechunked along axis 0:
    the arguments are then aligned block by block (the same masking gives the same blocks), which needs as many
    blocks along axis 0 in each.
    """
    arrays = {k: a for k, a in named.items() if a is not None and hasattr(a, "chunks")}
    if not arrays:
        return named
    given = ", ".join(k for k, a in named.items() if a is not None)
    if any(math.isnan(c) for a in arrays.values() for c in a.chunks[0]):
        blocks = {k: a.numblocks[0] for k, a in arrays.items()}
        if len(set(blocks.values())) > 1:
            raise ValueError(
                f"{given} have unknown chunk sizes (e.g. after boolean masking), so they "
                "are aligned block by block, which needs as many blocks along axis 0 in each; got "
                + ", ".join(f"{k}: {n}" for k, n in blocks.items())
                + " (mask all of them with the same mask, or call compute_chunk_sizes() on each)")
        return {**named, **{k: a.rechunk({i: -1 for i in range(1, a.ndim)}) if a.ndim > 1 else a
                            for k, a in arrays.items()}}
    y_pred = named["y_pred"]
    rows = y_pred.chunks[0] if hasattr(y_pred, "chunks") else next(iter(arrays.values())).chunks[0]

    def rechunk(name, a):
        if a is None or not hasattr(a, "chunks"):
            return a
        if a.shape[0] != sum(rows):
            raise ValueError(f"{given} must have as many rows; got {name} with {a.shape[0]} and y_pred with "
                             f"{sum(rows)}")
        return a.rechunk((rows,) + tuple(-1 for _ in a.shape[1:]))

    return {k: rechunk(k, a) for k, a in named.items()}


def _members(metrics):
    """``[(name, metric)]`` of the metrics given, a collection's members in its place."""
    return [pair for m in metrics for pair in (m.metrics.items() if isinstance(m, MetricCollection)
                                               else [(m.name, m)])]


def _check_groups(metrics, group_ids):
    """Refuse (``ValueError``, before any task runs) ``group_ids`` for ungrouped metrics and their absence for
    grouped ones; ``metrics``: the metrics and collections given."""
    members = _members(metrics)
    grouped = [name for name, m in members if getattr(m, "num_groups", None) is not None]
    ungrouped = [name for name, m in members if getattr(m, "num_groups", None) is None]
    if group_ids is not None and ungrouped:
        raise ValueError(f"group_ids given, but metrics {ungrouped} have no group axis (num_groups=None): evaluate "
                         f"them in another call, without group_ids")
    if group_ids is None and grouped:
        raise ValueError(f"metrics {grouped} have num_groups set: evaluate needs group_ids (a Dask array or Series "
                         f"of one integer per sample, partitioned like y_pred)")


def _check_one_sample_rows(metrics, y_pred):
    """Refuse (``ValueError``, before any task runs) a 1-D ``y_pred`` in several non-empty partitions for metrics
    whose per-sample value reduces over its last axis: Keras reads a 1-D batch as one sample (MSE's mean of every
    element, a crossentropy's one class row), which the partitions would split into one sample each, each weighing
    as much as the whole."""
    if getattr(y_pred, "ndim", None) != 1:
        return
    chunks = getattr(y_pred, "chunks", None)
    parts = ([c for c in chunks[0] if c != 0] if chunks is not None else [None] * y_pred.npartitions)
    if len(parts) < 2:
        return
    members = _members(metrics)
    reducing = [name for name, m in members if getattr(m, "one_value_per_row", None)]
    if reducing:
        raise ValueError(f"metrics {reducing} reduce over y_pred's last axis, so a 1-D y_pred is one sample (Keras's "
                         f"rule), which its {len(parts)} partitions would split into {len(parts)} samples: pass "
                         f"y_true and y_pred of shape (N, 1) (y[:, None]) for one value per element, or one chunk")


def evaluate(metrics, y_true, y_pred, sample_weight=None, *, group_ids=None, split_every=8, progress=False):
    """The whole-collection value of ``metrics`` over Dask arrays or DataFrame columns.

    Args:
        metrics: a :class:`~gpumetrics.Metric`, a list of them or a ``MetricCollection`` (their states
            are ignored and left as they are; only configurations travel).
        y_true, y_pred, sample_weight: Dask arrays (split along axis 0; other
            axes are kept whole) or Dask Series / DataFrames of one partitioning.
            Zero-length partitions contribute nothing. Arrays of unknown chunk
            sizes (``y[mask]``) are paired block by block: they need as many
            blocks along axis 0 (the same masking gives that).
        group_ids: for metrics built with ``num_groups`` (all of them then): one integer per sample, a Dask array
            or Series partitioned like ``y_pred`` (arrays are rechunked to its chunks). Refused (``ValueError``)
            for ungrouped metrics, and missing for grouped ones, before anything is computed.
        split_every: how many partition states each merge task combines.
        progress: show Dask's progress bar (``distributed.progress`` under a
            ``distributed`` client, ``dask.diagnostics.ProgressBar`` otherwise).

    Returns:
        New metrics, in the form given, holding the merged state (on the host).

    >>> import dask.array as da, numpy as np, gpumetrics
    >>> y = da.from_array(np.arange(8.0).reshape(8, 1), chunks=3)
    >>> float(evaluate(gpumetrics.MeanAbsoluteError(), y, y + 1).result())
    1.0
    """
    import dask

    single = isinstance(metrics, (Metric, MetricCollection))  # a collection travels whole: its passes shared
    given = [metrics] if single else list(metrics)
    for metric in given:
        if not isinstance(metric, (Metric, MetricCollection)):
            raise TypeError(f"metrics must be gpumetrics metrics or collections; got {type(metric).__name__}")
        if isinstance(metric, Metric):
            check_takes_pairs(metric, "dask.evaluate")
    if y_pred is None:
        raise TypeError("y_pred is None; dask.evaluate needs y_true and y_pred")
    split_every = check_int(split_every, "split_every", 2)
    _check_groups(given, group_ids)
    _check_one_sample_rows(given, y_pred)
    blanks = [m.blank() for m in given]
    named = _aligned({"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight, "group_ids": group_ids})
    parts = {k: _partitions(a, k) for k, a in named.items()}
    sizes = {k: len(p) for k, p in parts.items() if p is not None}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{', '.join(sizes)} must have as many partitions; got "
                         + ", ".join(f"{k}: {n}" for k, n in sizes.items()))
    parts = {k: [None] * sizes["y_pred"] if p is None else p for k, p in parts.items()}
    task_states = dask.delayed(_partition_states, pure=True)
    merge = dask.delayed(_merge_states, pure=True)
    level = [task_states(blanks, i, *row) for i, row in enumerate(zip(*(parts[k] for k in named)))]
    while len(level) > 1:
        level = [merge(blanks, level[i:i + split_every]) for i in range(0, len(level), split_every)]
    final = merge(blanks, level)
    states = _compute(final, progress)
    results = []
    for blank, state in zip(blanks, states):
        metric = blank.blank()
        metric.load_state_dict(state)
        results.append(metric)
    return results[0] if single else results


def _compute(final, progress):
    """Compute on the active scheduler, with Dask's own progress display when asked."""
    import dask

    try:
        from distributed import default_client, progress as distributed_progress

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        future = client.compute(final)
        if progress:
            distributed_progress(future)
        return future.result()
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar():
            return dask.compute(final)[0]
    return dask.compute(final)[0]

