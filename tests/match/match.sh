#!/usr/bin/env bash
# Reference answers end to end: text jobs against tests/tools/fake_openai.py scored by
# exact_match, contains and regex_match (as utility and as cost), and a tasks job whose
# lines carry the references. Every recorded 0/1 value is checked against an independent
# Python reading of the recorded texts (re, not POSIX: the patterns below mean the same
# in both).
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1
start_fake main
URL=$FAKE_URL

gen() { # gen MAX_TOKENS EXTRA: an openai generator object
    printf '{"kind": "openai", "base_url": "%s", "model": "fake-model", "max_tokens": %s,
      "temperature": 0.9, "n": 4, "timeout_seconds": 10, "prompt": "Answer:" %s}' "$URL" "$1" "$2"
}

# The checker: each sample's text (archive or top/payload) against a rule, in Python.
cat > rules.py << 'EOF'
import re

def collapse(t):
    return re.sub(r"[ \t\n\v\f\r]+", " ", t).strip(" ")

def exact(t, refs, fold=False, extract=None):
    if extract is not None:
        found = [m.group(1) for m in re.finditer(extract, t)]
        if not found:
            return 0.0
        t = found[-1]
    a = collapse(t)
    if fold:
        a = a.lower()
    return float(any(a == (collapse(r).lower() if fold else collapse(r)) for r in refs))

def contains(t, refs):
    return float(any(collapse(r) in collapse(t) for r in refs))

def regex(t, refs):
    return float(any(re.search(r, collapse(t)) for r in refs))
EOF
export PYTHONPATH=$QZ_TMP

# 1. exact_match as utility, a list of references, every sample archived: each sample's
#    utility is the rule's value of its text; the top set holds every 1.
job em "\"seed\": 5, \"q\": 0.25, \"samples\": 240, \"chunk_size\": 40,
  \"generator\": $(gen 1 ''),
  \"utility\": {\"kind\": \"exact_match\", \"reference\": [\"cat\", \"dog\", \"TREE\"]},
  \"output\": {\"archive\": \"all\"}"
same_at em 1 3
check "exact_match: every sample's utility is 1 exactly when its text is cat or dog (never TREE: case kept)" \
    h5q assert em-3.h5 runs/em \
    "import_rules := __import__('rules')" \
    "b := bytes(v('samples/payload_bytes'))" \
    "texts := [b[o:o + l].decode() for o, l in zip(v('samples/payload_offset'), v('samples/payload_length'))]" \
    "len(texts) == 240" \
    "[import_rules.exact(t, ['cat', 'dog', 'TREE']) for t in texts] == list(v('samples/utility'))" \
    "0 < sum(v('samples/utility')) < 60" \
    "[import_rules.exact(t, ['cat', 'dog', 'TREE']) for t in v('top/payload')] == list(v('top/utility'))" \
    "sum(v('top/utility')) == sum(v('samples/utility'))" \
    "0 < a['utility_quantilized_mean'] <= 1"

# 2. Extraction (last match wins) and case folding: the answer is the text's last word.
job ex "\"seed\": 6, \"q\": 0.5, \"samples\": 120,
  \"generator\": $(gen 3 ''),
  \"utility\": {\"kind\": \"exact_match\", \"reference\": \"The\", \"case\": \"insensitive\",
                \"extract\": \" ([a-z]+)\"},
  \"cost\": {\"kind\": \"regex_match\", \"reference\": [\"^(the|a) \", \"stone$\"]}"
runn ex 1 || bad "ex: $(cat ex-1.err)"
check "exact_match with extract: 1 exactly when the last word is \"the\"; regex_match cost on the trimmed text" \
    h5q assert ex-1.h5 runs/ex \
    "r := __import__('rules')" \
    "texts := v('top/payload')" "len(texts) == a['top_count'] > 0" \
    "[r.exact(t, ['The'], fold=True, extract=r' ([a-z]+)') for t in texts] == list(v('top/utility'))" \
    "[r.regex(t, ['^(the|a) ', 'stone\$']) for t in texts] == list(v('top/cost'))" \
    "0 < sum(v('top/utility'))" "0 < sum(v('top/cost')) < len(texts)" \
    "set(v('top/cost')) <= {0.0, 1.0}" \
    "a['cost_ci_method'] == 'clopper-pearson'" \
    "0 <= a['cost_quantilized_ci_low'] <= a['cost_quantilized_mean'] <= a['cost_quantilized_ci_high'] <= 1" \
    "a['cost_base_ci_low'] <= a['cost_base_mean'] <= a['cost_bound_ucb'] * a['q']"

# 3. A tasks job: each line's reference replaces the spec's; a line without one uses it.
cat > qs.jsonl << 'EOF'
{"id": "one", "prompt": "First:", "reference": "cat"}

{"id": "two", "prompt": "Second:", "reference": ["dog", "tree"]}
{"id": "three", "prompt": "Third:"}
EOF
job tk "\"seed\": 7, \"q\": 0.5, \"samples\": 80, \"tasks\": \"qs.jsonl\",
  \"generator\": $(gen 2 ''),
  \"utility\": {\"kind\": \"contains\", \"reference\": \"the\"}"
runn tk 1 || bad "tk: $(cat tk-1.err)"
runn tk 3 || bad "tk at 3 ranks: $(cat tk-3.err)"
for t in one:cat two:dog,tree three:the; do
    id=${t%%:*} refs="['${t#*:}']"
    refs=${refs//,/\', \'}
    check "tasks: task $id at 3 ranks equals 1 rank" h5same tk-1.h5 "tk/tasks/$id" tk-3.h5 "tk/tasks/$id"
    check "tasks: task $id scored against its own references $refs" \
        h5q assert tk-3.h5 "runs/tk/tasks/$id" \
        "r := __import__('rules')" "texts := v('top/payload')" "len(texts) > 0" \
        "[r.contains(t, $refs) for t in texts] == list(v('top/utility'))" \
        "0 < sum(v('top/utility'))"
done

# 3b. The same tasks as a metric beside a utility that takes no reference ("length"):
# the lines' references go to the metric only.
job tm "\"seed\": 7, \"q\": 0.5, \"samples\": 80, \"tasks\": \"qs.jsonl\",
  \"generator\": $(gen 2 ''), \"utility\": {\"kind\": \"length\"},
  \"metrics\": {\"hit\": {\"kind\": \"contains\", \"reference\": \"the\"}}"
runn tm 2 || bad "tm: $(cat tm-2.err)"
for t in one:cat two:dog,tree three:the; do
    id=${t%%:*} refs="['${t#*:}']"
    refs=${refs//,/\', \'}
    check "tasks, metric: task $id's metric against its own references $refs, utility its length" \
        h5q assert tm-2.h5 "runs/tm/tasks/$id" \
        "r := __import__('rules')" "texts := v('top/payload')" "len(texts) > 0" \
        "[float(r.contains(t, $refs)) for t in texts] == list(v('top/metrics/hit'))" \
        "[float(len(t)) for t in texts] == list(v('top/utility'))"
done

# 4. The tasks job stopped by SIGUSR1 in its second task and resumed on 2 ranks gives
#    the uninterrupted records: the resumed task scores against its own reference.
job tr "\"seed\": 7, \"q\": 0.5, \"samples\": 240, \"chunk_size\": 20, \"tasks\": \"qs.jsonl\",
  \"checkpoint\": {\"every_seconds\": 0},
  \"generator\": $(gen 2 ''),
  \"utility\": {\"kind\": \"contains\", \"reference\": \"the\"}"
runn tr 1 || bad "tr: $(cat tr-1.err)"
arm slow -1 0.5
QZ_STOP_DELAY=1.2 stop_midway 3 'task 2 of 3' tr-stop.err run tr.json -o tr.h5
check "tasks: SIGUSR1 in task 2 gives exit 75 (got $STOP_STATUS)" test "$STOP_STATUS" -eq 75
check "tasks: task one is recorded, task two not yet" test "$(h5q keys tr.h5 runs/tr/tasks)" = one
expect -d "tasks: resumed on 2 ranks in task two" -l tr-resume 0 \
    '/^resuming from checkpoint tr.h5.tr.ckpt: [1-9][0-9]* of 240 samples done' \
    qz_mpi 2 run tr.json -o tr.h5
curl -s -o /dev/null -X POST "$FAKE_CONTROL/reset"
for id in one two three; do
    check "tasks: resumed task $id equals the uninterrupted run's" h5same_resumed tr-1.h5 "tr/tasks/$id" \
        tr.h5 "tr/tasks/$id"
done

# 5. Refused at load, before anything is drawn (more cases in tests/bad/cases).
job nr "\"seed\": 1, \"q\": 0.5, \"samples\": 8, \"generator\": $(gen 1 ''),
  \"utility\": {\"kind\": \"contains\"}"
expect 2 "quantilize: nr.json: utility.reference: is required (a string or a list of strings), here or on every line of the job's tasks file" \
    "$QZ_BIN" run nr.json -o nr.h5 --no-progress
printf '{"id": "a", "prompt": "x", "reference": "%s"}\n' "$(head -c 65537 /dev/zero | tr '\0' a)" > long.jsonl
job lg "\"seed\": 1, \"q\": 0.5, \"samples\": 8, \"tasks\": \"long.jsonl\", \"generator\": $(gen 1 ''),
  \"utility\": {\"kind\": \"contains\"}"
expect 2 "quantilize: long.jsonl:1: reference: is longer than 65536 bytes" \
    "$QZ_BIN" run lg.json -o lg.h5 --no-progress
check "nothing written by the refused jobs" test ! -e nr.h5 -a ! -e lg.h5
finish
