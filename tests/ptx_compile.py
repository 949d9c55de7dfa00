"""Run by tests/test_cuda_compiles.py with the simulator off: compile CUDA kernels to PTX for a real GPU, no GPU
needed (NVVM only). Prints one line per kernel variant: ``ok <name>`` or ``bad <name>: <error>``.

    python tests/ptx_compile.py [9.0] [--ptxas PATH]

With ``--ptxas`` (the CUDA toolkit's PTX assembler) each PTX is also assembled
for the GPU and the line reads ``ok <name> registers=<n> spills=<bytes> cap=<n or None>``: the
registers per thread decide how many blocks an SM holds, which a memory-bound
pass needs (see ``REGISTER_CEILINGS`` in the test). A kernel with a register cap
(``cuda_kernel(max_registers=...)``) is assembled under it, as on a GPU.
"""
import argparse
import itertools
import re
import subprocess
import tempfile
import types as pytypes

from numba import cuda, types


def pretend_device(cc):
    """Numba asks the current device for its compute capability while compiling device functions; answer ``cc``."""
    import numba.cuda.compiler as compiler
    import numba.cuda.dispatcher as dispatcher

    def device():
        return pytypes.SimpleNamespace(compute_capability=cc)

    dispatcher.get_current_device = compiler.get_current_device = device


def array(dtype, ndim=2):
    return types.Array(dtype, ndim, "A")


def variants():
    """``(name, kernel, signature)`` for error_sums and row_sums (every kind is in each kernel's switch),
    every threshold_histogram signature (label, prediction and weight dtypes), its grouped kernel's common label and
    prediction dtypes, the grouped sums kernels, and the input types of
    weighted_bincount and moments (grouped moments too)."""
    from gpumetrics._kernels.error_sums import cuda as error_sums
    from gpumetrics._kernels.moments import cuda as moments
    from gpumetrics._kernels.weighted_bincount import cuda as weighted_bincount
    from gpumetrics._kernels.row_sums import cuda as row_sums
    from gpumetrics._kernels.threshold_histogram import cuda as threshold_histogram

    f64, i64 = types.float64, types.int64
    for dtype in (types.float32, types.float64):
        view = types.Array(dtype, 1, "C", readonly=True)
        yield f"error_sums/{dtype}", error_sums.error_sums_kernel, (
            i64, view, i64, i64, view, i64, i64, view, i64, types.boolean, types.boolean, array(f64, 1), i64, i64, i64, i64,
            array(f64), array(types.int32, 1), array(f64, 1), array(f64, 1), types.boolean, f64, f64, f64)
        yield f"error_sums/grouped/{dtype}", error_sums.grouped_error_sums_kernel, (
            i64, view, i64, i64, view, i64, i64, view, i64, types.boolean, array(f64, 1), i64, i64,
            types.Array(i64, 1, "C", readonly=True), i64, i64, array(f64, 1), array(f64, 1), types.boolean, f64, f64)
    values = (types.float32, types.float64)
    for labels, dtype, weights in itertools.product(values + (types.int32, types.int64), values, values):
        label_view, view, weight_view = (types.Array(d, 1, "C", readonly=True) for d in (labels, dtype, weights))
        kernel = threshold_histogram.threshold_histogram_kernel
        yield f"threshold_histogram/{labels}/{dtype}/{weights}", kernel, (
            label_view, i64, i64, view, i64, i64, weight_view, i64, i64, types.boolean, i64, i64,
            types.Array(f64, 1, "C", readonly=True), i64, i64, i64, array(f64), array(f64), i64, i64, i64, i64, i64,
            i64, types.boolean, types.boolean, array(f64))
    grouped = threshold_histogram.grouped_histogram_kernel
    for labels, dtype in ((types.int32, types.float32), (types.int64, types.float32), (types.float32, types.float32),
                          (types.float64, types.float64)):
        label_view, view, ids = (types.Array(d, 1, "C", readonly=True) for d in (labels, dtype, i64))
        yield f"threshold_histogram/grouped/{labels}/{dtype}", grouped, (
            label_view, i64, i64, view, i64, i64, view, i64, i64, types.boolean, i64, i64,
            types.Array(f64, 1, "C", readonly=True), i64, i64, i64, ids, i64, i64, array(f64), array(f64),
            types.boolean, i64, i64, types.boolean, array(f64))

    def view(dtype):
        return types.Array(dtype, 1, "C", readonly=True)

    labels = (types.float32, types.float64, types.int32, types.int64)
    state = types.Array(f64, 2, "C")
    for t_dtype, p_dtype, w_dtype in [(t, types.float32, f64) for t in labels] + \
            [(types.int64, p, types.float32) for p in labels]:
        yield f"weighted_bincount/{t_dtype}-{p_dtype}-{w_dtype}", weighted_bincount.weighted_bincount_kernel, (
            i64, view(t_dtype), i64, i64, i64, f64, i64, view(p_dtype), i64, i64, i64, f64, view(w_dtype), i64,
            types.boolean, i64, view(i64), i64, i64, i64, state, types.boolean, i64, i64)
    for x_dtype, w_dtype in [(types.float32, types.float32), (types.float32, f64), (f64, types.float32), (f64, f64)]:
        yield f"moments/{x_dtype}-{w_dtype}", moments.moments_kernel, (
            view(x_dtype), i64, i64, view(x_dtype), i64, i64, view(w_dtype), i64, i64, types.boolean, i64, i64,
            types.Array(f64, 3, "C"), array(types.int32, 1), state)
    yield "moments/merge", moments.merge_moments_kernel, (state, state)
    yield "moments/grouped/first_rows", moments.first_rows_kernel, (view(i64), i64, i64, i64, array(i64, 1))
    for x_dtype, w_dtype in [(types.float32, types.float32), (f64, f64)]:
        yield f"moments/grouped/{x_dtype}-{w_dtype}", moments.grouped_moments_kernel, (
            view(x_dtype), i64, i64, view(x_dtype), i64, i64, view(w_dtype), i64, i64, types.boolean, i64, i64,
            view(i64), i64, i64, array(i64, 1), state)
        yield f"moments/grouped/merge/{x_dtype}", moments.grouped_merge_kernel, (
            view(x_dtype), i64, i64, view(x_dtype), i64, i64, i64, i64, i64, array(i64, 1), state, state)
    for labels, values in ((types.int32, types.float32), (types.int64, types.float64), (types.float32, types.float32),
                           (types.float64, types.float64), (types.int64, types.float32)):
        t, view = (types.Array(dtype, 1, "C", readonly=True) for dtype in (labels, values))
        yield f"row_sums/{labels}-{values}", row_sums.row_sums_kernel, (
            i64, t, i64, i64, view, i64, i64, view, i64, types.boolean, i64, i64, i64, array(f64, 1), array(f64),
            array(types.int32, 1), array(f64, 1), array(f64, 1), types.boolean, f64, f64, f64)
        yield f"row_sums/grouped/{labels}-{values}", row_sums.grouped_row_sums_kernel, (
            i64, t, i64, i64, view, i64, i64, view, i64, types.boolean, i64, i64, i64, array(f64, 1),
            types.Array(i64, 1, "C", readonly=True), i64, i64, array(f64, 1), array(f64, 1), types.boolean, f64, f64)


def assemble(ptxas, ptx, cc, max_registers=None):
    """``(registers per thread, spill store bytes)`` of ``ptx`` assembled by ``ptxas`` for ``sm_<cc>`` (under the
    kernel's register cap, as numba-cuda's link step passes it)."""
    cap = [] if max_registers is None else [f"--maxrregcount={max_registers}"]
    with tempfile.NamedTemporaryFile("w", suffix=".ptx") as file:
        file.write(ptx)
        file.flush()
        report = subprocess.run([ptxas, f"-arch=sm_{cc[0]}{cc[1]}", "-v", *cap, file.name, "-o", "/dev/null"],
                                capture_output=True, text=True, check=True).stderr
    return int(re.search(r"Used (\d+) registers", report).group(1)), int(re.search(r"(\d+) bytes spill stores",
                                                                                     report).group(1))


def main(cc, ptxas=None):
    pretend_device(cc)
    for name, kernel, signature in variants():
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=cc)
            cap = kernel.targetoptions.get("max_registers")
            usage = " registers={} spills={} cap={}".format(*assemble(ptxas, ptx, cc, cap), cap) if ptxas else ""
            print(f"ok {name}{usage}", flush=True)
        except Exception as error:  # report every failing variant, not only the first
            print(f"bad {name}: {type(error).__name__}: {str(error)[:500]}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("cc", nargs="?", default="9.0")
    parser.add_argument("--ptxas")
    args = parser.parse_args()
    main(tuple(int(x) for x in args.cc.split(".")), args.ptxas)
