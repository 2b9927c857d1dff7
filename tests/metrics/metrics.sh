#!/usr/bin/env bash
# Metrics (README "Metrics"): extra scorers that measure the top set but do not
# select. A metric job selects exactly what the same job without metrics selects; its
# figures agree with an independent computation from top/ (the quantilizer's weights
# with exact sums); records are identical at 1 and 3 ranks and after a stop and a
# resume; a sweep records sweep/metrics/NAME per q; text metrics on the test server.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# mixjob NAME Q SAMPLES EXTRA: the mixture of tests/sweep, with cost and utility.
mixjob() {
    job "$1" "$(printf '"seed": 77, "q": %s, "samples": %s,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.99, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 0.01, "cost": 1, "generator": {"kind": "normal", "mean": 3}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"} %s' "$2" "$3" "${4:-}")"
}
METRICS='"metrics": {"v": {"kind": "value"}, "harm": {"kind": "component", "scope": "top"},
  "tail": {"kind": "exec", "command": ["python3", "-c", "import sys, json\nfor l in sys.stdin:\n    r = json.loads(l)\n    print(json.dumps({\"scores\": [1.0 if v > 3 else 0.0 for v in r[\"values\"]]}), flush=True)"]}}'
mixjob plain "[0.01, 0.002]" 300000
mixjob met "[0.01, 0.002]" 300000 ", $METRICS"
same_at met 1 3
runn plain 2 || bad "plain run: $(cat plain-2.err)"

check "metrics do not change what is selected" "$QZ_PYTHON" - <<'PY'
import h5py
a = h5py.File("plain-2.h5", "r")["runs/plain"]
b = h5py.File("met-3.h5", "r")["runs/met"]
for k in ("selected_index", "threshold", "top_count", "utility_quantilized_mean",
          "cost_quantilized_mean", "cost_base_mean", "boundary_ties"):
    assert a.attrs[k] == b.attrs[k], k
for k in ("index", "utility", "cost"):
    assert (a["top/" + k][...] == b["top/" + k][...]).all(), k
for k in a["sweep"]:
    assert (a["sweep/" + k][...] == b["sweep/" + k][...]).all(), k
assert "metrics" not in a and "metrics" in b
PY

check "top/metrics hold each top entry's metric; E_Q by the quantilizer's weights" "$QZ_PYTHON" - <<'PY'
import h5py, math
import numpy as np
r = h5py.File("met-1.h5", "r")["runs/met"]
u = r["top/utility"][...]
c = r["top/cost"][...]
K = int(r.attrs["top_count"])
assert list(r["metrics"]) and sorted(r["metrics"]) == ["harm", "tail", "v"]
order = {n: int(r["metrics"][n].attrs["order"]) for n in r["metrics"]}
assert order == {"v": 0, "harm": 1, "tail": 2}, order
v, harm, tail = (r["top/metrics/" + n][...] for n in ("v", "harm", "tail"))
assert len(v) == K and len(harm) == K and len(tail) == K
# the utility is the value; the component cost is the cost; "tail" is value > 3
assert (v == u).all() and (harm == c).all()
assert (tail == (u > 3).astype(float)).all()
def eq(x, m):  # E_Q with weight 1/m on positions 0..k-2 and (m-(k-1))/m at k-1
    k = max(1, math.ceil(m))
    if m < 1:
        return x[0]
    return math.fsum(list(x[: k - 1]) + [(m - (k - 1)) * x[k - 1]]) / m
m = r.attrs["mass"]
for n, x in (("v", v), ("harm", harm), ("tail", tail)):
    a = r["metrics"][n].attrs
    assert a["quantilized_mean"] == eq(x, m), (n, a["quantilized_mean"], eq(x, m))
    assert a["scope"] == "top" and a["invalid"] == 0
    assert a["quantilized_ci_low"] <= a["quantilized_mean"] <= a["quantilized_ci_high"]
    assert a["quantilized_stderr"] > 0 and "base_mean" not in a
assert r["metrics/v"].attrs["kind"] == "value" and r["metrics/tail"].attrs["kind"] == "exec"
# the component metric of a 0/1 mixture is binary: Clopper-Pearson, as the cost
assert r["metrics/harm"].attrs["ci_method"] == "clopper-pearson"
assert r["metrics/v"].attrs["ci_method"] == "normal"
assert r["metrics/harm"].attrs["quantilized_mean"] == r.attrs["cost_quantilized_mean"]
assert r["metrics/harm"].attrs["quantilized_ci_low"] == r.attrs["cost_quantilized_ci_low"]
# evaluated: the top set of the largest q of the sweep
kmax = int(max(r["sweep/top_count"][...]))
assert r["metrics/v"].attrs["evaluated"] == kmax, (r["metrics/v"].attrs["evaluated"], kmax)
# the sweep: one row per q, E_Q of each q's top set
s = r["sweep"]
for n in ("v", "harm", "tail"):
    for f in ("mean", "stderr", "ci_low", "ci_high"):
        assert len(s["metrics"][n][f]) == len(s["q"]), (n, f)
big = h5py.File("met-1.h5", "r")  # the top of the largest q is not in top/: recompute it
for i, q in enumerate(s["q"][...]):
    mi = s["mass"][i]
    assert s["metrics/harm/mean"][i] == s["mean_cost"][i], i
    assert s["metrics/harm/ci_high"][i] == s["mean_cost_ci_high"][i], i
    assert s["metrics/v/mean"][i] == s["mean_utility"][i], i
    if q == r.attrs["q"]:
        assert s["metrics/tail/mean"][i] == eq(tail, mi)
        assert s["metrics/v/stderr"][i] == r["metrics/v"].attrs["quantilized_stderr"]
PY

# Scope "all": every valid sample scored, E_γ from exact sums, the archive's column;
# the top set's values are those of scope "top", bit for bit.
mixjob all "[0.01, 0.002]" 300000 ', "output": {"archive": "all"},
  "metrics": {"v": {"kind": "value", "scope": "all"}, "vt": {"kind": "value", "scope": "top"},
    "harm": {"kind": "component", "scope": "all"}}'
same_at all 1 3
check "scope all: E_γ from every sample, the archive, scope top restricted" "$QZ_PYTHON" - <<'PY'
import h5py, math
r = h5py.File("all-3.h5", "r")["runs/all"]
N = int(r.attrs["samples"])
for n, col in (("v", "value"), ("harm", "cost")):
    a = r["metrics"][n].attrs
    x = r["samples/metrics/" + n][...]
    assert len(x) == N and (x == r["samples/" + col][...]).all(), n
    assert a["scope"] == "all" and a["evaluated"] == N and a["invalid"] == 0
    mean = math.fsum(x) / N
    se = math.sqrt(max(0.0, math.fsum(x * x) / N - mean * mean) / (N - 1))
    assert a["base_mean"] == mean, (n, a["base_mean"], mean)
    assert abs(a["base_stderr"] - se) <= 1e-12 * se, (n, a["base_stderr"], se)
    assert a["base_ci_low"] < mean < a["base_ci_high"]
# the component metric's E_γ is the cost's, with the same (Clopper-Pearson) interval
assert r["metrics/harm"].attrs["base_mean"] == r.attrs["cost_base_mean"]
assert r["metrics/harm"].attrs["base_ci_low"] == r.attrs["cost_base_ci_low"]
assert r["metrics/harm"].attrs["base_ci_high"] == r.attrs["cost_base_ci_high"]
# scope top gives exactly the figures of scope all restricted to the top set
assert (r["top/metrics/v"][...].view("u8") == r["top/metrics/vt"][...].view("u8")).all()
for k in ("quantilized_mean", "quantilized_stderr", "quantilized_ci_low", "quantilized_ci_high"):
    assert r["metrics/v"].attrs[k] == r["metrics/vt"].attrs[k], k
for f in ("mean", "stderr", "ci_low", "ci_high"):
    assert (r["sweep/metrics/v/" + f][...] == r["sweep/metrics/vt/" + f][...]).all(), f
assert "base_mean" not in r["metrics/vt"].attrs and r["metrics/vt"].attrs["evaluated"] < N
assert list(r["samples/metrics"]) == ["harm", "v"]
PY

# select carries the metrics of scope "all" from the archive: no scorer is called, the
# re-selected run at the source's q has the source's figures.
qz_mpi 2 select all-3.h5 --run all --q 0.01 --name sel -o sel.h5 --no-progress > sel.out 2>&1 ||
    bad "select: $(cat sel.out)"
check "select: the metrics of scope all carried from the archive" "$QZ_PYTHON" - <<'PY'
import h5py
s = h5py.File("sel.h5", "r")["runs/sel"]
r = h5py.File("all-3.h5", "r")["runs/all"]
assert sorted(s["metrics"]) == ["harm", "v"], list(s["metrics"])  # vt (scope top) is not
assert s["metrics/v"].attrs["order"] == 0 and s["metrics/harm"].attrs["order"] == 1
for n in ("v", "harm"):
    a, b = s["metrics"][n].attrs, r["metrics"][n].attrs
    for k in b:
        if k != "order":
            assert a[k] == b[k], (n, k, a[k], b[k])
    assert (s["top/metrics/" + n][...] == r["top/metrics/" + n][...]).all(), n
PY

# A stop and a resume give the record of an uninterrupted run.
N=${QZ_METRICS_SAMPLES:-150000000}
mixjob big 1e-5 "$N" ', "chunk_size": 16384, "checkpoint": {"every_seconds": 0.3},
  "metrics": {"v": {"kind": "value"}, "harm": {"kind": "component", "scope": "all"}}'
qz_mpi 2 run big.json -o bigref.h5 --no-progress > bigref.out 2>&1 || bad "reference: $(cat bigref.out)"
"$QZ_MPIEXEC" -n 3 "$QZ_BIN" run big.json -o bigusr.h5 > bigusr1.out 2> bigusr1.err &
mpirun_pid=$!
wait_until 120 test -e bigusr.h5.big.ckpt || bad "no checkpoint within 120 s"
kill -USR1 "$mpirun_pid"
wait "$mpirun_pid"
status=$?
check "stop: exit status 75 (got $status)" test "$status" -eq 75
expect -d "resumed on 2 ranks: success" -l bigusr2 0 '/^resuming from checkpoint bigusr.h5.big.ckpt' \
    qz_mpi 2 run big.json -o bigusr.h5
check "stop and resume: the record (metrics included) equals the uninterrupted one" \
    h5same bigref.h5 big bigusr.h5 big
check "the resumed record has its metrics" h5q assert bigusr.h5 runs/big/metrics/harm \
    "a['evaluated'] == $N" "a['scope'] == 'all'" "a['base_mean'] > 0"

# Text metrics against the test server.
start_fake text
printf '{"name": "text", "seed": 5, "q": [0.1, 0.05], "samples": 200, "chunk_size": 20,
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
    "prompt": "Write:", "n": 4, "timeout_seconds": 20},
  "utility": {"kind": "length"},
  "metrics": {"len": {"kind": "length"}, "has_e": {"kind": "regex", "pattern": "e"},
    "E": {"kind": "regex", "pattern": "E", "ignore_case": true}}}\n' "$FAKE_URL" > text.json
same_at text 1 3
check "text metrics: each top text's length and matches" "$QZ_PYTHON" - <<'PY'
import h5py, math, re
r = h5py.File("text-3.h5", "r")["runs/text"]
texts = [t.decode() if isinstance(t, bytes) else t for t in r["top/payload"][...]]
K = int(r.attrs["top_count"])
ln = r["top/metrics/len"][...]
he = r["top/metrics/has_e"][...]
E = r["top/metrics/E"][...]
assert len(texts) == K == len(ln) == len(he)
assert [len(t) for t in texts] == list(ln), (texts[:3], ln[:3])
assert [len(re.findall("e", t)) for t in texts] == list(he), (texts[:3], he[:3])
assert (E == he).all() or (E >= he).all()
assert (ln == r["top/utility"][...]).all()
m = r.attrs["mass"]
k = K
want = math.fsum(list(ln[: k - 1]) + [(m - (k - 1)) * ln[k - 1]]) / m
assert r["metrics/len"].attrs["quantilized_mean"] == want
assert len(r["sweep/metrics/has_e/mean"]) == 2
PY

# A tasks job: each task's run holds its own metrics.
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' \
    '{"id": "stones", "prompt": "Write about stones:"}' > prompts.jsonl
printf '{"name": "tk", "seed": 5, "q": [0.1, 0.05], "samples": 120, "chunk_size": 20,
  "tasks": "prompts.jsonl",
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
    "prompt": "unused", "n": 4, "timeout_seconds": 20},
  "utility": {"kind": "length"},
  "metrics": {"len": {"kind": "length", "scope": "all"}, "e": {"kind": "regex", "pattern": "e"}}}\n' \
    "$FAKE_URL" > tk.json
runn tk 1 || bad "tasks on 1 rank: $(cat tk-1.err)"
runn tk 3 || bad "tasks on 3 ranks: $(cat tk-3.err)"
for id in rivers stones; do
    check "tasks: task $id identical at 1 and 3 ranks" h5same tk-1.h5 "tk/tasks/$id" tk-3.h5 "tk/tasks/$id"
done
check "tasks: each task's metrics are its own top set's" "$QZ_PYTHON" - <<'PY'
import h5py, re
f = h5py.File("tk-3.h5", "r")
means = []
for t in ("rivers", "stones"):
    r = f["runs/tk/tasks/" + t]
    texts = [x.decode() if isinstance(x, bytes) else x for x in r["top/payload"][...]]
    assert list(r["top/metrics/e"][...]) == [len(re.findall("e", x)) for x in texts], t
    assert r["metrics/len"].attrs["evaluated"] == r.attrs["valid_samples"], t
    assert len(r["sweep/metrics/e/mean"]) == 2
    means.append(r["metrics/e"].attrs["quantilized_mean"])
assert means[0] != means[1], means
PY

finish
