-- lurl benchmark: the per-request cost of a mocked exchange (http.mock,
-- issue 18) against a real one.
--   lurl bench/lurl_mock.lua URL N [mock|real|both] [callgrind]
-- URL is a real server's small JSON (bench/run's nginx, or any local one);
-- the mock answers the same path with the same body, over the same
-- session code (base_url, the body read, a header read).  Prints a RESULT
-- line per mode: n, wall and CPU seconds, microseconds per request.
-- With `callgrind` (valgrind installed), runs itself under callgrind with
-- 1 and 1 + N requests per mode and prints instructions per request (the
-- difference over N: start-up and the first connection cancel out).
-- Whole-process timing works too: `time lurl bench/lurl_mock.lua URL N mock`.
local http = require "http"

local url, n, mode, cg = arg[1], tonumber(arg[2]), arg[3] or "both", arg[4]
assert(url and n, "usage: lurl bench/lurl_mock.lua URL N [mock|real|both] [callgrind]")

if cg == "callgrind" then
  local lurl, script = arg[-1], arg[0]
  local function ir(m, k)
    local f = os.tmpname()
    local p = io.popen(("valgrind --tool=callgrind --callgrind-out-file=%q %q %q %q %d %s 2>/dev/null")
      :format(f, lurl, script, url, k, m))
    local out = p:read("a")
    p:close()
    local cgf = io.open(f)
    local total = cgf and cgf:read("a"):match("\nsummary: (%d+)") or cgf and nil
    if cgf then cgf:close() end
    os.remove(f)
    assert(total and out:find("ok=" .. k .. " ", 1, true), "callgrind run failed: " .. out)
    return tonumber(total)
  end
  for _, m in ipairs(mode == "both" and { "mock", "real" } or { mode }) do
    print(("CALLGRIND mode=%s n=%d ir_per_req=%.0f"):format(m, n, (ir(m, 1 + n) - ir(m, 1)) / n))
  end
  return
end

local base, path = url:match("^(%a+://[^/]+)(/.*)$")
local body = assert(http.get(url)).body

local function run(label, transport)
  local s <close> = http.session { base_url = base, transport = transport }
  local ok = 0
  local w0, c0 = http.now(), os.clock()
  for _ = 1, n do
    local res = assert(s:get(path))
    if res.status == 200 and res.headers["content-type"] and #res.body > 0 then ok = ok + 1 end
  end
  local wall, cpu = http.now() - w0, os.clock() - c0
  print(("RESULT mode=%s n=%d ok=%d wall=%.3f cpu=%.3f us_per_req=%.1f"):format(label, n, ok,
    wall, cpu, wall / n * 1e6))
end

if mode == "mock" or mode == "both" then
  local mock = http.mock()
  mock:get(path, { headers = { ["Content-Type"] = "application/json" }, body = body })
  run("mock", mock)
end
if mode == "real" or mode == "both" then run("real", nil) end
