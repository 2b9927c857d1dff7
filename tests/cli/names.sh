#!/usr/bin/env bash
# Run names come from the file, and anyone may have written them: every command that
# shows one escapes its control characters (C0, DEL and C1 as \xNN or \uNNNN, like
# texts), on stdout and in warnings and errors alike. `quantilize run` refuses such
# names in a job, so the runs here are renamed with h5py afterwards.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# no_raw FILE...: no raw control character (C0 but tab and newline, DEL, or C1 U+0080 to
# U+009F, UTF-8 \xc2\x80 to \xc2\x9f) in the files (the lines that have one are shown).
no_raw() {
    ! LC_ALL=C grep -n -e $'[\x01-\x08\x0b-\x1f\x7f]' -e $'\xc2[\x80-\x9f]' "$@"
}

job a '"seed": 1, "q": 0.1, "samples": 100, "generator": {"kind": "normal"}'
check "a run for the names" "$QZ_BIN" run a.json -o n.h5 --no-progress
# ESC [31m (red), BEL, DEL and the C1 CSI in the run's name; a group c<ESC>x whose
# tasks link back to /runs (a cycle inspect warns about, naming the group).
"$QZ_PYTHON" - <<'PY'
import h5py
f = h5py.File("n.h5", "r+")
f.move("runs/a", "runs/a\x1b[31m\x07\x7f\u009bz")
f.create_group("runs/c\x1bx")["tasks"] = h5py.SoftLink("/runs")
PY
"$QZ_BIN" inspect n.h5 > n.out 2> n.err
check "inspect: exit 0" test $? -eq 0
check "inspect: no raw control character on stdout or stderr" no_raw n.out n.err
check "inspect shows the run's name escaped, as one whole line" \
    grep -qxF 'run a\x1b[31m\x07\x7f\u009bz' n.out
check "inspect's link-cycle warning shows the group's name escaped" \
    grep -qxF 'quantilize: n.h5: /runs/c\x1bx/tasks/ leads back to a group already listed (a link cycle) or lies too deep: not followed' n.err
# The run's file moved away: the error names the run, escaped.
mv n.h5.runs n.h5.away
for cmd in "inspect n.h5" "inspect n.h5 --json" "report n.h5 -o n.html"; do
    # shellcheck disable=SC2086
    expect -l miss 2 '~: linked file n.h5.runs/' "$QZ_BIN" $cmd
    check "$cmd: the missing run file's error shows the run's name escaped" \
        grep -qF 'quantilize: n.h5: run "a\x1b[31m\x07\x7f\u009bz": linked file' miss.err
    check "$cmd: no raw control character in it" no_raw miss.err miss.out
done
finish
