"""In a fresh process after a warm-up: do the CUDA kernels MSE and AUC need load from the on-disk cache
(hits) without compiling (misses)? Exit status 0 when every kernel came from the cache."""

import sys

import cupy

import gpumetrics

labels, scores = cupy.asarray([0, 1, 1, 0] * 16), cupy.asarray([0.1, 0.8, 0.4, 0.3] * 16, dtype='float32')
for m in (gpumetrics.AUC(device='cuda'), gpumetrics.MeanSquaredError(device='cuda')):
    m.update_state(labels, scores); m.result()
hits = misses = 0
for name, module in list(sys.modules.items()):
    if name.startswith('gpumetrics._kernels.') and name.endswith('.cuda'):
        for value in vars(module).values():
            stats = getattr(value, 'stats', None)
            if stats is not None and hasattr(stats, 'cache_hits'):
                hits += sum(stats.cache_hits.values()); misses += sum(stats.cache_misses.values())
print(f'cuda kernel cache in a fresh process: {hits} hits, {misses} misses')
sys.exit(0 if hits and not misses else 1)
