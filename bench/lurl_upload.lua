-- lurl benchmark: multipart upload of a file with files= (SPEC: http.file).
--   lurl bench/lurl_upload.lua URL FILE
-- The sink answers {"received": N}.  Prints "@mark start", "@mark end" and
-- a RESULT line (see bench/run).
local http = require "http"

local url, path = arg[1], arg[2]
if http.file == nil then error("http.file is not implemented yet", 0) end
local f = assert(io.open(path, "rb"))
local size = f:seek("end")
f:close()
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
local res = assert(http.post(url, { files = { file = http.file(path) } }))
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=1 ok=%d bytes=%d cpu=%.6f recv=%d"):format(res.status == 200 and 1 or 0, size,
  cpu, res:json().received))
