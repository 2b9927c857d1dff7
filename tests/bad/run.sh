#!/usr/bin/env bash
# The bad-input corpus (tests as data): every tests/bad/cases/NAME.json is a job that
# `quantilize run` must refuse. Its sidecar NAME.want holds two lines:
#   status N          the exit status wanted
#   message REGEX     an extended regex (grep -E) that the one line on stderr matches whole
# The runner checks the status, that stderr is exactly one line matching REGEX, and
# that nothing was written (no record, no temporary file). In REGEX, @ stands for the
# case's file name (as given to quantilize, NAME.json). NAME.json may be a directory.
# A case may have a third file NAME.jsonl, copied beside the job (a tasks file).
# Adding a case is adding the two (or three) files.
. "$(dirname "$0")/../lib.sh"
cases=$QZ_SOURCE/tests/bad/cases
n=0
for src in "$cases"/*.json; do
    name=$(basename "$src" .json)
    want=$cases/$name.want
    n=$((n + 1))
    if [ ! -f "$want" ]; then
        bad "$name: no $name.want beside it"
        continue
    fi
    status=$(sed -n 's/^status //p' "$want")
    regex=$(sed -n 's/^message //p' "$want")
    dir=$QZ_TMP/$name
    mkdir -p "$dir"
    cp -r "$src" "$dir/$name.json"
    if [ -e "$cases/$name.jsonl" ]; then cp "$cases/$name.jsonl" "$dir/$name.jsonl"; fi
    regex=${regex//@/$name\\.json}
    (cd "$dir" && timeout 120 "$QZ_BIN" run "$name.json" -o out.h5 --no-progress > out.txt 2> err.txt)
    got=$?
    lines=$(wc -l < "$dir/err.txt")
    if [ "$got" = "$status" ] && [ "$lines" -eq 1 ] && grep -qxE -- "$regex" "$dir/err.txt" &&
        ! ls "$dir" | grep -qv -e "^$name\.json\$" -e "^$name\.jsonl\$" -e '^out\.txt$' -e '^err\.txt$'; then
        ok "$name: exit $status, one line matching the wanted message, nothing written"
    else
        bad "$name"
        echo "    exit status: $got (want $status); stderr lines: $lines (want 1)"
        echo "    want: $regex"
        qz_show "$dir/err.txt"
        echo "    files: $(ls "$dir" | tr '\n' ' ')"
    fi
done
check "the corpus holds cases" test "$n" -gt 0
finish
