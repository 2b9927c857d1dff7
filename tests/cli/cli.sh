#!/usr/bin/env bash
# The command line: exit statuses, messages, and that bad input or a failed run
# writes nothing and leaves an existing output file's runs intact.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

good='"seed": 1, "q": 0.01, "samples": 20000, "generator": {"kind": "normal"}'
printf '{"name": "first", %s}\n' "$good" > first.json
printf '{"name": "second", %s}\n' "$good" > second.json

# expect STATUS MESSAGE ARGS...: quantilize ARGS exits STATUS and its stderr is the
# single line MESSAGE (or contains it, when MESSAGE starts with '~').
expect() {
    local status=$1 message=$2
    shift 2
    "$QZ_BIN" "$@" > out.txt 2> err.txt
    local got=$?
    if [ "$got" -ne "$status" ]; then
        bad "quantilize $*: exit $got, want $status ($(cat err.txt))"
    elif [ "${message:0:1}" = "~" ]; then
        if grep -qF -- "${message:1}" err.txt; then ok "quantilize $*: $status"; else
            bad "quantilize $*: stderr lacks '${message:1}': $(cat err.txt)"; fi
    elif [ "$(cat err.txt)" != "$message" ]; then
        bad "quantilize $*: stderr '$(cat err.txt)', want '$message'"
    else
        ok "quantilize $*: $status with the expected message"
    fi
}

# --help, --version, bad arguments
check "--help exits 0 and shows usage" bash -c "'$QZ_BIN' --help | grep -q 'usage: quantilize run'"
check "--version prints the version" bash -c "'$QZ_BIN' --version | grep -Eq '^quantilize [0-9]+\.[0-9]+\.[0-9]+$'"
expect 2 "~missing command" 
expect 2 "quantilize: unknown command \"frobnicate\" (see --help)" frobnicate
expect 2 "quantilize: run: missing JOB.json (see --help)" run
expect 2 "quantilize: run: unknown option \"--fast\" (see --help)" run first.json --fast
expect 2 "quantilize: --progress-every: must be a positive number, got \"soon\"" \
    run first.json --progress-every soon

# Bad jobs: exit 2, one message naming file and field, nothing written.
expect 2 "quantilize: nothere.json: cannot open job file: No such file or directory" run nothere.json
printf '{"name": "x", "seed": 1, "q": 0.01, "samples": 100, "generator": {"kind": "normal", "stdev": 2}}' > typo.json
expect 2 "quantilize: typo.json: generator.stdev: unknown field (expected one of: kind, mean, stddev)" run typo.json
printf '{"name": "x", "seed": 1, "q": 2, "samples": 100, "generator": {"kind": "normal"}}' > badq.json
expect 2 "quantilize: badq.json: q: must be in (0, 1], got 2" run badq.json
printf '{"name": "x", "seed": 1, "q": 0.1, "samples": 100, "generator": {"kind": "normal"},' > broken.json
expect 2 "~quantilize: broken.json: line 1: not valid JSON" run broken.json
check "bad jobs wrote no file" bash -c '! ls x.h5 *.tmp.* 2>/dev/null | grep -q .'

# On 3 ranks a bad job still gives one message, not one per rank.
qz_mpi 3 run typo.json > out.txt 2> err.txt
check "bad job on 3 ranks: exit 2" test $? -eq 2
check "bad job on 3 ranks: exactly one message" test "$(grep -c 'generator.stdev' err.txt)" -eq 1

# A good run, then a second run into the same file; both are kept.
"$QZ_BIN" run first.json -o runs.h5 --no-progress > out.txt
check "first run succeeds" test $? -eq 0
check "summary names the run and the selected sample" grep -q '^run "first": selected sample [0-9]* (utility' out.txt
check "second run into the same file succeeds" "$QZ_BIN" run second.json -o runs.h5 --no-progress
"$QZ_BIN" inspect runs.h5 > inspect.txt
check "inspect lists both runs" bash -c 'grep -q "run first" inspect.txt && grep -q "run second" inspect.txt'
sum_before=$(sha256sum runs.h5)

# An existing run name is refused (exit 2) and the file is untouched.
expect 2 "quantilize: runs.h5: run \"first\" already exists (use --overwrite to replace it)" \
    run first.json -o runs.h5 --no-progress
check "refused run left the file unchanged" test "$(sha256sum runs.h5)" = "$sum_before"

# A run that fails at run time (an invalid sample under the default "error" policy)
# exits 1 with the sample named, on 3 ranks without hanging, and leaves the earlier
# runs intact and no temporary file behind.
printf '{"name": "failing", "seed": 3, "q": 0.01, "samples": 300000, "chunk_size": 1000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.99999, "generator": {"kind": "normal"}},
    {"weight": 0.00001, "generator": {"kind": "fail"}}]}}' > failing.json
qz_mpi 3 run failing.json -o runs.h5 --no-progress > out.txt 2> err.txt
check "failed run exits 1" test $? -eq 1
check "failed run names the invalid sample" grep -q 'quantilize: sample [0-9]* (chunk [0-9]*) is invalid: its utility is not a number' err.txt
check "failed run gives one message (mpirun adds its own notice)" test "$(grep -c '^quantilize:' err.txt)" -eq 1
check "failed run left the file unchanged" test "$(sha256sum runs.h5)" = "$sum_before"
check "failed run left no temporary file" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'

# --overwrite replaces a run and keeps the others.
printf '{"name": "first", "seed": 99, "q": 0.5, "samples": 10, "generator": {"kind": "uniform", "low": 0, "high": 1}}' > first2.json
check "--overwrite replaces the run" "$QZ_BIN" run first2.json -o runs.h5 --overwrite --no-progress
check "overwritten run holds the new job, the other run is kept" "$QZ_PYTHON" -c "
import h5py, sys
f = h5py.File('runs.h5', 'r')
sys.exit(0 if f['runs/first'].attrs['seed'] == 99 and f['runs/first'].attrs['samples'] == 10
         and 'second' in f['runs'] else 1)"

# Output paths that cannot work are refused before any sample is drawn.
echo "not hdf5" > text.h5
expect 2 "~text.h5: not" run first.json -o text.h5
check "a non-record output file is untouched" test "$(cat text.h5)" = "not hdf5"
expect 2 "~nodir" run first.json -o nodir/out.h5

# inspect errors
expect 2 "~missing.h5" inspect missing.h5
expect 2 "~text.h5" inspect text.h5
expect 2 "quantilize: inspect: expected one file (see --help)" inspect

# samples_per_quantile resolves N = ceil(m / q); the default output is NAME.h5.
printf '{"name": "perq", "seed": 5, "q": 0.001, "samples_per_quantile": 7, "generator": {"kind": "normal"}}' > perq.json
check "samples_per_quantile run" "$QZ_BIN" run perq.json --no-progress
check "N = 7 / 0.001 = 7000 and K = 7, written to perq.h5" "$QZ_PYTHON" -c "
import h5py, sys
a = h5py.File('perq.h5', 'r')['runs/perq'].attrs
sys.exit(0 if a['samples'] == 7000 and a['top_count'] == 7 else 1)"

# Progress: plain lines when stderr is not a terminal.
printf '{"name": "slow", "seed": 5, "q": 0.001, "samples": 30000000, "generator": {"kind": "normal"}}' > slow.json
"$QZ_BIN" run slow.json -o slow.h5 --progress-every 0.05 > out.txt 2> err.txt
check "progress lines in batch logs" test "$(grep -c '^progress: .*samples' err.txt)" -ge 2
check "final progress line reports all samples" grep -q '^progress: 30M/30M samples (100.0%)' err.txt

# Eight runs adding to one file at once (a job array sharing an output) all land:
# each update holds the file's lock, so no rename loses another run.
pids=()
for i in 1 2 3 4 5 6 7 8; do
    printf '{"name": "par%s", "seed": %s, "q": 0.01, "samples": 2000, "generator": {"kind": "normal"}}' "$i" "$i" > "par$i.json"
    "$QZ_BIN" run "par$i.json" -o shared.h5 --no-progress > "par$i.out" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || bad "a concurrent run failed"; done
check "eight concurrent runs into one file: all eight recorded" "$QZ_PYTHON" -c "
import h5py, sys
runs = sorted(h5py.File('shared.h5', 'r')['runs'])
sys.exit(0 if runs == ['par%d' % i for i in range(1, 9)] else print(runs) or 1)"
finish
