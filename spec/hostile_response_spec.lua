-- What a hostile or broken server sends: compressed bodies decoded by lurl
-- with bounded memory (bombs of every coding, streamed and not), max_body
-- counted on decoded bytes, contradictory or impossible Content-Length,
-- header blocks over lurl's limits, and read timeouts while headers arrive.
-- Routes: spec/servers/fault_routes_framing.py.

local helper = require "spec.helper"
local http = require "http"
local cjson = require "cjson"
local system = require "system"

local MiB = 1024 * 1024
local function fault(path) return helper.fault .. path end
local function reset_log() assert(http.get(fault("/reset-log"))) end
local function received()
  return cjson.decode(assert(http.get(fault("/requests"))).body)
end
local function header_of(rec, name)
  for _, h in ipairs(rec.headers) do
    if h[1]:lower() == name:lower() then return h[2] end
  end
end

-- the body /encoded sends before compression
local function plain(n)
  local t = {}
  for i = 0, n - 1 do t[#t + 1] = ("lurl decodes this line %05d\n"):format(i) end
  return table.concat(t)
end

local function timed(f, ...)
  local t0 = system.monotime()
  local res, err = f(...)
  return res, err, system.monotime() - t0
end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a Lua script in a child (the lurl binary under ctest, else lua5.4),
-- ASan's quarantine kept small so that peak RSS shows what the code holds.
local function run_child(src, ...)
  local script = os.tmpname()
  local f = assert(io.open(script, "w"))
  f:write(src)
  f:close()
  local asan = os.getenv("ASAN_OPTIONS")
  local cmd = { "env", shq("LUA_CPATH=" .. package.cpath), shq("LUA_PATH=" .. package.path),
    shq("ASAN_OPTIONS=" .. (asan and asan ~= "" and asan .. ":" or "") .. "quarantine_size_mb=1"),
    shq(os.getenv("LURL_BIN") or "lua5.4"), shq(script) }
  for _, a in ipairs { ... } do cmd[#cmd + 1] = shq(a) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
  local out = p:read("a")
  local ok = p:close()
  os.remove(script)
  return out, ok
end

describe("content decoding", function()
  before_each(reset_log)

  it("asks for deflate, gzip, br and zstd, whatever libcurl was built with", function()
    assert(http.get(fault("/ok")))
    assert.equal("deflate, gzip, br, zstd", header_of(received()[1], "Accept-Encoding"))
  end)

  local cases = {
    { "gzip", "gzip" }, { "deflate", "deflate" }, { "deflate-raw", "deflate" },
    { "br", "br" }, { "zstd", "zstd" }, { "gzip,br", "gzip, br" },
    { "deflate-raw,zstd", "deflate, zstd" }, { "zstd,gzip,deflate", "zstd, gzip, deflate" },
    { "identity", "identity" },
  }
  for _, c in ipairs(cases) do
    local enc, label = c[1], c[2]
    it(("decodes a body sent as %q, whole and a few bytes per chunk"):format(label), function()
      for _, chunked in ipairs { "0", "1" } do
        local res = assert(http.get(fault("/encoded?n=300&chunked=" .. chunked .. "&enc=" .. enc)))
        assert.equal(200, res.status)
        assert.equal(label, res.headers["content-encoding"])
        assert.equal(plain(300), res.body)
      end
    end)
  end

  it("decodes a streamed body (chunks, lines) and one saved to a file", function()
    local res = assert(http.stream(fault("/encoded?n=5000&enc=gzip,br")))
    local parts = {}
    for c in res:chunks(1000) do parts[#parts + 1] = c end
    assert.equal(plain(5000), table.concat(parts))
    res = assert(http.stream(fault("/encoded?n=5000&enc=zstd")))
    local n = 0
    for line in res:lines() do
      assert.equal(("lurl decodes this line %05d"):format(n), line)
      n = n + 1
    end
    assert.equal(5000, n)
    local path = os.tmpname()
    res = assert(http.stream(fault("/encoded?n=5000&enc=deflate-raw")))
    assert.equal(#plain(5000), res:save(path))
    local f = assert(io.open(path, "rb"))
    assert.equal(plain(5000), f:read("a"))
    f:close()
    os.remove(path)
  end)

  for _, enc in ipairs { "gzip", "deflate", "br", "zstd" } do
    it(("a body that is not %s is a ContentDecodingError naming the coding"):format(enc), function()
      local res, err = http.get(fault("/bomb-raw?enc=" .. enc))
      assert.is_nil(res)
      assert.equal("ContentDecodingError", err.kind, tostring(err))
      assert.equal(61, err.curl_code)
      assert.is_false(err.retryable)
      assert.truthy(err.message:find("cannot decode the " .. enc .. " body", 1, true), err.message)
      res = assert(http.stream(fault("/bomb-raw?enc=" .. enc)))
      local ok, serr = pcall(function() return res.body end)
      assert.is_false(ok)
      assert.equal("ContentDecodingError", serr.kind)
    end)
  end

  it("a coding lurl does not know is a ContentDecodingError, but not for a HEAD", function()
    local res, err = http.get(fault("/bomb-raw?enc=compress"))
    assert.is_nil(res)
    assert.equal("ContentDecodingError", err.kind)
    assert.equal("unsupported content coding 'compress'", err.message)
    res = assert(http.head(fault("/bomb-raw?enc=compress")))
    assert.equal(200, res.status)
    assert.equal("", res.body)
  end)

  it("refuses a zstd window over 8 MiB (RFC 9659) and accepts one of 8 MiB", function()
    local res, err = http.get(fault("/zstd-window?log=27"))
    assert.is_nil(res)
    assert.equal("ContentDecodingError", err.kind)
    assert.truthy(err.message:find("larger than 8 MiB", 1, true), err.message)
    res = assert(http.get(fault("/zstd-window?log=23")))
    assert.equal(4 * MiB, #res.body)
  end)
end)

describe("a compression bomb", function()
  -- Streams a bomb through res:chunks in a child and prints the decoded
  -- size and the peak RSS growth (VmHWM) in KiB.
  local CHILD = [[
local http = require "http"
local url, small = arg[1], arg[2]
local function hwm()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end
assert(http.get(small))
local base = hwm()
local res = assert(http.stream(url))
local n, zero = 0, true
for c in res:chunks() do
  n = n + #c
  if zero and c:find("[^\0]") then zero = false end
end
io.write("DECODED ", n, " ", tostring(zero), " GROWTH ", hwm() - base, "\n")
]]
  for _, enc in ipairs { "gzip", "br", "zstd", "gzip,br" } do
    it(("streamed (%s, 160 MiB decoded) keeps the peak RSS growth under 40 MiB"):format(enc), function()
      local out, ok = run_child(CHILD, fault("/bomb?mib=160&enc=" .. enc), fault("/ok"))
      assert.is_true(ok, out)
      local n, zero, growth = out:match("DECODED (%d+) (%a+) GROWTH (%d+)")
      assert.equal(160 * MiB, tonumber(n), out)
      assert.equal("true", zero)
      assert.is_true(tonumber(growth) < 40 * 1024, ("peak RSS grew by %s KiB"):format(growth))
    end)
  end

  it("streamed, meets max_body (decoded bytes) at the read that passes it", function()
    for _, enc in ipairs { "gzip", "br", "zstd" } do
      local res = assert(http.stream(fault("/bomb?mib=64&enc=" .. enc), { max_body = 4 * MiB }))
      local n = 0
      local ok, err = pcall(function() for c in res:chunks() do n = n + #c end end)
      assert.is_false(ok)
      assert.equal("BodyTooLarge", err.kind, tostring(err))
      assert.equal("response body larger than max_body (4194304 bytes)", err.message)
      assert.is_true(n <= 4 * MiB)
    end
  end)

  it("saved with res:save, is written decoded, and meets max_body there too", function()
    local path = os.tmpname()
    for _, enc in ipairs { "gzip", "br", "zstd" } do
      local res = assert(http.stream(fault("/bomb?mib=32&enc=" .. enc)))
      assert.equal(32 * MiB, res:save(path))
      local f = assert(io.open(path, "rb"))
      assert.equal(32 * MiB, f:seek("end"))
      f:close()
      -- a read first (decoding stops with input kept back), then save: the
      -- kept input goes to the file and max_body ends it, no hang
      res = assert(http.stream(fault("/bomb?mib=32&enc=" .. enc), { max_body = 4 * MiB }))
      assert.equal(10, #res:read(10))
      local ok, err = pcall(res.save, res, path)
      assert.is_false(ok)
      assert.equal("BodyTooLarge", err.kind, tostring(err))
    end
    os.remove(path)
  end)

  it("not streamed, meets max_body while decoding", function()
    for _, enc in ipairs { "gzip", "br", "zstd" } do
      local res, err = http.get(fault("/bomb?mib=64&enc=" .. enc), { max_body = MiB })
      assert.is_nil(res)
      assert.equal("BodyTooLarge", err.kind)
      assert.equal("response body larger than max_body (1048576 bytes)", err.message)
    end
  end)

  it("not streamed, is refused past the default 512 MiB, saying how to lift it", function()
    local res, err = http.get(fault("/bomb?mib=600&enc=zstd"))
    assert.is_nil(res)
    assert.equal("BodyTooLarge", err.kind)
    assert.equal("response body larger than 512 MiB, the default max_body of a body that is not "
      .. "streamed: stream it (stream = true, res:save) or set max_body (false: no limit)", err.message)
    collectgarbage()
  end)

  it("max_body = false lifts the default cap; it is an integer or false", function()
    local res = assert(http.get(fault("/bomb?mib=8&enc=br"), { max_body = false }))
    assert.equal(8 * MiB, #res.body)
    assert.has_error(function() http.get(fault("/ok"), { max_body = true }) end,
      "bad argument #2 to 'get' (field 'max_body': integer or false expected, got boolean)")
  end)
end)

describe("framing", function()
  before_each(reset_log)

  it("a Content-Length too large to be a length is a ConnectionError, never a body", function()
    local res, err = http.get(fault("/badlength?cl=100000000000000000000000&body=abc"))
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind, tostring(err))
    assert.equal("invalid Content-Length '100000000000000000000000' in the response: too large to be a length",
      err.message)
  end)

  it("a Content-Length that is not digits is a ConnectionError saying so", function()
    for _, v in ipairs { "12abc", "-1", "0x10", "5;6" } do
      local res, err = http.get(fault("/badlength?body=abc&cl=" .. v))
      assert.is_nil(res, v)
      assert.equal("ConnectionError", err.kind, v .. ": " .. tostring(err))
      assert.truthy(err.message:find("invalid Content-Length", 1, true), err.message)
      assert.truthy(err.message:find("not a length", 1, true), err.message)
    end
  end)

  it("two different Content-Lengths are InvalidHeader, on two lines or in one", function()
    for _, q in ipairs { "a=5&b=6", "a=6&b=5", "one=5,%206" } do
      local res, err = http.get(fault("/twolengths?" .. q))
      assert.is_nil(res, q)
      assert.equal("InvalidHeader", err.kind, q .. ": " .. tostring(err))
      assert.truthy(err.message:find("conflicting Content-Length values in the response", 1, true))
      assert.is_false(err.retryable)
    end
  end)

  it("identical repeated Content-Lengths are fine", function()
    for _, q in ipairs { "a=6&b=6", "one=6,%206", "one=6,6,6" } do
      local res = assert(http.get(fault("/twolengths?" .. q)))
      assert.equal("abcdef", res.body)
    end
  end)
end)

describe("header limits", function()
  before_each(reset_log)

  it("a 10 MB header line is a ConnectionError naming libcurl's line limit", function()
    local res, err = http.get(fault("/longheader?kb=10240"))
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal("response header line too long: more than 100 KiB (libcurl's limit for one header line)",
      err.message)
  end)

  it("more than 1000 header lines is a ConnectionError naming the limit", function()
    local res, err = http.get(fault("/manyheaders?n=3000&len=8"))
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal("too many response header lines: more than 1000 (lurl's limit for one response)", err.message)
    res = assert(http.get(fault("/manyheaders?n=990&len=8")))
    assert.equal("ok", res.body)
    assert.equal("v", res.headers["x989"])
    assert.equal(990 + 2, #res.header_list) -- and Content-Length, Connection
  end)

  it("a header block over 256 KiB is a ConnectionError naming the limit", function()
    local res, err = http.get(fault("/manyheaders?n=900&len=300"))
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    assert.equal("response headers too large: more than 256 KiB (lurl's limit for the header lines of "
      .. "one response)", err.message)
    res = assert(http.get(fault("/manyheaders?n=800&len=300")))
    assert.equal("ok", res.body)
  end)
end)

describe("a read timeout while headers arrive", function()
  before_each(reset_log)

  it("fires when the server falls silent after a header line", function()
    local res, err, took = timed(http.get, fault("/stallheaders?secs=5"), { timeout = { read = 1 } })
    assert.is_nil(res)
    assert.equal("ReadTimeout", err.kind)
    assert.is_true(took >= 0.9 and took < 2.5, took)
  end)

  it("fires at the first gap longer than read, not at the end of the trickle", function()
    local res, err, took = timed(http.get, fault("/trickleheaders?lines=6&every=1.5"),
      { timeout = { read = 1 } })
    assert.is_nil(res)
    assert.equal("ReadTimeout", err.kind)
    assert.is_true(took >= 0.9 and took < 2.5, took)
  end)

  it("lets header lines with shorter gaps through; total bounds the whole trickle", function()
    local res, _, took = timed(http.get, fault("/trickleheaders?lines=5&every=0.4"),
      { timeout = { read = 1 } })
    assert.equal(200, res.status)
    assert.equal("4", res.headers["x-trickle-4"])
    assert.is_true(took >= 1.9, took)
    local err
    res, err, took = timed(http.get, fault("/trickleheaders?lines=40&every=0.4"),
      { timeout = { read = 1, total = 2 } })
    assert.is_nil(res)
    assert.equal("Timeout", err.kind)
    assert.is_true(took >= 1.9 and took < 3.5, took)
  end)
end)
