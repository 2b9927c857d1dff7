#!/usr/bin/env bash
# Stops within seconds: SIGUSR1 in the middle of a slow generator's draw abandons the
# interval in progress, rolls every rank back to its start, checkpoints and exits 75;
# the resumed run gives the record of an undisturbed one and counts the discarded
# samples (samples_redone). Also: the default chunk of model-server and exec jobs
# follows the generator's pace, and a SIGKILLed run's work after its last checkpoint
# is counted when it resumes.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

SLOW="$QZ_SOURCE/tests/stop/slow_gen.py"
# Every attribute that says how the run was interrupted (not what it found).
IGNORE=(--ignore samples_redone --ignore outage_checkpoints --ignore requests
    --ignore retries --ignore prompt_tokens --ignore completion_tokens
    --ignore completion_tokens_counted --ignore generator_server_requests
    --ignore generator_server_failures)

# stop_after RANKS SECONDS LOG FILE ARGS...: start quantilize ARGS on RANKS ranks,
# send SIGUSR1 to mpirun SECONDS later (after FILE appears, when FILE is not "-") and
# wait; STOP_STATUS is its exit status and STOP_LATENCY the seconds from the signal
# to mpirun's exit.
stop_after() {
    local n=$1 after=$2 log=$3 file=$4 pid t0 t1
    shift 4
    "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" "$@" > "$log.out" 2> "$log.err" &
    pid=$!
    [ "$file" = - ] || wait_until 60 test -e "$file"
    sleep "$after"
    t0=$(date +%s.%N)
    kill -USR1 "$pid"
    wait "$pid"
    STOP_STATUS=$?
    t1=$(date +%s.%N)
    STOP_LATENCY=$(echo "$t1 - $t0" | bc)
}

# 1. The exec generator (10000 samples/s, counting what it draws in ex.count), text
#    archive and a cost scorer, chunks of 4096 drawn in batches of 2048: the first
#    session hangs on sample 3000 (chunk 0's second batch) and gets SIGUSR1; every rank
#    rolls back to the interval's start (rank 0 after its first batch, the others
#    after their whole chunk), so the samples discarded are exactly what the program
#    drew beyond N. At 1 and at 3 ranks, resumed at the other count.
job ex "$(printf '"seed": 5, "q": 0.01, "samples": 12288, "chunk_size": 4096,
  "generator": {"kind": "exec", "command": ["%s", "%s", "0.0001", "ex.count", "3000", "ex.hang"]},
  "utility": {"kind": "length"}, "cost": {"kind": "regex", "pattern": "a"},
  "output": {"archive": "all"}' "$QZ_PYTHON" "$SLOW")"
job exref "$(printf '"seed": 5, "q": 0.01, "samples": 12288, "chunk_size": 4096,
  "generator": {"kind": "exec", "command": ["%s", "%s", "0.0001"]},
  "utility": {"kind": "length"}, "cost": {"kind": "regex", "pattern": "a"},
  "output": {"archive": "all"}' "$QZ_PYTHON" "$SLOW")"
runn exref 2 || bad "exec: the undisturbed run failed: $(tail -n 5 exref-2.err)"
for pair in "1 3 2048" "3 1 10240"; do
    set -- $pair
    rm -f ex.count ex.hang
    stop_after "$1" 2 "ex$1" ex.hang run ex.json -o "stop$1.h5" --no-progress
    echo "exec on $1 rank(s): exit $STOP_STATUS $STOP_LATENCY s after SIGUSR1"
    check "exec $1: exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
    check "exec $1: stopped within 5 s of SIGUSR1 ($STOP_LATENCY s)" \
        test "$(echo "$STOP_LATENCY <= 5" | bc)" -eq 1
    check "exec $1: the stop message" grep -q "^quantilize: stopped by SIGUSR1 after checkpointing 0 of 12288 samples to stop$1.h5.ex.ckpt: run the same command again to resume\$" "ex$1.err"
    check "exec $1: a checkpoint, no record" bash -c "test -s stop$1.h5.ex.ckpt && test ! -e stop$1.h5"
    expect -d "exec $1: resumed on $2 rank(s)" -l "ex$1r" 0 "/^resuming from checkpoint" \
        qz_mpi "$2" run ex.json -o "stop$1.h5"
    check "exec $1: the resumed record equals the undisturbed one" \
        h5same exref-2.h5 exref "stop$1.h5" ex "${IGNORE[@]}" --ignore job
    drawn=$(awk '{s += $1} END {print s}' ex.count)
    redone=$(attr "stop$1.h5" ex samples_redone)
    echo "exec $1: drew $drawn samples in all, samples_redone $redone"
    check "exec $1: samples_redone ($redone) is $3, what was drawn beyond N ($drawn - 12288)" \
        test "$redone" -eq "$3" -a "$redone" -eq $((drawn - 12288))
    check "exec $1: resumed once" h5q assert "stop$1.h5" runs/ex "a['resumes'] == 1"
done
job exd "$(printf '"seed": 5, "q": 0.01, "samples": 100,
  "generator": {"kind": "exec", "command": ["%s", "%s", "0"]},
  "utility": {"kind": "length"}' "$QZ_PYTHON" "$SLOW")"
runn exd 1 || bad "exec: default chunk run failed: $(tail -n 5 exd-1.err)"
check "exec: the default chunk is 64" h5q assert exd-1.h5 runs/exd "a['chunk_size'] == 64"

# 2. A model server answering 2 samples/s per rank (every request sleeps 1 s, n 1,
#    concurrency 2, so the default chunk is 2): SIGUSR1 2.5 s in; exit 75 within 10 s.
start_fake slow
llm() { # llm NAME EXTRA
    job "$1" "$(printf '"seed": 9, "q": 0.2, "samples": %s,
  "generator": {"kind": "openai", "base_url": "%s", "model": "m", "n": 1, "concurrency": 2,
    "prompt": "FAULT:slow:1 say something", "max_tokens": 8, "logprobs": true}%s,
  "utility": {"kind": "logprob_mean"}' "${3:-24}" "$FAKE_URL" "$2")"
}
llm llm ""
runn llm 1 || bad "openai: the undisturbed run failed: $(tail -n 5 llm-1.err)"
check "openai: the default chunk is n x concurrency" h5q assert llm-1.h5 runs/llm "a['chunk_size'] == 2"
stop_after 1 2.5 llm - run llm.json -o llmstop.h5 --no-progress
echo "openai at 2 samples/s: exit $STOP_STATUS $STOP_LATENCY s after SIGUSR1"
check "openai: exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
check "openai: exit within 10 s of SIGUSR1 ($STOP_LATENCY s)" \
    test "$(echo "$STOP_LATENCY <= 10" | bc)" -eq 1
check "openai: a checkpoint" test -s llmstop.h5.llm.ckpt
expect -d "openai: resumed" -l llmr 0 "/^resuming from checkpoint" \
    qz_mpi 1 run llm.json -o llmstop.h5
check "openai: the resumed record equals the undisturbed one" \
    h5same llm-1.h5 llm llmstop.h5 llm "${IGNORE[@]}"
# A run resumes against other servers: base_url, timeouts and retries are not part of
# the job's identity (seeds are per request).
first_url=$FAKE_URL
start_fake other
llm llmo "" 16
runn llmo 1 || bad "openai: the undisturbed 16-sample run failed: $(tail -n 5 llmo-1.err)"
stop_after 1 2.5 llmo - run llmo.json -o llmo.h5 --no-progress
check "openai, other server: exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
sed -i -e "s|$FAKE_URL|$first_url|" -e 's|"max_tokens": 8|"max_tokens": 8, "timeout_seconds": 77, "retries": 5|' \
    llmo.json
check "openai, other server: the job now names the first server" grep -q "$first_url" llmo.json
expect -d "openai, other server: resumed against the first server" -l llmor 0 \
    "/^resuming from checkpoint" qz_mpi 1 run llmo.json -o llmo.h5
check "openai, other server: the record equals the undisturbed one" \
    h5same llmo-1.h5 llmo llmo.h5 llmo "${IGNORE[@]}" --ignore job --ignore generator_request \
    --ignore generator_servers
check "openai: requests counted across sessions" \
    h5q assert llmstop.h5 runs/llm "a['requests'] >= 12"

# 3. The default chunk at 2 ranks: both ranks draw, so the server answers 4 requests
#    at once (each rank keeps its concurrency of 2 in flight; 1 rank never more than
#    2), and the record is that of chunk_size 7 and of 1 rank.
start_fake par --log par.log
llm llm2 "" 16
llm llm7 ', "chunk_size": 7' 16
runn llm2 1 || bad "openai 1 rank failed: $(tail -n 5 llm2-1.err)"
cp par.log par1.log
runn llm2 2 || bad "openai 2 ranks failed: $(tail -n 5 llm2-2.err)"
tail -n +"$(($(wc -l < par1.log) + 1))" par.log > par2.log
runn llm7 2 || bad "openai chunk 7 failed: $(tail -n 5 llm7-2.err)"
check "default chunk: 2 ranks equal 1 rank" h5same llm2-1.h5 llm2 llm2-2.h5 llm2
check "default chunk: equal to chunk_size 7" h5same llm2-1.h5 llm2 llm7-2.h5 llm7 \
    --ignore chunk_size --ignore selected/chunk --ignore job
# the most answers logged within 0.3 s of each other (each request sleeps 1 s)
most() {
    awk '$3 ~ /completions$/ {t[n++] = $1} END {m = 0; for (i = 0; i < n; i++) {c = 0;
        for (j = 0; j < n; j++) if (t[j] >= t[i] && t[j] < t[i] + 0.3) c++; if (c > m) m = c}
        print m}' "$1"
}
m1=$(most par1.log)
m2=$(most par2.log)
echo "default chunk: at most $m1 answers at once on 1 rank, $m2 on 2 ranks"
check "default chunk: 1 rank keeps 2 requests in flight ($m1)" test "$m1" -eq 2
check "default chunk: 2 ranks draw at once: 4 answers together ($m2)" test "$m2" -eq 4

# 4. A run SIGKILLed after its ledger was written (rank 0 rewrites it every 5 s at a
#    meeting, after the first checkpoint): when it resumes, the samples it drew after
#    its last checkpoint count as redone and its program calls as requests. What it
#    drew after the ledger's last rewrite is not counted: samples_redone is at most
#    what was drawn beyond N, and every call not counted drew a sample not counted.
job kl "$(printf '"seed": 6, "q": 0.05, "samples": 1600,
  "generator": {"kind": "exec", "command": ["%s", "%s", "0.01", "kl.count"]},
  "utility": {"kind": "length"}, "checkpoint": {"every_seconds": 1}' "$QZ_PYTHON" "$SLOW")"
"$QZ_MPIEXEC" -n 2 "$QZ_BIN" run kl.json -o kl.h5 --no-progress > kl1.out 2>&1 &
pid=$!
if wait_until 60 test -e kl.h5.kl.ckpt.ledger; then
    pkill -KILL -P "$pid"
    wait "$pid"
    check "SIGKILL: the ledger is beside the checkpoint" test -e kl.h5.kl.ckpt
    expect -d "SIGKILL: resumed, counting the killed session's work" -l kl2 0 \
        "/^the session after that checkpoint drew [1-9][0-9]* samples before it ended: counted as redone\$" \
        qz_mpi 2 run kl.json -o kl.h5
    drawn=$(awk '{s += $1} END {print s}' kl.count)
    calls=$(wc -l < kl.count)
    redone=$(attr kl.h5 kl samples_redone)
    requests=$(attr kl.h5 kl requests)
    echo "SIGKILL: $drawn samples drawn in $calls calls; samples_redone $redone, requests $requests"
    check "SIGKILL: 0 < samples_redone ($redone) <= $drawn - 1600" \
        test "$redone" -gt 0 -a "$redone" -le $((drawn - 1600))
    check "SIGKILL: calls not counted ($calls - $requests) <= samples not counted" \
        test "$requests" -le "$calls" -a $((calls - requests)) -le $((drawn - 1600 - redone))
    check "SIGKILL: the finished run removed checkpoint and ledger" \
        test ! -e kl.h5.kl.ckpt -a ! -e kl.h5.kl.ckpt.ledger
else
    kill "$pid" 2> /dev/null
    bad "SIGKILL: no ledger appeared within 60 s: $(cat kl1.out)"
fi

finish
