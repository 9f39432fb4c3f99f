-- lurl.robots: http.robots(url [, {user_agent=, session=}]) -> allowed.
--
-- The Robots Exclusion Protocol of RFC 9309.  The robots.txt of the URL's
-- origin is fetched once (through the session when one is given, else
-- through http's hidden session), parsed into groups, and kept: per origin
-- for the process, or per session when one is given.
--
--   2xx          its rules apply (the first 500 KiB of it, RFC 9309 2.5)
--   4xx          "unavailable": everything is allowed (2.3.1.3)
--   5xx          "unreachable": everything is disallowed (2.3.1.4)
--   no answer    (connection refused, timeout, broken body): unreachable
--   redirects    followed up to 5 (2.3.1.2); more: unavailable
--
-- A group is one or more user-agent lines followed by rules; the groups
-- naming the crawler's product token (case-insensitively) are merged, else
-- the `*` groups are.  Of the rules whose path pattern matches the URL's
-- path and query, the longest pattern wins, an allow winning a tie; no
-- match allows.  `*` matches any run of characters, a final `$` anchors
-- the end; both sides are compared with percent-encoding normalized.
--
-- Everything here is linear in the size of robots.txt: lines are cut with
-- plain finds, trimmed with byte loops, and patterns are matched by
-- splitting them at `*` and finding each literal piece leftmost (plain
-- finds), never by Lua patterns that could backtrack on hostile input.
local core = require "http.core"
local task = require "lurl.task"

local byte, char, find, sub, lower = string.byte, string.char, string.find, string.sub,
  string.lower
local format, tonumber, type = string.format, tonumber, type
local now = core.now

local M = {}

local LIMIT = 500 * 1024        -- bytes of robots.txt parsed (RFC 9309 2.5: at least 500 KiB)
local MAX_REDIRECTS = 5         -- RFC 9309 2.3.1.2
local TTL = 24 * 3600           -- a fetched robots.txt is kept a day (RFC 9309 2.4)
local TTL_UNREACHABLE = 300     -- a 5xx or no answer is asked again after 5 minutes
local MAX_ORIGINS = 1024        -- a cache holding more starts over

---------------------------------------------------------------- normalizing

-- The unreserved characters of RFC 3986: an escape of one of them is
-- decoded before comparing (RFC 9309 2.2.2); others stay escaped, upper-case.
local UNRESERVED = {}
for c = byte "A", byte "Z" do UNRESERVED[c] = true end
for c = byte "a", byte "z" do UNRESERVED[c] = true end
for c = byte "0", byte "9" do UNRESERVED[c] = true end
for _, c in ipairs { byte "-", byte ".", byte "_", byte "~" } do UNRESERVED[c] = true end

local function unescape(h)
  local c = tonumber(h, 16)
  if UNRESERVED[c] then return char(c) end
  return "%" .. h:upper()
end

local function escape(c) return format("%%%02X", byte(c)) end

-- A path (or a rule's pattern) with its escapes normalized and its bytes
-- outside printable US-ASCII escaped.  Both gsubs are single passes.
local function normalize(s)
  if find(s, "%", 1, true) then s = s:gsub("%%(%x%x)", unescape) end
  return (s:gsub("[%z\1-\32\127-\255]", escape))
end
M.normalize = normalize

---------------------------------------------------------------- parsing

local SPACE = { [9] = true, [32] = true, [11] = true, [12] = true }

-- s[i..j] without its leading and trailing blanks, or "" (byte loops: a
-- line of a million blanks costs a million steps, not a million squared).
local function trim(s, i, j)
  while i <= j and SPACE[byte(s, i)] do i = i + 1 end
  while j >= i and SPACE[byte(s, j)] do j = j - 1 end
  return sub(s, i, j)
end

-- A user-agent line's product token, lower-case: its leading letters,
-- `_` and `-` ("Googlebot/2.1" names googlebot), or "*".
local function token_of(s)
  if byte(s, 1) == 42 then return "*" end -- "*"
  local _, e = find(s, "^[%a_%-]+")
  return e and lower(sub(s, 1, e)) or nil
end
M.token_of = token_of

-- A rule: {allow = bool, len = octets of the pattern, first = its text up
-- to the first `*`, rest = the literal pieces after each `*`, anchored = a
-- final `$`}.  Runs of `*` are one `*`.
local function compile(allow, pattern)
  local anchored = byte(pattern, -1) == 36 -- "$"
  local len = #pattern
  if anchored then pattern = sub(pattern, 1, -2) end
  pattern = normalize(pattern)
  local pieces, pos = {}, 1
  while true do
    local star = find(pattern, "*", pos, true)
    if not star then
      pieces[#pieces + 1] = sub(pattern, pos)
      break
    end
    pieces[#pieces + 1] = sub(pattern, pos, star - 1)
    pos = star + 1
    while byte(pattern, pos) == 42 do pos = pos + 1 end
  end
  local rest = {}
  for i = 2, #pieces do rest[i - 1] = pieces[i] end
  return { allow = allow, len = len, first = pieces[1], rest = rest, anchored = anchored }
end

-- robots.txt text -> list of groups {agents = {token = true}, rules = {...}}.
-- Lines end at CR, LF or CRLF; `#` starts a comment; keys are read
-- case-insensitively; lines that are not user-agent, allow or disallow
-- (sitemap, crawl-delay, junk) are skipped and do not end a group.
function M.parse(text)
  if #text > LIMIT then text = sub(text, 1, LIMIT) end
  local groups, group, in_agents = {}, nil, false
  local pos, n = 1, #text
  if sub(text, 1, 3) == "\239\187\191" then pos = 4 end -- a UTF-8 BOM
  while pos <= n do
    local eol = find(text, "[\r\n]", pos)
    -- the line alone, so that the finds below stop at its end
    local line = sub(text, pos, (eol or n + 1) - 1)
    local last = #line
    local hash = find(line, "#", 1, true)
    if hash then last = hash - 1 end
    local colon = find(line, ":", 1, true)
    if colon and colon <= last then
      local key = lower(trim(line, 1, colon - 1))
      local value = trim(line, colon + 1, last)
      if key == "user-agent" then
        local tok = token_of(value)
        if not in_agents then
          group = { agents = {}, rules = {} }
          groups[#groups + 1] = group
          in_agents = true
        end
        if tok then group.agents[tok] = true end
      elseif key == "allow" or key == "disallow" then
        in_agents = false
        -- an empty pattern is no rule ("Disallow:" allows everything);
        -- a pattern must start with / or * (RFC 9309's path-pattern)
        local b = byte(value, 1)
        if group and (b == 47 or b == 42) then
          group.rules[#group.rules + 1] = compile(key == "allow", value)
        end
      end
    end
    if not eol then break end
    pos = eol + 1
  end
  return groups
end

---------------------------------------------------------------- matching

-- Does the rule match path?  The first piece is a prefix; every later
-- piece is found leftmost after the one before (leftmost leaves the most
-- room for what follows, so no other placement can succeed where it
-- fails); with a final `$` the last piece must end the path.
local function matches(rule, path)
  local first, rest = rule.first, rule.rest
  local nf = #first
  if sub(path, 1, nf) ~= first then return false end
  local nrest = #rest
  if nrest == 0 then return not rule.anchored or #path == nf end
  local pos = nf + 1
  for i = 1, nrest - 1 do
    local piece = rest[i]
    if piece ~= "" then
      local s, e = find(path, piece, pos, true)
      if not s then return false end
      pos = e + 1
    end
  end
  local piece = rest[nrest]
  if piece == "" then return true end -- a final `*` (or `*$`) takes the rest
  if not rule.anchored then return find(path, piece, pos, true) ~= nil end
  local start = #path - #piece + 1
  return start >= pos and sub(path, start) == piece
end
M.matches = matches

-- The rules that apply to a product token: the groups naming it, merged,
-- else the `*` groups, merged (RFC 9309 2.2.1).
local function rules_for(groups, tok)
  local out, star = {}, {}
  for _, g in ipairs(groups) do
    local into = (tok and g.agents[tok]) and out or (g.agents["*"] and star)
    if into then
      for _, r in ipairs(g.rules) do into[#into + 1] = r end
      if into == out then out.named = true end
    end
  end
  if out.named then return out end
  return star
end

-- The decision for a normalized path: the longest matching pattern wins,
-- allow on a tie; nothing matching allows.
local function decide(rules, path)
  local best, allow = -1, true
  for i = 1, #rules do
    local r = rules[i]
    if (r.len > best or (r.len == best and r.allow)) and matches(r, path) then
      best, allow = r.len, r.allow
    end
  end
  return allow
end

-- url -> its path and query (no fragment), "/" when empty.
local function path_of(url)
  local s = find(url, "://", 1, true)
  local from = s and s + 3 or 1
  local p = find(url, "[/?#]", from)
  if not p then return "/" end
  local hash = find(url, "#", p, true)
  local path = sub(url, p, hash and hash - 1 or -1)
  if byte(path, 1) ~= 47 then path = "/" .. path end
  return path
end
M.path_of = path_of

---------------------------------------------------------------- fetching

-- The body of a streamed response, up to LIMIT bytes; nil, err when the
-- transfer broke.
local function read_capped(res)
  local parts, got = {}, 0
  local ok, err = pcall(function()
    while got < LIMIT do
      local piece = res:read(LIMIT - got)
      if not piece then break end
      parts[#parts + 1] = piece
      got = got + #piece
    end
  end)
  res:close()
  if not ok then return nil, err end
  return table.concat(parts)
end

-- Fetches robots.txt at origin through send (lurl.exchange's, bound to a
-- session) and returns the entry's state: groups (a table), or true
-- (everything allowed), or false (everything disallowed); then its TTL.
local function fetch(send, origin, ua)
  local res, err = send("GET", origin .. "/robots.txt",
    { stream = true, max_redirects = MAX_REDIRECTS, allow_redirects = true, user_agent = ua })
  if not res then
    if type(err) == "table" and err.kind == "TooManyRedirects" then return true, TTL end
    return false, TTL_UNREACHABLE
  end
  local status = res.status
  if status >= 200 and status < 300 then
    local body = read_capped(res)
    if not body then return false, TTL_UNREACHABLE end
    return M.parse(body), TTL
  end
  res:close()
  if status >= 500 then return false, TTL_UNREACHABLE end
  return true, TTL -- 4xx, and a 3xx that could not be followed: unavailable
end

---------------------------------------------------------------- the cache

-- caches[session] (weak), or the process's own.
local process_cache = { n = 0, origins = {} }
local session_caches = setmetatable({}, { __mode = "k" })

local function entry(cache, origin)
  local e = cache.origins[origin]
  if e then return e end
  if cache.n >= MAX_ORIGINS then -- start over, keeping the fetches in flight
    local keep, n = {}, 0
    for k, v in pairs(cache.origins) do
      if v.sem.free == 0 then keep[k], n = v, n + 1 end
    end
    cache.origins, cache.n = keep, n
  end
  e = { sem = task.semaphore(1), state = nil, expires = 0, by_token = {} }
  cache.origins[origin] = e
  cache.n = cache.n + 1
  return e
end

---------------------------------------------------------------- http.robots

local OPTS = { user_agent = "string", session = true }

-- allowed(sess, send, url, opts, explicit): sess is the session to fetch
-- through (the given one, or http's hidden one when explicit is false);
-- send(method, url, opts) sends through it.  The client checked url and
-- opts' type and the session field.
function M.allowed(sess, send, url, opts, explicit)
  local ua_opt
  if opts then
    for k, v in pairs(opts) do
      local want = OPTS[k]
      if not want then
        error(("bad argument #2 to 'robots' (unknown field '%s')"):format(tostring(k)), 3)
      end
      if want ~= true and type(v) ~= want then
        error(("bad argument #2 to 'robots' (field '%s': %s expected, got %s)"):format(k, want, type(v)), 3)
      end
    end
    ua_opt = opts.user_agent
  end
  local scheme, host, port = core.origin(url)
  if scheme ~= "http" and scheme ~= "https" or not host then
    error("bad argument #1 to 'robots' (http or https URL expected)", 3)
  end
  if find(host, ":", 1, true) and byte(host, 1) ~= 91 then host = "[" .. host .. "]" end
  local origin = scheme .. "://" .. lower(host) .. ":" .. port

  local cache = process_cache
  if explicit then
    cache = session_caches[sess]
    if not cache then
      cache = { n = 0, origins = {} }
      session_caches[sess] = cache
    end
  end
  local e = entry(cache, origin)
  if e.expires <= now() then
    task.acquire(e.sem)
    local _ <close> = e.sem
    if e.expires <= now() then -- not fetched meanwhile by another task
      local state, ttl = fetch(send, origin, ua_opt)
      e.state, e.expires, e.by_token = state, now() + ttl, {}
    end
  end
  local state = e.state
  if state == true or state == false then return state end

  local path = path_of(url)
  if path == "/robots.txt" then return true end -- implicitly allowed (RFC 9309 2.2.2)
  -- the crawler's product token: user_agent, else the User-Agent the
  -- session sends, else lurl's
  local ua = ua_opt
  if not ua and explicit then
    ua = sess.headers and sess.headers["User-Agent"] or sess.defaults and sess.defaults.user_agent
  end
  local tok = token_of(type(ua) == "string" and ua or "lurl") or false
  local rules = e.by_token[tok]
  if not rules then
    rules = rules_for(state, tok or nil)
    e.by_token[tok] = rules
  end
  return decide(rules, normalize(path))
end

return M
