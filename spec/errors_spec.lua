-- Transport failures, protocol faults and the error objects that report them.
--
-- Every failing exchange returns nil, err; these specs check the kind a
-- script can branch on, the fields of err, its family relations, that
-- refused requests never leave the machine, and that no secret leaks into
-- an error.  What the servers received is checked too (fault server
-- /requests), so a test fails if lurl "succeeds" by not sending anything.

local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local function fault(path) return helper.fault .. path end
local DEAD = "http://127.0.0.1:" .. helper.dead_port

local function reset_log() assert(http.get(fault("/reset-log"))) end

-- requests the fault server received since the last reset_log()
local function received()
  local res = assert(http.get(fault("/requests")))
  return cjson.decode(res.body)
end

local function paths_received()
  local out = {}
  for _, r in ipairs(received()) do out[#out + 1] = r.target end
  return out
end

-- every string an error object carries (message, url, ...), and tostring(err)
local function texts_of(err)
  local out = { tostring(err) }
  for k, v in pairs(err) do
    if type(v) == "string" then out[#out + 1] = k .. "=" .. v end
  end
  return out
end

local function assert_no_secret(err, secret)
  for _, s in ipairs(texts_of(err)) do
    assert(not s:find(secret, 1, true),
      ("secret %q leaked into the error: %s"):format(secret, s))
  end
end

local ALL_KINDS = {
  "RequestException", "ConnectionError", "ProxyError", "SSLError", "Timeout",
  "ConnectTimeout", "ReadTimeout", "HTTPError", "TooManyRedirects", "InvalidURL",
  "InvalidHeader", "JSONDecodeError", "ContentDecodingError", "ChunkedEncodingError",
  "BodyTooLarge",
}

-- kind -> every kind err:is() must accept (itself and its ancestors)
local FAMILY = {
  RequestException = { "RequestException" },
  ConnectionError = { "ConnectionError", "RequestException" },
  ProxyError = { "ProxyError", "ConnectionError", "RequestException" },
  SSLError = { "SSLError", "ConnectionError", "RequestException" },
  ConnectTimeout = { "ConnectTimeout", "ConnectionError", "Timeout", "RequestException" },
  Timeout = { "Timeout", "RequestException" },
  ReadTimeout = { "ReadTimeout", "Timeout", "RequestException" },
  HTTPError = { "HTTPError", "RequestException" },
  TooManyRedirects = { "TooManyRedirects", "RequestException" },
  InvalidURL = { "InvalidURL", "RequestException" },
  InvalidHeader = { "InvalidHeader", "RequestException" },
  JSONDecodeError = { "JSONDecodeError", "RequestException" },
  ContentDecodingError = { "ContentDecodingError", "RequestException" },
  ChunkedEncodingError = { "ChunkedEncodingError", "RequestException" },
  BodyTooLarge = { "BodyTooLarge", "RequestException" },
}

-- A listening socket whose accept queue is full: the kernel drops further
-- SYNs, so connecting there hangs until the connect timeout (a real
-- black hole on 127.0.0.1).  Returns port, close() or nil if the kernel
-- did not cooperate.
local function black_hole() return support.black_hole(30000) end

describe("a transport failure", function()
  before_each(reset_log)

  it("connection refused is a retryable ConnectionError carrying libcurl's code", function()
    local url = DEAD .. "/refused"
    local res, err = http.get(url)
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal(7, err.curl_code)                 -- CURLE_COULDNT_CONNECT
    assert.is_true(err.retryable)
    assert.equal("GET", err.method)
    assert.equal(url, err.url)
    assert.matches("connect", err.message:lower())
    assert.is_true(err:is("ConnectionError"))
    assert.is_false(err:is("Timeout"))
  end)

  it("an unresolvable host is a ConnectionError naming the host", function()
    local res, err = http.get("http://nonexistent.invalid/")
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal(6, err.curl_code)                 -- CURLE_COULDNT_RESOLVE_HOST
    assert.truthy(err.message:find("nonexistent.invalid", 1, true))
    assert.is_true(err.retryable)
  end)

  it("does not keep the module from working: the next request succeeds", function()
    assert.is_nil((http.get(DEAD .. "/")))
    local res = assert(http.get(fault("/ok")))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
  end)
end)

describe("a broken response", function()
  before_each(reset_log)

  -- path, expected kind(s), message fragment (plain), retryable, curl_code
  local cases = {
    { "/truncated", { "ChunkedEncodingError" }, "got 10 of 100 bytes", true, 18 },
    { "/badchunk", { "ChunkedEncodingError" }, "chunk", true },
    { "/reset", { "ConnectionError" }, "reset", true, 56 },
    { "/reset-mid-body", { "ChunkedEncodingError", "ConnectionError" }, "reset", true },
    { "/badstatus", { "ConnectionError" }, nil, true },
    { "/gzip-bad", { "ContentDecodingError" }, nil, false, 61 },
  }
  for _, c in ipairs(cases) do
    local path, kinds, fragment, retryable, code = c[1], c[2], c[3], c[4], c[5]
    it(path .. " gives " .. table.concat(kinds, " or ") .. ", never a (short) success", function()
      local res, err = http.get(fault(path))
      assert.is_nil(res, "expected an error, got a response")
      local ok_kind = false
      for _, k in ipairs(kinds) do ok_kind = ok_kind or err.kind == k end
      assert(ok_kind, ("expected %s, got %s"):format(table.concat(kinds, "/"), tostring(err)))
      if fragment then
        assert(err.message:lower():find(fragment:lower(), 1, true),
          ("message %q lacks %q"):format(err.message, fragment))
      end
      assert.equal(retryable, err.retryable)
      if code then assert.equal(code, err.curl_code) end
      assert.equal(fault(path), err.url)
      -- the request did reach the server: the fault is in its answer
      local got = paths_received()
      assert.is_true(#got >= 1)
      for _, p in ipairs(got) do assert.equal(path, p) end
    end)
  end

  it("huge response headers (300 KiB) are an error naming the headers, and no crash", function()
    local res, err = http.get(fault("/hugeheaders?kb=300"))
    assert.is_nil(res)
    assert.truthy(err.message:lower():find("header", 1, true), err.message)
    -- nothing of the body was read: a header problem is a connection
    -- problem (requests: ConnectionError), not a broken body
    assert.is_true(err:is("ConnectionError"), tostring(err))
    assert.same({ "/hugeheaders?kb=300" }, paths_received())
    -- the module still works afterwards
    assert.equal("ok", assert(http.get(fault("/ok"))).body)
  end)

  it("large but acceptable headers (50 KiB) are all delivered", function()
    local res = assert(http.get(fault("/hugeheaders?kb=50")))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    assert.truthy(res.headers["x-huge-00000"])
    assert.truthy(res.headers["X-Huge-00049"])
  end)
end)

describe("an invalid URL", function()
  before_each(reset_log)
  local P = helper.fault:match(":(%d+)$")

  -- url, message fragment; all are refused before anything is sent
  local cases = {
    { "127.0.0.1:" .. P .. "/ok", "scheme" },
    { "//127.0.0.1:" .. P .. "/ok", nil },
    { "ftp://127.0.0.1:" .. P .. "/ok", "ftp" },
    { "file:///etc/passwd", "file" },
    { "mailto:someone@example.com", nil },
    { "http://", nil },
    { "http://:" .. P .. "/ok", nil },
    { "http:///nonexistent.invalid/", nil },   -- empty authority: no host
    { "http://exa mple.invalid/", nil },
    { "", nil },
  }
  for _, c in ipairs(cases) do
    local url, fragment = c[1], c[2]
    it(("%q is InvalidURL and nothing is sent"):format(url), function()
      local res, err = http.get(url)
      assert.is_nil(res)
      assert.equal("InvalidURL", err and err.kind, tostring(err))
      assert.is_false(err.retryable)
      assert.equal("GET", err.method)
      if fragment then
        assert(err.message:lower():find(fragment, 1, true),
          ("message %q lacks %q"):format(err.message, fragment))
      end
      assert.same({}, paths_received())
    end)
  end

  it("is refused for every method the same way", function()
    for _, m in ipairs { "post", "put", "patch", "delete", "head", "options" } do
      local res, err = http[m]("ftp://127.0.0.1:" .. P .. "/ok")
      assert.is_nil(res)
      assert.equal("InvalidURL", err.kind)
      assert.equal(m:upper(), err.method)
    end
    assert.same({}, paths_received())
  end)
end)

describe("an invalid header", function()
  before_each(reset_log)

  -- name, value, message fragment
  local cases = {
    { "X-Bad\rName", "val-ue-1", "name" },
    { "X-Bad\nName", "val-ue-1", "name" },
    { "X-Bad\0Name", "val-ue-1", "name" },
    { "X-Value", "a\rb", "X-Value" },
    { "X-Value", "a\nb", "X-Value" },
    { "X-Value", "a\0b", "X-Value" },
    { "X-Value", "ok\r\nX-Injected: 1", "X-Value" },
    { "User-Agent", "evil\r\n\r\nGET /smuggled HTTP/1.1", "User-Agent" },
  }
  for _, c in ipairs(cases) do
    local name, value, fragment = c[1], c[2], c[3]
    it(("%q: %q is InvalidHeader and nothing is sent"):format(name, value), function()
      local res, err = http.get(fault("/ok"), { headers = { [name] = value } })
      assert.is_nil(res)
      assert.equal("InvalidHeader", err.kind)
      assert.is_false(err.retryable)
      assert.is_nil(err.curl_code)
      assert.equal(fault("/ok"), err.url)
      assert.truthy(err.message:find(fragment, 1, true), err.message)
      assert.truthy(err.message:find("nothing was sent", 1, true), err.message)
      -- the raw value is never echoed (it may be a secret)
      assert.is_nil(err.message:find(value, 1, true))
      assert.same({}, received())
    end)
  end

  it("is also refused in a POST with a body, which is not sent either", function()
    local res, err = http.post(fault("/ok"), { body = "payload", headers = { ["X-A"] = "1\r\n" } })
    assert.is_nil(res)
    assert.equal("InvalidHeader", err.kind)
    assert.equal("POST", err.method)
    assert.same({}, received())
  end)

  it("leaves well-formed headers alone (control)", function()
    assert(http.get(fault("/ok"), { headers = { ["X-Fine"] = "a b;c=d" } }))
    local got = received()
    assert.equal(1, #got)
    local seen
    for _, h in ipairs(got[1].headers) do
      if h[1] == "X-Fine" then seen = h[2] end
    end
    assert.equal("a b;c=d", seen)
  end)
end)

describe("an error object", function()
  it("has kind, message, method, url, curl_code, retryable and no response", function()
    local url = DEAD .. "/fields?x=1"
    local _, err = http.post(url, { body = "x" })
    assert.equal("ConnectionError", err.kind)
    assert.is_string(err.message)
    assert.is_true(#err.message > 0)
    assert.equal("POST", err.method)
    assert.equal(url, err.url)
    assert.equal(7, err.curl_code)
    assert.is_true(err.retryable)
    assert.is_nil(err.response)
  end)

  it("prints as 'Kind: message (METHOD url)'", function()
    local url = DEAD .. "/print"
    local _, err = http.delete(url)
    assert.equal(("ConnectionError: %s (DELETE %s)"):format(err.message, url), tostring(err))
  end)

  it("prints a read timeout the way SPEC shows it", function()
    local url = fault("/stall?after=0&secs=3")
    local _, err = http.get(url, { timeout = { read = 1 } })
    assert.equal(("ReadTimeout: read timed out after 1.0 s (GET %s)"):format(url), tostring(err))
  end)

  it("http.errors maps every kind name to itself, and lists exactly the kinds", function()
    assert.equal("ReadTimeout", http.errors.ReadTimeout)
    local n = 0
    for k, v in pairs(http.errors) do
      n = n + 1
      assert.equal(k, v)
      assert.truthy(FAMILY[k], "unexpected kind " .. tostring(k))
    end
    for _, k in ipairs(ALL_KINDS) do assert.equal(k, http.errors[k]) end
    assert.equal(#ALL_KINDS, n)
  end)

  -- a real error of each kind (nil where it cannot be produced here)
  local produce = {
    ConnectionError = function() return select(2, http.get(DEAD .. "/")) end,
    ProxyError = function()
      return select(2, http.get(fault("/ok"), { proxy = DEAD }))
    end,
    SSLError = function() return select(2, http.get(helper.tls.url .. "/")) end,
    ConnectTimeout = function()
      local port, close = black_hole()
      if not port then return nil end
      local _, err = http.get("http://127.0.0.1:" .. port .. "/", { timeout = { connect = 0.3 } })
      close()
      return err
    end,
    Timeout = function()
      return select(2, http.get(fault("/slowheaders?secs=2"), { timeout = { total = 0.3 } }))
    end,
    ReadTimeout = function()
      return select(2, http.get(fault("/slowheaders?secs=2"), { timeout = { read = 0.3 } }))
    end,
    HTTPError = function()
      local res = assert(http.get(fault("/nope")))
      local ok, err = pcall(res.raise_for_status, res)
      assert(not ok)
      return err
    end,
    TooManyRedirects = function()
      return select(2, http.get(helper.httpbin .. "/redirect/3", { max_redirects = 1 }))
    end,
    InvalidURL = function() return select(2, http.get("ftp://127.0.0.1/")) end,
    InvalidHeader = function()
      return select(2, http.get(fault("/ok"), { headers = { ["X-A"] = "\n" } }))
    end,
    JSONDecodeError = function()
      local res = assert(http.get(fault("/ok")))
      local ok, err = pcall(res.json, res)
      assert(not ok)
      return err
    end,
    ContentDecodingError = function() return select(2, http.get(fault("/gzip-bad"))) end,
    ChunkedEncodingError = function() return select(2, http.get(fault("/truncated"))) end,
    BodyTooLarge = function()
      return select(2, http.get(helper.httpbin .. "/bytes/1000", { max_body = 10 }))
    end,
  }

  for _, kind in ipairs(ALL_KINDS) do
    if produce[kind] then
      it(("%s: err:is() accepts %s and nothing else"):format(kind,
        table.concat(FAMILY[kind], ", ")), function()
        local err = produce[kind]()
        if err == nil and kind == "ConnectTimeout" then
          pending("the kernel would not black-hole a local port; no real ConnectTimeout")
          return
        end
        assert.is_table(err)
        assert.equal(kind, err.kind, tostring(err))
        local want = {}
        for _, k in ipairs(FAMILY[kind]) do want[k] = true end
        for _, k in ipairs(ALL_KINDS) do
          assert.equal(want[k] == true, err:is(k),
            ("%s:is(%q) should be %s"):format(kind, k, tostring(want[k] == true)))
          assert.equal(want[k] == true, err:is(http.errors[k]))
        end
        assert.is_false(err:is("Exception"))
        assert.is_false(err:is("connectionerror"))
        assert.truthy(tostring(err):find("^" .. kind .. ": "), tostring(err))
      end)
    end
  end
end)

describe("no secret in an error", function()
  before_each(reset_log)

  it("a URL password appears neither in err.url nor in tostring(err)", function()
    local _, err = http.get("http://alice:s3cr3t-pw@127.0.0.1:" .. helper.dead_port .. "/x")
    assert.equal("ConnectionError", err.kind)
    assert_no_secret(err, "s3cr3t-pw")
    assert.truthy(err.url:find("127.0.0.1:" .. helper.dead_port .. "/x", 1, true))
  end)

  -- every path by which a URL reaches an error: InvalidURL of several kinds,
  -- DNS failure, refusal, a read timeout, an HTTP error
  local P = helper.fault:match(":(%d+)$")
  local urls = {
    "alice:s3cr3t-pw@127.0.0.1:" .. P .. "/no-scheme",
    "ftp://alice:s3cr3t-pw@127.0.0.1:" .. P .. "/",
    "http://alice:s3cr3t-pw@[::1/",
    "http://alice:s3cr3t-pw@nonexistent.invalid/",
    "http://alice:s3cr3t-pw@127.0.0.1:" .. P .. "/stall?after=0&secs=2",
  }
  for _, url in ipairs(urls) do
    it(("for %s"):format(url:gsub("s3cr3t%-pw", "***")), function()
      local res, err = http.get(url, { timeout = { read = 0.3 } })
      assert.is_nil(res)
      assert_no_secret(err, "s3cr3t-pw")
    end)
  end

  it("an HTTPError from raise_for_status does not show the URL password", function()
    local res = assert(http.get("http://alice:s3cr3t-pw@127.0.0.1:" .. P .. "/missing"))
    assert.equal(404, res.status)
    local ok, err = pcall(res.raise_for_status, res)
    assert.is_false(ok)
    assert.equal("HTTPError", err.kind)
    assert_no_secret(err, "s3cr3t-pw")
  end)

  it("Authorization, bearer tokens and cookie values stay out of every error", function()
    local secrets = { "bAs1c-pw", "t0ken-xyz", "c00kie-val", "jar-c00kie", "pr0xy-auth" }
    local opts = {
      auth = { "alice", "bAs1c-pw" },
      headers = { Cookie = "sess=c00kie-val", ["Proxy-Authorization"] = "Basic pr0xy-auth" },
      cookies = { jar = "jar-c00kie" },
      timeout = { read = 0.3 },
    }
    local errs = {}
    errs[#errs + 1] = select(2, http.get(DEAD .. "/", opts))
    errs[#errs + 1] = select(2, http.get(fault("/stall?after=0&secs=2"), opts))
    errs[#errs + 1] = select(2, http.get(fault("/truncated"), opts))
    local bearer = { auth = http.bearer("t0ken-xyz"), timeout = { read = 0.3 } }
    errs[#errs + 1] = select(2, http.get(fault("/stall?after=0&secs=2"), bearer))
    errs[#errs + 1] = select(2, http.get(fault("/reset"), bearer))
    -- an InvalidHeader in one header while the secrets sit in the others
    opts.headers["X-Bad"] = "a\nb"
    errs[#errs + 1] = select(2, http.get(fault("/ok"), opts))
    -- the secret header itself is the invalid one
    errs[#errs + 1] = select(2, http.get(fault("/ok"),
      { headers = { Authorization = "Bearer t0ken-xyz\r\nX: y" } }))
    errs[#errs + 1] = select(2, http.get(fault("/ok"),
      { headers = { Cookie = "sess=c00kie-val\n" } }))
    assert.equal(8, #errs)
    for _, err in ipairs(errs) do
      for _, s in ipairs(secrets) do assert_no_secret(err, s) end
    end
    -- the secrets were really sent (so the errors had them at hand)
    local sent = cjson.encode(received())
    assert.truthy(sent:find("c00kie-val", 1, true))
    assert.truthy(sent:find("t0ken-xyz", 1, true))
  end)
end)
