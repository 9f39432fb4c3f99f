-- lurl.cassette: recording a session's exchanges into a HAR file and
-- replaying them (SPEC, Transports and test doubles).
--
--   http.session{ cassette = "spec/cassettes/login.har", record = "once",
--                 match_on = {"method", "url", "body"},
--                 before_record = function(entry) ... end }
--
-- lurl.client makes the cassette (M.new) and sets it as the session's
-- transport; lurl.exchange calls M.hop for each hop, so everything above a
-- hop (redirects, cookies, retries, hooks, observers) is the same whether
-- the answer came from the file or from the network.  A hop is:
--   1. the request as it would be sent (lurl.transport.request), reduced to
--      what `match_on` compares, secrets redacted (lurl.redact);
--   2. the first entry of the file not played yet that matches it: a
--      response made of it (or the error it recorded), no network;
--   3. otherwise, when the mode records, a real hop over libcurl's engine
--      (lurl.exchange.engine_hop), whose exchange becomes a new entry;
--      when it does not, a ConnectionError naming the request.
-- Modes: "once" (the default) records when the file does not exist and
-- only replays when it does; "new_episodes" replays what it has and records
-- what it lacks; "all" always records (the file is made anew); "none" only
-- replays.
--
-- The file is HAR 1.2 (lurl.har's writer), one entry per hop, written at
-- s:close() (or when the session is collected) through a temporary file and
-- a rename, and only when something was recorded.  Unlike lurl.har's
-- recordings, which are for reading, a cassette is for replaying:
--   * response headers and bodies are kept exactly as they arrived, whole
--     (text, or base64 with "encoding" when the bytes are not UTF-8 text);
--     the body is the decoded one, so on replay Content-Encoding and
--     Transfer-Encoding are dropped and Content-Length is the body's size;
--   * request secrets are redacted as everywhere (lurl.redact: credentials
--     and cookies in headers, the URL's user part and secret query
--     parameters, the session's `redact` names), and scrubbed from the
--     request body; a request is matched in the same redacted form, so a
--     different token at replay time still matches;
--   * a failed request (no HTTP answer) is an entry with status 0 and
--     `_error = {kind =, message =}`, replayed as the same error.
local core = require "http.core"
local json = require "http.json"
local response = require "lurl.response"
local redact = require "lurl.redact"
local har = require "lurl.har"
local transport = require "lurl.transport"
local exchange = require "lurl.exchange"

local M = {}

local type, tostring, ipairs, pairs = type, tostring, ipairs, pairs
local fmt, concat = string.format, table.concat

local MODES = { once = true, all = true, new_episodes = true, none = true }
local MATCHERS = { method = true, url = true, scheme = true, host = true, port = true, path = true,
  query = true, body = true }
local DEFAULT_MATCH = { "method", "url", "body" }
-- the members of a HAR document that are arrays (JSON decoding cannot tell
-- an empty array from an empty object; lurl.har's writer needs to know)
local ARRAYS = { entries = true, pages = true, headers = true, cookies = true, queryString = true,
  params = true }
local NO_BODY = { [204] = true, [304] = true }

-- the wall clock, with a fraction when the C side has one
local function now() return core.wallclock and core.wallclock() or os.time() end

local CAS = {}
CAS.__index = CAS
CAS.__name = "http.cassette"

------------------------------------------------------------------ options

local function bad(field, msg)
  -- level 5: new <- cassette_of <- new_session <- http.session <- user
  error(("bad argument #1 to 'session' (field '%s': %s)"):format(field, msg), 5)
end

local function read_file(path)
  local f = core.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

-- Marks the arrays of a decoded HAR document for lurl.har's writer.
local function mark_arrays(v, key)
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do mark_arrays(x, k) end
  if ARRAYS[key] then har.array(v) end
  return v
end

local function header_value(list, name)
  for _, f in ipairs(list or {}) do
    if type(f) == "table" and type(f.name) == "string" and f.name:lower() == name then
      return f.value
    end
  end
end

local function body_of(content)
  if type(content) ~= "table" or type(content.text) ~= "string" then return "" end
  if content.encoding == "base64" then return redact.base64_decode(content.text) end
  return content.text
end

------------------------------------------------------------------ matching

local function url_parts(u)
  local scheme, authority, path, query = u:match("^(%a[%w+.-]*)://([^/?#]*)([^?#]*)%??([^#]*)")
  if not scheme then
    return { scheme = "", authority = "", host = "", port = "", path = u, query = "" }
  end
  scheme = scheme:lower()
  local hostport = authority:gsub("^.*@", "")
  local host, port = hostport:match("^(.*):(%d+)$")
  if not host then host = hostport; port = scheme == "https" and "443" or "80" end
  return { scheme = scheme, authority = authority:lower(), host = host:lower(), port = port,
    path = path == "" and "/" or path, query = query }
end

local function unescape(s)
  s = s:gsub("%+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- A query or form body as sorted decoded pairs: the same parameters in
-- another order, or escaped another way (libcurl writes a space "+"), are
-- the same request.
local function form_key(q)
  local pairs_ = {}
  for part in q:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    pairs_[#pairs_ + 1] = unescape(k) .. "=" .. unescape(v)
  end
  table.sort(pairs_)
  return concat(pairs_, "&")
end

-- JSON as one canonical text (keys sorted): JSON encoders write an
-- object's keys in no fixed order.
local function canonical(v, out)
  local t = type(v)
  if t == "table" then
    local keys, n = {}, 0
    for k in pairs(v) do keys[#keys + 1] = tostring(k); n = n + 1 end
    if n == #v then
      out[#out + 1] = "["
      for i = 1, n do canonical(v[i], out); out[#out + 1] = "," end
      out[#out + 1] = "]"
    else
      table.sort(keys)
      out[#out + 1] = "{"
      for _, k in ipairs(keys) do
        out[#out + 1] = fmt("%q:", k)
        canonical(v[k] == nil and v[tonumber(k)] or v[k], out)
        out[#out + 1] = ","
      end
      out[#out + 1] = "}"
    end
  elseif t == "number" then
    out[#out + 1] = (v == math.floor(v) and math.abs(v) < 2 ^ 53) and fmt("%d", v) or fmt("%.17g", v)
  elseif t == "string" then
    out[#out + 1] = fmt("%q", v)
  else
    out[#out + 1] = tostring(v)
  end
end

-- What `body` compares: a form as sorted pairs, JSON canonical, other
-- bytes as they are.
local function body_key(body, mime)
  if body == nil or body == "" then return "" end
  mime = (mime or ""):lower()
  if mime:find("x-www-form-urlencoded", 1, true) then return "form:" .. form_key(body) end
  if mime:find("json", 1, true) then
    local ok, v = pcall(json.decode, body)
    if ok then
      local out = {}
      canonical(v, out)
      return "json:" .. concat(out)
    end
  end
  return "raw:" .. body
end

-- A query's parameters decoded, in their order: "a+b" and "a%20b" (libcurl
-- and lurl.transport escape a space differently) are the same URL.
local function query_key(q)
  local out = {}
  for part in q:gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    out[#out + 1] = unescape(k) .. "=" .. unescape(v)
  end
  return concat(out, "&")
end

-- The key of a request for each matcher: url redacted, body scrubbed.
-- `url` is the URL as libcurl sends it or lurl.transport writes it: scheme
-- and host in any case, the path's escapes decoded, the query's parameters
-- decoded in their order.
local function key_of(method, url, body, mime)
  local p = url_parts(url)
  local path = p.path:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  return { method = method, url = p.scheme .. "://" .. p.authority .. path .. "?" .. query_key(p.query),
    scheme = p.scheme,
    host = p.host, port = p.port, path = p.path, query = form_key(p.query),
    body_key = body_key(body, mime) }
end

local function matches(match_on, a, b)
  for i = 1, #match_on do
    local m = match_on[i]
    if m == "body" then
      if a.body_key ~= b.body_key then return false end
    elseif a[m] ~= b[m] then
      return false
    end
  end
  return true
end

------------------------------------------------------------------ secrets

-- The secret strings of a request (its URL's and its headers'), for the
-- request body: what lurl.har scrubs from bodies, the request side only.
-- The session's cookie values count (its jar's, not every open session's:
-- what is scrubbed must be the same when the cassette is replayed).
local function request_secrets(url, list, ctx, share)
  local set = {}
  redact.add_url(set, url, ctx)
  for _, f in ipairs(list) do redact.add_header(set, f[1], f[2], ctx) end
  redact.add_context(set, { proxies = ctx and ctx.proxies or {}, share = share })
  return redact.secret_list(set)
end

local function pairs_of_map(h)
  local list = {}
  for k, v in pairs(h or {}) do list[#list + 1] = { k, v } end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

------------------------------------------------------------------ entries

local function utf8_text(s, mime)
  return utf8.len(s) ~= nil and not s:find("%z") and har.textual(mime)
end

-- Body bytes into a content or postData object: text, or base64.
local function set_text(obj, body, mime)
  obj.encoding = nil
  if utf8_text(body, mime) then
    obj.text = body
  else
    obj.text = redact.base64(body)
    obj.encoding = "base64"
  end
end

local function request_object(method, url, reqlist, body, ctx, version, share)
  local rurl = redact.url(url, ctx)
  local headers = har.array()
  for _, f in ipairs(reqlist) do
    headers[#headers + 1] = { name = f[1], value = tostring(redact.header(f[1], f[2], ctx)) }
  end
  local r = { method = method, url = rurl, httpVersion = version, headers = headers,
    queryString = har.query_string(rurl), cookies = har.request_cookies(reqlist), headersSize = -1,
    bodySize = -1 }
  if type(body) == "string" then
    r.bodySize = #body
    local mime = ""
    for _, f in ipairs(reqlist) do
      if f[1]:lower() == "content-type" then mime = f[2] end
    end
    r.postData = { mimeType = mime,
      text = redact.scrub(body, request_secrets(url, reqlist, ctx, share)) }
  end
  return r
end

-- An entry for a real hop's response; bodies raw until written.
local function response_entry(res, req, ctx, share)
  local reqlist = redact.request_pairs(res)
  local body = req.body
  local sent = res.request.body
  if type(sent) == "string" then body = sent end
  local version = har.http_version(res.http_version)
  local list = res.header_list
  local headers = har.array()
  for _, f in ipairs(list) do headers[#headers + 1] = { name = f[1], value = f[2] } end
  local rbody = res.body or ""
  local method = res.method or req.method
  local mime = res.headers["content-type"]
  local clen = tonumber(res.headers["content-length"] or "")
  local content = { size = #rbody, mimeType = mime or "x-unknown", text = rbody }
  if res.headers["content-encoding"] and clen and #rbody > clen then
    content.compression = #rbody - clen
  end
  local location = res.headers["location"]
  local timings, total = har.timings_of(res.timings or {})
  local head = res._head
  local body_size = clen or #rbody
  if method == "HEAD" or NO_BODY[res.status] then body_size = 0 end
  return {
    startedDateTime = har.iso(now() - (res.elapsed or 0)), time = total,
    request = request_object(method, res.url or req.url, reqlist, body, ctx, version, share),
    response = { status = res.status, statusText = res.reason or "", httpVersion = version,
      headers = headers, cookies = har.response_cookies(list), content = content,
      redirectURL = location or "", headersSize = type(head) == "string" and #head or -1,
      bodySize = body_size },
    cache = {}, timings = timings,
  }
end

-- An entry for a hop that failed without an HTTP answer.
local function error_entry(err, method, req, reqlist, ctx, share)
  local copy = { kind = err.kind, message = tostring(err.message), url = err.url }
  redact.error(copy, ctx, req.url) -- the session's `redact` names (C knows the closed list)
  local message = copy.message
  return {
    startedDateTime = har.iso(now()), time = 0,
    request = request_object(method, req.url, reqlist, req.body, ctx, "", share),
    response = { status = 0, statusText = "", httpVersion = "", headers = har.array(),
      cookies = har.array(), content = { size = 0, mimeType = "x-unknown" }, redirectURL = "",
      headersSize = -1, bodySize = -1,
      _error = { kind = tostring(err.kind), message = message } },
    cache = {},
    timings = { blocked = -1, dns = -1, connect = -1, ssl = -1, send = 0, wait = 0, receive = 0 },
  }
end

-- The match key of a stored entry (its URL and body are already redacted).
local function entry_key(e)
  local rq = e.request
  local body = rq.postData and body_of(rq.postData) or nil
  return key_of(tostring(rq.method):upper(), tostring(rq.url), body,
    rq.postData and rq.postData.mimeType)
end

------------------------------------------------------------------ replay

-- The response of a stored entry, as lurl.transport makes one of a
-- transport's table: headers in their recorded order, the body decoded.
local function replay(cas, sess, e, req, reqhead, method)
  local rs = e.response
  local err = rs._error
  if type(err) == "table" or math.tointeger(rs.status) == 0 then
    err = type(err) == "table" and err or {}
    local kind = core.errors[err.kind] and err.kind or "ConnectionError"
    local ex = core.error(kind, tostring(err.message or "recorded failure"), method,
      redact.url(req.url, cas.ctx))
    return nil, ex
  end
  local status = math.tointeger(rs.status)
  if not status then
    error(("cassette %s: an entry has no integer status"):format(cas.path), 0)
  end
  local body = method == "HEAD" and "" or body_of(rs.content)
  local sized = not (method == "HEAD" or NO_BODY[status] or status < 200)
  local head = { fmt("HTTP/1.1 %d %s\r\n", status, tostring(rs.statusText or ""):gsub("[\r\n]", " ")) }
  for _, f in ipairs(rs.headers or {}) do
    local l = tostring(f.name):lower()
    if not (sized and (l == "content-length" or l == "content-encoding" or l == "transfer-encoding")) then
      head[#head + 1] = tostring(f.name) .. ": " .. tostring(f.value):gsub("[\r\n]", " ") .. "\r\n"
    end
  end
  if sized then head[#head + 1] = "Content-Length: " .. #body .. "\r\n" end
  local version = tostring(rs.httpVersion or ""):match("^HTTP/(.*)$")
  if version == "2.0" then version = "2" end
  local res = setmetatable({ status = status, url = req.url, body = body, method = method,
    _head = concat(head), _reqhead = reqhead, _reqbody = req.body, http_version = version or "1.1",
    elapsed = 0, timings = { dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0, redirect = 0 } },
    response.mt)
  if sess.cookies then transport.store_cookies(sess.cookies, req.url, res) end
  return res
end

------------------------------------------------------------------ recording

-- The entry into the cassette, through before_record; bodies encoded.
function CAS.add(cas, entry)
  local rq, rs = entry.request, entry.response
  if cas.before_record then
    local keep = cas.before_record(entry)
    if keep == false then return end
  end
  if rq.postData and type(rq.postData.text) == "string" then
    set_text(rq.postData, rq.postData.text, rq.postData.mimeType)
  end
  local c = rs.content
  if c and type(c.text) == "string" then
    c.size = #c.text
    if c.text == "" then c.text, c.encoding = nil, nil else set_text(c, c.text, c.mimeType) end
  end
  cas.entries[#cas.entries + 1] = { har = entry, key = entry_key(entry), played = true }
  cas.dirty = true
end

-- A hop of a session with a cassette (lurl.exchange): res, or nil, err.
function M.hop(cas, sess, fname, argn, method, url, opts, flags, c, remaining_ms)
  if cas.closed then error("attempt to use a session whose cassette is closed", 0) end
  local o = opts
  local d = sess.defaults
  local function opt(k) local v = o and o[k]; if v == nil then v = d[k] end; return v end
  if opt("files") then
    error("the `files` option is not available with a cassette (a multipart body cannot be matched)", 0)
  end
  local c2 = c
  if type(opt("body")) == "function" or opt("stream") then
    -- a body function is read once, here, for matching and for sending;
    -- a stream is read whole, to be recorded
    local copy = {}
    for k, v in pairs(opts or {}) do copy[k] = v end
    if type(opt("body")) == "function" then
      local parts = {}
      for chunk in opt("body") do parts[#parts + 1] = chunk end
      copy.body = concat(parts)
    end
    copy.stream = false
    o = copy
    c2 = {}
    for k, v in pairs(c) do c2[k] = v end
    c2.body_fn, c2.stream = nil, false
    c2.io = (c2.on_progress or c2.progress) and true or false
  end
  local req, reqhead = transport.request(sess, method, url, o, flags, fname, argn)
  local ctx = c.rctx or cas.ctx
  local reqlist = pairs_of_map(req.headers)
  local mime = nil
  for _, f in ipairs(reqlist) do if f[1]:lower() == "content-type" then mime = f[2] end end
  local body = req.body and redact.scrub(req.body, request_secrets(req.url, reqlist, ctx, sess._share))
    or nil
  local key = key_of(method, redact.url(req.url, ctx), body, mime)
  if cas.mode ~= "all" then
    local match_on = cas.match_on
    for _, e in ipairs(cas.entries) do
      if not e.played and matches(match_on, e.key, key) then
        e.played = true
        return replay(cas, sess, e.har, req, reqhead, method)
      end
    end
  end
  if not cas.recording then
    local err = core.error("ConnectionError", fmt("no exchange in cassette %s matches this request "
      .. "(record = \"%s\", match_on = %s)", cas.path, cas.mode, concat(cas.match_on, ", ")),
      method, redact.url(req.url, ctx))
    err.retryable = false
    return nil, err
  end
  local res, err = exchange.engine_hop(sess, fname, argn, method, url, o, flags, remaining_ms, c2)
  if res then
    cas:add(response_entry(res, req, ctx, sess._share))
  else
    cas:add(error_entry(err, method, req, reqlist, ctx, sess._share))
  end
  return res, err
end

-- cas:close(): writes the file when something was recorded.  Idempotent.
function CAS.close(cas)
  if cas.closed then return true end
  cas.closed = true
  if not cas.dirty then return true end
  local entries = har.array()
  for i, e in ipairs(cas.entries) do entries[i] = e.har end
  local doc = { log = { version = "1.2", creator = { name = "lurl", version = core.version().lurl },
    pages = har.array(), entries = entries } }
  local text = har.encode(doc) .. "\n"
  local tmp = cas.path .. ".tmp"
  local f, err = core.open(tmp, "wb")
  if not f then error("cannot write cassette " .. cas.path .. ": " .. tostring(err), 2) end
  local ok, werr = f:write(text)
  f:close()
  if ok then ok, werr = core.rename(tmp, cas.path) end
  if not ok then
    core.remove(tmp)
    error("cannot write cassette " .. cas.path .. ": " .. tostring(werr), 2)
  end
  return true
end

CAS.__tostring = function(cas)
  return fmt("http.cassette (%s, %s, %d entries)", cas.path, cas.mode, #cas.entries)
end

-- new(cfg, ctx) -> cassette: cfg the session's options (cassette, record,
-- match_on, before_record), ctx its redaction context.
function M.new(cfg, ctx)
  local path = cfg.cassette
  if type(path) ~= "string" or path == "" then
    bad("cassette", "file path string expected, got " .. (path == "" and "\"\"" or type(path)))
  end
  local mode = cfg.record
  if mode == nil then mode = "once" end
  if not MODES[mode] then
    bad("record", "\"once\", \"new_episodes\", \"all\" or \"none\" expected, got "
      .. (type(mode) == "string" and fmt("%q", mode) or type(mode)))
  end
  local match_on = cfg.match_on
  if match_on == nil then
    match_on = DEFAULT_MATCH
  else
    if type(match_on) ~= "table" or #match_on == 0 then
      bad("match_on", "non-empty array of method, url, scheme, host, port, path, query, body expected")
    end
    for i, m in ipairs(match_on) do
      if not MATCHERS[m] then
        bad("match_on", fmt("item %d: one of method, url, scheme, host, port, path, query, body "
          .. "expected, got %s", i, type(m) == "string" and fmt("%q", m) or type(m)))
      end
    end
  end
  local br = cfg.before_record
  if br ~= nil and type(br) ~= "function" then
    bad("before_record", "function expected, got " .. type(br))
  end
  local cas = setmetatable({ path = path, mode = mode, match_on = match_on, before_record = br,
    ctx = ctx or nil, entries = {}, dirty = false, closed = false }, CAS)
  local text = mode ~= "all" and read_file(path) or nil
  if mode == "none" and not text then
    bad("cassette", fmt("cannot read %s (record = \"none\" only replays)", path))
  end
  cas.recording = mode == "all" or mode == "new_episodes" or (mode == "once" and text == nil)
  if cas.recording then -- a file that cannot be written fails now, not at close
    local f, err = core.open(path .. ".tmp", "wb")
    if not f then bad("cassette", fmt("cannot write %s: %s", path, tostring(err))) end
    f:close()
    core.remove(path .. ".tmp")
  end
  if text then
    local ok, doc = pcall(json.decode, text)
    if not ok or type(doc) ~= "table" or type(doc.log) ~= "table" or type(doc.log.entries) ~= "table" then
      bad("cassette", fmt("%s is not a HAR file (no log.entries)", path))
    end
    mark_arrays(doc.log.entries, "entries")
    for i, e in ipairs(doc.log.entries) do
      if type(e) ~= "table" or type(e.request) ~= "table" or type(e.response) ~= "table"
        or type(e.request.method) ~= "string" or type(e.request.url) ~= "string" then
        bad("cassette", fmt("%s: entry %d has no request method and url", path, i))
      end
      cas.entries[i] = { har = e, key = entry_key(e), played = false }
    end
  end
  return cas
end

return M
