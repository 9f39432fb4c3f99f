-- Tracing: `trace = true` (stderr), a file, or a function on a session;
-- LURL_TRACE=1 and `lurl --trace` for every session, the hidden one too.
-- Each check compares the trace with what the server received (httpbin
-- echoes the request headers) and hunts for secrets that must not be there.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"
local trace = require "lurl.trace"

local HTTPBIN = helper.httpbin
local TOKEN = "trace-token-5e6f7a"
local COOKIE = "trace-cookie-c0ffee"
local PASSWORD = "trace-pass-1b2c"
local SECRETS = { TOKEN, COOKIE, PASSWORD }

local function contains(text, piece)
  assert(text:find(piece, 1, true), ("expected to find %q in:\n%s"):format(piece, text))
end

local function lacks(text, piece)
  assert(not text:find(piece, 1, true), ("%q must not appear in:\n%s"):format(piece, text))
end

-- every string anywhere inside v, for secret hunting
local function strings_in(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do strings_in(k, out, seen); strings_in(x, out, seen) end
  end
  return out
end

local q = support.q

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Runs a Lua script in a child interpreter; returns exit code, stdout,
-- stderr.  env is a shell prefix like "LURL_TRACE=1 ".
local n_scripts = 0
local function run_child(interp, source, args, env, flags)
  n_scripts = n_scripts + 1
  local dir = helper.tmpdir
  local script = ("%s/trace_child_%d.lua"):format(dir, n_scripts)
  local errf = script .. ".err"
  write(script, source)
  local qargs = {}
  for i, a in ipairs(args) do qargs[i] = q(a) end
  local cmd = ("%s%s %s %s %s 2>%s"):format(env or "", q(interp), flags or "", q(script),
    table.concat(qargs, " "), q(errf))
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  local _, _, code = p:close()
  return code, out, read(errf)
end

local LURL = os.getenv("LURL_BIN")

-- the interpreters to start children with (see spec/assert_spec.lua)
local function interpreters()
  local list = { LURL or "lua5.4" }
  local i = -1
  while arg and arg[i - 1] do i = i - 1 end
  local me = arg and arg[i]
  if me and me ~= list[1] then list[#list + 1] = me end
  return list
end

-- A script that makes a redirected request with credentials, a retried
-- request and a failed one, on a session with trace = true.
local SESSION_SCRIPT = [[
local http = require "http"
local base, token, cookie, pw, dead = ...
local s = http.session { trace = true, auth = http.bearer(token), cookies = { sid = cookie } }
local res = assert(s:get(base .. "/redirect/1"))
io.write(res.body)
assert(s:get(base .. "/status/503", { retry = { attempts = 2, backoff = 0.01 } }))
local authed = base:gsub("^http://", "http://ada:" .. pw .. "@")
assert(s:get(authed .. "/basic-auth/ada/" .. "x"))
local _, err = s:get("http://127.0.0.1:" .. dead .. "/nothing")
assert(err)
s:close()
]]

describe("trace = true", function()
  for _, interp in ipairs(interpreters()) do
    it("prints requests, responses, redirects, retries, errors and timings to stderr under "
      .. interp:match("[^/]*$"), function()
      local code, out, err = run_child(interp, SESSION_SCRIPT,
        { HTTPBIN, TOKEN, COOKIE, PASSWORD, helper.dead_port })
      assert.are.equal(0, code, err)
      -- what httpbin received on the last hop
      local seen = cjson.decode(out).headers
      assert.are.equal("Bearer " .. TOKEN, seen.Authorization)
      assert.are.equal("sid=" .. COOKIE, seen.Cookie)
      -- request lines and headers, as sent
      contains(err, "> GET " .. HTTPBIN .. "/redirect/1 HTTP/1.1\n")
      contains(err, "> User-Agent: " .. seen["User-Agent"] .. "\n")
      contains(err, "> Accept-Encoding: " .. seen["Accept-Encoding"] .. "\n")
      contains(err, "> Authorization: Bearer ***\n")
      contains(err, "> Cookie: sid=***\n")
      -- response status lines and headers
      contains(err, "< HTTP/1.1 302 FOUND\n")
      contains(err, "< Location: /get\n")
      contains(err, "* redirect 302 -> " .. HTTPBIN .. "/get\n")
      contains(err, "* GET " .. HTTPBIN .. "/get (hop 2, attempt 1)\n")
      contains(err, "< HTTP/1.1 200 OK\n")
      contains(err, "< Content-Type: application/json\n")
      assert.truthy(err:find("\n%* timing: dns %d+%.%d%d ms, connect %d+%.%d%d ms, tls %d+%.%d%d ms, "
        .. "ttfb %d+%.%d%d ms, total %d+%.%d%d ms %(%d+ body bytes%)\n"), err)
      -- retries and errors
      contains(err, "< HTTP/1.1 503 SERVICE UNAVAILABLE\n")
      assert.truthy(err:find("* retry after attempt 1 in %d%.%d%d s: 503 SERVICE UNAVAILABLE\n"), err)
      contains(err, "* GET " .. HTTPBIN .. "/status/503 (hop 1, attempt 2)\n")
      contains(err, "> GET http://ada:***@127.0.0.1:")
      contains(err, "* error on GET http://127.0.0.1:" .. helper.dead_port
        .. "/nothing (attempt 1): ConnectionError: ")
      for _, s in ipairs(SECRETS) do lacks(err, s) end
    end)
  end
end)

describe("LURL_TRACE and lurl --trace", function()
  local SCRIPT = [[
local http = require "http"
local base, token = ...
local res = assert(http.get(base .. "/get", { headers = { Authorization = "Bearer " .. token } }))
io.write(res.body)
]]
  local ARGS = { HTTPBIN, TOKEN }

  it("LURL_TRACE=1 traces the hidden session of http.get", function()
    for _, interp in ipairs(interpreters()) do
      local code, out, err = run_child(interp, SCRIPT, ARGS, "LURL_TRACE=1 ")
      assert.are.equal(0, code, err)
      assert.are.equal("Bearer " .. TOKEN, cjson.decode(out).headers.Authorization)
      contains(err, "> GET " .. HTTPBIN .. "/get HTTP/1.1\n")
      contains(err, "> Authorization: Bearer ***\n")
      contains(err, "< HTTP/1.1 200 OK\n")
      contains(err, "* timing: dns ")
      lacks(err, TOKEN)
    end
  end)

  it("without it nothing is traced", function()
    for _, interp in ipairs(interpreters()) do
      local code, out, err = run_child(interp, SCRIPT, ARGS, "env -u LURL_TRACE ")
      assert.are.equal(0, code, err)
      assert.are.equal("Bearer " .. TOKEN, cjson.decode(out).headers.Authorization)
      assert.are.equal("", err)
      code, out, err = run_child(interp, SCRIPT, ARGS, "LURL_TRACE=0 ")
      assert.are.equal(0, code, err)
      assert.are.equal("", err)
    end
  end)

  it("lurl --trace turns it on", function()
    if not LURL then return pending("LURL_BIN is not set") end
    local code, out, err = run_child(LURL, SCRIPT, ARGS, "env -u LURL_TRACE ", "--trace")
    assert.are.equal(0, code, err)
    assert.are.equal("Bearer " .. TOKEN, cjson.decode(out).headers.Authorization)
    contains(err, "> GET " .. HTTPBIN .. "/get HTTP/1.1\n")
    contains(err, "< HTTP/1.1 200 OK\n")
    lacks(err, TOKEN)
  end)
end)

describe("trace = function", function()
  it("gets a redacted table per hop, retry and error", function()
    local events = {}
    local s <close> = http.session { trace = function(ev) events[#events + 1] = ev end,
      auth = http.bearer(TOKEN), cookies = { sid = COOKIE } }
    local res = assert(s:get(HTTPBIN .. "/redirect-to", { params = { url = "/headers" } }))
    local seen = res:json().headers
    assert.are.equal("Bearer " .. TOKEN, seen.Authorization)
    assert.are.equal(2, #events)

    local hop1, hop2 = events[1], events[2]
    assert.are.equal("response", hop1.type)
    assert.are.equal(1, hop1.hop)
    assert.are.equal(1, hop1.attempt)
    assert.are.equal("GET", hop1.request.method)
    assert.are.equal(HTTPBIN .. "/redirect-to?url=%2Fheaders", hop1.request.url)
    assert.are.equal(302, hop1.response.status)
    assert.are.equal("FOUND", hop1.response.reason)
    assert.are.equal("1.1", hop1.response.http_version)
    assert.are.equal(HTTPBIN .. "/headers", hop1.redirect)
    assert.are.equal(2, hop2.hop)
    assert.are.equal(200, hop2.response.status)
    assert.is_nil(hop2.redirect)
    assert.are.equal(#res.body, hop2.response.body_size)
    for _, phase in ipairs { "dns", "connect", "tls", "ttfb", "total" } do
      assert.are.equal("number", type(hop2.response.timings[phase]))
    end
    assert.are.equal(hop2.response.timings.total, hop2.response.elapsed)
    -- the request headers are what httpbin received, secrets redacted
    local names = {}
    for _, f in ipairs(hop2.request.headers) do
      names[#names + 1] = f[1]
      if f[1] == "Authorization" then
        assert.are.equal("Bearer ***", f[2])
      elseif f[1] == "Cookie" then
        assert.are.equal("sid=***", f[2])
      else
        assert.are.equal(seen[f[1]], f[2], f[1])
      end
    end
    table.sort(names)
    assert.are.same({ "Accept", "Accept-Encoding", "Authorization", "Cookie", "User-Agent" }, names)
    -- response headers in order, as the response has them
    assert.are.same(res.header_list, hop2.response.headers)

    events = {}
    assert(s:get(HTTPBIN .. "/status/503", { retry = { attempts = 2, backoff = 0.01 } }))
    assert.are.same({ "response", "retry", "response" }, { events[1].type, events[2].type, events[3].type })
    assert.are.equal(1, events[2].attempt)
    assert.are.equal(503, events[2].reason.status)
    assert.are.equal("number", type(events[2].delay))
    assert.are.equal(2, events[3].attempt)

    events = {}
    local url = ("http://ada:%s@127.0.0.1:%d/x"):format(PASSWORD, helper.dead_port)
    assert.is_nil((s:get(url)))
    assert.are.equal(1, #events)
    local e = events[1]
    assert.are.equal("error", e.type)
    assert.are.equal("GET", e.method)
    assert.are.equal(("http://ada:***@127.0.0.1:%d/x"):format(helper.dead_port), e.url)
    assert.are.equal("ConnectionError", e.error.kind)
    assert.are.equal(7, e.error.curl_code)
    assert.are.equal("string", type(e.error.message))
  end)

  it("never hands over a secret, nor the live response", function()
    local events = {}
    local s <close> = http.session { trace = function(ev) events[#events + 1] = ev end,
      cookies = { sid = COOKIE } }
    local authed = HTTPBIN:gsub("^http://", "http://ada:" .. PASSWORD .. "@")
    local res = assert(s:get(authed .. "/cookies/set", { params = { other = "plain" },
      headers = { Authorization = "Bearer " .. TOKEN, ["Proxy-Authorization"] = "Basic " .. TOKEN } }))
    assert.are.equal(200, res.status)
    assert.is_true(#events >= 2)
    for _, ev in ipairs(events) do
      for _, str in ipairs(strings_in(ev)) do
        for _, secret in ipairs(SECRETS) do lacks(str, secret) end
      end
      assert.is_nil(getmetatable(ev.response))
    end
    local found = {}
    for _, f in ipairs(events[1].request.headers) do found[f[1]] = f[2] end
    assert.are.equal("Bearer ***", found.Authorization)
    assert.are.equal("Basic ***", found["Proxy-Authorization"])
  end)
end)

describe("trace = file", function()
  it("writes the text trace to any object with a write method", function()
    local path = helper.tmpdir .. "/trace.txt"
    local f = assert(io.open(path, "w"))
    local s = http.session { trace = f, headers = { Authorization = TOKEN } }
    local res = assert(s:get(HTTPBIN .. "/headers"))
    s:close()
    f:close()
    assert.are.equal(TOKEN, res:json().headers.Authorization)
    local text = read(path)
    contains(text, "> GET " .. HTTPBIN .. "/headers HTTP/1.1\n")
    -- a value without a known scheme is hidden whole
    contains(text, "> Authorization: ***\n")
    lacks(text, TOKEN)
  end)

  it("refuses anything else", function()
    local ok, e = pcall(http.session, { trace = 42 })
    assert.is_false(ok)
    contains(tostring(e), "bad argument #1 to 'session' (field 'trace': true, function or file expected, got number)")
  end)
end)

describe("redaction rules", function()
  it("keep the scheme and names, hide values", function()
    assert.are.equal("Bearer ***", trace.redact_header("authorization", "Bearer abc"))
    assert.are.equal("***", trace.redact_header("Authorization", "abc"))
    assert.are.equal("***", trace.redact_header("Authorization", "secretword second"))
    assert.are.equal("Basic ***", trace.redact_header("Proxy-Authorization", "Basic dTpw"))
    assert.are.equal("a=***; b=***", trace.redact_header("Cookie", "a=1; b=2"))
    assert.are.equal("s=***; Path=/; HttpOnly", trace.redact_header("Set-Cookie", "s=abc; Path=/; HttpOnly"))
    assert.are.equal("***", trace.redact_header("X-Api-Key", "k"))
    assert.are.equal("text/html", trace.redact_header("Content-Type", "text/html"))
    assert.are.equal("http://u:***@h/p", trace.redact_url("http://u:pw@h/p"))
  end)

  it("scrub finds credentials in free text in the forms servers echo", function()
    local fake = { request = { url = "http://ada:p%40ss@h/", headers = { Authorization = "Basic YWRhOnMzY3JldA==" } },
      url = "http://ada:p%40ss@h/", header_list = { { "Set-Cookie", "sid=v4lue; Path=/" } } }
    local secrets = trace.secrets(fake)
    local text = trace.scrub("YWRhOnMzY3JldA== s3cret p@ss p%40ss v4lue YWRhOnBAc3M=", secrets)
    assert.are.equal("*** *** *** *** *** ***", text)
  end)
end)
