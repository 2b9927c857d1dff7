#!/usr/bin/env bash
# `quantilize report` and `inspect --json`: the page parses, holds one <svg> per plot
# with the threshold and selected-sample marks, escapes the file's text, references
# nothing outside itself, renders in headless Chromium to a non-blank PNG, and bad
# input exits 2 with one message and writes nothing.
. "$(dirname "$0")/../lib.sh"
cd "$QZ_TMP" || exit 1

# Records from real runs: a catastrophic mixture with a cost (a name that needs
# escaping), and a plain uniform run, in one file.
cat > mix.json <<'JOB'
{"name": "mix<b>&\"x\"", "seed": 7, "q": 1e-3, "samples": 200000,
 "generator": {"kind": "mixture", "components": [
   {"weight": 0.999, "cost": 0, "generator": {"kind": "normal"}},
   {"weight": 0.001, "cost": 1, "generator": {"kind": "normal", "mean": 3}}]},
 "cost": {"kind": "component"}}
JOB
printf '{"name": "plain", "seed": 8, "q": 0.01, "samples": 50000, "generator": {"kind": "uniform", "low": 0, "high": 1}}' > plain.json
check "mixture run" "$QZ_BIN" run mix.json -o runs.h5 --no-progress
check "plain run" "$QZ_BIN" run plain.json -o runs.h5 --no-progress

# A richer copy: a sweep and the safety figures on the mixture, an archive of
# 2.5M utilities (more than two read blocks, one NaN) on the plain run, and a job
# with two tasks (copies of the plain run) as the writer lays them out.
"$QZ_PYTHON" - <<'PY' || bad "adding sweep/, samples/ and tasks/ with h5py"
import h5py, numpy as np, shutil
shutil.copy("runs.h5", "rich.h5")
f = h5py.File("rich.h5", "a")
mix = f['runs/mix<b>&"x"']
qs = np.array([1, 0.1, 0.01, 0.001, 1e-4])
sw = mix.create_group("sweep")
sw["q"] = qs
sw["top_count"] = np.ceil(qs * 200000).astype("u8")
sw["threshold"] = np.array([-4.1, 1.3, 2.4, 3.26, 4.0])
sw["mean_utility"] = np.array([0.0, 1.75, 2.67, 3.6, 4.3])
sw["mean_cost"] = np.array([0.001, 0.009, 0.08, 0.55, np.nan])
sw["selected_index"] = np.arange(5, dtype="u8")
sw["mean_utility_ci_low"] = sw["mean_utility"][:] - np.array([0.01, 0.02, 0.05, 0.1, 0.3])
sw["mean_utility_ci_high"] = sw["mean_utility"][:] + np.array([0.01, 0.02, 0.05, 0.1, 0.3])
sw["mean_cost_ci_low"] = np.array([0.0008, 0.007, 0.05, 0.4, np.nan])
sw["mean_cost_ci_high"] = np.array([0.0012, 0.012, 0.11, 0.7, np.nan])
for k, v in dict(cost_base_mean=0.001, cost_base_stderr=7e-5, cost_quantilized_mean=0.55,
                 cost_bound=1.0, kl_nats=6.907755278982137, utility_quantilized_mean=3.6,
                 cost_bound_ucb=1.2).items():
    mix.attrs[k] = v
plain = f["runs/plain"]
u = np.random.default_rng(1).random(2_500_000)
u[12345] = np.nan
g = plain.create_group("samples")
g["utility"] = u
g["index"] = np.arange(u.size, dtype="u8")
tasks = f.create_group("runs/multi/tasks")
for t in ("t1", "t2"):
    f.copy(plain, tasks, name=t)
    del tasks[t]["samples"]
tasks["t2"].attrs["utility_quantilized_mean"] = 0.25  # the mean over tasks is not t1's
PY
runs_all='mix<b>&"x"|multi/tasks/t1|multi/tasks/t2|plain'
sums=$(sha256sum runs.h5 rich.h5)

expect -d "report exits 0 and prints nothing on stderr" -l report 0 "" "$QZ_BIN" report rich.h5 -o rich.html
check "report prints nothing on stdout" test ! -s report.out
check "no temporary file left" bash -c '! ls *.tmp.* 2> /dev/null | grep -q .'

# check_html FILE RUNS: the page's structure, via html.parser.
check_html() {
    "$QZ_PYTHON" - "$@" <<'PY'
import html.parser, re, sys
path, want_runs = sys.argv[1], sys.argv[2].split("|")
text = open(path, encoding="utf-8").read()

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}

class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.sections, self.bars, self.errors = [], [], {}, []
        self.in_bar_title, self.cur = None, None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = (a.get("class") or "").split()
        if tag == "section" and "run" in cls:
            self.sections.append({"run": a.get("data-run"), "id": a.get("id"), "svgs": [],
                                  "ids": set(), "classes": set(), "rows": set(), "text": ""})
            self.cur = self.sections[-1]
        elif tag == "section":  # a job's tasks section belongs to no run
            self.cur = None
        s = self.cur
        if s is not None:
            if tag == "svg":
                s["svgs"].append(" ".join(cls))
            if "id" in a:
                s["ids"].add(a["id"])
            s["classes"].update(cls)
            if "data-attr" in a:
                s["rows"].add(a["data-attr"])
        if tag == "title" and self.stack and self.stack[-1] == "rect" and s is not None:
            self.in_bar_title = s
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.errors.append("external reference %s=%r" % (k, v))
        if tag not in VOID:
            self.stack.append(tag)
    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()
    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unbalanced </%s> (open: %s)" % (tag, self.stack[-3:]))
            return
        self.stack.pop()
        if tag == "title":
            self.in_bar_title = None
    def handle_data(self, data):
        if self.cur is not None:
            self.cur["text"] += data
        if self.in_bar_title is not None:
            m = re.search(r": (\d+)$", data)
            if m:
                r = self.in_bar_title["run"]
                self.bars[r] = self.bars.get(r, 0) + int(m.group(1))

p = P()
p.feed(text)
p.close()
fail = list(p.errors)
if p.stack:
    fail.append("unclosed elements: %s" % p.stack)
if not text.startswith("<!DOCTYPE html>"):
    fail.append("no doctype")
if re.search(r"https?://", text) or "<script" in text or "url(" in text:
    fail.append("the page refers to something outside itself")
got = [s["run"] for s in p.sections]
if got != want_runs:
    fail.append("runs %s, want %s" % (got, want_runs))
for i, s in enumerate(p.sections):
    r = s["run"]
    if s["id"] != "run-%d" % i:
        fail.append("%s: section id %s" % (r, s["id"]))
    want_svgs = ["plot histogram"]
    if r.startswith("mix"):
        want_svgs += ["plot sweep-utility", "plot sweep-cost"]
    if s["svgs"] != want_svgs:
        fail.append("%s: svgs %s, want %s" % (r, s["svgs"], want_svgs))
    for need in ("hist-%d" % i, "threshold-%d" % i, "selected-%d" % i):
        if need not in s["ids"]:
            fail.append("%s: no #%s" % (r, need))
    for need in ("figures", "threshold", "threshold-label", "selected", "selected-label", "bar",
                 "axis"):
        if need not in s["classes"]:
            fail.append("%s: no .%s" % (r, need))
    for need in ("q", "samples", "top_count", "threshold", "index", "utility", "payload"):
        if need not in s["rows"]:
            fail.append("%s: figures table lacks %s" % (r, need))
    safety = {"cost_base_mean", "cost_base_stderr", "cost_quantilized_mean", "cost_bound",
              "kl_nats", "utility_quantilized_mean", "cost_base_ci_low", "cost_base_ci_high",
              "cost_quantilized_ci_low", "cost_quantilized_ci_high", "cost_ci_method",
              "cost_bound_ucb"}
    archive = r == "plain"
    if archive == ("top-only" in s["classes"]):
        fail.append("%s: the top-only caption is %s" % (r, "there" if not archive else "missing"))
    if r.startswith("mix"):
        for need in ("sweep-utility-%d" % i, "sweep-cost-%d" % i, "bound-%d" % i, "ucb-%d" % i,
                     "band-utility-%d" % i, "band-cost-%d" % i):
            if need not in s["ids"]:
                fail.append("%s: no #%s" % (r, need))
        for need in ("sweep", "mean-utility", "mean-cost", "bound", "bound-ucb", "band",
                     "mean-utility-band", "mean-cost-band"):
            if need not in s["classes"]:
                fail.append("%s: no .%s" % (r, need))
        if not safety <= s["rows"]:
            fail.append("%s: safety rows missing: %s" % (r, safety - s["rows"]))
    else:  # every run records E_Q[u] and ln(1/q); only runs with a cost the cost figures
        if not {"kl_nats", "utility_quantilized_mean"} <= s["rows"]:
            fail.append("%s: E_Q[u] or ln(1/q) rows missing" % r)
        if safety & s["rows"] - {"kl_nats", "utility_quantilized_mean"}:
            fail.append("%s: cost rows without a cost: %s" % (r, safety & s["rows"]))
    want_bins = 2_500_000 - 1 if archive else (200 if r.startswith("mix") else 500)
    if p.bars.get(r) != want_bins:
        fail.append("%s: histogram bars hold %s samples, want %d" % (r, p.bars.get(r), want_bins))
if want_runs and want_runs[0].startswith("mix"):
    if 'mix<b>&"x"' in text or 'mix&lt;b&gt;&amp;&quot;x&quot;' not in text:
        fail.append("the run name is not escaped")
for f in fail:
    print(f)
sys.exit(1 if fail else 0)
PY
}
check "the page parses and holds every run, plot, mark and figure" check_html rich.html "$runs_all"

# One run, a job's tasks, one task; the plain record (no archive, no sweep) too.
check "--run plain" "$QZ_BIN" report rich.h5 --run plain -o one.html
check "--run plain: that run only" check_html one.html plain
check "--run multi" "$QZ_BIN" report rich.h5 --run multi -o tasks.html
check "--run multi: both tasks" check_html tasks.html "multi/tasks/t1|multi/tasks/t2"
check "--run multi/tasks/t2" "$QZ_BIN" report rich.h5 --run multi/tasks/t2 -o t2.html
check "--run multi/tasks/t2: that task only" check_html t2.html multi/tasks/t2
check "default output name: runs.html" "$QZ_BIN" report runs.h5
check "the default report parses" test -s runs.html

# Headless Chromium renders the page to a non-blank PNG of the window's size.
if ! command -v chromium > /dev/null; then
    echo "report: installing chromium" >&2
    SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    { $SUDO apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            chromium; } > apt.log 2>&1 || cat apt.log >&2
fi
if command -v chromium > /dev/null; then
    timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --user-data-dir="$QZ_TMP/chromium" --screenshot="$QZ_TMP/rich.png" \
        --window-size=1200,3400 "file://$QZ_TMP/rich.html" > chromium.log 2>&1
    check "chromium wrote a screenshot" test -s rich.png
    check "the screenshot is 1200x3400, not blank, and shows bars, both marks and both bands" \
        "$QZ_PYTHON" - rich.png <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    pos += 12 + n
    if kind == b"IHDR":
        w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
assert (w, h) == (1200, 3400), "size %dx%d" % (w, h)
assert depth == 8 and ctype in (2, 6) and interlace == 0, "PNG type %d/%d" % (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, p, colours, nonwhite = bytearray(stride), 0, {}, 0
for y in range(h):
    ft, line = raw[p], bytearray(raw[p + 1:p + 1 + stride])
    p += 1 + stride
    if ft == 1:
        for i in range(bpp, stride):
            line[i] = (line[i] + line[i - bpp]) & 255
    elif ft == 2:
        line = bytearray((a + b) & 255 for a, b in zip(line, prev))
    elif ft == 3:
        for i in range(stride):
            line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
    elif ft == 4:
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        px = bytes(line[x:x + 3])
        colours[px] = colours.get(px, 0) + 1
    prev = line
nonwhite = sum(n for c, n in colours.items() if min(c) < 240)
def near(rgb, tol=24):
    return sum(n for c, n in colours.items() if max(abs(a - b) for a, b in zip(c, rgb)) <= tol)
bars, red, green = near((0x4a, 0x7f, 0xb5)), near((0xc0, 0x39, 0x2b)), near((0x27, 0xae, 0x60))
# The confidence bands: their fill at opacity .25 over the plot's #fcfcfc.
blend = lambda rgb: tuple(round(0.25 * c + 0.75 * 0xfc) for c in rgb)
uband, cband = near(blend((0x4a, 0x7f, 0xb5)), 6), near(blend((0xd3, 0x54, 0x00)), 6)
print("colours %d, non-white %.1f%%, bar %d, threshold red %d, selected green %d, "
      "utility band %d, cost band %d px"
      % (len(colours), 100.0 * nonwhite / (w * h), bars, red, green, uband, cband))
sys.exit(0 if len(colours) > 50 and nonwhite > 0.03 * w * h and bars > 2000 and red > 50
         and green > 50 and uband > 500 and cband > 500 else 1)
PY
else
    bad "chromium is not installed and could not be installed (apt.log)"
fi

# inspect --json: one document with every run, attribute and column.
check "inspect --json exits 0" bash -c "'$QZ_BIN' inspect rich.h5 --json > inspect.json"
check "inspect --json: runs, attributes, selected, top, sweep and samples" "$QZ_PYTHON" - <<'PY'
import json, math, sys
d = json.load(open("inspect.json"))
runs = {r["run"]: r for r in d["runs"]}
fail = []
if d["file"] != "rich.h5" or d["format_version"] != 2:
    fail.append("file %r, format_version %r" % (d["file"], d["format_version"]))
if [r["run"] for r in d["runs"]] != ['mix<b>&"x"', "multi/tasks/t1", "multi/tasks/t2", "plain"]:
    fail.append("runs %s" % [r["run"] for r in d["runs"]])
mix, plain = runs['mix<b>&"x"'], runs["plain"]
a = mix["attrs"]
if a["samples"] != 200000 or a["top_count"] != 200 or a["q"] != 1e-3 or a["status"] != "complete":
    fail.append("mix attrs: %s" % {k: a.get(k) for k in ("samples", "top_count", "q", "status")})
if not isinstance(a["job"], dict) or a["job"].get("name") != 'mix<b>&"x"':
    fail.append("job is not the parsed job: %r" % a["job"])
if a.get("kl_nats") != 6.907755278982137 or a.get("cost_base_mean") != 0.001:
    fail.append("safety figures: %r %r" % (a.get("kl_nats"), a.get("cost_base_mean")))
s = mix["selected"]
if s["payload"] != s["utility"] or s["cost"] not in (0, 1) or s["index"] != a["selected_index"]:
    fail.append("selected: %s" % s)
if mix["top"] != {"count": 200, "stored": True}:
    fail.append("top: %s" % mix["top"])
sw = mix.get("sweep", {})
if sw.get("q") != [1, 0.1, 0.01, 0.001, 1e-4] or sw.get("mean_cost", [0])[-1] is not None \
        or sw.get("top_count") != [200000, 20000, 2000, 200, 20]:
    fail.append("sweep: %s" % sw)
# the mean over the job's tasks, one q each: from their utility_quantilized_mean
t1 = runs["multi/tasks/t1"]["attrs"]
want = {"multi": {"q": [t1["q"]], "utility": [(t1["utility_quantilized_mean"] + 0.25) / 2],
                  "tasks": 2}}
if d.get("task_means") != want or t1["utility_quantilized_mean"] == 0.25:
    fail.append("task_means %s, want %s" % (d.get("task_means"), want))
if "samples" in mix or "sweep" in plain:
    fail.append("samples/sweep where there are none")
if plain.get("samples") != {"count": 2500000, "fields": ["index", "utility"]}:
    fail.append("samples: %s" % plain.get("samples"))
if runs["multi/tasks/t1"]["attrs"]["samples"] != 50000:
    fail.append("task attrs: %s" % runs["multi/tasks/t1"]["attrs"].get("samples"))
for f in fail:
    print(f)
sys.exit(1 if fail else 0)
PY
# a task's figure NaN: the mean over tasks at that q is NaN (null, "-")
"$QZ_PYTHON" - <<'PY' || bad "making nan.h5 with h5py"
import h5py, shutil
shutil.copy("rich.h5", "nan.h5")
with h5py.File("nan.h5", "a") as f:
    f["runs/multi/tasks/t1"].attrs["utility_quantilized_mean"] = float("nan")
PY
check "inspect --json: a NaN task figure gives a NaN mean" bash -c \
    "'$QZ_BIN' inspect nan.h5 --json | '$QZ_PYTHON' -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d[\"task_means\"][\"multi\"][\"utility\"] != [None])'"
check "inspect: a NaN task figure gives a NaN mean" bash -c \
    "'$QZ_BIN' inspect nan.h5 | grep -A2 -x 'tasks of job multi: mean over 2 tasks' | grep -Eqx '    0.01 +-'"
check "inspect --json of a file without runs' extras (plain record)" bash -c \
    "'$QZ_BIN' inspect runs.h5 --json | '$QZ_PYTHON' -c 'import json,sys; d=json.load(sys.stdin); sys.exit(len(d[\"runs\"]) != 2)'"

# Bad input: exit 2, one line naming the problem, nothing written.
echo "not hdf5" > text.h5
"$QZ_PYTHON" -c "import h5py; h5py.File('foreign.h5', 'w').attrs['format'] = 'other'"
mkdir adir
# refuse MESSAGE ARGS...: quantilize ARGS exits 2, stderr is one line containing
# MESSAGE, and no report (bad.html) or temporary file appears.
refuse() {
    local message=$1
    shift
    expect -l refuse 2 "/^quantilize: .*${message}" "$QZ_BIN" "$@"
    check "quantilize $*: one line, nothing written" bash -c \
        'test "$(wc -l < refuse.err)" -eq 1 && ! test -e bad.html && ! ls ./*.tmp.* > /dev/null 2>&1 && ! test -s refuse.out'
}
refuse "missing.h5: no such file" report missing.h5 -o bad.html
refuse 'rich.h5: no run "nope" (it holds: mix' report rich.h5 --run nope -o bad.html
refuse "text.h5: not an HDF5 file" report text.h5 -o bad.html
refuse "foreign.h5: not a quantilize record file" report foreign.h5 -o bad.html
refuse "nodir/bad.html: directory nodir" report rich.h5 -o nodir/bad.html
refuse "adir: not a regular file" report rich.h5 -o adir
refuse "is the record file itself" report rich.h5 -o rich.h5
refuse "report: unknown option \"--fast\"" report rich.h5 --fast -o bad.html
refuse "report: --run needs a run name" report rich.h5 -o bad.html --run
refuse "report: missing OUT.h5" report -o bad.html
refuse "inspect: unknown option \"--xml\"" inspect rich.h5 --xml
refuse "missing.h5: no such file" inspect missing.h5 --json
refuse "foreign.h5: not a quantilize record file" inspect --json foreign.h5
check "the records read are unchanged by all this" test "$(sha256sum runs.h5 rich.h5)" = "$sums"
finish
