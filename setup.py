"""gpumetrics: Keras-compatible evaluation metrics on hand-written GPU kernels."""
from setuptools import setup

DISTRIBUTED = ["mpi4py>=4", "dask[array,dataframe,distributed]"]
PLOT = ["matplotlib"]
TEST = ["pytest>=7", "pytest-xdist", "scikit-learn", "hypothesis", "keras>=3", "jax[cpu]", "torch==2.13.0",
        "torchmetrics", "mpich", *DISTRIBUTED, *PLOT]
KERNEL_ROOMS = ["_shared", "error_sums", "moments", "row_sums", "threshold_histogram", "weighted_bincount"]
BENCH = ["pytest-benchmark", "scikit-learn", "torchmetrics", "torch==2.13.0", "keras>=3", "jax[cpu]"]

setup(
    name="gpumetrics",
    version="0.1.0",
    description="Stateful Keras-compatible evaluation metrics with fused GPU kernels and CPU twins",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=[
        "gpumetrics",
        "gpumetrics.backends",
        "gpumetrics.metrics",
        "gpumetrics._kernels",
        *(f"gpumetrics._kernels.{room}" for room in KERNEL_ROOMS),
    ],
    package_dir={"gpumetrics._kernels": "kernels"},
    install_requires=["numpy>=1.24", "numba>=0.59"],
    extras_require={
        "cuda12": ["cupy-cuda12x", "numba-cuda[cu12]"],
        "cuda13": ["cupy-cuda13x", "numba-cuda[cu13]"],
        "distributed": DISTRIBUTED,
        "plot": PLOT,
        "test": TEST,
        "bench": BENCH,
    },
)
