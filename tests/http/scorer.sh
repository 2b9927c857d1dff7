#!/usr/bin/env bash
# The reward-model scorer (kind "http") against a real local server
# (tests/tools/fake_openai.py on 127.0.0.1), texts from the openai generator on the same
# server: every preset gives exactly the server's score of each top text, every text is
# scored once and the top set is the best K, identical records at 1 and 3 ranks,
# transient faults are retried, a request that keeps failing makes its samples invalid,
# a 400 fails fast with the server's message, a server that is down fails the run, bad
# fields are job errors, and an API key never reaches the record or the logs.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
start_fake main --log "$QZ_TMP/server.log"
BASE="http://127.0.0.1:$FAKE_PORT"
CONTROL=$FAKE_CONTROL
N=200

gen() { # the generator: 12-token texts, 4 per request
    printf '{"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
      "temperature": 0.9, "n": 4, "prompt": "Write a good sentence:", "timeout_seconds": 10,
      "backoff_seconds": 0.01, "backoff_max_seconds": 1}' "$FAKE_URL"
}
sc() { # sc URL FIELDS: an http scorer
    printf '{"kind": "http", "url": "%s", "timeout_seconds": 10, "backoff_seconds": 0.01,
      "backoff_max_seconds": 1 %s}' "$1" "$2"
}
textjob() { # textjob NAME SCORERS: a text job of N samples scored by SCORERS
    job "$1" "$(printf '"seed": 21, "q": 0.05, "samples": %d, "chunk_size": 50, %s,
      "generator": %s' "$N" "$2" "$(gen)")"
}
reset() { curl -s -o /dev/null -X POST "$CONTROL/reset"; }
stat() { # stat EXPR: a figure of GET /_control/stats, e.g. stat 's["texts_scored"]'
    curl -s "$CONTROL/stats" | "$QZ_PYTHON" -c "import json, sys; s = json.load(sys.stdin); print($1)"
}

# formula FILE RUN KIND [QUERY]: the record's top/utility (top/cost for KIND cost) is the
# server's score of each top/payload text, to 1e-12; with --all, also that the top set
# holds the K best of every text the server was sent (from its request history).
formula() {
    "$QZ_PYTHON" - "$@" <<'PY'
import json, math, sys, urllib.request
import h5py
args = [a for a in sys.argv[1:] if a != "--all"]
f, run, kind, control = args[:4]
query = args[4] if len(args) > 4 else ""
g = h5py.File(f, "r")["runs/" + run]

def score(t):
    return t.count("good") + 0.001 * len(t.encode("utf-8"))

def want(t):
    if kind in ("openrlhf", "cost"):
        return score(t)
    if kind == "score":
        return score(query + t)
    p = 1.0 / (1.0 + math.exp(-score(t)))
    return p if kind == "classify1" else 1.0 - p

texts = [t.decode() if isinstance(t, bytes) else t for t in g["top/payload"][...]]
got = g["top/cost" if kind == "cost" else "top/utility"][...]
k = int(g.attrs["top_count"])
err = max(abs(want(t) - u) for t, u in zip(texts, got))
ok = k == len(texts) == len(got) == 10 and err <= 1e-12
ok = ok and g.attrs["valid_samples"] == g.attrs["samples"] == 200
if "--all" in sys.argv:
    hist = json.load(urllib.request.urlopen(control + "/requests"))["requests"]
    sent = [t for r in hist if r["path"] == "/get_reward" and r["status"] == 200
            for t in r["body"]["query"]]
    best = sorted((score(t) for t in sent), reverse=True)[:k]
    ok = ok and len(sent) == 200 and list(got) == best
    print("texts sent", len(sent), end="; ")
print("K", k, "max error", err, "top", repr(texts[0][:40]), got[0])
sys.exit(0 if ok else 1)
PY
}

# 1. openrlhf: exact scores, each text sent once, the K best; identical at 1 and 3 ranks.
textjob rlhf "\"utility\": $(sc "$BASE/get_reward" ', "preset": "openrlhf", "batch": 16, "concurrency": 3')"
for n in 1 3; do
    reset
    runn rlhf "$n" || bad "openrlhf on $n ranks failed: $(cat rlhf-$n.err)"
    check "openrlhf, $n ranks: utilities are the server's scores; the top set is the K best" \
        formula rlhf-$n.h5 rlhf openrlhf "$CONTROL" --all
    check "openrlhf, $n ranks: every valid text scored once" test "$(stat 's["texts_scored"]')" = $N
done
check "openrlhf: 3 ranks identical to 1 rank" h5same rlhf-1.h5 rlhf rlhf-3.h5 rlhf

# 2. vllm_score: text_1 + text; vllm_classify: probs[class]; custom: a template.
Q="Is this good? "
textjob vscore "\"utility\": $(sc "$BASE/score" ", \"preset\": \"vllm_score\", \"model\": \"fake-model\", \"query\": \"$Q\", \"batch\": 7")"
runn vscore 1 || bad "vllm_score failed: $(cat vscore-1.err)"
check "vllm_score: utility = score(query + text)" formula vscore-1.h5 vscore score "$CONTROL" "$Q"
textjob vclass "\"utility\": $(sc "$BASE/classify" ', "preset": "vllm_classify", "model": "fake-model"')"
runn vclass 1 || bad "vllm_classify failed: $(cat vclass-1.err)"
check "vllm_classify: utility = probs[1] (class default 1)" formula vclass-1.h5 vclass classify1 "$CONTROL"
textjob vclass0 "\"utility\": $(sc "$BASE/classify" ', "preset": "vllm_classify", "model": "fake-model", "class": 0, "batch": 64')"
runn vclass0 1 || bad "vllm_classify class 0 failed: $(cat vclass0-1.err)"
check "vllm_classify class 0: utility = probs[0]" formula vclass0-1.h5 vclass0 classify0 "$CONTROL"
textjob custom "\"utility\": $(sc "$BASE/score" ", \"preset\": \"custom\", \"batch\": 10,
    \"body\": {\"model\": \"fake-model\", \"text_1\": \"$Q\", \"text_2\": \"{{texts}}\", \"extra\": {\"keep\": [1, \"two\"]}},
    \"score_path\": \"data\", \"score_field\": \"score\", \"index_field\": \"index\"")"
runn custom 1 || bad "custom failed: $(cat custom-1.err)"
check "custom (vLLM /score by template): utility = score(query + text)" \
    formula custom-1.h5 custom score "$CONTROL" "$Q"
check "custom: the template's other members are sent as given" bash -c \
    "curl -s '$CONTROL/requests' | grep -q '\"extra\": {\"keep\": \\[1, \"two\"\\]}'"
textjob cost "\"utility\": {\"kind\": \"length\"}, \"cost\": $(sc "$BASE/get_reward" ', "preset": "openrlhf"')"
runn cost 1 || bad "http cost failed: $(cat cost-1.err)"
check "as a cost scorer: top/cost = the server's score" formula cost-1.h5 cost cost "$CONTROL"

# 3. Transient faults on the reward endpoint are retried; the record is as without them.
for kind in 500 malformed reset; do
    reset
    arm "$kind" 2 "" /get_reward
    sed 's/"name": "rlhf"/"name": "f'"$kind"'"/' rlhf.json > "f$kind.json"
    if runn "f$kind" 1; then
        check "fault $kind on /get_reward: served twice and retried" \
            test "$(stat "s['faults_served'].get('$kind')")" = 2
        check "fault $kind: the scores are exact all the same" \
            formula "f$kind-1.h5" "f$kind" openrlhf "$CONTROL"
    else
        bad "fault $kind: run failed: $(cat "f$kind-1.err")"
    fi
done

# 4. A request still failing after its retries: its samples are invalid (exactly one
#    request of 8 texts with retries 0 and one armed 503), with a warning.
textjob lost "\"invalid\": \"exclude\", \"utility\": $(sc "$BASE/get_reward" ', "preset": "openrlhf", "batch": 8, "concurrency": 1, "retries": 0')"
reset
arm 503 1 "" /get_reward
expect -l lost 0 "~utility: POST $BASE/get_reward: gave up on 8 samples" \
    qz_mpi 1 run lost.json -o lost.h5 --no-progress
check "lost request: 8 samples invalid" \
    test "$(attr lost.h5 lost invalid_samples)/$(attr lost.h5 lost valid_samples)" = 8/192

# 5. Other 4xx fail fast with the server's message; nothing is written.
reset
arm 400 1 "" /get_reward
start=$(date +%s)
expect -l rlhf 1 "~utility: POST $BASE/get_reward: HTTP 400: fake: bad request injected" \
    qz_mpi 1 run rlhf.json -o rlhf.h5 --no-progress
check "HTTP 400 from the scorer: at once, nothing written" \
    bash -c "test $(($(date +%s) - start)) -lt 10 && ! test -e rlhf.h5"

# 6. A scorer server that is down (refused on every retry) fails the run, naming the URL.
closed=$("$QZ_PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
textjob down "\"invalid\": \"exclude\", \"utility\": $(sc "http://127.0.0.1:$closed/get_reward" ', "preset": "openrlhf", "retries": 2')"
start=$(date +%s)
expect -l down 1 "~utility: POST http://127.0.0.1:$closed/get_reward: the server did not answer" \
    qz_mpi 2 run down.json -o down.h5 --no-progress
check "scorer server down: within 20 s, nothing written" \
    bash -c "test $(($(date +%s) - start)) -lt 20 && ! test -e down.h5"

# 7. Bad fields are job errors (exit 2) naming the field.
bad_field() { # bad_field WHAT FIELD SCORER-FIELDS [URL]
    textjob badf "\"utility\": {\"kind\": \"http\", \"url\": \"${4:-$BASE/get_reward}\" $3}"
    expect -d "job error: $1" -l badf 2 "/utility.$2" "$QZ_BIN" run badf.json -o badf.h5 --no-progress
}
bad_field "unknown field" colour ', "preset": "openrlhf", "colour": 1'
bad_field "preset required" preset ''
bad_field "query only for vllm_score" query ', "preset": "openrlhf", "query": "q"'
bad_field "model required by vllm_score" model ', "preset": "vllm_score", "query": "q"'
bad_field "custom without {{texts}}" body ', "preset": "custom", "body": {"a": "b"}, "score_path": "x"'
bad_field "placeholder inside other text" body ', "preset": "custom", "body": {"a": "x {{texts}}"}, "score_path": "x"'
bad_field "a bad score_path" score_path ', "preset": "custom", "body": {"a": "{{texts}}"}, "score_path": "a..b"'
bad_field "batch 0" batch ', "preset": "openrlhf", "batch": 0'
bad_field "class on a negative" class ', "preset": "vllm_classify", "model": "m", "class": -1'
bad_field "an ftp url" url ', "preset": "openrlhf"' ftp://127.0.0.1/get_reward

# 8. The scorer's API key is sent and never reaches the record, the logs or the server's log.
export QZ_TEST_SCORER_KEY="sk-scorer-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
textjob key "\"utility\": $(sc "$BASE/get_reward" ', "preset": "openrlhf", "api_key_env": "QZ_TEST_SCORER_KEY"')"
reset
expect -l key 0 '*' qz_mpi 2 run key.json -o key.h5 --no-progress
check "the reward server saw an Authorization header" test "$(stat 's["auth_seen"]')" = True
check "the API key is in no output file, log or dump" bash -c \
    "! grep -r -a -q \"\$QZ_TEST_SCORER_KEY\" key.h5 key.out key.err server.log && ! h5dump key.h5 | grep -q \"\$QZ_TEST_SCORER_KEY\""
unset QZ_TEST_SCORER_KEY
expect 2 "~utility.api_key_env" "$QZ_BIN" run key.json -o key2.h5
finish
