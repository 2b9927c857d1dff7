#!/bin/bash
# Self-check of tests/tools/fake_openai.py: starts it on 127.0.0.1 (a free port),
# exercises every endpoint and fault kind with curl, stops it with SIGTERM.
# Needs bash, curl and /usr/bin/python3 (standard library). ~20 s.
# Prints "N passed, M failed"; exits non-zero on any failure.
. "$(dirname "$0")/../lib.sh"
PY=${FAKE_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1  # the recipe check imports fake_openai
HERE=$(cd "$(dirname "$0")" && pwd)
SERVER="$HERE/fake_openai.py"
TMP=$QZ_TMP

# start_server NAME ARGS...: sets SPID and SPORT (bounded wait of 10 s for the port file)
start_server() {
    local name=$1 i
    shift
    rm -f "$TMP/$name.port"
    "$PY" "$SERVER" --port-file "$TMP/$name.port" --log "$TMP/$name.log" "$@" &
    SPID=$!
    QZ_SERVER_PIDS+=("$SPID")
    SPORT=
    for ((i = 0; i < 100; i++)); do
        if [ -s "$TMP/$name.port" ]; then
            SPORT=$(cat "$TMP/$name.port")
            break
        fi
        sleep 0.1
    done
    [[ "$SPORT" =~ ^[0-9]+$ ]]
}

# jtest EXPR: reads JSON on stdin as d; succeeds when the Python expression is true.
jtest() {
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"
}
# jget EXPR: prints the value of EXPR (d = JSON on stdin) as JSON.
jget() {
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(eval(sys.argv[1])))' "$1"
}

# post PORT PATH BODY [curl args...]: prints the response body.
post() {
    local port=$1 path=$2 body=$3
    shift 3
    curl -s --max-time 5 -H 'Content-Type: application/json' "$@" \
        --data-binary "$body" "http://127.0.0.1:$port$path"
}
# code PORT PATH BODY [curl args...]: prints the HTTP status (curl's exit status in $?)
code() {
    local port=$1 path=$2 body=$3
    shift 3
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -H 'Content-Type: application/json' "$@" --data-binary "$body" \
        "http://127.0.0.1:$port$path"
}

# ---------------------------------------------------------------------------------
if start_server main; then ok "server started, port file has $SPORT"; else
    bad "server did not write its port file within 10 s"
    finish
    exit 1
fi
MAIN_PID=$SPID
P=$SPORT
B="http://127.0.0.1:$P"

check "only 127.0.0.1 is bound" \
    bash -c "! (ss -ltnH 2>/dev/null || true) | grep ':$P ' | grep -v '127.0.0.1:$P' | grep -q ."
check "GET /health" \
    bash -c "curl -s --max-time 5 $B/health | grep -q '\"status\": \"ok\"'"
check "GET /v1/models lists fake-model" \
    bash -c "curl -s --max-time 5 $B/v1/models | '$PY' -c 'import json,sys; d=json.load(sys.stdin); assert d[\"object\"]==\"list\" and d[\"data\"][0][\"id\"]==\"fake-model\"'"

# --- completions ------------------------------------------------------------------
REQ='{"model":"fake-model","prompt":"Once upon a time","n":3,"max_tokens":8,"temperature":0.7,"top_p":1,"top_k":0,"seed":42,"logprobs":1}'
R1=$(post "$P" /v1/completions "$REQ")
R2=$(post "$P" /v1/completions "$REQ")
R3=$(post "$P" /v1/completions "${REQ/\"seed\":42/\"seed\":43}")
check "completions n=3 gives 3 choices, index 0..2, finish_reason length" jtest \
    '[c["index"] for c in d["choices"]]==[0,1,2] and all(c["finish_reason"]=="length" for c in d["choices"]) and d["object"]=="text_completion"' <<<"$R1"
check "completions choices differ from each other" jtest \
    'len({c["text"] for c in d["choices"]})==3' <<<"$R1"
T1=$(jget '[c["text"] for c in d["choices"]]' <<<"$R1")
T2=$(jget '[c["text"] for c in d["choices"]]' <<<"$R2")
T3=$(jget '[c["text"] for c in d["choices"]]' <<<"$R3")
check "same request twice gives identical texts" test "$T1" = "$T2"
check "different seed gives different texts" test "$T1" != "$T3"
check "completions logprobs: 8 tokens, join == text, offsets, usage" jtest \
    'all(len(c["logprobs"]["tokens"])==8 and "".join(c["logprobs"]["tokens"])==c["text"] and len(c["logprobs"]["token_logprobs"])==8 and all(-5<=x<0 for x in c["logprobs"]["token_logprobs"]) and c["logprobs"]["text_offset"][0]==0 and c["logprobs"]["top_logprobs"] is None for c in d["choices"]) and d["usage"]=={"prompt_tokens":4,"completion_tokens":24,"total_tokens":28}' <<<"$R1"
# the text model, recomputed independently from the documented recipe
check "text equals the documented recipe" "$PY" -c '
import hashlib, json, random, sys
sys.path.insert(0, sys.argv[2])
from fake_openai import VOCAB
d = json.loads(sys.argv[1])
for k, c in enumerate(d["choices"]):
    h = hashlib.sha256(f"42|{k}|Once upon a time|{0.7!r}".encode())
    rng = random.Random(int.from_bytes(h.digest()[:8], "big"))
    toks = []
    for _ in range(8):
        toks.append(" " + rng.choice(VOCAB)); rng.uniform(0.01, 5.0)
    assert "".join(toks) == c["text"], (toks, c["text"])
' "$R1" "$HERE"
R=$(post "$P" /v1/completions '{"model":"m","prompt":"Once upon a time","max_tokens":8,"temperature":0.7,"seed":42}')
check "n absent = 1 choice, same text as choice 0 of n=3; logprobs null" jtest \
    "len(d['choices'])==1 and d['choices'][0]['logprobs'] is None and json.dumps(d['choices'][0]['text'])==json.dumps($T1[0])" <<<"$R"
STOPW=$(jget 'd["choices"][0]["logprobs"]["tokens"][3]' <<<"$R1")
R=$(post "$P" /v1/completions "{\"model\":\"m\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0.7,\"seed\":42,\"stop\":[$STOPW],\"logprobs\":0}")
check "stop cuts the text before the stop string, finish_reason stop" jtest \
    "d['choices'][0]['finish_reason']=='stop' and $STOPW not in d['choices'][0]['text'] and $T1[0].startswith(d['choices'][0]['text']) and ''.join(d['choices'][0]['logprobs']['tokens'])==d['choices'][0]['text']" <<<"$R"

# --- chat -----------------------------------------------------------------------------
CREQ='{"model":"fake-model","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hello"}],"n":2,"max_tokens":5,"seed":7,"temperature":1.0,"logprobs":true,"top_logprobs":2}'
R=$(post "$P" /v1/chat/completions "$CREQ")
check "chat: 2 choices with assistant messages and 5 logprobs each" jtest \
    'd["object"]=="chat.completion" and [c["index"] for c in d["choices"]]==[0,1] and all(c["message"]["role"]=="assistant" and len(c["logprobs"]["content"])==5 and "".join(t["token"] for t in c["logprobs"]["content"])==c["message"]["content"] and all(len(t["top_logprobs"])==2 and t["logprob"]<0 for t in c["logprobs"]["content"]) for c in d["choices"]) and d["usage"]["completion_tokens"]==10' <<<"$R"
RC=$(post "$P" /v1/completions '{"model":"m","prompt":"be brief\nhello","n":2,"max_tokens":5,"seed":7,"temperature":1}')
check "chat text == completions text for the messages joined by newline" test \
    "$(jget '[c["message"]["content"] for c in d["choices"]]' <<<"$R")" = "$(jget '[c["text"] for c in d["choices"]]' <<<"$RC")"
R=$(post "$P" /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}')
check "chat without logprobs: logprobs null, 16 tokens by default" jtest \
    'd["choices"][0]["logprobs"] is None and d["usage"]["completion_tokens"]==16' <<<"$R"

# --- validation ---------------------------------------------------------------------
check "non-JSON body -> 400" test "$(code "$P" /v1/completions 'not json')" = 400
R=$(post "$P" /v1/completions '{"prompt":"x"}')
check "missing model -> 400 invalid_request_error" jtest \
    'd["error"]["type"]=="invalid_request_error" and "model" in d["error"]["message"]' <<<"$R"
check "n=0 -> 400" test "$(code "$P" /v1/completions '{"model":"m","prompt":"x","n":0}')" = 400
check "max_tokens=0 -> 400" test "$(code "$P" /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}')" = 400
check "unknown path -> 404" test "$(code "$P" /v1/nothing '{}')" = 404

# --- --ignore-n (second instance) -----------------------------------------------------
if start_server ignoren --ignore-n; then
    IGN_PID=$SPID
    R=$(post "$SPORT" /v1/completions "$REQ")
    check "--ignore-n: n=3 gives exactly 1 choice, equal to choice 0" jtest \
        "len(d['choices'])==1 and d['choices'][0]['index']==0 and json.dumps(d['choices'][0]['text'])==json.dumps($T1[0])" <<<"$R"
    R=$(post "$SPORT" /v1/chat/completions "$CREQ")
    check "--ignore-n: chat n=2 gives 1 choice" jtest 'len(d["choices"])==1' <<<"$R"
    kill -TERM "$IGN_PID"
    wait "$IGN_PID"
    check "--ignore-n instance exits 0 on SIGTERM" test $? = 0
else
    bad "--ignore-n instance did not start"
fi

# --- --dialect llama (llama.cpp's llama-server, tests/realserver/answers) ------------------
if start_server llama --dialect llama --slots 4; then
    LPID=$SPID
    LC='{"model":"m","prompt":"p","max_tokens":3,"n":2,"logprobs":1}'
    R=$(post "$SPORT" /v1/completions "$LC")
    check "llama: completions log-probs as content[], no token_logprobs, model tiny.gguf" jtest \
        "all(len(c['logprobs']['content'])==3 and 'token_logprobs' not in c['logprobs'] for c in d['choices']) and d['model']=='tiny.gguf' and d['system_fingerprint']=='b1-fake'" <<<"$R"
    check "llama: usage counts choice 0 only" jtest "d['usage']['completion_tokens']==3" <<<"$R"
    R=$(post "$SPORT" /v1/completions '{"model":"m","prompt":"p","max_tokens":3,"logprobs":0}')
    check "llama: logprobs 0 -> null" jtest "d['choices'][0]['logprobs'] is None" <<<"$R"
    LCH='{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":3,"logprobs":true'
    R=$(post "$SPORT" /v1/chat/completions "$LCH,\"top_logprobs\":0}")
    check "llama: chat top_logprobs 0 -> no logprobs key" jtest "'logprobs' not in d['choices'][0]" <<<"$R"
    R=$(post "$SPORT" /v1/chat/completions "$LCH,\"top_logprobs\":1}")
    check "llama: chat top_logprobs 1 -> content[]" jtest "len(d['choices'][0]['logprobs']['content'])==3" <<<"$R"
    R=$(post "$SPORT" /v1/completions '{"model":"m","prompt":"p","n":8}')
    check "llama: n 8 above 4 slots -> 400 naming the cap" jtest \
        "d['error']['message']==\"Field 'n': Value must be between 1 <= value <= 4, but got 8\"" <<<"$R"
    R=$(curl -s --max-time 5 "http://127.0.0.1:$SPORT/props")
    check "llama: /props total_slots" jtest "d['total_slots']==4" <<<"$R"
    R=$(post "$SPORT" /v1/completions '{"model":"m","prompt":"p","max_tokens":8,"n":4,"logprobs":1,"stop":["o"],"seed":3}')
    check "llama: a choice ended on a stop string loses its last log-prob, or all of them" jtest \
        "all(c['finish_reason']=='length' and len(c['logprobs']['content'])==8 or c['finish_reason']=='stop' and (c['logprobs'] is None or len(c['logprobs']['content'])>=2) for c in d['choices'])" <<<"$R"
    kill -TERM "$LPID"
    wait "$LPID"
else
    bad "--dialect llama instance did not start"
fi
for dialect in vllm ollama tgi; do
    if start_server "$dialect" --dialect "$dialect"; then
        DPID=$SPID
        R=$(post "$SPORT" /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x EMIT_NUL"}],"max_tokens":3,"n":2,"logprobs":true,"top_logprobs":1}')
        want=2
        [ "$dialect" = vllm ] || want=1
        check "$dialect: chat n=2 gives $want choice(s) with content[] log-probs" jtest \
            "len(d['choices'])==$want and all(len(c['logprobs']['content'])==3 for c in d['choices'])" <<<"$R"
        [ "$want" = 2 ] && check "$dialect: EMIT_NUL puts a NUL in choice 1 only" jtest \
            "'\\x00' in d['choices'][1]['message']['content'] and '\\x00' not in d['choices'][0]['message']['content']" <<<"$R"
        R=$(post "$SPORT" /v1/completions '{"model":"m","prompt":"p","max_tokens":3,"logprobs":1}')
        if [ "$dialect" = vllm ]; then
            check "vllm: completions token_logprobs" jtest "len(d['choices'][0]['logprobs']['token_logprobs'])==3" <<<"$R"
        else
            check "$dialect: completions without log-probs" jtest "d['choices'][0]['logprobs'] is None" <<<"$R"
        fi
        kill -TERM "$DPID"
        wait "$DPID"
    else
        bad "--dialect $dialect instance did not start"
    fi
done

# --- faults via X-Fault header -----------------------------------------------------------
SMALL='{"model":"m","prompt":"p","max_tokens":2}'
H=$(curl -s -D - -o /dev/null --max-time 5 -H 'X-Fault: 429' --data-binary "$SMALL" "$B/v1/completions" | tr -d '\r')
check "X-Fault 429: status 429 with Retry-After: 1" \
    bash -c "grep -q '^HTTP/1.1 429' <<<\"\$1\" && grep -qi '^Retry-After: 1$' <<<\"\$1\"" _ "$H"
H=$(curl -s -D - -o /dev/null --max-time 5 -H 'X-Fault: 429ms' --data-binary "$SMALL" "$B/v1/completions" | tr -d '\r')
check "X-Fault 429ms: 429 with retry-after-ms: 200 and no Retry-After" \
    bash -c "grep -q '^HTTP/1.1 429' <<<\"\$1\" && grep -qi '^retry-after-ms: 200$' <<<\"\$1\" && ! grep -qi '^Retry-After:' <<<\"\$1\"" _ "$H"
R=$(post "$P" /v1/completions "$SMALL" -H 'X-Fault: 429')
check "429 body is a JSON error" jtest 'd["error"]["type"]=="rate_limit_error"' <<<"$R"
check "X-Fault 500 -> 500" test "$(code "$P" /v1/completions "$SMALL" -H 'X-Fault: 500')" = 500
check "X-Fault 503 -> 503" test "$(code "$P" /v1/completions "$SMALL" -H 'X-Fault: 503')" = 503
R=$(post "$P" /v1/completions "$SMALL" -H 'X-Fault: 400' -w '\n%{http_code}')
check "X-Fault 400 -> 400 'fake: bad request injected'" \
    test "$(tail -n1 <<<"$R")|$(head -n1 <<<"$R" | jget 'd["error"]["message"]')" = '400|"fake: bad request injected"'
t0=$(date +%s.%N)
curl -s -o /dev/null --max-time 1 -H 'X-Fault: slow' -H 'X-Fault-Delay: 2' --data-binary "$SMALL" "$B/v1/completions"
rc=$?
check "X-Fault slow (delay 2 s) times out a 1 s client (curl exit 28)" test "$rc" = 28
check "server answers others while a slow request sleeps" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$B/health")" = 200
R=$(post "$P" /v1/completions "$SMALL" -H 'X-Fault: slow' -H 'X-Fault-Delay: 0.3')
check "X-Fault slow (delay 0.3 s) then answers normally" jtest 'len(d["choices"])==1' <<<"$R"
R=$(post "$P" /v1/completions "$SMALL" -H 'X-Fault: malformed' -w '\n%{http_code} %{content_type}')
check "X-Fault malformed: 200 application/json, body '{not json'" \
    test "$R" = $'{not json\n200 application/json'
code "$P" /v1/completions "$SMALL" -H 'X-Fault: truncated' >/dev/null
rc=$?
check "X-Fault truncated: curl exit 18 (got $rc)" test "$rc" = 18
code "$P" /v1/completions "$SMALL" -H 'X-Fault: reset' >/dev/null
rc=$?
check "X-Fault reset: curl exit 52 or 56 (got $rc)" bash -c "[ $rc = 52 ] || [ $rc = 56 ]"
check "X-Fault unknown kind -> 400" test "$(code "$P" /v1/completions "$SMALL" -H 'X-Fault: bogus')" = 400
S=""
for i in 1 2 3 4; do S+="$(code "$P" /v1/completions "$SMALL" -H 'X-Fault: 503:2') "; done
check "X-Fault 503:2: same request fails twice then succeeds ($S)" test "$S" = "503 503 200 200 "
S=""
for i in 1 2; do S+="$(code "$P" /v1/completions "${SMALL/\"p\"/\"q\"}" -H 'X-Fault: 503:2') "; done
check "X-Fault 503:2 counts per request body ($S)" test "$S" = "503 503 "
check "server healthy after all faults" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$B/health")" = 200

# --- prompt-armed faults --------------------------------------------------------------------
S=""
for i in 1 2 3; do S+="$(code "$P" /v1/completions '{"model":"m","prompt":"x FAULT:503 y"}') "; done
check "prompt FAULT:503 fails every time ($S)" test "$S" = "503 503 503 "
check "chat message FAULT:429 -> 429" \
    test "$(code "$P" /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"FAULT:429"}]}')" = 429

# --- control endpoints -------------------------------------------------------------------------
check "POST /_control/reset" test "$(code "$P" /_control/reset '{}')" = 200
R=$(curl -s --max-time 5 "$B/_control/stats")
check "stats are zero after reset" jtest \
    'd["requests"]==0 and d["by_path"]=={} and d["faults_served"]=={} and d["armed"]==[]' <<<"$R"
R=$(post "$P" /_control/fault '{"kind":"500","count":2,"path":"/v1/completions"}')
check "arm 500 x2 on /v1/completions" jtest 'd["armed"][0]["count"]==2' <<<"$R"
S="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$B/health") "
S+="$(code "$P" /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"x"}]}') "
for i in 1 2 3; do S+="$(code "$P" /v1/completions "$SMALL" -H 'Authorization: Bearer sk-secret-123') "; done
check "armed fault hits only its path, twice ($S)" test "$S" = "200 200 500 500 200 "
R=$(curl -s --max-time 5 "$B/_control/stats")
check "stats count requests, paths, faults; auth_seen true" jtest \
    'd["requests"]==5 and d["by_path"]=={"/health":1,"/v1/chat/completions":1,"/v1/completions":3} and d["faults_served"]=={"500":2} and d["by_status"]=={"200":3,"500":2} and d["auth_seen"] is True and d["armed"]==[]' <<<"$R"
code "$P" /v1/completions "$SMALL" >/dev/null
check "auth_seen false after a request without Authorization" \
    bash -c "curl -s --max-time 5 $B/_control/stats | grep -q '\"auth_seen\": false'"
post "$P" /_control/fault '{"kind":"reset","count":1}' >/dev/null
S="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$B/health") "
code "$P" /get_reward '{"query":["a"]}' >/dev/null
rc=$?
S+="$rc $(code "$P" /get_reward '{"query":["a"]}')"
check "armed fault without path skips /health, hits a work endpoint once ($S)" \
    bash -c "[ '$S' = '200 56 200' ] || [ '$S' = '200 52 200' ]"
post "$P" /_control/fault '{"kind":"slow","count":1,"delay":2}' >/dev/null
curl -s -o /dev/null --max-time 1 --data-binary "$SMALL" "$B/v1/completions"
check "armed slow with delay field times out a 1 s client" test $? = 28
R=$(curl -s --max-time 5 "$B/_control/requests")
check "request history keeps bodies" jtest \
    'd["requests"][-1]["body"]["max_tokens"]==2 and d["requests"][-1]["fault"]=="slow"' <<<"$R"
check "arming an unknown kind -> 400" test "$(code "$P" /_control/fault '{"kind":"nope"}')" = 400

# --- reward endpoints --------------------------------------------------------------------------
R=$(post "$P" /get_reward '{"query":["good good","bad","a goodness"]}')
check "get_reward: count('good') + 0.001*len" jtest \
    'all(abs(a-b)<1e-12 for a,b in zip(d["rewards"],[2.009,0.003,1.010])) and len(d["rewards"])==3' <<<"$R"
R=$(post "$P" /score '{"model":"rm","text_1":"good ","text_2":["good","bad"]}')
check "score: score(text_1 + text_2[i])" jtest \
    '[x["index"] for x in d["data"]]==[0,1] and abs(d["data"][0]["score"]-2.009)<1e-12 and abs(d["data"][1]["score"]-1.008)<1e-12' <<<"$R"
R=$(post "$P" /classify '{"model":"rm","input":["good","zz"]}')
check "classify: probs [1-p, p], p = sigmoid(score)" jtest \
    'abs(d["data"][0]["probs"][1]-1/(1+__import__("math").exp(-1.004)))<1e-12 and abs(sum(d["data"][0]["probs"])-1)<1e-12 and abs(d["data"][1]["probs"][1]-1/(1+__import__("math").exp(-0.002)))<1e-12 and d["data"][1]["index"]==1 and d["data"][0]["label"]=="LABEL_1"' <<<"$R"
check "get_reward with a bad body -> 400" test "$(code "$P" /get_reward '{"query":"x"}')" = 400

# --- keep-alive: one curl, several requests, one connection -----------------------------------
N=$(curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}\n' --max-time 5 \
    "$B/health" "$B/v1/models" "$B/health" | paste -sd' ')
check "keep-alive: 3 requests reuse 1 connection (connects: $N)" test "$N" = "1 0 0"

# --- pace: --cpu-per-sample and --rate ---------------------------------------------------
TCK=$(getconf CLK_TCK)
now() { date +%s.%N; }
# cpu_of PID: the process's CPU time so far (utime + stime) in clock ticks
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# holds EXPR: the Python expression (numbers from the shell) is true; prints it
holds() { echo "$1"; "$PY" -c "import sys; sys.exit(0 if ($1) else 1)"; }
# timed_post PORT BODY NAME: POST /v1/completions in the background; the answer in
# $TMP/NAME.json, the time it came in $TMP/NAME.t ($! is the background job)
timed_post() {
    (post "$1" /v1/completions "$2" --max-time 30 > "$TMP/$3.json"; now > "$TMP/$3.t") &
}
# post_pair PORT BODY_A BODY_B NAME: timed_post both at once (NAMEA, NAMEB), wait for
# both; tA and tB are the times their answers came
post_pair() {
    local pa pb
    timed_post "$1" "$2" "$4A"
    pa=$!
    timed_post "$1" "$3" "$4B"
    pb=$!
    wait "$pa" "$pb"
    tA=$(cat "$TMP/$4A.t")
    tB=$(cat "$TMP/$4B.t")
}
texts() { jget '[c["text"] for c in d["choices"]]' < "$1"; }
REQ2=${REQ/\"seed\":42/\"seed\":43}  # R3's request
if start_server cpu --cpu-per-sample 0.1; then
    CPID=$SPID
    c0=$(cpu_of "$CPID")
    t0=$(now)
    R=$(post "$SPORT" /v1/completions "$REQ" --max-time 30)
    t1=$(now)
    c1=$(cpu_of "$CPID")
    check "--cpu-per-sample: the same texts as without it" \
        test "$(jget '[c["text"] for c in d["choices"]]' <<<"$R")" = "$T1"
    check "--cpu-per-sample 0.1: 3 choices take >= 0.3 s and cost the server >= 0.3 s of CPU" \
        holds "$t1 - $t0 >= 0.3 and ($c1 - $c0) / $TCK >= 0.3 - 2 / $TCK"
    c0=$(cpu_of "$CPID")
    t0=$(now)
    post_pair "$SPORT" "$REQ" "$REQ2" cpu
    c1=$(cpu_of "$CPID")
    check "--cpu-per-sample: two requests at once, the same texts as without it" \
        test "$(texts "$TMP/cpuA.json")|$(texts "$TMP/cpuB.json")" = "$T1|$T3"
    check "--cpu-per-sample: two requests of 3 choices at once take >= 0.6 s (one core, turns)" \
        holds "max($tA, $tB) - $t0 >= 0.6"
    check "--cpu-per-sample: ... and cost >= 0.6 s of CPU, at most one core's worth" \
        holds "0.6 - 2 / $TCK <= ($c1 - $c0) / $TCK <= 1.1 * (max($tA, $tB) - $t0) + 2 / $TCK"
    kill -TERM "$CPID"
    wait "$CPID"
else
    bad "--cpu-per-sample instance did not start"
fi
if start_server rate --rate 10; then
    RPID=$SPID
    t0=$(now)
    R=$(post "$SPORT" /v1/completions "$REQ" --max-time 30)
    t1=$(now)
    check "--rate: the same texts as without it" \
        test "$(jget '[c["text"] for c in d["choices"]]' <<<"$R")" = "$T1"
    check "--rate 10: a request for 3 choices takes >= 0.3 s" holds "$t1 - $t0 >= 0.3"
    FIVE='{"model":"m","prompt":"p","max_tokens":2,"n":5}'
    c0=$(cpu_of "$RPID")
    t0=$(now)
    pids=()
    for r in r1 r2 r3; do
        timed_post "$SPORT" "$FIVE" "$r"
        pids+=($!)
    done
    wait "${pids[@]}"
    c1=$(cpu_of "$RPID")
    ts=$(cat "$TMP"/r[123].t | paste -sd,)
    check "--rate 10: three requests of 5 choices at once all answered" \
        bash -c "for r in r1 r2 r3; do '$PY' -c 'import json,sys; assert len(json.load(sys.stdin)[\"choices\"]) == 5' < '$TMP/'\$r.json || exit 1; done"
    check "--rate 10: ... the last after >= 1.5 s, the first >= 0.5 s before it (turns)" \
        holds "max($ts) - $t0 >= 1.5 and min($ts) <= max($ts) - 0.5"
    check "--rate: waiting costs the server no CPU (< 0.3 s for 1.5 s of waiting)" \
        holds "($c1 - $c0) / $TCK < 0.3"
    kill -TERM "$RPID"
    wait "$RPID"
else
    bad "--rate instance did not start"
fi
# --seconds-per-token: a request lasts as long as its longest output; requests overlap.
# With a stop string (" dog" and " cat", 1 in 25 tokens) the 3 choices of 40 tokens at most differ in length.
if start_server tok --seconds-per-token 0.05; then
    TOKREQ='{"model":"m","prompt":"Once upon a time","n":3,"max_tokens":40,"seed":7,"stop":[" dog"," cat"]}'
    TOKREQ2=${TOKREQ/\"seed\":7/\"seed\":8}
    t0=$(now)
    post_pair "$SPORT" "$TOKREQ" "$TOKREQ2" tok
    lens() { jget 'sorted(len(c["text"].split()) for c in d["choices"])' < "$1"; }
    LA=$(jget 'max(len(c["text"].split()) for c in d["choices"])' < "$TMP/tokA.json")
    LB=$(jget 'max(len(c["text"].split()) for c in d["choices"])' < "$TMP/tokB.json")
    check "--seconds-per-token: outputs of different lengths ($(lens "$TMP/tokA.json") words)" \
        holds "len(set($(lens "$TMP/tokA.json"))) > 1"
    check "--seconds-per-token 0.05: each answer after >= 0.05 x its longest output (A: $LA, B: $LB tokens)" \
        holds "$tA - $t0 >= 0.05 * $LA and $tB - $t0 >= 0.05 * $LB"
    check "--seconds-per-token: two requests at once overlap (both within their longest + 0.4 s)" \
        holds "max($tA, $tB) - $t0 <= 0.05 * max($LA, $LB) + 0.4"
    kill -TERM "$SPID"
    wait "$SPID"
else
    bad "--seconds-per-token instance did not start"
fi
for bad_opt in "--rate 0" "--rate -1" "--cpu-per-sample 0" "--cpu-per-sample nan" \
    "--seconds-per-token 0" "--seconds-per-token 11"; do
    # shellcheck disable=SC2086
    "$PY" "$SERVER" --port-file "$TMP/badopt.port" $bad_opt 2> "$TMP/badopt.err"
    rc=$?
    check "$bad_opt is refused (exit $rc, no port file): $(tail -n1 "$TMP/badopt.err")" \
        test "$rc" = 2 -a ! -e "$TMP/badopt.port"
done

# --- log, shutdown ---------------------------------------------------------------------------------
check "log has one line per request, no header values" \
    bash -c "grep -q ' POST /v1/completions 500 500$' '$TMP/main.log' && ! grep -q 'sk-secret' '$TMP/main.log'"
kill -TERM "$MAIN_PID"
t0=$SECONDS
wait "$MAIN_PID"
rc=$?
check "SIGTERM: server exits 0 (rc $rc) within 5 s" test "$rc" = 0 -a $((SECONDS - t0)) -le 5
check "port file removed on exit" test ! -e "$TMP/main.port"
if start_server limited --seconds-limit 1; then
    LIM_PID=$SPID
    for ((i = 0; i < 40; i++)); do kill -0 "$LIM_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$LIM_PID" 2>/dev/null; then bad "--seconds-limit 1: still running after 4 s"; else
        wait "$LIM_PID"
        check "--seconds-limit 1: stops by itself, exit 0" test $? = 0
    fi
else
    bad "--seconds-limit instance did not start"
fi

finish
