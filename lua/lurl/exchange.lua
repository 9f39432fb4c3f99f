-- lurl.exchange: the one request loop.
--
-- send() is every request, whatever its options: the session's base URL
-- and request hook, the options resolved once (lurl.options), retries and
-- the total deadline around exchange(), which does the hops of one attempt:
-- the rate limit, the connection slots, the transport, observers, streams,
-- and the redirect policy (lurl.redirect) between hops.
--
-- A request with nothing to do is cheap because each step is a test on a
-- false or nil field (c.bare, c.lean, sess._rate, c.io, c.rctx...), not
-- because a second copy of the loop serves it.
--
-- The transport performs one hop.  The default is libcurl's engine
-- (core.start / task.wait / core.result; core.fetch makes the three one C
-- call for a hop read whole, in a task too, where it parks the task in C);
-- a session's `transport` option replaces it (lurl.transport adapts a
-- function's answer).
local core = require "http.core"
local task = require "lurl.task"
local options = require "lurl.options"
local redirect = require "lurl.redirect"

local lazy = require "lurl.lazy"
local retry = lazy "lurl.retry"
local stream = lazy "lurl.stream" -- only for streams, uploads from functions, progress
local redact = lazy "lurl.redact"
local transport = lazy "lurl.transport" -- only for a session with `transport`
local cassette = lazy "lurl.cassette" -- only for a session with `cassette`
local auth = lazy "lurl.auth" -- only for auth functions and the flows lurl computes

local M = {}

local type, next = type, next
local start, fetch, result, cerror, now = core.start, core.fetch, core.result, core.error,
  core.now
local wait, acquire, release = task.wait, task.acquire, task.release
local call_opts, policy_of, resolved = options.call, options.policy, options.resolved
local next_request = redirect.next
local FRESH = redirect.FRESH
local DROP_BODY = redirect.DROP_BODY
local STRIP_AUTH = redirect.STRIP_AUTH
local NO_JAR = 32 -- core.start's flag: libcurl's jar neither sends nor stores (HOP_NO_JAR)
-- core.start's flag for a call whose options were not resolved (HOP_RESOLVE):
-- it answers true, sending nothing, when one of them is the Lua side's, or
-- when the call's headers name a Cookie field (exchange() decides the jar).
-- The request functions set it when the session's resolution defers
-- (lurl.options' c.defer: a bare, unwrapped call, so nothing before the
-- first fetch reads what the options would change); the first hop's fetch
-- then scans them as it must anyway, and exchange() resolves and starts
-- over only for a call that needs it.  Later hops never carry it.
local RESOLVE = 64
M.RESOLVE = RESOLVE
local IDEMPOTENT = { GET = true, HEAD = true, PUT = true, DELETE = true, OPTIONS = true,
  TRACE = true }
M.IDEMPOTENT = IDEMPOTENT
-- exchange()'s flags for a method
function M.flags_of(method) return IDEMPOTENT[method] and 0 or FRESH end

-- A limited state may cap the transfers running at once (runtime/policy.c):
-- a request waits until one ends (a buffered request when its answer is in,
-- a stream when it is read to the end or closed).  Streams are tracked by
-- the task that opened them: a task waiting while every slot is one of its
-- own unfinished streams would wait forever, so it fails instead.
local MAX_TRANSFERS = core.max_transfers()
local capped = MAX_TRANSFERS > 0 or nil
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

-- The per-host semaphore of the session's max_host_connections, by host
-- and port.  A session also keeps it by the URL given (up to HOST_KEEP
-- URLs, then starts over, as `joined` below): finding a URL's host means
-- parsing it (core.origin), ~10 k instructions, and scripts ask for the
-- same URLs again and again.  A URL's host and port never change, so a
-- kept URL stays right.  (lurl.options.session makes the table; the token
-- session of lurl.auth gets one here on first use.)
local HOST_KEEP = 64
local function host_sem(sess, url)
  local by_url = sess._host_urls
  local hsem = by_url and by_url[url]
  if hsem then return hsem end
  local _, host, port = core.origin(url)
  local key = (host or "") .. ":" .. tostring(port)
  hsem = sess._host_sems[key]
  if not hsem then
    hsem = task.semaphore(sess._host_limit)
    sess._host_sems[key] = hsem
  end
  local n = (sess._nhost_urls or 0) + 1
  if n > HOST_KEEP or not by_url then
    by_url, n = {}, 1
    sess._host_urls = by_url
  end
  by_url[url], sess._nhost_urls = hsem, n
  return hsem
end

-- A hop's slot under the session's rate limit: reserves the next free one
-- (sess._next_at, 1 / rate apart) and sleeps until it comes.
local function rate_slot(sess, rate)
  local tn = now()
  local slot = sess._next_at
  if slot < tn then slot = tn end
  sess._next_at = slot + 1 / rate
  if slot > tn then task.sleep(slot - tn) end
end

-- The slots a hop holds on a session with max_host_connections: {the
-- session's semaphore or nil, the host's once taken}; closing gives back
-- what was taken, the host's first.
local HELD_MT = { __close = function(h)
  if h[2] then release(h[2]) end
  if h[1] then release(h[1]) end
end }

-- What a transfer needs from Lua while it runs: the stream flag, an upload
-- function, a progress callback.  nil when nothing is left to do.
local function io_context(c, flags, method, url)
  local body = c.body_fn
  if (flags & DROP_BODY) ~= 0 then body = nil end
  local prog, bar_end = c.on_progress, nil
  if not prog and c.progress then prog, bar_end = stream.bar() end
  if not c.stream and not body and not prog then return nil end
  return { stream = c.stream, body_fn = body, on_progress = prog, bar_end = bar_end,
    method = method, url = url }
end

-- One hop over libcurl's engine, read whole (no stream): the engine branch
-- of exchange() below, for lurl.cassette, which records real exchanges.
-- Not called by exchange() itself, which keeps its branch inline.
function M.engine_hop(sess, fname, argn, method, url, opts, flags, remaining_ms, c)
  local t, err = start(fname, argn, method, url, opts, sess.defaults, flags, remaining_ms,
    sess._share)
  if not t then return nil, err end
  local ctx = c.io and io_context(c, flags, method, url) or nil
  if ctx then
    ctx.stream = nil
    if not ctx.body_fn and not ctx.on_progress then ctx = nil end
  end
  if not ctx then
    wait(t)
    return result(t)
  end
  local ok
  ok, err = stream.drive(t, ctx)
  if ok then return result(t) end
  return nil, err
end

-- A request's `cookies` override the jar's cookies of the same name
-- (requests merges them into the jar it sends from).  libcurl sends the
-- jar's matching cookies before CURLOPT_COOKIE's and cannot leave one out,
-- so when a name clashes the hop goes with libcurl's jar off (NO_JAR): its
-- Cookie line is made here (the jar's cookies for url, the request's
-- replacing those of their names) and the response's Set-Cookie fields are
-- stored here, by lurl.transport's rules.  Returns the hop's options and
-- flags, or nil when no name clashes.  Only requests with `cookies` on a
-- session with a jar come here.
local function cookie_override(sess, opts, url, flags)
  if opts ~= nil and type(opts) ~= "table" then return nil end -- core.start says why
  local given = opts and opts.cookies
  if given == nil then given = sess.defaults.cookies end
  if type(given) ~= "table" then return nil end -- core.start says why
  local jar = transport.jar_cookies(sess.cookies, url)
  local clash = false
  for i = 1, #jar do
    if given[jar[i].name] ~= nil then clash = true break end
  end
  if not clash then return nil end
  local merged = {}
  for i = 1, #jar do
    local c = jar[i]
    if given[c.name] == nil then merged[c.name] = c.value end
  end
  for k, v in pairs(given) do merged[k] = v end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.cookies = merged
  return o, flags | NO_JAR
end

-- A Cookie field given in `headers` is sent instead of the jar's cookies
-- (requests' prepare_cookies adds the jar's only when no Cookie header is
-- set): such a hop goes with libcurl's jar off (NO_JAR), the field as
-- given and the `cookies` option after it (request_head.c), and the
-- response's Set-Cookie fields are stored here.  cookie_headers: the
-- session headers tables a Cookie field was written to (lurl.client marks
-- them with M.mark_cookie_headers), so a session without one pays a table
-- lookup, not a scan, and no lookup at all until a table is marked.
local cookie_headers = setmetatable({}, { __mode = "k" })
local cookie_marked = false -- any table marked yet
function M.mark_cookie_headers(t)
  cookie_headers[t], cookie_marked = true, true
end

-- What a headers table says of the Cookie field: true (it gives one),
-- false (it removes it) or nil (nothing); its named fields, then its
-- {name, value} pairs in order, as request_head.c merges them.  `any`:
-- a named field in any spelling (s.headers, scanned only once marked);
-- else (a call's headers) st is what its named field said, looked up by
-- exchange() itself as Cookie, cookie or COOKIE (three lookups inline, not
-- a traversal nor a call: a call's headers are on the hot path of every
-- session request that has some), and only a pairs list is scanned here.
local function cookie_field(h, any, st)
  if any then
    for k, v in next, h do
      if type(k) == "string" and #k == 6 and k:lower() == "cookie" then st = v ~= false end
    end
  end
  if h[1] ~= nil then
    for i = 1, #h do
      local p = h[i]
      local k = type(p) == "table" and p[1]
      if type(k) == "string" and #k == 6 and k:lower() == "cookie" then st = p[2] ~= false end
    end
  end
  return st
end

-- A call's option names, checked over a transport as core.start checks
-- them over libcurl (request_opts.c): an unknown one raises at the
-- caller's line with the nearest known name.  One lookup per key; the
-- values are the transport's to read (lurl.transport).  A session's
-- defaults were checked when it was made, by a dry run of core.start.
local OPTION_NAMES = core.option_names
local KNOWN = {}
for _, k in ipairs(OPTION_NAMES) do KNOWN[k] = true end
local function check_keys(opts, fname, argn)
  for k in next, opts do
    if not KNOWN[k] then
      local why = "option names must be strings"
      if type(k) == "string" then
        local near = core.nearest(k, OPTION_NAMES)
        why = ("unknown option '%s'%s"):format(k, near and (" (did you mean '%s'?)"):format(near) or "")
      end
      error(("bad argument #%d to '%s' (%s)"):format(argn, fname, why), redact.user_level())
    end
  end
end

-- The hops of one attempt: sends the request and follows its redirects.
-- Returns res, or nil, err.  flags: FRESH for a method that is not
-- idempotent (M.flags_of), else 0; deadline nil and attempt nil (1) for a
-- call without retries or a total (the request functions omit them).
-- s.headers replaced as a whole (`s.headers = {...}`, as requests'
-- Session.headers may be): the script's table is not the live one the
-- defaults hold (sess._headers), so lurl.client's adopt_headers makes a
-- live table of it before the request reads the defaults.  One comparison
-- per attempt.
local adopt_headers -- lurl.client's, set at load (M.on_replaced_headers)
function M.on_replaced_headers(f) adopt_headers = f end

local exchange, resolved_send
function exchange(sess, fname, argn, method, url, opts, c, flags, deadline, attempt)
  if sess.headers ~= sess._headers then adopt_headers(sess, fname) end
  -- libcurl re-sends a request by itself when a reused connection turns out
  -- dead; a POST must not be sent twice unless the retry policy says so
  if flags ~= 0 and c.retry then
    local p = policy_of(c, fname, argn)
    if p and p.methods[method] then flags = 0 end
  end
  -- bare: nothing but libcurl's engine to drive; lean: that, and the
  -- session's rate limit or max_connections (lurl.options.mark)
  local bare, lean = c.bare, c.lean
  local redirects = c.redirects -- the statuses that may redirect (none without allow_redirects)
  -- req: the redirect state (lurl.redirect), from the first redirect on;
  -- resent: true once a hop was sent again after a 401 (an auth flow's)
  local history, req, resent
  local jar = c.cookies and sess.cookies -- a jar the call's cookies may override
  -- own: a Cookie header (the call's, else the session's) replaces the jar's
  local own
  if sess.cookies then
    -- with RESOLVE, core.fetch answers true, sending nothing, when the
    -- call's headers name a Cookie field (any case): they are looked at
    -- here then, on the call started over
    local oh = (flags & RESOLVE) == 0 and opts and opts.headers
    if oh and type(oh) == "table" then -- cookie_field's lookups of a call's, inline
      local v = oh.Cookie
      if v == nil then v = oh.cookie end
      if v == nil then v = oh.COOKIE end
      if v ~= nil then own = v ~= false end
      if oh[1] ~= nil then own = cookie_field(oh, false, own) end
    end
    if own == nil and cookie_marked and cookie_headers[sess.defaults.headers] then
      own = cookie_field(sess.defaults.headers, true)
    end
  end
  while true do
    -- stamp: what an auth flow signed the hop with; given: {opts, flags} of
    -- a hop sent with the jar off
    local res, err, t, ctx, stamp, given
    if own and (flags & STRIP_AUTH) == 0 then -- another host: the header is dropped
      given = { opts, flags }
      flags = flags | NO_JAR
    elseif jar then
      local o, f = cookie_override(sess, opts, url, flags)
      if o then given = { opts, flags }; opts, flags = o, f end
    end
    if lean then -- bare (below) on a session with a rate limit or max_connections
      -- Speed trick, the lean hop: the limits the general branch takes
      -- (its rate-limit slot, its connection slot held by a to-be-closed
      -- value), without that branch's tests for a deadline, an auth flow,
      -- a per-host limit, a transport or io.  Invariant: lurl.options.mark
      -- sets c.lean only on a bare call (none of those) whose session has
      -- a rate limit or max_connections, and never lets it defer (a hop
      -- started over by RESOLVE would take both again).  The slot below is
      -- taken as the general branch takes it, kept in step with it.
      local rate = sess._rate
      if rate then rate_slot(sess, rate) end
      local held = sess._conn_sem or nil
      if held then
        local free = held.free
        if free > 0 then held.free = free - 1 else acquire(held) end
      end
      local _held <close> = held
      res, err = fetch(fname, argn, method, url, opts, sess.defaults, flags, 0, sess._share)
      if res == false then
        wait(err)
        res, err = result(err, true) -- true: t is dropped, core may reuse it
      end
    elseif bare then -- the engine branch below, without deadline, limits or io
      -- start, wait and result in one C call (parking a task in C); false, t
      -- while tasks are alive and this is no task that can yield
      res, err = fetch(fname, argn, method, url, opts, sess.defaults, flags, 0, sess._share)
      if res == false then
        wait(err)
        res, err = result(err, true) -- true: t is dropped, core may reuse it
      elseif res == true then -- RESOLVE: the options are the Lua side's too
        if given then opts, flags = given[1], given[2] end
        return resolved_send(sess, fname, argn, method, url, opts, flags & ~RESOLVE)
      end
    else
      -- the hop as sent: with an auth flow lurl runs (c.auth, never on a
      -- bare call), its URL with params and its options with the flow's
      -- headers (lurl.auth.prepare); before the hop takes its connection
      -- slots, which an OAuth2 token request may need
      local hop_url, hop_opts, flow = url, opts, c.auth
      if flow then
        if (flags & STRIP_AUTH) ~= 0 then
          hop_opts = auth.strip(opts)
        else
          hop_url, hop_opts, stamp = auth.prepare(sess, flow, method, url, opts, flags, fname, argn)
          if not hop_url then
            err = hop_opts
            goto failed
          end
        end
      end
      local remaining_ms = 0
      if deadline then
        remaining_ms = math.floor((deadline - now()) * 1000 + 0.5)
        if remaining_ms <= 0 then
          return nil, cerror("Timeout", ("total timeout of %.1f s exceeded"):format(c.total),
            method, url)
        end
      end
      local rate = sess._rate
      if rate then rate_slot(sess, rate) end
      if capped then take_slot() end
      -- One hop through the session's transport, holding its connection
      -- slots (max_connections, max_host_connections) for the hop's
      -- duration: one to-be-closed value (the semaphore, or with a per-host
      -- limit a HELD pair) gives them back however the hop ends (normally,
      -- by an error, or by task:cancel() closing the coroutine).  Inline,
      -- not a function: it runs on every request that is not bare.
      local held = sess._conn_sem or nil
      if held then -- a free slot taken here (task.semaphore's fast path), else acquire waits
        local free = held.free
        if free > 0 then held.free = free - 1 else acquire(held) end
      end
      if sess._host_limit then held = setmetatable({ held }, HELD_MT) end -- before the wait
      local _held <close> = held
      if sess._host_limit then
        local per_host = host_sem(sess, url)
        local free = per_host.free
        if free > 0 then per_host.free = free - 1 else acquire(per_host) end
        held[2] = per_host -- given back first
      end
      local tr = sess._transport
      if tr and opts ~= nil and not history then check_keys(opts, fname, argn) end
      if tr then
        if tr == sess._cassette then -- replays, or records over the engine
          res, err = cassette.hop(tr, sess, fname, argn, method, hop_url, hop_opts, flags, c,
            remaining_ms)
        else
          res, err = transport.hop(sess, tr, method, hop_url, hop_opts, flags, c, deadline, fname,
            argn)
          -- a transport that lets this hop through to the network (a mock's
          -- passthrough) answers transport.PASS: libcurl's engine below
          if res == transport.PASS then tr, res = false, nil end
        end
      end
      if tr then -- done above
      elseif not c.io then -- libcurl's engine, read whole: one C call, as a bare hop
        res, err = fetch(fname, argn, method, hop_url, hop_opts, sess.defaults, flags,
          remaining_ms, sess._share)
        if res == false then
          wait(err)
          res, err = result(err, true) -- true: t is dropped, core may reuse it
        end
      else -- libcurl's engine, with Lua's work while it runs (lurl.stream)
        t, err = start(fname, argn, method, hop_url, hop_opts, sess.defaults, flags, remaining_ms,
          sess._share)
        if t then
          ctx = io_context(c, flags, method, url)
          if not ctx then
            wait(t)
            res, err = result(t, true) -- true: t is dead after this, core may reuse it
            t = nil
          else
            local ok
            ok, err = stream.drive(t, ctx)
            if ok then res, err = result(t) end
          end
        end
      end
    end
    ::failed::
    if given then -- the redirect state and what follows see the call's own
      opts, flags = given[1], given[2]
      if res then transport.store_cookies(sess.cookies, url, res) end
    end
    if not res then
      if sess._observers then
        emit(sess, { type = "error", error = err, method = method, url = url, attempt = attempt or 1,
          redact = c.rctx })
      end
      err.attempts = attempt or 1
      return nil, err
    end
    if not bare then
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
          return exchange(sess, fname, argn, m, u, o2, c, IDEMPOTENT[m] and 0 or FRESH, deadline,
            attempt)
        end
      end
      if c.rctx then res._redact = c.rctx end
      if sess._observers then
        emit(sess, { type = "response", response = res, hop = history and #history + 1 or 1,
          attempt = attempt or 1 })
      end
      -- a 401 to a hop an auth flow signed: the flow may want it sent
      -- again, once (OAuth2: a token revoked or expired early)
      if stamp ~= nil and res.status == 401 and not resent
          and auth.stale(c.auth, stamp, opts, sess.defaults, flags) then
        resent = true
        if ctx and ctx.stream then res:close() end
        goto next_hop
      end
    end
    if redirects[res.status] then
      req = req or { method = method, url = url, opts = opts, given = opts,
        defaults = sess.defaults, flags = flags & ~RESOLVE, allow = true, max = c.max,
        redirects = 0, jar = sess.cookies ~= nil }
      local nreq, rerr = next_request(req, res)
      if nreq or rerr then
        if ctx and ctx.stream then res:close() end -- a hop's body is not wanted
        if rerr then
          rerr.attempts = attempt or 1
          -- requests' TooManyRedirects carries the 3xx it stopped at, the
          -- hops before it in its history
          if rerr.kind == "TooManyRedirects" then
            if history then res.history = table.move(history, 1, #history, 1, {}) end
            rerr.response = res
          end
          return nil, rerr
        end
        -- each hop holds the hops before it (requests' resp.history); the
        -- first hop keeps the lazy empty one
        if history then
          res.history = table.move(history, 1, #history, 1, {})
        else
          history = {}
        end
        history[#history + 1] = res
        req = nreq
        method, url, opts, flags = nreq.method, nreq.url, nreq.opts, nreq.flags
        goto next_hop
      end
    end
    if history then
      local spent = 0
      for i = 1, #history do spent = spent + history[i].elapsed end
      res.history = history
      res.timings.redirect = spent
      res.timings.total = res.timings.total + spent
      res.elapsed = res.timings.total
    end
    do return res end
    ::next_hop::
  end
end

-- Joins a session's base_url and a relative URL with exactly one slash
-- (so base "https://h/v1" and "/login" give "https://h/v1/login").
local function join_base(base, url)
  url = url:match("^[%z\1- ]*(.-)[%z\1- ]*$") -- whitespace around it, as core.start drops it
  if url:find("^%a[%w+.-]*://") then return url end
  if url == "" then return base end
  local b, u = base:sub(-1) == "/", url:sub(1, 1) == "/"
  if b and u then return base .. url:sub(2) end
  if b or u or url:sub(1, 1) == "?" then return base .. url end
  return base .. "/" .. url
end
M.join_base = join_base

-- A session's joined URLs, by the URL given: scripts ask for the same few
-- paths again and again, and join_base costs a pattern match and a new
-- string each time.  Invariant: a session's base URL never changes once
-- lurl.options.session has set it, so a kept join stays right.  Bounded:
-- the cache starts over when it holds JOIN_KEEP URLs (a script whose paths
-- are all different, ids in them, keeps at most that many).
local JOIN_KEEP = 64
local function joined(sess, base, url)
  local cache = sess._joined
  local full = cache[url]
  if full then return full end
  full = join_base(base, url)
  local n = sess._njoined + 1
  if n > JOIN_KEEP then
    cache, n = {}, 1
    sess._joined = cache
  end
  cache[url], sess._njoined = full, n
  return full
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

-- send's outer layer, for a call that needs it (c.wrap): a closed
-- session's error, the request hook, retries and the total deadline
-- around the attempts, the response hook, redaction of the error.  The
-- URL comes joined to the session's base URL (send and the request
-- functions join it first: a base URL alone needs no outer layer).
local function wrapped(sess, fname, argn, method, url, opts, c)
  if sess._closed then error("attempt to use a closed session", 3) end
  local hooks, own = sess._hooks, c.hooks -- the session's, then the call's own
  if hooks and hooks.request then method, url, opts = run_request_hook(hooks.request, method, url, opts) end
  if own and own.request then method, url, opts = run_request_hook(own.request, method, url, opts) end
  local flags = IDEMPOTENT[method] and 0 or FRESH
  -- nothing around the attempt (a base URL only): its answer is the call's
  -- (exchange() sets err.attempts itself)
  if not (hooks or own or c.retry or c.total or c.rctx) then
    return exchange(sess, fname, argn, method, url, opts, c, flags)
  end
  local policy = c.retry and policy_of(c, fname, argn)
  local deadline = c.total and now() + c.total
  local attempt = 1
  local res, err = exchange(sess, fname, argn, method, url, opts, c, flags, deadline, 1)
  while policy do
    local delay = retry.delay(policy, method, attempt, res, err, deadline and deadline - now())
    if not delay then break end
    if policy.on_retry then policy.on_retry(res or err, attempt, delay) end
    if sess._observers then
      emit(sess, { type = "retry", attempt = attempt, delay = delay, reason = res or err,
        redact = c.rctx })
    end
    res = nil -- not kept alive while it sleeps
    task.sleep(delay)
    attempt = attempt + 1
    res, err = exchange(sess, fname, argn, method, url, opts, c, flags, deadline, attempt)
  end
  if res then
    if attempt > 1 then res.attempts = attempt end -- else lurl.response's lazy 1
    if hooks and hooks.response then
      local replaced = hooks.response(res)
      if replaced ~= nil then res = replaced end
    end
    if own and own.response then
      local replaced = own.response(res)
      if replaced ~= nil then res = replaced end
    end
    return res
  end
  err.attempts = attempt
  if c.rctx then redact.error(err, c.rctx, url) end
  return nil, err
end

-- A call whose options core.fetch found to be the Lua side's (RESOLVE):
-- resolved now, then sent as send() would have sent it (nothing was).
function resolved_send(sess, fname, argn, method, url, opts, flags)
  local c = resolved(sess, opts, fname, argn)
  if c.wrap then return wrapped(sess, fname, argn, method, url, opts, c) end
  return exchange(sess, fname, argn, method, url, opts, c, flags)
end

-- The whole request, whatever its options: the call's options resolved
-- (lurl.options), then the outer layer when the call needs it, then the
-- attempt.  fname/argn name the user's call in argument errors.
function M.send(sess, fname, argn, method, url, opts)
  local base = sess._base_url
  if base then url = sess._joined[url] or joined(sess, base, url) end
  local c = sess._call
  if opts then c = call_opts(sess, opts, fname, argn) end
  if c.wrap then return wrapped(sess, fname, argn, method, url, opts, c) end
  return exchange(sess, fname, argn, method, url, opts, c, IDEMPOTENT[method] and 0 or FRESH)
end
-- send's two steps, for the request functions (lurl.client), which make
-- send's dispatch themselves: one Lua call less per request
M.wrapped, M.exchange, M.joined = wrapped, exchange, joined

return M
