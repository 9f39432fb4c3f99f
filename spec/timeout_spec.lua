-- Timeouts: `timeout = n` (connect and read), {connect=, read=, total=},
-- false.  `read` is the longest silence between two bytes, measured by
-- lurl; `total` is one deadline over the whole exchange (redirects
-- included); a connect timeout is both a ConnectionError and a Timeout.

local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"
local system = require "system"

local function fault(path) return helper.fault .. path end
local function reset_log() assert(http.get(fault("/reset-log"))) end
local function received()
  local res = assert(http.get(fault("/requests")))
  return cjson.decode(res.body)
end

-- runs f, returns its results and the seconds it took
local function timed(f, ...)
  local t0 = system.monotime()
  local res, err = f(...)
  return res, err, system.monotime() - t0
end

local function assert_between(lo, hi, v, what)
  assert(v >= lo and v <= hi, ("%s took %.3f s, expected %.2f..%.2f s"):format(what, v, lo, hi))
end

-- A listening socket whose accept queue is full: Linux drops further SYNs,
-- so a connection attempt there hangs until the connect timeout.  This is
-- a black hole on 127.0.0.1 without any routing tricks.  Returns port and
-- a close function, or nil when the kernel did not cooperate (the probe
-- connection went through).
local function black_hole() return support.black_hole(60000) end

describe("a read timeout", function()
  before_each(reset_log)

  -- path, timeout option, what the server does
  local cases = {
    { "/stall?after=5&secs=3", { read = 0.5 }, "sends headers and 5 body bytes, then nothing" },
    { "/stall?after=0&secs=3", { read = 0.5 }, "sends headers only, then nothing" },
    { "/slowheaders?secs=3", { read = 0.5 }, "sends nothing at all for 3 s" },
    { "/slowheaders?secs=3", 0.5, "sends nothing (timeout = n is also the read timeout)" },
  }
  for _, c in ipairs(cases) do
    local path, timeout, what = c[1], c[2], c[3]
    it(("is a ReadTimeout after 0.5 s when the server %s"):format(what), function()
      local res, err, took = timed(http.get, fault(path), { timeout = timeout })
      assert.is_nil(res)
      assert.equal("ReadTimeout", err.kind, tostring(err))
      assert.is_true(err:is("Timeout"))
      assert.is_true(err:is(http.errors.ReadTimeout))
      assert.is_false(err:is("ConnectionError"))
      assert.is_false(err:is("ConnectTimeout"))
      assert.is_true(err.retryable)
      assert.equal("read timed out after 0.5 s", err.message)
      assert.equal(fault(path), err.url)
      assert_between(0.45, 1.5, took, "the request")
      -- the request reached the server once: it is the answer that stalled
      local got = received()
      assert.equal(1, #got)
      assert.equal(path, got[1].target)
    end)
  end

  it("is not triggered while bytes keep coming (a byte every 0.2 s for 2 s, read = 0.5)",
    function()
      local res, err, took = timed(http.get, fault("/slowbody?bytes=11&every=0.2"),
        { timeout = { read = 0.5 } })
      assert.is_nil(err, tostring(err))
      assert.equal(200, res.status)
      assert.equal("01234567890", res.body)
      assert_between(1.9, 4, took, "the slow body")
    end)

  it("lets through an answer whose first byte comes within the limit (0.3 s, read = 1)",
    function()
      local res, err = http.get(fault("/slowheaders?secs=0.3"), { timeout = { read = 1 } })
      assert.is_nil(err, tostring(err))
      assert.equal("ok", res.body)
    end)
end)

describe("a total timeout", function()
  before_each(reset_log)

  it("ends a slow body that never pauses for long: Timeout, not ReadTimeout", function()
    local res, err, took = timed(http.get, fault("/slowbody?bytes=11&every=0.2"),
      { timeout = { read = 0.5, total = 0.8 } })
    assert.is_nil(res)
    assert.equal("Timeout", err.kind, tostring(err))
    assert.is_true(err:is("Timeout"))
    assert.is_false(err:is("ReadTimeout"))
    assert.is_false(err:is("ConnectionError"))
    assert.truthy(err.message:find("total", 1, true), err.message)
    assert.truthy(err.message:find("0.8", 1, true), err.message)
    assert_between(0.75, 1.5, took, "the request")
  end)

  it("applies on its own (read left at its default)", function()
    local res, err, took = timed(http.get, fault("/slowheaders?secs=3"),
      { timeout = { total = 0.6 } })
    assert.is_nil(res)
    assert.equal("Timeout", err.kind, tostring(err))
    assert.equal("total timeout of 0.6 s exceeded", err.message)
    assert_between(0.55, 1.5, took, "the request")
  end)

  it("spans redirects: the deadline follows the request to its new location", function()
    local target = fault("/slowheaders?secs=3")
    local url = helper.httpbin .. "/redirect-to?url=" .. target:gsub("[^%w]", function(ch)
      return ("%%%02X"):format(ch:byte())
    end)
    local res, err, took = timed(http.get, url, { timeout = { total = 0.8, read = 5 } })
    assert.is_nil(res)
    assert.equal("Timeout", err.kind, tostring(err))
    assert_between(0.75, 1.6, took, "the redirected request")
    -- the redirect was followed: the slow location was asked for
    local got = received()
    assert.equal(1, #got)
    assert.equal("/slowheaders?secs=3", got[1].target)
  end)

  it("leaves a fast exchange alone", function()
    local res = assert(http.get(fault("/ok"), { timeout = { total = 5 } }))
    assert.equal("ok", res.body)
  end)
end)

describe("timeout = false", function()
  before_each(reset_log)

  it("waits for a slow answer", function()
    local res, err, took = timed(http.get, fault("/slowheaders?secs=1.2"), { timeout = false })
    assert.is_nil(err, tostring(err))
    assert.equal("ok", res.body)
    assert_between(1.1, 3, took, "the request")
  end)

  it("in a table ({read = false}) disables only that limit", function()
    local res, err = http.get(fault("/slowheaders?secs=1"), { timeout = { read = false } })
    assert.is_nil(err, tostring(err))
    assert.equal("ok", res.body)
    local res2, err2 = http.get(fault("/slowheaders?secs=2"),
      { timeout = { read = false, total = 0.5 } })
    assert.is_nil(res2)
    assert.equal("Timeout", err2.kind)
  end)
end)

describe("a connect timeout", function()
  local port, close

  setup(function() port, close = black_hole() end)
  teardown(function() if close then close() end end)

  -- timeout option, message
  local cases = {
    { { connect = 0.4 }, "connect timed out after 0.4 s" },
    { 0.4, "connect timed out after 0.4 s" },
    { { connect = 0.4, read = 5, total = 5 }, "connect timed out after 0.4 s" },
  }
  for _, c in ipairs(cases) do
    local timeout, message = c[1], c[2]
    it(("is a ConnectTimeout, both a ConnectionError and a Timeout (timeout = %s)")
      :format(type(timeout) == "table" and cjson.encode(timeout) or tostring(timeout)), function()
      if not port then
        pending("the kernel would not black-hole a local port: no real connect timeout here")
        return
      end
      local url = "http://127.0.0.1:" .. port .. "/"
      local res, err, took = timed(http.get, url, { timeout = timeout })
      assert.is_nil(res)
      assert.equal("ConnectTimeout", err.kind, tostring(err))
      assert.is_true(err:is("ConnectTimeout"))
      assert.is_true(err:is("ConnectionError"))
      assert.is_true(err:is("Timeout"))
      assert.is_true(err:is("RequestException"))
      assert.is_false(err:is("ReadTimeout"))
      assert.is_true(err.retryable)
      assert.equal(28, err.curl_code)                -- CURLE_OPERATION_TIMEDOUT
      assert.equal(message, err.message)
      assert.equal(url, err.url)
      assert_between(0.35, 1.2, took, "the connection attempt")
    end)
  end
end)

describe("a timeout of the wrong type", function()
  -- programming errors raise at once and send nothing
  local bad = {
    { -1, "positive" },
    { 0, "positive" },
    { "10", "timeout" },
    { { read = "x" }, "timeout.read" },
    { { connect = -2 }, "timeout.connect" },
    { true, "timeout" },
  }
  for _, c in ipairs(bad) do
    local value, fragment = c[1], c[2]
    it(("raises for timeout = %s"):format(type(value) == "table" and cjson.encode(value)
      or ("%q"):format(value)), function()
      reset_log()
      local ok, msg = pcall(http.get, fault("/ok"), { timeout = value })
      assert.is_false(ok)
      assert.is_string(msg)
      assert.truthy(msg:find(fragment, 1, true), msg)
      assert.truthy(msg:find("timeout_spec.lua", 1, true), "error should point at the caller: " .. msg)
      assert.same({}, received())
    end)
  end
end)
