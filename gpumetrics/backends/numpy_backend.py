"""The CPU backend: NumPy state, Numba ``njit`` kernel twins."""
import numpy as np

from .._interop import host_array, location
from .._kernels.error_sums.cpu import error_sums
from .._kernels.moments.cpu import merge_moments, moments
from .._kernels.row_sums.cpu import row_sums
from .._kernels.threshold_histogram.cpu import threshold_histogram
from .._kernels.weighted_bincount.cpu import weighted_bincount
from .base import Backend


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    xp = np

    def asarray(self, x, name):
        if location(x, name) == "cuda":
            raise ValueError(
                f"{name} lives in GPU memory but this metric's state is on the CPU; reading it here would make "
                f"the host wait for the GPU. Create the metric with device='cuda' (or device='auto' before its "
                f"first update), or move the data to the host yourself")
        return host_array(x, name)

    def to_host(self, array):
        return np.array(array, copy=True)

    _error_sums = staticmethod(error_sums)
    _row_sums = staticmethod(row_sums)
    threshold_histogram = staticmethod(threshold_histogram)
    moments = staticmethod(moments)
    merge_moments = staticmethod(merge_moments)
    weighted_bincount = staticmethod(weighted_bincount)
