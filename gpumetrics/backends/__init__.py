"""Backend selection: one instance per kind of device, created on first use, chosen per metric."""
from .._interop import location

DEVICES = ("auto", "cpu", "cuda")
_instances = {}


def get_backend(kind):
    """The shared ``"numpy"`` or ``"cuda"`` backend (the CUDA one raises a clear error where there is no GPU)."""
    if kind not in _instances:
        if kind == "numpy":
            from .numpy_backend import NumpyBackend as cls
        else:
            from .cuda_backend import CudaBackend as cls
        _instances[kind] = cls()
    return _instances[kind]


def check_device(device):
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}; got {device!r}")
    return device


def resolve(device, sample=None, name=None):
    """The backend for ``device``; ``"auto"`` follows where ``sample`` (the argument ``name``) lives (the CPU when
    there is none)."""
    check_device(device)
    if device == "cuda" or (device == "auto" and sample is not None and location(sample, name) == "cuda"):
        return get_backend("cuda")
    return get_backend("numpy")
