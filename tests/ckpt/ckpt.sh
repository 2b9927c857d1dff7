#!/usr/bin/env bash
# Checkpoints: a run killed (SIGKILL) or stopped (SIGUSR1) midway and run again gives
# the record an uninterrupted run gives, at the same or another rank count, for
# numbers and for text tasks; a checkpoint of another job, or a damaged one, is
# refused with exit status 2 and nothing written.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# A numeric job long enough to interrupt (a few seconds on 3 ranks; the sanitizer
# build, 30x slower, sets QZ_CKPT_SAMPLES lower), checkpointing every 0.3 s.
N=${QZ_CKPT_SAMPLES:-600000000}
numeric() { # numeric NAME SEED
    job "$1" "$(printf '"seed": %s, "q": 1e-6, "samples": %s, "chunk_size": 16384,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.999, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 0.001, "cost": 1, "generator": {"kind": "normal", "mean": 2}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"},
  "checkpoint": {"every_seconds": 0.3}' "$2" "$N")"
}
numeric big 11

# The uninterrupted reference, on 2 ranks.
qz_mpi 2 run big.json -o ref.h5 --no-progress > ref.out 2>&1 || bad "reference run: $(cat ref.out)"
check "an uninterrupted run leaves no checkpoint behind" test ! -e ref.h5.big.ckpt

# 1. SIGKILL every rank of a 3-rank run once a checkpoint exists; the same command
#    again resumes and gives the same record.
"$QZ_MPIEXEC" -n 3 "$QZ_BIN" run big.json -o kill.h5 --no-progress > kill1.out 2>&1 &
mpirun_pid=$!
if wait_until 120 test -e kill.h5.big.ckpt; then
    sleep 0.4
    pkill -KILL -P "$mpirun_pid"
    wait "$mpirun_pid"
    check "SIGKILL: the killed run wrote no record" test ! -e kill.h5
    expect -d "SIGKILL: the same command again succeeds and says it resumes" -l kill2 0 \
        "/^resuming from checkpoint kill.h5.big.ckpt: [0-9]* of $N samples done (written by 3 ranks)" \
        qz_mpi 3 run big.json -o kill.h5
    check "SIGKILL: the resumed record equals the uninterrupted one" h5same ref.h5 big kill.h5 big
    check "SIGKILL: the finished run removed its checkpoint" test ! -e kill.h5.big.ckpt
    check "SIGKILL: the record counts the resume" h5q assert kill.h5 runs/big \
        "a['resumes'] == 1" "a['checkpoints'] >= 1" "a['checkpoint_seconds'] >= 0"
else
    kill "$mpirun_pid" 2> /dev/null
    bad "SIGKILL: no checkpoint appeared within 120 s: $(cat kill1.out)"
fi

# 2. SIGUSR1 (forwarded by mpirun to the ranks): a checkpoint, exit status 75, no
#    record; resumed on 2 ranks (from 3) it gives the same record.
"$QZ_MPIEXEC" -n 3 "$QZ_BIN" run big.json -o usr.h5 > usr1.out 2> usr1.err &
mpirun_pid=$!
wait_until 120 test -e usr.h5.big.ckpt || bad "SIGUSR1: no periodic checkpoint within 120 s"
kill -USR1 "$mpirun_pid"
wait "$mpirun_pid"
status=$?
# mpirun reports the first non-zero exit status of its ranks.
check "SIGUSR1: exit status 75 (got $status)" test "$status" -eq 75
check "SIGUSR1: says it checkpointed and how to go on" grep -q "^quantilize: stopped by SIGUSR1 after checkpointing [0-9]* of $N samples to usr.h5.big.ckpt: run the same command again to resume\$" usr1.err
check "SIGUSR1: exactly one message" test "$(grep -c 'stopped by' usr1.err)" -eq 1
check "SIGUSR1: no record, a checkpoint" bash -c 'test ! -e usr.h5 && test -s usr.h5.big.ckpt'
cp usr.h5.big.ckpt saved.ckpt
expect -d "SIGUSR1: resumed on 2 ranks from 3: success" -l usr2 0 '*' qz_mpi 2 run big.json -o usr.h5
check "SIGUSR1: resumed on 2 ranks from 3: the same record" h5same ref.h5 big usr.h5 big

# 3. A checkpoint from another job (another seed) is refused: exit 2, nothing written.
numeric big 12
cp saved.ckpt other.h5.big.ckpt
expect -d "another job's checkpoint: exit 2, says so" -l other 2 \
    '/^quantilize: checkpoint other.h5.big.ckpt was written by a different job' \
    "$QZ_BIN" run big.json -o other.h5
check "another job's checkpoint: nothing written, checkpoint kept" bash -c 'test ! -e other.h5 && cmp -s saved.ckpt other.h5.big.ckpt'
check "--fresh starts afresh instead" bash -c "'$QZ_BIN' run big.json -o other.h5 --fresh --no-progress > /dev/null && test -e other.h5 && test ! -e other.h5.big.ckpt"
numeric big 11

# 4. Damaged checkpoints are detected by their checksums and refused.
damaged() { # damaged NAME MESSAGE: run big.json against NAME.h5.big.ckpt
    expect -d "$1 checkpoint: exit 2, the message says what" -l "$1" 2 "/$2" \
        "$QZ_BIN" run big.json -o "$1.h5"
    check "$1 checkpoint: nothing written" test ! -e "$1.h5"
}
size=$(stat -c %s saved.ckpt)
cp saved.ckpt flipped.h5.big.ckpt
printf '\x55' | dd of=flipped.h5.big.ckpt bs=1 seek=$((size - 100)) conv=notrunc status=none
damaged flipped 'is damaged (section [0-9] fails its checksum)'
head -c $((size - 1000)) saved.ckpt > cut.h5.big.ckpt
damaged cut 'is truncated or damaged'
cp saved.ckpt header.h5.big.ckpt
printf '\x01' | dd of=header.h5.big.ckpt bs=1 seek=40 conv=notrunc status=none
damaged header 'is damaged (its header checksum does not match)'
printf 'not a checkpoint' > junk.h5.big.ckpt
damaged junk 'is not a quantilize checkpoint'

# 5. Text: a tasks job on a (slowed) model server, stopped by SIGUSR1 in its second
#    task and resumed on 2 ranks, gives the records of an uninterrupted run: the
#    payloads of the top sets travel in the checkpoint.
start_fake text
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' \
    '{"id": "stones", "prompt": "Write about stones:"}' '{"id": "good", "prompt": "Be good:"}' \
    > prompts.jsonl
printf '{"name": "text", "seed": 5, "q": 0.05, "samples": 240, "chunk_size": 20,
  "tasks": "prompts.jsonl", "checkpoint": {"every_seconds": 0},
  "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
    "prompt": "unused", "n": 4, "logprobs": true, "timeout_seconds": 20},
  "utility": {"kind": "logprob_mean"}, "cost": {"kind": "length"}}\n' "$FAKE_URL" > text.json
qz_mpi 1 run text.json -o textref.h5 --no-progress > textref.out 2>&1 || bad "text reference: $(cat textref.out)"
arm slow -1 0.5
# (1.2 s into task 2: two intervals of 0.5 s are done, the third is interrupted and
# rolled back, so the checkpoint holds some of task 2's samples)
QZ_STOP_DELAY=1.2 stop_midway 3 'task 2 of 3' text1.err run text.json -o text.h5
status=$STOP_STATUS
check "text: SIGUSR1 in task 2 gives exit 75 (got $status; $(tail -1 text1.err))" test "$status" -eq 75
check "text: task 1 is recorded, task 2 not yet" test "$(h5q keys text.h5 runs/text/tasks)" = rivers
expect -d "text: resumed on 2 ranks: success, in task 2" -l text2 0 \
    '/^resuming from checkpoint text.h5.text.ckpt: [1-9][0-9]* of 240 samples done (written by 3 ranks)' \
    qz_mpi 2 run text.json -o text.h5
# (the requests of an interval the stop rolled back are counted: they were sent again)
for id in rivers stones good; do
    check "text: task $id equals the uninterrupted run's" h5same_resumed textref.h5 "text/tasks/$id" \
        text.h5 "text/tasks/$id"
done
check "text: no checkpoint left" test ! -e text.h5.text.ckpt

finish
