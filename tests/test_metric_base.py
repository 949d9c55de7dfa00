"""The base class and registry: Keras-style subclasses, variables, identifiers, merge and state-dict errors."""
import os
import subprocess
import sys

import numpy as np
import pytest

from cases import CASES
from conftest import REAL_GPU, to_host

import gpumetrics
from gpumetrics import Metric


class BinaryTruePositives(Metric):
    """The subclass from the Keras ``Metric`` docs, written against ``keras.ops`` as there."""

    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros", name="true_positives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        from keras import ops

        y_true = ops.cast(y_true, "bool")
        y_pred = ops.cast(y_pred, "bool")
        values = ops.logical_and(ops.equal(y_true, True), ops.equal(y_pred, True))
        values = ops.cast(values, self.dtype)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, self.dtype)
            sample_weight = ops.broadcast_to(sample_weight, ops.shape(values))
            values = ops.multiply(values, sample_weight)
        self.true_positives.assign(self.true_positives + ops.sum(values))

    def result(self):
        return self.true_positives


def test_keras_docs_subclass_works_unchanged():
    pytest.importorskip("keras")
    metric = BinaryTruePositives()
    metric.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[1, 1, 2, 3])
    assert float(metric.result()) == 5.0
    assert [v.name for v in metric.variables] == ["true_positives"]
    other = BinaryTruePositives()
    other.update_state([1], [1])
    metric.merge_state(other)
    assert float(metric.result()) == 6.0
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_add_weight_assign_add_and_merge_rules(device):
    class Extremes(Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.low = self.add_state("low", merge="min", initializer=np.inf)
            self.high = self.add_state("high", merge="max", initializer=-np.inf)
            self.seen = self.add_weight(name="seen")

        def update_state(self, values):
            xp = self.xp
            values = self._import(values, "values")
            self.low.assign(xp.minimum(self.low.value, values.min()))
            self.high.assign(xp.maximum(self.high.value, values.max()))
            self.seen.assign_add(values.size)

        def result(self):
            return self.high.value - self.low.value

    a, b = Extremes(device=device), Extremes(device=device)
    a.update_state([1.0, 5.0])
    b.update_state([-2.0, 3.0])
    a.merge_state([b])
    assert float(to_host(a.result())) == 7.0 and float(a.seen) == 4.0
    a.reset_state()
    assert float(a.low) == np.inf and float(a.seen) == 0.0


class OnesPlusCount(Metric):
    """A ``sum`` state that starts at 1 (a prior count): the single stream holds 1 + the samples seen."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.n = self.add_variable(shape=(2,), initializer="ones", name="n")

    def update_state(self, values):
        self.n.assign_add([len(self._import(values, "values")), 0])

    def result(self):
        return self.n.value


@pytest.mark.parametrize("fresh_part", ["placed", "unplaced", "none"])
def test_sum_merge_counts_a_non_zero_initial_value_once(device, fresh_part):
    whole = OnesPlusCount(device=device)
    whole.update_state([1, 2, 3, 4, 5])
    parts = [OnesPlusCount(device=device) for _ in range(3)]
    for part, values in zip(parts, ([1, 2], [3], [4, 5])):
        part.update_state(values)
    if fresh_part != "none":
        parts.append(OnesPlusCount(device=device if fresh_part == "placed" else "auto"))
    total = OnesPlusCount(device=device)
    total.merge_state(parts)
    np.testing.assert_array_equal(to_host(total.result()), to_host(whole.result()))
    parts[0].merge_state(parts[1:])
    np.testing.assert_array_equal(to_host(parts[0].result()), [6.0, 1.0])


def test_moments_merge_rule_combines_by_chan_et_al(device):
    """A ``merge="moments"`` state ``[W, mean_x, mean_y, M2x, M2y, Cxy, D]`` per column merges exactly."""
    class Spread(Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.stats = self.add_state("stats", (7, 2), merge="moments")

        def update_state(self, x, y):
            self._backend.moments(self._import(x, "x"), self._import(y, "y"), None, self.stats.writable())

        def result(self):
            return self.stats.value

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(30, 2)) + 1e6, rng.normal(size=(30, 2)) - 1e6
    a, b, c, whole = (Spread(device=device) for _ in range(4))
    a.update_state(x[:20], y[:20])
    b.update_state(x[20:], y[20:])
    whole.update_state(x, y)
    a.merge_state([b, c])  # c has seen nothing: a no-op
    mx, my = x.mean(0), y.mean(0)
    expected = [[30, 30], mx, my, ((x - mx) ** 2).sum(0), ((y - my) ** 2).sum(0), ((x - mx) * (y - my)).sum(0),
                ((x - y) ** 2).sum(0)]
    for got in (to_host(a.result()), to_host(whole.result())):
        for row, want in zip(got, expected):
            np.testing.assert_allclose(row, want, rtol=1e-10, atol=1e-10 * np.sqrt(expected[3] * expected[4]).max())
    a.reset_state()
    assert not to_host(a.result()).any()


def test_get_refuses_a_class_that_is_no_gpumetrics_metric():
    """``get(keras.metrics.AUC)`` handed back Keras's class (a callable), which Keras's own ``get`` would build."""
    class NotOurs:
        pass

    with pytest.raises(TypeError, match=r"get takes gpumetrics metric classes; got the class .*NotOurs \(pass its "
                                        r"name, e\.g\. get\('NotOurs'\)\)"):
        gpumetrics.get(NotOurs)
    assert type(gpumetrics.get(gpumetrics.AUC)) is gpumetrics.AUC


def test_get_accepts_every_kind_of_identifier():
    for identifier in ["mse", "MSE", "mean_squared_error", "MeanSquaredError",
                       {"class_name": "MeanSquaredError", "config": {"name": "m"}}, gpumetrics.MeanSquaredError]:
        assert type(gpumetrics.get(identifier)) is gpumetrics.MeanSquaredError
    assert type(gpumetrics.get("mae")) is gpumetrics.MeanAbsoluteError
    instance = gpumetrics.Mean()
    assert gpumetrics.get(instance) is instance and gpumetrics.get(None) is None
    with pytest.raises(ValueError, match="unknown metric identifier 'mean_sqared_eror'"):
        gpumetrics.get("mean_sqared_eror")


def test_default_names_and_config_match_keras():
    assert gpumetrics.MeanSquaredError().get_config() == {"name": "mean_squared_error", "dtype": "float32"}
    assert gpumetrics.RootMeanSquaredError(dtype="float64").get_config() == {
        "name": "root_mean_squared_error", "dtype": "float64"}
    wrapper = gpumetrics.MeanMetricWrapper(gpumetrics.mean_squared_error, name="w")
    assert gpumetrics.MeanMetricWrapper.from_config(wrapper.get_config())._fn is gpumetrics.mean_squared_error


def test_merge_refuses_other_types_and_configs():
    with pytest.raises(TypeError, match="cannot merge Mean into Sum"):
        gpumetrics.Sum().merge_state(gpumetrics.Mean())
    with pytest.raises(ValueError, match="different configurations"):
        gpumetrics.Mean(dtype="float64").merge_state(gpumetrics.Mean())


def test_merge_refuses_wrappers_of_two_closures_of_one_name():
    """Both configs read fn='...scaled.<locals>.fn', so a metric of 1 * error and one of 100 * error merged to
    25.25; copies and blanks keep their function object and still merge."""
    def scaled(factor):
        def fn(y_true, y_pred):
            return factor * (y_true - y_pred) ** 2
        return fn

    small, large = gpumetrics.MeanMetricWrapper(scaled(1.0)), gpumetrics.MeanMetricWrapper(scaled(100.0))
    for metric in (small, large):
        metric.update_state([[0.0], [1.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="two function objects named .*scaled.<locals>.fn"):
        small.merge_state(large)
    assert float(small.result()) == 0.5
    twin = small.blank()
    twin.merge_state([small, small.copy()])
    assert float(twin.result()) == 0.5


@pytest.mark.parametrize("given, seen", [(None, "NoneType"), ("auc", "str"), (3, "int"),
                                         (lambda: gpumetrics.MetricCollection([gpumetrics.AUC()]), "MetricCollection")])
def test_merge_names_an_argument_that_is_no_metric_nor_a_list_of_them(given, seen):
    """None was "'NoneType' object is not iterable"; a collection was iterated by its names ("cannot merge str")."""
    metric = gpumetrics.AUC()
    with pytest.raises(TypeError, match=f"AUC.merge_state takes a Metric or a list of them; got {seen}$"):
        metric.merge_state(given() if callable(given) else given)
    assert not metric.is_placed


def test_fresh_auto_metric_merges_onto_the_device_of_what_it_merges(device):
    part = gpumetrics.Mean(device=device)
    part.update_state([1.0, 3.0])
    total = gpumetrics.Mean()
    total.merge_state([part])
    assert total.device == device and float(to_host(total.result())) == 2.0


def test_load_state_dict_checks_everything_before_changing_anything():
    metric = gpumetrics.Mean(device="cpu")
    metric.update_state([1.0, 3.0])
    with pytest.raises(ValueError, match="needs shape"):
        metric.load_state_dict({"total": np.zeros(3), "count": np.zeros(())}, strict=False)
    with pytest.raises(ValueError, match="state dict has keys"):
        metric.load_state_dict({"total": np.zeros(())}, strict=False)
    assert float(metric.result()) == 2.0


@pytest.mark.parametrize("moments", [lambda m: m[0], lambda m: m[None]], ids=["rank-1", "rank-3"])
def test_an_unbuilt_metric_names_a_state_of_the_wrong_rank(moments):
    """It said "state dict has keys ['moments', 'num_samples']; r2_score needs ['num_samples'] (unknown
    ['moments'])": the wrong-rank array could not build the metric, and the message blamed the key."""
    built = gpumetrics.R2Score()
    built.update_state(np.ones((3, 2)), np.zeros((3, 2)))
    state = built.state_dict()
    fresh = gpumetrics.R2Score()
    with pytest.raises(ValueError, match=r"state 'moments' needs shape \(7, n\) \(n: sized by the data\); got"):
        fresh.load_state_dict({**state, "moments": moments(state["moments"])})
    assert not fresh.is_built and not fresh.is_placed


def test_results_stay_on_the_device_and_in_the_metric_dtype(device):
    metric = gpumetrics.MeanAbsoluteError(dtype="float64", device=device)
    metric.update_state([[1.0]], [[3.0]])
    result = metric.result()
    assert result.shape == () and result.dtype == np.float64
    assert type(result).__module__.split(".")[0] == ("cupy" if REAL_GPU and device == "cuda" else "numpy")


def test_float64_state_keeps_counts_past_float32():
    metric = gpumetrics.Sum(device="cpu")
    metric.update_state(np.ones(2 ** 24, dtype=np.float32))
    metric.update_state([1.0])
    assert float(metric.total) == 2 ** 24 + 1  # Keras's float32 state stops at 16777216


def run_fresh(code, **env):
    return subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_import_is_light_and_kernels_stay_private():
    done = run_fresh("import sys, time; t = time.perf_counter(); import gpumetrics; t = time.perf_counter() - t\n"
                     "import importlib.util as u\n"
                     "print(t, 'cupy' in sys.modules, 'numba.cuda' in sys.modules, u.find_spec('kernels') is None)")
    seconds, cupy, numba_cuda, no_top_level_kernels = done.stdout.split()
    assert float(seconds) < 1.0 and (cupy, numba_cuda, no_top_level_kernels) == ("False", "False", "True")


@pytest.mark.skipif(REAL_GPU, reason="a GPU is present")
def test_cuda_without_gpu_or_simulator_says_how_to_install():
    done = run_fresh("import gpumetrics; gpumetrics.Mean(device='cuda')", NUMBA_ENABLE_CUDASIM="0")
    assert "pip install 'gpumetrics[cuda12]'" in done.stderr and "NUMBA_ENABLE_CUDASIM=1" in done.stderr


@pytest.mark.parametrize("make,other,message", [
    (lambda: gpumetrics.AUC(num_thresholds=200), lambda: gpumetrics.AUC(num_thresholds=100), "different configurations"),
    (lambda: gpumetrics.MeanIoU(num_classes=3), lambda: gpumetrics.MeanIoU(num_classes=4), "different configurations"),
    (lambda: gpumetrics.Precision(thresholds=[0.5]), lambda: gpumetrics.Precision(thresholds=[0.4]),
     "different configurations"),
], ids=["AUC-thresholds", "MeanIoU-classes", "Precision-thresholds"])
def test_merging_other_configurations_is_refused_and_changes_nothing(make, other, message):
    mine, theirs = make(), other()
    for m in (mine, theirs):
        m.update_state([0, 1, 1, 0], [0, 1, 1, 1])
    before = mine.state_dict()
    with pytest.raises(ValueError, match=message):
        mine.merge_state(theirs)
    assert all(np.array_equal(before[k], v) for k, v in mine.state_dict().items())


def test_merging_states_of_other_shapes_is_refused():
    """Lazily built states: an R2Score that saw 2 outputs cannot take one that saw 3."""
    two, three = gpumetrics.R2Score(), gpumetrics.R2Score()
    two.update_state(np.ones((4, 2)), np.zeros((4, 2)))
    three.update_state(np.ones((4, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="shape"):
        two.merge_state(three)


def test_merging_metrics_on_other_devices_is_refused():
    on_cpu, on_gpu = gpumetrics.Mean(device="cpu"), gpumetrics.Mean(device="cuda")
    on_cpu.update_state([1.0])
    on_gpu.update_state([2.0])
    with pytest.raises(ValueError, match="cannot merge a metric on cuda into one on cpu"):
        on_cpu.merge_state(on_gpu)


@pytest.mark.parametrize("case", [c for c in CASES], ids=lambda c: c.id)
def test_a_pickled_metric_continues_the_stream(case, rng):
    """``pickle`` round trips every metric mid-stream, as Keras's metrics do: the copy's result after the rest of
    the stream is the single-stream result (the mean metrics keep their fused pass, which ``__setstate__``
    derives from ``fn``)."""
    import pickle

    layout = case.layouts[0]
    drawn = [case.batch(rng, layout, weighted=i == 1) for i in range(3)]
    whole, part = case.make("cpu"), case.make("cpu")
    for b in drawn:
        case.update(whole, b)
    case.update(part, drawn[0])
    copied = pickle.loads(pickle.dumps(part))
    assert copied._backend is part._backend  # a process's one backend of the kind, by name
    for b in drawn[1:]:
        case.update(copied, b)
    assert copied.get_config() == whole.get_config()
    np.testing.assert_array_equal(to_host(copied.result()), to_host(whole.result()))


def test_a_constant_initial_value_holds_no_host_array():
    """``MeanIoU(num_classes=2**16)`` (within the README's limit) declares a 32 GiB confusion matrix: building the
    metric filled a host copy of its zeros (``MemoryError``), and placing or resetting it copied that host array to
    the device. A constant initial value is one broadcast element; only the placed state takes memory."""
    import tracemalloc

    tracemalloc.start()
    try:
        metric = gpumetrics.MeanIoU(num_classes=2**16)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**26 and metric.variables[0].shape == (2**16, 2**16)


def test_a_callable_initial_value_places_resets_and_merges(device):
    """An initializer ``f(shape, dtype)`` (not one constant) still starts, resets and merges every state from its
    array, element by element."""

    class Ramp(Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.n = self.add_variable(shape=(3,), initializer=lambda shape, dtype: np.arange(3.0), name="n")

        def update_state(self, values):
            self.n.assign_add(self.xp.full(3, float(len(values))))

        def result(self):
            return self.n.value

    a, b = Ramp(device=device), Ramp(device=device)
    a.update_state([1, 2])
    b.update_state([3])
    np.testing.assert_array_equal(to_host(a.result()), [2.0, 3.0, 4.0])
    a.merge_state([b])
    np.testing.assert_array_equal(to_host(a.result()), [3.0, 4.0, 5.0])
    a.reset_state()
    np.testing.assert_array_equal(to_host(a.result()), [0.0, 1.0, 2.0])


def test_copies_and_checks_of_a_constant_initial_value_hold_no_host_array():
    """``blank()`` (what Dask ships), ``copy()``, ``pickle`` and ``deepcopy`` copied a constant initial value's
    broadcast view as a full host array (32 GiB for ``MeanIoU(num_classes=2**16)``), and ``merge_state`` /
    ``load_state_dict`` of an unplaced metric read its shape from such a copy. Here 128 MiB of zeros stay one
    element through all of them."""
    import copy
    import pickle
    import tracemalloc

    metric = gpumetrics.MeanIoU(num_classes=2**12)
    state = gpumetrics.MeanIoU(num_classes=2**12, device="cpu").state_dict()  # the one 128 MiB array, placed
    tracemalloc.start()
    try:
        blank, copied = metric.blank(), copy.deepcopy(metric)
        pickled = pickle.loads(pickle.dumps(metric))
        peak_copies = tracemalloc.get_traced_memory()[1]
        blank.merge_state([copied, pickled])  # places blank: its state, and no copy of an initial value beside it
        peak_merge = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_copies < 2**25 and peak_merge < 2**27 + 2**25
    assert blank.variables[0].shape == pickled.variables[0].shape == (2**12, 2**12)
    tracemalloc.start()
    try:
        metric.load_state_dict(state)  # allocates the state once, and no copy of the initial value beside it
        peak_load = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak_load < 2**27 + 2**25
    del state, metric, blank
    placed = gpumetrics.MeanIoU(num_classes=2**3)
    placed.update_state([0, 1], [1, 1])
    again = pickle.loads(pickle.dumps(placed))
    again.update_state([2], [2])
    again.reset_state()
    assert float(again.result()) == 0.0 and again.variables[0].initial.shape == (8, 8)


def test_an_array_initializer_places_resets_and_merges(device):
    """Keras takes an array as a variable's initial value; a ``sum`` merge takes it out of each part once. Since
    constant initial values became one broadcast element, ``merge_state`` raised NumPy's "truth value of an array
    is ambiguous" for such a state."""

    class Offset(Metric):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.n = self.add_variable(shape=(3,), initializer=np.array([1.0, 2.0, 3.0]), name="n")

        def update_state(self, values):
            self.n.assign_add(self.xp.full(3, float(len(values))))

        def result(self):
            return self.n.value

    a, b = Offset(device=device), Offset(device=device)
    a.update_state([1, 2])
    b.update_state([3])
    a.merge_state([b])
    np.testing.assert_array_equal(to_host(a.result()), [4.0, 5.0, 6.0])
    a.reset_state()
    np.testing.assert_array_equal(to_host(a.result()), [1.0, 2.0, 3.0])
