#!/usr/bin/env bash
# The shipped HTTP client benchmark. Builds a Release tree in build-bench/ (installing
# packages, and wrk, if needed), starts the fake OpenAI server of the tests on
# 127.0.0.1 and, in this one invocation, measures for concurrency C = 1, 8, 64:
#   - `quantilize run` (one rank) drawing text through the "openai" generator
#     (n = 1, max_tokens = 8, utility "length"): requests / draw_seconds, samples/s;
#   - wrk posting the same request body to the same endpoint with C connections;
# and prints the ratio quantilize / wrk (target >= 0.7 at C = 64).
#
#   bash tests/bench/http_bench.sh [SECONDS]    (seconds per quantilize run, default 7)
#
# Both clients talk to the same Python server (a ThreadingHTTPServer, a few thousand
# requests/s at most), which is the bottleneck: the figure says whether the client keeps
# up with what the server can serve, not what the client could do against a fast
# server. Client and server share this machine's cores. Network: 127.0.0.1 only.
set -euo pipefail
SECONDS_PER_RUN=${1:-7}
read -r -a CONCURRENCY <<< "${QZ_HTTP_BENCH_CONCURRENCY:-1 8 64}"
for c in "${CONCURRENCY[@]}"; do
    [[ "$c" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "http_bench: bad concurrency '$c'" >&2; exit 2; }
done
[[ "$SECONDS_PER_RUN" =~ ^[1-9][0-9]?$ ]] || { echo "http_bench: SECONDS must be 1-99" >&2; exit 2; }
. "$(dirname "${BASH_SOURCE[0]}")/with_wrk.sh"
WRK_SECONDS=5
MAX_SAMPLES=200000   # cap per run (~ 40 s at 5000 requests/s)
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/qzhttpbench.XXXXXX")
SPID=
cleanup() {
    if [ -n "$SPID" ]; then
        kill -TERM "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The fake server, on a free port (bounded wait of 10 s for its port file); it exits by
# itself after 900 s whatever happens to this script.
$PY "$HERE/../tools/fake_openai.py" --port-file "$work/port" --seconds-limit 900 &
SPID=$!
PORT=
for ((i = 0; i < 100; i++)); do
    if [ -s "$work/port" ]; then PORT=$(cat "$work/port"); break; fi
    sleep 0.1
done
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
    echo "http_bench: the fake server did not start" >&2
    exit 1
fi
URL="http://127.0.0.1:$PORT/v1"

job() { # job NAME SAMPLES C
    printf '{"name": "%s", "seed": 1, "q": 0.01, "samples": %s,
      "generator": {"kind": "openai", "base_url": "%s", "model": "fake-model",
                    "prompt": "p", "max_tokens": 8, "n": 1, "concurrency": %s},
      "utility": {"kind": "length"}, "output": {"top": false}}\n' "$1" "$2" "$URL" "$3" \
        > "$work/$1.json"
}
run() { # run NAME: one rank, bounded to 120 s
    timeout 120 "$QZ_BUILD/quantilize" run "$work/$1.json" -o "$work/$1.h5" --no-progress \
        > /dev/null
}

echo "quantilize HTTP client benchmark: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F)"
echo "server: tests/tools/fake_openai.py on 127.0.0.1:$PORT (Python ThreadingHTTPServer)"
echo "request: POST /v1/completions, n = 1, max_tokens = 8; quantilize runs ~${SECONDS_PER_RUN} s, wrk ${WRK_SECONDS} s"

# A short warm-up run; its record gives the exact body quantilize sends, which wrk
# then posts (with a fixed seed: the server's work does not depend on its value).
job warm 200 8
run warm
wrk_post "$work/warm.h5" warm "$work/post.lua"

declare -A QRATE WRATE
for c in "${CONCURRENCY[@]}"; do
    # calibrate: a pilot of 100 C samples (at most 2000) gives the rate at this C
    job "pilot$c" $((100 * c < 2000 ? 100 * c : 2000)) "$c"
    run "pilot$c"
    n=$($PY -c "
import h5py, math
a = h5py.File('$work/pilot$c.h5', 'r')['runs/pilot$c'].attrs
print(max(1000, min($MAX_SAMPLES, math.ceil(a['requests'] / a['draw_seconds'] * $SECONDS_PER_RUN))))")
    job "c$c" "$n" "$c"
    run "c$c"
    $PY -c "
import h5py
a = h5py.File('$work/c$c.h5', 'r')['runs/c$c'].attrs
req, d = int(a['requests']), float(a['draw_seconds'])
print(f'C = {$c:2d}  quantilize: {a[\"samples\"]} samples, {req} requests in {d:.2f} s: '
      f'{req / d:7.0f} requests/s, {a[\"samples\"] / d:7.0f} samples/s '
      f'({a[\"samples_per_second\"]:.0f} over the wall time {a[\"wall_seconds\"]:.2f} s); '
      f'retries {a[\"retries\"]}, failed_samples {a[\"failed_samples\"]}, '
      f'invalid_samples {a[\"invalid_samples\"]}')"
    QRATE[$c]=$($PY -c "
import h5py
a = h5py.File('$work/c$c.h5', 'r')['runs/c$c'].attrs
print(a['requests'] / a['draw_seconds'])")

    threads=$((c < 2 ? c : 2))
    timeout $((WRK_SECONDS + 30)) wrk -t"$threads" -c"$c" -d"${WRK_SECONDS}s" \
        -s "$work/post.lua" "$URL/completions" > "$work/wrk$c.txt"
    WRATE[$c]=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk$c.txt")
    if [ -z "${WRATE[$c]}" ]; then
        cat "$work/wrk$c.txt" >&2
        echo "http_bench: no Requests/sec in wrk's output" >&2
        exit 1
    fi
    errs=$(grep -E 'Socket errors|Non-2xx' "$work/wrk$c.txt" | xargs || true)
    echo "C = $(printf '%2d' "$c")  wrk -t$threads -c$c: $(awk '/requests in/ {print $1, "requests in", $4}' "$work/wrk$c.txt" | tr -d ,)" \
        "$(printf '%7.0f' "${WRATE[$c]}") requests/s${errs:+; $errs}"
done

echo
printf '%4s  %16s  %10s  %6s\n' C "quantilize req/s" "wrk req/s" ratio
for c in "${CONCURRENCY[@]}"; do
    $PY -c "q, w = ${QRATE[$c]}, ${WRATE[$c]}; print(f'{$c:4d}  {q:16.0f}  {w:10.0f}  {q / w:6.3f}')"
done
echo "target: ratio >= 0.7 at C = 64"
echo "Both clients post to the same single-process Python server, which is the bottleneck:"
echo "the ratio says whether quantilize's client keeps up with what that server can serve."
echo "Client (quantilize or wrk) and server share the machine's $(nproc) cores."
