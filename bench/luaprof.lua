-- bench/luaprof.lua: Lua VM instructions per source line of a lurl script.
--   lurl bench/luaprof.lua OUT SCRIPT ARGS...
-- Runs SCRIPT with ARGS under a count hook (every VM instruction, in every
-- coroutine: debug.sethook's hook is per thread, so coroutine.create is
-- wrapped to hook each new one before http is loaded) and writes to OUT one
-- line per source line that executed: count, "source:line".  Two runs of a shape
-- script making B and B + N requests, subtracted (bench/luaprof_diff.py),
-- give the Lua lines one request runs; callgrind cannot see Lua functions.
-- Slow (a hook call per instruction): a few hundred requests are enough.
local out, script = arg[1], arg[2]
local counts = {}
local getinfo = debug.getinfo
local function hook()
  local d = getinfo(2, "Sl")
  local k = d.short_src .. ":" .. (d.currentline or 0)
  counts[k] = (counts[k] or 0) + 1
end
local args = { [0] = script }
for i = 3, #arg do args[i - 2] = arg[i] end
arg = args
local create = coroutine.create
coroutine.create = function(f)
  local co = create(f)
  debug.sethook(co, hook, "", 1)
  return co
end
local chunk = assert(loadfile(script))
debug.sethook(hook, "", 1)
chunk(table.unpack(args))
debug.sethook()
local f = assert(io.open(out, "w"))
for k, v in pairs(counts) do f:write(v, " ", k, "\n") end
f:close()
