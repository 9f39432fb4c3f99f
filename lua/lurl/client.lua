-- lurl.client: the public module `http` (require "http" returns this table).
--
-- C (http.core) configures and runs single exchanges; this file is the
-- public API: argument checks, sessions and their defaults, the request
-- functions, parallel, auth objects.  Requests go through lurl.exchange
-- (hops, redirects with lurl.redirect, retries, the total deadline, hooks,
-- limits, the transport); options are resolved by lurl.options.
local core = require "http.core"
local json = require "http.json"
local response = require "lurl.response"
local task = require "lurl.task"
-- Loaded on first use, so `require "http"` compiles only what every
-- script needs (retries, jars and pagination are not in every script).
local lazy = require "lurl.lazy"
local cookies = lazy "lurl.cookies"
local paginate = lazy "lurl.paginate"
local retry = lazy "lurl.retry" -- a session's retry default is checked when it is made
local options = require "lurl.options"
local exchange = require "lurl.exchange"

local http = {}

http.errors = core.errors
http.array = json.array
http.VERSION = core.version().lurl
http.version = core.version
-- http.html(text [, base_url]) -> document (lurl.html, loaded on first use)
http.html = function(text, base_url) return require("lurl.html").parse(text, base_url) end
http.now = core.now -- a monotonic clock, in seconds, for timing a script's own work
http.spawn, http.join, http.sleep = task.spawn, task.join, task.sleep

core.config[1] = json.encode_at -- raises "field 'json.x': ...", core.start words it
core.set_response_mt(response.mt) -- core.result's tables come out as responses

local cerror = core.error
local setmetatable, getmetatable, type = setmetatable, getmetatable, type
-- the metatable itself, without getmetatable's look-up of __metatable (a
-- session's has none, so the answer is the same); per call in the methods
local rawgetmetatable = debug and debug.getmetatable or getmetatable
-- A limited state: its library is reduced (no io), LURL_TRACE is ignored.
local LIMITED = core.limited()

-- Every request, whatever its options (lurl.exchange).  The request
-- functions below make send's dispatch themselves (one call less):
--   local c = s._call; if opts and resolves(opts, s.defaults) then c = resolved(...) end
--   (or, when c.defer, RESOLVE in the flags: see lurl.exchange)
--   if c.wrap then return wrapped(...) end; return attempt(..., c, flags)
local send, wrapped, attempt = exchange.send, exchange.wrapped, exchange.exchange
local joined = exchange.joined -- a session's base URL and a URL, joined (and kept)
local resolves, resolved = options.resolves, options.resolved
local IDEMPOTENT, FRESH = exchange.IDEMPOTENT, require("lurl.redirect").FRESH
local CHECK = 16 -- core.start's flag for a dry run (HOP_CHECK, runtime/request_int.h)
local RESOLVE = exchange.RESOLVE -- the call's options left to core.fetch's scan

local function check_url(fname, argn, url)
  if type(url) ~= "string" then
    error(("bad argument #%d to '%s' (string expected, got %s)"):format(argn, fname,
      url == nil and "no value" or type(url)), 3)
  end
end

local function check_opts(fname, argn, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #%d to '%s' (table expected, got %s)"):format(argn, fname, type(opts)), 3)
  end
end

------------------------------------------------------------------ sessions

local SESSION_MT = { __name = "http.session" }

-- The cookie shares of open sessions: http.assert scrubs their cookie
-- values from body excerpts (lurl.redact), as servers echo them back.
local open_jars = setmetatable({}, { __mode = "k" })
core.open_jars = open_jars
local smethods = {}
SESSION_MT.__index = smethods

-- s.headers: case-insensitive like res.headers (SPEC, Sessions), but it
-- keeps the spelling last written, since that is what goes out.  The table
-- holds one raw entry per field, so core.start reads it as a plain table
-- (and its headset snapshot, request_head.c, sees every change); only a
-- key absent as spelled reaches these functions, which scan the table (a
-- session has a few headers) for another spelling.
local function spelled(t, k)
  local l = k:lower()
  for key in next, t do
    if type(key) == "string" and key:lower() == l then return key end
  end
end

local SESSION_HEADERS_MT = {
  __name = "http.session_headers",
  __index = function(t, k)
    if type(k) == "string" then
      local key = spelled(t, k)
      if key then return rawget(t, key) end
    end
  end,
  __newindex = function(t, k, v)
    if type(k) == "string" then
      local key = spelled(t, k)
      if key then rawset(t, key, nil) end -- one entry per field: this spelling wins
      -- a Cookie field replaces the jar's cookies (lurl.exchange)
      if v ~= nil and #k == 6 and k:lower() == "cookie" then exchange.mark_cookie_headers(t) end
    end
    if v ~= nil then rawset(t, k, v) end
  end,
}

-- The session's headers table: a new case-insensitive table holding the
-- given one's fields (a name given in two spellings keeps one of them).
local function session_headers(given)
  local h = setmetatable({}, SESSION_HEADERS_MT)
  if given == nil then return h end
  if type(given) ~= "table" then
    error(("bad argument #1 to 'session' (field 'headers': table expected, got %s)"):format(type(given)), 4)
  end
  for k, v in pairs(given) do
    if type(k) ~= "string" then
      error("bad argument #1 to 'session' (field 'headers': name = value table expected;"
        .. " {name, value} pairs are for a request's headers)", 4)
    end
    h[k] = v
  end
  return h
end

-- `s.headers = {...}`: requests lets a script replace a session's headers
-- as a whole.  lurl.exchange sees that s.headers is no longer the live
-- table (s._headers) and calls this before the request: the new table's
-- fields become the session's headers (a new live table, case-insensitive
-- as ever, in s.headers and s.defaults.headers); nil empties them.
local function adopt_headers(s, fname)
  local given = rawget(s, "headers")
  if given ~= nil and type(given) ~= "table" then
    error(("bad self to '%s' (field 'headers': table expected, got %s)")
      :format(fname, type(given)), require("lurl.redact").user_level())
  end
  local h = setmetatable({}, SESSION_HEADERS_MT)
  for k, v in pairs(given or {}) do
    if type(k) ~= "string" then
      error(("bad self to '%s' (field 'headers': name = value table expected)")
        :format(fname), require("lurl.redact").user_level())
    end
    h[k] = v
  end
  s.headers, s.defaults.headers, s._headers = h, h, h
end
exchange.on_replaced_headers(adopt_headers)

local SESSION_ONLY = { base_url = "string", hooks = "table", rate_limit = "number",
  max_connections = "number", max_host_connections = "number", trace = true, har = true,
  transport = true, cassette = true, record = true, match_on = true, before_record = true }
-- the request options (runtime/request_opts.c's list), which a session takes as defaults
local REQUEST_OPTS = {}
for _, k in ipairs(core.option_names) do REQUEST_OPTS[k] = true end

-- Observers for a session's trace and har options (lua/lurl/trace.lua and
-- lua/lurl/har.lua own their formats).
local function add_observers(s, cfg, keep_cookies)
  local trace = options.trace(cfg)
  if trace == true and LIMITED then
    error("bad argument #1 to 'session' (field 'trace': true writes to stderr, which a "
      .. "state with limits may not do; give a function)", 4)
  end
  if trace then
    local ok, tr = pcall(require, "lurl.trace")
    if not ok then error("tracing is not available: " .. tostring(tr), 4) end
    s._observers = s._observers or {}
    s._observers[#s._observers + 1] = tr.new(trace, s._redact or nil)
  end
  if cfg.har then
    local ok, har = pcall(require, "lurl.har")
    if not ok then error("HAR recording is not available: " .. tostring(har), 4) end
    local rec = har.new(cfg.har, s._redact or nil, keep_cookies and s._share or nil)
    s._observers = s._observers or {}
    s._observers[#s._observers + 1] = function(ev) rec:observe(ev) end
    s._har = rec
  end
end

-- A transport is a function, or a table or userdata with __call.
local function check_transport(t)
  if t == nil or type(t) == "function" then return end
  local mt = getmetatable(t)
  if type(mt) == "table" and mt.__call then return end
  error(("bad argument #1 to 'session' (field 'transport': function expected, got %s)"):format(type(t)), 4)
end

-- The transport http.mock.install made the default (lurl.mock): that of
-- the hidden session and of every session made afterwards without its own.
local installed = false

local function new_session(cfg, keep_cookies)
  local share = core.share(keep_cookies)
  -- every private field is present (false when unset): a missing one would
  -- be looked up in SESSION_MT's __index too, on each request
  local s = setmetatable({ _share = share, defaults = {}, _host_sems = {}, _closed = false,
    _base_url = false, _hooks = false, _rate = false, _next_at = false, _conn_sem = false,
    _host_limit = false, _observers = false, _har = false, _redact = false,
    _transport = false, _call = false, cookies = false, _cassette = false, _headers = false }, SESSION_MT)
  for k, v in pairs(cfg) do
    local want = SESSION_ONLY[k]
    if want == true then -- checked by the module that handles it
    elseif want then
      if type(v) ~= want then
        error(("bad argument #1 to 'session' (field '%s': %s expected, got %s)"):format(k, want, type(v)), 3)
      end
    elseif type(k) ~= "string" then
      error("bad argument #1 to 'session' (option names must be strings)", 3)
    elseif not REQUEST_OPTS[k] then -- named here, where the session's own keys are known too
      local near = core.nearest(k, SESSION_ONLY, core.option_names)
      error(("bad argument #1 to 'session' (unknown option '%s'%s)"):format(k,
        near and (" (did you mean '%s'?)"):format(near) or ""), 3)
    else
      s.defaults[k] = v
    end
  end
  -- The defaults are checked now, as a request checks its options, rather
  -- than at the first call: a dry run of core.start (HOP_CHECK, request_int.h)
  -- reads every option and sends nothing; `retry` is read on the Lua side.
  -- An auth flow (a function, http.oauth2, http.aws_sigv4) is lurl's, not
  -- core.start's (lurl.auth hands it auth = false); its constructor checked it.
  local dd = s.defaults
  if dd.auth ~= nil and options.is_flow(dd.auth) then
    dd = {}
    for k, v in pairs(s.defaults) do dd[k] = v end
    dd.auth = false
  end
  local ok, msg = pcall(core.start, "session", 1, "GET", "http://localhost/", dd, nil, CHECK)
  if not ok then error((tostring(msg):gsub("^[^:]*:%d+: ", "")), 3) end -- positioned once
  if s.defaults.retry ~= nil then
    ok, msg = pcall(retry.policy, s.defaults.retry, "session", 1)
    if not ok then error((tostring(msg):gsub("^[^:]*:%d+: ", "")), 3) end -- at the caller's line
  end
  s.headers = session_headers(s.defaults.headers)
  s.defaults.headers = s.headers -- live: s.headers.X = "y" applies to later requests
  s._headers = s.headers -- the live table; another one in s.headers was put there (adopt_headers)
  check_transport(cfg.transport)
  s._transport = cfg.transport or installed
  options.session(s, cfg) -- limits, base URL, redaction, the resolved defaults
  if cfg.cassette ~= nil or cfg.record ~= nil or cfg.match_on ~= nil or cfg.before_record ~= nil then
    -- record and replay (lurl.cassette): the cassette is the session's transport
    if cfg.cassette == nil then
      local k = cfg.record ~= nil and "record" or cfg.match_on ~= nil and "match_on" or "before_record"
      error(("bad argument #1 to 'session' (field '%s': needs a 'cassette')"):format(k), 3)
    end
    if cfg.transport ~= nil then
      error("bad argument #1 to 'session' (field 'cassette': not with a 'transport')", 3)
    end
    s._cassette = require("lurl.cassette").new(cfg, s._redact or nil)
    s._transport = s._cassette
  end
  if keep_cookies then
    s.cookies = cookies.new(share)
    open_jars[share] = true
  else
    s.cookies = nil
  end
  add_observers(s, cfg, keep_cookies)
  options.mark(s, s._call)
  return s
end

-- http.session{...} -> session.  Every request option is accepted as a
-- default, plus base_url, hooks, rate_limit, max_connections and
-- max_host_connections.
function http.session(cfg)
  if cfg ~= nil and type(cfg) ~= "table" then
    error(("bad argument #1 to 'session' (table expected, got %s)"):format(type(cfg)), 2)
  end
  local s = new_session(cfg or {}, true) -- not a tail call: error levels count it
  return s
end

local function check_self(s, fname)
  if getmetatable(s) ~= SESSION_MT then
    error(("bad self to '%s' (http.session expected; call it with ':')"):format(fname), 3)
  end
end

function smethods.request(s, method, url, opts)
  check_self(s, "request")
  if type(method) ~= "string" then
    error(("bad argument #1 to 'request' (string expected, got %s)"):format(type(method)), 2)
  end
  check_url("request", 2, url)
  check_opts("request", 3, opts)
  return send(s, "request", 3, method:upper(), url, opts)
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local M = m:upper()
  local flags = exchange.flags_of(M)
  local deferred = flags | RESOLVE -- core.fetch tells whether opts need resolving
  smethods[m] = function(s, url, opts)
    if rawgetmetatable(s) ~= SESSION_MT then check_self(s, m) end
    local base = s._base_url
    if base then
      if type(url) ~= "string" then check_url(m, 1, url) end
      url = s._joined[url] or joined(s, base, url)
    end
    local c, f = s._call, flags
    if opts ~= nil then
      if c.defer then f = deferred -- core.fetch checks opts as it scans them
      else
        if type(opts) ~= "table" then check_opts(m, 2, opts) end
        if resolves(opts, s.defaults) then c = resolved(s, opts, m, 2) end
      end
    end
    -- a bare call's URL is read first by core.fetch, which checks it
    if (not c.bare or c.cookies) and type(url) ~= "string" then check_url(m, 1, url) end
    if c.wrap then return wrapped(s, m, 2, M, url, opts, c) end
    return attempt(s, m, 2, M, url, opts, c, f)
  end
end

-- s:close(): releases connections and caches; later use raises.
function smethods.close(s)
  if s._closed then return end
  s._closed = true -- send() raises for a closed session
  s._call.wrap, s._call.defer = true, false -- (send's outer layer checks _closed)
  open_jars[s._share] = nil
  core.share_close(s._share)
  if s._har then s._har:close() end
  if s._cassette then s._cassette:close() end
end
SESSION_MT.__close = smethods.close
-- a forgotten session still writes its HAR; not in a limited state, where
-- a finalizer would run the script's fields with no budget (close it)
if not LIMITED then SESSION_MT.__gc = smethods.close end
SESSION_MT.__tostring = function(s)
  return ("http.session (%s)"):format(s._closed and "closed" or "open")
end

-- The hidden client behind http.get and friends: it reuses connections but
-- keeps no cookies between calls.
local default = new_session({}, false)

function http.request(method, url, opts)
  if type(method) ~= "string" then
    error(("bad argument #1 to 'request' (string expected, got %s)"):format(
      method == nil and "no value" or type(method)), 2)
  end
  check_url("request", 2, url)
  check_opts("request", 3, opts)
  return send(default, "request", 3, method:upper(), url, opts)
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local M = m:upper()
  local flags = exchange.flags_of(M)
  local deferred = flags | RESOLVE
  http[m] = function(url, opts)
    local c, f = default._call, flags
    if opts ~= nil then
      if c.defer then f = deferred -- core.fetch checks opts as it scans them
      else
        if type(opts) ~= "table" then check_opts(m, 2, opts) end
        if resolves(opts, default.defaults) then c = resolved(default, opts, m, 2) end
      end
    end
    -- a bare call's URL is read first by core.fetch, which checks it
    if (not c.bare or c.cookies) and type(url) ~= "string" then check_url(m, 1, url) end
    if c.wrap then return wrapped(default, m, 2, M, url, opts, c) end
    return attempt(default, m, 2, M, url, opts, c, f)
  end
end

-- http.mock() and http.mock.install/uninstall (lurl.mock, loaded on first use).
http.mock = setmetatable({
  install = function(m) return require("lurl.mock").install(m) end,
  uninstall = function() return require("lurl.mock").uninstall() end,
}, { __call = function(_, ...) return require("lurl.mock").new(...) end })

-- lurl.mock's install: t (a transport, or false for libcurl) becomes the
-- transport of the hidden session and of the sessions made afterwards.
function http._install_transport(t)
  installed = t or false
  default._transport = installed
  options.mark(default, default._call)
end

------------------------------------------------------------------ streaming

local function need_string(fname, i, v)
  if type(v) ~= "string" then
    error(("bad argument #%d to '%s' (string expected, got %s)"):format(i, fname,
      v == nil and "no value" or type(v)), 3)
  end
end

-- http.stream(url [, opts]): a streamed GET (stream = true).
function http.stream(url, opts)
  check_url("stream", 1, url)
  check_opts("stream", 2, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.stream = true
  return send(default, "stream", 2, "GET", url, o)
end

local FILE_MT = {
  __name = "http.file",
  __tostring = function(f) return ("http.file (%s)"):format(f.path) end,
}

-- http.file(path [, {filename=, content_type=}]): a file part for `files`,
-- streamed from disk when the request is sent.
function http.file(path, o)
  need_string("file", 1, path)
  if o ~= nil and type(o) ~= "table" then
    error(("bad argument #2 to 'file' (table expected, got %s)"):format(type(o)), 2)
  end
  o = o or {}
  return setmetatable({ path = path, filename = o.filename or path:match("[^/]*$"),
    content_type = o.content_type }, FILE_MT)
end

------------------------------------------------------------------ auth

-- Auth objects: tables with a scheme, whose tostring never shows the secret.
local AUTH_MT = {
  __name = "http.auth",
  __tostring = function(a) return ("http.auth (%s)"):format(a.scheme) end,
}


function http.basic(user, password)
  need_string("basic", 1, user); need_string("basic", 2, password)
  return setmetatable({ scheme = "basic", user = user, password = password }, AUTH_MT)
end

function http.digest(user, password)
  need_string("digest", 1, user); need_string("digest", 2, password)
  return setmetatable({ scheme = "digest", user = user, password = password }, AUTH_MT)
end

function http.bearer(token)
  need_string("bearer", 1, token)
  return setmetatable({ scheme = "bearer", token = token }, AUTH_MT)
end

-- ~/.netrc (or the given file) supplies user and password for the host.
function http.netrc(file)
  if file ~= nil then need_string("netrc", 1, file) end
  return setmetatable({ scheme = "netrc", file = file }, AUTH_MT)
end

-- libcurl's NTLM (user and password) and SPNEGO/Kerberos (the ticket of
-- the user running the script, from the credential cache): challenge and
-- response over the libcurl transport only.
function http.ntlm(user, password)
  need_string("ntlm", 1, user); need_string("ntlm", 2, password)
  return setmetatable({ scheme = "ntlm", user = user, password = password }, AUTH_MT)
end

function http.negotiate()
  return setmetatable({ scheme = "negotiate" }, AUTH_MT)
end

-- The flows lurl computes before each hop (lurl.auth): AWS Signature
-- Version 4 and OAuth2's client-credentials and refresh grants.
local auth_flows = lazy "lurl.auth"
function http.aws_sigv4(o) return auth_flows.aws_sigv4(o, AUTH_MT) end
function http.oauth2(o) return auth_flows.oauth2(o, AUTH_MT) end

-- What auth functions need and Lua lacks (runtime/crypto.c): binary
-- digests, printed with http.hex or http.base64.
http.sha256, http.hmac, http.base64, http.hex = core.sha256, core.hmac, core.base64, core.hex

------------------------------------------------------------------ many at once

-- The usual methods' names upper-cased, either case given: what
-- tostring(m):upper() gives them, without a call and a new string per item.
local UPPER = {}
for _, m in ipairs { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS" } do
  UPPER[m], UPPER[m:lower()] = m, m
end

-- http.parallel(list [, {concurrency = n}]) -> results in input order.
-- Each item is {method, url, opts} or a URL string (GET).  A slot holds the
-- response, or the error object when that request failed; one failure never
-- raises.
local function parallel(sess, list, popts)
  if type(list) ~= "table" then
    error(("bad argument #1 to 'parallel' (table expected, got %s)"):format(type(list)), 3)
  end
  if popts ~= nil and type(popts) ~= "table" then
    error(("bad argument #2 to 'parallel' (table expected, got %s)"):format(type(popts)), 3)
  end
  if sess._closed then error("attempt to use a closed session", 3) end
  local conc = popts and popts.concurrency or 16
  if math.type(conc) ~= "integer" or conc < 1 then
    error("bad argument #2 to 'parallel' (field 'concurrency': positive integer expected)", 3)
  end
  local n, nexti, results = #list, 0, {}
  -- A worker takes the next item until the list is done; an item that
  -- raises ends items() and its pcall, and the worker starts it again:
  -- one pcall per worker (and per raise), not per item.
  local function worker()
    local cur -- the item this worker is on
    local function items()
      while true do
        nexti = nexti + 1
        local i = nexti
        if i > n then return end
        cur = i
        local item = list[i]
        local ty, res, err = type(item), nil, nil
        if ty == "table" then -- send(), its dispatch made here as the request functions do
          local m, u, o = item[1], item[2], item[3]
          if type(u) ~= "string" then check_url("parallel", 1, u) end
          local base = sess._base_url
          if base then u = sess._joined[u] or joined(sess, base, u) end
          m = UPPER[m] or tostring(m):upper()
          local c, f = sess._call, IDEMPOTENT[m] and 0 or FRESH
          if o ~= nil then
            if c.defer then f = f | RESOLVE
            elseif resolves(o, sess.defaults) then c = resolved(sess, o, "parallel", 1) end
          end
          if c.wrap then
            res, err = wrapped(sess, "parallel", 1, m, u, o, c)
          else
            res, err = attempt(sess, "parallel", 1, m, u, o, c, f)
          end
        elseif ty == "string" then
          res, err = send(sess, "parallel", 1, "GET", item, nil)
        else
          res = cerror("RequestException",
            ("item %d: {method, url, opts} or URL expected, got %s"):format(i, ty))
        end
        results[i] = res or err
      end
    end
    while true do
      local ok, e = pcall(items)
      if ok then return end
      results[cur] = type(e) == "table" and e or cerror("RequestException", tostring(e))
    end
  end
  local workers = {}
  for k = 1, math.min(conc, n) do workers[k] = task.spawn(worker) end
  task.join(workers)
  return results
end

function http.parallel(list, popts) return parallel(default, list, popts) end
function smethods.parallel(s, list, popts)
  check_self(s, "parallel")
  return parallel(s, list, popts)
end

------------------------------------------------------------------ pagination

function http.paginate(url, opts)
  return paginate.walk(function(m, u, o) return send(default, "paginate", 2, m, u, o) end, url, opts)
end

function smethods.paginate(s, url, opts)
  check_self(s, "paginate")
  return paginate.walk(function(m, u, o) return send(s, "paginate", 2, m, u, o) end, url, opts)
end

------------------------------------------------------------------ robots.txt

local robots = lazy "lurl.robots" -- loaded on first use

-- http.robots(url [, {user_agent=, session=}]) -> allowed (lurl.robots):
-- robots.txt fetched through the given session, else the hidden one.
function http.robots(url, opts)
  check_url("robots", 1, url)
  check_opts("robots", 2, opts)
  local s = opts and opts.session
  if s ~= nil and rawgetmetatable(s) ~= SESSION_MT then
    error(("bad argument #2 to 'robots' (field 'session': http.session expected, got %s)")
      :format(type(s)), 2)
  end
  local sess = s or default
  return robots.allowed(sess, function(m, u, o) return send(sess, "robots", 1, m, u, o) end,
    url, opts, s ~= nil)
end

http.response_methods = response.methods
http._session_methods = smethods

return http
