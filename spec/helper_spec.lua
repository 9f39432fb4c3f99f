-- Checks the test infrastructure itself (spec/helper.lua): every server
-- answers.  Uses the curl command line on purpose, not lurl.
local helper = require "spec.helper"
local support = require "spec.support"

local q = support.q

-- curl ARGS; returns exit code, body, "<http_code> <http_version>"
local function curl(args)
  local body_file = os.tmpname()
  local p = assert(io.popen("curl -s -o " .. q(body_file) .. " -w '%{http_code} %{http_version}' "
    .. args .. " 2>/dev/null"))
  local meta = p:read("a")
  local _, _, rc = p:close()
  local f = io.open(body_file, "rb")
  local body = f and f:read("a") or ""
  if f then f:close() end
  os.remove(body_file)
  return rc, body, meta
end

local CA = "--cacert " .. q(helper.tls.ca) .. " "

describe("spec.helper", function()
  it("returns the same table on every require", function()
    assert.are.equal(helper, require "spec.helper")
    package.loaded["spec.helper"] = nil
    assert.are.equal(helper, require "spec.helper")
  end)

  it("keeps its state outside the repository", function()
    assert.matches("^/", helper.tmpdir)
    assert.is_nil(helper.tmpdir:find(io.popen("pwd"):read("l"), 1, true))
  end)

  it("runs httpbin", function()
    local rc, body, meta = curl(q(helper.httpbin .. "/get?x=1"))
    assert.are.equal(0, rc)
    assert.are.equal("200 1.1", meta)
    assert.matches('"x": ?"1"', body)
  end)

  describe("nginx TLS", function()
    it("serves / and /json with a cert the CA verifies", function()
      assert.are.same({ 0, "ok", "200 1.1" }, { curl(CA .. helper.tls.url .. "/") })
      local rc, body = curl(CA .. helper.tls.url .. "/json")
      assert.are.equal(0, rc)
      assert.matches('"ok":true', body, 1, true)
    end)

    it("works with the hashed CA directory", function()
      assert.are.same({ 0, "ok", "200 1.1" }, { curl("--capath " .. q(helper.tls.ca_dir) .. " " .. helper.tls.url .. "/") })
    end)

    it("is not trusted without the CA", function()
      assert.are.equal(60, (curl(helper.tls.url .. "/")))
    end)

    it("has a wrong-host server and an expired one", function()
      assert.are.equal(60, (curl(CA .. helper.tls.wrong_host_url .. "/")))
      assert.are.equal(60, (curl(CA .. helper.tls.expired_url .. "/")))
      assert.are.equal(0, (curl("-k " .. helper.tls.expired_url .. "/")))
    end)

    it("speaks HTTP/2 on h2_url", function()
      assert.are.same({ 0, "ok", "200 2" }, { curl(CA .. "--http2 " .. helper.tls.h2_url .. "/") })
    end)

    it("requires the client certificate on client_cert_url", function()
      assert.are.equal("400 1.1", select(3, curl(CA .. helper.tls.client_cert_url .. "/")))
      assert.are.same({ 0, "ok", "200 1.1" }, { curl(CA .. "--cert " .. q(helper.tls.client_cert) .. " --key "
        .. q(helper.tls.client_key) .. " " .. helper.tls.client_cert_url .. "/") })
    end)
  end)

  it("serves h2c with prior knowledge", function()
    assert.are.same({ 0, "ok", "200 2" }, { curl("--http2-prior-knowledge " .. helper.h2c_url .. "/") })
  end)

  it("serves a Unix socket", function()
    assert.are.same({ 0, "unix ok", "200 1.1" }, { curl("--unix-socket " .. q(helper.unix_socket) .. " http://localhost/") })
  end)

  it("logs nginx requests", function()
    curl(CA .. "-u user:pw -A spec-agent " .. helper.tls.url .. "/json?probe=1")
    local found
    for _, line in ipairs(helper.nginx_log("uri=/json?probe=1")) do
      if line:find("uri=/json?probe=1", 1, true) then found = line end
    end
    assert.is_truthy(found)
    assert.matches("auth=yes", found, 1, true)
    assert.matches("ua=spec-agent", found, 1, true)
    local last
    for _, r in ipairs(helper.nginx_requests()) do
      if r.uri == "/json?probe=1" then last = r end
    end
    assert.are.equal("GET", last.method)
    assert.are.equal("HTTP/1.1", last.proto)
    assert.are.equal("tls", last.srv)
  end)

  describe("proxies", function()
    it("forwards plain HTTP and CONNECT through helper.proxy", function()
      assert.are.same({ 0, "ok", "200 1.1" }, { curl("-x " .. helper.proxy .. " " .. helper.fault .. "/ok") })
      assert.are.same({ 0, "ok", "200 1.1" }, { curl(CA .. "-x " .. helper.proxy .. " " .. helper.tls.url .. "/") })
      local log = helper.proxy_log()
      assert.matches("GET " .. helper.fault .. "/ok", log, 1, true)
      assert.matches("CONNECT localhost:" .. helper.tls.url:match("%d+$"), log, 1, true)
    end)

    it("refuses CONNECT on helper.proxy_deny", function()
      assert.are.equal(56, (curl(CA .. "-x " .. helper.proxy_deny .. " " .. helper.tls.url .. "/")))
    end)
  end)

  it("has a dead port", function()
    assert.are.equal(7, (curl("http://127.0.0.1:" .. helper.dead_port .. "/")))
  end)

  describe("fault server", function()
    local F = helper.fault
    it("answers /ok with keep-alive", function()
      curl(F .. "/reset-log")
      local p = io.popen("curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' " .. F .. "/ok " .. F .. "/ok")
      assert.are.equal("1 0 ", p:read("a"))
      p:close()
      local _, log = curl(F .. "/requests")
      local conns = {}
      for c in log:gmatch('"conn": (%d+)') do conns[#conns + 1] = c end
      assert.are.equal(2, #conns)
      assert.are.equal(conns[1], conns[2])
    end)

    it("misbehaves on purpose", function()
      assert.are.equal(18, (curl(F .. "/truncated")))
      assert.are.equal(56, (curl(F .. "/badchunk")))
      assert.are.equal(28, (curl("-m 0.5 " .. q(F .. "/stall?after=3&secs=2"))))
      assert.are.equal(28, (curl("-m 0.5 " .. q(F .. "/slowheaders?secs=2"))))
      assert.are.equal(56, (curl(F .. "/reset")))
      assert.are.equal(56, (curl(F .. "/reset-mid-body")))
      assert.are_not.equal(0, (curl(F .. "/badstatus")))
      assert.are.same({ 0, "ok", "200 1.1" }, { curl(q(F .. "/hugeheaders?kb=50")) })
      assert.are.equal(61, (curl("--compressed " .. F .. "/gzip-bad")))
      assert.are.equal("caf\xe9", select(2, curl(q(F .. "/charset?cs=latin-1"))))
      assert.are.equal("012", select(2, curl(q(F .. "/slowbody?bytes=3&every=0.1"))))
      assert.are.equal("404 1.1", select(3, curl(F .. "/nope")))
    end)

    it("records request bodies", function()
      curl(F .. "/reset-log")
      curl("--data-binary hello-body " .. F .. "/ok")
      local _, log = curl(F .. "/requests")
      assert.matches('"body": "hello-body"', log, 1, true)
      assert.matches('"method": "POST"', log, 1, true)
    end)
  end)
end)
