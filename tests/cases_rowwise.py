"""Rows for the mean metrics of a per-sample function of a class row: categorical and sparse crossentropy, the
categorical accuracies, top-k, categorical hinge, cosine similarity and the correlations.

Oracles write Keras's formula out per row in float64 NumPy (no code under
test), then reduce with Keras's sample-weight rule (``mean_of``).
"""
import numpy as np

from case_model import Case, keras_mean_totals, mean_of

import gpumetrics

EPS = 1e-7
#: batches with a class axis last: (12, 4), and (6, 4, 3) with weights per sample and per (sample, row)
ROW_LAYOUTS = ("multiclass", "cube", "cube_weight_per_row")


def one_hot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]


def class_scores(rng, shape):
    """Probability rows (Dirichlet): no ties, nothing near the clip bounds."""
    return rng.dirichlet(np.ones(shape[-1]), size=shape[:-1]).astype(np.float32)


def logits(rng, shape):
    return (3 * rng.normal(size=shape)).astype(np.float32)


def ids(rng, shape):
    return rng.integers(0, shape[-1], size=shape[:-1])


def ids_column(rng, shape):
    """Class ids with a trailing axis of 1, ``(N, 1)`` beside ``(N, C)`` scores: Keras squeezes it."""
    return ids(rng, shape)[..., None]


def draw(y_true, y_pred):
    return lambda rng, shape: {"y_true": y_true(rng, shape), "y_pred": y_pred(rng, shape)}


def t_p(b):
    return np.asarray(b["y_true"], np.float64), np.asarray(b["y_pred"], np.float64)


def per_row(f):
    """Per-sample values of ``f(t_row, p_row)`` over the class axis."""
    def values(b):
        t, p = t_p(b)
        t = t if t.shape == p.shape else t[..., None]
        flat = [f(tr, pr) for tr, pr in zip(t.reshape(-1, t.shape[-1]), p.reshape(-1, p.shape[-1]))]
        return np.array(flat).reshape(p.shape[:-1])

    return values


def cce(t, p, smoothing=0.0):
    t = t * (1 - smoothing) + smoothing / len(t)
    return -(t * np.log(p / p.sum())).sum()


def cce_logits(t, x):
    return -(t * (x - np.log(np.exp(x).sum()))).sum()


def sparse_cce(t, p, ignore=None):
    k = int(t[0])
    return 0.0 if k == ignore or not 0 <= k < len(p) else -np.log(p[k] / p.sum())


def in_top_k(label, p, k):
    return float((p > p[label]).sum() < k)


def pearson(t, p):
    return np.corrcoef(t, p)[0, 1]


def concordance(t, p):
    return 2 * np.cov(t, p, bias=True)[0, 1] / (t.var() + p.var() + (t.mean() - p.mean()) ** 2 + EPS)


def ids_with_ignored(rng, shape):
    labels = ids(rng, shape)
    labels[rng.uniform(size=labels.shape) < 0.2] = 1
    return labels


def masked_mean_of(batches, values_of, ignore):
    """``mean_of`` for labels ``ignore`` that Keras masks: value 0, and weight 0 when sample weights are given (each
    label masks its share of a weight that covers several labels)."""
    totals = []
    for b in batches:
        values, weight = values_of(b), b.get("sample_weight")
        if weight is not None:
            weight = np.broadcast_to(weight.reshape(weight.shape + (1,) * (values.ndim - weight.ndim)), values.shape)
            weight = weight * (np.asarray(b["y_true"]) != ignore)
        totals.append(keras_mean_totals(values, weight))
    total, count = map(sum, zip(*totals))
    return total / count


def row(id, make, f, y_true, y_pred, **kwargs):
    return Case(id, make, lambda bs: mean_of(bs, per_row(f)), layouts=kwargs.pop("layouts", ROW_LAYOUTS),
                draw=draw(y_true, y_pred), **kwargs)


def correlated(rng, shape):
    return {"y_true": rng.normal(size=shape), "y_pred": rng.normal(size=shape).astype(np.float32)}


ROWWISE_CASES = [
    row("CategoricalCrossentropy", lambda d: gpumetrics.CategoricalCrossentropy(device=d), cce, one_hot,
        class_scores),
    row("CategoricalCrossentropy-smoothing", lambda d: gpumetrics.CategoricalCrossentropy(label_smoothing=0.1,
                                                                                          device=d),
        lambda t, p: cce(t, p, 0.1), one_hot, class_scores),
    row("CategoricalCrossentropy-logits", lambda d: gpumetrics.CategoricalCrossentropy(from_logits=True, device=d),
        cce_logits, class_scores, logits),
    row("SparseCategoricalCrossentropy", lambda d: gpumetrics.SparseCategoricalCrossentropy(device=d), sparse_cce,
        ids, class_scores),
    row("SparseCategoricalCrossentropy-ids_column", lambda d: gpumetrics.SparseCategoricalCrossentropy(device=d),
        sparse_cce, ids_column, class_scores),
    Case("SparseCategoricalCrossentropy-logits-ignore_class",
         lambda d: gpumetrics.SparseCategoricalCrossentropy(from_logits=True, ignore_class=1, device=d),
         lambda bs: masked_mean_of(bs, per_row(
             lambda t, x: 0.0 if int(t[0]) == 1 else -(x[int(t[0])] - np.log(np.exp(x).sum()))), 1),
         layouts=ROW_LAYOUTS, draw=draw(ids_with_ignored, logits)),
    row("CategoricalAccuracy", lambda d: gpumetrics.CategoricalAccuracy(device=d),
        lambda t, p: float(t.argmax() == p.argmax()), one_hot, class_scores),
    row("SparseCategoricalAccuracy", lambda d: gpumetrics.SparseCategoricalAccuracy(device=d),
        lambda t, p: float(t[0] == p.argmax()), ids, class_scores),
    row("SparseCategoricalAccuracy-ids_column", lambda d: gpumetrics.SparseCategoricalAccuracy(device=d),
        lambda t, p: float(t[0] == p.argmax()), ids_column, class_scores),
    row("TopKCategoricalAccuracy", lambda d: gpumetrics.TopKCategoricalAccuracy(k=2, device=d),
        lambda t, p: in_top_k(t.argmax(), p, 2), one_hot, class_scores),
    row("SparseTopKCategoricalAccuracy", lambda d: gpumetrics.SparseTopKCategoricalAccuracy(k=2, device=d),
        lambda t, p: in_top_k(int(t[0]), p, 2), ids, class_scores),
    row("SparseTopKCategoricalAccuracy-ids_column", lambda d: gpumetrics.SparseTopKCategoricalAccuracy(k=2, device=d),
        lambda t, p: in_top_k(int(t[0]), p, 2), ids_column, class_scores),
    row("SparseTopKCategoricalAccuracy-sorted_ids",
        lambda d: gpumetrics.SparseTopKCategoricalAccuracy(k=2, from_sorted_ids=True, device=d),
        lambda t, p: float(t[0] in p[:2]), ids,
        lambda rng, shape: np.argsort(-class_scores(rng, shape), axis=-1).astype(np.float32)),
    row("CategoricalHinge", lambda d: gpumetrics.CategoricalHinge(device=d),
        lambda t, p: max(((1 - t) * p).max() - (t * p).sum() + 1, 0.0), one_hot, logits),
    Case("CosineSimilarity", lambda d: gpumetrics.CosineSimilarity(device=d),
         lambda bs: mean_of(bs, per_row(lambda t, p: t @ p / np.sqrt(t @ t * (p @ p))))),
    Case("CosineSimilarity-axis", lambda d: gpumetrics.CosineSimilarity(axis=1, device=d),
         lambda bs: mean_of(bs, lambda b: (lambda t, p: (t * p).sum(1) / np.sqrt((t * t).sum(1) * (p * p).sum(1)))(
             *t_p(b))), layouts=("cube",)),
    Case("PearsonCorrelation", lambda d: gpumetrics.PearsonCorrelation(device=d),
         lambda bs: mean_of(bs, per_row(pearson)), layouts=("matrix", "cube", "cube_weight_per_row"),
         draw=correlated),
    Case("ConcordanceCorrelation", lambda d: gpumetrics.ConcordanceCorrelation(device=d),
         lambda bs: mean_of(bs, per_row(concordance)), layouts=("matrix", "cube", "cube_weight_per_row"),
         draw=correlated),
]
