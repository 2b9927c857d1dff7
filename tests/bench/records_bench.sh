#!/usr/bin/env bash
# Records that scale with their archives, large K in bounded memory (issue 13), in
# one invocation on this machine, with a Release build in build-bench/:
#   (a) adding a 10^6-sample run to a record that holds a 10^8-sample archive,
#       divided by writing the same run into a fresh file (wall time of the whole
#       `quantilize run`; best of 3 each)                                target <= 1.5
#   (b) peak resident memory per rank at K = 10^7 (N = 10^8, q = 0.1), 1 and 2 ranks,
#       measured from outside by /usr/bin/time -v around each rank, against
#       32 B x K + 64 MiB; per entry: (peak - peak of a tiny run) / K   target <= 32 B
#       and the record's own peak_rss_bytes_max beside it
#   (c) selection's share of those runs: select / (draw + select + write) from the
#       record's timings                                                 target <= 25%
#   (d) archive write vs dd: tests/bench/archive_bench.sh            target >= 0.8
#
#   bash tests/bench/records_bench.sh [--big] [DIR]
#       --big   (c) also at N = 10^9, q = 0.01 (K = 10^7), 1 and 2 ranks
#       DIR     where to write (default a temporary directory under $TMPDIR); about
#               3 GB, removed at the end
set -euo pipefail
QZ_BUILD=${QZ_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-bench}
QZ_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release"
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
export QZ_BUILD OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_fcoll=dynamic_gen2
BIG=0
if [ "${1:-}" = --big ]; then
    BIG=1
    shift
fi
work=$(mktemp -d "${1:-${TMPDIR:-/tmp}}/qzrecords.XXXXXX")
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
NARCH=${QZ_BENCH_NARCH:-100000000}
K=10000000
MIB64=$((64 * 1048576))

job() { # job NAME N Q [EXTRA]
    printf '{"name": "%s", "seed": 1, "q": %s, "samples": %s, %s
      "generator": {"kind": "normal"}, "utility": {"kind": "value"}}\n' "$1" "$3" "$2" \
        "${4:-}" > "$work/$1.json"
}
attr() { # attr FILE RUN ATTRIBUTE
    $PY "$QZ_SOURCE/tests/tools/h5q.py" attr "$1" "runs/$2" "$3"
}
seconds() { # seconds COMMAND...: wall time of COMMAND
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    $PY -c "print(f'{$t1 - $t0:.3f}')"
}
calc() { $PY -c "print($1)"; }
run() { # run RANKS JOB FILE
    mpirun -n "$1" "$QZ_BUILD/quantilize" run "$work/$2.json" -o "$3" --no-progress
}
# measured RANKS JOB: run JOB into JOB.h5 with every rank under /usr/bin/time -v;
# prints the largest "Maximum resident set size" over the ranks, in bytes.
measured() {
    rm -f "$work/$2.h5" "$work"/rss.*
    mpirun -n "$1" sh -c '/usr/bin/time -v -o "$0/rss.$OMPI_COMM_WORLD_RANK" "$@" > /dev/null' \
        "$work" "$QZ_BUILD/quantilize" run "$work/$2.json" -o "$work/$2.h5" --no-progress
    cat "$work"/rss.* | awk '/Maximum resident set size/ {k = $NF > k ? $NF : k} END {print k * 1024}'
}

echo "records benchmark: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), in $work"

# (a) --------------------------------------------------------------------------
job archive "$NARCH" 1e-6 '"output": {"archive": "utilities"},'
run 2 archive "$work/record.h5" > /dev/null
alone=() added=()
for i in 1 2 3; do
    job "add$i" 1000000 0.01
    rm -f "$work/fresh.h5"
    sync
    alone+=("$(seconds run 2 "add$i" "$work/fresh.h5")")
    sync
    added+=("$(seconds run 2 "add$i" "$work/record.h5")")
done
t_alone=$(IFS=,; calc "min([${alone[*]}])")
t_added=$(IFS=,; calc "min([${added[*]}])")
echo "(a) a 10^6-sample run (2 ranks) added to a record holding a $NARCH-sample archive ($(stat -c %s "$work/record.h5") bytes)"
echo "    into a fresh file      $t_alone s   (${alone[*]})"
echo "    added to the record    $t_added s   (${added[*]})"
echo "    ratio added / alone    $(calc "f'{$t_added / $t_alone:.2f}'")   (target <= 1.5)"
rm -f "$work/record.h5" "$work/fresh.h5"

# (b) and (c) ---------------------------------------------------------------------
job tiny 10000 0.1
job k7 100000000 0.1
echo "(b) peak memory per rank, N = 10^8, q = 0.1 (K = 10^7), /usr/bin/time -v around each rank"
share() { # share FILE RUN: select / (draw + select + write), and the three times
    local d s w
    d=$(attr "$1" "$2" draw_seconds)
    s=$(attr "$1" "$2" select_seconds)
    w=$(attr "$1" "$2" write_seconds)
    calc "f'{100 * $s / ($d + $s + $w):5.1f}%   (draw {$d:.2f} s, select {$s:.2f} s, write {$w:.2f} s)'"
}
shares=()
for ranks in 1 2; do
    base=$(measured "$ranks" tiny)
    peak=$(measured "$ranks" k7)
    recorded=$(attr "$work/k7.h5" k7 peak_rss_bytes_max)
    echo "    $ranks rank(s): peak $((peak / 1048576)) MiB of $(((32 * K + MIB64) / 1048576)) MiB allowed ($(calc "'ok' if $peak <= 32 * $K + $MIB64 else 'OVER'"));" \
        "$(calc "f'{($peak - $base) / $K:.1f}'") B/entry above a tiny run's $((base / 1048576)) MiB (target <= 32);" \
        "recorded peak_rss_bytes_max $((recorded / 1048576)) MiB"
    shares+=("    N = 10^8, $ranks rank(s): $(share "$work/k7.h5" k7)")
done
echo "(c) selection's share of the run at K = 10^7 (target <= 25%)"
printf '%s\n' "${shares[@]}"
if [ "$BIG" = 1 ]; then
    job k7big 1000000000 0.01
    for ranks in 1 2; do
        rm -f "$work/k7big.h5"
        run "$ranks" k7big "$work/k7big.h5" > /dev/null
        echo "    N = 10^9, $ranks rank(s): $(share "$work/k7big.h5" k7big)"
    done
fi
rm -f "$work"/*.h5

# (d) ------------------------------------------------------------------------------
echo "(d) archive write vs dd (tests/bench/archive_bench.sh $NARCH; target >= 0.8 here)"
bash "$QZ_SOURCE/tests/bench/archive_bench.sh" "$NARCH" "$work" | sed 's/^/    /'
