-- Retries (SPEC, Retries): which failures are retried and how often, the
-- waits between attempts (exponential backoff, Retry-After in seconds or as
-- an HTTP date, capped by max_backoff and by the total timeout), which
-- methods, res.attempts / err.attempts and the on_retry callback.
--
-- The login app (helper.app) counts attempts per key, so tests never
-- interfere: /retry/flaky/<key> fails `fails` times, /retry/after/<key> and
-- /retry/after-date/<key> answer 429 with Retry-After once.  Its recorder
-- stamps each request with the time it arrived; waits are checked against
-- those stamps with loose lower bounds only (a loaded machine is slow, never
-- early).  Connection failures are counted by the fault server, which logs
-- every request it reads before resetting the connection.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"
local system = require "system"

local APP = assert(helper.app, "spec/helper.lua does not serve the login app (helper.app)")
local FAULT = helper.fault
local DEAD = "http://127.0.0.1:" .. helper.dead_port .. "/"

local must = support.must

local denull = support.denull

local counter = 0
local function key_for(name)
  counter = counter + 1
  return ("rt-%s-%d-%d-%d"):format(name:gsub("[^%w]", "-"), os.time(), math.random(1e6), counter)
end

-- what the app recorded for a key, in arrival order
local function attempts_seen(key)
  local res = must(http.get(APP .. "/login-log", { params = { key = key } }))
  return denull(cjson.decode(res.body)).requests
end

local function statuses(log)
  local out = {}
  for i, e in ipairs(log) do out[i] = e.status end
  return out
end

-- seconds between the app's stamps of attempts i and i+1
local function gap(log, i)
  return log[i + 1].t - log[i].t
end

local function fault_count(tag)
  local n = 0
  for _, r in ipairs(cjson.decode(must(http.get(FAULT .. "/requests")).body)) do
    if r.target:find(tag, 1, true) then n = n + 1 end
  end
  return n
end

-- on_retry that records its arguments
local function recorder()
  local calls = {}
  return calls, function(what, attempt, delay)
    calls[#calls + 1] = { what = what, attempt = attempt, delay = delay }
  end
end

-- wall-clock seconds, for loose upper bounds ("did not wait 30 s")
local now = system.monotime

---------------------------------------------------------------------------

describe("retry on statuses", function()
  it("retries a 503 until it succeeds: attempts seen, res.attempts, on_retry", function()
    local key = key_for("flaky")
    local calls, on_retry = recorder()
    local res = must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=2",
      { retry = { attempts = 3, backoff = 0.1, on_retry = on_retry } }))
    assert.equal(200, res.status)
    assert.equal(3, res.attempts)
    assert.equal(3, res:json().attempt)
    local log = attempts_seen(key)
    assert.same({ 503, 503, 200 }, statuses(log))
    -- on_retry(res_or_err, attempt, delay) before each retry
    assert.equal(2, #calls)
    for i, c in ipairs(calls) do
      assert.equal(i, c.attempt)
      assert.equal(503, c.what.status)
      assert.equal(i, c.what:json().attempt)
      -- backoff * 2^(n-1) plus up to 25 % jitter
      local base = 0.1 * 2 ^ (i - 1)
      assert.truthy(c.delay >= base and c.delay <= base * 1.25 + 1e-9, tostring(c.delay))
      assert.truthy(gap(log, i) >= c.delay - 0.02, ("attempt %d came %.3f s after the previous, before the %.3f s wait"):format(i + 1, gap(log, i), c.delay))
    end
  end)

  it("stops after `attempts` tries, the first included, and returns the last response", function()
    local key = key_for("exhausted")
    local res = must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=10",
      { retry = { attempts = 4, backoff = 0.01 } }))
    assert.equal(503, res.status)
    assert.equal(4, res.attempts)
    assert.same({ 503, 503, 503, 503 }, statuses(attempts_seen(key)))
  end)

  it("res.attempts is 1 when the first try succeeds, or without a retry option", function()
    local key = key_for("first")
    assert.equal(1, must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=0", { retry = true })).attempts)
    local key2 = key_for("no-option")
    local res = must(http.get(APP .. "/retry/flaky/" .. key2 .. "?fails=1"))
    assert.equal(503, res.status)
    assert.equal(1, res.attempts)
    assert.equal(1, #attempts_seen(key2), "retried without a retry option")
  end)

  it("does not retry a status that is not listed", function()
    for _, status in ipairs { 500, 404 } do
      local key = key_for("unlisted-" .. status)
      local res = must(http.get(APP .. ("/retry/flaky/%s?fails=1&status=%d"):format(key, status),
        { retry = { attempts = 3, backoff = 0.01 } }))
      assert.equal(status, res.status)
      assert.equal(1, res.attempts)
      assert.equal(1, #attempts_seen(key))
    end
    -- and retries one that is
    local key = key_for("listed-500")
    local res = must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=1&status=500",
      { retry = { attempts = 3, backoff = 0.01, statuses = { 500 } } }))
    assert.equal(200, res.status)
    assert.same({ 500, 200 }, statuses(attempts_seen(key)))
  end)

  it("retries 429, 502, 503 and 504 by default", function()
    for _, status in ipairs { 429, 502, 503, 504 } do
      local key = key_for("default-" .. status)
      local res = must(http.get(APP .. ("/retry/flaky/%s?fails=1&status=%d"):format(key, status),
        { retry = { backoff = 0.01 } }))
      assert.equal(200, res.status)
      assert.equal(2, res.attempts)
      assert.same({ status, 200 }, statuses(attempts_seen(key)))
    end
  end)
end)

describe("Retry-After", function()
  it("in seconds is waited for", function()
    local key = key_for("after-secs")
    local calls, on_retry = recorder()
    local res = must(http.get(APP .. "/retry/after/" .. key .. "?secs=1",
      { retry = { attempts = 3, backoff = 0.01, on_retry = on_retry } }))
    assert.equal(200, res.status)
    assert.equal(2, res.attempts)
    assert.equal(429, calls[1].what.status)
    assert.equal("1", calls[1].what.headers["Retry-After"])
    assert.equal(1, calls[1].delay)
    local log = attempts_seen(key)
    assert.same({ 429, 200 }, statuses(log))
    assert.truthy(gap(log, 1) >= 0.95, ("retried after %.3f s, Retry-After said 1"):format(gap(log, 1)))
  end)

  it("as an HTTP date is waited for", function()
    local key = key_for("after-date")
    local calls, on_retry = recorder()
    local res = must(http.get(APP .. "/retry/after-date/" .. key .. "?secs=1",
      { retry = { attempts = 3, backoff = 0.01, on_retry = on_retry } }))
    assert.equal(200, res.status)
    assert.equal(2, res.attempts)
    assert.truthy(calls[1].what.headers["Retry-After"]:find("GMT$"))
    assert.truthy(calls[1].delay >= 1, tostring(calls[1].delay))
    local log = attempts_seen(key)
    assert.same({ 429, 200 }, statuses(log))
    -- the retry did not come before the date the server named
    assert.truthy(log[2].t >= log[1].retry_after_at - 0.05,
      ("retried at %.3f, before the Retry-After date %d"):format(log[2].t, log[1].retry_after_at))
  end)

  it("on a 503 is honoured too", function()
    local key = key_for("after-503")
    local calls, on_retry = recorder()
    must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=1&retry_after=1",
      { retry = { attempts = 2, backoff = 0.01, on_retry = on_retry } }))
    assert.equal(1, calls[1].delay)
    local log = attempts_seen(key)
    assert.same({ 503, 200 }, statuses(log))
    assert.truthy(gap(log, 1) >= 0.95, ("retried after %.3f s"):format(gap(log, 1)))
  end)

  it("is capped by max_backoff", function()
    local key = key_for("after-capped")
    local calls, on_retry = recorder()
    local t0 = now()
    local res = must(http.get(APP .. "/retry/after/" .. key .. "?secs=30",
      { retry = { attempts = 2, max_backoff = 0.2, on_retry = on_retry } }))
    assert.equal(200, res.status)
    assert.equal(0.2, calls[1].delay)
    assert.truthy(now() - t0 < 15, "waited for the 30 s Retry-After")
    local log = attempts_seen(key)
    assert.same({ 429, 200 }, statuses(log))
    assert.truthy(gap(log, 1) >= 0.18)
  end)

  it("max_backoff caps the exponential backoff too", function()
    local key = key_for("backoff-capped")
    local calls, on_retry = recorder()
    must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=3",
      { retry = { attempts = 4, backoff = 20, max_backoff = 0.05, on_retry = on_retry } }))
    assert.equal(3, #calls)
    for _, c in ipairs(calls) do assert.equal(0.05, c.delay) end
    assert.same({ 503, 503, 503, 200 }, statuses(attempts_seen(key)))
  end)
end)

describe("the total timeout", function()
  it("stops retrying when the next wait would pass it", function()
    local key = key_for("total-backoff")
    local t0 = now()
    -- waits 0.4-0.5 s, then 0.8-1.0 s: the second does not fit in 1 s
    local res = must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=10",
      { retry = { attempts = 10, backoff = 0.4 }, timeout = { total = 1 } }))
    assert.equal(503, res.status)
    assert.equal(2, res.attempts)
    assert.equal(2, #attempts_seen(key))
    assert.truthy(now() - t0 < 5)
  end)

  it("is not waited past for a long Retry-After", function()
    local key = key_for("total-after")
    local t0 = now()
    local res = must(http.get(APP .. "/retry/after/" .. key .. "?secs=30",
      { retry = { attempts = 3 }, timeout = { total = 2 } }))
    assert.equal(429, res.status)
    assert.equal(1, res.attempts)
    assert.equal(1, #attempts_seen(key))
    assert.truthy(now() - t0 < 5, "waited for Retry-After past the total timeout")
  end)
end)

describe("retry on transport failures", function()
  it("retries a refused connection, then gives the error with err.attempts", function()
    local calls, on_retry = recorder()
    local res, err = http.get(DEAD, { retry = { attempts = 3, backoff = 0.01, on_retry = on_retry } })
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal(3, err.attempts)
    assert.equal(2, #calls)
    for i, c in ipairs(calls) do
      assert.equal(i, c.attempt)
      assert.equal("ConnectionError", c.what.kind)
      assert.is_true(c.what.retryable)
    end
  end)

  it("retries a reset connection: the server reads every attempt", function()
    local tag = key_for("reset")
    local s <close> = http.session {} -- a fresh connection: see the reused case below
    local res, err = s:get(FAULT .. "/reset?case=" .. tag, { retry = { attempts = 3, backoff = 0.01 } })
    assert.is_nil(res)
    assert.is_true(err:is("ConnectionError"), tostring(err))
    assert.equal(3, err.attempts)
    assert.equal(3, fault_count(tag))
  end)

  it("retries a read timeout", function()
    local tag = key_for("slow")
    local res, err = http.get(FAULT .. "/slowheaders?secs=2&case=" .. tag,
      { timeout = { read = 0.3 }, retry = { attempts = 2, backoff = 0.01 } })
    assert.is_nil(res)
    assert.is_true(err:is("Timeout"), tostring(err))
    assert.equal(2, err.attempts)
    assert.equal(2, fault_count(tag))
  end)

  it("does not retry without a retry option, on a fresh connection", function()
    local tag = key_for("reset-once")
    local s <close> = http.session {}
    local _, err = s:get(FAULT .. "/reset?case=" .. tag)
    assert.equal(1, err.attempts)
    assert.equal(1, fault_count(tag))
  end)

  it("an idempotent GET on a dead reused connection is re-sent once by libcurl, not by a retry", function()
    -- libcurl sends a request again by itself, on a fresh connection, when a
    -- reused keep-alive connection dies before any byte of the answer (the
    -- keep-alive race); that is not a retry: one attempt, and only GET-like
    -- methods get it (see the POST test below and README "Departures")
    local tag = key_for("reset-reused")
    local s <close> = http.session {}
    must(s:get(FAULT .. "/ok?case=warm-up"))
    local _, err = s:get(FAULT .. "/reset?case=" .. tag)
    assert.equal(1, err.attempts)
    assert.equal(2, fault_count(tag), "expected libcurl's single re-send on a fresh connection")
  end)
end)

describe("methods", function()
  it("a POST is never retried unless listed", function()
    local key = key_for("post")
    local res = must(http.post(APP .. "/retry/flaky/" .. key .. "?fails=2", { data = "payload", retry = true }))
    assert.equal(503, res.status)
    assert.equal(1, res.attempts)
    assert.equal(1, #attempts_seen(key))
    -- nor when its connection is reset, on a fresh or a reused connection
    local s <close> = http.session {}
    for _, when in ipairs { "fresh", "reused" } do
      local tag = key_for("post-reset-" .. when)
      local _, err = s:post(FAULT .. "/reset?case=" .. tag, { data = "x", retry = { backoff = 0.01 } })
      assert.equal(1, err.attempts)
      assert.equal(1, fault_count(tag), "the server received the POST more than once (" .. when .. " connection)")
      must(s:get(FAULT .. "/ok?case=warm-up"))
    end
  end)

  it("a listed POST is retried with its body each time", function()
    local key = key_for("post-listed")
    local res = must(http.post(APP .. "/retry/flaky/" .. key .. "?fails=2",
      { data = "payload", headers = { ["Content-Type"] = "text/plain" },
        retry = { backoff = 0.01, methods = { "post" } } }))
    assert.equal(200, res.status)
    assert.equal(3, res.attempts)
    local log = attempts_seen(key)
    assert.same({ 503, 503, 200 }, statuses(log))
    for _, e in ipairs(log) do
      assert.equal("POST", e.method)
      assert.equal("payload", e.body)
    end
  end)

  it("PUT, DELETE, HEAD and OPTIONS are retried by default", function()
    for _, m in ipairs { "PUT", "DELETE", "HEAD", "OPTIONS" } do
      local key = key_for("m-" .. m)
      local res = must(http.request(m, APP .. "/retry/flaky/" .. key .. "?fails=1", { retry = { backoff = 0.01 } }))
      assert.equal(200, res.status)
      assert.equal(2, res.attempts)
      local log = attempts_seen(key)
      assert.equal(2, #log)
      assert.equal(m, log[1].method)
    end
    local key = key_for("m-PATCH")
    assert.equal(1, must(http.patch(APP .. "/retry/flaky/" .. key .. "?fails=1", { retry = true })).attempts)
  end)
end)

describe("retry = true", function()
  it("means 3 attempts, 0.5 s backoff doubling, with jitter", function()
    local key = key_for("defaults")
    local res = must(http.get(APP .. "/retry/flaky/" .. key .. "?fails=5", { retry = true }))
    assert.equal(503, res.status)
    assert.equal(3, res.attempts)
    local log = attempts_seen(key)
    assert.same({ 503, 503, 503 }, statuses(log))
    assert.truthy(gap(log, 1) >= 0.45, ("first wait %.3f s"):format(gap(log, 1)))
    assert.truthy(gap(log, 2) >= 0.95, ("second wait %.3f s"):format(gap(log, 2)))
  end)

  it("as a session default, and retry = false in a request turns it off", function()
    local s <close> = http.session { retry = { backoff = 0.01 } }
    local key = key_for("session")
    assert.equal(2, must(s:get(APP .. "/retry/flaky/" .. key .. "?fails=1")).attempts)
    local key2 = key_for("session-off")
    local res = must(s:get(APP .. "/retry/flaky/" .. key2 .. "?fails=1", { retry = false }))
    assert.equal(503, res.status)
    assert.equal(1, #attempts_seen(key2))
  end)
end)

describe("bad retry options", function()
  local cases = {
    { { bogus = 1 }, "unknown key 'bogus'" },
    { { attempts = "3" }, "retry.attempts" },
    { { backoff = -1 }, "retry.backoff" },
    { { statuses = { "503" } }, "retry.statuses" },
    { { methods = { 1 } }, "retry.methods" },
    { { on_retry = 1 }, "retry.on_retry" },
    { "yes", "field 'retry'" },
  }
  for _, c in ipairs(cases) do
    it(("raise for %s"):format(cjson.encode(c[1])), function()
      local ok, e = pcall(http.get, APP .. "/retry/flaky/never?fails=0", { retry = c[1] })
      assert.is_false(ok)
      assert.truthy(tostring(e):find(c[2], 1, true), tostring(e))
      assert.truthy(tostring(e):find("to 'get'", 1, true), tostring(e))
    end)
  end
end)
