-- http.robots (RFC 9309) and scripts/scrape.lua, the polite scraper: the
-- fixture site (spec/servers/fault_routes_html.py) serves a three-page
-- catalogue and a robots.txt; the fault server records every request, so
-- the tests check what the site was asked, with which User-Agent, how
-- often robots.txt was fetched and how far apart the pages came.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local must, q = support.must, support.q
local FAULT = helper.fault
local SCRIPT = "scripts/scrape.lua"

-- the requests the fault server recorded since the last reset
local function recorded()
  return cjson.decode(must(http.get(FAULT .. "/requests")).body)
end
local function reset() must(http.get(FAULT .. "/reset-log")) end
local function header(r, name)
  for _, kv in ipairs(r.headers) do
    if kv[1]:lower() == name then return kv[2] end
  end
end

describe("http.robots", function()
  local robots = require "lurl.robots"

  it("parses groups and picks the longest matching rule, Allow on a tie", function()
    local groups = robots.parse([[
# comment
User-agent: BookBot
User-agent: other
Disallow: /private   # trailing comment
Allow: /private/open
disallow: /*.pdf$
Disallow:

User-Agent: *
Disallow: /
Allow: /public/
Crawl-delay: 3
]])
    local book = robots.rules_for(groups, "bookbot")
    local star = robots.rules_for(groups, "SomethingElse")
    local cases = {
      { book, "/index.html", true }, { book, "/private", false }, { book, "/private/x", false },
      { book, "/private/open/x", true }, { book, "/x.pdf", false }, { book, "/x.pdf?y", true },
      { book, "/a%2fb", true }, { star, "/index.html", false }, { star, "/public/x", true },
      { star, "/public", false },
    }
    for _, c in ipairs(cases) do
      assert.equal(c[3], robots.allowed_path(c[1], c[2]), c[2])
    end
    local tie = robots.parse("User-agent: *\nDisallow: /a\nAllow: /a\n")
    assert.is_true(robots.allowed_path(robots.rules_for(tie, "x"), "/a/b"))
    assert.is_true(robots.allowed_path(robots.rules_for(robots.parse(""), "x"), "/any"))
    local esc = robots.parse("User-agent: *\nDisallow: /a%2Fb\nDisallow: /q?x=(1)\n")
    assert.is_false(robots.allowed_path(robots.rules_for(esc, "x"), "/a%2fb"))
    assert.is_false(robots.allowed_path(robots.rules_for(esc, "x"), "/q?x=(1)&y"))
  end)

  it("fetches robots.txt once per origin and session and follows its rules", function()
    reset()
    local s <close> = http.session { headers = { ["User-Agent"] = "BookBot/2.0" } }
    assert.is_true(http.robots(FAULT .. "/site/catalogue/page-1.html", { session = s }))
    assert.is_false(http.robots(FAULT .. "/site/private/secret.html", { session = s }))
    assert.is_true(http.robots(FAULT .. "/site/private/open.html", { session = s }))
    assert.is_false(http.robots(FAULT .. "/files/report.pdf", { session = s }))
    assert.is_true(http.robots(FAULT .. "/files/report.pdf?v=2#x", { session = s }))
    assert.is_true(http.robots(FAULT .. "/robots.txt", { session = s }))
    -- the BadBot group shuts everything for that token only
    assert.is_false(http.robots(FAULT .. "/site/catalogue/page-1.html", { user_agent = "BadBot/1.0" }))
    local reqs = recorded()
    local got = {}
    for _, r in ipairs(reqs) do got[#got + 1] = r.path .. " " .. tostring(header(r, "user-agent")) end
    assert.same({ "/robots.txt BookBot/2.0", "/robots.txt lurl/" .. http.VERSION }, got)
  end)

  it("allows all on a 4xx, disallows all on a 5xx or when unreachable", function()
    assert.is_true(http.robots(helper.app .. "/anything"))         -- the app answers 404
    local port = FAULT:match(":(%d+)$")
    assert.is_false(http.robots("http://localhost:" .. port .. "/site/catalogue/page-1.html"))
    assert.is_false(http.robots("http://127.0.0.1:" .. helper.dead_port .. "/x"))
  end)

  it("refuses bad arguments, naming them", function()
    assert.has_error(function() http.robots(42) end, "bad argument #1 to 'robots' (string expected, got number)")
    assert.has_error(function() http.robots("ftp://h/x") end,
      'bad argument #1 to \'robots\' (an http or https URL expected, got "ftp://h/x")')
    assert.has_error(function() http.robots(FAULT, { useragent = "x" }) end,
      "bad argument #2 to 'robots' (unknown field 'useragent')")
    assert.has_error(function() http.robots(FAULT, { session = {} }) end,
      "bad argument #2 to 'robots' (field 'session': http.session expected)")
  end)
end)

describe("scripts/scrape.lua", function()
  local function run(args, env)
    local cmd = { "env", "-u SCRAPE_URL" }
    for k, v in pairs(env or {}) do cmd[#cmd + 1] = q(k .. "=" .. v) end
    cmd[#cmd + 1] = q("LUA_CPATH=" .. package.cpath)
    cmd[#cmd + 1] = q("LUA_PATH=" .. package.path)
    cmd[#cmd + 1] = q(os.getenv("LURL_BIN") or "lua5.4")
    cmd[#cmd + 1] = q(SCRIPT)
    for _, a in ipairs(args) do cmd[#cmd + 1] = q(a) end
    local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
    local out = p:read("a")
    local _, _, code = p:close()
    return out, code
  end

  it("reads every book of every page, politely", function()
    reset()
    local out, code = run({ FAULT .. "/site/catalogue/page-1.html" }, { SCRAPE_RATE = "10" })
    assert.equal(0, code, out)
    assert.equal([[
page 1: A Light in the Attic
page 1: Tipping the Velvet
page 1: Soumission
page 2: Sharp Objects
page 2: Sapiens: A Brief History of Humankind
page 2: The Requiem Red
page 3: The Dirty Little Secrets
page 3: The Coming Woman
page 3: The Boys in the Boat
9 books on 3 pages
]], out)
    local reqs = recorded()
    local paths, times = {}, {}
    for _, r in ipairs(reqs) do
      paths[#paths + 1] = r.path
      times[#times + 1] = r.time
      assert.equal("lurl-scrape/1.0 (+https://example.invalid/lurl)", header(r, "user-agent"))
    end
    assert.same({ "/robots.txt", "/site/catalogue/page-1.html", "/site/catalogue/page-2.html",
      "/site/catalogue/page-3.html" }, paths)
    -- 4 requests at 10 a second: slots 0.1 s apart (a slow first request
    -- may arrive late in its slot, so only the whole span is certain)
    assert.is_true(times[#times] - times[1] >= 0.25, "requests spaced by the rate limit")
  end)

  it("stops where robots.txt disallows, and says so", function()
    local out, code = run({ FAULT .. "/site/private/secret.html" })
    assert.equal(3, code)
    assert.matches("robots.txt disallows " .. FAULT .. "/site/private/secret.html: stopping", out, 1, true)
    out, code = run({})
    assert.equal(2, code)
    assert.matches("usage: lurl scrape.lua", out, 1, true)
  end)
end)
