-- Redaction (issue 15, item 12): every secret form SPEC lists (Errors),
-- plus a session's `redact` names, the proxy's credentials and the jar's
-- cookie values echoed in a body, against every output lurl prints or
-- records: tostring(err), err.message and err.url; the trace text of
-- LURL_TRACE=1 (a child lurl process, stderr captured) and the tables
-- `trace = function` receives; a HAR file written by a session; http.assert
-- failure messages.  Each check asserts the secret strings appear in none
-- (raw and in the encoded forms servers echo) and that the parts around
-- them still do, so the spec fails if redaction under-reaches or
-- over-reaches.  Real servers: httpbin echoes headers, query and cookies;
-- the fault server sends a Location with credentials
-- (spec/servers/fault_routes_luaside.py) and echoes what a client sent
-- it as a proxy.
local helper = require "spec.helper"
local http = require "http"
local support = require "spec.support"
local hassert = require "http.assert"

local HB, FAULT, DEAD = helper.httpbin, helper.fault, helper.dead_port
local FP = FAULT:match(":(%d+)$")
local HBP = HB:match(":(%d+)$")

-- The scenario runs in this process (trace = function, HAR, assert) and in
-- a child lurl with LURL_TRACE=1 (trace text), so it is source text.
local SCENARIO = [==[
local S = {
  user_token = "UTOKEN7x1", password = "PWSECRET7x2", bearer = "BEARER7x3",
  proxy_auth = "PROXYAUTH7x4", cookie = "COOKIEVAL7x5", set_cookie = "SETCOOKIE7x6",
  loc_pass = "LOCPASS9", loc_tok = "LOCTOK9", sess_header = "TEAMKEY7x8",
  sess_param = "TEAMQ7x9", proxy_pw = "PROXYPW7y1", jar = "JARVAL7y2",
}
-- every secret query parameter, in a letter case of its own
local PARAMS = { "Access_Token", "TOKEN", "Api_Key", "APIKEY", "Client_Secret", "PassWord",
  "SIG", "Signature", "x-amz-signature", "X-AMZ-CREDENTIAL", "X-Amz-Security-Token" }
local query = {}
for i, name in ipairs(PARAMS) do
  S["param_" .. i] = ("QV%02dsecret"):format(i)
  query[#query + 1] = name .. "=" .. S["param_" .. i]
end
query = table.concat(query, "&") .. "&keep=visible1&teamq=" .. S.sess_param
local function b64(s)
  local t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
  local function ch(v) return t:sub(v + 1, v + 1) end
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = ch(n // 262144) .. ch(n // 4096 % 64) .. (b and ch(n // 64 % 64) or "=")
      .. (c and ch(n % 64) or "=")
  end
  return table.concat(out)
end
-- the encoded forms a server echoes: Basic credentials
local ENCODED = { b64("ada:" .. S.password), b64(S.user_token .. ":"), b64("pa:" .. S.proxy_auth),
  b64("pu:" .. S.proxy_pw), b64("lu:" .. S.loc_pass) }

local function run(http, s, HB, FAULT, FP)
  local HBP = HB:match(":(%d+)$")
  local out = {}
  local function get(url, opts) out[#out + 1] = assert(s:get(url, opts)) end
  -- the query parameters, the session's header and parameter, the
  -- credential headers, httpbin echoing all of them
  get(HB .. "/anything/visible-path?" .. query, { headers = {
    Authorization = "Bearer " .. S.bearer, ["Proxy-Authorization"] = "Basic " .. b64("pa:" .. S.proxy_auth),
    ["X-Team-Key"] = S.sess_header, ["X-Visible"] = "visible-header", Cookie = "sid=" .. S.cookie } })
  -- URL user parts: a password, and a token as the whole user part
  get("http://ada:" .. S.password .. "@127.0.0.1:" .. HBP .. "/anything/u1?keep=visible3")
  get("http://" .. S.user_token .. "@127.0.0.1:" .. HBP .. "/anything/u2?keep=visible4")
  -- Set-Cookie, echoed in the body too
  get(FAULT .. "/luaside/set-cookie")
  -- a Location with a password and a token, followed
  get(FAULT .. "/luaside/location-creds")
  -- the jar's cookies, echoed
  s.cookies:set("jarc", S.jar, { domain = "127.0.0.1" })
  get(HB .. "/cookies")
  -- through a proxy with credentials: the fault server is the proxy and
  -- echoes the Proxy-Authorization libcurl sent it
  get("http://127.0.0.1:" .. FP .. "/luaside/echo?keep=visible2",
    { proxy = "http://pu:" .. S.proxy_pw .. "@127.0.0.1:" .. FP })
  return out
end
local REDACT = { "X-Team-Key", "teamq" }
return { S = S, ENCODED = ENCODED, run = run, REDACT = REDACT, query = query }
]==]

local SC = assert(load(SCENARIO, "=scenario"))()

-- What must be in no output: every secret, raw and encoded.
local function secrets()
  local list = {}
  for _, v in pairs(SC.S) do list[#list + 1] = v end
  for _, v in ipairs(SC.ENCODED) do list[#list + 1] = v end
  table.sort(list)
  return list
end

local function lacks_secrets(text, what)
  for _, sec in ipairs(secrets()) do
    assert(not text:find(sec, 1, true), ("secret %q appears in %s:\n%s"):format(sec, what,
      text:sub(math.max(1, (text:find(sec, 1, true) or 1) - 300), (text:find(sec, 1, true) or 1) + 200)))
  end
end

local function has_all(text, pieces, what)
  for _, p in ipairs(pieces) do
    assert(text:find(p, 1, true), ("%q is missing from %s (over-redacted?):\n%s"):format(p, what,
      text:sub(1, 3000)))
  end
end

-- The non-secret neighbours of the secrets, as each output shows them.
local PARAM_NAMES_MASKED = {}
for _, name in ipairs { "Access_Token", "TOKEN", "Api_Key", "APIKEY", "Client_Secret", "PassWord",
  "SIG", "Signature", "x-amz-signature", "X-AMZ-CREDENTIAL", "X-Amz-Security-Token" } do
  PARAM_NAMES_MASKED[#PARAM_NAMES_MASKED + 1] = name .. "=***"
end

local function with(list, more)
  local out = {}
  for _, v in ipairs(list) do out[#out + 1] = v end
  for _, v in ipairs(more) do out[#out + 1] = v end
  return out
end

local URL_VISIBLE = with(PARAM_NAMES_MASKED, { "/anything/visible-path", "keep=visible1", "teamq=***",
  "ada:***@127.0.0.1:" .. HBP .. "/anything/u1", "***@127.0.0.1:" .. HBP .. "/anything/u2",
  "lu:***@127.0.0.1:" .. FP .. "/ok?token=***&keep=locvisible" })
local HEADER_VISIBLE = { "Bearer ***", "Basic ***", "sid=***", "X-Team-Key: ***",
  "X-Visible: visible-header", "sc=***" }

local function dump(v, out)
  out = out or {}
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      out[#out + 1] = tostring(k) .. "="
      dump(v[k], out)
    end
  else
    out[#out + 1] = tostring(v)
  end
  return table.concat(out, "\n")
end

describe("redaction", function()
  it("has the closed list of query parameters SPEC gives", function()
    local core = require "http.core"
    assert.are.same({ "access_token", "token", "api_key", "apikey", "client_secret", "password",
      "sig", "signature", "x-amz-signature", "x-amz-credential", "x-amz-security-token" },
      core.secret_params())
  end)

  it("scrubs every occurrence of every secret, overlapping ones too, in one pass", function()
    local core = require "http.core"
    -- against the obvious way: mark each occurrence of each secret, then
    -- turn each run of marked bytes into one "***"
    local function reference(text, list)
      local cov = {}
      for _, sec in ipairs(list) do
        local from = 1
        while true do
          local i, j = text:find(sec, from, true)
          if not i then break end
          for k = i, j do cov[k] = true end
          from = i + 1
        end
      end
      local out, i = {}, 1
      while i <= #text do
        if cov[i] then
          out[#out + 1] = "***"
          while cov[i] do i = i + 1 end
        else
          out[#out + 1] = text:sub(i, i)
          i = i + 1
        end
      end
      return table.concat(out)
    end
    local seed = 12345
    local function rnd(n) -- a small LCG: the same cases on every run
      local t = {}
      for i = 1, n do
        seed = (seed * 1103515245 + 12345) % 2147483648
        t[i] = ("abc"):sub(seed % 3 + 1, seed % 3 + 1)
      end
      return table.concat(t)
    end
    for _ = 1, 3000 do
      local text = rnd(#rnd(1) * 13)
      local list = {}
      for i = 1, #rnd(1) + 2 do list[i] = rnd(i % 4 + 1) end
      assert.are.equal(reference(text, list), core.scrub(text, list), text .. " / " .. table.concat(list, ","))
    end
    assert.are.equal("id *** and ***; a=1", core.scrub("id sess01 and sess02; a=1", { "sess01", "sess02" }))
  end)

  it("hides exactly the secret parts of a URL", function()
    local core = require "http.core"
    local cases = {
      { "http://u:pw@h/p?token=x&a=1", "http://u:***@h/p?token=***&a=1" },
      { "https://TOKEN123@host/x", "https://***@host/x" },
      { "https://TOKEN123:@host/x", "https://***@host/x" }, -- a token with an empty password
      { "https://a@b:pw@host/x", "https://a@b:***@host/x" }, -- the last '@' ends the user part
      { "//u:pw@h/x", "//u:***@h/x" },                   -- a scheme-relative Location
      { "u:pw@host/x", "u:***@host/x" },                 -- no scheme: as typed
      { "/rel/path?password=p1&page=2", "/rel/path?password=***&page=2" },
      { "http://h/p?API%5FKEY=v&Sig=s&sig=&x=token", "http://h/p?API%5FKEY=***&Sig=***&sig=&x=token" },
      { "http://h/cb#access_token=t1&state=s", "http://h/cb#access_token=***&state=s" },
      { "http://h/p?tokens=1&my_token=2&token", "http://h/p?tokens=1&my_token=2&token" },
      { "http://h/a@b/p?q=1", "http://h/a@b/p?q=1" },   -- '@' in the path is no user part
      { "http://h:8080/p", "http://h:8080/p" },
    }
    for _, c in ipairs(cases) do assert.are.equal(c[2], core.redact(c[1]), c[1]) end
    assert.are.equal("http://h/p?Mine=***&other=1", core.redact("http://h/p?Mine=v&other=1", { "mine" }))
    local t = core.url_secrets("http://ada:p%40ss@h/?token=a%2Bb&x=1")
    assert.are.same({ "a%2Bb", userinfo = "ada:p%40ss", password = "p%40ss" }, t)
  end)

  it("hides proxy credentials in the errors libcurl words", function()
    for _, p in ipairs { "http://pu:" .. SC.S.proxy_pw .. "@[bad/", "ftp://pu:" .. SC.S.proxy_pw .. "@127.0.0.1:1" } do
      local res, err = http.get(("http://127.0.0.1:%d/x"):format(DEAD), { proxy = p })
      assert.is_nil(res)
      assert.are.equal("ProxyError", err.kind)
      local t = table.concat({ tostring(err), err.message, err.url }, "\n")
      lacks_secrets(t, "the ProxyError")
      has_all(t, { "pu:***@", "proxy" }, "the ProxyError")
    end
  end)

  it("refuses a redact option that is not a list of names, at the caller's line", function()
    local ok, err = pcall(http.session, { redact = 7 })
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'session' (field 'redact': array of header or parameter names expected, got number)",
      err, 1, true)
    local s <close> = http.session {}
    local function call()
      local res = s:get(HB .. "/get", { redact = { "ok", 5 } }) -- the line the error names
      return res
    end
    ok, err = pcall(call)
    assert.is_false(ok)
    local line = debug.getinfo(call, "S").linedefined + 1
    assert.matches("redact_spec.lua:" .. line .. ": bad argument #2 to 'get' (field 'redact': item 2: non-empty name string expected, got number)",
      err, 1, true)
    ok, err = pcall(http.get, HB .. "/get", { redact = { a = "x" } })
    assert.is_false(ok)
    assert.matches("(field 'redact': array of names expected (not a map))", err, 1, true)
  end)

  describe("in errors", function()
    local s
    before_each(function() s = http.session { redact = SC.REDACT } end)
    after_each(function() s:close() end)

    local function texts(err)
      return table.concat({ tostring(err), err.message, err.url }, "\n")
    end

    it("hides URL user parts, every secret parameter and the session's names", function()
      local url = ("http://ada:%s@127.0.0.1:%d/visible-path?%s"):format(SC.S.password, DEAD, SC.query)
      local res, err = s:get(url)
      assert.is_nil(res)
      assert.are.equal("ConnectionError", err.kind)
      local t = texts(err)
      lacks_secrets(t, "the error")
      has_all(t, with(PARAM_NAMES_MASKED, { "ada:***@127.0.0.1:" .. DEAD .. "/visible-path",
        "keep=visible1", "teamq=***", "GET" }), "the error")
      -- a token as the whole user part, through the hidden session
      res, err = http.get(("http://%s@127.0.0.1:%d/x?keep=v"):format(SC.S.user_token, DEAD))
      t = texts(err)
      lacks_secrets(t, "the error")
      has_all(t, { "http://***@127.0.0.1:" .. DEAD .. "/x?keep=v" }, "the error")
    end)

    it("hides a request's own redact names, and the closed list without a session", function()
      local res, err = http.get(("http://127.0.0.1:%d/x?teamq=%s&apikey=%s&keep=v"):format(DEAD,
        SC.S.sess_param, SC.S.param_4), { redact = { "TeamQ" } })
      assert.is_nil(res)
      local t = texts(err)
      lacks_secrets(t, "the error")
      has_all(t, { "teamq=***", "apikey=***", "keep=v" }, "the error")
      -- without the option the extra name is not secret (the list is closed)
      res, err = http.get(("http://127.0.0.1:%d/x?teamq=notsecret&apikey=%s"):format(DEAD, SC.S.param_4))
      has_all(texts(err), { "teamq=notsecret", "apikey=***" }, "the error")
    end)

    it("hides the credentials of a Location that failed to connect", function()
      local res, err = s:get(FAULT .. "/luaside/location-creds?port=" .. DEAD)
      assert.is_nil(res)
      local t = texts(err)
      lacks_secrets(t, "the error")
      has_all(t, { "lu:***@127.0.0.1:" .. DEAD .. "/ok?token=***&keep=locvisible" }, "the error")
    end)

    it("hides an echoed secret in a JSONDecodeError's body excerpt", function()
      -- httpbin's /base64/ answers the decoded text: not JSON, and the
      -- token of the query in its first bytes
      local text = "xx " .. SC.S.param_2 .. " yy"
      local b64 = require("lurl.redact").base64(text):gsub("+", "-"):gsub("/", "_")
      local res = assert(s:get(HB .. "/base64/" .. b64 .. "?TOKEN=" .. SC.S.param_2))
      assert.are.equal(text, res.body)
      local ok, err = pcall(res.json, res)
      assert.is_false(ok)
      assert.are.equal("JSONDecodeError", err.kind)
      local t = texts(err)
      lacks_secrets(t, "the JSONDecodeError")
      has_all(t, { "xx ***", "TOKEN=***" }, "the JSONDecodeError")
    end)

    it("hides them in raise_for_status's HTTPError", function()
      local res = assert(s:get(HB .. "/status/404?" .. SC.query))
      local ok, err = pcall(res.raise_for_status, res)
      assert.is_false(ok)
      assert.are.equal("HTTPError", err.kind)
      local t = texts(err)
      lacks_secrets(t, "the HTTPError")
      has_all(t, with(PARAM_NAMES_MASKED, { "404", "/status/404", "keep=visible1", "teamq=***" }),
        "the HTTPError")
    end)
  end)

  it("keeps every secret out of trace = function events", function()
    local events = {}
    local s = http.session { redact = SC.REDACT, trace = function(ev) events[#events + 1] = ev end }
    local out = SC.run(http, s, HB, FAULT, FP)
    s:close()
    assert.are.equal(7, #out)
    assert.are.equal(8, #events) -- the redirect is two hops
    local text = dump(events)
    lacks_secrets(text, "the trace events")
    has_all(text, with(URL_VISIBLE, { "Bearer ***", "Basic ***", "sid=***", "X-Team-Key",
      "visible-header", "sc=***" }), "the trace events")
  end)

  it("keeps every secret out of the LURL_TRACE=1 text", function()
    local script = helper.tmpdir .. "/redact_trace.lua"
    support.write_file(script, ([[
local http = require "http"
local SC = assert(load(%q, "=scenario"))()
local s = http.session { redact = SC.REDACT }
SC.run(http, s, %q, %q, %q)
s:close()
print("done")
]]):format(SCENARIO, HB, FAULT, FP))
    local errfile = helper.tmpdir .. "/redact_trace.txt"
    local bin = os.getenv("LURL_BIN") or "lua5.4"
    local p = io.popen(("LURL_TRACE=1 %s %s 2>%s"):format(support.q(bin), support.q(script),
      support.q(errfile)))
    local stdout = p:read("a")
    p:close()
    local text = support.read_file(errfile) or ""
    assert.are.equal("done\n", stdout, text)
    lacks_secrets(text, "the trace text")
    has_all(text, with(URL_VISIBLE, with(HEADER_VISIBLE, { "< Location: http://lu:***@127.0.0.1:" .. FP,
      "* redirect 302 -> http://lu:***@" })), "the trace text")
  end)

  it("keeps every secret out of a session's HAR file, echoed bodies included", function()
    local path = helper.tmpdir .. "/redact.har"
    local s = http.session { redact = SC.REDACT, har = path }
    local out = SC.run(http, s, HB, FAULT, FP)
    -- the echoes really carry the secrets: a scrubbing that missed them
    -- would leave them in the file
    assert.truthy(out[1].body:find(SC.S.param_1, 1, true))
    assert.truthy(out[1].body:find(SC.S.sess_header, 1, true))
    assert.truthy(out[6].body:find(SC.S.jar, 1, true))
    assert.truthy(out[7].body:find(SC.ENCODED[4], 1, true))
    s:close()
    local text = assert(support.read_file(path))
    lacks_secrets(text, "the HAR")
    has_all(text, with(URL_VISIBLE, { "Bearer ***", "sid=***", "visible-header", "sc=***",
      '"name": "X-Team-Key"', [[\"keep\":\"visible1\"]], [[\"jarc\":\"***\"]], '"name": "teamq"',
      [[[\"Proxy-Authorization\", \"Basic ***\"]], "keep=visible2" }), "the HAR")
  end)

  it("keeps every secret out of http.assert failure messages", function()
    local s = http.session { redact = SC.REDACT }
    local out = SC.run(http, s, HB, FAULT, FP)
    local msgs = {}
    for _, res in ipairs(out) do
      local ok, err = pcall(hassert.assert.status, res, 599)
      assert.is_false(ok)
      msgs[#msgs + 1] = tostring(err)
    end
    -- a JSON field whose value is an echoed secret
    local ok, err = pcall(hassert.assert.json_field, out[1], "args.Access_Token", "x")
    assert.is_false(ok)
    msgs[#msgs + 1] = tostring(err)
    ok, err = pcall(hassert.assert.json_field, out[6], "cookies.jarc", "x")
    assert.is_false(ok)
    msgs[#msgs + 1] = tostring(err)
    local text = table.concat(msgs, "\n")
    s:close()
    lacks_secrets(text, "the assert messages")
    has_all(text, with(URL_VISIBLE, { "Bearer ***", "sid=***", "X-Team-Key: ***",
      "X-Visible: visible-header", "sc=***", "Expected JSON field args.Access_Token", "keep=visible2" }),
      "the assert messages")
  end)
end)
