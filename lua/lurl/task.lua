-- lurl.task: concurrency on coroutines over the one libcurl multi loop.
--
-- A task is a coroutine.  Inside a task, a request starts its transfer and
-- yields; the loop resumes the task when the transfer is done, so code that
-- reads sequentially runs concurrently.  Outside any task (the main chunk, a
-- busted `it`, a table.sort comparator, a user's own coroutine), a request
-- drives the loop itself until its own transfer is done, resuming the tasks
-- whose transfers finish meanwhile.  Nothing ever yields across a C call:
-- where coroutine.isyieldable() is false, the call drives the loop inline.
local core = require "http.core"

local M = {}

local done_c, wait_c, waiting_c, now = core.done, core.wait, core.waiting, core.now
local co_running, co_yield, co_resume, co_status = coroutine.running, coroutine.yield,
  coroutine.resume, coroutine.status
local isyieldable = coroutine.isyieldable
local traceback = debug.traceback -- captured: a script may replace `debug`

local by_co = setmetatable({}, { __mode = "k" }) -- coroutine -> task
local step_c -- core.step, made with M.wait below
-- Tasks spawned and not yet ended (done, failed or cancelled).  0 means no
-- task exists, so none is running, ready, sleeping or waiting: wait() then
-- stays in C at once (a script without tasks asks nothing else).  A task
-- that is never resumed again (dropped while parked) keeps it above 0,
-- which only costs wait() the longer checks below.
-- The engine is told each change (core.tasks_live): core.fetch waits in C
-- only while it is 0, as wait() below does.
local nlive = 0
local tasks_live = core.tasks_live
-- Tasks waiting on a transfer are the engine's (core.await parks them,
-- core.step resumes them, core.waiting counts them).
local PARKED = core.parked -- what a parked task yields
local ready = {}     -- tasks to resume at the next turn
local timers = {}    -- sorted by deadline: {at, task}

local TASK_MT = { __name = "http.task" }
local methods = {}
TASK_MT.__index = methods

-- The task running now, if it can yield to the loop.
local function current()
  local co, main = co_running()
  if main then return nil end
  local t = by_co[co]
  if t and isyieldable() then return t end
  return nil
end
M.current = current

local function finish(task, ok, ...)
  nlive = nlive - 1
  tasks_live(nlive)
  if ok then
    task.status = "done"
    task.results = table.pack(...)
  else
    local err = ...
    task.status = "failed"
    task.error = err
    task.traceback = traceback(task.co, nil, 0)
  end
  local joiners = task.joiners
  task.joiners = nil
  if joiners then
    for i = 1, #joiners do ready[#ready + 1] = joiners[i] end
  end
end

local function after(task, ok, v, ...)
  -- parked: the coroutine yielded PARKED (park() or core.await) and waits
  -- for its wake-up (the common case, told without asking for its status)
  if ok and v == PARKED then return end
  if co_status(task.co) == "dead" then
    finish(task, ok, v, ...)
  else
    -- the task yielded on its own (a plain coroutine.yield): run it again
    ready[#ready + 1] = task
  end
end

local function resume(task, ...)
  if task.status ~= "running" then return end
  after(task, co_resume(task.co, ...))
end

-- Parks the running task until something puts it back in `ready`.
local function park()
  return co_yield(PARKED)
end

local function add_timer(at, task)
  local i = #timers
  while i > 0 and timers[i][1] > at do i = i - 1 end
  table.insert(timers, i + 1, { at, task })
end

local function run_ready()
  while #ready > 0 do
    local q = ready
    ready = {}
    for i = 1, #q do resume(q[i]) end
  end
end

-- One turn: run ready tasks, let libcurl work for at most `block` seconds
-- (less when a timer is due or tasks are ready), resume finished waiters.
local function turn(block)
  run_ready()
  local timeout = block or 0
  if timers[1] then
    local d = timers[1][1] - now()
    if d < timeout then timeout = d > 0 and d or 0 end
  end
  -- the engine resumes the tasks whose transfers have news (runtime/engine.c,
  -- core.step); one that does not park again comes back through after_co
  step_c(timeout)
  if timers[1] then
    local tnow = now()
    while timers[1] and timers[1][1] <= tnow do
      local tm = table.remove(timers, 1)
      ready[#ready + 1] = tm[2]
    end
  end
  run_ready()
end

local function idle()
  return #ready == 0 and #timers == 0 and waiting_c() == 0
end

-- For hosts that run their own event loop (runtime/host.c): one turn that
-- never sleeps, and how long the host may sleep before the next one
-- (seconds; nil when lurl has nothing pending, 0 when tasks are ready).
function M.host_turn() turn(0) end
function M.host_wait_hint()
  if #ready > 0 then return 0 end
  if timers[1] then
    local d = timers[1][1] - now()
    return d > 0 and d or 0
  end
  return nil
end
function M.pending()
  return waiting_c() + #ready + #timers
end

-- wait(t) outside a task while tasks are alive (core.await calls it):
-- drives the loop until t is done or has news, resuming the tasks meanwhile.
local function wait_outside(t)
  if idle() then return wait_c(t) end -- nothing else to run: stay in C
  local done, woken = done_c(t)
  while not (done or woken) do
    turn(1.0)
    done, woken = done_c(t)
  end
end

-- A coroutine core.step resumed that did not park again.
local function after_co(co, ...)
  return after(by_co[co], ...)
end

-- M.wait(t): waits for transfer t: parks the task when inside one (core.await,
-- runtime/engine.c: it runs on every request), otherwise drives the loop
-- until t is done or has news for Lua (a streamed chunk, a request for
-- upload data, a progress report).
M.wait, step_c = core.scheduler(by_co, wait_outside, after_co)

-- http.sleep(s): pauses a task without blocking the others; outside a task
-- it blocks the caller but keeps the tasks running.
function M.sleep(s)
  if type(s) ~= "number" then
    error(("bad argument #1 to 'sleep' (number expected, got %s)"):format(type(s)), 2)
  end
  local at = now() + s
  local task = current()
  if task then
    add_timer(at, task)
    task.timer = true
    park()
    task.timer = nil
    return
  end
  while true do
    local left = at - now()
    if left <= 0 then return end
    turn(left)
  end
end

-- http.spawn(fn, ...) -> task.  The task starts at once and runs until its
-- first request (or sleep), then the caller goes on.
function M.spawn(fn, ...)
  if type(fn) ~= "function" then
    error(("bad argument #1 to 'spawn' (function expected, got %s)"):format(type(fn)), 2)
  end
  local co = coroutine.create(fn)
  local task = setmetatable({ co = co, status = "running" }, TASK_MT)
  by_co[co] = task
  nlive = nlive + 1
  tasks_live(nlive)
  resume(task, ...)
  return task
end

local function raise_failure(task)
  local err = task.error
  if type(err) == "table" then
    if rawget(err, "traceback") == nil then err.traceback = task.traceback end
    error(err, 0)
  end
  error(tostring(err) .. "\n(in task) " .. task.traceback, 0)
end

-- Waits until every task in the list has ended (yielding when called from
-- a task).
local function wait_all(tasks)
  local me = current()
  for i = 1, #tasks do
    local t = tasks[i]
    if getmetatable(t) ~= TASK_MT then
      error(("bad argument #1 to 'join' (list of tasks expected, item %d is a %s)"):format(i, type(t)), 3)
    end
    if me then
      while t.status == "running" do
        if t == me then error("a task cannot join itself", 3) end
        t.joiners = t.joiners or {}
        t.joiners[#t.joiners + 1] = me
        park()
      end
    else
      while t.status == "running" do
        if idle() then error("deadlock: task waits for nothing", 3) end
        turn(1.0)
      end
    end
  end
end

-- http.join(tasks) -> results in order (each task's first value); raises
-- the first failed task's error, with its traceback, once all have ended.
function M.join(tasks)
  if type(tasks) ~= "table" then
    error(("bad argument #1 to 'join' (table expected, got %s)"):format(type(tasks)), 2)
  end
  if getmetatable(tasks) == TASK_MT then tasks = { tasks } end
  wait_all(tasks)
  local results = {}
  for i = 1, #tasks do
    local t = tasks[i]
    if t.status == "failed" then raise_failure(t) end
    results[i] = t.results and t.results[1]
  end
  return results
end

-- task:join() -> every value the task's function returned.
function methods.join(task)
  wait_all({ task })
  if task.status == "failed" then raise_failure(task) end
  if task.results then return table.unpack(task.results, 1, task.results.n) end
end

-- task:cancel(): stops the task where it waits and releases its transfer.
-- A cancelled task's result is nil; join does not raise for it.
function methods.cancel(task)
  if task.status ~= "running" then return false end
  if co_running() == task.co then error("a task cannot cancel itself", 2) end
  core.cancel_wait(task.co) -- the transfer it waits on, if any
  for i = #timers, 1, -1 do
    if timers[i][2] == task then table.remove(timers, i) end
  end
  for i = #ready, 1, -1 do
    if ready[i] == task then table.remove(ready, i) end
  end
  coroutine.close(task.co)
  task.status = "cancelled"
  nlive = nlive - 1
  tasks_live(nlive)
  local joiners = task.joiners
  task.joiners = nil
  if joiners then
    for i = 1, #joiners do ready[#ready + 1] = joiners[i] end
  end
  return true
end

function methods.done(task) return task.status ~= "running" end

-- Semaphores bound the requests a session has in flight
-- (max_connections, max_host_connections).  A task waits parked; a caller
-- outside tasks drives the loop until a slot is free.  A semaphore is a
-- to-be-closed value: `local _ <close> = sem` after acquire(sem) gives the
-- slot back however the block ends (lurl.exchange holds its slots so).
-- sem.free is the count of free slots: lurl.exchange takes a free one
-- itself (free - 1, acquire's first branch, without the call) and calls
-- acquire only when none is free.
local SEM_MT = {}
function M.semaphore(n)
  return setmetatable({ free = n, waiters = {} }, SEM_MT)
end

function M.acquire(sem)
  if sem.free > 0 then
    sem.free = sem.free - 1
    return
  end
  local me = current()
  if me then
    sem.waiters[#sem.waiters + 1] = me
    park() -- resumed by release, which hands its slot over
    return
  end
  while sem.free == 0 do
    if idle() then error("deadlock: no request in flight can free a connection slot", 3) end
    turn(1.0)
  end
  sem.free = sem.free - 1
end

function M.release(sem)
  local waiters = sem.waiters
  if waiters[1] == nil then -- nobody waits: the common case
    sem.free = sem.free + 1
    return
  end
  local w = table.remove(waiters, 1)
  while w and w.status ~= "running" do w = table.remove(sem.waiters, 1) end -- cancelled
  if w then
    ready[#ready + 1] = w
  else
    sem.free = sem.free + 1
  end
end

SEM_MT.__close = M.release

TASK_MT.__tostring = function(task) return ("http.task (%s)"):format(task.status) end

return M
