-- What a script gets back: status, headers, links, body and text, JSON,
-- cookies, timings, the record of what was sent, and raise_for_status.
--
-- Responses come from servers whose answer is known exactly: httpbin sets
-- any header asked for in /response-headers, and the fault server answers
-- with fixed bytes (e.g. /charset sends "café" in the charset asked for).
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN = helper.httpbin
local FAULT = helper.fault

local must = support.must

local function echo(res, err)
  return cjson.decode(must(res, err).body)
end

local echoed_header = support.echoed_header

-- /response-headers with the given {name, value} pairs, in order
local function with_headers(pairs_)
  return must(http.get(HTTPBIN .. "/response-headers", { params = pairs_ }))
end

-- pcall(f, ...) must fail; returns the error value
local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return e
end

describe("status", function()
  it("200 is ok with reason OK", function()
    local res = must(http.get(HTTPBIN .. "/status/200"))
    assert.are.equal(200, res.status)
    assert.are.equal("OK", res.reason)
    assert.is_true(res.ok)
  end)

  it("404 is a response, not an error, and not ok", function()
    local res, err = http.get(HTTPBIN .. "/status/404")
    assert.is_nil(err)
    assert.are.equal(404, res.status)
    assert.are.equal("NOT FOUND", res.reason:upper())
    assert.is_false(res.ok)
  end)

  it("500 is a response, not an error, and not ok", function()
    local res, err = http.post(HTTPBIN .. "/status/500")
    assert.is_nil(err)
    assert.are.equal(500, res.status)
    assert.are.equal("INTERNAL SERVER ERROR", res.reason:upper())
    assert.is_false(res.ok)
  end)

  it("the reason is the phrase the server sent", function()
    local res = must(http.get(FAULT .. "/no-such-path"))
    assert.are.equal(404, res.status)
    assert.are.equal("Not Found", res.reason)
  end)

  it("3xx is ok (status < 400)", function()
    local res = must(http.get(HTTPBIN .. "/status/304"))
    assert.are.equal(304, res.status)
    assert.is_true(res.ok)
    res = must(http.get(HTTPBIN .. "/redirect/1", { allow_redirects = false }))
    assert.are.equal(302, res.status)
    assert.is_true(res.ok)
  end)

  it("HTTP/2 responses, which carry no phrase, get the standard reason", function()
    local res = must(http.get(helper.tls.h2_url .. "/json", { http_version = "2", verify = helper.tls.ca }))
    assert.are.equal("2", res.http_version)
    assert.are.equal("OK", res.reason)
    res = must(http.get(helper.tls.h2_url .. "/missing", { http_version = "2", verify = helper.tls.ca }))
    assert.are.equal(404, res.status)
    assert.are.equal("Not Found", res.reason)
  end)

  it("http_version is 1.1 for an HTTP/1.1 server", function()
    assert.are.equal("1.1", must(http.get(HTTPBIN .. "/get")).http_version)
  end)
end)

describe("headers", function()
  it("are case-insensitive", function()
    local res = must(http.get(HTTPBIN .. "/get"))
    assert.are.equal("application/json", res.headers["content-type"])
    assert.are.equal("application/json", res.headers["Content-Type"])
    assert.are.equal("application/json", res.headers["CONTENT-TYPE"])
    assert.are.equal(tostring(#res.body), res.headers["Content-Length"])
    assert.is_nil(res.headers["X-Not-There"])
  end)

  it("join a repeated field with \", \"", function()
    local res = with_headers { { "X-Multi", "a" }, { "X-Multi", "b" }, { "X-Multi", "c" } }
    assert.are.equal("a, b, c", res.headers["x-multi"])
    assert.are.equal("a, b, c", res.headers["X-Multi"])
  end)

  it("never fold Set-Cookie; header_values returns each one", function()
    local res = with_headers { { "Set-Cookie", "a=1; Path=/" }, { "Set-Cookie", "b=2, c=3; Path=/" } }
    local sc = res.headers["set-cookie"]
    assert.is_string(sc)
    assert.is_true(sc == "a=1; Path=/" or sc == "b=2, c=3; Path=/",
      "Set-Cookie was folded or mangled: " .. tostring(sc))
    assert.are.same({ "a=1; Path=/", "b=2, c=3; Path=/" }, res:header_values("set-cookie"))
    assert.are.same({ "a=1; Path=/", "b=2, c=3; Path=/" }, res:header_values("Set-Cookie"))
  end)

  it("header_values returns every value in order, and {} for an absent field", function()
    local res = with_headers { { "X-Multi", "first" }, { "X-Multi", "second" } }
    assert.are.same({ "first", "second" }, res:header_values("X-MULTI"))
    assert.are.same({}, res:header_values("X-Absent"))
  end)

  it("header_list holds every line in order as {name, value}", function()
    -- httpbin adds the fields in the order of the query, a repeated name's
    -- values together
    local res = with_headers { { "X-Zeta", "1" }, { "X-Zeta", "2" }, { "X-Alpha", "3" }, { "X-Mid", "4" } }
    local seen = {}
    for _, f in ipairs(res.header_list) do
      assert.are.equal(2, #f)
      if f[1]:lower():match("^x%-") then seen[#seen + 1] = f[1] .. "=" .. f[2] end
    end
    assert.are.same({ "X-Zeta=1", "X-Zeta=2", "X-Alpha=3", "X-Mid=4" }, seen)
    -- the standard fields are there too, in the server's order
    local names = {}
    for i, f in ipairs(res.header_list) do names[f[1]:lower()] = i end
    assert.is_true(names["server"] < names["content-type"])
    assert.is_true(names["content-type"] < names["x-zeta"])
    local first = res.header_list[1]
    assert.is_string(first[1])
    assert.is_nil(first[1]:find("HTTP/", 1, true), "the status line is not a header")
  end)

  it("header_list keeps the names as the server spelled them", function()
    local res = with_headers { { "x-lower-case", "v" } }
    local names = {}
    for _, f in ipairs(res.header_list) do names[f[1]] = f[2] end
    assert.are.equal("v", names["x-lower-case"])
    assert.are.equal("v", res.headers["X-Lower-Case"])
  end)

  it("describe only the final response of a digest exchange", function()
    local res = must(http.get(HTTPBIN .. "/digest-auth/auth/user/pass", { auth = http.digest("user", "pass") }))
    assert.are.equal(200, res.status)
    assert.is_nil(res.headers["www-authenticate"])
    assert.are.equal("application/json", res.headers["content-type"])
  end)
end)

describe("links", function()
  it("parses the Link header by rel", function()
    local res = with_headers {
      { "Link", '<http://api.test/items?page=2>; rel="next", <http://api.test/items?page=9>; rel="last"' },
    }
    assert.are.equal("http://api.test/items?page=2", res.links.next.url)
    assert.are.equal("next", res.links.next.rel)
    assert.are.equal("http://api.test/items?page=9", res.links.last.url)
  end)

  it("reads links from repeated Link fields", function()
    local res = with_headers {
      { "Link", '<http://api.test/p/1>; rel="prev"' },
      { "Link", '<http://api.test/p/3>; rel=next' },
    }
    assert.are.equal("http://api.test/p/1", res.links.prev.url)
    assert.are.equal("http://api.test/p/3", res.links.next.url)
  end)

  it("is an empty table without a Link header", function()
    local res = must(http.get(HTTPBIN .. "/links/3/0"))
    assert.are.same({}, res.links)
    assert.matches("<a href='/links/3/1'>", res.body, 1, true)
  end)
end)

describe("body, text and encoding", function()
  it("body holds the bytes as they came, binary included", function()
    local res = must(http.get(HTTPBIN .. "/bytes/2048", { params = { seed = 7 } }))
    assert.are.equal(2048, #res.body)
    assert.are.equal("2048", res.headers["content-length"])
    assert.are.equal(res.body, must(http.get(HTTPBIN .. "/bytes/2048", { params = { seed = 7 } })).body)
  end)

  it("text converts a latin-1 body to UTF-8", function()
    local res = must(http.get(FAULT .. "/charset"))
    assert.are.equal("text/plain; charset=latin-1", res.headers["content-type"])
    assert.are.equal("caf\xe9", res.body)
    assert.are.equal("latin-1", res.encoding)
    assert.are.equal("café", res.text)
  end)

  for _, cs in ipairs { "iso-8859-1", "ISO-8859-1", "windows-1252", "utf-16", "utf-8" } do
    it(("text converts a %s body to UTF-8"):format(cs), function()
      local res = must(http.get(FAULT .. "/charset", { params = { cs = cs } }))
      assert.are.equal(cs:lower(), res.encoding)
      assert.are.equal("café", res.text)
    end)
  end

  it("body stays as received when text is converted", function()
    local res = must(http.get(FAULT .. "/charset", { params = { cs = "iso-8859-1" } }))
    assert.are.equal("café", res.text)
    assert.are.equal("caf\xe9", res.body)
  end)

  it("encoding is the charset of a UTF-8 page, whose text is its body", function()
    local res = must(http.get(HTTPBIN .. "/html"))
    assert.are.equal("text/html; charset=utf-8", res.headers["content-type"])
    assert.are.equal("utf-8", res.encoding)
    assert.are.equal(res.body, res.text)
    assert.matches("Herman Melville", res.text, 1, true)
  end)

  it("encoding is nil without a charset, and text is the body", function()
    local res = must(http.get(HTTPBIN .. "/robots.txt"))
    assert.are.equal("text/plain", res.headers["content-type"])
    assert.is_nil(res.encoding)
    assert.are.equal(res.body, res.text)
  end)

  it("an empty body is an empty string", function()
    local res = must(http.get(HTTPBIN .. "/status/204"))
    assert.are.equal(204, res.status)
    assert.are.equal("", res.body)
    assert.are.equal("", res.text)
  end)
end)

describe("json()", function()
  it("decodes a JSON body", function()
    local doc = must(http.get(HTTPBIN .. "/get", { params = { a = "1", b = { "x", "y" } } })):json()
    assert.are.same({ a = "1", b = { "x", "y" } }, doc.args)
    assert.are.equal(HTTPBIN .. "/get?a=1&b=x&b=y", doc.url)
  end)

  it("gives integral numbers as Lua integers, at any depth, and keeps fractions", function()
    local sent = '{"id":42,"score":98.25,"big":1e300,"list":[1,2.5,{"n":7,"deep":[[3]]}]}'
    local doc = must(http.post(HTTPBIN .. "/anything", { body = sent,
      headers = { ["Content-Type"] = "application/json" } })):json()
    assert.are.equal(sent, doc.data) -- what the server got, echoed back
    local v = doc.json
    assert.are.equal("integer", math.type(v.id))
    assert.are.equal("/items/42", "/items/" .. v.id)
    assert.are.equal("float", math.type(v.score))
    assert.are.equal(98.25, v.score)
    assert.are.equal("float", math.type(v.big)) -- integral, but no integer holds it
    assert.are.equal("integer", math.type(v.list[1]))
    assert.are.equal("float", math.type(v.list[2]))
    assert.are.equal("integer", math.type(v.list[3].n))
    assert.are.equal("integer", math.type(v.list[3].deep[1][1]))
    local top = must(http.get(HTTPBIN .. "/base64/NDI=")) -- the body "42"
    assert.are.equal("integer", math.type(top:json()))
  end)

  it("raises JSONDecodeError with the position and an excerpt", function()
    -- /base64/ returns the decoded bytes: {"a": 1, } (bad at character 10)
    local res = must(http.get(HTTPBIN .. "/base64/eyJhIjogMSwgfQ=="))
    assert.are.equal('{"a": 1, }', res.body)
    local err = raised(res.json, res)
    assert.is_table(err)
    assert.are.equal("JSONDecodeError", err.kind)
    assert.is_true(err:is("JSONDecodeError"))
    assert.is_true(err:is("RequestException"))
    assert.are.equal(10, err.position)
    assert.matches('{\\"a\\": 1, }', err.message, 1, true)
    assert.are.equal(res, err.response)
    assert.matches("^JSONDecodeError: ", tostring(err))
    assert.matches(HTTPBIN .. "/base64/", tostring(err), 1, true)
  end)

  it("raises JSONDecodeError for an HTML page, at position 1", function()
    local res = must(http.get(HTTPBIN .. "/html"))
    local err = raised(res.json, res)
    assert.are.equal("JSONDecodeError", err.kind)
    assert.are.equal(1, err.position)
    assert.matches("<!DOCTYPE html>", err.message, 1, true)
  end)

  it("raises JSONDecodeError for an empty body", function()
    local res = must(http.get(HTTPBIN .. "/status/204"))
    local err = raised(res.json, res)
    assert.are.equal("JSONDecodeError", err.kind)
  end)
end)

describe("cookies", function()
  it("maps the names this response set to their values", function()
    local res = with_headers {
      { "Set-Cookie", "session=abc123; Path=/; HttpOnly" },
      { "Set-Cookie", "theme=dark; Max-Age=3600" },
    }
    assert.are.same({ session = "abc123", theme = "dark" }, res.cookies)
  end)

  it("come from a real Set-Cookie route", function()
    local res = must(http.get(HTTPBIN .. "/cookies/set", { params = { k = "v" }, allow_redirects = false }))
    assert.are.equal(302, res.status)
    assert.are.same({ k = "v" }, res.cookies)
  end)

  it("is empty when nothing was set", function()
    assert.are.same({}, must(http.get(HTTPBIN .. "/get")).cookies)
  end)
end)

describe("elapsed and timings", function()
  local PHASES = { "dns", "connect", "tls", "ttfb", "total", "redirect" }

  it("are non-negative numbers, total >= ttfb, redirect 0 without redirects", function()
    local res = must(http.get(HTTPBIN .. "/get"))
    assert.is_number(res.elapsed)
    assert.is_true(res.elapsed > 0)
    for _, p in ipairs(PHASES) do
      assert.is_number(res.timings[p], p)
      assert.is_true(res.timings[p] >= 0, p .. " is negative")
    end
    assert.is_true(res.timings.total >= res.timings.ttfb)
    assert.is_true(res.elapsed >= res.timings.ttfb)
    assert.are.equal(0, res.timings.redirect)
  end)

  it("measure a slow server: ttfb and elapsed cover its delay", function()
    local res = must(http.get(HTTPBIN .. "/delay/1"))
    assert.is_true(res.timings.ttfb >= 0.9, "ttfb " .. res.timings.ttfb)
    assert.is_true(res.timings.total >= res.timings.ttfb)
    assert.is_true(res.elapsed >= 0.9, "elapsed " .. res.elapsed)
    assert.is_true(res.elapsed < 5)
  end)

  it("are consistent over https", function()
    local res = must(http.get(helper.tls.url .. "/", { verify = helper.tls.ca }))
    assert.are.equal(200, res.status)
    for _, p in ipairs(PHASES) do
      assert.is_true(res.timings[p] >= 0, p .. " is negative")
    end
    assert.is_true(res.timings.total >= res.timings.ttfb)
  end)

  it("elapsed is the time the call took: no idle wait after the answer has come", function()
    local function wall_clock()
      local p = assert(io.popen("date +%s.%N"))
      local t = tonumber(p:read("l"))
      p:close()
      return t
    end
    -- 30 quick calls alternating two local servers (connections are
    -- reused); a call that goes to sleep once its answer is in loses a
    -- whole second that its elapsed does not show
    local sum = 0
    local t0 = wall_clock()
    for i = 1, 30 do
      local url = (i % 2 == 0) and HTTPBIN .. "/get" or FAULT .. "/ok"
      sum = sum + must(http.get(url)).elapsed
    end
    local wall = wall_clock() - t0
    assert.is_true(wall - sum < 1.0,
      ("30 requests took %.2f s of wall time, their elapsed add up to %.2f s"):format(wall, sum))
  end)
end)

describe("request", function()
  it("records the method, the final URL and the headers that were sent", function()
    local res = must(http.get(HTTPBIN .. "/headers", {
      params = { q = "1" },
      headers = { ["X-Trace"] = "t-1", Accept = "application/json" },
      user_agent = "spec-agent/1",
    }))
    assert.are.equal("GET", res.request.method)
    assert.are.equal(HTTPBIN .. "/headers?q=1", res.request.url)
    local h = res.request.headers
    assert.are.equal("t-1", h["X-Trace"])
    assert.are.equal("t-1", h["x-trace"])
    assert.are.equal("application/json", h["Accept"])
    assert.are.equal("spec-agent/1", h["User-Agent"])
  end)

  it("matches what the server received, header for header", function()
    local res = must(http.post(HTTPBIN .. "/post", {
      json = { a = 1 },
      headers = { ["X-One"] = "1", ["X-Two"] = "two" },
      auth = http.bearer("tkn"),
      cookies = { c = "d" },
    }))
    local e = res:json()
    local n = 0
    for name, value in pairs(res.request.headers) do
      n = n + 1
      assert.are.equal(value, echoed_header(e, name), "header " .. name)
    end
    assert.is_true(n >= 7, "only " .. n .. " headers recorded")
    assert.are.equal("application/json", res.request.headers["content-type"])
    assert.are.equal("Bearer tkn", res.request.headers["authorization"])
    assert.are.equal("c=d", res.request.headers["cookie"])
  end)

  it("res.method is the method sent: upper-cased, any token, buffered or streamed", function()
    local res = must(http.request("patch", HTTPBIN .. "/anything"))
    assert.are.equal("PATCH", res:json().method)
    assert.are.equal("PATCH", res.method)
    support.fault_reset()
    res = must(http.request("PURGE", FAULT .. "/ok"))
    assert.are.equal("PURGE", support.fault_log()[1].method)
    assert.are.equal("PURGE", res.method)
    assert.are.equal("PURGE", res.request.method)
    res = must(http.post(HTTPBIN .. "/post", { body = "x", stream = true }))
    assert.are.equal("POST", res.method)
    assert.are.equal("x", cjson.decode(res.body).data)
    local list = must(http.session {}):parallel { { "delete", HTTPBIN .. "/delete" }, HTTPBIN .. "/get" }
    assert.are.equal("DELETE", list[1].method)
    assert.are.equal("GET", list[2].method)
  end)

  it("does not list a header removed with false", function()
    local res = must(http.get(HTTPBIN .. "/headers", { headers = { ["User-Agent"] = false } }))
    assert.is_nil(res.request.headers["user-agent"])
    assert.is_nil(echoed_header(res:json(), "User-Agent"))
  end)
end)

describe("raise_for_status", function()
  it("returns the response itself when ok, so calls chain", function()
    local res = must(http.get(HTTPBIN .. "/get", { params = { a = "1" } }))
    assert.are.equal(res, res:raise_for_status())
    assert.are.equal("1", res:raise_for_status():json().args.a)
    local redirect = must(http.get(HTTPBIN .. "/redirect/1", { allow_redirects = false }))
    assert.are.equal(redirect, redirect:raise_for_status())
  end)

  it("raises HTTPError carrying the response for a 4xx", function()
    local res = must(http.get(HTTPBIN .. "/status/404"))
    local err = raised(res.raise_for_status, res)
    assert.is_table(err)
    assert.are.equal("HTTPError", err.kind)
    assert.is_true(err:is("HTTPError"))
    assert.is_true(err:is("RequestException"))
    assert.is_false(err:is("ConnectionError"))
    assert.are.equal(res, err.response)
    assert.are.equal(404, err.response.status)
    assert.are.equal("GET", err.method)
    assert.are.equal(HTTPBIN .. "/status/404", err.url)
    assert.matches("^HTTPError: 404", tostring(err))
    assert.matches(HTTPBIN .. "/status/404", tostring(err), 1, true)
  end)

  it("raises HTTPError for a 5xx", function()
    local res = must(http.delete(HTTPBIN .. "/status/503"))
    local err = raised(res.raise_for_status, res)
    assert.are.equal("HTTPError", err.kind)
    assert.are.equal(503, err.response.status)
    assert.are.equal("DELETE", err.method)
    assert.matches("503", err.message, 1, true)
  end)

  it("does not put a URL password in its message", function()
    local url = HTTPBIN:gsub("^http://", "http://user:hunter2@") .. "/status/401"
    local res = must(http.get(url))
    local err = raised(res.raise_for_status, res)
    assert.is_nil(tostring(err):find("hunter2", 1, true), tostring(err))
    assert.is_nil(err.message:find("hunter2", 1, true), err.message)
  end)
end)

describe("attempts", function()
  it("is 1 for a request that was not retried", function()
    assert.are.equal(1, must(http.get(HTTPBIN .. "/get")).attempts)
    assert.are.equal(1, must(http.get(HTTPBIN .. "/status/500")).attempts)
  end)
end)
