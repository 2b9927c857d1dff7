#!/usr/bin/env bash
# The OpenAI-compatible generator against a real local server (tests/tools/fake_openai.py
# on 127.0.0.1): identical records at 1, 2 and 3 ranks, every fault kind retried with
# exact accounting, fail-fast errors, a server that is down, and an API key that never
# reaches the record, the logs or the server's log.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
start_fake main --log "$QZ_TMP/server.log"
URL=$FAKE_URL
CONTROL="http://127.0.0.1:$FAKE_PORT/_control"
start_fake onechoice --ignore-n
URL1=$FAKE_URL

gen() { # gen EXTRA: an openai generator object on the main server
    printf '{"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
      "temperature": 0.9, "n": 4, "timeout_seconds": 5,
      "backoff_seconds": 0.01, "backoff_max_seconds": 2 %s}' "$URL" "$1"
}
job() { # job NAME BODY
    printf '{"name": "%s", %s}\n' "$1" "$2" > "$1.json"
}
arm() { # arm KIND COUNT [DELAY]
    curl -s -o /dev/null -X POST "$CONTROL/fault" \
        -d "{\"kind\": \"$1\", \"count\": $2, \"delay\": ${3:-null}}"
}
attr() { # attr FILE RUN NAME
    "$QZ_PYTHON" -c "import h5py; print(h5py.File('$1', 'r')['runs/$2'].attrs['$3'])"
}

# 1. The same job at 1, 2 and 3 ranks gives identical records (completions, log-probs).
job comp "\"seed\": 7, \"q\": 0.05, \"samples\": 301, \"chunk_size\": 50,
  \"generator\": $(gen ', "prompt": "Write a good sentence:", "logprobs": true'),
  \"utility\": {\"kind\": \"logprob_mean\"}, \"cost\": {\"kind\": \"length\"}"
for n in 1 2 3; do
    if ! qz_mpi "$n" run comp.json -o "comp-$n.h5" --no-progress > "comp-$n.out" 2>&1; then
        bad "completions job on $n ranks failed: $(cat "comp-$n.out")"
    elif [ "$n" -gt 1 ]; then
        check "completions: $n ranks identical to 1 rank" h5same comp-1.h5 comp comp-$n.h5 comp
    fi
done
check "completions record: text payloads, log-probs, counts, every sampling parameter" \
    "$QZ_PYTHON" - comp-3.h5 <<'PY'
import json, sys, h5py
g = h5py.File(sys.argv[1], "r")["runs/comp"]
a, top, sel = g.attrs, g["top"], g["selected"]
k = int(a["top_count"])
texts = [t.decode() if isinstance(t, bytes) else t for t in top["payload"][...]]
selected = sel["payload"][()]
selected = selected.decode() if isinstance(selected, bytes) else selected
request = json.loads(a["generator_request"])
ok = (k == 16 and len(texts) == k and all(len(t) > 0 for t in texts)
      and selected == texts[int(a["selected_position"])]
      and top["logprob_sum"].shape == (k,) and (top["tokens"][...] == 12).all()
      and abs(top["utility"][0] - top["logprob_sum"][0] / 12) < 1e-12
      and (top["logprob_mean"][...] == top["utility"][...]).all()
      and a["requests"] >= 301 // 4 and a["failed_samples"] == 0 and a["completion_tokens"] == 301 * 12
      and all(p in json.dumps(request) for p in
              ["temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "presence_penalty",
               "frequency_penalty", "logprobs", "fake-model"]))
print("K", k, "requests", a["requests"], "selected", repr(selected[:40]))
sys.exit(0 if ok else 1)
PY

# 2. Chat at 1 and 3 ranks, scored by a regular expression.
job chat "\"seed\": 8, \"q\": 0.1, \"samples\": 120, \"chunk_size\": 25,
  \"generator\": $(gen ', "endpoint": "chat", "messages": [{"role": "user", "content": "Say something good."}]'),
  \"utility\": {\"kind\": \"regex\", \"pattern\": \"good|fine\"}"
for n in 1 3; do
    qz_mpi "$n" run chat.json -o "chat-$n.h5" --no-progress > "chat-$n.out" 2>&1 ||
        bad "chat job on $n ranks failed: $(cat "chat-$n.out")"
done
check "chat: 3 ranks identical to 1 rank" h5same chat-1.h5 chat chat-3.h5 chat

# 3. Every transient fault kind is retried; the run ends with all samples valid.
for kind in 429 429ms 500 503 malformed truncated reset; do
    job "f$kind" "\"seed\": 9, \"q\": 0.1, \"samples\": 40, \"generator\": $(gen ', "prompt": "p", "retries": 4'),
      \"utility\": {\"kind\": \"length\"}"
    arm "$kind" 2
    if "$QZ_BIN" run "f$kind.json" -o "f$kind.h5" --no-progress > out.txt 2>&1; then
        check "fault $kind: retried, N valid samples, retries counted" test \
            "$(attr "f$kind.h5" "f$kind" valid_samples)/$(attr "f$kind.h5" "f$kind" failed_samples)/$(($(attr "f$kind.h5" "f$kind" retries) >= 2))" = "40/0/1"
    else
        bad "fault $kind: run failed: $(cat out.txt)"
    fi
done
job slow "\"seed\": 9, \"q\": 0.1, \"samples\": 8, \"generator\": $(gen ', "prompt": "p", "timeout_seconds": 1'),
  \"utility\": {\"kind\": \"length\"}"
arm slow 1 3
"$QZ_BIN" run slow.json -o slow.h5 --no-progress > out.txt 2>&1
check "a response slower than the timeout is retried ($(tail -1 out.txt))" test \
    "$(attr slow.h5 slow valid_samples)/$(($(attr slow.h5 slow retries) >= 1))" = "8/1"

# 4. A request that still fails after its retries makes its samples invalid: counted
#    exactly under "exclude" (with retries = 0, the first request of n = 4 fails once).
#    (With retries, a request waiting for its backoff lets others go first, so armed
#    faults would spread over several requests.)
job lost "\"seed\": 10, \"q\": 0.1, \"samples\": 40, \"invalid\": \"exclude\",
  \"generator\": $(gen ', "prompt": "p", "retries": 0, "concurrency": 1'), \"utility\": {\"kind\": \"length\"}"
arm 503 1
"$QZ_BIN" run lost.json -o lost.h5 --no-progress > out.txt 2>&1
status=$?
check "lost samples: exit 0 ($(grep quantilize: out.txt))" test $status -eq 0
check "lost samples: exact accounting (36 valid + 4 invalid = 40)" test \
    "$(attr lost.h5 lost valid_samples)+$(attr lost.h5 lost invalid_samples)/$(attr lost.h5 lost failed_samples)" = "36+4/4"
# ... and under the default "error" policy the run fails, naming the sample.
job lost2 "\"seed\": 10, \"q\": 0.1, \"samples\": 40,
  \"generator\": $(gen ', "prompt": "p", "retries": 0, "concurrency": 1'), \"utility\": {\"kind\": \"length\"}"
arm 503 1
"$QZ_BIN" run lost2.json -o lost2.h5 --no-progress > out.txt 2> err.txt
check "lost samples under \"error\": exit 1 naming the sample" \
    bash -c "test $? -eq 1 && grep -q 'sample 0 (chunk 0) is invalid' err.txt && ! test -e lost2.h5"

# 5. Other 4xx fail fast with the server's message; nothing is written.
job four "\"seed\": 11, \"q\": 0.1, \"samples\": 40, \"generator\": $(gen ', "prompt": "p"'),
  \"utility\": {\"kind\": \"length\"}"
arm 400 1
"$QZ_BIN" run four.json -o four.h5 --no-progress > out.txt 2> err.txt
check "HTTP 400: exit 1 with the server's message, nothing written" \
    bash -c "test $? -eq 1 && grep -q 'HTTP 400' err.txt && grep -q 'fake: bad request injected' err.txt && ! test -e four.h5"

# 6. A server that is down fails the job at once.
closed=$("$QZ_PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
job down "\"seed\": 12, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"openai\",
  \"base_url\": \"http://127.0.0.1:$closed/v1\", \"model\": \"m\", \"prompt\": \"p\"},
  \"utility\": {\"kind\": \"length\"}"
start=$(date +%s)
"$QZ_BIN" run down.json -o down.h5 --no-progress > out.txt 2> err.txt
status=$?
check "server down: exit 1 within 10 s, naming the URL" \
    bash -c "test $status -eq 1 && test $(($(date +%s) - start)) -lt 10 && grep -q '127.0.0.1:$closed' err.txt && ! test -e down.h5"

# 7. A server that ignores n (one choice per request): follow-up requests, exact count.
job onen "\"seed\": 13, \"q\": 0.1, \"samples\": 30, \"generator\": {\"kind\": \"openai\",
  \"base_url\": \"$URL1\", \"model\": \"m\", \"prompt\": \"p\", \"n\": 5, \"max_tokens\": 4},
  \"utility\": {\"kind\": \"length\"}"
"$QZ_BIN" run onen.json -o onen.h5 --no-progress > out.txt 2>&1
check "server ignoring n: all 30 samples valid, one request per sample" test \
    "$(attr onen.h5 onen valid_samples)/$(attr onen.h5 onen requests)" = "30/30"

# 8. The API key is sent, and never reaches the record, the logs or the server's log.
export QZ_TEST_API_KEY="sk-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
job key "\"seed\": 14, \"q\": 0.1, \"samples\": 20, \"generator\": $(gen ', "prompt": "p", "api_key_env": "QZ_TEST_API_KEY"'),
  \"utility\": {\"kind\": \"length\"}"
qz_mpi 2 run key.json -o key.h5 > key.out 2> key.err
check "API key job succeeds" test $? -eq 0
check "the server saw an Authorization header" bash -c \
    "curl -s '$CONTROL/stats' | grep -q '\"auth_seen\": true'"
check "the API key is in no output file, log or dump" bash -c \
    "! grep -r -a -q \"\$QZ_TEST_API_KEY\" key.h5 key.out key.err server.log && ! h5dump key.h5 | grep -q \"\$QZ_TEST_API_KEY\""
unset QZ_TEST_API_KEY
"$QZ_BIN" run key.json -o key2.h5 > out.txt 2> err.txt
check "a missing API key variable is a job error naming the field" \
    bash -c "test $? -eq 2 && grep -q 'generator.api_key_env' err.txt"
# 9. Tasks: a JSONL file of prompts, each quantilized on its own with its own record
#    under tasks/<id>/; identical at 1 and 3 ranks; bad task files are refused.
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' '' \
    '{"id": "stones", "prompt": "Write about stones:"}' '{"id": "good", "prompt": "Be good:"}' \
    > prompts.jsonl
job tasks "\"seed\": 15, \"q\": 0.1, \"samples\": 40, \"tasks\": \"prompts.jsonl\",
  \"generator\": $(gen ', "prompt": "unused"'), \"utility\": {\"kind\": \"regex\", \"pattern\": \"good|river|stone\"}"
for n in 1 3; do
    qz_mpi "$n" run tasks.json -o "tasks-$n.h5" --no-progress > "tasks-$n.out" 2>&1 ||
        bad "tasks job on $n ranks failed: $(cat "tasks-$n.out")"
done
for id in rivers stones good; do
    check "task $id: 3 ranks identical to 1 rank" \
        h5same tasks-1.h5 "tasks/tasks/$id" tasks-3.h5 "tasks/tasks/$id"
done
check "each task has its own prompt, seed and full record" "$QZ_PYTHON" - tasks-3.h5 <<'PY'
import json, sys, h5py
tasks = h5py.File(sys.argv[1], "r")["runs/tasks/tasks"]
seeds = {tasks[t].attrs["seed"] for t in tasks}
prompts = {json.loads(tasks[t].attrs["generator_request"])["body"]["prompt"] for t in tasks}
ok = (sorted(tasks) == ["good", "rivers", "stones"] and len(seeds) == 3
      and prompts == {"Write about rivers:", "Write about stones:", "Be good:"}
      and all(tasks[t].attrs["samples"] == 40 and len(tasks[t]["top/payload"]) == 4
              and "selected" in tasks[t] for t in tasks))
sys.exit(0 if ok else 1)
PY
check "inspect lists every task" bash -c \
    "'$QZ_BIN' inspect tasks-3.h5 | grep -c '^run tasks/tasks/' | grep -qx 3"
printf '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n' > dup.jsonl
job dup "\"seed\": 1, \"q\": 0.1, \"samples\": 4, \"tasks\": \"dup.jsonl\",
  \"generator\": $(gen ', "prompt": "p"'), \"utility\": {\"kind\": \"length\"}"
"$QZ_BIN" run dup.json -o dup.h5 > out.txt 2> err.txt
check "a repeated task id is a job error naming file and line" bash -c \
    "test $? -eq 2 && grep -q 'dup.jsonl:2: id: \"a\" is already the id of task 0' err.txt && ! test -e dup.h5"
finish
