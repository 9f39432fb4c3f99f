-- parallel_fetch.lua: many requests at once, politely.
--
-- Shows http.parallel on a session: COUNT URLs (default 1000) fetched with
-- at most CONCURRENCY in flight (default 50), while the session's
-- rate_limit (default 250 requests/s) spaces them out; one failed request
-- never stops the batch (its slot holds the error).  Prints a timing
-- summary: count, errors, wall time, requests/s, and p50/p95 latency taken
-- from each response's res.elapsed.
--
-- It talks to the fixture app of lurl's specs (spec/servers/app.py).  Run
-- the app, then the script:
--   /usr/bin/gunicorn --chdir spec/servers -k gthread --threads 64 -b 127.0.0.1:8000 app:app &
--   lurl scripts/parallel_fetch.lua http://127.0.0.1:8000 [COUNT [CONCURRENCY [RATE]]]
-- (or set APP_URL instead of the first argument; with stock lua5.4, put the
-- directory of http.so in LUA_CPATH).
local http = require "http"

local base = arg[1] or os.getenv("APP_URL")
if not base then
  io.stderr:write("usage: lurl parallel_fetch.lua APP_URL [COUNT [CONCURRENCY [RATE]]]   (or set APP_URL)\n")
  os.exit(2)
end

local function positive(i, default, what, integer)
  local v = tonumber(arg[i] or default)
  if integer then v = v and math.tointeger(v) end
  if not v or v <= 0 then
    io.stderr:write(("parallel_fetch.lua: %s must be a positive %s\n"):format(what, integer and "integer" or "number"))
    os.exit(2)
  end
  return v
end
local count = positive(2, 1000, "COUNT", true)
local concurrency = positive(3, 50, "CONCURRENCY", true)
local rate = positive(4, 250, "RATE")

-- A wall clock with sub-second resolution, if luasystem (busted's
-- dependency) is there; otherwise os.time, to the second.
local clock, resolution = os.time, " (1 s resolution)"
do
  local ok, system = pcall(require, "system")
  if ok and system.monotime then clock, resolution = system.monotime, "" end
end

-- The app has 95 items; the n= parameter makes every URL distinct.
local list = {}
for i = 1, count do
  list[i] = ("%s/api/items/%d?n=%d"):format(base, (i - 1) % 95 + 1, i)
end

local s <close> = http.session { rate_limit = rate, timeout = 10 }
local t0 = clock()
local results = s:parallel(list, { concurrency = concurrency })
local wall = clock() - t0

-- A slot holds a response (any status) or an error object.
local latencies, errors, kinds = {}, 0, {}
for _, r in ipairs(results) do
  if r.status then
    latencies[#latencies + 1] = r.elapsed
    if r.status >= 400 then
      errors = errors + 1
      kinds["HTTP " .. r.status] = (kinds["HTTP " .. r.status] or 0) + 1
    end
  else
    errors = errors + 1
    kinds[r.kind] = (kinds[r.kind] or 0) + 1
  end
end
table.sort(latencies)

-- nearest-rank percentile of a sorted list
local function percentile(sorted, p)
  if #sorted == 0 then return 0 end
  local k = math.max(1, math.ceil(p / 100 * #sorted))
  return sorted[k]
end

print(("parallel_fetch: %d URLs, concurrency %d, rate limit %g/s"):format(count, concurrency, rate))
print(("count       %d"):format(#results))
print(("errors      %d"):format(errors))
for kind, n in pairs(kinds) do print(("  %-9s %d"):format(kind, n)) end
print(("wall        %.3f s%s"):format(wall, resolution))
print(("requests/s  %.1f"):format(wall > 0 and #results / wall or 0))
print(("p50         %.1f ms"):format(percentile(latencies, 50) * 1000))
print(("p95         %.1f ms"):format(percentile(latencies, 95) * 1000))
