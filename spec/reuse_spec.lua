-- Easy handle reuse: lurl keeps libcurl easy handles between requests (in
-- a session's idle list, and in the engine's pool shared by every session
-- and by http.get) and resets one only after a request that set an option
-- beyond the per-request set (runtime/request.c, SET_RARE).  Each case
-- here makes such a "special" request, then plain ones (c:get(url), no
-- options), and checks what the server received for the plain ones: the
-- default request and nothing more.
--
-- Every case runs four rounds, each a special request followed at once by
-- plain ones, so that the handle the special request used is the one the
-- plain request gets (the pool is LIFO):
--   1. the same session: special, plain (the pooled, reset handle), plain
--      again (the handle the session kept);
--   2. special on that session, plain on a fresh session (the pool);
--   3. special through http.get & co, plain on a fresh session;
--   4. special through http.get & co, plain through http.get.
-- (Round 4 gets the pooled handle when the hidden client keeps no other
-- idle handle, as when this file runs alone.)
-- Checks of what the server saw go through `witness`, a session of their
-- own, so they never take the pooled handle first.
--
-- Witnesses: the fault server's raw record of each request (method,
-- version, every header as sent, body, chunked), httpbin's echo, tinyproxy's
-- log, and the TLS servers' verdicts.

local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local FAULT, HTTPBIN, tls = helper.fault, helper.httpbin, helper.tls
local must, echoed, q = support.must, support.echoed_header, support.q
local UA = "lurl/" .. http.VERSION

local witness = http.session()

-- http.get & co (the hidden client) with a session's call syntax
local hidden = setmetatable({}, { __index = function(_, method)
  local f = http[method]
  if type(f) == "function" then return function(_, ...) return f(...) end end
end })

local counter = 0
local function fault_url(name, path)
  counter = counter + 1
  local tag = ("reuse-%s-%d-%d"):format(name, os.time(), counter)
  return FAULT .. (path or "/ok") .. "?case=" .. tag, tag
end

-- the fault server's record of the one request carrying tag
local function received(tag)
  local out = {}
  for _, r in ipairs(cjson.decode(must(witness:get(FAULT .. "/requests")).body)) do
    if r.query:find(tag, 1, true) then out[#out + 1] = r end
  end
  assert.equal(1, #out, "requests the fault server got with " .. tag)
  return out[1]
end

local function header(rec, name)
  for _, h in ipairs(rec.headers) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
end

local function header_names(rec)
  local out = {}
  for _, h in ipairs(rec.headers) do out[#out + 1] = h[1]:lower() end
  table.sort(out)
  return out
end

-- a plain GET through c, twice: to the fault server (its raw record must be
-- exactly the default request), then to httpbin's /anything (its echo must
-- show a bare GET).  Returns the first one's tag.
local function assert_plain(c)
  local url, tag = fault_url("plain")
  local res = must(c:get(url))
  assert.equal(200, res.status)
  assert.equal("ok", res.body)
  assert.equal("1.1", res.http_version)
  assert.equal("GET", res.request.method)
  local rec = received(tag)
  assert.equal("GET", rec.method)
  assert.equal("HTTP/1.1", rec.version)
  assert.same({ "accept", "accept-encoding", "host", "user-agent" }, header_names(rec))
  assert.equal(UA, header(rec, "User-Agent"))
  assert.equal("*/*", header(rec, "Accept"))
  assert.truthy(header(rec, "Accept-Encoding"):find("gzip", 1, true))
  assert.equal(0, rec.body_size)
  assert.is_false(rec.chunked)

  local e = must(c:get(HTTPBIN .. "/anything")):json()
  assert.equal("GET", e.method)
  assert.equal("", e.data)
  assert.same({}, e.form)
  assert.same({}, e.files)
  assert.equal(cjson.null, e.json)
  assert.equal(UA, echoed(e, "User-Agent"))
  assert.truthy(echoed(e, "Accept-Encoding"):find("gzip", 1, true))
  for _, name in ipairs { "Content-Type", "Content-Length", "Transfer-Encoding", "Authorization",
    "Cookie", "X-Foo", "Via" } do
    assert.is_nil(echoed(e, name), name .. " reached httpbin")
  end
  return tag
end

-- runs the four rounds of a case (see the top of the file)
local function rounds(case)
  local function plain(c)
    if case.plain then case.plain(c) end
    local tag = assert_plain(c)
    if case.after then case.after(tag) end
  end
  local s1 <close> = http.session()
  case.special(s1)
  plain(s1)
  case.special(s1)
  do local s2 <close> = http.session(); plain(s2) end
  case.special(hidden)
  do local s3 <close> = http.session(); plain(s3) end
  case.special(hidden)
  plain(hidden)
end

-- a special request to the fault server; check(rec, res) sees what it did
local function to_fault(method, opts, check)
  return function(c)
    local url, tag = fault_url(method:lower())
    local res = must(c:request(method, url, opts))
    assert.equal(200, res.status)
    check(received(tag), res)
  end
end

local function assert_ssl_error(res, err)
  assert.is_nil(res, "the request succeeded: a verify option was still in effect")
  assert.equal("SSLError", err.kind, tostring(err))
end

local upload_path = helper.tmpdir .. "/reuse_upload.txt"
support.write_file(upload_path, "from a file")
local netrc_path = helper.tmpdir .. "/reuse_netrc"
support.write_file(netrc_path, "machine 127.0.0.1 login nu password np\n")

local progress_calls = 0

local cases = {
  { "HEAD (NOBODY): the next GET gets its body",
    special = to_fault("HEAD", nil, function(rec, res)
      assert.equal("HEAD", rec.method)
      assert.equal("", res.body)
    end) },
  { "a POST with a string body: the next request is a GET without body or Content-Type",
    special = to_fault("POST", { body = "hello" }, function(rec)
      assert.same({ "POST", "hello" }, { rec.method, rec.body })
    end) },
  { "a POST with json: no JSON body or Content-Type afterwards",
    special = to_fault("POST", { json = { a = 1 } }, function(rec)
      assert.equal("application/json", header(rec, "Content-Type"))
      assert.equal('{"a":1}', rec.body)
    end) },
  { "a POST of a form (data table): no form afterwards",
    special = to_fault("POST", { data = { a = "1" } }, function(rec)
      assert.equal("application/x-www-form-urlencoded", header(rec, "Content-Type"))
      assert.equal("a=1", rec.body)
    end) },
  { "a PUT with no body (empty POSTFIELDS): the next request is a GET",
    special = to_fault("PUT", nil, function(rec)
      assert.same({ "PUT", "0" }, { rec.method, header(rec, "Content-Length") })
    end) },
  { "a GET with a body (CUSTOMREQUEST GET): the next GET has none",
    special = to_fault("GET", { body = "x" }, function(rec)
      assert.same({ "GET", "x" }, { rec.method, rec.body })
    end) },
  { "PATCH with a body: the next request is a GET",
    special = to_fault("PATCH", { body = "p" }, function(rec)
      assert.same({ "PATCH", "p" }, { rec.method, rec.body })
    end) },
  { "headers and user_agent: the next request has neither X-Foo nor the custom User-Agent",
    special = to_fault("GET", { headers = { ["X-Foo"] = "bar", Accept = "text/plain" },
      user_agent = "custom/1" }, function(rec)
      assert.same({ "bar", "custom/1", "text/plain" },
        { header(rec, "X-Foo"), header(rec, "User-Agent"), header(rec, "Accept") })
    end) },
  { "headers removed with false: the next request sends User-Agent, Accept, Accept-Encoding",
    special = to_fault("GET", { headers = { ["User-Agent"] = false, Accept = false,
      ["Accept-Encoding"] = false } }, function(rec)
      assert.same({ "host" }, header_names(rec))
    end) },
  { "a Cookie header (sent as CURLOPT_COOKIE): no Cookie afterwards",
    special = to_fault("GET", { headers = { Cookie = "h=1" } }, function(rec)
      assert.equal("h=1", header(rec, "Cookie"))
    end) },
  { "the cookies option: no Cookie afterwards",
    special = to_fault("GET", { cookies = { a = "1" } }, function(rec)
      assert.equal("a=1", header(rec, "Cookie"))
    end) },
  { "basic auth: no Authorization afterwards",
    special = to_fault("GET", { auth = { "u", "p" } }, function(rec)
      assert.equal("Basic dTpw", header(rec, "Authorization"))
    end) },
  { "netrc auth (CURLOPT_NETRC): no Authorization afterwards",
    special = to_fault("GET", { auth = http.netrc(netrc_path) }, function(rec)
      assert.equal("Basic bnU6bnA=", header(rec, "Authorization"))
    end) },
  { "digest auth: the next request to the digest URL is answered 401",
    special = function(c)
      local res = must(c:get(HTTPBIN .. "/digest-auth/auth/user/pass",
        { auth = http.digest("user", "pass") }))
      assert.equal(200, res.status)
      -- httpbin sets two cookies there; they belong in a session's jar
      if c.cookies then c.cookies:clear() end
    end,
    -- libcurl answers a digest challenge only with its credentials set: a
    -- 401 proves they are gone (the plain check sees no Authorization)
    plain = function(c)
      assert.equal(401, must(c:get(HTTPBIN .. "/digest-auth/auth/user/pass")).status)
      if c.cookies then c.cookies:clear() end -- its cookies again
    end },
  { "stream with on_progress: the callback stays silent during the next request",
    special = function(c)
      local url = fault_url("progress", "/slowbody")
      local before = progress_calls
      local res <close> = must(c:get(url .. "&bytes=5&every=0.08", { stream = true,
        on_progress = function() progress_calls = progress_calls + 1 end }))
      local got = {}
      for chunk in res:chunks(2) do got[#got + 1] = chunk end
      assert.equal("01234", table.concat(got))
      assert.is_true(progress_calls > before, "on_progress was never called")
    end,
    plain = function(c)
      local before = progress_calls
      assert.equal("01234", must(c:get(FAULT .. "/slowbody?bytes=5&every=0.08")).body)
      assert.equal(before, progress_calls, "on_progress was called for a plain request")
    end },
  { "a stream closed half-way: the next request gets its own whole body",
    special = function(c)
      local res = must(c:get(HTTPBIN .. "/bytes/400000", { stream = true }))
      assert.equal(1000, #res:read(1000))
      res:close()
    end,
    plain = function(c)
      assert.equal(3000, #must(c:get(HTTPBIN .. "/bytes/3000")).body)
    end },
  { "max_body: the next request accepts a bigger body",
    special = function(c)
      local res, err = c:get(HTTPBIN .. "/bytes/5000", { max_body = 100 })
      assert.is_nil(res)
      assert.equal("BodyTooLarge", err.kind, tostring(err))
    end,
    plain = function(c)
      assert.equal(5000, #must(c:get(HTTPBIN .. "/bytes/5000")).body)
    end },
  { "a short read timeout: the next request waits with the default timeouts",
    special = function(c)
      local res, err = c:get((fault_url("read-timeout", "/slowheaders")) .. "&secs=2",
        { timeout = { read = 0.2 } })
      assert.is_nil(res)
      assert.equal("ReadTimeout", err.kind, tostring(err))
    end,
    plain = function(c)
      assert.equal("ok", must(c:get(FAULT .. "/slowheaders?secs=0.6")).body)
    end },
  { "a short total timeout (CURLOPT_TIMEOUT_MS): the next request has none",
    special = function(c)
      local res, err = c:get((fault_url("total-timeout", "/slowheaders")) .. "&secs=2",
        { timeout = { total = 0.2 } })
      assert.is_nil(res)
      assert.equal("Timeout", err.kind, tostring(err))
    end,
    plain = function(c)
      assert.equal("ok", must(c:get(FAULT .. "/slowheaders?secs=0.6")).body)
    end },
  { "a multipart upload (files): the next request is a bare GET",
    special = to_fault("POST", { files = { f = { content = "abc", filename = "a.txt" } },
      data = { x = "1" } }, function(rec)
      assert.truthy(header(rec, "Content-Type"):find("^multipart/form%-data"))
      assert.truthy(rec.body:find("abc", 1, true))
    end) },
  { "a body from a function (chunked): the next request is not chunked",
    special = function(c)
      local parts, i = { "a", "b" }, 0
      to_fault("PUT", { body = function() i = i + 1; return parts[i] end }, function(rec)
        assert.same({ true, "ab" }, { rec.chunked, rec.body })
      end)(c)
    end },
  { "a body from a file: the next request sends no body",
    special = function(c)
      local f <close> = assert(io.open(upload_path, "rb"))
      to_fault("POST", { body = f }, function(rec)
        assert.same({ "from a file", "11" }, { rec.body, header(rec, "Content-Length") })
      end)(c)
    end },
  { 'http_version = "1.0": the next request is HTTP/1.1',
    special = to_fault("GET", { http_version = "1.0" }, function(rec)
      assert.equal("HTTP/1.0", rec.version)
    end) },
  { 'http_version = "2-prior-knowledge": the next request to an HTTP/1.1 server is HTTP/1.1',
    -- a POST, which lurl always sends on a fresh connection: libcurl 7.88
    -- fails to reuse an h2c connection ("Error in the HTTP2 framing layer",
    -- curl --http2-prior-knowledge URL URL does the same)
    special = function(c)
      local res = must(c:post(helper.h2c_url .. "/json", { http_version = "2-prior-knowledge" }))
      assert.same({ 200, "2" }, { res.status, res.http_version })
    end },
  { "unix_socket: the next request goes to the URL's host, not the socket",
    special = function(c)
      local res = must(c:get("http://localhost/", { unix_socket = helper.unix_socket }))
      assert.equal("unix ok", res.body)
    end },
  { "proxy: the next request goes direct",
    special = to_fault("GET", { proxy = helper.proxy }, function(rec)
      assert.truthy((header(rec, "Via") or ""):find("tinyproxy", 1, true), "not proxied")
    end),
    after = function(tag)
      assert.is_nil(helper.proxy_log():find(tag, 1, true), "tinyproxy saw the plain request")
    end },
  { "cert: the next request (verify = CA only) sends no client certificate",
    special = function(c)
      assert.equal(200, must(c:get(tls.client_cert_url .. "/", { verify = tls.ca,
        cert = { tls.client_cert, tls.client_key } })).status)
    end,
    -- nginx answers 400 "No required SSL certificate was sent" without one
    plain = function(c)
      local res = must(c:get(tls.client_cert_url .. "/", { verify = tls.ca }))
      assert.equal(400, res.status)
      assert.truthy(res.body:find("No required SSL certificate", 1, true), res.body)
    end },
}

-- methods that set CURLOPT_CUSTOMREQUEST alone
for _, m in ipairs { "DELETE", "OPTIONS", "PURGE" } do
  cases[#cases + 1] = { m .. ": the next request is a GET",
    special = to_fault(m, nil, function(rec) assert.equal(m, rec.method) end) }
end

-- the default request (no verify option) trusts only the default CAs, which
-- do not include the test CA: it must refuse each of these servers again
for _, v in ipairs {
  { "false", false, "wrong_host_url", "a certificate for another name" },
  { "false", false, "expired_url", "an expired certificate" },
  { "a CA file", tls.ca, "url", "the test CA" },
  { "a CA directory", tls.ca_dir, "url", "the test CA" },
} do
  local url = tls[v[3]] .. "/"
  cases[#cases + 1] = { ("verify = %s: the next request refuses %s"):format(v[1], v[4]),
    special = function(c) assert.equal("ok", must(c:get(url, { verify = v[2] })).body) end,
    plain = function(c) assert_ssl_error(c:get(url)) end }
end

describe("easy handle reuse never carries one request's options into the next", function()
  for _, case in ipairs(cases) do
    it(case[1], function() rounds(case) end)
  end

  it("a session's jar cookies never reach another session or http.get", function()
    local s1 <close> = http.session()
    must(s1:get(HTTPBIN .. "/cookies/set?jar=1")) -- host-only cookie for 127.0.0.1
    assert.equal("1", s1.cookies:get("jar"))
    -- every request here is tainted (HEAD), so its handle goes to the pool
    local function jar_head()
      local url, tag = fault_url("jar")
      must(s1:head(url))
      assert.equal("jar=1", header(received(tag), "Cookie"), "the jar was not used")
    end
    jar_head()
    do local s2 <close> = http.session(); assert_plain(s2) end
    jar_head()
    assert_plain(hidden)
    jar_head()
    local url, tag = fault_url("jar-again")
    must(s1:get(url))
    assert.equal("jar=1", header(received(tag), "Cookie"), "the session lost its jar")
  end)

  it("a proxy from the environment does not stay for proxy = false or on another client",
    function()
      -- in a child process: the environment is read when the engine starts
      local script = helper.tmpdir .. "/reuse_env_proxy.lua"
      support.write_file(script, [[
local http = require "http"
local s = http.session()
assert(s:get(arg[1]))                    -- through the environment's proxy
assert(s:get(arg[2], { proxy = false })) -- direct
assert(s:get(arg[3]))                    -- through the proxy again
assert(http.get(arg[4], { proxy = false })) -- direct, on the hidden client
io.write("done\n")
]])
      local urls, tags = {}, {}
      for i = 1, 4 do urls[i], tags[i] = fault_url("env-proxy-" .. i) end
      local cmd = { "env -u no_proxy -u NO_PROXY -u all_proxy -u ALL_PROXY -u HTTP_PROXY",
        q("http_proxy=" .. helper.proxy), q("LUA_CPATH=" .. package.cpath),
        q("LUA_PATH=" .. package.path), q(os.getenv("LURL_BIN") or "lua5.4"), q(script) }
      for i = 1, 4 do cmd[#cmd + 1] = q(urls[i]) end
      local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
      local out = p:read("a")
      p:close()
      assert.equal("done\n", out)
      for i, proxied in ipairs { true, false, true, false } do
        local via = header(received(tags[i]), "Via")
        if proxied then
          assert.truthy((via or ""):find("tinyproxy", 1, true), "request " .. i .. " went direct")
        else
          assert.is_nil(via, "request " .. i .. " went through the proxy")
          assert.is_nil(helper.proxy_log():find(tags[i], 1, true), "tinyproxy saw request " .. i)
        end
      end
    end)
end)

-- Each easy handle keeps the parsed URL of its last request (CURLOPT_CURLU,
-- runtime/engine.c) and gives libcurl a new one only when the URL changes.
-- libcurl also keeps the URL's string, which it uses for auth retries and
-- redirects: these check that a reused handle never speaks with a stale one.
describe("a reused easy handle takes each request's URL", function()
  for _, client in ipairs { { "a session", function() return http.session() end },
    { "http.get", function() return hidden end } } do
    it("alternating URLs on " .. client[1] .. " reach their own paths", function()
      local c = client[2]()
      for i = 1, 3 do
        local url, tag = fault_url("alt-" .. i)
        local res = must(c:get(url))
        assert.equal(url, res.url)
        assert.equal("/ok", received(tag).path)
        local path = "/anything/alt-" .. i
        res = must(c:get(HTTPBIN .. path))
        assert.equal(HTTPBIN .. path, res.url)
        assert.equal(HTTPBIN .. path, res:json().url)
      end
    end)

    it("a digest retry on " .. client[1] .. " after another URL goes to the digest URL",
      function()
        local c = client[2]()
        for i = 1, 2 do
          local url, tag = fault_url("digest-" .. i)
          must(c:get(url))
          received(tag) -- exactly one request there: the retry did not go to it
          local res = must(c:get(HTTPBIN .. "/digest-auth/auth/user/pass",
            { auth = http.digest("user", "pass") }))
          assert.equal(200, res.status)
          assert.same({ authenticated = true, user = "user" }, res:json())
          if c.cookies then c.cookies:clear() end -- httpbin's digest cookies
        end
      end)
  end

  it("a URL libcurl refuses, between two others, fails alone", function()
    local s <close> = http.session()
    local url, tag = fault_url("before-refused")
    must(s:get(url))
    received(tag)
    -- lurl's own check lets the port pass; libcurl's parser refuses it
    local res, err = s:get("http://127.0.0.1:99999/refused")
    assert.is_nil(res)
    assert.equal("InvalidURL", err.kind)
    res = must(s:get(HTTPBIN .. "/anything/after"))
    assert.equal(HTTPBIN .. "/anything/after", res:json().url)
    url, tag = fault_url("after-refused")
    must(s:get(url))
    assert.equal("/ok", received(tag).path)
  end)
end)
