-- lurl.response: the methods and lazily built fields of a response.
--
-- core.result hands over a table (with this metatable, set through
-- core.set_response_mt) holding the fields almost every caller reads
-- (status, url, body) and _tm: the hop's timings, its raw header block and
-- the method.  Everything else (method, reason, ok, http_version, elapsed,
-- timings, bytes, certificate, headers, header_list, links, cookies, text, encoding, request) is
-- worked out on first access and cached in the table, so a script that never
-- looks at headers never pays for them.
local core = require "http.core"
local json = require "http.json"

local M = {}
local methods = {}
local lazy = {}
local RESPONSE_MT -- below
-- the metatables of responses: RESPONSE_MT, and lurl.transport's for the
-- responses of a session's transport (a mock's), made by M.index_with
local IS_RESPONSE = setmetatable({}, { __mode = "k" })
M.response_mts = IS_RESPONSE
-- debug's: it skips the __metatable field lookup base getmetatable makes
-- (~0.2 k instructions of every method call's self check below); no
-- response metatable has one
local getmetatable = debug.getmetatable

-- A method called with '.' (res.json()) gets no response as self: said so
-- at the caller's line (one metatable test per method call, none per request).
local function not_self(fname)
  error(("bad argument #1 to '%s' (response expected; call it as res:%s())"):format(fname, fname), 3)
end

-- Case-insensitive header table: keys are stored lower-case and looked up
-- lower-case, so res.headers["Content-Type"] == res.headers["content-type"].
local HEADERS_MT = {
  __name = "http.headers",
  __index = function(t, k)
    if type(k) == "string" then
      local l = k:lower()
      if l ~= k then return rawget(t, l) end
    end
  end,
}
M.headers_mt = HEADERS_MT

local function parse_block(raw)
  local h, list = core.parse_headers(raw)
  return setmetatable(h, HEADERS_MT), list
end

function lazy.headers(r)
  local h, list = parse_block(r._head or "")
  rawset(r, "header_list", list)
  return h
end

function lazy.header_list(r)
  local h, list = parse_block(r._head or "")
  rawset(r, "headers", h)
  return list
end

function lazy.links(r)
  return core.links(r.headers["link"])
end

function lazy.encoding(r)
  local ct = r.headers["content-type"]
  if not ct then return nil end
  local cs = ct:match("[Cc][Hh][Aa][Rr][Ss][Ee][Tt]%s*=%s*\"?([^;\"%s]+)")
  return cs and cs:lower() or nil
end

-- The body as UTF-8: converted from the declared charset when there is one;
-- without one the bytes are returned as they are (requests would guess).
function lazy.text(r)
  local cs = r.encoding
  if not cs then return r.body end
  local text = core.to_utf8(r.body, cs)
  return text or r.body
end

-- Cookies this response set, name -> value (attributes are the jar's
-- business; see sessions).  lurl.cookie parses in linear time whatever
-- the server pads its values with.
function lazy.cookies(r)
  local set_cookie = require("lurl.cookie").set_cookie
  local out = {}
  for _, f in ipairs(r.header_list) do
    if f[1]:lower() == "set-cookie" then
      local name, value = set_cookie(f[2])
      if name then out[name] = value end
    end
  end
  return out
end

-- What was sent: method, URL, the header fields lurl set (libcurl adds
-- Host and Content-Length on the wire) and the body when it was a string.
function lazy.request(r)
  local h = parse_block("HTTP/1.1 0 x\r\n" .. (r._reqhead or ""))
  return { method = r.method, url = r.url, headers = h, body = r._reqbody }
end

-- the raw header block, kept in the timings userdata by core.result
function lazy._head(r)
  local tm = r._tm
  return tm and core.hop_info(tm, "head")
end

-- the record of the request header lines lurl set, kept by core.result
-- in the timings userdata
lazy._reqhead = function(r) return r._tm and core.hop_info(r._tm, "reqhead") or core.default_reqhead end

function lazy.history() return {} end

-- dns, connect, tls, ttfb, total and redirect, in seconds
function lazy.timings(r)
  return core.timings(r._tm)
end

-- the peer certificate chain of an https hop (runtime/certs.c), or nil
function lazy.certificate(r) return r._tm and core.certificate(r._tm) end

-- sent, received and headers: bytes on the wire (core.bytes)
function lazy.bytes(r)
  local body, tm = rawget(r, "_reqbody"), r._tm
  if tm then return core.bytes(tm, body and #body or nil) end
  -- a transport's response (lurl.transport): what it was handed and gave back
  local head = r._head or ""
  return { sent = #(r._reqhead or "") + (body and #body or 0), received = #head + #r.body,
    headers = #head }
end

function lazy.reason(r) return core.reason(r._head or "", r.status) end
function lazy.ok(r) return r.status < 400 end
function lazy.http_version(r) return core.hop_info(r._tm, "version") end
function lazy.elapsed(r) return core.hop_info(r._tm, "total") end
function lazy.method(r) return core.hop_info(r._tm, "method") end
function lazy.attempts() return 1 end -- set by the client when there were more

function methods.header_values(r, name)
  if not IS_RESPONSE[getmetatable(r)] then not_self("header_values") end
  if type(name) ~= "string" then
    error(("bad argument #1 to 'header_values' (string expected, got %s)"):format(type(name)), 2)
  end
  local want, out = name:lower(), {}
  for _, f in ipairs(r.header_list) do
    if f[1]:lower() == want then out[#out + 1] = f[2] end
  end
  return out
end

-- Decodes the body as JSON; raises a JSONDecodeError with the position and
-- a short excerpt when it is not JSON.
-- lua-cjson 2.1.0 decodes every number as a float; integral ones become
-- Lua integers (core.json_decode, runtime/jsonnum.c, which calls cjson's
-- decode and walks its result), so ids print as 42 and build URLs like
-- "/items/42".
local jdecode = core.json_decode
local cj_decode, cj_depth -- lua-cjson's decode and decode_max_depth, kept on the first res:json()

-- An error about response r with the `redact` names of its request or
-- session applied (core.error knows the closed list only).
local function redacted(err, r)
  local ctx = rawget(r, "_redact")
  if ctx and ctx.names then require("lurl.redact").error(err, ctx, r.url) end
  return err
end

-- The UTF of a JSON body that is not plain UTF-8, as requests guesses it:
-- a BOM, else the NULs among the first four bytes (JSON text starts with
-- an ASCII character, RFC 8259 section 8.1).  Returns the iconv name and
-- the BOM's length, or nil for UTF-8 without a BOM.
local function json_utf(body)
  local a, b, c, d = body:byte(1, 4)
  if a == 0xEF and b == 0xBB and c == 0xBF then return "UTF-8", 3 end
  if a == 0xFF and b == 0xFE then
    if c == 0 and d == 0 then return "UTF-32LE", 4 end
    return "UTF-16LE", 2
  end
  if a == 0xFE and b == 0xFF then return "UTF-16BE", 2 end
  if a == 0 and b == 0 and c == 0xFE and d == 0xFF then return "UTF-32BE", 4 end
  if a == 0 and b == 0 and c == 0 and d then return "UTF-32BE", 0 end
  if a == 0 and b then return "UTF-16BE", 0 end
  if b == 0 and c == 0 and d == 0 then return "UTF-32LE", 0 end
  if b == 0 then return "UTF-16LE", 0 end
  return nil
end

-- The body as JSON text, converted to UTF-8 when it is UTF-16/32 or has a
-- BOM (core.json_decode tells plain UTF-8 by its first two bytes: no NUL,
-- no BOM lead byte, and decodes it as it is).
local function json_text(body)
  local cs, bom = json_utf(body)
  if not cs then return body end
  return core.to_utf8(body:sub(bom + 1), cs) or body
end

-- lua-cjson's decode, for a response r (nil for anything else: said by
-- res:json()); without lua-cjson, raises at res:json()'s caller (a missing
-- module, not the server's fault).
local function decoder(r)
  if not IS_RESPONSE[getmetatable(r)] then return nil end
  local ok, m = pcall(json.lib)
  if not ok then error(m, 3) end
  cj_decode, cj_depth = m.decode, m.decode_max_depth
  return cj_decode
end

function methods.json(r)
  local ok, v, text = jdecode(IS_RESPONSE, r, cj_decode or decoder(r), cj_depth)
  if ok then return v end
  if ok == nil then
    if v == nil then not_self("json") end
    -- a streamed body, or one maybe UTF-16/32 or with a BOM: as UTF-8 first
    ok, v, text = jdecode(IS_RESPONSE, r, cj_decode, cj_depth, json_text(r.body))
    if ok then return v end
  end
  local msg = tostring(v)
  local pos = tonumber(msg:match("character (%d+)")) or 1
  -- the excerpt of a body that echoes credentials must not show them
  local redact = require "lurl.redact"
  local excerpt = redact.excerpt(text, redact.response_secrets(r), pos - 20, pos + 20)
    :gsub("[%c]", " ")
  local err = core.error("JSONDecodeError",
    ("%s (excerpt: %q)"):format(msg:gsub("^.-:%d+: ", ""), excerpt), r.method, r.url)
  err.position = pos
  err.response = r
  error(redacted(err, r), 2)
end

-- res:html() -> the body parsed as an HTML5 document (lurl.html, loaded
-- on first use).
function methods.html(r)
  if not IS_RESPONSE[getmetatable(r)] then not_self("html") end
  return require("lurl.html").response(r)
end

local function status_class(s)
  if s >= 400 and s < 500 then return "Client Error" end
  return "Server Error"
end

local RETRY_STATUSES = { [429] = true, [502] = true, [503] = true, [504] = true }

-- Returns the response when ok; raises an HTTPError carrying it otherwise.
function methods.raise_for_status(r)
  if not IS_RESPONSE[getmetatable(r)] then not_self("raise_for_status") end
  if r.status < 400 then return r end
  local ctx = rawget(r, "_redact")
  local err = core.error("HTTPError",
    ("%d %s: %s for url: %s"):format(r.status, status_class(r.status), r.reason,
      core.redact(r.url, ctx and ctx.names)), r.method, r.url)
  err.response = r
  err.status = r.status
  err.retryable = RETRY_STATUSES[r.status] or false
  error(redacted(err, r), 2)
end

-- res:close(): releases an unfinished stream's connection.  Idempotent.
function methods.close(r)
  if not IS_RESPONSE[getmetatable(r)] then not_self("close") end
  local t = rawget(r, "_t")
  if t then
    r._t = nil
    core.cancel(t)
    local ctx = rawget(r, "_ctx")
    if ctx and ctx.bar_end then ctx.bar_end() end -- progress = true: end the bar's line
  end
  return r
end

-- The streaming methods: their code is in lurl.stream, compiled on first
-- use (most scripts never stream, and `require "http"` stays quicker
-- without it).  Tail calls, so argument errors name the caller's line.
local stream = setmetatable({}, { __index = function(t, k)
  local m = require "lurl.stream"
  setmetatable(t, { __index = m })
  return m[k]
end })

-- res:chunks([size]) -> iterator over chunks of the body (64 KiB by default).
function methods.chunks(r, size)
  if not IS_RESPONSE[getmetatable(r)] then not_self("chunks") end
  return stream.chunks(r, size)
end
-- res:read(n) -> up to n bytes (fewer only at the end), nil at the end.
function methods.read(r, n)
  if not IS_RESPONSE[getmetatable(r)] then not_self("read") end
  return stream.read(r, n)
end
-- res:lines() -> iterator over lines without their LF or CRLF.
function methods.lines(r)
  if not IS_RESPONSE[getmetatable(r)] then not_self("lines") end
  return stream.lines(r)
end
-- res:save(path [, {resume=, progress=}]) -> bytes written.
function methods.save(r, path, o)
  if not IS_RESPONSE[getmetatable(r)] then not_self("save") end
  return stream.save(r, path, o)
end
-- res.body of a streamed response (a buffered one has it from the start)
-- reads the rest of it.
function lazy.body(r) return stream.body(r) end

-- res[k]: methods[k], else lazy[k](res) kept in res, else nil; a C
-- closure (core.response_index, runtime/response.c, which says why).
RESPONSE_MT = {
  __name = "http.response",
  __index = core.response_index(methods, lazy),
  __tostring = function(r)
    local ctx = rawget(r, "_redact")
    return ("http.response (%d %s, %s)"):format(r.status, r.reason,
      core.redact(r.url, ctx and ctx.names))
  end,
}
RESPONSE_MT.__close = methods.close

-- The __index of another response metatable (lurl.transport's): the same
-- methods, and the lazy fields with those of `over` in place of ours.
function M.index_with(over)
  local l = {}
  for k, f in pairs(lazy) do l[k] = f end
  for k, f in pairs(over) do l[k] = f end
  return core.response_index(methods, l)
end
IS_RESPONSE[RESPONSE_MT] = true
M.mt = RESPONSE_MT
M.methods = methods

return M
