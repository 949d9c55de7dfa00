"""Metrics past one process: every state of a list of metrics in one buffer, one all-gather, a merge in rank order.

``sync(metrics, group)`` combines the states that each rank accumulated on its
own shard into the states of the whole stream, on every rank:

1. all states of all the metrics are packed, on their device, into one byte
   buffer behind a 16-byte header (a fingerprint of the metrics' classes,
   configurations, state names, merge rules, dtypes and shapes, and the
   payload length);
2. one all-gather over the engine brings every rank's buffer to every rank
   (MPI through ``mpi4py``, NCCL through ``cupy.cuda.nccl``, or
   ``torch.distributed``; each imported only when used);
3. each rank checks the fingerprints, unpacks the peers' states and merges
   them in rank order with the metrics' own merge rules (``sum``, ``max``,
   ``min``, ``concat``, ``moments``), so every rank gets the same bits.

The first sync of a metric over a group first all-gathers the 16-byte headers
alone and raises ``ValueError`` on every rank when they disagree (another
configuration, another number of labels, a state not built yet), instead of
running a collective of mismatched sizes; from then on a sync is one collective.
Metrics with a ``concat`` state (``ExactAUC``'s stored keys) hold as many rows
as each rank saw, so their buffers differ in length: the row count of every
such state travels in a table after the header, and each such sync is two
collectives, the 16-byte headers (digests and lengths) and then every rank's
buffer padded to the longest (an all-gather moves equal sizes).
All ranks must call ``sync`` with the same metrics in the same order, as for
any collective.

By default ``sync`` returns synced copies and leaves the local metrics as they
were, so each rank can keep updating with its own shard and sync again without
counting the others twice; ``in_place=True`` writes the global states into the
local metrics instead (then reset them before the next round of updates).

An all-gather moves ``world size x state bytes`` to each rank: a few KiB for
most metrics (AUC(200) is 3.2 KiB, MeanIoU(C) ``8 C^2`` bytes).
"""
import weakref

import numpy as np

from ._identity import describe, digest
from .collection import MetricCollection
from .metric import Metric

_HEADER = 16  # fingerprint (8 bytes) + payload length (8 bytes)
#: id(metric) -> {id(group key): (group key, the fingerprint its ranks agreed on)}; a metric whose entry matches
#: skips the header check. Keyed by id, not by the metric, so that a subclass with ``__eq__`` (unhashable) syncs
#: too. The group key is held, so that its id cannot name another group later: a rank that skipped the check
#: while its peers ran it would send a buffer of another size (a raw MPI / gloo error, or a peer's numbers merged
#: from a collective out of step).
_verified = {}
_VERIFIED_GROUPS = 8  # groups remembered per metric, first verified first forgotten (then checked again)
_ALIGN = 8  # every state starts on an 8-byte boundary, so that it can be viewed in its dtype in place


# -- engines: a world size and an all-gather of one uint8 buffer ------------------------------------------------
class Engine:
    """A communicator reduced to what ``sync`` needs: ``world`` and ``allgather(buffer) -> (world, n)`` on the
    buffer's device. Subclass it to sync over another transport."""

    world = 1

    def allgather(self, buffer):
        raise NotImplementedError


class Local(Engine):
    """One process: the all-gather of a buffer is the buffer."""

    def allgather(self, buffer):
        return buffer.reshape(1, -1)


class MPI(Engine):
    """An ``mpi4py`` communicator. CPU buffers go as they are; GPU buffers go directly when ``cuda_aware`` (an MPI
    built with CUDA support), through host memory otherwise (MPI cannot tell; the default is the safe one)."""

    def __init__(self, comm, cuda_aware=False):
        self.comm = comm
        self.world = comm.Get_size()
        self.cuda_aware = cuda_aware

    def allgather(self, buffer):
        if isinstance(buffer, np.ndarray):
            gathered = np.empty((self.world, buffer.size), np.uint8)
            self.comm.Allgather(buffer, gathered)
            return gathered
        import cupy

        cupy.cuda.get_current_stream().synchronize()  # synchronize! MPI does not order itself after CuPy's stream
        if self.cuda_aware:
            gathered = cupy.empty((self.world, buffer.size), cupy.uint8)
            self.comm.Allgather(buffer, gathered)
            return gathered
        host = cupy.asnumpy(buffer)  # synchronize!
        gathered = np.empty((self.world, buffer.size), np.uint8)
        self.comm.Allgather(host, gathered)
        return cupy.asarray(gathered)


class NCCL(Engine):
    """A ``cupy.cuda.nccl.NcclCommunicator``: GPU buffers only, the all-gather runs on CuPy's current stream."""

    def __init__(self, comm):
        self.comm = comm
        self.world = comm.size()

    def allgather(self, buffer):
        import cupy
        from cupy.cuda import nccl

        if isinstance(buffer, np.ndarray):
            raise ValueError("NCCL syncs GPU states only; these metrics live on the CPU (use MPI or torch "
                             "gloo, or create the metrics with device='cuda')")
        gathered = cupy.empty((self.world, buffer.size), cupy.uint8)
        self.comm.allGather(buffer.data.ptr, gathered.data.ptr, buffer.size, nccl.NCCL_UINT8,
                            cupy.cuda.get_current_stream().ptr)
        return gathered


class Torch(Engine):
    """``torch.distributed`` (gloo for CPU states, nccl for GPU states), zero-copy through DLPack."""

    def __init__(self, group=None):
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError("torch.distributed is not initialised: call torch.distributed.init_process_group "
                               "first, or pass an mpi4py / NCCL communicator as the group")
        self.dist = dist
        self.group = group
        self.world = dist.get_world_size(group)

    def allgather(self, buffer):
        import torch

        on_gpu = not isinstance(buffer, np.ndarray)
        if on_gpu:
            import cupy

            cupy.cuda.get_current_stream().synchronize()  # synchronize! torch's streams are not CuPy's
        tensor = torch.from_dlpack(buffer)
        parts = [torch.empty_like(tensor) for _ in range(self.world)]
        self.dist.all_gather(parts, tensor, group=self.group)
        gathered = torch.stack(parts)
        if on_gpu:
            torch.cuda.current_stream().synchronize()  # synchronize! hand the result back to CuPy's stream
            return cupy.from_dlpack(gathered)
        return gathered.numpy()


def _verified_groups(metric):
    """The groups whose ranks agreed on ``metric``'s fingerprint: a map that lives as long as the metric."""
    if id(metric) not in _verified:
        _verified[id(metric)] = {}
        weakref.finalize(metric, _verified.pop, id(metric), None)
    return _verified[id(metric)]


def _group_key(group):
    """What names ``group`` from one call to the next: the communicator that an engine of this module wraps (so
    that ``MPI(comm, cuda_aware=True)`` written in every call is one group), else the object given."""
    if type(group) in (MPI, NCCL):
        return group.comm
    if type(group) is Torch:
        return group.group
    return group


def _is_verified(metric, key, digest):
    entry = _verified_groups(metric).get(id(key))
    return entry is not None and entry[0] is key and entry[1] == digest


def _settled(metric):
    """Whether ``metric``'s states are all there for good, so that a verified fingerprint stays true on every rank:
    built (an unbuilt one builds on the rank that sees a batch), and updated by this package's ``update_state``,
    whose states are declared up front; an ``update_state`` of your own may add a variable at its first batch
    (Keras's own F1Score builds so), which ``is_built`` does not tell, so it is checked at every sync (one 16-byte
    all-gather more)."""
    return metric.is_built and type(metric).update_state.__module__.startswith("gpumetrics.")


def _remember(metric, key, digest):
    groups = _verified_groups(metric)
    groups.pop(id(key), None)
    groups[id(key)] = (key, digest)
    while len(groups) > _VERIFIED_GROUPS:
        groups.pop(next(iter(groups)))


def engine_for(group):
    """The engine of ``group``: an ``Engine``, an ``mpi4py`` communicator, a CuPy NCCL communicator, a
    ``torch.distributed`` process group, or None (the default torch group when initialised, else one process)."""
    if isinstance(group, Engine):
        return group
    if group is None:
        try:
            import torch.distributed as dist
        except ImportError:
            return Local()
        return Torch() if dist.is_available() and dist.is_initialized() else Local()
    module = type(group).__module__
    if module.startswith("mpi4py"):
        return MPI(group)
    if module.startswith("cupy") and type(group).__name__ == "NcclCommunicator":
        return NCCL(group)
    if module.startswith("torch"):
        return Torch(group)
    raise TypeError(f"cannot sync over a {type(group).__module__}.{type(group).__name__}: pass an mpi4py "
                    f"communicator, a cupy.cuda.nccl.NcclCommunicator, a torch.distributed group or an Engine")


# -- packing ------------------------------------------------------------------------------------------------------
def _structure(metric):
    """Everything ranks must agree on for one metric (the states' shapes included, but a concat state's rows)."""
    return {**describe(metric), "states": [(v.name, v.merge, v.dtype, _agreed_shape(v)) for v in metric.variables]}


def _agreed_shape(variable):
    shape = list(variable.value.shape)
    return [None] + shape[1:] if variable.merge == "concat" else shape


def _concat_rows(metrics):
    """The row count of every ``concat`` state of ``metrics``, in layout order (known on the host)."""
    return [v.value.shape[0] for m in metrics for v in m.variables if v.merge == "concat"]


def fingerprint(metrics):
    """An 8-byte digest of the metrics' classes, configurations and state layouts, as a little-endian int64."""
    return digest([_structure(m) for m in metrics])


def _padded(nbytes):
    return -(-nbytes // _ALIGN) * _ALIGN


def _layout(metrics, rows=None):
    """``[(metric index, variable, byte offset, shape)]`` and the payload length. ``rows``: the row counts of the
    ``concat`` states on the rank described (default: this rank's), which sit in a table after the header."""
    rows = list(_concat_rows(metrics) if rows is None else rows)
    layout, offset = [], _HEADER + 8 * len(rows)
    rows = iter(rows)
    for i, metric in enumerate(metrics):
        for variable in metric.variables:
            shape = variable.value.shape
            if variable.merge == "concat":
                shape = (int(next(rows)),) + shape[1:]
            layout.append((i, variable, offset, shape))
            offset += _padded(int(np.prod(shape)) * np.dtype(variable.dtype).itemsize)
    return layout, offset


def _header(xp, digest, length):
    return xp.asarray(np.array([digest, length], dtype="<i8").view(np.uint8))


def _pack(metrics, xp, digest):
    """One uint8 buffer on the metrics' device: the header, then every state's bytes, 8-byte aligned."""
    layout, length = _layout(metrics)
    rows = _concat_rows(metrics)
    buffer = xp.zeros(length, dtype=xp.uint8)
    buffer[:_HEADER] = _header(xp, digest, length)
    buffer[_HEADER:_HEADER + 8 * len(rows)] = xp.asarray(np.array(rows, dtype="<i8").view(np.uint8))
    for _, variable, offset, _ in layout:
        raw = xp.ascontiguousarray(variable.value).reshape(-1).view(xp.uint8)
        buffer[offset:offset + raw.size] = raw
    return buffer


def _check_headers(headers, metrics):
    """``headers``: ``(world, 16)`` on the host. Raise the same ``ValueError`` on every rank when they differ (in
    length too, unless ``concat`` states make lengths differ); return the payload lengths."""
    digests = headers[:, :8].copy().view("<i8")[:, 0]
    lengths = headers[:, 8:16].copy().view("<i8")[:, 0]
    odd_length = (lengths != lengths[0]) & (not _concat_rows(metrics))
    if (digests != digests[0]).any() or odd_length.any():
        odd = [int(r) for r in np.nonzero((digests != digests[0]) | odd_length)[0]]
        names = [type(m).__name__ for m in metrics]
        raise ValueError(f"ranks disagree on the metrics to sync: ranks {odd} differ from rank 0 in class, "
                         f"configuration, order or state shapes of {names} (a metric that builds its state from "
                         f"its first batch, such as R2Score or AUC(multi_label=True), must have seen a batch on "
                         f"every rank before it is synced)")
    return lengths


# -- sync ---------------------------------------------------------------------------------------------------------
def sync(metrics, group=None, *, in_place=False):
    """Combine the states of ``metrics`` (one metric or a list) across the ranks of ``group``.

    Args:
        metrics: a :class:`~gpumetrics.Metric`, a list of them or a :class:`~gpumetrics.MetricCollection`,
            the same on every rank.
        group: an ``mpi4py`` communicator, a ``cupy.cuda.nccl.NcclCommunicator``,
            a ``torch.distributed`` process group, an :class:`Engine`, or None
            (torch's default group when initialised, else this process alone).
        in_place: False (default): return synced copies and leave ``metrics``
            as they are; True: overwrite ``metrics`` with the global states.

    Returns:
        The synced metric(s), in the form given (one metric or a list).

    >>> import gpumetrics
    >>> m = gpumetrics.MeanSquaredError(device="cpu")
    >>> m.update_state([[0.0], [1.0]], [[1.0], [1.0]])
    >>> float(sync(m).result())  # one process: the copy equals the metric
    0.5
    """
    if isinstance(metrics, MetricCollection):  # its members' states, one collective; the same form back
        synced = sync(list(metrics.metrics.values()), group, in_place=in_place)
        return metrics if in_place else metrics.copy_with(synced)
    single = isinstance(metrics, Metric)
    metrics = [metrics] if single else list(metrics)
    engine = engine_for(group)
    devices = {m.backend.device for m in metrics}  # asking places an auto metric that saw nothing on the CPU
    if len(devices) != 1:
        raise ValueError(f"metrics synced together must share a device; got {sorted(devices)}")
    xp = metrics[0].xp
    digest = fingerprint(metrics)
    key = _group_key(group)
    buffer = _pack(metrics, xp, digest)
    if _concat_rows(metrics):  # lengths differ by rank: gather them, then every buffer padded to the longest
        longest = int(_check_headers(_to_host(engine.allgather(buffer[:_HEADER].copy())), metrics).max())
        buffer = xp.concatenate([buffer, xp.zeros(longest - buffer.size, dtype=xp.uint8)])
    elif not all(_is_verified(m, key, digest) for m in metrics):
        _check_headers(_to_host(engine.allgather(buffer[:_HEADER].copy())), metrics)
        if all(_settled(m) for m in metrics):  # else its fingerprint may change on one rank alone
            for metric in metrics:
                _remember(metric, key, digest)
    gathered = engine.allgather(buffer)
    _check_headers(_to_host(gathered[:, :_HEADER]), metrics)
    merged = _merge_ranks(metrics, gathered)
    if not in_place:
        return merged[0] if single else merged
    for metric, result in zip(metrics, merged):
        for mine, theirs in zip(metric.variables, result.variables):
            mine.assign(theirs.value)
    return metrics[0] if single else metrics


def _to_host(array):
    return array if isinstance(array, np.ndarray) else array.get()  # synchronize! a sync ends on the host


def _merge_ranks(metrics, gathered):
    """Each rank's states as a copy of the local metric, merged in rank order into a fresh copy."""
    count = len(_concat_rows(metrics))
    tables = _to_host(gathered[:, _HEADER:_HEADER + 8 * count]).copy().view("<i8")  # synchronize! (rows per rank)
    peers = [[m.copy() for m in metrics] for _ in range(gathered.shape[0])]
    for rank, copies in enumerate(peers):
        for i, variable, offset, shape in _layout(metrics, tables[rank])[0]:
            nbytes = int(np.prod(shape)) * np.dtype(variable.dtype).itemsize
            view = gathered[rank, offset:offset + nbytes].view(variable.dtype)
            copies[i]._state_of(variable.name).assign(view.reshape(shape))
    merged = []
    for i, metric in enumerate(metrics):
        total = metric.copy()
        total.reset_state()
        total.merge_state([copies[i] for copies in peers])
        merged.append(total)
    return merged
