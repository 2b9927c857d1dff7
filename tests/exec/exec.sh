#!/usr/bin/env bash
# External programs and plugins end to end: the exec generator and exec scorer
# (co-processes speaking JSON lines, tests/plugins/generator.py and scorer.py) and the
# plugin kinds (tests/plugins/example_plugin.c). Identical records at 1 and 3 ranks,
# payloads and scores checked against the programs' own functions, a co-process that
# crashes once is restarted, one that keeps crashing or hangs fails the run (exit 1)
# with a message naming the command, protocol errors quote the line, the co-process's
# stderr reaches ours, bad fields and a wrong plugin ABI are refused (exit 2).
# Needs QZ_EXAMPLE_PLUGIN and QZ_WRONG_ABI_PLUGIN (paths of the built plugins).
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
: "${QZ_EXAMPLE_PLUGIN:?the example plugin's path}" "${QZ_WRONG_ABI_PLUGIN:?the wrong-ABI plugin's path}"

# Copies under $QZ_TMP, so that a leftover co-process would show in pgrep -f "$QZ_TMP".
cp "$QZ_SOURCE"/tests/plugins/{generator,scorer,testio}.py .
GEN="\"$QZ_PYTHON\", \"$QZ_TMP/generator.py\""
SCO="\"$QZ_PYTHON\", \"$QZ_TMP/scorer.py\""
PLUGIN=$QZ_EXAMPLE_PLUGIN

# fails STATUS MESSAGE NAME [N]: the job NAME on N ranks (default 1) exits STATUS with
# MESSAGE on stderr (as expect takes it; NAME-N.err), and writes no record.
fails() {
    local n=${4:-1}
    expect -l "$3-$n" "$1" "$2" qz_mpi "$n" run "$3.json" -o "$3-$n.h5" --no-progress
    check "$3: the failed run on $n ranks wrote no record" test ! -e "$3-$n.h5"
}
# py SCRIPT ARGS: run a check in python with tests/plugins importable; exit 0 = pass.
py() {
    PYTHONPATH="$QZ_TMP" "$QZ_PYTHON" "$@"
}

# 1. Exec generator, numbers: identical at 1 and 3 ranks; the selected payload and
#    utility are generator.py's unit(seed, index).
job gnum "\"seed\": 5, \"q\": 0.01, \"samples\": 3001, \"chunk_size\": 250,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN, \"--numbers\"], \"text\": false}"
same_at gnum 1 3
check "gnum: payloads are generator.py's values, counts recorded" py - gnum-3.h5 <<'PY'
import sys, h5py, generator
g = h5py.File(sys.argv[1], "r")["runs/gnum"]
sel = g["selected"].attrs
idx = g["top/index"][...]
ok = (g["selected/payload"][0] == generator.unit(5, int(sel["index"]))
      and all(u == generator.unit(5, int(i)) for i, u in zip(idx, g["top/utility"][...]))
      and g.attrs["requests"] == 13 and g.attrs["retries"] == 0 and g.attrs["failed_samples"] == 0)
sys.exit(0 if ok else 1)
PY
check "the co-process's stderr reaches ours" grep -q '^generator.py: ready' gnum-1.err

# 2. Exec generator, text, with exec utility (batches of 7) and exec cost (another
#    answer field): identical at 1 and 3 ranks; texts (quotes, tabs, newlines, UTF-8,
#    emoji) arrive intact and score as scorer.py scores them.
UTIL="{\"kind\": \"exec\", \"command\": [$SCO], \"batch\": 7}"
job text "\"seed\": 6, \"q\": 0.02, \"samples\": 2000, \"chunk_size\": 300,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN], \"timeout_seconds\": 30},
  \"utility\": $UTIL,
  \"cost\": {\"kind\": \"exec\", \"command\": [$SCO, \"--field\", \"s\"], \"field\": \"s\", \"batch\": 1000}"
same_at text 1 3
check "text: payloads are generator.py's texts, scores are scorer.py's" py - text-3.h5 <<'PY'
import sys, h5py, generator, scorer
g = h5py.File(sys.argv[1], "r")["runs/text"]
texts = [t.decode() if isinstance(t, bytes) else t for t in g["top/payload"][...]]
want = [generator.text(6, int(i)) for i in g["top/index"][...]]
util = list(g["top/utility"][...])
ok = (len(texts) == 40 and texts == want and util == [scorer.score_text(t) for t in want]
      and list(g["top/cost"][...]) == util and any("\n" in t or "\U0001F600" in t for t in texts))
sys.exit(0 if ok else 1)
PY

# 3. Failed samples (generator errors) are invalid: excluded and counted.
job fails "\"seed\": 7, \"q\": 0.1, \"samples\": 1000, \"chunk_size\": 128, \"invalid\": \"exclude\",
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN, \"--fail-every\", \"10\"]},
  \"utility\": $UTIL"
same_at fails 1 3
check "fails: 100 invalid samples, 100 failed samples" h5q assert fails-1.h5 runs/fails \
    "a['invalid_samples'] == 100" "a['failed_samples'] == 100"

# 4. A scorer that crashes once (its 3rd batch, the first time) is restarted, the batch
#    sent again, and the record is the same as without the crash; at 3 ranks too.
for n in 1 3; do
    rm -f "marker$n"
    job "crash$n" "\"seed\": 6, \"q\": 0.02, \"samples\": 2000, \"chunk_size\": 300,
      \"generator\": {\"kind\": \"exec\", \"command\": [$GEN], \"timeout_seconds\": 30},
      \"utility\": {\"kind\": \"exec\", \"command\": [$SCO, \"--crash-on-batch\", \"3\", \"--marker\", \"$QZ_TMP/marker$n\"], \"batch\": 7},
      \"cost\": {\"kind\": \"exec\", \"command\": [$SCO, \"--field\", \"s\"], \"field\": \"s\", \"batch\": 1000}"
    # Other ranks' lines may come before and after these: each is matched as a whole line.
    if runn "crash$n" "$n"; then
        check "crash once, $n ranks: same record as without the crash" \
            h5same text-1.h5 text "crash$n-$n.h5" "crash$n" --ignore job
        check "crash once, $n ranks: one crash, reported, and its restart" bash -c \
            "test \$(grep -cx 'scorer.py: crashing on purpose at batch 3' crash$n-$n.err) -eq 1 &&
             grep -q '^quantilize: utility command \".*scorer.py --crash-on-batch 3 .*\": the program exited with status 3; restarting it (restart 1 of 1)$' crash$n-$n.err"
    else
        bad "crash once, $n ranks: the run failed: $(cat "crash$n-$n.err")"
    fi
done

# 5. A generator that crashes once is restarted too; retries counts the restart.
rm -f gmarker
job gcrash "\"seed\": 5, \"q\": 0.01, \"samples\": 3001, \"chunk_size\": 250,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN, \"--numbers\", \"--crash-on-request\", \"4\", \"--marker\", \"$QZ_TMP/gmarker\"], \"text\": false}"
if runn gcrash 1; then
    check "generator crash once: same record, one retry" \
        h5same gnum-1.h5 gnum gcrash-1.h5 gcrash --ignore job --ignore retries
    check "generator crash once: retries = 1" h5q assert gcrash-1.h5 runs/gcrash "a['retries'] == 1"
else
    bad "generator crash once: the run failed: $(cat gcrash-1.err)"
fi

# 6. A scorer that always crashes (on its 2nd batch, every time it runs) fails the run
#    after one restart: exit 1, one clear message naming the command; also at 3 ranks.
job always "\"seed\": 6, \"q\": 0.02, \"samples\": 2000, \"chunk_size\": 300,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [$SCO, \"--crash-on-batch\", \"2\"], \"batch\": 7}"
ALWAYS="quantilize: utility command \"$QZ_PYTHON $QZ_TMP/scorer.py --crash-on-batch 2\": the program exited with status 3, after 1 restart"
fails 1 "=$ALWAYS" always 1
fails 1 "=$ALWAYS" always 3
check "always crashing, 3 ranks: one message" test "$(grep -c '^quantilize: utility command .*after 1 restart' always-3.err)" -eq 1

# 7. A scorer that hangs is killed after timeout_seconds, restarted, and fails the run
#    when it hangs again.
job hang "\"seed\": 6, \"q\": 0.02, \"samples\": 500,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [$SCO, \"--sleep-on-batch\", \"2\", \"--sleep\", \"30\"], \"timeout_seconds\": 0.5, \"batch\": 100}"
start=$(date +%s)
fails 1 "=quantilize: utility command \"$QZ_PYTHON $QZ_TMP/scorer.py --sleep-on-batch 2 --sleep 30\": the program did not answer within 0.5 s (killed it), after 1 restart" hang
check "hanging scorer: the run ends within seconds" test $(($(date +%s) - start)) -lt 20

# 8. A scorer that is no program at all; one that exits at once (writing to it must not
#    kill us with SIGPIPE).
job nosuch "\"seed\": 1, \"q\": 0.1, \"samples\": 100, \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [\"no-such-program-qz\", \"-x\"]}"
fails 2 '=quantilize: nosuch.json: utility.command: cannot run "no-such-program-qz": No such file or directory, got ["no-such-program-qz","-x"]' nosuch
job exits "\"seed\": 1, \"q\": 0.1, \"samples\": 3000, \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [\"true\"], \"batch\": 3000}"
fails 1 "~quantilize: utility command \"true\": the program " exits

# 9. Protocol errors quote the line and name the command.
job wrongidx "\"seed\": 5, \"q\": 0.1, \"samples\": 100,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN, \"--numbers\", \"--wrong-index-at\", \"3\"], \"text\": false}"
fails 1 "~\": answer line 4 to {\"first\": 0, \"count\": 64, \"seed\": 5}: expected \"index\": 3: {\"index\": 4, \"value\": " wrongidx
job garbage "\"seed\": 5, \"q\": 0.1, \"samples\": 100,
  \"generator\": {\"kind\": \"exec\", \"command\": [$GEN, \"--garbage-at\", \"0\"]},
  \"utility\": {\"kind\": \"length\"}"
fails 1 "=quantilize: generator command \"$QZ_PYTHON $QZ_TMP/generator.py --garbage-at 0\": answer line 1 to {\"first\": 0, \"count\": 64, \"seed\": 5}: not a JSON object: this is not JSON" garbage
job nan "\"seed\": 5, \"q\": 0.1, \"samples\": 100, \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [$SCO, \"--nan\"]}"
fails 1 "~: the answer to a batch of 64 is not a JSON object (JSON has no NaN or Infinity: send null for an invalid score): {\"scores\": [NaN, " nan
job short "\"seed\": 5, \"q\": 0.1, \"samples\": 100, \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [$SCO, \"--short\"], \"batch\": 10}"
fails 1 "~: the answer to a batch of 10 lacks \"scores\": an array of 10 scores: {\"scores\": [" short

# 10. Bad exec fields: exit 2 before anything runs.
job f1 "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"exec\", \"command\": []}"
fails 2 '=quantilize: f1.json: generator.command: must be an array of 1 to 1024 strings: the program and its arguments, got []' f1
job f2 "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"exec\", \"command\": [\"a\", 3]}"
fails 2 '=quantilize: f2.json: generator.command[1]: must be a string, got 3' f2
job f3 "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"exec\", \"command\": [$GEN], \"timeout_seconds\": 0}"
fails 2 '=quantilize: f3.json: generator.timeout_seconds: must be a number above 0 and at most 86400, got 0' f3
job f4 "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"exec\", \"command\": [$GEN]},
  \"utility\": {\"kind\": \"exec\", \"command\": [$SCO], \"batch\": 0}"
fails 2 '=quantilize: f4.json: utility.batch: must be an integer from 1 to 65536, got 0' f4
job f5 "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"exec\", \"comand\": [$GEN]}"
fails 2 '=quantilize: f5.json: generator.comand: unknown field (expected one of: kind, command, timeout_seconds, text, max_response_bytes)' f5

# 11. Plugin generator (numbers): identical at 1 and 3 ranks, values as documented.
job pnum "\"seed\": 8, \"q\": 0.01, \"samples\": 5000, \"chunk_size\": 700,
  \"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\"}"
same_at pnum 1 3
check "pnum: payloads are the plugin's documented values" py - pnum-3.h5 <<'PY'
import sys, h5py
M = 2**64 - 1
def mix(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)
def u(seed, i):
    return (mix(seed ^ mix(i)) >> 11) * 2.0**-53
g = h5py.File(sys.argv[1], "r")["runs/pnum"]
idx, util = g["top/index"][...], g["top/utility"][...]
ok = (len(idx) == 50 and all(x == u(8, int(i)) for i, x in zip(idx, util))
      and g["selected/payload"][0] == u(8, int(g["selected"].attrs["index"])))
sys.exit(0 if ok else 1)
PY

# 12. Plugin generator (text, with failures) scored by the plugin scorer (length in
#     bytes) and, as cost, by an exec scorer: identical at 1 and 3 ranks.
job ptext "\"seed\": 9, \"q\": 0.05, \"samples\": 1500, \"chunk_size\": 200, \"invalid\": \"exclude\",
  \"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"text\": true, \"fail_every\": 7}},
  \"utility\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\"},
  \"cost\": {\"kind\": \"exec\", \"command\": [$SCO]}"
same_at ptext 1 3
check "ptext: utility = length in bytes, cost = scorer.py's, 214 invalid" py - ptext-1.h5 <<'PY'
import sys, h5py, scorer
g = h5py.File(sys.argv[1], "r")["runs/ptext"]
texts = [t if isinstance(t, bytes) else t.encode() for t in g["top/payload"][...]]
ok = (g.attrs["invalid_samples"] == 1500 // 7
      and list(g["top/utility"][...]) == [float(len(t)) for t in texts]
      and list(g["top/cost"][...]) == [scorer.score_text(t.decode()) for t in texts])
sys.exit(0 if ok else 1)
PY

check "ptext: the plugin's counts: 214 left out, one draw call per 200-sample chunk" \
    h5q assert ptext-1.h5 runs/ptext "a['failed_samples'] == 214" "a['requests'] == 8" \
    "a['utf8_repaired_samples'] == 0"

# 12b. A plugin's invalid UTF-8 is stored as U+FFFD and counted, the same at 1 and 3
#      ranks: the count equals the archived texts that hold U+FFFD.
job platin "\"seed\": 9, \"q\": 0.05, \"samples\": 1500, \"chunk_size\": 200,
  \"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"text\": true, \"latin1\": true}},
  \"utility\": {\"kind\": \"length\"}, \"output\": {\"archive\": \"all\"}"
same_at platin 1 3
check "platin: texts repaired to U+FFFD and counted" py - platin-1.h5 <<'PY'
import sys, h5py
g = h5py.File(sys.argv[1], "r")["runs/platin"]
s = g["samples"]
off, ln, data = s["payload_offset"][...], s["payload_length"][...], s["payload_bytes"][...].tobytes()
texts = [data[o:o + n].decode("utf-8") for o, n in zip(off, ln)]  # strict: valid UTF-8
fixed = sum("caf\ufffd" in t for t in texts)
sys.exit(0 if fixed > 0 and g.attrs["utf8_repaired_samples"] == fixed else 1)
PY

# 12c. A stop during a plugin's long call: the example plugin's "slow_ms" makes each
#      sample take that long and returns early once quantilize's host (plugin.h) says
#      a stop was requested. With 3 s a sample, a call of 256 samples (the default
#      chunk) would last 13 minutes; SIGUSR1 to mpirun once both ranks' calls have
#      begun (the plugin's line on stderr) must end the run with a checkpoint of 0
#      samples and exit 75 at once (the 60 s bound below is what "at once" is allowed
#      under load), for a slow generator and for a slow scorer.
for part in generator utility; do
    if [ "$part" = generator ]; then
        parts="\"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"slow_ms\": 3000}}"
    else
        parts="\"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\"},
  \"utility\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"slow_ms\": 3000}}"
    fi
    job "pstop$part" "\"seed\": 12, \"q\": 0.1, \"samples\": 600, $parts"
    QZ_STOP_LINES=2 QZ_STOP_DELAY=0 QZ_STOP_BOUND=60 stop_midway 2 \
        '^example plugin: [a-z]* [0-9]* samples, 3000 ms each$' "pstop$part.err" \
        run "pstop$part.json" -o "pstop$part.h5" --no-progress
    status=$STOP_STATUS
    [ "$STOP_SEEN" = 1 ] || bad "pstop$part: the plugin's calls never began: $(tail -3 "pstop$part.err")"
    check "pstop$part: a slow plugin $part's call returns early on SIGUSR1: exit 75 (got $status)" \
        test "$status" -eq 75
    check "pstop$part: ... with a checkpoint of the 0 samples finished" grep -q \
        "^quantilize: stopped by SIGUSR1 after checkpointing 0 of 600 samples to pstop$part.h5.pstop$part.ckpt: " \
        "pstop$part.err"
done
# The same with 5 ms a sample (a call of 256 samples takes 1.3 s), stopped in a call of
# the second interval (the third call begun) and resumed: the record of an
# uninterrupted run.
job presume "\"seed\": 13, \"q\": 0.05, \"samples\": 2000,
  \"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"slow_ms\": 5}}"
if qz_mpi 2 run presume.json -o presumeref.h5 --no-progress > presumeref.out 2> presumeref.err; then
    QZ_STOP_LINES=3 QZ_STOP_DELAY=0.3 stop_midway 2 '^example plugin: drawing' presume-2.err \
        run presume.json -o presume-2.h5 --no-progress
    status=$STOP_STATUS
    [ "$STOP_SEEN" = 1 ] || bad "presume: the plugin's third call never began: $(tail -3 presume-2.err)"
    check "presume: stopped midway (exit 75, got $status)" test "$status" -eq 75
    check "presume: ... keeping the first interval's work" grep -q \
        "^quantilize: stopped by SIGUSR1 after checkpointing [1-9][0-9]* of 2000 samples" presume-2.err
    if runn presume 2; then
        check "presume: resumed, the record of the uninterrupted run" \
            h5same_resumed presumeref.h5 presume presume-2.h5 presume
    else
        bad "presume: the resumed run failed: $(tail -5 presume-2.err)"
    fi
else
    bad "presume (uninterrupted) failed: $(tail -5 presumeref.err)"
fi

# 13. Numbers round-trip exactly through an exec scorer: utility = 1 - value, bit for bit.
job pvals "\"seed\": 10, \"q\": 0.01, \"samples\": 3000,
  \"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\"},
  \"utility\": {\"kind\": \"exec\", \"command\": [$SCO], \"batch\": 500}"
if runn pvals 1; then
    check "pvals: the selected utility is exactly 1 - its value" h5q assert pvals-1.h5 runs/pvals \
        "g['selected'].attrs['utility'] == 1.0 - v('selected/payload')[0]"
else
    bad "pvals failed: $(cat pvals-1.err)"
fi

# 14. Plugins refused: wrong ABI, a missing file, a path without '/', a config the
#     plugin rejects, a plugin without the part the job needs.
job wrongabi "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"$QZ_WRONG_ABI_PLUGIN\"}"
fails 2 "=quantilize: wrongabi.json: generator.path: plugin $QZ_WRONG_ABI_PLUGIN has ABI version 99, quantilize needs 1" wrongabi
fails 2 "=quantilize: wrongabi.json: generator.path: plugin $QZ_WRONG_ABI_PLUGIN has ABI version 99, quantilize needs 1" wrongabi 3
job nofile "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"$QZ_TMP/none.so\"}"
fails 2 "~quantilize: nofile.json: generator.path: cannot load plugin: $QZ_TMP/none.so: cannot open shared object file" nofile
job noslash "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"libm.so.6\"}"
fails 2 '=quantilize: noslash.json: generator.path: must be the path of a shared library, with a '"'/'"' (such as "/opt/plugins/libmine.so" or "./libmine.so"), got "libm.so.6"' noslash
job reject "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"normal\"},
  \"utility\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"reject\": true}}"
fails 2 '=quantilize: reject.json: utility.config: plugin "example" rejected its config: rejected on purpose' reject
job unknown "\"seed\": 1, \"q\": 0.1, \"samples\": 10,
  \"generator\": {\"kind\": \"plugin\", \"path\": \"$PLUGIN\", \"config\": {\"txt\": true}}"
fails 2 '=quantilize: unknown.json: generator.config: plugin "example" rejected its config: unknown option "txt"' unknown
# a real shared library that is no plugin: the cJSON quantilize links
job nosym "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"$(ldd "$QZ_BIN" | awk '/libcjson/ {print $3; exit}')\"}"
fails 2 "~does not export qz_plugin_entry (see plugin.h)" nosym

# 15. No co-process outlives its run.
sleep 0.5
check "no co-process left running" bash -c "! pgrep -f '$QZ_TMP/(generator|scorer).py' > /dev/null"
finish
