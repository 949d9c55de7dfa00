"""A ``MetricCollection(metrics, num_groups=G)``: its members per group equal grouped metrics updated alone (the
oracle), with shared grouped passes; members rebuilt with a group axis or refused; bad group ids change nothing;
merge, state dicts and configs keep ``num_groups``."""
import io

import numpy as np
import pytest

from conftest import on_device, to_host

import gpumetrics
from gpumetrics import MetricCollection

G = 5


def members(device="auto", grouped=None):
    """Threshold members (AUC, Precision, Recall, F1Score), BinaryAccuracy riding them, two IoU members of one matrix and a
    mean metric: with ``grouped`` each is built with that ``num_groups``."""
    extra = {} if grouped is None else {"num_groups": grouped}
    return {"auc": gpumetrics.AUC(device=device, **extra), "precision": gpumetrics.Precision(device=device, **extra),
            "recall": gpumetrics.Recall(thresholds=[0.3, 0.7], device=device, **extra),
            "f1": gpumetrics.F1Score(threshold=0.5, device=device, **extra),
            "accuracy": gpumetrics.BinaryAccuracy(device=device, **extra),
            "iou": gpumetrics.BinaryIoU(device=device, **extra),
            "iou_1": gpumetrics.BinaryIoU(target_class_ids=[1], device=device, **extra),
            "mse": gpumetrics.MeanSquaredError(device=device, **extra)}


def draw(rng, device, rows=300, whole=True):
    y_true = rng.integers(0, 2, (rows, 1))
    y_pred = rng.random((rows, 1)).astype(np.float32)
    weight = rng.integers(0, 4, rows).astype(float) + (0 if whole else rng.random(rows))
    ids = rng.integers(0, G, rows)
    return [on_device(a, device) for a in (y_true, y_pred, weight, ids)]


def host_states(metric):
    return {k: v for k, v in metric.state_dict().items() if not k.startswith("__")}


@pytest.mark.parametrize("whole", [True, False], ids=["whole-weights", "fractional-weights"])
def test_grouped_members_equal_grouped_metrics_alone(whole, device, rng):
    collection = MetricCollection(members(device), num_groups=G)
    alone = members(device, grouped=G)
    assert collection.passes() == [["auc", "precision", "recall", "f1", "accuracy"], ["iou", "iou_1"], ["mse"]]
    for _ in range(3):
        y_true, y_pred, weight, ids = draw(rng, device, whole=whole)
        collection.update_state(y_true, y_pred, weight, group_ids=ids)
        for metric in alone.values():
            metric.update_state(y_true, y_pred, sample_weight=weight, group_ids=ids)
    for name, metric in alone.items():
        assert collection[name].num_groups == G
        got, want = to_host(collection.result()[name]), to_host(metric.result())
        assert got.shape[0] == G
        exact = whole and (device == "cpu" or name != "recall")  # recall: its buckets are sums of union buckets
        for key, value in host_states(metric).items():
            compare = np.testing.assert_array_equal if whole else \
                lambda a, b, err_msg: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, err_msg=err_msg)
            compare(host_states(collection[name])[key], value, err_msg=f"{name}/{key}")
        if exact:
            np.testing.assert_array_equal(got, want, err_msg=name)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(to_host(collection.grouped_mean()[name]), to_host(metric.grouped_mean()),
                                   rtol=1e-6, err_msg=name)


def test_a_grouped_collection_is_one_launch_per_shared_pass(device, rng, monkeypatch):
    from gpumetrics import backends

    counted = []
    for backend in (backends.resolve("cpu"), backends.resolve("cuda")):
        for name in ("sums", "threshold_histogram", "weighted_bincount"):
            original = getattr(backend, name)
            monkeypatch.setattr(backend, name, lambda *a, _o=original, _n=name, **k: (counted.append(_n), _o(*a, **k)))
    collection = MetricCollection(members(device), num_groups=G)
    y_true, y_pred, weight, ids = draw(rng, device)
    collection.update_state(y_true, y_pred, weight, group_ids=ids)
    assert sorted(counted) == ["sums", "threshold_histogram", "weighted_bincount"]


def test_bad_group_ids_change_no_member(device, rng):
    collection = MetricCollection(members(device), num_groups=G)
    y_true, y_pred, weight, ids = draw(rng, device)
    collection.update_state(y_true, y_pred, weight, group_ids=ids)
    before = {name: host_states(m) for name, m in collection.metrics.items()}
    bad = {"negative": (np.where(np.arange(300) == 7, -1, 0), ValueError, "num_groups=5"),
           "too large": (np.full(300, G), ValueError, "num_groups=5"),
           "float": (np.zeros(300), TypeError, "integers"),
           "shape": (np.zeros(299, np.int64), ValueError, r"shape \(300,\)"),
           "missing": (None, ValueError, "group_ids")}
    for label, (group_ids, error, match) in bad.items():
        with pytest.raises(error, match=match):
            collection.update_state(y_true, y_pred, weight, group_ids=group_ids)
        for name, metric in collection.metrics.items():
            for key, value in host_states(metric).items():
                np.testing.assert_array_equal(value, before[name][key], err_msg=f"{label}: {name}/{key}")


def test_members_are_rebuilt_with_the_group_axis_or_refused():
    given = gpumetrics.AUC(num_thresholds=50, device="cpu")
    collection = MetricCollection({"auc": given, "mine": gpumetrics.Precision(num_groups=G, device="cpu")},
                                  num_groups=G)
    assert collection["auc"] is not given and collection["auc"].num_groups == G
    assert collection["auc"].device == "cpu" and collection["auc"].num_thresholds == 50
    with pytest.raises(ValueError, match="num_groups=3"):
        MetricCollection([gpumetrics.AUC(num_groups=3)], num_groups=G)
    used = gpumetrics.AUC()
    used.update_state([0, 1], [0.2, 0.8])
    with pytest.raises(ValueError, match="holds data"):
        MetricCollection([used], num_groups=G)
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        MetricCollection([gpumetrics.ExactAUC()], num_groups=G)
    with pytest.raises(ValueError, match="no group axis"):
        MetricCollection([gpumetrics.AUC()]).update_state([0, 1], [0.2, 0.8], group_ids=[0, 1])
    with pytest.raises(ValueError, match="no group axis"):
        MetricCollection([gpumetrics.AUC()]).grouped_mean()


class Shifted(gpumetrics.MeanAbsoluteError):
    """A user's subclass: its own constructor argument, which its config does not carry."""

    def __init__(self, shift=0.0, **kwargs):
        super().__init__(**kwargs)
        self.shift = shift

    def update_state(self, y_true, y_pred, sample_weight=None, **kwargs):
        return super().update_state(y_true, to_host(y_pred) + self.shift, sample_weight, **kwargs)


class ShiftedInConfig(Shifted):
    def get_config(self):
        return {**super().get_config(), "shift": self.shift}


def test_a_rebuild_that_would_drop_a_setting_is_refused(device, rng):
    """A member rebuilt from get_config() alone lost ``shift``: the collection's MAE read the unshifted errors."""
    with pytest.raises(ValueError, match=r"would not keep shift=2\.0"):
        MetricCollection({"shifted": Shifted(shift=2.0, device=device)}, num_groups=G)
    kept = MetricCollection({"shifted": ShiftedInConfig(shift=2.0, device=device),
                             "plain": gpumetrics.Precision(thresholds=[0.3, 0.7], device=device)}, num_groups=G)
    y_true, y_pred, ids = rng.random((40, 1)), rng.random((40, 1)), np.arange(40) % G
    kept.update_state(on_device(y_true, device), on_device(y_pred, device), group_ids=ids)
    np.testing.assert_allclose(to_host(kept.result()["shifted"]),
                               [abs(y_true - y_pred - 2.0)[ids == g].mean() for g in range(G)], rtol=1e-6)


class Scaled(gpumetrics.MeanAbsoluteError):
    """An array setting the config does not carry (same dtype as the default, other values)."""

    def __init__(self, scale=(1.0,), **kwargs):
        super().__init__(**kwargs)
        self.scale = np.asarray(scale, dtype=np.float64)


class ScaledInConfig(Scaled):
    def get_config(self):
        return {**super().get_config(), "scale": self.scale.tolist()}


def test_array_settings_compare_by_elements(device):
    with pytest.raises(ValueError, match="would not keep scale="):
        MetricCollection({"scaled": Scaled(scale=[2.0], device=device)}, num_groups=G)
    kept = MetricCollection({"scaled": ScaledInConfig(scale=[np.nan, 2.0], device=device)}, num_groups=G)
    np.testing.assert_array_equal(kept["scaled"].scale, [np.nan, 2.0])  # NaN alike NaN: kept, not refused


class Clipped(gpumetrics.MeanAbsoluteError):
    """A user's subclass whose config carries its one argument, and whose __init__ keeps helpers made per instance:
    a lambda over ``self`` and a bound method. The rebuild compared them by identity and refused the member."""

    def __init__(self, clip=1.0, **kwargs):
        super().__init__(**kwargs)
        self.clip = clip
        self._clip = lambda x: np.clip(x, -self.clip, self.clip)
        self._read = self._as_given

    def _as_given(self, x):  # a bound method kept as an attribute (on a GPU the input stays a CuPy array)
        return x

    def update_state(self, y_true, y_pred, sample_weight=None, **kwargs):
        return super().update_state(y_true, self._clip(self._read(y_pred)), sample_weight, **kwargs)

    def get_config(self):
        return {**super().get_config(), "clip": self.clip}


class ClippedByLocal(Clipped):
    """Its lambda closes over the argument itself, which the config does not carry: still refused."""

    def __init__(self, bound=1.0, **kwargs):
        super().__init__(**kwargs)
        self._clip = lambda x: np.clip(x, -bound, bound)


class Bound:
    """A helper object without ``==`` (so two are alike only when they are one)."""

    def __init__(self, bound=1.0):
        self.bound = bound

    def clip(self, x):
        return np.clip(x, -self.bound, self.bound)


class ClippedByObject(Clipped):
    """Its lambda closes over an object the config does not carry: refused, whatever the object's type."""

    def __init__(self, bound=None, **kwargs):
        super().__init__(**kwargs)
        bound = bound or Bound()
        self._clip = lambda x: bound.clip(x)


class ClippedByMethod(Clipped):
    """A bound method of an object the config does not carry (not of the metric itself): refused."""

    def __init__(self, bound=None, **kwargs):
        super().__init__(**kwargs)
        self._clip = (bound or Bound()).clip


def test_helpers_made_per_instance_do_not_refuse_the_rebuild(device, rng):
    collection = MetricCollection({"clipped": Clipped(clip=0.5, device=device)}, num_groups=G)
    y_true, y_pred, ids = rng.random((40, 1)), 3 * rng.random((40, 1)) - 1.5, np.arange(40) % G
    collection.update_state(on_device(y_true, device), on_device(y_pred, device), group_ids=ids)
    errors = abs(y_true - np.clip(y_pred, -0.5, 0.5))
    np.testing.assert_allclose(to_host(collection.result()["clipped"]), [errors[ids == g].mean() for g in range(G)],
                               rtol=1e-6)
    for dropped in (ClippedByLocal(bound=0.5, device=device), ClippedByObject(Bound(0.5), device=device),
                    ClippedByMethod(Bound(0.5), device=device)):
        with pytest.raises(ValueError, match="would not keep _clip="):
            MetricCollection({"clipped": dropped}, num_groups=G)


def test_settings_of_every_grouped_class_survive_the_rebuild(device):
    """The refusal above compares attributes: no package class may trip it (nor one used and reset)."""
    used = gpumetrics.AUC(num_thresholds=7, multi_label=True, device=device)
    used.update_state(on_device(np.eye(3), device), on_device(np.eye(3) / 2, device))
    used.reset_state()
    fresh = [cls(**args, device=device) for cls, args in [
        (gpumetrics.AUC, {"curve": "PR", "from_logits": True}), (gpumetrics.Precision, {"thresholds": [0.2, 0.9]}),
        (gpumetrics.RecallAtPrecision, {"precision": 0.5}), (gpumetrics.F1Score, {"threshold": 0.4}),
        (gpumetrics.MeanIoU, {"num_classes": 3, "ignore_class": 0}), (gpumetrics.R2Score, {}),
        (gpumetrics.MeanMetricWrapper, {"fn": largest_error}), (gpumetrics.TopKCategoricalAccuracy, {"k": 2})]]
    for metric in [used, *fresh]:
        MetricCollection([metric], num_groups=G)


def largest_error(y_true, y_pred):
    return abs(y_true - y_pred).max(axis=-1)


@pytest.mark.parametrize("fn", [largest_error, lambda t, p: abs(t - p).max(axis=-1)], ids=["function", "lambda"])
def test_a_wrapper_of_a_users_function_is_rebuilt_with_that_function(fn, device, rng):
    """Rebuilt from its config, a MeanMetricWrapper named its fn by path, which only the package's registered
    functions resolve: the collection was refused, advising custom_objects it does not take."""
    collection = MetricCollection([gpumetrics.MeanMetricWrapper(fn, name="largest", device=device)], num_groups=G)
    y_true, y_pred, ids = rng.normal(size=(60, 3)), rng.normal(size=(60, 3)), rng.permutation(np.arange(60) % G)
    collection.update_state(on_device(y_true, device), on_device(y_pred, device), group_ids=ids)
    per_sample = abs(y_true - y_pred).max(axis=-1)
    np.testing.assert_allclose(to_host(collection.result()["largest"]),
                               [per_sample[ids == g].mean() for g in range(G)], rtol=1e-6)


def test_merge_state_dict_and_config_keep_the_groups(device, rng):
    drawn = [draw(rng, device) for _ in range(4)]
    single = MetricCollection(members(device), num_groups=G)
    parts = [MetricCollection(members(device), num_groups=G) for _ in range(2)]
    for i, (y_true, y_pred, weight, ids) in enumerate(drawn):
        single.update_state(y_true, y_pred, weight, group_ids=ids)
        parts[i % 2].update_state(y_true, y_pred, weight, group_ids=ids)
    parts[0].merge_state(parts[1])
    for name in single:  # whole weights: counts bitwise; the squared errors' sums in another order
        for key, value in host_states(single[name]).items():
            np.testing.assert_allclose(host_states(parts[0][name])[key], value, rtol=0 if name != "mse" else 1e-12,
                                       err_msg=f"{name}/{key}")
    config = single.get_config()
    assert config["num_groups"] == G
    buffer = io.BytesIO()
    np.savez(buffer, **single.state_dict())
    buffer.seek(0)
    clone = MetricCollection.from_config(config)
    clone.load_state_dict(np.load(buffer))
    assert clone.num_groups == G and clone.passes() == single.passes()
    for name in single:
        np.testing.assert_array_equal(to_host(clone.result()[name]), to_host(single.result()[name]), err_msg=name)


def test_calling_a_grouped_collection_takes_group_ids(device, rng):
    """``collection(y_true, y_pred, sample_weight, group_ids=...)`` is ``update_state`` then ``result()``, as
    ``metric(..., group_ids=...)`` is for each member alone: ``__call__`` had no ``group_ids``, so a grouped
    collection could not be called at all (a ``TypeError`` with the ids, a ``ValueError`` from every member
    without them)."""
    collection = MetricCollection(members(device), num_groups=G)
    alone = {name: m.copy() for name, m in collection.metrics.items()}
    y_true, y_pred, weight, ids = draw(rng, device)
    got = collection(y_true, y_pred, weight, group_ids=ids)
    for name, metric in alone.items():
        want = metric(y_true, y_pred, sample_weight=weight, group_ids=ids)
        np.testing.assert_allclose(to_host(got[name]), to_host(want), rtol=1e-12, err_msg=name)
    assert set(got) == set(collection.result())
