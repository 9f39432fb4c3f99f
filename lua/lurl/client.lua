-- lurl.client: the public module `http` (require "http" returns this table).
--
-- C (http.core) configures and runs single exchanges; this file is policy:
-- argument checks, sessions and their defaults, redirects with requests'
-- rules, retries, the total deadline over a whole exchange, hooks and the
-- limits a session puts on the load it sends.
local core = require "http.core"
local json = require "http.json"
local response = require "lurl.response"
local task = require "lurl.task"
-- Loaded on first use, so `require "http"` compiles only what every
-- script needs (retries, jars and pagination are not in every script).
local function lazy(name)
  return setmetatable({}, { __index = function(t, k)
    local m = require(name)
    setmetatable(t, { __index = m })
    return m[k]
  end })
end
local retry = lazy "lurl.retry"
local cookies = lazy "lurl.cookies"
local paginate = lazy "lurl.paginate"
local stream = lazy "lurl.stream" -- only for streams, uploads from functions, progress
local redact = lazy "lurl.redact" -- only for the `redact`, `proxy` and `proxies` options

local http = {}

http.errors = core.errors
http.array = json.array
http.VERSION = core.version().lurl
http.version = core.version
http.now = core.now -- a monotonic clock, in seconds, for timing a script's own work
http.spawn, http.join, http.sleep = task.spawn, task.join, task.sleep

core.config[1] = json.encode
core.set_response_mt(response.mt) -- core.result's tables come out as responses

local start, result, cerror, now = core.start, core.result, core.error, core.now
local wait = task.wait
local setmetatable, getmetatable, type = setmetatable, getmetatable, type
-- the metatable itself, without getmetatable's look-up of __metatable (a
-- session's has none, so the answer is the same); per call in the methods
local rawgetmetatable = debug and debug.getmetatable or getmetatable
-- Captured now: a state whose host set limits has no `io` (nor a debug
-- library) once its scripts run, and lurl's own code must work there too.
local io_type = io and io.type or function() return nil end
-- A limited state: its library is reduced (no io), LURL_TRACE is ignored,
-- and it may cap the transfers running at once (runtime/policy.c).
local LIMITED = core.limited()
local MAX_TRANSFERS = core.max_transfers()
local capped = MAX_TRANSFERS > 0 or nil

-- With a cap on transfers at once, a request waits until one ends (a
-- buffered request when its answer is in, a stream when it is read to the
-- end or closed).  Streams are tracked by the task that opened them: a task
-- waiting while every slot is one of its own unfinished streams would wait
-- forever, so it fails instead.
local streams_held = setmetatable({}, { __mode = "k" }) -- response -> task
local function take_slot()
  while core.running() >= MAX_TRANSFERS do
    local me, mine = task.current(), 0
    for r, owner in pairs(streams_held) do
      if rawget(r, "_t") == nil then streams_held[r] = nil elseif owner == me then mine = mine + 1 end
    end
    if not me or mine >= MAX_TRANSFERS then
      error(("too many transfers at once: this state allows %d (lurl_limits.max_transfers)%s")
        :format(MAX_TRANSFERS, me and ", all held by streams this task has not finished" or ""), 0)
    end
    task.sleep(0.01)
  end
end

-- flags for core.start (see runtime/request.c)
local DROP_BODY, STRIP_AUTH, NO_PARAMS, FRESH = 1, 2, 4, 8
local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true,
  TRACE = true }

local REDIRECTS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local DEFAULT_PORTS = { http = 80, https = 443 }

-- Option lookup with the session default as fallback.
local function opt(opts, defaults, name)
  local v = opts and opts[name]
  if v == nil then v = defaults[name] end
  return v
end

-- requests' rule: drop credentials when the host changes, or the scheme or
-- port changes other than http -> https on default ports.
local function should_strip_auth(old, new)
  local os_, oh, op = core.origin(old)
  local ns, nh, np = core.origin(new)
  if oh ~= nh then return true end
  if os_ == "http" and ns == "https" and op == DEFAULT_PORTS.http and np == DEFAULT_PORTS.https then
    return false
  end
  return os_ ~= ns or op ~= np
end

-- Observers (tracing, HAR recording) see every hop, error and retry as an
-- event table: {type = "response", response = res, hop = n, attempt = a},
-- {type = "error", error = err, method =, url =, attempt = a, redact =},
-- {type = "retry", attempt = a, delay = s, reason = res_or_err, redact =}.
-- `redact` (and res._redact) is the request's redaction context
-- (lurl.redact) when its session or options have one.
local function emit(sess, ev)
  local obs = sess._observers
  for i = 1, #obs do obs[i](ev) end
end

-- Takes the session's connection slots (max_connections and
-- max_host_connections) for one exchange; returns what to give back.
local function acquire(sess, url)
  local all, per_host = sess._conn_sem, sess._host_limit
  if not all and not per_host then return nil end
  if all then task.acquire(all) end
  local hsem
  if per_host then
    local _, host, port = core.origin(url)
    local key = (host or "") .. ":" .. tostring(port)
    hsem = sess._host_sems[key]
    if not hsem then
      hsem = task.semaphore(per_host)
      sess._host_sems[key] = hsem
    end
    task.acquire(hsem)
  end
  return hsem or all
end

local function release(sess, held)
  if held == nil then return end
  if held ~= sess._conn_sem then task.release(held) end
  if sess._conn_sem then task.release(sess._conn_sem) end
end

-- What a transfer needs from Lua while it runs: the stream flag, an upload
-- function, a progress callback.  nil (the common case) means "just wait".
local function io_context(opts, defaults, flags, method, url)
  local st, body, prog, bar
  if opts then
    st, body, prog, bar = opts.stream, opts.body, opts.on_progress, opts.progress
  end
  if st == nil then st = defaults.stream end
  if body == nil then body = defaults.body end
  if prog == nil then prog = defaults.on_progress end
  if bar == nil then bar = defaults.progress end
  if (flags & DROP_BODY) ~= 0 then body = nil end
  if not prog and bar then prog = stream.bar() end
  if not st and type(body) ~= "function" and not prog then return nil end
  return { stream = st, body_fn = type(body) == "function" and body or nil, on_progress = prog,
    method = method, url = url }
end

-- One exchange on the wire.
local function hop_plain(sess, fname, argn, method, url, opts, flags, remaining_ms)
  local defaults = sess.defaults
  local t, err = start(fname, argn, method, url, opts, defaults, flags, remaining_ms, sess._share)
  if not t then return nil, nil, err end
  local ctx -- nil unless the call or the session has an io option (io_context)
  if opts or defaults.stream ~= nil or defaults.body ~= nil or defaults.on_progress ~= nil
      or defaults.progress ~= nil then
    ctx = io_context(opts, defaults, flags, method, url)
  end
  local ok, res = true, nil
  if ctx then ok, err = stream.drive(t, ctx) else wait(t) end
  if ok then res, err = result(t) end
  return t, res, err, ctx
end

-- The same for a session with limits, holding its connection slots for the
-- exchange's duration.  The slots are given back however it ends: normally,
-- by an error, or by task:cancel() closing the coroutine (<close> runs
-- then too).
local function hop(sess, fname, argn, method, url, opts, flags, remaining_ms)
  local held = acquire(sess, url)
  local _ <close> = held and setmetatable({}, { __close = function() release(sess, held) end })
  local t, res, err, ctx = hop_plain(sess, fname, argn, method, url, opts, flags, remaining_ms)
  return t, res, err, ctx
end

-- One attempt: sends the request and follows its redirects.
-- Returns res, or nil, err.  `first`, when given, is the response to the
-- first hop, already sent (send_plain): the chain goes on from it.
local exchange
function exchange(sess, fname, argn, method, url, opts, deadline, total, attempt, policy, first,
                  rctx)
  local defaults = sess.defaults
  local allow, max_redirects
  if opts then allow, max_redirects = opts.allow_redirects, opts.max_redirects end
  if allow == nil then allow = defaults.allow_redirects end
  if allow == nil then allow = true end
  if max_redirects == nil then max_redirects = defaults.max_redirects or 30 end
  local flags, history = 0, nil
  -- libcurl re-sends a request by itself when a reused connection turns out
  -- dead; a POST must not be sent twice unless the retry policy says so
  if not IDEMPOTENT[method] and not (policy and policy.methods[method]) then flags = FRESH end
  local carried, carried_opts -- cookies set along the chain, by host (no jar)
  local given, first_host = opts, nil -- the `cookies` option goes to this host only
  while true do
    local t, res, err, ctx
    if first then -- a plain session's hop: no deadline, limits, stream or observers
      res, first = first, nil
    else
      local remaining_ms = 0
      if deadline then
        remaining_ms = math.floor((deadline - now()) * 1000 + 0.5)
        if remaining_ms <= 0 then
          return nil, cerror("Timeout", ("total timeout of %.1f s exceeded"):format(total),
            method, url)
        end
      end
      if sess._rate then task.throttle(sess, sess._rate) end
      if capped then take_slot() end -- a limited state's cap on transfers at once
      if sess._conn_sem or sess._host_limit then
        t, res, err, ctx = hop(sess, fname, argn, method, url, opts, flags, remaining_ms)
      else
        t, res, err, ctx = hop_plain(sess, fname, argn, method, url, opts, flags, remaining_ms)
      end
      if not res then
        if sess._observers then
          emit(sess, { type = "error", error = err, method = method, url = url, attempt = attempt,
            redact = rctx })
        end
        return nil, err
      end
      if ctx and ctx.stream then
        res._t, res._ctx = t, ctx
        if capped then streams_held[res] = task.current() or false end
        local o, m, u = opts, method, res.url -- the URL as sent, query included
        res._resend = function(extra) -- for res:save{resume = true}
          local o2 = {}
          for k, v in pairs(o or {}) do o2[k] = v end
          local h = {}
          for k, v in pairs(o2.headers or {}) do h[k] = v end
          for k, v in pairs(extra) do h[k] = v end
          o2.headers, o2.params = h, nil
          return exchange(sess, fname, argn, m, u, o2, deadline, total, attempt, nil, nil, rctx)
        end
      end
      if rctx then res._redact = rctx end
      if sess._observers then
        emit(sess, { type = "response", response = res, hop = history and #history + 1 or 1,
          attempt = attempt })
      end
    end
    local status = res.status
    local location = allow and REDIRECTS[status] and res.headers["location"]
    -- a body read from a file or a function cannot be sent twice
    if location and (status == 307 or status == 308) and (flags & DROP_BODY) == 0 then
      local b = opt(opts, defaults, "body")
      if type(b) == "function" or io_type(b) == "file" then location = nil end
    end
    if not location then
      if history then
        local spent = 0
        for i = 1, #history do spent = spent + history[i].elapsed end
        res.history = history
        res.timings.redirect = spent
        res.timings.total = res.timings.total + spent
        res.elapsed = res.timings.total
      end
      return res
    end
    if ctx and ctx.stream then res:close() end -- a hop's body is not wanted
    history = history or {}
    history[#history + 1] = res
    if #history > max_redirects then
      return nil, cerror("TooManyRedirects", ("exceeded %d redirects"):format(max_redirects),
        method, url)
    end
    local nexturl, why = core.resolve(res.url, location)
    if not nexturl then
      return nil, cerror("InvalidURL", "bad redirect location: " .. why, method, url)
    end
    if (status == 303 and method ~= "HEAD") or
       ((status == 301 or status == 302) and method == "POST") then
      method = "GET"
      flags = (flags | DROP_BODY) & ~FRESH
    end
    if should_strip_auth(res.url, nexturl) then flags = flags | STRIP_AUTH end
    flags = flags | NO_PARAMS
    if not sess.cookies then
      -- no jar: still carry cookies along one redirect chain, as requests
      -- does, each back to the host that set it only
      local set = res.cookies
      if next(set) ~= nil then
        local _, h1 = core.origin(res.url)
        carried = carried or {}
        carried_opts = carried_opts or given
        local c = carried[h1] or {}
        for k, v in pairs(set) do c[k] = v end
        carried[h1] = c
      end
      if carried then
        local _, h2 = core.origin(nexturl)
        local o = {}
        for k, v in pairs(carried_opts or {}) do o[k] = v end
        local c = {}
        for k, v in pairs(carried_opts and carried_opts.cookies or defaults.cookies or {}) do c[k] = v end
        for k, v in pairs(carried[h2] or {}) do c[k] = v end
        o.cookies = c
        opts = o
      end
    end
    first_host = first_host or select(2, core.origin(res.url))
    local h2 = select(2, core.origin(nexturl))
    if h2 ~= first_host and opt(given, defaults, "cookies") then
      local o = {} -- another host: none of the cookies the caller gave
      for k, v in pairs(opts or {}) do o[k] = v end
      o.cookies = carried and carried[h2] or {}
      opts = o
    elseif h2 == first_host and not carried then
      opts = given
    end
    url = nexturl
  end
end

-- Joins a session's base_url and a relative URL with exactly one slash
-- (so base "https://h/v1" and "/login" give "https://h/v1/login").
local function join_base(base, url)
  if not base or url:find("^%a[%w+.-]*://") then return url end
  if url == "" then return base end
  local b, u = base:sub(-1) == "/", url:sub(1, 1) == "/"
  if b and u then return base .. url:sub(2) end
  if b or u or url:sub(1, 1) == "?" then return base .. url end
  return base .. "/" .. url
end

-- Lets hooks.request change method, URL, headers and params.
local function run_request_hook(hook, method, url, opts)
  local req = { method = method, url = url, headers = {}, params = opts and opts.params }
  if opts and opts.headers then
    for k, v in pairs(opts.headers) do req.headers[k] = v end
  end
  hook(req)
  local o = {}
  if opts then for k, v in pairs(opts) do o[k] = v end end
  o.headers, o.params = req.headers, req.params
  return tostring(req.method):upper(), req.url, o
end

-- The whole request: hooks, retries, deadline.  fname/argn name the user's
-- call in argument errors.
local function send(sess, fname, argn, method, url, opts)
  if sess._closed then error("attempt to use a closed session", 3) end
  local defaults = sess.defaults
  if sess._base_url then url = join_base(sess._base_url, url) end
  local hooks = sess._hooks
  if hooks and hooks.request then method, url, opts = run_request_hook(hooks.request, method, url, opts) end
  local rp, to
  if opts then rp, to = opts.retry, opts.timeout end
  if rp == nil then rp = defaults.retry end
  if to == nil then to = defaults.timeout end
  local policy = rp and retry.policy(rp, fname, argn)
  -- what the session's and this call's `redact`, `proxy` and `proxies`
  -- add to the secrets hidden in errors, traces and HAR files
  local rctx = sess._redact or nil
  if opts and (opts.redact ~= nil or opts.proxy ~= nil or opts.proxies ~= nil) then
    rctx = redact.context(nil, opts, rctx, fname, argn)
  end
  local deadline, total
  -- math.huge is no total, like false; NaN, zero and negative totals are
  -- left to core.start, which raises naming the field ("must be positive")
  if to and type(to) == "table" and type(to.total) == "number" and to.total > 0
      and to.total < math.huge then
    total = to.total
    deadline = now() + total
  end
  local attempt = 1
  local res, err
  while true do
    res, err = exchange(sess, fname, argn, method, url, opts, deadline, total, attempt, policy,
      nil, rctx)
    local delay = policy and retry.delay(policy, method, attempt, res, err,
      deadline and deadline - now())
    if not delay then break end
    if policy.on_retry then policy.on_retry(res or err, attempt, delay) end
    if sess._observers then
      emit(sess, { type = "retry", attempt = attempt, delay = delay, reason = res or err,
        redact = rctx })
    end
    if res then res = nil end
    task.sleep(delay)
    attempt = attempt + 1
  end
  if res then
    if attempt > 1 then res.attempts = attempt end -- else response.lua's lazy 1
    if hooks and hooks.response then
      local replaced = hooks.response(res)
      if replaced ~= nil then res = replaced end
    end
    return res
  end
  err.attempts = attempt
  if rctx then redact.error(err, rctx, url) end
  return nil, err
end

-- send() for a call without options on a plain session (new_session): no
-- hooks, base URL, limits, observers, retries, total deadline or io
-- options, so the request is one hop unless it is redirected; then
-- exchange follows the chain from that response.  flags: core.start's
-- (FRESH for a method that is not idempotent, as exchange sets it).
local function send_plain(sess, fname, method, url, flags, argn)
  argn = argn or 2
  local t, err = start(fname, argn, method, url, nil, sess.defaults, flags, 0, sess._share)
  if t then
    wait(t)
    local res
    res, err = result(t)
    if res then
      if not REDIRECTS[res.status] then return res end
      res, err = exchange(sess, fname, argn, method, url, nil, nil, nil, 1, nil, res)
      if res then return res end
    end
  end
  err.attempts = 1
  return nil, err
end

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

local SESSION_ONLY = { base_url = "string", hooks = "table", rate_limit = "number",
  max_connections = "number", max_host_connections = "number", trace = true, har = true }

-- LURL_TRACE=1 (or lurl --trace) traces every session, the hidden one too.
-- Not in a limited state: the host's environment is not the script's.
local TRACE_ENV = not LIMITED and os.getenv("LURL_TRACE") or nil
if TRACE_ENV == "" or TRACE_ENV == "0" then TRACE_ENV = nil end

-- Observers for a session's trace and har options (lua/lurl/trace.lua and
-- lua/lurl/har.lua own their formats).
local function add_observers(s, cfg, keep_cookies)
  local trace = cfg.trace
  if trace == nil and TRACE_ENV then trace = true end
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

local function new_session(cfg, keep_cookies)
  local share = core.share(keep_cookies)
  -- every private field is present (false when unset): a missing one would
  -- be looked up in SESSION_MT's __index too, on each request
  local s = setmetatable({ _share = share, defaults = {}, _host_sems = {}, _closed = false,
    _base_url = false, _hooks = false, _rate = false, _conn_sem = false, _host_limit = false,
    _observers = false, _har = false, _plain = false, _redact = false }, SESSION_MT)
  for k, v in pairs(cfg) do
    local want = SESSION_ONLY[k]
    if want == true then -- checked by the module that handles it
    elseif want then
      if type(v) ~= want then
        error(("bad argument #1 to 'session' (field '%s': %s expected, got %s)"):format(k, want, type(v)), 3)
      end
    elseif type(k) ~= "string" then
      error("bad argument #1 to 'session' (option names must be strings)", 3)
    else
      s.defaults[k] = v
    end
  end
  -- Unknown request options are refused now rather than at the first call.
  local ok, msg = pcall(core.check_options, "session", 1, s.defaults)
  if not ok then error(msg, 3) end
  s.headers = s.defaults.headers or {}
  s.defaults.headers = s.headers -- live: s.headers.X = "y" applies to later requests
  s._base_url = cfg.base_url or false
  s._hooks = cfg.hooks or false
  s._rate = cfg.rate_limit or false
  if s._rate and s._rate <= 0 then error("bad argument #1 to 'session' (field 'rate_limit': must be positive)", 3) end
  if cfg.max_connections then s._conn_sem = task.semaphore(math.floor(cfg.max_connections)) end
  s._host_limit = cfg.max_host_connections and math.floor(cfg.max_host_connections) or false
  if keep_cookies then
    s.cookies = cookies.new(share)
    open_jars[share] = true
  end
  local d = s.defaults
  if d.redact ~= nil or d.proxy ~= nil or d.proxies ~= nil then
    s._redact = redact.context(d, nil, nil, "session", 1) or false
  end
  add_observers(s, cfg, keep_cookies)
  -- send_plain serves its calls without options: decided once, as only
  -- s.headers is live (and headers are read per request in C anyway)
  s._plain = not (s._base_url or s._hooks or s._rate or s._conn_sem or s._host_limit
    or s._observers or s._redact or capped) and d.retry == nil and type(d.timeout) ~= "table" and d.stream == nil
    and d.body == nil and d.on_progress == nil and d.progress == nil
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
  local flags = IDEMPOTENT[M] and 0 or FRESH
  smethods[m] = function(s, url, opts)
    if rawgetmetatable(s) ~= SESSION_MT then check_self(s, m) end
    if type(url) ~= "string" then check_url(m, 1, url) end
    if opts == nil then
      if s._plain then return send_plain(s, m, M, url, flags) end
    elseif type(opts) ~= "table" then
      check_opts(m, 2, opts)
    end
    return send(s, m, 2, M, url, opts)
  end
end

-- s:close(): releases connections and caches; later use raises.
function smethods.close(s)
  if s._closed then return end
  s._closed, s._plain = true, false -- send() raises for a closed session
  open_jars[s._share] = nil
  core.share_close(s._share)
  if s._har then s._har:close() end
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
  local flags = IDEMPOTENT[M] and 0 or FRESH
  http[m] = function(url, opts)
    check_url(m, 1, url)
    if opts == nil and default._plain then return send_plain(default, m, M, url, flags) end
    check_opts(m, 2, opts)
    return send(default, m, 2, M, url, opts)
  end
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

------------------------------------------------------------------ many at once

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
  local function one(m, u, o)
    check_url("parallel", 1, u)
    return send(sess, "parallel", 1, tostring(m):upper(), u, o)
  end
  local n, nexti, results = #list, 0, {}
  local function worker()
    while true do
      nexti = nexti + 1
      local i = nexti
      if i > n then return end
      local item = list[i]
      local ok, res, err
      if type(item) == "string" then
        if sess._plain then
          ok, res, err = pcall(send_plain, sess, "parallel", "GET", item, 0, 1)
        else
          ok, res, err = pcall(send, sess, "parallel", 1, "GET", item, nil)
        end
      elseif type(item) == "table" then
        ok, res, err = pcall(one, item[1], item[2], item[3])
      else
        ok, res = false, ("item %d: {method, url, opts} or URL expected, got %s"):format(i, type(item))
      end
      if not ok then
        res = type(res) == "table" and res or cerror("RequestException", tostring(res))
      end
      results[i] = res or err
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

http.response_methods = response.methods
http._session_methods = smethods

return http
