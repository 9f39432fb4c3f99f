-- http.mock (SPEC, Transports and test doubles; docs/testing.md, Offline
-- suites): routes, answers, calls, passthrough, install/uninstall, and
-- everything above the transport behaving as with a server.  The fault
-- server counts what reaches the network: a mocked request must not show
-- up in its /requests log, a passthrough one must; the request bodies a
-- mock records are compared with what libcurl sends that server.
local http = require "http"
local cjson = require "cjson"
local helper = require "spec.helper"
local support = require "spec.support"
require "http.assert"

local must = support.must
-- the fault server's log, read over a session made before any test
-- installs a mock (module-level functions would be mocked then)
local net = http.session {}
local function fault_reset() must(net:get(helper.fault .. "/reset-log")) end
local function fault_log() return cjson.decode(must(net:get(helper.fault .. "/requests")).body) end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(s)
  local bits = s:gsub("[^%w+/]", ""):gsub(".", function(c)
    local n, out = B64:find(c, 1, true) - 1, {}
    for i = 5, 0, -1 do out[#out + 1] = (n >> i) & 1 end
    return table.concat(out)
  end)
  return (bits:gsub("%d%d%d%d%d%d%d%d", function(b) return string.char(tonumber(b, 2)) end)
    :sub(1, #s:gsub("=", "") * 6 // 8))
end

-- the paths the fault server saw since the last reset
local function seen_paths()
  local out = {}
  for _, r in ipairs(fault_log()) do out[#out + 1] = r.path end
  return out
end

describe("http.mock routes", function()
  it("answers by method and exact path, with status, headers, body and json", function()
    local mock = http.mock()
    mock:get("/users/1", { json = { id = 1, name = "Ada" } })
    mock:get("/text", { status = 202, headers = { ["X-Id"] = "7", ["Content-Type"] = "text/plain" }, body = "hi" })
    mock:delete("/users/1", { status = 204 })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local res = must(s:get("/users/1"))
    assert.equal(200, res.status)
    assert.equal("application/json", res.headers["content-type"])
    assert.same({ id = 1, name = "Ada" }, res:json())
    res = must(s:get("/text"))
    assert.equal(202, res.status)
    assert.equal("Accepted", res.reason)
    assert.equal("7", res.headers["x-id"])
    assert.equal("hi", res.body)
    assert.equal(204, must(s:delete("/users/1")).status)
    local _, err = s:post("/users/1")
    assert.equal("ConnectionError", err.kind) -- a GET route does not answer a POST
  end)

  it("matches Lua patterns starting with ^, full URLs, query= and headers=; the first match wins", function()
    local mock = http.mock()
    mock:get("/items", { body = "page 2" }, { query = { page = "2" } })
    mock:get("/items", { body = "admin" }, { headers = { ["x-role"] = "admin" } })
    mock:get("^/items/(%d+)$", function(req) return { body = "item " .. req.path:match("%d+") } end)
    mock:get("^/items", { body = "catch-all" })
    mock:get("http://other.test/x", { body = "other host" })
    mock:get("^https://", { body = "tls" })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    assert.equal("page 2", must(s:get("/items", { params = { page = 2 } })).body)
    assert.equal("admin", must(s:get("/items", { headers = { ["X-Role"] = "admin" } })).body)
    assert.equal("item 42", must(s:get("/items/42")).body)
    assert.equal("catch-all", must(s:get("/items/42/x")).body)
    assert.equal("catch-all", must(s:get("/items", { params = { page = 3 } })).body)
    assert.equal("other host", must(s:get("http://other.test/x?q=1")).body)
    assert.equal("tls", must(s:get("https://secure.test/anything")).body)
  end)

  it("gives a function the request: method, url, path, query, case-insensitive headers, body, req:json()", function()
    local mock = http.mock()
    local got
    mock:post("/users", function(req)
      got = { method = req.method, url = req.url, path = req.path, q = req.query.tag,
        ct = req.headers["content-type"], ua = req.headers["USER-AGENT"], body = req.body, j = req:json() }
      return { status = 201, json = req:json() }
    end)
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local res = must(s:post("/users", { json = { name = "Ada" }, params = { tag = { "a", "b" } } }))
    assert.equal(201, res.status)
    assert.same({ name = "Ada" }, res:json())
    assert.equal("POST", got.method)
    assert.equal("http://api.test/users?tag=a&tag=b", got.url)
    assert.equal("/users", got.path)
    assert.same({ "a", "b" }, got.q)
    assert.equal("application/json", got.ct)
    assert.matches("^lurl/", got.ua)
    assert.equal('{"name":"Ada"}', got.body)
    assert.same({ name = "Ada" }, got.j)
  end)

  it("answers `times = n` routes n times, then falls to the next route", function()
    local mock = http.mock()
    mock:get("/flaky", { status = 503 }, { times = 2 })
    mock:get("/flaky", { body = "ok" })
    local s <close> = http.session { transport = mock }
    assert.equal(503, must(s:get("http://api.test/flaky")).status)
    assert.equal(503, must(s:get("http://api.test/flaky")).status)
    assert.equal("ok", must(s:get("http://api.test/flaky")).body)
    assert.equal("ok", must(s:get("http://api.test/flaky")).body)
  end)

  it("fails an unmatched request with a ConnectionError listing the routes, and nothing reaches the network", function()
    fault_reset()
    local mock = http.mock()
    mock:get("/ok", { body = "mocked" })
    mock:post("^/users/%d+$", { status = 201 }, { times = 1 })
    local s <close> = http.session { base_url = helper.fault, transport = mock }
    assert.equal("mocked", must(s:get("/ok")).body)
    local res, err = s:get("/requests")
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.is_true(err:is("RequestException"))
    assert.equal("GET", err.method)
    assert.matches("no mock route matches GET /requests", err.message, 1, true)
    assert.matches("routes: GET /ok, POST ^/users/%d+$ (0 of 1 times)", err.message, 1, true)
    assert.same({}, seen_paths()) -- the counting server saw neither request
    assert.equal(1, #mock.calls) -- only the answered one
  end)

  it("lets unmatched requests through to the network with passthrough(prefix or ^pattern)", function()
    fault_reset()
    local mock = http.mock()
    mock:get("/ok", { body = "mocked" })
    mock:passthrough(helper.fault .. "/echo")
    mock:passthrough("^http://127%.0%.0%.1:%d+/ok%?real")
    local s <close> = http.session { base_url = helper.fault, transport = mock }
    assert.equal("mocked", must(s:get("/ok")).body)
    assert.equal("mocked", must(s:get("/ok?real=1")).body) -- a route matches first
    local res = must(s:get("/echo"))
    assert.equal(404, res.status) -- the fault server's own answer (no /echo route there)
    local _, err = s:get("/nowhere")
    assert.equal("ConnectionError", err.kind)
    assert.same({ "/echo" }, seen_paths())
    assert.equal(2, #mock.calls) -- passthrough requests are not the mock's calls
    local all = http.mock()
    all:passthrough()
    local s2 <close> = http.session { base_url = helper.fault, transport = all }
    assert.equal("ok", must(s2:get("/ok")).body)
    assert.same({ "/echo", "/ok" }, seen_paths())
  end)

  it("records calls, counts them with called(), checks assert_all_called() and forgets with reset()", function()
    local mock = http.mock()
    mock:get("/a", { body = "a" })
    mock:post("/b", { body = "b" })
    mock:put("/never", { body = "n" })
    local s <close> = http.session { base_url = "http://api.test", transport = mock,
      headers = { ["X-Suite"] = "mock" } }
    must(s:get("/a", { params = { q = 1 } }))
    must(s:post("/b", { data = { x = "1 2" } }))
    must(s:get("/a"))
    assert.equal(3, #mock.calls)
    assert.equal("GET", mock.calls[1].method)
    assert.equal("http://api.test/a?q=1", mock.calls[1].url)
    assert.equal("mock", mock.calls[1].headers["x-suite"])
    assert.is_nil(mock.calls[1].body)
    assert.equal("x=1+2", mock.calls[2].body)
    assert.equal(2, mock:called("GET", "/a"))
    assert.equal(1, mock:called("post"))
    assert.equal(3, mock:called())
    assert.equal(0, mock:called("GET", "/b"))
    assert.equal(2, mock:called("*", "^/a"))
    local ok, msg = pcall(mock.assert_all_called, mock)
    assert.is_false(ok)
    assert.matches("mock routes never called: PUT /never", msg, 1, true)
    must(s:put("/never"))
    assert.is_true(mock:assert_all_called())
    mock:reset()
    assert.equal(0, #mock.calls)
    assert.is_false(pcall(mock.assert_all_called, mock))
    assert.matches("http.mock %(3 routes, 0 calls%)", tostring(mock))
  end)

  it("simulates transport failures with error = kind", function()
    local mock = http.mock()
    mock:get("/down", { error = "ConnectTimeout" })
    mock:get("/tls", { error = "SSLError" })
    local s <close> = http.session { transport = mock }
    local res, err = s:get("http://api.test/down")
    assert.is_nil(res)
    assert.equal("ConnectTimeout", err.kind)
    assert.is_true(err:is("Timeout") and err:is("ConnectionError"))
    assert.is_true(err.retryable)
    assert.equal("ConnectTimeout: mocked ConnectTimeout (GET http://api.test/down)", tostring(err))
    _, err = s:get("http://api.test/tls")
    assert.equal("SSLError", err.kind)
  end)

  it("raises at the caller's line on bad routes, naming the field", function()
    local mock = http.mock()
    local function raises(pat, f, ...)
      local ok, msg = pcall(f, ...)
      assert.is_false(ok)
      assert.matches(pat, msg, 1, true)
    end
    raises("bad argument #1 to 'get' (path, URL or pattern string expected, got number)", mock.get, mock, 1, {})
    raises("bad argument #2 to 'get' (response table or function expected, got string)", mock.get, mock, "/x", "body")
    raises("bad argument #2 to 'get' (unknown field 'stauts')", mock.get, mock, "/x", { stauts = 200 })
    raises("bad argument #2 to 'get' (field 'status': number expected, got string)", mock.get, mock, "/x", { status = "200" })
    raises("bad argument #2 to 'get' (field 'error': unknown error kind 'Boom')", mock.get, mock, "/x", { error = "Boom" })
    raises("bad argument #3 to 'get' (field 'times': positive integer expected)", mock.get, mock, "/x", {}, { times = 0 })
    raises("bad argument #4 to 'route' (unknown field 'bogus')", mock.route, mock, "GET", "/x", {}, { bogus = 1 })
    raises("bad self to 'get'", mock.get, "/x", {})
    local ok, msg = pcall(function() mock:post("/x", 5) end)
    assert.is_false(ok)
    assert.matches("mock_spec.lua:%d+: bad argument #2 to 'post'", msg)
    local s <close> = http.session { transport = http.mock():get("/f", function() return "nope" end) }
    assert.has_error(function() s:get("http://api.test/f") end,
      "mock route GET /f: its function returned string (a response table or nil, err expected)")
    local s2 <close> = http.session { transport = http.mock()
      :get("/g", function() return { status = "200" } end)
      :get("/h", function() return { error = "Boom" } end) }
    assert.has_error(function() s2:get("http://api.test/g") end,
      "mock route GET /g: its function returned a response with field 'status': number expected, got string")
    assert.has_error(function() s2:get("http://api.test/h") end,
      "mock route GET /h: its function returned an unknown error kind 'Boom'")
  end)
end)

describe("a session over http.mock", function()
  it("follows redirects with history and requests' method rewrites", function()
    local mock = http.mock()
    mock:post("/start", { status = 303, headers = { Location = "/next" } })
    mock:get("/next", { status = 307, headers = { Location = "/final" } })
    mock:get("/final", { body = "done" })
    mock:put("/keep", { status = 307, headers = { Location = "/kept" } })
    mock:put("/kept", function(req) return { body = req.body } end)
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local res = must(s:post("/start", { body = "payload" }))
    assert.equal("done", res.body)
    assert.equal("http://api.test/final", res.url)
    assert.equal(2, #res.history)
    assert.equal(303, res.history[1].status)
    assert.equal(307, res.history[2].status)
    assert.equal("POST", mock.calls[1].method)
    assert.equal("GET", mock.calls[2].method)
    assert.is_nil(mock.calls[2].body)
    res = must(s:put("/keep", { body = "same" }))
    assert.equal("same", res.body) -- 307 keeps method and body
  end)

  it("sends the URL as libcurl does: requoted, params form-encoded", function()
    local url = "/search?q=hello world&x=%zz&y=caf\195\169&ok=%41"
    fault_reset()
    local real = must(net:get(helper.fault .. url, { params = { p = "a b", n = 2.0 } }))
    local mock = http.mock()
    mock:get("/search", { body = "ok" })
    local s <close> = http.session { base_url = helper.fault, transport = mock }
    local res = must(s:get(url, { params = { p = "a b", n = 2.0 } }))
    assert.equal(real.url, res.url)
    assert.equal(helper.fault .. "/search?q=hello%20world&x=%25zz&y=caf%C3%A9&ok=%41&n=2&p=a+b", res.url)
    assert.equal(fault_log()[1].target, mock.calls[1].url:sub(#helper.fault + 1))
  end)

  it("puts Set-Cookie into the jar with domain and path rules and sends it back", function()
    local mock = http.mock()
    mock:post("/login", { headers = { ["Set-Cookie"] = { "sid=abc; Path=/; HttpOnly",
      "scoped=1; Path=/account", "wide=2; Domain=api.test", "evil=1; Domain=other.test",
      "gone=1; Max-Age=0" } } })
    mock:get("^/", function(req) return { body = req.headers.cookie or "" } end)
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local res = must(s:post("/login"))
    assert.same({ sid = "abc", scoped = "1", wide = "2", evil = "1", gone = "1" }, res.cookies)
    assert.equal("abc", s.cookies:get("sid"))
    assert.is_nil(s.cookies:get("evil"))
    assert.is_nil(s.cookies:get("gone"))
    local function has(body, c) return body:find(c, 1, true) ~= nil end
    local b = must(s:get("/account/me")).body
    assert.is_true(has(b, "sid=abc") and has(b, "scoped=1") and has(b, "wide=2"))
    b = must(s:get("/public")).body
    assert.is_true(has(b, "sid=abc") and not has(b, "scoped=1"))
    b = must(s:get("http://www.api.test/")).body
    assert.equal("wide=2", b) -- host-only sid stays on api.test
    s.cookies:clear()
    assert.equal("", must(s:get("/public")).body)
  end)

  it("files cookies in the jar as libcurl does from a real server's Set-Cookie", function()
    local lines = { "a=1; Path=/x; HttpOnly", "b=2; Max-Age=3600", "c=3; Secure",
      "d=4; Path=/response-headers/", "e=5; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
      "g=7; Domain=127.0.0.1", "h=8; Domain=example.com" }
    local function jar(sess)
      local out = {}
      for _, c in ipairs(sess.cookies:list()) do
        out[c.name] = { c.value, c.domain, c.host_only, c.path, c.secure, c.http_only,
          c.expires and c.expires > os.time() + 3000 }
      end
      return out
    end
    local params = {}
    for i, l in ipairs(lines) do params[i] = { "Set-Cookie", l } end
    local real <close> = http.session {}
    must(real:get(helper.httpbin .. "/response-headers", { params = params }))
    local mock = http.mock()
    mock:get("/response-headers", { headers = { ["Set-Cookie"] = lines } })
    local fake <close> = http.session { transport = mock }
    must(fake:get(helper.httpbin .. "/response-headers"))
    assert.same(jar(real), jar(fake))
    assert.is_true(jar(fake).a[6]) -- HttpOnly kept
    assert.is_nil(jar(fake).h) -- another site's domain
  end)

  it("retries with Retry-After under the retry policy", function()
    local mock = http.mock()
    mock:get("/flaky", { status = 503, headers = { ["Retry-After"] = "1" } }, { times = 1 })
    mock:get("/flaky", { error = "ConnectionError" }, { times = 1 })
    mock:get("/flaky", { json = { ok = true } })
    local waits = {}
    local s <close> = http.session { transport = mock, retry = { attempts = 3, backoff = 0.01,
      on_retry = function(_, _, delay) waits[#waits + 1] = delay end } }
    local t0 = http.now()
    local res = must(s:get("http://api.test/flaky"))
    assert.same({ ok = true }, res:json())
    assert.equal(3, res.attempts)
    assert.equal(3, #mock.calls)
    assert.equal(1, waits[1]) -- Retry-After honoured
    assert.is_true(http.now() - t0 >= 1)
  end)

  it("runs hooks and applies basic and bearer auth, dropping it on another host", function()
    local mock = http.mock()
    mock:get("/me", { status = 302, headers = { Location = "http://cdn.test/img" } })
    mock:get("http://cdn.test/img", { body = "img" })
    mock:get("/token", { body = "t" })
    local seen
    local s <close> = http.session { base_url = "http://api.test", transport = mock,
      auth = http.basic("ada", "s3cret"),
      hooks = { request = function(req) req.headers["X-Signed"] = "sig" end,
        response = function(res) seen = res.status end } }
    must(s:get("/me"))
    assert.equal("Basic YWRhOnMzY3JldA==", mock.calls[1].headers.authorization)
    assert.equal("sig", mock.calls[1].headers["x-signed"])
    assert.is_nil(mock.calls[2].headers.authorization)
    assert.equal(200, seen)
    must(s:get("/token", { auth = http.bearer("tok") }))
    assert.equal("Bearer tok", mock.calls[3].headers.authorization)
  end)

  it("gives ReadTimeout when `delay` exceeds the read timeout, Timeout past the total", function()
    local mock = http.mock()
    mock:get("/slow", { delay = 0.3, body = "late" })
    mock:get("/slower", { delay = 3, body = "too late" })
    local s <close> = http.session { transport = mock }
    local t0 = http.now()
    local res, err = s:get("http://api.test/slower", { timeout = 0.2 })
    assert.is_nil(res)
    assert.equal("ReadTimeout", err.kind)
    assert.equal("read timed out after 0.2 s", err.message)
    assert.is_true(err.retryable)
    local took = http.now() - t0
    assert.is_true(took >= 0.19 and took < 2, took) -- cut short, not the whole delay
    t0 = http.now()
    _, err = s:get("http://api.test/slower", { timeout = { read = 5, total = 0.2 } })
    assert.equal("Timeout", err.kind)
    assert.is_true(http.now() - t0 < 2)
    t0 = http.now()
    res = must(s:get("http://api.test/slow", { timeout = 1 }))
    assert.equal("late", res.body)
    assert.is_true(http.now() - t0 >= 0.29) -- the delay was waited
    assert.equal("late", must(s:get("http://api.test/slow", { timeout = false })).body)
  end)

  it("serves raise_for_status, res:json and http.assert", function()
    local mock = http.mock()
    mock:get("/missing", { status = 404, json = { error = "nope" } })
    mock:get("/bad", { body = "not json" })
    mock:get("/item", { json = { items = { { name = "a" } } }, headers = { ["X-Request-Id"] = "r1" } })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local res = must(s:get("/missing"))
    local ok, err = pcall(res.raise_for_status, res)
    assert.is_false(ok)
    assert.equal("HTTPError", err.kind)
    assert.equal(404, err.response.status)
    ok, err = pcall(function() return must(s:get("/bad")):json() end)
    assert.is_false(ok)
    assert.equal("JSONDecodeError", err.kind)
    res = must(s:get("/item"))
    assert.status(res, "2xx")
    assert.header(res, "x-request-id", "r1")
    assert.json_field(res, "items[1].name", "a")
    local ok2, msg = pcall(assert.status, must(s:get("/missing")), 200)
    assert.is_false(ok2)
    assert.matches("request:  GET http://api.test/missing", tostring(msg), 1, true)
  end)

  it("is traced and recorded in HAR, secrets redacted", function()
    local mock = http.mock()
    mock:get("/a", { status = 302, headers = { Location = "/b" } })
    mock:get("/b", { body = "b" })
    local events, path = {}, os.tmpname()
    do
      local s <close> = http.session { base_url = "http://api.test", transport = mock, har = path,
        auth = http.bearer("very-secret-token"), trace = function(ev) events[#events + 1] = ev end }
      must(s:get("/a"))
    end
    local text = support.read_file(path)
    os.remove(path)
    assert.is_nil(text:find("very-secret-token", 1, true))
    local har = cjson.decode(text)
    assert.equal(2, #har.log.entries)
    assert.equal(302, har.log.entries[1].response.status)
    assert.equal("http://api.test/b", har.log.entries[2].request.url)
    local responses = {}
    for _, ev in ipairs(events) do
      if ev.type == "response" then responses[#responses + 1] = ev end
    end
    assert.equal(2, #responses)
    assert.equal(302, responses[1].response.status)
    assert.equal("http://api.test/a", responses[1].request.url)
    assert.equal("http://api.test/b", responses[2].request.url)
    local traced = cjson.encode(support.denull(responses))
    assert.truthy(traced:find("Bearer ***", 1, true))
    assert.is_nil(traced:find("very-secret-token", 1, true))
  end)

  it("runs http.parallel and spawned tasks concurrently (delays overlap)", function()
    local mock = http.mock()
    mock:get("^/items/%d+$", function(req) return { delay = 0.5, json = { id = tonumber(req.path:match("%d+")) } } end)
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local t0 = http.now()
    local list = {}
    for i = 1, 5 do list[i] = { "GET", "/items/" .. i } end
    list[6] = { "GET", "/nope" }
    local results = s:parallel(list)
    for i = 1, 5 do assert.equal(i, results[i]:json().id) end
    assert.equal("ConnectionError", results[6].kind)
    assert.is_true(http.now() - t0 < 1.5) -- 2.5 s one after the other
    t0 = http.now()
    local tasks = {}
    for i = 1, 5 do tasks[i] = http.spawn(function() return must(s:get("/items/" .. i)):json().id end) end
    assert.same({ 1, 2, 3, 4, 5 }, http.join(tasks))
    assert.is_true(http.now() - t0 < 1.5) -- 2.5 s one after the other
  end)

  it("streams a body (chunks, lines, read, save) and enforces max_body", function()
    local mock = http.mock()
    mock:get("/big", { body = ("line\n"):rep(20000) })
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local n = 0
    for c in must(s:get("/big", { stream = true })):chunks(4096) do n = n + #c end
    assert.equal(100000, n)
    local lines = 0
    for l in must(s:get("/big", { stream = true })):lines() do
      assert.equal("line", l)
      lines = lines + 1
    end
    assert.equal(20000, lines)
    assert.equal("line\nli", must(s:get("/big", { stream = true })):read(7))
    local path = os.tmpname()
    must(s:get("/big", { stream = true })):save(path)
    assert.equal(100000, #support.read_file(path))
    os.remove(path)
    local res, err = s:get("/big", { max_body = 1000 })
    assert.is_nil(res)
    assert.equal("BodyTooLarge", err.kind)
    assert.equal("response body larger than max_body (1000 bytes)", err.message)
  end)

  it("paginates over Link headers", function()
    local mock = http.mock()
    for p = 1, 3 do
      local h = p < 3 and { Link = ('<http://api.test/items?page=%d>; rel="next"'):format(p + 1) } or nil
      mock:get("/items", { json = { p * 10, p * 10 + 1 }, headers = h }, { query = { page = tostring(p) } })
    end
    local s <close> = http.session { base_url = "http://api.test", transport = mock }
    local got = {}
    for item in s:paginate("/items", { params = { page = 1 }, items = function(res) return res:json() end }) do
      got[#got + 1] = item
    end
    assert.same({ 10, 11, 20, 21, 30, 31 }, got)
    assert.equal(3, #mock.calls)
  end)
end)

describe("request bodies over http.mock", function()
  -- the fault server's record of the one request it got, over libcurl
  local function over_libcurl(opts)
    fault_reset()
    must(http.post(helper.fault .. "/ok", opts))
    local log = fault_log()
    assert.equal(1, #log)
    local body = unbase64(log[1].body_base64)
    local ct
    for _, h in ipairs(log[1].headers) do
      if h[1]:lower() == "content-type" then ct = h[2] end
    end
    return body, ct
  end
  local function over_mock(opts)
    local mock = http.mock()
    mock:post("/ok", { body = "ok" })
    local s <close> = http.session { transport = mock }
    must(s:post("http://api.test/ok", opts))
    return mock.calls[1].body, mock.calls[1].headers["content-type"]
  end
  -- a multipart body with its boundary replaced by B
  local function unbound(body, ct)
    local b = ct:match("boundary=(.*)$")
    return body:gsub(b:gsub("%p", "%%%0"), "B"), ct:gsub("boundary=.*$", "boundary=B")
  end

  it("are the bytes libcurl sends: JSON, form, string, function and open file bodies", function()
    local path = os.tmpname()
    support.write_file(path, "file\0bytes\r\n")
    for _, mk in ipairs {
      function() return { json = { a = { 1, 2 }, b = "x" } } end,
      function() return { data = { name = "Ada L", tags = { "a", "b" } } } end,
      function() return { data = "raw=string" } end,
      function() return { body = "plain body" } end,
      function() local n = 0; return { body = function() n = n + 1; return n <= 3 and ("c" .. n) or nil end } end,
      function() return { body = io.open(path, "rb") } end,
    } do
      local real, real_ct = over_libcurl(mk())
      local mocked, mocked_ct = over_mock(mk())
      assert.equal(real, mocked)
      assert.equal(real_ct, mocked_ct)
    end
    os.remove(path)
  end)

  it("come with the headers lurl sends (libcurl's own Host, framing and Accept-Encoding aside)", function()
    local function opts()
      return { json = { a = 1 }, user_agent = "ua/1", headers = { Accept = "x/y", ["X-Many"] = "a" },
        cookies = { c = "1", d = "2" }, auth = http.bearer("tok") }
    end
    local LIBCURL = { host = true, ["content-length"] = true, ["accept-encoding"] = true,
      ["transfer-encoding"] = true, expect = true }
    fault_reset()
    must(net:post(helper.fault .. "/ok", opts()))
    local real = {}
    for _, h in ipairs(fault_log()[1].headers) do
      if not LIBCURL[h[1]:lower()] then real[h[1]:lower()] = h[2] end
    end
    local mock = http.mock()
    mock:post("/ok", {})
    local s <close> = http.session { transport = mock }
    must(s:post("http://api.test/ok", opts()))
    local mocked = {}
    for k, v in pairs(mock.calls[1].headers) do mocked[k:lower()] = v end
    assert.same(real, mocked)
    assert.equal("ua/1", mocked["user-agent"])
  end)

  it("are the bytes libcurl sends for multipart files, from disk and from content", function()
    local path = os.tmpname()
    support.write_file(path, "name,n\nada,1\n")
    local function opts()
      return { data = { note = "hello \"there\"", tags = { "a", "b" } }, files = {
        csv = http.file(path, { filename = "data.csv", content_type = "text/csv" }),
        raw = http.file(path),
        blob = { content = "bytes\0here" },
        named = { content = "x", filename = "a\"b.txt", content_type = "text/plain" } } }
    end
    local real, real_ct = unbound(over_libcurl(opts()))
    local mocked, mocked_ct = unbound(over_mock(opts()))
    os.remove(path)
    assert.equal(real_ct, mocked_ct)
    assert.equal("multipart/form-data; boundary=B", mocked_ct)
    assert.equal(real, mocked)
  end)
end)

describe("auth over http.mock", function()
  -- the Authorization header the fault server got over libcurl, and the
  -- one a mock got, for the same request
  local function both(url_of, opts)
    fault_reset()
    must(net:get(url_of(helper.fault), opts))
    local real
    for _, h in ipairs(fault_log()[1].headers) do
      if h[1]:lower() == "authorization" then real = h[2] end
    end
    local mock = http.mock()
    mock:get("^/", { body = "ok" })
    local s <close> = http.session { transport = mock }
    must(s:get(url_of("http://api.test"), opts))
    return real, mock.calls[1].headers.authorization
  end
  local function at(base) return base .. "/ok" end

  it("is the header libcurl sends for basic, {user, password}, bearer and a URL's credentials", function()
    for _, case in ipairs {
      { at, { auth = http.basic("ada", "pä:ss") } },
      { at, { auth = { "bob", "pw" } } },
      { at, { auth = http.bearer("tok-1") } },
      { function(b) return (b:gsub("://", "://carl:s%%3Ac@")) .. "/ok" end, nil },
      { function(b) return (b:gsub("://", "://carl:url@")) .. "/ok" end, { auth = http.bearer("wins") } },
    } do
      local real, mocked = both(case[1], case[2])
      assert.is_string(real)
      assert.equal(real, mocked)
    end
  end)

  it("runs auth functions per hop and fetches OAuth2 tokens through the mock", function()
    local mock = http.mock()
    local tokens = 0
    mock:post("/token", function(req)
      tokens = tokens + 1
      assert.equal("grant_type=client_credentials", req.body)
      return { json = { access_token = "tok-" .. tokens, token_type = "Bearer", expires_in = 3600 } }
    end)
    mock:get("/from", { status = 302, headers = { Location = "/to" } })
    mock:get("^/", function(req) return { body = req.headers.authorization or "none" } end)
    local s <close> = http.session { transport = mock }
    local seen = {}
    local res = must(s:get("http://api.test/from", { auth = function(req)
      seen[#seen + 1] = req.url
      req.headers["Authorization"] = "Sig " .. http.hex(http.hmac("sha256", "k", req.method .. req.url))
    end }))
    assert.same({ "http://api.test/from", "http://api.test/to" }, seen) -- once per hop
    assert.equal("Sig " .. http.hex(http.hmac("sha256", "k", "GEThttp://api.test/to")), res.body)
    local o = http.oauth2 { token_url = "http://api.test/token", client_id = "id", client_secret = "sec" }
    assert.equal("Bearer tok-1", must(s:get("http://api.test/a", { auth = o })).body)
    assert.equal("Bearer tok-1", must(s:get("http://api.test/b", { auth = o })).body)
    assert.equal(1, tokens) -- fetched once, from the mock: nothing reached a network
    assert.equal(1, mock:called("POST", "/token"))
  end)

  it("leaves digest to libcurl: over a mock the request goes without credentials", function()
    local mock = http.mock()
    mock:get("/digest", function(req)
      if not req.headers.authorization then
        return { status = 401, headers = { ["WWW-Authenticate"] = 'Digest realm="r", nonce="n"' } }
      end
      return { body = "in" }
    end)
    local s <close> = http.session { transport = mock, auth = http.digest("ada", "pw") }
    local res = must(s:get("http://api.test/digest"))
    assert.equal(401, res.status)
    assert.equal(1, #mock.calls)
  end)
end)

describe("http.mock.install", function()
  after_each(function() http.mock.uninstall() end)

  it("makes a mock the transport of module-level functions and of sessions made afterwards", function()
    fault_reset()
    local before <close> = http.session { base_url = helper.fault }
    local mock = http.mock()
    mock:get("^/", { body = "mocked" })
    assert.equal(mock, http.mock.install(mock))
    assert.equal("mocked", must(http.get(helper.fault .. "/ok")).body)
    assert.equal("mocked", must(http.request("GET", helper.fault .. "/ok")).body)
    local after <close> = http.session { base_url = helper.fault }
    assert.equal("mocked", must(after:get("/ok")).body)
    local own <close> = http.session { transport = function() return { status = 200, body = "own" } end }
    assert.equal("own", must(own:get(helper.fault .. "/ok")).body)
    assert.equal("mocked", http.parallel({ helper.fault .. "/p" })[1].body)
    assert.equal("mocked", must(http.stream(helper.fault .. "/ok")).body)
    assert.same({}, seen_paths())
    assert.equal("ok", must(before:get("/ok")).body) -- made before install: the network
    assert.same({ "/ok" }, seen_paths())
    assert.equal(5, #mock.calls)
    http.mock.uninstall()
    assert.equal("ok", must(http.get(helper.fault .. "/ok")).body)
    local later <close> = http.session { base_url = helper.fault }
    assert.equal("ok", must(later:get("/ok")).body)
    assert.equal("mocked", must(after:get("/ok")).body) -- made while installed: keeps the mock
    assert.same({ "/ok", "/ok", "/ok" }, seen_paths())
    assert.equal(6, #mock.calls)
  end)

  it("takes a transport function and refuses anything else", function()
    http.mock.install(function(req) return { status = 200, body = req.method } end)
    assert.equal("PUT", must(http.put("http://api.test/")).body)
    assert.has_error(function() http.mock.install("x") end,
      "bad argument #1 to 'install' (http.mock or transport function expected, got string)")
  end)
end)

describe("the offline example API suite", function()
  local ROOT = debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or "."
  -- lurl (LURL_BIN: a sanitizer build's http.so loads only in its own
  -- binary), plus the interpreter running this spec when it is another
  -- one (as spec/assert_spec.lua runs the online suite)
  local function interpreters()
    local list = { os.getenv("LURL_BIN") or "lua5.4" }
    local i = -1
    while arg and arg[i - 1] do i = i - 1 end
    local me = arg and arg[i]
    if me and me ~= list[1] then list[#list + 1] = me end
    return list
  end

  it("passes with no server and no HTTPBIN_URL, under lurl and the running interpreter", function()
    for _, interp in ipairs(interpreters()) do
      local cpath = os.getenv("LUA_CPATH") or ""
      local build = os.getenv("LURL_BUILD_DIR")
      if build then cpath = build .. "/?.so;" .. cpath end
      local p0 = io.popen("command -v busted")
      local busted = p0:read("l") or "/usr/bin/busted"
      p0:close()
      -- --lua: the suite's .busted names lua5.4, which would win otherwise
      local cmd = ("cd %s && env -u HTTPBIN_URL LUA_CPATH=%s %s %s --lua=%s --run=offline -o junit 2>&1")
        :format(support.q(ROOT .. "/scripts/api_tests"), support.q(cpath), support.q(interp), support.q(busted),
                support.q(interp))
      local p = assert(io.popen(cmd))
      local xml = p:read("a")
      local _, _, code = p:close()
      assert.equal(0, code, xml)
      local tests = tonumber(xml:match("<testsuites[^>]-%stests='(%d+)'"))
      assert.is_true(tests and tests >= 8, xml)
      assert.is_nil(xml:find("<failure", 1, true), xml)
    end
  end)
end)
