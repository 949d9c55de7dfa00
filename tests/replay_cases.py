"""The cases of tests/test_replay.py: metrics, batches of CuPy arrays (the stand-in's, in the worker's process), and
whether their updates may be replayed. Arrays are made when a batch factory is called, on ``sys.modules["cupy"]``."""
import sys

import numpy as np

import gpumetrics

N = 64
STEP = 0  # the worker's update count in the current case
rng = np.random.default_rng(11)


def _cupy():
    return sys.modules["cupy"]


def labels(shape=None, dtype=np.float32):
    return _cupy().asarray(rng.integers(0, 2, shape or N).astype(dtype))


def scores(shape=None, dtype=np.float32):
    return _cupy().asarray(rng.random(shape or N).astype(dtype))


def ids(classes=4):
    return _cupy().asarray(rng.integers(0, classes, N))


def offset_view():
    """A view one element into a larger array: its pointer is not its allocation's."""
    return _cupy().asarray(rng.random(N + 1).astype(np.float32))[1:]


#: a torch stream that is not CuPy's current one (the stand-in torch's current stream is moved there)
SIDE_STREAM = 0x51DE


def _torch_on(stream=None):
    """The torch module, its current stream moved to ``stream`` (None: CuPy's) on the stand-in (a real torch is left
    as it is)."""
    torch = sys.modules["torch"]
    if hasattr(torch.cuda, "current"):  # the stand-in's
        torch.cuda.current.cuda_stream = _cupy().cuda.get_current_stream().ptr if stream is None else stream
    return torch


def tensor(a, stream=None):
    """``a`` as a torch CUDA tensor (the stand-in's, or a real one on a GPU)."""
    torch = _torch_on(stream)
    return torch.as_tensor(a, device="cuda") if hasattr(torch, "as_tensor") else torch.Tensor(a)


def negated_tensor(a):
    """A torch CUDA tensor that means ``a`` through torch's lazy negation bit, its memory holding ``-a``: read in
    full (resolved first), never replayed from its memory."""
    torch = _torch_on()
    if hasattr(torch, "as_tensor"):  # a real torch: the bit as users get it
        v = torch.as_tensor(a, device="cuda")
        return torch.complex(torch.zeros_like(v), -v).conj().imag
    return torch.Tensor(-a, neg=True)


def overlapping_then_apart():
    """Labels and scores as two columns of one buffer for the first three updates (a pointer inside both inputs'
    spans: which input it follows cannot be told), then as columns of two buffers: same signature throughout."""
    first = _cupy().asarray(rng.random((N, 2)).astype(np.float32))
    second = first if STEP < 3 else _cupy().asarray(rng.random((N, 2)).astype(np.float32))
    return (first[:, 0], second[:, 1]), {}


class UserAUC(gpumetrics.AUC):
    """A user's subclass: its hooks could do anything, so it is never replayed."""


class AllocatingMSE(gpumetrics.MeanSquaredError):
    """Passes for the package's own class, and computes with CuPy besides its kernel pass: only the allocation watch
    can tell that its updates must not be replayed."""

    __module__ = "gpumetrics.metrics.regression"
    _replays_update = True

    def update_state(self, y_true, y_pred, sample_weight=None, group_ids=None):
        self._fn.fused.update(self, y_true, y_pred, sample_weight, group_ids)  # MeanMetricWrapper's pass
        self.side_product = y_pred * 2  # CuPy work that feeds no kernel


class VaryingScaleSum(gpumetrics.Sum):
    """Passes for the package's own class and hands its kernel a scale that changes on every update (the count of
    updates): pointers and allocations look alike, and only the second learning update's comparison tells."""

    __module__ = "gpumetrics.metrics._mean"
    _replays_update = True

    def update_state(self, values, sample_weight=None, group_ids=None):
        from gpumetrics.metrics import _fused_passes as passes

        self.updates = getattr(self, "updates", 0) + 1
        values = passes.imported(self, values, "values")
        batch = passes.elementwise_batch(self, values, values, None, None, "sum")
        passes.add_sums(self, passes.ERROR_KINDS["identity"], batch._replace(total_scale=float(self.updates)),
                        passes.state_out(self.total), None)


#: name: (metric factory, batch factory giving (args, kwargs), "replayed" (from a signature's third update on),
#: "never", or "checked" (the launches alone are checked: the same replayed or not))
CASES = {
    "AUC": (gpumetrics.AUC, lambda: ((labels(), scores()), {}), "replayed"),
    "AUC-weighted": (gpumetrics.AUC, lambda: ((labels(), scores(), scores()), {}), "replayed"),
    "AUC-weight-keyword": (gpumetrics.AUC, lambda: ((labels(), scores()), {"sample_weight": scores()}), "replayed"),
    "AUC-offset-views": (gpumetrics.AUC, lambda: ((labels(), offset_view()), {"sample_weight": offset_view()}), "replayed"),
    "AUC-from-logits-PR": (lambda **k: gpumetrics.AUC(curve="PR", from_logits=True, **k),
                           lambda: ((labels(), scores()), {}), "replayed"),
    "AUC-multi-label": (lambda **k: gpumetrics.AUC(multi_label=True, **k),
                        lambda: ((labels((N, 3)), scores((N, 3))), {}), "replayed"),
    "Precision": (gpumetrics.Precision, lambda: ((labels(), scores()), {}), "replayed"),
    "Recall-two-thresholds": (lambda **k: gpumetrics.Recall(thresholds=[0.3, 0.6], **k),
                              lambda: ((labels(), scores()), {}), "replayed"),
    "PrecisionAtRecall": (lambda **k: gpumetrics.PrecisionAtRecall(0.5, **k), lambda: ((labels(), scores()), {}),
                          "replayed"),
    "TruePositives": (gpumetrics.TruePositives, lambda: ((labels(), scores()), {}), "replayed"),
    "F1Score": (lambda **k: gpumetrics.F1Score(threshold=0.5, **k),
                lambda: ((labels((N, 3)), scores((N, 3))), {}), "replayed"),
    "MeanSquaredError": (gpumetrics.MeanSquaredError, lambda: ((scores((N, 1)), scores((N, 1))), {}), "replayed"),
    "MeanAbsoluteError-float64-weighted": (gpumetrics.MeanAbsoluteError, lambda: (
        (scores((N, 4), np.float64), scores((N, 4), np.float64), scores()), {}), "replayed"),
    "RootMeanSquaredError": (gpumetrics.RootMeanSquaredError, lambda: ((scores((N, 2)), scores((N, 2))), {}), "replayed"),
    "CategoricalCrossentropy": (gpumetrics.CategoricalCrossentropy,
                                lambda: ((labels((N, 4)), scores((N, 4))), {}), "replayed"),
    "SparseCategoricalAccuracy": (gpumetrics.SparseCategoricalAccuracy,
                                  lambda: ((ids(), scores((N, 4))), {}), "replayed"),
    "Mean": (gpumetrics.Mean, lambda: ((scores(),), {"sample_weight": scores()}), "replayed"),
    "Sum": (gpumetrics.Sum, lambda: ((scores(),), {}), "replayed"),
    "MeanIoU": (lambda **k: gpumetrics.MeanIoU(num_classes=4, **k), lambda: ((ids(), ids()), {}), "replayed"),
    "BinaryIoU": (gpumetrics.BinaryIoU, lambda: ((labels(), scores()), {}), "replayed"),
    "torch-AUC": (gpumetrics.AUC, lambda: ((tensor(rng.integers(0, 2, N).astype(np.int32)),
                                            tensor(rng.random(N).astype(np.float32))), {}), "replayed"),
    "torch-MSE-weighted": (gpumetrics.MeanSquaredError, lambda: (
        (tensor(rng.random((N, 2)).astype(np.float32)), tensor(rng.random((N, 2)).astype(np.float32)),
         tensor(rng.random(N).astype(np.float32))), {}), "replayed"),
    "torch-and-cupy": (gpumetrics.AUC, lambda: ((labels(), tensor(rng.random(N).astype(np.float32))), {}),
                       "replayed"),
    # torch's current stream is another than CuPy's: each update imports through DLPack, which orders the two
    "torch-side-stream": (gpumetrics.AUC, lambda: ((tensor(rng.integers(0, 2, N).astype(np.int32), SIDE_STREAM),
                                                    tensor(rng.random(N).astype(np.float32), SIDE_STREAM)), {}),
                          "never"),
    "torch-negated-view": (gpumetrics.AUC, lambda: ((tensor(rng.integers(0, 2, N).astype(np.int32)),
                                                     negated_tensor(rng.random(N).astype(np.float32))), {}), "never"),
    # replayed only where the inputs are apart (the shorter batches); the launches are what counts
    "AUC-overlapping-inputs": (gpumetrics.AUC, overlapping_then_apart, "checked"),
    # never replayed: CuPy computes inside these updates, or the class is not the package's
    # its count of other labels is zeroed by CuPy before its passes (replayed, the count would add up over batches)
    "Hinge": (gpumetrics.Hinge, lambda: ((labels((N, 1)), scores((N, 1))), {}), "never"),
    "SquaredHinge": (gpumetrics.SquaredHinge, lambda: ((labels((N, 1)), scores((N, 1))), {}), "never"),
    "AUC-label-weights": (lambda **k: gpumetrics.AUC(label_weights=[0.5, 2.0, 1.0], **k),
                          lambda: ((labels((N, 3)), scores((N, 3))), {}), "never"),
    "Precision-top-k": (lambda **k: gpumetrics.Precision(top_k=2, **k),
                        lambda: ((labels((N, 4)), scores((N, 4))), {}), "never"),
    "AUC-float16-cast": (gpumetrics.AUC, lambda: ((labels(), scores(dtype=np.float16)), {}), "never"),
    "F1Score-argmax": (gpumetrics.F1Score, lambda: ((labels((N, 3)), scores((N, 3))), {}), "never"),
    "MSE-grouped": (lambda **k: gpumetrics.MeanSquaredError(num_groups=3, **k),
                    lambda: ((scores((N, 1)), scores((N, 1))), {"group_ids": ids(classes=3)}), "never"),
    "MeanMetricWrapper-fn": (lambda **k: gpumetrics.MeanMetricWrapper(lambda t, p: abs(t - p).mean(axis=-1), **k),
                             lambda: ((scores((N, 2)), scores((N, 2))), {}), "never"),
    "user-subclass": (UserAUC, lambda: ((labels(), scores()), {}), "never"),
    "varying-scalar": (VaryingScaleSum, lambda: ((scores(),), {}), "never"),
    "allocating-update": (AllocatingMSE, lambda: ((scores((N, 1)), scores((N, 1))), {}), "never"),
}


