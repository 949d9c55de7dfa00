"""``update_state`` never makes the host wait for the device.

Three proofs: on a real GPU, an update issued behind a long-running kernel
returns while that kernel still runs; in the simulator, every sync point of
Numba's CUDA API raises during updates; and in the source, every line that
reads device data back is marked ``# synchronize!`` and none sits on an update path.
"""
import pathlib
import re

import numpy as np
import pytest

from conftest import REAL_GPU

import gpumetrics

ROOT = pathlib.Path(gpumetrics.__file__).parent
SYNC_CALL = re.compile(r"\.item\(\)|\.get\(\)|asnumpy\(|\.synchronize\(|copy_to_host\(|\.tolist\(\)|\.numpy\(\)")
UPDATE_PATH = [ROOT / "_interop.py", ROOT / "_validation.py", ROOT / "metrics", ROOT / "backends"]


def update_all(device):
    rng = np.random.default_rng(0)
    y_true, y_pred, w = rng.normal(size=(16, 3)), rng.normal(size=(16, 3)), rng.uniform(size=16)
    if REAL_GPU:
        import cupy

        y_true, y_pred, w = cupy.asarray(y_true), cupy.asarray(y_pred), cupy.asarray(w)
    metrics = [gpumetrics.MeanSquaredError(device=device), gpumetrics.MeanAbsoluteError(device=device),
               gpumetrics.RootMeanSquaredError(device=device)]
    for metric in metrics:
        metric.update_state(y_true, y_pred, sample_weight=w)
    labels = (y_true > 0).astype(np.int8)
    scores = 1 / (1 + abs(y_pred))
    metrics += [gpumetrics.AUC(device=device), gpumetrics.AUC(multi_label=True, curve="PR", device=device),
                gpumetrics.Precision(top_k=1, device=device), gpumetrics.Recall(class_id=2, device=device),
                gpumetrics.PrecisionAtRecall(0.5, device=device), gpumetrics.ExactAUC(multi_label=True, device=device)]
    for metric in metrics[3:]:
        metric.update_state(labels, scores, sample_weight=w)
    metrics[-1].update_state(labels, scores, sample_weight=w)  # ExactAUC again: its keys grow
    metrics.append(gpumetrics.ExactAUC(device=device))
    metrics[-1].update_state(labels, scores.astype(np.float16), sample_weight=w)  # the bit histogram
    gpumetrics.Mean(device=device).update_state(y_pred, sample_weight=w)
    gpumetrics.Sum(device=device).update_state(y_pred)
    ids = (abs(y_true) * 2).astype(np.int32) % 3
    scores = 1 / (1 + abs(y_pred))
    metrics += [gpumetrics.Hinge(device=device), gpumetrics.BinaryCrossentropy(from_logits=True, device=device),
                gpumetrics.Accuracy(device=device), gpumetrics.R2Score(device=device)]
    for metric in metrics[-4:]:  # elementwise kinds (hinge's label pass included) and the moments primitive
        metric.update_state(labels, y_pred, sample_weight=w)
    rowwise = [gpumetrics.SparseCategoricalCrossentropy(ignore_class=1, device=device),
               gpumetrics.SparseTopKCategoricalAccuracy(k=2, device=device),
               gpumetrics.MeanIoU(num_classes=3, device=device)]
    for metric in rowwise:  # row_sums (masked weights included) and weighted_bincount
        metric.update_state(ids[:, 0], scores if not isinstance(metric, gpumetrics.MeanIoU) else ids[:, 1],
                            sample_weight=w)
    metrics += rowwise
    return metrics


def python_sources():
    import gpumetrics._kernels as kernels

    paths = UPDATE_PATH + [pathlib.Path(kernels.__file__).parent]
    for path in paths:
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def test_every_device_read_is_marked_and_off_the_update_path():
    offenders = []
    for path in python_sources():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.strip()
            if code.startswith(">>>") or not SYNC_CALL.search(code):
                continue
            if "# synchronize!" not in line:
                offenders.append(f"{path.name}:{number}: {code}")
    assert not offenders, "unmarked device reads:\n" + "\n".join(offenders)


def test_simulator_sync_points_are_never_hit_during_updates(monkeypatch):
    from numba import config, cuda

    if not config.ENABLE_CUDASIM:
        pytest.skip("simulator only (the GPU proof is test_update_returns_while_the_gpu_is_busy)")
    from numba.cuda.simulator.cudadrv import devicearray

    update_all("cuda")  # compile first: compilation may do anything it likes

    def refuse(*args, **kwargs):
        raise AssertionError("host synchronisation during update_state")

    monkeypatch.setattr(cuda, "synchronize", refuse)
    monkeypatch.setattr(devicearray.FakeCUDAArray, "copy_to_host", refuse)
    update_all("cuda")


@pytest.mark.skipif(not REAL_GPU, reason="needs a GPU")
def test_update_returns_while_the_gpu_is_busy():
    import cupy

    spin = cupy.RawKernel(r'''
    extern "C" __global__ void spin(long long cycles) {
        long long start = clock64();
        while (clock64() - start < cycles) { }
    }''', "spin")
    update_all("cuda")  # compile and warm up every kernel first
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    spin((1,), (1,), (np.int64(3_000_000_000),))  # about 1.5 s at 2 GHz
    metrics = update_all("cuda")
    assert not stream.done, "update_state waited for the device"
    stream.synchronize()
    assert all(np.isfinite(float(m.result())) for m in metrics)
