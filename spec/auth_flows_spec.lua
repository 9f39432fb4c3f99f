-- Auth flows (SPEC, Auth flows; issue 19, items 1 and 2): auth functions
-- and the digests they use, AWS Signature Version 4 checked by an
-- independent signer, OAuth2 against a token endpoint fixture, NTLM.
--
-- spec/servers/fault_routes_auth.py holds the servers: a SigV4 verifier
-- that recomputes every signature with botocore (itself checked here with
-- `curl --aws-sigv4`), an HMAC verifier, an OAuth2 token endpoint with
-- short-lived tokens and a resource answering 401 to stale ones.
local helper = require "spec.helper"
local support = require "spec.support"
local cjson = require "cjson"
local http = require "http"

local FAULT = helper.fault
local HTTPBIN = helper.httpbin
local must = support.must

local KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
local TOKEN = "FQoGZXIvYXdzEXAMPLE//token+with/odd=chars"

local function sigv4(o)
  o = o or {}
  return http.aws_sigv4 { key = o.key or KEY, secret = o.secret or SECRET, token = o.token,
    region = "us-east-1", service = o.service or "execute-api" }
end

local function json_of(res) return support.denull(cjson.decode(res.body)) end

-- the fault log's entries for a path
local function received(path)
  local out = {}
  for _, e in ipairs(support.fault_log()) do
    if e.path == path then out[#out + 1] = e end
  end
  return out
end

local function header_of(entry, name)
  for _, h in ipairs(entry.headers) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
end

-- a unique name for an OAuth2 fixture's state
local seq = 0
local function fixture()
  seq = seq + 1
  return ("f%d_%d"):format(seq, math.floor(http.now() * 1000) % 1000000)
end

local function stats(k)
  return json_of(must(http.get(FAULT .. "/auth/oauth/stats?k=" .. k)))
end

describe("http.sha256, http.hmac, http.base64, http.hex", function()
  it("give the digests and encodings of the standards' test vectors", function()
    assert.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      http.hex(http.sha256("abc")))
    assert.equal(32, #http.sha256(""))
    -- RFC 4231 test case 2 (and RFC 2202's for SHA-1)
    local key, msg = "Jefe", "what do ya want for nothing?"
    assert.equal("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79", http.hex(http.hmac("sha1", key, msg)))
    assert.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      http.hex(http.hmac("sha256", key, msg)))
    assert.equal("164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
      .. "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
      http.hex(http.hmac("sha512", key, msg)))
    -- RFC 4648's vectors, and bytes Lua strings hold (NUL, 0xFF)
    for s, b in pairs { [""] = "", f = "Zg==", fo = "Zm8=", foo = "Zm9v", foob = "Zm9vYg==",
      fooba = "Zm9vYmE=", foobar = "Zm9vYmFy", ["\0\255"] = "AP8=" } do
      assert.equal(b, http.base64(s))
    end
    assert.equal("00ff41", http.hex("\0\255A"))
  end)

  it("refuse an unknown algorithm and what is not a string", function()
    assert.error_matches(function() http.hmac("md5", "k", "s") end, "invalid option 'md5'")
    assert.error_matches(function() http.sha256(nil) end, "string expected")
  end)
end)

describe("auth = function(req)", function()
  -- an HMAC over method, target and body, as the fault server's /auth/hmac checks it
  local calls
  local function hmac_sign(req)
    calls[#calls + 1] = { method = req.method, url = req.url, body = req.body, headers = req.headers }
    local target = req.url:match("^%a+://[^/]*(.*)$")
    req.headers["X-Signature"] = http.hex(http.hmac("sha256", "hmac-test-key",
      req.method .. "\n" .. target .. "\n" .. (req.body or "")))
  end
  before_each(function() calls = {} end)

  it("signs the bytes sent: the server's HMAC of what it received matches", function()
    local res = must(http.post(FAULT .. "/auth/hmac", { auth = hmac_sign, json = { a = 1 },
      params = { q = "x y" } }))
    assert.equal(200, res.status)
    local doc = json_of(res)
    assert.is_true(doc.ok)
    assert.equal("/auth/hmac?q=x+y", doc.target)
    assert.equal(1, #calls)
    assert.equal("POST", calls[1].method)
    assert.equal(FAULT .. "/auth/hmac?q=x+y", calls[1].url)
    assert.equal('{"a":1}', calls[1].body)
    -- the same function without its header: refused
    res = must(http.post(FAULT .. "/auth/hmac", { json = { a = 1 } }))
    assert.equal(403, res.status)
  end)

  it("reaches the echoing server: httpbin shows the header made over what it echoes", function()
    local res = must(http.put(HTTPBIN .. "/anything/x", { auth = hmac_sign,
      data = { b = "2", a = "1 &" } }))
    local e = json_of(res)
    local target = e.url:match("^%a+://[^/]*(.*)$")
    local want = http.hex(http.hmac("sha256", "hmac-test-key", "PUT\n" .. target .. "\n"
      .. "a=1+%26&b=2"))
    assert.equal(want, support.echoed_header(e, "X-Signature"))
    assert.same({ a = "1 &", b = "2" }, e.form)
    assert.equal("application/x-www-form-urlencoded", calls[1].headers["Content-Type"])
  end)

  it("sees the session's headers and the call's, and a nil body for a streamed one", function()
    local s <close> = http.session { headers = { ["X-Session"] = "s" }, auth = hmac_sign }
    local chunks = { "ab", "cd" }
    local res = must(s:post(HTTPBIN .. "/anything", { headers = { ["X-Call"] = "c" },
      body = function() return table.remove(chunks, 1) end }))
    assert.equal(200, res.status)
    assert.equal("s", calls[1].headers["X-Session"])
    assert.equal("c", calls[1].headers["X-Call"])
    assert.is_nil(calls[1].body)
    local e = json_of(res)
    assert.equal("abcd", e.data)
    assert.is_string(support.echoed_header(e, "X-Signature"))
    -- a string body is there as it is sent
    must(s:post(HTTPBIN .. "/anything", { body = "raw\0bytes" }))
    assert.equal("raw\0bytes", calls[2].body)
  end)

  it("leaves out a session header the call or the function removed", function()
    local s <close> = http.session { headers = { ["X-Drop"] = "d", ["X-Gone"] = "g", ["X-Keep"] = "k" },
      auth = function(req)
        for k in pairs(req.headers) do if k:lower() == "x-gone" then req.headers[k] = nil end end
      end }
    local e = json_of(must(s:get(HTTPBIN .. "/anything", { headers = { ["x-drop"] = false } })))
    assert.is_nil(support.echoed_header(e, "X-Drop"))
    assert.is_nil(support.echoed_header(e, "X-Gone"))
    assert.equal("k", support.echoed_header(e, "X-Keep"))
  end)

  it("runs again for each redirect hop on the same origin, with that hop's target", function()
    local res = must(http.post(FAULT .. "/auth/hmac-redirect", { auth = hmac_sign, body = "abc",
      params = { to = "/auth/hmac?hop=2" } }))
    assert.equal(200, res.status)
    assert.equal("/auth/hmac?hop=2", json_of(res).target)
    assert.equal(2, #calls)
    assert.equal(FAULT .. "/auth/hmac?hop=2", calls[2].url)
    assert.equal("abc", calls[2].body)
  end)

  it("is not run on a hop to another host, whose request carries none of its headers", function()
    support.fault_reset()
    local other = FAULT:gsub("127%.0%.0%.1", "localhost")
    local res = must(http.post(FAULT .. "/auth/hmac-redirect", { auth = hmac_sign, body = "abc",
      params = { to = other .. "/auth/hmac" } }))
    assert.equal(403, res.status)
    assert.equal(1, #calls)
    local hops = received("/auth/hmac")
    assert.equal(1, #hops)
    assert.is_nil(header_of(hops[1], "X-Signature"))
  end)

  it("runs before each retry", function()
    local res = must(http.get(HTTPBIN .. "/status/503", { auth = hmac_sign,
      retry = { attempts = 3, backoff = 0.01 } }))
    assert.equal(503, res.status)
    assert.equal(3, #calls)
  end)

  it("works over a transport function", function()
    local seen
    local s <close> = http.session { transport = function(req)
      seen = req
      return { status = 200, body = "ok" }
    end }
    must(s:post("http://api.test/x", { auth = hmac_sign, body = "b" }))
    assert.equal(http.hex(http.hmac("sha256", "hmac-test-key", "POST\n/x\nb")), seen.headers["X-Signature"])
  end)

  it("leaves bad options to the usual checks, naming the field", function()
    assert.error_matches(function()
      http.get(FAULT .. "/ok", { auth = hmac_sign, headers = "x" })
    end, "field 'headers'")
    assert.error_matches(function()
      http.get(FAULT .. "/ok", { auth = hmac_sign, params = { a = print } })
    end, "field 'params'")
  end)

  it("an error it raises is the caller's", function()
    assert.error_matches(function()
      http.get(FAULT .. "/ok", { auth = function() error("no key here") end })
    end, "no key here")
  end)
end)

describe("http.aws_sigv4", function()
  it("the verifier itself accepts curl --aws-sigv4 and refuses a wrong secret", function()
    local function curl(secret)
      local p = io.popen(("curl -s -o /dev/null -w '%%{http_code}' --aws-sigv4 'aws:amz:us-east-1:execute-api' --user %s %s")
        :format(support.q(KEY .. ":" .. secret), support.q(FAULT .. "/auth/sigv4")))
      local out = p:read("a")
      p:close()
      return out
    end
    assert.equal("200", curl(SECRET))
    assert.equal("403", curl("wrong"))
  end)

  it("signs a GET, and a wrong secret is refused by the verifier", function()
    local res = must(http.get(FAULT .. "/auth/sigv4", { auth = sigv4() }))
    assert.equal(200, res.status)
    local doc = json_of(res)
    assert.same({ "host", "x-amz-content-sha256", "x-amz-date" }, doc.signed_headers)
    assert.equal(http.hex(http.sha256("")), doc.payload)
    res = must(http.get(FAULT .. "/auth/sigv4", { auth = sigv4 { secret = "wrong" } }))
    assert.equal(403, res.status)
    assert.equal("signature mismatch", json_of(res).why)
  end)

  local tmp = helper.tmpdir .. "/sigv4-upload.bin"
  local bodies = {
    { "a string", { body = "hello\0world" }, "hello\0world" },
    { "json", { json = { n = 1 } }, '{"n":1}' },
    { "a form", { data = { b = "x y", a = "&" } }, "a=%26&b=x+y" },
    { "a file", "file", "file bytes\n" },
  }
  for _, case in ipairs(bodies) do
    it("signs a POST with " .. case[1] .. ": the payload hash is the bytes sent", function()
      local opts, f = case[2], nil
      if opts == "file" then
        support.write_file(tmp, case[3])
        f = assert(io.open(tmp, "rb"))
        opts = { body = f }
      end
      opts.auth = sigv4()
      local res = must(http.post(FAULT .. "/auth/sigv4", opts))
      if f then f:close() end
      local doc = json_of(res)
      assert.equal(200, res.status, doc.why)
      assert.equal(#case[3], doc.body_size)
      assert.equal(http.hex(http.sha256(case[3])), doc.payload)
    end)
  end

  it("signs a multipart body (content and file parts) with what is sent", function()
    support.write_file(tmp, "from disk")
    local res = must(http.post(FAULT .. "/auth/sigv4", { auth = sigv4(),
      data = { field = "v", tags = { "a", "b" } }, -- a list value: signed as the parts sent
      files = { a = { content = "hello", filename = "h.txt", content_type = "text/plain" },
        b = http.file(tmp) } }))
    local doc = json_of(res)
    assert.equal(200, res.status, doc.why)
    local e = received("/auth/sigv4")
    local body = e[#e].body
    assert.truthy(body:find('name="field"\r\n\r\nv\r\n', 1, true))
    assert.truthy(body:find('name="tags"\r\n\r\na\r\n%-%-[^\r]+\r\nContent%-Disposition: form%-data; name="tags"\r\n\r\nb\r\n'))
    assert.truthy(body:find('filename="h.txt"\r\nContent-Type: text/plain\r\n\r\nhello\r\n', 1, true))
    assert.truthy(body:find("from disk", 1, true))
    assert.truthy(doc.signed_headers[1] == "content-type")
    -- and httpbin reads it as the same multipart form
    local h = json_of(must(http.post(HTTPBIN .. "/anything", { auth = sigv4(),
      data = { field = "v" }, files = { a = { content = "hello", filename = "h.txt" } } })))
    assert.same({ field = "v" }, h.form)
    assert.same({ a = "hello" }, h.files)
  end)

  it("sorts and encodes the query the AWS way, params included", function()
    support.fault_reset()
    local res = must(http.get(FAULT .. "/auth/sigv4?z=1&a=x%20y&b=c+d&a=%7e", { auth = sigv4(),
      params = { q = "é s", m = "*" } }))
    local doc = json_of(res)
    assert.equal(200, res.status, doc.why)
    -- sent unsorted, as given; signed sorted, each pair encoded again
    assert.equal("/auth/sigv4?z=1&a=x%20y&b=c+d&a=%7e&m=%2A&q=%C3%A9+s", doc.target)
    assert.truthy(doc.canonical:find("\na=x%20y&a=~&b=c%20d&m=%2A&q=%C3%A9%20s&z=1\n", 1, true))
  end)

  it("encodes the path twice for AWS services, once for S3", function()
    local res = must(http.get(FAULT .. "/auth/sigv4/sub%20dir/x%2Ay", { auth = sigv4() }))
    assert.equal(200, res.status, json_of(res).why)
    assert.truthy(json_of(res).canonical:find("\n/auth/sigv4/sub%2520dir/x%252Ay\n", 1, true))
    res = must(http.put(FAULT .. "/auth/sigv4-s3/bucket/a%20key", { auth = sigv4 { service = "s3" },
      body = "data" }))
    assert.equal(200, res.status, json_of(res).why)
  end)

  it("sends and signs X-Amz-Security-Token", function()
    local res = must(http.get(FAULT .. "/auth/sigv4-token", { auth = sigv4 { token = TOKEN } }))
    local doc = json_of(res)
    assert.equal(200, res.status, doc.why)
    assert.same({ "host", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token" },
      doc.signed_headers)
    -- without the token the route refuses
    assert.equal(403, must(http.get(FAULT .. "/auth/sigv4-token", { auth = sigv4() })).status)
  end)

  it("signs each redirect hop again", function()
    local res = must(http.post(FAULT .. "/auth/hmac-redirect", { auth = sigv4(), body = "x",
      params = { to = "/auth/sigv4?hop=2" } }))
    assert.equal(200, res.status, json_of(res).why)
    assert.equal("/auth/sigv4?hop=2", json_of(res).target)
  end)

  it("takes its credentials from AWS_* variables", function()
    local script = helper.tmpdir .. "/sigv4-env.lua"
    support.write_file(script, ([[
      local http = require "http"
      local a = http.aws_sigv4 { region = "us-east-1", service = "execute-api" }
      local res = assert(http.get(%q, { auth = a }))
      io.write(res.status, " ", tostring(a))
    ]]):format(FAULT .. "/auth/sigv4-token"))
    local p = io.popen(("AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_SESSION_TOKEN=%s %s %s")
      :format(support.q(KEY), support.q(SECRET), support.q(TOKEN), support.q(os.getenv("LURL_BIN")),
        support.q(script)))
    local out = p:read("a")
    p:close()
    -- and its tostring shows no secret
    assert.equal("200 http.auth (aws_sigv4)", out)
  end)

  it("refuses missing fields, naming them", function()
    assert.error_matches(function() http.aws_sigv4 { key = KEY, secret = SECRET, region = "r" } end,
      "field 'service'")
    assert.error_matches(function() http.aws_sigv4("x") end, "table expected")
  end)
end)

describe("http.oauth2", function()
  local function flow(k, extra)
    local o = { token_url = FAULT .. "/auth/oauth/token?k=" .. k .. (extra or ""),
      client_id = "cid", client_secret = "csecret" }
    return o
  end

  it("fetches a token on first use (client-credentials, HTTP Basic) and reuses it", function()
    local k = fixture()
    local o = flow(k)
    o.scope = "read write"
    local a = http.oauth2(o)
    for _ = 1, 3 do
      local res = must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = a }))
      assert.equal(200, res.status)
      assert.equal("tok-" .. k .. "-1", json_of(res).token)
    end
    local st = stats(k)
    assert.equal(1, st.token_requests)
    assert.same({ "client_credentials" }, st.grants)
    assert.same({ "basic" }, st.client_auth)
    assert.same({ "read write" }, st.scopes)
  end)

  it("sends the client's credentials as form fields with auth_method = \"post\"", function()
    local k = fixture()
    local o = flow(k)
    o.auth_method = "post"
    local res = must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = http.oauth2(o) }))
    assert.equal(200, res.status)
    assert.same({ "post" }, stats(k).client_auth)
  end)

  it("uses the refresh grant with refresh_token", function()
    local k = fixture()
    local o = flow(k)
    o.refresh_token = "rt-0"
    local res = must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = http.oauth2(o) }))
    assert.equal(200, res.status)
    assert.same({ "refresh_token" }, stats(k).grants)
  end)

  it("fetches a new token when the old one expires", function()
    local k = fixture()
    local a = http.oauth2(flow(k, "&ttl=0.5"))
    assert.equal("tok-" .. k .. "-1", json_of(must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k,
      { auth = a }))).token)
    http.sleep(0.6)
    local res = must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = a }))
    assert.equal(200, res.status)
    assert.equal("tok-" .. k .. "-2", json_of(res).token)
    assert.equal(2, stats(k).token_requests)
  end)

  it("fetches anew once after a 401, and gives the 401 back when that fails too", function()
    local k = fixture()
    local a = http.oauth2(flow(k))
    must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = a }))
    must(http.get(FAULT .. "/auth/oauth/revoke?k=" .. k))
    local res = must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = a }))
    assert.equal(200, res.status)
    assert.equal("tok-" .. k .. "-2", json_of(res).token)
    assert.equal(2, stats(k).token_requests)
    -- tokens that are dead on arrival: one fetch, one resend, then the 401
    local k2 = fixture()
    local dead = http.oauth2(flow(k2, "&ttl=-1"))
    res = must(http.get(FAULT .. "/auth/oauth/resource?k=" .. k2, { auth = dead }))
    assert.equal(401, res.status)
    assert.equal(2, stats(k2).token_requests)
  end)

  it("shares one fetch between concurrent tasks", function()
    local k = fixture()
    local a = http.oauth2(flow(k, "&delay=0.3"))
    local list = {}
    for i = 1, 6 do list[i] = { "GET", FAULT .. "/auth/oauth/resource?k=" .. k, { auth = a } } end
    local results = http.parallel(list)
    for i = 1, 6 do
      assert.equal(200, results[i].status)
      assert.equal("tok-" .. k .. "-1", json_of(results[i]).token)
    end
    assert.equal(1, stats(k).token_requests)
  end)

  it("takes the session's proxy, not its headers, hooks, cookies or auth", function()
    local k = fixture()
    local hooked = 0
    local s <close> = http.session { proxy = helper.proxy, headers = { ["X-Session"] = "yes" },
      hooks = { request = function() hooked = hooked + 1 end }, cookies = { jar = "c" },
      auth = http.oauth2(flow(k)) }
    s.cookies:set("fromjar", "j", { domain = "127.0.0.1" })
    support.fault_reset()
    assert.equal(200, must(s:get(FAULT .. "/auth/oauth/resource?k=" .. k)).status)
    assert.equal(1, hooked)
    local tok = received("/auth/oauth/token")
    assert.equal(1, #tok)
    assert.is_nil(header_of(tok[1], "X-Session"))
    assert.is_nil(header_of(tok[1], "Cookie"))
    assert.matches("^Basic ", header_of(tok[1], "Authorization"))
    local res = received("/auth/oauth/resource")
    assert.equal("yes", header_of(res[1], "X-Session"))
    assert.truthy(header_of(res[1], "Cookie"):find("fromjar=j", 1, true))
    assert.truthy(helper.proxy_log(nil, "/auth/oauth/token?k=" .. k):find("/auth/oauth/token?k=" .. k, 1, true))
  end)

  it("fetches before the request takes its connection slot (max_connections = 1)", function()
    local k = fixture()
    local s <close> = http.session { max_connections = 1, auth = http.oauth2(flow(k)) }
    local results = s:parallel { FAULT .. "/auth/oauth/resource?k=" .. k,
      FAULT .. "/auth/oauth/resource?k=" .. k }
    assert.equal(200, results[1].status)
    assert.equal(200, results[2].status)
    assert.equal(1, stats(k).token_requests)
  end)

  it("a failing token endpoint is an HTTPError naming the token URL, never the secret", function()
    local k = fixture()
    local o = flow(k, "&mode=fail")
    o.auth_method = "post" -- the endpoint echoes the form, secret included, in its body
    local a = http.oauth2(o)
    local res, err = http.get(FAULT .. "/auth/oauth/resource?k=" .. k, { auth = a })
    assert.is_nil(res)
    assert.equal("HTTPError", err.kind)
    assert.truthy(tostring(err):find(o.token_url, 1, true))
    assert.falsy(tostring(err):find("csecret", 1, true))
    assert.falsy(tostring(err.message):find("csecret", 1, true))
    assert.falsy(tostring(a):find("csecret", 1, true))
    -- a wrong secret: the endpoint's 401
    local o2 = flow(fixture())
    o2.client_secret = "wrong-secret"
    res, err = http.get(FAULT .. "/auth/oauth/resource?k=x", { auth = http.oauth2(o2) })
    assert.equal("HTTPError", err.kind)
    assert.truthy(err.message:find("answered 401 Unauthorized (invalid_client)", 1, true))
    assert.is_nil(err.response) -- an endpoint may echo the secret in its body
    assert.falsy(tostring(err):find("wrong-secret", 1, true))
  end)

  it("a token endpoint that cannot be reached keeps its error's kind and names the URL", function()
    local url = "http://127.0.0.1:" .. helper.dead_port .. "/token"
    local res, err = http.get(FAULT .. "/auth/oauth/resource?k=x", { auth = http.oauth2 {
      token_url = url, client_id = "cid", client_secret = "csecret" } })
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.truthy(err.message:find("OAuth2 token endpoint " .. url, 1, true))
    assert.falsy(tostring(err):find("csecret", 1, true))
  end)

  it("checks the token like any header value: CR LF is refused, nothing sent", function()
    local k = fixture()
    support.fault_reset()
    local res, err = http.get(FAULT .. "/auth/oauth/resource?k=" .. k,
      { auth = http.oauth2(flow(k, "&mode=crlf")) })
    assert.is_nil(res)
    assert.equal("InvalidHeader", err.kind)
    assert.falsy(tostring(err):find("tok-", 1, true)) -- the token is not shown
    assert.equal(0, #received("/auth/oauth/resource"))
  end)

  it("refuses bad arguments, naming the field", function()
    assert.error_matches(function() http.oauth2 { client_id = "a", client_secret = "b" } end,
      "field 'token_url'")
    assert.error_matches(function()
      http.oauth2 { token_url = "http://h/t", client_id = "a", client_secret = "b", auth_method = "x" }
    end, "field 'auth_method'")
  end)
end)

describe("http.ntlm and http.negotiate", function()
  it("http.ntlm sends libcurl's type-1 message first", function()
    support.fault_reset()
    local res = must(http.get(FAULT .. "/ok", { auth = http.ntlm("user", "pw") }))
    assert.equal(200, res.status)
    local e = received("/ok")
    assert.matches("^NTLM TlRMTVNTUAAB", header_of(e[1], "Authorization"))
    assert.equal("http.auth (ntlm)", tostring(http.ntlm("u", "secret")))
  end)

  it("http.ntlm completes the handshake: the type-3 message carries user and domain", function()
    local res = must(http.get(FAULT .. "/auth/ntlm", { auth = http.ntlm("DOM\\alice", "pw") }))
    assert.equal(200, res.status)
    local doc = json_of(res)
    assert.equal(3, doc.step)
    assert.equal("alice", doc.user)
    assert.equal("DOM", doc.domain)
    assert.equal(24, doc.nt_len)
    -- a POST's body goes with the final message
    res = must(http.post(FAULT .. "/auth/ntlm", { auth = http.ntlm("alice", "pw"), body = "x" }))
    assert.equal(200, res.status)
  end)

  it("a challenge libcurl cannot answer gives the 401 back, buffered or streamed", function()
    for _, stream in ipairs { false, true } do
      local res = must(http.get(FAULT .. "/auth/challenge?scheme=NTLM&always=1",
        { auth = http.ntlm("u", "p"), stream = stream, timeout = 5 }))
      assert.equal(401, res.status)
      if stream then res:close() end
      -- no Kerberos ticket here: Negotiate has nothing to send
      res = must(http.get(FAULT .. "/auth/challenge", { auth = http.negotiate(), stream = stream,
        timeout = 5 }))
      assert.equal(401, res.status)
      if stream then res:close() end
    end
  end)
end)
