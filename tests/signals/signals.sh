#!/usr/bin/env bash
# Stop requests at every moment of a run, under mpirun at 1 and 2 ranks:
#  (1) start-up: SIGUSR1 to the ranks as soon as their handlers are installed (before
#      MPI_Init is done), to mpirun while every rank waits for a slow server probe,
#      and while a resuming run waits for the server's /props (also with an
#      archive): exit 75 with one message, never 138 (killed by the signal); no
#      record, the checkpoint unchanged, the next run resumes;
#  (2) SIGTERM and SIGINT sent to mpirun mid-run, with Open MPI's default settings and a
#      slow server: mpirun sends the ranks a SIGTERM (SIGKILL following
#      odls_base_sigkill_timeout, 1 s, later), the ranks write a checkpoint in time,
#      and the resumed run's record equals an uninterrupted one's.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

start_fake srv --log "$QZ_TMP/srv.log"
# The job: 240 texts from the fake server, 4 per request, 20 per chunk.
printf '{"name": "txt", "seed": 11, "q": 0.05, "samples": 240, "chunk_size": 20,
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 8,
    "prompt": "Say something:", "n": 4, "logprobs": true, "timeout_seconds": 60},
  "utility": {"kind": "logprob_mean"}, "cost": {"kind": "length"}}\n' "$FAKE_URL" > txt.json
qz_mpi 1 run txt.json -o ref.h5 --no-progress > ref.out 2>&1 || bad "reference run: $(cat ref.out)"

# ranks_of PID: the pids of the quantilize processes mpirun PID started.
ranks_of() { pgrep -P "$1" -x quantilize; }
# caught PID: process PID catches SIGUSR1 (its handler is installed).
caught() { (($(printf '%d' "0x$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status")") & (1 << 9))); }
# in_flight PATH N: the fake server has had N requests to PATH so far.
in_flight() {
    curl -s "$FAKE_CONTROL/stats" | "$QZ_PYTHON" -c \
        "import json, sys; sys.exit(json.load(sys.stdin)['by_path'].get('$1', 0) < $2)"
}
reset_fake() { curl -s -o /dev/null -X POST "$FAKE_CONTROL/reset"; }

STOPPED_LOAD='stopped by SIGUSR1 while loading the job, before drawing a sample: run the same command again'

for n in 1 2; do
    # (1a) SIGUSR1 straight to each rank the moment its handler is in place: main()
    # installs it before MPI_Init, so the signal lands in MPI_Init or the job loading.
    reset_fake
    arm slow -1 4 /v1/models
    rm -f txt.h5 txt.h5.txt.ckpt
    "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" run txt.json --no-progress > early$n.out 2> early$n.err &
    pid=$!
    declare -A hit=()
    for ((i = 0; i < 2000 && ${#hit[@]} < n; i++)); do
        for r in $(ranks_of "$pid"); do
            [ -z "${hit[$r]:-}" ] && caught "$r" 2> /dev/null && kill -USR1 "$r" && hit[$r]=1
        done
        sleep 0.005
    done
    sent=${#hit[@]}
    unset hit
    wait "$pid"
    status=$?
    check "$n rank(s): SIGUSR1 to every rank when its handler is installed ($sent sent)" test "$sent" -eq "$n"
    check "$n rank(s): SIGUSR1 at the start of start-up: exit 75 (got $status)" test "$status" -eq 75
    check "$n rank(s): ... with one message" \
        test "$(grep -c "^quantilize: stopped by SIGUSR1 " early$n.err)" -eq 1
    check "$n rank(s): ... that says so" grep -qx "quantilize: $STOPPED_LOAD" early$n.err
    check "$n rank(s): ... and no record, no checkpoint" test ! -e txt.h5 -a ! -e txt.h5.txt.ckpt

    # (1b) SIGUSR1 to mpirun (which passes it on) while every rank waits for the probe
    # of a server that answers /v1/models after 6 s.
    reset_fake
    arm slow -1 6 /v1/models
    "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" run txt.json --no-progress > probe$n.out 2> probe$n.err &
    pid=$!
    if wait_until 60 in_flight /v1/models "$n"; then
        sleep 0.3
        t0=$(date +%s.%N)
        kill -USR1 "$pid"
        wait "$pid"
        status=$?
        took=$(echo "$(date +%s.%N) - $t0" | bc)
        echo "note: $n rank(s): from SIGUSR1 during the probe to exit: $took s"
        check "$n rank(s): SIGUSR1 during the server probe: exit 75 (got $status)" test "$status" -eq 75
        check "$n rank(s): ... with that message" grep -qx "quantilize: $STOPPED_LOAD" probe$n.err
        check "$n rank(s): ... within the probe's wait and 10 s ($took s)" \
            test "$(echo "$took < 16" | bc)" = 1
        check "$n rank(s): ... and no record" test ! -e txt.h5
    else
        kill "$pid"
        wait "$pid"
        bad "$n rank(s): the ranks never asked for /v1/models: $(cat probe$n.err)"
    fi

    # (1c) A resume stopped before it draws: a checkpoint from a run stopped midway,
    # then SIGUSR1 while the resuming ranks wait for the server's /props (n = 4 asks
    # it). The checkpoint stays as it was; the next run resumes it to the record of
    # an uninterrupted run.
    reset_fake
    arm slow -1 1
    stop_midway "$n" '^progress: ' mid$n.err run txt.json --progress-every 0.5
    check "$n rank(s): a run stopped midway: exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
    sum=$(sha256sum < txt.h5.txt.ckpt)
    reset_fake
    arm slow -1 6 /props
    "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" run txt.json --no-progress > resume$n.out 2> resume$n.err &
    pid=$!
    if wait_until 60 in_flight /props 1; then
        sleep 0.3
        kill -USR1 "$pid"
        wait "$pid"
        status=$?
        check "$n rank(s): SIGUSR1 while a resume starts: exit 75 (got $status)" test "$status" -eq 75
        check "$n rank(s): ... with that message" grep -qx "quantilize: stopped by SIGUSR1 during start-up, before drawing a sample: checkpoint txt.h5.txt.ckpt is unchanged; run the same command again to resume" resume$n.err
        check "$n rank(s): ... and the checkpoint unchanged" test "$(sha256sum < txt.h5.txt.ckpt)" = "$sum"
    else
        kill "$pid"
        wait "$pid"
        bad "$n rank(s): the resuming ranks never asked for /props: $(cat resume$n.err)"
    fi
    reset_fake
    expect -d "$n rank(s): the next run resumes" -l again$n 0 \
        '/^resuming from checkpoint txt.h5.txt.ckpt: [1-9][0-9]* of 240 samples done' \
        qz_mpi "$n" run txt.json
    check "$n rank(s): ... to the record of an uninterrupted run" h5same_resumed ref.h5 txt txt.h5 txt
    rm -f txt.h5
done

# (1d) The same with an archive (output.archive "all"): the resume has opened the
# archive's staging file when the stop comes, and leaves it for the next run.
sed -e 's/"name": "txt"/"name": "arc"/' -e 's/"cost": {"kind": "length"}}/"cost": {"kind": "length"}, "output": {"archive": "all"}}/' \
    txt.json > arc.json
reset_fake
qz_mpi 2 run arc.json -o arcref.h5 --no-progress > arcref.out 2>&1 || bad "archive reference: $(cat arcref.out)"
arm slow -1 1
stop_midway 2 '^progress: ' arcmid.err run arc.json --progress-every 0.5
check "archive: a run stopped midway: exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
reset_fake
arm slow -1 6 /props
"$QZ_MPIEXEC" -n 2 "$QZ_BIN" run arc.json --no-progress > arcre.out 2> arcre.err &
pid=$!
if wait_until 60 in_flight /props 1; then
    sleep 0.3
    kill -USR1 "$pid"
    wait "$pid"
    status=$?
    check "archive: SIGUSR1 while a resume starts: exit 75 (got $status)" test "$status" -eq 75
    check "archive: ... the staging file kept" test -e arc.h5.arc.samples.tmp
else
    kill "$pid"
    wait "$pid"
    bad "archive: the resuming ranks never asked for /props: $(cat arcre.err)"
fi
reset_fake
expect -d "archive: the next run resumes" -l arcagain 0 \
    '/^resuming from checkpoint arc.h5.arc.ckpt: [1-9][0-9]* of 240 samples done' qz_mpi 2 run arc.json
check "archive: ... to the record (and archive) of an uninterrupted run" h5same_resumed arcref.h5 arc arc.h5 arc

# (2) SIGTERM and SIGINT to mpirun, as a user sends them: Open MPI 4.1's defaults.
# mpirun answers either one by sending the ranks SIGTERM odls_base_sigkill_timeout seconds
# later (default 1), then SIGKILL as long again after that. The ranks abandon the
# requests in flight (each answered only after 1 s) and checkpoint within that second.
sed -e 's/"name": "txt"/"name": "term"/' -e 's/"samples": 240/"samples": 480/' txt.json > term.json
reset_fake
qz_mpi 2 run term.json -o termref.h5 --no-progress > termref.out 2>&1 ||
    bad "term reference: $(cat termref.out)"
for sig in TERM INT; do
    rm -f term.h5 term.h5.term.ckpt
    reset_fake
    arm slow -1 1
    env -u OMPI_MCA_odls_base_sigkill_timeout "$QZ_MPIEXEC" -n 2 "$QZ_BIN" run term.json --no-progress \
        > term$sig.out 2> term$sig.err &
    pid=$!
    if wait_until 60 in_flight /v1/completions 2; then
        t0=$(date +%s.%N)
        kill -"$sig" "$pid"
        wait "$pid"
        status=$?
        echo "note: SIG$sig to mpirun: exit status $status after $(echo "$(date +%s.%N) - $t0" | bc) s"
        check "SIG$sig to mpirun: mpirun exits 1 (got $status)" test "$status" -eq 1
        check "SIG$sig to mpirun: the ranks got SIGTERM, checkpointed and stopped" \
            grep -q "^quantilize: stopped by SIGTERM after checkpointing [0-9]* of 480 samples to term.h5.term.ckpt: run the same command again to resume$" term$sig.err
        check "SIG$sig to mpirun: the checkpoint is there" test -s term.h5.term.ckpt
        reset_fake
        expect -d "SIG$sig to mpirun: the next run resumes" -l termre$sig 0 \
            '/^resuming from checkpoint term.h5.term.ckpt: [0-9]* of 480 samples done (written by 2 ranks)' \
            qz_mpi 2 run term.json
        check "SIG$sig to mpirun: ... to the record of an uninterrupted run" \
            h5same_resumed termref.h5 term term.h5 term
    else
        kill "$pid"
        wait "$pid"
        bad "SIG$sig: no completions asked for: $(cat term$sig.err)"
    fi
done

finish
