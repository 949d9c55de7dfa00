"""CPU partition plans: fixed-size chunks whose partials are summed in chunk order, so every run gives the same bits
(the sums run after every thread is done, called from the launchers: cached like the kernels), and the launchers'
shared steps around them (``summed_chunks``, ``add_grouped_sums``)."""
import numpy as np

from .compile import cpu_function
from .groups import grouped_sum_arguments, partition_count
from .workers import run_items

#: elements per parallel work item; fixed so that the summation order is fixed.
CHUNK = 1 << 15


@cpu_function
def in_chunk_order(totals, weights):
    """The sums of chunk partials, added in chunk order: the fixed order that makes every run give the same bits."""
    total = 0.0
    wsum = 0.0
    for k in range(totals.shape[0]):
        total += totals[k]
        wsum += weights[k]
    return total, wsum


@cpu_function
def add_group_parts(parts, out_total, out_weight, has_out_weight, total_scale, weight_scale):
    """Grouped passes: ``parts[q, 0 / 1, g]`` (partition ``q``'s total and weight of group ``g``) summed in
    partition order, scaled, and added into ``out_total[g]`` / ``out_weight[g]`` (the latter unless
    ``has_out_weight`` is False)."""
    for g in range(parts.shape[2]):
        total = 0.0
        wsum = 0.0
        for q in range(parts.shape[0]):
            total += parts[q, 0, g]
            wsum += parts[q, 1, g]
        out_total[g] += total_scale * total
        if has_out_weight:
            out_weight[g] += weight_scale * wsum


def summed_chunks(task, nchunks, *args, elements):
    """``(total, weight)`` of a batch cut into ``nchunks`` chunks: ``task(lo, hi, totals, weights, *args)`` writes
    chunk ``k``'s partials into slot ``k`` (on threads: ``workers.run_items``), summed in chunk order after."""
    totals, weights = np.zeros(nchunks), np.zeros(nchunks)
    run_items(task, nchunks, totals, weights, *args, elements=elements)
    return in_chunk_order(totals, weights)


def add_grouped_sums(task, args, group_ids, rows, elements, out_total, out_weight, total_scale, weight_scale):
    """The grouped pass of ``error_sums`` / ``row_sums``: ``task(lo, hi, acc, *args, ids, id_stride, G)`` adds the
    rows of partitions ``lo:hi`` (``groups.partition_count``, fixed by the shapes) into ``acc[q]`` (``[2, G]``); the
    partitions are added in order, scaled, into ``out_total`` / ``out_weight`` (``add_group_parts``)."""
    gid, g_rs, groups, out_total, out_weight, has_out_weight = grouped_sum_arguments(group_ids, rows, out_total,
                                                                                     out_weight)
    acc = np.zeros((partition_count(rows, elements, CHUNK, 16 * groups), 2, groups))
    run_items(task, acc.shape[0], acc, *args, gid, g_rs, groups, elements=elements)
    add_group_parts(acc, out_total, out_weight, has_out_weight, float(total_scale), float(weight_scale))
