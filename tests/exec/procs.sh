#!/usr/bin/env bash
# Processes and messages: a truncated plugin library is a job error (exit 2, naming the
# file and why), not a SIGBUS in dlopen; an exec program's own children end with it
# (its process group is ended at close, on error and on stop); select names a source
# run whose job attribute is not JSON; the "resuming from checkpoint" line shows with
# --no-progress; an api_key_file that group or others can read is warned about once.
# Needs QZ_EXAMPLE_PLUGIN (the built example plugin's path).
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
: "${QZ_EXAMPLE_PLUGIN:?the path of the example plugin}"
cp "$QZ_SOURCE"/tests/plugins/{generator,testio}.py .

# 1. Truncated plugins (the first 100 bytes, 3000 bytes, half of the library), as the
#    generator and as the utility: exit 2 with a message naming the file, on 1 and 2 ranks.
size=$(stat -c %s "$QZ_EXAMPLE_PLUGIN")
for n in 100 3000 $((size / 2)); do
    head -c "$n" "$QZ_EXAMPLE_PLUGIN" > "cut$n.so"
    job "cutg$n" "\"seed\": 1, \"q\": 0.1, \"samples\": 10,
      \"generator\": {\"kind\": \"plugin\", \"path\": \"$QZ_TMP/cut$n.so\"}"
    for r in 1 2; do
        expect -l "cutg$n-$r" 2 "/^quantilize: cutg$n.json: generator.path: cannot load plugin $QZ_TMP/cut$n.so: it is truncated" \
            qz_mpi "$r" run "cutg$n.json" -o "cutg$n.h5" --no-progress
    done
    job "cutu$n" "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"normal\"},
      \"utility\": {\"kind\": \"plugin\", \"path\": \"$QZ_TMP/cut$n.so\"}"
    expect -l "cutu$n" 2 "/^quantilize: cutu$n.json: utility.path: cannot load plugin $QZ_TMP/cut$n.so: it is truncated" \
        qz_mpi 1 run "cutu$n.json" -o "cutu$n.h5" --no-progress
    check "truncated at $n bytes: no record" test ! -e "cutg$n.h5" -a ! -e "cutu$n.h5"
done
printf 'not an ELF file at all, but long enough to hold an ELF header and more\n' > text.so
job notelf "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"$QZ_TMP/text.so\"}"
expect 2 "=quantilize: notelf.json: generator.path: cannot load plugin $QZ_TMP/text.so: it is not an ELF file (no ELF magic number)" \
    qz_mpi 1 run notelf.json -o notelf.h5 --no-progress
mkdir -p dir.so
job dirso "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"$QZ_TMP/dir.so\"}"
expect 2 "=quantilize: dirso.json: generator.path: cannot load plugin $QZ_TMP/dir.so: not a regular file" \
    qz_mpi 1 run dirso.json -o dirso.h5 --no-progress
# the whole library still loads
job whole "\"seed\": 1, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"plugin\", \"path\": \"$QZ_EXAMPLE_PLUGIN\"}"
expect -d "the whole plugin library loads and runs" 0 '*' qz_mpi 1 run whole.json -o whole.h5 --no-progress

# 2. An exec program that starts a child of its own (sleep 300, in the background,
#    its PID written to a file) and then runs the generator: after the run the child
#    is gone, when the run succeeds, when it fails (a protocol error), and when it
#    is stopped (SIGUSR1). The wrapper is bash, so the sleep is not quantilize's child.
spawner() { # spawner PIDFILE GENERATOR-ARGS: the command array
    printf '"bash", "-c", "sleep 300 < /dev/null > /dev/null 2>&1 & echo $! > %s; exec \\"$0\\" \\"$@\\"", "%s", "%s/generator.py"%s' \
        "$QZ_TMP/$1" "$QZ_PYTHON" "$QZ_TMP" "$2"
}
gone() { # gone PIDFILE WHAT: the PID in PIDFILE is no longer a process (within 5 s)
    local pid
    pid=$(cat "$1" 2> /dev/null)
    if [ -z "$pid" ]; then
        bad "$2: the exec program wrote no PID to $1"
        return
    fi
    # a zombie not yet reaped by its new parent counts as gone
    check "$2: the exec program's child $pid is gone" wait_until 5 \
        bash -c "! kill -0 $pid 2> /dev/null || grep -q '^State:.*Z' /proc/$pid/status"
    kill -KILL "$pid" 2> /dev/null
}
job kids "\"seed\": 5, \"q\": 0.1, \"samples\": 500,
  \"generator\": {\"kind\": \"exec\", \"command\": [$(spawner kids.pid ', "--numbers"')], \"text\": false}"
expect -d "kids: the run with a child-spawning exec program succeeds" -l kids 0 '*' \
    qz_mpi 1 run kids.json -o kids.h5 --no-progress
gone kids.pid "kids (run succeeded)"
job kidsbad "\"seed\": 5, \"q\": 0.1, \"samples\": 500, \"utility\": {\"kind\": \"length\"},
  \"generator\": {\"kind\": \"exec\", \"command\": [$(spawner kidsbad.pid ', "--garbage-at", "3"')]}"
expect -l kidsbad 1 "~: not a JSON object: this is not JSON" qz_mpi 1 run kidsbad.json -o kidsbad.h5 --no-progress
gone kidsbad.pid "kidsbad (run failed)"
job kidsstop "\"seed\": 5, \"q\": 0.1, \"samples\": 100000000, \"chunk_size\": 1000,
  \"checkpoint\": {\"every_seconds\": 0},
  \"generator\": {\"kind\": \"exec\", \"command\": [$(spawner kidsstop.pid ', "--numbers"')], \"text\": false}"
QZ_STOP_DELAY=0.5 stop_midway 1 'ready' kidsstop.err run kidsstop.json -o kidsstop.h5 --no-progress
check "kidsstop: SIGUSR1 stops the run with exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
gone kidsstop.pid "kidsstop (run stopped)"
# Ctrl-C to a terminal's foreground group reaches quantilize (run alone, as one rank)
# but not the program in its own group: quantilize ends the program's group, then dies
# of the SIGINT. (A background job of a script starts with SIGINT ignored: python puts
# the default action back before it execs quantilize, as a terminal's shell has it.)
job kidsint "\"seed\": 5, \"q\": 0.1, \"samples\": 100000000, \"chunk_size\": 1000,
  \"generator\": {\"kind\": \"exec\", \"command\": [$(spawner kidsint.pid ', "--numbers"')], \"text\": false}"
"$QZ_PYTHON" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$QZ_BIN" run kidsint.json -o kidsint.h5 --no-progress > kidsint.out 2> kidsint.err &
qz_pid=$!
wait_until 60 grep -q 'ready' kidsint.err
sleep 0.5
kill -INT "$qz_pid"
if wait_until 30 bash -c "! kill -0 $qz_pid"; then
    wait "$qz_pid"
    status=$?
    check "kidsint: SIGINT ends quantilize by the signal (status 130, got $status)" test "$status" -eq 130
else
    kill -KILL "$qz_pid"
    wait "$qz_pid"
    bad "kidsint: quantilize was still running 30 s after SIGINT"
fi
gone kidsint.pid "kidsint (SIGINT to quantilize only)"

# 3. select from a run whose job attribute is not JSON: the message says so.
job arch "\"seed\": 3, \"q\": 0.1, \"samples\": 200, \"generator\": {\"kind\": \"normal\"}, \"output\": {\"archive\": \"all\"}"
if runn arch 1; then
    "$QZ_PYTHON" - arch-1.h5 << 'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f["runs/arch"].attrs["job"] = "{not json"
PY
    expect -l selbad 2 "/^quantilize: arch-1.h5: run \"arch\": attribute job is not valid JSON (a syntax error near byte [0-9]* of 9)\$" \
        qz_mpi 1 select arch-1.h5 --run arch --q 0.5 -o sel.h5 --no-progress
    "$QZ_PYTHON" - arch-1.h5 << 'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    f["runs/arch"].attrs["job"] = "[1, 2]"
PY
    expect -l selarr 2 "=quantilize: arch-1.h5: run \"arch\": attribute job is not valid JSON (not a JSON object)" \
        qz_mpi 1 select arch-1.h5 --run arch --q 0.5 -o sel.h5 --no-progress
    check "select from a bad job attribute: no output" test ! -e sel.h5
else
    bad "the archiving run failed: $(cat arch-1.err)"
fi

# 4. --no-progress still says that a run resumes from its checkpoint: a run stopped
#    once a checkpoint exists, run again (and stopped again as soon as it says it
#    resumes: the job is far too long to finish).
N=4000000000
job res "\"seed\": 4, \"q\": 1e-6, \"samples\": $N, \"chunk_size\": 16384, \"generator\": {\"kind\": \"normal\"},
  \"checkpoint\": {\"every_seconds\": 0.3}"
"$QZ_MPIEXEC" -n 2 "$QZ_BIN" run res.json -o res.h5 --no-progress > res1.out 2> res1.err &
mpirun_pid=$!
wait_until 120 test -e res.h5.res.ckpt || bad "res: no checkpoint within 120 s"
kill -USR1 "$mpirun_pid"
wait "$mpirun_pid"
status=$?
check "res: SIGUSR1 gives exit 75 (got $status)" test "$status" -eq 75
QZ_STOP_DELAY=0 stop_midway 2 '^resuming from' res2.err run res.json -o res.h5 --no-progress
check "res: run again with --no-progress, it says it resumes" \
    grep -qx "resuming from checkpoint res.h5.res.ckpt: [1-9][0-9]* of $N samples done (written by 2 ranks)" res2.err
check "res: stopped again (exit 75, got $STOP_STATUS)" test "$STOP_STATUS" -eq 75

# 5. An api_key_file readable by group or others: one warning (at 2 ranks too), naming
#    the file and its mode, never the key; a 0600 file gives none.
start_fake keys
KEY=sk-procs-test-$$-secret
printf '%s\n' "$KEY" > open.key
chmod 0644 open.key
printf '%s\n' "$KEY" > closed.key
chmod 0600 closed.key
keyjob() { # keyjob NAME KEYFILE
    job "$1" "\"seed\": 2, \"q\": 0.1, \"samples\": 20, \"utility\": {\"kind\": \"length\"},
  \"generator\": {\"kind\": \"openai\", \"base_url\": \"$FAKE_URL\", \"model\": \"m\", \"prompt\": \"p\",
    \"max_tokens\": 4, \"api_key_file\": \"$QZ_TMP/$2\"}"
}
keyjob kopen open.key
keyjob kclosed closed.key
WARN="quantilize: warning: generator.api_key_file: the key file $QZ_TMP/open.key has mode 0644: group or others can read it (chmod 600 it)"
for r in 1 2; do
    expect -l "kopen$r" 0 "=$WARN" qz_mpi "$r" run kopen.json -o "kopen$r.h5" --no-progress
    check "kopen, $r ranks: one warning" test "$(grep -c 'api_key_file: the key file' "kopen$r.err")" -eq 1
    check "kopen, $r ranks: the key is in no output" bash -c "! grep -qF -- '$KEY' kopen$r.err kopen$r.out"
done
expect -d "kclosed: a 0600 key file gives no warning" -l kclosed 0 "" \
    qz_mpi 1 run kclosed.json -o kclosed.h5 --no-progress
finish
