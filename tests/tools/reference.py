#!/usr/bin/python3
"""An independent reference for the order and the selection (README, Semantics):
recompute a run from its recorded job with numpy (Philox4x32-10, the built-in
uniform / discrete_uniform / fail generators and mixtures of them), sort all N
samples, select, and compare with the record.

Randomness mapping (common/rng.h): word w of stream s is out[w & 1] of the Philox block
at counter (lo32(w >> 1), hi32(w >> 1), s, 0), where out[0] = w0 | w1 << 32 and
out[1] = w2 | w3 << 32. Sample i uses word i of the value, tie and component streams;
selection number s uses word s of the selection stream.

usage: reference.py FILE.h5 RUN      exit 0 when the record matches, 1 otherwise
"""
import json
import math
import sys

import h5py
import numpy as np

MASK = np.uint64(0xFFFFFFFF)
M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
STREAM_VALUE, STREAM_TIE, STREAM_COMPONENT, STREAM_SELECT = 0, 1, 2, 3


def philox_block(seed, index, stream, attempt=0):
    """The two 64-bit words of Philox4x32-10 at counter (index, stream, attempt)."""
    index = np.asarray(index, dtype=np.uint64)
    c0, c1 = index & MASK, index >> np.uint64(32)
    c2 = np.full_like(index, stream)
    c3 = np.full_like(index, attempt)
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for _ in range(10):
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & MASK)
        k0, k1 = (k0 + W0) & 0xFFFFFFFF, (k1 + W1) & 0xFFFFFFFF
    return c0 | (c1 << np.uint64(32)), c2 | (c3 << np.uint64(32))


def words(seed, stream, w):
    """Words w (an array of indices) of a main stream: one block serves two words."""
    w = np.asarray(w, dtype=np.uint64)
    out0, out1 = philox_block(seed, w >> np.uint64(1), stream)
    return np.where((w & np.uint64(1)) == 0, out0, out1)


def u01(bits):
    return (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53


def dist_values(spec, seed, idx):
    kind = spec["kind"]
    if kind == "fail":
        return np.full(len(idx), np.nan)
    u = u01(words(seed, STREAM_VALUE, idx))
    if kind == "uniform":
        return spec["low"] + (spec["high"] - spec["low"]) * u
    if kind == "discrete_uniform":
        return spec["low"] + np.floor(u * (spec["high"] - spec["low"] + 1.0))
    raise SystemExit(f"reference.py: generator kind {kind!r} is not reproduced here")


def draw(job, idx):
    """Values and component costs of samples idx."""
    gen, seed = job["generator"], job["seed"]
    if gen["kind"] != "mixture":
        return dist_values(gen, seed, idx), np.zeros(len(idx))
    comps = gen["components"]
    upper, acc = [], 0.0
    for c in comps:
        acc += c["weight"]
        upper.append(acc)
    u = u01(words(seed, STREAM_COMPONENT, idx)) * upper[-1]
    which = np.full(len(idx), len(comps) - 1)
    for j in range(len(comps) - 2, -1, -1):
        which[u < upper[j]] = j
    values, costs = np.empty(len(idx)), np.empty(len(idx))
    for j, c in enumerate(comps):
        sel = which == j
        values[sel] = dist_values(c["generator"], seed, idx[sel])
        costs[sel] = c.get("cost", 0.0)
    return values, costs


def snap(x):
    r = float(np.rint(x))
    return r if abs(x - r) <= 8 * np.finfo(float).eps * abs(x) else x


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    path, run = sys.argv[1], sys.argv[2]
    with h5py.File(path, "r") as f:
        g = f["runs"][run]
        rec = {k: g.attrs[k] for k in g.attrs}
        top_index = g["top/index"][...]
        top_utility = g["top/utility"][...]
        top_cost = g["top/cost"][...] if "cost" in g["top"] else None
    job = json.loads(rec["job"])
    seed, n = job["seed"], int(rec["samples"])
    idx = np.arange(n, dtype=np.uint64)
    utility, cost = draw(job, idx)
    valid = ~np.isnan(utility)
    invalid = int(n - valid.sum())
    idx, utility, cost = idx[valid], utility[valid], cost[valid]
    tie = words(seed, STREAM_TIE, idx)
    order = np.lexsort((idx, tie, utility))[::-1]  # utility, then tie key, then index: best first
    mass = snap(job["q"] * float(len(idx)))
    k = 1 if mass < 1 else math.ceil(mass)
    top = order[:k]
    threshold = utility[top[-1]]
    ties = int((utility == threshold).sum()) - 1
    pos = int(math.floor(float(u01(words(seed, STREAM_SELECT, [0]))[0]) * mass))
    pos = min(pos, k - 1)

    want = {
        "invalid_samples": invalid, "mass": mass, "top_count": k, "threshold": threshold,
        "boundary_ties": ties, "selected_position": pos, "selected_index": int(idx[top[pos]]),
    }
    problems = [f"{name}: record {rec[name]!r}, reference {value!r}"
                for name, value in want.items() if rec[name] != value]
    if not np.array_equal(top_index, idx[top]):
        problems.append("top/index differs from the reference order")
    if not np.array_equal(top_utility, utility[top]):
        problems.append("top/utility differs")
    if top_cost is not None and not np.array_equal(top_cost, cost[top]):
        problems.append("top/cost differs")
    for p in problems:
        print(f"{path} {run}: {p}")
    if problems:
        return 1
    print(f"{path} {run}: matches the reference (N = {n}, K = {k}, {ties} boundary ties)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
