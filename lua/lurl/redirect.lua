-- lurl.redirect: the redirect policy, requests' rules, as a pure function.
--
--   next(req, res) -> req2       follow: the request for the next hop
--                  -> nil        res is the final answer (not a redirect,
--                                redirects off, or a body that cannot be
--                                sent again)
--                  -> nil, err   TooManyRedirects or InvalidURL
--
-- No I/O: it reads the two tables, calls core.resolve and core.origin
-- (pure C helpers) and builds a new table; req is never changed, so the
-- specs in spec/unit/ drive it with plain tables and no server.
--
-- A request here is what the exchange loop (lurl.exchange) keeps per hop:
--   method, url       of the hop that got res
--   opts              the options that hop was sent with (nil: none)
--   given             the caller's options (the `cookies` option's owner)
--   defaults          the session's defaults (session options)
--   flags             core.start's flags (DROP_BODY, STRIP_AUTH, NO_PARAMS, FRESH)
--   allow, max        allow_redirects and max_redirects, resolved
--   redirects         how many redirects were followed before this hop
--   jar               true when the session keeps cookies (libcurl's
--                     engine, or the transport's jar, carries them then)
--   carried, first_host   cookie bookkeeping along one chain (set here)
-- A response needs status, url, headers (case-insensitive: res.headers
-- ["location"]) and, for the cookie carry without a jar, cookies.
local core = require "http.core"

local M = {}

-- flags for core.start (runtime/request.c); the exchange loop uses these
M.DROP_BODY, M.STRIP_AUTH, M.NO_PARAMS, M.FRESH = 1, 2, 4, 8
local DROP_BODY, STRIP_AUTH, NO_PARAMS, FRESH = 1, 2, 4, 8

-- the statuses that redirect; the loop tests this before calling next
M.STATUSES = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local STATUSES = M.STATUSES
local DEFAULT_PORTS = { http = 80, https = 443 }

local origin, resolve, cerror = core.origin, core.resolve, core.error
-- Captured at load: a limited state has no `io` once its scripts run.
local io_type = io and io.type or function() return nil end

-- requests' rule: drop credentials when the host changes, or the scheme or
-- port changes other than http -> https on the default ports.
function M.should_strip_auth(old, new)
  local os_, oh, op = origin(old)
  local ns, nh, np = origin(new)
  if oh ~= nh then return true end
  if os_ == "http" and ns == "https" and op == DEFAULT_PORTS.http and np == DEFAULT_PORTS.https then
    return false
  end
  return os_ ~= ns or op ~= np
end

local function opt(o, d, name)
  local v = o and o[name]
  if v == nil and d then v = d[name] end
  return v
end

local function copy(t)
  local o = {}
  if t then for k, v in pairs(t) do o[k] = v end end
  return o
end

-- The options of the next hop as far as cookies go: without a jar, the
-- cookies set along the chain are carried, each back to the host that set
-- it only (as requests does); the caller's `cookies` option goes to the
-- first host only.  Returns opts, carried, first_host.
local function cookie_opts(req, res, nexturl)
  local opts, given, d = req.opts, req.given, req.defaults
  local carried = req.carried
  if not req.jar then
    local set = res.cookies
    if set and next(set) ~= nil then
      local _, h1 = origin(res.url)
      local c2 = {}
      for h, c in pairs(carried or {}) do c2[h] = c end -- req's table stays as it was
      local c = copy(c2[h1])
      for k, v in pairs(set) do c[k] = v end
      c2[h1] = c
      carried = c2
    end
    if carried then
      local _, h2 = origin(nexturl)
      local o = copy(given)
      local c = copy(given and given.cookies or (d and d.cookies))
      for k, v in pairs(carried[h2] or {}) do c[k] = v end
      o.cookies = c
      opts = o
    end
  end
  local first_host = req.first_host or select(2, origin(res.url))
  local h2 = select(2, origin(nexturl))
  if h2 ~= first_host and opt(given, d, "cookies") then
    local o = copy(opts) -- another host: none of the cookies the caller gave
    o.cookies = carried and carried[h2] or {}
    opts = o
  elseif h2 == first_host and not carried then
    opts = given
  end
  return opts, carried, first_host
end

-- requests' fragment rule (RFC 9110 10.2.2): a Location's own fragment
-- wins; a target without one keeps the fragment of the URL that was
-- redirected (res.url holds it, never sent), so it rides the whole chain.
-- A Location that is a fragment alone names the same resource: libcurl
-- 7.88 would resolve "#k" against the base's directory.
local function with_fragment(nexturl, from, location)
  if location:byte(1) == 35 then -- "#"
    return (from:match("^[^#]*")) .. (nexturl:match("#.*$") or "")
  end
  if nexturl:find("#", 1, true) then return nexturl end
  local frag = from:match("#.*$")
  if frag then return nexturl .. frag end
  return nexturl
end

function M.next(req, res)
  local status = res.status
  if not (req.allow and STATUSES[status]) then return nil end
  local location = res.headers["location"]
  if not location then return nil end
  local method, flags = req.method, req.flags or 0
  -- a body read from a file or a function cannot be sent twice
  if (status == 307 or status == 308) and (flags & DROP_BODY) == 0 then
    local b = opt(req.opts, req.defaults, "body")
    if type(b) == "function" or io_type(b) == "file" then return nil end
  end
  local n = (req.redirects or 0) + 1
  local max = req.max or 30
  if n > max then
    return nil, cerror("TooManyRedirects", ("exceeded %d redirects"):format(max), method, req.url)
  end
  local nexturl, why = resolve(res.url, location)
  if not nexturl then
    return nil, cerror("InvalidURL", "bad redirect location: " .. why, method, req.url)
  end
  nexturl = with_fragment(nexturl, res.url, location)
  if (status == 303 and method ~= "HEAD") or
     ((status == 301 or status == 302) and method == "POST") then
    method = "GET"
    flags = (flags | DROP_BODY) & ~FRESH
  end
  if M.should_strip_auth(res.url, nexturl) then flags = flags | STRIP_AUTH end
  flags = flags | NO_PARAMS
  local opts, carried, first_host = cookie_opts(req, res, nexturl)
  local r = copy(req)
  r.method, r.url, r.flags, r.opts, r.redirects = method, nexturl, flags, opts, n
  r.carried, r.first_host = carried, first_host
  return r
end

return M
