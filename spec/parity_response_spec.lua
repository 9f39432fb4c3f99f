-- requests parity on the response side (issue 17, items 14-16): JSON in
-- UTF-8 with a BOM and in UTF-16/UTF-32, res.text's U+FFFD for ill-formed
-- UTF-8 under charset=utf-8, and res.links keeping every parameter.
--
-- The fault server's /presp/bytes (spec/servers/fault_routes_presp.py)
-- answers with exactly the bytes asked for, so each body is known.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local FAULT = helper.fault
local must = support.must

local function hex(s)
  return (s:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

-- the response of /presp/bytes for body bytes s under Content-Type ctype
local function bytes(s, ctype)
  local res = must(http.get(FAULT .. "/presp/bytes",
    { params = { hex = hex(s), ctype = ctype } }))
  assert.are.equal(200, res.status)
  assert.are.equal(s, res.body) -- what the server sent, byte for byte
  return res
end

-- ASCII JSON text in UTF-16/UTF-32, either byte order
local function widen(s, width, order)
  return (s:gsub(".", function(c)
    local pad = ("\0"):rep(width - 1)
    return order == "le" and c .. pad or pad .. c
  end))
end

local DOC = '{"name": "lurl", "n": 42, "list": [1, 2]}'
local WANT = { name = "lurl", n = 42, list = { 1, 2 } }

describe("res:json() detects the UTF as requests does", function()
  it("plain UTF-8 decodes as before", function()
    assert.are.same(WANT, bytes(DOC):json())
  end)

  it("ignores a UTF-8 BOM", function()
    local res = bytes("\239\187\191" .. DOC)
    assert.are.same(WANT, res:json())
  end)

  it("ignores a UTF-8 BOM before non-ASCII text", function()
    local res = bytes('\239\187\191{"w": "caf\195\169"}')
    assert.are.equal("caf\195\169", res:json().w)
  end)

  for _, width in ipairs { 2, 4 } do
    for _, order in ipairs { "le", "be" } do
      local name = ("UTF-%d%s"):format(width * 8, order:upper())
      it(name .. " without a BOM (the NUL pattern)", function()
        local res = bytes(widen(DOC, width, order))
        assert.are.same(WANT, res:json())
      end)
      it(name .. " with a BOM", function()
        local bom
        if width == 2 then
          bom = order == "le" and "\255\254" or "\254\255"
        else
          bom = order == "le" and "\255\254\0\0" or "\0\0\254\255"
        end
        local res = bytes(bom .. widen(DOC, width, order))
        assert.are.same(WANT, res:json())
      end)
    end
  end

  it("converts non-ASCII UTF-16 text (a surrogate pair) to UTF-8", function()
    -- {"e":"é😀"} in UTF-16LE: é is E9 00, U+1F600 is 3D D8 00 DE
    local body = widen('{"e":"', 2, "le") .. "\233\0" .. "\61\216\0\222" .. widen('"}', 2, "le")
    assert.are.equal("\195\169\240\159\152\128", bytes(body):json().e)
  end)

  it("a body that is not JSON in UTF-16 still raises JSONDecodeError", function()
    local res = bytes(widen("nope", 2, "le"))
    local ok, e = pcall(res.json, res)
    assert.is_false(ok)
    assert.are.equal("JSONDecodeError", e.kind)
  end)
end)

describe("res.text under charset=utf-8", function()
  local CT = "text/plain; charset=utf-8"

  it("keeps well-formed UTF-8 as it is", function()
    local s = "caf\195\169 \240\159\152\128 ok"
    assert.are.equal(s, bytes(s, CT).text)
  end)

  it("turns each ill-formed piece into one U+FFFD, as errors='replace'", function()
    -- a lone continuation byte, a truncated 3-byte sequence, an overlong
    -- C0 80, a surrogate ED A0 80 and a lone FF; Python's
    -- b.decode("utf-8", "replace") gives the same text
    local s = "a\128b\226\130c\192\128d\237\160\128e\255"
    local R = "\239\191\189"
    local want = "a" .. R .. "b" .. R .. "c" .. R .. R .. "d" .. R .. R .. R .. "e" .. R
    assert.are.equal(want, bytes(s, CT).text)
  end)

  it("a truncated sequence at the very end becomes U+FFFD", function()
    local R = "\239\191\189"
    assert.are.equal("ok" .. R, bytes("ok\240\159\152", CT).text)
  end)

  it("without a charset the bytes are returned as they are", function()
    local s = "a\128b"
    assert.are.equal(s, bytes(s, "text/plain").text)
  end)
end)

-- /response-headers sets the Link field(s) given, in order
local function with_links(...)
  local params = {}
  for _, v in ipairs { ... } do params[#params + 1] = { "Link", v } end
  local res = must(http.get(helper.httpbin .. "/response-headers", { params = params }))
  assert.are.equal(200, res.status)
  return res
end

describe("res.links keeps every parameter, as requests does", function()
  it("keeps type, title and any other parameter", function()
    local res = with_links('<http://api.test/p/2>; rel="next"; type="text/html"; title="Page 2"; hreflang=de')
    local l = res.links.next
    assert.are.same({ url = "http://api.test/p/2", rel = "next", type = "text/html",
      title = "Page 2", hreflang = "de" }, l)
  end)

  it("keeps a link without rel, keyed by its URL", function()
    local res = with_links('<http://api.test/style.css>; type="text/css"',
      '<http://api.test/p/3>; rel=next')
    assert.are.same({ url = "http://api.test/style.css", type = "text/css" },
      res.links["http://api.test/style.css"])
    assert.are.equal("http://api.test/p/3", res.links.next.url)
  end)

  it("lower-cases parameter names, the first of a name wins, a bare one is ''", function()
    local res = with_links('<http://api.test/a>; Rel="Next"; Title="first"; title="second"; crossorigin')
    local l = res.links.next
    assert.are.equal("first", l.title)
    assert.are.equal("next", l.rel)
    assert.are.equal("", l.crossorigin)
  end)

  it("a link with several rel types is one table filed under each", function()
    local res = with_links('<http://api.test/p/9>; rel="last NEXT"; title=end')
    assert.are.equal("http://api.test/p/9", res.links.last.url)
    assert.are.equal("end", res.links.next.title)
    assert.are.equal("last next", res.links.last.rel)
    assert.is_true(rawequal(res.links.last, res.links.next))
  end)

  it("many rel types and many parameters: one shared table (no rels x params work)", function()
    local rels, params = {}, {}
    for i = 1, 150 do
      rels[#rels + 1] = "r" .. i
      params[#params + 1] = ("; p%d=%d"):format(i, i)
    end
    local res = with_links(('<http://api.test/m>; rel="%s"%s'):format(table.concat(rels, " "),
      table.concat(params)))
    local first = res.links.r1
    assert.are.equal("150", first.p150)
    for i = 2, 150 do assert.is_true(rawequal(first, res.links["r" .. i])) end
  end)
end)
