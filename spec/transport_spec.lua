-- A session's `transport` performs one hop (SPEC, Transports and test
-- doubles): a function returning {status=, headers=, body=} (or nil, err)
-- replaces libcurl, and everything above the hop behaves the same:
-- redirects, cookies into the jar, retries, hooks, auth, tracing, HAR,
-- http.assert.  These need no server, except the last, which runs the same
-- flow over httpbin and over a function and compares them.
local http = require "http"
local helper = require "spec.helper"
require "http.assert"

-- A transport that answers from a table of routes (path -> fn(req)) and
-- records every request it got.
local function router(routes)
  local calls = {}
  local function t(req)
    calls[#calls + 1] = req
    local path = req.url:match("^%a+://[^/]+(/[^?]*)") or "/"
    local fn = routes[path]
    if not fn then return { status = 404, body = "no route " .. path } end
    return fn(req)
  end
  return t, calls
end

local function header(req, name)
  for k, v in pairs(req.headers) do
    if k:lower() == name:lower() then return v end
  end
end

describe("transport = function(req)", function()
  it("gets the request as it would be sent and makes a response of the table", function()
    local t, calls = router { ["/users/1"] = function()
      return { status = 200, headers = { ["Content-Type"] = "application/json", ["X-Id"] = "7" },
        body = '{"id": 1, "name": "Ada"}' }
    end }
    local s <close> = http.session { base_url = "http://api.test", transport = t,
      headers = { Accept = "application/json" } }
    local res = assert(s:get("/users/1", { params = { v = 2 }, headers = { ["X-Req"] = "a" } }))
    assert.equal(200, res.status)
    assert.equal("OK", res.reason)
    assert.is_true(res.ok)
    assert.equal("7", res.headers["x-id"])
    assert.equal("7", res.headers["X-Id"])
    assert.same({ id = 1, name = "Ada" }, res:json())
    assert.equal("http://api.test/users/1?v=2", res.url)
    assert.equal(1, #calls)
    assert.equal("GET", calls[1].method)
    assert.equal("http://api.test/users/1?v=2", calls[1].url)
    assert.equal("application/json", header(calls[1], "accept"))
    assert.equal("a", header(calls[1], "x-req"))
    assert.is_nil(calls[1].body)
    assert.equal("a", res.request.headers["x-req"])
  end)

  it("sends json and form bodies as bytes, with their Content-Type", function()
    local t, calls = router { ["/echo"] = function(req) return { status = 201, body = req.body } end }
    local s <close> = http.session { transport = t }
    local res = assert(s:post("http://api.test/echo", { json = { a = 1 } }))
    assert.equal(201, res.status)
    assert.same({ a = 1 }, res:json())
    assert.equal("application/json", header(calls[1], "content-type"))
    assert(s:post("http://api.test/echo", { data = { b = "x y" } }))
    assert.equal("b=x+y", calls[2].body) -- as lurl's C side form-encodes
    assert.equal("application/x-www-form-urlencoded", header(calls[2], "content-type"))
  end)

  it("follows redirects with requests' rules: 303 to GET without the body, auth dropped on another host", function()
    local t, calls = router {
      ["/start"] = function() return { status = 303, headers = { Location = "/next" } } end,
      ["/next"] = function() return { status = 302, headers = { Location = "http://other.test/end" } } end,
      ["/end"] = function() return { status = 200, body = "done" } end,
    }
    local s <close> = http.session { transport = t, auth = http.basic("user", "pass") }
    local res = assert(s:post("http://api.test/start", { body = "payload" }))
    assert.equal("done", res.body)
    assert.equal(2, #res.history)
    assert.equal(303, res.history[1].status)
    assert.equal("http://other.test/end", res.url)
    assert.equal("POST", calls[1].method)
    assert.equal("payload", calls[1].body)
    assert.equal("Basic dXNlcjpwYXNz", header(calls[1], "authorization"))
    assert.equal("GET", calls[2].method)
    assert.is_nil(calls[2].body)
    assert.equal("Basic dXNlcjpwYXNz", header(calls[2], "authorization")) -- same host
    assert.is_nil(header(calls[3], "authorization")) -- another host
  end)

  it("fails with TooManyRedirects past max_redirects", function()
    local t = router { ["/loop"] = function() return { status = 302, headers = { Location = "/loop" } } end }
    local s <close> = http.session { transport = t, max_redirects = 3 }
    local res, err = s:get("http://api.test/loop")
    assert.is_nil(res)
    assert.equal("TooManyRedirects", err.kind)
  end)

  it("puts cookies into the session's jar with RFC 6265's domain and path rules, and sends them back", function()
    local t, calls = router {
      ["/login"] = function()
        return { status = 200, headers = { ["Set-Cookie"] = {
          "sid=abc; Path=/", "pref=1; Path=/account", "evil=1; Domain=other.test",
          "wide=2; Domain=api.test; Path=/" } } }
      end,
      ["/account/me"] = function() return { status = 200 } end,
      ["/public"] = function() return { status = 200 } end,
    }
    local s <close> = http.session { transport = t }
    assert(s:get("http://api.test/login"))
    assert.equal("abc", s.cookies:get("sid"))
    assert.equal("1", s.cookies:get("pref"))
    assert.equal("2", s.cookies:get("wide"))
    assert.is_nil(s.cookies:get("evil")) -- another site's domain
    assert(s:get("http://api.test/account/me"))
    local sent = header(calls[2], "cookie")
    assert.truthy(sent:find("sid=abc", 1, true))
    assert.truthy(sent:find("pref=1", 1, true))
    assert(s:get("http://api.test/public"))
    sent = header(calls[3], "cookie")
    assert.truthy(sent:find("sid=abc", 1, true))
    assert.falsy(sent:find("pref=1", 1, true)) -- not under its path
    assert(s:get("http://sub.api.test/public"))
    sent = header(calls[4], "cookie")
    assert.equal("wide=2", sent) -- only the domain cookie goes to a subdomain
  end)

  it("retries a 503 and a transport error under the retry policy", function()
    local n = 0
    local t = router { ["/flaky"] = function()
      n = n + 1
      if n == 1 then return { status = 503 } end
      if n == 2 then return nil, "ConnectTimeout" end
      return { status = 200, body = "ok" }
    end }
    local s <close> = http.session { transport = t, retry = { attempts = 3, backoff = 0 } }
    local res = assert(s:get("http://api.test/flaky"))
    assert.equal("ok", res.body)
    assert.equal(3, res.attempts)
    assert.equal(3, n)
  end)

  it("turns nil, err into an error object", function()
    local s <close> = http.session { transport = function() return nil, "ConnectTimeout" end }
    local res, err = s:get("http://api.test/x")
    assert.is_nil(res)
    assert.equal("ConnectTimeout", err.kind)
    assert.is_true(err.retryable)
    assert.equal(1, err.attempts)
    local s2 <close> = http.session { transport = function() return nil, "no route to host" end }
    local _, err2 = s2:get("http://api.test/x")
    assert.equal("ConnectionError", err2.kind)
    assert.matches("no route to host", err2.message, 1, true)
  end)

  it("runs the request and response hooks", function()
    local t, calls = router { ["/h"] = function() return { status = 200, body = "x" } end }
    local seen
    local s <close> = http.session { transport = t, hooks = {
      request = function(req) req.headers["X-Signed"] = "sig" end,
      response = function(res) seen = res.status end } }
    assert(s:get("http://api.test/h"))
    assert.equal("sig", header(calls[1], "x-signed"))
    assert.equal(200, seen)
  end)

  it("is traced and recorded in HAR as libcurl's hops are", function()
    local events = {}
    local path = os.tmpname()
    local t = router {
      ["/a"] = function() return { status = 302, headers = { Location = "/b" } } end,
      ["/b"] = function() return { status = 200, body = "b" } end,
    }
    do
      local s <close> = http.session { transport = t, har = path,
        trace = function(ev) events[#events + 1] = ev end }
      assert(s:get("http://api.test/a"))
    end
    assert.is_true(#events >= 2)
    local har = require("http.json").decode(io.open(path):read("a"))
    os.remove(path)
    assert.equal(2, #har.log.entries)
    assert.equal(302, har.log.entries[1].response.status)
    assert.equal("http://api.test/b", har.log.entries[2].request.url)
  end)

  it("works with http.assert", function()
    local s <close> = http.session { transport = function()
      return { status = 200, headers = { ["Content-Type"] = "application/json" }, json = { id = 3 } }
    end }
    local res = assert(s:get("http://api.test/x"))
    assert.status(res, 200)
    assert.header(res, "Content-Type", "application/json")
    assert.json_field(res, "id", 3)
    assert.has_error(function() assert.status(res, 404) end)
  end)

  it("holds a session's connection slots around each hop", function()
    local inside, most = 0, 0
    local s <close> = http.session { max_connections = 2, transport = function()
      inside = inside + 1
      most = math.max(most, inside)
      http.sleep(0.01)
      inside = inside - 1
      return { status = 200 }
    end }
    local items = {}
    for i = 1, 6 do items[i] = "http://api.test/" .. i end
    local results = s:parallel(items, { concurrency = 6 })
    for i = 1, 6 do assert.equal(200, results[i].status) end
    assert.equal(2, most)
  end)

  it("holds each host's max_host_connections slots over more URLs than a session keeps", function()
    -- a session keeps the host slots of the last 64 URLs it was given
    -- (lurl.exchange's host_sem): 150 distinct URLs on two hosts start its
    -- table over twice, and each host still has its own two slots
    local inside, most, all, most_all = {}, {}, 0, 0
    local s <close> = http.session { max_host_connections = 2, transport = function(req)
      local host = req.url:match("^%a+://([^/]+)")
      inside[host] = (inside[host] or 0) + 1
      most[host] = math.max(most[host] or 0, inside[host])
      all = all + 1
      most_all = math.max(most_all, all)
      http.sleep(0.002)
      inside[host], all = inside[host] - 1, all - 1
      return { status = 200 }
    end }
    local items = {}
    for i = 1, 150 do items[i] = ("http://%s.test/item/%d"):format(i % 2 == 0 and "a" or "b", i) end
    local results = s:parallel(items, { concurrency = 8 })
    for i = 1, 150 do assert.equal(200, results[i].status) end
    assert.same({ ["a.test"] = 2, ["b.test"] = 2 }, most)
    assert.equal(4, most_all) -- two hosts, two slots each
    -- and again, now that the URLs are kept
    most, most_all = {}, 0
    results = s:parallel({ items[149], items[150], items[149], items[150], items[147], items[148] },
      { concurrency = 6 })
    for i = 1, 6 do assert.equal(200, results[i].status) end
    assert.same({ ["a.test"] = 2, ["b.test"] = 2 }, most)
    assert.equal(4, most_all)
  end)

  it("behaves as libcurl does over a real server: a redirect that sets a cookie", function()
    -- httpbin's /cookies/set?k=v sets the cookie and redirects to /cookies,
    -- which echoes the cookies it got; the function does the same
    local real <close> = http.session {}
    local r1 = assert(real:get(helper.httpbin .. "/cookies/set", { params = { k = "v" } }))
    local fake <close> = http.session { transport = router {
      ["/cookies/set"] = function(req)
        local k, v = req.url:match("%?(%w+)=(%w+)")
        return { status = 302, headers = { Location = "/cookies", ["Set-Cookie"] = k .. "=" .. v .. "; Path=/" } }
      end,
      ["/cookies"] = function(req)
        local got = {}
        for name, value in (header(req, "cookie") or ""):gmatch("(%w+)=(%w+)") do got[name] = value end
        return { status = 200, json = { cookies = got } }
      end,
    } }
    local r2 = assert(fake:get("http://api.test/cookies/set", { params = { k = "v" } }))
    assert.equal(r1.status, r2.status)
    assert.equal(#r1.history, #r2.history)
    assert.equal(r1.history[1].status, r2.history[1].status)
    assert.same(r1:json(), r2:json())
    assert.equal(real.cookies:get("k"), fake.cookies:get("k"))
    assert.equal(r1.url:match("/cookies$"), r2.url:match("/cookies$"))
  end)
end)
