-- lurl.redirect's policy, with no server: next(req, res) is a pure function
-- of two tables (requests' rules; see lua/lurl/redirect.lua).
require "http"
local redirect = require "lurl.redirect"

local DROP_BODY, STRIP_AUTH, NO_PARAMS, FRESH = redirect.DROP_BODY, redirect.STRIP_AUTH,
  redirect.NO_PARAMS, redirect.FRESH

local function req(t)
  local r = { method = "GET", url = "http://a.test/start", flags = 0, allow = true, max = 30,
    redirects = 0, defaults = {}, jar = true }
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end

local function res(status, location, t)
  local r = { status = status, url = "http://a.test/start", headers = { location = location },
    cookies = {} }
  for k, v in pairs(t or {}) do r[k] = v end
  return r
end

describe("lurl.redirect.next", function()
  it("follows the five redirect statuses and nothing else", function()
    for _, st in ipairs { 301, 302, 303, 307, 308 } do
      local n = redirect.next(req(), res(st, "/next"))
      assert.equal("http://a.test/next", n.url, st)
      assert.equal(1, n.redirects)
    end
    for _, st in ipairs { 200, 300, 304, 305, 404, 500 } do
      assert.is_nil(redirect.next(req(), res(st, "/next")), st)
    end
  end)

  it("gives nil without a Location, or with allow_redirects off", function()
    assert.is_nil(redirect.next(req(), res(302, nil)))
    assert.is_nil(redirect.next(req { allow = false }, res(302, "/next")))
  end)

  it("changes POST to GET and drops the body on 301, 302 and 303; keeps them on 307 and 308", function()
    for _, st in ipairs { 301, 302, 303 } do
      local n = redirect.next(req { method = "POST", flags = FRESH }, res(st, "/n"))
      assert.equal("GET", n.method)
      assert.equal(DROP_BODY, n.flags & DROP_BODY)
      assert.equal(0, n.flags & FRESH) -- a GET may be re-sent
    end
    for _, st in ipairs { 307, 308 } do
      local n = redirect.next(req { method = "POST" }, res(st, "/n"))
      assert.equal("POST", n.method)
      assert.equal(0, n.flags & DROP_BODY)
    end
    -- 303 turns every method but HEAD into GET; 301/302 only POST
    assert.equal("GET", redirect.next(req { method = "PUT" }, res(303, "/n")).method)
    assert.equal("HEAD", redirect.next(req { method = "HEAD" }, res(303, "/n")).method)
    assert.equal("PUT", redirect.next(req { method = "PUT" }, res(302, "/n")).method)
  end)

  it("does not follow a 307/308 whose body came from a function or a file", function()
    assert.is_nil(redirect.next(req { method = "POST", opts = { body = function() end } }, res(307, "/n")))
    assert.is_nil(redirect.next(req { method = "POST", defaults = { body = function() end } }, res(308, "/n")))
    local f = assert(io.tmpfile())
    assert.is_nil(redirect.next(req { method = "PUT", opts = { body = f } }, res(308, "/n")))
    f:close()
    -- a string body is sent again
    assert.is_table(redirect.next(req { method = "POST", opts = { body = "x" } }, res(307, "/n")))
    -- 303 drops the body, so the function does not matter
    assert.is_table(redirect.next(req { method = "POST", opts = { body = function() end } }, res(303, "/n")))
  end)

  it("strips credentials on a host, scheme or port change, except http -> https on default ports", function()
    local function strips(from, to)
      local n = redirect.next(req { url = from }, res(302, to, { url = from }))
      return n.flags & STRIP_AUTH ~= 0
    end
    assert.is_false(strips("http://a.test/x", "/y"))
    assert.is_true(strips("http://a.test/x", "http://b.test/y"))
    assert.is_true(strips("https://a.test/x", "http://a.test/y"))
    assert.is_true(strips("http://a.test:8080/x", "http://a.test:8081/y"))
    assert.is_false(strips("http://a.test/x", "https://a.test/y"))
    assert.is_true(strips("http://a.test:8080/x", "https://a.test/y"))
    -- once stripped, stripped for the rest of the chain
    local n = redirect.next(req { flags = STRIP_AUTH }, res(302, "/same-host"))
    assert.equal(STRIP_AUTH, n.flags & STRIP_AUTH)
  end)

  it("sends params only on the first hop", function()
    local n = redirect.next(req { opts = { params = { a = 1 } } }, res(302, "/n"))
    assert.equal(NO_PARAMS, n.flags & NO_PARAMS)
  end)

  it("fails with TooManyRedirects past max_redirects", function()
    local r = req { max = 2 }
    r = assert(redirect.next(r, res(302, "/1")))
    r = assert(redirect.next(r, res(302, "/2")))
    local n, err = redirect.next(r, res(302, "/3"))
    assert.is_nil(n)
    assert.equal("TooManyRedirects", err.kind)
    assert.matches("exceeded 2 redirects", err.message, 1, true)
    local _, err0 = redirect.next(req { max = 0 }, res(301, "/1"))
    assert.equal("TooManyRedirects", err0.kind)
  end)

  it("fails with InvalidURL on a Location it cannot resolve", function()
    local n, err = redirect.next(req(), res(302, "http://[::1"))
    assert.is_nil(n)
    assert.equal("InvalidURL", err.kind)
    assert.matches("bad redirect location", err.message, 1, true)
  end)

  it("never changes the request it is given", function()
    local r = req { method = "POST", opts = { cookies = { a = "1" } } }
    local before = {}
    for k, v in pairs(r) do before[k] = v end
    redirect.next(r, res(303, "http://b.test/n"))
    for k, v in pairs(before) do assert.equal(v, r[k], k) end
    for k in pairs(r) do assert.is_not_nil(before[k], k) end
  end)

  describe("cookies without a jar", function()
    it("carries cookies set along the chain back to the host that set them only", function()
      local r = req { jar = false, given = nil }
      local first = res(302, "http://b.test/1", { cookies = { sid = "A" } })
      local n = assert(redirect.next(r, first))
      -- to another host: not sent there
      assert.same({}, n.opts.cookies)
      local back = assert(redirect.next(n, res(302, "http://a.test/2", { url = "http://b.test/1" })))
      assert.same({ sid = "A" }, back.opts.cookies)
    end)

    it("gives the `cookies` option to the first host only", function()
      local given = { cookies = { k = "v" } }
      local r = req { jar = true, opts = given, given = given }
      local other = assert(redirect.next(r, res(302, "http://b.test/x")))
      assert.same({}, other.opts.cookies)
      local same = assert(redirect.next(r, res(302, "/x")))
      assert.equal(given, same.opts)
    end)

    it("with a jar, carries nothing itself (the jar does)", function()
      local r = req { jar = true }
      local n = assert(redirect.next(r, res(302, "http://b.test/1", { cookies = { sid = "A" } })))
      assert.is_nil(n.carried)
      assert.is_nil(n.opts)
    end)
  end)
end)
