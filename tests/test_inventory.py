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
#: primitives that are kernels (the rest move or allocate arrays)
KERNEL_PRIMITIVES = [p for p in base.PRIMITIVES if p not in ("asarray", "needs_copy", "owns", "zeros", "to_host")]


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
    assert (KERNELS / primitive / "rules.py").exists(), f"no rules.py in the room of {primitive}"
    for side in ("cpu", "cuda"):
        source = KERNELS / primitive / f"{side}.py"
        assert source.exists(), f"no {side} twin of {primitive} ({source})"
        assert f"def {primitive}(" in source.read_text(), f"{source} does not define the launcher {primitive}()"
    tests = pathlib.Path(__file__).parent
    assert (tests / f"test_{primitive}_kernel.py").exists(), f"no kernel tests for {primitive}"
