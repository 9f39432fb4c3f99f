-- What the per-session and per-handle caches of the request path must
-- never do: send stale data.  A session's default headers are merged once
-- and kept (runtime/request_head.c, the session's headset) while the live
-- s.headers table holds the same strings; a pooled easy handle keeps its
-- parsed URL and, when only the query changes, sets just the query
-- (runtime/handle.c).  Every test asserts what the server received: the
-- fault server's raw record (/requests: header lines as sent, in order)
-- and httpbin's echo of the URL.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN = helper.httpbin
local FAULT = helper.fault
local must = support.must

local counter = 0
local function tag_for(name)
  counter = counter + 1
  return ("fast-%s-%d-%d-%d"):format(name, os.time(), math.random(1e6), counter)
end

-- the fault server's record of the one request with this tag
local function received(tag)
  local out = {}
  for _, r in ipairs(cjson.decode(must(http.get(FAULT .. "/requests")).body)) do
    if r.target:find(tag, 1, true) then out[#out + 1] = r end
  end
  assert.equal(1, #out, "requests with tag " .. tag)
  return out[1]
end

-- every value of a header in a record, whatever its case
local function values(rec, name)
  local out = {}
  for _, h in ipairs(rec.headers) do
    if h[1]:lower() == name:lower() then out[#out + 1] = h[2] end
  end
  return out
end

-- one request of session s to the fault server; what it received
local function sent(s, opts)
  local tag = tag_for("h")
  local res = must(s:get(FAULT .. "/ok?case=" .. tag, opts))
  return received(tag), res
end

describe("a session's merged default headers", function()
  it("follow every change of s.headers between requests", function()
    local s <close> = http.session { headers = { ["X-A"] = "1", Accept = "application/json" } }
    local rec = sent(s)
    assert.same({ "1" }, values(rec, "X-A"))
    assert.same({ "application/json" }, values(rec, "Accept"))
    rec = sent(s) -- the kept merge
    assert.same({ "1" }, values(rec, "X-A"))
    s.headers["X-A"] = "2" -- a new value
    assert.same({ "2" }, values(sent(s), "X-A"))
    s.headers["X-B"] = "b" -- a new header
    rec = sent(s)
    assert.same({ "2" }, values(rec, "X-A"))
    assert.same({ "b" }, values(rec, "X-B"))
    s.headers["X-A"] = nil -- removed from the table
    rec = sent(s)
    assert.same({}, values(rec, "X-A"))
    assert.same({ "b" }, values(rec, "X-B"))
    s.headers.Accept = false -- removes libcurl's own Accept too
    rec = sent(s)
    assert.same({}, values(rec, "Accept"))
    s.headers.Accept = nil -- back to libcurl's default
    assert.same({ "*/*" }, values(sent(s), "Accept"))
  end)

  it("follow a value replaced by an equal string, short or long, and one of the same length", function()
    local long = ("v"):rep(60)
    local s <close> = http.session { headers = { ["X-Short"] = "same", ["X-Long"] = long } }
    sent(s)
    -- equal strings made anew: the short one is the same Lua string, the
    -- long one another object with the same bytes
    s.headers["X-Short"] = ("sa" .. "me")
    s.headers["X-Long"] = ("v"):rep(30) .. ("v"):rep(30)
    local rec = sent(s)
    assert.same({ "same" }, values(rec, "X-Short"))
    assert.same({ long }, values(rec, "X-Long"))
    -- different bytes, same length
    s.headers["X-Long"] = ("w"):rep(60)
    s.headers["X-Short"] = "emas"
    rec = sent(s)
    assert.same({ ("w"):rep(60) }, values(rec, "X-Long"))
    assert.same({ "emas" }, values(rec, "X-Short"))
  end)

  it("give way to a per-request header, whatever its case, for that request only", function()
    local s <close> = http.session { headers = { ["X-Token"] = "session", ["X-Keep"] = "k" } }
    sent(s)
    local rec = sent(s, { headers = { ["x-token"] = "request" } })
    assert.same({ "request" }, values(rec, "X-Token"))
    assert.same({ "k" }, values(rec, "X-Keep"))
    rec = sent(s, { headers = { ["X-Token"] = false } })
    assert.same({}, values(rec, "X-Token"))
    rec = sent(s)
    assert.same({ "session" }, values(rec, "X-Token"))
    -- a number value, a user_agent option, a body, cookies: the general path
    rec = sent(s, { headers = { ["X-N"] = 7 }, user_agent = "ua/1", cookies = { c = "1" } })
    assert.same({ "7" }, values(rec, "X-N"))
    assert.same({ "ua/1" }, values(rec, "User-Agent"))
    assert.same({ "c=1" }, values(rec, "Cookie"))
    assert.same({ "session" }, values(rec, "X-Token"))
  end)

  it("are checked again after a change: a line break is refused, nothing is sent", function()
    local s <close> = http.session { headers = { ["X-A"] = "fine" } }
    sent(s)
    s.headers["X-A"] = "bad\r\nX-Injected: 1"
    local tag = tag_for("bad")
    local res, err = s:get(FAULT .. "/ok?case=" .. tag)
    assert.is_nil(res)
    assert.equal("InvalidHeader", err.kind)
    s.headers["X-A"] = "fine again"
    assert.same({ "fine again" }, values(sent(s), "X-A"))
    for _, r in ipairs(cjson.decode(must(http.get(FAULT .. "/requests")).body)) do
      assert.is_nil(r.target:find(tag, 1, true), "a request with a refused header was sent")
    end
  end)

  it("send number values of a call as tostring writes them", function()
    local s <close> = http.session {}
    local nums = { 0, -3, 42, math.maxinteger, math.mininteger, 1.5, -0.25, 2^53 }
    local h = {}
    for i, v in ipairs(nums) do h["X-N" .. i] = v end
    local rec = sent(s, { headers = h })
    for i, v in ipairs(nums) do assert.same({ tostring(v) }, values(rec, "X-N" .. i)) end
  end)

  it("refuse a session headers default that is not a table, as before", function()
    local s <close> = http.session { headers = { ["X-A"] = "1" } }
    sent(s)
    s.defaults.headers = 5
    local ok, e = pcall(s.get, s, FAULT .. "/ok")
    assert.is_false(ok)
    assert.matches("field 'headers': table expected, got number", tostring(e), 1, true)
  end)

  it("take number values as they are now", function()
    local s <close> = http.session { headers = { ["X-Count"] = 1 } }
    assert.same({ "1" }, values(sent(s), "X-Count"))
    s.headers["X-Count"] = 2
    assert.same({ "2" }, values(sent(s), "X-Count"))
  end)

  it("are each session's own", function()
    local a <close> = http.session { headers = { ["X-Who"] = "a" } }
    local b <close> = http.session { headers = { ["X-Who"] = "b" } }
    for _ = 1, 2 do
      assert.same({ "a" }, values(sent(a), "X-Who"))
      assert.same({ "b" }, values(sent(b), "X-Who"))
    end
  end)

  it("show in res.request.headers as they were sent", function()
    local s <close> = http.session { headers = { ["X-A"] = "1" } }
    local _, res1 = sent(s)
    s.headers["X-A"] = "2"
    local rec, res2 = sent(s)
    assert.same({ "2" }, values(rec, "X-A"))
    assert.equal("1", res1.request.headers["X-A"])
    assert.equal("2", res2.request.headers["X-A"])
    assert.equal("*/*", res2.request.headers.Accept)
    assert.equal(values(rec, "User-Agent")[1], res2.request.headers["User-Agent"])
  end)

  it("stay alive for a request in flight when s.headers changes", function()
    local s <close> = http.session { headers = { ["X-Gen"] = "first" } }
    local tag1, tag2 = tag_for("fly1"), tag_for("fly2")
    -- spawn runs the task until it waits: its transfer is started with the
    -- first merge, not yet sent
    local t1 = http.spawn(function() return must(s:get(FAULT .. "/ok?case=" .. tag1)) end)
    s.headers["X-Gen"] = ("second-"):rep(10) -- a long string: a new object
    local t2 = http.spawn(function() return must(s:get(FAULT .. "/ok?case=" .. tag2)) end)
    collectgarbage()
    collectgarbage()
    http.join({ t1, t2 })
    assert.same({ "first" }, values(received(tag1), "X-Gen"))
    assert.same({ ("second-"):rep(10) }, values(received(tag2), "X-Gen"))
  end)
end)

describe("a kept handle's URL", function()
  it("follows every new query, path and host, params numbers written as tostring does", function()
    local s <close> = http.session {}
    local tag = tag_for("q")
    for i = 1, 3 do
      local res = must(s:get(FAULT .. "/ok", { params = { case = tag, page = i, per_page = 50 } }))
      assert.equal(("%s/ok?case=%s&page=%d&per_page=50"):format(FAULT, tag, i), res.url)
    end
    local seen = {}
    for _, r in ipairs(cjson.decode(must(http.get(FAULT .. "/requests")).body)) do
      if r.target:find(tag, 1, true) then seen[#seen + 1] = r.target end
    end
    assert.same({
      "/ok?case=" .. tag .. "&page=1&per_page=50",
      "/ok?case=" .. tag .. "&page=2&per_page=50",
      "/ok?case=" .. tag .. "&page=3&per_page=50",
    }, seen)
    local res = must(s:get(FAULT .. "/ok", { params = {
      a = -7, b = math.mininteger, c = 30.0, d = 1.5, e = "x y/z" } }))
    assert.equal(FAULT .. "/ok?a=-7&b=" .. math.mininteger .. "&c=30&d=1.5&e=x+y%2Fz", res.url)
    -- escapes in the URL as given: the case of their hex digits is kept
    local tag2 = tag_for("esc")
    must(s:get(FAULT .. "/ok?case=" .. tag2 .. "&x=%2F%3a%20"))
    assert.equal("/ok?case=" .. tag2 .. "&x=%2F%3a%20", received(tag2).target)
    -- another path and another host through the same session's handles
    local e = cjson.decode(must(s:get(HTTPBIN .. "/anything/p", { params = { page = 4 } })).body)
    assert.equal(HTTPBIN .. "/anything/p?page=4", e.url)
    e = cjson.decode(must(s:get(HTTPBIN .. "/anything/q", { params = { page = 4 } })).body)
    assert.equal(HTTPBIN .. "/anything/q?page=4", e.url)
  end)

  it("goes where asked around a digest exchange, between query-only changes", function()
    local s <close> = http.session {}
    local base = HTTPBIN .. "/digest-auth/auth/user/pass"
    for i = 1, 2 do
      local e = cjson.decode(must(s:get(HTTPBIN .. "/anything/d", { params = { i = i } })).body)
      assert.equal(HTTPBIN .. "/anything/d?i=" .. i, e.url)
      -- (httpbin answers 500 to a digest URL with a query)
      local res = must(s:get(base, { auth = http.digest("user", "pass") }))
      assert.equal(200, res.status)
    end
    assert.equal(401, must(s:get(base)).status)
    local e = cjson.decode(must(s:get(HTTPBIN .. "/anything/d", { params = { i = 3 } })).body)
    assert.equal(HTTPBIN .. "/anything/d?i=3", e.url)
  end)
end)

-- The User-Agent and Accept-Encoding lines go to libcurl as one list node
-- (runtime/request_head.c, joins_next): the server must still receive
-- exactly the lines it received when each was a node, in the same order,
-- and none that a user removed or blanked.
describe("the default header lines", function()
  -- the header lines of a record as "Name: value", in order, Host left out
  local function lines(rec)
    local out = {}
    for _, h in ipairs(rec.headers) do
      if h[1] ~= "Host" then out[#out + 1] = h[1] .. ": " .. h[2] end
    end
    return out
  end
  local DEFAULT_UA = "lurl/" .. require("http.core").version().lurl
  local UA = "User-Agent: " .. DEFAULT_UA
  local AE = "Accept-Encoding: deflate, gzip, br, zstd"

  it("reach the server as separate lines, in libcurl's order", function()
    local s <close> = http.session()
    local rec, res = sent(s)
    assert.same({ "Accept: */*", UA, AE }, lines(rec))
    assert.equal(DEFAULT_UA, res.request.headers["User-Agent"])
    local s2 <close> = http.session { headers = { Accept = "application/json" } }
    assert.same({ UA, AE, "Accept: application/json" }, lines((sent(s2))))
    assert.same({ "Accept: */*", UA, AE, "X-R: 1" }, lines((sent(s, { headers = { ["X-R"] = "1" } }))))
  end)

  it("are each removed, replaced or blanked alone", function()
    local s <close> = http.session()
    assert.same({ "Accept: */*", AE }, lines((sent(s, { headers = { ["User-Agent"] = false } }))))
    assert.same({ "Accept: */*", UA }, lines((sent(s, { headers = { ["Accept-Encoding"] = false } }))))
    assert.same({ "Accept: */*", "User-Agent: me/1", AE }, lines((sent(s, { user_agent = "me/1" }))))
    assert.same({ "Accept: */*", "user-agent: me/2", "ACCEPT-ENCODING: br" },
      lines((sent(s, { headers = { ["user-agent"] = "me/2", ["ACCEPT-ENCODING"] = "br" } }))))
    -- libcurl sends no line whose value is blank: neither alone nor joined
    assert.same({ "Accept: */*", AE }, lines((sent(s, { headers = { ["User-Agent"] = " " } }))))
    assert.same({ "Accept: */*", UA }, lines((sent(s, { headers = { ["Accept-Encoding"] = "\t" } }))))
    local s2 <close> = http.session { headers = { ["User-Agent"] = false, ["X-A"] = "1" } }
    assert.same({ "Accept: */*", AE, "X-A: 1" }, lines((sent(s2))))
  end)

  it("go through a proxy once each", function()
    local s <close> = http.session { proxy = helper.proxy }
    local rec = sent(s)
    assert.same({ DEFAULT_UA }, values(rec, "User-Agent"))
    assert.same({ "deflate, gzip, br, zstd" }, values(rec, "Accept-Encoding"))
  end)

  -- Any other line joins the node before it unless libcurl may look its
  -- name up (libcurl_reads): such a name starts a node, where libcurl
  -- finds it and sends no line of its own for it.
  it("take a script's lines along, in order, each once", function()
    local s <close> = http.session()
    local h = { { "X-A", "1" }, { "X-B", "2" }, { "Accept", "application/json" }, { "X-C", "3" },
      { "Authorization", "Bearer t" }, { "X-D", "4" }, { "Cookie", "a=1" }, { "X-E", "5" } }
    -- (a Cookie line is libcurl's to write, from CURLOPT_COOKIE: first)
    assert.same({ "Cookie: a=1", UA, AE, "X-A: 1", "X-B: 2", "Accept: application/json", "X-C: 3",
      "Authorization: Bearer t", "X-D: 4", "X-E: 5" },
      lines((sent(s, { headers = h }))))
    -- a removed or blank line in the middle: neither it nor its neighbours lost
    h = { { "X-A", "1" }, { "X-B", " " }, { "X-C", "3" }, { "X-D", false }, { "X-E", "5" },
      { "X-F", "" } }
    assert.same({ "Accept: */*", UA, AE, "X-A: 1", "X-C: 3", "X-E: 5", "X-F: " },
      lines((sent(s, { headers = h }))))
    -- a session's lines and a call's
    local s2 <close> = http.session { headers = { ["X-S"] = "s" } }
    assert.same({ "Accept: */*", UA, AE, "X-S: s", "X-Call: c" },
      lines((sent(s2, { headers = { ["X-Call"] = "c" } }))))
  end)

  it("leave libcurl the names it reads: Host, a body's Content-Type, Expect", function()
    local s <close> = http.session()
    local tag = tag_for("h")
    must(s:post(FAULT .. "/ok?case=" .. tag, { data = "x=1", headers = { { "X-A", "1" },
      { "Content-Type", "text/plain" }, { "X-B", "2" }, { "Host", "example.test" } } }))
    local rec = received(tag)
    assert.same({ "text/plain" }, values(rec, "Content-Type"))
    assert.same({ "example.test" }, values(rec, "Host"))
    assert.same({ "1" }, values(rec, "X-A"))
    assert.same({ "2" }, values(rec, "X-B"))
    assert.same({}, values(rec, "Expect"))
    assert.same({ "3" }, values(rec, "Content-Length"))
  end)
end)

-- A call whose session resolution defers (an empty session, the hidden
-- one) hands its options to core.fetch unresolved (lurl.exchange's
-- RESOLVE): core.fetch answers before sending when one of them is the Lua
-- side's, and the call starts over resolved.  Each option must still act,
-- and the server must see the request once.
describe("options core.fetch hands back to the Lua side", function()
  it("act on the hidden session, a session and http.parallel items", function()
    local target = HTTPBIN .. "/redirect-to?url=" .. HTTPBIN .. "/get"
    local res = must(http.get(target, { allow_redirects = false }))
    assert.equal(302, res.status)
    local s <close> = http.session {}
    assert.equal(302, must(s:get(target, { allow_redirects = false, timeout = 30 })).status)
    assert.equal(200, must(s:get(target, { timeout = 30 })).status) -- libcurl's option alone
    local _, err = s:get(HTTPBIN .. "/redirect/3", { max_redirects = 1 })
    assert.equal("TooManyRedirects", err.kind)
    local out = http.parallel({ { "GET", target, { allow_redirects = false } },
      { "GET", target, { timeout = 30 } } })
    assert.equal(302, out[1].status)
    assert.equal(200, out[2].status)
  end)

  it("act on a session with a base URL, its relative URLs joined once", function()
    local s <close> = http.session { base_url = HTTPBIN }
    local rel = "/redirect-to?url=" .. HTTPBIN .. "/get"
    local res = must(s:get(rel, { allow_redirects = false }))
    assert.equal(302, res.status)
    assert.equal(HTTPBIN .. rel, res.url)
    assert.equal(200, must(s:get(rel, { timeout = 30 })).status)
    local out = s:parallel({ { "GET", rel, { allow_redirects = false } }, { "GET", "/get" } })
    assert.equal(302, out[1].status)
    assert.equal(HTTPBIN .. "/get", out[2]:json().url)
  end)

  it("send the request once, hooks and auth flows run once", function()
    local s <close> = http.session {}
    local tag, hooked, signed, answered = tag_for("r"), 0, 0, 0
    local res = must(s:get(FAULT .. "/ok?case=" .. tag, {
      hooks = { request = function() hooked = hooked + 1 end,
        response = function() answered = answered + 1 end },
      auth = function(req) signed = signed + 1; req.headers["X-Signed"] = "yes" end,
    }))
    assert.equal(200, res.status)
    assert.same({ 1, 1, 1 }, { hooked, signed, answered })
    assert.same({ "yes" }, values(received(tag), "X-Signed"))
  end)

  it("raise for a bad Lua-side option as a resolved call does", function()
    local s <close> = http.session {}
    local ok, err = pcall(s.get, s, HTTPBIN .. "/get", { hooks = 5 })
    assert.is_false(ok)
    assert.matches("bad argument #2 to 'get' %(field 'hooks': table expected, got number%)", err)
    ok, err = pcall(s.get, s, HTTPBIN .. "/get", { timeot = 5 })
    assert.is_false(ok)
    assert.matches("unknown option 'timeot'", err)
  end)
end)
