-- Sessions: defaults and per-request overrides, header merging and removal,
-- the live s.headers table, base_url joining, close and <close>, one
-- connection pool per session, auth as a session default (basic, digest
-- with a body, bearer, netrc) and its removal on a cross-host redirect,
-- precedence over the environment (in a child process), and hooks.
--
-- What the server received is read from httpbin's echo, from the fault
-- server's raw record (/requests: headers as sent, and a connection number
-- per TCP connection) and from the login app's recorder (helper.app,
-- spec/servers/app_login.py).
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN = helper.httpbin
local FAULT = helper.fault
local APP = assert(helper.app, "spec/helper.lua does not serve the login app (helper.app)")
local HTTPBIN_PORT = HTTPBIN:match(":(%d+)$")

local must = support.must

local function echo(res, err)
  return cjson.decode(must(res, err).body)
end

-- header value from httpbin's echo, whatever case it used
local function echoed(e, name)
  for k, v in pairs(e.headers) do
    if k:lower() == name:lower() then return v end
  end
end

local counter = 0
local function tag_for(name)
  counter = counter + 1
  return ("sess-%s-%d-%d-%d"):format(name:gsub("[^%w]", "-"), os.time(), math.random(1e6), counter)
end

-- what the fault server received with this tag in its target (a list)
local function fault_received(tag)
  local out = {}
  for _, r in ipairs(cjson.decode(must(http.get(FAULT .. "/requests")).body)) do
    if r.target:find(tag, 1, true) then out[#out + 1] = r end
  end
  return out
end

-- every value of a header in a fault server record
local function raw_headers(rec, name)
  local out = {}
  for _, h in ipairs(rec.headers) do
    if h[1]:lower() == name:lower() then out[#out + 1] = h[2] end
  end
  return out
end

-- JSON null -> nil, so absent and null read the same
local denull = support.denull

-- the app's record of requests with this key (a list)
local function app_log(key)
  local body = must(http.get(APP .. "/login-log", { params = { key = key } })).body
  return denull(cjson.decode(body)).requests
end

local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return tostring(e)
end

local q = support.q

---------------------------------------------------------------------------

describe("session defaults", function()
  it("apply every request option given to http.session", function()
    local s <close> = http.session {
      headers = { ["X-Default"] = "d1" }, params = { from = "session" },
      user_agent = "sess-agent/1", auth = { "suser", "spass" },
      cookies = { fromsession = "yes" },
    }
    local e = echo(s:get(HTTPBIN .. "/anything"))
    assert.equal("d1", echoed(e, "X-Default"))
    assert.same({ from = "session" }, e.args)
    assert.equal("sess-agent/1", echoed(e, "User-Agent"))
    assert.equal("Basic " .. "c3VzZXI6c3Bhc3M=", echoed(e, "Authorization")) -- suser:spass
    assert.equal("fromsession=yes", echoed(e, "Cookie"))
  end)

  it("are overridden by the request's own options", function()
    local s <close> = http.session {
      params = { from = "session" }, user_agent = "sess-agent/1", auth = { "suser", "spass" },
      timeout = 0.3,
    }
    local e = echo(s:get(HTTPBIN .. "/delay/1", {
      params = { from = "request" }, user_agent = "req-agent/2", auth = { "ruser", "rpass" },
      timeout = 10,
    }))
    -- SPEC: options override, only headers merge (requests merges params)
    assert.same({ from = "request" }, e.args)
    assert.equal("req-agent/2", echoed(e, "User-Agent"))
    assert.equal("Basic cnVzZXI6cnBhc3M=", echoed(e, "Authorization")) -- ruser:rpass
    -- and the session's short timeout applies when the request sets none
    local res, err = s:get(HTTPBIN .. "/delay/1")
    assert.is_nil(res)
    assert.is_true(err:is("Timeout"), tostring(err))
  end)

  it("auth = false in a request removes the session's credentials", function()
    local s <close> = http.session { auth = { "user", "pass" } }
    assert.equal(200, must(s:get(HTTPBIN .. "/basic-auth/user/pass")).status)
    local res = must(s:get(HTTPBIN .. "/basic-auth/user/pass", { auth = false }))
    assert.equal(401, res.status)
    assert.is_nil(echoed(echo(s:get(HTTPBIN .. "/headers", { auth = false })), "Authorization"))
  end)

  it("refuse unknown and mistyped options when the session is made", function()
    assert.truthy(raised(http.session, { allow_redirect = true }):find("allow_redirect", 1, true))
    assert.truthy(raised(http.session, { base_url = 3 }):find("field 'base_url': string expected", 1, true))
    assert.truthy(raised(http.session, { rate_limit = 0 }):find("rate_limit", 1, true))
    assert.truthy(raised(http.session, "x"):find("bad argument #1 to 'session' (table expected, got string)", 1, true))
    local s <close> = http.session {}
    assert.truthy(raised(s.get, HTTPBIN .. "/get"):find("http.session expected", 1, true))
  end)
end)

describe("session headers", function()
  it("merge with the request's, the request winning whatever the case", function()
    local tag = tag_for("merge")
    local s <close> = http.session { headers = { ["X-A"] = "session-a", ["X-Token"] = "session-t" } }
    must(s:get(FAULT .. "/ok?case=" .. tag, { headers = { ["x-token"] = "request-t", ["X-C"] = "c" } }))
    local rec = fault_received(tag)
    assert.equal(1, #rec)
    assert.same({ "session-a" }, raw_headers(rec[1], "X-A"))
    assert.same({ "request-t" }, raw_headers(rec[1], "X-Token"), "the header was sent twice or not replaced")
    assert.same({ "c" }, raw_headers(rec[1], "X-C"))
  end)

  it("false removes a session header, and a built-in one", function()
    local tag = tag_for("false")
    local s <close> = http.session { headers = { ["X-Gone"] = "x", ["X-Kept"] = "k" } }
    must(s:get(FAULT .. "/ok?case=" .. tag, { headers = { ["X-Gone"] = false, Accept = false } }))
    local rec = fault_received(tag)[1]
    assert.same({}, raw_headers(rec, "X-Gone"))
    assert.same({}, raw_headers(rec, "Accept"))
    assert.same({ "k" }, raw_headers(rec, "X-Kept"))
    -- a session default of false removes it from every request
    local tag2 = tag_for("false-default")
    local s2 <close> = http.session { headers = { ["User-Agent"] = false } }
    must(s2:get(FAULT .. "/ok?case=" .. tag2))
    assert.same({}, raw_headers(fault_received(tag2)[1], "User-Agent"))
  end)

  it("s.headers is live: changes apply to later requests", function()
    local s <close> = http.session { headers = { ["X-First"] = "1" } }
    s.headers["X-Added"] = "later"
    s.headers["X-First"] = nil
    local tag = tag_for("live")
    must(s:get(FAULT .. "/ok?case=" .. tag))
    local rec = fault_received(tag)[1]
    assert.same({ "later" }, raw_headers(rec, "X-Added"))
    assert.same({}, raw_headers(rec, "X-First"))
    -- a session made without headers has a live table too
    local s2 <close> = http.session {}
    s2.headers.Authorization = "Bearer live-token"
    assert.equal("Bearer live-token", echoed(echo(s2:get(HTTPBIN .. "/headers")), "Authorization"))
  end)
end)

describe("base_url", function()
  -- base (under httpbin's /anything), URL given, path httpbin saw
  local cases = {
    { "/anything/v1", "/login", "/anything/v1/login" },
    { "/anything/v1/", "login", "/anything/v1/login" },
    { "/anything/v1/", "/login", "/anything/v1/login" },
    { "/anything/v1", "login", "/anything/v1/login" },
    { "/anything/v1", "", "/anything/v1" },
    { "/anything/v1", "?q=1", "/anything/v1?q=1" },
    { "/anything/v1", "/a/b?x=y", "/anything/v1/a/b?x=y" },
  }
  for _, c in ipairs(cases) do
    it(("%q joined with %q requests %s"):format(c[1], c[2], c[3]), function()
      local s <close> = http.session { base_url = HTTPBIN .. c[1] }
      local res = must(s:get(c[2]))
      assert.equal(HTTPBIN .. c[3], echo(res).url)
      assert.equal(HTTPBIN .. c[3], res.url)
    end)
  end

  it("is ignored for absolute URLs", function()
    local s <close> = http.session { base_url = "http://127.0.0.1:" .. helper.dead_port .. "/v1" }
    local e = echo(s:get(HTTPBIN .. "/anything/abs"))
    assert.equal(HTTPBIN .. "/anything/abs", e.url)
  end)

  it("applies to every method and to s:request", function()
    local s <close> = http.session { base_url = HTTPBIN .. "/anything" }
    assert.equal("PATCH", echo(s:patch("/p", { data = "x" })).method)
    local e = echo(s:request("delete", "/d"))
    assert.equal("DELETE", e.method)
    assert.equal(HTTPBIN .. "/anything/d", e.url)
  end)
end)

describe("closing a session", function()
  it("makes later use raise at the caller, and is idempotent", function()
    local s = http.session {}
    must(s:get(HTTPBIN .. "/get"))
    assert.equal("http.session (open)", tostring(s))
    s:close()
    s:close()
    assert.equal("http.session (closed)", tostring(s))
    for _, call in ipairs {
      function() return s:get(HTTPBIN .. "/get") end,
      function() return s:post(HTTPBIN .. "/post", { data = "x" }) end,
      function() return s:request("GET", HTTPBIN .. "/get") end,
    } do
      local msg = raised(call)
      assert.truthy(msg:find("attempt to use a closed session", 1, true), msg)
      assert.truthy(msg:find("session_spec.lua", 1, true), "error not reported at the caller: " .. msg)
    end
    assert.truthy(raised(function() return s.cookies:list() end):find("closed session", 1, true))
  end)

  it("happens at the end of a <close> block, error or not", function()
    local kept
    do
      local s <close> = http.session {}
      kept = s
      must(s:get(HTTPBIN .. "/get"))
    end
    assert.equal("http.session (closed)", tostring(kept))
    assert.truthy(raised(kept.get, kept, HTTPBIN .. "/get"):find("closed session", 1, true))
    local escaped
    pcall(function()
      local s <close> = http.session {}
      escaped = s
      error("boom")
    end)
    assert.equal("http.session (closed)", tostring(escaped))
  end)

  it("s:parallel on a closed session raises too", function()
    local s = http.session {}
    s:close()
    local ok, e = pcall(s.parallel, s, { HTTPBIN .. "/get" })
    assert.is_false(ok, "s:parallel on a closed session returned results")
    assert.truthy(tostring(e):find("closed session", 1, true), tostring(e))
  end)
end)

describe("each session's connections", function()
  it("one session reuses its connection; two sessions use two", function()
    local t1, t2, t3 = tag_for("c1"), tag_for("c2"), tag_for("c3")
    local a <close> = http.session {}
    local b <close> = http.session {}
    must(a:get(FAULT .. "/ok?case=" .. t1))
    must(a:get(FAULT .. "/ok?case=" .. t2))
    must(b:get(FAULT .. "/ok?case=" .. t3))
    local r1, r2, r3 = fault_received(t1)[1], fault_received(t2)[1], fault_received(t3)[1]
    assert.equal(r1.conn, r2.conn, "a session did not reuse its own connection")
    assert.are_not.equal(r1.conn, r3.conn, "two sessions shared a connection")
  end)

  it("a closed session's connection is not reused by a new one", function()
    local t1, t2 = tag_for("closed1"), tag_for("closed2")
    local a = http.session {}
    must(a:get(FAULT .. "/ok?case=" .. t1))
    a:close()
    local b <close> = http.session {}
    must(b:get(FAULT .. "/ok?case=" .. t2))
    assert.are_not.equal(fault_received(t1)[1].conn, fault_received(t2)[1].conn)
  end)

  it("the hidden default session reuses connections between calls", function()
    local t1, t2 = tag_for("dflt1"), tag_for("dflt2")
    must(http.get(FAULT .. "/ok?case=" .. t1))
    must(http.get(FAULT .. "/ok?case=" .. t2))
    assert.equal(fault_received(t1)[1].conn, fault_received(t2)[1].conn)
  end)
end)

---------------------------------------------------------------------------

describe("session auth", function()
  it("basic, from {user, password} and http.basic", function()
    for _, auth in ipairs { { "bob", "b0b-pw" }, http.basic("bob", "b0b-pw") } do
      local s <close> = http.session { auth = auth }
      local res = must(s:get(HTTPBIN .. "/basic-auth/bob/b0b-pw"))
      assert.equal(200, res.status)
      assert.same({ authenticated = true, user = "bob" }, res:json())
      -- and on every request, not only the first
      assert.equal("Basic Ym9iOmIwYi1wdw==", echoed(echo(s:get(HTTPBIN .. "/headers")), "Authorization"))
    end
  end)

  it("digest, for GET (httpbin) and for a POST with a body (the app)", function()
    local s <close> = http.session { auth = http.digest("dave", "d1gest") }
    local res = must(s:get(HTTPBIN .. "/digest-auth/auth/dave/d1gest"))
    assert.equal(200, res.status)
    assert.same({ authenticated = true, user = "dave" }, res:json())

    local key = tag_for("digest-post")
    res = must(s:post(APP .. "/digest/dave/d1gest?key=" .. key, { data = "the body", headers = { ["Content-Type"] = "text/plain" } }))
    assert.equal(200, res.status)
    local j = res:json()
    assert.is_true(j.authenticated)
    assert.equal("POST", j.method)
    assert.equal("the body", j.body)
    local log = app_log(key)
    assert.equal(401, log[1].status)
    assert.equal(200, log[#log].status)
    assert.equal("POST", log[#log].method)
    assert.equal("the body", log[#log].body)
    assert.truthy(log[#log].authorization:find('^Digest .*username="dave"'))
    -- wrong password: challenged, never authenticated
    local bad <close> = http.session { auth = http.digest("dave", "wrong") }
    assert.equal(401, must(bad:post(APP .. "/digest/dave/d1gest", { data = "x" })).status)
  end)

  it("bearer", function()
    local s <close> = http.session { auth = http.bearer("tok-123") }
    local e = echo(s:get(HTTPBIN .. "/bearer"))
    assert.same({ authenticated = true, token = "tok-123" }, e)
    assert.equal("Bearer tok-123", echoed(echo(s:get(HTTPBIN .. "/headers")), "Authorization"))
  end)

  it("netrc, from a given file", function()
    local path = helper.tmpdir .. "/sess.netrc"
    local f = assert(io.open(path, "w"))
    f:write("machine example.invalid login other password nope\n",
      "machine 127.0.0.1 login nuser password n3trc-pw\n")
    f:close()
    local s <close> = http.session { auth = http.netrc(path) }
    local res = must(s:get(HTTPBIN .. "/basic-auth/nuser/n3trc-pw"))
    assert.equal(200, res.status)
    assert.same({ authenticated = true, user = "nuser" }, res:json())
    -- a host the file does not name gets no credentials
    local e = echo(s:get("http://localhost:" .. HTTPBIN_PORT .. "/headers"))
    assert.is_nil(echoed(e, "Authorization"))
    -- the auth object never shows the file's secrets
    assert.equal("http.auth (netrc)", tostring(http.netrc(path)))
  end)

  describe("on a redirect", function()
    local function redirect_to(target)
      return HTTPBIN .. "/redirect-to", { params = { url = target } }
    end

    it("is kept when the host stays the same", function()
      local s <close> = http.session { auth = { "user", "pass" } }
      local e = echo(s:get(redirect_to(HTTPBIN .. "/headers")))
      assert.equal("Basic dXNlcjpwYXNz", echoed(e, "Authorization"))
    end)

    -- each kind of credential a session can carry as a default
    local kinds = {
      { "basic", { auth = { "user", "pass" } } },
      { "bearer", { auth = http.bearer("t0ken") } },
      { "an Authorization header", { headers = { Authorization = "Custom s3cret" } } },
    }
    for _, k in ipairs(kinds) do
      it(k[1] .. " is dropped when the host changes (127.0.0.1 -> localhost)", function()
        local s <close> = http.session(k[2])
        local res = must(s:get(redirect_to("http://localhost:" .. HTTPBIN_PORT .. "/headers")))
        assert.equal(1, #res.history)
        local e = echo(res)
        assert.equal("localhost:" .. HTTPBIN_PORT, echoed(e, "Host"))
        assert.is_nil(echoed(e, "Authorization"))
        -- the first hop did carry it
        assert.truthy(res.history[1].request.headers["Authorization"] or
          res.history[1].request.headers["authorization"])
      end)
    end

    it("digest is not answered on the other host either (same port)", function()
      local s <close> = http.session { auth = http.digest("dave", "d1gest") }
      local key = tag_for("digest-redirect")
      local port = APP:match(":(%d+)$")
      local target = ("http://localhost:%s/digest/dave/d1gest?key=%s"):format(port, key)
      -- the app on 127.0.0.1 redirects to itself under the name localhost
      local res = must(s:get(("http://127.0.0.1:%s/jar/chain/%s/0"):format(port, key), { params = { to = target } }))
      assert.equal(401, res.status)
      assert.equal(target, res.url)
      local tried = {}
      for _, e in ipairs(app_log(key)) do
        if e.path:find("^/digest/") then tried[#tried + 1] = e end
      end
      assert.equal(1, #tried, "the client answered the digest challenge on the new host")
      assert.is_nil(tried[1].authorization)
    end)
  end)
end)

---------------------------------------------------------------------------
-- Precedence: request option > session default > environment.  A process
-- reads its environment as it is, so these run a child (lurl when LURL_BIN
-- is set, as under ctest, else lua5.4).

local CHILD = helper.tmpdir .. "/session_child.lua"
do
  local f = assert(io.open(CHILD, "wb"))
  f:write([[
local http = require "http"
local url = arg[1]
local sopts = assert(load("return " .. arg[2]))()
local ropts = assert(load("return " .. arg[3]))()
local s <close> = http.session(sopts)
local res, err = s:get(url, ropts)
if res then
  io.write("OK\t", res.status, "\t", res.body:sub(1, 200), "\n")
else
  io.write("ERR\t", err.kind, "\t", tostring(err), "\n")
end
]])
  f:close()
end

local CLEARED = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
  "ALL_PROXY", "no_proxy", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE",
  "REQUESTS_CA_BUNDLE" }

local function child(env, url, sopts, ropts)
  local cmd = { "env" }
  for _, v in ipairs(CLEARED) do cmd[#cmd + 1] = "-u " .. v end
  for k, v in pairs(env) do cmd[#cmd + 1] = q(k .. "=" .. v) end
  cmd[#cmd + 1] = q("LUA_CPATH=" .. package.cpath)
  cmd[#cmd + 1] = q("LUA_PATH=" .. package.path)
  cmd[#cmd + 1] = q(os.getenv("LURL_BIN") or "lua5.4")
  for _, a in ipairs { CHILD, url, sopts or "{}", ropts or "{}" } do cmd[#cmd + 1] = q(a) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
  local out = p:read("a")
  p:close()
  local a, b, c = out:match("^(%u+)\t([^\t]*)\t(.-)\n?$")
  assert(a, "child printed: " .. out)
  return a, b, c
end

local function via_proxy(rec)
  local via = raw_headers(rec, "Via")[1]
  return via ~= nil and via:find("tinyproxy", 1, true) ~= nil
end

describe("precedence", function()
  local DEAD_PROXY = "http://127.0.0.1:" .. helper.dead_port

  it("a session's proxy = false beats http_proxy", function()
    local tag = tag_for("env-proxy-false")
    assert.same({ "OK", "200", "ok" },
      { child({ http_proxy = DEAD_PROXY }, FAULT .. "/ok?case=" .. tag, "{ proxy = false }") })
    local rec = fault_received(tag)
    assert.equal(1, #rec)
    assert.is_false(via_proxy(rec[1]))
  end)

  it("a session's proxy beats http_proxy, and a request's proxy = false beats the session", function()
    local tag = tag_for("env-proxy-session")
    assert.same({ "OK", "200", "ok" }, { child({ http_proxy = DEAD_PROXY }, FAULT .. "/ok?case=" .. tag,
      ("{ proxy = %q }"):format(helper.proxy)) })
    assert.is_true(via_proxy(fault_received(tag)[1]))
    local tag2 = tag_for("env-proxy-request")
    assert.same({ "OK", "200", "ok" }, { child({ http_proxy = helper.proxy }, FAULT .. "/ok?case=" .. tag2,
      ("{ proxy = %q }"):format(DEAD_PROXY), "{ proxy = false }") })
    assert.is_false(via_proxy(fault_received(tag2)[1]))
  end)

  it("without options, http_proxy is used (control)", function()
    local tag = tag_for("env-proxy-control")
    assert.same({ "OK", "200", "ok" }, { child({ http_proxy = helper.proxy }, FAULT .. "/ok?case=" .. tag) })
    assert.is_true(via_proxy(fault_received(tag)[1]))
  end)

  it("verify = path beats CA bundle variables pointing elsewhere", function()
    local bogus = helper.tmpdir .. "/no-such-ca.pem"
    local env = { SSL_CERT_FILE = bogus, SSL_CERT_DIR = helper.tmpdir, CURL_CA_BUNDLE = bogus,
      REQUESTS_CA_BUNDLE = bogus }
    local url = helper.tls.url .. "/?case=" .. tag_for("env-verify")
    assert.same({ "OK", "200", "ok" }, { child(env, url, ("{ verify = %q }"):format(helper.tls.ca)) })
    assert.same({ "OK", "200", "ok" }, { child(env, url, "{ verify = false }", ("{ verify = %q }"):format(helper.tls.ca)) })
    -- and the session's verify applies when the request sets none
    local a, kind = child(env, url, "{}", "{}")
    assert.equal("ERR", a)
    assert.equal("SSLError", kind)
  end)

  it("a request's verify = false beats the session's CA path (in process)", function()
    local s <close> = http.session { verify = helper.tls.ca }
    local res, err = s:get(helper.tls.wrong_host_url .. "/")
    assert.is_nil(res)
    assert.equal("SSLError", err.kind)
    assert.equal(200, must(s:get(helper.tls.wrong_host_url .. "/", { verify = false })).status)
  end)
end)

---------------------------------------------------------------------------

describe("hooks", function()
  it("request hook changes method, URL, headers and params, and the server sees it", function()
    local seen
    local s <close> = http.session {
      base_url = HTTPBIN,
      hooks = {
        request = function(req)
          seen = { method = req.method, url = req.url, h = req.headers["X-From-Call"],
            p = req.params and req.params.a }
          req.method = "put"
          req.url = req.url:gsub("/anything/original", "/anything/rewritten")
          req.headers["X-From-Hook"] = "hooked"
          req.headers["X-From-Call"] = nil
          req.params = { a = req.params.a, b = "added" }
        end,
      },
    }
    local e = echo(s:get("/anything/original", { headers = { ["X-From-Call"] = "call" }, params = { a = "1" } }))
    -- the hook saw the request as the caller made it, base_url applied
    assert.same({ method = "GET", url = HTTPBIN .. "/anything/original", h = "call", p = "1" }, seen)
    -- the server saw the hook's version
    assert.equal("PUT", e.method)
    assert.equal(HTTPBIN .. "/anything/rewritten?a=1&b=added", e.url)
    assert.same({ a = "1", b = "added" }, e.args)
    assert.equal("hooked", echoed(e, "X-From-Hook"))
    assert.is_nil(echoed(e, "X-From-Call"))
  end)

  it("response hook sees each final response, not redirect hops", function()
    local statuses = {}
    local s <close> = http.session { hooks = { response = function(res)
      statuses[#statuses + 1] = { res.status, res.url, #(res.history or {}) }
    end } }
    local res = must(s:get(HTTPBIN .. "/redirect/2"))
    assert.equal(200, res.status)
    assert.same({ { 200, HTTPBIN .. "/get", 2 } }, statuses)
    must(s:get(HTTPBIN .. "/status/418"))
    assert.same({ 200, HTTPBIN .. "/get", 2 }, statuses[1])
    assert.same({ 418, HTTPBIN .. "/status/418", 0 }, statuses[2])
  end)

  it("response hook's return value replaces the response", function()
    local s <close> = http.session { hooks = { response = function(res)
      if res.status == 404 then return { status = 404, replaced = true, url = res.url } end
    end } }
    local res = must(s:get(HTTPBIN .. "/status/404"))
    assert.is_true(res.replaced)
    res = must(s:get(HTTPBIN .. "/get"))
    assert.is_nil(rawget(res, "replaced"))
    assert.equal(200, res.status)
  end)

  it("response hook sees only the final attempt of a retried request", function()
    local key = tag_for("hook-retry")
    local seen = {}
    local s <close> = http.session {
      retry = { attempts = 3, backoff = 0.01 },
      hooks = { response = function(res) seen[#seen + 1] = { res.status, res.attempts } end },
    }
    local res = must(s:get(APP .. "/retry/flaky/" .. key .. "?fails=2"))
    assert.equal(200, res.status)
    assert.same({ { 200, 3 } }, seen)
    assert.equal(3, #app_log(key))
  end)
end)
