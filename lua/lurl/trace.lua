-- lurl.trace: what a session with `trace` shows of its exchanges.
--
-- lua/lurl/client.lua calls M.new(option) for a session created with
-- `trace = true | function | file` (and for every session, the hidden one
-- included, when LURL_TRACE=1 is set, which `lurl --trace` does).  The
-- observer it returns receives the session's raw events (see `emit` in
-- client.lua) and turns them into either text on stderr (curl -v style:
-- "> " request, "< " response, "* " lurl's own notes) or redacted tables
-- for a user function.
--
-- What is secret is decided by lurl.redact, the one module lurl.har,
-- http.assert and error objects use too, so every output redacts alike.
local core = require "http.core"
local redact = require "lurl.redact"

local M = {}

local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local fmt, concat = string.format, table.concat

------------------------------------------------------------------ redaction

-- The rules live in lurl.redact (shared with lurl.har, http.assert and
-- error objects); these names stay for scripts and specs that used them.
M.is_secret_header = redact.is_secret_header
M.redact_header = redact.header
M.redact_url = redact.url
M.redact_list = redact.list
M.base64 = redact.base64
M.secret_list = redact.secret_list
M.scrub = redact.scrub
M.request_pairs = redact.request_pairs

-- secrets(res [, set [, ctx]]) -> list of the secret strings this exchange
-- carried, longest first, for M.scrub (set: a table used as a set, to
-- gather the secrets of many exchanges).
function M.secrets(res, set, ctx)
  return redact.secret_list(redact.secrets(res, set, ctx))
end

------------------------------------------------------------------ snapshots

local function copy_timings(t)
  local out = {}
  for k, v in pairs(t or {}) do out[k] = v end
  return out
end

-- Where a 3xx hop sends the client next, as an absolute redacted URL.
local function redirect_target(res, ctx)
  if not (res.status >= 300 and res.status < 400) then return nil end
  local loc = res.headers["location"]
  if not loc then return nil end
  local abs = core.resolve(res.url, loc)
  return redact.url(abs or loc, ctx)
end

local function error_copy(err, ctx)
  if type(err) ~= "table" then return { kind = "RequestException", message = tostring(err) } end
  local e = { kind = err.kind, message = err.message, url = err.url }
  redact.error(e, ctx, err.url)
  return { kind = err.kind, message = e.message, curl_code = err.curl_code,
    text = redact.error_text(err, ctx) }
end

-- snapshot(ev [, ctx]) -> a redacted copy of one raw session event, built
-- only of plain tables, strings and numbers (the shape is documented in
-- docs/debugging.md).  User trace functions get this, never the raw event.
-- ctx: the session's redaction context (lurl.redact); a response made
-- with request options of its own carries its context in res._redact.
function M.snapshot(ev, sctx)
  if ev.type == "response" then
    local res = ev.response
    local ctx = rawget(res, "_redact") or sctx
    return {
      type = "response", hop = ev.hop, attempt = ev.attempt,
      request = { method = res.request.method, url = redact.url(res.request.url, ctx),
        headers = redact.list(redact.request_pairs(res), ctx) },
      response = { status = res.status, reason = res.reason, http_version = res.http_version,
        url = redact.url(res.url, ctx), headers = redact.list(res.header_list, ctx),
        timings = copy_timings(res.timings), elapsed = res.elapsed, body_size = #(res.body or "") },
      redirect = redirect_target(res, ctx),
    }
  elseif ev.type == "error" then
    local ctx = ev.redact or sctx
    return { type = "error", attempt = ev.attempt, method = ev.method,
      url = redact.url(ev.url, ctx), error = error_copy(ev.error, ctx) }
  elseif ev.type == "retry" then
    local r = ev.reason
    local ctx = ev.redact or sctx
    local reason
    if type(r) == "table" and getmetatable(r) == core.error_mt then
      reason = error_copy(r, ctx)
    elseif type(r) == "table" and r.status then
      reason = { status = r.status, reason = r.reason,
        url = redact.url(r.url, rawget(r, "_redact") or ctx) }
    else
      reason = error_copy(r, ctx)
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

-- new(option [, ctx]) -> function(event).  option: true (text on stderr),
-- a function (receives M.snapshot tables), or an open file / any object
-- with a write method (text goes there).  Anything else is a programming
-- error, reported against the `session` call that passed it.  ctx: the
-- session's redaction context (its `redact` names), or nil.
function M.new(option, ctx)
  local sink
  if option == true then
    sink = io.stderr
  elseif type(option) == "function" then
    return function(ev) option(M.snapshot(ev, ctx)) end
  elseif (type(option) == "userdata" or type(option) == "table") and option.write then
    sink = option
  else
    error(("bad argument #1 to 'session' (field 'trace': true, function or file expected, got %s)")
      :format(type(option)), 4)
  end
  return function(ev)
    -- one write per event, so concurrent tasks never interleave lines
    sink:write(M.format(M.snapshot(ev, ctx)))
    if sink.flush then sink:flush() end
  end
end

return M
