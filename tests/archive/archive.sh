#!/usr/bin/env bash
# Archives (output.archive) and re-selection (quantilize select): an archive written
# at 3 ranks equals one written at 1 rank and holds every sample; other runs of the
# file survive; a killed archiving run resumes to the same file; select from an
# archive equals a fresh run at that q; bad selects are refused.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

job() { # job NAME Q ARCHIVE [EXTRA]: a catastrophic mixture (cost 1 for 1% of samples)
    printf '{"name": "%s", "seed": 21, "q": %s, "samples": 1000000, "chunk_size": 30000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.99, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 0.01, "cost": 1, "generator": {"kind": "normal", "mean": 2}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"},
  "output": {"archive": "%s"} %s}\n' "$1" "$2" "$3" "${4:-}" > "$1.json"
}

# 1. The same archive at 1 and 3 ranks, bit for bit (h5compare walks samples/ too).
job all 0.001 all
qz_mpi 1 run all.json -o all-1.h5 --no-progress > all-1.out 2>&1 || bad "archive run on 1 rank: $(cat all-1.out)"
qz_mpi 3 run all.json -o all-3.h5 --no-progress > all-3.out 2>&1 || bad "archive run on 3 ranks: $(cat all-3.out)"
check "archive at 3 ranks equals archive at 1 rank" h5same all-1.h5 all all-3.h5 all
check "no staging file is left" bash -c '! ls *.tmp 2>/dev/null | grep -q .'

# 2. What the archive holds: every sample, in index order, consistent with top/.
check "the archive holds every sample and agrees with top/" "$QZ_PYTHON" - all-3.h5 <<'PY'
import sys, h5py, numpy as np
run = h5py.File(sys.argv[1], "r")["runs/all"]
s = run["samples"]
n = 1000000
u, c, v, i = s["utility"][:], s["cost"][:], s["value"][:], s["index"][:]
assert s.attrs["mode"] == "all" and s.attrs["count"] == n, dict(s.attrs)
assert all(len(x) == n for x in (u, c, v, i))
assert (i == np.arange(n)).all()
assert (v == u).all(), "utility is the value for this job"
assert set(np.unique(c)) == {0.0, 1.0}
# about 1% of samples come from the costly component: 10000 +- 5 sd (sd ~ 99.5)
assert abs(c.sum() - 10000) < 500, c.sum()
# the costly component has mean 2, the other mean 0
assert abs(u[c == 1].mean() - 2) < 0.05 and abs(u[c == 0].mean()) < 0.01
k = run.attrs["top_count"]
order = np.lexsort((-i, -u))[:k]  # utility descending (no ties among normals here)
assert (run["top/index"][:] == i[order]).all() and (run["top/utility"][:] == u[order]).all()
assert (run["top/cost"][:] == c[order]).all()
assert run["selected"].attrs["utility"] == u[run.attrs["selected_index"]]
assert s["utility"].chunks is not None, "archive datasets are chunked"
PY
check "h5dump reads the archive" bash -c "h5dump -d /runs/all/samples/utility -s 0 -c 3 all-3.h5 | grep -q 'DATA'"

# 3. "utilities" keeps no values; runs already in the file stay as they were.
job utils 0.001 utilities
printf '{"name": "plain", "seed": 1, "q": 0.01, "samples": 5000, "generator": {"kind": "normal"}}' > plain.json
"$QZ_BIN" run plain.json -o mixed.h5 --no-progress > /dev/null
"$QZ_BIN" run plain.json -o plain.h5 --no-progress > /dev/null
qz_mpi 2 run utils.json -o mixed.h5 --no-progress > utils.out 2>&1 || bad "utilities archive: $(cat utils.out)"
check "an earlier run of the file is kept intact" h5same plain.h5 plain mixed.h5 plain
check "\"utilities\" archives index, utility and cost, not value" "$QZ_PYTHON" -c "
import h5py; s = h5py.File('mixed.h5', 'r')['runs/utils/samples']
assert sorted(s) == ['cost', 'index', 'utility'] and s.attrs['mode'] == 'utilities', list(s)"
qz_mpi 2 run utils.json -o mixed.h5 --overwrite --no-progress > /dev/null 2>&1
check "--overwrite replaces an archived run, keeping the others" "$QZ_PYTHON" -c "
import h5py; f = h5py.File('mixed.h5', 'r'); assert sorted(f['runs']) == ['plain', 'utils']"

# 4. select: the archive at another q gives what a fresh run at that q gives (m
#    fractional: 1e6 * 0.01234567 = 12345.67).
job fresh 0.01234567 none
qz_mpi 1 run fresh.json -o fresh.h5 --no-progress > /dev/null 2>&1
qz_mpi 3 run all.json -o sel.h5 --no-progress > /dev/null 2>&1
qz_mpi 3 select sel.h5 --run all --q 0.01234567 --no-progress > sel.out 2>&1
check "select on 3 ranks succeeds ($(tail -1 sel.out))" test $? -eq 0
check "select equals a fresh run at that q and seed" \
    h5same fresh.h5 fresh sel.h5 all-q0.01234567 --ignore job --ignore source_file --ignore source_run
check "select records where its samples came from" "$QZ_PYTHON" -c "
import h5py, json; a = h5py.File('sel.h5', 'r')['runs/all-q0.01234567'].attrs
j = json.loads(a['job'])
assert a['source_file'] == 'sel.h5' and a['source_run'] == 'all', dict(a)
assert j['generator'] == {'kind': 'archive', 'file': 'sel.h5', 'run': 'all'}, j"
check "the archived run is untouched by select" h5same all-1.h5 all sel.h5 all
qz_mpi 2 select sel.h5 --run all --q 0.001 --seed 99 --name reseeded -o other.h5 --no-progress > /dev/null 2>&1
check "select --seed S --name NAME -o OUT: a new run with seed S in OUT" "$QZ_PYTHON" -c "
import h5py; a = h5py.File('other.h5', 'r')['runs/reseeded'].attrs
b = h5py.File('all-1.h5', 'r')['runs/all'].attrs
assert a['seed'] == 99 and a['top_count'] == b['top_count'] and a['source_run'] == 'all'"

# 5. Bad selects: exit 2, one message, nothing written.
sel_bad() { # sel_bad MESSAGE ARGS...
    local msg=$1
    shift
    cp sel.h5 before.h5
    "$QZ_BIN" select "$@" > bad.out 2> bad.err
    local status=$?
    check "select $*: exit 2 (got $status)" test "$status" -eq 2
    check "select $*: says '$msg' ($(cat bad.err))" grep -qF "$msg" bad.err
    check "select $*: the file is unchanged" cmp -s sel.h5 before.h5
}
sel_bad 'no run "nothere"' sel.h5 --run nothere --q 0.01
sel_bad 'run "fresh" has no archive' fresh.h5 --run fresh --q 0.01
sel_bad 'select: --q: must be in (0, 1], got "2"' sel.h5 --run all --q 2
sel_bad 'select: missing --run RUN' sel.h5 --q 0.1
sel_bad 'run "all" already exists' sel.h5 --run all --q 0.1 --name all

# 6. A killed archiving run (SIGKILL after a checkpoint) resumes into the same file.
job long 0.0001 all ', "checkpoint": {"every_seconds": 0.2}'
sed -i 's/"samples": 1000000, "chunk_size": 30000/"samples": 20000000, "chunk_size": 8192/' long.json
qz_mpi 2 run long.json -o longref.h5 --no-progress > /dev/null 2>&1
"$QZ_MPIEXEC" -n 3 "$QZ_BIN" run long.json -o longkill.h5 --no-progress > kill.out 2>&1 &
pid=$!
for i in $(seq 1200); do [ -e longkill.h5.long.ckpt ] && break; sleep 0.1; done
sleep 0.3
pkill -KILL -P "$pid"
wait "$pid"
check "killed: a checkpoint and the staging file remain" \
    bash -c 'test -e longkill.h5.long.ckpt && test -e longkill.h5.long.samples.tmp'
qz_mpi 3 run long.json -o longkill.h5 > kill2.out 2> kill2.err
check "killed: resumed ($(tail -1 kill2.err))" grep -q '^resuming from checkpoint' kill2.err
check "killed: the resumed archive equals an uninterrupted one" h5same longref.h5 long longkill.h5 long

# 7. A run that fails leaves no archive behind.
printf '{"name": "failing", "seed": 1, "q": 0.01, "samples": 100000, "chunk_size": 1000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.9999, "generator": {"kind": "normal"}}, {"weight": 0.0001, "generator": {"kind": "fail"}}]},
  "output": {"archive": "utilities"}}' > failing.json
"$QZ_BIN" run failing.json -o failing.h5 --no-progress > fail.out 2> fail.err
check "a failing archiving run exits 1" test $? -eq 1
check "a failing archiving run leaves no file" bash -c '! ls failing.h5* 2>/dev/null | grep -v lock | grep -q .'

finish
