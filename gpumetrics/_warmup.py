"""Compile the kernels' common signatures into the on-disk cache ahead of use (``gpumetrics.warmup()``).

Every metric runs on one of five kernel primitives, and every kind of a
primitive (MSE, crossentropy, hinge, ...) shares one compiled kernel per input
signature. So warming a primitive means one small update of one representative
metric per common dtype combination (three for the threshold histogram, whose
CPU twin has a loop for AUC's thresholds, Precision's and F1Score's classes:
``CASES``), on every device asked for (a CPU kernel
is one build whatever the batch size), and once more grouped (``num_groups``,
``group_ids``) where the representative metric has a group axis: grouped sums
and the grouped CUDA histogram are kernels of their own. Later processes load the kernels from the cache (see
``compile.cache_dir()``).

Run it once after installing, or in an image build: ``python -m gpumetrics warmup``.
"""
import sys
import time

import numpy as np

from .backends import get_backend

#: the primitive each metric family runs on (by the module that defines the class).
FAMILY_PRIMITIVES = {
    "reduction": ("error_sums",), "regression": ("error_sums", "row_sums"), "probabilistic": ("error_sums", "row_sums"),
    "accuracy": ("error_sums", "row_sums"), "hinge": ("error_sums", "row_sums"), "correlation": ("row_sums",),
    "confusion": ("threshold_histogram",), "f_score": ("threshold_histogram",), "iou": ("weighted_bincount",),
    "r2_score": ("moments",), "exact_auc": ("threshold_histogram",),
}
PRIMITIVES = ("error_sums", "row_sums", "threshold_histogram", "weighted_bincount", "moments")
_F32, _F64, _I32, _I64 = np.float32, np.float64, np.int32, np.int64
#: the common input dtypes warmed per primitive: (labels or targets, predictions, weights or None).
COMMON = {
    "error_sums": [(_F32, _F32, None), (_F32, _F32, _F64), (_F64, _F64, None), (_F64, _F32, None), (_I64, _F32, None)],
    "row_sums": [(_F32, _F32, None), (_I64, _F32, None), (_I32, _F32, None), (_F64, _F64, None)],
    "threshold_histogram": [(_I64, _F32, None), (_I32, _F32, None), (_F32, _F32, None), (_I64, _F32, _F64),
                            (_F64, _F64, None)],
    "weighted_bincount": [(_I64, _I64, None), (_I32, _I32, None), (_I64, _F32, None), (_F32, _F32, None)],
    "moments": [(_F32, _F32, None), (_F64, _F64, None)],
}


#: the representative cases of a primitive whose CPU twin picks one of several loops by the inputs: ``AUC``'s (evenly
#: spaced thresholds, one column), ``Precision``'s (one threshold counted, one column), ``F1Score``'s (classes).
CASES = {"threshold_histogram": ("threshold_histogram", "threshold_histogram/counted", "threshold_histogram/classes")}


def _batch(case, labels, scores, weights, rows, rng):
    """A synthetic batch for a representative metric (of a primitive, or a ``CASES`` entry): ``(metric factory,
    y_true, y_pred, w)``."""
    import gpumetrics

    w = None if weights is None else rng.random(rows).astype(weights)
    if case == "error_sums":
        t = rng.integers(0, 2, (rows, 1)) if np.dtype(labels).kind == "i" else rng.random((rows, 1))
        return gpumetrics.MeanSquaredError, t.astype(labels), rng.random((rows, 1)).astype(scores), w
    if case == "row_sums":
        p = rng.random((rows, 4)).astype(scores)
        if np.dtype(labels).kind == "i":
            return gpumetrics.SparseCategoricalCrossentropy, rng.integers(0, 4, rows).astype(labels), p, w
        return gpumetrics.CategoricalCrossentropy, rng.random((rows, 4)).astype(labels), p, w
    if case == "threshold_histogram":
        return gpumetrics.AUC, rng.integers(0, 2, rows).astype(labels), rng.random(rows).astype(scores), w
    if case == "threshold_histogram/counted":  # one threshold counted, one column: a loop of its own
        return gpumetrics.Precision, rng.integers(0, 2, rows).astype(labels), rng.random(rows).astype(scores), w
    if case == "threshold_histogram/classes":  # one threshold counted, several columns: another loop
        y = np.eye(3)[rng.integers(0, 3, rows)].astype(labels)
        return gpumetrics.F1Score, y, rng.random((rows, 3)).astype(scores), w
    if case == "weighted_bincount":
        def metric(**options):
            return gpumetrics.MeanIoU(num_classes=3, **options)
        return metric, rng.integers(0, 3, rows).astype(labels), rng.integers(0, 3, rows).astype(scores), w
    return gpumetrics.R2Score, rng.random((rows, 2)).astype(labels), rng.random((rows, 2)).astype(scores), w


def primitives_of(metrics):
    """The primitives the given metrics (instances, classes or ``get`` identifiers) run on; all when None."""
    if metrics is None:
        return PRIMITIVES
    from .registry import _lookup, get

    found = []
    for metric in metrics:
        if isinstance(metric, str):  # the class alone: building it may need arguments (MeanMetricWrapper's fn)
            cls = _lookup(metric, None)
        else:
            cls = metric if isinstance(metric, type) else type(get(metric) if isinstance(metric, dict) else metric)
        family = cls.__module__.rsplit(".", 1)[-1]
        for primitive in FAMILY_PRIMITIVES.get(family, PRIMITIVES):
            if primitive not in found:
                found.append(primitive)
    return tuple(found)


def _devices(device):
    if device is not None:
        return [device] if isinstance(device, str) else list(dict.fromkeys(device))
    devices = ["cpu"]
    try:
        if not get_backend("cuda").simulated:  # the simulator compiles nothing worth caching
            devices.append("cuda")
    except RuntimeError:
        pass
    return devices


def warmup(metrics=None, device=None, progress=True):
    """Compile the common signatures of the kernels behind ``metrics`` (all metrics when None) into the cache.

    ``device``: ``"cpu"``, ``"cuda"`` or a list; by default the CPU and, when
    one is usable, the GPU. Returns the number of (device, case, dtypes,
    grouped or not) steps run. ``progress`` draws a bar on stderr.
    """
    steps = [(d, case, dtypes, grouped) for d in _devices(device) for p in primitives_of(metrics)
             for case in CASES.get(p, (p,)) for dtypes in COMMON[p]
             for grouped in (False, True)]  # every representative metric takes num_groups
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for done, (dev, case, (labels, scores, weights), grouped) in enumerate(steps, 1):
        _run(dev, grouped, *_batch(case, labels, scores, weights, 64, rng))
        if progress:
            _draw(done, len(steps), time.perf_counter() - start,
                  f"{dev} {case} {np.dtype(labels).name}/{np.dtype(scores).name}"
                  f"{'' if weights is None else '/w:' + np.dtype(weights).name}"
                  f"{' grouped' if grouped else ''}")
    if progress:
        sys.stderr.write("\n")
    return len(steps)


def _run(device, grouped, factory, y_true, y_pred, w):
    """One update and result of ``factory``'s metric on ``device``; ``grouped``: with two groups (int64 ids)."""
    ids = np.arange(len(y_pred)) % 2 if grouped else None
    if device == "cuda" and not get_backend("cuda").simulated:
        import cupy

        y_true, y_pred, w, ids = (None if a is None else cupy.asarray(a) for a in (y_true, y_pred, w, ids))
    metric = factory(device=device, **({"num_groups": 2} if grouped else {}))
    metric.update_state(y_true, y_pred, sample_weight=w, **({"group_ids": ids} if grouped else {}))
    metric.result()


def _draw(done, total, seconds, label):
    width = 30
    filled = width * done // total
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {seconds:5.1f}s {label:<48.48}")
    sys.stderr.flush()
