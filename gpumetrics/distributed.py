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

The first sync of a metric over a group first all-gathers a 32-byte record
alone (the fingerprint, the payload length, the length of a description of
the metrics, and whether they are settled) and, when the fingerprints agree,
the buffers follow; from then on a sync is one collective. Metrics with a
``concat`` state (``ExactAUC``'s stored keys) hold as many rows as each rank
saw, so their buffers differ in length: the row count of every such state
travels in a table after the header, and each such sync is two collectives,
the records and then every rank's buffer padded to the longest (an all-gather
moves equal sizes).

When the fingerprints differ (all ranks see it in the records), every rank
appends its description (JSON: per metric the digest of its class and
configuration, whether it is built, and its states' names, merge rules, dtypes
and shapes) to its buffer, and the buffers go padded to the longest: still two
collectives, a few hundred bytes more. Each rank then reads every rank's
description, and where ranks differ in anything but whether a metric is built
(a metric that builds its states from its first batch, such as ``R2Score``,
the F-scores, ``AUC(multi_label=True)`` or ``ExactAUC``, on a rank that saw no
batch) every rank raises the same ``ValueError``. Otherwise a rank whose metric
is unbuilt contributes nothing to it: the synced metric is the merge of the
ranks that built it, all of one size (the other states of an unbuilt metric,
declared up front, are left out with it: it saw no batch), built on the ranks
that had not built it (``in_place=True`` builds the local metric); a metric
unbuilt on every rank stays unbuilt, as a merge of unbuilt metrics does. Such
a sync is never remembered: the next one checks the ranks again.
All ranks must call ``sync`` with the same metrics in the same order, as for
any collective.

By default ``sync`` returns synced copies and leaves the local metrics as they
were, so each rank can keep updating with its own shard and sync again without
counting the others twice; ``in_place=True`` writes the global states into the
local metrics instead (then reset them before the next round of updates).

An all-gather moves ``world size x state bytes`` to each rank: a few KiB for
most metrics (AUC(200) is 3.2 KiB, MeanIoU(C) ``8 C^2`` bytes).
"""
import json
import weakref

import numpy as np

from ._identity import describe, digest
from .collection import MetricCollection
from .metric import Metric, package_defines

_HEADER = 16  # fingerprint (8 bytes) + payload length (8 bytes): the head of every buffer
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
    buffer's device. Subclass it to sync over another transport. ``device``: where the transport needs the
    states (``"cuda"`` for NCCL), so that a rank's metric that saw nothing is placed there rather than on the CPU;
    None where either goes."""

    world = 1
    device = None

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

    device = "cuda"

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
        self.device = "cuda" if dist.get_backend(group) == "nccl" else None

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


def _group_key(group, engine):
    """What names ``group`` from one call to the next: the communicator that an engine of this module wraps (so
    that ``MPI(comm, cuda_aware=True)`` written in every call is one group); for torch's default group (None) the
    group object torch holds now, which a destroyed and re-made default group (elastic training) replaces; else the
    object given."""
    if type(group) in (MPI, NCCL):
        return group.comm
    if type(engine) is Torch:
        return engine.dist.group.WORLD if engine.group is None else engine.group
    return group


def _is_verified(metric, key, digest):
    entry = _verified_groups(metric).get(id(key))
    return entry is not None and entry[0] is key and entry[1] == digest


def _settled(metric):
    """Whether ``metric``'s states are all there for good, so that a verified fingerprint stays true on every rank:
    built (an unbuilt one builds on the rank that sees a batch), and updated by this package's ``update_state``,
    whose states are declared up front; an ``update_state`` of your own may add a variable at its first batch
    (Keras's own F1Score builds so), which ``is_built`` does not tell, so it is checked at every sync (one 32-byte
    all-gather more)."""
    return metric.is_built and package_defines(metric, "update_state")


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
def _identity(metric):
    """``describe(metric)`` and what its configuration cannot name but ranks must agree on (``_peer_identity``: a
    lambda's code)."""
    return {**describe(metric), **metric._peer_identity()}


def _structure(metric):
    """Everything ranks must agree on for one metric (the states' shapes included, but a concat state's rows)."""
    return {**_identity(metric), "states": _states(metric)}


def _states(metric):
    """``[[name, merge rule, dtype, shape]]`` of ``metric``'s states in layout order (a concat state's rows None)."""
    return [[v.name, v.merge, v.dtype, _agreed_shape(v)] for v in metric.variables]


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


def _layout(metrics, rows=None, states=None):
    """``[(metric index, state name, dtype, byte offset, shape)]`` and the payload length. ``rows``: the row counts
    of the ``concat`` states on the rank described (default: this rank's), which sit in a table after the header;
    ``states``: that rank's ``_states`` of each metric (default: this rank's)."""
    rows = list(_concat_rows(metrics) if rows is None else rows)
    states = [_states(m) for m in metrics] if states is None else states
    layout, offset = [], _HEADER + 8 * len(rows)
    rows = iter(rows)
    for i, described in enumerate(states):
        for name, merge, dtype, shape in described:
            shape = tuple((int(next(rows)),) + tuple(shape[1:]) if merge == "concat" else shape)
            layout.append((i, name, dtype, offset, shape))
            offset += _padded(int(np.prod(shape)) * np.dtype(dtype).itemsize)
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
    for i, name, _, offset, _ in layout:
        raw = xp.ascontiguousarray(metrics[i]._state_of(name).value).reshape(-1).view(xp.uint8)
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
                         f"configuration, order or state shapes of {names}")
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

    A metric that builds its states from its first batch and is unbuilt on a rank that saw none contributes nothing
    from that rank: every rank gets the merge of the ranks that built it (an unbuilt local metric is built to their
    size when ``in_place``). Such a sync costs two collectives (records, then buffers with descriptions) and is
    checked again next time; once every rank has built, a sync is one collective again.

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
    if engine.device is not None:  # a metric that saw nothing on this rank goes where its peers' states are
        for metric in metrics:
            if not metric.is_placed:
                metric.place(engine.device)
    devices = {m.backend.device for m in metrics}  # asking places an auto metric that saw nothing on the CPU
    if len(devices) != 1:
        raise ValueError(f"metrics synced together must share a device; got {sorted(devices)}")
    xp = metrics[0].xp
    digest = fingerprint(metrics)
    key = _group_key(group, engine)
    buffer = _pack(metrics, xp, digest)
    described = None  # every rank's description, when the ranks' fingerprints differ
    if _concat_rows(metrics) or not all(_is_verified(m, key, digest) for m in metrics):
        # An unverified rank checks; every rank does, since a rank is verified only where all were settled
        # (built, with declared states) and agreed: no rank's fingerprint can have changed alone since.
        description = _description(metrics)  # sent only when the fingerprints differ; its length goes ahead
        record = np.array([digest, buffer.size, len(description), _settled_all(metrics)], dtype="<i8")  # 32 bytes
        records = _to_host(engine.allgather(xp.asarray(record.view(np.uint8)))).copy().view("<i8")
        digests, lengths, sizes, settled = (records[:, k] for k in range(4))
        if (digests == digests[0]).all():
            if settled.all() and not _concat_rows(metrics):  # decided from every rank's record: the same on all
                for metric in metrics:
                    _remember(metric, key, digest)
            longest = int(lengths.max())
        else:  # built on some ranks only, or a mismatch: every buffer carries its rank's description
            buffer = xp.concatenate([buffer, xp.asarray(np.frombuffer(description, np.uint8))])
            longest = int((lengths + sizes).max())
            described = (lengths, sizes)
        buffer = xp.concatenate([buffer, xp.zeros(longest - buffer.size, dtype=xp.uint8)])
    gathered = engine.allgather(buffer)
    if described is None:
        _check_headers(_to_host(gathered[:, :_HEADER]), metrics)
        merged = _merge_ranks(metrics, gathered)
    else:
        states, contributing = _agreed_states(_read_descriptions(gathered, xp, *described), metrics)
        merged = _merge_ranks(metrics, gathered, states, contributing)
    if not in_place:
        return merged[0] if single else merged
    for metric, result in zip(metrics, merged):
        if result.is_built and not metric.is_built:  # unbuilt here, built elsewhere: built to their size first
            _built_to(metric, _states(result))
        for mine, theirs in zip(metric.variables, result.variables):
            mine.assign(theirs.value)
    return metrics[0] if single else metrics


def _to_host(array):
    return array if isinstance(array, np.ndarray) else array.get()  # synchronize! a sync ends on the host


def _settled_all(metrics):
    return int(all(_settled(m) for m in metrics))


# -- ranks that differ: descriptions ------------------------------------------------------------------------------
def _description(metrics):
    """What each rank says of its metrics when fingerprints differ, as JSON bytes: per metric the digest of its
    class and configuration, whether it is built, and its ``_states`` (plain data: a peer's is read, never run)."""
    return json.dumps([[digest(_identity(m)), bool(m.is_built), _states(m)] for m in metrics]).encode()


def _read_descriptions(gathered, xp, lengths, sizes):
    """Every rank's description, read from behind its payload in the gathered buffers (one copy of those bytes
    alone to the host: a peer's payload may be large)."""
    columns = np.minimum(lengths[:, None] + np.arange(int(sizes.max())), gathered.shape[1] - 1)
    host = _to_host(gathered[xp.arange(gathered.shape[0])[:, None], xp.asarray(columns)])  # synchronize!
    return [json.loads(host[r, :int(sizes[r])].tobytes()) for r in range(host.shape[0])]


def _agreed_states(descriptions, metrics):
    """Every rank's ``_states`` of every metric, and per metric the ranks that merge: those that built it (all when
    none did). Raise the same ``ValueError`` on every rank (all read the same descriptions) when ranks differ in
    anything but whether a metric is built: class, configuration, order, or the states of built ranks."""
    names = [type(m).__name__ for m in metrics]
    first = [entry[0] for entry in descriptions[0]]
    odd = [r for r, d in enumerate(descriptions) if [entry[0] for entry in d] != first]
    if odd:
        raise ValueError(f"ranks disagree on the metrics to sync: ranks {odd} differ from rank 0 in class, "
                         f"configuration or order of {names} (a MeanMetricWrapper's lambda or local function counts "
                         f"by its code and the values it closes over)")
    contributing = []
    for i, name in enumerate(names):
        built = [r for r, d in enumerate(descriptions) if d[i][1]]
        for ranks in (built, [r for r in range(len(descriptions)) if r not in built]):
            odd = [r for r in ranks if descriptions[r][i][2] != descriptions[ranks[0]][i][2]]
            if odd:
                raise ValueError(
                    f"ranks disagree on the metrics to sync: ranks {odd} hold other states than rank {ranks[0]} for "
                    f"{name} (metric {i} of {names}): {descriptions[odd[0]][i][2]} against "
                    f"{descriptions[ranks[0]][i][2]} (a metric sized by its first batch, such as R2Score or "
                    f"AUC(multi_label=True), needs batches of one size on every rank, ExactAUC one score layout; "
                    f"a metric of your own that adds states at its first batch must have seen a batch on every "
                    f"rank)")
        contributing.append(built or list(range(len(descriptions))))
    return [[d[2] for d in description] for description in descriptions], contributing


def _built_to(metric, states):
    """``metric``, unbuilt, built to ``states`` (a peer's names, dtypes and shapes) and reset: by
    ``load_state_dict``, which every metric class builds by, from zeros of those shapes (no rows for concat)."""
    metric.load_state_dict({name: np.zeros([0 if d is None else d for d in shape], np.dtype(dtype))
                            for name, _, dtype, shape in states}, strict=False)
    metric.reset_state()
    if _states(metric) != states:
        raise ValueError(f"{metric.name} ({type(metric).__name__}) cannot be built to its peers' states {states} "
                         f"by load_state_dict; it holds {_states(metric)}")
    return metric


def _merge_ranks(metrics, gathered, states=None, contributing=None):
    """Each contributing rank's states as a copy of a metric of their layout (the local metric, or a copy built to
    it), merged in rank order into a fresh copy. ``states``: every rank's ``_states`` of each metric (default: the
    local ones); ``contributing``: the ranks merged per metric (default: all)."""
    world = gathered.shape[0]
    states = [[_states(m) for m in metrics]] * world if states is None else states
    contributing = [list(range(world))] * len(metrics) if contributing is None else contributing
    counts = [sum(merge == "concat" for described in mine for _, merge, _, _ in described) for mine in states]
    tables = _to_host(gathered[:, _HEADER:_HEADER + 8 * max(counts)]).copy().view("<i8")  # synchronize! (rows)
    bases = []
    for i, metric in enumerate(metrics):
        reference = states[contributing[i][0]][i]
        bases.append(metric if _states(metric) == reference else _built_to(metric.copy(), reference))
    peers = {}
    for rank in range(world):
        for i, name, dtype, offset, shape in _layout(metrics, tables[rank][:counts[rank]], states[rank])[0]:
            if rank not in contributing[i]:
                continue
            if (rank, i) not in peers:
                peers[rank, i] = bases[i].copy()
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            view = gathered[rank, offset:offset + nbytes].view(dtype)
            peers[rank, i]._state_of(name).assign(view.reshape(shape))
    merged = []
    for i, base in enumerate(bases):
        total = base.copy()
        total.reset_state()
        total.merge_state([peers[rank, i] if (rank, i) in peers else bases[i].copy() for rank in contributing[i]])
        merged.append(total)
    return merged
