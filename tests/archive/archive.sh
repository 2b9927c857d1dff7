#!/usr/bin/env bash
# Archives (output.archive) and re-selection (quantilize select): an archive written
# at 3 ranks equals one written at 1 rank and holds every sample; other runs of the
# file survive; a killed archiving run resumes to the same file; select from an
# archive equals a fresh run at that q; bad selects are refused.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

mixjob() { # mixjob NAME Q ARCHIVE: a catastrophic mixture (cost 1 for 1% of samples)
    job "$1" "$(printf '"seed": 21, "q": %s, "samples": 1000000, "chunk_size": 30000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.99, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 0.01, "cost": 1, "generator": {"kind": "normal", "mean": 2}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"},
  "output": {"archive": "%s"}' "$2" "$3")"
}

# 1. The same archive at 1 and 3 ranks, bit for bit (h5compare walks samples/ too).
mixjob all 0.001 all
same_at all 1 3
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
mixjob utils 0.001 utilities
printf '{"name": "plain", "seed": 1, "q": 0.01, "samples": 5000, "generator": {"kind": "normal"}}' > plain.json
"$QZ_BIN" run plain.json -o mixed.h5 --no-progress > /dev/null
"$QZ_BIN" run plain.json -o plain.h5 --no-progress > /dev/null
qz_mpi 2 run utils.json -o mixed.h5 --no-progress > utils.out 2>&1 || bad "utilities archive: $(cat utils.out)"
check "an earlier run of the file is kept intact" h5same plain.h5 plain mixed.h5 plain
check "\"utilities\" archives index, utility and cost, not value" h5q assert mixed.h5 \
    runs/utils/samples "sorted(g) == ['cost', 'index', 'utility']" "a['mode'] == 'utilities'"
qz_mpi 2 run utils.json -o mixed.h5 --overwrite --no-progress > /dev/null 2>&1
check "--overwrite replaces an archived run, keeping the others" \
    test "$(h5q keys mixed.h5 runs | paste -sd ' ')" = "plain utils"

# 4. select: the archive at another q gives what a fresh run at that q gives (m
#    fractional: 1e6 * 0.01234567 = 12345.67).
mixjob fresh 0.01234567 none
qz_mpi 1 run fresh.json -o fresh.h5 --no-progress > /dev/null 2>&1
qz_mpi 3 run all.json -o sel.h5 --no-progress > /dev/null 2>&1
expect -l sel 0 '*' qz_mpi 3 select sel.h5 --run all --q 0.01234567 --no-progress
check "select equals a fresh run at that q and seed" \
    h5same fresh.h5 fresh sel.h5 all-q0.01234567 --ignore job --ignore source_file --ignore source_run
check "select records where its samples came from" h5q assert sel.h5 runs/all-q0.01234567 \
    "a['source_file'] == 'sel.h5'" "a['source_run'] == 'all'" \
    "json.loads(a['job'])['generator'] == {'kind': 'archive', 'file': 'sel.h5', 'run': 'all'}"
check "the archived run is untouched by select" h5same all-1.h5 all sel.h5 all
qz_mpi 2 select sel.h5 --run all --q 0.001 --seed 99 --name reseeded -o other.h5 --no-progress > /dev/null 2>&1
check "select --seed S --name NAME -o OUT: a new run with seed S in OUT" h5q assert other.h5 \
    runs/reseeded "a['seed'] == 99" "a['source_run'] == 'all'" \
    "a['top_count'] == h5('all-1.h5')['runs/all'].attrs['top_count']"

# 5. Bad selects: exit 2, one message, nothing written.
sel_bad() { # sel_bad MESSAGE ARGS...
    local msg=$1
    shift
    cp sel.h5 before.h5
    expect 2 "~$msg" "$QZ_BIN" select "$@"
    check "select $*: the file is unchanged" cmp -s sel.h5 before.h5
}
sel_bad 'no run "nothere"' sel.h5 --run nothere --q 0.01
sel_bad 'run "fresh" has no archive' fresh.h5 --run fresh --q 0.01
sel_bad 'select: --q: must be in (0, 1], got "2"' sel.h5 --run all --q 2
sel_bad 'select: missing --run RUN' sel.h5 --q 0.1
sel_bad 'run "all" already exists' sel.h5 --run all --q 0.1 --name all

# 6. A killed archiving run (SIGKILL right after its first checkpoint) resumes into the
#    same file. The samples come from an exec program (about 200k samples/s a rank),
#    so the run outlasts its first checkpoint by seconds even on a loaded machine; a
#    built-in generator would finish within the test's polling interval.
cp "$QZ_SOURCE"/tests/plugins/{generator,testio}.py .
printf '{"name": "long", "seed": 22, "q": 1e-5, "samples": 4000000, "chunk_size": 16384,
  "generator": {"kind": "exec", "command": ["python3", "%s/generator.py", "--numbers"],
                "text": false},
  "output": {"archive": "utilities"}, "checkpoint": {"every_seconds": 0.2}}\n' "$PWD" > long.json
qz_mpi 2 run long.json -o longref.h5 --no-progress > /dev/null 2>&1
"$QZ_MPIEXEC" -n 3 "$QZ_BIN" run long.json -o longkill.h5 --no-progress > kill.out 2>&1 &
pid=$!
wait_until 60 test -e longkill.h5.long.ckpt
pkill -KILL -P "$pid"
wait "$pid"
check "killed: a checkpoint and the staging file remain, no record" \
    bash -c 'test -e longkill.h5.long.ckpt && test -e longkill.h5.long.samples.tmp && test ! -e longkill.h5'
expect -l kill2 0 '/^resuming from checkpoint' qz_mpi 3 run long.json -o longkill.h5
check "killed: the resumed archive equals an uninterrupted one" h5same longref.h5 long longkill.h5 long
rm -f longref.h5 longkill.h5

# 7. A run that fails leaves no archive behind.
printf '{"name": "failing", "seed": 1, "q": 0.01, "samples": 100000, "chunk_size": 1000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.9999, "generator": {"kind": "normal"}}, {"weight": 0.0001, "generator": {"kind": "fail"}}]},
  "output": {"archive": "utilities"}}' > failing.json
expect -l fail 1 '*' "$QZ_BIN" run failing.json -o failing.h5 --no-progress
check "a failing archiving run leaves no file" bash -c '! ls failing.h5* 2>/dev/null | grep -v lock | grep -q .'

# 8. Text: "all" keeps every sample's text (bytes plus offsets, in sample order) from a
#    model server; the same at 1 and 3 ranks and after a SIGUSR1 and resume on 2; and
#    select from it equals a fresh run at another q.
start_fake text
textjob() { # textjob NAME Q ARCHIVE [EXTRA]
    job "$1" "$(printf '"seed": 9, "q": %s, "samples": 480, "chunk_size": 20,
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
    "prompt": "Write:", "n": 4, "timeout_seconds": 20},
  "utility": {"kind": "length"}, "output": {"archive": "%s"} %s' "$2" "$FAKE_URL" "$3" "${4:-}")"
}
textjob txt 0.05 all ', "checkpoint": {"every_seconds": 0}'
textjob txtfresh 0.1 none
same_at txt 1 3
check "the text archive holds every sample's text, agreeing with top/payload" "$QZ_PYTHON" - <<'PY'
import h5py
run = h5py.File("txt-3.h5", "r")["runs/txt"]
s = run["samples"]
off, ln, data = s["payload_offset"][...], s["payload_length"][...], s["payload_bytes"][...].tobytes()
assert len(off) == 480 and off[0] == 0 and all(off[i] + ln[i] == off[i + 1] for i in range(479))
assert off[-1] + ln[-1] == len(data)
texts = [data[off[i]:off[i] + ln[i]].decode("utf-8") for i in range(480)]
assert all(len(t.encode()) == run["samples/utility"][i] for i, t in enumerate(texts))  # length scorer
for idx, t in zip(run["top/index"][...], run["top/payload"][...]):
    assert texts[idx] == t.decode("utf-8"), (idx, texts[idx], t)
PY
qz_mpi 1 run txtfresh.json -o txtfresh.h5 --no-progress > /dev/null 2>&1
expect -l ts 0 '*' qz_mpi 2 select txt-3.h5 --run txt --q 0.1 --no-progress
check "select from a text archive equals a fresh text run at that q" \
    h5same txtfresh.h5 txtfresh txt-3.h5 txt-q0.1 --ignore job --ignore source_file \
    --ignore source_run --ignore generator_request --ignore requests --ignore retries \
    --ignore failed_samples --ignore prompt_tokens --ignore completion_tokens \
    --ignore utf8_repaired_samples \
    $(for a in generator_n generator_model generator_system_fingerprint \
        generator_model_changed completion_tokens_counted texts_nul_replaced failures_http_4xx \
        failures_http_5xx failures_timeout failures_connection failures_protocol \
        failures_no_logprobs generator_servers generator_server_requests \
        generator_server_failures server_outages server_outage_seconds; do
        printf -- '--ignore %s ' "$a"
    done)
arm slow -1 0.3
stop_midway 3 progress tu1.err run txt.json -o txtusr.h5 --progress-every 0.2
check "text archive: SIGUSR1 gives exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
expect -l tu2 0 '/^resuming from checkpoint' qz_mpi 2 run txt.json -o txtusr.h5
# (the requests of an interval the stop rolled back are counted: they were sent again)
check "text archive: the resumed archive equals an uninterrupted one" h5same_resumed txt-1.h5 txt \
    txtusr.h5 txt
check "text archive: no side file is left" bash -c '! ls *.text 2>/dev/null | grep -q .'

# 9. A tasks job archives each task under /runs/NAME/tasks/ID/samples: the same at 1
#    and 3 ranks, and after a SIGUSR1 in the second task and a resume on 2 ranks; select
#    reads a task's archive. (The server is still slowed: 0.3 s a request.)
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' \
    '{"id": "stones", "prompt": "Write about stones:"}' '{"id": "good", "prompt": "Be good:"}' \
    > prompts.jsonl
printf '{"name": "tk", "seed": 5, "q": 0.05, "samples": 120, "chunk_size": 10,
  "tasks": "prompts.jsonl", "checkpoint": {"every_seconds": 0},
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
    "prompt": "unused", "n": 4, "timeout_seconds": 20},
  "utility": {"kind": "length"}, "output": {"archive": "all"}}\n' "$FAKE_URL" > tk.json
runn tk 1 || bad "tasks archive on 1 rank: $(cat tk-1.err)"
runn tk 3 || bad "tasks archive on 3 ranks: $(cat tk-3.err)"
for id in rivers stones good; do
    check "tasks archive: task $id at 3 ranks equals 1 rank" h5same tk-1.h5 "tk/tasks/$id" tk-3.h5 "tk/tasks/$id"
done
stop_midway 3 'task 2 of 3' ku1.err run tk.json -o tkusr.h5
check "tasks archive: SIGUSR1 in task 2 gives exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
expect -l ku2 0 '/^resuming from checkpoint' qz_mpi 2 run tk.json -o tkusr.h5
for id in rivers stones good; do
    check "tasks archive: task $id after the resume equals the uninterrupted one" \
        h5same_resumed tk-1.h5 "tk/tasks/$id" tkusr.h5 "tk/tasks/$id"
done
expect -l ks 0 '*' qz_mpi 2 select tk-3.h5 --run tk/tasks/stones --q 0.1 --no-progress
check "select from a task's archive: a run tk-tasks-stones-q0.1" h5q assert tk-3.h5 \
    runs/tk-tasks-stones-q0.1 "a['source_run'] == 'tk/tasks/stones'" "a['top_count'] == 12"

finish
