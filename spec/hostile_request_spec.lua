-- What lurl builds and sends when the input is hostile (issue 15, items 1,
-- 2, 5, 8, 9, 10, 11): strings lurl makes stay alive until copied, error
-- paths leak nothing, numbers that have no text raise, nothing but a valid
-- token or value reaches the request head, URLs without a host are refused,
-- Digest state dies with its request, and credentials stay on their host.
--
-- Every test checks what the fault server received (/requests) as well as
-- what the script got back.  OTHER is the same fault server under another
-- host name (localhost): another server as far as redirects and auth go.

local cjson = require "cjson"
local http = require "http"
local helper = require "spec.helper"
local support = require "spec.support"

local must, fault_reset, fault_log = support.must, support.fault_reset, support.fault_log
local FAULT = helper.fault
local PORT = FAULT:match(":(%d+)$")
local OTHER = "http://localhost:" .. PORT

-- the values of header `name` in one logged request
local function received(entry, name)
  local out = {}
  for _, h in ipairs(entry.headers) do
    if h[1]:lower() == name:lower() then out[#out + 1] = h[2] end
  end
  return out
end

local function url_escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- a redirect from the fault server to `to`
local function redirect_to(to, base)
  return (base or FAULT) .. "/reqhead/redirect?to=" .. url_escape(to)
end

-- a full collection at every allocation while fn runs: a pause of 0 (1/4
-- rounds to 0; 0 would mean "unchanged") and steps too big to stop before
-- the cycle ends; the first collect pays off the debt of the mode switch
local function under_gc_stress(fn)
  local mode = collectgarbage("incremental", 1, 1000, 30)
  collectgarbage()
  local ok, e = pcall(fn)
  collectgarbage("incremental", 200, 100, 13)
  if mode == "generational" then collectgarbage("generational") end
  collectgarbage()
  if not ok then error(e, 0) end
end

-- runs src in a child (LURL_BIN, else lua5.4) with args; returns its
-- stdout, its stderr and whether it exited with success
local function run_child(name, src, ...)
  local script = helper.tmpdir .. "/hostile-" .. name .. ".lua"
  support.write_file(script, src)
  local asan = os.getenv("ASAN_OPTIONS")
  local q = support.q
  local cmd = { "env", q("LUA_CPATH=" .. package.cpath), q("LUA_PATH=" .. package.path),
    q("ASAN_OPTIONS=" .. (asan and asan ~= "" and asan .. ":" or "") .. "quarantine_size_mb=1"),
    q(os.getenv("LURL_BIN") or "lua5.4"), q(script) }
  for _, a in ipairs { ... } do cmd[#cmd + 1] = q(a) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>" .. q(script .. ".err"), "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, support.read_file(script .. ".err") or "", ok
end

-- refused before anything is sent: nil, err of `kind`, an empty log
local function refused(kind, res, err, secret)
  assert.is_nil(res)
  assert.is_not_nil(err, "expected an error")
  assert.equal(kind, err.kind, tostring(err))
  if secret then
    assert.is_nil(tostring(err):find(secret, 1, true), "leaked: " .. tostring(err))
  end
  assert.same({}, fault_log())
end

local STRESS = [[
local http = require "http"
local F, O = arg[1], arg[2]
collectgarbage("incremental", 1, 1000, 30)
collectgarbage()
local function go(...)
  local r, e = http.request(...)
  io.write(r and r.status or tostring(e), " ")
end
go("GET", F .. "/ok", { params = { a = 1.5, b = { 2, 3.25 }, c = true }, headers = { X = 1, Y = 2.5 } })
go("GET", F .. "/ok", { params = { { 1, 2.5 }, { "k", 7 } } })
go("POST", F .. "/ok", { data = { a = 1.25, b = "x" }, cookies = { n = 1.5, m = 2 } })
go("POST", F .. "/ok", { json = { a = 1.5 }, auth = { 123, 456.5 } })
go("GET", F .. "/reqhead/digest?user=12&pass=34", { auth = http.digest("12", "34") })
go("GET", F .. "/ok", { auth = { scheme = "bearer", token = 99.5 }, user_agent = "ua" .. 1,
  timeout = { connect = 5, read = 5.5 }, proxies = { http = false }, http_version = 1.1,
  max_body = 1000 })
go("GET", F .. "/reqhead/redirect?to=" .. O:gsub("[:/]", function(c)
  return ("%%%02X"):format(c:byte()) end) .. "%2Fok", { headers = { Cookie = "a=1" }, cookies = { k = 5 } })
go("PUT", F .. "/ok/\xe9?x= y", { params = { z = 1 }, files = { f = { content = "abc" } } })
local s = http.session { headers = { ["X-S"] = 3.5 }, cookies = { c = 1 } }
local r = assert(s:get(F .. "/ok", { headers = { ["X-C"] = 4 } }))
io.write(r.status, " ")
s:close()
print("done")
]]

describe("strings lurl makes from numbers (item 1)", function()
  it("numeric header values arrive intact while the collector runs at every allocation",
    function()
      local headers = {}
      for i = 1, 60 do headers["X-N" .. i] = (i % 2 == 0) and i * 1000 or i + 0.5 end
      fault_reset()
      under_gc_stress(function()
        for _ = 1, 2 do
          local res = must(http.get(FAULT .. "/ok", { headers = headers }))
          assert.equal(200, res.status)
        end
      end)
      local log = fault_log()
      assert.equal(2, #log)
      for _, entry in ipairs(log) do
        for i = 1, 60 do
          local want = (i % 2 == 0) and tostring(i * 1000) or tostring(i + 0.5)
          assert.same({ want }, received(entry, "X-N" .. i))
        end
      end
    end)

  it("a session's numeric headers and the call's survive together", function()
    fault_reset()
    local s = http.session { headers = { ["X-Session"] = 42.25 } }
    under_gc_stress(function()
      must(s:get(FAULT .. "/ok", { headers = { ["X-Call"] = 7 } }))
    end)
    s:close()
    local e = fault_log()[1]
    assert.same({ "42.25" }, received(e, "X-Session"))
    assert.same({ "7" }, received(e, "X-Call"))
  end)

  it("options answered by __index with fresh strings are read once and kept", function()
    local calls = 0
    local opts = setmetatable({}, { __index = function(_, k)
      calls = calls + 1
      if k == "user_agent" then return "agent-" .. ("%d"):format(calls) .. ("x"):rep(40) end
      if k == "headers" then return { ["X-Fresh"] = "fresh-" .. ("y"):rep(40) } end
      if k == "cookies" then return { session = "c-" .. ("z"):rep(40) } end
    end })
    fault_reset()
    under_gc_stress(function() must(http.get(FAULT .. "/ok", opts)) end)
    local e = fault_log()[1]
    local ua = received(e, "User-Agent")[1]
    assert.matches("^agent%-%d+" .. ("x"):rep(40) .. "$", ua)
    assert.same({ "fresh-" .. ("y"):rep(40) }, received(e, "X-Fresh"))
    assert.same({ "session=c-" .. ("z"):rep(40) }, received(e, "Cookie"))
  end)

  -- a small child heap makes a collection at every allocation cheap; it
  -- found Lua 5.4.4's lua_settop bug with to-be-closed slots (lurl_int.h)
  it("every kind of option builds a correct request with a collection at every allocation",
    function()
      fault_reset()
      local out, stderr, ok = run_child("stress", STRESS, FAULT, OTHER)
      assert.is_true(ok, out .. stderr)
      assert.equal("200 200 200 200 200 200 200 404 200 done\n", out)
      local log = fault_log()
      assert.equal("a=1.5&b=2&b=3.25&c=true", log[1].query)
      assert.same({ "1" }, received(log[1], "X"))
      assert.same({ "2.5" }, received(log[1], "Y"))
      assert.equal("1=2.5&k=7", log[2].query)
      assert.equal("a=1.25&b=x", log[3].body)
      assert.same({ "m=2; n=1.5" }, received(log[3], "Cookie"))
      assert.same({ "Basic " .. "MTIzOjQ1Ni41" }, received(log[4], "Authorization")) -- 123:456.5
      assert.same({ "Bearer 99.5" }, received(log[7], "Authorization"))
      assert.same({ "ua1" }, received(log[7], "User-Agent"))
      local last = log[#log]
      assert.same({ "3.5" }, received(last, "X-S"))
      assert.same({ "4" }, received(last, "X-C"))
      assert.same({ "c=1" }, received(last, "Cookie"))
    end)
end)

-- Memory growth of a child process (LURL_BIN, else lua5.4) calling
-- `call` n times under pcall after a warm-up: returns the growth of the Lua
-- heap (KiB) and of the resident set (bytes), and the child's stderr (where
-- LeakSanitizer reports, under the ASan build).  A child, because ASan's
-- quarantine keeps freed memory resident on purpose: it is kept small there.
local CHILD = [[
local http = require "http"
local FAULT, case, n = arg[1], arg[2], tonumber(arg[3])
local big = ("v"):rep(4000) -- each leaked encoding buffer would be 8 KiB
local calls = {
  params = function() return pcall(http.get, FAULT .. "/ok", { params = { a = big, b = print } }) end,
  data = function() return pcall(http.post, FAULT .. "/ok", { data = { a = big, z = {}, b = print } }) end,
  pairs = function()
    return pcall(http.get, FAULT .. "/ok", { params = { { "a", big }, { "b", print } } })
  end,
  coroutine = function() -- dies with the error, never closed
    return coroutine.resume(coroutine.create(function()
      return http.get(FAULT .. "/ok", { params = { a = big, b = print } })
    end))
  end,
  requoted = function()
    return pcall(http.get, FAULT .. "/ok/" .. ("\xe9"):rep(2000) .. "?x", { params = { a = big, b = print } })
  end,
}
local call = calls[case]
local function rss()
  local f = assert(io.open("/proc/self/statm"))
  local _, res = f:read("n", "n")
  f:close()
  return res * 4096
end
local ok, err = call()
assert(not ok and err:find("bad argument #2", 1, true), tostring(err))
for _ = 1, 200 do call() end
collectgarbage()
collectgarbage()
local kb0, rss0 = collectgarbage("count"), rss()
for _ = 1, n do call() end
collectgarbage()
collectgarbage()
io.write(("%.0f %d %s\n"):format(collectgarbage("count") - kb0, rss() - rss0, err))
]]

local function growth(case, n)
  local out, stderr = run_child("leak", CHILD, FAULT, case, n)
  local kb, bytes, err = out:match("^(%-?%d+) (%-?%d+) (.*)\n$")
  return tonumber(kb), tonumber(bytes), err, stderr, out
end

describe("error paths leak nothing (item 2)", function()
  for _, case in ipairs { "params", "data", "pairs", "coroutine", "requoted" } do
    it(("10,000 %s encodings failing on a later bad value leave memory flat"):format(case),
      function()
        fault_reset()
        local kb, bytes, err, stderr, out = growth(case, 10000)
        assert.is_not_nil(kb, "child failed: " .. out .. stderr)
        assert.matches("field '" .. (case == "data" and "data" or "params") .. "'", err)
        -- leaking, 10,000 calls keep 80 MiB; not leaking, the allocator's noise
        assert.is_true(bytes < 8 * 1024 * 1024, ("RSS grew by %.1f MiB"):format(bytes / 1048576))
        assert.is_true(kb < 1024, ("Lua heap grew by %.0f KiB"):format(kb))
        assert.is_nil(stderr:find("LeakSanitizer", 1, true), stderr)
        assert.same({}, fault_log())
      end)
  end
end)

describe("numbers without a text (item 5)", function()
  it("timeout = math.huge is no limit: a slow answer still arrives", function()
    fault_reset()
    local res = must(http.get(FAULT .. "/slowheaders?secs=0.4", { timeout = math.huge }))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    res = must(http.get(FAULT .. "/slowbody?bytes=3&every=0.2", {
      timeout = { connect = math.huge, read = math.huge, total = math.huge } }))
    assert.equal("012", res.body)
    local s = http.session { timeout = 1e300 } -- beyond 24.8 days: no limit too
    assert.equal("ok", must(s:get(FAULT .. "/slowheaders?secs=0.3")).body)
    s:close()
    assert.equal(3, #fault_log())
  end)

  for _, case in ipairs {
    { { timeout = 0 / 0 }, "field 'timeout'" },
    { { timeout = { read = 0 / 0 } }, "field 'timeout.read'" },
    { { timeout = { connect = 0 / 0 } }, "field 'timeout.connect'" },
    { { timeout = { total = 0 / 0 } }, "field 'timeout.total'" },
    { { timeout = -math.huge }, "field 'timeout': must be positive" },
    { { timeout = { total = -1 } }, "field 'timeout.total': must be positive" },
    { { timeout = { total = 0 } }, "field 'timeout.total': must be positive" },
    { { params = { a = 0 / 0 } }, "field 'params': number is NaN or infinite" },
    { { params = { a = math.huge } }, "field 'params': number is NaN or infinite" },
    { { params = { { "a", -math.huge } } }, "field 'params': number is NaN or infinite" },
    { { params = { a = { 1, 0 / 0 } } }, "field 'params': number is NaN or infinite" },
    { { data = { a = math.huge } }, "field 'data': number is NaN or infinite" },
    { { data = { a = 0 / 0 }, files = { f = { content = "x" } } },
      "field 'data.a': number is NaN or infinite" },
    { { headers = { ["X-A"] = 0 / 0 } }, "field 'headers': number is NaN or infinite" },
    { { headers = { ["X-A"] = -math.huge } }, "field 'headers': number is NaN or infinite" },
    { { cookies = { a = math.huge } }, "field 'cookies': number is NaN or infinite" },
    { { max_body = math.huge }, "field 'max_body'" },
    { { max_body = 0 / 0 }, "field 'max_body'" },
    { { max_redirects = math.huge }, "field 'max_redirects'" },
  } do
    it(("raises for %s, sending nothing"):format(case[2]), function()
      fault_reset()
      local ok, err = pcall(http.post, FAULT .. "/ok", case[1])
      assert.is_false(ok)
      assert.matches("bad argument #2 to 'post' %(" .. case[2]:gsub("%p", "%%%0"), err)
      assert.same({}, fault_log())
    end)
  end

  it("finite floats in params are sent as text: 30.0 as 30, 1e300 as 1e+300", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { params = { a = 30.0, b = 1e300, c = -2.5 } }))
    assert.equal("a=30&b=1e%2B300&c=-2.5", fault_log()[1].query)
  end)
end)

describe("only checked strings reach the request head (item 8)", function()
  local SECRET = "s3cret"
  for _, case in ipairs {
    { "user_agent", function(u) return http.get(u, { user_agent = "ua\r\nX-Inj: " .. SECRET }) end },
    { "a session's user_agent", function(u)
      local s = http.session { user_agent = "ua\nX-Inj: " .. SECRET }
      local res, err = s:get(u)
      s:close()
      return res, err
    end },
    { "user_agent with NUL", function(u) return http.get(u, { user_agent = "ua\0" .. SECRET }) end },
    { "user_agent whose line the headers drop", function(u)
      return http.get(u, { user_agent = "ua\nX-Inj: " .. SECRET, headers = { ["User-Agent"] = false } })
    end },
    { "bearer token", function(u) return http.get(u, { auth = http.bearer(SECRET .. "\r\nX-Inj: 1") }) end },
    { "bearer token with NUL", function(u) return http.get(u, { auth = http.bearer(SECRET .. "\0x") }) end },
    { "cookie name", function(u) return http.get(u, { cookies = { ["a\r\nX-Inj"] = SECRET } }) end },
    { "cookie name with NUL", function(u) return http.get(u, { cookies = { ["a\0b"] = SECRET } }) end },
    { "cookie name with ;", function(u) return http.get(u, { cookies = { ["a;b"] = SECRET } }) end },
    { "cookie value", function(u) return http.get(u, { cookies = { a = SECRET .. "\r\nX-Inj: 1" } }) end },
    { "method", function(u) return http.request("GET /x HTTP/1.1\r\nX-Inj: 1\r\nX", u) end },
    { "method with a space", function(u) return http.request("GET X", u) end },
    { "digest user name", function(u)
      return http.get(u, { auth = http.digest("u\r\nX-Inj: 1", SECRET) })
    end },
    { "header name with a bare CR", function(u) return http.get(u, { headers = { ["X-A\rB"] = "1" } }) end },
    { "header name ending in CR", function(u) return http.get(u, { headers = { ["X-A\r"] = "1" } }) end },
  } do
    it(("a %s with CR, LF, NUL or a separator is InvalidHeader, nothing sent"):format(case[1]),
      function()
        fault_reset()
        local res, err = case[2](FAULT .. "/reqhead/digest")
        refused("InvalidHeader", res, err, SECRET)
        assert.is_true(err:is("RequestException"))
        assert.is_nil(tostring(err):find("[\r\n]"), "a line break in: " .. tostring(err))
      end)
  end

  it("valid values of the same kinds are sent as given", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { user_agent = "agent/1.0", auth = http.bearer("token-1"),
      cookies = { b = "2", a = 1 } }))
    must(http.request("X-PURGE.1", FAULT .. "/ok"))
    local log = fault_log()
    assert.same({ "agent/1.0" }, received(log[1], "User-Agent"))
    assert.same({ "Bearer token-1" }, received(log[1], "Authorization"))
    assert.same({ "a=1; b=2" }, received(log[1], "Cookie"))
    assert.equal("X-PURGE.1", log[2].method)
  end)
end)

describe("URLs without a host (item 9)", function()
  local hp = "127.0.0.1:" .. PORT
  for _, url in ipairs {
    "http:/" .. hp .. "/ok/\xe9",
    "http:" .. hp .. "/ok",
    "HTTP:/" .. hp .. "/ok?q=\xff",
    "https:/" .. hp .. "/ok",
    "http://",
    "http:///ok",
    "http://?q",
  } do
    it(("%q is InvalidURL: no host, nothing sent"):format(url), function()
      fault_reset()
      local res, err = http.get(url)
      refused("InvalidURL", res, err)
      assert.matches("no host in URL", err.message)
    end)
  end

  it("a URL with a NUL byte is InvalidURL, not the URL before it", function()
    fault_reset()
    local res, err = http.get(FAULT .. "/ok\0/evil")
    refused("InvalidURL", res, err)
    assert.matches("NUL byte in URL", err.message)
  end)

  it("the same URL with its two slashes is requoted and sent", function()
    fault_reset()
    local res = must(http.get("http://" .. hp .. "/ok/\xe9?q=\xff"))
    assert.equal(404, res.status)
    assert.equal("/ok/%E9?q=%FF", fault_log()[1].target)
  end)
end)

describe("Digest state dies with its request (item 10)", function()
  local A = FAULT .. "/reqhead/digest?realm=one&nonce=n-one&user=u1&pass=p1"
  local B = OTHER .. "/reqhead/digest?realm=two&nonce=n-two&user=u2&pass=p2"

  local function scenario(get)
    fault_reset()
    local r1 = must(get(A, { auth = http.digest("u1", "p1") }))
    assert.equal(200, r1.status)
    local r2 = must(get(A)) -- unauthenticated: a 401 with A's challenge
    assert.equal(401, r2.status)
    local r3 = must(get(B, { auth = http.digest("u2", "p2") }))
    assert.equal(200, r3.status)
    assert.same({ user = "u2", realm = "two", nonce = "n-two" }, cjson.decode(r3.body))
    local to_b = {}
    for _, e in ipairs(fault_log()) do
      if received(e, "Host")[1] == "localhost:" .. PORT then to_b[#to_b + 1] = e end
    end
    -- B is asked first without credentials, then answered with ITS nonce
    assert.equal(2, #to_b)
    assert.same({}, received(to_b[1], "Authorization"))
    local answer = received(to_b[2], "Authorization")[1]
    assert.matches('nonce="n%-two"', answer)
    assert.matches('realm="two"', answer)
    assert.is_nil(answer:find("n-one", 1, true))
  end

  it("on the engine's pooled handles (http.get)", function()
    scenario(http.get)
  end)

  it("on a session's kept handles", function()
    local s = http.session()
    scenario(function(u, o) return s:get(u, o) end)
    s:close()
  end)
end)

describe("credentials stay on their host across redirects (item 11)", function()
  it("Cookie, Proxy-Authorization and Authorization headers do not follow to another host",
    function()
      fault_reset()
      local res = must(http.get(redirect_to(OTHER .. "/ok"), { headers = {
        Cookie = "sid=secret", ["Proxy-Authorization"] = "Basic cHJveHk6cHc=",
        Authorization = "Bearer tok" } }))
      assert.equal(200, res.status)
      assert.equal(OTHER .. "/ok", res.url)
      local log = fault_log()
      assert.equal(2, #log)
      assert.same({ "sid=secret" }, received(log[1], "Cookie"))
      assert.same({ "Basic cHJveHk6cHc=" }, received(log[1], "Proxy-Authorization"))
      assert.same({}, received(log[2], "Cookie"))
      assert.same({}, received(log[2], "Proxy-Authorization"))
      assert.same({}, received(log[2], "Authorization"))
    end)

  it("they do follow a redirect on the same host", function()
    fault_reset()
    must(http.get(redirect_to(FAULT .. "/ok"), { headers = {
      Cookie = "sid=secret", ["Proxy-Authorization"] = "Basic cHJveHk6cHc=" },
      cookies = { k = "v" } }))
    local log = fault_log()
    assert.equal(2, #log)
    assert.same({ "sid=secret; k=v" }, received(log[2], "Cookie"))
    assert.same({ "Basic cHJveHk6cHc=" }, received(log[2], "Proxy-Authorization"))
  end)

  it("the cookies option goes to the first host only (no jar)", function()
    fault_reset()
    must(http.get(redirect_to(OTHER .. "/ok"), { cookies = { k = "v" } }))
    local log = fault_log()
    assert.same({ "k=v" }, received(log[1], "Cookie"))
    assert.same({}, received(log[2], "Cookie"))
  end)

  it("the cookies option goes to the first host only (a session with a jar, defaults too)",
    function()
      fault_reset()
      local s = http.session { cookies = { d = "default" } }
      must(s:get(redirect_to(OTHER .. "/ok"), { cookies = { k = "v" } }))
      must(s:get(redirect_to(OTHER .. "/ok")))
      s:close()
      local log = fault_log()
      assert.equal(4, #log)
      assert.same({ "k=v" }, received(log[1], "Cookie"))
      assert.same({}, received(log[2], "Cookie"))
      assert.same({ "d=default" }, received(log[3], "Cookie"))
      assert.same({}, received(log[4], "Cookie"))
    end)

  it("and again when the chain comes back to the first host", function()
    fault_reset()
    local back = redirect_to(FAULT .. "/ok", OTHER)
    must(http.get(redirect_to(back), { cookies = { k = "v" } }))
    local log = fault_log()
    assert.equal(3, #log)
    assert.same({ "k=v" }, received(log[1], "Cookie"))
    assert.same({}, received(log[2], "Cookie"))
    assert.same({ "k=v" }, received(log[3], "Cookie"))
  end)
end)
