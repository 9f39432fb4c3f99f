-- lurl.options: how a call's options resolve over the session's defaults,
-- with no server (plain session tables; see lua/lurl/options.lua).
require "http"
local options = require "lurl.options"

local function session(defaults, cfg)
  local s = { defaults = defaults or {}, _redact = false }
  options.session(s, cfg or {})
  return s
end

describe("lurl.options", function()
  it("resolves lurl's defaults for an empty session", function()
    local c = options.call(session(), nil, "get", 2)
    assert.is_true(c.allow)
    assert.equal(30, c.max)
    assert.is_nil(c.retry)
    assert.is_nil(c.total)
    assert.is_false(c.io)
    assert.is_nil(c.rctx)
  end)

  it("returns the session's resolution, the same table, when a call sets nothing the Lua side reads", function()
    local s = session { allow_redirects = false, timeout = { total = 5 } }
    assert.equal(s._call, options.call(s, nil, "get", 2))
    assert.equal(s._call, options.call(s, { headers = { A = "1" }, params = { q = 1 } }, "get", 2))
    assert.equal(s._call, options.call(s, { body = "a string" }, "post", 2))
    assert.is_false(s._call.allow)
    assert.equal(5, s._call.total)
  end)

  it("lets the request's option win over the session's default", function()
    local s = session { allow_redirects = false, max_redirects = 3, timeout = { total = 5 },
      retry = true, stream = true }
    local c = options.call(s, { allow_redirects = true, max_redirects = 7, timeout = 60,
      retry = false, stream = false }, "get", 2)
    assert.is_true(c.allow)
    assert.equal(7, c.max)
    assert.is_nil(c.total) -- a number timeout has no total
    assert.is_false(c.retry)
    assert.is_false(c.io)
  end)

  it("falls back to the session's default for what the call does not set", function()
    local s = session { max_redirects = 3, retry = { attempts = 5 } }
    local c = options.call(s, { allow_redirects = false }, "get", 2)
    assert.is_false(c.allow)
    assert.equal(3, c.max)
    assert.equal(5, options.policy(c, "get", 2).attempts)
  end)

  it("treats a number timeout as libcurl's business unless the session has a total", function()
    local plain = session()
    assert.equal(plain._call, options.call(plain, { timeout = 60 }, "get", 2))
    local with_total = session { timeout = { total = 5 } }
    local c = options.call(with_total, { timeout = 60 }, "get", 2)
    assert.is_nil(c.total)
  end)

  it("reads a total deadline only when it is a positive finite number", function()
    assert.equal(2, options.call(session(), { timeout = { total = 2 } }, "get", 2).total)
    assert.is_nil(options.call(session(), { timeout = { total = math.huge } }, "get", 2).total)
    assert.is_nil(options.call(session(), { timeout = { total = false } }, "get", 2).total)
    assert.is_nil(options.call(session(), { timeout = { connect = 1 } }, "get", 2).total)
  end)

  it("asks core.resolves (C) exactly the question LUA_KEYS answers", function()
    local core = require "http.core"
    local sample = { ["true"] = true, table = { total = 1 }, ["function"] = function() end,
      flow = { sign = function() end } }
    local wrong = { table = 60, ["function"] = "text", flow = "user:pass" }
    for _, name in ipairs(core.option_names) do
      local w = options.LUA_KEYS[name]
      if not w then -- libcurl's side alone: never a resolution of its own
        assert.is_false(core.resolves({ [name] = 1 }, {}), name)
        assert.is_false(core.resolves({ [name] = { sign = 1 } }, { [name] = 2 }), name)
      elseif w == true then
        assert.is_true(core.resolves({ [name] = false }, {}), name)
      else -- a typed key: only its type, or any value over a session default
        assert.is_true(core.resolves({ [name] = sample[w] }, {}), name)
        assert.is_false(core.resolves({ [name] = wrong[w] }, {}), name)
        assert.is_true(core.resolves({ [name] = wrong[w] }, { [name] = wrong[w] }), name)
      end
    end
    for name in pairs(options.LUA_KEYS) do -- every Lua key is an option core.start knows
      local known = false
      for _, o in ipairs(core.option_names) do known = known or o == name end
      assert.is_true(known, name)
    end
    -- an auth function is a flow too; keys that are no option, and a
    -- table's metatable, are not looked at
    assert.is_true(core.resolves({ auth = function() end }, {}))
    assert.is_false(core.resolves({ nosuch = true, [1] = "x" }, {}))
    assert.is_false(core.resolves(setmetatable({}, { __index = { retry = true } }), {}))
    assert.is_true(core.resolves({ headers = {}, params = {}, retry = 3 }, {}))
    assert.is_false(core.resolves("not a table", {}))
  end)

  it("marks the calls that need Lua while the transfer runs", function()
    local s = session()
    assert.is_true(options.call(s, { stream = true }, "get", 2).io)
    assert.is_true(options.call(s, { body = function() end }, "post", 2).io)
    assert.is_true(options.call(s, { on_progress = function() end }, "get", 2).io)
    assert.is_true(options.call(s, { progress = true }, "get", 2).io)
    assert.is_true(session { stream = true }._call.io)
    -- a string body overrides a session's upload function
    local up = session { body = function() end }
    assert.is_true(up._call.io)
    assert.is_false(options.call(up, { body = "x" }, "post", 2).io)
  end)

  it("makes a retry policy once and keeps it", function()
    local s = session { retry = true }
    local p = options.policy(s._call, "get", 2)
    assert.equal(3, p.attempts)
    assert.equal(p, options.policy(s._call, "get", 2))
    assert.is_false(options.policy(session()._call, "get", 2))
  end)

  it("raises naming the call for a bad retry option", function()
    local c = options.call(session(), { retry = "often" }, "get", 2)
    assert.has_error(function() options.policy(c, "get", 2) end,
      "bad argument #2 to 'get' (field 'retry': table or boolean expected, got string)")
  end)

  it("works out the session-only work once: limits and base URL", function()
    local s = session({}, { max_connections = 4, max_host_connections = 2, rate_limit = 10,
      base_url = "http://h/v1" })
    assert.equal(4, s._conn_sem.free)
    assert.equal(2, s._host_limit)
    assert.equal(10, s._rate)
    assert.equal("http://h/v1", s._base_url)
    assert.is_false(session()._host_limit)
    assert.is_false(session()._rate)
    assert.has_error(function() session({}, { rate_limit = 0 }) end)
  end)

  it("marks what a call lets lurl.exchange skip: bare, lean (limits inline), defer", function()
    local function marks(cfg, opts)
      local s = session({}, cfg)
      s._transport, s._observers = false, false
      options.mark(s, s._call)
      local c = opts and options.resolved(s, opts, "get", 2) or s._call
      return { c.bare, c.lean, c.defer, c.wrap }
    end
    -- an empty session: bare, nothing inline, options left to core.fetch
    assert.same({ true, false, true, false }, marks {})
    -- rate limit or max_connections: the lean hop, and never deferred (a
    -- call started over would take its slots twice)
    assert.same({ true, true, false, false }, marks { max_connections = 4 })
    assert.same({ true, true, false, false }, marks { rate_limit = 10 })
    -- a per-host limit takes the general branch
    assert.same({ false, false, false, false }, marks { max_connections = 4, max_host_connections = 2 })
    -- a call's total deadline takes it too, and the outer layer
    assert.same({ false, false, false, true }, marks({ max_connections = 4 }, { timeout = { total = 5 } }))
  end)

  it("adds the call's redact names to the session's context", function()
    local s = session { redact = { "x-session" } }
    assert.is_table(s._call.rctx)
    local c = options.call(s, { redact = { "x-call" } }, "get", 2)
    assert.is_table(c.rctx)
    assert.is_not.equal(s._call.rctx, c.rctx)
  end)

  it("reads LURL_TRACE when the session does not say", function()
    assert.is_false(options.trace { trace = false })
    local f = function() end
    assert.equal(f, options.trace { trace = f })
  end)
end)
