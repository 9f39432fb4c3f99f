-- lurl benchmark: streaming download written with res:save (SPEC: stream=true).
--   lurl bench/lurl_save.lua URL PATH
-- PATH is a regular file that bench/run gives (on tmpfs when it can) and
-- removes afterwards; never a device: res:save writes PATH .. ".part" and
-- renames it over PATH.  Prints "@mark start", "@mark end" and a RESULT line
-- whose byte count is read back from the file.
local http = require "http"

local url, path = arg[1], arg[2]
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
local res = assert(http.get(url, { stream = true }))
res:save(path)
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
local f = assert(io.open(path, "rb"))
local bytes = f:seek("end")
f:close()
print(("RESULT n=1 ok=%d bytes=%d cpu=%.6f"):format(res.status == 200 and 1 or 0, bytes, cpu))
