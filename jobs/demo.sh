#!/usr/bin/env bash
# Quick start, part 1: install and build if needed, run the demo job on all local
# cores, and show the record it wrote.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../tests/setup.sh"
mpirun -n "$(nproc)" "$QZ_BUILD/quantilize" run "$QZ_SOURCE/jobs/demo.json" \
    -o "$QZ_BUILD/demo.h5" --overwrite
echo
"$QZ_BUILD/quantilize" inspect "$QZ_BUILD/demo.h5"
