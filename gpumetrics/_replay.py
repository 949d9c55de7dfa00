"""A repeated GPU update replayed from its launches: the host work of a training loop's update, cut to the bone.

An update on a GPU spends most of its host time on what does not change from
one batch to the next: importing the inputs, Keras's shape rules, the launch
shape, packing the kernel's parameters. For a batch of the same *signature*
(each argument a CuPy array or a plain strided torch CUDA tensor of the same
dtype, shape, strides and device; the same keywords, current device and
stream) those steps give the same launches, with only the inputs' device
pointers changed. :class:`Replays` learns them:

1. an update whose every argument is such an array or None runs as usual while
   ``raw_launch`` records its launches (``raw_launch.recording``) and, where
   CuPy allows, a memory hook watches for device allocations;
2. each array parameter of each launch is traced to its source: inside an
   input's memory (kept as "that input's pointer + an offset"), or inside an
   array the metric keeps (its states, its device constants, the launch
   scratch). A parameter from anywhere else (a temporary: a dtype cast, a
   copy, a product with label weights), or inside two inputs (overlapping
   views of one buffer, an array passed twice: which one's pointer it follows
   cannot be told), makes the signature one that is never replayed. An update that allocated device memory teaches nothing (a
   metric's first update makes its constants); three of them and the
   signature is never replayed;
3. a second update of the signature must record the same launches, scalars and
   kept pointers; then the signature's launches are kept;
4. from then on, an update of that signature checks that the metric's state
   arrays are the ones recorded and re-sends the kept launches with the new
   inputs' pointers written into their parameter buffers, packed once
   (``raw_launch.Bound``): no import, no shape rule, no packing.

``GPUMETRICS_REPLAY=off`` runs every update in full (metrics placed after it
is set). Only the package's own metric classes replay, and only those whose update is
nothing but checks and kernel passes (``Metric._replays_update`` on the class
that defines ``update_state``, and ``Metric._replayable()`` for the instance:
not grouped; a ``MeanMetricWrapper`` only with a fused function). Replays are
a GPU-only path: the simulator and the CPU run every update in full.

The checks skipped on a replay are the ones a signature decides (shapes,
dtypes, ranks, devices): the same checks passed on the recorded updates.

A torch tensor's import through DLPack orders torch's current stream before
CuPy's; when the two are one stream there is nothing to order, so a tensor
replays only then (the handle of ``torch.cuda.current_stream(device)`` is
CuPy's current stream: both default streams, in a plain training loop). From any other
stream its updates run in full, through DLPack. JAX arrays always run in full.
"""
import os
import sys
import threading

from ._kernels._shared import raw_launch
from ._masks import MASKED

#: signatures one metric keeps (a training loop has one or two: the full batch and the last, shorter one)
MAX_SIGNATURES = 16
#: updates of one signature that allocated device memory before it is given up on (the first update of a metric
#: allocates what it keeps; an update that allocates every time computes with CuPy and is never replayed)
MAX_TRIES = 3


def enabled():
    """Whether metrics placed from now on replay (``GPUMETRICS_REPLAY``: ``on``, the default, or ``off``)."""
    setting = os.environ.get("GPUMETRICS_REPLAY", "on")
    if setting not in ("on", "off"):
        raise ValueError(f"GPUMETRICS_REPLAY must be 'on' or 'off', not {setting!r}")
    return setting == "on"


class _Launch:
    """One recorded launch, its input pointers replaced by ``(parameter index, input, byte offset)`` slots; once
    kept, ``bound`` holds its parameters packed (``raw_launch.Bound``), the input slots rewritten per replay."""

    __slots__ = ("plan", "dims", "shared_bytes", "values", "slots", "kept", "bound")

    def __init__(self, plan, dims, shared_bytes, values, slots, kept):
        self.plan, self.dims, self.shared_bytes = plan, dims, shared_bytes
        self.values, self.slots, self.kept = values, slots, kept  # kept: the metric's arrays it reads or writes
        self.bound = None

    def same_as(self, other):
        return (self.plan is other.plan and self.dims == other.dims and self.shared_bytes == other.shared_bytes
                and self.values == other.values and self.slots == other.slots)

    def bind(self):
        """Pack the parameters once (input slots 0 until a replay writes them)."""
        self.bound = raw_launch.Bound(self.plan, [0 if v is None else v for v in self.values])
        return self


class _Entry:
    __slots__ = ("launches", "states")

    def __init__(self, launches, states):
        self.launches, self.states = launches, states


def _extent(shape, strides, itemsize, ptr):
    """``[low, high)``: the bytes an array of these dimensions starting at ``ptr`` spans."""
    low = high = ptr
    for n, s in zip(shape, strides):
        if n > 1:
            if s < 0:
                low += (n - 1) * s
            else:
                high += (n - 1) * s
    return low, high + itemsize


def _holders(ptr, ranges):
    """The indices of the ``(low, high)`` of ``ranges`` that hold ``ptr``."""
    return [i for i, (low, high) in enumerate(ranges) if low <= ptr < high]


class _AllocationWatch:
    """A CuPy memory hook that notes whether the recorded update allocated device memory (``seen``)."""

    def __init__(self, cupy):
        hook_module = getattr(getattr(cupy, "cuda", None), "memory_hook", None)
        self._hook = None
        self.seen = False
        if hook_module is not None:
            watch = self

            class Hook(hook_module.MemoryHook):
                name = f"gpumetrics-replay-{threading.get_ident()}"

                def malloc_preprocess(self, **kwargs):
                    watch.seen = True

            self._hook = Hook()

    def __enter__(self):
        if self._hook is not None:
            self._hook.__enter__()
        return self

    def __exit__(self, *exc):
        if self._hook is not None:
            self._hook.__exit__(*exc)


def _torch_stream(torch, device):
    """The handle of torch's current stream on ``device``: through the call TorchInductor's generated code makes
    (an int, no Stream object made), or ``torch.cuda.current_stream`` where torch lacks it."""
    raw = getattr(getattr(torch, "_C", None), "_cuda_getCurrentRawStream", None)
    return raw(device) if raw is not None else torch.cuda.current_stream(device).cuda_stream


def _same_states(a, b):
    return len(a) == len(b) and all(v is w and x is y for (v, x), (w, y) in zip(a, b))


class Replays:
    """One metric's learned signatures (see the module docstring). Copies of a metric decide again."""

    __slots__ = ("_cupy", "_entries", "_pending", "_refused", "_tries")

    def __init__(self):
        import cupy

        self._cupy = cupy
        self._entries, self._pending, self._refused, self._tries = {}, {}, set(), {}

    def __deepcopy__(self, memo):
        return None  # a copy decides again, at its first update, with its own arrays

    def _signature(self, args, kwargs):
        """``(key, pointers, extents, stream)`` of a call, or None when an argument is neither a CuPy array, a plain
        strided torch CUDA tensor nor None, or when a tensor's producer stream is not CuPy's current stream."""
        ndarray = self._cupy.ndarray
        torch = sys.modules.get("torch")
        tensor = None if torch is None else torch.Tensor
        key, pointers, extents, torch_device = [], [], [], None
        for value in (*args, *kwargs.values()):
            if value is None:
                key.append(None)
                continue
            if MASKED and id(value) in MASKED:
                return None  # values with Keras's mask weigh their samples by it: in full (gpumetrics._masks)
            cls = type(value)
            if cls is ndarray:
                data = value.data
                shape, strides, itemsize, ptr, device = (value.shape, value.strides, value.itemsize, data.ptr,
                                                         data.device_id)
            elif (cls is tensor and value.is_cuda and value.layout is torch.strided and not value.is_neg()
                  and not value._is_zerotensor()):  # its memory holds its values (see _interop.materialized)
                if getattr(value, "_keras_mask", None) is not None:
                    return None  # a Keras mask on y_pred weighs samples in the full update (_masks.masked_weights)
                itemsize = value.element_size()
                shape, strides, ptr = value.shape, tuple(map(itemsize.__mul__, value.stride())), value.data_ptr()
                device = value.get_device()
                if torch_device is not None and device != torch_device:
                    return None  # tensors on two GPUs: refused in full
                torch_device = device
            else:
                return None
            key.append((value.dtype, shape, strides, device))
            pointers.append(ptr)
            extents.append((shape, strides, itemsize, ptr))
        cuda = self._cupy.cuda
        stream = cuda.get_current_stream().ptr
        if torch_device is not None and _torch_stream(torch, torch_device) != stream:
            return None  # DLPack orders torch's stream before ours; on one stream there is nothing to order
        key.append((tuple(kwargs), cuda.runtime.getDevice(), stream))
        return tuple(key), pointers, extents, stream

    def update(self, metric, method, args, kwargs):
        """Run ``method`` (the metric's atomic ``update_state``) for these arguments: replayed, or in full while
        learning its launches."""
        if raw_launch.recording_active():  # an update inside an update (a subclass's super() call): the outer one
            return method(metric, *args, **kwargs)  # records this one's launches too
        signature = self._signature(args, kwargs)
        if signature is None:
            return method(metric, *args, **kwargs)
        key, pointers, extents, stream = signature
        entry = self._entries.get(key)
        if entry is not None:
            if all(variable.value is array for variable, array in entry.states):
                for launch in entry.launches:
                    bound = launch.bound
                    words = bound.words
                    for index, source, offset in launch.slots:
                        words[index] = pointers[source] + offset
                    bound.launch(launch.dims, launch.shared_bytes, stream)
                return None
            del self._entries[key]  # a state array was replaced (load_state_dict, a merge...): learn again
            self._tries.pop(key, None)
        if key in self._refused or len(self._tries) >= MAX_SIGNATURES and key not in self._tries:
            return method(metric, *args, **kwargs)
        with raw_launch.recording() as recorded, _AllocationWatch(self._cupy) as watch:
            result = method(metric, *args, **kwargs)
        self._learn(metric, key, extents, recorded, watch.seen)
        return result

    def _learn(self, metric, key, extents, recorded, allocated):
        tries = self._tries[key] = self._tries.get(key, 0) + 1
        if allocated:  # a first update makes what the metric keeps (constants, lazily sized states); later ones don't
            if tries >= MAX_TRIES:
                self._refused.add(key)
            return
        launches = self._normalized(metric, extents, recorded) if recorded else None
        if launches is None:
            self._pending.pop(key, None)
            self._refused.add(key)
            return
        states = tuple((variable, variable.value) for variable in metric.variables)
        pending = self._pending.pop(key, None)
        if pending is None:
            self._pending[key] = _Entry(launches, states)
        elif (len(pending.launches) == len(launches) and _same_states(pending.states, states)
              and all(a.same_as(b) for a, b in zip(pending.launches, launches))):
            self._entries[key] = _Entry([launch.bind() for launch in launches], states)
        else:
            self._refused.add(key)

    @staticmethod
    def _normalized(metric, extents, recorded):
        """The recorded launches with input pointers as slots, or None where a parameter has no known source."""
        inputs = [_extent(*e) for e in extents]
        starts = [e[3] for e in extents]
        from ._kernels._shared import launch as launch_module  # numba.cuda: only once an update is being learned

        kept_arrays = metric.device_arrays() + launch_module.kept_arrays()
        kept = [_extent(a.shape, a.strides, a.itemsize, a.data.ptr) for a in kept_arrays]
        launches = []
        for plan, dims, shared_bytes, values, arrays in recorded:
            slots, owners, index = [], [], 0
            values = list(values)
            for array in arrays:
                if isinstance(array, raw_launch.SCALAR_TYPES):
                    index += 1
                    continue
                ptr = values[index + 4]
                sources, owners_of = _holders(ptr, inputs), _holders(ptr, kept)
                if len(sources) + len(owners_of) != 1 and sources:
                    return None  # inputs that overlap (x passed twice, two views of one buffer): whose is it?
                if sources:
                    slots.append((index + 4, sources[0], ptr - starts[sources[0]]))
                    values[index + 4] = None
                elif owners_of:
                    owners.append(kept_arrays[owners_of[0]])
                else:
                    return None  # a temporary
                index += 5 + 2 * array.ndim
            launches.append(_Launch(plan, dims, shared_bytes, tuple(values), tuple(slots), owners))
        return launches
