-- TLS against nginx: certificate verification (system CAs, a CA file, a CA
-- directory, or off), wrong host names, expired certificates, and client
-- certificates.  Every request carries a unique marker in its query so the
-- nginx access log tells which requests got through.

local helper = require "spec.helper"
local http = require "http"
local system = require "system"

local tls = helper.tls
local counter = 0

-- a URL on `base` with a marker nobody else uses
local function marked(base, name)
  counter = counter + 1
  local tag = ("tlsspec-%s-%d-%d"):format(name:gsub("[^%w]", "-"), os.time(), counter)
  return base .. "/?case=" .. tag, tag
end

local function records(tag)
  local out = {}
  for _, r in ipairs(helper.nginx_requests()) do
    if r.uri and r.uri:find(tag, 1, true) then out[#out + 1] = r end
  end
  return out
end

-- nginx access-log records whose URI carries the marker.  nginx writes the
-- line after sending the response, so wait (up to 2 s) for `want` lines.
local function logged(tag, want)
  want = want or 1
  local deadline = system.monotime() + 2
  local out = records(tag)
  while #out < want and system.monotime() < deadline do
    system.sleep(0.02)
    out = records(tag)
  end
  return out
end

-- asserts that no request with the marker reached nginx: a later request
-- that did get through is logged after it would have been
local function assert_not_logged(tag)
  local url, sentinel = marked(tls.url, "sentinel")
  assert(http.get(url, { verify = tls.ca }))
  assert.equal(1, #logged(sentinel), "the sentinel request was not logged")
  assert.same({}, records(tag))
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

describe("TLS verification", function()
  -- server, verify option, expected outcome (nil: success), message fragment
  local cases = {
    { "url", tls.ca, nil, nil, "a CA bundle file trusts the test CA" },
    { "url", tls.ca_dir, nil, nil, "a hashed CA directory trusts the test CA" },
    { "url", false, nil, nil, "verify = false accepts the unknown issuer" },
    { "url", true, "SSLError", "certificate", "verify = true uses the system CAs only" },
    { "url", nil, "SSLError", "certificate", "the default is to verify against the system CAs" },
    { "wrong_host_url", tls.ca, "SSLError", "localhost", "a certificate for another name is refused" },
    { "expired_url", tls.ca, "SSLError", "expired", "an expired certificate is refused" },
    { "wrong_host_url", false, nil, nil, "verify = false also skips the name check" },
    { "expired_url", false, nil, nil, "verify = false also skips the expiry check" },
    { "url", tls.client_cert, "SSLError", nil, "a CA file that did not sign the server is refused" },
    { "url", helper.tmpdir .. "/no-such-ca.pem", "SSLError", nil, "a CA file that does not exist is an SSLError" },
  }
  for _, c in ipairs(cases) do
    local server, verify, kind, fragment, title = c[1], c[2], c[3], c[4], c[5]
    it(title, function()
      local url, tag = marked(tls[server], title)
      local opts = {}
      if verify ~= nil then opts.verify = verify end
      local res, err = http.get(url, opts)
      if kind == nil then
        assert.is_nil(err, tostring(err))
        assert.equal(200, res.status)
        assert.equal("ok", res.body)
        -- nginx served it, over TLS
        local recs = logged(tag)
        assert.equal(1, #recs)
        assert.equal("200", recs[1].status)
        assert.truthy(recs[1].ssl and recs[1].ssl:match("^TLSv1%.[23]$"), recs[1].ssl)
      else
        assert.is_nil(res, "expected " .. kind .. ", got a response")
        assert.equal(kind, err.kind, tostring(err))
        assert.is_true(err:is("SSLError"))
        assert.is_true(err:is("ConnectionError"))
        assert.is_false(err:is("Timeout"))
        assert.is_false(err.retryable)             -- a bad certificate stays bad
        assert.is_number(err.curl_code)
        assert.equal(url, err.url)
        if fragment then
          assert.truthy(err.message:lower():find(fragment, 1, true), err.message)
        end
        -- the handshake failed: no HTTP request reached nginx
        assert_not_logged(tag)
      end
    end)
  end

  it("keeps working for verified requests after a failed handshake (no poisoned cache)", function()
    assert.is_nil((http.get((marked(tls.url, "fail-first")))))
    local url, tag = marked(tls.url, "then-ok")
    local res = assert(http.get(url, { verify = tls.ca }))
    assert.equal(200, res.status)
    assert.equal(1, #logged(tag))
    -- and a verified connection does not make an unverified one succeed
    local _, err = http.get((marked(tls.url, "default-again")))
    assert.equal("SSLError", err and err.kind)
  end)

  it("applies verify = false only to the request that asks for it", function()
    assert(http.get((marked(tls.url, "insecure")), { verify = false }))
    local res, err = http.get((marked(tls.url, "secure-after")))
    assert.is_nil(res)
    assert.equal("SSLError", err.kind)
  end)
end)

describe("a server that requires a client certificate", function()
  it("answers 400 to a client without one (the handshake completes, nginx refuses)", function()
    local url, tag = marked(tls.client_cert_url, "no-cert")
    local res = assert(http.get(url, { verify = tls.ca }))
    assert.equal(400, res.status)
    assert.is_false(res.ok)
    local recs = logged(tag)
    assert.equal(1, #recs)
    assert.equal("400", recs[1].status)
    assert.is_nil(recs[1].client_dn)
  end)

  it("accepts cert = {cert_path, key_path}", function()
    local url, tag = marked(tls.client_cert_url, "cert-pair")
    local res = assert(http.get(url, { verify = tls.ca, cert = { tls.client_cert, tls.client_key } }))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    local recs = logged(tag)
    assert.equal(1, #recs)
    assert.equal("200", recs[1].status)
    assert.equal("CN=lurl test client", recs[1].client_dn)
  end)

  it("accepts cert = path of one PEM file holding certificate and key", function()
    local both = helper.tmpdir .. "/client-both.pem"
    local f = assert(io.open(both, "wb"))
    f:write(read(tls.client_cert), read(tls.client_key))
    f:close()
    local url, tag = marked(tls.client_cert_url, "cert-one-file")
    local res = assert(http.get(url, { verify = tls.ca, cert = both }))
    assert.equal(200, res.status)
    assert.equal("CN=lurl test client", logged(tag)[1].client_dn)
  end)

  it("reports a certificate file that does not exist as an SSLError, sending nothing", function()
    local url, tag = marked(tls.client_cert_url, "cert-missing")
    local res, err = http.get(url, { verify = tls.ca,
      cert = { helper.tmpdir .. "/nope.pem", helper.tmpdir .. "/nope.key" } })
    assert.is_nil(res)
    assert.equal("SSLError", err.kind, tostring(err))
    assert_not_logged(tag)
  end)

  it("raises for a cert option of the wrong type", function()
    assert.has_error(function() http.get(tls.client_cert_url, { cert = 42 }) end)
    assert.has_error(function() http.get(tls.client_cert_url, { cert = { tls.client_cert } }) end)
    assert.has_error(function() http.get(tls.url, { verify = 1 }) end)
  end)
end)
