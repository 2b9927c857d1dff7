#!/usr/bin/env bash
# Archive write throughput (issue 6): N samples (default 10^8) on 2 ranks with
# output.archive "utilities" (index, utility, cost: 24 bytes a sample) against dd
# writing the same number of bytes to the same disk, both synced, in this one
# invocation. Also the same job without an archive, to show what drawing costs.
#
#   bash tests/bench/archive_bench.sh [N] [DIR]   (DIR: where to write, default a
#                                                   temporary directory under $TMPDIR)
set -euo pipefail
QZ_BUILD=${QZ_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-bench}
QZ_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release"
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_fcoll=dynamic_gen2
N=${1:-100000000}
work=$(mktemp -d "${2:-${TMPDIR:-/tmp}}/qzarchive.XXXXXX")
trap 'rm -rf "$work"' EXIT
PY=/usr/bin/python3
bytes=$((N * 24))

job() { # job NAME ARCHIVE
    printf '{"name": "%s", "seed": 1, "q": 1e-6, "samples": %s,
  "generator": {"kind": "mixture", "components": [
    {"weight": 0.999, "cost": 0, "generator": {"kind": "normal"}},
    {"weight": 0.001, "cost": 1, "generator": {"kind": "normal", "mean": 3}}]},
  "utility": {"kind": "value"}, "cost": {"kind": "component"},
  "output": {"archive": "%s"}}\n' "$1" "$N" "$2" > "$work/$1.json"
}
seconds() { # seconds COMMAND...: wall time of COMMAND
    local t0 t1
    t0=$(date +%s.%N)
    "$@" > /dev/null
    t1=$(date +%s.%N)
    $PY -c "print(f'{$t1 - $t0:.3f}')"
}
run() { mpirun -n 2 "$QZ_BUILD/quantilize" run "$work/$1.json" -o "$work/$1.h5" --no-progress; }
mbs() { $PY -c "print(f'{$bytes / $1 / 1e6:8.1f} MB/s')"; }

echo "archive benchmark: N = $N samples, $bytes bytes of archive, 2 ranks, in $work ($(df -h "$work" | awk 'NR == 2 {print $1}'))"
job plain none
job archived utilities
sync
t_plain=$(seconds run plain)
rm -f "$work/plain.h5"
sync
t_dd=$(seconds dd if=/dev/zero of="$work/dd.bin" bs=8M count=$((bytes / 8388608)) conv=fsync status=none)
dd_bytes=$(stat -c %s "$work/dd.bin")
rm -f "$work/dd.bin"
sync
t_run=$(seconds run archived)
size=$(du -b --apparent-size -c "$work/archived.h5" "$work/archived.h5.runs" | tail -n 1 | cut -f1) # record + run files
echo "    the run without an archive  $t_plain s"
echo "    dd, $dd_bytes bytes, fsync     $t_dd s  $($PY -c "print(f'{$dd_bytes / $t_dd / 1e6:8.1f} MB/s')")"
echo "    the run with the archive    $t_run s  $(mbs "$t_run")   (file: $size bytes; whole run, draw and commit with fsync included)"
echo "    ratio archive / dd          $($PY -c "print(f'{($bytes / $t_run) / ($dd_bytes / $t_dd):.3f}')")   (target >= 0.5)"
