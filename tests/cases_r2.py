"""``R2Score`` rows of the case table: every ``class_aggregation``, and the adjusted R², against scikit-learn.

The oracle is ``sklearn.metrics.r2_score`` over the concatenated batches in
float64 (``multioutput``: ``"raw_values"`` for Keras's ``None``,
``"uniform_average"``, ``"variance_weighted"``). Sample weights of shape
``(batch,)`` weigh every output of a row, as Keras's ``(N,) -> (N, 1)`` rule.
The adjusted R² is written out by hand with current Keras's ``n`` (scikit-learn's): the
number of samples (rows) with a non-zero weight.
"""
import numpy as np
from sklearn.metrics import r2_score

from case_model import Case

import gpumetrics

_MULTIOUTPUT = {None: "raw_values", "uniform_average": "uniform_average",
                "variance_weighted_average": "variance_weighted"}


def r2_oracle(class_aggregation, num_regressors=0):
    def oracle(batches):
        y_true = np.concatenate([np.asarray(b["y_true"], np.float64) for b in batches])
        y_pred = np.concatenate([np.asarray(b["y_pred"], np.float64) for b in batches])
        weighted = batches[0].get("sample_weight") is not None
        weight = np.concatenate([b["sample_weight"] for b in batches]) if weighted else None
        score = r2_score(y_true, y_pred, sample_weight=weight, multioutput=_MULTIOUTPUT[class_aggregation])
        if num_regressors:
            n = len(y_true) if weight is None else np.count_nonzero(np.reshape(weight, (len(weight), -1)).any(axis=1))
            score = 1.0 - (1.0 - score) * (n - 1) / (n - num_regressors - 1)
        return score

    return oracle


def r2_case(id, **kwargs):
    return Case(id, lambda d: gpumetrics.R2Score(device=d, **kwargs),
                r2_oracle(kwargs.get("class_aggregation", "uniform_average"), kwargs.get("num_regressors", 0)),
                layouts=("column", "matrix"))


R2_CASES = [
    r2_case("R2Score"),
    r2_case("R2Score-raw_values", class_aggregation=None),
    r2_case("R2Score-variance_weighted", class_aggregation="variance_weighted_average"),
    r2_case("R2Score-adjusted", num_regressors=3),
]
