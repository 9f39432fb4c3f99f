-- lurl.options: what the Lua side reads of a request's options, resolved in
-- one place: the request's option, else the session's default, else the
-- environment (LURL_TRACE) or lurl's default.
--
-- Options that only libcurl's side uses (headers, params, auth, json,
-- timeout numbers, verify...) are read by core.start from the call's table
-- and the session's defaults itself; they are not copied here.
--
-- Two levels, so a call pays only for what it sets:
--   M.session(s, cfg)  once per session: its limits, base URL, redaction
--                      context, and `s._call`, the resolution of a call that
--                      sets no option the Lua side reads.
--   M.call(s, opts, fname, argn)  per call: s._call itself when `opts` sets
--                      nothing the Lua side reads (the common case, found by
--                      one pass over opts' keys), else a new resolved table.
-- A resolved call is {allow, max, retry, policy, total, io, stream,
-- body_fn, on_progress, progress, cookies, rctx, auth, hooks}:
--   allow, max   allow_redirects (default true), max_redirects (default 30)
--   redirects    lurl.redirect.STATUSES when allow is true, else an empty set
--   retry        the retry option; policy its lurl.retry policy, made on
--                first use and kept (a bad one raises naming the call)
--   total        timeout.total in seconds, or nil (none, false, math.huge)
--   io           true when the transfer needs Lua while it runs: stream,
--                an upload function, on_progress or progress
--   cookies      true when the call (or the session) gives `cookies`, which
--                may override the jar's (lurl.exchange)
--   rctx         the redaction context (lurl.redact) or nil
--   auth         an auth function or flow lurl runs (lurl.auth), or nil
--   hooks        the call's own `hooks` (run after the session's), or nil
-- The session's `defaults` are read when it is made: only `s.headers` is
-- live (core.start reads it per request).
local task = require "lurl.task"
local STATUSES = require("lurl.redirect").STATUSES
local NONE = {}
local type, next = type, next

local M = {}

local lazy = require "lurl.lazy"
local redact = lazy "lurl.redact" -- only for the `redact`, `proxy` and `proxies` options
local retry = lazy "lurl.retry"

-- The request options the Lua side reads.  true: any value matters; a type
-- name: only a value of that type does (a number timeout is libcurl's
-- business, a string body too), unless the session has a default for the
-- key, which the call's value then overrides.
local LUA_KEYS = { allow_redirects = true, max_redirects = true, retry = true, timeout = "table",
  stream = true, body = "function", on_progress = true, progress = true, redact = true,
  proxy = true, proxies = true, auth = "flow", hooks = true,
  cookies = true }
M.LUA_KEYS = LUA_KEYS

-- An auth option lurl runs itself (lurl.auth): a function, or an object of
-- http.aws_sigv4 / http.oauth2 (their `sign`).  "flow" in LUA_KEYS.
local function is_flow(a)
  return type(a) == "function" or (type(a) == "table" and rawget(a, "sign") ~= nil)
end
M.is_flow = is_flow

-- The stack level of the user's call, for an argument error raised here
-- (lurl.redact's: the first function outside lurl's own Lua files); only
-- on the error path, so the lazy module is loaded then.
local function user_level() return redact.user_level() end

-- A call's own `hooks` (same shape as the session's), checked.
local function check_hooks(hooks, fname, argn)
  if type(hooks) ~= "table" then
    error(("bad argument #%d to '%s' (field 'hooks': table expected, got %s)"):format(argn,
      fname, type(hooks)), user_level())
  end
  for _, k in ipairs { "request", "response" } do
    local f = hooks[k]
    if f ~= nil and type(f) ~= "function" then
      error(("bad argument #%d to '%s' (field 'hooks.%s': function expected, got %s)"):format(
        argn, fname, k, type(f)), user_level())
    end
  end
  return hooks
end

local function pick(opts, d, k)
  local v = opts and opts[k]
  if v == nil then v = d[k] end
  return v
end

-- The resolution of opts over the session defaults d; rctx0 the session's
-- redaction context.
local function resolve(opts, d, rctx0, fname, argn)
  local c = {}
  local allow = pick(opts, d, "allow_redirects")
  if allow == nil then allow = true end
  c.allow = allow and true or false
  c.redirects = allow and STATUSES or NONE -- the statuses lurl.exchange asks lurl.redirect about
  c.max = pick(opts, d, "max_redirects") or 30
  c.retry = pick(opts, d, "retry")
  -- math.huge is no total, like false; NaN, zero and negative totals are
  -- left to core.start, which raises naming the field ("must be positive")
  local to = pick(opts, d, "timeout")
  if type(to) == "table" and type(to.total) == "number" and to.total > 0 and to.total < math.huge then
    c.total = to.total
  end
  local st, body = pick(opts, d, "stream"), pick(opts, d, "body")
  local prog, bar = pick(opts, d, "on_progress"), pick(opts, d, "progress")
  c.stream = st
  c.body_fn = type(body) == "function" and body or nil
  c.on_progress, c.progress = prog, bar
  c.io = (st or c.body_fn or prog or bar) and true or false
  c.cookies = pick(opts, d, "cookies") ~= nil
  local rctx = rctx0
  if opts and (opts.redact ~= nil or opts.proxy ~= nil or opts.proxies ~= nil) then
    -- what the session's and this call's `redact`, `proxy` and `proxies`
    -- add to the secrets hidden in errors, traces and HAR files
    rctx = redact.context(nil, opts, rctx0, fname, argn)
  end
  c.rctx = rctx or nil
  local a = pick(opts, d, "auth")
  if a ~= nil and is_flow(a) then c.auth = a end -- lurl.exchange runs it before each hop
  local hooks = opts and opts.hooks
  if hooks ~= nil then c.hooks = check_hooks(hooks, fname, argn) end
  return c
end
M.resolve = resolve

-- What a resolved call c lets lurl.exchange skip, as two flags, so a call
-- with nothing to do costs two tests, not one per feature:
--   c.bare  a hop needs libcurl's engine only: no total deadline,
--           per-host connection slots, transfer cap, transport, io,
--           redaction context or observers
--   c.lean  bare, on a session with a rate limit or max_connections,
--           which lurl.exchange's lean hop takes inline
--   c.wrap  the call needs send's outer layer: a closed session's error,
--           hooks, retries, a total deadline, redaction (a base URL is
--           joined before, by send and the request functions)
--   c.defer (below) its resolution may wait for core.fetch's scan
-- Called once per session (its observers known) and for each resolved call.
local CAPPED = require("http.core").max_transfers() > 0
function M.mark(s, c)
  c.bare = not (c.total or c.io or c.rctx or c.auth or s._host_limit or s._transport
    or s._observers or CAPPED)
  c.lean = c.bare and (s._rate or s._conn_sem) and true or false
  c.wrap = (s._closed or s._hooks or c.hooks or c.retry or c.total or c.rctx) and true or false
  -- c.defer: a call given options may go on with this resolution, its own
  -- left to core.fetch's scan of them (HOP_RESOLVE: it answers true when
  -- one is the Lua side's, before sending; lurl.exchange resolves then).
  -- Only where nothing before that fetch reads them: a bare call, unwrapped,
  -- with no limits (a call started over would take its slots twice).
  c.defer = c.bare and not c.lean and not c.wrap
  return c
end

-- Per call: the resolution of opts (see the top of the file).  Whether
-- opts sets anything the Lua side reads is core.resolves' one C pass over
-- its keys, by LUA_KEYS' rule (runtime/request_opts.c keeps the same set:
-- options_spec checks the two agree).  The request functions make that
-- test themselves and call M.resolved only when it says yes; on a session
-- whose own resolution defers (c.defer) they ask core.fetch instead, which
-- scans the options anyway (lurl.exchange's RESOLVE flag).
local resolves = require("http.core").resolves
M.resolves = resolves
function M.resolved(s, opts, fname, argn)
  return M.mark(s, resolve(opts, s.defaults, s._redact, fname, argn))
end
function M.call(s, opts, fname, argn)
  if opts == nil or not resolves(opts, s.defaults) then return s._call end
  return M.resolved(s, opts, fname, argn)
end

-- The retry policy of a resolved call, made on first use.
function M.policy(c, fname, argn)
  local p = c.policy
  if p == nil then
    p = retry.policy(c.retry, fname, argn) or false
    c.policy = p
  end
  return p
end

-- Once per session: the work that depends only on the session.  cfg holds
-- the session-only options, already type-checked (lurl.session).
function M.session(s, cfg)
  local d = s.defaults
  s._base_url = cfg.base_url or false
  if s._base_url then s._joined, s._njoined = {}, 0 end -- lurl.exchange's joined URLs
  s._hooks = cfg.hooks or false
  s._rate = cfg.rate_limit or false
  if s._rate and s._rate <= 0 then
    error("bad argument #1 to 'session' (field 'rate_limit': must be positive)", 4)
  end
  s._next_at = -math.huge -- the rate limit's next free slot (lurl.exchange)
  if cfg.max_connections then s._conn_sem = task.semaphore(math.floor(cfg.max_connections)) end
  s._host_limit = cfg.max_host_connections and math.floor(cfg.max_host_connections) or false
  if s._host_limit then s._host_urls, s._nhost_urls = {}, 0 end -- lurl.exchange's host_sem
  if d.redact ~= nil or d.proxy ~= nil or d.proxies ~= nil then
    s._redact = redact.context(d, nil, nil, "session", 1) or false
  end
  s._call = resolve(nil, d, s._redact, "session", 1) -- M.mark'ed once its observers are known
end

-- LURL_TRACE=1 (or lurl --trace) traces every session, the hidden one too;
-- not in a limited state, whose host's environment is not the script's.
local LIMITED = require("http.core").limited()
local TRACE_ENV = not LIMITED and os.getenv("LURL_TRACE") or nil
if TRACE_ENV == "" or TRACE_ENV == "0" then TRACE_ENV = nil end

-- The session's `trace` option, else the environment's.
function M.trace(cfg)
  local trace = cfg.trace
  if trace == nil and TRACE_ENV then trace = true end
  return trace
end

return M
