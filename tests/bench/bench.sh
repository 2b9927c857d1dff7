#!/usr/bin/env bash
# The shipped benchmark: `quantilize run` against a bare loop that draws the same
# samples and discards them, in one invocation on this machine.
#
#   bash tests/bench/bench.sh [N]      (default N = 100000000)
#
# Builds a Release tree in build-bench/ (installing packages if needed), then prints
# samples/s of each and their ratio. Target (issue 2): run / bare >= 0.5.
set -euo pipefail
QZ_BUILD=${QZ_BUILD:-$(cd "$(dirname "$0")/../.." && pwd)/build-bench}
QZ_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release"
. "$(dirname "${BASH_SOURCE[0]}")/../setup.sh"
N=${1:-100000000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/bench.json" <<JOB
{"name": "bench", "seed": 1, "q": 1e-6, "samples": $N,
 "generator": {"kind": "normal", "mean": 0, "stddev": 1}}
JOB

echo "benchmark: normal(0,1), q = 1e-6, N = $N, one rank ($(nproc) cores, $(uname -m))"
bare=$("$QZ_BUILD/tests/qz_bench_bare" "$work/bench.json")
start=$(date +%s.%N)
"$QZ_BUILD/quantilize" run "$work/bench.json" -o "$work/bench.h5" --no-progress > /dev/null
end=$(date +%s.%N)
/usr/bin/python3 - "$work/bench.h5" "$bare" "$start" "$end" "$N" <<'PY'
import sys, h5py
path, bare, start, end, n = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
a = h5py.File(path, "r")["runs/bench"].attrs
run_rate, bare_rate = float(a["samples_per_second"]), float(bare.split()[0])
print(f"  bare draw loop      {bare_rate / 1e6:8.2f} M samples/s")
print(f"  quantilize run      {run_rate / 1e6:8.2f} M samples/s   (in-program wall time "
      f"{a['wall_seconds']:.2f} s; whole process incl. MPI start-up {end - start:.2f} s, "
      f"{n / (end - start) / 1e6:.2f} M/s)")
print(f"  ratio run / bare    {run_rate / bare_rate:8.3f}   (target >= 0.5)")
PY
