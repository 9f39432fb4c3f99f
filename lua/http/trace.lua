-- http.trace: what a session with `trace` shows of its exchanges.
--
-- lua/http/client.lua calls M.new(option) for a session created with
-- `trace = true | function | file` (and for every session, the hidden one
-- included, when LURL_TRACE=1 is set, which `lurl --trace` does).  The
-- observer it returns receives the session's raw events (see `emit` in
-- client.lua) and turns them into either text on stderr (curl -v style:
-- "> " request, "< " response, "* " lurl's own notes) or redacted tables
-- for a user function.
--
-- This file is also the one place that knows which parts of an exchange
-- are secret: http.assert (failure messages) and http.har (recordings)
-- use M.redact_header, M.redact_url, M.secrets and M.scrub, so the three
-- outputs redact the same way.
local core = require "http.core"
local response_mt = require("http.response").mt

local M = {}

local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local fmt, concat = string.format, table.concat

------------------------------------------------------------------ redaction

local MASK = "***"

-- Header fields whose whole value is a credential.  Authorization keeps
-- its scheme word when it is a known one (knowing "Bearer" was sent helps
-- debugging and reveals nothing); the API-key style fields are not in the
-- SPEC's list but carry secrets just as often.
local SECRET_FIELDS = {
  ["authorization"] = "auth", ["proxy-authorization"] = "auth",
  ["cookie"] = "cookie", ["set-cookie"] = "set-cookie",
  ["x-api-key"] = "whole", ["api-key"] = "whole", ["x-auth-token"] = "whole",
  ["x-access-token"] = "whole",
}
local SCHEMES = { basic = true, bearer = true, digest = true, negotiate = true,
  ntlm = true, token = true, ["aws4-hmac-sha256"] = true, hoba = true, mutual = true }

-- Is this header field (any case) one whose value must never be shown?
function M.is_secret_header(name)
  return SECRET_FIELDS[tostring(name):lower()] ~= nil
end

-- redact_header(name, value) -> value safe to print.
--   Authorization: Bearer abc   -> Bearer ***
--   Cookie: a=1; b=2            -> a=***; b=***
--   Set-Cookie: s=abc; Path=/   -> s=***; Path=/
-- Other fields come back unchanged.
function M.redact_header(name, value)
  local how = SECRET_FIELDS[tostring(name):lower()]
  if not how then return value end
  value = tostring(value)
  if how == "auth" then
    local scheme = value:match("^%s*([%w-]+)%s+%S")
    if scheme and SCHEMES[scheme:lower()] then return scheme .. " " .. MASK end
    return MASK
  elseif how == "cookie" then
    local out = {}
    for pair in value:gmatch("[^;]+") do
      local n = pair:match("^%s*([^=]-)%s*=")
      out[#out + 1] = n and (n .. "=" .. MASK) or MASK
    end
    return concat(out, "; ")
  elseif how == "set-cookie" then
    local n, rest = value:match("^%s*([^=;]-)%s*=[^;]*(.*)$")
    if not n then return MASK end
    return n .. "=" .. MASK .. rest
  end
  return MASK
end

-- URL with its password replaced by "***" (the same rule as error
-- messages, so a URL reads the same in a trace and in an error).
function M.redact_url(url)
  if type(url) ~= "string" then return url end
  return core.redact(url)
end

-- Redacted copy of a header list ({name, value} pairs) as pairs.
function M.redact_list(list)
  local out = {}
  for i, f in ipairs(list or {}) do out[i] = { f[1], M.redact_header(f[1], f[2]) } end
  return out
end

local function b64decode(s)
  local tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  s = s:gsub("[^%w+/]", "")
  local bits, out = 0, {}
  local acc = 0
  for i = 1, #s do
    local v = tab:find(s:sub(i, i), 1, true) - 1
    acc = (acc << 6) | v
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      out[#out + 1] = string.char((acc >> bits) & 0xFF)
    end
  end
  return concat(out)
end

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Secret strings shorter than this are not hunted for in free text: a
-- cookie "id=1" would otherwise turn every "1" of a body into "***".
local MIN_SECRET = 3

local function add_secret(set, s)
  if type(s) == "string" and #s >= MIN_SECRET then set[s] = true end
end

-- Collects the credentials one header value carries, in every form a
-- server may echo them back (the whole value, the part after the scheme,
-- and for Basic the decoded "user:password" and the password alone).
local function header_secrets(set, name, value)
  local how = SECRET_FIELDS[name:lower()]
  if not how then return end
  value = tostring(value)
  if how == "auth" then
    local scheme, cred = value:match("^%s*([%w-]+)%s+(.-)%s*$")
    -- with a known scheme only the credentials are secret, so an echo
    -- reads "Bearer ***" like the header does
    if not (scheme and SCHEMES[scheme:lower()]) then add_secret(set, value) end
    if cred then
      add_secret(set, cred)
      if scheme:lower() == "basic" and cred:match("^[%w+/=]+$") then
        local ok, plain = pcall(b64decode, cred)
        if ok then
          add_secret(set, plain)
          add_secret(set, plain:match("^[^:]*:(.*)$"))
        end
      end
    end
  elseif how == "cookie" then
    for pair in value:gmatch("[^;]+") do add_secret(set, pair:match("=%s*(.-)%s*$")) end
  elseif how == "set-cookie" then
    add_secret(set, value:match("^[^=;]*=%s*([^;]-)%s*;") or value:match("^[^=;]*=%s*(.-)%s*$"))
  else
    add_secret(set, value)
  end
end

local function b64encode(s)
  local tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = (a << 16) | ((b or 0) << 8) | (c or 0)
    local function ch(n) return tab:sub(n + 1, n + 1) end
    out[#out + 1] = ch((v >> 18) & 63) .. ch((v >> 12) & 63) ..
      (b and ch((v >> 6) & 63) or "=") .. (c and ch(v & 63) or "=")
  end
  return concat(out)
end
M.base64 = b64encode

-- A URL's password, raw and decoded, and the Basic credentials libcurl
-- builds from "user:password@" (sent without showing in res.request, and
-- echoed back by servers such as httpbin).
local function url_secrets(set, url)
  if type(url) ~= "string" then return end
  local auth = url:match("^%a[%w+.-]*://([^/?#]*)") or ""
  local userinfo = auth:match("^(.*)@")
  local user, pw = (userinfo or ""):match("^([^:]*):(.*)$")
  if pw then
    add_secret(set, pw)
    add_secret(set, unescape(pw))
    add_secret(set, b64encode(unescape(user) .. ":" .. unescape(pw)))
  end
end

-- secrets(res) -> list of the secret strings this exchange carried
-- (request credentials and cookies, cookies the response set, URL
-- passwords), longest first, for M.scrub.  Looks into the earlier hops of
-- a redirect chain too.  With `set` (a table used as a set), adds to it,
-- so one set can gather the secrets of many exchanges.
function M.secrets(res, set)
  set = set or {}
  if type(res) ~= "table" then return M.secret_list(set) end
  local req = res.request
  if type(req) == "table" then
    url_secrets(set, req.url)
    if type(req.headers) == "table" then
      for k, v in pairs(req.headers) do header_secrets(set, k, v) end
    end
  end
  url_secrets(set, res.url)
  if type(res.header_list) == "table" then
    for _, f in ipairs(res.header_list) do header_secrets(set, f[1], f[2]) end
  end
  -- earlier hops of a redirect chain set cookies the final body may echo
  local hist = rawget(res, "history")
  if type(hist) == "table" then
    for _, h in ipairs(hist) do M.secrets(h, set) end
  end
  return M.secret_list(set)
end

function M.secret_list(set)
  local list = {}
  for s in pairs(set) do list[#list + 1] = s end
  table.sort(list, function(a, b) return #a > #b or (#a == #b and a < b) end)
  return list
end

-- scrub(text, secrets) -> text with every occurrence of each secret
-- replaced by "***" (plain search: secrets are not patterns).
function M.scrub(text, secrets)
  if type(text) ~= "string" or not secrets then return text end
  for _, s in ipairs(secrets) do
    local from = 1
    local parts = {}
    while true do
      local i, j = text:find(s, from, true)
      if not i then break end
      parts[#parts + 1] = text:sub(from, i - 1)
      parts[#parts + 1] = MASK
      from = j + 1
    end
    if #parts > 0 then
      parts[#parts + 1] = text:sub(from)
      text = concat(parts)
    end
  end
  return text
end

------------------------------------------------------------------ snapshots

-- The request headers of a response as {name, value} pairs, in the order
-- lurl set them (res.request.headers is a map; the raw block keeps order).
local function request_pairs(res)
  local raw = rawget(res, "_reqhead")
  if raw == nil and getmetatable(res) == response_mt then raw = res._reqhead end
  if type(raw) == "string" then
    local _, list = core.parse_headers("HTTP/1.1 0 x\r\n" .. raw)
    return list
  end
  local list = {}
  local req = res.request
  for k, v in pairs(type(req) == "table" and req.headers or {}) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end
M.request_pairs = request_pairs

local function copy_timings(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

-- Where a 3xx hop sends the client next, as an absolute redacted URL.
local function redirect_target(res)
  if not (res.status >= 300 and res.status < 400) then return nil end
  local loc = res.headers["location"]
  if not loc then return nil end
  local abs = core.resolve(res.url, loc)
  return M.redact_url(abs or loc)
end

local function error_copy(err)
  if type(err) ~= "table" then return { kind = "RequestException", message = tostring(err) } end
  return { kind = err.kind, message = err.message, curl_code = err.curl_code,
    text = tostring(err) }
end

-- snapshot(ev) -> a redacted copy of one raw session event, built only of
-- plain tables, strings and numbers (the shape is documented in
-- docs/debugging.md).  User trace functions get this, never the raw event.
function M.snapshot(ev)
  if ev.type == "response" then
    local res = ev.response
    return {
      type = "response", hop = ev.hop, attempt = ev.attempt,
      request = { method = res.request.method, url = M.redact_url(res.request.url),
        headers = M.redact_list(request_pairs(res)) },
      response = { status = res.status, reason = res.reason, http_version = res.http_version,
        url = M.redact_url(res.url), headers = M.redact_list(res.header_list),
        timings = copy_timings(res.timings), elapsed = res.elapsed, body_size = #(res.body or "") },
      redirect = redirect_target(res),
    }
  elseif ev.type == "error" then
    return { type = "error", attempt = ev.attempt, method = ev.method,
      url = M.redact_url(ev.url), error = error_copy(ev.error) }
  elseif ev.type == "retry" then
    local r = ev.reason
    local reason
    if type(r) == "table" and getmetatable(r) == core.error_mt then
      reason = error_copy(r)
    elseif type(r) == "table" and r.status then
      reason = { status = r.status, reason = r.reason, url = M.redact_url(r.url) }
    else
      reason = error_copy(r)
    end
    return { type = "retry", attempt = ev.attempt, delay = ev.delay, reason = reason }
  end
  return { type = tostring(ev.type) }
end

------------------------------------------------------------------ text

local function ms(s) return fmt("%.2f ms", (s or 0) * 1000) end

-- One timing line: "* timing: dns 0.04 ms, connect 0.10 ms, ...".
function M.timing_line(t)
  t = t or {}
  return fmt("dns %s, connect %s, tls %s, ttfb %s, total %s", ms(t.dns), ms(t.connect),
    ms(t.tls), ms(t.ttfb), ms(t.total))
end

local function http_label(v)
  if v == "2" or v == "3" then return "HTTP/" .. v end
  return "HTTP/" .. tostring(v or "1.1")
end

-- format(snapshot) -> the text block for one event, lines ending in "\n".
function M.format(s)
  local out = {}
  local function line(...) out[#out + 1] = concat({ ... }) .. "\n" end
  if s.type == "response" then
    local rq, rs = s.request, s.response
    -- a later hop or attempt gets a heading line, so a chain reads apart
    if (s.hop or 1) > 1 or (s.attempt or 1) > 1 then
      line("* ", rq.method, " ", rq.url, fmt(" (hop %d, attempt %d)", s.hop or 1, s.attempt or 1))
    end
    line("> ", rq.method, " ", rq.url, " ", http_label(rs.http_version))
    for _, f in ipairs(rq.headers) do line("> ", f[1], ": ", f[2]) end
    line(">")
    line("< ", http_label(rs.http_version), " ", tostring(rs.status),
      rs.reason ~= "" and (" " .. rs.reason) or "")
    for _, f in ipairs(rs.headers) do line("< ", f[1], ": ", f[2]) end
    line("<")
    if s.redirect then line("* redirect ", tostring(rs.status), " -> ", s.redirect) end
    line("* timing: ", M.timing_line(rs.timings), fmt(" (%d body bytes)", rs.body_size or 0))
  elseif s.type == "error" then
    line("* error on ", tostring(s.method), " ", tostring(s.url),
      fmt(" (attempt %d): ", s.attempt or 1), s.error.text or
        (tostring(s.error.kind) .. ": " .. tostring(s.error.message)))
  elseif s.type == "retry" then
    local why = s.reason.status and (tostring(s.reason.status) .. " " .. tostring(s.reason.reason))
      or (tostring(s.reason.kind) .. ": " .. tostring(s.reason.message))
    line(fmt("* retry after attempt %d in %.2f s: ", s.attempt or 1, s.delay or 0), why)
  end
  return concat(out)
end

------------------------------------------------------------------ observer

-- new(option) -> function(event).  option: true (text on stderr), a
-- function (receives M.snapshot tables), or an open file / any object with
-- a write method (text goes there).  Anything else is a programming error,
-- reported against the `session` call that passed it.
function M.new(option)
  local sink
  if option == true then
    sink = io.stderr
  elseif type(option) == "function" then
    return function(ev) option(M.snapshot(ev)) end
  elseif (type(option) == "userdata" or type(option) == "table") and option.write then
    sink = option
  else
    error(("bad argument #1 to 'session' (field 'trace': true, function or file expected, got %s)")
      :format(type(option)), 4)
  end
  return function(ev)
    -- one write per event, so concurrent tasks never interleave lines
    sink:write(M.format(M.snapshot(ev)))
    if sink.flush then sink:flush() end
  end
end

return M
