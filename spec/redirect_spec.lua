-- Redirects: the chain in res.history, requests' rules for the method and
-- body of each hop, the redirect limit, credentials that must not follow
-- the request to another host, and the time spent on the way.
--
-- httpbin's /redirect-to?url=&status_code= sends any redirect; pointing it
-- at the fault server lets a test read the raw request of the last hop
-- (method, headers, body) exactly as it arrived.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN = helper.httpbin
local FAULT = helper.fault
local PORT = assert(HTTPBIN:match(":(%d+)$"))
-- the same httpbin under another host name: a different host to lurl
local OTHER_HOST = "http://localhost:" .. PORT

local must = support.must

local echoed_header = support.echoed_header

local fault_reset = support.fault_reset

local fault_log = support.fault_log

local function raw_headers(entry, name)
  local out = {}
  for _, h in ipairs(entry.headers) do
    if h[1]:lower() == name:lower() then out[#out + 1] = h[2] end
  end
  return out
end

-- URL of httpbin's /redirect-to sending `status` to `target`
local function redirect_to(target, status)
  local url = HTTPBIN .. "/redirect-to?url=" .. target:gsub("[^%w%-%._~/:]", function(c)
    return ("%%%02X"):format(c:byte())
  end)
  if status then url = url .. "&status_code=" .. status end
  return url
end

describe("following redirects", function()
  it("follows a chain, keeping each hop in history", function()
    local res = must(http.get(HTTPBIN .. "/redirect/3"))
    assert.are.equal(200, res.status)
    assert.are.equal(HTTPBIN .. "/get", res.url)
    assert.are.equal(HTTPBIN .. "/get", res:json().url)   -- where the server was reached
    assert.are.equal(3, #res.history)
    local urls = {}
    for i, hop in ipairs(res.history) do
      assert.are.equal(302, hop.status, "hop " .. i)
      assert.is_string(hop.headers["Location"], "hop " .. i)
      assert.are.equal(hop.headers["location"], hop.headers["LOCATION"])
      urls[i] = hop.url
    end
    assert.are.same({
      HTTPBIN .. "/redirect/3",
      HTTPBIN .. "/relative-redirect/2",
      HTTPBIN .. "/relative-redirect/1",
    }, urls)
    assert.are.equal("/relative-redirect/2", res.history[1].headers.location)
    assert.are.equal("/get", res.history[3].headers.location)
  end)

  it("follows absolute Location URLs", function()
    local res = must(http.get(HTTPBIN .. "/absolute-redirect/2"))
    assert.are.equal(200, res.status)
    assert.are.equal(HTTPBIN .. "/get", res.url)
    assert.are.equal(2, #res.history)
    assert.are.equal(HTTPBIN .. "/absolute-redirect/1", res.history[1].headers.location)
    assert.are.equal(HTTPBIN .. "/absolute-redirect/1", res.history[2].url)
  end)

  it("resolves relative Location paths against the current URL", function()
    local res = must(http.get(redirect_to("anything/x?y=1")))
    assert.are.equal(200, res.status)
    assert.are.equal(HTTPBIN .. "/anything/x?y=1", res.url)
    assert.are.equal(HTTPBIN .. "/anything/x?y=1", res:json().url)
  end)

  it("has an empty history when there was no redirect", function()
    local res = must(http.get(HTTPBIN .. "/get"))
    assert.are.same({}, res.history)
  end)

  it("records what each hop sent", function()
    local res = must(http.get(HTTPBIN .. "/redirect/2", { headers = { ["X-Trace"] = "abc" } }))
    assert.are.equal("GET", res.history[1].request.method)
    assert.are.equal(HTTPBIN .. "/redirect/2", res.history[1].request.url)
    assert.are.equal("abc", res.history[1].request.headers["x-trace"])
    assert.are.equal(HTTPBIN .. "/get", res.request.url)
    assert.are.equal("abc", echoed_header(res:json(), "X-Trace"))
  end)

  it("keeps custom headers on every hop", function()
    local res = must(http.get(redirect_to("/headers", 307), { headers = { ["X-Keep"] = "1" } }))
    assert.are.equal("1", echoed_header(res:json(), "X-Keep"))
  end)

  it("sends the cookies option again on a redirect to the same host", function()
    local res = must(http.get(redirect_to("/cookies"), { cookies = { a = "1" } }))
    assert.are.same({ a = "1" }, res:json().cookies)
  end)

  it("sends cookies set by a hop to the following hops (as requests does)", function()
    local res = must(http.get(HTTPBIN .. "/cookies/set", { params = { k = "v" } }))
    assert.are.equal(HTTPBIN .. "/cookies", res.url)
    assert.are.same({ k = "v" }, res.history[1].cookies)
    assert.are.same({ k = "v" }, res:json().cookies)
  end)
end)

describe("method and body on a redirect", function()
  for _, status in ipairs { 301, 302 } do
    it(("%d after POST becomes a GET without a body"):format(status), function()
      fault_reset()
      local res = must(http.post(redirect_to(FAULT .. "/ok", status), { data = { a = "1" } }))
      assert.are.equal(200, res.status)
      assert.are.equal("GET", res.request.method)
      assert.are.equal("POST", res.history[1].request.method)
      local log = fault_log()
      assert.are.equal(1, #log)
      local got = log[1]
      assert.are.equal("GET", got.method)
      assert.are.equal(0, got.body_size)
      assert.are.same({}, raw_headers(got, "Content-Length"))
      assert.are.same({}, raw_headers(got, "Content-Type"))
    end)
  end

  it("302 after POST drops a Content-Type the script set along with the body", function()
    fault_reset()
    must(http.post(redirect_to(FAULT .. "/ok", 302), {
      body = "<x/>", headers = { ["Content-Type"] = "application/xml" },
    }))
    local got = fault_log()[1]
    assert.are.equal("GET", got.method)
    assert.are.equal(0, got.body_size)
    assert.are.same({}, raw_headers(got, "Content-Type"))
  end)

  it("302 after POST reaches httpbin as a GET with no form and no data", function()
    local res = must(http.post(redirect_to("/anything", 302), { data = { a = "1" } }))
    local e = res:json()
    assert.are.equal("GET", e.method)
    assert.are.same({}, e.form)
    assert.are.equal("", e.data)
  end)

  it("301 and 302 keep GET a GET", function()
    for _, status in ipairs { 301, 302 } do
      local res = must(http.get(redirect_to("/anything", status)))
      assert.are.equal("GET", res:json().method)
    end
  end)

  for _, m in ipairs { "post", "put", "delete" } do
    it(("303 after %s becomes a GET without a body"):format(m:upper()), function()
      fault_reset()
      local res = must(http[m](redirect_to(FAULT .. "/ok", 303), { json = { a = 1 } }))
      assert.are.equal(200, res.status)
      assert.are.equal(m:upper(), res.history[1].request.method)
      -- res.method is the last hop's, each response of the history its own
      assert.are.equal("GET", res.method)
      assert.are.equal(m:upper(), res.history[1].method)
      local got = fault_log()[1]
      assert.are.equal("GET", got.method)
      assert.are.equal(0, got.body_size)
      assert.are.same({}, raw_headers(got, "Content-Type"))
    end)
  end

  it("303 keeps a HEAD a HEAD", function()
    fault_reset()
    local res = must(http.head(redirect_to(FAULT .. "/ok", 303)))
    assert.are.equal(200, res.status)
    assert.are.equal("HEAD", res.method)
    assert.are.equal("HEAD", fault_log()[1].method)
  end)

  for _, status in ipairs { 307, 308 } do
    it(("%d keeps a POST and its body"):format(status), function()
      local res = must(http.post(redirect_to("/anything", status), { json = { a = 1, list = { "x" } } }))
      assert.are.equal(200, res.status)
      local e = res:json()
      assert.are.equal("POST", e.method)
      assert.are.same({ a = 1, list = { "x" } }, e.json)
      assert.are.equal("application/json", echoed_header(e, "Content-Type"))
      assert.are.equal(status, res.history[1].status)
    end)

    it(("%d keeps a PUT and its exact body"):format(status), function()
      fault_reset()
      local payload = "raw\0body é"
      local res = must(http.put(redirect_to(FAULT .. "/ok", status), { body = payload }))
      assert.are.equal("PUT", res.request.method)
      local got = fault_log()[1]
      assert.are.equal("PUT", got.method)
      assert.are.equal(#payload, got.body_size)
      assert.are.equal(payload, got.body)
    end)
  end

  it("307 keeps a form body through to httpbin", function()
    local e = must(http.post(redirect_to("/post", 307), { data = { name = "lurl" } })):json()
    assert.are.same({ name = "lurl" }, e.form)
  end)
end)

describe("allow_redirects = false", function()
  it("returns the 3xx itself and does not follow it", function()
    fault_reset()
    local res = must(http.get(redirect_to(FAULT .. "/ok", 302), { allow_redirects = false }))
    assert.are.equal(302, res.status)
    assert.are.equal(FAULT .. "/ok", res.headers.location)
    assert.are.same({}, res.history)
    assert.are.equal(redirect_to(FAULT .. "/ok", 302), res.url)
    assert.are.same({}, fault_log())
  end)

  it("returns a 307 POST's answer without resending", function()
    fault_reset()
    local res = must(http.post(redirect_to(FAULT .. "/ok", 307), { body = "x", allow_redirects = false }))
    assert.are.equal(307, res.status)
    assert.are.same({}, fault_log())
  end)
end)

describe("max_redirects", function()
  it("allows exactly max_redirects hops", function()
    local res = must(http.get(HTTPBIN .. "/redirect/3", { max_redirects = 3 }))
    assert.are.equal(200, res.status)
    assert.are.equal(3, #res.history)
  end)

  it("fails with TooManyRedirects beyond it", function()
    local res, err = http.get(HTTPBIN .. "/redirect/3", { max_redirects = 2 })
    assert.is_nil(res)
    assert.are.equal("TooManyRedirects", err.kind)
    assert.is_true(err:is("TooManyRedirects"))
    assert.is_true(err:is("RequestException"))
    assert.is_false(err:is("ConnectionError"))
    assert.are.equal("GET", err.method)
    assert.matches("2", err.message, 1, true)
    assert.matches("^TooManyRedirects: ", tostring(err))
  end)

  it("max_redirects = 0 refuses the first redirect", function()
    local res, err = http.get(HTTPBIN .. "/redirect/1", { max_redirects = 0 })
    assert.is_nil(res)
    assert.are.equal("TooManyRedirects", err.kind)
  end)

  it("defaults to 30", function()
    local res = must(http.get(HTTPBIN .. "/redirect/30"))
    assert.are.equal(30, #res.history)
    local _, err = http.get(HTTPBIN .. "/redirect/31")
    assert.are.equal("TooManyRedirects", err and err.kind)
  end)

end)

describe("Authorization on a redirect", function()
  it("is kept when the host stays the same", function()
    local res = must(http.get(redirect_to("/headers"), { auth = { "user", "pass" } }))
    assert.are.equal("Basic dXNlcjpwYXNz", echoed_header(res:json(), "Authorization"))
  end)

  it("is dropped when the host changes", function()
    local res = must(http.get(redirect_to(OTHER_HOST .. "/headers"), { auth = { "user", "pass" } }))
    assert.are.equal(200, res.status)
    assert.are.equal(OTHER_HOST .. "/headers", res.url)
    local e = res:json()
    assert.are.equal("localhost:" .. PORT, echoed_header(e, "Host"))
    assert.is_nil(echoed_header(e, "Authorization"))
    assert.is_nil(res.request.headers["authorization"])
    -- the first hop did carry it
    assert.are.equal("Basic dXNlcjpwYXNz", res.history[1].request.headers["Authorization"])
  end)

  it("is dropped when the host changes, also when set as a header or bearer token", function()
    local res = must(http.get(redirect_to(OTHER_HOST .. "/headers"), {
      headers = { Authorization = "Token abc" },
    }))
    assert.is_nil(echoed_header(res:json(), "Authorization"))
    res = must(http.get(redirect_to(OTHER_HOST .. "/headers"), { auth = http.bearer("t0k") }))
    assert.is_nil(echoed_header(res:json(), "Authorization"))
  end)

  it("stays dropped for the rest of the chain, even back on the first host", function()
    local back = redirect_to(HTTPBIN .. "/headers")           -- on OTHER_HOST, back to httpbin
    back = back:gsub("^" .. HTTPBIN:gsub("%p", "%%%0"), OTHER_HOST)
    local res = must(http.get(redirect_to(back), { auth = { "user", "pass" } }))
    assert.are.equal(HTTPBIN .. "/headers", res.url)
    assert.is_nil(echoed_header(res:json(), "Authorization"))
  end)

  it("is dropped when the port changes (same host name)", function()
    fault_reset()
    must(http.get(redirect_to(FAULT .. "/ok"), { auth = { "user", "pass" } }))
    local got = fault_log()[1]
    assert.are.same({}, raw_headers(got, "Authorization"))
  end)

  it("other headers still follow to the other host", function()
    local res = must(http.get(redirect_to(OTHER_HOST .. "/headers"), {
      auth = { "user", "pass" }, headers = { ["X-Keep"] = "yes" },
    }))
    local e = res:json()
    assert.are.equal("yes", echoed_header(e, "X-Keep"))
    assert.is_nil(echoed_header(e, "Authorization"))
  end)
end)

describe("params on a redirect", function()
  it("are sent once, not appended again to the redirected URL", function()
    local res = must(http.get(HTTPBIN .. "/redirect-to", {
      params = { url = "/anything?p=1", extra = "z" },
    }))
    assert.are.equal(HTTPBIN .. "/anything?p=1", res.url)
    assert.are.same({ p = "1" }, res:json().args)
  end)

  it("are not added to a redirect chain's later hops", function()
    local res = must(http.get(HTTPBIN .. "/redirect/2", { params = { a = "1" } }))
    assert.are.equal(HTTPBIN .. "/redirect/2?a=1", res.history[1].url)
    assert.are.equal(HTTPBIN .. "/get", res.url)
    assert.are.same({}, res:json().args)
  end)
end)

describe("redirect targets", function()
  for _, target in ipairs { "ftp://127.0.0.1/file", "file:///etc/passwd", "gopher://127.0.0.1/" } do
    it(("refuses to follow %s: only http and https are spoken"):format(target:match("^%a+")), function()
      local res, err = http.get(redirect_to(target))
      assert.is_nil(res)
      assert.are.equal("InvalidURL", err.kind)
      assert.is_true(err:is("RequestException"))
    end)
  end
end)

describe("timings over redirects", function()
  it("timings.redirect holds the time of the earlier hops", function()
    local res = must(http.get(HTTPBIN .. "/redirect/3"))
    local t = res.timings
    assert.is_true(t.redirect > 0, "redirect " .. t.redirect)
    local hops = 0
    for _, h in ipairs(res.history) do hops = hops + h.elapsed end
    assert.is_true(math.abs(t.redirect - hops) < 0.05,
      ("redirect %.6f, hops %.6f"):format(t.redirect, hops))
    assert.is_true(t.total >= t.redirect)
    assert.is_true(res.elapsed >= t.redirect)
  end)

  it("elapsed covers a slow hop", function()
    local res = must(http.get(redirect_to("/delay/1")))
    assert.are.equal(200, res.status)
    assert.is_true(res.elapsed >= 0.9)
    assert.is_true(res.timings.redirect < res.elapsed)
  end)
end)
