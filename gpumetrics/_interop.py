"""Any array in (lists, NumPy, CuPy, PyTorch, JAX, Numba) → a NumPy or CuPy array, zero-copy where the memory allows.

GPU inputs come in through DLPack first (the producer orders its stream before
CuPy's current one on the device, so the host never waits) and through
``__cuda_array_interface__`` otherwise. Nothing here imports CuPy unless a GPU
array is actually handed over.
"""
import numpy as np

from ._validation import check_numeric

_DL_CUDA, _DL_CUDA_MANAGED = 2, 13


def location(x):
    """``"cuda"`` for an array in GPU memory, ``"cpu"`` for anything else; reads no data.

    >>> location([1, 2]), location(np.zeros(3))
    ('cpu', 'cpu')
    """
    if type(x).__module__.startswith("numba.cuda.simulator"):
        return "cpu"
    if hasattr(x, "__cuda_array_interface__"):
        return "cuda"
    dlpack_device = getattr(x, "__dlpack_device__", None)
    if dlpack_device is not None and not isinstance(x, np.ndarray):
        try:
            if dlpack_device()[0] in (_DL_CUDA, _DL_CUDA_MANAGED):
                return "cuda"
        except (TypeError, RuntimeError, BufferError):
            pass
    return "cpu"


def host_array(x, name):
    """A NumPy view of a host-side input (zero-copy for NumPy, PyTorch CPU and JAX CPU arrays).

    >>> host_array([[1, 2], [3, 4]], "y_true").shape
    (2, 2)
    """
    if x is None:
        raise TypeError(f"{name} is None; expected an array of numbers")
    if isinstance(x, np.ndarray):
        array = x
    else:
        if hasattr(x, "detach"):  # a PyTorch tensor that may require grad
            x = x.detach()
        if hasattr(x, "__dlpack__"):
            array = np.from_dlpack(x)
        else:
            try:
                array = np.asarray(x)
            except ValueError as error:
                raise ValueError(f"{name} is not a rectangular array of numbers ({error})") from None
    check_numeric(array, name)
    return array


def cuda_array(x, name):
    """A CuPy view of a GPU input (DLPack or ``__cuda_array_interface__``), never a host round trip."""
    import cupy

    if x is None:
        raise TypeError(f"{name} is None; expected an array of numbers")
    if isinstance(x, cupy.ndarray):
        array = x
    elif hasattr(x, "__dlpack__") and not hasattr(x, "__cuda_array_interface__"):
        array = cupy.from_dlpack(x.detach() if hasattr(x, "detach") else x)
    else:
        array = cupy.asarray(x.detach() if hasattr(x, "detach") else x)
    check_numeric(array, name)
    return array


def any_array(x, name):
    """``x`` where it already lives, with its array module: NumPy on the host, CuPy on a GPU."""
    if location(x) == "cuda":
        import cupy

        return cuda_array(x, name), cupy
    return host_array(x, name), np
