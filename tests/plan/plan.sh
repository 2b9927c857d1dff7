#!/usr/bin/env bash
# quantilize plan: its time estimate (--calibrate 2) and its request estimate are within
# 30% of what the run then records, for a built-in job and for a job on the test server
# (tests/tools/fake_openai.py --rate, slow and steady); --json is one object with the
# documented keys; --price is the hand-computed cost; plan writes no file.
# Margins: 30% (the brief's), the run's drawing time (draw_seconds) against plan's
# "seconds"; on a loaded machine both slow alike, as both are measured then.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# within A B: |A - B| <= 0.3 B
within() {
    "$QZ_PYTHON" -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if abs(a - b) <= 0.3 * b else 1)" "$1" "$2"
}
# within_either A1 A2 B: within A1 B, or within A2 B
within_either() { within "$1" "$3" || within "$2" "$3"; }
# key FILE NAME: the value of NAME in plan's JSON object in FILE
key() {
    "$QZ_PYTHON" -c "import sys, json; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

# 1. A built-in job, several seconds on one rank (the sanitizer build, 30x slower, sets
#    QZ_PLAN_SAMPLES lower).
BIGN=${QZ_PLAN_SAMPLES:-3000000000}
job big "\"seed\": 1, \"q\": [1e-6, 1e-5], \"samples\": $BIGN, \"generator\": {\"kind\": \"normal\"},
  \"checkpoint\": {\"every_seconds\": 0}"
expect -d "plan big --calibrate 2 --json: exit 0" -l plan1 0 "" qz_mpi 1 plan big.json --calibrate 2 --json
check "plan wrote no record and no checkpoint" bash -c '! ls big.h5* > /dev/null 2>&1'
check "--json: one JSON object with every documented key" "$QZ_PYTHON" - plan1.out "$BIGN" << 'PY'
import math, sys, json
lines = open(sys.argv[1]).read().splitlines()
n = int(sys.argv[2])
o = json.loads(lines[0])
keys = {"name", "ranks", "samples", "tasks", "chunk_size", "chunks", "q", "k", "k_max",
        "topset_bytes_per_rank", "root_merge_bytes", "archive_bytes", "archive_plus_texts",
        "requests", "prompt_tokens", "prompt_tokens_measured", "completion_tokens_max",
        "completion_tokens", "rate", "calibration_ranks", "seconds", "slurm_time_seconds",
        "slurm_ranks", "cost_max", "cost"}
# K = ceil(q N) (3000 and 30000 for the default N); the buffer 24 B x (K + max(K/8, 4096))
k = [math.ceil(1e-6 * n - 1e-9), math.ceil(1e-5 * n - 1e-9)]
ok = (len(lines) == 1 and set(o) == keys and o["samples"] == n and o["k"] == k
      and o["k_max"] == k[1] and o["chunks"] == -(-n // o["chunk_size"])
      and o["topset_bytes_per_rank"] == 24 * min(k[1] + max(k[1] // 8, 4096), n)
      and o["requests"] is None
      and o["seconds"] > 0 and o["slurm_time_seconds"] >= 1.5 * o["seconds"] + 300)
sys.exit(0 if ok else 1)
PY
# The built-in generator runs at the machine's limit, and on a shared 2-core machine
# that limit drifts: five invocations within a minute calibrated 520-618 M samples/s
# and the run then drew 547 M/s; once, in CI, plan said 7.2 s and the run took 4.7 s.
# So the run is bracketed: plan calibrates again right after it, and the run's time
# must be within 30% of the estimate made next to it, before or after.
if runn big 1; then
    est=$(key plan1.out seconds)
    got=$(attr big-1.h5 big draw_seconds)
    qz_mpi 1 plan big.json --calibrate 2 --json > plan1b.out 2> plan1b.err ||
        bad "plan big --calibrate 2 after the run failed: $(tail -3 plan1b.err)"
    est2=$(key plan1b.out seconds)
    check "big: plan's time $est s (before the run) or $est2 s (after) within 30% of the run's drawing time $got s" \
        within_either "$est" "$est2" "$got"
else
    bad "the big run failed: $(tail -3 big-1.err)"
fi
expect -d "plan without --calibrate: the time is unknown" -l plan2 0 "" qz_mpi 1 plan big.json
check "plan without --calibrate says the time is unknown" grep -qx '  time: unknown (measure it with --calibrate SECONDS)' plan2.out

# 2. A job on the test server at 200 choices a second: about 8 s.
start_fake slow --rate 200
job srv "\"seed\": 2, \"q\": 0.01, \"samples\": 1600,
  \"generator\": {\"kind\": \"openai\", \"base_url\": \"$FAKE_URL\", \"model\": \"m\",
    \"prompt\": \"one two three four five six seven eight\", \"max_tokens\": 10, \"n\": 4,
    \"price\": {\"prompt\": 0.25, \"completion\": 3}},
  \"utility\": {\"kind\": \"length\"}"
expect -d "plan srv --calibrate 2 --price 0.5,2 --json: exit 0" -l plan3 0 "" \
    qz_mpi 1 plan srv.json --calibrate 2 --price 0.5,2 --json
check "plan wrote no record" test ! -e srv.h5
if runn srv 1; then
    est=$(key plan3.out seconds)
    got=$(attr srv-1.h5 srv draw_seconds)
    check "srv: plan's time $est s within 30% of the run's $got s" within "$est" "$got"
    est=$(key plan3.out requests)
    got=$(attr srv-1.h5 srv requests)
    check "srv: plan's $est requests within 30% of the run's $got" within "$est" "$got"
    # by hand: 1600 samples, n = 4 => 400 requests; prompt 8 words a request (the test
    # server counts words) => 3200 prompt tokens; completion at most 10 x 1600 = 16000;
    # at 0.5 and 2 per 1k tokens: 3200/1000*0.5 + 16000/1000*2 = 1.6 + 32 = 33.6
    check "srv: the cost at most is 33.6 (hand computed), prompt tokens measured 3200" \
        "$QZ_PYTHON" -c "import json, sys; o = json.load(open('plan3.out'))
sys.exit(0 if abs(o['cost_max'] - 33.6) < 1e-9 and o['prompt_tokens'] == 3200 and o['prompt_tokens_measured'] and o['completion_tokens_max'] == 16000 else 1)"
    # the run's own cost at the job's price, from the tokens it recorded
    check "srv: the record's token_cost is prompt/1000 x 0.25 + completion/1000 x 3" \
        h5q assert srv-1.h5 runs/srv "a['prompt_tokens'] == 3200" "a['completion_tokens'] > 0" \
        "a['price_prompt'] == 0.25 and a['price_completion'] == 3" \
        "abs(a['token_cost'] - (a['prompt_tokens'] / 1000 * 0.25 + a['completion_tokens'] / 1000 * 3)) < 1e-12"
else
    bad "the srv run failed: $(tail -3 srv-1.err)"
fi
# 3. A job with tasks: --calibrate draws on the first task (its own prompt and seed),
#    the estimates cover every task. Three tasks of 320 samples at 200 choices a
#    second: about 5 s of drawing. Prompts of 2, 8 and 14 words (the test server counts
#    words): the measured prompt tokens of the first task are scaled to the others by
#    their sizes, so the total must come within 30% of what the run records.
printf '%s\n' '{"id": "a", "prompt": "rivers run"}' \
    '{"id": "b", "prompt": "one two three four five six seven eight"}' \
    '{"id": "c", "prompt": "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"}' \
    > tq.jsonl
job tq "\"seed\": 3, \"q\": 0.05, \"samples\": 320, \"tasks\": \"tq.jsonl\",
  \"generator\": {\"kind\": \"openai\", \"base_url\": \"$FAKE_URL\", \"model\": \"m\",
    \"prompt\": \"unused\", \"max_tokens\": 10, \"n\": 4},
  \"utility\": {\"kind\": \"length\"}"
expect -d "plan tq --calibrate 1 --json (a job with tasks): exit 0" -l plan6 0 "" \
    qz_mpi 1 plan tq.json --calibrate 1 --json
check "plan of the tasks job wrote no record" test ! -e tq.h5
check "plan counts 3 tasks, 240 requests (3 x 320 / 4), a measured rate" "$QZ_PYTHON" -c "import json, sys
o = json.load(open('plan6.out'))
print(o['tasks'], o['requests'], o['rate'], o['prompt_tokens'], o['prompt_tokens_measured'])
sys.exit(0 if o['tasks'] == 3 and o['requests'] == 240 and o['rate'] > 0 and o['prompt_tokens_measured'] else 1)"
if runn tq 1; then
    # the run's drawing time and prompt tokens: the sums over its task runs
    sums=$("$QZ_PYTHON" -c "import h5py
f = h5py.File('tq-1.h5', 'r')
t = f['runs/tq/tasks']
print(sum(t[i].attrs['draw_seconds'] for i in t), sum(int(t[i].attrs['prompt_tokens']) for i in t), sum(int(t[i].attrs['requests']) for i in t))")
    read -r got_s got_p got_r <<< "$sums"
    est=$(key plan6.out seconds)
    check "tq: plan's time $est s within 30% of the tasks' $got_s s" within "$est" "$got_s"
    est=$(key plan6.out prompt_tokens)
    check "tq: plan's $est prompt tokens within 30% of the tasks' $got_p (80 x 2 + 80 x 8 + 80 x 14 = 1920)" \
        within "$est" "$got_p"
    est=$(key plan6.out requests)
    check "tq: plan's $est requests within 30% of the tasks' $got_r" within "$est" "$got_r"
else
    bad "the tq run failed: $(tail -3 tq-1.err)"
fi
# uncalibrated, prompt tokens at 4 bytes a token: 400 requests x ceil(39 / 4) = 4000;
# at most 4000/1000 x 0.25 + 16000/1000 x 3 = 1 + 48 = 49
expect -d "plan without --price uses the job's price" \
    -l plan5 0 "" qz_mpi 1 plan srv.json --json
check "plan's cost_max at the job's price is 49, from 4000 estimated prompt tokens" "$QZ_PYTHON" -c "import json, sys; o = json.load(open('plan5.out'))
sys.exit(0 if abs(o['cost_max'] - 49) < 1e-9 and o['prompt_tokens'] == 4000 and not o['prompt_tokens_measured'] else 1)"
job badprice "\"seed\": 2, \"q\": 0.01, \"samples\": 16,
  \"generator\": {\"kind\": \"openai\", \"base_url\": \"$FAKE_URL\", \"model\": \"m\", \"prompt\": \"p\",
    \"price\": {\"prompt\": -1, \"completion\": 3}}"
expect -l badprice 2 "~quantilize: badprice.json: generator.price.prompt: " "$QZ_BIN" run badprice.json -o badprice.h5 --no-progress
expect -l plan4 2 "quantilize: plan: --price: must be IN,OUT (prices per 1000 prompt and completion tokens, at least 0), got \"1\"" \
    "$QZ_BIN" plan srv.json --price 1
finish
