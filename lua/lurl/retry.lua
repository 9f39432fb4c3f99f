-- lurl.retry: the retry policy (SPEC, Retries).
--
-- retry = true uses the defaults below; a table overrides any of them.
-- attempts counts every try, the first included (attempts = 3: at most two
-- retries).  Connection failures and timeouts (err.retryable) and the listed
-- statuses are retried, for the listed methods only, so a POST is never
-- retried unless the caller lists it.  The wait before retry n is
-- backoff * 2^(n-1) plus up to 25 % jitter, or the server's Retry-After
-- (seconds or an HTTP date), never more than max_backoff, and never past
-- the request's total deadline.
local core = require "http.core"

local M = {}

local DEFAULTS = {
  attempts = 3, backoff = 0.5, max_backoff = 30,
  statuses = { 429, 502, 503, 504 },
  methods = { "GET", "HEAD", "PUT", "DELETE", "OPTIONS" },
}

local KNOWN = { attempts = true, backoff = true, max_backoff = true, statuses = true,
  methods = true, on_retry = true }

local function set_of(list, fname, argn, field, upper)
  local s = {}
  for i, v in ipairs(list) do
    if upper then
      if type(v) ~= "string" then
        error(("bad argument #%d to '%s' (field 'retry.%s': item %d must be a string)"):format(argn, fname, field, i), 5)
      end
      s[v:upper()] = true
    else
      if math.type(v) ~= "integer" then
        error(("bad argument #%d to '%s' (field 'retry.%s': item %d must be an integer)"):format(argn, fname, field, i), 5)
      end
      s[v] = true
    end
  end
  return s
end

local cache = setmetatable({}, { __mode = "k" })

-- Normalises a retry option into a policy table (cached per option table).
function M.policy(opt, fname, argn)
  if opt == nil or opt == false then return nil end
  if opt == true then opt = DEFAULTS end
  if type(opt) ~= "table" then
    error(("bad argument #%d to '%s' (field 'retry': table or boolean expected, got %s)"):format(argn, fname, type(opt)), 4)
  end
  local p = cache[opt]
  if p then return p end
  for k in pairs(opt) do
    if not KNOWN[k] then
      local near = require("http.core").nearest(k, KNOWN)
      error(("bad argument #%d to '%s' (field 'retry': unknown key '%s'%s)"):format(argn, fname,
        tostring(k), near and (" (did you mean '%s'?)"):format(near) or ""), 4)
    end
  end
  local function num(k)
    local v = opt[k]
    if v == nil then return DEFAULTS[k] end
    if type(v) ~= "number" or v < 0 then
      error(("bad argument #%d to '%s' (field 'retry.%s': non-negative number expected)"):format(argn, fname, k), 5)
    end
    return v
  end
  p = {
    attempts = math.max(1, math.floor(num("attempts"))),
    backoff = num("backoff"),
    max_backoff = num("max_backoff"),
    statuses = set_of(opt.statuses or DEFAULTS.statuses, fname, argn, "statuses", false),
    methods = set_of(opt.methods or DEFAULTS.methods, fname, argn, "methods", true),
    on_retry = opt.on_retry,
  }
  if p.on_retry ~= nil and type(p.on_retry) ~= "function" then
    error(("bad argument #%d to '%s' (field 'retry.on_retry': function expected)"):format(argn, fname), 4)
  end
  cache[opt] = p
  return p
end

-- Seconds the server asked us to wait, from Retry-After, or nil.
local function retry_after(res)
  local v = res.headers["retry-after"]
  if not v then return nil end
  local secs = tonumber(v)
  if secs then return math.max(0, secs) end
  local at = core.getdate(v)
  if at then return math.max(0, at - os.time()) end
  return nil
end

-- Decides whether attempt n (1-based) that gave res/err is retried, and
-- returns the delay in seconds, or nil to stop.
function M.delay(p, method, attempt, res, err, time_left)
  if attempt >= p.attempts or not p.methods[method] then return nil end
  local wait
  if res then
    if not p.statuses[res.status] then return nil end
    wait = retry_after(res)
  elseif not (err and err.retryable) then
    return nil
  end
  if not wait then
    local base = p.backoff * 2 ^ (attempt - 1)
    wait = base + base * 0.25 * math.random()
  end
  if wait > p.max_backoff then wait = p.max_backoff end
  if time_left and wait >= time_left then return nil end
  return wait
end

return M
