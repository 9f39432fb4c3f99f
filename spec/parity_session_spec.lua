-- Session, header and cookie parity with requests (issue 17, items 1, 2, 3
-- and 17): s.headers case-insensitive, a request's cookies overriding the
-- jar's, a Cookie header sent instead of the jar's, a digest 401's cookie
-- sent back by the module-level functions, and headers given as
-- {name, value} pairs.
--
-- The fault server records every request's header lines as they arrived,
-- in order, repeats included (/requests); httpbin echoes cookies;
-- spec/servers/fault_routes_psess.py is a digest challenge that sets a
-- cookie and requires it on the authenticated retry.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local FAULT = helper.fault
local HTTPBIN = helper.httpbin
local must = support.must

-- the fault log's entries for one target (path and query)
local function received(target)
  local out = {}
  for _, e in ipairs(support.fault_log()) do
    if e.target == target then out[#out + 1] = e end
  end
  return out
end

-- the one request that arrived for target
local function one(target)
  local got = received(target)
  assert.equal(1, #got, "requests received for " .. target)
  return got[1]
end

-- the lines of the named field, in order, as {name, value}
local function lines(entry, name)
  local out = {}
  for _, h in ipairs(entry.headers) do
    if h[1]:lower() == name:lower() then out[#out + 1] = h end
  end
  return out
end

-- the names of the header lines, in order
local function names(entry)
  local out = {}
  for _, h in ipairs(entry.headers) do out[#out + 1] = h[1] end
  return out
end

local function index_of(list, x)
  for i, v in ipairs(list) do if v == x then return i end end
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

describe("s.headers is case-insensitive", function()
  before_each(support.fault_reset)

  it("reads any spelling", function()
    local s <close> = http.session{ headers = { ["X-Spam"] = "eggs" } }
    assert.equal("eggs", s.headers["X-Spam"])
    assert.equal("eggs", s.headers["x-spam"])
    assert.equal("eggs", s.headers["X-SPAM"])
    assert.is_nil(s.headers["X-Ham"])
  end)

  it("a write in another spelling replaces the field, and that spelling goes out", function()
    local s <close> = http.session{ headers = { ["X-Spam"] = "eggs" } }
    s.headers["x-spam"] = "bacon"
    assert.equal(1, count(s.headers))
    assert.equal("bacon", rawget(s.headers, "x-spam"))
    assert.is_nil(rawget(s.headers, "X-Spam"))
    local res = must(s:get(FAULT .. "/ok?ci=write"))
    assert.equal(200, res.status)
    local got = lines(one("/ok?ci=write"), "x-spam")
    assert.same({ { "x-spam", "bacon" } }, got)
  end)

  it("s.headers = {...} replaces the session's headers, as requests allows", function()
    local s <close> = http.session{ headers = { ["X-Old"] = "1" } }
    must(s:get(FAULT .. "/ok?ci=repl0")) -- the session's headset is made with X-Old
    s.headers = { ["X-New"] = "2", accept = "text/plain" }
    must(s:get(FAULT .. "/ok?ci=repl1"))
    local e = one("/ok?ci=repl1")
    assert.same({}, lines(e, "x-old"))
    assert.same({ { "X-New", "2" } }, lines(e, "x-new"))
    assert.same({ { "accept", "text/plain" } }, lines(e, "accept"))
    -- the adopted table is the live, case-insensitive one
    assert.equal("2", s.headers["x-new"])
    assert.equal(s.headers, s.defaults.headers)
    s.headers["X-Third"] = "3"
    must(s:get(FAULT .. "/ok?ci=repl2"))
    e = one("/ok?ci=repl2")
    assert.same({ { "X-New", "2" } }, lines(e, "x-new"))
    assert.same({ { "X-Third", "3" } }, lines(e, "x-third"))
    -- nil empties them: libcurl's Accept comes back
    s.headers = nil
    must(s:get(FAULT .. "/ok?ci=repl3"))
    e = one("/ok?ci=repl3")
    assert.same({}, lines(e, "x-new"))
    assert.same({ { "Accept", "*/*" } }, lines(e, "accept"))
    assert.equal("table", type(s.headers))
  end)

  it("s.headers set to a non-table is refused at the next request, naming the field", function()
    local s <close> = http.session{}
    s.headers = 5
    local ok, err = pcall(function() return s:get(FAULT .. "/ok?ci=repl4") end)
    assert.is_false(ok)
    assert.matches("parity_session_spec.lua:%d+: bad self to 'get' %(field 'headers': table expected, got number%)", err)
    assert.same({}, received("/ok?ci=repl4"))
  end)

  it("deleting any spelling removes the field, after a request cached it", function()
    local s <close> = http.session{ headers = { Spam = "eggs", Keep = "k" } }
    must(s:get(FAULT .. "/ok?ci=del1")) -- the session's headset is made with Spam
    assert.same({ { "Spam", "eggs" } }, lines(one("/ok?ci=del1"), "spam"))
    s.headers["sPam"] = nil
    assert.is_nil(s.headers.Spam)
    assert.equal(1, count(s.headers))
    must(s:get(FAULT .. "/ok?ci=del2"))
    local e = one("/ok?ci=del2")
    assert.same({}, lines(e, "spam"))
    assert.same({ { "Keep", "k" } }, lines(e, "keep"))
    -- and back, in a third spelling: one line, that spelling
    s.headers.SPAM = "again"
    must(s:get(FAULT .. "/ok?ci=del3"))
    assert.same({ { "SPAM", "again" } }, lines(one("/ok?ci=del3"), "spam"))
  end)

  it("iterates one entry per field, the last spelling written", function()
    local s <close> = http.session()
    s.headers["Accept"] = "text/plain"
    s.headers["ACCEPT"] = "application/json"
    s.headers["X-A"] = "1"
    s.headers["x-a"] = "2"
    local seen = {}
    for k, v in pairs(s.headers) do seen[k] = v end
    assert.same({ ACCEPT = "application/json", ["x-a"] = "2" }, seen)
    must(s:get(FAULT .. "/ok?ci=iter"))
    local e = one("/ok?ci=iter")
    assert.same({ { "ACCEPT", "application/json" } }, lines(e, "accept"))
    assert.same({ { "x-a", "2" } }, lines(e, "x-a"))
  end)

  it("a session made with two spellings of a name sends one of them", function()
    local s <close> = http.session{ headers = { ["X-Dup"] = "a", ["x-dup"] = "a" } }
    assert.equal(1, count(s.headers))
    must(s:get(FAULT .. "/ok?ci=ctor"))
    assert.equal(1, #lines(one("/ok?ci=ctor"), "x-dup"))
  end)

  it("false in any spelling removes lurl's own field", function()
    local s <close> = http.session()
    s.headers["user-agent"] = false
    must(s:get(FAULT .. "/ok?ci=false"))
    assert.same({}, lines(one("/ok?ci=false"), "user-agent"))
    s.headers["User-Agent"] = nil -- gone in any spelling: ours again
    must(s:get(FAULT .. "/ok?ci=false2"))
    assert.equal(1, #lines(one("/ok?ci=false2"), "user-agent"))
  end)

  it("refuses {name, value} pairs in a session's headers, naming the field", function()
    local ok, err = pcall(http.session, { headers = { { "X-A", "1" } } })
    assert.is_false(ok)
    assert.matches("field 'headers'", err)
    assert.matches("pairs are for a request's headers", err, 1, true)
  end)
end)

describe("headers as {name, value} pairs", function()
  before_each(support.fault_reset)

  it("keep their order and repeat a field", function()
    local res = must(http.get(FAULT .. "/ok?hp=order", { headers = {
      { "X-Rep", "1" }, { "X-Other", "o" }, { "x-rep", "2" } } }))
    assert.equal(200, res.status)
    local e = one("/ok?hp=order")
    assert.same({ { "X-Rep", "1" }, { "x-rep", "2" } }, lines(e, "x-rep"))
    local n = names(e)
    assert.is_true(index_of(n, "X-Rep") < index_of(n, "X-Other"))
    assert.is_true(index_of(n, "X-Other") < index_of(n, "x-rep"))
    -- what the response says was sent
    assert.equal("1, 2", res.request.headers["x-rep"])
  end)

  it("go after the session's defaults and replace a field of the same name", function()
    local s <close> = http.session{ headers = { ["X-Sess"] = "s", ["X-Rep"] = "session" } }
    must(s:get(FAULT .. "/ok?hp=sess", { headers = { { "X-Pair", "p" }, { "X-Rep", "1" },
      { "X-Rep", "2" } } }))
    local e = one("/ok?hp=sess")
    local n = names(e)
    assert.is_true(index_of(n, "X-Sess") < index_of(n, "X-Pair"))
    assert.same({ { "X-Rep", "1" }, { "X-Rep", "2" } }, lines(e, "x-rep"))
    -- the session's table is untouched
    assert.equal("session", s.headers["x-rep"])
  end)

  it("mix with named fields: the named ones first, then the pairs", function()
    must(http.get(FAULT .. "/ok?hp=mix", { headers = { ["X-Named"] = "n",
      { "X-P", "1" }, { "X-P", "2" } } }))
    local e = one("/ok?hp=mix")
    local n = names(e)
    assert.is_true(index_of(n, "X-Named") < index_of(n, "X-P"))
    assert.same({ { "X-P", "1" }, { "X-P", "2" } }, lines(e, "x-p"))
  end)

  it("a false value removes the field: ours, libcurl's, the session's", function()
    local s <close> = http.session{ headers = { ["X-Sess"] = "s" } }
    must(s:get(FAULT .. "/ok?hp=false", { headers = { { "user-agent", false },
      { "Accept", false }, { "x-sess", false }, { "X-Kept", 7 } } }))
    local e = one("/ok?hp=false")
    assert.same({}, lines(e, "user-agent"))
    assert.same({}, lines(e, "accept"))
    assert.same({}, lines(e, "x-sess"))
    assert.same({ { "X-Kept", "7" } }, lines(e, "x-kept"))
  end)

  it("a field removed by false may be given again later in the list", function()
    must(http.get(FAULT .. "/ok?hp=again", { headers = { { "X-A", "1" }, { "X-A", false },
      { "X-A", "3" } } }))
    assert.same({ { "X-A", "3" } }, lines(one("/ok?hp=again"), "x-a"))
  end)

  it("Cookie pairs and cookies go out on one Cookie line", function()
    must(http.get(FAULT .. "/ok?hp=cookie", { headers = { { "Cookie", "a=1" },
      { "Cookie", "b=2" } }, cookies = { c = "3" } }))
    assert.same({ { "Cookie", "a=1; b=2; c=3" } }, lines(one("/ok?hp=cookie"), "cookie"))
  end)

  it("reach a function transport as one field per name, repeats joined", function()
    local seen
    local s <close> = http.session{ headers = { ["X-Sess"] = "s" }, transport = function(req)
      seen = req.headers
      return { status = 200, body = "ok" }
    end }
    must(s:get("http://api.test/x", { headers = { { "X-Rep", "1" }, { "x-rep", "2" },
      { "x-sess", false } } }))
    assert.equal("1, 2", seen["X-Rep"])
    assert.is_nil(seen["X-Sess"])
    assert.is_nil(seen["x-sess"])
  end)

  it("are checked like named fields: nothing is sent", function()
    local cases = {
      { { "Bad Name", "v" }, "InvalidHeader", "not a valid header name" },
      { { "X-A", "a\r\nInjected: 1" }, "InvalidHeader", "CR, LF or NUL" },
      { { "X-A", "a\0b" }, "InvalidHeader", "CR, LF or NUL" },
    }
    for i, c in ipairs(cases) do
      local target = "/ok?hp=bad" .. i
      local res, err = http.get(FAULT .. target, { headers = { { "X-Fine", "1" }, c[1] } })
      assert.is_nil(res)
      assert.equal(c[2], err.kind)
      assert.matches(c[3], err.message, 1, true)
      assert.equal(0, #received(target))
    end
  end)

  it("refuse a malformed pair, naming the field", function()
    for _, h in ipairs {
      { "not a pair" },
      { { 1, "v" } },
      { { "X-A", {} } },
      { { "X-A", true } },
      { [1] = { "X-A", "1" }, [3] = { "X-B", "2" } },
    } do
      local ok, err = pcall(http.get, FAULT .. "/ok?hp=malformed", { headers = h })
      assert.is_false(ok)
      assert.matches("field 'headers", tostring(err), 1, true) -- 'headers' or 'headers.X-A'
    end
    assert.equal(0, #received("/ok?hp=malformed"))
  end)
end)

describe("a request's cookies", function()
  before_each(support.fault_reset)

  it("override the jar's cookie of the same name for that request only", function()
    local s <close> = http.session()
    s.cookies:set("flavor", "jar", { domain = "127.0.0.1", path = "/" })
    s.cookies:set("other", "o", { domain = "127.0.0.1", path = "/" })
    must(s:get(FAULT .. "/ok?ck=1", { cookies = { flavor = "request" } }))
    local got = lines(one("/ok?ck=1"), "cookie")
    assert.equal(1, #got)
    local v = got[1][2]
    assert.matches("flavor=request", v, 1, true)
    assert.not_matches("flavor=jar", v, 1, true)
    assert.matches("other=o", v, 1, true)
    -- the jar keeps its value, and sends it when the request gives none
    assert.equal("jar", s.cookies:get("flavor"))
    must(s:get(FAULT .. "/ok?ck=2"))
    local v2 = lines(one("/ok?ck=2"), "cookie")[1][2]
    assert.matches("flavor=jar", v2, 1, true)
  end)

  it("override it on every hop, while the hops' Set-Cookie still fill the jar", function()
    local s <close> = http.session()
    s.cookies:set("flavor", "jar", { domain = "127.0.0.1", path = "/" })
    local res = must(s:get(HTTPBIN .. "/cookies/set?fresh=1", { cookies = { flavor = "request" } }))
    assert.equal(200, res.status)
    assert.equal(1, #res.history)
    assert.same({ flavor = "request", fresh = "1" }, res:json().cookies)
    assert.equal("1", s.cookies:get("fresh"))
    assert.equal("jar", s.cookies:get("flavor"))
  end)

  it("as a session default override the jar's too", function()
    local s <close> = http.session{ cookies = { flavor = "default" } }
    s.cookies:set("flavor", "jar", { domain = "127.0.0.1", path = "/" })
    local res = must(s:get(HTTPBIN .. "/cookies"))
    assert.same({ flavor = "default" }, res:json().cookies)
  end)

  it("override the jar's over a function transport as well", function()
    local seen
    local s <close> = http.session{ transport = function(req)
      seen = req.headers.Cookie
      return { status = 200, body = "ok" }
    end }
    s.cookies:set("flavor", "jar", { domain = "api.test", path = "/" })
    must(s:get("http://api.test/x", { cookies = { flavor = "request" } }))
    assert.equal("flavor=request", seen)
  end)
end)

describe("a Cookie header", function()
  before_each(support.fault_reset)

  local function jar_session(cfg)
    local s = http.session(cfg)
    s.cookies:set("flavor", "jar", { domain = "127.0.0.1", path = "/" })
    return s
  end

  it("is sent instead of the jar's cookies, named or as a pair", function()
    local s <close> = jar_session()
    must(s:get(FAULT .. "/ok?ch=named", { headers = { Cookie = "mine=1" } }))
    assert.same({ { "Cookie", "mine=1" } }, lines(one("/ok?ch=named"), "cookie"))
    must(s:get(FAULT .. "/ok?ch=pair", { headers = { { "cookie", "a=1" }, { "Cookie", "b=2" } } }))
    assert.same({ { "Cookie", "a=1; b=2" } }, lines(one("/ok?ch=pair"), "cookie"))
    -- without one, the jar's go out again; the jar keeps its cookie
    must(s:get(FAULT .. "/ok?ch=none"))
    assert.same({ { "Cookie", "flavor=jar" } }, lines(one("/ok?ch=none"), "cookie"))
    -- http.parallel's option items too (their options left to core.fetch,
    -- which hands a call naming a Cookie field back to the Lua side)
    local out = s:parallel({ { "GET", FAULT .. "/ok?ch=par", { headers = { COOKIE = "p=1" } } },
      { "GET", FAULT .. "/ok?ch=par2", { timeout = 5 } } })
    assert.equal(200, must(out[1]).status)
    assert.equal(200, must(out[2]).status)
    assert.same({ { "Cookie", "p=1" } }, lines(one("/ok?ch=par"), "cookie"))
    assert.same({ { "Cookie", "flavor=jar" } }, lines(one("/ok?ch=par2"), "cookie"))
  end)

  it("from the session's headers too, unless the call removes it", function()
    local s <close> = jar_session{ headers = { COOKIE = "sess=1" } }
    must(s:get(FAULT .. "/ok?ch=sess"))
    assert.same({ { "Cookie", "sess=1" } }, lines(one("/ok?ch=sess"), "cookie"))
    must(s:get(FAULT .. "/ok?ch=removed", { headers = { cookie = false } }))
    assert.same({ { "Cookie", "flavor=jar" } }, lines(one("/ok?ch=removed"), "cookie"))
    s.headers.cookie = nil
    s.headers["Cookie"] = "later=2"
    must(s:get(FAULT .. "/ok?ch=later"))
    assert.same({ { "Cookie", "later=2" } }, lines(one("/ok?ch=later"), "cookie"))
  end)

  it("comes before the call's cookies, which still go out after it", function()
    local s <close> = jar_session()
    must(s:get(FAULT .. "/ok?ch=both", { headers = { Cookie = "mine=1" }, cookies = { z = "9" } }))
    assert.same({ { "Cookie", "mine=1; z=9" } }, lines(one("/ok?ch=both"), "cookie"))
    -- a name the jar holds too: still none of the jar's
    must(s:get(FAULT .. "/ok?ch=clash", { headers = { Cookie = "mine=1" },
      cookies = { flavor = "request", z = "9" } }))
    assert.same({ { "Cookie", "mine=1; flavor=request; z=9" } }, lines(one("/ok?ch=clash"), "cookie"))
  end)

  it("leaves the jar storing the response's Set-Cookie, on every hop", function()
    local s <close> = jar_session()
    local res = must(s:get(HTTPBIN .. "/cookies/set?fresh=1", { headers = { Cookie = "mine=1" } }))
    assert.equal(200, res.status)
    assert.equal(1, #res.history)
    assert.same({ mine = "1" }, res:json().cookies) -- the hop after the redirect too
    assert.equal("1", s.cookies:get("fresh"))
    assert.equal("jar", s.cookies:get("flavor"))
    assert.same({ flavor = "jar", fresh = "1" }, must(s:get(HTTPBIN .. "/cookies")):json().cookies)
  end)

  it("is sent instead of the jar's over a function transport as well", function()
    local seen = {}
    local s <close> = http.session{ transport = function(req)
      seen[#seen + 1] = req.headers.Cookie or false
      return { status = 200, headers = { ["Set-Cookie"] = "set=1; Path=/" }, body = "ok" }
    end }
    s.cookies:set("flavor", "jar", { domain = "api.test", path = "/" })
    must(s:get("http://api.test/x", { headers = { Cookie = "mine=1" } }))
    must(s:get("http://api.test/x", { headers = { Cookie = "mine=1" }, cookies = { z = "9" } }))
    assert.same({ "mine=1", "mine=1; z=9" }, seen)
    assert.equal("1", s.cookies:get("set"))
  end)
end)

describe("a digest 401's cookie", function()
  before_each(support.fault_reset)

  it("goes back on the authenticated retry of a module-level call", function()
    local res = must(http.get(FAULT .. "/psess/digest-cookie", { auth = http.digest("u", "p") }))
    assert.equal(200, res.status)
    assert.equal("psess_dc=c401", res:json().cookie)
    local got = received("/psess/digest-cookie")
    assert.equal(2, #got)
    assert.same({}, lines(got[1], "cookie"))
    assert.same({ { "Cookie", "psess_dc=c401" } }, lines(got[2], "cookie"))
  end)

  it("is not kept between module-level calls", function()
    must(http.get(FAULT .. "/psess/digest-cookie", { auth = http.digest("u", "p") }))
    for i = 1, 3 do must(http.get(FAULT .. "/ok?dc=" .. i)) end
    for i = 1, 3 do assert.same({}, lines(one("/ok?dc=" .. i), "cookie")) end
  end)

  it("goes back in a session too, which keeps it", function()
    local s <close> = http.session()
    local res = must(s:get(FAULT .. "/psess/digest-cookie", { auth = http.digest("u", "p") }))
    assert.equal(200, res.status)
    assert.equal("c401", s.cookies:get("psess_dc"))
  end)
end)
