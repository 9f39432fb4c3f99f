-- lurl benchmark: sequential keep-alive GETs over one session.
--   lurl bench/lurl_seq.lua URL N
-- Prints "@mark start", "@mark end" and a RESULT line (see bench/run).
local http = require "http"

local url, n = arg[1], tonumber(arg[2])
local s <close> = http.session {}
local ok, bytes = 0, 0
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
for _ = 1, n do
  local res = assert(s:get(url))
  if res.status == 200 then ok = ok + 1 end
  bytes = bytes + #res.body
end
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, bytes, cpu))
