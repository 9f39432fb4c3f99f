-- lurl benchmark: N GETs by P spawned tasks, each looping s:get.
--   lurl bench/lurl_spawn.lua URL N P
-- Prints "@mark start", "@mark end" and a RESULT line (see bench/run).
local http = require "http"

local url, n, p = arg[1], tonumber(arg[2]), tonumber(arg[3])
local s <close> = http.session {}
local ok, bytes, nexti = 0, 0, 0
local function worker()
  while nexti < n do
    nexti = nexti + 1
    local res = assert(s:get(url))
    if res.status == 200 then ok = ok + 1 end
    bytes = bytes + #res.body
  end
end
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
local tasks = {}
for i = 1, p do tasks[i] = http.spawn(worker) end
http.join(tasks)
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, bytes, cpu))
