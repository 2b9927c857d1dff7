#!/usr/bin/env bash
# compare_kept.sh OLD NEW [--ignore NAME ...]: compare every run of every record that
# two runs of the test suite kept (QZ_KEEP_DIR=OLD, then QZ_KEEP_DIR=NEW, e.g. built
# before and after a refactoring), paired by test script and file name (NAME.h5 or
# NAME-N.h5), with tests/tools/h5compare.py. The job text and the generator request
# are ignored (they hold the fake server's port, which differs between runs); more
# attributes with --ignore. Prints one line per difference and a count; exit 1 when
# any run differs or is missing.
set -u
old=$1 new=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
py=${QZ_PYTHON:-/usr/bin/python3}
same=0 differ=0 missing=0
for od in "$old"/*/; do
    script=$(basename "$od")
    script=${script%.*}
    nd=$(ls -d "$new/$script".* 2> /dev/null | head -n 1)
    [ -n "$nd" ] || { echo "no $script in $new"; missing=$((missing + 1)); continue; }
    while IFS= read -r rel; do
        nf=$nd/$rel
        [ -f "$nf" ] || nf=$(ls "$nd/${rel%.h5}"-*.h5 2> /dev/null | head -n 1)
        [ -n "$nf" ] && [ -f "$nf" ] || { echo "missing: $script/$rel"; missing=$((missing + 1)); continue; }
        runs=$("$py" "$here/h5q.py" runs "$od/$rel" 2> /dev/null) || continue
        for r in $runs; do
            if out=$("$py" "$here/h5compare.py" "$od/$rel" "$r" "$nf" "$r" --ignore job \
                --ignore generator_request "$@" 2>&1); then
                same=$((same + 1))
            else
                differ=$((differ + 1))
                echo "differs: $script/$rel /runs/$r"
                echo "$out" | grep -v '^identical' | head -n 5
            fi
        done
    done < <(cd "$od" && find . -name '*.h5' | sed 's|^\./||')
done
echo "compare_kept: $same runs identical, $differ differ, $missing missing"
[ "$differ" -eq 0 ] && [ "$missing" -eq 0 ]
