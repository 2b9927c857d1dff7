#!/usr/bin/env bash
# A scorer's declared "range" (README "Confidence intervals"): the intervals of its
# means are empirical-Bernstein bounds, recomputed here independently from the recorded
# top set; a score outside the range is a run error naming the scorer, the sample and
# the value.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# Utilities uniform on [0, 1) or [0.5, 1.5), declared in [0, 1.5]; component costs 0.2
# and 0.7, declared in [0, 1]: the declared range wins over the components' [0.2, 0.7]
# (the bound's last term is 7 (b − a) ln(2/δ') / (3 (n − 1)): width 1, not 0.5).
job r '"seed": 11, "q": 0.3, "samples": 4000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 1, "cost": 0.2, "generator": {"kind": "uniform", "low": 0, "high": 1}},
    {"weight": 1, "cost": 0.7, "generator": {"kind": "uniform", "low": 0.5, "high": 1.5}}]},
  "utility": {"kind": "value", "range": [0, 1.5]},
  "cost": {"kind": "component", "range": [0, 1]}, "output": {"archive": "utilities"}'
check "a job whose scorers declare ranges runs on 2 ranks" runn r 2
check "both methods are empirical-bernstein" h5q assert r-2.h5 runs/r \
    "a['utility_ci_method'] == 'empirical-bernstein'" "a['cost_ci_method'] == 'empirical-bernstein'"

# Maurer and Pontil (2009, Theorem 4) scaled to [a, b], each side at δ' = δ/2: mean ±
# (sqrt(2 V ln(2/δ') / n) + 7 (b − a) ln(2/δ') / (3 (n − 1))), clipped to [a, b]. Here
# K = qN = 1200 samples of weight 1, so n = K and V is the sample variance plus the
# threshold term (1 − q)(mean − x_t)², x_t the threshold for u and the mean cost of the
# ⌈√K⌉ lowest top-set positions for c. E_γ[c]: all N samples, costs 0.2 or 0.7, so
# Σc² follows from Σc.
cat > eb.py <<'PY'
import math, sys
import h5py, numpy as np

f = h5py.File(sys.argv[1], "r")
g = f["runs/r"]
a = dict(g.attrs)
q, delta = 0.3, 1 - 0.95
l = math.log(2 / (delta / 2))
u = g["top/utility"][:].astype(float)
c = g["top/cost"][:].astype(float)
order = np.argsort(-u, kind="stable")
u, c = u[order], c[order]
K = len(u)
assert K == 1200, K


def eb(mean, var, n, lo, hi):
    d = math.sqrt(2 * var * l / n) + 7 * (hi - lo) * l / (3 * (n - 1))
    return max(lo, mean - d), min(hi, mean + d)


def top(x, at, lo, hi):
    m = x.mean()
    return eb(m, x.var(ddof=1) + (1 - q) * (m - at) ** 2, K, lo, hi)


w = math.ceil(math.sqrt(K))
want = {
    "utility_quantilized": top(u, a["threshold"], 0, 1.5),
    "cost_quantilized": top(c, c[K - w :].mean(), 0, 1),
}
n = 4000
s1 = a["cost_base_mean"] * n
s2 = (0.2 + 0.7) * s1 - n * 0.2 * 0.7
want["cost_base"] = eb(s1 / n, (s2 - s1 * s1 / n) / (n - 1), n, 0, 1)
bad = 0
for name, (lo, hi) in want.items():
    got = a[name + "_ci_low"], a[name + "_ci_high"]
    for side, w_, g_ in (("low", lo, got[0]), ("high", hi, got[1])):
        if not abs(w_ - g_) <= 1e-9 * max(1, abs(w_)):
            print(f"{name}_ci_{side}: recorded {g_!r}, computed {w_!r}")
            bad = 1
        else:
            print(f"{name}_ci_{side}: {g_!r} as computed")
sys.exit(bad)
PY
check "the recorded intervals are the Maurer-Pontil bounds computed from top/" \
    "$QZ_PYTHON" eb.py r-2.h5

# select from the archive makes its intervals as a fresh run would: from the source
# job's declared ranges.
check "select from the run's archive at q = 0.1" \
    qz_mpi 2 select r-2.h5 --run r --q 0.1 --name s --no-progress
check "the selected run's methods are empirical-bernstein too" h5q assert r-2.h5 runs/s \
    "a['utility_ci_method'] == 'empirical-bernstein'" "a['cost_ci_method'] == 'empirical-bernstein'"

# A score outside the declared range: exit 1, no record. Normal utilities in [-1, 1]
# fail at the first sample beyond (on either rank: the index is not fixed).
job out '"seed": 5, "q": 0.1, "samples": 1000, "generator": {"kind": "normal"},
  "utility": {"kind": "value", "range": [-1, 1]}'
expect -l out 1 '/^quantilize: utility: "value" gave sample [0-9]* the score -\{0,1\}[0-9.e+-]*, outside its declared range \[-1, 1\]$' \
    timeout 300 "$QZ_MPIEXEC" -n 2 "$QZ_BIN" run out.json -o out.h5 --no-progress
check "the failed run wrote no record" test ! -e out.h5
finish
