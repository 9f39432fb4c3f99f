-- The network options (issue 19, items 3 and 4): resolve, connect_to,
-- ip_resolve, pinned_pubkey, limit_rate, keepalive_expiry, no_proxy, tls,
-- per-request hooks, redact; res.certificate and res.bytes.  Every check
-- reads what the server received (the fault server's request log and
-- connection numbers, nginx's access log, tinyproxy's log) as well as
-- what the script got back.

local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"
local system = require "system"

local tls = helper.tls
local FAULT_PORT = helper.fault:match(":(%d+)$")
local TLS_PORT = tls.url:match(":(%d+)$")
local CERT = tls.ca:gsub("ca%.pem$", "localhost.pem")
local q = support.q

local counter = 0
local function tag_for(name)
  counter = counter + 1
  return ("netspec-%s-%d-%d"):format(name, os.time(), counter)
end

-- what the fault server received with this marker in its target
local function received(tag)
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

local function sh(cmd)
  local p = assert(io.popen(cmd .. " 2>/dev/null", "r"))
  local out = p:read("a")
  p:close()
  return out
end

-- the nginx access-log lines of this marker, parsed, once the line of
-- `last` (default: the marker) is there: nginx logs just after answering
local function nginx(tag, last)
  local out = {}
  for _, rec in ipairs(helper.nginx_requests(last or tag)) do
    if rec.uri and rec.uri:find(tag, 1, true) then out[#out + 1] = rec end
  end
  return out
end

-- the nginx access-log lines of a marker that should not be there: a
-- request nginx does log is made first and waited for
local function nginx_none(tag)
  local probe = tag .. "-probe"
  assert(http.get(tls.url .. "/?" .. probe, { verify = tls.ca }))
  nginx(probe)
  local out = {}
  for _, rec in ipairs(helper.nginx_requests()) do
    if rec.uri and rec.uri:find(tag, 1, true) and not rec.uri:find(probe, 1, true) then
      out[#out + 1] = rec
    end
  end
  return out
end

local function field_error(f, field)
  local ok, err = pcall(f)
  assert.is_false(ok)
  assert.matches("field '" .. field:gsub("%p", "%%%0") .. "'", tostring(err))
  return tostring(err)
end

describe("resolve", function()
  it("reaches the local server under an invented name, Host unchanged", function()
    local tag = tag_for("resolve")
    local url = ("http://api.invented.test:%s/ok?%s"):format(FAULT_PORT, tag)
    local res = assert(http.get(url, { resolve = { "api.invented.test:" .. FAULT_PORT .. ":127.0.0.1" } }))
    assert.equal(200, res.status)
    assert.equal("ok", res.body)
    assert.equal(url, res.url)
    local got = received(tag)
    assert.equal(1, #got)
    assert.equal("api.invented.test:" .. FAULT_PORT, header(got[1], "Host"))
  end)

  it("is the request's alone: a later request without it is not redirected", function()
    local tag = tag_for("resolve-scope")
    local url = ("http://scope.invented.test:%s/ok?%s"):format(FAULT_PORT, tag)
    assert(http.get(url, { resolve = "scope.invented.test:" .. FAULT_PORT .. ":127.0.0.1" }))
    local res, err = http.get(url, { timeout = 5 })
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal(1, #received(tag))
  end)

  it("works over TLS: the certificate is checked against the URL's name", function()
    local tag = tag_for("resolve-tls")
    -- localhost resolved to 127.0.0.1 by the option (the test cert names localhost)
    local res = assert(http.get(tls.url .. "/?" .. tag,
      { verify = tls.ca, resolve = { "localhost:" .. TLS_PORT .. ":127.0.0.1" } }))
    assert.equal(200, res.status)
    assert.equal("localhost", nginx(tag)[1].host)
    -- an invented name reaches the same server, but the certificate is not its
    local res2, err = http.get(("https://tls.invented.test:%s/?%s-x"):format(TLS_PORT, tag),
      { verify = tls.ca, resolve = { "tls.invented.test:" .. TLS_PORT .. ":127.0.0.1" } })
    assert.is_nil(res2)
    assert.equal("SSLError", err.kind)
  end)

  it("is a session default, and a request's option overrides it", function()
    local tag = tag_for("resolve-session")
    local s <close> = http.session { resolve = { "sess.invented.test:" .. FAULT_PORT .. ":127.0.0.1" } }
    local res = assert(s:get(("http://sess.invented.test:%s/ok?%s"):format(FAULT_PORT, tag)))
    assert.equal("ok", res.body)
    local _, err = s:get(("http://sess.invented.test:%s/ok?%s-2"):format(FAULT_PORT, tag),
      { resolve = { "sess.invented.test:" .. FAULT_PORT .. ":127.0.0.1" }, timeout = 5 })
    assert.is_nil(err)
    local res3, err3 = s:get(("http://sess.invented.test:%s/ok?%s-3"):format(FAULT_PORT, tag),
      { resolve = { "sess.invented.test:" .. FAULT_PORT .. ":127.0.0.1" }, timeout = 5,
        connect_to = { "sess.invented.test:" .. FAULT_PORT .. ":127.0.0.1:" .. helper.dead_port } })
    assert.is_nil(res3) -- connect_to comes first and wins
    assert.equal("ConnectionError", err3.kind)
    assert.equal(2, #received(tag))
  end)

  it("refuses malformed entries naming the field", function()
    field_error(function() http.get("http://127.0.0.1:1/", { resolve = { "a:b" } }) end, "resolve")
    field_error(function() http.get("http://127.0.0.1:1/", { resolve = 5 }) end, "resolve")
    field_error(function() http.get("http://127.0.0.1:1/", { resolve = { 5 } }) end, "resolve")
    field_error(function() http.get("http://127.0.0.1:1/", { resolve = { "a:1:1.2.3.4,5.6.7.8" } }) end,
      "resolve")
    field_error(function() http.get("http://127.0.0.1:1/", { resolve = { "a:1:x\r\ny" } }) end, "resolve")
    -- a bad entry after a good one: the list made so far is freed with the handle's reset
    field_error(function() http.get("http://127.0.0.1:1/", { resolve = { "ok.test:1:127.0.0.1", "bad" } }) end,
      "resolve")
    field_error(function() http.session { resolve = true }:get("http://127.0.0.1:1/") end, "resolve")
  end)
end)

describe("connect_to", function()
  it("sends a request for one host and port to another", function()
    local tag = tag_for("connect-to")
    local res = assert(http.get(("http://elsewhere.invented.test:1/ok?%s"):format(tag),
      { connect_to = "elsewhere.invented.test:1:127.0.0.1:" .. FAULT_PORT }))
    assert.equal("ok", res.body)
    assert.equal("elsewhere.invented.test:1", header(received(tag)[1], "Host"))
  end)

  it("works over TLS with the certificate's name", function()
    local tag = tag_for("connect-to-tls")
    local res = assert(http.get("https://localhost:1/?" .. tag,
      { verify = tls.ca, connect_to = { "localhost:1:127.0.0.1:" .. TLS_PORT } }))
    assert.equal(200, res.status)
    assert.equal(1, #nginx(tag))
  end)

  it("refuses malformed entries naming the field", function()
    field_error(function() http.get("http://127.0.0.1:1/", { connect_to = { "a:1:b" } }) end, "connect_to")
    field_error(function() http.get("http://127.0.0.1:1/", { connect_to = { "a:x:b:1" } }) end, "connect_to")
  end)
end)

describe("ip_resolve", function()
  it('"4" resolves localhost to its IPv4 address; "6" finds none', function()
    local tag = tag_for("ipres")
    local url = ("http://localhost:%s/ok?%s"):format(FAULT_PORT, tag)
    assert.equal("ok", assert(http.get(url, { ip_resolve = "4" })).body)
    local res, err = http.get(url .. "-6", { ip_resolve = 6, timeout = 5 })
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal(1, #received(tag))
  end)

  it("refuses anything but 4 and 6", function()
    field_error(function() http.get("http://127.0.0.1:1/", { ip_resolve = "5" }) end, "ip_resolve")
    field_error(function() http.get("http://127.0.0.1:1/", { ip_resolve = true }) end, "ip_resolve")
  end)
end)

describe("doh_url", function()
  -- libcurl speaks DoH over https only: a small TLS responder with the test
  -- certificate (spec/servers/doh_server.py), stopped when its stdin closes
  local doh, doh_url
  setup(function()
    local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "spec"
    local out = os.tmpname()
    doh = assert(io.popen(("/usr/bin/python3 %s %s %s > %s"):format(q(dir .. "/servers/doh_server.py"),
      q(CERT), q((CERT:gsub("%.pem$", ".key"))), q(out)), "w"))
    for _ = 1, 100 do
      local f = io.open(out)
      local port = f and f:read("a"):match("PORT (%d+)")
      if f then f:close() end
      if port then doh_url = "https://localhost:" .. port .. "/dns-query" break end
      system.sleep(0.05)
    end
    os.remove(out)
    assert(doh_url, "doh_server.py did not start")
  end)
  teardown(function() if doh then doh:close() end end)

  it("resolves names over DNS-over-HTTPS", function()
    local tag = tag_for("doh")
    local url = ("http://doh.invented.test:%s/ok?%s"):format(FAULT_PORT, tag)
    local res = assert(http.get(url, { doh_url = doh_url, verify = tls.ca }))
    assert.equal("ok", res.body)
    assert.equal("doh.invented.test:" .. FAULT_PORT, header(received(tag)[1], "Host"))
  end)

  -- (another name: libcurl keeps what DoH answered in the session's DNS
  -- cache for its lifetime, 60 s, as it keeps any resolved name)
  it("control: without it an invented name does not resolve", function()
    local res, err = http.get(("http://nodoh.invented.test:%s/ok"):format(FAULT_PORT), { timeout = 5 })
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
  end)

  it("refuses what is no https URL", function()
    field_error(function() http.get("http://127.0.0.1:1/", { doh_url = "dns.example" }) end, "doh_url")
    field_error(function() http.get("http://127.0.0.1:1/", { doh_url = "http://127.0.0.1/dns-query" }) end,
      "doh_url")
    field_error(function() http.get("http://127.0.0.1:1/", { doh_url = 5 }) end, "doh_url")
  end)
end)

describe("pinned_pubkey", function()
  local pin = "sha256//" .. sh(("openssl x509 -in %s -pubkey -noout | openssl pkey -pubin -outform der"
    .. " | openssl dgst -sha256 -binary | base64"):format(q(CERT))):gsub("%s", "")

  it("connects when the server's key matches the pin", function()
    assert.matches("^sha256//[%w+/]+=*$", pin)
    local tag = tag_for("pin-good")
    local res = assert(http.get(tls.url .. "/?" .. tag, { verify = tls.ca, pinned_pubkey = pin }))
    assert.equal(200, res.status)
    -- one of several pins is enough
    assert(http.get(tls.url .. "/?" .. tag .. "-2",
      { verify = tls.ca, pinned_pubkey = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;" .. pin }))
    assert.equal(2, #nginx(tag, tag .. "-2"))
  end)

  it("fails with SSLError when it does not, sending nothing", function()
    local tag = tag_for("pin-bad")
    local res, err = http.get(tls.url .. "/?" .. tag,
      { verify = tls.ca, pinned_pubkey = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" })
    assert.is_nil(res)
    assert.equal("SSLError", err.kind)
    assert.equal(0, #nginx_none(tag))
  end)

  it("is a session default", function()
    local s <close> = http.session { verify = tls.ca,
      pinned_pubkey = "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" }
    local _, err = s:get(tls.url .. "/?" .. tag_for("pin-session"))
    assert.equal("SSLError", err.kind)
    assert(s:get(tls.url .. "/?" .. tag_for("pin-session-ok"), { pinned_pubkey = pin }))
  end)
end)

describe("limit_rate", function()
  -- libcurl averages the rate over a few seconds: a transfer shorter than
  -- that is hardly slowed, so the body is large (8 MB at 4 MB/s: 2 s, of
  -- which libcurl lets the first burst through)
  it("bounds a download's speed", function()
    local tag = tag_for("rate")
    local url = helper.fault .. "/pattern?size=8000000&" .. tag
    local t0 = system.monotime()
    local res = assert(http.get(url, { limit_rate = 4000000 }))
    local spent = system.monotime() - t0
    assert.equal(8000000, #res.body)
    assert.is_true(spent >= 1.0, ("8 MB at 4 MB/s took %.2f s"):format(spent))
  end)

  it("refuses a rate that is not a positive number", function()
    field_error(function() http.get("http://127.0.0.1:1/", { limit_rate = 0 }) end, "limit_rate")
    field_error(function() http.get("http://127.0.0.1:1/", { limit_rate = "fast" }) end, "limit_rate")
  end)
end)

describe("keepalive_expiry", function()
  local function conns(tag)
    local out = {}
    for _, r in ipairs(received(tag)) do out[#out + 1] = r.conn end
    return out
  end

  it("makes a connection idle for longer a new one", function()
    local tag = tag_for("keepalive")
    local s <close> = http.session { keepalive_expiry = 1 }
    assert(s:get(helper.fault .. "/ok?" .. tag .. "-a"))
    assert(s:get(helper.fault .. "/ok?" .. tag .. "-b")) -- at once: reused
    system.sleep(1.3)
    assert(s:get(helper.fault .. "/ok?" .. tag .. "-c"))
    local c = conns(tag)
    assert.equal(3, #c)
    assert.equal(c[1], c[2])
    assert.not_equal(c[2], c[3])
  end)

  it("control: without it the idle connection is reused", function()
    local tag = tag_for("keepalive-ctl")
    local s <close> = http.session {}
    assert(s:get(helper.fault .. "/ok?" .. tag .. "-a"))
    system.sleep(1.3)
    assert(s:get(helper.fault .. "/ok?" .. tag .. "-b"))
    local c = conns(tag)
    assert.equal(c[1], c[2])
  end)

  it("refuses a value that is not a positive number", function()
    field_error(function() http.get("http://127.0.0.1:1/", { keepalive_expiry = -1 }) end,
      "keepalive_expiry")
  end)
end)

describe("no_proxy", function()
  local function proxy_saw(tag)
    return helper.proxy_log():find(tag, 1, true) ~= nil
  end

  for _, value in ipairs { "127.0.0.0/8", "10.0.0.0/8,127.0.0.1/32", "localhost, 127.0.0.0/16", "*" } do
    it(("%q bypasses the proxy for 127.0.0.1"):format(value), function()
      local tag = tag_for("noproxy")
      local res = assert(http.get(helper.fault .. "/ok?" .. tag, { proxy = helper.proxy, no_proxy = value }))
      assert.equal("ok", res.body)
      assert.is_nil(header(received(tag)[1], "Via"))
      assert.is_false(proxy_saw(tag))
    end)
  end

  it("an entry list that does not match leaves the request to the proxy", function()
    local tag = tag_for("noproxy-miss")
    assert(http.get(helper.fault .. "/ok?" .. tag, { proxy = helper.proxy, no_proxy = { "10.0.0.0/8", ".internal" } }))
    assert.is_not_nil(header(received(tag)[1], "Via"))
    helper.proxy_log(nil, tag)
    assert.is_true(proxy_saw(tag))
  end)

  it("entries are names, not ports: host:port matches nothing (as in curl)", function()
    local tag = tag_for("noproxy-port")
    assert(http.get(helper.fault .. "/ok?" .. tag, { proxy = helper.proxy, no_proxy = "127.0.0.1:" .. FAULT_PORT }))
    assert.is_not_nil(header(received(tag)[1], "Via"))
  end)

  it("is a session default", function()
    local tag = tag_for("noproxy-session")
    local s <close> = http.session { proxy = helper.proxy, no_proxy = "127.0.0.0/8" }
    assert(s:get(helper.fault .. "/ok?" .. tag))
    assert.is_nil(header(received(tag)[1], "Via"))
    assert.is_false(proxy_saw(tag))
  end)

  it("reads the environment's no_proxy as curl does (CIDR)", function()
    local tag = tag_for("noproxy-env")
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write('local http = require "http"\nlocal r, e = http.get(arg[1])\n',
      'io.write(r and r.body or e.kind)\n')
    f:close()
    local cmd = table.concat({ "env -u no_proxy -u NO_PROXY -u https_proxy -u all_proxy",
      q("http_proxy=" .. helper.proxy), q("no_proxy=10.0.0.0/8,127.0.0.0/8"),
      q("LUA_CPATH=" .. package.cpath), q("LUA_PATH=" .. package.path),
      q(os.getenv("LURL_BIN") or "lua5.4"), q(script), q(helper.fault .. "/ok?" .. tag) }, " ")
    local out = sh(cmd)
    os.remove(script)
    assert.equal("ok", out)
    assert.is_nil(header(received(tag)[1], "Via"))
    assert.is_false(proxy_saw(tag))
  end)

  it("refuses a value that is no string or list", function()
    field_error(function() http.get("http://127.0.0.1:1/", { proxy = helper.proxy, no_proxy = 5 }) end,
      "no_proxy")
    field_error(function() http.get("http://127.0.0.1:1/", { no_proxy = { "a", 5 } }) end, "no_proxy")
  end)
end)

describe("tls", function()
  it("min_version 1.3 speaks TLS 1.3", function()
    local tag = tag_for("tls13")
    assert(http.get(tls.url .. "/?" .. tag, { verify = tls.ca, tls = { min_version = "1.3" } }))
    assert.equal("TLSv1.3", nginx(tag)[1].ssl)
  end)

  it("ciphers are handed to OpenSSL (a TLS 1.2 cipher with TLS 1.2 spoken)", function()
    local tag = tag_for("tls-ciphers")
    -- a cipher list OpenSSL does not know fails before anything is sent
    local res, err = http.get(tls.url .. "/?" .. tag, { verify = tls.ca, tls = { ciphers = "NO-SUCH-CIPHER" } })
    assert.is_nil(res)
    assert.equal("SSLError", err.kind)
    assert.equal(0, #nginx_none(tag))
  end)

  it("crl_file must exist", function()
    local res, err = http.get(tls.url .. "/?" .. tag_for("tls-crl"),
      { verify = tls.ca, tls = { crl_file = "/nonexistent/crl.pem" } })
    assert.is_nil(res)
    assert.equal("SSLError", err.kind)
  end)

  it("key_password opens an encrypted client key; a wrong one is an SSLError that hides it", function()
    local key = os.tmpname()
    sh(("openssl pkey -in %s -aes256 -passout pass:0pen-5esame -out %s"):format(q(tls.client_key), q(key)))
    assert.matches("ENCRYPTED", io.open(key):read("a"))
    local tag = tag_for("keypass")
    local res = assert(http.get(tls.client_cert_url .. "/?" .. tag, { verify = tls.ca,
      cert = { tls.client_cert, key }, tls = { key_password = "0pen-5esame" } }))
    assert.equal(200, res.status)
    assert.is_not_nil(nginx(tag)[1].client_dn)
    -- a new session: libcurl would reuse the connection the good key opened
    local s <close> = http.session {}
    local res2, err = s:get(tls.client_cert_url .. "/?" .. tag .. "-bad", { verify = tls.ca,
      cert = { tls.client_cert, key }, tls = { key_password = "wr0ng-passw0rd" } })
    os.remove(key)
    assert.is_nil(res2)
    assert.equal("SSLError", err.kind)
    assert.not_matches("wr0ng", tostring(err))
  end)

  -- a CRL signed by the test CA, revoking the server's certificate or not
  -- (python3-cryptography: `openssl ca -gencrl` needs the CA's database)
  local function make_crl(revoke)
    local path = os.tmpname()
    local py = [[
import datetime, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
ca = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
key = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
b = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
     .last_update(now - datetime.timedelta(days=1)).next_update(now + datetime.timedelta(days=30)))
if sys.argv[4] == "1":
    cert = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
    b = b.add_revoked_certificate(x509.RevokedCertificateBuilder()
        .serial_number(cert.serial_number).revocation_date(now - datetime.timedelta(hours=1)).build())
open(sys.argv[5], "wb").write(b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
]]
    sh(("/usr/bin/python3 -c %s %s %s %s %s %s"):format(q(py), q(tls.ca), q((tls.ca:gsub("%.pem$", ".key"))),
      q(CERT), revoke and "1" or "0", q(path)))
    assert.matches("BEGIN X509 CRL", io.open(path):read("a"))
    return path
  end

  it("crl_file: a CRL revoking the server's certificate fails with SSLError; one that does not passes", function()
    local ok_crl, revoked = make_crl(false), make_crl(true)
    local s1 <close> = http.session { verify = tls.ca }
    local res = assert(s1:get(tls.url .. "/?" .. tag_for("crl-ok"), { tls = { crl_file = ok_crl } }))
    assert.equal(200, res.status)
    local s2 <close> = http.session { verify = tls.ca }
    local tag = tag_for("crl-revoked")
    local res2, err = s2:get(tls.url .. "/?" .. tag, { tls = { crl_file = revoked } })
    os.remove(ok_crl)
    os.remove(revoked)
    assert.is_nil(res2)
    assert.equal("SSLError", err.kind)
    assert.equal(0, #nginx_none(tag))
  end)

  it("refuses bad values naming the field, never showing the key password", function()
    field_error(function() http.get("http://127.0.0.1:1/", { tls = { min_version = "1.5" } }) end,
      "tls.min_version")
    field_error(function() http.get("http://127.0.0.1:1/", { tls = "1.3" }) end, "tls")
    local msg = field_error(function() http.get("http://127.0.0.1:1/", { tls = { min_versoin = "1.3" } }) end,
      "tls")
    assert.matches("min_versoin", msg)
    msg = field_error(function()
      http.get("http://127.0.0.1:1/", { tls = { key_password = "hunter2\n" } })
    end, "tls.key_password")
    assert.not_matches("hunter2", msg)
  end)
end)

describe("network options as session defaults", function()
  it("apply to every request of the session", function()
    local tag = tag_for("session-net")
    local s <close> = http.session { verify = tls.ca, connect_to = { "localhost:1:127.0.0.1:" .. TLS_PORT },
      tls = { min_version = "1.3" }, ip_resolve = "4", limit_rate = 1e9, keepalive_expiry = 30,
      no_proxy = "*" }
    assert.equal(200, assert(s:get("https://localhost:1/?" .. tag)).status)
    assert.equal(200, assert(s:get("https://localhost:1/?" .. tag .. "-2")).status)
    local log = nginx(tag, tag .. "-2")
    assert.equal(2, #log)
    assert.equal("TLSv1.3", log[1].ssl)
    assert.equal(log[1].conn, log[2].conn)
  end)

  it("are type-checked naming the field: per request, and as a session default when the session is made", function()
    field_error(function() http.get("http://127.0.0.1:1/", { tls = { min_version = 3 } }) end,
      "tls.min_version")
    field_error(function() http.session { tls = { min_version = 3 } } end, "tls.min_version")
  end)
end)

describe("hooks per request", function()
  it("run after the session's, request and response", function()
    local tag = tag_for("hooks")
    local order = {}
    local s <close> = http.session { hooks = {
      request = function(r) order[#order + 1] = "s-req"; r.headers["X-Order"] = "session" end,
      response = function(res) order[#order + 1] = "s-res"; res.seen = "session" end } }
    local res = assert(s:get(helper.fault .. "/ok?" .. tag, { hooks = {
      request = function(r) order[#order + 1] = "c-req"; r.headers["X-Order"] = r.headers["X-Order"] .. "+call" end,
      response = function(r) order[#order + 1] = "c-res"; r.seen = r.seen .. "+call" end } }))
    assert.same({ "s-req", "c-req", "s-res", "c-res" }, order)
    assert.equal("session+call", res.seen)
    assert.equal("session+call", header(received(tag)[1], "X-Order"))
    -- the next request runs only the session's
    order = {}
    assert(s:get(helper.fault .. "/ok?" .. tag .. "-2"))
    assert.same({ "s-req", "s-res" }, order)
  end)

  it("work without a session's, on the module functions", function()
    local tag = tag_for("hooks-mod")
    local res = assert(http.get(helper.fault .. "/ok?" .. tag, { hooks = {
      request = function(r) r.headers["X-Hook"] = "1" end,
      response = function(r) return { replaced = r.status } end } }))
    assert.same({ replaced = 200 }, res)
    assert.equal("1", header(received(tag)[1], "X-Hook"))
  end)

  it("are checked for type", function()
    field_error(function() http.get("http://127.0.0.1:1/", { hooks = 1 }) end, "hooks")
    field_error(function() http.get("http://127.0.0.1:1/", { hooks = { request = "x" } }) end, "hooks.request")
  end)
end)

describe("redact", function()
  local function err_text(opts, s)
    local url = "http://127.0.0.1:" .. helper.dead_port .. "/?session_key=s3cretvalue&x=1"
    local _, err
    if s then _, err = s:get(url, opts) else _, err = http.get(url, opts) end
    return tostring(err) .. " " .. tostring(err.url)
  end

  it("hides a named parameter per request", function()
    local text = err_text({ redact = { "session_key" } })
    assert.not_matches("s3cretvalue", text)
    assert.matches("session_key", text)
    assert.matches("s3cretvalue", err_text({}))
  end)

  it("hides a named parameter per session, and a request adds to it", function()
    local s <close> = http.session { redact = { "session_key" } }
    assert.not_matches("s3cretvalue", err_text(nil, s))
    local url = "http://127.0.0.1:" .. helper.dead_port .. "/?session_key=s3cretvalue&other=0th3rsecret"
    local _, err = s:get(url, { redact = { "other" } })
    local text = tostring(err) .. " " .. err.url
    assert.not_matches("s3cretvalue", text)
    assert.not_matches("0th3rsecret", text)
  end)
end)

describe("res.certificate", function()
  local function openssl(cert, what)
    return (sh(("openssl x509 -in %s -noout %s"):format(q(cert), what)):gsub("\n$", ""))
  end
  local function epoch(date) return tonumber((sh("date -u -d " .. q(date) .. " +%s"):gsub("%s", ""))) end
  local function expect(cert)
    return {
      subject = openssl(cert, "-subject"):gsub("^subject=", ""),
      issuer = openssl(cert, "-issuer"):gsub("^issuer=", ""),
      not_before = epoch((openssl(cert, "-startdate"):gsub("^notBefore=", ""))),
      not_after = epoch((openssl(cert, "-enddate"):gsub("^notAfter=", ""))),
      sha256 = openssl(cert, "-fingerprint -sha256"):gsub("^.-=", ""):gsub(":", ""):lower(),
    }
  end
  local function fields(c)
    return { subject = c.subject, issuer = c.issuer, not_before = c.not_before,
      not_after = c.not_after, sha256 = c.sha256 }
  end

  it("matches openssl's view of the server's certificate, also on a reused connection", function()
    local want = expect(CERT)
    assert.matches("localhost", want.subject)
    local tag = tag_for("cert")
    local s <close> = http.session { verify = tls.ca }
    local r1 = assert(s:get(tls.url .. "/?" .. tag .. "-1"))
    local r2 = assert(s:get(tls.url .. "/?" .. tag .. "-2"))
    local log = nginx(tag, tag .. "-2")
    assert.equal(2, #log)
    assert.equal(log[1].conn, log[2].conn) -- one connection: the second had no handshake
    for _, r in ipairs { r1, r2 } do
      local c = r.certificate
      assert.same(want, fields(c))
      assert.same(want, fields(c[1]))
      assert.is_true(#c >= 1)
    end
  end)

  it("follows the connection: another server's certificate on the same session", function()
    local s <close> = http.session { verify = false }
    local a = assert(s:get(tls.url .. "/?" .. tag_for("cert-a")))
    local b = assert(s:get(tls.wrong_host_url .. "/?" .. tag_for("cert-b")))
    local c = assert(s:get(tls.url .. "/?" .. tag_for("cert-c")))
    assert.same(expect(CERT), fields(a.certificate))
    assert.same(expect(tls.ca:gsub("ca%.pem$", "wrong.pem")), fields(b.certificate))
    assert.same(expect(CERT), fields(c.certificate))
  end)

  it("is there over HTTP/2 and for a streamed response", function()
    local r = assert(http.get(tls.h2_url .. "/?" .. tag_for("cert-h2"), { verify = tls.ca, http_version = "2" }))
    assert.equal("2", r.http_version)
    assert.equal(expect(CERT).sha256, r.certificate.sha256)
    local st = assert(http.get(tls.url .. "/?" .. tag_for("cert-stream"), { verify = tls.ca, stream = true }))
    assert.equal(expect(CERT).sha256, st.certificate.sha256)
    st:close()
  end)

  it("is nil for http", function()
    assert.is_nil(assert(http.get(helper.fault .. "/ok")).certificate)
  end)
end)

describe("res.bytes", function()
  it("counts what went each way, as the server saw it", function()
    local tag = tag_for("bytes")
    local r1 = assert(http.get(tls.url .. "/?" .. tag .. "-get", { verify = tls.ca }))
    local r2 = assert(http.post(tls.url .. "/?" .. tag .. "-small", { verify = tls.ca, body = "hello" }))
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(string.rep("y", 3000))
    f:close()
    f = assert(io.open(path, "rb"))
    local r4 = assert(http.post(tls.url .. "/?" .. tag .. "-file", { verify = tls.ca, body = f }))
    f:close()
    os.remove(path)
    local r3 = assert(http.post(tls.url .. "/?" .. tag .. "-large", { verify = tls.ca,
      body = string.rep("x", 200000) }))
    local len = {}
    for _, rec in ipairs(nginx(tag, tag .. "-large")) do -- logged last
      len[rec.uri:match("%-(%a+)$")] = tonumber(rec.req_len)
    end
    -- nginx's request_length counts the head (it discards a static file's body)
    assert.equal(len.get, r1.bytes.sent)
    assert.equal(len.small + 5, r2.bytes.sent)
    assert.equal(len.large + 200000, r3.bytes.sent)
    assert.equal(len.file + 3000, r4.bytes.sent)
    for _, r in ipairs { r1, r2, r3, r4 } do
      assert.equal(#r._head, r.bytes.headers)
      assert.equal(#r._head + #r.body, r.bytes.received)
    end
  end)

  it("counts a streamed body once the stream has ended", function()
    for _, how in ipairs { "chunks", "save" } do
      local r = assert(http.get(helper.fault .. "/pattern?size=300000&" .. tag_for("bytes-stream"),
        { stream = true }))
      local early = r.bytes.received
      if how == "chunks" then
        for _ in r:chunks() do end
      else
        local path = os.tmpname()
        assert.equal(300000, r:save(path))
        os.remove(path)
      end
      assert.is_true(early < 300000 + r.bytes.headers)
      assert.equal(300000 + r.bytes.headers, r.bytes.received)
    end
  end)

  it("over a transport: what it was handed and gave back; no certificate", function()
    local s <close> = http.session { transport = function() return { status = 200, body = "hey" } end }
    local r = assert(s:post("https://api.example/x", { body = "abcd" }))
    assert.equal(#r._head + 3, r.bytes.received)
    assert.equal(#r._head, r.bytes.headers)
    assert.is_true(r.bytes.sent >= 4)
    assert.is_nil(r.certificate)
  end)

  it("counts a compressed body as it came", function()
    local r = assert(http.get(helper.httpbin .. "/gzip"))
    assert.is_true(r.bytes.received - r.bytes.headers < #r.body)
    assert.is_true(r.bytes.received - r.bytes.headers > 0)
  end)
end)
