-- lurl.har: recording a session's exchanges as HAR 1.2.
--
-- lua/lurl/client.lua calls M.new(option) for a session created with
-- `har = "path.har"` or `har = {path = "x.har", max_body = N}`, feeds every
-- event to rec:observe(ev) and calls rec:close() from s:close(), <close>
-- and __gc.  The file is written once, at close, so that a run can be
-- opened afterwards in a browser's network panel or any HAR viewer.
--
-- What goes in (http://www.softwareishard.com/blog/har-12-spec/):
--   * one entry per hop: a redirect chain of n hops gives n entries, each
--     with its own status, headers, timings and redirectURL;
--   * a failed request (no HTTP answer) gives an entry with status 0 and
--     the error text in `_error`, as browsers record aborted requests;
--   * custom fields `_hop` and `_attempt` say where an entry sits in a
--     redirect chain and in a run of retries;
--   * bodies up to max_body bytes (default 65536; 0 keeps none), as text
--     when they are UTF-8, base64 otherwise; content.size is always the
--     whole decoded size;
--   * request bodies only when the response carries them
--     (res.request.body); otherwise postData is left out and bodySize is -1;
--   * secrets redacted by lurl.redact, as in traces: Authorization and
--     Proxy-Authorization values, cookie values, URL user parts and secret
--     query parameters (in URLs, queryString and Location), the session's
--     `redact` names, and the same secrets -- with the proxy's credentials
--     and the jar's cookie values -- wherever they appear in a recorded body.
-- Everything an entry needs is copied when the event arrives: the client
-- changes the last hop's timings afterwards (redirect totals), and keeping
-- whole responses alive until close would hold every body in memory.
local core = require "http.core"
local redact = require "lurl.redact"
local cookie = require "lurl.cookie"

local M = {}

local type, tostring, ipairs, pairs = type, tostring, ipairs, pairs
local fmt, concat = string.format, table.concat

local DEFAULT_MAX_BODY = 65536

------------------------------------------------------------------ JSON

-- A small ordered JSON writer: HAR files are read by people as well as
-- tools, and cjson writes keys in hash order and escapes every "/".
local ARRAY_MT = {}
local function array(t) return setmetatable(t or {}, ARRAY_MT) end

-- Known keys first, in the order the HAR spec lists them; others after,
-- sorted.
local KEY_ORDER = {}
for i, k in ipairs { "name", "value", "version", "creator", "browser", "pages", "entries",
  "pageref", "startedDateTime", "time", "request", "response", "cache", "timings",
  "serverIPAddress", "connection", "method", "url", "status", "statusText", "httpVersion",
  "cookies", "headers", "queryString", "postData", "content", "redirectURL", "headersSize",
  "bodySize", "path", "domain", "expires", "httpOnly", "secure", "size", "compression",
  "mimeType", "params", "text", "encoding", "blocked", "dns", "connect", "ssl", "send", "wait",
  "receive", "comment" } do
  KEY_ORDER[k] = i
end

local function key_before(a, b)
  local ia, ib = KEY_ORDER[a] or 1000, KEY_ORDER[b] or 1000
  if ia ~= ib then return ia < ib end
  return a < b
end

local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- JSON text must be UTF-8: bytes of a string that is not are read as
-- Latin-1 (what a header value with raw 8-bit bytes most likely is).
local function json_string(s)
  if not utf8.len(s) then
    s = s:gsub("[\128-\255]", function(c) return utf8.char(c:byte()) end)
  end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESC[c] or fmt("\\u%04x", c:byte())
  end) .. '"'
end

local function json_number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "-1" end
  if math.type(v) == "integer" then return tostring(v) end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return fmt("%d", v) end
  local s = fmt("%.3f", v):gsub("0+$", ""):gsub("%.$", "")
  if s == "-0" then s = "0" end
  return s
end

local function encode(v, indent, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = json_string(v)
  elseif t == "number" then
    out[#out + 1] = json_number(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif t == "table" then
    local inner = indent .. "  "
    if getmetatable(v) == ARRAY_MT then
      if #v == 0 then out[#out + 1] = "[]"; return end
      out[#out + 1] = "[\n"
      for i, x in ipairs(v) do
        out[#out + 1] = inner
        encode(x, inner, out)
        out[#out + 1] = i < #v and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "]"
    else
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = k end
      if #keys == 0 then out[#out + 1] = "{}"; return end
      table.sort(keys, key_before)
      out[#out + 1] = "{\n"
      for i, k in ipairs(keys) do
        out[#out + 1] = inner .. json_string(k) .. ": "
        encode(v[k], inner, out)
        out[#out + 1] = i < #keys and ",\n" or "\n"
      end
      out[#out + 1] = indent .. "}"
    end
  else
    out[#out + 1] = "null"
  end
end
M.encode = function(v)
  local out = {}
  encode(v, "", out)
  return concat(out)
end
M.array = array

------------------------------------------------------------------ pieces

local base64 = redact.base64

local function unescape(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- queryString: the URL's query as decoded {name, value} objects.
local function query_string(url)
  local out = array()
  local q = url:match("^[^#]-%?([^#]*)")
  if not q or q == "" then return out end
  for part in q:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    out[#out + 1] = { name = unescape(k), value = unescape(v) }
  end
  return out
end

local function headers_of(list, ctx)
  local out = array()
  for _, f in ipairs(list) do
    out[#out + 1] = { name = f[1], value = tostring(redact.header(f[1], f[2], ctx)) }
  end
  return out
end

local function find_header(list, name)
  for _, f in ipairs(list) do
    if f[1]:lower() == name then return f[2] end
  end
end

-- Cookie request header -> [{name, value}] with values redacted.
local function request_cookies(list)
  local out = array()
  for _, f in ipairs(list) do
    if f[1]:lower() == "cookie" then
      for n in cookie.pairs(f[2]) do
        if n then out[#out + 1] = { name = n, value = "***" } end
      end
    end
  end
  return out
end

-- Set-Cookie response headers -> HAR cookie objects, values redacted.
local function response_cookies(list)
  local out = array()
  for _, f in ipairs(list) do
    if f[1]:lower() == "set-cookie" then
      local n, _, attrs = cookie.set_cookie(f[2])
      if n then
        local c = { name = n, value = "***" }
        for k, v in cookie.attributes(attrs) do
          if k == "path" then c.path = v
          elseif k == "domain" then c.domain = v
          elseif k == "expires" then
            local t = v and core.getdate(v)
            if t then c.expires = os.date("!%Y-%m-%dT%H:%M:%S.000Z", t) end
          elseif k == "httponly" then c.httpOnly = true
          elseif k == "secure" then c.secure = true
          end
        end
        out[#out + 1] = c
      end
    end
  end
  return out
end

local TEXTUAL = { "^text/", "json", "xml", "javascript", "ecmascript", "x%-www%-form%-urlencoded",
  "yaml", "csv", "graphql" }

local function textual(mime)
  mime = (mime or ""):lower()
  if mime == "" then return true end -- unknown: decide by the bytes
  for _, p in ipairs(TEXTUAL) do if mime:find(p) then return true end end
  return false
end

-- Cuts at most `max` bytes of s without splitting a UTF-8 sequence;
-- returns the piece and whether it is valid UTF-8 text.
local function utf8_piece(s, max)
  local piece = s:sub(1, max)
  if utf8.len(piece) then return piece, true end
  if #s > max then
    for cut = 1, 3 do
      local p = piece:sub(1, #piece - cut)
      if utf8.len(p) then return p, true end
    end
  end
  return piece, false
end

-- content object: the whole size, and up to max_body bytes of the body.
-- The bytes are kept raw in `_raw` until the file is written: only then
-- are all the session's secrets known (a cookie set by one response is
-- echoed in the body of a later one), see finish_body.
local function content_of(body, mime, max_body)
  local c = { size = #body, mimeType = mime or "x-unknown" }
  if max_body <= 0 or #body == 0 then
    if #body > 0 then c.comment = "body not recorded (max_body = 0)" end
    return c
  end
  local piece, is_text = utf8_piece(body, max_body)
  c._raw, c._text = piece, is_text and textual(mime) and not piece:find("%z")
  if #body > max_body then
    c.comment = fmt("body truncated to %d of %d bytes (max_body)", max_body, #body)
  end
  return c
end

-- Copy of a content or postData object with its recorded bytes scrubbed
-- of `secrets` and written as text or base64.
local function finish_body(c, secrets)
  if not c or c._raw == nil then return c end
  local out = {}
  for k, v in pairs(c) do out[k] = v end
  out._raw, out._text = nil, nil
  local piece = redact.scrub(c._raw, secrets)
  if c._text then
    out.text = piece
  else
    out.text = base64(piece)
    out.encoding = "base64"
  end
  return out
end

local function http_version(v)
  if v == "2" then return "HTTP/2.0" end
  if v == "3" then return "HTTP/3" end
  return "HTTP/" .. tostring(v or "1.1")
end

local function ms(s) return (s or 0) * 1000 end

-- HAR timings (milliseconds) from res.timings (seconds).  A phase that did
-- not happen on this hop (a reused connection has no dns, connect or tls)
-- is -1; HAR counts ssl inside connect.  `send` is not measured apart
-- from the time to first byte, so wait holds both and send is 0.
local function timings_of(t)
  local dns = (t.dns or 0) > 0 and ms(t.dns) or -1
  local tls = (t.tls or 0) > 0 and ms(t.tls) or -1
  local conn = (t.connect or 0) > 0 and ms(t.connect) + math.max(tls, 0) or -1
  local wait = ms(t.ttfb)
  local used = math.max(dns, 0) + math.max(conn, 0) + wait
  local receive = math.max(0, ms(t.total) - used)
  local h = { blocked = -1, dns = dns, connect = conn, ssl = tls, send = 0, wait = wait,
    receive = receive }
  return h, math.max(dns, 0) + math.max(conn, 0) + wait + receive
end

------------------------------------------------------------------ recorder

local REC = {}
REC.__index = REC
REC.__name = "http.har"

-- Seconds since the epoch, with a fraction.  os.time() has whole seconds
-- only, so the wall clock is the monotonic clock plus an offset that each
-- event can only move forward (os.time() is a lower bound of the truth):
-- entries stay ordered and within a second of the real time.  When the C
-- side offers core.wallclock() (CLOCK_REALTIME with a fraction) the base
-- is exact from the start.
local function wall(rec, mono)
  local w = rec.base_wall + (mono - rec.base_mono)
  if core.wallclock then return w end -- exact base: nothing to refine
  local lower = os.time()
  if mono >= rec.last_mono and w < lower then
    rec.base_wall = rec.base_wall + (lower - w)
    w = lower
  end
  rec.last_mono = math.max(rec.last_mono, mono)
  return w
end

local function iso(t)
  local sec = math.floor(t)
  local msec = math.floor((t - sec) * 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. fmt(".%03dZ", msec)
end

local function response_entry(rec, ev)
  local res = ev.response
  local req = res.request
  local reqlist = redact.request_pairs(res)
  local reslist = res.header_list
  local ctx = rawget(res, "_redact") or rec.ctx
  redact.secrets(res, rec.secrets, ctx)
  -- the jar now (its cookies may be echoed in this body or a later one)
  -- and the proxies' credentials
  redact.add_context(rec.secrets, { proxies = ctx and ctx.proxies or {}, share = rec.share })
  local timings, total = timings_of(res.timings or {})
  local started = core.now() - (res.timings and res.timings.total or res.elapsed or 0)
  local url = redact.url(req.url or res.url, ctx)

  local request = {
    method = req.method, url = url, httpVersion = http_version(res.http_version),
    headers = headers_of(reqlist, ctx), queryString = query_string(url),
    cookies = request_cookies(reqlist), headersSize = -1, bodySize = -1,
  }
  if type(req.body) == "string" then
    request.bodySize = #req.body
    local piece, is_text = utf8_piece(req.body, rec.max_body)
    -- HAR 1.2 has no encoding for postData; binary goes out as base64
    -- with "encoding", as Chrome writes it
    request.postData = { mimeType = find_header(reqlist, "content-type") or "",
      _raw = piece, _text = is_text }
  end

  local body = res.body or ""
  local mime = res.headers["content-type"]
  local clen = tonumber(res.headers["content-length"] or "")
  local encoded = res.headers["content-encoding"]
  local body_size = -1
  if req.method == "HEAD" or res.status == 204 or res.status == 304 then body_size = 0
  elseif clen and math.type(clen) == "integer" then body_size = clen
  elseif not encoded then body_size = #body end
  local content = content_of(body, mime, rec.max_body)
  if encoded and body_size >= 0 and #body > body_size then content.compression = #body - body_size end
  local head = res._head
  local location = res.headers["location"]

  local response = {
    status = res.status, statusText = res.reason or "", httpVersion = http_version(res.http_version),
    headers = headers_of(reslist, ctx), cookies = response_cookies(reslist), content = content,
    redirectURL = location and redact.url(location, ctx) or "",
    headersSize = type(head) == "string" and #head or -1, bodySize = body_size,
  }
  return {
    _mono = started, startedDateTime = started, time = total, request = request,
    response = response, cache = {}, timings = timings, _hop = ev.hop, _attempt = ev.attempt,
  }
end

local function error_entry(rec, ev)
  local ctx = ev.redact or rec.ctx
  redact.add_url(rec.secrets, ev.url, ctx)
  local url = redact.url(ev.url or "", ctx)
  local now = core.now()
  return {
    _mono = now, startedDateTime = now, time = 0,
    request = { method = ev.method or "GET", url = url, httpVersion = "", headers = array(),
      queryString = query_string(url), cookies = array(), headersSize = -1, bodySize = -1 },
    response = { status = 0, statusText = "", httpVersion = "", headers = array(),
      cookies = array(), content = { size = 0, mimeType = "x-unknown" }, redirectURL = "",
      headersSize = -1, bodySize = -1, _error = redact.error_text(ev.error, ctx) },
    cache = {},
    timings = { blocked = -1, dns = -1, connect = -1, ssl = -1, send = 0, wait = 0, receive = 0 },
    _attempt = ev.attempt,
  }
end

-- rec:observe(ev): records one session event.  A fault in here must not
-- break the user's request, so it is reported on stderr once instead.
function REC.observe(rec, ev)
  if rec.closed then return end
  local ok, entry = pcall(function()
    if ev.type == "response" then return response_entry(rec, ev) end
    if ev.type == "error" then return error_entry(rec, ev) end
  end)
  if not ok then
    if not rec.warned and not core.limited() then -- a limited state has no stderr
      rec.warned = true
      io.stderr:write("lurl: HAR recording of ", rec.path, " skipped an exchange: ",
        tostring(entry), "\n")
    end
    return
  end
  if entry then
    entry._wall = wall(rec, entry._mono)
    rec.entries[#rec.entries + 1] = entry
  end
end

-- rec:document() -> the HAR as a Lua table (what close writes).
function REC.document(rec)
  local entries = array()
  for i, e in ipairs(rec.entries) do entries[i] = e end
  -- entries in the order they started (concurrent requests finish out of
  -- order); the index keeps the sort stable
  local index = {}
  for i, e in ipairs(entries) do index[e] = i end
  table.sort(entries, function(a, b)
    if a._mono ~= b._mono then return a._mono < b._mono end
    return index[a] < index[b]
  end)
  local secrets = redact.secret_list(rec.secrets)
  local out = array()
  for i, e in ipairs(entries) do
    local copy = {}
    for k, v in pairs(e) do copy[k] = v end
    copy._mono, copy._wall = nil, nil
    copy.request, copy.response = {}, {}
    for k, v in pairs(e.request) do copy.request[k] = v end
    for k, v in pairs(e.response) do copy.response[k] = v end
    copy.request.postData = finish_body(e.request.postData, secrets)
    copy.response.content = finish_body(e.response.content, secrets)
    copy.startedDateTime = iso(rec.base_wall + (e._mono - rec.base_mono))
    out[i] = copy
  end
  return { log = { version = "1.2", creator = { name = "lurl", version = rec.version },
    pages = array(), entries = out } }
end

-- rec:close(): writes the file (through a temporary file and a rename, so
-- a reader never sees half a HAR).  Idempotent.  Raises when the file
-- cannot be written: a recording asked for and silently lost is worse.
function REC.close(rec)
  if rec.closed then return true end
  rec.closed = true
  local text = M.encode(rec:document()) .. "\n"
  local tmp = rec.path .. ".tmp"
  local f, err = core.open(tmp, "wb")
  if not f then error("cannot write HAR file: " .. tostring(err), 2) end
  local ok, werr = f:write(text)
  f:close()
  if ok then ok, werr = core.rename(tmp, rec.path) end
  if not ok then
    core.remove(tmp)
    error("cannot write HAR file " .. rec.path .. ": " .. tostring(werr), 2)
  end
  return true
end

REC.__tostring = function(rec)
  return fmt("http.har (%s, %d entries, %s)", rec.path, #rec.entries, rec.closed and "closed" or "open")
end

local function bad(msg)
  -- level 5: new <- add_observers <- new_session <- http.session <- user
  error("bad argument #1 to 'session' (field 'har': " .. msg .. ")", 5)
end

-- new(option [, ctx, share]) -> recorder.  option: a path, or {path =
-- string, max_body = non-negative integer}.  ctx: the session's redaction
-- context (lurl.redact), share: its cookie share (the jar's values are
-- scrubbed from bodies).
function M.new(option, ctx, share)
  local path, max_body = option, DEFAULT_MAX_BODY
  if type(option) == "table" then
    for k in pairs(option) do
      if k ~= "path" and k ~= "max_body" then bad("unknown key '" .. tostring(k) .. "'") end
    end
    path = option.path
    if option.max_body ~= nil then
      max_body = option.max_body
      if math.type(max_body) ~= "integer" or max_body < 0 then
        bad("max_body: non-negative integer expected, got " .. tostring(max_body))
      end
    end
  end
  if type(path) ~= "string" or path == "" then
    bad("path string or {path=, max_body=} expected, got " .. type(path))
  end
  local mono = core.now()
  return setmetatable({ path = path, max_body = max_body, entries = {}, secrets = {},
    ctx = ctx, share = share,
    version = core.version().lurl, base_wall = core.wallclock and core.wallclock() or os.time(),
    base_mono = mono, last_mono = mono },
    REC)
end

-- The pieces lurl.cassette writes its entries with (a cassette is a HAR
-- file too).
M.query_string, M.request_cookies, M.response_cookies = query_string, request_cookies, response_cookies
M.timings_of, M.http_version, M.iso, M.textual = timings_of, http_version, iso, textual

return M
