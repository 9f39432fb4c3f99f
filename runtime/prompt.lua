-- prompt.lua: the policy of lurl's interactive prompt (runtime/prompt.c is
-- the libedit glue).  Compiled into the binary only and run once when the
-- prompt opens; it returns { setup, show, complete, hint }.
--
-- show(...) turns the results of a line into text: tables expanded and
-- bounded (depth, entries, cycles), a response as status line, headers and
-- its JSON or a body excerpt, an object with __tostring (an http.error, a
-- session) in its own one-line form, everything else as `print` shows it.
-- It is the prompt's alone: tostring and print are untouched, so scripts
-- print exactly what they printed before.
--
-- complete(text) lists the names that extend `text` ("ht", "http.ge",
-- "s:up"), reading tables raw: a user's __index or __pairs never runs while
-- Tab is pressed, only a table __index is followed (as a table, raw).

-- Captured now: later changes to these globals do not change the prompt.
local next, rawget, rawlen, type, tostring, pcall, select, require =
  next, rawget, rawlen, type, tostring, pcall, select, require
local getmt = debug.getmetatable -- raw: a __metatable field does not hide it
local fmt, sub, find, match, gsub, byte, rep =
  string.format, string.sub, string.find, string.match, string.gsub, string.byte, string.rep
local sort, concat, gmatch = table.sort, table.concat, string.gmatch
local mtype = math.type
local G = _ENV

local MAX_DEPTH = 4      -- nesting shown; deeper tables print as {...}
local MAX_ITEMS = 40     -- entries shown per table
local MAX_NODES = 1000   -- entries shown per printed value, all tables together
local MAX_KEYS = 10000   -- keys sorted per table; a bigger one shows some of them
local MAX_STRING = 200   -- bytes of a string inside a table
local MAX_BODY = 1024    -- bytes of a body excerpt
local MAX_HEADERS = 50   -- header lines of a response
local MAX_JSON_LINES = 200 -- lines of a response's pretty-printed JSON
local WIDTH = 78         -- a table fitting in this many columns stays on one line

local KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
  "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
  "true", "until", "while",
}
local IS_KEYWORD = {}
for _, k in next, KEYWORDS do IS_KEYWORD[k] = true end

-- The lazily computed fields of a response (lua/lurl/response.lua): not in
-- the table until read, but what a user wants offered after `res.`.
local RESPONSE_FIELDS = {
  "attempts", "body", "cookies", "elapsed", "encoding", "header_list",
  "headers", "history", "http_version", "links", "method", "ok", "reason",
  "request", "status", "text", "timings", "url",
}

local M = {}
local json_null -- cjson.null once json is loaded (a light userdata)

local function is_ident(k)
  return type(k) == "string" and match(k, "^[%a_][%w_]*$") ~= nil and not IS_KEYWORD[k]
end

local ESCAPES = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
local function escape(c) return ESCAPES[c] or fmt("\\%03d", byte(c)) end

-- A string as Lua source would write it, cut after `limit` bytes.
local function quote(s, limit)
  local n = #s
  if n > limit then s = sub(s, 1, limit) end
  s = '"' .. gsub(s, '[%c"\\]', escape) .. '"'
  if n > limit then s = s .. fmt("..(%d bytes)", n) end
  return s
end

-- Values that are not expanded: as print shows them, strings quoted.
local function scalar(v)
  local t = type(v)
  if t == "string" then return quote(v, MAX_STRING) end
  if t == "userdata" and json_null ~= nil and v == json_null then return "json.null" end
  return tostring(v)
end

local function key_text(k)
  if is_ident(k) then return k end
  return "[" .. scalar(k) .. "]"
end

-- Key order: numbers, then strings, then the rest (by type, then address).
local TYPE_RANK = { number = 1, string = 2 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    local ra, rb = TYPE_RANK[ta] or 3, TYPE_RANK[tb] or 3
    if ra ~= rb then return ra < rb end
    return ta < tb
  end
  if ta == "number" or ta == "string" then return a < b end
  return fmt("%p", a) < fmt("%p", b)
end

-- JSON text re-indented, two spaces a level, key order and numbers exactly
-- as the server sent them (decoding would reorder keys and lose the
-- difference between [] and {}).  The caller has checked that it is JSON.
local function pretty_json(s)
  local out, lines, depth, i, n = {}, 1, 0, 1, #s
  while i <= n and lines <= MAX_JSON_LINES do
    local c = sub(s, i, i)
    if c == '"' then
      local j = i + 1
      while true do -- to the closing quote, over escapes
        local q = find(s, '["\\]', j)
        if q == nil then j = n break end
        if sub(s, q, q) == "\\" then j = q + 2 else j = q break end
      end
      out[#out + 1] = sub(s, i, j)
      i = j + 1
    elseif c == "{" or c == "[" then
      local k = find(s, "[^ \t\r\n]", i + 1)
      if k ~= nil and sub(s, k, k) == (c == "{" and "}" or "]") then
        out[#out + 1] = c .. sub(s, k, k) -- empty: {} or []
        i = k + 1
      else
        depth = depth + 1
        out[#out + 1] = c .. "\n" .. rep("  ", depth)
        lines, i = lines + 1, i + 1
      end
    elseif c == "}" or c == "]" then
      depth = depth - 1
      out[#out + 1] = "\n" .. rep("  ", depth) .. c
      lines, i = lines + 1, i + 1
    elseif c == "," then
      out[#out + 1] = ",\n" .. rep("  ", depth)
      lines, i = lines + 1, i + 1
    elseif c == ":" then
      out[#out + 1] = ": "
      i = i + 1
    elseif find(c, "^%s") then
      i = i + 1
    else -- a number, true, false or null
      local j = find(s, '[%s,:%[%]{}"]', i) or n + 1
      out[#out + 1] = sub(s, i, j - 1)
      i = j
    end
  end
  if i <= n then out[#out + 1] = fmt("\n... (%d bytes in all)", n) end
  return concat(out)
end

local render -- forward: render(v, indent, ctx) -> text

local function response_text(r)
  local core = package.loaded["http.core"]
  local redact = core and core.redact or tostring
  local out = {}
  out[1] = fmt("HTTP/%s %d %s", tostring(r.http_version or "?"), r.status, r.reason or "")
  local list = r.header_list or {}
  for i = 1, rawlen(list) do
    if i > MAX_HEADERS then
      out[#out + 1] = fmt("... (%d header lines in all)", rawlen(list))
      break
    end
    local f = list[i]
    out[#out + 1] = fmt("%s: %s", tostring(f[1]), tostring(f[2]))
  end
  out[#out + 1] = ""
  local body = rawget(r, "body") -- absent: a stream not read yet (reading would consume it)
  local ctype = r.headers and r.headers["content-type"] or ""
  if body == nil then
    out[#out + 1] = "(streamed body, not read: res:read(), res:chunks() or res.body)"
  elseif body == "" then
    out[#out + 1] = "(empty body)"
  else
    local shown
    if find(ctype, "json", 1, true) and pcall(r.json, r) then
      shown = pretty_json(body)
    end
    if not shown and (find(ctype, "^text/") or find(ctype, "json") or find(ctype, "xml")
        or find(ctype, "javascript") or not find(sub(body, 1, MAX_BODY), "%z")) then
      local cut = #body > MAX_BODY and MAX_BODY or #body
      -- never end the excerpt inside a UTF-8 sequence
      while cut < #body and cut > 0 and (byte(body, cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
      shown = sub(body, 1, cut)
      if cut < #body then shown = shown .. fmt("\n... (%d bytes in all)", #body) end
    end
    out[#out + 1] = shown or fmt("(%d bytes of %s)", #body, ctype ~= "" and ctype or "binary data")
  end
  out[#out + 1] = fmt("-- %s %s", tostring(r.method or "?"), redact(r.url))
  return concat(out, "\n")
end

-- The entries of table t as "key = value" texts, bounded by ctx.
local function entries(t, indent, ctx)
  local parts, n = {}, rawlen(t)
  local inner = indent .. "  "
  local function add(text)
    if #parts >= MAX_ITEMS or ctx.nodes >= MAX_NODES then
      ctx.cut = true
      return false
    end
    ctx.nodes = ctx.nodes + 1
    parts[#parts + 1] = text
    return true
  end
  for i = 1, n do
    if not add(render(rawget(t, i), inner, ctx)) then break end
  end
  local keys, more = {}, false
  for k in next, t do
    if not (mtype(k) == "integer" and k >= 1 and k <= n) then
      if #keys >= MAX_KEYS then more = true break end
      keys[#keys + 1] = k
    end
  end
  sort(keys, key_less)
  local total = n + #keys
  for i = 1, #keys do
    local k = keys[i]
    if not add(key_text(k) .. " = " .. render(rawget(t, k), inner, ctx)) then break end
  end
  if #parts < total or more then
    parts[#parts + 1] = more and "..." or fmt("... (%d entries in all)", total)
  end
  return parts
end

function render(v, indent, ctx)
  if type(v) ~= "table" then return scalar(v) end
  local mt = getmt(v)
  if mt ~= nil then
    if rawget(mt, "__name") == "http.response" then return tostring(v) end
    -- the object chose its own (one-line) form: http.error, http.session...
    if rawget(mt, "__tostring") ~= nil then return tostring(v) end
  end
  if ctx.stack[v] then return "<cycle>" end
  if next(v) == nil then return "{}" end
  if #indent >= 2 * ctx.depth then return "{...}" end
  ctx.stack[v] = true
  local parts = entries(v, indent, ctx)
  ctx.stack[v] = nil
  local one = "{ " .. concat(parts, ", ") .. " }"
  if #one + #indent <= WIDTH and not find(one, "\n", 1, true) then return one end
  local inner = indent .. "  "
  return "{\n" .. inner .. concat(parts, ",\n" .. inner) .. "\n" .. indent .. "}"
end

-- One result of a line.  Strings, numbers and the like print as `print`
-- would print them, so the prompt still feels like Lua's.
local function show_one(v)
  if type(v) == "table" then
    local mt = getmt(v)
    if mt ~= nil and rawget(mt, "__name") == "http.response" then
      local ok, text = pcall(response_text, v)
      if ok then return text end
    end
    return render(v, "", { stack = {}, nodes = 0, depth = MAX_DEPTH })
  end
  return tostring(v)
end

function M.show(...)
  local out, multiline = {}, false
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    local ok, text = pcall(show_one, v)
    if not ok or type(text) ~= "string" then
      ok, text = pcall(tostring, v)
      if not ok then text = "(" .. type(v) .. ")" end
    end
    out[i] = text
    multiline = multiline or find(text, "\n", 1, true) ~= nil
  end
  return concat(out, multiline and "\n" or "\t")
end

-- http and json ready as globals, unless the script made its own.
-- Returns true, or the message of a module that would not load.
function M.setup()
  for _, name in next, { "http", "json" } do
    if rawget(G, name) == nil then
      local ok, mod = pcall(require, name)
      if not ok then return tostring(mod) end
      G[name] = mod
    end
  end
  local ok, cjson = pcall(require, "cjson")
  if ok and type(cjson) == "table" then json_null = rawget(cjson, "null") end
  return true
end

-- ---- completion --------------------------------------------------------

-- obj[key] without running code: a raw field, else along the metatables'
-- table-valued __index (a function __index is never called).
local function step(obj, key)
  if type(obj) == "table" then
    local v = rawget(obj, key)
    if v ~= nil then return v end
  end
  local mt = getmt(obj)
  for _ = 1, 8 do
    if mt == nil then return nil end
    local idx = rawget(mt, "__index")
    if type(idx) ~= "table" then return nil end
    local v = rawget(idx, key)
    if v ~= nil then return v end
    mt = getmt(idx)
  end
  return nil
end

-- Adds the identifier keys of table t to names (name -> value).
local function add_keys(t, names)
  local count = 0
  for k, v in next, t do
    if is_ident(k) and names[k] == nil then names[k] = v end
    count = count + 1
    if count > MAX_KEYS then break end
  end
end

-- Every name obj offers: its raw fields, its __index tables' fields, and
-- for a response the fields it computes on demand.
local function gather(obj, names)
  if type(obj) == "table" then add_keys(obj, names) end
  local mt = getmt(obj)
  if mt ~= nil and rawget(mt, "__name") == "http.response" then
    local R = package.loaded["lurl.response"]
    local methods = type(R) == "table" and rawget(R, "methods")
    if type(methods) == "table" then add_keys(methods, names) end
    for _, f in next, RESPONSE_FIELDS do
      if names[f] == nil then names[f] = true end
    end
  end
  for _ = 1, 8 do
    if mt == nil then return end
    local idx = rawget(mt, "__index")
    if type(idx) ~= "table" then return end
    add_keys(idx, names)
    mt = getmt(idx)
  end
end

function M.complete(text)
  local path, sep, part = match(text, "^(.-)([%.:]?)([%w_]*)$")
  if path == nil or (sep == "" and path ~= "") then return {} end
  local obj = G
  if sep ~= "" then
    for seg in gmatch(path, "[^%.]+") do
      if not is_ident(seg) then return {} end
      obj = step(obj, seg)
      if obj == nil then return {} end
    end
    if not match(path, "^[%w_.]+$") or find(path, "..", 1, true) then return {} end
  end
  local names = {}
  gather(obj, names)
  if sep == "" then
    for _, k in next, KEYWORDS do
      if names[k] == nil then names[k] = true end
    end
  end
  local out, values = {}, {}
  local hidden = sub(part, 1, 1) ~= "_" -- _names only once "_" is typed
  for name, v in next, names do
    if sub(name, 1, #part) == part and not (hidden and sub(name, 1, 1) == "_")
        and (sep ~= ":" or type(v) == "function") then
      out[#out + 1] = path .. sep .. name
      values[#out] = v
    end
  end
  -- a lone function gets its "(" as in Python's completer
  if #out == 1 and type(values[1]) == "function" then out[1] = out[1] .. "(" end
  sort(out)
  return out
end

-- ---- requests spellings ------------------------------------------------

-- What a requests user types, by the kind of object it is typed on, and
-- lurl's spelling ("." a field, ":" a method, else the whole text).
local REQUESTS = {
  ["http.response"] = { status_code = ".status", content = ".body", iter_content = ":chunks()",
    iter_lines = ":lines()", apparent_encoding = ".encoding", json = ":json()" },
  ["http.headers"] = { get = '["name"] (any case)' },
  ["http.session"] = { mount = "http.session{transport = fn}" },
  http = { exceptions = ".errors" },
}

local function kind_of(obj)
  if obj ~= nil and obj == rawget(G, "http") then return "http" end
  local mt = getmt(obj)
  return mt ~= nil and type(rawget(mt, "__name")) == "string" and rawget(mt, "__name") or nil
end

-- hint(line, ...) -> "-- lurl: res.status (requests: status_code)" when the
-- line reads a requests spelling on a response, its headers, a session or
-- http (looked up raw from the globals), and the line printed a nil (or
-- failed: called with the line alone); else nil.  Read only, runs no code.
function M.hint(line, ...)
  local n = select("#", ...)
  if n > 0 then
    local any_nil = false
    for i = 1, n do any_nil = any_nil or select(i, ...) == nil end
    if not any_nil then return nil end
  end
  if type(line) ~= "string" then return nil end
  for chain in gmatch(line, "[%a_][%w_]*[%w_%.:]*") do
    local obj, path = G, ""
    for sep, name in gmatch(chain, "([%.:]?)([%a_][%w_]*)") do
      local map = path ~= "" and REQUESTS[kind_of(obj)]
      local lurl = map and map[name]
      if lurl and (name ~= "json" or sep == ".") then
        if match(lurl, "^[%.:]") then lurl = path .. lurl
        elseif match(lurl, "^%[") then lurl = path .. lurl end
        return fmt("-- lurl: %s (requests: %s)", lurl, name)
      end
      if name == "json" then break end
      obj = step(obj, name)
      if obj == nil then break end
      path = path == "" and name or path .. "." .. name
    end
  end
  return nil
end

return M
