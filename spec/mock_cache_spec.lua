-- The speed tricks of a mocked exchange (lurl.transport, lurl.mock; see
-- docs/performance.md, Mocked exchanges) must not be seen: what they keep
-- between hops (a session's header map, an answer's head and response
-- table, requoted and split URLs, routes by exact path) follows the
-- tables it was made from when a script changes them, and what is made
-- when first read (req.headers, req.query, res.request) is what the hop
-- sent.  The mock is the server here: mock.calls is what it received.
local http = require "http"
local support = require "spec.support"

local must = support.must

describe("a mocked exchange's kept state", function()
  it("keeps the order routes were added in across exact paths and patterns", function()
    local mock = http.mock()
    mock:get("^/a", { body = "pattern first" }, { times = 1 })
    mock:get("/a", { body = "exact" }, { times = 1 })
    mock:get("^/a", { body = "pattern last" })
    mock:get("/b", { body = "exact b" })
    mock:get("^/b", { body = "pattern b" })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    assert.equal("pattern first", must(s:get("/a")).body)
    assert.equal("exact", must(s:get("/a")).body)
    assert.equal("pattern last", must(s:get("/a")).body)
    assert.equal("exact b", must(s:get("/b")).body)
    assert.equal("exact b", must(s:get("/b?x=1")).body)
    assert.same({ "/a", "/a", "/a", "/b", "/b" },
      { mock.calls[1].path, mock.calls[2].path, mock.calls[3].path, mock.calls[4].path, mock.calls[5].path })
    assert.same({ x = "1" }, mock.calls[5].query)
    assert.same({}, mock.calls[4].query)
  end)

  it("follows an answer table changed between requests", function()
    local mock = http.mock()
    local answer = { headers = { ["X-V"] = "1" }, body = "one" }
    mock:get("/v", answer)
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local res = must(s:get("/v"))
    assert.same({ 200, "one", "1" }, { res.status, res.body, res.headers["x-v"] })
    answer.body, answer.status = "two", 201
    answer.headers["X-V"] = "2"
    answer.headers["X-W"] = "w"
    res = must(s:get("/v"))
    assert.same({ 201, "two", "2", "w" }, { res.status, res.body, res.headers["x-v"], res.headers["x-w"] })
    answer.headers["X-W"] = nil
    answer.headers = { ["Set-Cookie"] = "k=v; Path=/" }
    res = must(s:get("/v"))
    assert.is_nil(res.headers["x-v"])
    assert.equal("v", s.cookies:get("k"))
    answer.error = "ConnectTimeout"
    local _, err = s:get("/v")
    assert.equal("ConnectTimeout", err.kind)
    answer.error, answer.delay = nil, 0.01
    assert.equal("two", must(s:get("/v")).body)
    assert.equal(5, #mock.calls)
  end)

  it("gives each response headers of its own", function()
    local mock = http.mock()
    mock:get("/h", { headers = { ["X-A"] = "1", ["Set-Cookie"] = { "a=1", "b=2" } }, body = "x" })
    mock:get("/j", { headers = { ["X-A"] = "j" }, json = { ok = true } })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local first = must(s:get("/h"))
    first.headers["x-a"] = "changed"
    first.headers["x-new"] = "n"
    local second = must(s:get("/h"))
    assert.same({ "1", nil, "a=1" }, { second.headers["X-A"], second.headers["x-new"], second.headers["set-cookie"] })
    assert.same({ "a=1", "b=2" }, second:header_values("Set-Cookie"))
    -- header_list read first, then headers: both from the same head
    local third = must(s:get("/h"))
    assert.equal(3, #third.header_list)
    assert.equal("1", third.headers["x-a"])
    for _ = 1, 2 do
      local j = must(s:get("/j"))
      assert.same({ "j", "application/json" }, { j.headers["x-a"], j.headers["content-type"] })
      j.headers["x-a"] = "changed"
    end
  end)

  it("sends the session's headers as they are at each request", function()
    local mock = http.mock()
    mock:get("/h", { body = "ok" })
    local s <close> = http.session { base_url = "http://api.test", transport = mock,
      headers = { ["X-A"] = "1" } }
    must(s:get("/h"))
    s.headers["X-A"] = "2"
    s.headers["X-B"] = "b"
    must(s:get("/h"))
    s.headers["X-A"] = nil
    local res = must(s:get("/h", { user_agent = "agent/1" }))
    local h1, h2, h3 = mock.calls[1].headers, mock.calls[2].headers, mock.calls[3].headers
    assert.same({ "1", nil }, { h1["X-A"], h1["X-B"] })
    assert.same({ "2", "b" }, { h2["X-A"], h2["X-B"] })
    assert.same({ nil, "b", "agent/1" }, { h3["X-A"], h3["X-B"], h3["User-Agent"] })
    assert.matches("^lurl/", h2["User-Agent"])
    assert.equal("agent/1", res.request.headers["user-agent"])
    -- each request's headers are its own table
    h1["X-A"] = "changed"
    assert.equal("2", mock.calls[2].headers["X-A"])
  end)

  it("records the Cookie header of the jar as it was when the hop was sent", function()
    local mock = http.mock()
    mock:get("/login", { headers = { ["Set-Cookie"] = "sid=abc; Path=/" }, body = "in" })
    mock:get("/me", { body = "me" })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local first = must(s:get("/login"))
    local second = must(s:get("/me"))
    -- read after the jar changed: made from what each hop sent
    assert.is_nil(mock.calls[1].headers["Cookie"])
    assert.is_nil(first.request.headers["cookie"])
    assert.equal("sid=abc", mock.calls[2].headers["Cookie"])
    assert.equal("sid=abc", second.request.headers["cookie"])
    assert.same({ dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0, redirect = 0 }, second.timings)
  end)

  it("serves a request a function transport passes on to a mock as its own", function()
    local mock = http.mock()
    mock:post("/echo", function(req) return { json = { got = req:json(), q = req.query.q,
      ct = req.headers["content-type"] } } end, { query = { q = "1" } })
    local seen
    local s <close> = http.session { base_url = "http://api.test",
      transport = function(req) seen = req; return mock(req) end }
    local res = must(s:post("/echo", { params = { q = 1 }, json = { a = 1 } }))
    assert.same({ got = { a = 1 }, q = "1", ct = "application/json" }, res:json())
    assert.equal(seen, mock.calls[1])
    assert.equal('{"a":1}', mock.calls[1].body)
  end)

  it("requotes a URL and sends its user part each time it is asked for", function()
    local mock = http.mock()
    mock:get("/a%20b", { body = "spaced" })
    mock:get("/private", { body = "private" })
    local s <close> = http.session { transport = mock }
    for _ = 1, 2 do
      assert.equal("spaced", must(s:get("http://api.test/a b")).body)
      assert.equal("private", must(s:get("http://ada:pw@api.test/private")).body)
    end
    assert.equal("http://api.test/a%20b", mock.calls[3].url)
    assert.equal("Basic YWRhOnB3", mock.calls[2].headers["Authorization"])
    assert.equal("Basic YWRhOnB3", mock.calls[4].headers["Authorization"])
  end)
end)
