"""CPU partition plans: fixed-size chunks whose partials are summed in chunk order, so every run gives the same bits."""
import numba

#: elements per parallel work item; fixed so that the summation order is fixed.
CHUNK = 1 << 15


@numba.njit(nogil=True)
def in_chunk_order(totals, weights):
    """The sums of chunk partials, added in chunk order: the fixed order that makes every run give the same bits."""
    total = 0.0
    wsum = 0.0
    for k in range(totals.shape[0]):
        total += totals[k]
        wsum += weights[k]
    return total, wsum
