"""What every grouped kernel shares: the group ids as kernels read them, their checks, and the CPU partition plan.

A grouped pass adds row ``r`` into the outputs of group ``g = group_ids[r]`` and drops the row when ``g`` lies
outside ``[0, G)``; the ids travel as a flat read-only ``int64`` view with its element stride (one compiled
signature whatever the caller's integer dtype). Imports no Numba.
"""
import numpy as np

from .casts import flat

#: bytes the CPU twins' per-partition group accumulators may take together (large ``G`` gets fewer partitions)
GROUP_BUDGET = 32 << 20
#: most partitions of a grouped CPU pass
MAX_PARTS = 64


def group_view(group_ids):
    """``(ids, row_stride)``: the group ids as a flat read-only ``int64`` view (the one type kernels read)."""
    ids, (stride,) = flat(group_ids if group_ids.dtype == np.int64 else group_ids.astype(np.int64))
    return ids, stride


def check_group_ids(group_ids, rows):
    """Refuse ids that are not one integer per row: ``TypeError`` for other dtypes, ``ValueError`` for shapes."""
    if group_ids.dtype.kind not in "iu":
        raise TypeError(f"group_ids must be integers; got dtype {group_ids.dtype}")
    if group_ids.shape != (rows,):
        raise ValueError(f"group_ids must have shape ({rows},), one id per row; got {group_ids.shape}")


def check_group_outputs(out_total, out_weight):
    """``G``: the length of the 1-D ``out_total`` (and ``out_weight``, unless None) a grouped sum adds into."""
    if out_total.ndim != 1 or (out_weight is not None and out_weight.shape != out_total.shape):
        seen = None if out_weight is None else out_weight.shape
        raise ValueError(f"grouped sums add into 1-D outputs of one length G; got out_total of shape "
                         f"{out_total.shape} and out_weight of shape {seen}")
    return out_total.shape[0]


def grouped_sum_arguments(group_ids, rows, out_total, out_weight):
    """The trailing arguments of every grouped ``error_sums`` / ``row_sums`` kernel (CPU and CUDA), once checked:
    ``(ids, id_stride, G, out_total, out_weight or out_total, has_out_weight)``."""
    check_group_ids(group_ids, rows)
    groups = check_group_outputs(out_total, out_weight)
    return (*group_view(group_ids), groups, out_total, out_total if out_weight is None else out_weight,
            out_weight is not None)


def partition_count(rows, elements, chunk, slot_bytes):
    """Partitions of a grouped CPU pass: a number fixed by the shapes alone (so the sums' order is), at least one
    chunk of elements each, at most ``MAX_PARTS``, their accumulators of ``slot_bytes`` each within ``GROUP_BUDGET``."""
    return max(1, min(rows, -(-elements // chunk), MAX_PARTS, GROUP_BUDGET // max(slot_bytes, 1)))


_ZERO_IDS = {}


def no_group_ids(like):
    """The ids of an ungrouped call of a kernel that always reads ids: one 0 (read with stride 0), as a flat
    ``int64`` view on ``like``'s device (NumPy in the simulator), made once per device."""
    if isinstance(like, np.ndarray):
        key, xp = "host", np
    else:
        import cupy as xp

        key = like.device.id
    if key not in _ZERO_IDS:
        _ZERO_IDS[key] = group_view(xp.zeros(1, np.int64))[0]
    return _ZERO_IDS[key]


def no_group_ids_kept():
    """The arrays ``no_group_ids`` made (one per device), kept for the process's life."""
    return list(_ZERO_IDS.values())
