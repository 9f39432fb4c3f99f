-- lurl benchmark: the per-request cost of a mocked exchange (http.mock,
-- issue 18) against a real one.
--   lurl bench/lurl_mock.lua URL N [mock|real|both]
-- URL is a real server's small JSON (bench/run's nginx, or any local one);
-- the mock answers the same path with the same body, over the same
-- session code (base_url, a JSON body decoded, a header read).  Prints a
-- RESULT line per mode: n, wall and CPU seconds, microseconds per request.
-- Whole-process timing works too: `time lurl bench/lurl_mock.lua URL N mock`.
local http = require "http"

local url, n, mode = arg[1], tonumber(arg[2]), arg[3] or "both"
assert(url and n, "usage: lurl bench/lurl_mock.lua URL N [mock|real|both]")
local base, path = url:match("^(%a+://[^/]+)(/.*)$")
local body = assert(http.get(url)).body

local function run(label, transport)
  local s <close> = http.session { base_url = base, transport = transport }
  local ok = 0
  local w0, c0 = http.now(), os.clock()
  for _ = 1, n do
    local res = assert(s:get(path))
    if res.status == 200 and res.headers["content-type"] then ok = ok + 1 end
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
