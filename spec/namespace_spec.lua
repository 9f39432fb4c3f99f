-- Module names: lurl's internal Lua modules are `lurl.*`, so the names of
-- lua-http (`http.client`, `http.request`, `http.cookie`...) stay free and
-- both libraries can be loaded in one process.  The public names are
-- `http`, `http.assert` and `http.json` (plus `json` in the lurl binary).
local http = require "http"
local support = require "spec.support"

-- lua-http 0.4's modules (Debian's lua-http), none of which lurl may define.
local LUA_HTTP = { "http.client", "http.request", "http.server", "http.util", "http.headers",
  "http.cookie", "http.version", "http.tls", "http.proxies", "http.websocket", "http.socks",
  "http.h1_connection", "http.h1_stream", "http.h1_reason_phrases", "http.h2_connection",
  "http.h2_stream", "http.h2_error", "http.hpack", "http.hsts", "http.bit", "http.zlib",
  "http.stream_common", "http.connection_common", "http.compat.prosody",
  "http.compat.socket" }
local PUBLIC = { ["http.assert"] = true, ["http.json"] = true, ["http.core"] = true }

describe("module names", function()
  it("defines none of lua-http's names, in package.preload or package.loaded", function()
    for _, name in ipairs(LUA_HTTP) do
      assert.is_nil(package.preload[name], name)
      assert.is_nil(package.loaded[name], name)
    end
  end)

  it("keeps only the public names (and the C core) under http.", function()
    for name in pairs(package.preload) do
      if name:find("^http%.") then assert.is_true(PUBLIC[name] ~= nil, name) end
    end
    for name in pairs(package.loaded) do
      if name:find("^http%.") then assert.is_true(PUBLIC[name] ~= nil, name) end
    end
  end)

  it("has its internal modules under lurl.", function()
    for _, name in ipairs { "lurl.client", "lurl.response", "lurl.task", "lurl.stream",
      "lurl.retry", "lurl.cookies", "lurl.paginate", "lurl.trace", "lurl.har" } do
      assert.is_function(package.preload[name], name)
    end
    assert.equal(http, package.loaded["lurl.client"])
  end)

  it("lets another library's http.client load next to lurl in one process", function()
    -- a stand-in for lua-http, preloaded before lurl (as its files on
    -- package.path would be found): lurl must neither shadow nor use it
    local lurl = os.getenv("LURL_BIN") or "build/lurl"
    local script = [[
      package.preload["http.client"] = function() return { from = "lua-http" } end
      package.preload["http.request"] = function() return { from = "lua-http" } end
      local http = require "http"
      assert(type(http.get) == "function" and type(http.session) == "function")
      io.write(require("http.client").from, " ", require("http.request").from, " ",
        tostring(require("http.client") ~= http))
    ]]
    local p = assert(io.popen(support.q(lurl) .. " -e " .. support.q(script) .. " 2>&1"))
    local out = p:read("a")
    p:close()
    assert.equal("lua-http lua-http true", out)
  end)
end)
