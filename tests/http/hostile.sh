#!/usr/bin/env bash
# quantilize against hostile servers and programs (tests/tools/hostile_server.py on
# 127.0.0.1, tiny inline exec programs): invalid UTF-8 is stored repaired and counted;
# control characters never reach the terminal raw; answers and exec lines are capped
# (a 300 MB body and a gzip bomb leave peak memory bounded); an echoed API key never
# reaches stderr or the record; a key pasted into api_key_env is refused unshown.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
"$QZ_PYTHON" "$QZ_SOURCE/tests/tools/hostile_server.py" --port-file "$QZ_TMP/hostile.port" \
    --seconds-limit 600 &
QZ_SERVER_PIDS+=($!)
wait_until 60 test -s "$QZ_TMP/hostile.port"
BASE="http://127.0.0.1:$(cat "$QZ_TMP/hostile.port")"
KEY=sk-hostile-SECRET-0123456789
export QZ_HOSTILE_KEY=$KEY
ESC=$(printf '\033')

gen() { # gen MODE EXTRA: an openai generator on the hostile server
    printf '{"kind": "openai", "base_url": "%s/%s/v1", "model": "m", "prompt": "p",
      "max_tokens": 4, "n": 4, "probe": false, "timeout_seconds": 60, "retries": 2,
      "backoff_seconds": 0.01, "backoff_max_seconds": 0.1 %s}' "$BASE" "$1" "$2"
}
no_esc() { ! grep -q "$ESC" "$@"; }

# 1. Invalid UTF-8 from a server: stored as U+FFFD, counted, inspect --json is JSON.
job bad "\"seed\": 1, \"q\": 0.25, \"samples\": 16, \"generator\": $(gen badutf8 ''),
  \"utility\": {\"kind\": \"length\"}"
expect -l bad 0 '*' "$QZ_BIN" run bad.json -o bad.h5 --no-progress
check "invalid UTF-8: every text repaired (U+FFFD) and counted" \
    h5q assert bad.h5 runs/bad "a['utf8_repaired_samples'] == 16" \
    "all(t == 'ok \ufffd and \ufffd( end' for t in v('top/payload'))"
check "inspect --json of it is valid JSON" bash -c \
    "'$QZ_BIN' inspect bad.h5 --json > bad.json.out && '$QZ_PYTHON' -c 'import json,sys; json.load(open(sys.argv[1], encoding=\"utf-8\"))' bad.json.out"

# 2. Control characters in texts: the run summary and inspect escape them.
job ctl "\"seed\": 1, \"q\": 0.25, \"samples\": 8, \"generator\": $(gen control ''),
  \"utility\": {\"kind\": \"length\"}"
expect -l ctl 0 '*' "$QZ_BIN" run ctl.json -o ctl.h5 --no-progress
check "run summary: no raw ESC, escapes shown" bash -c \
    "! grep -q '$ESC' ctl.out && grep -qF 'red \\x1b[31mRED\\x1b[0m \\x1b]0;title\\x07 csi \\u009b2J end' ctl.out"
"$QZ_BIN" inspect ctl.h5 > ctl.inspect 2>&1
check "inspect: no raw ESC, escapes shown" bash -c \
    "! grep -q '$ESC' ctl.inspect && grep -qF '\\x1b[31mRED' ctl.inspect"
check "the record keeps the text exactly" \
    h5q assert ctl.h5 runs/ctl "v('selected/payload') == 'red \x1b[31mRED\x1b[0m \x1b]0;title\x07 csi \u009b2J end'" \
    "a['utf8_repaired_samples'] == 0"

# 3. A server's error message with control characters: escaped in the message.
job c400 "\"seed\": 1, \"q\": 0.25, \"samples\": 8, \"generator\": $(gen ctl400 ''),
  \"utility\": {\"kind\": \"length\"}"
expect -l c400 1 '~HTTP 400: bad \x1b[2J\x1b[31mrequest\x1b[0m here' "$QZ_BIN" run c400.json -o c400.h5 --no-progress
check "the 400 message reached stderr without a raw ESC" no_esc c400.err

# 4. Answers over max_response_bytes: a 300 MB body and a gzip bomb (1 GiB inflated).
#    Odd requests are hostile, even ones normal (concurrency 1): half the samples are
#    invalid, the hostile requests are not retried, and peak memory stays bounded.
for mode in huge bomb; do
    job "$mode" "\"seed\": 1, \"q\": 0.25, \"samples\": 16, \"invalid\": \"exclude\",
      \"generator\": $(gen $mode ', "concurrency": 1'), \"utility\": {\"kind\": \"length\"}"
    /usr/bin/time -v -o "$mode.time" timeout 120 "$QZ_BIN" run "$mode.json" -o "$mode.h5" \
        --no-progress > "$mode.out" 2> "$mode.err"
    check "$mode: the run ends, half the samples failed, none retried" \
        h5q assert "$mode.h5" "runs/$mode" "a['valid_samples'] == 8" "a['failed_samples'] == 8" \
        "a['retries'] == 0"
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$mode.time")
    check "$mode: peak memory ${rss} KiB < 200 MB" test "${rss:-999999999}" -lt 200000
done
job cap "\"seed\": 1, \"q\": 0.25, \"samples\": 8, \"invalid\": \"exclude\",
  \"generator\": $(gen huge ', "concurrency": 1, "max_response_bytes": 4096'), \"utility\": {\"kind\": \"length\"}"
expect -l cap 0 '*' "$QZ_BIN" run cap.json -o cap.h5 --no-progress
check "max_response_bytes from the job: 4096 still holds a normal answer" \
    h5q assert cap.h5 runs/cap "a['valid_samples'] == 4"

# 5. A 401 whose body echoes the Authorization header: the key never shows.
job e401 "\"seed\": 1, \"q\": 0.25, \"samples\": 8,
  \"generator\": $(gen echo401 ', "api_key_env": "QZ_HOSTILE_KEY"'), \"utility\": {\"kind\": \"length\"}"
expect -l e401 1 '~HTTP 401: invalid credentials: Bearer [hidden]' "$QZ_BIN" run e401.json -o e401.h5 --no-progress
check "echoed key: not on stderr or stdout, no record" bash -c \
    "! grep -qF '$KEY' e401.err e401.out && test ! -e e401.h5"

# 6. A key pasted into api_key_env is refused without being shown.
job pasted "\"seed\": 1, \"q\": 0.25, \"samples\": 8,
  \"generator\": $(gen badutf8 ", \"api_key_env\": \"$KEY\""), \"utility\": {\"kind\": \"length\"}"
expect -l pasted 2 '~generator.api_key_env: must be the name of an environment variable' \
    "$QZ_BIN" run pasted.json -o pasted.h5 --no-progress
check "pasted key: not shown" bash -c "! grep -qF '$KEY' pasted.err pasted.out"

# 7. An exec program: invalid UTF-8 in a text, a line over max_response_bytes.
cat > prog.py << 'PY'
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    for i in range(r["first"], r["first"] + r["count"]):
        if i % 4 == 1:
            out = json.dumps({"index": i, "text": "x" * 5000}).encode()
        else:
            out = json.dumps({"index": i, "text": "t%d BAD \u001b[1m" % i}).encode()
            out = out.replace(b"BAD", b"\xfe\xff")
        sys.stdout.buffer.write(out + b"\n")
    sys.stdout.flush()
PY
job ex "\"seed\": 1, \"q\": 0.25, \"samples\": 16, \"invalid\": \"exclude\",
  \"generator\": {\"kind\": \"exec\", \"command\": [\"$QZ_PYTHON\", \"prog.py\"], \"max_response_bytes\": 1000},
  \"utility\": {\"kind\": \"length\"}"
expect -l ex 0 '*' "$QZ_BIN" run ex.json -o ex.h5 --no-progress
check "exec: long lines dropped (samples invalid), invalid UTF-8 repaired and counted" \
    h5q assert ex.h5 runs/ex "a['valid_samples'] == 12" "a['failed_samples'] == 4" \
    "a['utf8_repaired_samples'] == 12" \
    "all(t.endswith(' \ufffd\ufffd \x1b[1m') for t in v('top/payload'))"
check "exec: the summary escapes the program's ESC" bash -c "! grep -q '$ESC' ex.out && grep -qF '\\x1b[1m' ex.out"

# 8. The count survives a checkpoint: stopped (SIGUSR1) and resumed, the record is the
#    uninterrupted one, utf8_repaired_samples included.
cat > slow.py << 'PY'
import json, sys, time
for line in sys.stdin:
    r = json.loads(line)
    time.sleep(0.05)
    for i in range(r["first"], r["first"] + r["count"]):
        out = json.dumps({"index": i, "text": "t%d BAD" % i}).encode()
        if i % 3 == 0:
            out = out.replace(b"BAD", b"\xff")
        sys.stdout.buffer.write(out + b"\n")
    sys.stdout.flush()
PY
job slow "\"seed\": 1, \"q\": 0.25, \"samples\": 600, \"chunk_size\": 10,
  \"checkpoint\": {\"every_seconds\": 0.3},
  \"generator\": {\"kind\": \"exec\", \"command\": [\"$QZ_PYTHON\", \"slow.py\"]},
  \"utility\": {\"kind\": \"length\"}"
expect -l slowref 0 '*' "$QZ_BIN" run slow.json -o slowref.h5 --no-progress
"$QZ_BIN" run slow.json -o slow.h5 --no-progress > slow1.out 2> slow1.err &
pid=$!
wait_until 60 test -e slow.h5.slow.ckpt || bad "no checkpoint within 60 s"
kill -USR1 "$pid"
wait "$pid"
check "stopped with a checkpoint (status 75)" test "$?" -eq 75
expect -l slow2 0 '*' "$QZ_BIN" run slow.json -o slow.h5 --no-progress
# (the program calls of an interval the stop rolled back are counted: they were made)
check "resumed: the same record, the count included" h5same slowref.h5 slow slow.h5 slow \
    --ignore requests
check "the count: every third text of 600" h5q assert slow.h5 runs/slow "a['utf8_repaired_samples'] == 200" "a['resumes'] == 1"
finish
