-- What a script sends: methods, params, headers, bodies, auth, cookies,
-- limits, compression, HTTP versions, Unix sockets, and the argument
-- errors that catch mistakes before anything goes on the wire.
--
-- Every test checks what the server actually received (httpbin echoes the
-- request; the fault server records the raw request line, headers and
-- body; nginx logs protocol and transport), not only what came back.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local HTTPBIN = helper.httpbin
local FAULT = helper.fault

-- res, err -> res, or a test failure naming the error
local must = support.must

-- the JSON httpbin echoed back
local function echo(res, err)
  return cjson.decode(must(res, err).body)
end

-- header value from httpbin's echo, whatever case the server used
local echoed_header = support.echoed_header

-- the fault server's record of what it received
local fault_reset = support.fault_reset

local fault_log = support.fault_log

local function fault_last()
  local log = fault_log()
  assert.is_true(#log > 0, "the fault server received no request")
  return log[#log]
end

-- every value of a header in a fault server record, in order
local function raw_headers(entry, name)
  local out = {}
  for _, h in ipairs(entry.headers) do
    if h[1]:lower() == name:lower() then out[#out + 1] = h[2] end
  end
  return out
end

local function raw_header(entry, name)
  return raw_headers(entry, name)[1]
end

-- nginx access log.  nginx writes a line once it has sent the response,
-- so a client can read the answer before the line is there: wait for it.
local function nginx_count()
  return #helper.nginx_log()
end

local function nginx_next(before)
  for _ = 1, 250 do
    local reqs = helper.nginx_requests()
    if #reqs > before then
      assert.are.equal(before + 1, #reqs, "nginx logged more than one request")
      return reqs[#reqs]
    end
    os.execute("sleep 0.02")
  end
  error("nginx logged no new request")
end

-- error message raised by f(...)
local function raised(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error to be raised")
  return tostring(e)
end

-------------------------------------------------------------------------------
-- A tiny HTTP Digest server (Python standard library only): httpbin's
-- digest route answers GET alone, and a digest exchange with a request body
-- is where clients go wrong (the body must be sent again with the
-- credentials).  It logs every request it gets at /log.

local DIGEST_SERVER = [=[
import hashlib, json, os, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, parent = sys.argv[1], int(sys.argv[2])
REALM, NONCE, OPAQUE = "lurl-test", "5f2b1c9a0e7d4c3b", "0a1b2c3d"
USER, PASSWORD = "user", "s3cret"
log, lock = [], threading.Lock()

def md5(s):
    return hashlib.md5(s.encode()).hexdigest()

def parse(value):
    out = {}
    for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', value):
        out[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return out

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, obj, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        if self.path == "/log":
            with lock:
                return self.reply(200, list(log))
        auth = self.headers.get("Authorization")
        entry = {"method": self.command, "path": self.path, "authorization": auth,
                 "body": body.decode("utf-8", "replace"),
                 "content_type": self.headers.get("Content-Type")}
        with lock:
            log.append(entry)
        ok = False
        if auth and auth.lower().startswith("digest "):
            p = parse(auth[7:])
            ha1 = md5("%s:%s:%s" % (USER, REALM, PASSWORD))
            ha2 = md5("%s:%s" % (self.command, p.get("uri", "")))
            if p.get("qop"):
                want = md5(":".join([ha1, p.get("nonce", ""), p.get("nc", ""),
                                     p.get("cnonce", ""), p["qop"], ha2]))
            else:
                want = md5("%s:%s:%s" % (ha1, p.get("nonce", ""), ha2))
            ok = (p.get("username") == USER and p.get("realm") == REALM
                  and p.get("nonce") == NONCE and p.get("uri") == self.path
                  and p.get("response") == want)
        if not ok:
            challenge = 'Digest realm="%s", qop="auth", nonce="%s", opaque="%s", algorithm=MD5' % (
                REALM, NONCE, OPAQUE)
            return self.reply(401, {"authenticated": False}, [("WWW-Authenticate", challenge)])
        self.reply(200, {"authenticated": True, "method": self.command,
                         "body": entry["body"], "content_type": entry["content_type"]})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

def watch():
    while True:
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)
        time.sleep(0.5)

srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
threading.Thread(target=watch, daemon=True).start()
with open(port_file + ".tmp", "w") as f:
    f.write("%d %d\n" % (srv.server_address[1], os.getpid()))
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
]=]

local q = support.q

local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = assert(tonumber(f:read("l"):match("^(%d+)")))
  f:close()
  return pid
end

local function start_digest_server()
  local dir = helper.tmpdir .. "/digest_server"
  assert(os.execute("mkdir -p " .. q(dir)))
  local script, portfile = dir .. "/digest_server.py", dir .. "/port"
  local f = assert(io.open(script, "w"))
  f:write(DIGEST_SERVER)
  f:close()
  os.remove(portfile)
  assert(os.execute("/usr/bin/env -u PYTHONHOME -u PYTHONPATH PYTHONDONTWRITEBYTECODE=1 "
    .. "/usr/bin/python3 " .. q(script) .. " " .. q(portfile) .. " " .. self_pid()
    .. " </dev/null >" .. q(dir .. "/log") .. " 2>&1 &"))
  for _ = 1, 200 do
    local pf = io.open(portfile)
    if pf then
      local port, pid = pf:read("l"):match("^(%d+) (%d+)$")
      pf:close()
      return { url = "http://127.0.0.1:" .. port, pid = tonumber(pid) }
    end
    os.execute("sleep 0.05")
  end
  error("the digest test server did not start; see " .. dir .. "/log")
end

-------------------------------------------------------------------------------

describe("http methods", function()
  for _, m in ipairs { "post", "put", "patch", "delete" } do
    local M = m:upper()
    it(("http.%s sends a %s with its body"):format(m, M), function()
      local res = must(http[m](HTTPBIN .. "/anything", { data = "payload-" .. m }))
      assert.are.equal(200, res.status)
      local e = cjson.decode(res.body)
      assert.are.equal(M, e.method)
      assert.are.equal("payload-" .. m, e.data)
      assert.are.equal(M, res.request.method)
    end)
  end

  it("http.get sends a GET without a body", function()
    fault_reset()
    local res = must(http.get(FAULT .. "/ok"))
    assert.are.equal("ok", res.body)
    local got = fault_last()
    assert.are.equal("GET", got.method)
    assert.are.equal(0, got.body_size)
    assert.is_nil(raw_header(got, "Content-Length"))
    assert.is_nil(raw_header(got, "Content-Type"))
  end)

  it("http.head sends a HEAD and returns the headers without a body", function()
    fault_reset()
    local res = must(http.head(FAULT .. "/ok"))
    assert.are.equal(200, res.status)
    assert.are.equal("", res.body)
    assert.are.equal("2", res.headers["content-length"])
    local got = fault_last()
    assert.are.equal("HEAD", got.method)
    assert.are.equal(0, got.body_size)
  end)

  it("http.head on httpbin gets the Content-Length of a body it does not read", function()
    local res = must(http.head(HTTPBIN .. "/get"))
    assert.are.equal(200, res.status)
    assert.are.equal("", res.body)
    assert.is_true(tonumber(res.headers["content-length"]) > 0)
    assert.are.equal("HEAD", res.request.method)
  end)

  it("http.options sends an OPTIONS", function()
    fault_reset()
    must(http.options(FAULT .. "/ok"))
    assert.are.equal("OPTIONS", fault_last().method)
    local res = must(http.options(HTTPBIN .. "/get"))
    assert.are.equal(200, res.status)
    assert.matches("GET", res.headers["allow"])
  end)

  it("http.request sends any method, upper-cased", function()
    fault_reset()
    must(http.request("post", FAULT .. "/ok", { body = "x" }))
    must(http.request("PROPFIND", FAULT .. "/ok"))
    local log = fault_log()
    assert.are.equal(2, #log)
    assert.are.equal("POST", log[1].method)
    assert.are.equal("x", log[1].body)
    assert.are.equal("PROPFIND", log[2].method)
  end)

  it("a POST without a body sends Content-Length: 0 and no Content-Type", function()
    fault_reset()
    must(http.post(FAULT .. "/ok"))
    local got = fault_last()
    assert.are.equal("POST", got.method)
    assert.are.equal("0", raw_header(got, "Content-Length"))
    assert.are.same({}, raw_headers(got, "Content-Type"))
  end)

  it("a PUT without a body sends Content-Length: 0 and no Content-Type", function()
    fault_reset()
    must(http.put(FAULT .. "/ok"))
    local got = fault_last()
    assert.are.equal("PUT", got.method)
    assert.are.equal("0", raw_header(got, "Content-Length"))
    assert.are.same({}, raw_headers(got, "Content-Type"))
  end)

  it("a DELETE can carry a JSON body", function()
    local e = echo(http.delete(HTTPBIN .. "/delete", { json = { id = 7 } }))
    assert.are.same({ id = 7 }, e.json)
  end)
end)

describe("URLs", function()
  -- requests requotes every URL (requote_uri): bytes that may not appear in
  -- a URL are percent-encoded, escapes already there are kept
  it("are sent with their path and query requoted, as requests sends them", function()
    fault_reset()
    local res = must(http.get(FAULT .. "/ok?q=a b&c=caf\xc3\xa9&p=100%&k={x}|y&e=%41"))
    local want = "/ok?q=a%20b&c=caf%C3%A9&p=100%25&k=%7Bx%7D%7Cy&e=%41"
    assert.are.equal(want, fault_last().target)
    assert.are.equal(FAULT .. want, res.url)
  end)

  it("are requoted before params are added, on a session too", function()
    fault_reset()
    local s <close> = http.session()
    local res = must(s:get(FAULT .. "/ok?x=a b", { params = { y = "c d" } }))
    assert.are.equal("/ok?x=a%20b&y=c+d", fault_last().target)
    assert.are.equal(FAULT .. "/ok?x=a%20b&y=c+d", res.url)
  end)

  it("a redirect to a Location with a space is followed, requoted", function()
    local res = must(http.get(HTTPBIN .. "/redirect-to?url=" .. "/anything/x%20y"))
    assert.are.equal(200, res.status)
    assert.are.equal(HTTPBIN .. "/anything/x%20y", res.url)
    assert.are.equal(HTTPBIN .. "/anything/x%20y", res:json().url)
  end)
end)

describe("params", function()
  it("a list value repeats the key", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { params = { tags = { "a", "b", "c" } } }))
    assert.are.equal("tags=a&tags=b&tags=c", fault_last().query)
    local e = echo(http.get(HTTPBIN .. "/get", { params = { tags = { "a", "b" } } }))
    assert.are.same({ "a", "b" }, e.args.tags)
  end)

  it("sorts the keys so URLs are deterministic", function()
    fault_reset()
    local res = must(http.get(FAULT .. "/ok", { params = { zeta = "1", alpha = "2", mid = "3" } }))
    assert.are.equal("alpha=2&mid=3&zeta=1", fault_last().query)
    assert.are.equal(FAULT .. "/ok?alpha=2&mid=3&zeta=1", res.url)
  end)

  it("an array of {k, v} pairs keeps its order, repeats included", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { params = { { "z", "1" }, { "a", "2" }, { "z", "3" } } }))
    assert.are.equal("z=1&a=2&z=3", fault_last().query)
  end)

  it("is merged into a query already in the URL", function()
    fault_reset()
    must(http.get(FAULT .. "/ok?x=1&y=2", { params = { b = "3", a = "4" } }))
    assert.are.equal("x=1&y=2&a=4&b=3", fault_last().query)
    local e = echo(http.get(HTTPBIN .. "/get?x=1", { params = { y = "2" } }))
    assert.are.same({ x = "1", y = "2" }, e.args)
  end)

  it("percent-encodes spaces, UTF-8, & and = in keys and values", function()
    local params = {
      q = "a b&c=d",
      u = "café ünï 日本",
      ["key with&="] = "v/?#%+",
    }
    local e = echo(http.get(HTTPBIN .. "/get", { params = params }))
    assert.are.same(params, e.args)
    fault_reset()
    must(http.get(FAULT .. "/ok", { params = params }))
    local query = fault_last().query
    assert.is_nil(query:find(" ", 1, true), "a raw space in " .. query)
    assert.is_nil(query:find("[\128-\255]"), "raw non-ASCII bytes in " .. query)
    -- exactly three pairs: no & or = leaked out of a key or value
    local n = 0
    for pair in query:gmatch("[^&]+") do
      n = n + 1
      assert.matches("^[^=]+=[^=]*$", pair)
    end
    assert.are.equal(3, n)
  end)

  it("percent-encodes with upper-case hex digits (RFC 3986 2.1, as requests does)", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { params = { q = "a&b=c/é" } }))
    local query = fault_last().query
    for esc in query:gmatch("%%(%x%x)") do
      assert.are.equal(esc:upper(), esc, "lower-case escape in " .. query)
    end
    assert.are.equal("q=a%26b%3Dc%2F%C3%A9", query)
  end)

  it("sends numbers and booleans as text", function()
    local e = echo(http.get(HTTPBIN .. "/get", { params = { n = 42, f = 1.5, yes = true, no = false } }))
    assert.are.same({ n = "42", f = "1.5", yes = "true", no = "false" }, e.args)
  end)

  it("shows up in res.url and res.request.url", function()
    local res = must(http.get(HTTPBIN .. "/get", { params = { a = "1" } }))
    assert.are.equal(HTTPBIN .. "/get?a=1", res.url)
    assert.are.equal(HTTPBIN .. "/get?a=1", res.request.url)
  end)
end)

describe("headers", function()
  it("sends custom headers", function()
    local e = echo(http.get(HTTPBIN .. "/headers", {
      headers = { ["X-Custom"] = "hello world", ["X-Number"] = 42 },
    }))
    assert.are.equal("hello world", echoed_header(e, "X-Custom"))
    assert.are.equal("42", echoed_header(e, "X-Number"))
  end)

  it("sends User-Agent lurl/VERSION, Accept and Accept-Encoding by default", function()
    assert.matches("^%d+%.%d+%.%d+", http.VERSION)
    local e = echo(http.get(HTTPBIN .. "/headers"))
    assert.are.equal("lurl/" .. http.VERSION, echoed_header(e, "User-Agent"))
    assert.are.equal("*/*", echoed_header(e, "Accept"))
    assert.matches("gzip", echoed_header(e, "Accept-Encoding"))
  end)

  it("user_agent sets the User-Agent", function()
    local e = echo(http.get(HTTPBIN .. "/headers", { user_agent = "my-robot/2.0" }))
    assert.are.equal("my-robot/2.0", echoed_header(e, "User-Agent"))
  end)

  it("a header given in any case replaces the default, never doubles it", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { headers = { ["user-agent"] = "mine", ACCEPT = "text/plain" } }))
    local got = fault_last()
    assert.are.same({ "mine" }, raw_headers(got, "User-Agent"))
    assert.are.same({ "text/plain" }, raw_headers(got, "Accept"))
  end)

  it("false removes a default header", function()
    local e = echo(http.get(HTTPBIN .. "/headers", {
      headers = { ["User-Agent"] = false, Accept = false },
    }))
    assert.is_nil(echoed_header(e, "User-Agent"))
    assert.is_nil(echoed_header(e, "Accept"))
    assert.is_not_nil(echoed_header(e, "Host"))
  end)

  it("an empty string sends the header with an empty value", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { headers = { ["X-Empty"] = "" } }))
    assert.are.same({ "" }, raw_headers(fault_last(), "X-Empty"))
  end)

  it("refuses CR or LF in a header value with InvalidHeader, sending nothing", function()
    fault_reset()
    local res, err = http.get(FAULT .. "/ok", {
      headers = { ["X-Evil"] = "top-secret\r\nX-Injected: 1" },
    })
    assert.is_nil(res)
    assert.are.equal("InvalidHeader", err.kind)
    assert.is_true(err:is("RequestException"))
    assert.is_nil(tostring(err):find("top-secret", 1, true), "the value leaked: " .. tostring(err))
    assert.are.same({}, fault_log())
  end)

  it("refuses a header name that is not a token", function()
    fault_reset()
    local res, err = http.get(FAULT .. "/ok", { headers = { ["X Bad:Name"] = "v" } })
    assert.is_nil(res)
    assert.are.equal("InvalidHeader", err.kind)
    assert.are.same({}, fault_log())
  end)
end)

describe("request bodies", function()
  it("data as a table is sent as an urlencoded form", function()
    local e = echo(http.post(HTTPBIN .. "/post", {
      data = { name = "lurl", list = { "x", "y" }, msg = "a b&c=d é" },
    }))
    assert.are.same({ name = "lurl", list = { "x", "y" }, msg = "a b&c=d é" }, e.form)
    assert.are.equal("application/x-www-form-urlencoded", echoed_header(e, "Content-Type"))
  end)

  it("data as a table is encoded with sorted keys, lists repeating the key", function()
    fault_reset()
    must(http.post(FAULT .. "/ok", { data = { b = "2", a = { "1", "3" } } }))
    local got = fault_last()
    assert.are.equal("a=1&a=3&b=2", got.body)
    assert.are.equal(tostring(#"a=1&a=3&b=2"), raw_header(got, "Content-Length"))
  end)

  it("data as a string is sent as is, with no form Content-Type", function()
    local e = echo(http.post(HTTPBIN .. "/post", { data = "a=1&b=2" }))
    assert.are.equal("a=1&b=2", e.data)
    assert.are.same({}, e.form)
    assert.is_nil(echoed_header(e, "Content-Type"))
  end)

  it("data as a string keeps a Content-Type the script sets", function()
    local e = echo(http.post(HTTPBIN .. "/post", {
      data = "<x/>", headers = { ["Content-Type"] = "application/xml" },
    }))
    assert.are.equal("<x/>", e.data)
    assert.are.equal("application/xml", echoed_header(e, "Content-Type"))
  end)

  it("json is encoded and sent with Content-Type: application/json", function()
    local value = { name = "lurl", n = 3, list = { 1, 2, 3 }, nested = { ok = true } }
    local e = echo(http.post(HTTPBIN .. "/post", { json = value }))
    assert.are.same(value, e.json)
    assert.are.equal("application/json", echoed_header(e, "Content-Type"))
  end)

  it("json keeps a Content-Type the script sets", function()
    local e = echo(http.post(HTTPBIN .. "/post", {
      json = { a = 1 }, headers = { ["content-type"] = "application/vnd.api+json" },
    }))
    assert.are.equal("application/vnd.api+json", echoed_header(e, "Content-Type"))
    assert.are.equal('{"a":1}', e.data)
  end)

  it("http.array{} sends an empty JSON array, at the top or nested", function()
    local e = echo(http.post(HTTPBIN .. "/post", { json = http.array {} }))
    assert.are.equal("[]", e.data)
    e = echo(http.post(HTTPBIN .. "/post", { json = { items = http.array {} } }))
    assert.are.equal('{"items":[]}', e.data)
  end)

  it("json can be a plain string or number", function()
    local e = echo(http.post(HTTPBIN .. "/post", { json = "hi" }))
    assert.are.equal('"hi"', e.data)
    e = echo(http.post(HTTPBIN .. "/post", { json = 12 }))
    assert.are.equal(12, e.json)
  end)

  it("body sends the exact bytes, NULs included, with no Content-Type", function()
    fault_reset()
    local payload = "line1\r\nline2\0after-nul é"
    must(http.put(FAULT .. "/ok", { body = payload }))
    local got = fault_last()
    assert.are.equal("PUT", got.method)
    assert.are.equal(#payload, got.body_size)
    assert.are.equal(payload, got.body)
    assert.are.same({}, raw_headers(got, "Content-Type"))
  end)

  it("a body of several hundred kilobytes arrives whole", function()
    fault_reset()
    local payload = ("0123456789abcdef"):rep(32 * 1024) -- 512 KiB
    must(http.post(FAULT .. "/ok", { body = payload }))
    local got = fault_last()
    assert.are.equal(#payload, got.body_size)
    assert.are.equal(payload, got.body)
  end)
end)

describe("auth", function()
  it('{"user", "pass"} sends Basic credentials', function()
    local res = must(http.get(HTTPBIN .. "/basic-auth/user/pass", { auth = { "user", "pass" } }))
    assert.are.equal(200, res.status)
    assert.are.same({ authenticated = true, user = "user" }, res:json())
    local e = echo(http.get(HTTPBIN .. "/headers", { auth = { "user", "pass" } }))
    assert.are.equal("Basic dXNlcjpwYXNz", echoed_header(e, "Authorization"))
  end)

  it("http.basic sends Basic credentials", function()
    local res = must(http.get(HTTPBIN .. "/basic-auth/u/p%C3%A9", { auth = http.basic("u", "pé") }))
    assert.are.equal(200, res.status)
  end)

  it("wrong Basic credentials get the server's 401", function()
    local res = must(http.get(HTTPBIN .. "/basic-auth/user/pass", { auth = { "user", "nope" } }))
    assert.are.equal(401, res.status)
    assert.is_false(res.ok)
  end)

  it("http.bearer sends Authorization: Bearer <token>", function()
    local e = echo(http.get(HTTPBIN .. "/bearer", { auth = http.bearer("tok-123") }))
    assert.are.same({ authenticated = true, token = "tok-123" }, e)
    e = echo(http.get(HTTPBIN .. "/headers", { auth = http.bearer("tok-123") }))
    assert.are.equal("Bearer tok-123", echoed_header(e, "Authorization"))
  end)

  it("without auth, the bearer route answers 401", function()
    local res = must(http.get(HTTPBIN .. "/bearer"))
    assert.are.equal(401, res.status)
  end)

  it("http.digest answers the server's challenge", function()
    local res = must(http.get(HTTPBIN .. "/digest-auth/auth/user/pass", {
      auth = http.digest("user", "pass"),
    }))
    assert.are.equal(200, res.status)
    assert.are.same({ authenticated = true, user = "user" }, res:json())
  end)

  it("http.digest with a wrong password gets the 401", function()
    local res = must(http.get(HTTPBIN .. "/digest-auth/auth/user/pass", {
      auth = http.digest("user", "wrong"),
    }))
    assert.are.equal(401, res.status)
  end)

  describe("digest with a request body", function()
    local server
    lazy_setup(function() server = start_digest_server() end)
    lazy_teardown(function()
      if server then os.execute("kill " .. server.pid .. " 2>/dev/null") end
    end)

    local function digest_log(path)
      local out = {}
      for _, e in ipairs(cjson.decode(must(http.get(server.url .. "/log")).body)) do
        if e.path == path then out[#out + 1] = e end
      end
      return out
    end

    it("sends the POST body again with the credentials", function()
      local res = must(http.post(server.url .. "/form", {
        auth = http.digest("user", "s3cret"), data = { a = "1", b = "two" },
      }))
      assert.are.equal(200, res.status)
      local e = res:json()
      assert.is_true(e.authenticated)
      assert.are.equal("POST", e.method)
      assert.are.equal("a=1&b=two", e.body)
      assert.are.equal("application/x-www-form-urlencoded", e.content_type)
      local log = digest_log("/form")
      assert.are.equal(2, #log)                    -- challenge, then the answer
      assert.are.equal(cjson.null, log[1].authorization)
      assert.matches("^Digest ", log[2].authorization)
      assert.are.equal("a=1&b=two", log[2].body)
    end)

    it("sends a JSON PUT body again with the credentials", function()
      local res = must(http.put(server.url .. "/json", {
        auth = http.digest("user", "s3cret"), json = { id = 5 },
      }))
      assert.are.equal(200, res.status)
      local e = res:json()
      assert.are.equal("PUT", e.method)
      assert.are.same({ id = 5 }, cjson.decode(e.body))
      assert.are.equal("application/json", e.content_type)
    end)

    it("returns the 401 when the password is wrong", function()
      local res = must(http.post(server.url .. "/wrong", {
        auth = http.digest("user", "nope"), body = "x",
      }))
      assert.are.equal(401, res.status)
    end)
  end)
end)

describe("cookies option", function()
  it("sends the given cookies", function()
    local e = echo(http.get(HTTPBIN .. "/cookies", { cookies = { session = "abc", theme = "dark" } }))
    assert.are.same({ session = "abc", theme = "dark" }, e.cookies)
  end)

  it("sends them in one Cookie header, beside one the script set", function()
    fault_reset()
    must(http.get(FAULT .. "/ok", { headers = { Cookie = "x=1" }, cookies = { y = "2", a = "0" } }))
    local cookies = raw_headers(fault_last(), "Cookie")
    assert.are.equal(1, #cookies)
    local seen = {}
    for k, v in cookies[1]:gmatch("([^=;%s]+)=([^;]*)") do seen[k] = v end
    assert.are.same({ x = "1", y = "2", a = "0" }, seen)
  end)

  it("are not kept for the next call, nor are cookies a response set", function()
    must(http.get(HTTPBIN .. "/cookies", { cookies = { once = "1" } }))
    local set = must(http.get(HTTPBIN .. "/cookies/set", { params = { k = "v" }, allow_redirects = false }))
    assert.are.same({ k = "v" }, set.cookies)
    local e = echo(http.get(HTTPBIN .. "/cookies"))
    assert.are.same({}, e.cookies)
  end)
end)

describe("max_body", function()
  it("refuses a larger body with BodyTooLarge", function()
    local res, err = http.get(HTTPBIN .. "/bytes/5000", { max_body = 1000 })
    assert.is_nil(res)
    assert.are.equal("BodyTooLarge", err.kind)
    assert.is_true(err:is("BodyTooLarge"))
    assert.is_true(err:is("RequestException"))
    assert.are.equal("GET", err.method)
    assert.are.equal(HTTPBIN .. "/bytes/5000", err.url)
  end)

  it("accepts a body of exactly max_body bytes", function()
    local res = must(http.get(HTTPBIN .. "/bytes/1000", { max_body = 1000 }))
    assert.are.equal(1000, #res.body)
  end)

  it("counts the decoded size of a compressed body", function()
    local full = must(http.get(HTTPBIN .. "/gzip"))
    local decoded = #full.body
    assert.is_true(decoded > 0)
    local res, err = http.get(HTTPBIN .. "/gzip", { max_body = decoded - 1 })
    assert.is_nil(res)
    assert.are.equal("BodyTooLarge", err and err.kind)
    res = must(http.get(HTTPBIN .. "/gzip", { max_body = decoded }))
    assert.are.equal(decoded, #res.body)
  end)
end)

describe("compression", function()
  it("asks for gzip, deflate and br", function()
    local e = echo(http.get(HTTPBIN .. "/headers"))
    local ae = echoed_header(e, "Accept-Encoding")
    for _, coding in ipairs { "gzip", "deflate", "br" } do
      assert.matches(coding, ae, 1, true)
    end
  end)

  for _, case in ipairs {
    { path = "/gzip", coding = "gzip", flag = "gzipped" },
    { path = "/deflate", coding = "deflate", flag = "deflated" },
    { path = "/brotli", coding = "br", flag = "brotli" },
  } do
    it(("decodes a %s body"):format(case.coding), function()
      local res = must(http.get(HTTPBIN .. case.path))
      assert.are.equal(case.coding, res.headers["content-encoding"])
      local e = res:json()
      assert.is_true(e[case.flag])
      assert.matches(case.coding, echoed_header(e, "Accept-Encoding"), 1, true)
    end)
  end
end)

describe("http_version", function()
  it('"2" negotiates HTTP/2 over TLS', function()
    local before = nginx_count()
    local res = must(http.get(helper.tls.h2_url .. "/json", {
      http_version = "2", verify = helper.tls.ca,
    }))
    assert.are.equal(200, res.status)
    assert.are.equal("2", res.http_version)
    assert.are.same({ ok = true, server = "h2" }, res:json())
    local got = nginx_next(before)
    assert.are.equal("h2", got.srv)
    assert.are.equal("HTTP/2.0", got.proto)
    assert.are.equal("h2", got.alpn)
  end)

  it('"1.1" keeps HTTP/1.1 on a server that offers HTTP/2', function()
    local before = nginx_count()
    local res = must(http.get(helper.tls.h2_url .. "/json", {
      http_version = "1.1", verify = helper.tls.ca,
    }))
    assert.are.equal(200, res.status)
    assert.are.equal("1.1", res.http_version)
    local got = nginx_next(before)
    assert.are.equal("h2", got.srv)
    assert.are.equal("HTTP/1.1", got.proto)
  end)

  it('"2-prior-knowledge" speaks HTTP/2 in clear text', function()
    local before = nginx_count()
    local res = must(http.get(helper.h2c_url .. "/json", { http_version = "2-prior-knowledge" }))
    assert.are.equal(200, res.status)
    assert.are.equal("2", res.http_version)
    assert.are.same({ ok = true, server = "h2c" }, res:json())
    local got = nginx_next(before)
    assert.are.equal("h2c", got.srv)
    assert.are.equal("HTTP/2.0", got.proto)
  end)

  it("refuses a version it does not know", function()
    local msg = raised(http.get, HTTPBIN .. "/get", { http_version = "3.5" })
    assert.matches("bad argument #2 to 'get' (field 'http_version'", msg, 1, true)
  end)
end)

describe("unix_socket", function()
  it("connects through a Unix domain socket", function()
    local before = nginx_count()
    local res = must(http.get("http://localhost/", { unix_socket = helper.unix_socket }))
    assert.are.equal(200, res.status)
    assert.are.equal("unix ok", res.body)
    local got = nginx_next(before)
    assert.are.equal("unix", got.srv)
    assert.are.equal("/", got.uri)
    assert.are.equal("GET", got.method)
    assert.are.equal("localhost", got.host)
    assert.are.equal("lurl/" .. http.VERSION, got.ua)
  end)

  it("sends the path, query and method of the URL", function()
    local before = nginx_count()
    local res = must(http.post("http://localhost/json", {
      unix_socket = helper.unix_socket, params = { a = "1" }, body = "x",
    }))
    assert.are.equal(200, res.status)
    local got = nginx_next(before)
    assert.are.equal("unix", got.srv)
    assert.are.equal("/json?a=1", got.uri)
    assert.are.equal("POST", got.method)
  end)
end)

describe("argument errors", function()
  -- s:get(url, opts) must raise; its message, which names this file's line
  local function get_error(s, url, opts)
    local ok, err = pcall(function()
      local res = s:get(url, opts) -- not a tail call: the line is this one
      return res
    end)
    assert.is_false(ok)
    return err
  end

  it("raise at once for a URL that is not a string", function()
    assert.matches("bad argument #1 to 'get' (string expected, got number)",
      raised(http.get, 42), 1, true)
    assert.matches("bad argument #1 to 'post' (string expected, got no value)",
      raised(http.post), 1, true)
    -- a bare call's URL is checked by core.fetch, the others' by the Lua
    -- side: the same error, at the caller's line
    for _, cfg in ipairs { {}, { cookies = { a = "1" } }, { max_connections = 2 }, { retry = true },
        { base_url = HTTPBIN } } do
      local s <close> = http.session(cfg)
      for _, bad in ipairs { 42, false, {} } do
        assert.matches("request_spec.lua:%d+: bad argument #1 to 'get' %(string expected, got "
          .. type(bad) .. "%)", get_error(s, bad, { timeout = 5 }))
      end
    end
  end)

  it("raise at once for options that are not a table", function()
    assert.matches("bad argument #2 to 'get' (table expected, got string)",
      raised(http.get, HTTPBIN .. "/get", "timeout=1"), 1, true)
    -- on sessions too, one whose options go to core.fetch unread and one
    -- with default cookies, which the Lua side merges before that
    for _, cfg in ipairs { {}, { cookies = { a = "1" } }, { max_connections = 2 } } do
      local s <close> = http.session(cfg)
      for _, bad in ipairs { 5, true, "timeout=1" } do
        assert.matches("request_spec.lua:%d+: bad argument #2 to 'get' %(table expected, got "
          .. type(bad) .. "%)", get_error(s, HTTPBIN .. "/get", bad))
      end
    end
  end)

  it("raise for an unknown option, naming it, before anything is sent", function()
    fault_reset()
    assert.matches("bad argument #2 to 'get' (unknown option 'timeoutt' (did you mean 'timeout'?))",
      raised(http.get, FAULT .. "/ok", { timeoutt = 1 }), 1, true)
    assert.matches("bad argument #3 to 'request' (unknown option 'header' (did you mean 'headers'?))",
      raised(http.request, "GET", FAULT .. "/ok", { header = {} }), 1, true)
    assert.are.same({}, fault_log())
  end)

  it("point at the caller's line", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, msg = pcall(function() return http.get(FAULT .. "/ok", { timeoutt = 1 }) end)
    assert.is_false(ok)
    assert.matches("request_spec%.lua:" .. line .. ": bad argument", msg)
  end)

  it("raise for a method that is not a string", function()
    assert.matches("bad argument #1 to 'request' (string expected, got number)",
      raised(http.request, 1, HTTPBIN .. "/get"), 1, true)
    assert.matches("bad argument #2 to 'request' (string expected, got ",
      raised(http.request, "GET", nil, {}), 1, true)
  end)

  it("name the field whose value has the wrong type", function()
    local url = FAULT .. "/ok"
    fault_reset()
    local cases = {
      { { headers = 5 }, "field 'headers': table expected, got number" },
      { { params = 5 }, "field 'params': table expected, got number" },
      { { data = 5 }, "field 'data': table or string expected, got number" },
      { { body = {} }, "field 'body': string, open file or function expected, got table" },
      { { auth = "user:pass" }, "field 'auth': table expected, got string" },
      { { max_body = "big" }, "field 'max_body': integer or false expected, got string" },
      { { allow_redirects = "yes" }, "field 'allow_redirects': boolean expected, got string" },
      { { max_redirects = 2.5 }, "field 'max_redirects': integer expected, got number" },
      { { timeout = "1" }, "field 'timeout'" },
      { { user_agent = 1 }, "field 'user_agent': string expected, got number" },
      { { unix_socket = true }, "field 'unix_socket': string expected, got boolean" },
      { { cookies = "a=1" }, "field 'cookies': table expected, got string" },
      { { headers = { ["X-A"] = {} } }, "field 'headers.X-A': string, number or false expected, got table" },
    }
    for _, c in ipairs(cases) do
      local msg = raised(http.get, url, c[1])
      assert.matches("bad argument #2 to 'get' (" .. c[2], msg, 1, true)
    end
    assert.are.same({}, fault_log())
  end)

  it("name the field for http.request as argument #3", function()
    assert.matches("bad argument #3 to 'request' (field 'headers': table expected, got boolean)",
      raised(http.request, "GET", HTTPBIN .. "/get", { headers = true }), 1, true)
  end)

  it("auth constructors check their arguments", function()
    assert.matches("bad argument #2 to 'basic' (string expected, got no value)",
      raised(http.basic, "u"), 1, true)
    assert.matches("bad argument #1 to 'bearer' (string expected, got number)",
      raised(http.bearer, 5), 1, true)
    assert.matches("bad argument #2 to 'digest' (string expected, got ",
      raised(http.digest, "u", nil), 1, true)
  end)

  it("a URL that is not http or https is an InvalidURL error, not a raise", function()
    local res, err = http.get("ftp://127.0.0.1/file")
    assert.is_nil(res)
    assert.are.equal("InvalidURL", err.kind)
    res, err = http.get("127.0.0.1/no-scheme")
    assert.is_nil(res)
    assert.are.equal("InvalidURL", err.kind)
  end)
end)
