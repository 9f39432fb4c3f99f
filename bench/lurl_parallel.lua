-- lurl benchmark: N GETs with P in flight through s:parallel.
--   lurl bench/lurl_parallel.lua URL N P
-- Prints "@mark start", "@mark end" and a RESULT line (see bench/run).
local http = require "http"

local url, n, p = arg[1], tonumber(arg[2]), tonumber(arg[3])
local s <close> = http.session {}
local list = {}
for i = 1, n do list[i] = url end
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
local results = s:parallel(list, { concurrency = p })
local ok, bytes = 0, 0
for i = 1, n do
  local res = results[i]
  if res.status == 200 then ok = ok + 1 end
  bytes = bytes + #(res.body or "")
end
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, bytes, cpu))
