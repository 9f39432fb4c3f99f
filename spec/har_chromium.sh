#!/usr/bin/env bash
# har_chromium.sh: checks that a HAR written by lurl reads in a real browser.
#
#   spec/har_chromium.sh [LURL]          (LURL defaults to $LURL_BIN, then build/lurl)
#   HAR_SCREENSHOT=/tmp/har.png spec/har_chromium.sh   # keep the screenshot
#
# 1. Starts a local httpbin (Debian's python3-httpbin under gunicorn) and
#    runs a lurl script whose session records `har = ...`: a JSON GET with
#    a bearer token and a cookie, a two-hop redirect chain, a POST, a PNG,
#    a 404 and a refused connection.
# 2. Writes a small HAR viewer page (plain JavaScript, no library) with the
#    HAR inlined.  The page parses it with the browser's JSON.parse, checks
#    the HAR 1.2 fields every viewer relies on, renders one row per entry
#    with a timing bar, and decodes the recorded PNG into an <img>.
# 3. Loads the page in headless Chromium twice: --dump-dom, whose text this
#    script checks (verdict, entry count, URLs, the PNG's decoded size, no
#    secret), and --screenshot, for a person to look at.
# Chromium's own network panel has no headless way to import a HAR, so the
# viewer stands in for it; it reads the same fields that panel does.
# Needs the Debian package `chromium`; exits 77 (skipped) without it.
set -euo pipefail
cd "$(dirname "$0")/.."

LURL=${1:-${LURL_BIN:-build/lurl}}
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROMIUM" ]; then echo "har_chromium: chromium is not installed (apt-get install chromium)"; exit 77; fi
if [ ! -x "$LURL" ]; then echo "har_chromium: no lurl binary at $LURL" >&2; exit 2; fi

work=$(mktemp -d --tmpdir lurl-har-chromium.XXXXXX)
trap 'rm -rf "$work"' EXIT
shot=${HAR_SCREENSHOT:-$work/har.png}

# --- 1. record a session ---------------------------------------------------
cat >"$work/record.lua" <<'LUA'
local http = require "http"
local base, out = os.getenv("HTTPBIN_URL"), arg[1]
local s = http.session { har = out, auth = http.bearer("chromium-secret-token"),
  cookies = { sid = "chromium-secret-cookie" } }
assert(s:get(base .. "/get", { params = { q = "lurl" } }))
assert(s:get(base .. "/redirect/2"))
assert(s:post(base .. "/post", { json = { hello = "browser" } }))
assert(s:get(base .. "/image/png"))
assert(s:get(base .. "/status/404"))
assert(not s:get("http://127.0.0.1:1/refused"))
s:close()
LUA
scripts/with-httpbin "$LURL" "$work/record.lua" "$work/run.har" >"$work/record.log" 2>&1 ||
  { cat "$work/record.log" >&2; echo "har_chromium: recording failed" >&2; exit 1; }

# --- 2. the viewer page ------------------------------------------------------
cat >"$work/head.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><title>lurl HAR check</title>
<style>
 body { font: 13px DejaVu Sans, sans-serif; margin: 12px; }
 table { border-collapse: collapse; width: 100%; }
 td, th { border-bottom: 1px solid #ddd; padding: 3px 6px; text-align: left; white-space: nowrap; }
 td.url { max-width: 430px; overflow: hidden; text-overflow: ellipsis; }
 .bar { display: inline-block; height: 9px; }
 .dns { background: #1f9e89; } .connect { background: #f28e2b; } .ssl { background: #b07aa1; }
 .wait { background: #59a14f; } .receive { background: #4e79a7; }
 .bad { color: #c00; font-weight: bold; } .ok { color: #070; font-weight: bold; }
 img { border: 1px solid #999; margin-top: 6px; }
</style></head><body>
<h3 id="title">HAR</h3><div id="verdict"></div>
<table><thead><tr><th>#</th><th>method</th><th>url</th><th>status</th><th>type</th>
<th>size</th><th>ms</th><th>timing</th></tr></thead><tbody id="rows"></tbody></table>
<div id="image"></div><pre id="problems"></pre>
<script type="application/json" id="har">
HTML
cat >"$work/tail.html" <<'HTML'
</script>
<script>
// A HAR viewer in a few lines: parse, check, render.
const problems = [];
const need = (cond, what) => { if (!cond) problems.push(what); };
const har = JSON.parse(document.getElementById('har').textContent);
const log = har.log;
need(log && log.version === '1.2', 'log.version is not 1.2');
need(log.creator && log.creator.name === 'lurl' && typeof log.creator.version === 'string', 'creator');
need(Array.isArray(log.entries) && log.entries.length > 0, 'entries');
const num = (v) => typeof v === 'number' && isFinite(v);
const rows = document.getElementById('rows');
let imgDone = null;
log.entries.forEach((e, i) => {
  const at = 'entry ' + (i + 1) + ': ';
  need(!isNaN(Date.parse(e.startedDateTime)), at + 'startedDateTime');
  need(num(e.time), at + 'time');
  const rq = e.request, rs = e.response, t = e.timings;
  need(rq && typeof rq.method === 'string' && typeof rq.url === 'string', at + 'request');
  ['headers', 'queryString', 'cookies'].forEach(k => need(Array.isArray(rq[k]), at + 'request.' + k));
  need(num(rq.headersSize) && num(rq.bodySize), at + 'request sizes');
  need(rs && num(rs.status) && typeof rs.statusText === 'string', at + 'response status');
  ['headers', 'cookies'].forEach(k => need(Array.isArray(rs[k]), at + 'response.' + k));
  need(rs.content && num(rs.content.size) && typeof rs.content.mimeType === 'string', at + 'content');
  need(typeof rs.redirectURL === 'string' && num(rs.headersSize) && num(rs.bodySize), at + 'response fields');
  need(e.cache && typeof e.cache === 'object', at + 'cache');
  ['blocked', 'dns', 'connect', 'ssl', 'send', 'wait', 'receive'].forEach(k =>
    need(num(t[k]) && (t[k] >= 0 || t[k] === -1), at + 'timings.' + k));
  const sum = ['blocked', 'dns', 'connect', 'send', 'wait', 'receive']
    .reduce((a, k) => a + Math.max(0, t[k]), 0);
  need(Math.abs(sum - e.time) < 0.01, at + 'time is not the sum of the timings');
  const tr = document.createElement('tr');
  const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text;
    if (cls) td.className = cls; tr.appendChild(td); return td; };
  cell(i + 1); cell(rq.method); cell(rq.url, 'url');
  cell(rs.status === 0 ? 'failed: ' + (rs._error || '').split(':')[0] : rs.status + ' ' + rs.statusText);
  cell(rs.content.mimeType.split(';')[0]); cell(rs.content.size); cell(e.time.toFixed(2));
  const bars = cell('');
  ['dns', 'connect', 'wait', 'receive'].forEach(k => { if (t[k] > 0) {
    const b = document.createElement('span'); b.className = 'bar ' + k;
    b.style.width = Math.max(1, Math.round(t[k] * 40)) + 'px'; bars.appendChild(b); } });
  rows.appendChild(tr);
  if (rs.content.encoding === 'base64' && rs.content.mimeType.startsWith('image/')) {
    const img = new Image();
    imgDone = new Promise(ok => { img.onload = () => ok(img.naturalWidth + 'x' + img.naturalHeight);
      img.onerror = () => ok('broken'); });
    img.src = 'data:' + rs.content.mimeType + ';base64,' + rs.content.text;
    document.getElementById('image').appendChild(img);
  }
});
document.getElementById('title').textContent =
  'HAR ' + log.version + ' from ' + log.creator.name + ' ' + log.creator.version +
  ': ' + log.entries.length + ' entries';
(imgDone || Promise.resolve('none')).then(size => {
  const v = document.getElementById('verdict');
  v.textContent = (problems.length ? 'HAR INVALID' : 'HAR VALID') + '; image ' + size;
  v.className = problems.length ? 'bad' : 'ok';
  document.getElementById('problems').textContent = problems.join('\n');
});
</script></body></html>
HTML
# inline the HAR; "</" must not close the <script> element
page() { # har-file output-page
  { cat "$work/head.html"; sed 's#</#<\\/#g' "$1"; cat "$work/tail.html"; } >"$2"
}
page "$work/run.har" "$work/viewer.html"
# a control: the same HAR with a wrong version and one timing removed must
# be found invalid, or the viewer is not checking anything
sed -e '0,/"version": "1.2"/s//"version": "1.1"/' -e '0,/"wait": /s//"wait_": /' "$work/run.har" >"$work/broken.har"
page "$work/broken.har" "$work/broken.html"

# --- 3. headless Chromium ----------------------------------------------------
chrome() { # page chromium-args...
  local profile target=$1
  shift
  profile=$(mktemp -d "$work/profile.XXXXXX")
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage \
    --user-data-dir="$profile" --virtual-time-budget=5000 "$@" "file://$target" 2>>"$work/chromium.log"
}
chrome "$work/viewer.html" --dump-dom >"$work/dom.html" ||
  { tail -20 "$work/chromium.log" >&2; echo "har_chromium: chromium failed" >&2; exit 1; }
chrome "$work/broken.html" --dump-dom >"$work/broken-dom.html" || true
chrome "$work/viewer.html" --window-size=1280,720 --screenshot="$shot" >/dev/null || true

fail=0
check() { # description, grep -E pattern
  if grep -Eq -- "$2" "$work/dom.html"; then echo "ok   $1"; else echo "FAIL $1"; fail=1; fi
}
check "the browser parsed and validated the HAR" 'id="verdict" class="ok">HAR VALID; image 100x100<'
check "8 entries from lurl" 'HAR 1\.2 from lurl [0-9.]+: 8 entries'
check "the redirect hops are rows" '/relative-redirect/1<'
check "the 404 is a row" '>404 NOT FOUND<'
check "the refused connection is a row" '>failed: ConnectionError<'
if grep -q 'class="bad">HAR INVALID' "$work/broken-dom.html" &&
   grep -q 'log.version is not 1.2' "$work/broken-dom.html" &&
   grep -q 'timings.wait' "$work/broken-dom.html"; then
  echo "ok   a damaged copy is found invalid"
else
  echo "FAIL the viewer accepted a damaged HAR"; fail=1
fi
if grep -q 'chromium-secret' "$work/run.har"; then echo "FAIL a secret is in the HAR"; fail=1; else echo "ok   no secret in the HAR"; fi
if [ ! -s "$shot" ]; then echo "FAIL no screenshot"; fail=1
elif [ -n "${HAR_SCREENSHOT:-}" ]; then echo "ok   screenshot: $shot"
else echo "ok   screenshot taken (set HAR_SCREENSHOT=path.png to keep it)"; fi
if [ -n "${HAR_KEEP:-}" ]; then cp "$work/run.har" "$work/viewer.html" "$work/dom.html" "$work/broken-dom.html" "$HAR_KEEP"/; fi
exit $fail
