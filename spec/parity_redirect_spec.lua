-- Redirect parity with requests (issue 17, items 4 and 5): the response a
-- TooManyRedirects error carries and every hop's own history.
--
-- httpbin's /redirect/n and /absolute-redirect/n give real chains; the
-- fault server's log shows a target that was never asked.
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
