#!/usr/bin/env bash
# Many model servers (base_url lists, "{host}"), a server killed mid-run, outages
# (on_server_down wait / fail / checkpoint), and request counts against the test
# servers' own logs (tests/tools/fake_openai.py --log on 127.0.0.1).
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
unset SLURM_JOB_ID SLURMD_NODENAME # the defaults outside Slurm

# What differs by construction between runs against other servers: the job (its
# base_url) and the request description (the URL), the counts of attempts, and the
# per-server figures. Everything else must be identical.
IGNORE=(--ignore job --ignore generator_request --ignore requests --ignore retries
    --ignore generator_servers --ignore generator_server_requests
    --ignore generator_server_failures --ignore server_outages --ignore server_outage_seconds)

posts() { # posts LOG: the completions requests a server logged
    grep -c ' POST /v1/completions ' "$1"
}
free_port() {
    "$QZ_PYTHON" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}
gen() { # gen BASE_URL_JSON EXTRA: an openai generator object
    printf '{"kind": "openai", "base_url": %s, "model": "fake-model", "max_tokens": 8,
      "temperature": 0.9, "n": 4, "concurrency": 4, "timeout_seconds": 10,
      "backoff_seconds": 0.01, "backoff_max_seconds": 0.5, "prompt": "Write a good sentence:" %s}' "$1" "$2"
}
body() { # body GENERATOR: a job body of 1200 samples
    printf '"seed": 31, "q": 0.05, "samples": 1200, "chunk_size": 100, "generator": %s,
      "utility": {"kind": "regex", "pattern": "good|river"}, "cost": {"kind": "length"}' "$1"
}

# The reference: one undisturbed server.
start_fake ref
job ref "$(body "$(gen "\"$FAKE_URL\"" '')")"
runn ref 1 || bad "reference run failed: $(tail -5 ref-1.err)"

# 1. Three servers, one killed (SIGKILL) mid-run: the record equals the reference's;
#    each survivor's request count equals its own log; the killed one's is between its
#    log and its log plus the attempts that can have been in flight (2 ranks x 4).
for s in a b c; do
    start_fake "$s" --log "$QZ_TMP/$s.log"
    eval "URL_$s=\$FAKE_URL PID_$s=\${QZ_SERVER_PIDS[-1]}"
    arm slow -1 0.05 # every request takes 50 ms: the run lasts a few seconds
done
job multi "$(body "$(gen "[\"$URL_a\", \"$URL_b\", \"$URL_c\"]" '')")"
runn multi 2 &
run_pid=$!
if wait_until 60 bash -c "[ \$(grep -c ' POST ' b.log 2> /dev/null) -ge 15 ]"; then
    kill -KILL "$PID_b"
else
    bad "server b never got 15 requests"
fi
wait "$run_pid"
status=$?
if [ "$status" -ne 0 ]; then
    bad "3 servers, one killed: exit $status: $(tail -5 multi-2.err)"
else
    check "3 servers, b killed mid-run: the record equals the single-server run's" \
        h5same ref-1.h5 ref multi-2.h5 multi "${IGNORE[@]}"
    check "b was killed mid-run, so the run went on without it" bash -c \
        "[ $(posts b.log) -lt $(posts a.log) ] && [ $(posts b.log) -lt $(posts c.log) ]"
    check "per-server counts: the servers in order; a's and c's equal their logs; b's within its log + 8" \
        h5q assert multi-2.h5 runs/multi \
        "json.loads(a['generator_servers']) == ['$URL_a', '$URL_b', '$URL_c']" \
        "json.loads(a['generator_server_requests'])[0] == $(posts a.log)" \
        "json.loads(a['generator_server_requests'])[2] == $(posts c.log)" \
        "$(posts b.log) <= json.loads(a['generator_server_requests'])[1] <= $(posts b.log) + 8" \
        "json.loads(a['generator_server_failures'])[1] >= 1" \
        "json.loads(a['generator_server_failures'])[0] == json.loads(a['generator_server_failures'])[2] == 0" \
        "a['requests'] == sum(json.loads(a['generator_server_requests']))" \
        "a['failed_samples'] == 0 and a['server_outages'] == 0"
fi

# 2. "{host}": this machine's host name (it must resolve to 127.0.0.1, where the test
#    servers listen), and SLURMD_NODENAME when set.
host=$(hostname)
addr=$(getent ahostsv4 "$host" | awk 'NR == 1 {print $1}')
if [ "$addr" != 127.0.0.1 ]; then
    bad "this machine's host name '$host' resolves to '${addr:-nothing}', not 127.0.0.1: the {host} test needs /etc/hosts to map it to 127.0.0.1"
else
    port_a=${URL_a#http://127.0.0.1:}
    port_a=${port_a%/v1}
    curl -s -o /dev/null -X POST "http://127.0.0.1:$port_a/_control/reset"
    job host "$(body "$(gen '"http://{host}:'"$port_a"'/v1"' '')")"
    if runn host 2; then
        check "{host} is the host name; the record equals the reference's" bash -c \
            "$QZ_PYTHON $QZ_SOURCE/tests/tools/h5compare.py ref-1.h5 ref host-2.h5 host ${IGNORE[*]} &&
             $QZ_PYTHON $QZ_SOURCE/tests/tools/h5q.py assert host-2.h5 runs/host \
             \"json.loads(a['generator_servers']) == ['http://$host:$port_a/v1']\""
    else
        bad "{host} run failed: $(tail -5 host-2.err)"
    fi
fi
job node "$(body "$(gen '["http://{host}:'"$port_a"'/v1/", "http://localhost:'"$port_a"'/v1"]' '')")"
SLURMD_NODENAME=localhost runn node 1 || bad "SLURMD_NODENAME run failed: $(tail -5 node-1.err)"
check "{host} is SLURMD_NODENAME when set; a server listed twice is used once" \
    h5q assert node-1.h5 runs/node "json.loads(a['generator_servers']) == ['http://localhost:$port_a/v1']"

# 3. on_server_down "wait": the only server killed mid-run and started again on the same
#    port about 3 s later: the run waits (one line when the wait starts, one when the
#    server is back), and the record equals the reference's.
start_fake w --log "$QZ_TMP/w.log"
port_w=$FAKE_PORT pid_w=${QZ_SERVER_PIDS[-1]}
arm slow -1 0.05
job wait "$(body "$(gen "\"$FAKE_URL\"" ', "on_server_down": "wait", "server_down_wait_seconds": 60')")"
runn wait 2 &
run_pid=$!
wait_until 60 bash -c "[ \$(grep -c ' POST ' w.log 2> /dev/null) -ge 20 ]" || bad "server w never got 20 requests"
kill -KILL "$pid_w"
sleep 3
start_fake w2 --port "$port_w" --log "$QZ_TMP/w2.log"
wait "$run_pid"
status=$?
if [ "$status" -ne 0 ]; then
    bad "on_server_down wait: exit $status: $(tail -5 wait-2.err)"
else
    check "wait: the record equals the reference's, one outage per rank at most, seconds waited" \
        bash -c "$QZ_PYTHON $QZ_SOURCE/tests/tools/h5compare.py ref-1.h5 ref wait-2.h5 wait ${IGNORE[*]} &&
          $QZ_PYTHON $QZ_SOURCE/tests/tools/h5q.py assert wait-2.h5 runs/wait \
          \"1 <= a['server_outages'] <= 2\" \"a['server_outage_seconds'] >= 1\" \"a['failed_samples'] == 0\""
    check "wait: a line when the wait starts, and one when the server is back" bash -c \
        "grep -q '^quantilize: rank [0-9]*: generator: every server is down (http://127.0.0.1:$port_w/v1); waiting up to 60 s for one to come back (the last failure: connect: ' wait-2.err &&
         grep -qx 'quantilize: rank [0-9]*: generator: a server is back after [0-9.]* s; going on' wait-2.err"
fi

# 4. on_server_down "fail" (the default outside Slurm): exit 1 naming the server and the
#    last failure, nothing written; a short "wait" ends the same way.
closed=$(free_port)
job down "$(body "$(gen "[\"http://127.0.0.1:$closed/v1\"]" ', "probe": false')")"
expect 1 "~generator: every server is down (http://127.0.0.1:$closed/v1); the last failure: connect: Failed to connect to 127.0.0.1 port $closed" \
    "$QZ_BIN" run down.json -o down.h5 --no-progress
check "fail: no record" test ! -e down.h5
job downw "$(body "$(gen "[\"http://127.0.0.1:$closed/v1\"]" ', "probe": false, "on_server_down": "wait", "server_down_wait_seconds": 1')")"
expect 1 "~generator: every server is down after waiting 1 s (http://127.0.0.1:$closed/v1); the last failure: connect: " \
    "$QZ_BIN" run downw.json -o downw.h5 --no-progress
job downp "$(body "$(gen "[\"http://127.0.0.1:$closed/v1\", \"http://127.0.0.1:$closed/x\"]" '')")"
expect 1 "~base_url: cannot reach http://127.0.0.1:$closed/v1/models: " \
    "$QZ_BIN" run downp.json -o downp.h5 --no-progress
check "probe: each server's failure is named" grep -q "; http://127.0.0.1:$closed/x/models: " expect.err

# 5. on_server_down "checkpoint" (the default under Slurm): the server killed mid-run:
#    exit 75 with a checkpoint; run again with the server back: the reference's record.
start_fake k --log "$QZ_TMP/k.log"
port_k=$FAKE_PORT pid_k=${QZ_SERVER_PIDS[-1]}
arm slow -1 0.05
job ckpt "$(body "$(gen "\"$FAKE_URL\"" '')")"
SLURM_JOB_ID=1 runn ckpt 2 &
run_pid=$!
wait_until 60 bash -c "[ \$(grep -c ' POST ' k.log 2> /dev/null) -ge 20 ]" || bad "server k never got 20 requests"
kill -KILL "$pid_k"
wait "$run_pid"
status=$?
check "checkpoint: exit 75, naming the server" bash -c \
    "[ $status -eq 75 ] && grep -q 'generator: every server is down (http://127.0.0.1:$port_k/v1); the last failure: ' ckpt-2.err"
check "checkpoint: a checkpoint was written, no record" bash -c "test -e ckpt-2.h5.ckpt.ckpt && test ! -e ckpt-2.h5"
url_k=$FAKE_URL
start_fake k2 --port "$port_k" --log "$QZ_TMP/k2.log"
if SLURM_JOB_ID=1 runn ckpt 2; then
    check "checkpoint: resumed with the server back, the record equals the reference's" \
        h5same_resumed ref-1.h5 ref ckpt-2.h5 ckpt "${IGNORE[@]}"
    # Both sessions' counts (the checkpoint carries the first's): the server's two
    # logs (which name a request once answered), plus what the first server never
    # answered: what was in flight when it was killed (2 ranks x 4 slots) and each
    # slot's next attempt, sent on a kept-alive connection that died with the server
    # (2 x 4 more); and the outage.
    check "checkpoint: per-server counts and outages cover both sessions" \
        h5q assert ckpt-2.h5 runs/ckpt \
        "json.loads(a['generator_servers']) == ['$url_k']" \
        "json.loads(a['generator_server_requests']) == [a['requests']]" \
        "$(($(posts k.log) + $(posts k2.log))) <= a['requests'] <= $(($(posts k.log) + $(posts k2.log) + 16))" \
        "json.loads(a['generator_server_failures'])[0] >= 1" "a['server_outages'] >= 1" \
        "a['resumes'] == 1"
else
    bad "checkpoint: the run again failed: $(tail -5 ckpt-2.err)"
fi

# 6. Honest request counts: 500 x 3 then 6 connection resets on kept-alive connections
#    (libcurl re-sends some by itself): `requests` equals what the server logged.
start_fake r --log "$QZ_TMP/r.log"
job resets "\"seed\": 9, \"q\": 0.1, \"samples\": 200, \"generator\": $(gen "\"$FAKE_URL\"" ', "retries": 8'),
  \"utility\": {\"kind\": \"length\"}"
arm 500 3
arm reset 6
if runn resets 1; then
    check "requests == the server's log ($(posts r.log) POSTs, 3 x 500, 6 resets)" \
        h5q assert resets-1.h5 runs/resets "a['requests'] == $(posts r.log)" \
        "a['requests'] == 50 + 3 + 6" "3 <= a['retries'] <= 9" "a['valid_samples'] == 200" \
        "json.loads(a['generator_server_requests']) == [a['requests']]"
else
    bad "resets run failed: $(tail -5 resets-1.err)"
fi

# 6b. A slow answer is not a dead server: 4 timeouts at once (on kept-alive connections)
#     are retried, no outage.
start_fake slow
job slow "\"seed\": 9, \"q\": 0.1, \"samples\": 200, \"generator\": {\"kind\": \"openai\",
  \"base_url\": \"$FAKE_URL\", \"model\": \"m\", \"prompt\": \"p\", \"n\": 4, \"concurrency\": 4,
  \"timeout_seconds\": 1, \"backoff_seconds\": 0.01}, \"utility\": {\"kind\": \"length\"}"
arm slow 4 3
if runn slow 1; then
    check "4 timeouts: retried, no outage, every sample valid" h5q assert slow-1.h5 runs/slow \
        "a['retries'] >= 4" "a['server_outages'] == 0" "a['valid_samples'] == 200"
else
    bad "a slow server made an outage: $(tail -5 slow-1.err)"
fi

# 7. Job validation: base_url lists, no user name or password in a URL (never shown).
job v1 "$(body "$(gen '[]' '')")"
expect 2 "~generator.base_url: must list 1 to 64 URLs, got 0" "$QZ_BIN" run v1.json -o v.h5
job v2 "$(body "$(gen "[\"$URL_a\", 7]" '')")"
expect 2 "~generator.base_url[1]: must be a URL such as" "$QZ_BIN" run v2.json -o v.h5
job v3 "$(body "$(gen '["http://user:s3cr3tpw@127.0.0.1:1/v1"]' '')")"
expect 2 "~generator.base_url[0]: must not hold a user name or password" "$QZ_BIN" run v3.json -o v.h5
check "the password is not shown" bash -c "! grep -q s3cr3tpw expect.err expect.out"
job v4 "$(body "$(gen '"http://127.0.0.1:1/v1"' ', "on_server_down": "later"')")"
expect 2 "~generator.on_server_down" "$QZ_BIN" run v4.json -o v.h5
list=$(for i in $(seq 65); do printf '"http://127.0.0.1:%d/v1",' "$((20000 + i))"; done)
job v5 "$(body "$(gen "[${list%,}]" '')")"
expect 2 "~generator.base_url: must list 1 to 64 URLs, got 65" "$QZ_BIN" run v5.json -o v.h5

# 8. The API key reaches no output, log or record, with several servers, one of them
#    down (failures and re-routing in the messages).
export QZ_TEST_API_KEY="sk-test-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
start_fake key --log "$QZ_TMP/key.log"
job key "$(body "$(gen "[\"http://127.0.0.1:$closed/v1\", \"$FAKE_URL\"]" ', "api_key_env": "QZ_TEST_API_KEY"')")"
if runn key 2; then
    check "the API key is in no output file, log or dump" bash -c \
        "! grep -r -a -q \"\$QZ_TEST_API_KEY\" key-2.h5 key-2.out key-2.err key.log && ! h5dump key-2.h5 | grep -q \"\$QZ_TEST_API_KEY\""
    check "the server down was set aside, its attempts re-routed" h5q assert key-2.h5 runs/key \
        "json.loads(a['generator_server_failures'])[0] >= 3" \
        "json.loads(a['generator_server_requests'])[0] == 0" "a['valid_samples'] == 1200"
else
    bad "key run failed: $(tail -5 key-2.err)"
fi
unset QZ_TEST_API_KEY
finish
