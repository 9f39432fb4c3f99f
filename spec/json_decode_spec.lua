-- res:json() against its contract: lua-cjson's decode of the body, with
-- every integral number a Lua integer (SPEC.md, Responses).  res:json()
-- reads most bodies with its own direct decoder (runtime/jsonnum.c) and
-- leaves the rest, and every error, to cjson; these specs hold the two to
-- the same result: the same values, the same number types, the same pairs
-- order, the same errors at the same positions.
--
-- Bodies go out in a POST and come back as the body of
-- /json/echo (spec/servers/fault_routes_json.py).
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local FAULT = helper.fault
local must = support.must

-- what res:json() must give: cjson's value, integral floats as integers
local function contract(v)
  if math.type(v) == "float" then return math.tointeger(v) or v end
  if type(v) == "table" then
    for k, x in next, v do v[k] = contract(x) end
  end
  return v
end

-- nil when a and b are the same (values, number types, sign of zero,
-- pairs order at every level); else where they differ
local function differ(a, b, path)
  if type(a) ~= type(b) then return path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then return path .. ": " .. math.type(a) .. " vs " .. math.type(b) end
    if a ~= b and (a == a or b == b) then return ("%s: %s vs %s"):format(path, a, b) end
    if a == 0 and math.type(a) == "float" and 1 / a ~= 1 / b then return path .. ": sign of zero" end
    return nil
  end
  if type(a) ~= "table" then return a ~= b and path .. ": " .. tostring(a) .. " vs " .. tostring(b) or nil end
  local ka, kb = {}, {}
  for k in next, a do ka[#ka + 1] = k end
  for k in next, b do kb[#kb + 1] = k end
  for i = 1, math.max(#ka, #kb) do
    if ka[i] ~= kb[i] then return path .. ": pairs order or keys differ at " .. i end
  end
  for k, x in next, a do
    local d = differ(x, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
end

local function echo(body)
  local res = must(http.post(FAULT .. "/json/echo", { body = body }))
  assert.are.equal(200, res.status)
  assert.are.equal(body, res.body) -- the server got it and sent it back as it was
  return res
end

local function check(body)
  local want = contract(cjson.decode(body))
  local got = echo(body):json()
  local d = differ(want, got, "$")
  assert(d == nil, ("%s: %s"):format(body:sub(1, 80), d))
end

local function deep(n, inner) return ("["):rep(n) .. inner .. ("]"):rep(n) end

describe("res:json()", function()
  it("decodes every kind of JSON value as cjson does, integral numbers as integers", function()
    support.fault_reset()
    local bodies = {
      '{"id":12345,"name":"lurl benchmark document","active":true,"score":98.25,"tags":["http","lua","curl","bench"],"owner":{"login":"bench","id":42},"created":"2024-05-01T12:00:00Z","note":"small JSON body"}\n',
      '{"id":42,"score":98.25,"big":1e300,"list":[1,2.5,{"n":7,"deep":[[3]]}]}',
      '42', '-0', '-0.0', '0', '1.5', 'true', 'false', 'null', '"text"', '[]', '{}', '  \r\n\t[1] \n',
      '[1E+2, 1e-2, 1.25E3, -0e0, 0e5, 2.50, 100.000]',
      '[123456789012345, 1234567890123456, 12345678901234567, 9007199254740993, -9007199254740993]',
      '[999999999999999999, 9223372036854775807, -9223372036854775808, 9223372036854775808, 1e19, 12345678901234567890123]',
      '[4.9e-324, 1.7976931348623157e308, 1e309, -1e309, 2e-400, 0.1, 1e300]',
      '[null, 1, null, {"a": null}]',
      '"a\\/b\\\\c\\"d\\b\\f\\n\\r\\t"', '"\\u0041\\u00e9\\u20ac\\uFFFF\\u07ff\\u0800 caf\195\169"',
      '"\\ud83d\\ude00"', '"\\u0000x"', '"tab\there"', '{"k\\n":1.0,"k\\u00e9":[1.5],"":2.0}',
      '{"a":{"x":1},"a":{"y":2.0}}', '{"a":{"x":1.0},"a":5.0}', '{"1":1.0,"2":2}',
      '{ "a" : 1 , "b" :[ ] , "c":{ } }', '[1]\0trailing', '[0x10, 0X1f, -0x10]', '[NaN, Infinity, -Infinity]',
      '[01, 1.0, 1., +1, 2.e1]', deep(1000, "1.0"), ('{"a":'):rep(40) .. '2.0' .. ("}"):rep(40),
    }
    local t = {}
    for i = 1, 200 do t[i] = ('"k%d":%s'):format(i, ({ "1.5", i .. ".0", "[" .. i .. "]", '"s"' })[i % 4 + 1]) end
    bodies[#bodies + 1] = "{" .. table.concat(t, ",") .. "}"
    for _, body in ipairs(bodies) do check(body) end
    -- what the server received: each body, in order
    local log = support.fault_log()
    assert.are.equal(#bodies, #log)
    for i, e in ipairs(log) do
      assert.are.equal("/json/echo", e.path)
      assert.are.equal(#bodies[i], e.body_size)
    end
  end)

  it("decodes random documents as cjson does", function()
    -- a fixed seed: the same documents every run
    local seed = 16
    local function rand(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n
    end
    local leaves = { "0", "-7", "42", "3.25", "1e3", "2.0", "-0.5e-3", "123456789012345678",
      '"s"', '"\\n\\u00e9"', '""', "true", "false", "null" }
    local function doc(d)
      local r = rand(d > 3 and 3 or 6)
      if r < 3 then return leaves[rand(#leaves) + 1] end
      local parts = {}
      if r == 3 or r == 4 then
        for i = 1, rand(6) do parts[i] = doc(d + 1) end
        return "[" .. table.concat(parts, ",") .. "]"
      end
      for i = 1, rand(8) do parts[i] = ('"k%d":%s'):format(rand(5), doc(d + 1)) end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    for _ = 1, 150 do check(doc(0)) end
  end)

  it("raises cjson's JSONDecodeError, at cjson's position, for what cjson refuses", function()
    for _, body in ipairs { '{"a": 1, }', "", "<!DOCTYPE html>", '{"a":1}x', "[1,2", "[1,]", '"\\x"',
      '"\\ud800"', deep(1001, "1"), "[truex]", "[-]", "[.5]", "[1e]", "[1e+]", '{"a" 1}', '{1:2}' } do
      local _, cj = pcall(cjson.decode, body)
      local res = echo(body)
      local ok, err = pcall(res.json, res)
      assert.is_false(ok, body)
      assert.are.equal("JSONDecodeError", err.kind, body)
      assert.are.equal(tonumber(cj:match("character (%d+)")), err.position, body)
      assert.truthy(err.message:find(cj:gsub("^.-:%d+: ", ""), 1, true), body)
    end
  end)

  it("follows a lowered cjson.decode_max_depth", function()
    local res = echo('{"a":[{"b":1.0}]}')
    cjson.decode_max_depth(2)
    local ok, err = pcall(res.json, res)
    cjson.decode_max_depth(1000)
    assert.is_false(ok)
    assert.are.equal("JSONDecodeError", err.kind)
    assert.truthy(err.message:find("too many nested data structures", 1, true))
    cjson.decode_max_depth(3)
    local v = res:json()
    cjson.decode_max_depth(1000)
    assert.are.equal("integer", math.type(v.a[1].b))
  end)
end)
