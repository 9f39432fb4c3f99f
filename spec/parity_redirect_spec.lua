-- Redirect parity with requests (issue 17, items 4 to 8): the response
-- a TooManyRedirects error carries, every hop's own history, URL fragments
-- kept and carried along a chain, a redirect's body that fails to decode,
-- and the upper-case requoting of a Location's raw non-ASCII bytes.
--
-- httpbin's /redirect/n and /absolute-redirect/n give real chains; the
-- fault server (spec/servers/fault_routes_predir.py) sends a Location with
-- raw UTF-8 bytes and records the target each hop arrived with.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local HTTPBIN = helper.httpbin
local FAULT = helper.fault
local must = support.must

-- the fault log's entries for one path
local function received(path)
  local out = {}
  for _, e in ipairs(support.fault_log()) do
    if e.path == path then out[#out + 1] = e end
  end
  return out
end

describe("TooManyRedirects", function()
  it("carries the last 3xx in err.response, the hops before it in its history", function()
    local res, err = http.get(HTTPBIN .. "/absolute-redirect/5", { max_redirects = 2 })
    assert.is_nil(res)
    assert.equal("TooManyRedirects", err.kind)
    local last = err.response
    assert.is_table(last)
    -- the third response: two redirects were followed, the third refused
    assert.equal(302, last.status)
    assert.equal(HTTPBIN .. "/absolute-redirect/3", last.url)
    assert.equal(HTTPBIN .. "/absolute-redirect/2", last.headers.location)
    assert.equal(2, #last.history)
    assert.equal(HTTPBIN .. "/absolute-redirect/5", last.history[1].url)
    assert.equal(HTTPBIN .. "/absolute-redirect/4", last.history[2].url)
    assert.equal(302, last.history[2].status)
    -- the hops' own histories as for a followed chain
    assert.equal(0, #last.history[1].history)
    assert.equal(1, #last.history[2].history)
    assert.is_true(rawequal(last.history[1], last.history[2].history[1]))
  end)

  it("with max_redirects = 0 carries the first 3xx, the target never asked", function()
    support.fault_reset()
    local target = FAULT .. "/predir/landed"
    local sess = http.session{ max_redirects = 0 }
    local res, err = sess:get(HTTPBIN .. "/redirect-to?url=" .. target:gsub(":", "%%3A"))
    assert.is_nil(res)
    assert.equal("TooManyRedirects", err.kind)
    assert.equal(302, err.response.status)
    assert.equal(target, err.response.headers.location)
    assert.equal(0, #err.response.history)
    assert.equal(0, #received("/predir/landed"))
  end)
end)

describe("each hop's history", function()
  local function check_chain(res, n)
    assert.equal(n, #res.history)
    for i = 1, n do
      local h = res.history[i]
      assert.equal(302, h.status)
      -- hop i holds the i - 1 hops before it, the same response objects
      assert.equal(i - 1, #h.history)
      for j = 1, i - 1 do assert.is_true(rawequal(res.history[j], h.history[j])) end
    end
  end

  it("holds the hops before it (module-level function)", function()
    local res = must(http.get(HTTPBIN .. "/redirect/3"))
    assert.equal(200, res.status)
    assert.equal(HTTPBIN .. "/get", res.url)
    check_chain(res, 3)
    assert.equal(HTTPBIN .. "/redirect/3", res.history[1].url)
  end)

  it("holds the hops before it (session, absolute redirects)", function()
    local sess = http.session()
    local res = must(sess:get(HTTPBIN .. "/absolute-redirect/4"))
    assert.equal(200, res.status)
    check_chain(res, 4)
    assert.equal(HTTPBIN .. "/absolute-redirect/2", res.history[3].url)
  end)

  it("stays empty for a response that was not redirected", function()
    local res = must(http.get(HTTPBIN .. "/get"))
    assert.same({}, res.history)
  end)
end)

describe("a Location with raw non-ASCII bytes", function()
  local WANT = "/predir/landed?w=%C5%A1&k=%c3%a9"

  for _, case in ipairs({ { "relative", "" }, { "absolute", "?abs=1" } }) do
    it("is requoted in upper-case hex, as requests sends it (" .. case[1] .. ")", function()
      support.fault_reset()
      local res = must(http.get(FAULT .. "/predir/raw-location" .. case[2]))
      assert.equal(200, res.status)
      assert.equal(1, #res.history)
      assert.equal(302, res.history[1].status)
      -- the server got the UTF-8 bytes escaped upper-case, the server's own
      -- escape (%c3%a9) unchanged
      local got = received("/predir/landed")
      assert.equal(1, #got)
      assert.equal(WANT, got[1].target)
      assert.equal(WANT, res.body)
      assert.equal(FAULT .. WANT, res.url)
    end)
    -- (the absolute case passed before the fix too: libcurl leaves the raw
    -- bytes of an absolute reference alone and the next hop's URL is then
    -- requoted like any request URL; it guards that path)
  end
end)

-- the targets the fault server got, in order (none may hold a '#')
local function targets()
  local out = {}
  for _, e in ipairs(support.fault_log()) do out[#out + 1] = e.target end
  return out
end

local function esc(s)
  return (s:gsub("[^%w%-._~/]", function(c) return ("%%%02X"):format(c:byte()) end))
end

describe("a URL fragment", function()
  it("is kept in res.url and res.request.url, never sent (params go before it)", function()
    support.fault_reset()
    local res = must(http.get(FAULT .. "/predir/landed?a=1#sec?x=1", { params = { b = 2 } }))
    assert.equal(200, res.status)
    assert.equal(FAULT .. "/predir/landed?a=1&b=2#sec?x=1", res.url)
    assert.equal(FAULT .. "/predir/landed?a=1&b=2#sec?x=1", res.request.url)
    assert.equal("/predir/landed?a=1&b=2", res.body)
    assert.same({ "/predir/landed?a=1&b=2" }, targets())
  end)

  it("is not sent to a proxy either, which gets the absolute URL", function()
    support.fault_reset()
    -- the fault server as an HTTP proxy: it logs the request target as sent
    local res = must(http.get("http://predir.invalid/predir/landed?a=1#frag", { proxy = FAULT }))
    assert.equal("http://predir.invalid/predir/landed?a=1#frag", res.url)
    assert.same({ "http://predir.invalid/predir/landed?a=1" }, targets())
  end)

  it("is carried to a redirect target without one (httpbin, as requests' test)", function()
    local frag = "#view=edit&token=hunter2"
    local res = must(http.get(HTTPBIN .. "/redirect-to?url=get" .. frag))
    assert.equal(200, res.status)
    assert.equal(1, #res.history)
    assert.equal(HTTPBIN .. "/redirect-to?url=get" .. frag, res.history[1].url)
    assert.equal(HTTPBIN .. "/redirect-to?url=get" .. frag, res.history[1].request.url)
    assert.equal(HTTPBIN .. "/get" .. frag, res.url)
    assert.equal(HTTPBIN .. "/get" .. frag, res.request.url)
    -- httpbin echoes the URL it was asked for: no fragment
    assert.equal(HTTPBIN .. "/get", res:json().url)
  end)

  it("is replaced by a Location's own, which then rides the rest of the chain", function()
    support.fault_reset()
    -- /predir/goto -> /predir/goto?loc=/predir/landed#relevant -> /predir/landed
    local second = "/predir/goto?loc=" .. esc("/predir/landed")
    local first = "/predir/goto?loc=" .. esc(second .. "#relevant")
    local sess = http.session()
    local res = must(sess:get(FAULT .. first .. "#original"))
    assert.equal(200, res.status)
    assert.equal(2, #res.history)
    assert.equal(FAULT .. first .. "#original", res.history[1].request.url)
    assert.equal(FAULT .. second .. "#relevant", res.history[2].request.url)
    assert.equal(FAULT .. second .. "#relevant", res.history[2].url)
    assert.equal(FAULT .. "/predir/landed#relevant", res.url)
    assert.equal("/predir/landed", res.body)
    -- never on the wire, on any hop
    assert.same({ first, second, "/predir/landed" }, targets())
  end)

  it("alone in a Location names the same resource with that fragment", function()
    support.fault_reset()
    local path = "/predir/goto?loc=" .. esc("#k")
    local res, err = http.get(FAULT .. path .. "#a", { max_redirects = 1 })
    assert.is_nil(res)
    assert.equal("TooManyRedirects", err.kind)
    assert.equal(FAULT .. path .. "#k", err.response.url)
    assert.equal(FAULT .. path .. "#a", err.response.history[1].url)
    assert.same({ path, path }, targets())
  end)
end)

describe("a redirect whose body fails to decode", function()
  local BAD = "/predir/badcoding?loc=" .. esc("/predir/landed")

  for _, case in ipairs({
    { "gzip, Content-Length", "" }, { "gzip, chunked", "&chunked=1" },
    { "deflate", "&coding=deflate" }, { "a coding lurl does not know", "&coding=bogus" },
    { "307", "&status=307" },
  }) do
    it("is followed, its body dropped (" .. case[1] .. ")", function()
      support.fault_reset()
      local sess = http.session()
      local res = must(sess:get(FAULT .. BAD .. case[2]))
      assert.equal(200, res.status)
      assert.equal("/predir/landed", res.body)
      assert.equal(1, #res.history)
      assert.equal("", res.history[1].body)
      local log = support.fault_log()
      assert.equal(2, #log)
      -- the hop's body was read to its end: the connection served the next
      assert.equal(log[1].conn, log[2].conn)
    end)
  end

  it("is followed by a stream too", function()
    local res = must(http.stream(FAULT .. BAD .. "&chunked=1"))
    assert.equal(200, res.status)
    assert.equal("/predir/landed", res.body)
    assert.equal(302, res.history[1].status)
  end)

  it("is not an error when it is not followed either (allow_redirects = false), as requests", function()
    local res = must(http.get(FAULT .. BAD, { allow_redirects = false }))
    assert.equal(302, res.status)
    assert.equal("", res.body)
    assert.equal("/predir/landed", res.headers.location)
    -- streamed: the same empty body
    local sres = must(http.get(FAULT .. BAD, { allow_redirects = false, stream = true }))
    assert.equal(302, sres.status)
    assert.equal("", sres.body)
  end)

  it("stops a chain where it would be followed, TooManyRedirects carrying it", function()
    local res, err = http.get(FAULT .. BAD, { max_redirects = 0 })
    assert.is_nil(res)
    assert.equal("TooManyRedirects", err.kind)
    assert.equal(302, err.response.status)
  end)

  it("is a ContentDecodingError for a 3xx without a Location, as requests", function()
    local res, err = http.get(FAULT .. "/predir/badcoding")
    assert.is_nil(res)
    assert.equal("ContentDecodingError", err.kind)
    res, err = http.get(FAULT .. "/predir/badcoding?coding=bogus", { allow_redirects = false })
    assert.is_nil(res)
    assert.equal("ContentDecodingError", err.kind)
  end)

  it("is a ContentDecodingError for any other status with a Location", function()
    local res, err = http.get(FAULT .. BAD .. "&status=200")
    assert.is_nil(res)
    assert.equal("ContentDecodingError", err.kind)
  end)
end)
