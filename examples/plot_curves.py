"""Make the README's ROC and PR figures (docs/roc.png, docs/pr.png) with the README's own code.

Run ``python examples/plot_curves.py`` (or ``--out DIR``); needs ``pip install -e ".[plot]"``. The lines between
the two markers are the README's "Curves, bounds and plots" example, verbatim (tests/test_plots.py checks).
"""
import argparse
import pathlib

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path(__file__).resolve().parent.parent / "docs",
                    help="folder for roc.png and pr.png (default: the repository's docs/)")
out = parser.parse_args().out
out.mkdir(parents=True, exist_ok=True)

# -- README begin --
import numpy as np
import gpumetrics

rng = np.random.default_rng(0)
labels = (rng.random((5000, 3)) < 0.3).astype(np.float32)             # 3 labels, 30% positive
scores = np.clip(rng.normal(0.35 + np.array([0.1, 0.2, 0.35]) * labels, 0.2), 0, 1)

roc = gpumetrics.AUC(num_thresholds=50, multi_label=True, name="roc_auc")
pr = gpumetrics.AUC(num_thresholds=50, curve="PR", multi_label=True, name="pr_auc")
for metric in (roc, pr):
    metric.update_state(labels, scores)

fpr, tpr, thresholds = roc.roc_curve()    # device arrays; fpr, tpr: (3 labels, 50 thresholds)
per_label = roc.per_label_result()        # the 3 AUCs that roc.result() averages
low, high = roc.exact_auc_bounds()        # each label's exact AUC lies in [low, high]
print("ROC AUC per label", per_label, "exact within", low, high)

figure, ax = roc.plot()                   # a matplotlib Figure and Axes; no display needed
figure.savefig(out / "roc.png", dpi=100)
figure, ax = pr.plot()
figure.savefig(out / "pr.png", dpi=100)
# -- README end --
