-- lurl.robots: http.robots(url [, {user_agent=, session=}]) -> allowed,
-- the Robots Exclusion Protocol of RFC 9309.
--
-- The origin's /robots.txt is fetched once per origin and session (or once
-- for the http module) and kept for the session's life.  What it answers
-- decides (RFC 9309 2.3.1): 2xx, its rules; 4xx, "unavailable": everything
-- is allowed; 5xx or no answer at all, "unreachable": nothing is.  A group
-- names the crawler by its product token ("BookBot" of "BookBot/1.0 (+url)"),
-- case-insensitively; without a group of its own the "*" group applies.
-- Of the rules that match a URL's path and query, the longest wins, Allow
-- on a tie; `*` matches any run of bytes and a final `$` the end.
local core = require "http.core"

local M = {}

local MAX_BYTES = 500 * 1024 -- RFC 9309 2.5: parse at least 500 KiB

-- robots.txt text -> list of groups { agents = {token=true}, rules = {{allow=, path=}} }
function M.parse(text)
  local groups, cur, in_agents = {}, nil, false
  for line in text:sub(1, MAX_BYTES):gmatch("[^\r\n]+") do
    line = line:gsub("#.*", "")
    local key, value = line:match("^%s*([%a%-]+)%s*:%s*(.-)%s*$")
    key = key and key:lower()
    if key == "user-agent" then
      if not in_agents then
        cur = { agents = {}, rules = {} }
        groups[#groups + 1] = cur
        in_agents = true
      end
      cur.agents[value:lower()] = true
    elseif (key == "allow" or key == "disallow") and cur then
      in_agents = false
      if value ~= "" then -- an empty Disallow allows everything: no rule
        cur.rules[#cur.rules + 1] = { allow = key == "allow", path = value }
      end
    end
  end
  return groups
end

-- The rules for a product token: every group naming it, else the "*" ones.
function M.rules_for(groups, token)
  token = token:lower()
  local rules, star = {}, {}
  for _, g in ipairs(groups) do
    local into = g.agents[token] and rules or g.agents["*"] and star or nil
    if into then
      for _, r in ipairs(g.rules) do into[#into + 1] = r end
    end
  end
  return #rules > 0 and rules or star
end

-- A rule's path as an anchored Lua pattern.
local function pattern(path)
  local anchored = path:sub(-1) == "$"
  if anchored then path = path:sub(1, -2) end
  local p = path:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", ".-")
  return "^" .. p .. (anchored and "$" or "")
end

-- Percent-escapes in upper case, so "/a%2f" and "/a%2F" compare equal.
local function norm(s)
  return (s:gsub("%%(%x%x)", function(h) return "%" .. h:upper() end))
end

-- Does the rule list allow the path (with its query)?
function M.allowed_path(rules, path)
  local best, best_len = nil, -1
  path = norm(path)
  for _, r in ipairs(rules) do
    local rp = norm(r.path)
    if path:find(pattern(rp)) then
      local len = #rp
      if len > best_len or (len == best_len and r.allow) then
        best, best_len = r, len
      end
    end
  end
  return best == nil or best.allow
end

-- The product token of a User-Agent value: its leading [A-Za-z_-]+.
local function token_of(ua)
  return ua:match("^[%a_%-]+") or "*"
end

-- The cache: per session (weakly), and one for the http module.
local caches = setmetatable({}, { __mode = "k" })
local module_cache = {}

local ALLOW_ALL, DISALLOW_ALL = "allow all", "disallow all"

-- What the origin's robots.txt says (groups, or one of the two verdicts).
local function fetch(s, origin)
  local url = origin .. "/robots.txt"
  local res
  if s then res = s:get(url, { timeout = 30 }) else res = require("http").get(url, { timeout = 30 }) end
  if not res then return DISALLOW_ALL end                   -- unreachable
  if res.status >= 200 and res.status < 300 then return M.parse(res.body) end
  if res.status >= 500 then return DISALLOW_ALL end
  return ALLOW_ALL                                            -- 4xx (and a 3xx left over)
end

local function check_opts(o)
  if o == nil then return {} end
  if type(o) ~= "table" then
    error(("bad argument #2 to 'robots' (table expected, got %s)"):format(type(o)), 3)
  end
  for k, v in pairs(o) do
    if k == "user_agent" then
      if type(v) ~= "string" then
        error(("bad argument #2 to 'robots' (field 'user_agent': string expected, got %s)"):format(type(v)), 3)
      end
    elseif k == "session" then
      local mt = getmetatable(v)
      if type(mt) ~= "table" or mt.__name ~= "http.session" then
        error("bad argument #2 to 'robots' (field 'session': http.session expected)", 3)
      end
    else
      error(("bad argument #2 to 'robots' (unknown field '%s')"):format(tostring(k)), 3)
    end
  end
  return o
end

-- http.robots(url [, {user_agent=, session=}]) -> true | false
function M.allowed(url, o)
  if type(url) ~= "string" then
    error(("bad argument #1 to 'robots' (string expected, got %s)"):format(type(url)), 2)
  end
  o = check_opts(o)
  local scheme, host, port = core.origin(url)
  if not scheme or not host or (scheme ~= "http" and scheme ~= "https") then
    error(("bad argument #1 to 'robots' (an http or https URL expected, got %q)"):format(url), 2)
  end
  local s = o.session
  local ua = o.user_agent
  local sh = s and type(s.defaults) == "table" and s.defaults.headers
  if not ua and type(sh) == "table" then
    for k, v in pairs(sh) do
      if type(k) == "string" and k:lower() == "user-agent" then ua = v end
    end
  end
  ua = ua or ("lurl/" .. core.version().lurl)
  local hostpart = host:find(":", 1, true) and ("[" .. host .. "]") or host
  local origin = ("%s://%s:%d"):format(scheme, hostpart, port)
  local path = url:match("^%a[%w+.-]*://[^/?#]*([^#]*)") or "/"
  if path:sub(1, 1) ~= "/" then path = "/" .. path end
  if path == "/robots.txt" then return true end
  local cache = module_cache
  if s then
    cache = caches[s]
    if not cache then
      cache = {}
      caches[s] = cache
    end
  end
  local rules = cache[origin]
  if rules == nil then
    rules = fetch(s, origin)
    cache[origin] = rules
  end
  if rules == ALLOW_ALL then return true end
  if rules == DISALLOW_ALL then return false end
  return M.allowed_path(M.rules_for(rules, token_of(ua)), path)
end

return M
