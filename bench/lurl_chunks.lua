-- lurl benchmark: streaming download read with res:chunks (SPEC: stream=true).
--   lurl bench/lurl_chunks.lua URL
-- Prints "@mark start", "@mark end" and a RESULT line (see bench/run).
local http = require "http"

local url = arg[1]
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
local res = assert(http.get(url, { stream = true }))
local bytes = 0
for chunk in res:chunks(65536) do bytes = bytes + #chunk end
res:close()
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=1 ok=%d bytes=%d cpu=%.6f"):format(res.status == 200 and 1 or 0, bytes, cpu))
