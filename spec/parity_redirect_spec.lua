-- Redirect parity with requests (issue 17, items 4, 5 and 8): the response
-- a TooManyRedirects error carries, every hop's own history, and the
-- upper-case requoting of a Location's raw non-ASCII bytes.
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
