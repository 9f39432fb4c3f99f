-- requests parity on the arguments (issue 17, items 9-13): IDN hosts sent
-- as punycode, whitespace around a URL, host-less URLs and proxy URLs
-- refused before anything is sent, a raw space in the URL's password, an
-- auth option beating the URL's credentials, __pairs tables as params and
-- data, nested tables and positional records refused naming the field,
-- sessions checking their defaults when made, a header's table value
-- named.
--
-- Each test asserts what the server received (httpbin's echo, the fault
-- server's log, nginx's access log, tinyproxy's log) and what the script
-- got back.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local HTTPBIN, FAULT = helper.httpbin, helper.fault
local must, fault_reset, fault_log = support.must, support.fault_reset, support.fault_log

local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return tostring(e)
end

-- a fresh token, to find one request in a server's log
local ntok = 0
local function token()
  ntok = ntok + 1
  return ("pargs%d_%d"):format(os.time(), ntok)
end

-- refused before anything was sent: nil, an InvalidURL error saying why,
-- and an empty fault server log
local function invalid_url(why, res, err)
  assert.is_nil(res)
  assert.are.equal("InvalidURL", err.kind)
  assert.matches(why, err.message, 1, true)
  assert.are.same({}, fault_log())
end

-- httpbin's echo of a request: its args, form and headers
local function echo(res)
  assert.are.equal(200, res.status)
  return res:json()
end

-- nginx's log records of the requests carrying tok (helper.nginx_requests
-- waits for tok, then returns the whole log)
local function nginx_with(tok)
  local out = {}
  for _, r in ipairs(helper.nginx_requests(tok)) do
    if r.uri and r.uri:find(tok, 1, true) then out[#out + 1] = r end
  end
  return out
end

describe("an IDN host", function()
  -- nginx's Unix socket answers any Host and logs it: no name is resolved
  it("is sent as its punycode form, as requests and curl send it", function()
    local tok = token()
    local res = must(http.get("http://b\195\188cher.example/?t=" .. tok,
      { unix_socket = helper.unix_socket }))
    assert.are.equal(200, res.status)
    assert.are.equal("unix ok", res.body)
    assert.are.equal("http://xn--bcher-kva.example/?t=" .. tok, res.url)
    local recs = nginx_with(tok)
    assert.are.equal(1, #recs)
    assert.are.equal("xn--bcher-kva.example", recs[1].host)
  end)

  it("is mapped as UTS #46 maps it (upper case folded), port and path kept", function()
    local tok = token()
    local res = must(http.get("http://B\195\156CHER.example:80/p?t=" .. tok,
      { unix_socket = helper.unix_socket }))
    assert.are.equal("http://xn--bcher-kva.example:80/p?t=" .. tok, res.url)
    local recs = nginx_with(tok)
    assert.are.equal("xn--bcher-kva.example", recs[1].host)
  end)

  it("that is not a domain name is an InvalidURL, nothing sent", function()
    fault_reset()
    local res, err = http.get("http://a\255b.example/")
    invalid_url("URL has an invalid label", res, err)
  end)
end)

describe("a URL string", function()
  it("loses the whitespace around it", function()
    local res = must(http.get(" \t" .. HTTPBIN .. "/get?a=1 \r\n"))
    assert.are.same({ a = "1" }, echo(res).args)
    assert.are.equal(HTTPBIN .. "/get?a=1", res.url)
  end)

  it("loses it under a session's base_url too", function()
    local s <close> = http.session { base_url = HTTPBIN }
    local res = must(s:get("  /get?b=2\n"))
    assert.are.same({ b = "2" }, echo(res).args)
    assert.are.equal(HTTPBIN .. "/get?b=2", res.url)
  end)

  it("with a host that starts with a dot is an InvalidURL, nothing sent", function()
    fault_reset()
    local res, err = http.get("http://.example.com/")
    invalid_url("URL has an invalid label", res, err)
    res, err = http.get("http://.127.0.0.1" .. FAULT:match(":%d+$") .. "/ok")
    invalid_url("URL has an invalid label", res, err)
  end)

  it("with one slash after the scheme is an InvalidURL, nothing sent", function()
    fault_reset()
    local res, err = http.get("http:/" .. FAULT:sub(8) .. "/ok")
    invalid_url("no host in URL", res, err)
  end)

  it("with a raw space in the password authenticates as requests does", function()
    -- requests sends Basic base64("user:pass word") and res.url with %20
    local port = HTTPBIN:match(":(%d+)$")
    local url = "http://user:pass word@127.0.0.1:" .. port .. "/basic-auth/user/pass%20word"
    local res = must(http.get(url))
    assert.are.equal(200, res.status)
    assert.are.same({ authenticated = true, user = "user" }, res:json())
    assert.are.equal("http://user:pass%20word@127.0.0.1:" .. port
      .. "/basic-auth/user/pass%20word", res.url)
    res = must(http.get("http://user:pass word@127.0.0.1:" .. port .. "/headers"))
    assert.are.equal("Basic dXNlcjpwYXNzIHdvcmQ=", echo(res).headers.Authorization)
  end)
end)

describe("a proxy URL without a host", function()
  local PROXY_HOSTPORT = helper.proxy:sub(8)

  local function refused_by_proxy(opts)
    fault_reset()
    local tok = token()
    local res, err = http.get(FAULT .. "/ok?t=" .. tok, opts)
    invalid_url("has no host; nothing was sent", res, err)
    assert.is_nil(helper.proxy_log(nil):find(tok, 1, true))
    return err
  end

  it("is an InvalidURL before anything is sent", function()
    local err = refused_by_proxy { proxy = "http://:8080" }
    assert.matches("proxy URL of option 'proxy'", err.message, 1, true)
    refused_by_proxy { proxy = "https://" }
    refused_by_proxy { proxy = "http://user:secret@:8080" }
    err = refused_by_proxy { proxies = { http = "http://:8080" } }
    assert.matches("proxy URL of option 'proxies'", err.message, 1, true)
  end)

  it("with one slash is refused, not sent to the proxy it seems to name", function()
    -- libcurl would read "http:/127.0.0.1:P" as the proxy 127.0.0.1:P
    refused_by_proxy { proxy = "http:/" .. PROXY_HOSTPORT }
    local s <close> = http.session { proxy = "http:/" .. PROXY_HOSTPORT }
    fault_reset()
    local res, err = s:get(FAULT .. "/ok")
    invalid_url("has no host", res, err)
  end)

  it("never shows the proxy's password in the error", function()
    local err = refused_by_proxy { proxy = "http://user:s3cr3t@:8080" }
    assert.is_nil(tostring(err):find("s3cr3t", 1, true))
  end)

  it("from the environment is refused too", function()
    local script = helper.tmpdir .. "/pargs-envproxy.lua"
    support.write_file(script, [[
      local http = require "http"
      local res, err = http.get(arg[1])
      io.write(res and "sent" or err.kind .. ": " .. err.message)
    ]])
    local q = support.q
    fault_reset()
    local p = assert(io.popen(table.concat({ "env", q("LUA_CPATH=" .. package.cpath),
      q("LUA_PATH=" .. package.path), "http_proxy=http://:8080", "NO_PROXY=",
      q(os.getenv("LURL_BIN") or "lua5.4"), q(script), q(FAULT .. "/ok") }, " ")))
    local out = p:read("a")
    p:close()
    assert.are.equal("InvalidURL: the proxy URL from the environment has no host; nothing was sent", out)
    assert.are.same({}, fault_log())
  end)

  it("leaves good proxy URLs alone", function()
    local tok = token()
    local res = must(http.get(HTTPBIN .. "/get?t=" .. tok, { proxy = helper.proxy }))
    assert.are.same({ t = tok }, echo(res).args)
    assert.is_truthy(helper.proxy_log(nil, tok):find(tok, 1, true))
  end)
end)

describe("an auth option beats credentials in the URL", function()
  local port = HTTPBIN:match(":(%d+)$")
  local URL = "http://a:b@127.0.0.1:" .. port .. "/headers"
  local netrc = helper.tmpdir .. "/pargs-netrc"

  setup(function()
    support.write_file(netrc, "machine 127.0.0.1 login nu password np\n")
  end)

  local function sent_auth(res) return echo(res).headers.Authorization end

  it("as an http.netrc() object", function()
    -- (libcurl alone looks the URL's user up in the file and keeps the URL's password)
    assert.are.equal("Basic bnU6bnA=", sent_auth(must(http.get(URL, { auth = http.netrc(netrc) }))))
  end)

  it("as an http.netrc() object whose file has no entry: none is sent", function()
    local res = must(http.get(URL, { auth = http.netrc(helper.tmpdir .. "/pargs-no-netrc") }))
    assert.is_nil(sent_auth(res))
  end)

  it("as a {user, password} table, http.basic and http.bearer", function()
    assert.are.equal("Basic dTpw", sent_auth(must(http.get(URL, { auth = { "u", "p" } }))))
    assert.are.equal("Basic dTpw", sent_auth(must(http.get(URL, { auth = http.basic("u", "p") }))))
    assert.are.equal("Bearer tok", sent_auth(must(http.get(URL, { auth = http.bearer("tok") }))))
  end)

  it("as http.digest", function()
    local res = must(http.get("http://a:b@127.0.0.1:" .. port .. "/digest-auth/auth/du/dp",
      { auth = http.digest("du", "dp") }))
    assert.are.same({ authenticated = true, user = "du" }, res:json())
  end)

  it("as a session default", function()
    local s <close> = http.session { auth = http.netrc(netrc) }
    assert.are.equal("Basic bnU6bnA=", sent_auth(must(s:get(URL))))
  end)

  it("as an auth function, even one that sets no Authorization (requests' custom auth)", function()
    local res = must(http.get(URL, { auth = function(req) req.headers["X-Sig"] = "s1" end }))
    assert.is_nil(sent_auth(res))
    assert.are.equal("s1", echo(res).headers["X-Sig"])
    res = must(http.get(URL, { auth = function(req) req.headers.Authorization = "Sig s2" end }))
    assert.are.equal("Sig s2", sent_auth(res))
  end)

  it("while auth = false leaves the URL's credentials, as requests' auth=None", function()
    assert.are.equal("Basic YTpi", sent_auth(must(http.get(URL, { auth = false }))))
    assert.are.equal("Basic YTpi", sent_auth(must(http.get(URL))))
    assert.are.equal("http://a:b@127.0.0.1:" .. port .. "/headers",
      must(http.get(URL, { auth = http.netrc(netrc) })).url)
  end)
end)

describe("params and data tables", function()
  -- a read-only view: its contents come from __pairs, rawly it is empty
  local function view(t)
    return setmetatable({}, { __pairs = function() return next, t, nil end,
      __index = t })
  end

  it("honour __pairs as params", function()
    local res = must(http.get(HTTPBIN .. "/get", { params = view { a = "1", b = { "x", "y" } } }))
    assert.are.same({ a = "1", b = { "x", "y" } }, echo(res).args)
    assert.are.equal(HTTPBIN .. "/get?a=1&b=x&b=y", res.url)
  end)

  it("honour __pairs as data, a form and a multipart body", function()
    local res = must(http.post(HTTPBIN .. "/post", { data = view { a = "1", b = "2" } }))
    assert.are.same({ a = "1", b = "2" }, echo(res).form)
    res = must(http.post(HTTPBIN .. "/post", { data = view { a = "1" },
      files = { f = http.file(helper.tmpdir .. "/pargs-netrc") } }))
    assert.are.same({ a = "1" }, echo(res).form)
  end)

  it("honour __pairs for a list of pairs", function()
    local res = must(http.get(HTTPBIN .. "/get", { params = view { { "z", "1" }, { "a", "2" } } }))
    assert.are.equal(HTTPBIN .. "/get?z=1&a=2", res.url)
  end)

  it("repeat the key for a list of scalars, as before", function()
    local res = must(http.post(HTTPBIN .. "/post?x=0", { params = { k = { 1, 2.0, true } },
      data = { d = { "p", "q" } } }))
    local e = echo(res)
    assert.are.same({ x = "0", k = { "1", "2", "true" } }, e.args)
    assert.are.same({ d = { "p", "q" } }, e.form)
  end)

  it("refuse any other nested table, naming the field, nothing sent", function()
    fault_reset()
    local url = FAULT .. "/ok"
    local cases = {
      { { params = { a = { b = 1 } } }, "field 'params.a.b': " },
      { { params = { a = { 1, { 2 } } } }, "field 'params.a[2]': " },
      { { params = { a = { 1, x = 2 } } }, "field 'params.a.x': " },
      { { params = { { "a", { b = 1 } } } }, "field 'params.a.b': " },
      { { data = { a = { b = "1" } } }, "field 'data.a.b': " },
      { { params = view { a = { b = 1 } } }, "field 'params.a.b': " },
    }
    for _, c in ipairs(cases) do
      local msg = raised(http.post, url, c[1])
      assert.matches("bad argument #2 to 'post' (" .. c[2]
        .. "a value is a string, number, boolean or a list of them", msg, 1, true)
      assert.matches("parity_args_spec.lua:", msg, 1, true)
    end
    assert.are.same({}, fault_log())
  end)
end)

describe("a positional table where a record is expected", function()
  it("is refused naming the field, nothing sent", function()
    fault_reset()
    local url = FAULT .. "/ok"
    local cases = {
      { { timeout = { 3, 4, 5 } }, "field 'timeout': {connect=, read=, total=} expected, got a list" },
      { { timeout = { conect = 3 } }, "field 'timeout': {connect=, read=, total=} expected, got key 'conect' (did you mean 'connect'?)" },
      { { proxies = { "http://127.0.0.1:1" } }, "field 'proxies': {http=, https=, all=} expected, got a list" },
    }
    for _, c in ipairs(cases) do
      assert.matches("bad argument #2 to 'get' (" .. c[2] .. ")", raised(http.get, url, c[1]), 1, true)
    end
    assert.are.same({}, fault_log())
  end)

  it("while a record still works", function()
    local res = must(http.get(HTTPBIN .. "/get?r=1", { timeout = { connect = 5, read = 5, total = 9 } }))
    assert.are.same({ r = "1" }, echo(res).args)
  end)
end)

describe("a session", function()
  it("checks its defaults when made, as a request checks its options", function()
    local cases = {
      { { auth = "str" }, "field 'auth': table expected, got string" },
      { { timeout = { 3, 4, 5 } }, "field 'timeout': {connect=, read=, total=} expected, got a list" },
      { { params = { a = { b = 1 } } }, "field 'params.a.b': " },
      { { headers = { ["X-Token"] = {} } }, "field 'headers.X-Token': " },
      { { verify = 1 }, "field 'verify': boolean or CA path expected, got number" },
      { { max_body = "big" }, "field 'max_body': integer or false expected, got string" },
      { { http_version = "3" }, "field 'http_version': " },
      { { retry = "yes" }, "field 'retry': table or boolean expected, got string" },
      { { bogus = 1 }, "unknown option 'bogus'" },
    }
    for _, c in ipairs(cases) do
      local msg = raised(function() local s = http.session(c[1]); return s end)
      assert.matches("bad argument #1 to 'session' (" .. c[2], msg, 1, true)
      assert.matches("parity_args_spec.lua:", msg, 1, true)
    end
  end)

  it("sends nothing and calls no body function when made", function()
    fault_reset()
    local called = false
    local s1 <close> = http.session { data = { f = "v" }, body = function() called = true end,
      files = { f = http.file(helper.tmpdir .. "/pargs-netrc") } }
    local s <close> = http.session { params = { a = "1" }, auth = { "u", "p" },
      headers = { ["X-D"] = "d" }, timeout = { connect = 5 }, proxies = { http = false },
      retry = { attempts = 2 } }
    assert.is_false(called)
    assert.are.same({}, fault_log())
    -- and its defaults reach the server
    local res = must(s:get(HTTPBIN .. "/get"))
    local e = echo(res)
    assert.are.same({ a = "1" }, e.args)
    assert.are.equal("Basic dTpw", e.headers.Authorization)
    assert.are.equal("d", e.headers["X-D"])
  end)
end)

describe("a header value that is a table", function()
  it("is refused naming the header, nothing sent", function()
    fault_reset()
    local msg = raised(http.get, FAULT .. "/ok", { headers = { ["X-Token"] = { "a" } } })
    assert.matches("bad argument #2 to 'get' (field 'headers.X-Token': string, number or "
      .. "false expected, got table)", msg, 1, true)
    assert.are.same({}, fault_log())
  end)
end)
