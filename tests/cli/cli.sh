#!/usr/bin/env bash
# The command line: exit statuses, messages, and that bad input or a failed run
# writes nothing and leaves an existing output file's runs intact.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

good='"seed": 1, "q": 0.01, "samples": 20000, "generator": {"kind": "normal"}'
printf '{"name": "first", %s}\n' "$good" > first.json
printf '{"name": "second", %s}\n' "$good" > second.json

# --help, --version, bad arguments
check "--help exits 0 and shows usage" bash -c "'$QZ_BIN' --help | grep -q 'usage: quantilize run'"
check "--version prints the version" bash -c "'$QZ_BIN' --version | grep -Eq '^quantilize [0-9]+\.[0-9]+\.[0-9]+$'"
expect 2 "~missing command" "$QZ_BIN"
expect 2 "quantilize: unknown command \"frobnicate\" (see --help)" "$QZ_BIN" frobnicate
expect 2 "quantilize: run: missing JOB.json (see --help)" "$QZ_BIN" run
expect 2 "quantilize: run: unknown option \"--fast\" (see --help)" "$QZ_BIN" run first.json --fast
expect 2 "quantilize: --progress-every: must be a positive number, got \"soon\"" "$QZ_BIN" \
    run first.json --progress-every soon

# Bad jobs: exit 2, one message naming file and field, nothing written.
expect 2 "quantilize: nothere.json: cannot open job file: No such file or directory" "$QZ_BIN" run nothere.json
printf '{"name": "x", "seed": 1, "q": 0.01, "samples": 100, "generator": {"kind": "normal", "stdev": 2}}' > typo.json
# (Plain "this job -> this status and message" cases live in tests/bad/cases.)
check "bad jobs wrote no file" bash -c '! ls x.h5 *.tmp.* 2>/dev/null | grep -q .'

# On 3 ranks a bad job still gives one message, not one per rank.
expect -l typo3 2 "~generator.stdev" qz_mpi 3 run typo.json
check "bad job on 3 ranks: exactly one message" test "$(grep -c 'generator.stdev' typo3.err)" -eq 1

# A good run, then a second run into the same file; both are kept.
check "first run succeeds" bash -c "'$QZ_BIN' run first.json -o runs.h5 --no-progress > out.txt"
check "summary names the run and the selected sample" grep -q '^run "first": selected sample [0-9]* (utility' out.txt
check "second run into the same file succeeds" "$QZ_BIN" run second.json -o runs.h5 --no-progress
"$QZ_BIN" inspect runs.h5 > inspect.txt
check "inspect lists both runs" bash -c 'grep -q "run first" inspect.txt && grep -q "run second" inspect.txt'
sum_before=$(sha256sum runs.h5)

# An existing run name is refused (exit 2) and the file is untouched.
expect 2 "quantilize: runs.h5: run \"first\" already exists (use --overwrite to replace it)" "$QZ_BIN" \
    run first.json -o runs.h5 --no-progress
check "refused run left the file unchanged" test "$(sha256sum runs.h5)" = "$sum_before"

# A run that fails at run time (an invalid sample under the default "error" policy)
# exits 1 with the sample named, on 3 ranks without hanging, and leaves the earlier
# runs intact and no temporary file behind.
printf '{"name": "failing", "seed": 3, "q": 0.01, "samples": 300000, "chunk_size": 1000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.99999, "generator": {"kind": "normal"}},
    {"weight": 0.00001, "generator": {"kind": "fail"}}]}}' > failing.json
expect -l failing 1 '/quantilize: sample [0-9]* (chunk [0-9]*) is invalid: its utility is not a number' \
    qz_mpi 3 run failing.json -o runs.h5 --no-progress
check "failed run gives one message (mpirun adds its own notice)" test "$(grep -c '^quantilize:' failing.err)" -eq 1
check "failed run left the file unchanged" test "$(sha256sum runs.h5)" = "$sum_before"
check "failed run left no temporary file" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'

# --overwrite replaces a run and keeps the others.
printf '{"name": "first", "seed": 99, "q": 0.5, "samples": 10, "generator": {"kind": "uniform", "low": 0, "high": 1}}' > first2.json
check "--overwrite replaces the run" "$QZ_BIN" run first2.json -o runs.h5 --overwrite --no-progress
check "overwritten run holds the new job, the other run is kept" h5q assert runs.h5 runs \
    "g['first'].attrs['seed'] == 99" "g['first'].attrs['samples'] == 10" "'second' in g"

# Output paths that cannot work are refused before any sample is drawn.
echo "not hdf5" > text.h5
expect 2 "~text.h5: not" "$QZ_BIN" run first.json -o text.h5
check "a non-record output file is untouched" test "$(cat text.h5)" = "not hdf5"
expect 2 "~nodir" "$QZ_BIN" run first.json -o nodir/out.h5

# inspect errors
expect 2 "~missing.h5" "$QZ_BIN" inspect missing.h5
expect 2 "~text.h5" "$QZ_BIN" inspect text.h5
expect 2 "quantilize: inspect: expected one file (see --help)" "$QZ_BIN" inspect

# samples_per_quantile resolves N = ceil(m / q); the default output is NAME.h5.
printf '{"name": "perq", "seed": 5, "q": 0.001, "samples_per_quantile": 7, "generator": {"kind": "normal"}}' > perq.json
check "samples_per_quantile run" "$QZ_BIN" run perq.json --no-progress
check "N = 7 / 0.001 = 7000 and K = 7, written to perq.h5" h5q assert perq.h5 runs/perq \
    "a['samples'] == 7000" "a['top_count'] == 7"

# Progress: plain lines when stderr is not a terminal.
printf '{"name": "slow", "seed": 5, "q": 0.001, "samples": 30000000, "generator": {"kind": "normal"}}' > slow.json
"$QZ_BIN" run slow.json -o slow.h5 --progress-every 0.05 > slow.out 2> slow.err
check "progress lines in batch logs" test "$(grep -c '^progress: .*samples' slow.err)" -ge 2
check "final progress line reports all samples" grep -q '^progress: 30M/30M samples (100.0%)' slow.err

# Eight runs adding to one file at once (a job array sharing an output) all land:
# each update holds the file's lock, so no rename loses another run.
pids=()
for i in 1 2 3 4 5 6 7 8; do
    printf '{"name": "par%s", "seed": %s, "q": 0.01, "samples": 2000, "generator": {"kind": "normal"}}' "$i" "$i" > "par$i.json"
    "$QZ_BIN" run "par$i.json" -o shared.h5 --no-progress > "par$i.out" 2>&1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || bad "a concurrent run failed"; done
check "eight concurrent runs into one file: all eight recorded" h5q assert shared.h5 runs \
    "sorted(g) == ['par%d' % i for i in range(1, 9)]"
finish
