"""The completeness guard: every public ``keras.metrics`` name has a twin here, every registered metric has a row in
``cases.py`` (so it runs against an oracle on every backend), and every backend implements every primitive with a
kernel twin on each side."""
import inspect
import pathlib

import pytest

from cases import CASES

import gpumetrics
from gpumetrics.backends import base
from gpumetrics.backends.cuda_backend import CudaBackend
from gpumetrics.backends.numpy_backend import NumpyBackend
from gpumetrics.registry import registered

KERNELS = pathlib.Path(gpumetrics.__file__).parent.parent / "kernels"
#: the kernel rooms and launchers behind each member of the interface that runs a kernel (the rest move arrays)
KERNEL_TWINS = {"sums": [("error_sums", "error_sums"), ("row_sums", "row_sums")],
                "threshold_histogram": [("threshold_histogram", "threshold_histogram")],
                "weighted_bincount": [("weighted_bincount", "weighted_bincount")],
                "moments": [("moments", "moments")], "merge_moments": [("moments", "merge_moments")]}
KERNEL_PRIMITIVES = [p for p in base.PRIMITIVES if p not in ("asarray", "needs_copy", "to_host")]


def test_every_public_keras_metric_name_has_a_twin():
    keras = pytest.importorskip("keras", reason="the list of Keras's public metric names needs keras")
    public = {name for name in dir(keras.metrics) if not name.startswith("_")}
    missing = sorted(name for name in public if not hasattr(gpumetrics, name))
    assert not missing, f"keras.metrics names without a gpumetrics twin: {missing}"


def test_every_keras_metric_class_is_registered():
    keras = pytest.importorskip("keras", reason="the list of Keras's public metric names needs keras")
    classes = {name for name in dir(keras.metrics)
               if inspect.isclass(getattr(keras.metrics, name)) and name != "Metric"}
    assert not sorted(classes - set(registered())), "Keras metric classes missing from gpumetrics.get()"


def test_every_registered_metric_has_a_row_in_cases():
    tested = {type(case.make("cpu")).__name__ for case in CASES}
    missing = sorted(set(registered()) - tested)
    assert not missing, f"registered metrics with no row in tests/cases.py: {missing}"


@pytest.mark.parametrize("backend", [NumpyBackend, CudaBackend], ids=["numpy", "cuda"])
def test_every_backend_implements_every_primitive(backend):
    assert not inspect.isabstract(backend), f"{backend.__name__} lacks {sorted(backend.__abstractmethods__)}"
    for primitive in base.PRIMITIVES:
        assert callable(getattr(backend, primitive, None)), f"{backend.__name__} has no {primitive}"
    abstract = {name for name, member in vars(base.Backend).items() if getattr(member, "__isabstractmethod__", 0)}
    assert abstract <= set(base.PRIMITIVES), f"abstract methods not listed in PRIMITIVES: {abstract - set(base.PRIMITIVES)}"


@pytest.mark.parametrize("primitive", KERNEL_PRIMITIVES)
def test_every_kernel_primitive_has_a_cpu_and_a_cuda_twin_with_tests(primitive):
    for room, launcher in KERNEL_TWINS[primitive]:
        assert (KERNELS / room / "rules.py").exists(), f"no rules.py in the room of {room}"
        for side in ("cpu", "cuda"):
            source = KERNELS / room / f"{side}.py"
            assert source.exists(), f"no {side} twin of {room} ({source})"
            assert f"def {launcher}(" in source.read_text(), f"{source} does not define the launcher {launcher}()"
        tests = pathlib.Path(__file__).parent
        assert (tests / f"test_{room}_kernel.py").exists(), f"no kernel tests for {room}"


def test_the_backend_interface_is_eight_members():
    assert len(base.PRIMITIVES) <= 8 and len(set(base.PRIMITIVES)) == len(base.PRIMITIVES), base.PRIMITIVES
    public = {name for name, member in vars(base.Backend).items() if callable(member) and not name.startswith("_")}
    assert public == set(base.PRIMITIVES), f"Backend methods outside PRIMITIVES: {public ^ set(base.PRIMITIVES)}"
