"""The kernels' docstring examples, run on the installed package ``gpumetrics._kernels`` (pytest's own doctest
collection would import the ``kernels/`` folder a second time, as a top-level package of its own)."""
import doctest
import importlib
import pkgutil

import pytest

import gpumetrics._kernels as kernels

MODULES = sorted(info.name for info in pkgutil.walk_packages(kernels.__path__, kernels.__name__ + "."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failed, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert failed == 0, f"{failed} docstring example(s) of {name} failed (run with -s to see them)"
