# Shared by the shell tests. Sourced; expects QZ_BIN (the quantilize binary),
# QZ_MPIEXEC (mpirun), QZ_PYTHON (a python3 with h5py and numpy) and QZ_SOURCE (the
# source tree) in the environment, as tests/CMakeLists.txt sets them.
set -u
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# OMPIO's "vulcan" collective-write component is unreliable (PLATFORM.md).
export OMPI_MCA_fcoll=dynamic_gen2

QZ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qztest.XXXXXX")
QZ_SERVER_PIDS=()
qz_cleanup() {
    local pid
    for pid in "${QZ_SERVER_PIDS[@]}"; do kill "$pid" 2> /dev/null; done
    rm -rf "$QZ_TMP"
}
trap qz_cleanup EXIT

# start_fake NAME [ARGS...]: start tests/tools/fake_openai.py on a free port of
# 127.0.0.1; sets FAKE_URL (the /v1 base URL). Stopped when the test exits.
start_fake() {
    local name=$1 i
    shift
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/fake_openai.py" --port-file "$QZ_TMP/$name.port" \
        --seconds-limit 1800 "$@" &
    QZ_SERVER_PIDS+=($!)
    for i in $(seq 100); do
        [ -s "$QZ_TMP/$name.port" ] && break
        sleep 0.1
    done
    FAKE_PORT=$(cat "$QZ_TMP/$name.port")
    FAKE_URL="http://127.0.0.1:$FAKE_PORT/v1"
}
qz_failures=0
qz_passes=0

ok() { qz_passes=$((qz_passes + 1)); echo "ok: $*"; }
bad() { qz_failures=$((qz_failures + 1)); echo "FAILED: $*"; }

# check DESCRIPTION COMMAND...: passes when COMMAND exits 0.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

# qz_mpi N ARGS...: quantilize on N ranks (timeout guards against a hang).
qz_mpi() {
    local n=$1
    shift
    timeout 300 "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" "$@"
}

# stop_midway RANKS PATTERN LOG ARGS...: start quantilize ARGS on RANKS ranks (stderr
# to LOG), send SIGUSR1 to mpirun (which forwards it to the ranks) half a second after
# PATTERN appears in LOG, and wait; STOP_STATUS is the exit status.
stop_midway() {
    local n=$1 pattern=$2 log=$3 pid i
    shift 3
    "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" "$@" > "$log.out" 2> "$log" &
    pid=$!
    for i in $(seq 600); do
        grep -q "$pattern" "$log" 2> /dev/null && break
        sleep 0.1
    done
    sleep 0.5
    kill -USR1 "$pid"
    wait "$pid"
    STOP_STATUS=$?
}

# h5same A RUN_A B RUN_B: the two runs' records are identical (times, ranks aside).
h5same() {
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/h5compare.py" "$@"
}

finish() {
    echo "$qz_passes passed, $qz_failures failed"
    [ "$qz_failures" -eq 0 ]
}
