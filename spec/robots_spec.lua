-- http.robots(url [, {user_agent=, session=}]) -> allowed: the Robots
-- Exclusion Protocol of RFC 9309, against robots.txt files a real server
-- serves.
--
-- The fault server (spec/servers/fault_routes_scrape.py) answers
-- /robots.txt by the Host header: POST /robots-set?host=NAME stores what
-- NAME gets (a body, a status, a Location, a delay).  Every test uses its
-- own NAME.localhost (libcurl resolves *.localhost to the loopback), so
-- every test is a new origin with a cold cache, and the server's log tells
-- how many times each origin's robots.txt was fetched and with which
-- User-Agent.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local PORT = helper.fault:match(":(%d+)$")
local must = support.must

local counter = 0
-- A new origin whose robots.txt is `body` (with opts: status, location,
-- delay, ctype); returns its base URL and its host name.
local function site(body, opts)
  counter = counter + 1
  local name = ("r%d-%d.localhost"):format(counter, os.time() % 100000)
  local params = { host = name }
  for k, v in pairs(opts or {}) do params[k] = tostring(v) end
  must(http.post(helper.fault .. "/robots-set", { params = params, body = body or "" }))
  return "http://" .. name .. ":" .. PORT, name
end

-- the robots.txt requests the server saw for host name
local function fetches(name)
  local out = {}
  for _, r in ipairs(support.fault_log()) do
    local host, ua
    for _, h in ipairs(r.headers) do
      if h[1]:lower() == "host" then host = h[2] end
      if h[1]:lower() == "user-agent" then ua = h[2] end
    end
    if host == name .. ":" .. PORT and r.path == "/robots.txt" then
      out[#out + 1] = { ua = ua, time = r.time }
    end
  end
  return out
end

-- allowed(base, path, ua) for each {path, expected} of cases, through one
-- session (one fetch), compared as a whole so a failure shows every case
local function check(base, cases, ua)
  local s <close> = http.session {}
  local got, want = {}, {}
  for i, c in ipairs(cases) do
    want[i] = c[1] .. " " .. tostring(c[2])
    got[i] = c[1] .. " " .. tostring(http.robots(base .. c[1], { session = s, user_agent = ua }))
  end
  assert.are.same(want, got)
end

describe("http.robots", function()
  before_each(function() support.fault_reset() end)

  describe("fetching and caching", function()
    it("fetches robots.txt once per origin for the process and answers from the cache", function()
      local base, name = site("User-agent: *\nDisallow: /private/\n")
      assert.is_false(http.robots(base .. "/private/a"))
      assert.is_true(http.robots(base .. "/public"))
      assert.is_false(http.robots(base .. "/private/b?x=1", { user_agent = "OtherBot" }))
      assert.is_true(http.robots(base:upper():gsub("^HTTP", "http") .. "/x")) -- same origin, host in capitals
      local seen = fetches(name)
      assert.are.equal(1, #seen)
      assert.matches("^lurl/", seen[1].ua)
      -- another origin: its own fetch
      local base2, name2 = site("User-agent: *\nDisallow: /\n")
      assert.is_false(http.robots(base2 .. "/private/a"))
      assert.are.equal(1, #fetches(name2))
      assert.are.equal(1, #fetches(name))
    end)

    it("keeps a cache per session when given one, and fetches through it", function()
      local base, name = site("User-agent: *\nDisallow: /x\n\nUser-agent: MyCrawler\nDisallow: /y\n")
      local s1 <close> = http.session { headers = { ["User-Agent"] = "MyCrawler/2.1 (+https://example.com/bot)" } }
      local s2 <close> = http.session { user_agent = "lurl-test" }
      -- the session's own User-Agent names the group
      assert.is_true(http.robots(base .. "/x", { session = s1 }))
      assert.is_false(http.robots(base .. "/y", { session = s1 }))
      assert.is_false(http.robots(base .. "/x", { session = s2 }))
      assert.is_true(http.robots(base .. "/y", { session = s2 }))
      -- user_agent beats the session's for choosing a group
      assert.is_false(http.robots(base .. "/x", { session = s1, user_agent = "SomethingElse" }))
      local seen = fetches(name)
      assert.are.equal(2, #seen)
      assert.are.equal("MyCrawler/2.1 (+https://example.com/bot)", seen[1].ua)
      assert.are.equal("lurl-test", seen[2].ua)
      -- the process cache is apart: a call without a session fetches again
      assert.is_false(http.robots(base .. "/x"))
      assert.are.equal(3, #fetches(name))
    end)

    it("sends user_agent as the User-Agent of the robots.txt request", function()
      local base, name = site("User-agent: *\nDisallow: /\n\nUser-agent: tidy-bot\nAllow: /\n")
      assert.is_true(http.robots(base .. "/a", { user_agent = "tidy-bot/1.0" }))
      assert.are.same({ "tidy-bot/1.0" }, { fetches(name)[1].ua })
      -- a session's User-Agent header is sent, whatever user_agent says
      local s <close> = http.session { headers = { ["User-Agent"] = "HeaderBot/1" } }
      assert.is_true(http.robots(base .. "/a", { session = s, user_agent = "tidy-bot" }))
      assert.are.equal("HeaderBot/1", fetches(name)[2].ua)
    end)

    it("takes the product token from a session's user_agent option", function()
      local base = site("User-agent: SessOpt\nDisallow: /\n")
      local s <close> = http.session { user_agent = "SessOpt/1.0" }
      assert.is_false(http.robots(base .. "/a", { session = s }))
      local s2 <close> = http.session {}
      assert.is_true(http.robots(base .. "/a", { session = s2 }))
    end)

    it("asks once when tasks ask about one origin at the same time", function()
      local base, name = site("User-agent: *\nDisallow: /no\n", { delay = 0.3 })
      local s <close> = http.session {}
      local tasks = {}
      for i = 1, 5 do
        tasks[i] = http.spawn(function()
          return http.robots(base .. (i % 2 == 0 and "/no" or "/yes"), { session = s })
        end)
      end
      assert.are.same({ true, false, true, false, true }, http.join(tasks))
      assert.are.equal(1, #fetches(name))
    end)

    it("spaces its fetch with the other requests of a session by rate_limit", function()
      local base, name = site("User-agent: *\nAllow: /\n")
      local s <close> = http.session { rate_limit = 5 }
      local t0 = http.now()
      must(s:get(helper.fault .. "/ok"))
      assert.is_true(http.robots(base .. "/", { session = s }))
      assert.is_true(http.now() - t0 >= 0.15, "the robots.txt fetch waited for its slot")
      assert.are.equal(1, #fetches(name))
    end)
  end)

  describe("answers by status", function()
    local function status_case(status, expected)
      local base, name = site("User-agent: *\nAllow: /\n", { status = status })
      assert.are.equal(expected, http.robots(base .. "/page"), "status " .. status)
      assert.are.equal(expected, http.robots(base .. "/other"), "status " .. status)
      assert.are.equal(1, #fetches(name), "fetched once, status " .. status)
    end

    it("allows everything when robots.txt is unavailable (4xx)", function()
      for _, st in ipairs { 404, 410, 403, 401, 400 } do status_case(st, true) end
    end)

    it("disallows everything when robots.txt is unreachable (5xx)", function()
      for _, st in ipairs { 500, 503 } do status_case(st, false) end
    end)

    it("disallows everything when the server cannot be reached", function()
      local dead = "http://127.0.0.1:" .. helper.dead_port
      assert.is_false(http.robots(dead .. "/"))
      assert.is_false(http.robots(dead .. "/anything", { user_agent = "x" }))
    end)

    it("disallows everything when robots.txt times out", function()
      local base, name = site("User-agent: *\nAllow: /\n", { delay = 3 })
      local s <close> = http.session { timeout = 0.3 }
      local t0 = http.now()
      assert.is_false(http.robots(base .. "/", { session = s }))
      assert.is_true(http.now() - t0 < 2.5)
      assert.is_false(http.robots(base .. "/again", { session = s }))
      assert.are.equal(1, #fetches(name))
    end)

    it("follows up to five redirects, and applies the file reached to the first origin", function()
      local base, name = site("User-agent: *\nDisallow: /moved\n",
        { status = 301, location = "/robots-hop?n=4" }) -- 5 redirects in all
      check(base, { { "/moved", false }, { "/kept", true } })
      assert.are.equal(1, #fetches(name))
    end)

    it("treats more than five redirects as unavailable (everything allowed)", function()
      local base = site("User-agent: *\nDisallow: /\n", { status = 302, location = "/robots-hop?n=5" })
      check(base, { { "/moved", true }, { "/", true } })
    end)

    it("follows a redirect to another host", function()
      local other_base = site("User-agent: *\nDisallow: /from-other\n")
      local base = site("", { status = 302, location = other_base .. "/robots-final.txt" })
      check(base, { { "/from-other", false }, { "/x", true } })
    end)
  end)

  describe("groups", function()
    local ROBOTS = table.concat({
      "Disallow: /before-any-group",          -- outside any group: ignored
      "User-agent: *",
      "Disallow: /private/",
      "",
      "User-agent: FooBot",
      "User-agent: BarBot/3.0",                -- the product token is BarBot
      "Disallow: /foo-and-bar/",
      "Sitemap: https://example.com/sitemap.xml",
      "",
      "user-agent: foobot",                    -- a second FooBot group: merged
      "disallow: /foo-only/",
    }, "\n")

    it("merges the groups naming the product token, case-insensitively", function()
      local base = site(ROBOTS)
      check(base, { { "/private/x", true }, { "/foo-and-bar/x", false }, { "/foo-only/x", false } },
        "FooBot/1.2 (+https://example.com)")
      check(base, { { "/private/x", true }, { "/foo-and-bar/x", false }, { "/foo-only/x", true } },
        "barbot")
      check(base, { { "/foo-only/x", false } }, "FOOBOT")
    end)

    it("falls back on the * groups, and ignores rules outside any group", function()
      local base = site(ROBOTS)
      check(base, { { "/private/x", false }, { "/foo-only/x", true }, { "/before-any-group", true } },
        "Other/1.0")
      check(base, { { "/private/x", false } }) -- lurl's own User-Agent: no group of its own
    end)

    it("allows everything when no group applies", function()
      local base = site("User-agent: FooBot\nDisallow: /\n")
      check(base, { { "/", true }, { "/a/b", true } }, "NotFoo")
      check(base, { { "/", false } }, "FooBot")
    end)

    it("does not take a prefix of the token for the token", function()
      local base = site("User-agent: Foo\nDisallow: /\n")
      check(base, { { "/", true } }, "FooBot")
    end)
  end)

  describe("rules", function()
    it("uses the longest matching pattern", function()
      check(site("User-agent: *\nDisallow: /\nAllow: /p\n"),
        { { "/page", true }, { "/x", false }, { "/", false } })
      check(site("User-agent: *\nDisallow: /folder/\nAllow: /folder/page\n"),
        { { "/folder/page", true }, { "/folder/page2", true }, { "/folder/other", false }, { "/folderx", true } })
      check(site("User-agent: *\nAllow: /folder/\nDisallow: /folder/private\n"),
        { { "/folder/private.html", false }, { "/folder/public", true } })
    end)

    it("prefers allow when an allow and a disallow are as long", function()
      check(site("User-agent: *\nDisallow: /same\nAllow: /same\n"), { { "/same", true } })
      check(site("User-agent: *\nAllow: /same\nDisallow: /same\n"), { { "/same", true } })
    end)

    it("matches * as any run of characters and a final $ as the end", function()
      local base = site("User-agent: *\nDisallow: /*.php$\nDisallow: /fish*\nDisallow: /*/secret/*/x\n")
      check(base, {
        { "/index.php", false }, { "/a/b.php", false }, { "/index.php?x=1", true }, { "/index.phps", true },
        { "/fish", false }, { "/fishing/rod", false }, { "/Fish", true },
        { "/a/secret/b/x", false }, { "/a/b/secret/c/d/xyz", false }, { "/secret/b/x", true },
      })
      check(site("User-agent: *\nDisallow: /\nAllow: /$\n"), { { "/", true }, { "/a", false } })
      check(site("User-agent: *\nDisallow: /a$b\n"), { { "/a$b", false }, { "/a", true } }) -- $ inside: literal
      check(site("User-agent: *\nDisallow: /x**y***$\n"), { { "/x-y-", false }, { "/x", true } })
    end)

    it("matches the path with its query, not the fragment", function()
      check(site("User-agent: *\nDisallow: /search?q=\nDisallow: /*sort=\n"), {
        { "/search?q=lua", false }, { "/search", true }, { "/list?page=2&sort=asc", false },
        { "/list#sort=asc", true },
      })
      -- an empty path is /
      check(site("User-agent: *\nDisallow: /$\n"), { { "", false } })
    end)

    it("compares percent-encoded paths as RFC 9309 says", function()
      check(site("User-agent: *\nDisallow: /foo/bar/\227\131\132\nDisallow: /a/%62%61%7A\n"
          .. "Disallow: /caf%c3%a9\nDisallow: /path/x\nDisallow: /sp ace\n"), {
        { "/foo/bar/%E3%83%84", false },   -- raw UTF-8 in the rule, escaped in the URL
        { "/foo/bar/%e3%83%84", false },   -- escapes in either case
        { "/a/baz", false },               -- escaped unreserved letters are decoded
        { "/a/%62az", false },
        { "/caf%C3%A9", false },
        { "/path%2Fx", true },             -- an escaped reserved character stays escaped
        { "/sp%20ace", false },
      })
    end)

    it("reads comments, blank lines, CR and CRLF line ends, a BOM, any case of key", function()
      check(site("\239\187\191# comment\r\nUSER-AGENT : *   # who\r\n\r\nDISALLOW:/a   # not /a#\rAllow: /b/\n"
          .. "Disallow: /b # trailing\n  Disallow:   /c  \n"), {
        { "/a", false }, { "/a#", false }, { "/b", false }, { "/b/", true }, { "/c", false }, { "/d", true },
      })
    end)

    it("takes an empty Disallow as no rule, and a pattern not starting with / or * as none", function()
      check(site("User-agent: *\nDisallow:\nDisallow: private\n"), { { "/", true }, { "/private", true } })
    end)

    it("always allows /robots.txt itself", function()
      check(site("User-agent: *\nDisallow: /\n"), { { "/robots.txt", true }, { "/robots.txt?x", false } })
    end)
  end)

  describe("bounds", function()
    it("parses the first 500 KiB only", function()
      local filler = ("# " .. ("x"):rep(98) .. "\n"):rep(6000) -- 600,000 bytes of comments
      local base = site("User-agent: *\nDisallow: /early\n" .. filler .. "Disallow: /late\n")
      check(base, { { "/early", false }, { "/late", true } })
    end)

    -- a bound on CPU time means nothing when the collector runs a step at
    -- every 16 bytes allocated (the GC-stress run), and this test is pure
    -- Lua string work that stress has nothing to find in
    local it_timed = os.getenv("LURL_GC_STRESS") == "1"
      and function(name) pending(name .. " (a CPU-time bound, not under LURL_GC_STRESS)") end or it
    it_timed("stays linear on hostile files", function()
      local hostile = {
        "User-agent: *\nDisallow: /" .. (" "):rep(400000) .. "x\n",             -- one long blank run
        "User-agent: *\n" .. ("Disallow: /a\n"):rep(30000) .. "#",               -- many rules
        "User-agent: *\n" .. ("\n"):rep(450000) .. "#:",                        -- many lines, one # at the end
        "User-agent: *\nDisallow: /" .. ("*a"):rep(100000) .. "$\n",             -- a pattern of many pieces
        "User-agent: *\nDisallow: /" .. ("%"):rep(200000) .. "\n",               -- broken escapes
        "User-agent: " .. ("a"):rep(400000) .. "\nDisallow: /\n",
      }
      for i, body in ipairs(hostile) do
        local base = site(body)
        local s <close> = http.session {}
        local t0 = os.clock() -- CPU time: a linear parse takes some 50 ms here
        for _, p in ipairs { "/", "/" .. ("a"):rep(2000), "/" .. ("a"):rep(2000) .. "b" } do
          local ok = http.robots(base .. p, { session = s })
          assert.is_boolean(ok)
        end
        assert.is_true(os.clock() - t0 < 0.5, ("hostile file %d took %.2f s of CPU"):format(i, os.clock() - t0))
      end
    end)
  end)

  describe("bad arguments", function()
    it("raise errors naming the argument or field", function()
      assert.has_error(function() http.robots(nil) end,
        "bad argument #1 to 'robots' (string expected, got no value)")
      assert.has_error(function() http.robots("ftp://example.com/") end,
        "bad argument #1 to 'robots' (http or https URL expected)")
      assert.has_error(function() http.robots("/relative") end,
        "bad argument #1 to 'robots' (http or https URL expected)")
      assert.has_error(function() http.robots("http://x.localhost/", 5) end,
        "bad argument #2 to 'robots' (table expected, got number)")
      assert.has_error(function() http.robots("http://x.localhost/", { session = {} }) end,
        "bad argument #2 to 'robots' (field 'session': http.session expected, got table)")
      assert.has_error(function() http.robots("http://x.localhost/", { user_agent = 1 }) end,
        "bad argument #2 to 'robots' (field 'user_agent': string expected, got number)")
      assert.has_error(function() http.robots("http://x.localhost/", { useragent = "x" }) end,
        "bad argument #2 to 'robots' (unknown field 'useragent')")
    end)

    it("refuses a closed session", function()
      local s = http.session {}
      s:close()
      assert.has_error(function() http.robots(helper.fault .. "/", { session = s }) end)
    end)
  end)
end)
