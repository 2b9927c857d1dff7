#!/usr/bin/env bash
. "$(dirname "$0")/../lib.sh"
exec "$QZ_PYTHON" "$(dirname "$0")/stats.py"
