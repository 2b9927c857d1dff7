# Shared by the shell tests. Sourced; expects QZ_BIN (the quantilize binary),
# QZ_MPIEXEC (mpirun), QZ_PYTHON (a python3 with h5py and numpy) and QZ_SOURCE (the
# source tree) in the environment, as tests/CMakeLists.txt sets them (the last two
# default to /usr/bin/python3 and this file's tree).
set -u
QZ_SOURCE=${QZ_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
QZ_PYTHON=${QZ_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Open MPI's OMPIO collective-write component "vulcan" has known hangs and corruption
# reports with parallel HDF5; dynamic_gen2 avoids it.
export OMPI_MCA_fcoll=dynamic_gen2

QZ_TMP=$(mktemp -d "${TMPDIR:-/tmp}/qztest.XXXXXX")
QZ_SERVER_PIDS=()
# QZ_KEEP_DIR=DIR keeps a copy of each test's files (records, jobs, logs) in
# DIR/SCRIPT.PID, e.g. to compare the records of two builds with
# tests/tools/compare_kept.sh.
qz_cleanup() {
    local pid
    for pid in "${QZ_SERVER_PIDS[@]}"; do kill "$pid" 2> /dev/null; done
    if [ -n "${QZ_KEEP_DIR:-}" ]; then
        mkdir -p "$QZ_KEEP_DIR/$(basename "$0" .sh).$$" &&
            cp -a "$QZ_TMP"/. "$QZ_KEEP_DIR/$(basename "$0" .sh).$$"/
    fi
    rm -rf "$QZ_TMP"
}
trap qz_cleanup EXIT
# What a check's command printed (kept out of the test's listings: a hidden file).
QZ_CHECK_LOG=$QZ_TMP/.check.log

qz_failures=0
qz_passes=0
ok() { qz_passes=$((qz_passes + 1)); echo "ok: $*"; }
bad() { qz_failures=$((qz_failures + 1)); echo "FAILED: $*"; }
finish() {
    echo "$qz_passes passed, $qz_failures failed"
    [ "$qz_failures" -eq 0 ]
}

# check DESCRIPTION COMMAND...: passes when COMMAND exits 0. COMMAND's output is shown
# either way; on a failure also what it looked at (qz_context).
check() {
    local what=$1 status
    shift
    "$@" > "$QZ_CHECK_LOG" 2>&1
    status=$?
    if [ "$status" -eq 0 ]; then
        cat "$QZ_CHECK_LOG"
        ok "$what"
    else
        bad "$what"
        qz_context "$status" "$QZ_CHECK_LOG" "$@"
    fi
}

# qz_context STATUS LOG COMMAND...: what a failed COMMAND looked at: the command, its
# exit status, its output (LOG), and the last lines of each text file it names (as an
# argument, or as a word of a `bash -c` script), so that a failure explains itself.
# qz_show FILE: the file indented, or when it is long its first 10 and last 30 lines
# (the first error line and mpirun's closing banner both show).
qz_show() {
    local lines
    lines=$(wc -l < "$1")
    if [ "$lines" -le 40 ]; then
        sed 's/^/      /' "$1"
    else
        head -n 10 "$1" | sed 's/^/      /'
        echo "      ... ($((lines - 40)) lines) ..."
        tail -n 30 "$1" | sed 's/^/      /'
    fi
}

qz_context() {
    local status=$1 log=$2 word shown=0
    shift 2
    echo "    command: $(qz_quote "$@")"
    echo "    exit status: $status"
    if [ -s "$log" ]; then
        echo "    output:"
        qz_show "$log"
    fi
    while IFS= read -r word; do
        [ -f "$word" ] && [ -s "$word" ] && grep -Iq . "$word" 2> /dev/null || continue
        case $(realpath "$word") in "$QZ_SOURCE"/* | "$log") continue ;; esac
        [ "$shown" -lt 4 ] || break
        shown=$((shown + 1))
        echo "    $word:"
        qz_show "$word"
    done < <(printf '%s\n' "$@" | tr -s " \t'\"();&|<>=" '\n' | sort -u)
}

# qz_quote WORD...: the words as one would type them (quoted when they need it).
qz_quote() {
    local word out=()
    for word in "$@"; do
        if [[ "$word" =~ ^[][A-Za-z0-9_./:=,+@%^-]*$ ]] && [ -n "$word" ]; then
            out+=("$word")
        else
            out+=("'${word//\'/\'\\\'\'}'")
        fi
    done
    echo "${out[*]}"
}

# qz_name COMMAND...: the command as a test names it (quantilize for $QZ_BIN).
qz_name() {
    local words=("$@")
    [ "${words[0]}" = "$QZ_BIN" ] && words[0]=quantilize
    echo "${words[*]}"
}

# expect [-d DESCRIPTION] [-l LOG] STATUS MESSAGE COMMAND...: COMMAND exits STATUS and
# its stderr (kept in LOG.err, its stdout in LOG.out; LOG is "expect" unless given)
# matches MESSAGE:
#   TEXT    stderr is exactly the one line TEXT
#   =TEXT   a whole line of stderr is TEXT (other ranks' or co-processes' lines may
#           come before or after it)
#   ~TEXT   a line of stderr contains TEXT
#   /RE     a line of stderr matches the (basic) regular expression RE
#   *       anything (only the status is checked; the stderr is shown if it is wrong)
# On a failure it shows the command, the status and the stderr it got.
expect() {
    local log=expect what= status message got matched
    while [ "$1" = -l ] || [ "$1" = -d ]; do
        if [ "$1" = -l ]; then log=$2; else what=$2; fi
        shift 2
    done
    status=$1 message=$2
    shift 2
    "$@" > "$log.out" 2> "$log.err"
    got=$?
    case $message in
        =*) grep -qxF -- "${message:1}" "$log.err" ;;
        ~*) grep -qF -- "${message:1}" "$log.err" ;;
        /*) grep -q -- "${message:1}" "$log.err" ;;
        \*) true ;;
        *) [ "$(cat "$log.err")" = "$message" ] ;;
    esac
    matched=$?
    if [ -z "$what" ]; then
        what="$(qz_name "$@"): exit $status"
        [ "$message" = "*" ] || what+=" with the expected message"
    fi
    if [ "$got" -eq "$status" ] && [ "$matched" -eq 0 ]; then
        ok "$what"
        return 0
    fi
    bad "$what"
    echo "    command: $(qz_quote "$@")"
    echo "    exit status: $got (want $status)"
    echo "    stderr ($log.err):"
    qz_show "$log.err"
    [ "$matched" -eq 0 ] || echo "    want (see expect): $message"
    return 1
}

# wait_until SECONDS COMMAND...: poll COMMAND every 0.1 s until it succeeds (0) or
# SECONDS have passed (1).
wait_until() {
    local limit=$1 i
    shift
    for ((i = 0; i < limit * 10; i++)); do
        "$@" 2> /dev/null && return 0
        sleep 0.1
    done
    return 1
}

# start_fake NAME [ARGS...]: start tests/tools/fake_openai.py on a free port of
# 127.0.0.1; sets FAKE_PORT, FAKE_URL (the /v1 base URL) and FAKE_CONTROL (its
# /_control URL). Stopped when the test exits.
start_fake() {
    local name=$1
    shift
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/fake_openai.py" --port-file "$QZ_TMP/$name.port" \
        --seconds-limit 1800 "$@" &
    QZ_SERVER_PIDS+=($!)
    wait_until 10 test -s "$QZ_TMP/$name.port"
    FAKE_PORT=$(cat "$QZ_TMP/$name.port")
    FAKE_URL="http://127.0.0.1:$FAKE_PORT/v1"
    FAKE_CONTROL="http://127.0.0.1:$FAKE_PORT/_control"
}

# arm KIND COUNT [DELAY [PATH]]: arm a fault on the fake server at $FAKE_CONTROL (the
# last one started): the next COUNT matching requests (-1: all) fail with KIND, after
# DELAY seconds for "slow"; only requests to PATH when it is given.
arm() {
    local path=null
    [ -n "${4:-}" ] && path="\"$4\""
    curl -s -o /dev/null -X POST "$FAKE_CONTROL/fault" \
        -d "{\"kind\": \"$1\", \"count\": $2, \"delay\": ${3:-null}, \"path\": $path}"
}

# qz_mpi N ARGS...: quantilize on N ranks (timeout guards against a hang).
qz_mpi() {
    local n=$1
    shift
    timeout 300 "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" "$@"
}

# job NAME BODY: write the job NAME.json, {"name": NAME, BODY}, in the current directory.
job() {
    printf '{"name": "%s", %s}\n' "$1" "$2" > "$1.json"
}

# runn NAME N [ARGS...]: quantilize run NAME.json on N ranks into NAME-N.h5 (no
# progress lines); stdout in NAME-N.out, stderr in NAME-N.err; quantilize's status.
runn() {
    local name=$1 n=$2
    shift 2
    qz_mpi "$n" run "$name.json" -o "$name-$n.h5" --no-progress "$@" > "$name-$n.out" 2> "$name-$n.err"
}

# same_at NAME N...: job NAME runs on each rank count N (runn) and every record equals
# the first one's; 1 (a failure shown) when a run fails.
same_at() {
    local name=$1 first=$2 n unit=ranks
    [ "$first" = 1 ] && unit=rank
    shift
    for n in "$@"; do
        if ! runn "$name" "$n"; then
            bad "$name on $n ranks exited non-zero: $(tail -n 20 "$name-$n.err")"
            return 1
        fi
        [ "$n" = "$first" ] || check "$name: $n ranks identical to $first $unit" \
            h5same "$name-$first.h5" "$name" "$name-$n.h5" "$name"
    done
}

# stop_midway RANKS PATTERN LOG ARGS...: start quantilize ARGS on RANKS ranks (stderr
# to LOG), send SIGUSR1 to mpirun (which forwards it to the ranks) QZ_STOP_DELAY
# seconds (default 0.5) after QZ_STOP_LINES (default 1) lines of LOG match PATTERN (60 s
# at most), and wait: at most QZ_STOP_BOUND seconds when that is set, then SIGKILL.
# STOP_STATUS is the exit status; STOP_SEEN is 1 when the lines were there before the
# signal, 0 when the 60 s ran out.
stop_midway() {
    local n=$1 pattern=$2 log=$3 pid
    shift 3
    "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" "$@" > "$log.out" 2> "$log" &
    pid=$!
    STOP_SEEN=0
    wait_until 60 bash -c '[ "$(grep -c -- "$1" "$2")" -ge "$3" ]' _ "$pattern" "$log" \
        "${QZ_STOP_LINES:-1}" && STOP_SEEN=1
    sleep "${QZ_STOP_DELAY:-0.5}"
    kill -USR1 "$pid"
    if [ -n "${QZ_STOP_BOUND:-}" ]; then
        wait_until "$QZ_STOP_BOUND" bash -c '! kill -0 "$1"' _ "$pid" || kill -KILL "$pid"
    fi
    wait "$pid"
    STOP_STATUS=$?
}

# h5same A RUN_A B RUN_B: the two runs' records are identical (times, ranks aside).
h5same() {
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/h5compare.py" "$@"
}

# h5same_resumed A RUN B RUN ...: h5same without the work counters that a stop and a
# resume honestly raise (the requests of a rolled-back interval were sent, and are
# sent again): requests, retries, tokens and the per-server counts.
h5same_resumed() {
    h5same "$@" --ignore requests --ignore retries --ignore prompt_tokens \
        --ignore completion_tokens --ignore completion_tokens_counted \
        --ignore generator_server_requests --ignore generator_server_failures
}

# h5q VERB FILE PATH ...: tests/tools/h5q.py (attr, get, len, sum, keys, cmp, assert).
h5q() {
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/h5q.py" "$@"
}

# attr FILE RUN NAME: print attribute NAME of run RUN in FILE.
attr() {
    h5q attr "$1" "runs/$2" "$3"
}
