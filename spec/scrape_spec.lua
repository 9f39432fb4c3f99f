-- scripts/scrape.lua runs for real: in a child process (LURL_BIN when set,
-- as under ctest; otherwise lua5.4 with the caller's LUA_CPATH) against
-- the fixture book catalogue of spec/servers/fault_routes_scrape.py, which
-- the fault server serves with its robots.txt.  What the script printed is
-- checked, and so is what the server's log recorded while it ran: which
-- pages were asked for and in which order, the User-Agent of each
-- request, robots.txt fetched once, the spacing of the requests.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local SITE = helper.fault -- http://127.0.0.1:P: the catalogue and its robots.txt
local BIN = os.getenv("LURL_BIN") or "lua5.4"
local UA = "lurl-books-tutorial/1.0 (+https://example.com/about-this-bot)"
local q = support.q

-- every book of the catalogue, in order, as the script prints them
local TITLES = {
  "A Light in the Attic", "Tipping the Velvet", "Soumission", "Sharp Objects",
  "Sapiens: A Brief History of Humankind", "The Requiem Red",
  "The Dirty Little Secrets of Getting Your Dream Job",
  "The Coming Woman: A Novel Based on the Life of the Infamous Feminist, Victoria Woodhull",
  "The Boys in the Boat: Nine Americans and Their Epic Quest for Gold at the 1936 Berlin Olympics",
  "The Black Maria", "Starving Hearts (Triangular Trade Trilogy, #1)", "Shakespeare's Sonnets",
  "Set Me Free", "Scott Pilgrim's Precious Little Life (Scott Pilgrim #1)",
  "Rip it Up and Start Again",
  "Our Band Could Be Your Life: Scenes from the American Indie Underground, 1981-1991",
  "Olio", "Mesaerion: The Best Science Fiction Stories 1800-1849", "Libertarianism for Beginners",
  "Les Misérables & Other Stories",
}

-- runs the script with args; returns ok, exit code, stdout, stderr
local function run(args)
  local errfile = helper.tmpdir .. "/scrape.stderr"
  local cmd = q(BIN) .. " scripts/scrape.lua"
  for _, a in ipairs(args or {}) do cmd = cmd .. " " .. q(a) end
  local p = assert(io.popen(cmd .. " 2>" .. q(errfile), "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  local err = support.read_file(errfile) or ""
  return ok, code, out, err
end

local function lines(s)
  local out = {}
  for l in s:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- the server's log: {path, ua, time} per request
local function requests()
  local out = {}
  for _, r in ipairs(support.fault_log()) do
    local ua
    for _, h in ipairs(r.headers) do
      if h[1]:lower() == "user-agent" then ua = h[2] end
    end
    out[#out + 1] = { path = r.path, ua = ua, time = r.time }
  end
  return out
end

local function paths(reqs)
  local out = {}
  for i, r in ipairs(reqs) do out[i] = r.path end
  return out
end

describe("scripts/scrape.lua", function()
  before_each(function() support.fault_reset() end)

  it("prints every title of every page in order, politely", function()
    local ok, code, out, err = run { SITE .. "/", "10" }
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    local titles = {}
    for i, l in ipairs(lines(out)) do
      local t, price = l:match("^(.-)\t(.*)$")
      titles[i] = t
      assert.matches("^\194\163%d+%.%d%d$", price) -- £12.34
    end
    assert.are.same(TITLES, titles)
    assert.matches("20 books on 4 pages", err, 1, true)

    local reqs = requests()
    -- robots.txt once, then the pages in order, nothing else (no basket,
    -- no book pages)
    assert.are.same({ "/robots.txt", "/", "/catalogue/page-2.html", "/catalogue/page-3.html",
      "/catalogue/page-4.html" }, paths(reqs))
    for _, r in ipairs(reqs) do assert.are.equal(UA, r.ua, r.path) end
    -- rate_limit 10/s: requests sent at least 0.1 s apart.  Checked loosely,
    -- on arrival, from the second request on: the first one also opens the
    -- connection, so it may arrive late in its slot, close to the second.
    for i = 3, #reqs do
      local gap = reqs[i].time - reqs[i - 1].time
      assert.is_true(gap >= 0.07, ("%s came %.3f s after %s"):format(reqs[i].path, gap, reqs[i - 1].path))
    end
  end)

  it("does not fetch a page robots.txt disallows, and stops there", function()
    local start = SITE .. "/catalogue/category/books/poetry_23/index.html"
    local ok, code, out, err = run { start, "50" }
    assert.is_true(ok, "exit " .. tostring(code) .. ": " .. err)
    assert.are.same({ "Howl and Other Poems\t\194\16340.45", "Leaves of Grass\t\194\16321.99" }, lines(out))
    assert.matches("robots.txt disallows " .. SITE .. "/catalogue/category/books/poetry_23/page-2.html",
      err, 1, true)
    assert.matches("2 books on 1 pages", err, 1, true)
    assert.are.same({ "/robots.txt", "/catalogue/category/books/poetry_23/index.html" }, paths(requests()))
  end)

  it("follows the robots.txt group of its User-Agent", function()
    local ok, code, out, err = run { SITE .. "/", "50", "GreedyBot/2.0" }
    assert.is_falsy(ok)
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.matches("robots.txt disallows " .. SITE .. "/ for GreedyBot/2.0", err, 1, true)
    local reqs = requests()
    assert.are.same({ "/robots.txt" }, paths(reqs))
    assert.are.equal("GreedyBot/2.0", reqs[1].ua)
  end)

  it("explains its usage", function()
    local ok, code, _, err = run {}
    assert.is_falsy(ok)
    assert.are.equal(2, code)
    assert.matches("usage:", err, 1, true)
    ok, code, _, err = run { SITE .. "/", "fast" }
    assert.is_falsy(ok)
    assert.are.equal(2, code)
    assert.matches("RATE must be a positive number", err, 1, true)
    assert.are.same({}, requests())
  end)
end)
