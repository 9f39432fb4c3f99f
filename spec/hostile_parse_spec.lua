-- Parsers of what a server sends do linear work, whatever the server pads
-- its headers with (issue 15, item 4).  A Set-Cookie value with 90,000
-- spaces inside took 25 s for res.cookies (a "%s+$" trim backtracking over
-- the run) and over two minutes in a session recording a HAR.
--
-- Each shape comes from the fault server (spec/servers/fault_routes_luaside.py,
-- /luaside/padded) in two sizes, n and 2n spaces, and goes through every
-- Lua consumer of headers: res.cookies, res.encoding, res.links, the retry
-- delay (Retry-After), a trace snapshot and its text, a HAR entry and its
-- document, and http.assert's explanation.  Two measures:
--   * a count hook (debug.sethook, every 100 VM instructions): Lua-level
--     work must grow at most linearly (2n costs well under 4x n);
--   * the CPU time, with a generous bound: Lua patterns run inside one C
--     call, invisible to a count hook, so a backtracking pattern shows as
--     seconds of CPU (n^2/2 steps) where a linear pass takes milliseconds.
local helper = require "spec.helper"
local http = require "http"
local trace = require "lurl.trace"
local har = require "lurl.har"
local retry = require "lurl.retry"
local hassert = require "http.assert"

local FAULT = helper.fault
local N = 45000 -- 2n = 90,000: libcurl takes header lines up to 100 KiB

local SHAPES = { "cookie-mid", "cookie-name", "cookie-noeq", "cookie-attrs", "cookie-expires",
  "ctype", "link", "retry", "auth", "location" }

local function fetch(what, n)
  local res = assert(http.get(("%s/luaside/padded?what=%s&n=%d"):format(FAULT, what, n),
    { allow_redirects = false }))
  assert.are.equal(200, res.status)
  return res
end

-- Everything lurl's Lua does with a response's headers.
local function consume(res)
  local _ = res.cookies, res.encoding, res.links, res.text
  local policy = retry.policy({ attempts = 2, statuses = { 200 }, max_backoff = 1 }, "get", 2)
  retry.delay(policy, "GET", 1, res, nil, 10)
  local ev = { type = "response", response = res, hop = 1, attempt = 1 }
  trace.format(trace.snapshot(ev))
  local rec = har.new(helper.tmpdir .. "/hostile.har")
  rec:observe(ev)
  har.encode(rec:document())
  rec.closed = true -- nothing to write
  hassert.explain(res)
end

-- Lua VM instructions (by a count hook) and CPU seconds of fn().
local function cost(fn)
  local count = 0
  debug.sethook(function() count = count + 1 end, "", 100)
  local c0 = os.clock()
  local ok, err = pcall(fn)
  local dt = os.clock() - c0
  debug.sethook()
  assert(ok, err)
  return count * 100, dt
end

describe("parsing hostile headers", function()
  for _, what in ipairs(SHAPES) do
    it("is linear for a " .. what .. " header padded with 45,000 and 90,000 spaces", function()
      local r1, r2 = fetch(what, N), fetch(what, 2 * N)
      local i1, t1 = cost(function() consume(r1) end)
      local i2, t2 = cost(function() consume(r2) end)
      -- LURL_SPEC_VERBOSE=1 prints the figures the report quotes
      if os.getenv("LURL_SPEC_VERBOSE") then
        io.stderr:write(("\n%-15s n: %8d instr %.4f s   2n: %8d instr %.4f s"):format(what, i1, t1,
          i2, t2))
      end
      assert.is_true(i2 < 2.5 * i1 + 2000, ("instructions n=%d, 2n=%d"):format(i1, i2))
      -- quadratic here is seconds (n^2/2 = 4e9 steps at 2n); linear is ms
      assert.is_true(t2 < 0.5, ("%s took %.3f s of CPU at 90,000 spaces"):format(what, t2))
      assert.is_true(t2 < 4 * t1 + 0.1, ("CPU n=%.4f s, 2n=%.4f s"):format(t1, t2))
    end)
  end

  it("still parses the padded values right", function()
    local res = fetch("cookie-mid", 10)
    assert.are.equal("x" .. (" "):rep(10) .. "y", res.cookies.a)
    res = fetch("cookie-name", 10)
    assert.are.equal("1", res.cookies.b)
    res = fetch("cookie-noeq", 10)
    assert.are.same({}, res.cookies)
    res = fetch("ctype", 10)
    assert.are.equal("utf-8", res.encoding)
    res = fetch("link", 10)
    assert.are.equal("http://h/3", res.links.last.url)
    local rec = har.new(helper.tmpdir .. "/hostile2.har")
    rec:observe({ type = "response", response = fetch("cookie-attrs", 3), hop = 1, attempt = 1 })
    local c = rec:document().log.entries[1].response.cookies[1]
    rec.closed = true
    assert.are.same({ name = "e", value = "***", path = "/x", domain = "h" }, c)
    rec = har.new(helper.tmpdir .. "/hostile3.har")
    rec:observe({ type = "response", response = fetch("cookie-expires", 3), hop = 1, attempt = 1 })
    c = rec:document().log.entries[1].response.cookies[1]
    rec.closed = true
    assert.are.equal("2037-10-21T07:28:00.000Z", c.expires)
  end)

  it("records a padded Set-Cookie in a session's HAR and trace end to end", function()
    local path = helper.tmpdir .. "/hostile_session.har"
    local lines = {}
    local c0 = os.clock()
    do
      local s <close> = http.session { har = path, trace = function(ev) lines[#lines + 1] = ev end }
      for _, what in ipairs { "cookie-mid", "cookie-name", "cookie-noeq", "cookie-attrs" } do
        local res = assert(s:get(("%s/luaside/padded?what=%s&n=90000"):format(FAULT, what)))
        assert.are.equal(200, res.status)
      end
    end
    local dt = os.clock() - c0
    assert.is_true(dt < 2, ("a session with 4 padded cookies took %.2f s of CPU"):format(dt))
    assert.are.equal(4, #lines)
    local f = assert(io.open(path, "rb"))
    local text = f:read("a")
    f:close()
    assert.truthy(text:find('"name": "a"', 1, true))
  end)

  it("keeps a session's jar quick with padded cookies in it", function()
    local s <close> = http.session {}
    local c0 = os.clock()
    for _, n in ipairs { 1000, 3000, 90000 } do
      assert(s:get(("%s/luaside/padded?what=cookie-mid&n=%d"):format(FAULT, n)))
      assert(s:get(("%s/luaside/padded?what=cookie-attrs&n=%d"):format(FAULT, n)))
    end
    local list = s.cookies:list()
    s.cookies:save(helper.tmpdir .. "/hostile_jar.txt")
    local dt = os.clock() - c0
    -- libcurl keeps cookies up to 4 KiB: the 3000-space ones are in it
    local a = s.cookies:get("a")
    assert.are.equal("x" .. (" "):rep(3000) .. "y", a)
    assert.is_true(#list >= 1)
    assert.is_true(dt < 2, ("the jar took %.2f s of CPU"):format(dt))
  end)

  it("follows a padded Location in bounded time", function()
    local c0 = os.clock()
    local res, err = http.get(("%s/luaside/padded?what=location&status=302&n=90000"):format(FAULT))
    local dt = os.clock() - c0
    -- the fault server refuses a request line that long (400) or lurl
    -- refuses the URL: either way an answer, fast
    assert.truthy(res or err)
    assert.is_true(dt < 2, ("the redirect took %.2f s of CPU"):format(dt))
  end)
end)
