-- http.assert: every assertion passes on a real exchange, fails with a
-- message that explains itself (expectation, request line, headers, status
-- line, body excerpt) and never shows a secret; luassert's negation works;
-- the example API suites in scripts/api_tests run under busted as child
-- processes and report through -o junit and -o TAP.
--
-- The exchanges are real (httpbin echoes what it received, so a passing
-- json_field on the echo is also a check of what the server saw).
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local json = require "http.json"
local hassert = require "http.assert"

local HTTPBIN = helper.httpbin

local must = support.must

-- the message of the failure f(...) raises (a failure is required)
local function failure(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "the assertion was expected to fail")
  return tostring(e)
end

local function contains(text, piece)
  assert(text:find(piece, 1, true), ("expected to find %q in:\n%s"):format(piece, text))
end

local function lacks(text, piece)
  assert(not text:find(piece, 1, true), ("%q must not appear in:\n%s"):format(piece, text))
end

describe("http.assert", function()
  local get_res, html_res
  setup(function()
    get_res = must(http.get(HTTPBIN .. "/get", { params = { q = "lua" } }))
    html_res = must(http.get(HTTPBIN .. "/html"))
  end)

  describe("status", function()
    it("passes on a number, a class, a numeric string and a list", function()
      assert.status(get_res, 200)
      assert.status(get_res, "2xx")
      assert.status(get_res, "2XX")
      assert.status(get_res, "200")
      assert.status(get_res, { 201, 200 })
      assert.is_not.status(get_res, "5xx")
      assert.is_not.status(get_res, 404)
    end)

    it("returns the response", function()
      local res = assert.status(get_res, 200)
      assert.are.equal(get_res, res)
    end)

    it("fails with the expectation, the request line, the status line and the body", function()
      local res = must(http.get(HTTPBIN .. "/status/404"))
      local msg = failure(assert.status, res, 200)
      contains(msg, "Expected status 200, got 404 NOT FOUND")
      contains(msg, "request:  GET " .. HTTPBIN .. "/status/404")
      contains(msg, "response: HTTP/1.1 404 NOT FOUND")
      contains(msg, "Content-Type: text/html; charset=utf-8")
      contains(msg, "body:     (empty)")
      contains(msg, "timing:   dns ")
    end)

    it("fails for a class and a list, and when negated", function()
      contains(failure(assert.status, get_res, "4xx"), "Expected status 4xx, got 200 OK")
      contains(failure(assert.status, get_res, { 201, 204 }), "Expected status one of 201, 204, got 200 OK")
      contains(failure(assert.is_not.status, get_res, "2xx"), "Expected status not to be 2xx, got 200 OK")
    end)

    it("adds the caller's own message", function()
      local msg = failure(assert.status, get_res, 201, "creating a user")
      contains(msg, "creating a user")
      contains(msg, "Expected status 201, got 200 OK")
    end)

    it("says so when there is no response, negated or not", function()
      local _, err = http.get("http://127.0.0.1:" .. helper.dead_port .. "/x")
      assert.is_not_nil(err)
      contains(failure(assert.status, nil, 200), "Expected an HTTP response, got nil")
      local msg = failure(assert.is_not.status, err, 200)
      contains(msg, "Expected an HTTP response, got error: ConnectionError")
    end)

    it("refuses a bad expectation as a programming error", function()
      contains(failure(assert.status, get_res, "ok"), "bad argument #2 to 'status'")
      contains(failure(assert.status, get_res, 2.5), "bad argument #2 to 'status'")
    end)
  end)

  describe("header", function()
    it("passes on an exact value, on presence and on absence", function()
      assert.header(get_res, "content-type", "application/json")
      assert.header(get_res, "Content-Type", "application/json")
      assert.header(get_res, "content-length")
      assert.has_no.header(get_res, "x-not-there")
      assert.is_not.header(get_res, "content-type", "text/html")
    end)

    it("matches one value of a repeated field or all of them joined", function()
      -- httpbin sends its own Content-Type and the one asked for
      local res = must(http.get(HTTPBIN .. "/response-headers", { params = { ["Content-Type"] = "text/plain" } }))
      assert.are.same({ "application/json", "text/plain" }, res:header_values("content-type"))
      assert.header(res, "content-type", "text/plain")
      assert.header(res, "content-type", "application/json, text/plain")
      assert.header_matches(res, "content-type", "^text/")
    end)

    it("fails naming the field and what came instead", function()
      local msg = failure(assert.header, get_res, "content-type", "text/html")
      contains(msg, 'Expected header content-type to be "text/html", got "application/json"')
      contains(msg, "request:  GET " .. HTTPBIN .. "/get?q=lua")
      contains(msg, "Content-Type: application/json")
      msg = failure(assert.header, get_res, "x-missing", "1")
      contains(msg, 'Expected header x-missing to be "1", got (absent)')
      msg = failure(assert.has_no.header, get_res, "content-type")
      contains(msg, 'Expected header content-type to be absent, got "application/json"')
      msg = failure(assert.header, get_res, "x-missing")
      contains(msg, "Expected header x-missing to be present, got (absent)")
    end)

    it("header_matches takes a Lua pattern", function()
      assert.header_matches(get_res, "content-type", "^application/%a+$")
      assert.is_not.header_matches(get_res, "content-type", "xml")
      local msg = failure(assert.header_matches, get_res, "content-type", "^text/")
      contains(msg, 'Expected header content-type to match pattern "^text/", got "application/json"')
      contains(failure(assert.header_matches, get_res, "content-type", nil), "bad argument #3")
    end)

    it("never shows a cookie value, even the expected one", function()
      local res = must(http.get(HTTPBIN .. "/response-headers", { params = { ["Set-Cookie"] = "sid=set-cookie-v4lue; Path=/" } }))
      assert.header(res, "set-cookie", "sid=set-cookie-v4lue; Path=/")
      local msg = failure(assert.header, res, "set-cookie", "sid=expected-s3cret")
      contains(msg, "Set-Cookie: sid=***; Path=/")
      contains(msg, 'to be "sid=***", got "sid=***; Path=/"')
      lacks(msg, "expected-s3cret")
      -- the body (an echo of the query) holds the value: scrubbed
      contains(msg, '"Set-Cookie":"sid=***; Path=/"')
    end)
  end)

  describe("json_field", function()
    local post_res
    setup(function()
      post_res = must(http.post(HTTPBIN .. "/post", { json = {
        items = { { name = "a", tags = { "x" } }, { name = "b" } },
        ["dotted.key"] = 1, nothing = json.null, flag = false } }))
    end)

    it("follows dotted paths and [n] indices from 1", function()
      assert.json_field(post_res, "json.items[1].name", "a")
      assert.json_field(post_res, "json.items[2].name", "b")
      assert.json_field(post_res, "json.items[1].tags[1]", "x")
      assert.json_field(post_res, 'json["dotted.key"]', 1)
      assert.json_field(post_res, "json.flag", false)
      assert.json_field(post_res, "json.nothing", json.null)
      assert.json_field(post_res, "headers.Content-Type", "application/json")
    end)

    it("compares tables by content and checks presence without a value", function()
      assert.json_field(post_res, "json.items[2]", { name = "b" })
      assert.json_field(post_res, "json.items")
      assert.is_not.json_field(post_res, "json.items[3]")
      assert.is_not.json_field(post_res, "json.items[1].name", "b")
    end)

    it("says where a path stops", function()
      local msg = failure(assert.json_field, post_res, "json.items[3].name", "c")
      contains(msg, 'Expected JSON field json.items[3].name to be "c", but json.items[3] is missing (json.items has 2 elements)')
      msg = failure(assert.json_field, post_res, "json.item", "c")
      contains(msg, "json.item is missing (json has fields: dotted.key, flag, items, nothing)")
      msg = failure(assert.json_field, post_res, "json.items[1].name.first", "c")
      contains(msg, 'json.items[1].name is "a", not an object or array')
      msg = failure(assert.json_field, post_res, "json.items[1].name", "z")
      contains(msg, 'Expected JSON field json.items[1].name to be "z", got "a"')
      contains(msg, "request:  POST " .. HTTPBIN .. "/post")
      contains(msg, "body:     (")
      msg = failure(assert.is_not.json_field, post_res, "json.items[1].name")
      contains(msg, 'Expected JSON field json.items[1].name to be absent, got "a"')
      msg = failure(assert.json_field, post_res, "json.items[2]", { name = "c" })
      contains(msg, 'to be {"name":"c"}, got {"name":"b"}')
    end)

    it("fails both ways on a body that is not JSON", function()
      local msg = failure(assert.json_field, html_res, "a", 1)
      contains(msg, "Expected a JSON body with field a, but the body is not JSON")
      contains(msg, "body:     (3741 bytes) <!DOCTYPE html>")
      failure(assert.is_not.json_field, html_res, "a")
    end)

    it("refuses a malformed path", function()
      contains(failure(assert.json_field, post_res, "json..x", 1), "bad JSON path")
      contains(failure(assert.json_field, post_res, "json[x]", 1), "bad JSON path")
      contains(failure(assert.json_field, post_res, "", 1), "bad JSON path")
    end)
  end)

  describe("body", function()
    it("body_matches takes a Lua pattern, body_contains plain text", function()
      assert.body_matches(html_res, "<h1>Herman Melville %- Moby%-Dick</h1>")
      assert.body_contains(html_res, "Moby-Dick")
      assert.is_not.body_contains(html_res, "lurl was here")
      contains(failure(assert.body_matches, html_res, "^{"), 'Expected body to match pattern "^{"')
      contains(failure(assert.body_contains, html_res, "nope"), 'Expected body to contain "nope"')
      contains(failure(assert.is_not.body_contains, html_res, "Moby"), 'Expected body not to contain "Moby"')
    end)
  end)

  describe("timing", function()
    it("elapsed_under and timing_under compare against the bound", function()
      local res = must(http.get(HTTPBIN .. "/delay/1"))
      assert.elapsed_under(res, 10)
      assert.timing_under(res, "ttfb", 10)
      assert.is_not.elapsed_under(res, 0.9)
      assert.is_not.timing_under(res, "ttfb", 0.9)
      local msg = failure(assert.elapsed_under, res, 0.5)
      assert.truthy(msg:find("Expected the exchange to take under 0.500 s, it took %d%.%d%d%d s"), msg)
      msg = failure(assert.timing_under, res, "ttfb", 0.25)
      assert.truthy(msg:find("Expected ttfb time to be under 0.250 s, it was %d%.%d%d%d s"), msg)
      contains(msg, "request:  GET " .. HTTPBIN .. "/delay/1")
    end)

    it("refuses an unknown phase or a bad bound", function()
      contains(failure(assert.timing_under, get_res, "latency", 1), "bad argument #2 to 'timing_under'")
      contains(failure(assert.elapsed_under, get_res, "fast"), "bad argument #2 to 'elapsed_under'")
    end)
  end)

  describe("secrets in failure messages", function()
    it("redact Authorization, cookies and URL passwords, also where the body echoes them", function()
      local url = HTTPBIN:gsub("^http://", "http://ada:pa55-in-url@") .. "/anything"
      local res = must(http.get(url, { headers = { ["X-Api-Key"] = "key-abc-123" },
        cookies = { sid = "cookie-v4lue" } }))
      -- the server did get every credential
      assert.json_field(res, "headers.Cookie", "sid=cookie-v4lue")
      assert.json_field(res, "headers.X-Api-Key", "key-abc-123")
      assert.json_field(res, "headers.Authorization", "Basic YWRhOnBhNTUtaW4tdXJs")
      local msg = failure(assert.status, res, 500)
      contains(msg, "request:  GET http://ada:***@127.0.0.1:")
      contains(msg, "Cookie: sid=***")
      contains(msg, "X-Api-Key: ***")
      contains(msg, '"Authorization":"Basic ***"')
      for _, secret in ipairs { "pa55-in-url", "cookie-v4lue", "key-abc-123", "YWRhOnBhNTUtaW4tdXJs" } do
        lacks(msg, secret)
      end
      local res2 = must(http.get(HTTPBIN .. "/headers", { auth = http.bearer("tok-9d8e7f") }))
      assert.json_field(res2, "headers.Authorization", "Bearer tok-9d8e7f")
      msg = failure(assert.status, res2, 201)
      contains(msg, "Authorization: Bearer ***")
      lacks(msg, "tok-9d8e7f")
    end)

    it("explain gives the same block for messages of one's own", function()
      local text = hassert.explain(get_res, "content-type")
      contains(text, "request:  GET " .. HTTPBIN .. "/get?q=lua")
      contains(text, "response: HTTP/1.1 200 OK")
    end)
  end)
end)

-------------------------------------------------------------------------------
-- The example suites, run as child processes the way CI would run them.

local ROOT = debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or "."
local API_DIR = ROOT .. "/scripts/api_tests"

local q = support.q

-- Interpreters to run busted under: lurl (LURL_BIN, which the sanitizer
-- build needs) or lua5.4, plus the one running this spec when that is a
-- different one (so a stock lua5.4 run exercises http.so in the child).
local function interpreters()
  local list = { os.getenv("LURL_BIN") or "lua5.4" }
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  local me = arg and arg[i]
  if me and me ~= list[1] then list[#list + 1] = me end
  return list
end

local function busted_script()
  local p = io.popen("command -v busted")
  local path = p:read("l")
  p:close()
  return path or "/usr/bin/busted"
end

-- runs busted from scripts/api_tests; returns exit status and output
local function run_busted(interp, args)
  local cpath = os.getenv("LUA_CPATH") or ""
  local build = os.getenv("LURL_BUILD_DIR")
  if build then cpath = build .. "/?.so;" .. cpath end
  -- --lua: the suite's .busted names lua5.4 (for plain `busted`), which
  -- would otherwise run the suite under lua5.4 whatever started it
  local cmd = ("cd %s && HTTPBIN_URL=%s LUA_CPATH=%s %s %s --lua=%s %s 2>&1"):format(q(API_DIR),
    q(HTTPBIN), q(cpath), q(interp), q(busted_script()), q(interp), args)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out
end

local function attr(xml, tag, name)
  return tonumber(xml:match("<" .. tag .. "[^>]-%s" .. name .. "='(%d+)'"))
end

local TOKEN, COOKIE, PASSWORD = "failing-suite-token-7f3a9", "cookie-secret-51b2", "url-secret-88c4"

describe("the example API suite", function()
  for _, interp in ipairs(interpreters()) do
    local label = interp:match("[^/]*$")

    it("passes under " .. label .. " and reports JUnit XML", function()
      local code, xml = run_busted(interp, "-o junit")
      assert.are.equal(0, code, xml)
      assert.are.equal(11, attr(xml, "testsuites", "tests"), xml)
      assert.are.equal(0, attr(xml, "testsuites", "failures"), xml)
      assert.are.equal(0, attr(xml, "testsuites", "errors"), xml)
      local n = 0
      for _ in xml:gmatch("<testcase ") do n = n + 1 end
      assert.are.equal(11, n)
      contains(xml, "name='httpbin API redirects and cookies follows a redirect chain'")
      -- httpbin saw the suite's requests
      local log = io.open(helper.logs.httpbin_access):read("a")
      contains(log, "GET /redirect/2 ")
      contains(log, "GET /response-headers?X-Request-Id=req-42 ")
      contains(log, "POST /post ")
    end)

    it("explains its failures under " .. label .. " without leaking a secret", function()
      local code, tap = run_busted(interp, "-o TAP failing")
      assert.are_not.equal(0, code)
      contains(tap, "not ok 1 - wrong expectations expects 200 from a route that answers 404")
      contains(tap, "Expected status 200, got 404 NOT FOUND")
      contains(tap, "#   request:  GET " .. HTTPBIN .. "/status/404")
      contains(tap, "#   response: HTTP/1.1 404 NOT FOUND")
      contains(tap, "#             Authorization: Bearer ***")
      contains(tap, "#             Cookie: session=***")
      contains(tap, 'Expected header x-request-id to be "req-42", got "req-41"')
      contains(tap, "#             X-Request-Id: req-41")
      contains(tap, 'body:     (82 bytes) {"Content-Length":"82","Content-Type":"application/json","X-Request-Id":"req-41"}')
      contains(tap, "but headers.X-Trace is missing")
      contains(tap, '"Authorization":"Bearer ***","Cookie":"session=***"')
      contains(tap, "#   request:  GET http://ada:***@127.0.0.1:")
      contains(tap, '"Authorization":"Basic ***"')
      for _, secret in ipairs { TOKEN, COOKIE, PASSWORD, "YWRhOnVybC1zZWNyZXQtODhjNA==" } do
        lacks(tap, secret)
      end
      local _, xml = run_busted(interp, "-o junit failing")
      assert.are.equal(4, attr(xml, "testsuites", "tests"), xml)
      assert.are.equal(4, attr(xml, "testsuites", "failures"), xml)
      contains(xml, "Expected status 200, got 404 NOT FOUND")
      lacks(xml, TOKEN)
    end)
  end
end)
