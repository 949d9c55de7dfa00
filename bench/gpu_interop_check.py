"""What only a GPU proves about inputs (issue 10): `python bench/gpu_interop_check.py` after `pip install -e .`.

Prints PASS/FAIL/SKIP per case and exits 1 on any FAIL.

Covers torch CUDA tensors with requires_grad=True, a torch tensor written on a non-default torch stream
(ordered by DLPack, no host wait), repeated updates of one metric (replayed on one shared stream, imported through
DLPack from a side stream), JAX GPU arrays, CuPy arrays, bfloat16 from torch and JAX, and an array on
another GPU (refused; skipped with one GPU). Every case compares against the same values as float64 NumPy.
"""
import sys
import traceback

import numpy as np

FAILED = []
Y_TRUE = np.array([[0.0, 1.0], [0.5, 1.0], [1.0, 0.0]])
Y_PRED = np.array([[0.25, 0.75], [0.5, 0.125], [1.5, -2.25]])  # exact in bfloat16
MSE = float(np.mean(np.mean((Y_TRUE - Y_PRED) ** 2, axis=-1)))


def check(label, fn):
    try:
        fn()
    except Exception:  # noqa: BLE001 - a check reports every failure and goes on
        FAILED.append(label)
        print(f"FAIL {label}\n{traceback.format_exc()}", flush=True)
    else:
        print(f"PASS {label}", flush=True)


def skip(label, why):
    print(f"SKIP {label}: {why}", flush=True)


def mse(y_true, y_pred, device="auto"):
    import gpumetrics

    metric = gpumetrics.MeanSquaredError(device=device)
    metric.update_state(y_true, y_pred)
    assert metric.device == "cuda", metric.device
    return float(metric.result())  # synchronize!


def expect(value, expected=MSE):
    """``result()`` is float32 (the metric's dtype, as in Keras): equal to the float64 value up to its rounding."""
    assert abs(value - expected) <= 1e-6 * max(1.0, abs(expected)), (value, expected)


def torch_checks():
    import torch

    if not torch.cuda.is_available():
        return skip("torch", "torch has no CUDA here")

    def requires_grad():
        y_pred = torch.tensor(Y_PRED, device="cuda", requires_grad=True)
        expect(mse(torch.tensor(Y_TRUE, device="cuda"), y_pred * 1.0))  # a non-leaf in a graph
        import gpumetrics

        auc = gpumetrics.AUC(num_thresholds=7)
        auc.update_state(torch.tensor([0.0, 1.0, 1.0], device="cuda"),
                         torch.tensor([0.2, 0.9, 0.4], device="cuda", requires_grad=True))
        assert abs(float(auc.result()) - 1.0) < 1e-12

    def non_default_stream():
        import cupy

        n = 1 << 22
        side = torch.cuda.Stream()
        ours = cupy.cuda.Stream(non_blocking=True)
        for _ in range(3):
            with torch.cuda.stream(side):
                y_pred = torch.zeros(n, 1, device="cuda")
                torch.cuda._sleep(200_000_000)  # keeps `side` busy: an unordered read sees the zeros
                y_pred.fill_(2.0)
                with ours:
                    value = mse(torch.zeros(n, 1, device="cuda"), y_pred)
            expect(value, 4.0)

    def repeated(shared_stream):
        """Six updates of one metric, each ``y_pred`` written after a long sleep on torch's current stream: with
        ``shared_stream`` that stream is CuPy's current one too (the updates replay from the third on), else a side
        stream (every update imports through DLPack). An unordered read would see zeros."""
        import cupy

        import gpumetrics

        n = 1 << 20
        ours = cupy.cuda.Stream(non_blocking=True)
        theirs = torch.cuda.ExternalStream(ours.ptr) if shared_stream else torch.cuda.Stream()
        with ours:  # its states zeroed on our stream
            metric = gpumetrics.MeanSquaredError(device="cuda")
        for _ in range(6):
            with torch.cuda.stream(theirs):
                y_true, y_pred = torch.zeros(n, 1, device="cuda"), torch.zeros(n, 1, device="cuda")
                torch.cuda._sleep(100_000_000)
                y_pred.fill_(2.0)
                with ours:
                    metric.update_state(y_true, y_pred)
        with ours:
            expect(float(metric.result()), 4.0)  # synchronize!
        learned = metric._replays._entries if metric._replays else {}
        assert bool(learned) == shared_stream, f"replays learned: {len(learned)} (shared stream: {shared_stream})"

    def bfloat16():
        y_true = torch.tensor(Y_TRUE, device="cuda", dtype=torch.bfloat16)
        y_pred = torch.tensor(Y_PRED, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        expect(mse(y_true, y_pred))
        expect(mse(y_true.t().contiguous().t(), y_pred))  # a transposed (non-contiguous) bfloat16 input

    check("torch CUDA tensors with requires_grad=True", requires_grad)
    check("torch tensor written on a non-default torch stream", non_default_stream)
    check("torch bfloat16 CUDA tensors", bfloat16)
    check("replayed torch updates on torch's stream when it is CuPy's", lambda: repeated(True))
    check("torch updates from a side stream: never replayed, ordered by DLPack", lambda: repeated(False))


def jax_checks():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError as error:
        return skip("jax", str(error))
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        return skip("jax", "JAX sees no GPU")

    def arrays():
        y_pred = jax.device_put(jnp.asarray(Y_PRED, jnp.float32), gpus[0])
        y_pred = (y_pred * 3.0) / 3.0  # produced by an XLA computation on JAX's stream
        expect(mse(jax.device_put(jnp.asarray(Y_TRUE, jnp.float32), gpus[0]), y_pred), MSE)

    def bfloat16():
        y_true = jax.device_put(jnp.asarray(Y_TRUE, jnp.bfloat16), gpus[0])
        y_pred = jax.device_put(jnp.asarray(Y_PRED, jnp.bfloat16), gpus[0])
        expect(mse(y_true, y_pred))

    def tracer():
        import gpumetrics

        metric = gpumetrics.MeanSquaredError()
        try:
            jax.jit(lambda x: metric.update_state(x, x) or x.sum())(jnp.ones(3))
        except TypeError as error:
            assert "outside the traced" in str(error), error
        else:
            raise AssertionError("a JAX tracer was accepted")
        assert metric.device == "auto"

    check("JAX GPU arrays", arrays)
    check("JAX bfloat16 GPU arrays", bfloat16)
    check("JAX tracer refused", tracer)


def cupy_checks():
    import cupy

    def arrays():
        expect(mse(cupy.asarray(Y_TRUE), cupy.asarray(Y_PRED)))
        expect(mse(cupy.asarray(Y_TRUE, cupy.float32), cupy.asarray(Y_PRED.T, cupy.float32).T))

    def numba_device_arrays():
        from numba import cuda

        expect(mse(cuda.to_device(Y_TRUE), cuda.to_device(Y_PRED)))

    def host_copies():
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expect(mse(np.ones((2, 1), ">f8"), np.zeros((2, 1)), device="cuda"), 1.0)
            expect(mse(np.ones((2, 1), np.longdouble), np.zeros((2, 1)), device="cuda"), 1.0)

    check("CuPy arrays", arrays)
    check("Numba device arrays", numba_device_arrays)
    check("host big-endian and longdouble copied to the GPU", host_copies)


def other_device_checks():
    import cupy

    if cupy.cuda.runtime.getDeviceCount() < 2:
        return skip("array on another GPU", "one GPU")

    def refused():
        import gpumetrics

        with cupy.cuda.Device(1):
            y_pred = cupy.asarray(Y_PRED)
        metric = gpumetrics.MeanSquaredError(device="cuda")
        try:
            metric.update_state(cupy.asarray(Y_TRUE), y_pred)
        except ValueError as error:
            assert "lives on GPU 1 but the current device is GPU 0" in str(error), error
        else:
            raise AssertionError("an array on GPU 1 was accepted while GPU 0 is current")
        try:
            import torch

            other = torch.tensor(Y_PRED, device="cuda:1", dtype=torch.bfloat16)
        except Exception:  # noqa: BLE001 - torch without CUDA: the CuPy case above stands
            return
        try:
            metric.update_state(cupy.asarray(Y_TRUE), other)
        except ValueError as error:
            assert "lives on GPU 1" in str(error), error
        else:
            raise AssertionError("a torch bfloat16 tensor on GPU 1 was accepted")

    check("array on another GPU refused", refused)


def main():
    for group in (cupy_checks, torch_checks, jax_checks, other_device_checks):
        try:
            group()
        except ImportError as error:
            skip(group.__name__, str(error))
    print(f"{'FAIL' if FAILED else 'PASS'} gpu_interop_check: {len(FAILED)} failed", flush=True)
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
