-- Concurrency on coroutines (SPEC, Concurrency): http.spawn, http.join,
-- task:join, task:cancel, http.sleep, http.parallel; requests that yield
-- inside a task and drive the loop inline everywhere else (including the
-- places where a coroutine cannot yield); the session limits
-- max_connections, max_host_connections and rate_limit; HTTP/2 multiplexing.
--
-- What the client did is checked against what the server saw: the fixture
-- app (spec/servers/app_api.py) records when each request arrived and
-- finished, on which TCP connection, and how many it was handling at once;
-- nginx logs the connection number of every HTTP/2 request.  Timing bounds
-- are loose on purpose (a loaded CI machine must not turn them red), and
-- concurrency is asserted from the server's overlap counts, not wall clocks.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"
local system = require "system"

local APP = helper.app
local DEAD = "http://127.0.0.1:" .. helper.dead_port

local must = support.must

local function now() return system.monotime() end

-- the app's recorder: every request with this tag (see app_api.py)
local function app_stats(tag)
  return cjson.decode(must(http.get(APP .. "/api/stats", { params = { tag = tag } })).body)
end

local function app_reset()
  must(http.get(APP .. "/api/stats/reset"))
end

-- Waits (driving the loop, so tasks progress) until pred() is true, for at
-- most `secs`; returns whether it became true.
local function wait_for(pred, secs)
  local deadline = now() + (secs or 3)
  while not pred() do
    if now() > deadline then return false end
    http.sleep(0.05)
  end
  return true
end

-- http.join that cannot hang the suite: a watchdog task cancels whatever
-- is still running after `secs`, and the test fails naming those tasks.
local function join_within(secs, tasks)
  local dog = http.spawn(function()
    http.sleep(secs)
    for i, t in ipairs(tasks) do
      if not t:done() then
        t:cancel()
        tasks.stuck = (tasks.stuck or "") .. " " .. i
      end
    end
  end)
  local ok, res = pcall(http.join, tasks)
  dog:cancel()
  assert.is_nil(tasks.stuck, "tasks still waiting after " .. secs .. " s (the scheduler lost them):"
    .. tostring(tasks.stuck))
  if not ok then error(res, 0) end
  return res
end

-- a unique marker for log lines of this run
local function token(name)
  return ("%s%d%04d"):format(name, os.time(), math.random(0, 9999))
end

-------------------------------------------------------------------------------
describe("http.spawn and http.join", function()
  before_each(app_reset)

  it("return results in input order, not completion order", function()
    local tasks = {}
    for i = 1, 5 do
      -- the first task is the slowest: completion order is the reverse
      tasks[i] = http.spawn(function(n)
        local res = must(http.get(APP .. "/api/items/" .. n, { params = { delay = (6 - n) * 0.08, tag = "order" } }))
        return res:json().id, n
      end, i)
    end
    local ids = join_within(10, tasks)
    assert.are.same({ 1, 2, 3, 4, 5 }, ids)
    -- task:join gives every value the function returned
    local a, b = tasks[3]:join()
    assert.are.equal(3, a)
    assert.are.equal(3, b)

    local st = app_stats("order")
    assert.are.equal(5, st.count)
    assert.are.equal(5, st.max_in_flight, "the server did not have the 5 requests at once")
    -- the server finished them last-spawned first
    local finish = {}
    for _, r in ipairs(st.requests) do finish[tonumber(r.path:match("%d+$"))] = r.finish end
    assert.is_true(finish[5] < finish[1])
  end)

  it("lets each task run its requests sequentially while tasks overlap", function()
    local function worker(name)
      local seen = {}
      for step = 1, 3 do
        local res = must(http.get(APP .. "/api/slow", { params = { secs = 0.15, tag = "seq", step = step, w = name } }))
        seen[#seen + 1] = res.status
      end
      return table.concat(seen, ",")
    end
    local out = join_within(10, { http.spawn(worker, "a"), http.spawn(worker, "b") })
    assert.are.same({ "200,200,200", "200,200,200" }, out)
    local st = app_stats("seq")
    assert.are.equal(6, st.count)
    assert.are.equal(2, st.max_in_flight)
    -- within one task, the next request starts only after the previous ended
    local by_worker = {}
    for _, r in ipairs(st.requests) do
      local w = r.query:match("w=(%a)")
      by_worker[w] = by_worker[w] or {}
      table.insert(by_worker[w], r)
    end
    for _, list in pairs(by_worker) do
      for i = 2, #list do assert.is_true(list[i].arrival >= list[i - 1].finish) end
    end
  end)

  it("can be used from inside a task (join of subtasks yields)", function()
    local outer = http.spawn(function()
      local subs = {}
      for i = 1, 3 do
        subs[i] = http.spawn(function() return must(http.get(APP .. "/api/items/" .. i, { params = { tag = "nested" } })):json().name end)
      end
      return http.join(subs)
    end)
    local res = join_within(10, { outer })
    assert.are.same({ "item-001", "item-002", "item-003" }, res[1])
    assert.are.equal(3, app_stats("nested").count)
  end)

  it("raises a task's error at join with its traceback, after the other tasks finished", function()
    local line
    local before = http.spawn(function()
      return must(http.get(APP .. "/api/items/1", { params = { tag = "iso" } })).status
    end)
    local failing = http.spawn(function()
      must(http.get(APP .. "/api/items/2", { params = { tag = "iso" } }))
      line = debug.getinfo(1, "l").currentline + 1
      error("boom in task")
    end)
    local after = http.spawn(function()
      http.sleep(0.2) -- still running when the other one fails
      return must(http.get(APP .. "/api/items/3", { params = { tag = "iso" } })).status
    end)
    local ok, err = pcall(http.join, { before, failing, after })
    assert.is_false(ok)
    err = tostring(err)
    assert.matches("boom in task", err, 1, true)
    assert.matches("stack traceback", err, 1, true)
    assert.matches("concurrency_spec.lua:" .. line, err, 1, true)
    -- the others were not disturbed
    assert.is_true(before:done() and after:done())
    assert.are.equal(200, before:join())
    assert.are.equal(200, after:join())
    local st = app_stats("iso")
    assert.are.equal(3, st.count)
    for _, r in ipairs(st.requests) do assert.are.equal(200, r.status) end
    -- task:join raises it too
    local ok2, err2 = pcall(failing.join, failing)
    assert.is_false(ok2)
    assert.matches("boom in task", tostring(err2), 1, true)
  end)

  it("raises an error object unchanged, with the task's traceback attached", function()
    local t = http.spawn(function() return must(http.get(DEAD .. "/nothing")) end)
    local good = http.spawn(function() return must(http.get(APP .. "/api/items/7", { params = { tag = "errobj" } })):json().id end)
    local ok, err = pcall(http.join, { t, good })
    assert.is_false(ok)
    assert.matches("request failed: ConnectionError", tostring(err), 1, true)

    -- (busted's global assert is luassert's: raise the object by hand)
    local t2 = http.spawn(function()
      local res, e = http.get(DEAD .. "/nothing")
      if not res then error(e, 0) end
      return res
    end)
    local ok2, err2 = pcall(t2.join, t2)
    assert.is_false(ok2)
    assert.are.equal("table", type(err2))
    assert.are.equal("ConnectionError", err2.kind)
    assert.matches("stack traceback", err2.traceback, 1, true)
    assert.matches("concurrency_spec.lua", err2.traceback, 1, true)
    assert.are.equal(7, good:join())
    assert.are.equal(1, app_stats("errobj").count)
  end)

  it("refuses what is not a function or a list of tasks", function()
    assert.has_error(function() http.spawn("nope") end,
      "bad argument #1 to 'spawn' (function expected, got string)")
    assert.matches("bad argument #1 to 'join'", select(2, pcall(http.join, { 1 })), 1, true)
    assert.matches("bad argument #1 to 'join'", select(2, pcall(http.join, "x")), 1, true)
  end)
end)

-------------------------------------------------------------------------------
describe("task:cancel", function()
  before_each(app_reset)

  it("closes the task's connection; the server sees the client go; the next request works", function()
    local s <close> = http.session()
    local t = http.spawn(function()
      return s:get(APP .. "/api/slow", { params = { secs = 10, tag = "cancel" } })
    end)
    assert.is_true(wait_for(function() return app_stats("cancel").count == 1 end), "request never arrived")
    assert.is_true(t:cancel())
    assert.is_true(t:done())
    assert.matches("cancelled", tostring(t), 1, true)
    assert.is_false(t:cancel()) -- only once
    -- a cancelled task joins as nil without raising
    assert.is_nil(http.join({ t })[1])

    -- the server notices the closed connection within 50 ms; give it 3 s
    assert.is_true(wait_for(function()
      return app_stats("cancel").requests[1].finish ~= cjson.null
    end, 3), "the server still holds the cancelled request")
    local rec = app_stats("cancel").requests[1]
    assert.is_true(rec.aborted, "the server did not see the connection closed")
    assert.is_true(rec.finish - rec.arrival < 5)

    local res = must(s:get(APP .. "/api/items/4", { params = { tag = "after-cancel" } }))
    assert.are.equal(4, res:json().id)
    local after = app_stats("after-cancel")
    assert.are.equal(1, after.count)
    assert.are_not.equal(rec.conn, after.requests[1].conn, "the aborted connection was reused")
  end)

  it("forgets a task whose coroutine was closed by hand while it waited, once collected", function()
    local core = require "http.core"
    local co
    http.spawn(function()
      co = coroutine.running()
      return http.get(APP .. "/api/slow", { params = { secs = 10, tag = "closed-by-hand" } })
    end)
    assert.is_true(wait_for(function() return app_stats("closed-by-hand").count == 1 end),
      "request never arrived")
    assert.equal(1, core.waiting())
    assert.is_true(coroutine.close(co)) -- not task:cancel(): the script's own doing
    co = nil
    collectgarbage()
    collectgarbage() -- the transfer's finalizer takes it off the watch table
    assert.equal(0, core.waiting())
    local res = must(http.get(APP .. "/api/items/2", { params = { tag = "after-close" } }))
    assert.are.equal(2, res:json().id)
  end)

  it("gives back the session's connection slot", function()
    local s <close> = http.session { max_connections = 1 }
    local t = http.spawn(function()
      return s:get(APP .. "/api/slow", { params = { secs = 10, tag = "slot" } })
    end)
    assert.is_true(wait_for(function() return app_stats("slot").count == 1 end), "request never arrived")
    t:cancel()
    local ok, res = pcall(s.get, s, APP .. "/api/items/5", { params = { tag = "slot-after" }, timeout = 5 })
    assert.is_true(ok, "the cancelled task kept the session's only slot: " .. tostring(res))
    assert.are.equal(200, must(res).status)
    assert.are.equal(1, app_stats("slot-after").count)
  end)

  it("stops a task whose response came in the same turn as the canceller's", function()
    -- Both responses are in before the next turn (os.execute blocks
    -- without driving the loop): the loop resumes one task, which cancels
    -- the other before that one is resumed.
    local tasks, went_on = {}, {}
    for i = 1, 2 do
      tasks[i] = http.spawn(function()
        local res = must(http.get(APP .. "/api/items/" .. i, { params = { tag = "same-turn" } }))
        went_on[i] = true
        return res.status, tasks[3 - i]:cancel()
      end)
    end
    http.sleep(0.05)        -- both requests sent
    os.execute("sleep 0.3") -- both responses arrive
    local got = http.join(tasks) -- the cancelled one joins as nil
    local a, b = got[1], got[2]
    assert.are.equal(200, a or b)
    assert.is_nil(a and b, "both tasks went on")
    local first = a and 1 or 2
    assert.is_true(select(2, tasks[first]:join()), "cancel of the other task did not stop it")
    assert.is_true(went_on[first])
    assert.is_nil(went_on[3 - first], "the cancelled task ran past its request")
    assert.are.equal("cancelled", tasks[3 - first].status)
    assert.are.equal(2, app_stats("same-turn").count)
    -- nothing is left waiting: the loop is idle again
    assert.are.equal(200, must(http.get(APP .. "/api/items/3", { params = { tag = "same-turn" } })).status)
  end)

  it("stops a sleeping task and leaves the others running", function()
    local reached = false
    local sleeper = http.spawn(function() http.sleep(5); reached = true end)
    local worker = http.spawn(function()
      return must(http.get(APP .. "/api/slow", { params = { secs = 0.2, tag = "cancel-sleep" } })).status
    end)
    local t0 = now()
    sleeper:cancel()
    assert.are.same({ 200 }, join_within(10, { worker }))
    assert.are.same({}, http.join({ sleeper }))
    assert.is_false(reached)
    assert.is_true(now() - t0 < 4, "joining waited for the cancelled sleep")
    assert.are.equal(1, app_stats("cancel-sleep").count)
  end)
end)

-------------------------------------------------------------------------------
-- A request read whole in a task parks the task inside core.fetch, which
-- finishes the hop when the loop resumes it (runtime/request.c).
describe("a request in a task", function()
  before_each(app_reset)

  it("gets its response, its error or its timeout, each task its own", function()
    local s <close> = http.session()
    local tasks = {
      http.spawn(function() -- bare
        local res = must(http.get(APP .. "/api/items/1", { params = { tag = "in-task" } }))
        return res.status, res:json().id
      end),
      http.spawn(function() -- a refused connection
        local res, err = s:get(DEAD .. "/x")
        return res, err and err.kind
      end),
      http.spawn(function() -- the transfer's own timeout
        local res, err = s:get(APP .. "/api/slow", { params = { secs = 5, tag = "in-task" }, timeout = 0.3 })
        return res, err and err.kind
      end),
      http.spawn(function() -- a hop with options
        local res = must(s:get(APP .. "/api/items/2", { params = { tag = "in-task" }, timeout = 30 }))
        return res.status, res:json().id
      end),
    }
    join_within(10, tasks)
    assert.are.same({ 200, 1 }, { tasks[1]:join() })
    assert.are.same({ nil, "ConnectionError" }, { tasks[2]:join() })
    assert.are.same({ nil, "ReadTimeout" }, { tasks[3]:join() })
    assert.are.same({ 200, 2 }, { tasks[4]:join() })
    assert.are.equal(3, app_stats("in-task").count)
  end)

  it("cancelled while it waits, again and again, leaves each next request its own", function()
    local s <close> = http.session()
    for i = 1, 3 do
      local tag = "cancel-again-" .. i
      local t = http.spawn(function()
        return s:get(APP .. "/api/slow", { params = { secs = 10, tag = tag } })
      end)
      assert.is_true(wait_for(function() return app_stats(tag).count == 1 end), "request never arrived")
      assert.is_true(t:cancel())
      local u = http.spawn(function()
        return must(s:post(APP .. "/api/items/" .. i, { data = "x" }))
      end)
      local ok, res = pcall(u.join, u)
      assert.is_true(ok, tostring(res))
      assert.are.equal("x", res.request.body)
    end
  end)
end)

-------------------------------------------------------------------------------
describe("http.sleep", function()
  before_each(app_reset)

  it("overlaps in tasks: N tasks sleeping 0.3 s take about 0.3 s, not N x 0.3 s", function()
    local N = 10
    local tasks = {}
    local t0 = now()
    for i = 1, N do tasks[i] = http.spawn(function() http.sleep(0.3); return i end) end
    local out = join_within(10, tasks)
    local took = now() - t0
    assert.are.equal(N, #out)
    assert.are.equal(N, out[N])
    assert.is_true(took >= 0.29, "slept less than asked: " .. took)
    assert.is_true(took < 0.3 * N / 2, "sleeps did not overlap: " .. took .. " s")
  end)

  it("outside a task blocks the caller but keeps the tasks running", function()
    local t = http.spawn(function()
      return must(http.get(APP .. "/api/slow", { params = { secs = 0.2, tag = "bg" } })).status
    end)
    local t0 = now()
    http.sleep(0.6)
    assert.is_true(now() - t0 >= 0.59)
    assert.is_true(t:done(), "the task did not progress while the caller slept")
    assert.are.equal(200, t:join())
    assert.are.equal(200, app_stats("bg").requests[1].status)
  end)

  it("refuses a non-number", function()
    assert.has_error(function() http.sleep("1") end, "bad argument #1 to 'sleep' (number expected, got string)")
  end)
end)

-------------------------------------------------------------------------------
describe("a request outside any task", function()
  before_each(app_reset)

  it("drives the loop until its own transfer is done while tasks progress", function()
    local t = http.spawn(function()
      local a = must(http.get(APP .. "/api/slow", { params = { secs = 0.2, tag = "drive", n = 1 } })).status
      local b = must(http.get(APP .. "/api/slow", { params = { secs = 0.2, tag = "drive", n = 2 } })).status
      return a + b
    end)
    local res = must(http.get(APP .. "/api/slow", { params = { secs = 0.8, tag = "drive", n = 0 } }))
    assert.are.equal(200, res.status)
    -- both of the task's requests ran while the caller waited for its own
    assert.is_true(t:done(), "the task did not progress")
    assert.are.equal(400, t:join())
    local st = app_stats("drive")
    assert.are.equal(3, st.count)
    assert.are.equal(2, st.max_in_flight)
  end)
end)

-------------------------------------------------------------------------------
-- Where coroutine.isyieldable() is false inside a task (a C function is on
-- the stack), or in a coroutine that is not a task, a request must drive
-- the loop inline instead of yielding: never "attempt to yield across a
-- C-call boundary".  Each case runs beside another task, and the server
-- must see both requests at once (the other task progressed meanwhile).
describe("inline driving where a task cannot yield", function()
  before_each(app_reset)

  local function slow(tag, secs)
    return must(http.get(APP .. "/api/slow", { params = { secs = secs or 0.3, tag = tag } })).status
  end

  -- runs fn in a task beside a second task with a slow request
  local function beside_other(tag, fn)
    local other = http.spawn(slow, tag)
    local t = http.spawn(fn)
    local out = join_within(10, { t, other })
    local st = app_stats(tag)
    assert.are.equal(2, st.count)
    assert.are.equal(2, st.max_in_flight, "the other task did not progress meanwhile")
    assert.are.equal(200, out[2])
    return out[1]
  end

  it("at the top level of a required module", function()
    local dir = helper.tmpdir .. "/conc_modules"
    assert(os.execute("mkdir -p '" .. dir .. "'"))
    local f = assert(io.open(dir .. "/conc_inline_mod.lua", "w"))
    f:write([[
local http = require "http"
local app = require("spec.helper").app
local res = assert(http.get(app .. "/api/slow", { params = { secs = 0.3, tag = "require" } }))
return { status = res.status, yieldable = coroutine.isyieldable() }
]])
    f:close()
    local saved = package.path
    package.path = dir .. "/?.lua;" .. package.path
    local ok, mod = pcall(beside_other, "require", function() return require("conc_inline_mod") end)
    package.path = saved
    package.loaded.conc_inline_mod = nil
    assert(ok, mod)
    assert.are.equal(200, mod.status)
    assert.is_false(mod.yieldable) -- really a place that cannot yield
  end)

  it("in a table.sort comparator", function()
    local out = beside_other("sort", function()
      local list, calls = { 2, 1 }, 0
      table.sort(list, function(a, b)
        calls = calls + 1
        slow("sort")
        return a < b
      end)
      return { list = list, calls = calls }
    end)
    assert.are.same({ 1, 2 }, out.list)
    assert.are.equal(1, out.calls)
  end)

  it("in a string.gsub callback", function()
    local out = beside_other("gsub", function()
      return (("x"):gsub("x", function() return tostring(slow("gsub")) end))
    end)
    assert.are.equal("200", out)
  end)

  it("in the user's own coroutine.wrap iterator inside a task", function()
    local out = beside_other("wrap", function()
      local got = {}
      for v in coroutine.wrap(function()
        coroutine.yield("start")
        coroutine.yield(slow("wrap"))
        coroutine.yield("end")
      end) do got[#got + 1] = v end
      return got
    end)
    assert.are.same({ "start", 200, "end" }, out)
  end)

  it("in the user's own coroutine outside any task", function()
    local names = {}
    for name in coroutine.wrap(function()
      for i = 1, 3 do
        coroutine.yield(must(http.get(APP .. "/api/items/" .. i, { params = { tag = "plainco" } })):json().name)
      end
    end) do names[#names + 1] = name end
    assert.are.same({ "item-001", "item-002", "item-003" }, names)
    assert.are.equal(3, app_stats("plainco").count)
  end)

  it("in a busted it block, with tasks running beside it", function()
    local t = http.spawn(slow, "it", 0.2)
    assert.are.equal(200, slow("it", 0.6)) -- the task's shorter request ends meanwhile
    assert.is_true(t:done(), "the task did not progress while the it block waited")
    assert.are.equal(200, t:join())
    http.sleep(0.01)
    local st = app_stats("it")
    assert.are.equal(2, st.count)
    assert.are.equal(2, st.max_in_flight)
  end)

  it("does not lose other tasks' wake-ups while one task drives the loop inline", function()
    -- Two tasks whose first responses are handled in the same loop turn;
    -- the first one resumed then drives the loop inline (sort comparator)
    -- and that inner turn sees several other tasks finish at once.  The
    -- second task of the outer turn must still be resumed.  os.execute
    -- blocks without driving the loop, so responses queue up meanwhile.
    local tasks = {}
    for i = 1, 2 do
      tasks[i] = http.spawn(function()
        must(http.get(APP .. "/api/slow", { params = { secs = 0.1, tag = "wake" } }))
        local list = { 2, 1 }
        table.sort(list, function(a, b)
          os.execute("sleep 0.4")
          must(http.get(APP .. "/api/items/" .. i, { params = { tag = "wake" } }))
          return a < b
        end)
        return i
      end)
    end
    for i = 3, 8 do
      tasks[i] = http.spawn(function()
        must(http.get(APP .. "/api/slow", { params = { secs = 0.4, tag = "wake" } }))
        return i
      end)
    end
    http.sleep(0.05)          -- every request sent
    os.execute("sleep 0.3")   -- both short responses arrive before the next turn
    assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, join_within(8, tasks))
    assert.are.equal(10, app_stats("wake").count)
  end)
end)

-------------------------------------------------------------------------------
describe("http.parallel", function()
  before_each(app_reset)

  it("fills each slot with the response or the error, in input order, never raising", function()
    local out = http.parallel({
      APP .. "/api/items/1?tag=par",
      { "GET", APP .. "/api/items/2", { params = { tag = "par", delay = 0.2 } } },
      DEAD .. "/refused",
      { "post", APP .. "/api/status/500", { params = { tag = "par" }, data = "x" } },
      { "GET", APP .. "/api/items/999", { params = { tag = "par" } } },
    }, { concurrency = 5 })
    assert.are.equal(5, #out)
    assert.are.equal(1, out[1]:json().id)
    assert.are.equal(2, out[2]:json().id)
    assert.are.equal("table", type(out[3]))
    assert.are.equal("ConnectionError", out[3].kind)
    assert.matches("refused", tostring(out[3]), 1, true)
    assert.are.equal(500, out[4].status) -- an HTTP error status is a response
    assert.are.equal(404, out[5].status)
    local st = app_stats("par")
    assert.are.equal(4, st.count)
    local methods = {}
    for _, r in ipairs(st.requests) do methods[r.path] = r.method end
    assert.are.equal("POST", methods["/api/status/500"])
  end)

  it("keeps at most `concurrency` requests in flight (seen by the server)", function()
    local list = {}
    for i = 1, 12 do list[i] = { "GET", APP .. "/api/slow", { params = { secs = 0.3, tag = "conc4", i = i } } } end
    local out = http.parallel(list, { concurrency = 4 })
    for i = 1, 12 do
      assert.are.equal(200, out[i].status)
      assert.matches("i=" .. i .. "&", out[i].url .. "&", 1, true)
    end
    local st = app_stats("conc4")
    assert.are.equal(12, st.count)
    assert.are.equal(4, st.max_in_flight)
  end)

  it("with concurrency 1 runs one at a time", function()
    local list = {}
    for i = 1, 3 do list[i] = APP .. "/api/slow?secs=0.1&tag=conc1" end
    http.parallel(list, { concurrency = 1 })
    local st = app_stats("conc1")
    assert.are.equal(3, st.count)
    assert.are.equal(1, st.max_in_flight)
  end)

  it("works from inside a task, and on a session with its defaults", function()
    local s <close> = http.session { base_url = APP .. "/api", params = { tag = "spar" } }
    local t = http.spawn(function()
      return s:parallel({ "/items/1", "/items/2", { "GET", "/items/3" } }, { concurrency = 2 })
    end)
    local out = join_within(10, { t })[1]
    assert.are.same({ 1, 2, 3 }, { out[1]:json().id, out[2]:json().id, out[3]:json().id })
    local st = app_stats("spar")
    assert.are.equal(3, st.count)
    assert.is_true(st.max_in_flight <= 2)
  end)

  it("fills the slot of an item that raises with its error and goes on with the next items", function()
    -- one worker: it must take up the items after each one that raised
    local out = http.parallel({
      { "GET", 42 },
      { "GET", APP .. "/api/items/1", { params = { tag = "praise" } } },
      { "GET", APP .. "/api/items/2", { params = { tag = "praise" }, bogus_option = 1 } },
      7,
      { "GET", APP .. "/api/items/3", { params = { tag = "praise" } } },
    }, { concurrency = 1 })
    assert.are.equal(5, #out)
    assert.are.equal("RequestException", out[1].kind)
    assert.matches("bad argument #1 to 'parallel' (string expected, got number)", tostring(out[1]), 1, true)
    assert.are.equal(1, out[2]:json().id)
    assert.are.equal("RequestException", out[3].kind)
    assert.matches("unknown option 'bogus_option'", tostring(out[3]), 1, true)
    assert.are.equal("RequestException", out[4].kind)
    assert.matches("item 4: {method, url, opts} or URL expected, got number", tostring(out[4]), 1, true)
    assert.are.equal(3, out[5]:json().id)
    local st = app_stats("praise")
    assert.are.equal(2, st.count)
  end)

  it("refuses a bad concurrency", function()
    assert.matches("concurrency", select(2, pcall(http.parallel, {}, { concurrency = 0 })), 1, true)
    assert.matches("bad argument #1 to 'parallel'", select(2, pcall(http.parallel, "x")), 1, true)
  end)
end)

-------------------------------------------------------------------------------
describe("session limits under concurrency", function()
  before_each(app_reset)

  it("max_connections bounds what the server has in flight", function()
    local s <close> = http.session { max_connections = 3 }
    local tasks = {}
    for i = 1, 9 do
      tasks[i] = http.spawn(function()
        return must(s:get(APP .. "/api/slow", { params = { secs = 0.25, tag = "maxc" } })).status
      end)
    end
    join_within(15, tasks)
    local st = app_stats("maxc")
    assert.are.equal(9, st.count)
    assert.are.equal(3, st.max_in_flight)
    assert.is_true(st.distinct_connections <= 3, "opened " .. st.distinct_connections .. " connections")
  end)

  it("max_connections gives the slot back when a call raises or fails", function()
    -- one slot: a slot kept by any of these would leave the last call none
    local s <close> = http.session { max_connections = 1 }
    local ok, err = pcall(s.get, s, APP .. "/api/items/1", { headers = 5 })
    assert.is_false(ok)
    assert.matches("headers", tostring(err))
    local res, ferr = s:get("http://127.0.0.1:1/", { timeout = 2 })
    assert.is_nil(res)
    assert.are.equal("ConnectionError", ferr.kind)
    local t = http.spawn(function()
      local ok2 = pcall(s.get, s, APP .. "/api/items/1", { headers = 5 })
      return ok2, must(s:get(APP .. "/api/items/3", { params = { tag = "slot-raise" } })).status
    end)
    local ok2, status = t:join()
    assert.is_false(ok2)
    assert.are.equal(200, status)
    assert.are.equal(200, must(s:get(APP .. "/api/items/4", { params = { tag = "slot-raise" },
      timeout = 5 })).status)
    assert.are.equal(2, app_stats("slot-raise").count)
  end)

  it("max_connections holds over http.parallel's higher concurrency", function()
    local s <close> = http.session { max_connections = 2 }
    local list = {}
    for i = 1, 6 do list[i] = APP .. "/api/slow?secs=0.2&tag=maxcp" end
    local out = s:parallel(list, { concurrency = 6 })
    for i = 1, 6 do assert.are.equal(200, out[i].status) end
    local st = app_stats("maxcp")
    assert.are.equal(6, st.count)
    assert.are.equal(2, st.max_in_flight)
  end)

  it("max_host_connections bounds each host, not the total", function()
    -- 127.0.0.1 and localhost are two hosts for the client, one app server
    local port = APP:match(":(%d+)$")
    local hosts = { APP, "http://localhost:" .. port }
    local s <close> = http.session { max_host_connections = 2 }
    local tasks = {}
    for i = 1, 12 do
      local base = hosts[i % 2 + 1]
      tasks[i] = http.spawn(function()
        return must(s:get(base .. "/api/slow", { params = { secs = 0.25, tag = "maxh" } })).status
      end)
    end
    join_within(15, tasks)
    local st = app_stats("maxh")
    assert.are.equal(12, st.count)
    assert.are.equal(2, st.max_in_flight_by_host["127.0.0.1:" .. port])
    assert.are.equal(2, st.max_in_flight_by_host["localhost:" .. port])
    assert.are.equal(4, st.max_in_flight)
  end)

  it("rate_limit spaces requests from concurrent tasks (server timestamps)", function()
    local s <close> = http.session { rate_limit = 20 }
    local tasks = {}
    for i = 1, 10 do
      tasks[i] = http.spawn(function()
        return must(s:get(APP .. "/api/items/" .. i, { params = { tag = "rate" } })).status
      end)
    end
    join_within(15, tasks)
    local st = app_stats("rate")
    assert.are.equal(10, st.count)
    local r = st.requests
    local spacing = (r[#r].arrival - r[1].arrival) / (#r - 1)
    -- 1/20 s apart on average; 10 % slack for timer granularity
    assert.is_true(spacing >= 0.045, ("requests %.3f s apart on average"):format(spacing))
  end)

  it("rate_limit also holds for sequential calls outside tasks", function()
    local s <close> = http.session { rate_limit = 10 }
    for i = 1, 4 do must(s:get(APP .. "/api/items/" .. i, { params = { tag = "rate-seq" } })) end
    local r = app_stats("rate-seq").requests
    assert.are.equal(4, #r)
    assert.is_true((r[4].arrival - r[1].arrival) / 3 >= 0.09)
  end)
end)

-------------------------------------------------------------------------------
describe("HTTP/2", function()
  it("multiplexes concurrent requests to one host on one connection", function()
    local tok = token("mux")
    local s <close> = http.session { verify = helper.tls.ca, http_version = "2" }
    local tasks = {}
    for i = 1, 20 do
      tasks[i] = http.spawn(function()
        local res = must(s:get(helper.tls.h2_url .. "/json", { params = { t = tok, i = i } }))
        return res.http_version
      end)
    end
    local versions = join_within(15, tasks)
    for i = 1, 20 do assert.are.equal("2", versions[i]) end
    local lines
    for _ = 1, 60 do
      lines = {}
      for _, rec in ipairs(helper.nginx_requests(tok)) do
        if rec.uri and rec.uri:find(tok, 1, true) then lines[#lines + 1] = rec end
      end
      if #lines >= 20 then break end
      os.execute("sleep 0.05")
    end
    assert.are.equal(20, #lines)
    local conns = {}
    for _, rec in ipairs(lines) do
      assert.are.equal("HTTP/2.0", rec.proto)
      conns[rec.conn] = (conns[rec.conn] or 0) + 1
    end
    local n, desc = 0, {}
    for c, k in pairs(conns) do
      n = n + 1
      desc[#desc + 1] = c .. ":" .. k
    end
    assert.are.equal(1, n, "20 concurrent HTTP/2 requests used " .. n .. " connections ("
      .. table.concat(desc, " ") .. ")")
  end)
end)
