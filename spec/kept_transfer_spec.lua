-- The kept transfer (runtime/transfer.c, a speed trick): a transfer read
-- whole and dropped is parked and the next request reuses its userdata
-- instead of making one.  What that must never do: show one request what
-- an earlier one set (its body, its session), hand a transfer still in use
-- (a stream, a request being started, a task's) to another request, or
-- lose a request that failed or raised.  Every test asserts what httpbin
-- received (its echo) as well as what the script got back.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local HTTPBIN = helper.httpbin
local must = support.must

local function echo(res) return res:json() end

describe("the kept transfer", function()
  it("keeps no request body from the request before", function()
    local s <close> = http.session()
    local post = must(s:post(HTTPBIN .. "/post", { data = "abc" }))
    assert.equal("abc", echo(post).data)
    assert.equal("abc", post.request.body)
    local get = must(s:get(HTTPBIN .. "/get?after=post"))
    assert.equal("post", echo(get).args.after)
    assert.is_nil(get.request.body)
    local put = must(s:put(HTTPBIN .. "/put", { data = "xyz" }))
    assert.equal("xyz", echo(put).data)
    assert.equal("xyz", put.request.body)
  end)

  it("serves requests of different sessions in turn, each on its own", function()
    local a <close> = http.session { headers = { ["X-Who"] = "a" } }
    local b <close> = http.session { headers = { ["X-Who"] = "b" } }
    for i = 1, 3 do
      local ra = must(a:get(HTTPBIN .. "/headers"))
      local rb = must(b:get(HTTPBIN .. "/headers?i=" .. i))
      assert.equal("a", echo(ra).headers["X-Who"])
      assert.equal("b", echo(rb).headers["X-Who"])
      assert.equal(HTTPBIN .. "/headers?i=" .. i, rb.url)
    end
    local plain = must(http.get(HTTPBIN .. "/headers")) -- no session of the script's
    assert.is_nil(echo(plain).headers["X-Who"])
  end)

  it("is not taken by a request started while another is being started", function()
    local s <close> = http.session()
    local inner
    -- data's __pairs runs while core.start builds the outer request
    local data = setmetatable({}, { __pairs = function()
      inner = must(s:get(HTTPBIN .. "/get?inner=1"))
      return next, { a = "1" }, nil
    end })
    local outer = must(s:post(HTTPBIN .. "/post", { data = data }))
    assert.equal("1", echo(inner).args.inner)
    assert.equal(HTTPBIN .. "/get?inner=1", inner.url)
    assert.equal("1", echo(outer).form.a)
    assert.equal("a=1", outer.request.body)
    assert.equal(HTTPBIN .. "/post", outer.url)
    local after = must(s:get(HTTPBIN .. "/get?after=1"))
    assert.equal("1", echo(after).args.after)
  end)

  it("is not taken while tasks parked in a request resume inside another one's start", function()
    -- the inner request runs where it cannot yield (data's __pairs, inside
    -- core.start): it drives the loop, and the tasks parked in core.fetch
    -- finish their requests there, while the outer start holds the guard
    local s <close> = http.session()
    local tasks = {}
    for i = 1, 8 do
      tasks[i] = http.spawn(function()
        return echo(must(s:get(HTTPBIN .. "/delay/0.2?i=" .. i))).args.i
      end)
    end
    local inner
    local data = setmetatable({}, { __pairs = function()
      inner = must(s:get(HTTPBIN .. "/delay/0.5?inner=1"))
      return next, { a = "1" }, nil
    end })
    local outer = http.spawn(function()
      local res = must(s:post(HTTPBIN .. "/post", { data = data }))
      return echo(res).form.a, res.request.body, res.url
    end)
    for i, got in ipairs(http.join(tasks)) do assert.equal(tostring(i), got) end
    assert.same({ "1", "a=1", HTTPBIN .. "/post" }, { outer:join() })
    assert.equal("1", echo(inner).args.inner)
  end)

  it("is a task's hop's, which core.fetch answers itself, parking the task in C", function()
    local core = require "http.core"
    local s <close> = http.session()
    local tasks = {}
    for i = 1, 4 do
      tasks[i] = http.spawn(function()
        local res, err = core.fetch("get", 2, "GET", HTTPBIN .. "/get?i=" .. i, nil, s.defaults, 0, 0,
          s._share)
        return type(res), res and echo(res).args.i, err
      end)
    end
    for i, t in ipairs(tasks) do assert.same({ "table", tostring(i) }, { t:join() }) end
  end)

  it("is never a streamed response's, which reads on after other requests", function()
    local s <close> = http.session()
    local res = must(s:get(HTTPBIN .. "/bytes/3000?seed=7", { stream = true }))
    for i = 1, 3 do
      assert.equal(tostring(i), echo(must(s:get(HTTPBIN .. "/get?i=" .. i))).args.i)
    end
    local parts = {}
    for c in res:chunks(1000) do parts[#parts + 1] = c end
    local whole = must(s:get(HTTPBIN .. "/bytes/3000?seed=7")).body
    assert.equal(3000, #table.concat(parts))
    assert.equal(whole, table.concat(parts))
  end)

  it("survives requests that fail or raise, and the next one works", function()
    local s <close> = http.session()
    local res, err = s:get("http://127.0.0.1:" .. helper.dead_port .. "/")
    assert.is_nil(res)
    assert.equal("ConnectionError", err.kind)
    local ok, msg = pcall(s.get, s, HTTPBIN .. "/get", { timeout = "soon" })
    assert.is_false(ok)
    assert.matches("timeout", tostring(msg))
    local post = must(s:post(HTTPBIN .. "/post", { data = "after-errors" }))
    assert.equal("after-errors", echo(post).data)
    assert.equal("after-errors", post.request.body)
  end)

  it("gives each task's response its own request, with tasks alive", function()
    for _, conf in ipairs { {}, { max_connections = 4 } } do
      local s <close> = http.session(conf)
      local tasks = {}
      for i = 1, 16 do
        tasks[i] = http.spawn(function()
          local body = "task-" .. i
          local res = must(s:post(HTTPBIN .. "/post?i=" .. i, { data = body }))
          return { res.request.body, echo(res).data, echo(res).args.i, res.url }
        end)
      end
      for i, r in ipairs(http.join(tasks)) do
        assert.same({ "task-" .. i, "task-" .. i, tostring(i), HTTPBIN .. "/post?i=" .. i }, r)
      end
    end
  end)
end)
