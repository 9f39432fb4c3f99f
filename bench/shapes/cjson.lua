-- The reference of the "json" shape: lua-cjson's own decode of the same
-- body, N times (no HTTP).  lurl bench/shapes/cjson.lua FILE N
local cjson = require "cjson"
local path, n = arg[1], math.tointeger(tonumber(arg[2]))
local f = assert(io.open(path, "rb"))
local body = f:read("a")
f:close()
local ok = 0
io.stdout:write("@mark start\n"); io.stdout:flush()
local c0 = os.clock()
for _ = 1, n do
  local v = cjson.decode(body)
  if v.id == 12345 and v.owner.id == 42 then ok = ok + 1 end
end
local cpu = os.clock() - c0
io.stdout:write("@mark end\n"); io.stdout:flush()
print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, n * #body, cpu))
