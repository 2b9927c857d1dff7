#!/usr/bin/env bash
# Quick start, part 2: install and build if needed (warnings are errors), then run
# the whole test suite with ctest.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
ctest --test-dir "$QZ_BUILD" --output-on-failure -j2 "$@"
