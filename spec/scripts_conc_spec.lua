-- The concurrency and pagination example scripts run for real:
-- scripts/paginate.lua and scripts/parallel_fetch.lua, each in a child
-- process (LURL_BIN when set, as under ctest; otherwise lua5.4 with the
-- caller's LUA_CPATH) against the fixture app.  Their printed summaries
-- are checked, and so is what the app recorded while they ran.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local APP = helper.app
local BIN = os.getenv("LURL_BIN") or "lua5.4"

local q = support.q

local must = support.must

local function app_stats(path)
  return cjson.decode(must(http.get(APP .. "/api/stats", { params = { path = path } })).body)
end

-- runs `BIN script args...` (with optional environment prefix);
-- returns ok, exit code, stdout (stderr goes to a file shown on failure)
local function run(script, args, env)
  local errfile = helper.tmpdir .. "/scripts_conc.stderr"
  local cmd = (env or "") .. q(BIN) .. " " .. q(script)
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. q(a) end
  local p = assert(io.popen(cmd .. " 2>" .. q(errfile), "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  local f = io.open(errfile)
  local err = f and f:read("a") or ""
  if f then f:close() end
  return ok, code, out, err
end

local function field(out, name)
  return out:match("\n" .. name .. "%s+([%d.]+)") or out:match("^" .. name .. "%s+([%d.]+)")
end

describe("scripts/paginate.lua", function()
  before_each(function() must(http.get(APP .. "/api/stats/reset")) end)

  it("walks the collection by Link headers and by cursor", function()
    local ok, code, out, err = run("scripts/paginate.lua", { APP })
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    assert.matches("link:   10 pages, 95 items, ids 1..95", out, 1, true)
    assert.matches("cursor: 10 pages, 95 items, ids 1..95", out, 1, true)
    -- the app saw each page exactly once
    assert.are.equal(10, app_stats("/api/items").count)
    local cur = app_stats("/api/cursor")
    assert.are.equal(10, cur.count)
    assert.are.equal("limit=10", cur.requests[1].query)
    assert.matches("cursor=", cur.requests[10].query, 1, true)
  end)

  it("takes the URL from APP_URL, and a page size", function()
    local ok, code, out, err = run("scripts/paginate.lua", nil, "APP_URL=" .. q(APP) .. " ")
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    assert.matches("link:   10 pages, 95 items", out, 1, true)
    ok, code, out, err = run("scripts/paginate.lua", { APP, "40" })
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    assert.matches("link:   3 pages, 95 items, ids 1..95", out, 1, true)
    assert.matches("cursor: 3 pages, 95 items, ids 1..95", out, 1, true)
    assert.are.equal(3 + 3 + 10 + 10, app_stats("/api/").count)
  end)

  it("explains its usage without a URL", function()
    local ok, code, _, err = run("scripts/paginate.lua", nil, "env -u APP_URL ")
    assert.is_falsy(ok)
    assert.are.equal(2, code)
    assert.matches("usage:", err, 1, true)
  end)
end)

describe("scripts/parallel_fetch.lua", function()
  before_each(function() must(http.get(APP .. "/api/stats/reset")) end)

  it("fetches with bounded concurrency under the rate limit and prints a summary", function()
    -- 40 URLs, 8 at a time, 100 requests/s: about 0.4 s
    local ok, code, out, err = run("scripts/parallel_fetch.lua", { APP, "40", "8", "100" })
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    assert.matches("parallel_fetch: 40 URLs, concurrency 8, rate limit 100/s", out, 1, true)
    assert.are.equal("40", field(out, "count"))
    assert.are.equal("0", field(out, "errors"))
    local wall, rps = tonumber(field(out, "wall")), tonumber(field(out, "requests/s"))
    local p50, p95 = tonumber(field(out, "p50")), tonumber(field(out, "p95"))
    assert.is_true(wall >= 0.35, "wall " .. wall)
    assert.is_true(rps > 0 and rps <= 110, "requests/s " .. rps)
    assert.is_true(p50 > 0 and p50 <= p95, out)

    -- what the app recorded
    local st = app_stats("/api/items/")
    assert.are.equal(40, st.count)
    assert.is_true(st.max_in_flight <= 8, "max in flight " .. st.max_in_flight)
    local seen = {}
    for _, r in ipairs(st.requests) do
      assert.are.equal(200, r.status)
      seen[tonumber(r.query:match("n=(%d+)"))] = true
    end
    for i = 1, 40 do assert.is_true(seen[i], "URL " .. i .. " never arrived") end
    local r = st.requests
    local spacing = (r[#r].arrival - r[1].arrival) / (#r - 1)
    assert.is_true(spacing >= 0.009, ("requests %.4f s apart on average"):format(spacing))
  end)

  it("counts failed requests instead of stopping", function()
    -- a port that refuses connections: every request fails, none raises
    local dead = "http://127.0.0.1:" .. helper.dead_port
    local ok, code, out, err = run("scripts/parallel_fetch.lua", { dead, "5", "5", "1000" })
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    assert.are.equal("5", field(out, "count"))
    assert.are.equal("5", field(out, "errors"))
    assert.matches("ConnectionError%s+5", out)
  end)
end)
