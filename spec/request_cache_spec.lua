-- What the request path keeps between requests must not change what is
-- sent: a session's joined base_url URLs (lurl.exchange keeps a bounded
-- number of them) and http.parallel's upper-cased method names.  Over a
-- function transport, which sees each request's method and URL as sent.
local http = require "http"

local function recorder()
  local calls = {}
  return function(req)
    calls[#calls + 1] = { method = req.method, url = req.url }
    return { status = 200, body = req.url }
  end, calls
end

describe("a session's base_url", function()
  it("joins every path right, repeated or new, past the number kept", function()
    local t, calls = recorder()
    local s <close> = http.session { base_url = "http://api.test/v1", transport = t }
    local want = {}
    -- 300 distinct paths (more than lurl.exchange keeps), each asked for
    -- twice, interleaved with a path asked for every time and an absolute URL
    for i = 1, 300 do
      for _ = 1, 2 do
        assert.equal(200, s:get("/items/" .. i).status)
        want[#want + 1] = "http://api.test/v1/items/" .. i
      end
      assert.equal(200, s:get("login").status)
      want[#want + 1] = "http://api.test/v1/login"
      assert.equal(200, s:get("http://other.test/x").status)
      want[#want + 1] = "http://other.test/x"
      assert.equal(200, s:get("?page=" .. i).status)
      want[#want + 1] = "http://api.test/v1?page=" .. i
    end
    assert.equal(#want, #calls)
    for i = 1, #want do assert.equal(want[i], calls[i].url) end
  end)

  it("is per session: two sessions asking the same path reach their own base", function()
    local t, calls = recorder()
    local a <close> = http.session { base_url = "http://a.test/", transport = t }
    local b <close> = http.session { base_url = "http://b.test", transport = t }
    for _ = 1, 3 do
      a:get("/x")
      b:get("/x")
    end
    assert.same({ "http://a.test/x", "http://b.test/x" }, { calls[1].url, calls[2].url })
    assert.same({ "http://a.test/x", "http://b.test/x" }, { calls[5].url, calls[6].url })
  end)
end)

describe("http.parallel items", function()
  it("send the method upper-cased whatever its case, known or not", function()
    local t, calls = recorder()
    local s <close> = http.session { transport = t }
    local items = {}
    local methods = { "get", "GET", "Get", "post", "delete", "propfind", "PATCH", "options", "head" }
    for i, m in ipairs(methods) do items[i] = { m, "http://api.test/" .. i } end
    local out = s:parallel(items, { concurrency = 1 })
    assert.equal(#methods, #out)
    local seen = {}
    for _, c in ipairs(calls) do seen[c.url:match("/(%d+)$") + 0] = c.method end
    assert.same({ "GET", "GET", "GET", "POST", "DELETE", "PROPFIND", "PATCH", "OPTIONS", "HEAD" }, seen)
  end)

  it("still fail one by one for a URL that is not a string", function()
    local t = recorder()
    local s <close> = http.session { transport = t }
    local out = s:parallel({ { "GET", 42 }, { "get", "http://api.test/ok" } })
    assert.truthy(tostring(out[1]):find("bad argument #1 to 'parallel' (string expected, got number)", 1, true))
    assert.equal(200, out[2].status)
  end)
end)
