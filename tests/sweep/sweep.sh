#!/usr/bin/env bash
# Sweeps (a job with a list of q) and safety accounting: identical records at 1 and
# 3 ranks; every row of sweep/ is what a fresh run at that q records; the safety
# figures agree with the archive's samples; sweeps above the gather limit give the
# same records.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

qs="0.01, 0.001234, 0.0001, 0.00001"
mixjob() { # mixjob NAME Q [OUTPUT]
    job "$1" "$(printf '"seed": 77, "q": %s, "samples": 3000000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.999, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 0.001, "cost": 1, "generator": {"kind": "normal", "mean": 3}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"} %s' "$2" "${3:-}")"
}
mixjob sweep "[$qs]" ', "output": {"archive": "utilities"}'
same_at sweep 1 3

i=0
for q in ${qs//,/}; do
    mixjob "one$i" "$q"
    qz_mpi 2 run "one$i.json" -o ones.h5 --no-progress > /dev/null 2>&1 || bad "single run at q = $q"
    i=$((i + 1))
done
check "each sweep row is what a fresh run at its q records" "$QZ_PYTHON" - <<'PY'
import h5py, math
sw = h5py.File("sweep-3.h5", "r")["runs/sweep/sweep"]
ones = h5py.File("ones.h5", "r")["runs"]
assert len(sw["q"]) == 4
for i in range(4):
    a = ones[f"one{i}"].attrs
    row = {k: sw[k][i] for k in sw}
    assert row["q"] == a["q"] and row["mass"] == a["mass"] and row["top_count"] == a["top_count"], (i, row)
    assert row["threshold"] == a["threshold"] and row["selected_index"] == a["selected_index"]
    assert row["selected_position"] == a["selected_position"]
    assert row["mean_utility"] == a["utility_quantilized_mean"], (row["mean_utility"], a["utility_quantilized_mean"])
    assert row["mean_cost"] == a["cost_quantilized_mean"]
    assert row["cost_bound"] == a["cost_bound"] and row["kl_nats"] == a["kl_nats"]
    assert a["kl_nats"] == -math.log(a["q"])
PY
check "the safety figures agree with the archived samples" "$QZ_PYTHON" - <<'PY'
import h5py, math
import numpy as np
run = h5py.File("sweep-3.h5", "r")["runs/sweep"]
a = run.attrs
c = run["samples/cost"][...]
u = run["samples/utility"][...]
n = len(c)
mean = math.fsum(c) / n
se = math.sqrt(max(0.0, math.fsum(c * c) / n - mean * mean) / (n - 1))
assert abs(a["cost_base_mean"] - mean) <= 1e-15 and abs(a["cost_base_stderr"] - se) <= 1e-12 * se, (a["cost_base_mean"], mean)
assert a["cost_bound"] == a["cost_base_mean"] / a["q"]
# E_Q from the whole archive: sort, weight the top K by the section-2 rule.
order = np.argsort(-u, kind="stable")
for i, q in enumerate(run["sweep/q"][...]):
    m = run["sweep/mass"][i]
    k = int(run["sweep/top_count"][i])
    w = np.full(k, 1.0 / m)
    w[k - 1] = (m - (k - 1)) / m if m >= 1 else 1.0
    top = order[:k]
    assert abs(np.dot(w, u[top]) - run["sweep/mean_utility"][i]) < 1e-12 * abs(run["sweep/mean_utility"][i])
    assert abs(np.dot(w, c[top]) - run["sweep/mean_cost"][i]) < 1e-12
    assert run["sweep/mean_cost"][i] <= run["sweep/cost_bound"][i]
PY

"$QZ_BIN" inspect sweep-3.h5 > inspect.txt
check "inspect shows the sweep table" bash -c "grep -q '^  sweep (4 q):' inspect.txt && test \$(grep -cE '^    (0.01|0.001234|0.0001|1e-05) ' inspect.txt) -eq 4"
check "inspect shows the safety figures and the archive" bash -c "grep -q '^  E_Q\[c\]: ' inspect.txt && grep -q '^  E_gamma\[c\] / q: ' inspect.txt && grep -q '^  archive: *utilities, 3000000 samples' inspect.txt"

# Sweeps whose top sets exceed output.top_gather_limit are swept where the entries
# are (distributed selection and exact sums over the ranks): the same records as the
# gathered sweep, whether only the largest K is above the limit or all are.
for limit in 20000 2000; do
    mixjob "lim$limit" "[$qs]" ", \"output\": {\"top_gather_limit\": $limit}"
    runn "lim$limit" 3 || bad "sweep with gather limit $limit: $(cat "lim$limit-3.err")"
    check "a sweep above the gather limit ($limit) equals the gathered one" \
        h5same sweep-1.h5 sweep "lim$limit-3.h5" "lim$limit" --ignore job --ignore samples
done

finish
