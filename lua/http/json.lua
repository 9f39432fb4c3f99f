-- http.json: JSON for request bodies, on top of lua-cjson.
--
-- lua-cjson encodes every empty table as {} and cannot be told otherwise in
-- the version Debian ships, so a script that must send an empty JSON array
-- marks it: http.array{} (or http.array(t) for any list).  Marked empty
-- arrays are swapped for a sentinel string before encoding and the quoted
-- sentinel is replaced by [] afterwards; values without a marked empty array
-- go straight to cjson.
local cjson = require "cjson"

local M = {}

local ARRAY_MT = { __name = "http.array" }
M.array_mt = ARRAY_MT

-- A string no caller can produce by accident (it holds NUL bytes, which
-- cjson writes as \u0000).
local SENTINEL = "\0lurl-empty-array\0"
local QUOTED = cjson.encode(SENTINEL)

function M.array(t)
  if t ~= nil and type(t) ~= "table" then
    error(("bad argument #1 to 'array' (table expected, got %s)"):format(type(t)), 2)
  end
  return setmetatable(t or {}, ARRAY_MT)
end

local function marked_empty(v, seen)
  if type(v) ~= "table" or seen[v] then return false end
  seen[v] = true
  if getmetatable(v) == ARRAY_MT and next(v) == nil then return true end
  for _, x in pairs(v) do
    if marked_empty(x, seen) then return true end
  end
  return false
end

local function substitute(v)
  if type(v) ~= "table" then return v end
  if getmetatable(v) == ARRAY_MT and next(v) == nil then return SENTINEL end
  local copy = {}
  for k, x in pairs(v) do copy[k] = substitute(x) end
  return copy
end

-- Encodes any Lua value; raises cjson's error for what JSON cannot hold.
function M.encode(v)
  if type(v) ~= "table" or not marked_empty(v, {}) then
    return cjson.encode(v)
  end
  local s = cjson.encode(substitute(v))
  return (s:gsub(QUOTED:gsub("%p", "%%%0"), "[]"))
end

M.decode = cjson.decode
M.null = cjson.null

return M
