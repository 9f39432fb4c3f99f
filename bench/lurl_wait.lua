-- lurl benchmark: T spawned tasks each waiting on a slow response at once
-- (bench/run compares peak RSS with T=1 and T=1000).
--   lurl bench/lurl_wait.lua URL T
-- Prints "@mark start", "@mark end" and a RESULT line (see bench/run).
local http = require "http"

local url, t = arg[1], tonumber(arg[2])
local s <close> = http.session {}
local ok, bytes = 0, 0
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
local tasks = {}
for i = 1, t do
  tasks[i] = http.spawn(function()
    local res = assert(s:get(url))
    if res.status == 200 then ok = ok + 1 end
    bytes = bytes + #res.body
  end)
end
http.join(tasks)
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(t, ok, bytes, cpu))
