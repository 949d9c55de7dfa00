"""``MetricCollection`` against its members run alone (the oracle): every row of ``cases.py``, mixed collections,
launches per update, merges, state dicts, configs, sync, Dask, and bad input that changes no member."""
import copy
import io
import math

import numpy as np
import pytest

from cases import CASES
from conftest import on_device, to_host

import gpumetrics
from gpumetrics import MetricCollection
from gpumetrics.backends.base import PRIMITIVES

PAIRED = [c for c in CASES if not c.takes_values]
SHARED_ROWS = [c for c in PAIRED if c.classification and "binary_column" in c.layouts]


def host_states(metric):
    return {k: v for k, v in metric.state_dict().items() if not k.startswith("__")}


def batches(case, rng, layout, device, count=3, whole=False):
    drawn = [case.batch(rng, layout, True) for _ in range(count)]
    for b in drawn:
        if whole:
            b["sample_weight"] = b["sample_weight"].round() + 1
    return [{k: on_device(v, device) for k, v in b.items()} for b in drawn]


def assert_states(collected, alone, bitwise):
    for name, value in host_states(alone).items():
        got = host_states(collected)[name]
        if bitwise:
            np.testing.assert_array_equal(got, value, err_msg=name)
        else:
            np.testing.assert_allclose(got, value, rtol=1e-12, atol=1e-300, err_msg=name)


@pytest.mark.parametrize("case", PAIRED, ids=lambda c: c.id)
def test_a_collection_of_one_row_is_that_metric_bit_for_bit(case, device, rng):
    """A member alone in its pass adds exactly what its own update adds: states and results bitwise. On CUDA
    with whole-number weights: there the kernel adds fractional weights in its atomics' order, which differs
    from run to run even for the metric alone."""
    alone, member = case.make(device), case.make(device)
    collection = MetricCollection({"m": member})
    for b in batches(case, rng, case.layouts[-1], device, whole=device == "cuda"):
        case.update(alone, b)
        collection.update_state(b["y_true"], b["y_pred"], b.get("sample_weight"))
        assert_states(member, alone, bitwise=True)
        np.testing.assert_array_equal(to_host(collection.result()["m"]), to_host(alone.result()))


@pytest.mark.parametrize("whole", [True, False], ids=["whole-weights", "fractional-weights"])
def test_a_mixed_collection_of_every_threshold_row_equals_its_rows_alone(whole, device, rng):
    """Every classification row that takes ``(N, 1)`` batches (threshold family, IoU, accuracies, F-scores), in one
    collection: the threshold members share histograms over the union of their thresholds. Whole-number weights:
    bitwise; fractional: within float64 rounding (a wider union's buckets are summed in another order)."""
    made = {f"m{i}": case.make(device) for i, case in enumerate(SHARED_ROWS)}
    alone = {name: SHARED_ROWS[i].make(device) for i, name in enumerate(made)}
    collection = MetricCollection(made)
    assert len(collection.passes()) < len(made)
    for b in batches(SHARED_ROWS[0], rng, "binary_column", device, whole=whole):
        collection.update_state(b["y_true"], b["y_pred"], b["sample_weight"])
        for name, metric in alone.items():
            metric.update_state(b["y_true"], b["y_pred"], sample_weight=b["sample_weight"])
    for name, metric in alone.items():
        assert_states(made[name], metric, bitwise=whole)
        expected, got = to_host(metric.result()), to_host(collection.result()[name])
        if whole:
            np.testing.assert_array_equal(got, expected, err_msg=name)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=name)


def five(device="auto"):
    return [gpumetrics.AUC(device=device), gpumetrics.Precision(device=device), gpumetrics.Recall(device=device),
            gpumetrics.F1Score(threshold=0.5, device=device), gpumetrics.BinaryAccuracy(device=device)]


@pytest.fixture
def launches(monkeypatch):
    """Counts the backend's kernel members called (a spy on every backend class)."""
    from gpumetrics import backends

    counted = []
    for backend in (backends.resolve("cpu"), backends.resolve("cuda")):
        for name in ("sums", "threshold_histogram", "weighted_bincount", "moments"):
            assert name in PRIMITIVES
            original = getattr(backend, name)

            def spy(*args, _original=original, _name=name, **kwargs):
                counted.append(_name)
                return _original(*args, **kwargs)

            monkeypatch.setattr(backend, name, spy)
    return counted


@pytest.mark.parametrize("metrics,expected", [
    (lambda d: five(d)[:4], ["threshold_histogram"]),
    (five, ["threshold_histogram"]),  # BinaryAccuracy rides the histogram (its third plane: labels not 0 or 1)
    (lambda d: [gpumetrics.BinaryAccuracy(device=d), gpumetrics.MeanSquaredError(device=d)], ["sums", "sums"]),
    (lambda d: [gpumetrics.AUC(multi_label=True, device=d), gpumetrics.BinaryAccuracy(device=d)],
     ["threshold_histogram", "sums"]),  # no threshold metric of BinaryAccuracy's layout to lead it
    (lambda d: [gpumetrics.Precision(thresholds=0.3, device=d), gpumetrics.BinaryAccuracy(threshold=1.5, device=d)],
     ["threshold_histogram", "sums"]),  # another key: 1.5 is compared as is, 0.3 shares the clipped pass
    (lambda d: [gpumetrics.MeanIoU(3, device=d), gpumetrics.IoU(3, [0, 2], device=d),
                gpumetrics.MeanIoU(3, name="m2", device=d)], ["weighted_bincount"]),
    (lambda d: [gpumetrics.AUC(device=d), gpumetrics.AUC(from_logits=True, name="l", device=d)],
     ["threshold_histogram"] * 2),
], ids=["four-threshold", "five-binary", "accuracy-alone", "no-leader-of-its-layout", "keys-differ", "iou",
        "transforms-differ"])
def test_launches_per_update(metrics, expected, launches, device, rng):
    collection = MetricCollection(metrics(device))
    classes = 3 if "iou" in str(collection.passes()) else 2
    y_true = on_device(rng.integers(0, classes, size=(64, 1)), device)
    y_pred = on_device(rng.integers(0, classes, size=(64, 1)).astype(np.float32) / max(classes - 1, 1), device)
    collection.update_state(y_true, y_pred, on_device(rng.uniform(size=64), device))
    assert sorted(launches) == sorted(expected)


def test_soft_labels_keep_binary_accuracy_exact(rng):
    """Labels outside {0, 1} count as positives in the histogram but never match in BinaryAccuracy (Keras)."""
    y_true, y_pred = np.array([[2.0], [0.3], [1.0], [0.0]]), np.array([[0.9], [0.8], [0.7], [0.1]])
    collection = MetricCollection(five())
    collection.update_state(y_true, y_pred)
    assert float(collection.result()["binary_accuracy"]) == 0.5
    assert float(collection.result()["precision"]) == 1.0


ODD_LABELS = np.array([0.0, 1.0, 2.0, 0.3, np.nan, -1.0, 1.0, 0.0, 1.0, 0.0])


@pytest.mark.parametrize("shape, weight_shape, whole", [
    ((64, 1), (64,), True), ((64,), (64,), True), ((64, 1), None, True), ((64, 1), (64,), False),
    ((64, 3), (64,), False), ((64, 3), (64, 3), False), ((64, 3), None, False), ((8, 4, 2), (8, 4, 1), False),
], ids=["column-whole", "flat-whole", "column-unweighted", "column-fractional", "rows-per-sample-weights",
        "rows-per-element-weights", "rows-unweighted", "rank-3"])
@pytest.mark.parametrize("threshold", [0.5, 0.3, 1.5])
def test_binary_accuracy_riding_the_histogram_equals_it_alone(shape, weight_shape, whole, threshold, device, rng):
    """BinaryAccuracy (any threshold: 0.3 is compared in float32, as Keras) beside Precision at its threshold, over
    several batches of labels in {0, 1} and outside it (2, 0.3, NaN, -1: never a match): its states bitwise where
    they are sums of whole numbers (one element per sample, whole weights), else within float64 rounding."""
    precision = 0.3 if threshold == 0.3 else min(threshold, 0.9)
    member = gpumetrics.BinaryAccuracy(threshold=threshold, device=device)
    alone = gpumetrics.BinaryAccuracy(threshold=threshold, device=device)
    collection = MetricCollection([gpumetrics.Precision(thresholds=precision, device=device), member])
    if threshold <= 1:
        assert collection.passes() == [["precision", "binary_accuracy"]]
    for _ in range(3):
        y_true = rng.choice(ODD_LABELS, size=shape)
        y_pred = np.where(rng.random(shape) < 0.1, np.nan, rng.random(shape) * 1.4 - 0.2).astype(np.float32)
        weight = None if weight_shape is None else rng.integers(0, 4, weight_shape).astype(float)
        if weight is not None and not whole:
            weight = weight + rng.random(weight_shape)
        y_true, y_pred, weight = (on_device(a, device) for a in (y_true, y_pred, weight))
        collection.update_state(y_true, y_pred, weight)
        alone.update_state(y_true, y_pred, sample_weight=weight)
    assert_states(member, alone, bitwise=whole and math.prod(shape[1:]) == 1)
    np.testing.assert_allclose(to_host(member.result()), to_host(alone.result()), rtol=1e-6)


def test_merge_of_split_streams_equals_one_stream(device, rng):
    case = SHARED_ROWS[0]
    drawn = batches(case, rng, "binary_column", device, count=6, whole=True)
    single, parts = MetricCollection(five(device)), [MetricCollection(five(device)) for _ in range(3)]
    for i, b in enumerate(drawn):
        single.update_state(b["y_true"], b["y_pred"], b["sample_weight"])
        parts[i % 3].update_state(b["y_true"], b["y_pred"], b["sample_weight"])
    parts[0].merge_state(parts[1:])
    for name in single:
        assert_states(parts[0][name], single[name], bitwise=True)
    with pytest.raises(ValueError, match="other members"):
        parts[0].merge_state(MetricCollection(five(device)[:4]))


def test_state_dict_and_config_round_trips(device, rng):
    collection = MetricCollection({"a": gpumetrics.AUC(num_thresholds=50, device=device),
                                   "p": gpumetrics.Precision(0.3, device=device),
                                   "iou": gpumetrics.BinaryIoU(device=device),
                                   "mse": gpumetrics.MeanSquaredError(device=device)})
    for b in batches(SHARED_ROWS[0], rng, "binary_column", device, count=2):
        collection.update_state(b["y_true"], b["y_pred"], b["sample_weight"])
    buffer = io.BytesIO()
    np.savez(buffer, **collection.state_dict())
    buffer.seek(0)
    clone = MetricCollection.from_config(collection.get_config())
    assert clone.get_config() == collection.get_config() and list(clone) == ["a", "p", "iou", "mse"]
    clone.load_state_dict(np.load(buffer))
    for name in collection:
        np.testing.assert_array_equal(to_host(clone.result()[name]), to_host(collection.result()[name]))
    state = collection.state_dict()
    state["p/true_positives"] = state.pop("p/positive_histogram")
    before = host_states(clone["a"])
    with pytest.raises(ValueError, match="needs"):
        clone.load_state_dict(state)
    np.testing.assert_array_equal(host_states(clone["a"])["positive_histogram"], before["positive_histogram"])


def test_a_state_dict_of_an_unbuilt_lazy_member_round_trips(device, rng):
    """F1Score learns its state's shape from its first batch: before one, its part of the state dict holds stamps
    only, which is complete; a built member's part without states is refused."""
    def make():
        return MetricCollection({"f1": gpumetrics.F1Score(device=device),
                                 "mse": gpumetrics.MeanSquaredError(device=device)})
    collection, clone = make(), make()
    collection["mse"].update_state(on_device(rng.random(8), device), on_device(rng.random(8), device))
    clone.load_state_dict(collection.state_dict())
    np.testing.assert_array_equal(to_host(clone.result()["mse"]), to_host(collection.result()["mse"]))
    stamps_only = {k: v for k, v in collection.state_dict().items() if not k.startswith("mse/") or "__" in k}
    with pytest.raises(ValueError, match=r"holds no states for \[.*'mse'\]"):
        clone.load_state_dict(stamps_only)


REFUSING = {"on": False}


def refuse_when_told(y_true, y_pred):
    """A user's per-sample function that refuses every batch once ``REFUSING["on"]``."""
    if REFUSING["on"]:
        raise ValueError("refused on purpose")
    return np.abs(y_true - y_pred)


def test_bad_input_changes_no_member(device, rng, monkeypatch):
    collection = MetricCollection(five(device) + [gpumetrics.MeanMetricWrapper(refuse_when_told, name="refuser",
                                                                               device=device)])
    b = batches(SHARED_ROWS[0], rng, "binary_column", device, count=1)[0]
    collection.update_state(b["y_true"], b["y_pred"], b["sample_weight"])  # every member holds a state
    monkeypatch.setitem(REFUSING, "on", True)
    before = {name: host_states(m) for name, m in collection.metrics.items()}
    with pytest.raises(ValueError, match="refused on purpose"):  # its own pass, after the shared checks
        collection.update_state(b["y_true"], b["y_pred"], b["sample_weight"])
    with pytest.raises(ValueError, match="sample_weight"):  # a shared pass's check
        collection.update_state(b["y_true"], b["y_pred"], on_device(np.ones(5), device))
    for name, metric in collection.metrics.items():
        for key, value in host_states(metric).items():
            np.testing.assert_array_equal(value, before[name][key], err_msg=f"{name}/{key}")


class LazyHits(gpumetrics.Metric):
    """A user's subclass in Keras's style: its state is made at its first batch (Keras's own F1Score builds so), and
    it counts its batches in an attribute."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hits, self.batches = None, 0

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.hits is None:
            self.hits = self.add_variable(shape=(), name="hits")
        self.hits.assign_add((self.asarray(y_pred, "y_pred") > 0.5).sum())
        self.batches += 1

    def result(self):
        return self.xp.asarray(0.0 if self.hits is None else self.hits.value / self.batches)


def test_a_users_member_written_before_another_refuses_is_put_back(device):
    """The user's metric (placed: device given) took the batch, then MeanSquaredError refused its shapes: the
    refused update left the user's new state holding the batch's 4 hits (and a batch counted), since a member
    placed and built was not snapshotted, though a user's update_state may add states and set attributes."""
    collection = MetricCollection({"hits": LazyHits(device=device),
                                   "mse": gpumetrics.MeanSquaredError(device=device)})
    y_true, y_pred = on_device(np.zeros(3), device), on_device(np.array([0.9, 0.8, 0.7, 0.6]), device)
    with pytest.raises(ValueError, match="broadcast"):
        collection.update_state(y_true, y_pred)
    assert collection["hits"].hits is None and collection["hits"].batches == 0
    assert collection["hits"].variables == [] and float(to_host(collection.result()["hits"])) == 0.0
    collection.update_state(on_device(np.zeros(2), device), on_device(np.array([0.9, 0.1]), device))
    with pytest.raises(ValueError, match="broadcast"):  # now placed and built by its first batch
        collection.update_state(y_true, y_pred)
    assert collection["hits"].batches == 1 and float(to_host(collection.result()["hits"])) == 1.0


def test_unplaced_members_stay_unplaced_when_refused():
    collection = MetricCollection([gpumetrics.F1Score(threshold=0.5), gpumetrics.AUC(multi_label=True)])
    with pytest.raises(ValueError):
        collection.update_state(np.zeros(4), np.zeros(4))
    assert not any(m.is_placed or m.is_built for m in collection.metrics.values())


def test_sync_is_one_collective_for_the_collection(device, rng):
    from gpumetrics.distributed import Engine, sync

    class TwoRanks(Engine):
        world, calls = 2, []

        def allgather(self, buffer):
            self.calls.append(buffer.size)
            return buffer.reshape(1, -1).repeat(2, axis=0)

    collection = MetricCollection(five(device))
    b = batches(SHARED_ROWS[0], rng, "binary_column", device, count=1, whole=True)[0]
    collection.update_state(b["y_true"], b["y_pred"], b["sample_weight"])
    engine = TwoRanks()
    synced = sync(collection, engine)
    sync(collection, engine)
    assert isinstance(synced, MetricCollection) and len(engine.calls) == 3  # header check once, then one each
    for name in collection:
        np.testing.assert_array_equal(host_states(synced[name])["total" if name == "binary_accuracy" else
                                                                "positive_histogram"],
                                      2 * host_states(collection[name])["total" if name == "binary_accuracy" else
                                                                        "positive_histogram"])


def test_dask_evaluate_takes_a_collection(rng):
    da = pytest.importorskip("dask.array")
    y_true, y_pred = rng.integers(0, 2, size=(200, 1)), rng.uniform(size=(200, 1))
    weight = rng.uniform(size=200).round(1)
    got = gpumetrics.dask.evaluate(MetricCollection(five()), da.from_array(y_true, chunks=70),
                                   da.from_array(y_pred, chunks=70), da.from_array(weight, chunks=70))
    alone = MetricCollection(five())
    alone.update_state(y_true, y_pred, weight)
    assert isinstance(got, MetricCollection)
    for name in alone:
        np.testing.assert_allclose(to_host(got.result()[name]), to_host(alone.result()[name]), rtol=1e-6)


def test_names_and_devices_are_checked():
    with pytest.raises(ValueError, match="named 'auc'"):
        MetricCollection([gpumetrics.AUC(), gpumetrics.AUC()])
    with pytest.raises(ValueError, match="share a device"):
        MetricCollection([gpumetrics.AUC(device="cpu"), gpumetrics.Precision(device="cuda")])
    with pytest.raises(TypeError, match="gpumetrics Metric"):
        MetricCollection({"x": object()})
    with pytest.raises(TypeError, match=r"holds a MetricCollection \(\['auc'\]\): collections do not nest"):
        MetricCollection([MetricCollection([gpumetrics.AUC()])])


@pytest.mark.parametrize("updated", [False, True])
def test_entries_that_share_states_are_refused(updated):
    """A shallow copy shares its original's states (as in Keras): two such entries counted each batch twice
    (TruePositives read 4 for 2)."""
    metric = gpumetrics.TruePositives()
    if updated:
        metric.update_state([1, 1], [0.9, 0.8])
    with pytest.raises(ValueError, match="a metric appears twice"):
        MetricCollection({"a": metric, "b": metric})
    with pytest.raises(ValueError, match=r"metrics 'a' and 'b' share their states \(a shallow copy"):
        MetricCollection({"a": metric, "b": copy.copy(metric)})
    collection = MetricCollection({"a": metric, "b": metric.copy()})
    collection.update_state([1, 1, 0], [0.9, 0.8, 0.7])
    assert {k: float(v) for k, v in collection.result().items()} == {"a": 2.0 * (1 + updated), "b": 2.0 * (1 + updated)}


@pytest.mark.parametrize("make", [gpumetrics.Mean, gpumetrics.Sum])
def test_members_that_take_plain_values_are_refused_at_construction(make):
    """Mean / Sum take update_state(values, ...): every update of the collection raised a raw TypeError ("got
    multiple values for argument 'sample_weight'"); now the collection is refused when it is built."""
    with pytest.raises(TypeError, match=rf"'{make().name}' \({make.__name__}\) takes update_state\(values, "):
        MetricCollection([make(), gpumetrics.AUC()])


@pytest.mark.parametrize("given, seen", [(lambda: gpumetrics.Recall(), "Recall"), (lambda: None, "NoneType")])
def test_merge_names_an_argument_that_is_no_collection_nor_a_list_of_them(given, seen):
    collection = MetricCollection([gpumetrics.Recall()])
    with pytest.raises(TypeError, match=f"MetricCollection.merge_state takes a MetricCollection or a list of them; "
                                        f"got {seen}$"):
        collection.merge_state(given())


@pytest.mark.parametrize("labels", [1, 3], ids=["one-label", "three-labels"])
def test_multi_label_and_flat_members_equal_their_metrics_alone(labels, launches, device, rng):
    """F1Score (``(N, L)`` batches) beside AUC / Precision / Recall (``(N * L, 1)``): one launch when ``L = 1``,
    one per layout otherwise; results as alone (whole weights: bitwise), multi-label AUC and IoU included."""
    def make():
        return five(device)[:4] + [gpumetrics.AUC(multi_label=True, name="ml", num_thresholds=7, device=device),
                                   gpumetrics.FBetaScore(beta=2.0, threshold=0.3, average="macro", device=device)]

    collection, alone = MetricCollection(make()), make()
    for _ in range(3):
        y_true = on_device(rng.integers(0, 2, size=(40, labels)), device)
        y_pred = on_device(rng.uniform(size=(40, labels)).astype(np.float32), device)
        weight = on_device(rng.integers(0, 3, size=40).astype(np.float64), device)
        launches.clear()
        collection.update_state(y_true, y_pred, weight)
        assert launches == ["threshold_histogram"] * (1 if labels == 1 else 2)
        for metric in alone:
            metric.update_state(y_true, y_pred, sample_weight=weight)
    for metric in alone:
        assert_states(collection[metric.name], metric, bitwise=True)
        np.testing.assert_array_equal(to_host(collection.result()[metric.name]), to_host(metric.result()))


def test_members_at_the_union_get_its_bits_on_the_cpu(rng):
    """Shared, fractional weights: each member at the union's thresholds adds the batch histogram itself, as the CPU
    twin adds it into a state alone (on CUDA the kernel's atomics add in their own order)."""
    def make():
        return [gpumetrics.Precision(device="cpu"), gpumetrics.Recall(device="cpu"),
                gpumetrics.TruePositives(device="cpu"), gpumetrics.F1Score(threshold=0.5, device="cpu")]

    collection, alone = MetricCollection(make()), make()
    assert len(collection.passes()) == 1
    for _ in range(3):
        y_true, y_pred = rng.integers(0, 2, size=(4000, 1)), rng.uniform(size=(4000, 1)).astype(np.float32)
        weight = rng.uniform(0, 2, size=4000)
        collection.update_state(y_true, y_pred, weight)
        for metric in alone:
            metric.update_state(y_true, y_pred, sample_weight=weight)
    for metric in alone:
        assert_states(collection[metric.name], metric, bitwise=True)


def test_iou_members_of_one_matrix_equal_their_metrics_alone(device, rng):
    def make():
        return [gpumetrics.MeanIoU(4, device=device), gpumetrics.IoU(4, [1, 3], device=device),
                gpumetrics.MeanIoU(4, ignore_class=0, name="ignoring", device=device)]

    collection, alone = MetricCollection(make()), make()
    assert collection.passes() == [["mean_io_u", "io_u"], ["ignoring"]]
    for _ in range(3):
        y_true, y_pred = (on_device(rng.integers(0, 4, size=30), device) for _ in range(2))
        weight = rng.uniform(0, 2, size=30)  # fractional: the CPU twin adds a batch's matrix into the state
        weight = on_device(weight.round() if device == "cuda" else weight, device)
        collection.update_state(y_true, y_pred, weight)
        for metric in alone:
            metric.update_state(y_true, y_pred, sample_weight=weight)
    for metric in alone:
        assert_states(collection[metric.name], metric, bitwise=True)


class ShiftedPrecision(gpumetrics.Precision):
    """A user's subclass whose update differs: it inherits ``pass_spec`` but must not share the family's pass."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        super().update_state(y_true, np.asarray(y_pred) + 0.25, sample_weight)


class HalvedPrecision(gpumetrics.Precision):
    """A user's subclass that changes a step of the update, not ``update_state`` itself."""

    def _histogram_inputs(self, *args, **kwargs):
        y_true, y_pred, *rest = super()._histogram_inputs(*args, **kwargs)
        return (y_true, y_pred * 0.5, *rest)


class ImportingPrecision(gpumetrics.Precision):
    """A user's subclass that changes how inputs are read (``Metric._import``, of the base class)."""

    def _import(self, x, name):
        return super()._import(np.asarray(x) + 0.25 if name == "y_pred" else x, name)


class RenamedPrecision(gpumetrics.Precision):
    """A user's subclass that changes nothing of the update: it shares the pass."""

    def __init__(self, **kwargs):
        super().__init__(name="renamed", **kwargs)

    def result(self):
        return super().result() * 1.0


@pytest.mark.parametrize("cls", [ShiftedPrecision, HalvedPrecision, ImportingPrecision])
def test_a_subclass_that_changes_the_update_runs_its_own_pass(cls):
    """Overriding a step of the update (``_histogram_inputs``) shared the pass, led it, and gave the plain
    ``Precision`` 0.0 where alone it reads 0.22."""
    collection = MetricCollection([cls(name="shifted"), gpumetrics.Precision(), RenamedPrecision()])
    assert collection.passes() == [["precision", "renamed"], ["shifted"]]
    alone, plain = cls(), gpumetrics.Precision()
    y_true, y_pred = np.array([[1], [0], [1], [0]]), np.array([[0.4], [0.3], [0.9], [0.1]])
    collection.update_state(y_true, y_pred)
    alone.update_state(y_true, y_pred)
    plain.update_state(y_true, y_pred)
    assert float(collection.result()["shifted"]) == float(alone.result()) != float(collection.result()["precision"])
    assert float(collection.result()["precision"]) == float(collection.result()["renamed"]) == float(plain.result())


@pytest.mark.parametrize("with_more", [False, True], ids=["union-as-long-as-a-member", "wider-union"])
def test_repeated_and_interleaved_thresholds(with_more, device, rng):
    """Repeated thresholds (empty buckets) and members whose thresholds interleave: as the metrics alone."""
    def make():
        pair = [gpumetrics.Precision(thresholds=[0.5, 0.5], device=device),
                gpumetrics.Recall(thresholds=[0.3, 0.5], device=device)]
        return pair + ([gpumetrics.TruePositives(thresholds=[0.0, 0.3, 0.7, 0.95], device=device),
                        gpumetrics.FalsePositives(thresholds=[0.3, 1.0], device=device)] if with_more else [])

    collection, alone = MetricCollection(make()), make()
    # at t = 1 Keras's unclipped path counts p = 1.5 above, the clipped one does not: its own pass
    assert collection.passes() == ([["precision", "recall", "true_positives"], ["false_positives"]] if with_more
                                   else [["precision", "recall"]])
    for _ in range(3):
        y_true = on_device(rng.integers(0, 2, size=(50, 1)), device)
        y_pred = on_device(rng.choice([0.0, 0.3, 0.5, 0.7, 1.0, 0.2, 0.9, 1.5, -1.0], size=(50, 1)), device)
        weight = on_device(rng.integers(0, 4, size=50).astype(np.float64), device)
        collection.update_state(y_true, y_pred, weight)
        for metric in alone:
            metric.update_state(y_true, y_pred, sample_weight=weight)
    for metric in alone:
        assert_states(collection[metric.name], metric, bitwise=True)


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_a_collection_that_ran_a_shared_pass_deep_copies_and_pickles(how, rng):
    """A shared pass caches its thresholds per array module: ``copy.deepcopy`` and ``pickle`` of a collection
    that ran one copy that cache too, and the copy continues the stream as the collection does."""
    import copy
    import pickle

    def make():
        return MetricCollection([gpumetrics.AUC(num_thresholds=7), gpumetrics.Precision(thresholds=[0.3, 0.5]),
                                 gpumetrics.Recall(), gpumetrics.MeanIoU(2), gpumetrics.IoU(2, [1])])

    drawn = [(rng.integers(0, 2, size=(30, 1)), rng.random((30, 1))) for _ in range(3)]
    whole, part = make(), make()
    for y_true, y_pred in drawn:
        whole.update_state(y_true, y_pred)
    part.update_state(*drawn[0])
    copied = copy.deepcopy(part) if how == "deepcopy" else pickle.loads(pickle.dumps(part))
    for y_true, y_pred in drawn[1:]:
        copied.update_state(y_true, y_pred)
    assert copied.passes() == whole.passes()
    for name, value in whole.result().items():
        np.testing.assert_array_equal(to_host(copied.result()[name]), to_host(value), err_msg=name)
