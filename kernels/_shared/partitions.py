"""CPU partition plans: fixed-size chunks whose partials are summed in chunk order, so every run gives the same bits
(the sums run after every thread is done, called from the launchers: cached like the kernels)."""
from .compile import cpu_function

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
