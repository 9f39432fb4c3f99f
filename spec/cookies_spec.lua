-- The cookie jar (s.cookies): what a session stores and sends back, by the
-- rules browsers follow (host-only and domain cookies, paths, expiry by
-- Max-Age and Expires, Secure, never to another host), cookies set by every
-- hop of a redirect chain, the jar's Lua API (get, set, list, clear), and
-- cookies.txt files exchanged with the curl command line in both directions.
-- The hidden default session behind http.get keeps none between calls.
--
-- What the servers received is read from httpbin's /cookies echo and from
-- the login app (helper.app): /jar/seen answers with the cookies it got,
-- and its recorder (/login-log) keeps the Cookie header of every request.
-- 127.0.0.1, localhost, app.localhost and sub.app.localhost all reach the
-- same app (libcurl resolves *.localhost to the loopback), yet are four
-- different hosts as far as cookies go.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN = helper.httpbin
local APP_PORT = assert(helper.app, "spec/helper.lua does not serve the login app (helper.app)")
  :match(":(%d+)$")
local IP = "http://127.0.0.1:" .. APP_PORT          -- the app by address
local LOCAL = "http://localhost:" .. APP_PORT       -- the same app, another host
local SITE = "http://app.localhost:" .. APP_PORT    -- a site with subdomains
local SUB = "http://sub.app.localhost:" .. APP_PORT

local must = support.must

local denull = support.denull

local function json(res, err)
  return denull(cjson.decode(must(res, err).body))
end

-- the cookies the app saw at base .. path (a session's request)
local function app_seen(s, base, path, opts)
  return json(s:get(base .. (path or "/jar/seen"), opts))
end

local counter = 0
local function key_for(name)
  counter = counter + 1
  return ("ck-%s-%d-%d-%d"):format(name:gsub("[^%w]", "-"), os.time(), math.random(1e6), counter)
end

-- the app's records for a key
local function app_log(key)
  return json(http.get(IP .. "/login-log", { params = { key = key } })).requests
end

-- jar entry by name (and domain)
local function entry(s, name, domain)
  for _, c in ipairs(s.cookies:list()) do
    if c.name == name and (domain == nil or c.domain == domain) then return c end
  end
end

local function names(list)
  local out = {}
  for _, c in ipairs(list) do out[#out + 1] = c.name end
  table.sort(out)
  return out
end

local q = support.q

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  return ok, out
end

local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return tostring(e)
end

local function tmpfile(name)
  local dir = helper.tmpdir .. "/cookies"
  os.execute("mkdir -p " .. q(dir))
  return dir .. "/" .. name
end

---------------------------------------------------------------------------

describe("a session's jar against httpbin", function()
  it("stores cookies from /cookies/set and sends them on the redirect and later", function()
    local s <close> = http.session {}
    local res = must(s:get(HTTPBIN .. "/cookies/set", { params = { a = "1", b = "two" } }))
    -- the hop that set them redirected to /cookies, which already got them
    assert.equal(1, #res.history)
    assert.same({ a = "1", b = "two" }, res.history[1].cookies)
    assert.same({ a = "1", b = "two" }, json(res).cookies)
    -- and every later request carries them
    assert.same({ a = "1", b = "two" }, json(s:get(HTTPBIN .. "/cookies")).cookies)
    assert.equal("1", s.cookies:get("a"))
    assert.equal("two", s.cookies:get("b"))
    local a = entry(s, "a")
    assert.same({ name = "a", value = "1", domain = "127.0.0.1", host_only = true, path = "/",
      secure = false, http_only = false }, a)
  end)

  it("forgets a cookie /cookies/delete expires", function()
    local s <close> = http.session {}
    must(s:get(HTTPBIN .. "/cookies/set", { params = { keep = "k", drop = "d" } }))
    local res = must(s:get(HTTPBIN .. "/cookies/delete?drop"))
    assert.same({ keep = "k" }, json(res).cookies)
    assert.same({ keep = "k" }, json(s:get(HTTPBIN .. "/cookies")).cookies)
    assert.is_nil(s.cookies:get("drop"))
    assert.same({ "keep" }, names(s.cookies:list()))
  end)

  it("sends a request's cookies option together with the jar's, in one Cookie header", function()
    local s <close> = http.session {}
    local key = key_for("merge")
    must(s:get(IP .. "/jar/set?name=appjar&value=v&key=" .. key))
    local seen = app_seen(s, IP, "/jar/seen?key=" .. key, { cookies = { extra = "x" } })
    assert.same({ appjar = "v", extra = "x" }, seen.cookies)
    local log = app_log(key)
    local header = log[#log].cookie_header
    assert.truthy(header == "appjar=v; extra=x" or header == "extra=x; appjar=v",
      "not one well-formed Cookie header: " .. tostring(header))
    -- the option does not enter the jar
    assert.is_nil(s.cookies:get("extra"))
  end)

  it("jar:set adds a cookie the server then receives, jar:clear removes all", function()
    local s <close> = http.session {}
    s.cookies:set("manual", "m1", { domain = "127.0.0.1", host_only = true })
    s.cookies:set("pathed", "p1", { domain = "127.0.0.1", path = "/cookies" })
    s.cookies:set("other", "o1", { domain = "example.com" })
    assert.same({ manual = "m1", pathed = "p1" }, json(s:get(HTTPBIN .. "/cookies")).cookies)
    assert.same({ "manual", "other", "pathed" }, names(s.cookies:list()))
    assert.equal("o1", s.cookies:get("other", "example.com"))
    assert.is_nil(s.cookies:get("other", "127.0.0.1"))
    assert.equal("http.cookies (3 cookies)", tostring(s.cookies))
    s.cookies:clear()
    assert.same({}, s.cookies:list())
    assert.same({}, json(s:get(HTTPBIN .. "/cookies")).cookies)
  end)

  it("jar:get tells cookies of the same name on two hosts apart", function()
    local s <close> = http.session {}
    must(s:get(IP .. "/jar/set?name=same&value=on-ip"))
    must(s:get(LOCAL .. "/jar/set?name=same&value=on-localhost"))
    assert.equal("on-ip", s.cookies:get("same", "127.0.0.1"))
    assert.equal("on-localhost", s.cookies:get("same", "localhost"))
    assert.is_nil(s.cookies:get("same", "example.com"))
    assert.equal(2, #s.cookies:list())
  end)

  it("refuses bad arguments to the jar's methods", function()
    local s <close> = http.session {}
    local jar = s.cookies
    assert.truthy(raised(jar.set, jar, "a b", "v", { domain = "x" }):find("cookie name", 1, true))
    assert.truthy(raised(jar.set, jar, "n", "v;x", { domain = "x" }):find("#2 to 'set'", 1, true))
    assert.truthy(raised(jar.set, jar, "n", "v", {}):find("'domain'", 1, true))
    assert.truthy(raised(jar.set, jar, "n", "v", { domain = "x", expires = "soon" }):find("field 'expires'", 1, true))
    assert.truthy(raised(jar.get, jar, 3):find("#1 to 'get'", 1, true))
    assert.truthy(raised(jar.list):find("call it as jar:list()", 1, true))
  end)
end)

describe("cookie rules", function()
  it("a cookie is never sent to another host (127.0.0.1 vs localhost)", function()
    local s <close> = http.session {}
    must(s:get(IP .. "/jar/set?name=ipcookie&value=1"))
    must(s:get(LOCAL .. "/jar/set?name=lhcookie&value=2"))
    assert.same({ ipcookie = "1" }, app_seen(s, IP).cookies)
    assert.same({ lhcookie = "2" }, app_seen(s, LOCAL).cookies)
    assert.same({}, app_seen(s, SITE).cookies)
    -- but, as in browsers, cookies do not keep to a port: httpbin, on
    -- another port of 127.0.0.1, gets the app's cookie
    assert.same({ ipcookie = "1" }, json(s:get(HTTPBIN .. "/cookies")).cookies)
  end)

  it("a Domain cookie reaches subdomains, a host-only cookie does not", function()
    local s <close> = http.session {}
    must(s:get(SITE .. "/jar/set?name=dom&value=d&domain=app.localhost&name2=host&value2=h"))
    assert.same({ dom = "d", host = "h" }, app_seen(s, SITE).cookies)
    assert.same({ dom = "d" }, app_seen(s, SUB).cookies)
    assert.same({}, app_seen(s, LOCAL).cookies, "a cookie went up to the parent domain")
    assert.is_false(entry(s, "dom").host_only)
    assert.equal("app.localhost", entry(s, "dom").domain)
    assert.is_true(entry(s, "host").host_only)
  end)

  it("a Domain attribute naming another site is refused", function()
    local s <close> = http.session {}
    must(s:get(IP .. "/jar/set?name=foreign&value=1&domain=example.com&name2=own&value2=2"))
    must(s:get(SITE .. "/jar/set?name=parent&value=3&domain=localhost&name3=x"))
    assert.same({ "own" }, names(s.cookies:list()))
    assert.same({ own = "2" }, app_seen(s, IP).cookies)
  end)

  it("a cookie is sent only under its path", function()
    local s <close> = http.session {}
    must(s:get(IP .. "/jar/set?name=p&value=1&path=/jar/seen/sub"))
    assert.same({ p = "1" }, app_seen(s, IP, "/jar/seen/sub").cookies)
    assert.same({ p = "1" }, app_seen(s, IP, "/jar/seen/sub/deeper").cookies)
    assert.same({}, app_seen(s, IP, "/jar/seen").cookies)
    assert.same({}, app_seen(s, IP, "/jar/seen/other").cookies)
    assert.same({}, app_seen(s, IP, "/jar/seen/subway").cookies, "path matched as a prefix of a segment")
    assert.equal("/jar/seen/sub", entry(s, "p").path)
  end)

  it("Max-Age: the cookie is gone once it has expired, and Max-Age=0 deletes", function()
    local s <close> = http.session {}
    local before = os.time()
    must(s:get(IP .. "/jar/set?name=short&value=1&max_age=1&name2=long&value2=2&max_age2=3600&name3=gone&value3=3"))
    assert.same({ short = "1", long = "2", gone = "3" }, app_seen(s, IP).cookies)
    local long = entry(s, "long")
    assert.truthy(long.expires >= before + 3600 and long.expires <= os.time() + 3601, tostring(long.expires))
    assert.is_nil(entry(s, "gone").expires, "a cookie without Max-Age or Expires lasts the session")
    must(s:get(IP .. "/jar/set?name=gone&value=x&max_age=0"))
    -- gone from the jar at once, not only at the next request
    assert.is_nil(s.cookies:get("gone"))
    assert.same({ "long", "short" }, names(s.cookies:list()))
    assert.same({ short = "1", long = "2" }, app_seen(s, IP).cookies)
    os.execute("sleep 2.2")
    assert.same({ "long" }, names(s.cookies:list()))
    assert.is_nil(s.cookies:get("short"))
    assert.same({ long = "2" }, app_seen(s, IP).cookies)
  end)

  it("a cookie the server deletes is neither listed nor saved", function()
    local s <close> = http.session {}
    must(s:get(IP .. "/jar/set?name=doomed&value=1&name2=kept&value2=2"))
    -- Flask's delete_cookie: empty value, Expires in 1970 and Max-Age=0
    local res = must(s:get(IP .. "/jar/set?name=doomed&value=&expires=0&max_age=0"))
    assert.truthy(res.headers["Set-Cookie"]:find("Max-Age=0", 1, true))
    assert.same({ "kept" }, names(s.cookies:list()))
    assert.is_nil(s.cookies:get("doomed"))
    local path = tmpfile("after-delete.txt")
    s.cookies:save(path)
    local text = assert(io.open(path)):read("a")
    assert.is_nil(text:find("doomed", 1, true), text)
  end)

  it("Expires: a future date is kept as is, a past date deletes", function()
    local s <close> = http.session {}
    local at = os.time() + 7200
    must(s:get(IP .. ("/jar/set?name=until&value=1&expires=%d&name2=old&value2=2"):format(at)))
    assert.equal(at, entry(s, "until").expires)
    assert.same({ ["until"] = "1", old = "2" }, app_seen(s, IP).cookies)
    must(s:get(IP .. ("/jar/set?name=old&value=2&expires=%d"):format(os.time() - 3600)))
    assert.same({ ["until"] = "1" }, app_seen(s, IP).cookies)
    -- an expired cookie put in the jar by hand is not sent either
    s.cookies:set("stale", "s", { domain = "127.0.0.1", expires = os.time() - 10 })
    assert.same({ ["until"] = "1" }, app_seen(s, IP).cookies)
    assert.is_nil(s.cookies:get("stale"))
  end)

  it("Secure: not sent over plain http (except to the loopback, a secure context)", function()
    local s <close> = http.session {}
    s.cookies:set("sec", "s", { domain = "app.localhost", secure = true })
    s.cookies:set("plain", "p", { domain = "app.localhost" })
    assert.same({ plain = "p" }, app_seen(s, SITE).cookies)
    assert.is_true(entry(s, "sec").secure)
    -- nor accepted from a plain http site
    must(s:get(SITE .. "/jar/set?name=fromhttp&value=1&secure=1"))
    assert.is_nil(s.cookies:get("fromhttp"))
    -- 127.0.0.1 and localhost count as secure, as in browsers (libcurl's rule)
    must(s:get(IP .. "/jar/set?name=loopsec&value=1&secure=1"))
    assert.same({ loopsec = "1" }, app_seen(s, IP).cookies)
  end)

  it("HttpOnly cookies are stored, sent and marked", function()
    local s <close> = http.session {}
    must(s:get(IP .. "/jar/set?name=ho&value=1&httponly=1"))
    assert.same({ ho = "1" }, app_seen(s, IP).cookies)
    assert.is_true(entry(s, "ho").http_only)
  end)
end)

describe("redirect chains", function()
  it("keep the cookie set by every hop and send each to the following hops", function()
    local key = key_for("chain")
    local s <close> = http.session {}
    local res = must(s:get(IP .. "/jar/chain/" .. key .. "/3"))
    assert.equal(3, #res.history)
    assert.same({ hop1 = key, hop2 = key, hop3 = key }, json(res).cookies)
    assert.same({ "hop1", "hop2", "hop3" }, names(s.cookies:list()))
    -- what each hop received, in order
    local log = app_log(key)
    assert.equal(4, #log)
    assert.same({}, log[1].cookies)
    assert.same({ hop3 = key }, log[2].cookies)
    assert.same({ hop2 = key, hop3 = key }, log[3].cookies)
    assert.same({ hop1 = key, hop2 = key, hop3 = key }, log[4].cookies)
  end)

  it("that change host keep each cookie with the host that set it", function()
    local key = key_for("chain-cross")
    local s <close> = http.session {}
    local target = LOCAL .. "/jar/set?name=far&value=f&key=" .. key
    local res = must(s:get(IP .. "/jar/chain/" .. key .. "/2", { params = { to = target } }))
    assert.equal(3, #res.history)
    assert.equal(target, res.url)
    local log = app_log(key)
    assert.equal(4, #log)
    assert.equal("localhost:" .. APP_PORT, log[4].host)
    assert.same({}, log[4].cookies, "cookies of 127.0.0.1 went to localhost")
    assert.same({ hop1 = key, hop2 = key }, app_seen(s, IP).cookies)
    assert.same({ far = "f" }, app_seen(s, LOCAL).cookies)
  end)
end)

describe("sessions and the default client", function()
  it("two sessions never see each other's cookies", function()
    local a <close> = http.session {}
    local b <close> = http.session {}
    must(a:get(HTTPBIN .. "/cookies/set?owner=a"))
    must(b:get(HTTPBIN .. "/cookies/set?owner=b&only_b=1"))
    assert.same({ owner = "a" }, json(a:get(HTTPBIN .. "/cookies")).cookies)
    assert.same({ owner = "b", only_b = "1" }, json(b:get(HTTPBIN .. "/cookies")).cookies)
    a.cookies:clear()
    assert.same({ owner = "b", only_b = "1" }, json(b:get(HTTPBIN .. "/cookies")).cookies)
  end)

  it("http.get carries cookies along one redirect chain, and keeps none after", function()
    local res = must(http.get(HTTPBIN .. "/cookies/set?dflt=1"))
    assert.same({ dflt = "1" }, json(res).cookies)
    assert.same({}, json(http.get(HTTPBIN .. "/cookies")).cookies)
    local key = key_for("default-chain")
    res = must(http.get(IP .. "/jar/chain/" .. key .. "/2"))
    assert.same({ hop1 = key, hop2 = key }, json(res).cookies)
    assert.same({}, json(http.get(IP .. "/jar/seen")).cookies)
  end)

  it("http.get does not carry a cookie to another host in a redirect chain", function()
    local key = key_for("default-cross")
    local res = must(http.get(IP .. "/jar/chain/" .. key .. "/1",
      { params = { to = LOCAL .. "/jar/seen?key=" .. key } }))
    assert.equal("localhost:" .. APP_PORT, json(res).host)
    assert.same({}, json(res).cookies)
    local log = app_log(key)
    assert.same({}, log[#log].cookies)
  end)
end)

---------------------------------------------------------------------------

describe("cookies.txt files", function()
  it("what lurl saves, curl -b sends", function()
    local s <close> = http.session {}
    must(s:get(HTTPBIN .. "/cookies/set", { params = { saved = "by-lurl", other = "o" } }))
    must(s:get(HTTPBIN .. "/response-headers", { params = { ["Set-Cookie"] = "ho=h; HttpOnly; Path=/" } }))
    s.cookies:set("far", "away", { domain = "example.com" })
    local path = tmpfile("lurl-saved.txt")
    assert.is_true(s.cookies:save(path))
    local ok, out = sh("curl -s -b " .. q(path) .. " " .. q(HTTPBIN .. "/cookies"))
    assert.is_true(ok, out)
    assert.same({ saved = "by-lurl", other = "o", ho = "h" }, cjson.decode(out).cookies)
    -- the file is the format curl documents
    local text = assert(io.open(path)):read("a")
    assert.truthy(text:find("^# Netscape HTTP Cookie File\n"))
    assert.truthy(text:find("\n#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\tho\th\n", 1, true), text)
  end)

  it("what curl -c writes, lurl loads and sends", function()
    local path = tmpfile("curl-written.txt")
    os.remove(path)
    local ok, out = sh("curl -s -o /dev/null -c " .. q(path) .. " " ..
      q(HTTPBIN .. "/cookies/set?from_curl=c1&second=c2"))
    assert.is_true(ok, out)
    local s <close> = http.session {}
    assert.equal(2, s.cookies:load(path))
    assert.equal("c1", s.cookies:get("from_curl", "127.0.0.1"))
    assert.same({ from_curl = "c1", second = "c2" }, json(s:get(HTTPBIN .. "/cookies")).cookies)
    -- curl's file for the app, with a Domain, a path and an expiry
    local at = os.time() + 3600
    ok, out = sh("curl -s -o /dev/null -c " .. q(path) .. " " ..
      q(SITE .. ("/jar/set?name=d&value=1&domain=app.localhost&name2=p&value2=2&path2=/jar/seen/x&expires2=%d"):format(at)))
    assert.is_true(ok, out)
    local s2 <close> = http.session {}
    assert.equal(2, s2.cookies:load(path))
    assert.equal(at, entry(s2, "p").expires)
    assert.same({ d = "1" }, app_seen(s2, SUB).cookies)
    assert.same({ d = "1", p = "2" }, app_seen(s2, SITE, "/jar/seen/x").cookies)
  end)

  it("a save and a load keep every attribute", function()
    local s <close> = http.session {}
    local at = os.time() + 600
    must(s:get(SITE .. ("/jar/set?name=a&value=1&domain=app.localhost&path=/p&expires=%d"
      .. "&name2=b&value2=2&httponly2=1&name3=c&value3=3"):format(at)))
    s.cookies:set("sec", "s", { domain = "app.localhost", secure = true, host_only = true })
    local path = tmpfile("roundtrip.txt")
    s.cookies:save(path)
    local t <close> = http.session {}
    assert.equal(4, t.cookies:load(path))
    local function by_name(list)
      local out = {}
      for _, c in ipairs(list) do out[c.name] = c end
      return out
    end
    assert.same(by_name(s.cookies:list()), by_name(t.cookies:list()))
    -- loading adds to what is there
    t.cookies:set("extra", "e", { domain = "example.com" })
    assert.equal(4, t.cookies:load(path))
    assert.equal(5, #t.cookies:list())
  end)

  it("an empty jar saves a file curl reads as empty", function()
    local s <close> = http.session {}
    local path = tmpfile("empty.txt")
    s.cookies:save(path)
    local ok, out = sh("curl -s -b " .. q(path) .. " " .. q(HTTPBIN .. "/cookies"))
    assert.is_true(ok, out)
    assert.same({}, cjson.decode(out).cookies)
    local t <close> = http.session {}
    assert.equal(0, t.cookies:load(path))
  end)

  -- a path that cannot be written, why
  local unwritable = {
    { "in a missing directory", function() return helper.tmpdir .. "/no/such/dir/jar.txt" end },
    { "that is a directory", function() local d = tmpfile("a-dir"); os.execute("mkdir -p " .. q(d)); return d end },
    { "on a read-only file system", function() return "/proc/lurl-jar.txt" end },
  }
  for _, c in ipairs(unwritable) do
    it("saving to a path " .. c[1] .. " raises, naming no cookie value", function()
      local s <close> = http.session {}
      s.cookies:set("secretcookie", "v4lue-s3cret", { domain = "127.0.0.1" })
      local path = c[2]()
      local msg = raised(s.cookies.save, s.cookies, path)
      assert.truthy(msg:find("cannot save cookie jar", 1, true), msg)
      assert.is_nil(msg:find("v4lue-s3cret", 1, true))
      assert.is_nil(io.open(path .. ".lurl-tmp"), "a temporary file was left behind")
    end)
  end

  it("a failed save leaves the previous file intact", function()
    local s <close> = http.session {}
    s.cookies:set("v", "1", { domain = "127.0.0.1" })
    local path = tmpfile("kept.txt")
    s.cookies:save(path)
    local before = assert(io.open(path)):read("a")
    -- make the rename fail: the temporary name is taken by a directory
    os.execute("mkdir -p " .. q(path .. ".lurl-tmp"))
    s.cookies:set("v", "2", { domain = "127.0.0.1" })
    assert.has_error(function() s.cookies:save(path) end)
    os.execute("rmdir " .. q(path .. ".lurl-tmp"))
    assert.equal(before, assert(io.open(path)):read("a"))
  end)

  it("loading a missing file raises", function()
    local s <close> = http.session {}
    local msg = raised(s.cookies.load, s.cookies, helper.tmpdir .. "/no-such-jar.txt")
    assert.truthy(msg:find("cannot load cookie jar", 1, true), msg)
  end)
end)
