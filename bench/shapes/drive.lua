-- bench/shapes/drive.lua: the loop every shape script shares (see bench/run,
-- scenario "shapes").  A shape script is run as
--   lurl bench/shapes/NAME.lua URL N P
-- and hands drive.run a function making one request the way users write it:
-- with P = 1 the N calls are made one after the other; with P > 1, P tasks
-- (http.spawn) each take the next call until N have been made.  drive.batch
-- is for a shape that is one call for all N (http.parallel).
--
-- Every response is checked: a call that returns nil, err or answers other
-- than 200 is a failure; failures are counted and the first five printed
-- to stderr, and the script exits with status 1 (a call that raises ends
-- the run too: bench/run reports either).  Prints "@mark start" and
-- "@mark end" around the measured part and "RESULT n= ok= bytes= cpu="
-- (bench/run checks n, ok and the body bytes against what nginx serves).
local http = require "http"

local M = {}
local url, n, p = arg[1], math.tointeger(tonumber(arg[2])), math.tointeger(tonumber(arg[3] or "1"))
if not url or not n or not p or p < 1 then
  io.stderr:write("usage: lurl ", arg[0], " URL N P\n")
  os.exit(2)
end
M.url, M.n, M.p = url, n, p

local ok, bad, bytes = 0, 0, 0
local function check(i, res, err)
  if type(res) == "table" and res.status == 200 then
    ok = ok + 1
    bytes = bytes + #res.body
    return
  end
  bad = bad + 1
  if bad <= 5 then
    io.stderr:write(("request %d failed: %s\n"):format(i,
      type(res) == "table" and res.status and ("status " .. tostring(res.status)) or tostring(err or res)))
  end
end

local c0
local function start()
  io.stdout:write("@mark start\n"); io.stdout:flush()
  c0 = os.clock()
end

local function finish()
  local cpu = os.clock() - c0
  io.stdout:write("@mark end\n"); io.stdout:flush()
  if bad > 0 then io.stderr:write(("%d of %d requests failed\n"):format(bad, n)) end
  print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(ok + bad, ok, bytes, cpu))
  if bad > 0 then os.exit(1, true) end
end

-- call(i) makes request i and returns what the request function returned.
function M.run(call)
  start()
  if p == 1 then
    for i = 1, n do
      check(i, call(i))
    end
  else
    local nexti = 0
    local function worker()
      while nexti < n do
        nexti = nexti + 1
        local i = nexti
        check(i, call(i))
      end
    end
    local tasks = {}
    for t = 1, p do tasks[t] = http.spawn(worker) end
    http.join(tasks)
  end
  finish()
end

-- all(n, p) makes the n requests, at most p at once, and returns the list
-- of their results in order.
function M.batch(all)
  start()
  local results = all(n, p)
  for i = 1, n do check(i, results[i]) end
  finish()
end

return M
