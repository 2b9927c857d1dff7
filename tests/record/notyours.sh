#!/usr/bin/env bash
# Files that are not yours (README "The record"): a record another user could not
# write is not replaced (a root-owned 0644 record in a world-writable directory, run
# as nobody); a read-only record of your own is refused with a clear message; a
# symbolic link is written through to its target; temporary files of killed runs are
# removed when the next run touches the file (only those of dead processes).
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

mk() {
    job "$1" '"seed": 3, "q": 0.01, "samples": 100000, "generator": {"kind": "normal"},
  "utility": {"kind": "value"}'
}
mk a
mk b
qz_mpi 1 run a.json -o mine.h5 --no-progress > /dev/null 2>&1 || bad "the first run failed"
sum=$(md5sum < mine.h5)

# 1. Read-only record of your own (0444): refused before drawing, exit 2, unchanged.
chmod 0444 mine.h5
expect -d "a read-only record is refused (exit 2, one line)" 2 \
    "=quantilize: mine.h5: the file is read-only (mode 0444): not replaced (chmod u+w it to write to it)" \
    qz_mpi 1 run b.json -o mine.h5 --no-progress
check "the read-only record is unchanged" test "$(md5sum < mine.h5)" = "$sum"
chmod 0644 mine.h5

# 2. Another user's record in a world-writable directory: nobody may not replace it.
if id nobody > /dev/null 2>&1 && command -v setpriv > /dev/null; then
    mkdir -m 1777 shared
    cp mine.h5 shared/root.h5 && chmod 0644 shared/root.h5
    chmod 0755 "$QZ_TMP"
    sum=$(md5sum < shared/root.h5)
    expect -d "another user's record is not replaced (exit 2)" 2 \
        "/^quantilize: shared/root.h5: not writable by you (owner uid 0, mode 0644): not replaced$" \
        setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp "$QZ_BIN" run b.json \
        -o shared/root.h5 --no-progress
    check "another user's record is unchanged" test "$(md5sum < shared/root.h5)" = "$sum"
    check "and still owned by root" test "$(stat -c %u shared/root.h5)" = 0
else
    bad "setpriv or the user nobody is missing: cannot test another user's record"
fi

# 3. A symbolic link: the run goes to the link's target, the link stays a link.
mkdir real
cp mine.h5 real/target.h5
ln -s real/target.h5 link.h5
check "a run into a symbolic link" qz_mpi 1 run b.json -o link.h5 --no-progress
check "the link is still a link" test -L link.h5
check "its target holds both runs" bash -c \
    "'$QZ_BIN' inspect real/target.h5 | grep -qx 'run a' && '$QZ_BIN' inspect real/target.h5 | grep -qx 'run b'"
check "the run file is beside the target" bash -c 'ls real/target.h5.runs/b-*.h5 && ! test -e link.h5.runs'
check "inspect through the link" bash -c "'$QZ_BIN' inspect link.h5 | grep -qx 'run b'"

# 4. Temporary files of killed runs: those of dead processes of this host go, a live
# process's stays (checkpoint temporaries are made outside the lock).
host=$(hostname | tr -c 'A-Za-z0-9_\n' '_' | tr -d '\n' | cut -c1-40)
sleep 0 &
dead=$!
wait "$dead"
sleep 300 &
live=$!
touch "mine.h5.tmp.$dead@$host" "mine.h5.tmp.$dead@$host.reserve" "mine.h5.tmp.12345" \
    "mine.h5.b.ckpt.tmp.$dead@$host" "mine.h5.b.ckpt.tmp.$live@$host" \
    "mine.h5.b.ckpt.tmp.$dead@otherhost"
mkdir -p mine.h5.runs
touch "mine.h5.runs/b-$host-$dead-1-0.h5" "mine.h5.runs/b-$host-$live-1-0.h5" \
    "mine.h5.runs/b-otherhost-$dead-1-0.h5"
check "the next run" qz_mpi 1 run b.json -o mine.h5 --no-progress --overwrite
check "the record's temporary files are gone (made under the lock: all stale)" bash -c \
    '! ls mine.h5.tmp.* 2> /dev/null | grep -q .'
check "an unlinked run file of a dead process of this host is gone" test ! -e "mine.h5.runs/b-$host-$dead-1-0.h5"
check "a live process's run file stays" test -e "mine.h5.runs/b-$host-$live-1-0.h5"
check "another host's run file stays" test -e "mine.h5.runs/b-otherhost-$dead-1-0.h5"
job ck '"seed": 3, "q": 0.0001, "samples": 2000000000, "generator": {"kind": "normal"},
  "utility": {"kind": "value"}, "checkpoint": {"path": "mine.h5.b.ckpt"}'
"$QZ_BIN" run ck.json -o mine.h5 --no-progress > ck.out 2> ck.err &
ck=$!
sleep 2
kill -USR1 "$ck"
wait "$ck"
st=$?
check "a run stopped with a checkpoint (status $st, 75 wanted)" test "$st" -eq 75 -a -s mine.h5.b.ckpt
check "a dead process's checkpoint temporary is gone" test ! -e "mine.h5.b.ckpt.tmp.$dead@$host"
check "a live process's checkpoint temporary stays" test -e "mine.h5.b.ckpt.tmp.$live@$host"
check "another host's checkpoint temporary stays" test -e "mine.h5.b.ckpt.tmp.$dead@otherhost"
kill "$live"
finish
