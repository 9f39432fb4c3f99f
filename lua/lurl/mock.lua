-- lurl.mock: http.mock(), a transport that answers from routes (SPEC,
-- Transports and test doubles; docs/testing.md, Offline suites).
--
--   local mock = http.mock()
--   mock:get("/users/1", { json = { id = 1 } })
--   mock:post("/users", function(req) return { status = 201, json = req:json() } end)
--   mock:get("/flaky", { status = 503 }, { times = 1 })
--   local s = http.session{ base_url = "http://api.test", transport = mock }
--
-- A mock is a callable table, so it is a session's `transport` like any
-- function: lurl.transport hands it the request as it would go on the wire
-- ({method, url, headers, body, timeout, deadline}) and makes a response of
-- its answer; everything above the hop (redirects, cookies, retries,
-- hooks, auth, tracing, HAR, http.assert) is lurl.exchange's, as with a
-- server.  Nothing here touches a socket: a request no route matches is a
-- ConnectionError listing the routes, unless a passthrough pattern lets it
-- through to libcurl (lurl.transport.PASS).
local core = require "http.core"
local json = require "http.json"
local task = require "lurl.task"
local transport = require "lurl.transport"

local M = {}

local MOCK_MT = { __name = "http.mock" }
local methods = {}
MOCK_MT.__index = methods

-- A request as a route's function sees it: req.method, url, path, query
-- (decoded, a list for a repeated key), headers (case-insensitive), body,
-- req:json().
local REQ_MT = { __name = "http.mock.request" }
local req_methods = {}

function req_methods.json(req)
  if req.body == nil or req.body == "" then return nil end
  return json.decode(req.body)
end

local HEADERS_MT = {
  __index = function(t, k)
    if type(k) ~= "string" then return nil end
    local l = k:lower()
    for name, v in next, t do
      if name:lower() == l then return v end
    end
    return nil
  end,
}

local parse_query, split_url -- below
-- req.headers and req.query are made when first read (a route without
-- `headers =` or `query =` and an answer table never read them)
local req_index = transport.req_index
REQ_MT.__index = function(req, k)
  local m = req_methods[k]
  if m then return m end
  if k == "query" then
    local _, _, query = split_url(req.url)
    local q = parse_query(query)
    rawset(req, "query", q)
    return q
  end
  if k == "headers" then return setmetatable(req_index(req, k), HEADERS_MT) end
end

local function unescape(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- "a=1&b=x%20y&a=2" -> {a = {"1", "2"}, b = "x y"}
function parse_query(q)
  local out = {}
  if not q then return out end
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k, v = unescape(k), unescape(v)
    local old = out[k]
    if old == nil then out[k] = v
    elseif type(old) == "table" then old[#old + 1] = v
    else out[k] = { old, v } end
  end
  return out
end

-- url -> the URL without its query and fragment, the path, the query
local function split(url)
  local base, query = url:match("^([^?#]*)%??([^#]*)")
  local path = base:match("^%a[%w+.-]*://[^/]*(/.*)$") or "/"
  return { base, path, query ~= "" and query or nil }
end

-- Speed trick: split URLs, by the URL (a function of the URL alone);
-- the cache starts over at SPLIT_KEEP URLs.
local SPLIT_KEEP = 256
local splits, nsplits = {}, 0
function split_url(url)
  local t = splits[url]
  if not t then
    t = split(url)
    if nsplits >= SPLIT_KEEP then splits, nsplits = {}, 0 end
    splits[url], nsplits = t, nsplits + 1
  end
  return t[1], t[2], t[3]
end

-- Does the route's `where` (an exact path or URL, or a Lua pattern when it
-- starts with "^") match?  A path ("/..." or "^/...") matches the request's
-- path; anything else its URL without the query.
local function where_matches(where, base, path)
  local target = (where:sub(1, 1) == "/" or where:sub(1, 2) == "^/") and path or base
  if where:sub(1, 1) == "^" then return target:find(where) ~= nil end
  return target == where
end

local function value_matches(want, got)
  if type(got) == "table" then
    if type(want) == "table" then
      if #want ~= #got then return false end
      for i = 1, #want do if tostring(want[i]) ~= got[i] then return false end end
      return true
    end
    for i = 1, #got do if got[i] == tostring(want) then return true end end
    return false
  end
  if got == nil or type(want) == "table" then return false end
  want = tostring(want)
  if want:sub(1, 1) == "^" then return got:find(want) ~= nil end
  return got == want
end

-- r.exact: a route whose `where` is an exact path, found by the path
-- (self._exact) and not compared again here
local function route_matches(r, req, base, path)
  if r.method ~= "*" and r.method ~= req.method then return false end
  if not r.exact and not where_matches(r.where, base, path) then return false end
  if r.query then
    for k, v in pairs(r.query) do
      if not value_matches(v, req.query[k]) then return false end
    end
  end
  if r.headers then
    for k, v in pairs(r.headers) do
      if not value_matches(v, req.headers[k]) then return false end
    end
  end
  return true
end

local function describe_route(r)
  local s = r.method .. " " .. r.where
  if r.query then s = s .. " (query)" end
  if r.headers then s = s .. " (headers)" end
  if r.times then s = s .. (" (%d of %d times)"):format(r.count, r.times) end
  return s
end

local function route_list(self)
  local out = {}
  for i, r in ipairs(self._routes) do out[i] = describe_route(r) end
  if #out == 0 then return "none" end
  return table.concat(out, ", ")
end

-- Sleeps `delay` seconds as a server that answers late would, unless the
-- request's read timeout or total deadline comes first: then nil, err.
local function wait(delay, req)
  local limit, kind, msg = req.timeout, "ReadTimeout", nil
  if limit then msg = ("read timed out after %.1f s"):format(limit) end
  if req.deadline then
    local left = math.max(0, req.deadline - core.now())
    if not limit or left < limit then
      limit, kind, msg = left, "Timeout", "total timeout exceeded"
    end
  end
  if limit and delay > limit then
    task.sleep(limit)
    return core.error(kind, msg, req.method, req.url)
  end
  task.sleep(delay)
  return nil
end

-- A route's answer (a table, or what its function returned) -> what
-- lurl.transport takes: a response table, or nil, err.
local ANSWER_KEYS -- below: the fields of an answer and their types

local function answer(a, req, r)
  local fixed = a == r.answer -- a table given to a route, checked when added
  if not fixed then -- what a route's function returned
    if type(a) ~= "table" then
      error(("mock route %s: its function returned %s (a response table or nil, err expected)")
        :format(describe_route(r), type(a)), 0)
    end
    for k, v in pairs(a) do
      local want = ANSWER_KEYS[k]
      if not want or (want ~= true and type(v) ~= want) then
        error(("mock route %s: its function returned a response with %s"):format(describe_route(r),
          want and ("field '%s': %s expected, got %s"):format(k, want, type(v))
            or ("unknown field '%s'"):format(tostring(k))), 0)
      end
    end
    if a.error and not core.errors[a.error] then
      error(("mock route %s: its function returned an unknown error kind '%s'")
        :format(describe_route(r), a.error), 0)
    end
  end
  if a.delay then
    local err = wait(a.delay, req)
    if err then return nil, err end
  end
  if a.error then
    return nil, core.error(a.error, "mocked " .. a.error, req.method, req.url)
  end
  local status = a.status
  if status == nil then
    status = 200
  elseif math.type(status) ~= "integer" then
    error(("mock route %s: status must be an integer, got %s"):format(describe_route(r), tostring(status)), 0)
  end
  -- Speed trick: the response table of an answer table, kept in the route
  -- and reused while the answer holds the same fields (lurl.transport
  -- only reads it); an answer function's table is made anew each time.
  local kept = r.response
  if kept and kept.status == status and kept.headers == a.headers and kept.body == a.body
      and kept.json == a.json and fixed then
    return kept
  end
  kept = { status = status, headers = a.headers, body = a.body, json = a.json }
  if fixed then
    r.response, r.answer_status = kept, a.status
    transport.checked[kept] = true -- never changed (a changed answer makes another)
  end
  return kept
end

-- The transport: lurl.transport calls the mock with each hop's request.
-- Speed trick: the routes are tried in the order they were added, but
-- those with an exact path come from self._exact (path -> its routes, in
-- order), found by the request's path, and only the others (patterns,
-- URLs) from a scan of self._scan, the two merged by their index.
-- Invariant: a route's `where` and index never change once added.
local NONE = {}
function MOCK_MT.__call(self, req)
  local url = req.url
  local parts = splits[url] -- split_url inline
  if not parts then
    split_url(url)
    parts = splits[url]
  end
  local base, path = parts[1], parts[2]
  req.path = path
  -- lurl.transport made it with REQ_MT (transport.req_mts) when the mock
  -- is the session's transport; a request passed on by a function gets it
  if req._mt ~= REQ_MT then setmetatable(req, REQ_MT) end
  local exact, scan = self._exact[path] or NONE, self._scan
  local i, j = 1, 1
  while true do
    local r, rs = exact[i], scan[j]
    if r and (not rs or r.index < rs.index) then i = i + 1
    elseif rs then r, j = rs, j + 1
    else break end
    if (not r.times or r.count < r.times)
        and (r.simple and (r.method == req.method or r.method == "*")
          or not r.simple and route_matches(r, req, base, path)) then
      r.count = r.count + 1
      local calls = self.calls
      calls[#calls + 1] = req
      local a, err = r.answer
      if r.fn then
        a, err = a(req)
        if a == nil then return nil, err end
        return answer(a, req, r)
      end
      -- answer()'s kept response, inline: the answer table unchanged since
      local kept = r.response
      if kept and kept.headers == a.headers and kept.body == a.body and kept.json == a.json
          and r.answer_status == a.status and a.delay == nil and a.error == nil then
        return kept
      end
      return answer(a, req, r)
    end
  end
  local through = self._through
  for k = 1, #through do
    local p = through[k]
    if p == true or (p:sub(1, 1) == "^" and req.url:find(p)) or req.url:sub(1, #p) == p then
      return transport.PASS
    end
  end
  return nil, core.error("ConnectionError", ("no mock route matches %s %s (nothing was sent); routes: %s")
    :format(req.method, path, route_list(self)), req.method, req.url)
end

MOCK_MT.__tostring = function(self)
  return ("http.mock (%d routes, %d calls)"):format(#self._routes, #self.calls)
end

local function check_self(self, fname)
  if getmetatable(self) ~= MOCK_MT then
    error(("bad self to '%s' (http.mock expected; call it with ':')"):format(fname), 3)
  end
end

ANSWER_KEYS = { status = "number", headers = "table", body = "string", json = true,
  delay = "number", error = "string" }

-- "bad argument #n to 'fname' (msg)" at the user's line (level counts
-- from the function that raises)
local function argerr(fname, n, level, msg, ...)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, msg:format(...)), level + 1)
end

-- off: 0 for mock:get(where, answer, o), 1 for mock:route(method, ...)
local function check_answer(fname, a, off)
  if type(a) == "function" then return end
  local n = 2 + off
  if type(a) ~= "table" then
    argerr(fname, n, 3, "response table or function expected, got %s", type(a))
  end
  for k, v in pairs(a) do
    local want = ANSWER_KEYS[k]
    if not want then argerr(fname, n, 3, "unknown field '%s'", tostring(k)) end
    if want ~= true and type(v) ~= want then
      argerr(fname, n, 3, "field '%s': %s expected, got %s", k, want, type(v))
    end
  end
  if a.error and not core.errors[a.error] then
    argerr(fname, n, 3, "field 'error': unknown error kind '%s'", a.error)
  end
end

local function add(self, fname, off, method, where, a, o)
  check_self(self, fname)
  if type(where) ~= "string" or where == "" then
    argerr(fname, 1 + off, 2, "path, URL or pattern string expected, got %s", type(where))
  end
  check_answer(fname, a, off)
  local n = 3 + off
  if o ~= nil and type(o) ~= "table" then argerr(fname, n, 2, "table expected, got %s", type(o)) end
  o = o or {}
  for k in pairs(o) do
    if k ~= "query" and k ~= "headers" and k ~= "times" then
      argerr(fname, n, 2, "unknown field '%s'", tostring(k))
    end
  end
  if o.times ~= nil and (math.type(o.times) ~= "integer" or o.times < 1) then
    argerr(fname, n, 2, "field 'times': positive integer expected")
  end
  for _, f in ipairs { "query", "headers" } do
    if o[f] ~= nil and type(o[f]) ~= "table" then
      argerr(fname, n, 2, "field '%s': table expected, got %s", f, type(o[f]))
    end
  end
  local n_routes = #self._routes + 1
  local r = { method = method, where = where, answer = a, query = o.query, headers = o.headers,
    times = o.times, count = 0, index = n_routes, exact = where:sub(1, 1) == "/",
    fn = type(a) == "function" }
  -- simple: matched by its method alone once found by its path
  r.simple = r.exact and not r.query and not r.headers
  self._routes[n_routes] = r
  if r.exact then
    local list = self._exact[where]
    if not list then
      list = {}
      self._exact[where] = list
    end
    list[#list + 1] = r
  else
    self._scan[#self._scan + 1] = r
  end
  return self
end

-- mock:route(method, where, answer [, {query =, headers =, times =}]);
-- method "*" is any method
function methods.route(self, method, where, a, o)
  if type(method) ~= "string" then
    argerr("route", 1, 2, "method string expected, got %s", type(method))
  end
  return add(self, "route", 1, method:upper(), where, a, o)
end

-- mock:get(where, answer [, {query =, headers =, times =}]) and the others
for _, m in ipairs { "get", "post", "put", "patch", "delete", "head", "options" } do
  local M_ = m:upper()
  methods[m] = function(self, where, a, o) return add(self, m, 0, M_, where, a, o) end
end

-- mock:passthrough([prefix or ^pattern]): requests no route matches whose
-- URL starts with prefix (or matches the pattern; every request without
-- an argument) go to the network.
function methods.passthrough(self, p)
  check_self(self, "passthrough")
  if p ~= nil and type(p) ~= "string" then
    error(("bad argument #1 to 'passthrough' (string expected, got %s)"):format(type(p)), 2)
  end
  self._through[#self._through + 1] = p or true
  return self
end

-- mock:called([method [, where]]) -> how many requests answered matched
function methods.called(self, method, where)
  check_self(self, "called")
  method = method and method:upper()
  local n = 0
  for _, req in ipairs(self.calls) do
    if (method == nil or method == "*" or req.method == method)
      and (where == nil or where_matches(where, (split_url(req.url)), req.path)) then
      n = n + 1
    end
  end
  return n
end

-- Raises (at the caller's line) when a route was never used.
function methods.assert_all_called(self)
  check_self(self, "assert_all_called")
  local never = {}
  for _, r in ipairs(self._routes) do
    if r.count == 0 then never[#never + 1] = describe_route(r) end
  end
  if #never > 0 then
    error("mock routes never called: " .. table.concat(never, ", "), 2)
  end
  return true
end

-- Forgets the calls and how often each route answered (the routes stay).
function methods.reset(self)
  check_self(self, "reset")
  self.calls = {}
  for _, r in ipairs(self._routes) do r.count = 0 end
  return self
end

function M.new()
  local m = setmetatable({ calls = {}, _routes = {}, _exact = {}, _scan = {}, _through = {} }, MOCK_MT)
  transport.req_mts[m] = REQ_MT
  return m
end

-- http.mock.install(mock): the transport of the module-level functions and
-- of sessions made afterwards, until http.mock.uninstall().
function M.install(m)
  local mt = getmetatable(m)
  if type(m) ~= "function" and not (type(mt) == "table" and mt.__call) then
    error(("bad argument #1 to 'install' (http.mock or transport function expected, got %s)")
      :format(type(m)), 2)
  end
  require("lurl.client")._install_transport(m)
  return m
end

function M.uninstall()
  require("lurl.client")._install_transport(false)
end

return M
