#!/usr/bin/env bash
# `thinkrl report` rendered by headless Chromium: the CLI (help, output path,
# bad inputs, comparing runs), the DOM after parsing (every chart and series
# path survives with finite coordinates, the ADS histogram keeps its bars, the
# comparison its overlaid charts), and a screenshot (decoded by a small PNG
# reader: the page is not blank and each of the first series colours covers
# pixels).
# usage: report_chromium.sh THINKRL WORKDIR
set -uo pipefail
bin=$1 work=$2/report_chromium
rm -rf "$work" && mkdir -p "$work"
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
expect_fail() {
  local needle=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then bad "should fail: $*"; return; fi
  grep -q -- "$needle" "$work/err" && ok || bad "message of '$*' lacks '$needle': $(cat "$work/err")"
}

browser=""
for c in chromium chromium-browser; do
  if command -v "$c" >/dev/null 2>&1; then browser=$(command -v "$c"); break; fi
done
if [ -z "$browser" ]; then
  echo "FAIL: chromium is not installed; the report rendering test needs it: run 'make deps' (installs Debian's chromium)"
  exit 1
fi
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found: run 'make deps'"; exit 1; }

# A synthetic RL run: 120 steps, four reasoning patterns whose shares shift,
# eval every 20 steps, a NaN written by Python's json.dumps, a truncated last line.
run=$work/run
mkdir -p "$run"
python3 - "$run" <<'PY'
import json, math, random, sys
d = sys.argv[1]
random.seed(3)
with open(d + "/metrics.jsonl", "w") as f:
    for s in range(1, 121):
        t = (s - 1) / 119
        m = {"step": s, "reward/mean": 0.3 + 0.5 * t + random.gauss(0, 0.04),
             "reward/accuracy": 0.2 + 0.6 * t, "reward/format": 0.9,
             "acc": 0.2 + 0.6 * t, "kl": 0.01 * t, "entropy": 1.0 - 0.4 * t,
             "clip_frac": 0.05, "len/mean": 50 + 20 * t, "len/max": 100 + 40 * t,
             "len/trunc_frac": 0.02, "grad_norm": 1.0, "lr": 1e-6,
             "pattern/direct/freq": 0.6 - 0.5 * t, "pattern/direct/acc": 0.3,
             "pattern/column/freq": 0.1 + 0.6 * t, "pattern/column/acc": 0.8,
             "pattern/split/freq": 0.2, "pattern/split/acc": 0.5,
             "pattern/other/freq": 0.1 - 0.1 * t, "pattern/other/acc": 0.2,
             "perf/step_s": 2.5}
        if s % 20 == 0: m["eval/acc"] = 0.25 + 0.5 * t
        if s % 10 == 0: m["ads/hist"] = [max(0, 20 - 2 * k - s // 10) + k * s // 20 for k in range(10)]
        if s == 30: m["kl"] = float("nan")
        f.write(json.dumps(m) + "\n")
    f.write('{"step": 121, "reward/me')
with open(d + "/config.yaml", "w") as f:
    f.write('algo: grpo\nnote: "<script>alert(1)</script> & more"\n')
with open(d + "/samples.jsonl", "w") as f:
    for k in range(3):
        f.write(json.dumps({"step": 120, "prompt": "12+34=", "response": "<think>4+2=6</think><answer>46</answer>", "reward": 1}) + "\n")
PY

# A second run for the comparison: slower, with its own config.
run2=$work/run2
mkdir -p "$run2"
python3 - "$run2" <<'PY'
import json, sys
d = sys.argv[1]
with open(d + "/metrics.jsonl", "w") as f:
    for s in range(1, 81):
        t = (s - 1) / 79
        m = {"step": s, "reward/mean": 0.2 + 0.4 * t, "acc": 0.1 + 0.5 * t, "kl": 0.02 * t,
             "pattern/direct/freq": 0.5, "rrs": {"rollbacks": s // 30}}
        if s % 20 == 0: m["eval/acc"] = 0.2 + 0.4 * t
        f.write(json.dumps(m) + "\n")
with open(d + "/config.yaml", "w") as f:
    f.write('algo: dapo\nnote: "<script>alert(2)</script> & less"\n')
PY

# CLI
"$bin" report --help >"$work/help" 2>&1 && grep -q -- "--out" "$work/help" && grep -q -- "--help" "$work/help" && ok || bad "report --help"
"$bin" --help | grep -q "report" && ok || bad "top-level help lists report"
out=$("$bin" report "$run" 2>"$work/err") && [ "$out" = "$run/report.html" ] && [ -s "$run/report.html" ] && ok || bad "report RUN prints $run/report.html (got '$out')"
grep -q "metrics.jsonl:121" "$work/err" && ok || bad "truncated last line warned about: $(cat "$work/err")"
html=$work/r.html
out=$("$bin" report "$run" --out "$html" 2>/dev/null) && [ "$out" = "$html" ] && [ -s "$html" ] && ok || bad "report --out (got '$out')"
expect_fail "metrics.jsonl" "$bin" report "$work/none"
expect_fail "unknown flag" "$bin" report "$run" --bogus
expect_fail "no run directory" "$bin" report
expect_fail "--out" "$bin" report "$run" --out
cmp=$work/cmp.html
out=$("$bin" report "$run" "$run2" --labels "grpo,dapo" --out "$cmp" 2>/dev/null) && [ "$out" = "$cmp" ] && [ -s "$cmp" ] && ok || bad "report RUN RUN2 --out (got '$out')"
grep -q '<tr data-run="dapo">' "$cmp" && grep -q '<tr data-key="algo">' "$cmp" && ok || bad "comparison rows"
expect_fail "needs --out" "$bin" report "$run" "$run2"
expect_fail "--labels has 1 name" "$bin" report "$run" "$run2" --labels one --out "$cmp"
expect_fail "--target" "$bin" report "$run" "$run2" --target abc --out "$cmp"
expect_fail "$work/none" "$bin" report "$run" "$work/none" --out "$work/x.html"
[ ! -e "$work/x.html" ] && ok || bad "a failed comparison wrote its page"
expect_fail "several run directories" "$bin" report "$run" --labels a

# Chromium: DOM after parsing, then a screenshot.
flags=(--headless --disable-gpu --no-sandbox --disable-dev-shm-usage --no-first-run --hide-scrollbars
       --user-data-dir="$work/profile")
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$html" >"$work/dom.html" 2>"$work/chromium.log"
[ -s "$work/dom.html" ] && ok || bad "chromium --dump-dom wrote nothing: $(tail -5 "$work/chromium.log")"
timeout 120 "$browser" "${flags[@]}" --dump-dom "file://$cmp" >"$work/cmp_dom.html" 2>>"$work/chromium.log"
[ -s "$work/cmp_dom.html" ] && ok || bad "chromium --dump-dom of the comparison wrote nothing"
timeout 120 "$browser" "${flags[@]}" --window-size=1280,2400 --screenshot="$work/shot.png" "file://$html" \
  >>"$work/chromium.log" 2>&1
[ -s "$work/shot.png" ] && ok || bad "chromium --screenshot wrote nothing: $(tail -5 "$work/chromium.log")"

python3 - "$html" "$work/dom.html" "$work/shot.png" "$cmp" "$work/cmp_dom.html" <<'PY'
import math, re, struct, sys, zlib
from html.parser import HTMLParser
src_path, dom_path, png_path, cmp_path, cmp_dom_path = sys.argv[1:6]
fails = []

class Charts(HTMLParser):
    """Counts charts and series paths; checks coordinates against the viewBox."""
    def __init__(self):
        super().__init__()
        self.charts = {}; self.cur = None; self.vb = None; self.bad = []; self.scripts = 0
        self.bars = []; self.hist = {}
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script": self.scripts += 1
        if tag == "svg" and "chart" in (a.get("class") or "").split():
            self.cur = a.get("data-metric"); self.charts[self.cur] = 0
            self.vb = [float(v) for v in a.get("viewbox", a.get("viewBox", "0 0 0 0")).split()]
        if tag == "g" and a.get("class") == "hist-step":
            self.hist[a.get("data-step")] = [float(v) for v in a.get("data-counts", "").split(",")]
        if tag == "rect" and a.get("class") == "bar":
            self.bars.append((float(a.get("data-count")), float(a.get("y")), float(a.get("height"))))
        if tag == "path" and a.get("class") == "series" and self.cur is not None:
            self.charts[self.cur] += 1
            nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", a.get("d", ""))]
            if len(nums) < 2 or len(nums) % 2: self.bad.append((self.cur, "empty or odd path"))
            for x, y in zip(nums[0::2], nums[1::2]):
                if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= self.vb[2] and 0 <= y <= self.vb[3]):
                    self.bad.append((self.cur, x, y)); break
    def handle_startendtag(self, tag, attrs): self.handle_starttag(tag, attrs)
    def handle_endtag(self, tag):
        if tag == "svg": self.cur = None

def parse(path):
    p = Charts(); p.feed(open(path, encoding="utf-8").read()); return p

src, dom = parse(src_path), parse(dom_path)
want = {"reward": 3, "accuracy": 2, "kl": 1, "entropy": 1, "length": 2, "len/trunc_frac": 1,
        "clip_frac": 1, "lr": 1, "pattern/freq": 4, "pattern/acc": 4, "grad_norm": 1, "perf/step_s": 1,
        "ads/hist": 0}
if src.charts != want: fails.append("source charts %s != %s" % (src.charts, want))
if dom.charts != src.charts: fails.append("charts after Chromium parsing %s != source %s" % (dom.charts, src.charts))
if src.bad or dom.bad: fails.append("bad path coordinates: %s %s" % (src.bad[:3], dom.bad[:3]))
if dom.scripts: fails.append("the DOM has <script> elements")
text = open(dom_path, encoding="utf-8").read()
if "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" not in text: fails.append("config.yaml not escaped in the DOM")
for name in ("direct", "column", "split", "other"):
    if ">%s</text>" % name not in text: fails.append("legend lacks " + name)

# the ADS histogram: steps 10, 40, 70, 90, 120 of the 12 (indices 0, 2.75, 5.5, 8.25, 11 rounded half up)
want_hist = {str(s): [float(max(0, 20 - 2 * k - s // 10) + k * s // 20) for k in range(10)] for s in (10, 40, 70, 90, 120)}
if dom.hist != want_hist: fails.append("histograms after parsing %s != %s" % (dom.hist, want_hist))
if len(dom.bars) != 50: fails.append("%d histogram bars, expected 50" % len(dom.bars))
if dom.bars:
    # bar heights proportional to counts, all standing on one baseline
    k = max(h / c for c, y, h in dom.bars if c > 0)
    base = dom.bars[0][1] + dom.bars[0][2]
    for c, y, h in dom.bars:
        if abs(h - k * c) > 0.05 or abs(y + h - base) > 0.05: fails.append("bar %g: y %g height %g" % (c, y, h)); break

# the comparison: overlaid charts, one series per run that has the key
csrc, cdom = parse(cmp_path), parse(cmp_dom_path)
want_cmp = {"eval/acc": 2, "acc": 2, "reward/mean": 2, "kl": 2, "entropy": 1, "len/mean": 1, "grad_norm": 1,
            "rrs/rollbacks": 1, "pattern/direct/freq": 2, "pattern/column/freq": 1, "pattern/split/freq": 1,
            "pattern/other/freq": 1}
if csrc.charts != want_cmp: fails.append("comparison charts %s != %s" % (csrc.charts, want_cmp))
if cdom.charts != csrc.charts: fails.append("comparison after parsing %s != %s" % (cdom.charts, csrc.charts))
if csrc.bad or cdom.bad: fails.append("comparison path coordinates: %s %s" % (csrc.bad[:3], cdom.bad[:3]))
ctext = open(cmp_dom_path, encoding="utf-8").read()
for v in ("&lt;script&gt;alert(1)&lt;/script&gt; &amp; more", "&lt;script&gt;alert(2)&lt;/script&gt; &amp; less"):
    if v not in ctext: fails.append("comparison config value not escaped: " + v)
if 'data-series="grpo"' not in ctext or 'data-series="dapo"' not in ctext: fails.append("comparison series labels")

def read_png(path):
    """8-bit RGB / RGBA, non-interlaced PNG -> (width, height, rows of bytes, channels)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]; pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and not interlace, "unsupported PNG %d/%d/%d" % (depth, ctype, interlace)
        elif kind == b"IDAT": idat += body
        elif kind == b"IEND": break
    ch = 3 if ctype == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), w * ch, [], bytearray(w * ch)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0; b = prev[i]; c = prev[i - ch] if i >= ch else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line)); prev = line
    return w, h, rows, ch

try:
    w, h, rows, ch = read_png(png_path)
    colours = {"#1f77b4": (31, 119, 180), "#ff7f0e": (255, 127, 14), "#2ca02c": (44, 160, 44), "#d62728": (214, 39, 40)}
    hits = dict.fromkeys(colours, 0); ink = 0
    for r in rows:
        for x in range(0, w * ch, ch):
            px = r[x:x + 3]
            if px[0] < 240 or px[1] < 240 or px[2] < 240: ink += 1
            for k, c in colours.items():
                if abs(px[0] - c[0]) + abs(px[1] - c[1]) + abs(px[2] - c[2]) < 30: hits[k] += 1
    print("screenshot %dx%d: %d non-white pixels, series colours %s" % (w, h, ink, hits))
    if ink < 0.02 * w * h: fails.append("screenshot nearly blank (%d non-white pixels)" % ink)
    for k, n in hits.items():
        if n < 300: fails.append("screenshot: series colour %s covers only %d pixels" % (k, n))
except Exception as e:
    fails.append("screenshot unreadable: %s" % e)

for f in fails: print("FAIL:", f)
sys.exit(1 if fails else 0)
PY
[ $? -eq 0 ] && ok || bad "rendered report checks"

echo "report_chromium: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
