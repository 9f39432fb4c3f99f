-- Proxies (tinyproxy): the proxy and proxies options, CONNECT tunnels for
-- https, the http_proxy / https_proxy / no_proxy environment (checked in a
-- child process, since a process reads its environment as it is), the
-- precedence option > environment, and ProxyError when the proxy fails.
--
-- Every request carries a unique marker.  Whether it went through the
-- proxy is read from three witnesses: tinyproxy's log (it logs each request
-- line, and each CONNECT), the Via header tinyproxy adds to what the fault
-- server receives, and nginx's access log for https.

local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"
local system = require "system"

local tls = helper.tls
local DEAD_PROXY = "http://127.0.0.1:" .. helper.dead_port
local TLS_PORT = tls.url:match(":(%d+)$")

local counter = 0
local function tag_for(name)
  counter = counter + 1
  return ("proxyspec-%s-%d-%d"):format(name:gsub("[^%w]", "-"), os.time(), counter)
end

-- an http URL on the fault server, and its marker
local function fault_url(name)
  local tag = tag_for(name)
  return helper.fault .. "/ok?case=" .. tag, tag
end

-- an https URL on nginx (helper.tls.url unless base is given), and its marker
local function tls_url(name, base)
  local tag = tag_for(name)
  return (base or tls.url) .. "/?case=" .. tag, tag
end

-- what the fault server received for this marker (a list)
local function fault_received(tag)
  local res = assert(http.get(helper.fault .. "/requests", { proxy = false }))
  local out = {}
  for _, r in ipairs(cjson.decode(res.body)) do
    if r.target:find(tag, 1, true) then out[#out + 1] = r end
  end
  return out
end

local function header(rec, name)
  for _, h in ipairs(rec.headers) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
end

-- count of lines in a tinyproxy log that contain `needle`
local function proxy_lines(needle, which)
  local n = 0
  for line in helper.proxy_log(which):gmatch("[^\n]+") do
    if line:find(needle, 1, true) then n = n + 1 end
  end
  return n
end

-- CONNECTs tinyproxy logged to the server of `base` (default helper.tls.url).
-- A tunnel stays open for reuse, so tests that must see a new CONNECT in
-- this process use different servers.
local function connects(base)
  return proxy_lines("CONNECT localhost:" .. (base or tls.url):match(":(%d+)$") .. " ")
end

local function nginx_records(tag)
  local out = {}
  for _, r in ipairs(helper.nginx_requests()) do
    if r.uri and r.uri:find(tag, 1, true) then out[#out + 1] = r end
  end
  return out
end

-- nginx logs after responding: wait a little for the line
local function nginx_logged(tag)
  local deadline = system.monotime() + 2
  local out = nginx_records(tag)
  while #out == 0 and system.monotime() < deadline do
    system.sleep(0.02)
    out = nginx_records(tag)
  end
  return out
end

-- the request with this marker reached the fault server through tinyproxy
local function assert_proxied(tag)
  local got = fault_received(tag)
  assert.equal(1, #got, "the fault server did not get the request exactly once")
  assert.truthy((header(got[1], "Via") or ""):find("tinyproxy", 1, true),
    "no Via: tinyproxy header: the request did not go through the proxy")
  assert.equal(1, proxy_lines("GET " .. helper.fault .. "/ok?case=" .. tag .. " "),
    "tinyproxy did not log the request")
end

-- the request with this marker reached the fault server directly
local function assert_direct(tag)
  local got = fault_received(tag)
  assert.equal(1, #got, "the fault server did not get the request exactly once")
  assert.is_nil(header(got[1], "Via"), "the request went through a proxy")
  assert.equal(0, proxy_lines(tag), "tinyproxy saw the request")
end

---------------------------------------------------------------------------
-- a child process with its own environment

local SCRIPT = helper.tmpdir .. "/proxy_child.lua"
do
  local f = assert(io.open(SCRIPT, "wb"))
  f:write([[
local http = require "http"
local url, opts = arg[1], assert(load("return " .. arg[2]))()
local res, err = http.get(url, opts)
if res then
  io.write("OK\t", res.status, "\t", res.body, "\n")
else
  io.write("ERR\t", err.kind, "\t", tostring(err), "\n")
end
]])
  f:close()
end

local q = support.q

local PROXY_VARS = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY" }

-- runs http.get(url, opts) in a child interpreter (the lurl binary under
-- ctest, where LURL_BIN is set; else lua5.4) with exactly these proxy variables;
-- returns "OK", status, body or "ERR", kind, tostring(err)
local function child(env, url, opts_src)
  local cmd = { "env" }
  for _, v in ipairs(PROXY_VARS) do cmd[#cmd + 1] = "-u " .. v end
  for k, v in pairs(env) do cmd[#cmd + 1] = q(k .. "=" .. v) end
  cmd[#cmd + 1] = q("LUA_CPATH=" .. package.cpath)
  cmd[#cmd + 1] = q("LUA_PATH=" .. package.path)
  cmd[#cmd + 1] = q(os.getenv("LURL_BIN") or "lua5.4")
  cmd[#cmd + 1] = q(SCRIPT)
  cmd[#cmd + 1] = q(url)
  cmd[#cmd + 1] = q(opts_src or "{}")
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
  local out = p:read("a")
  p:close()
  local a, b, c = out:match("^(%u+)\t([^\t]*)\t(.-)\n?$")
  assert(a, "child printed: " .. out)
  return a, b, c
end

---------------------------------------------------------------------------

describe("proxy option", function()
  it("sends an http request through the proxy", function()
    local url, tag = fault_url("http-via-proxy")
    local res = assert(http.get(url, { proxy = helper.proxy }))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    assert_proxied(tag)
    -- the origin server got an ordinary origin-form request
    assert.equal("/ok?case=" .. tag, fault_received(tag)[1].target)
  end)

  it("is not used without the option (control)", function()
    local url, tag = fault_url("http-direct")
    assert(http.get(url))
    assert_direct(tag)
  end)

  it("carries a POST body through the proxy", function()
    local tag = tag_for("post-via-proxy")
    local res = assert(http.post(helper.fault .. "/ok?case=" .. tag,
      { proxy = helper.proxy, data = { a = "1", b = "two words" } }))
    assert.equal(200, res.status)
    local got = fault_received(tag)
    assert.equal(1, #got)
    assert.equal("POST", got[1].method)
    assert.equal("a=1&b=two+words", got[1].body)
    assert.truthy((header(got[1], "Via") or ""):find("tinyproxy", 1, true))
  end)

  it("tunnels https with CONNECT, verifying the server through the tunnel", function()
    local before = connects()
    local url, tag = tls_url("https-via-proxy")
    local res = assert(http.get(url, { proxy = helper.proxy, verify = tls.ca }))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    assert.equal(before + 1, connects())
    assert.equal(0, proxy_lines(tag), "the proxy saw inside the tunnel")
    local recs = nginx_logged(tag)
    assert.equal(1, #recs)
    assert.truthy(recs[1].ssl)
  end)

  it("still refuses an unverified certificate through the tunnel (SSLError, not ProxyError)",
    function()
      local before = connects()
      local url, tag = tls_url("https-via-proxy-unverified")
      local res, err = http.get(url, { proxy = helper.proxy })
      assert.is_nil(res)
      assert.equal("SSLError", err.kind, tostring(err))
      assert.equal(before + 1, connects())
      assert.same({}, nginx_records(tag))
    end)
end)

describe("proxies option", function()
  it("{http = URL} proxies http URLs only", function()
    local url, tag = fault_url("proxies-http")
    assert(http.get(url, { proxies = { http = helper.proxy } }))
    assert_proxied(tag)

    -- a server no test tunnels to, so a reused tunnel cannot hide a CONNECT
    local base = tls.wrong_host_url
    local before = connects(base)
    local surl, stag = tls_url("proxies-http-https-direct", base)
    assert(http.get(surl, { proxies = { http = helper.proxy }, verify = false }))
    assert.equal(before, connects(base), "the https request went through the http proxy")
    assert.equal(1, #nginx_logged(stag))
  end)

  it("{https = URL} proxies https URLs only", function()
    -- another nginx server than the one tunnelled to above, so that no
    -- open tunnel can be reused
    local before = connects(tls.h2_url)
    local surl, stag = tls_url("proxies-https", tls.h2_url)
    assert(http.get(surl, { proxies = { https = helper.proxy }, verify = tls.ca }))
    assert.equal(before + 1, connects(tls.h2_url))
    assert.equal(1, #nginx_logged(stag))

    local url, tag = fault_url("proxies-https-http-direct")
    assert(http.get(url, { proxies = { https = helper.proxy } }))
    assert_direct(tag)
  end)

  it("loses to proxy when both are given", function()
    local url, tag = fault_url("proxy-beats-proxies")
    assert(http.get(url, { proxy = helper.proxy, proxies = { http = DEAD_PROXY } }))
    assert_proxied(tag)
  end)
end)

describe("a failing proxy", function()
  -- title, proxy, URL maker, curl_code, message fragment
  local cases = {
    { "refusing CONNECT, for https", helper.proxy_deny, tls_url, 56, "CONNECT" },
    { "on a port nobody listens on, for http", DEAD_PROXY, fault_url, 7, nil },
    { "on a port nobody listens on, for https", DEAD_PROXY, tls_url, 7, nil },
    { "whose host does not resolve", "http://nonexistent.invalid:3128", fault_url, 5,
      "nonexistent.invalid" },
  }
  for _, c in ipairs(cases) do
    local title, proxy, make, code, fragment = c[1], c[2], c[3], c[4], c[5]
    it(title .. " is a ProxyError and the origin gets nothing", function()
      local url, tag = make(title)
      local opts = { proxy = proxy }
      if make == tls_url then opts.verify = tls.ca end
      local res, err = http.get(url, opts)
      assert.is_nil(res)
      assert.equal("ProxyError", err.kind, tostring(err))
      assert.is_true(err:is("ProxyError"))
      assert.is_true(err:is("ConnectionError"))
      assert.is_false(err:is("SSLError"))
      assert.is_false(err:is("Timeout"))
      assert.equal(code, err.curl_code)
      assert.is_true(err.retryable)
      assert.equal(url, err.url)
      if fragment then
        assert.truthy(err.message:find(fragment, 1, true), err.message)
      end
      if make == tls_url then
        -- prove the log is current with a request that got through, then
        -- check that ours is not in it
        local ourl, otag = tls_url("sentinel")
        assert(http.get(ourl, { verify = tls.ca }))
        assert.equal(1, #nginx_logged(otag))
        assert.same({}, nginx_records(tag))
      else
        assert.same({}, fault_received(tag))
      end
    end)
  end

  it("proxy_deny logs the refused CONNECT", function()
    local before = proxy_lines("Refused CONNECT method on port " .. TLS_PORT, "deny")
    assert.is_nil((http.get((tls_url("deny-log")), { proxy = helper.proxy_deny, verify = tls.ca })))
    assert.equal(before + 1, proxy_lines("Refused CONNECT method on port " .. TLS_PORT, "deny"))
  end)

  it("never shows the proxy's password in the error", function()
    local proxy = "http://puser:pr0xy-s3cret@127.0.0.1:" .. helper.dead_port
    local _, err = http.get((fault_url("proxy-password")), { proxy = proxy })
    assert.equal("ProxyError", err.kind)
    assert.is_nil(tostring(err):find("pr0xy-s3cret", 1, true), tostring(err))
    for k, v in pairs(err) do
      if type(v) == "string" then assert.is_nil(v:find("pr0xy-s3cret", 1, true), k) end
    end
  end)

  it("rejects a proxy option of the wrong type", function()
    assert.has_error(function() http.get(helper.fault .. "/ok", { proxy = 3128 }) end)
    assert.has_error(function() http.get(helper.fault .. "/ok", { proxy = true }) end)
    assert.has_error(function() http.get(helper.fault .. "/ok", { proxies = "x" }) end)
  end)
end)

describe("proxy environment variables", function()
  it("http_proxy sends http requests through the proxy", function()
    local url, tag = fault_url("env-http-proxy")
    assert.same({ "OK", "200", "ok" }, { child({ http_proxy = helper.proxy }, url) })
    assert_proxied(tag)
  end)

  it("are not used when unset (control)", function()
    local url, tag = fault_url("env-none")
    assert.same({ "OK", "200", "ok" }, { child({}, url) })
    assert_direct(tag)
  end)

  for _, var in ipairs { "https_proxy", "HTTPS_PROXY" } do
    it(var .. " tunnels https requests through the proxy", function()
      local before = connects()
      local url, tag = tls_url("env-" .. var)
      local opts = ("{ verify = %q }"):format(tls.ca)
      assert.same({ "OK", "200", "ok" }, { child({ [var] = helper.proxy }, url, opts) })
      assert.equal(before + 1, connects())
      assert.equal(1, #nginx_logged(tag))
    end)
  end

  it("https_proxy alone leaves http requests direct", function()
    local url, tag = fault_url("env-https-only")
    assert.same({ "OK", "200", "ok" }, { child({ https_proxy = helper.proxy }, url) })
    assert_direct(tag)
  end)

  it("proxy = false beats the environment", function()
    local url, tag = fault_url("env-proxy-false")
    assert.same({ "OK", "200", "ok" },
      { child({ http_proxy = helper.proxy }, url, "{ proxy = false }") })
    assert_direct(tag)
  end)

  it("the proxy option beats the environment", function()
    local url, tag = fault_url("env-option-wins")
    assert.same({ "OK", "200", "ok" },
      { child({ http_proxy = DEAD_PROXY }, url, ("{ proxy = %q }"):format(helper.proxy)) })
    assert_proxied(tag)
  end)

  it("the proxies option beats the environment", function()
    local url, tag = fault_url("env-proxies-wins")
    assert.same({ "OK", "200", "ok" },
      { child({ http_proxy = DEAD_PROXY }, url, ("{ proxies = { http = %q } }"):format(helper.proxy)) })
    assert_proxied(tag)
  end)

  -- no_proxy value, whether the fault server (127.0.0.1) is exempt
  local no_proxy_cases = {
    { "127.0.0.1", true },
    { "example.invalid,127.0.0.1", true },
    { "*", true },
    { "example.invalid", false },
    { "127.0.0.2", false },
  }
  for _, c in ipairs(no_proxy_cases) do
    local value, exempt = c[1], c[2]
    it(("no_proxy=%s %s"):format(value, exempt and "exempts 127.0.0.1" or "does not exempt 127.0.0.1"),
      function()
        local url, tag = fault_url("env-no-proxy")
        assert.same({ "OK", "200", "ok" },
          { child({ http_proxy = helper.proxy, no_proxy = value }, url) })
        if exempt then assert_direct(tag) else assert_proxied(tag) end
      end)
  end

  it("a dead proxy from the environment is a ProxyError", function()
    local url, tag = fault_url("env-dead-proxy")
    local a, kind, text = child({ http_proxy = DEAD_PROXY }, url)
    assert.equal("ERR", a)
    assert.equal("ProxyError", kind, text)
    assert.same({}, fault_received(tag))
  end)
end)
