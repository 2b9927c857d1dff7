#!/usr/bin/env bash
# The OpenAI-compatible generator against a real local server (tests/tools/fake_openai.py
# on 127.0.0.1): identical records at 1, 2 and 3 ranks, every fault kind retried with
# exact accounting, fail-fast errors, a server that is down, and an API key that never
# reaches the record, the logs or the server's log.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
start_fake onechoice --ignore-n
URL1=$FAKE_URL
start_fake main --log "$QZ_TMP/server.log"  # the server arm and the jobs below talk to
URL=$FAKE_URL

gen() { # gen EXTRA: an openai generator object on the main server
    printf '{"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
      "temperature": 0.9, "n": 4, "timeout_seconds": 5,
      "backoff_seconds": 0.01, "backoff_max_seconds": 2 %s}' "$URL" "$1"
}

# 1. The same job at 1, 2 and 3 ranks gives identical records (completions, log-probs).
job comp "\"seed\": 7, \"q\": 0.05, \"samples\": 301, \"chunk_size\": 50,
  \"generator\": $(gen ', "prompt": "Write a good sentence:", "logprobs": true'),
  \"utility\": {\"kind\": \"logprob_mean\"}, \"cost\": {\"kind\": \"length\"}"
same_at comp 1 2 3
check "completions record: text payloads, log-probs, counts, every sampling parameter" \
    h5q assert comp-3.h5 runs/comp "a['top_count'] == 16" \
    "len(v('top/payload')) == 16 and all(len(t) > 0 for t in v('top/payload'))" \
    "v('selected/payload') == v('top/payload')[int(a['selected_position'])]" \
    "v('top/logprob_sum').shape == (16,)" "(v('top/tokens') == 12).all()" \
    "abs(v('top/utility')[0] - v('top/logprob_sum')[0] / 12) < 1e-12" \
    "(v('top/logprob_mean') == v('top/utility')).all()" \
    "a['requests'] >= 301 // 4" "a['failed_samples'] == 0" "a['completion_tokens'] == 301 * 12" \
    "[p for p in ['temperature', 'top_p', 'top_k', 'min_p', 'max_tokens', 'stop',
        'presence_penalty', 'frequency_penalty', 'logprobs', 'fake-model']
       if p not in json.dumps(json.loads(a['generator_request']))] == []"

# 2. Chat at 1 and 3 ranks, scored by a regular expression.
job chat "\"seed\": 8, \"q\": 0.1, \"samples\": 120, \"chunk_size\": 25,
  \"generator\": $(gen ', "endpoint": "chat", "messages": [{"role": "user", "content": "Say something good."}]'),
  \"utility\": {\"kind\": \"regex\", \"pattern\": \"good|fine\"}"
same_at chat 1 3

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
expect -l lost 0 '*' "$QZ_BIN" run lost.json -o lost.h5 --no-progress
check "lost samples: exact accounting (36 valid + 4 invalid = 40)" test \
    "$(attr lost.h5 lost valid_samples)+$(attr lost.h5 lost invalid_samples)/$(attr lost.h5 lost failed_samples)" = "36+4/4"
# ... and under the default "error" policy the run fails, naming the sample.
job lost2 "\"seed\": 10, \"q\": 0.1, \"samples\": 40,
  \"generator\": $(gen ', "prompt": "p", "retries": 0, "concurrency": 1'), \"utility\": {\"kind\": \"length\"}"
arm 503 1
expect 1 "~sample 0 (chunk 0) is invalid" "$QZ_BIN" run lost2.json -o lost2.h5 --no-progress
check "lost samples under \"error\": no record" test ! -e lost2.h5

# 5. Other 4xx fail fast with the server's message; nothing is written.
job four "\"seed\": 11, \"q\": 0.1, \"samples\": 40, \"generator\": $(gen ', "prompt": "p"'),
  \"utility\": {\"kind\": \"length\"}"
arm 400 1
expect 1 "~HTTP 400" "$QZ_BIN" run four.json -o four.h5 --no-progress
check "HTTP 400: the server's message, nothing written" \
    bash -c "grep -q 'fake: bad request injected' expect.err && ! test -e four.h5"

# 6. A server that is down fails the job at once.
closed=$("$QZ_PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
job down "\"seed\": 12, \"q\": 0.1, \"samples\": 10, \"generator\": {\"kind\": \"openai\",
  \"base_url\": \"http://127.0.0.1:$closed/v1\", \"model\": \"m\", \"prompt\": \"p\"},
  \"utility\": {\"kind\": \"length\"}"
start=$(date +%s)
expect 1 "~127.0.0.1:$closed" "$QZ_BIN" run down.json -o down.h5 --no-progress
check "server down: exit 1 within 10 s, nothing written" \
    bash -c "test $(($(date +%s) - start)) -lt 10 && ! test -e down.h5"

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
expect -l key 0 '*' qz_mpi 2 run key.json -o key.h5
check "the server saw an Authorization header" bash -c \
    "curl -s '$FAKE_CONTROL/stats' | grep -q '\"auth_seen\": true'"
check "the API key is in no output file, log or dump" bash -c \
    "! grep -r -a -q \"\$QZ_TEST_API_KEY\" key.h5 key.out key.err server.log && ! h5dump key.h5 | grep -q \"\$QZ_TEST_API_KEY\""
unset QZ_TEST_API_KEY
expect 2 "~generator.api_key_env" "$QZ_BIN" run key.json -o key2.h5
# 9. Tasks: a JSONL file of prompts, each quantilized on its own with its own record
#    under tasks/<id>/; identical at 1 and 3 ranks; bad task files are refused.
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' '' \
    '{"id": "stones", "prompt": "Write about stones:"}' '{"id": "good", "prompt": "Be good:"}' \
    > prompts.jsonl
job tasks "\"seed\": 15, \"q\": 0.1, \"samples\": 40, \"tasks\": \"prompts.jsonl\",
  \"generator\": $(gen ', "prompt": "unused"'), \"utility\": {\"kind\": \"regex\", \"pattern\": \"good|river|stone\"}"
for n in 1 3; do
    runn tasks "$n" || bad "tasks job on $n ranks failed: $(cat "tasks-$n.err")"
done
for id in rivers stones good; do
    check "task $id: 3 ranks identical to 1 rank" \
        h5same tasks-1.h5 "tasks/tasks/$id" tasks-3.h5 "tasks/tasks/$id"
done
check "each task has its own prompt, seed and full record" h5q assert tasks-3.h5 runs/tasks/tasks \
    "sorted(g) == ['good', 'rivers', 'stones']" "len({g[t].attrs['seed'] for t in g}) == 3" \
    "{json.loads(g[t].attrs['generator_request'])['body']['prompt'] for t in g}
     == {'Write about rivers:', 'Write about stones:', 'Be good:'}" \
    "[t for t in g if g[t].attrs['samples'] != 40 or len(g[t]['top/payload']) != 4
      or 'selected' not in g[t]] == []"
check "inspect lists every task" bash -c \
    "'$QZ_BIN' inspect tasks-3.h5 | grep -c '^run tasks/tasks/' | grep -qx 3"
printf '{"id": "a", "prompt": "x"}\n{"id": "a", "prompt": "y"}\n' > dup.jsonl
job dup "\"seed\": 1, \"q\": 0.1, \"samples\": 4, \"tasks\": \"dup.jsonl\",
  \"generator\": $(gen ', "prompt": "p"'), \"utility\": {\"kind\": \"length\"}"
expect 2 '~dup.jsonl:2: id: "a" is already the id of task 0' "$QZ_BIN" run dup.json -o dup.h5
check "a repeated task id writes nothing" test ! -e dup.h5

# 10. Server dialects (fake_openai.py --dialect): each at 1 and 3 ranks gives identical
#     records with a log-prob utility working; the default n is settled (llama.cpp's 4
#     slots from /props) and recorded; the model and fingerprint the server named are
#     recorded; tokens are counted from the log-probs (llama.cpp reports choice 0 only).
dgen() { # dgen URL ENDPOINT: a log-prob generator without n (the default 8)
    local what='"prompt": "Write a good sentence:"'
    [ "$2" = chat ] && what='"endpoint": "chat", "messages": [{"role": "user", "content": "Say something good."}]'
    printf '{"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
      "temperature": 0.9, "timeout_seconds": 5, "backoff_seconds": 0.01, "logprobs": true, %s}' "$1" "$what"
}
for dialect in openai llama vllm ollama tgi; do
    start_fake "d-$dialect" --dialect "$dialect"
    case $dialect in
        llama) n=4 model=tiny.gguf fp=b1-fake ;;
        tgi) n=8 model=fake/tgi-model fp=3.0.0-native ;;
        ollama) n=8 model=fake-model fp=fp_ollama ;;
        openai) n=8 model=fake-model fp=fp_fake ;;
        vllm) n=8 model=fake-model fp= ;;
    esac
    endpoints="chat completions"
    case $dialect in ollama | tgi) endpoints=chat ;; esac
    for endpoint in $endpoints; do
        name="d_${dialect}_$endpoint"
        job "$name" "\"seed\": 21, \"q\": 0.1, \"samples\": 50, \"chunk_size\": 16,
          \"generator\": $(dgen "$FAKE_URL" "$endpoint"), \"utility\": {\"kind\": \"logprob_mean\"}"
        same_at "$name" 1 3 || continue
        check "$dialect $endpoint: log-prob utility, n $n, model $model, fingerprint '$fp', tokens counted" \
            h5q assert "$name-3.h5" "runs/$name" "a['valid_samples'] == 50" \
            "(v('top/logprob_mean') == v('top/utility')).all()" "(v('top/tokens') == 12).all()" \
            "a['generator_n'] == $n" "json.loads(a['generator_request'])['body']['n'] == $n" \
            "a['generator_model'] == '$model'" "a.get('generator_system_fingerprint', '') == '$fp'" \
            "a['generator_model_changed'] == 0" "a['completion_tokens_counted'] == 50 * 12" \
            "a['completion_tokens'] $([ $dialect = llama ] && echo '<' || echo '==') 50 * 12" \
            "'last_failure' not in a and sum(a[k] for k in a if k.startswith('failures_')) == 0"
    done
done

# 11. n set above llama.cpp's slots: lowered to the slot count with a warning.
start_fake llama2 --dialect llama --slots 2 --change-after 5
LLAMA2=$FAKE_URL
job nset "\"seed\": 22, \"q\": 0.1, \"samples\": 20,
  \"generator\": {\"kind\": \"openai\", \"base_url\": \"$LLAMA2\", \"model\": \"m\", \"prompt\": \"p\",
   \"n\": 6, \"max_tokens\": 4}, \"utility\": {\"kind\": \"length\"}"
expect -l nset 0 "~the server has 2 slots" "$QZ_BIN" run nset.json -o nset.h5 --no-progress
# ... and the fingerprint changed after 5 answers (--change-after): recorded
check "n 6 above 2 slots: generator_n 2, 10 requests; the fingerprint change is recorded" \
    h5q assert nset.h5 runs/nset "a['generator_n'] == 2" "a['requests'] == 10" \
    "a['valid_samples'] == 20" "a['generator_system_fingerprint'] == 'b1-fake'" \
    "a['generator_model_changed'] == 1"

# 12. Log-probs asked for and missing (llama.cpp drops them for a choice that ended
#     early on a stop string): the request is retried, then its samples are invalid,
#     counted in failures_no_logprobs, and the reason reaches the error and the record.
job nolp "\"seed\": 23, \"q\": 0.1, \"samples\": 40, \"invalid\": \"exclude\",
  \"generator\": {\"kind\": \"openai\", \"base_url\": \"$LLAMA2\", \"model\": \"m\",
   \"prompt\": \"p\", \"n\": 2, \"max_tokens\": 8, \"stop\": [\"o\"], \"logprobs\": true,
   \"retries\": 1, \"backoff_seconds\": 0.01}, \"utility\": {\"kind\": \"logprob_mean\"}"
expect -l nolp 0 '*' "$QZ_BIN" run nolp.json -o nolp.h5 --no-progress
check "missing log-probs: requests given up, their samples invalid, the reason recorded" \
    h5q assert nolp.h5 runs/nolp "a['failures_no_logprobs'] >= 1" \
    "a['invalid_samples'] == a['failed_samples'] == 2 * a['failures_no_logprobs']" \
    "a['valid_samples'] >= 1" "a['retries'] >= a['failures_no_logprobs']" \
    "'has no log-probs' in a['last_failure']"
sed -i 's/"invalid": "exclude",//' nolp.json
expect 1 "~of the answer has no log-probs (neither logprobs.content nor logprobs.token_logprobs))" \
    "$QZ_BIN" run nolp.json -o nolp2.h5 --no-progress

# 13. Failure reasons: a 503 on one request (retries 0): counted by reason and
#     recorded; under "error" the reason reaches the message, and so does a refused
#     connection.
job why "\"seed\": 24, \"q\": 0.1, \"samples\": 40, \"invalid\": \"exclude\",
  \"generator\": $(gen ', "prompt": "p", "retries": 0, "concurrency": 1'),
  \"utility\": {\"kind\": \"length\"}"
start_fake why  # a server of its own: nothing else arms faults there
sed -i "s#$URL#$FAKE_URL#" why.json
arm 503 1
expect -l why 0 '*' "$QZ_BIN" run why.json -o why.h5 --no-progress
check "failures by reason: one 5xx, recorded with the server's message" \
    h5q assert why.h5 runs/why "a['failures_http_5xx'] == 1" \
    "a['failures_timeout'] + a['failures_http_4xx'] + a['failures_protocol'] == 0" \
    "a['failures_connection'] + a['failures_no_logprobs'] == 0" "a['invalid_samples'] == 4" \
    "a['last_failure'] == 'HTTP 503: fake: server error injected (503)'"
sed -i 's/"invalid": "exclude",//' why.json
arm 503 1
expect 1 "~is invalid: its utility is not a number (the generator's last failure: HTTP 503: " \
    "$QZ_BIN" run why.json -o why2.h5 --no-progress
sed -i -e "s#$FAKE_URL#http://127.0.0.1:$closed/v1#" -e 's/"retries": 0,/"retries": 0, "probe": false,/' why.json
# (a server that refuses every connection is an outage: on_server_down "fail" outside Slurm)
expect 1 "~generator: every server is down (http://127.0.0.1:$closed/v1); the last failure: connect: Failed to connect to 127.0.0.1 port $closed" \
    "$QZ_BIN" run why.json -o why3.h5 --no-progress

# 14. A NUL in a text (EMIT_NUL: choice 1 of each request): replaced by U+FFFD and
#     counted, the text otherwise whole, identical at 1 and 3 ranks.
job nul "\"seed\": 26, \"q\": 1, \"samples\": 8,
  \"generator\": $(gen ', "prompt": "EMIT_NUL"'), \"utility\": {\"kind\": \"length\"}"
same_at nul 1 3
check "NUL: 2 texts with U+FFFD in the middle, none cut" h5q assert nul-3.h5 runs/nul \
    "a['texts_nul_replaced'] == 2" \
    "sorted(chr(0xfffd) in (x.decode() if isinstance(x, bytes) else x) for x in v('top/payload')) == [False] * 6 + [True] * 2" \
    "all(len(x.decode() if isinstance(x, bytes) else x) >= 24 for x in v('top/payload'))"
finish
