#!/usr/bin/python3
"""The baseline a Python user would write: draw N normal(0,1) samples with numpy's
default_rng(seed) in chunks, keep the top K with argpartition, report samples/s.

usage: numpy_baseline.py N K [CHUNK]
"""
import sys
import time

import numpy as np

n, k = int(float(sys.argv[1])), int(float(sys.argv[2]))
chunk = int(float(sys.argv[3])) if len(sys.argv) > 3 else 1 << 20
rng = np.random.default_rng(1)
best = np.empty(0)
start = time.perf_counter()
for first in range(0, n, chunk):
    x = rng.standard_normal(min(chunk, n - first))
    if len(x) > k:
        x = x[np.argpartition(x, len(x) - k)[len(x) - k:]]
    best = np.concatenate([best, x])
    if len(best) > k:
        best = best[np.argpartition(best, len(best) - k)[len(best) - k:]]
best = np.sort(best)[::-1]
seconds = time.perf_counter() - start
print(f"{n / seconds:.6g} samples/s (threshold {best[-1]:.6g}, {seconds:.3f} s)")
