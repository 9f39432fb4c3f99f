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
local NO_CJSON = "module 'cjson' not found: lurl needs lua-cjson (Debian: lua-cjson)"
M.NO_CJSON = NO_CJSON
local function lib()
  if not cjson then
    local ok, m = pcall(require, "cjson")
    if not ok then
      -- said as a missing module, not left to look like bad JSON
      if tostring(m):find("module 'cjson' not found", 1, true) then error(NO_CJSON, 0) end
      error(m, 0)
    end
    cjson = m
  end
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

local function encode(v)
  local cj = cjson or lib()
  if not needs_help(v, {}) then return cj.encode(v) end
  local s = cj.encode(substitute(v))
  QUOTED = QUOTED or cj.encode(SENTINEL):gsub("%p", "%%%0")
  s = s:gsub(QUOTED, "[]")
  return (s:gsub('"\\u0000lurl%-int:(%-?%d+)\\u0000"', "%1"))
end

-- What cjson refuses, found only once it has refused (no walk before a
-- value that encodes): the first offending value's path and why, as
-- "field 'json.items[3].f': cannot encode a function" (root "json"), or
-- nil when the walk finds nothing (cjson's own message is used then).
local function step(path, k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") then
    return path == "" and k or path .. "." .. k
  end
  return ("%s[%s]"):format(path, type(k) == "string" and ("%q"):format(k) or tostring(k))
end

local function offence(v, path, depth, on)
  local t = type(v)
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return path, "cannot encode NaN or an infinity" end
  elseif t == "function" or t == "thread" or (t == "userdata") then
    return path, "cannot encode a " .. t
  elseif t == "table" then
    if on[v] then return path, "cannot encode a table that holds itself" end
    if depth > 1000 then return path:sub(1, 60) .. "...", "cannot encode a table nested more than 1000 deep" end
    local n, max, list = 0, 0, true
    for k in next, v do
      local kt = type(k)
      if kt ~= "string" and kt ~= "number" then
        return path, ("cannot encode a %s key"):format(kt)
      end
      if math.type(k) == "integer" and k > 0 then
        n = n + 1
        if k > max then max = k end
      else
        list = false
      end
    end
    -- cjson's default: a list whose largest index is over 10 and more than
    -- twice its number of items is refused
    if list and max > 10 and max > 2 * n then
      return path, ("cannot encode a sparse array (%d items, largest index %d)"):format(n, max)
    end
    on[v] = true
    for k, x in next, v do
      local p, why = offence(x, step(path, k), depth + 1, on)
      if p then return p, why end
    end
    on[v] = nil
  end
  -- booleans, strings, nil and cjson.null (a light userdata) encode
end

local function explain(v, root, msg)
  local path, why = offence(v, root, 1, {})
  if not path then return (tostring(msg):gsub("^.-:%d+: ", "")) end
  if path == "" then return why end
  return ("field '%s': %s"):format(path, why)
end

-- Encodes any Lua value; what JSON cannot hold raises naming where it is:
-- "bad argument #1 to 'encode' (field 'items[3].f': cannot encode a function)".
function M.encode(v)
  local ok, s = pcall(encode, v)
  if ok then return s end
  if not cjson then error(s, 2) end -- lua-cjson missing
  error(("bad argument #1 to 'encode' (%s)"):format(explain(v, "", s)), 2)
end

-- The json= option's encoder (core.config[1]): raises just the reason,
-- "field 'json.cb': cannot encode a function", which core.start words as
-- its caller's bad argument.
function M.encode_at(v, root)
  local ok, s = pcall(encode, v)
  if ok then return s end
  if not cjson then error(s, 0) end
  error(explain(v, root or "json", s), 0)
end

function M.decode(s) return (cjson or lib()).decode(s) end

-- lua-cjson's module, loaded on first call (raises NO_CJSON without it):
-- res:json() keeps its decode (lurl.response).
M.lib = lib

-- M.null: cjson's null, looked up when first asked for
setmetatable(M, { __index = function(_, k)
  if k == "null" then
    M.null = lib().null
    return M.null
  end
end })

return M
