"""plot(): the drawn points are the metric's curve / confusion matrix, headless, matplotlib optional; the README's
figure code is examples/plot_curves.py's, and that script writes both PNGs."""
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import on_device, to_host

import gpumetrics

pytest.importorskip("matplotlib")
ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "plot_curves.py"
PNG = b"\x89PNG\r\n\x1a\n"


def fed(metric, device, rng, shape=(300,)):
    y_true = (rng.random(shape) < 0.4).astype(np.float64)
    y_pred = np.clip(rng.normal(0.4 + 0.2 * y_true, 0.25), 0, 1)
    metric.update_state(on_device(y_true, device), on_device(y_pred, device),
                        on_device(rng.uniform(0.1, 2.0, shape[0]), device))
    return metric


def drawn(ax):
    """Each data line's (x, y), less the ROC chance diagonal."""
    return [np.asarray(line.get_xydata()) for line in ax.get_lines() if line.get_linestyle() != "--"]


def test_import_does_not_import_matplotlib():
    code = "import sys, gpumetrics; assert not any(m.startswith('matplotlib') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_curve_plot_draws_the_curve_points_per_label(curve, device, rng, tmp_path):
    metric = fed(gpumetrics.AUC(num_thresholds=21, curve=curve, multi_label=True, device=device), device, rng,
                 (300, 2))
    figure, ax = metric.plot()
    points = metric.roc_curve() if curve == "ROC" else metric.pr_curve()
    xs, ys = (np.asarray(to_host(a)) for a in ((points.fpr, points.tpr) if curve == "ROC" else
                                               (points.recall, points.precision)))
    lines = drawn(ax)
    assert len(lines) == 2 and ax.get_xlabel() == ("false positive rate" if curve == "ROC" else "recall")
    for label, line in enumerate(lines):
        keep = (xs[label] != 0) | (ys[label] != 0) if curve == "PR" else slice(None)
        np.testing.assert_array_equal(line, np.stack([xs[label][keep], ys[label][keep]], axis=1))
    areas = np.asarray(to_host(metric.per_label_result()))
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [f"label {i} (AUC {a:.4f})"
                                                                  for i, a in enumerate(areas)]
    figure.savefig(tmp_path / "curve.png")
    assert (tmp_path / "curve.png").read_bytes().startswith(PNG)


def test_at_metric_plot_marks_its_operating_point(device, rng):
    metric = fed(gpumetrics.PrecisionAtRecall(0.5, num_thresholds=31, device=device), device, rng)
    _, ax = metric.plot()
    assert ax.get_xlabel() == "recall"  # its rates' curve
    _, recall, _, precision = (float(to_host(v)) for v in metric.operating_point())
    np.testing.assert_array_equal(drawn(ax)[-1], [[recall, precision]])


def test_plot_into_given_axes_and_refusals(device, rng):
    from matplotlib.figure import Figure

    metric = fed(gpumetrics.Recall(thresholds=[0.2, 0.5, 0.8], device=device), device, rng)
    figure = Figure()
    ax = figure.add_subplot()
    assert metric.plot("pr", ax=ax) == (figure, ax)
    with pytest.raises(ValueError, match="curve must be 'ROC' or 'PR'; got curve='PRGAIN'"):
        metric.plot("PRGAIN")


def test_confusion_matrix_heat_map(device, rng):
    metric = gpumetrics.MeanIoU(num_classes=4, device=device)
    metric.update_state(on_device(rng.integers(0, 4, 200), device), on_device(rng.integers(0, 4, 200), device),
                        on_device(rng.uniform(0.5, 1.5, 200), device))
    figure, ax = metric.plot()
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), to_host(metric.total_cm.value))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class") and len(ax.texts) == 16
    assert len(figure.axes) == 2  # the matrix and its colour bar


def grouped_fed(metric, device, rng, n=400, labels=None):
    shape = (n,) if labels is None else (n, labels)
    y_true = (rng.random(shape) < 0.4).astype(np.float64)
    ids = rng.integers(0, 3, n)
    y_pred = np.clip(rng.normal(0.3 + 0.1 * ids.reshape((n,) + (1,) * (len(shape) - 1)) + 0.2 * y_true, 0.25), 0, 1)
    for part in np.array_split(np.arange(n), 2):
        metric.update_state(on_device(y_true[part], device), on_device(y_pred[part], device),
                            on_device(rng.uniform(0.1, 2.0, len(part)), device),
                            group_ids=on_device(ids[part], device))
    return metric


@pytest.mark.parametrize("curve", ["ROC", "PR"])
def test_grouped_curve_plot_draws_the_chosen_groups_rows(curve, device, rng):
    metric = grouped_fed(gpumetrics.AUC(num_thresholds=21, curve=curve, multi_label=True, num_groups=3,
                                       device=device), device, rng, labels=2)
    points = metric.roc_curve() if curve == "ROC" else metric.pr_curve()
    xs, ys = (np.asarray(to_host(a)) for a in ((points.fpr, points.tpr) if curve == "ROC" else
                                               (points.recall, points.precision)))
    areas = np.asarray(to_host(metric.per_label_result()))
    for group in (0, 2):
        _, ax = metric.plot(group=group)
        lines = drawn(ax)
        assert len(lines) == 2 and ax.get_title() == f"auc, group {group}: {curve} curve"
        for label, line in enumerate(lines):
            x, y = xs[group, label], ys[group, label]
            keep = (x != 0) | (y != 0) if curve == "PR" else slice(None)
            np.testing.assert_array_equal(line, np.stack([x[keep], y[keep]], axis=1))
        assert [t.get_text() for t in ax.get_legend().get_texts()] == [
            f"label {i} (AUC {a:.4f})" for i, a in enumerate(areas[group])]


def test_grouped_at_metric_plot_marks_the_groups_operating_point(device, rng):
    metric = grouped_fed(gpumetrics.PrecisionAtRecall(0.5, num_thresholds=31, num_groups=3, device=device), device,
                         rng)
    _, recall, _, precision = (np.asarray(to_host(v)) for v in metric.operating_point())
    _, ax = metric.plot(group=1)
    np.testing.assert_array_equal(drawn(ax)[-1], [[recall[1], precision[1]]])


def test_grouped_confusion_matrix_plot_draws_the_groups_matrix(device, rng):
    metric = gpumetrics.MeanIoU(num_classes=3, num_groups=2, device=device)
    metric.update_state(on_device(rng.integers(0, 3, 200), device), on_device(rng.integers(0, 3, 200), device),
                        on_device(rng.uniform(0.5, 1.5, 200), device),
                        group_ids=on_device(rng.integers(0, 2, 200), device))
    _, ax = metric.plot(group=1)
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), to_host(metric.total_cm.value)[1])


@pytest.mark.parametrize("make", [
    lambda d: gpumetrics.AUC(num_thresholds=5, num_groups=3, device=d),
    lambda d: gpumetrics.PrecisionAtRecall(0.5, num_thresholds=5, num_groups=3, device=d),
    lambda d: gpumetrics.MeanIoU(num_classes=2, num_groups=3, device=d),
], ids=["AUC", "PrecisionAtRecall", "MeanIoU"])
def test_grouped_plot_needs_a_group_and_ungrouped_takes_none(make, device):
    metric = make(device)
    with pytest.raises(ValueError, match=r"num_groups=3, one result per group: pass group=g \(0 <= g < 3\)"):
        metric.plot()
    with pytest.raises(ValueError, match=r"group must be an integer in \[0, 2\]; got group=3"):
        metric.plot(group=3)
    with pytest.raises(TypeError, match="group must be an integer"):
        metric.plot(group=1.0)
    with pytest.raises(ValueError, match=r"no group axis \(num_groups=None\); got group=0"):
        gpumetrics.Recall(device=device).plot(group=0)


def test_missing_matplotlib_names_the_extra(monkeypatch, device, rng):
    metric = fed(gpumetrics.AUC(num_thresholds=5, device=device), device, rng)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=re.escape("pip install gpumetrics[plot]")):
        metric.plot()


def readme_python_blocks():
    return re.findall(r"```python\n(.+?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_figure_code_is_the_scripts():
    section = re.search(r"# -- README begin --\n(.+?)# -- README end --", SCRIPT.read_text(), flags=re.S).group(1)
    assert section in readme_python_blocks()
    assert "docs/roc.png" in (ROOT / "README.md").read_text() and "docs/pr.png" in (ROOT / "README.md").read_text()


def test_figure_script_writes_both_pngs(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("roc.png", "pr.png"):
        assert (tmp_path / name).read_bytes().startswith(PNG)
