#!/usr/bin/env bash
# The model-server generator against a REAL llama.cpp llama-server: built from the
# pinned node-llama-cpp source bundle (build-llama.sh, cached outside the tree), serving
# a tiny random-weight GGUF model (make-tiny-gguf.py). Checks completions and chat
# (identical records at 1 and 3 ranks), log-prob utilities (equal to what the server
# answered, seen through logproxy.py), the default n, a tasks job, an API key, and the
# server killed mid-run.
#
# Environment (tests/CMakeLists.txt sets the first four): QZ_BIN (quantilize),
# QZ_MPIEXEC (mpirun), QZ_PYTHON (python3 with h5py and numpy, default
# /usr/bin/python3), QZ_SOURCE (the source tree); QZ_LLAMA_CACHE (see build-llama.sh);
# QZ_REALSERVER_ANSWERS=DIR also saves the server's raw answers there (capture.py);
# QZ_REALSERVER_KEEP=1 keeps the temporary directory.
# Prints "ok: ..." / "FAILED: ..." per check and "N passed, M failed"; exit 1 on failure.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
QZ_SOURCE=${QZ_SOURCE:-$(cd "$here/../.." && pwd)}
QZ_BIN=${QZ_BIN:-$QZ_SOURCE/build/quantilize}
QZ_MPIEXEC=${QZ_MPIEXEC:-mpirun}
QZ_PYTHON=${QZ_PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1

passes=0
failures=0
ok() { passes=$((passes + 1)); echo "ok: $*"; }
bad() { failures=$((failures + 1)); echo "FAILED: $*"; }
check() { # check DESCRIPTION COMMAND...: passes when COMMAND exits 0
    local what=$1
    shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
finish() {
    echo "$passes passed, $failures failed"
    [ "$failures" -eq 0 ]
    exit
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/qzreal.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -9 "$pid" 2> /dev/null; done
    if [ "${QZ_REALSERVER_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$tmp" || exit 1

if ! [ -x "$QZ_BIN" ]; then
    bad "no quantilize binary at QZ_BIN=$QZ_BIN"
    finish
fi

# The server and the model.
start=$(date +%s)
if ! server=$(bash "$here/build-llama.sh"); then
    bad "building llama-server (build-llama.sh)"
    finish
fi
gguf_py=$(dirname "$(dirname "$server")")/gguf-py
if ! "$QZ_PYTHON" "$here/make-tiny-gguf.py" --gguf-py "$gguf_py" tiny.gguf; then
    bad "writing the tiny model (make-tiny-gguf.py)"
    finish
fi
echo "# llama-server $server, model ready after $(($(date +%s) - start)) s"

free_port() {
    "$QZ_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME [ARGS...]: llama-server with the tiny model on a free port, log in
# NAME.log; waits (at most 60 s) until /health answers {"status":"ok"}. Sets PORT, URL
# (the /v1 base URL) and SERVER_PID.
start_server() {
    local name=$1 i
    shift
    PORT=$(free_port)
    "$server" -m tiny.gguf --host 127.0.0.1 --port "$PORT" -c 2048 --parallel 4 "$@" \
        > "$name.log" 2>&1 &
    SERVER_PID=$!
    disown "$SERVER_PID" # no "Killed" notice from bash when a test kills it
    pids+=("$SERVER_PID")
    URL="http://127.0.0.1:$PORT/v1"
    for i in $(seq 600); do
        if [ "$(curl -s -m 2 "http://127.0.0.1:$PORT/health")" = '{"status":"ok"}' ]; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2> /dev/null || break
        sleep 0.1
    done
    echo "# llama-server $name did not become ready; its log ends:"
    tail -20 "$name.log" | sed 's/^/#   /'
    return 1
}

# start_proxy NAME UPSTREAM_PORT: logproxy.py in front of a server; sets PROXY_URL, and
# logs every exchange to NAME.jsonl.
start_proxy() {
    local name=$1 i
    "$QZ_PYTHON" "$here/logproxy.py" --upstream "http://127.0.0.1:$2" \
        --port-file "$name.port" --log "$name.jsonl" &
    pids+=($!)
    disown $!
    for i in $(seq 100); do
        [ -s "$name.port" ] && break
        sleep 0.1
    done
    PROXY_URL="http://127.0.0.1:$(cat "$name.port")/v1"
}

if ! start_server main; then
    bad "llama-server starts and answers /health"
    finish
fi
ok "llama-server starts and answers /health ($(curl -s "http://127.0.0.1:$PORT/props" |
    "$QZ_PYTHON" -c 'import json, sys; p = json.load(sys.stdin); print("build", p.get("build_info"), "slots", p.get("total_slots"))'))"
MAIN_URL=$URL
MAIN_PORT=$PORT
if [ -n "${QZ_REALSERVER_ANSWERS:-}" ]; then
    "$QZ_PYTHON" "$here/capture.py" "http://127.0.0.1:$PORT" "$QZ_REALSERVER_ANSWERS" ||
        bad "capturing the server's answers"
fi

gen() { # gen URL EXTRA: an openai generator object (the tiny model, 16 tokens)
    printf '{"kind": "openai", "base_url": "%s", "model": "tiny", "max_tokens": 16,
      "temperature": 1.0, "timeout_seconds": 30, "backoff_seconds": 0.2 %s}' "$1" "$2"
}
job() { # job NAME BODY
    printf '{"name": "%s", %s}\n' "$1" "$2" > "$1.json"
}
run() { # run RANKS NAME [OUT]: quantilize run NAME.json -o OUT (default NAME-RANKS.h5)
    local n=$1 name=$2 out=${3:-$2-$1.h5}
    timeout 300 "$QZ_MPIEXEC" -n "$n" "$QZ_BIN" run "$name.json" -o "$out" --no-progress \
        > "$name-$n.out" 2> "$name-$n.err"
}
errors() { # errors NAME RANKS: quantilize's error lines (not mpirun's notice), on one line
    { grep '^quantilize:' "$1-$2.err" || head -3 "$1-$2.err"; } | head -3 | tr '\n' ' ' | sed 's/ $//'
}
same() { # same A.h5 B.h5 RUN: identical records (times and ranks aside)
    "$QZ_PYTHON" "$QZ_SOURCE/tests/tools/h5compare.py" "$1" "$3" "$2" "$3" > /dev/null
}
record_ok() { # record_ok FILE RUN SAMPLES: every sample valid, texts in top/payload
    "$QZ_PYTHON" - "$@" << 'PY'
import sys, h5py
f, run, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
g = h5py.File(f, "r")["runs/" + run]
a = g.attrs
texts = g["top/payload"][...]
bad = []
if a["valid_samples"] != n or a["failed_samples"] != 0:
    bad.append("valid %d failed %d of %d" % (a["valid_samples"], a["failed_samples"], n))
if len(texts) != a["top_count"] or not all(len(t) > 0 for t in texts):
    bad.append("top/payload: %d texts for K = %d" % (len(texts), a["top_count"]))
if bad:
    print("#  ", f, run, "; ".join(bad))
sys.exit(1 if bad else 0)
PY
}
# ranks_case NAME SAMPLES WHAT: run NAME.json on 1 and 3 ranks; the records are complete
# and identical.
ranks_case() {
    local name=$1 samples=$2 what=$3 n
    for n in 1 3; do
        run "$n" "$name"
        status=$?
        if [ $status -ne 0 ]; then
            bad "$what: $n rank(s) failed (exit $status): $(errors "$name" "$n")"
            return
        fi
    done
    check "$what: every sample valid, texts recorded" record_ok "$name-3.h5" "$name" "$samples"
    check "$what: 1 and 3 ranks give identical records" same "$name-1.h5" "$name-3.h5" "$name"
}

# (a) Completions, scored by length.
job comp "\"seed\": 1, \"q\": 0.1, \"samples\": 60, \"chunk_size\": 16,
  \"generator\": $(gen "$MAIN_URL" ', "prompt": "Write a haiku about rivers:", "n": 4'),
  \"utility\": {\"kind\": \"length\"}"
ranks_case comp 60 "(a) completions, length"

# (b) Chat, scored by length.
job chat "\"seed\": 2, \"q\": 0.1, \"samples\": 60, \"chunk_size\": 16,
  \"generator\": $(gen "$MAIN_URL" ', "endpoint": "chat", "n": 4,
     "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a river."}]'),
  \"utility\": {\"kind\": \"length\"}"
ranks_case chat 60 "(b) chat, length"

# (c) Log-prob utilities on both endpoints: finite, equal to top/logprob_mean, and equal
#     to the mean of the token log-probs the server answered (seen through the proxy;
#     texts are matched to the server's choices).
start_proxy proxy "$MAIN_PORT"
logprob_matches() { # logprob_matches FILE RUN PROXY_LOG
    "$QZ_PYTHON" - "$@" << 'PY'
import json, math, sys, h5py
f, run, log = sys.argv[1:4]
g = h5py.File(f, "r")["runs/" + run]
top = g["top"]

def logprobs(lp):
    """The token log-probs of one choice, in either shape a server may send."""
    if not isinstance(lp, dict):
        return None
    if isinstance(lp.get("content"), list):
        return [t["logprob"] for t in lp["content"]]
    if isinstance(lp.get("token_logprobs"), list):
        return lp["token_logprobs"]
    return None

answered = {}  # text -> [log-probs of each choice with that text]
for line in open(log, encoding="utf-8"):
    x = json.loads(line)
    r = x["response"]
    if x["status"] != 200 or not isinstance(r, dict):
        continue
    for c in r.get("choices", []):
        text = c["text"] if "text" in c else c["message"]["content"]
        answered.setdefault(text, []).append(logprobs(c.get("logprobs")))
texts = [t.decode() if isinstance(t, bytes) else t for t in top["payload"][...]]
util = top["utility"][...]
problems = []
if "logprob_mean" not in top:
    problems.append("no top/logprob_mean")
for i, (text, u) in enumerate(zip(texts, util)):
    if not math.isfinite(u):
        problems.append("top %d: utility %r" % (i, u))
        continue
    if "logprob_mean" in top and top["logprob_mean"][i] != u:
        problems.append("top %d: utility %r != top/logprob_mean %r" % (i, u, top["logprob_mean"][i]))
    cands = [lp for lp in answered.get(text, []) if lp]
    if not cands:
        problems.append("top %d: no answer of the server with this text and log-probs: %r" % (i, text[:40]))
        continue
    means = [sum(lp) / len(lp) for lp in cands]
    if not any(abs(m - u) <= 1e-9 * max(1.0, abs(m)) for m in means):
        problems.append("top %d: utility %r, the server's mean log-prob %r" % (i, u, means))
    if "logprob_sum" in top and not any(
            abs(sum(lp) - top["logprob_sum"][i]) <= 1e-9 * max(1.0, abs(sum(lp))) for lp in cands):
        problems.append("top %d: top/logprob_sum %r, the server's sums %r" % (
            i, top["logprob_sum"][i], [sum(lp) for lp in cands]))
    if "tokens" in top and not any(len(lp) == top["tokens"][i] for lp in cands):
        problems.append("top %d: %d tokens recorded, the server sent %s" % (
            i, top["tokens"][i], [len(lp) for lp in cands]))
for p in problems[:5]:
    print("#  ", p)
print("#   %s: %d top samples checked against %d answered choices, %d problems" % (
    run, len(texts), sum(len(v) for v in answered.values()), len(problems)))
sys.exit(1 if problems or not texts else 0)
PY
}
job lpcomp "\"seed\": 3, \"q\": 0.1, \"samples\": 40, \"chunk_size\": 16,
  \"generator\": $(gen "$PROXY_URL" ', "prompt": "Write a haiku about rivers:", "n": 4, "logprobs": true'),
  \"utility\": {\"kind\": \"logprob_mean\"}"
job lpchat "\"seed\": 4, \"q\": 0.1, \"samples\": 40, \"chunk_size\": 16,
  \"generator\": $(gen "$PROXY_URL" ', "endpoint": "chat", "n": 4, "logprobs": true,
     "messages": [{"role": "user", "content": "Name a river."}]'),
  \"utility\": {\"kind\": \"logprob_mean\"}"
for name in lpcomp lpchat; do
    : > proxy.jsonl
    run 2 "$name"
    status=$?
    if [ $status -eq 0 ]; then
        check "(c) $name: logprob_mean utilities finite and equal to the server's mean token log-prob" \
            logprob_matches "$name-2.h5" "$name" proxy.jsonl
    else
        bad "(c) $name: logprob_mean job on 2 ranks failed (exit $status): $(errors "$name" 2)"
    fi
done

# (d) The default n (not set in the job) against a default llama-server.
job defn "\"seed\": 5, \"q\": 0.1, \"samples\": 40,
  \"generator\": $(gen "$MAIN_URL" ', "prompt": "Write a haiku about rivers:"'),
  \"utility\": {\"kind\": \"length\"}"
ranks_case defn 40 "(d) default n"

# (e) Tasks: one quantilization per prompt, each identical at 1 and 3 ranks.
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' \
    '{"id": "stones", "prompt": "Write about stones:"}' > prompts.jsonl
job tasks "\"seed\": 6, \"q\": 0.2, \"samples\": 24, \"tasks\": \"prompts.jsonl\",
  \"generator\": $(gen "$MAIN_URL" ', "n": 4, "prompt": "unused"'),
  \"utility\": {\"kind\": \"length\"}"
task_ok=1
for n in 1 3; do
    run "$n" tasks
    status=$?
    [ $status -eq 0 ] || { bad "(e) tasks job on $n rank(s) failed (exit $status): $(errors tasks "$n")"; task_ok=0; }
done
if [ $task_ok = 1 ]; then
    for id in rivers stones; do
        check "(e) task $id: every sample valid" record_ok tasks-3.h5 "tasks/tasks/$id" 24
        check "(e) task $id: 1 and 3 ranks give identical records" \
            same tasks-1.h5 tasks-3.h5 "tasks/tasks/$id"
    done
    check "(e) each task has its own prompt and seed" "$QZ_PYTHON" - tasks-3.h5 << 'PY'
import json, sys, h5py
t = h5py.File(sys.argv[1], "r")["runs/tasks/tasks"]
bodies = [json.loads(t[i].attrs["generator_request"]) for i in sorted(t)]
text = [json.dumps(b) for b in bodies]
ok = (sorted(t) == ["rivers", "stones"] and "Write about rivers:" in text[0]
      and "Write about stones:" in text[1] and t["rivers"].attrs["seed"] != t["stones"].attrs["seed"])
sys.exit(0 if ok else 1)
PY
fi

# (f) An API key: the server demands it; the key reaches neither the record nor any
#     output; a wrong key fails the run clearly (exit 1) without echoing it.
key="sk-real-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
if start_server keyed --api-key "$key"; then
    KEY_URL=$URL
    if [ -n "${QZ_REALSERVER_ANSWERS:-}" ]; then
        "$QZ_PYTHON" "$here/capture.py" "http://127.0.0.1:$PORT" "$QZ_REALSERVER_ANSWERS" \
            --key "$key" || bad "capturing the keyed server's answers"
    fi
    job key "\"seed\": 7, \"q\": 0.1, \"samples\": 24,
      \"generator\": $(gen "$KEY_URL" ', "prompt": "Write a haiku about rivers:", "n": 4, "api_key_env": "QZ_REALSERVER_KEY"'),
      \"utility\": {\"kind\": \"length\"}"
    QZ_REALSERVER_KEY=$key run 2 key
    status=$?
    if [ $status -eq 0 ]; then
        ok "(f) a job with the right API key succeeds"
        check "(f) the key is not in the record (h5dump) nor in quantilize's output" bash -c \
            "h5dump key-2.h5 > key.dump && test -s key.dump && ! grep -a -q -F '$key' key.dump key-2.h5 key-2.out key-2.err"
    else
        bad "(f) a job with the right API key failed (exit $status): $(errors key 2)"
    fi
    wrong="sk-wrong-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
    QZ_REALSERVER_KEY=$wrong run 2 key key-wrong.h5
    status=$?
    check "(f) a wrong key: exit 1 naming the HTTP 401, nothing written ($(errors key 2))" bash -c \
        "test $status -eq 1 && grep -q 'quantilize: .*401' key-2.err && ! test -e key-wrong.h5"
    check "(f) a wrong key is not echoed" bash -c \
        "! grep -a -q -F -e '$wrong' -e '$key' key-2.err key-2.out"
    kill -9 "$SERVER_PID" 2> /dev/null
else
    bad "(f) llama-server with --api-key starts"
fi

# (g) The server killed (SIGKILL) after a few requests, under "invalid": "error": exit 1
#     within the timeout, a message naming the failure, no output file left.
if start_server victim; then
    job kill "\"seed\": 8, \"q\": 0.01, \"samples\": 4000, \"invalid\": \"error\",
      \"generator\": $(gen "$URL" ', "prompt": "Write a haiku about rivers:", "n": 4,
         "retries": 2, "backoff_max_seconds": 1'),
      \"utility\": {\"kind\": \"length\"}"
    began=$(date +%s)
    timeout 120 "$QZ_MPIEXEC" -n 2 "$QZ_BIN" run kill.json -o kill.h5 --no-progress \
        > kill-2.out 2> kill-2.err &
    qz=$!
    for i in $(seq 600); do # until the server has finished a few requests (60 s at most)
        [ "$(grep -c 'stop processing' victim.log)" -ge 16 ] && break
        kill -0 "$qz" 2> /dev/null || break
        sleep 0.1
    done
    echo "# killing llama-server after $(grep -c 'stop processing' victim.log) finished choices"
    kill -9 "$SERVER_PID"
    wait "$qz"
    status=$?
    took=$(($(date +%s) - began))
    check "(g) server killed mid-run: exit 1, no hang (exit $status after $took s)" \
        test "$status" -eq 1
    check "(g) the error names the failure ($(errors kill 2))" \
        grep -q -i -E \
        'quantilize: .*(connect|refused|reset|recv|receiv|closed|empty reply|returned nothing|timed? ?out|timeout)' kill-2.err
    check "(g) no output file left" bash -c '! ls kill.h5 kill.h5.tmp.* > /dev/null 2>&1'
else
    bad "(g) a second llama-server starts"
fi

echo "# $(($(date +%s) - start)) s in all"
finish
