#!/usr/bin/env bash
# Input that used to be accepted silently and gave a wrong record (issue 14): a
# one-component mixture's cost, weights whose sum overflows, an exec value that reads
# as infinity, a checkpoint refused for its job's spelling. (Jobs refused at load are cases in tests/bad/cases.)
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# 1. A one-component mixture keeps its cost: every sample costs 2.5, so E_γ[c] = 2.5
#    exactly, the bound is 2.5 / q = 25, and the selected and top costs are 2.5.
job one '"seed": 3, "q": 0.1, "samples": 1000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 1, "cost": 2.5, "generator": {"kind": "normal"}}]},
  "cost": {"kind": "component"}'
check "one-component mixture with a cost runs" runn one 1
check "its cost_base_mean, cost_bound, selected and top costs are the component's" \
    h5q assert one-1.h5 runs/one "g.attrs['cost_base_mean'] == 2.5" \
    "g.attrs['cost_bound'] == 25.0" "g.attrs['cost_quantilized_mean'] == 2.5" \
    "g['selected'].attrs['cost'] == 2.5" "len(g['top/cost'][:]) == 100" "(g['top/cost'][:] == 2.5).all()"

# 2. Weights 1e308 + 1e308 overflow a plain sum: each component must still get half of
#    the samples. Costs 0 and 1 tell them apart: E_γ[c] is the share of the second, 0.5
#    within 5 standard errors (sd 0.5 / sqrt(20000) = 0.0035) -- it was 1 (every sample
#    from the last component).
job heavy '"seed": 4, "q": 0.5, "samples": 20000,
  "generator": {"kind": "mixture", "components": [
    {"weight": 1e308, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 1e308, "cost": 1, "generator": {"kind": "normal"}}]},
  "cost": {"kind": "component"}'
check "mixture with weights 1e308, 1e308 runs" runn heavy 1
check "half of its samples come from each component" \
    h5q assert heavy-1.h5 runs/heavy "abs(g.attrs['cost_base_mean'] - 0.5) < 0.018"

# 3. An exec value 1e999 reads as +inf: an invalid answer line (exit 1, the line
#    quoted), not a sample of +inf.
cat > inf.py <<'PY'
import json, sys
for req in sys.stdin:
    r = json.loads(req)
    for i in range(r["first"], r["first"] + r["count"]):
        print('{"index": %d, "value": %s}' % (i, "1e999" if i == 5 else "1.5"), flush=True)
PY
job inf "\"seed\": 1, \"q\": 0.5, \"samples\": 10,
  \"generator\": {\"kind\": \"exec\", \"command\": [\"$QZ_PYTHON\", \"inf.py\"], \"text\": false}"
expect -l inf 1 '/^quantilize: .*answer line .*"value" must be a finite number: {"index": 5, "value": 1e999}$' \
    "$QZ_BIN" run inf.json -o inf.h5 --no-progress
check "the exec run wrote no record" test ! -e inf.h5

# 4. A checkpoint belongs to the job, not to its spelling: the same job with its keys
#    reordered and its defaults written out resumes it; another seed is another job.
#    (Each run is stopped by SIGUSR1 0.5 s after its first progress line: exit 75 with
#    a checkpoint. 4e9 samples take over 10 s on one rank, 20 times that margin.)
printf '{"name": "ck", "seed": 5, "q": 0.001, "samples": 4000000000, "chunk_size": 65536,
  "generator": {"kind": "normal"}, "checkpoint": {"every_seconds": 0}}\n' > ck.json
stop_midway 1 progress ck1.err run ck.json -o ck.h5 --progress-every 0.2
check "the first run stops with a checkpoint (exit 75)" test "$STOP_STATUS" -eq 75
check "its checkpoint exists" test -s ck.h5.ck.ckpt
printf '{"checkpoint": {"every_seconds": 0}, "invalid": "error", "utility": {"kind": "value"},
  "generator": {"stddev": 1, "mean": 0, "kind": "normal"}, "samples": 4000000000,
  "q": 0.001, "seed": 5, "name": "ck"}\n' > ck.json
stop_midway 1 resuming ck2.err run ck.json -o ck.h5 --progress-every 0.2
check "the reordered job with its defaults written out resumes the checkpoint" \
    grep -q '^resuming from checkpoint ck.h5.ck.ckpt: [0-9]* of 4000000000 samples done' ck2.err
check "and stops again with a checkpoint (exit 75)" test "$STOP_STATUS" -eq 75
sed -i 's/"seed": 5/"seed": 6/' ck.json
expect -l ck3 2 '/^quantilize: checkpoint ck.h5.ck.ckpt was written by a different job' \
    "$QZ_BIN" run ck.json -o ck.h5 --no-progress
# 5. checkpoint.path in a directory this user cannot write is refused at load (exit 2,
#    nothing drawn or written) -- found out only at the first checkpoint before, when
#    the work since the start is lost (with every_seconds 0 and no signal there is no
#    checkpoint at all, and the run went through: exit 0). Tests run as root, who may
#    write anywhere, so the runs are made as nobody: the job and the build are readable
#    by nobody; ro/ is root's (0755), out/ is writable by all.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null && id nobody > /dev/null 2>&1; then
    chmod 0755 "$QZ_TMP"
    mkdir -m 0755 ro
    mkdir -m 0777 out home
    as_nobody() {
        env HOME="$QZ_TMP/home" setpriv --reuid=nobody --regid=nogroup --clear-groups \
            timeout 120 "$QZ_BIN" "$@"
    }
    job nw "\"seed\": 2, \"q\": 0.1, \"samples\": 100000, \"generator\": {\"kind\": \"normal\"},
  \"checkpoint\": {\"path\": \"$QZ_TMP/ro/nw.ckpt\", \"every_seconds\": 0}"
    chmod 0644 nw.json
    expect -l nw 2 "quantilize: nw.json: checkpoint.path: directory $QZ_TMP/ro is not writable: Permission denied" \
        as_nobody run nw.json -o "$QZ_TMP/out/nw.h5"
    check "nothing was drawn or written (no progress line, no record, no checkpoint)" \
        bash -c '! grep -q "^progress" nw.err && [ -z "$(ls -A out)$(ls -A ro)" ]'
    # The same job with its checkpoint in out/ runs as nobody: the refusal is the
    # directory's permission, not the user.
    sed -i "s|$QZ_TMP/ro/nw.ckpt|$QZ_TMP/out/nw.ckpt|" nw.json
    check "with a writable checkpoint directory the same user's run succeeds" \
        as_nobody run nw.json -o "$QZ_TMP/out/nw.h5" --no-progress
    check "and writes its record" test -s out/nw.h5
else
    bad "the not-writable checkpoint directory case needs root, setpriv and the user nobody"
fi
finish
