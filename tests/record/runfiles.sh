#!/usr/bin/env bash
# The record as a small file of links to run files (README "The record"): adding a run
# writes REC.runs/ and replaces only the small record; readers (inspect, h5dump, h5py)
# go through the links from anywhere; a record moved with its directory still reads;
# missing and foreign linked files are reported by every command; pack and rm;
# an old-format record read, added to (without a copy) and packed; 3 concurrent
# writers; SIGKILL at each step of adding a run; link cycles; control characters.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

mk() { # mk NAME SAMPLES: a small job with an archive of utilities
    job "$1" "$(printf '"seed": 5, "q": 0.01, "samples": %s, "generator": {"kind": "normal"},
  "utility": {"kind": "value"}, "output": {"archive": "utilities"}' "$2")"
}
add() { # add NAME REC [ARGS...]: run job NAME into REC on 1 rank
    local name=$1 rec=$2
    shift 2
    qz_mpi 1 run "$name.json" -o "$rec" --no-progress "$@" > "$name.out" 2> "$name.err"
}
runs_in() { # runs_in REC: the number of files in REC.runs/
    find "$1.runs" -maxdepth 1 -type f -name '*.h5' | wc -l
}
summary() { # summary REC OUT: inspect REC without its first line (which names the file)
    "$QZ_BIN" inspect "$1" > "$2.full" && tail -n +2 "$2.full" > "$2"
}

# 1. Two runs: a small record of links, run files beside it, read through the links.
mk a 200000
mk b 200000
add a rec.h5 && add b rec.h5
check "two runs added" test -s rec.h5
check "the record holds no samples (under 64 kB)" test "$(stat -c %s rec.h5)" -lt 65536
check "REC.runs/ holds one file per run" test "$(runs_in rec.h5)" -eq 2
check "each run is an external link to REC.runs/" "$QZ_PYTHON" - <<'PY'
import h5py
f = h5py.File("rec.h5", "r")
for r in ("a", "b"):
    link = f["runs"].get(r, getlink=True)
    assert isinstance(link, h5py.ExternalLink), (r, link)
    assert link.filename.startswith("rec.h5.runs/" + r + "-"), link.filename
    assert link.path == "/runs/" + r, link.path
    g = h5py.File("rec.h5.runs/" + link.filename.split("/")[1], "r")
    assert g.attrs["format"] == "quantilize-run" and g.attrs["run"] == r, dict(g.attrs)
PY
summary rec.h5 before.txt
mkdir -p far/away
check "h5dump reads /runs/a/top/utility through the record from another directory" \
    bash -c 'cd far/away && h5dump -d /runs/a/top/utility ../../rec.h5 | grep -q "(0): [0-9]"'
check "h5py reads /runs/b/samples/utility through the record from another directory" \
    bash -c "cd far/away && '$QZ_PYTHON' -c \"import h5py; assert h5py.File('../../rec.h5', 'r')['runs/b/samples/utility'].shape == (200000,)\""
check "inspect from another directory equals inspect here" \
    bash -c "cd far/away && '$QZ_BIN' inspect ../../rec.h5 | tail -n +2 | cmp - ../../before.txt"

# 2. Moved with its directory: still reads; without it: one clear message everywhere.
mkdir moved
cp -a rec.h5 rec.h5.runs moved/
summary moved/rec.h5 moved.txt
check "a record copied with REC.runs/ to another directory reads the same" cmp before.txt moved.txt
mv moved/rec.h5.runs moved/elsewhere
# From inside moved/: HDF5 tries the record's directory, then the current one (README).
cd moved || exit 1
msg="rec.h5: run \"a\": linked file rec.h5.runs/"
for cmd in "inspect rec.h5" "inspect rec.h5 --json" "report rec.h5 -o r.html" \
    "export rec.h5 --run b" "pack rec.h5 -o p.h5"; do
    # shellcheck disable=SC2086
    expect -d "$cmd: the missing run file named in one line, exit 2" 2 "/^quantilize: ${msg}.* is missing (moved without rec.h5.runs/?)$" "$QZ_BIN" $cmd
    check "$cmd: one line on stderr" test "$(wc -l < expect.err)" -eq 1
done
expect -d "select from a record whose run file is missing: exit 2, the file named" 2 "~is missing (moved without rec.h5.runs/?)" \
    "$QZ_BIN" select rec.h5 --run b --q 0.1 --no-progress
check "pack of a broken record wrote nothing" test ! -e p.h5
mv elsewhere rec.h5.runs.away
mkdir rec.h5.runs && mv rec.h5.runs.away/b-* rec.h5.runs/
expect -d "rm of the run whose file is missing works" 0 "" "$QZ_BIN" rm rec.h5 --run a
check "after rm, the other run reads again" "$QZ_BIN" inspect rec.h5
cd .. || exit 1

# 3. A foreign file where a run file should be.
rm -rf moved && mkdir moved && cp -a rec.h5 rec.h5.runs moved/
f=$(find moved/rec.h5.runs -name 'b-*.h5' | head -n 1)
"$QZ_PYTHON" -c "import h5py; h5py.File('$f', 'w').create_group('runs/b')"
expect -d "a foreign linked file is reported" 2 "/^quantilize: moved/rec.h5: run \"b\": linked file rec.h5.runs/b-.* is not a quantilize run file" \
    "$QZ_BIN" inspect moved/rec.h5
"$QZ_PYTHON" -c "import h5py; h5py.File('$f', 'w').attrs['x'] = 1"
expect -d "a linked file without the run's group is reported" 2 "~is not a quantilize run file" \
    "$QZ_BIN" report moved/rec.h5 -o r.html

# 4. pack: one self-contained file, inspect equal; it reads without REC.runs/.
check "pack exits 0" "$QZ_BIN" pack rec.h5 -o packed.h5
mkdir alone && cp packed.h5 alone/
summary alone/packed.h5 packed.txt
check "inspect of the packed file equals the original's" cmp before.txt packed.txt
check "the packed file has no external link and holds the samples" "$QZ_PYTHON" - <<'PY'
import h5py
f = h5py.File("alone/packed.h5", "r")
for r in ("a", "b"):
    assert isinstance(f["runs"].get(r, getlink=True), h5py.HardLink), r
    assert f["runs/%s/samples/utility" % r].shape == (200000,)
PY
expect -d "pack onto the record itself is refused" 2 "~names the record itself" "$QZ_BIN" pack rec.h5 -o rec.h5

# 5. rm: the run goes, its file is deleted (space reclaimed), the other stays as it was.
mkdir rmdir && cp -a rec.h5 rec.h5.runs rmdir/
size_before=$(du -sb rmdir | cut -f1)
check "rm exits 0" "$QZ_BIN" rm rmdir/rec.h5 --run a
size_after=$(du -sb rmdir | cut -f1)
check "rm deleted the run file: $size_before -> $size_after bytes" test "$size_after" -lt $((size_before - 1000000))
check "rm left one run file" test "$(runs_in rmdir/rec.h5)" -eq 1
"$QZ_BIN" inspect rmdir/rec.h5 > rm.txt
check "rm: the other run is shown as before" bash -c 'grep -qx "run b" rm.txt && ! grep -qx "run a" rm.txt'
expect -d "rm of a run the file does not have: exit 2" 2 "quantilize: rmdir/rec.h5: no run \"a\" in the file" \
    "$QZ_BIN" rm rmdir/rec.h5 --run a

# 6. An old-format record (version 1, runs inline): read, added to without a copy, packed.
cp packed.h5 old.h5
"$QZ_PYTHON" -c "import h5py; f = h5py.File('old.h5', 'r+'); f.attrs['format_version'] = 1"
summary old.h5 old-before.txt
check "an old-format record reads" cmp before.txt old-before.txt
ino=$(stat -c %i old.h5)
mk c 100000
check "a run added to an old-format record" add c old.h5
check "the old file became REC.runs/legacy-* (the same inode: not copied)" \
    bash -c "ls -i old.h5.runs/legacy-*.h5 | grep -q '^$ino '"
check "the new record is small" test "$(stat -c %s old.h5)" -lt 65536
"$QZ_BIN" inspect old.h5 > old-after.txt
check "the old runs read as before, the new one after them" bash -c \
    'grep -qx "run c" old-after.txt && tail -n +2 old-after.txt | head -n "$(wc -l < old-before.txt)" | cmp - old-before.txt'
check "pack of the converted record" "$QZ_BIN" pack old.h5 -o old-packed.h5
check "inspect of it equals the converted record's" bash -c \
    "diff <('$QZ_BIN' inspect old.h5 | tail -n +2) <('$QZ_BIN' inspect old-packed.h5 | tail -n +2)"
check "rm of both old runs removes the legacy file" bash -c \
    "'$QZ_BIN' rm old.h5 --run a && '$QZ_BIN' rm old.h5 --run b && ! ls old.h5.runs/legacy-* 2> /dev/null"

# 7. Three writers at once into one record (a job array).
for i in 1 2 3; do mk "arr$i" 300000; done
for i in 1 2 3; do add "arr$i" arr.h5 & done
wait
check "3 concurrent runs: all in the record" bash -c \
    "'$QZ_BIN' inspect arr.h5 > arr.txt && grep -qx 'run arr1' arr.txt && grep -qx 'run arr2' arr.txt && grep -qx 'run arr3' arr.txt"
check "3 concurrent runs: 3 run files" test "$(runs_in arr.h5)" -eq 3

# 8. SIGKILL at each step of adding a run: the record as it was, nothing trusted, the
# leftovers removed by the next run.
mk k 200000
for at in before-lock before-record before-rename; do
    QZ_TEST_KILL_AT=$at add k rec.h5
    st=$?
    check "killed at $at: the run did not succeed (status $st)" test "$st" -ne 0
    summary rec.h5 "kill-$at.txt"
    check "killed at $at: the record reads as before" cmp before.txt "kill-$at.txt"
done
check "leftovers of the killed runs: 3 unlinked run files and a temporary record" bash -c \
    'ls rec.h5.tmp.* > /dev/null && [ "$(ls rec.h5.runs/*.h5 | wc -l)" -eq 5 ]'
mk kbig 3000000
for delay in 0.3 0.6 0.9; do
    "$QZ_BIN" run kbig.json -o rec.h5 --no-progress > /dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -KILL "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    summary rec.h5 "kill-$delay.txt" 2> /dev/null
    check "killed after ${delay} s: the record reads as before or with run k" bash -c \
        "cmp -s before.txt kill-$delay.txt || grep -qx 'run kbig' kill-$delay.txt"
    "$QZ_BIN" rm rec.h5 --run kbig > /dev/null 2>&1
done
check "the next run" add k rec.h5
check "after it: no temporary record file" bash -c '! ls rec.h5.tmp.* 2> /dev/null | grep -q .'
check "after it: only linked run files in REC.runs/ (3)" test "$(runs_in rec.h5)" -eq 3

# 9. Link cycles (soft and hard) and control characters in run names: no crash.
for kind in soft hard; do
    cp packed.h5 "cyc-$kind.h5"
    "$QZ_PYTHON" - "cyc-$kind.h5" "$kind" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r+")
g = f.create_group("runs/x")
if sys.argv[2] == "soft":
    g["tasks"] = h5py.SoftLink("/runs")
else:
    g["tasks"] = f["runs"]
PY
    for cmd in "inspect cyc-$kind.h5" "inspect cyc-$kind.h5 --json" "report cyc-$kind.h5 -o cyc.html"; do
        # shellcheck disable=SC2086
        "$QZ_BIN" $cmd > cyc.out 2> cyc.err
        st=$?
        check "$kind link cycle: $cmd ends (status $st) with a warning" bash -c \
            "[ $st -lt 128 ] && grep -q 'link cycle' cyc.err"
    done
done
cp packed.h5 ctl.h5
"$QZ_PYTHON" -c "import h5py; f = h5py.File('ctl.h5', 'r+'); f.move('runs/a', 'runs/a\x1b[31m\x07z')"
"$QZ_BIN" inspect ctl.h5 > ctl.txt
check "inspect escapes control characters of run names" bash -c \
    "! LC_ALL=C grep -q \$'[\x01-\x08\x0b-\x1f\x7f]' ctl.txt && grep -q '^run a' ctl.txt"

finish
