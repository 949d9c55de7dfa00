"""Figures of a metric's state: ROC / PR curves of the threshold family, the confusion matrix of the IoU family.

matplotlib is an optional extra (``pip install gpumetrics[plot]``), imported
here on the first plot, never by ``import gpumetrics``. Figures are made as
``matplotlib.figure.Figure`` without pyplot, so plotting needs no display and
leaves pyplot's backend and figure list alone; each function returns
``(figure, axes)`` as torchmetrics' ``plot`` does (``figure.savefig(path)``
writes it; pass ``ax`` to draw into axes of your own). The state is copied to
the host to be drawn: plots read the device, never on an update path.
"""
import numpy as np

_CURVE_AXES = {"ROC": ("false positive rate", "true positive rate"), "PR": ("recall", "precision")}
#: confusion matrices up to this many classes get their weights written in the cells
MAX_ANNOTATED_CLASSES = 12


def _axes(ax):
    """``ax`` and its figure, or a new figure with one axes; the one place matplotlib is imported."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("plotting needs matplotlib, an optional extra: pip install gpumetrics[plot]") from error
    if ax is None:
        ax = Figure(figsize=(4.8, 4.2), layout="constrained").add_subplot()
    return ax.get_figure(), ax


def _host(metric, array):
    """A NumPy copy of a device array, to draw."""
    return np.asarray(metric.backend.to_host(array))  # synchronize! (a plot, off the update path)


def _title(metric, group, what):
    """``"name: what"``, or ``"name, group g: what"`` for one group of a grouped metric."""
    return f"{metric.name}{'' if group is None else f', group {group}'}: {what}"


def _curve_rows(metric, kind, group):
    """The curve's ``(x, y)`` points on the host (of ``group`` alone when not None), one row per label:
    ``(labels, T)`` arrays."""
    if kind == "ROC":
        fpr, tpr, _ = metric.roc_curve()
        x, y = _host(metric, fpr), _host(metric, tpr)
    else:
        precision, recall, _ = metric.pr_curve()
        x, y = _host(metric, recall), _host(metric, precision)
    if group is not None:
        x, y = x[group], y[group]
    return x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])


def _line_labels(metric, kind, count, group):
    """Legend entries: each label's AUC (of ``group``) where the metric is an AUC of this curve, else label
    numbers."""
    areas = None
    if getattr(metric, "curve", None) == kind:  # an AUC of this curve: say its value
        areas = _host(metric, metric.per_label_result() if metric.multi_label else metric.result())
        areas = (areas if group is None else areas[group]).reshape(-1)
    names = [f"label {i}" for i in range(count)] if count > 1 else [metric.name]
    return names if areas is None else [f"{name} (AUC {area:.4f})" for name, area in zip(names, areas)]


def plot_curve(metric, curve="ROC", ax=None, mark=None, group=None):
    """Draw a threshold metric's ``"ROC"`` (FPR, TPR) or ``"PR"`` (recall, precision) points, joined in threshold
    order, one line per label (of group ``group`` of a grouped metric, checked by its ``plot``); ``mark`` (an
    ``OperatingPoint``) is drawn as a dot. PR points at (0, 0), where mostly nothing scores above the threshold,
    are left out."""
    kind = curve.upper() if isinstance(curve, str) else curve
    if kind not in _CURVE_AXES:
        raise ValueError(f"curve must be 'ROC' or 'PR'; got curve={curve!r}")
    figure, ax = _axes(ax)
    xs, ys = _curve_rows(metric, kind, group)
    for x, y, label in zip(xs, ys, _line_labels(metric, kind, len(xs), group)):
        keep = (x != 0) | (y != 0) if kind == "PR" else slice(None)
        ax.plot(x[keep], y[keep], marker=".", markersize=3, linewidth=1.2, label=label)
    if kind == "ROC":
        ax.plot([0, 1], [0, 1], linestyle="--", linewidth=0.8, color="grey")
    if mark is not None:
        threshold, recall, specificity, precision = (float(_host(metric, v)) for v in mark)
        point = (1 - specificity, recall) if kind == "ROC" else (recall, precision)
        ax.plot(*point, marker="o", color="black", linestyle="none", label=f"threshold {threshold:.3g}")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel=_CURVE_AXES[kind][0], ylabel=_CURVE_AXES[kind][1],
           title=_title(metric, group, f"{kind} curve"), aspect="equal")
    ax.legend(loc="lower right" if kind == "ROC" else "lower left", fontsize="small")
    return figure, ax


def plot_confusion_matrix(metric, ax=None, group=None):
    """Draw an IoU-family metric's confusion matrix (rows: true class, columns: predicted; of group ``group`` of a
    grouped metric, checked by its ``plot``) as a heat map with a colour bar; cells carry their weight up to
    ``MAX_ANNOTATED_CLASSES`` classes."""
    figure, ax = _axes(ax)
    matrix = _host(metric, metric.total_cm.value if group is None else metric.total_cm.value[group])
    image = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=ax, label="summed weight")
    count = matrix.shape[0]
    if count <= MAX_ANNOTATED_CLASSES:
        middle = (np.nanmax(matrix) + np.nanmin(matrix)) / 2 if np.isfinite(matrix).any() else 0.0
        for (true, predicted), value in np.ndenumerate(matrix):
            ax.text(predicted, true, f"{value:.4g}", ha="center", va="center", fontsize="small",
                    color="white" if value > middle else "black")
        ax.set(xticks=range(count), yticks=range(count))
    ax.set(xlabel="predicted class", ylabel="true class", title=_title(metric, group, "confusion matrix"))
    return figure, ax
