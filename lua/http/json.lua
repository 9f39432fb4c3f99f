-- http.json: JSON for request bodies, on top of lua-cjson.
--
-- lua-cjson encodes every empty table as {} and cannot be told otherwise in
-- the version Debian ships, so a script that must send an empty JSON array
-- marks it: http.array{} (or http.array(t) for any list).  Marked empty
-- arrays are swapped for a sentinel string before encoding and the quoted
-- sentinel is replaced by [] afterwards; values without a marked empty array
-- go straight to cjson.
local M = {}

-- lua-cjson is loaded on first use: `require "http"` does not pay for
-- loading a C module that a script without JSON never calls.
local cjson
local function lib()
  if not cjson then cjson = require "cjson" end
  return cjson
end

local ARRAY_MT = { __name = "http.array" }
M.array_mt = ARRAY_MT

-- A string no caller can produce by accident (it holds NUL bytes, which
-- cjson writes as \u0000).
local SENTINEL = "\0lurl-empty-array\0"
local QUOTED -- the sentinel as cjson writes it, a Lua pattern

function M.array(t)
  if t ~= nil and type(t) ~= "table" then
    error(("bad argument #1 to 'array' (table expected, got %s)"):format(type(t)), 2)
  end
  return setmetatable(t or {}, ARRAY_MT)
end

-- cjson writes numbers with 14 significant digits, so a 64-bit id such as
-- 100000000000001 would go out as 1e+14: such integers are swapped for a
-- marked string and written back as their exact digits.
local BIG = 1e14
local function big_int(x)
  return math.type(x) == "integer" and (x >= BIG or x <= -BIG)
end

local function needs_help(v, seen)
  if big_int(v) then return true end
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  if getmetatable(v) == ARRAY_MT and next(v) == nil then return true end
  for _, x in pairs(v) do
    if needs_help(x, seen) then return true end
  end
  return false
end

local function substitute(v)
  if big_int(v) then return "\0lurl-int:" .. math.tointeger(v) .. "\0" end
  if type(v) ~= "table" then return v end
  if getmetatable(v) == ARRAY_MT and next(v) == nil then return SENTINEL end
  local copy = {}
  for k, x in pairs(v) do copy[k] = substitute(x) end
  return copy
end

-- Encodes any Lua value; raises cjson's error for what JSON cannot hold.
function M.encode(v)
  local cj = cjson or lib()
  if not needs_help(v, {}) then return cj.encode(v) end
  local s = cj.encode(substitute(v))
  QUOTED = QUOTED or cj.encode(SENTINEL):gsub("%p", "%%%0")
  s = s:gsub(QUOTED, "[]")
  return (s:gsub('"\\u0000lurl%-int:(%-?%d+)\\u0000"', "%1"))
end

function M.decode(s) return (cjson or lib()).decode(s) end

-- M.null: cjson's null, looked up when first asked for
setmetatable(M, { __index = function(_, k)
  if k == "null" then
    M.null = lib().null
    return M.null
  end
end })

return M
