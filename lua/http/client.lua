-- http: the public module (require "http").
--
-- C (http.core) configures and runs single exchanges; this file is policy:
-- argument checks, redirects with requests' rules, the total deadline over
-- a whole redirect chain, and the module-level functions.
local core = require "http.core"
local json = require "http.json"
local response = require "http.response"
local task = require "http.task"

local http = {}

http.errors = core.errors
http.array = json.array
http.VERSION = core.version().lurl
http.version = core.version

core.config[1] = json.encode

local RESPONSE_MT = response.mt
local start, result, cerror = core.start, core.result, core.error
local wait = task.wait
local setmetatable, type, select = setmetatable, type, select

-- flags for core.start (see runtime/request.c)
local DROP_BODY, STRIP_AUTH, NO_PARAMS = 1, 2, 4

local REDIRECTS = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }
local DEFAULT_PORTS = { http = 80, https = 443 }

local monotonic = core.now

-- Option lookup with the session default as fallback.
local function opt(opts, defaults, name)
  local v = opts and opts[name]
  if v == nil and defaults then v = defaults[name] end
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

local function total_deadline(opts, defaults)
  local t = opt(opts, defaults, "timeout")
  if type(t) == "table" and type(t.total) == "number" then return t.total end
  return nil
end

-- Sends one request and follows its redirects.  fname/argn name the user's
-- call in argument errors.  Returns res, or nil, err.
local function send(fname, argn, method, url, opts, defaults)
  local allow = opt(opts, defaults, "allow_redirects")
  if allow == nil then allow = true end
  local max_redirects = opt(opts, defaults, "max_redirects") or 30
  local total = total_deadline(opts, defaults)
  local started = monotonic()
  local flags, history = 0, nil
  while true do
    local remaining_ms = 0
    if total then
      remaining_ms = math.floor((total - (monotonic() - started)) * 1000 + 0.5)
      if remaining_ms <= 0 then
        return nil, cerror("Timeout", ("total timeout of %.1f s exceeded"):format(total), method, url)
      end
    end
    local t, err = start(fname, argn, method, url, opts, defaults, flags, remaining_ms)
    if not t then return nil, err end
    wait(t)
    local res
    res, err = result(t)
    if not res then return nil, err end
    setmetatable(res, RESPONSE_MT)
    local status = res.status
    local location = allow and REDIRECTS[status] and res.headers["location"]
    if not location then
      res.attempts = 1
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
    history = history or {}
    history[#history + 1] = res
    if #history > max_redirects then
      return nil, cerror("TooManyRedirects",
        ("exceeded %d redirects"):format(max_redirects), method, url)
    end
    local nexturl, why = core.resolve(res.url, location)
    if not nexturl then
      return nil, cerror("InvalidURL", "bad redirect location: " .. why, method, url)
    end
    if (status == 303 and method ~= "HEAD") or
       ((status == 301 or status == 302) and method == "POST") then
      method = "GET"
      flags = flags | DROP_BODY
    end
    if should_strip_auth(res.url, nexturl) then flags = flags | STRIP_AUTH end
    flags = flags | NO_PARAMS
    url = nexturl
  end
end
http._send = send

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

-- http.request(method, url [, opts]) -> res | nil, err
function http.request(method, url, opts)
  if type(method) ~= "string" then
    error(("bad argument #1 to 'request' (string expected, got %s)"):format(
      method == nil and "no value" or type(method)), 2)
  end
  check_url("request", 2, url)
  check_opts("request", 3, opts)
  return send("request", 3, method:upper(), url, opts, nil)
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local M = m:upper()
  http[m] = function(url, opts)
    check_url(m, 1, url)
    check_opts(m, 2, opts)
    return send(m, 2, M, url, opts, nil)
  end
end

-- Auth objects: tables with a scheme, whose tostring never shows the secret.
local AUTH_MT = {
  __name = "http.auth",
  __tostring = function(a) return ("http.auth (%s)"):format(a.scheme) end,
}

local function need_string(fname, i, v)
  if type(v) ~= "string" then
    error(("bad argument #%d to '%s' (string expected, got %s)"):format(i, fname,
      v == nil and "no value" or type(v)), 3)
  end
end

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

http.response_methods = response.methods

http.spawn, http.join, http.sleep = task.spawn, task.join, task.sleep

-- http.parallel(list [, {concurrency = n}]) -> results in input order.
-- Each item is {method, url, opts} or a URL string (GET).  A slot holds the
-- response, or the error object when that request failed; one failure never
-- raises.  `send` lets sessions run the list through themselves.
function http.parallel(list, popts, send_item)
  if type(list) ~= "table" then
    error(("bad argument #1 to 'parallel' (table expected, got %s)"):format(type(list)), 2)
  end
  if popts ~= nil and type(popts) ~= "table" then
    error(("bad argument #2 to 'parallel' (table expected, got %s)"):format(type(popts)), 2)
  end
  local conc = popts and popts.concurrency or 16
  if math.type(conc) ~= "integer" or conc < 1 then
    error("bad argument #2 to 'parallel' (field 'concurrency': positive integer expected)", 2)
  end
  send_item = send_item or function(m, u, o) return http.request(m, u, o) end
  local n, nexti, results = #list, 0, {}
  local function worker()
    while true do
      nexti = nexti + 1
      local i = nexti
      if i > n then return end
      local item = list[i]
      local ok, res, err
      if type(item) == "string" then
        ok, res, err = pcall(send_item, "GET", item, nil)
      elseif type(item) == "table" then
        ok, res, err = pcall(send_item, item[1], item[2], item[3])
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

return http
