#!/usr/bin/env bash
# quantilize export: JSON Lines read back with Python's json — completions and chat
# shapes against the fake model server, a tasks job (every task, with its id), numeric
# runs, the §2 weights (--what top sums to 1 and matches 1/m and the boundary's share),
# --what all streamed from a 10^7-sample archive with bounded memory, and bad inputs
# (exit 2, one message, nothing written).
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
start_fake main

gen() { # gen EXTRA: an openai generator object on the fake server
    printf '{"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": 12,
      "n": 4, "timeout_seconds": 5 %s}' "$FAKE_URL" "$1"
}

# verify FILE.h5 RUN OUT.jsonl WHAT SHAPE: the lines of OUT.jsonl against the record.
verify() {
    "$QZ_PYTHON" - "$@" <<'PY'
import json, math, sys
import h5py, numpy as np
path, run, out, what, shape = sys.argv[1:]
f = h5py.File(path, "r")
raw = open(out, "rb").read()
lines = [json.loads(l) for l in raw.decode("utf-8").splitlines()]
names = [run] if "samples" in f["runs/" + run].attrs else \
    [run + "/tasks/" + t for t in sorted(f["runs/" + run + "/tasks"])] \
    if "tasks" in f["runs/" + run] else [run]
by_task = {}
for l in lines:
    by_task.setdefault(l.get("task"), []).append(l)
assert len(by_task) == len(names), (list(by_task), names)

def text(v):
    return v.decode("utf-8") if isinstance(v, bytes) else v

def completion(l):
    if shape == "chat":
        m = l["messages"]
        assert m[-1]["role"] == "assistant" and len(m) >= 2, m
        return m[-1]["content"]
    if shape == "completions":
        assert set(l) >= {"prompt", "completion"}, l
        return l["completion"]
    return None

for name in names:
    g = f["runs/" + name]
    a = g.attrs
    task = name.split("/tasks/")[1] if "/tasks/" in name else None
    got = by_task[task]
    m, K = float(a["mass"]), int(a["top_count"])
    wts = np.full(K, 1 / m)
    wts[K - 1] = (m - (K - 1)) / m
    if shape != "numeric":
        req = json.loads(a["generator_request"])["body"]
        for l in got:
            if shape == "chat":
                assert l["messages"][:-1] == req["messages"], (l["messages"], req)
            else:
                assert l["prompt"] == req["prompt"], (l["prompt"], req)
    for l in got:
        assert l["q"] == a["q"]
    if what == "selected":
        s = g["selected"].attrs
        assert len(got) == 1
        l = got[0]
        assert l["index"] == s["index"] and l["utility"] == s["utility"]
        assert l["weight"] == wts[int(s["position"])]
        p = g["selected/payload"][()]
        if shape == "numeric":
            assert l["value"] == float(np.ravel(p)[0]), (l["value"], p)
        else:
            assert completion(l) == text(p)
    elif what == "top":
        assert [l["index"] for l in got] == list(g["top/index"][:])
        assert [l["utility"] for l in got] == list(g["top/utility"][:])
        if "top/cost" in g:
            assert [l["cost"] for l in got] == list(g["top/cost"][:])
        w = [l["weight"] for l in got]
        assert abs(math.fsum(w) - 1) < 1e-12, math.fsum(w)
        assert w == list(wts), (w[-3:], wts[-3:])
        if shape == "numeric" and "samples/value" in g:
            v = g["samples/value"]
            assert [l["value"] for l in got] == [float(v[i]) for i in g["top/index"][:]]
        elif shape == "numeric":
            assert [l["value"] for l in got] == list(g["top/utility"][:])
        if shape != "numeric":
            assert [completion(l) for l in got] == [text(t) for t in g["top/payload"][:]]
    else:
        n = len(g["samples/utility"])
        assert [l["index"] for l in got] == list(range(n))
        u = g["samples/utility"][:]
        assert [l["utility"] for l in got] == list(u)
        top = {int(i): wts[p] for p, i in enumerate(g["top/index"][:])}
        assert [l["weight"] for l in got] == [top.get(i, 0.0) for i in range(n)]
        if shape == "numeric":
            assert [l["value"] for l in got] == list(g["samples/value"][:])
        else:
            b, off, ln = g["samples/payload_bytes"][:], g["samples/payload_offset"][:], \
                g["samples/payload_length"][:]
            assert [completion(l) for l in got] == \
                [bytes(b[o:o + k]).decode() for o, k in zip(off, ln)]
print(f"{len(lines)} lines of {len(names)} run(s) agree with the record")
PY
}

# 1. Completions, with a cost and an "all" archive: every --what.
job comp "\"seed\": 7, \"q\": 0.1, \"samples\": 83, \"chunk_size\": 20,
  \"generator\": $(gen ', "prompt": "Write a good sentence:"'),
  \"utility\": {\"kind\": \"regex\", \"pattern\": \"good|sea\"}, \"cost\": {\"kind\": \"length\"},
  \"output\": {\"archive\": \"all\"}"
runn comp 2 || bad "comp run failed: $(cat comp-2.err)"
for what in selected top all; do
    check "completions --what $what: quantilize export exits 0" \
        "$QZ_BIN" export comp-2.h5 --run comp --what "$what" -o comp-$what.jsonl
    check "completions --what $what: lines agree with the record" \
        verify comp-2.h5 comp comp-$what.jsonl "$what" completions
done
check "completions: -o and stdout give the same bytes" bash -c \
    "'$QZ_BIN' export comp-2.h5 --run comp --what top | cmp - comp-top.jsonl"
check "--what selected is the default" bash -c \
    "'$QZ_BIN' export comp-2.h5 --run comp | cmp - comp-selected.jsonl"
check "no temporary file is left beside the output" bash -c "! ls | grep -q 'jsonl\.tmp'"

# 2. Chat: messages ending in the assistant's text; on 3 ranks the export is the same.
job chat "\"seed\": 8, \"q\": 0.2, \"samples\": 31,
  \"generator\": $(gen ', "endpoint": "chat", "messages": [{"role": "system", "content": "Be \"brief\".\n\t\u001b"}, {"role": "user", "content": "Say something good."}]'),
  \"utility\": {\"kind\": \"length\"}"
runn chat 1 || bad "chat run failed: $(cat chat-1.err)"
for what in selected top; do
    check "chat --what $what" "$QZ_BIN" export chat-1.h5 --run chat --what "$what" -o chat-$what.jsonl
    check "chat --what $what: lines agree with the record" \
        verify chat-1.h5 chat chat-$what.jsonl "$what" chat
done
check "chat under mpirun -n 3: the same lines, written once" bash -c \
    "timeout 120 '$QZ_MPIEXEC' -n 3 '$QZ_BIN' export chat-1.h5 --run chat --what top | cmp - chat-top.jsonl"
expect 2 "quantilize: chat-1.h5: run \"chat\" has no archive of its samples (--what all needs output.archive \"all\")" \
    "$QZ_BIN" export chat-1.h5 --run chat --what all -o chat-all.jsonl
check "--what all without an archive wrote nothing" test ! -e chat-all.jsonl

# 3. A tasks job: NAME exports every task with its id, NAME/tasks/ID one task.
printf '%s\n' '{"id": "rivers", "prompt": "Write about rivers:"}' \
    '{"id": "stones", "prompt": "Write about stones:"}' '{"id": "good", "prompt": "Be good:"}' \
    > prompts.jsonl
job tasks "\"seed\": 15, \"q\": 0.1, \"samples\": 40, \"tasks\": \"prompts.jsonl\",
  \"generator\": $(gen ', "prompt": "unused"'), \"utility\": {\"kind\": \"regex\", \"pattern\": \"good|river|stone\"}"
runn tasks 1 || bad "tasks job failed: $(cat tasks-1.err)"
check "tasks --what top" "$QZ_BIN" export tasks-1.h5 --run tasks --what top -o tasks.jsonl
check "tasks: every task's lines, with its id and its own prompt" \
    verify tasks-1.h5 tasks tasks.jsonl top completions
check "tasks: 3 tasks of 4 lines" bash -c \
    "test \$(grep -c '\"task\":\"stones\"' tasks.jsonl) = 4 && test \$(wc -l < tasks.jsonl) = 12"
check "tasks: one task by NAME/tasks/ID" bash -c \
    "'$QZ_BIN' export tasks-1.h5 --run tasks/tasks/good --what top | cmp - <(grep '\"task\":\"good\"' tasks.jsonl)"

# 4. Numeric runs: values, utilities and weights; a K whose boundary weight is partial.
job num "\"seed\": 3, \"q\": 0.013, \"samples\": 1000, \"chunk_size\": 100,
  \"generator\": {\"kind\": \"normal\", \"mean\": 0, \"stddev\": 1}, \"cost\": {\"kind\": \"component\"},
  \"output\": {\"archive\": \"all\"}"
runn num 1 || bad "numeric run failed: $(cat num-1.err)"
for what in selected top all; do
    check "numeric --what $what" "$QZ_BIN" export num-1.h5 --run num --what "$what" -o num-$what.jsonl
    check "numeric --what $what: lines agree with the record" \
        verify num-1.h5 num num-$what.jsonl "$what" numeric
done
check "numeric: m = 13 is whole, so K = 13 lines of weight 1/13" bash -c \
    "test \$(wc -l < num-top.jsonl) = 13"
job frac "\"seed\": 4, \"q\": 0.0125, \"samples\": 500,
  \"generator\": {\"kind\": \"uniform\", \"low\": 0, \"high\": 1}, \"utility\": {\"kind\": \"value\"}"
runn frac 1 || bad "frac run failed: $(cat frac-1.err)"
check "numeric --what top with m = 6.25: K = 7, boundary weight 0.25/6.25" bash -c \
    "'$QZ_BIN' export frac-1.h5 --run frac --what top -o frac.jsonl && \
     '$QZ_PYTHON' -c \"import json; w=[json.loads(l)['weight'] for l in open('frac.jsonl')]; \
       assert len(w) == 7 and w[:6] == [1/6.25]*6 and abs(w[6] - 0.04) < 1e-15, w\""
check "frac --what top: lines agree with the record (values are the utilities)" \
    verify frac-1.h5 frac frac.jsonl top numeric

# 5. Texts that need escaping: NUL-free control characters, quotes, invalid UTF-8
#    (written into a copy of the record with h5py) come out as valid JSON.
"$QZ_PYTHON" - <<'PY' || bad "writing odd texts with h5py"
import shutil, h5py
shutil.copy("comp-2.h5", "odd.h5")
f = h5py.File("odd.h5", "r+")
top = f["runs/comp/top"]
dt = h5py.string_dtype("utf-8")
texts = [b"quote \" back \\ esc \x1b tab \t nl \n del \x7f", b"bad \xff\xfe utf8 \xc3", "é ✓ 𝄞".encode()]
texts += [b"x"] * (len(top["index"]) - len(texts))
del top["payload"]
top.create_dataset("payload", data=texts, dtype=h5py.string_dtype("utf-8"))
PY
check "odd texts: export exits 0" "$QZ_BIN" export odd.h5 --run comp --what top -o odd.jsonl
check "odd texts: valid JSON, escaped, invalid bytes as U+FFFD" "$QZ_PYTHON" -c "
import json
raw = open('odd.jsonl', 'rb').read()
assert b'\x1b' not in raw and b'\x7f' not in raw and b'\xff' not in raw
c = [json.loads(l)['completion'] for l in raw.decode('utf-8').splitlines()]
assert c[0] == 'quote \" back \\\\ esc \x1b tab \t nl \n del \x7f', repr(c[0])
assert c[1] == 'bad \ufffd\ufffd utf8 \ufffd', repr(c[1])
assert c[2] == 'é ✓ 𝄞', repr(c[2])
"

# 6. Bad inputs: exit 2, one line, nothing written.
echo '{}' > notrecord.h5
h5=comp-2.h5
sum_before=$(sha256sum $h5)
expect 2 "quantilize: missing.h5: no such file" "$QZ_BIN" export missing.h5 --run comp -o bad.jsonl
expect 2 "~notrecord.h5" "$QZ_BIN" export notrecord.h5 --run comp -o bad.jsonl
expect 2 "quantilize: export: $h5 has no run \"nope\" (see quantilize inspect)" \
    "$QZ_BIN" export $h5 --run nope -o bad.jsonl
expect 2 'quantilize: export: --what: must be "selected", "top" or "all", got "best"' \
    "$QZ_BIN" export $h5 --run comp --what best -o bad.jsonl
expect 2 "quantilize: export: missing --run RUN (see --help)" "$QZ_BIN" export $h5 -o bad.jsonl
expect 2 "quantilize: export: -o $h5 is the record file itself" \
    "$QZ_BIN" export $h5 --run comp -o $h5
expect 2 "~nodir/bad.jsonl" "$QZ_BIN" export $h5 --run comp -o nodir/bad.jsonl
check "bad inputs wrote nothing (no output, no temporary)" bash -c "! ls | grep -q '^bad\.jsonl'"
check "the record is unchanged by a refused -o onto itself" test "$(sha256sum $h5)" = "$sum_before"
job notop "\"seed\": 5, \"q\": 0.1, \"samples\": 100, \"generator\": {\"kind\": \"normal\", \"mean\": 0, \"stddev\": 1},
  \"output\": {\"top\": false}"
runn notop 1 || bad "notop run failed"
expect 2 "~has no top/" "$QZ_BIN" export notop-1.h5 --run notop --what top -o bad.jsonl
check "notop: --what selected still works" "$QZ_BIN" export notop-1.h5 --run notop -o notop.jsonl

# 7. --what all streams: 10^7 archived samples exported with a
#    peak RSS far below the archive's size (240 MB: 24 bytes a sample).
job big "\"seed\": 11, \"q\": 1e-5, \"samples\": 10000000, \"chunk_size\": 1048576,
  \"generator\": {\"kind\": \"normal\", \"mean\": 0, \"stddev\": 1}, \"output\": {\"archive\": \"all\"}"
runn big 2 || bad "big run failed: $(cat big-2.err)"
/usr/bin/time -v "$QZ_BIN" export big-2.h5 --run big --what all 2> big-time.txt |
    "$QZ_PYTHON" -c "
import json, sys
n = w = 0
for line in sys.stdin:
    l = json.loads(line)
    assert l['index'] == n
    n += 1
    w += l['weight']
assert n == 10**7, n
assert abs(w - 1) < 1e-9, w
print(n, 'lines, weights sum to', w)
" > big-check.txt 2>&1
check "--what all of 10^7 samples: every line parses, in order, weights sum to 1" \
    grep -q '^10000000 lines' big-check.txt
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' big-time.txt)
archive_kb=$(du -k --apparent-size -c big-2.h5 big-2.h5.runs | tail -n 1 | cut -f1) # record + run files
check "--what all: peak RSS ${rss_kb} kB is under 80 MB (the archive is ${archive_kb} kB)" \
    test "${rss_kb:-999999999}" -lt 81920 -a "$archive_kb" -gt 200000
finish
