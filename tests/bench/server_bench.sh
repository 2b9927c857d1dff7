#!/usr/bin/env bash
# The shipped model-server benchmark (issue 12). Builds a Release tree in build-bench/
# (installing packages, and wrk, if needed), starts test servers
# (tests/tools/fake_openai.py) on 127.0.0.1 and, in this one invocation, measures each
# figure against a baseline run alongside:
#   (a) requests/s of one rank against an instantly answering server vs wrk posting
#       the same request body at the same concurrency (target >= 0.7);
#   (b) run time of 1 rank / run time of 2 ranks with a co-located CPU-bound server
#       stand-in (--cpu-per-sample: every sample costs the server CPU time on one
#       core) on this machine's cores (target: 2 ranks at least as fast, >= 1.0 within
#       the spread of the 1-rank runs among themselves, the A/A comparison, counted
#       as at most 2%: the server is busy all the time in both, so 1.0 is also the
#       most there is);
#   (b') the same (half the samples) with the server and the ranks all on CPU 0
#       (taskset, mpirun --bind-to none): a node with no core to spare, where every
#       cycle a waiting rank takes is the server's (the same target);
#   (c) the CPU share of a waiting rank: a 2-rank run of one chunk (one rank draws,
#       the other waits) against a server answering --rate samples/s; each rank's
#       utime + stime from /proc/PID/stat over the drawing (target < 5%);
#   (d) stop latency: 2 ranks against a server answering 2 samples/s (--rate 2),
#       SIGUSR1 to mpirun ~3 s after the start; seconds from the signal until mpirun
#       exits, which must be with 75 (target <= 10 s).
# It prints one table (figure, value, target, pass/fail) and exits non-zero only when
# the setup is broken (a server does not start, a run it needs fails): a missed target
# is a result, not an error.
#
#   bash tests/bench/server_bench.sh [SECONDS]   (length of each timed run, default 8;
#                                                 the whole benchmark ~2-3 minutes)
#
# Waiting ranks are measured as the program makes them wait: an
# OMPI_MCA_mpi_yield_when_idle in the environment is removed. Network: 127.0.0.1 only.
set -euo pipefail
SECONDS_PER_RUN=${1:-8}
[[ "$SECONDS_PER_RUN" =~ ^[1-9][0-9]?$ ]] || { echo "server_bench: SECONDS must be 1-99" >&2; exit 2; }
CONCURRENCY=${QZ_SERVER_BENCH_CONCURRENCY:-64} # (a)
CPU_PER_SAMPLE=0.002                           # (b): the stand-in's 500 samples/s
REPEAT=${QZ_BENCH_REPEAT:-3}                   # (a), (b): best of REPEAT runs each, in turns
RATE_C=100                                     # (c): samples/s of the slow server
STOP_AFTER=3                                   # (d): seconds from the start to SIGUSR1
STOP_SAMPLES=60                                # (d): 30 s of work at 2 samples/s
STOP_CAP=60                                    # (d): mpirun is ended this long after the signal
[[ "$CONCURRENCY" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "server_bench: bad concurrency '$CONCURRENCY'" >&2; exit 2; }
[[ "$REPEAT" =~ ^[2-9]$ ]] || { echo "server_bench: QZ_BENCH_REPEAT must be 2-9" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/with_wrk.sh"
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_fcoll=dynamic_gen2
unset OMPI_MCA_mpi_yield_when_idle
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
QZ="$QZ_BUILD/quantilize"

work=$(mktemp -d "${TMPDIR:-/tmp}/qzserverbench.XXXXXX")
SERVER_PIDS=()
RUN_PID=
cleanup() {
    local pid
    if [ -n "$RUN_PID" ]; then kill -TERM "$RUN_PID" 2>/dev/null || true; fi
    for pid in "${SERVER_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
broken() { echo "server_bench: $*" >&2; exit 1; }
command -v taskset > /dev/null || broken "taskset (util-linux) is needed"
now() { date +%s.%N; }
py() { $PY -c "$1"; }
list() { local IFS=,; echo "$*"; }  # list A B C: A,B,C

# PIN=(taskset -c 0) PIN_MPI=(--bind-to none): servers and runs started on CPU 0 only
PIN=(env) PIN_MPI=()
# start_server NAME ARGS...: a fake server on a free port (bounded wait of 10 s for its
# port file; it exits by itself after 900 s whatever happens to this script); sets PORT.
start_server() {
    local name=$1 i
    shift
    "${PIN[@]}" $PY "$HERE/../tools/fake_openai.py" --port-file "$work/$name.port" --seconds-limit 900 "$@" &
    SERVER_PIDS+=($!)
    PORT=
    for ((i = 0; i < 100; i++)); do
        if [ -s "$work/$name.port" ]; then PORT=$(cat "$work/$name.port"); break; fi
        sleep 0.1
    done
    [[ "$PORT" =~ ^[0-9]+$ ]] || broken "the fake server '$name' did not start"
}

job() { # job NAME SAMPLES PORT CONCURRENCY [EXTRA FIELDS]
    printf '{"name": "%s", "seed": 1, "q": 0.01, "samples": %s, %s
      "generator": {"kind": "openai", "base_url": "http://127.0.0.1:%s/v1", "model": "fake-model",
                    "prompt": "p", "max_tokens": 8, "n": %s, "concurrency": %s},
      "utility": {"kind": "length"}, "output": {"top": false}}\n' \
        "$1" "$2" "${5:-}" "$3" "$N_PER_REQUEST" "$4" > "$work/$1.json"
}
run() { # run RANKS NAME: bounded to 300 s; a failure is a broken setup
    if ! "${PIN[@]}" timeout 300 mpirun "${PIN_MPI[@]}" -n "$1" "$QZ" run "$work/$2.json" -o "$work/$2.h5" --no-progress \
        > "$work/$2.out" 2> "$work/$2.err"; then
        tail -n 20 "$work/$2.err" >&2
        broken "the run $2 on $1 rank(s) failed"
    fi
}
attr() { # attr NAME ATTRIBUTE
    $PY "$HERE/../tools/h5q.py" attr "$work/$1.h5" "runs/$1" "$2"
}

echo "quantilize model-server benchmark: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%FT%TZ), $(git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo "servers: tests/tools/fake_openai.py on 127.0.0.1 (Python, one core each); requests: POST /v1/completions, max_tokens 8"

# ---- (a) one rank vs wrk --------------------------------------------------------------
N_PER_REQUEST=1
start_server instant
P_INSTANT=$PORT
echo "(a) one rank vs wrk, concurrency $CONCURRENCY, n = 1 (requests = samples), instant server; ~$SECONDS_PER_RUN s each, best of $REPEAT each, in turns"
# A warm-up run; its record gives the exact body quantilize sends, which wrk then posts.
job warm 200 "$P_INSTANT" 8
run 1 warm
wrk_post "$work/warm.h5" warm "$work/post.lua"
job pilot $((50 * CONCURRENCY < 2000 ? 50 * CONCURRENCY : 2000)) "$P_INSTANT" "$CONCURRENCY"
run 1 pilot
n=$(py "
import h5py, math
a = h5py.File('$work/pilot.h5', 'r')['runs/pilot'].attrs
print(max(1000, min(200000, math.ceil(a['requests'] / a['draw_seconds'] * $SECONDS_PER_RUN))))")
job a "$n" "$P_INSTANT" "$CONCURRENCY"
threads=$((CONCURRENCY < 2 ? CONCURRENCY : 2))
qrates=() wrates=()
for ((i = 1; i <= REPEAT; i++)); do
    rm -f "$work/a.h5"
    run 1 a
    qrates+=("$(py "
import h5py
a = h5py.File('$work/a.h5', 'r')['runs/a'].attrs
print(a['requests'] / a['draw_seconds'])")")
    py "
import h5py
a = h5py.File('$work/a.h5', 'r')['runs/a'].attrs
print(f'    quantilize: {a[\"requests\"]} requests in {a[\"draw_seconds\"]:.2f} s of drawing: '
      f'{${qrates[-1]}:.0f} requests/s ({a[\"samples_per_second\"]:.0f} samples/s over the wall time '
      f'{a[\"wall_seconds\"]:.2f} s); retries {a[\"retries\"]}, failed_samples {a[\"failed_samples\"]}')"
    timeout $((SECONDS_PER_RUN + 30)) wrk -t"$threads" -c"$CONCURRENCY" -d"${SECONDS_PER_RUN}s" \
        -s "$work/post.lua" "http://127.0.0.1:$P_INSTANT/v1/completions" > "$work/wrk.txt" ||
        broken "wrk failed: $(cat "$work/wrk.txt")"
    wrates+=("$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")")
    [ -n "${wrates[-1]}" ] || broken "no Requests/sec in wrk's output: $(cat "$work/wrk.txt")"
    errs=$(grep -E 'Socket errors|Non-2xx' "$work/wrk.txt" | xargs || true)
    echo "    wrk -t$threads -c$CONCURRENCY: $(awk '/requests in/ {print $1, "requests in", $4}' "$work/wrk.txt" | tr -d ,)" \
        "$(printf '%.0f' "${wrates[-1]}") requests/s${errs:+; $errs}"
done
QRATE=$(py "print(max([$(list "${qrates[@]}")]))")
WRATE=$(py "print(max([$(list "${wrates[@]}")]))")
A_RATIO=$(py "print(f'{$QRATE / $WRATE:.3f}')")
A_VALUE="$A_RATIO ($(printf '%.0f' "$QRATE") / $(printf '%.0f' "$WRATE") req/s)"

# ---- (b), (b') 2 ranks vs 1 with a CPU-bound server on the same machine ---------------
# busy_run SERVER_PID RANKS NAME: run NAME on RANKS ranks; WALL is its wall_seconds and
# BUSY the server's CPU time (utime + stime) meanwhile as a share of WALL.
busy_run() {
    local c0 c1
    c0=$(awk '{print $14 + $15}' "/proc/$1/stat")
    run "$2" "$3"
    c1=$(awk '{print $14 + $15}' "/proc/$1/stat")
    WALL=$(attr "$3" wall_seconds)
    BUSY=$(py "print(($c1 - $c0) / $(getconf CLK_TCK) / $WALL)")
}
# one_vs_two NAME SAMPLES: starts a --cpu-per-sample server, runs NAME1 on 1 rank and
# NAME2 on 2 ranks REPEAT times in turns; prints the times and the server's CPU time as
# a share of each run, sets RATIO and VALUE (the best 1-rank wall_seconds / the best
# 2-rank wall_seconds) and NOISE, the spread of the 1-rank runs among themselves
# ((slowest - fastest) / fastest: what identical runs differ by here and now).
one_vs_two() {
    local name=$1 samples=$2 i t1s=() t2s=() b1s=() b2s=() t1 t2 srv
    start_server "$name" --cpu-per-sample "$CPU_PER_SAMPLE"
    srv=${SERVER_PIDS[-1]}
    job "${name}1" "$samples" "$PORT" 8
    job "${name}2" "$samples" "$PORT" 8
    for ((i = 1; i <= REPEAT; i++)); do
        busy_run "$srv" 1 "${name}1"
        t1s+=("$WALL") b1s+=("$BUSY")
        busy_run "$srv" 2 "${name}2"
        t2s+=("$WALL") b2s+=("$BUSY")
        rm -f "$work/${name}1.h5" "$work/${name}2.h5"
    done
    t1=$(py "print(min([$(list "${t1s[@]}")]))")
    t2=$(py "print(min([$(list "${t2s[@]}")]))")
    echo "    1 rank:  $(py "print(', '.join(f'{x:.2f} s' for x in [$(list "${t1s[@]}")]))")   (server busy $(py "print(', '.join(f'{100 * x:.1f}%' for x in [$(list "${b1s[@]}")]))"))"
    echo "    2 ranks: $(py "print(', '.join(f'{x:.2f} s' for x in [$(list "${t2s[@]}")]))")   (server busy $(py "print(', '.join(f'{100 * x:.1f}%' for x in [$(list "${b2s[@]}")]))"))"
    RATIO=$(py "print(f'{$t1 / $t2:.3f}')")
    NOISE=$(py "t = [$(list "${t1s[@]}")]; print(f'{(max(t) - min(t)) / min(t):.3f}')")
    VALUE="$RATIO ($(printf '%.2f' "$t1") s / $(printf '%.2f' "$t2") s)"
    echo "    1 rank / 2 ranks (best of each): $RATIO; the 1-rank runs differ by $(py "print(f'{100 * $NOISE:.1f}%')") among themselves"
}
N_PER_REQUEST=8
NB=$(py "print(round($SECONDS_PER_RUN / $CPU_PER_SAMPLE))")
echo "(b) $NB samples (n = 8, concurrency 8, default chunk_size) against a server spending $CPU_PER_SAMPLE s of CPU per sample on one core; 1 and 2 ranks, best of $REPEAT each, in turns"
one_vs_two b "$NB"
B_RATIO=$RATIO B_VALUE=$VALUE B_NOISE=$NOISE
echo "(b') the same with $((NB / 2)) samples, the server and the ranks all on CPU 0 (taskset -c 0, mpirun --bind-to none): no spare core"
PIN=(taskset -c 0) PIN_MPI=(--bind-to none)
one_vs_two p $((NB / 2))
PIN=(env) PIN_MPI=()
P_RATIO=$RATIO P_VALUE=$VALUE P_NOISE=$NOISE

# ---- (c) CPU of a waiting rank ---------------------------------------------------------
start_server slow --rate "$RATE_C"
P_SLOW=$PORT
NC=$((RATE_C * SECONDS_PER_RUN))
echo "(c) 2 ranks, $NC samples in one chunk (chunk_size $NC: one rank draws, one waits) against a server answering $RATE_C samples/s"
job c "$NC" "$P_SLOW" 8 "\"chunk_size\": $NC,"
mpirun -n 2 "$QZ" run "$work/c.json" -o "$work/c.h5" --no-progress > "$work/c.out" 2> "$work/c.err" &
RUN_PID=$!
# Every 0.2 s until mpirun's ranks are gone: each rank's utime + stime and its
# established connections to the server's port. The window starts 0.5 s after a rank
# first holds 2 or more connections (drawing has begun) and ends at the last sample
# with both ranks alive; the rank with the most connections is the drawing one.
$PY - "$RUN_PID" "$P_SLOW" > "$work/c.cpu" <<'EOF' || true
import json, os, sys, time
mpirun, port = int(sys.argv[1]), int(sys.argv[2])
tck = os.sysconf("SC_CLK_TCK")

def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, rest[0], int(rest[1]), int(rest[11]) + int(rest[12])

def ranks():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                comm, state, ppid, cpu = stat(int(d))
            except (OSError, ValueError):
                continue
            if ppid == mpirun and comm == "quantilize" and state != "Z":
                out[int(d)] = cpu
    return out

def rank_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for kv in f.read().split(b"\0"):
                if kv.startswith(b"OMPI_COMM_WORLD_RANK="):
                    return int(kv.split(b"=", 1)[1])
    except OSError:
        pass
    return -1

def connections(pids):
    inodes = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    x = line.split()
                    if x[3] == "01" and int(x[2].rsplit(":", 1)[1], 16) == port:
                        inodes[x[9]] = True
        except OSError:
            pass
    out = {}
    for pid in pids:
        n = 0
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    n += 1
        except OSError:
            pass
        out[pid] = n
    return out

samples, seen, started, names = [], False, None, {}
deadline = time.monotonic() + 300
while time.monotonic() < deadline:
    t = time.monotonic()
    r = ranks()
    if r:
        seen = True
    elif seen:
        break
    try:
        if stat(mpirun)[1] == "Z":
            break
    except OSError:
        break
    c = connections(r)
    for pid in r:
        if pid not in names:
            names[pid] = rank_of(pid)
    if len(r) == 2:
        if started is None and max(c.values()) >= 2:
            started = t
        samples.append((t, r, c))
    time.sleep(0.2)
win = [s for s in samples if started is not None and s[0] >= started + 0.5
       and set(s[1]) == set(samples[0][1])]
if len(win) < 3 or win[-1][0] - win[0][0] < 1.0:
    print(json.dumps({"error": f"no drawing window of 1 s seen ({len(win)} samples)"}))
    sys.exit(0)
(t0, r0, _), (t1, r1, _) = win[0], win[-1]
conns = {pid: max(s[2][pid] for s in win) for pid in r0}
drawer = max(conns, key=conns.get)
if sorted(conns.values())[-2] >= 2:
    print(json.dumps({"error": f"both ranks drew (connections to the server: {conns}); "
                      "is chunk_size honoured?"}))
    sys.exit(0)
out = {"window": t1 - t0, "ranks": [
    {"rank": names[pid], "share": (r1[pid] - r0[pid]) / tck / (t1 - t0),
     "connections": conns[pid], "drawing": pid == drawer} for pid in sorted(r0)]}
out["waiting_share"] = max(x["share"] for x in out["ranks"] if not x["drawing"])
print(json.dumps(out))
EOF
rc=0
wait "$RUN_PID" || rc=$?
RUN_PID=
[ "$rc" = 0 ] || { tail -n 20 "$work/c.err" >&2; broken "the run c on 2 ranks failed (exit $rc)"; }
if grep -q '"error"' "$work/c.cpu" || ! [ -s "$work/c.cpu" ]; then
    broken "(c): $(cat "$work/c.cpu")"
fi
py "
import json
d = json.load(open('$work/c.cpu'))
for r in d['ranks']:
    print(f'    rank {r[\"rank\"]}: {100 * r[\"share\"]:5.1f}% of a core, {r[\"connections\"]} connections to the server'
          f' ({\"drawing\" if r[\"drawing\"] else \"waiting\"}), over {d[\"window\"]:.1f} s of the drawing')"
C_SHARE=$(py "import json; print(json.load(open('$work/c.cpu'))['waiting_share'])")
C_VALUE=$(py "print(f'{100 * $C_SHARE:.1f}%')")
echo "    the run: $(attr c wall_seconds | xargs printf '%.1f') s (wall_seconds)"

# ---- (d) stop latency against a server answering 2 samples/s --------------------------
start_server stop --rate 2
P_STOP=$PORT
echo "(d) 2 ranks, $STOP_SAMPLES samples (default n 8, concurrency 8, chunk_size) against a server answering 2 samples/s; SIGUSR1 to mpirun ~$STOP_AFTER s after the start"
job d "$STOP_SAMPLES" "$P_STOP" 8
t_start=$(now)
mpirun -n 2 "$QZ" run "$work/d.json" -o "$work/d.h5" --no-progress > "$work/d.out" 2> "$work/d.err" &
RUN_PID=$!
# signal ~STOP_AFTER s after the start, and at least 1 s after the first sample request
for ((i = 0; i < 300; i++)); do
    if curl -s --max-time 2 "http://127.0.0.1:$P_STOP/_control/stats" |
        $PY -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["by_path"].get("/v1/completions") else 1)'; then
        break
    fi
    sleep 0.1
done
t_first=$(now)
sleep "$(py "print(max(1.0, $t_start + $STOP_AFTER - $t_first))")"
t_sig=$(now)
kill -USR1 "$RUN_PID"
# the cap: a watcher ends mpirun STOP_CAP s after the signal (TERM, then KILL)
(
    for ((i = 0; i < STOP_CAP * 5; i++)); do
        [ -e "$work/d.done" ] && exit 0
        sleep 0.2
    done
    touch "$work/d.capped"
    kill -TERM "$RUN_PID" 2>/dev/null || exit 0
    for ((i = 0; i < 50; i++)); do
        [ -e "$work/d.done" ] && exit 0
        sleep 0.2
    done
    kill -KILL "$RUN_PID" 2>/dev/null || true
) &
WATCHER=$!
D_RC=0
wait "$RUN_PID" || D_RC=$?
t_exit=$(now)
RUN_PID=
touch "$work/d.done"
wait "$WATCHER" || true
D_SECONDS=$(py "print(f'{$t_exit - $t_sig:.1f}')")
ckpt=no
[ -e "$work/d.h5.d.ckpt" ] && ckpt=yes
echo "    signal $(py "print(f'{$t_sig - $t_start:.1f}')") s after the start; mpirun exited $D_SECONDS s later with status $D_RC; checkpoint written: $ckpt"
grep -E '^quantilize: (stopped|warning|error)' "$work/d.err" | head -n 3 | sed 's/^/    /' || true
if [ -e "$work/d.capped" ]; then
    D_VALUE="> $STOP_CAP s (ended by the benchmark)"
else
    D_VALUE="$D_SECONDS s, exit $D_RC"
fi

# ---- the table ---------------------------------------------------------------------------
# (b), (b'): 1.0 less what identical runs differ by, at most NOISE_MOST (a noisy machine
# widens what counts as parity only so far: beyond it a result can FAIL by noise alone).
NOISE_MOST=0.02
tolerated() { py "print(f'{1 - min($1, $NOISE_MOST):.3f}')"; }
verdict() { if py "import sys; sys.exit(0 if ($1) else 1)"; then echo pass; else echo FAIL; fi; }
A_PASS=$(verdict "$A_RATIO >= 0.7")
B_PASS=$(verdict "$B_RATIO >= $(tolerated "$B_NOISE")")
P_PASS=$(verdict "$P_RATIO >= $(tolerated "$P_NOISE")")
C_PASS=$(verdict "$C_SHARE < 0.05")
D_CAPPED=0
[ -e "$work/d.capped" ] && D_CAPPED=1
D_PASS=$(verdict "$D_RC == 75 and $D_SECONDS <= 10 and not $D_CAPPED")
echo
row() { printf '%-58s  %-30s  %-18s  %s\n' "$@"; }
row figure value target result
row "(a) requests/s, 1 rank / wrk, concurrency $CONCURRENCY" "$A_VALUE" ">= 0.7" "$A_PASS"
row "(b) run time 1 rank / 2 ranks, CPU-bound server co-located" "$B_VALUE" ">= $(tolerated "$B_NOISE") (1 - A/A)" "$B_PASS"
row "(b') the same, server and ranks on one core" "$P_VALUE" ">= $(tolerated "$P_NOISE") (1 - A/A)" "$P_PASS"
row "(c) CPU of the waiting rank (share of a core)" "$C_VALUE" "< 5%" "$C_PASS"
row "(d) SIGUSR1 to exit, server at 2 samples/s" "$D_VALUE" "<= 10 s, exit 75" "$D_PASS"
