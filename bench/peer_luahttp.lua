-- Benchmark peer: lua-http 0.4 (Debian's lua-http) on Lua 5.4.
--
--   lua5.4 peer_luahttp.lua seq URL N      N GETs over one HTTP/1.1 connection
--   lua5.4 peer_luahttp.lua conc URL N P   N GETs by P coroutines on one cqueue,
--                                          each with its own connection
--   lua5.4 peer_luahttp.lua wait URL T     T coroutines waiting on URL at once
--   lua5.4 peer_luahttp.lua stream URL     one GET, body read with each_chunk()
--
-- Debian packages lua-http for Lua 5.1-5.3 only; its files are pure Lua and
-- its C dependencies (cqueues, luaossl, lpeg) exist for 5.4, so bench/run
-- puts Debian's 5.3/5.1 directories on LUA_PATH and runs it on lua5.4.
-- http.request does not reuse connections, so the keep-alive loops use the
-- lower level http.client connection and one stream per request, as a
-- lua-http user who wants keep-alive would.  lua-http has no multipart API:
-- the upload scenario has no lua-http row.
-- Prints "@mark start", "@mark end" and a RESULT line (bench/peer_libcurl.c).
local cqueues = require "cqueues"
local client = require "http.client"
local new_headers = require "http.headers".new

local mode, url = arg[1], arg[2]
local host, port, path = url:match("^http://([^:/]+):(%d+)(/.*)$")
assert(host, "URL must be http://host:port/path")
local authority = host .. ":" .. port

local function mark(what)
  io.stdout:write("@mark ", what, "\n")
  io.stdout:flush()
end

local function connect()
  return assert(client.connect { host = host, port = tonumber(port), tls = false, version = 1.1 })
end

local function request(conn)
  local st = assert(conn:new_stream())
  local h = new_headers()
  h:append(":method", "GET")
  h:append(":scheme", "http")
  h:append(":authority", authority)
  h:append(":path", path)
  assert(st:write_headers(h, true))
  return st, assert(st:get_headers())
end

local function get(conn)
  local st, h = request(conn)
  local body = assert(st:get_body_as_string())
  return h:get(":status"), #body
end

-- n requests by p coroutines, each with its own connection.
local function many(n, p)
  local ok, bytes, nexti = 0, 0, 0
  local cq = cqueues.new()
  for _ = 1, p do
    cq:wrap(function()
      local conn = connect()
      while nexti < n do
        nexti = nexti + 1
        local status, size = get(conn)
        if status == "200" then ok = ok + 1 end
        bytes = bytes + size
      end
      conn:close()
    end)
  end
  assert(cq:loop())
  return ok, bytes
end

if mode == "seq" then
  local n = tonumber(arg[3])
  local conn = connect()
  local ok, bytes = 0, 0
  mark("start")
  local c0 = os.clock()
  for _ = 1, n do
    local status, size = get(conn)
    if status == "200" then ok = ok + 1 end
    bytes = bytes + size
  end
  local cpu = os.clock() - c0
  mark("end")
  print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, bytes, cpu))
elseif mode == "conc" or mode == "wait" then
  local n = tonumber(arg[3])
  local p = mode == "conc" and tonumber(arg[4]) or n
  mark("start")
  local c0 = os.clock()
  local ok, bytes = many(n, p)
  local cpu = os.clock() - c0
  mark("end")
  print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, bytes, cpu))
elseif mode == "stream" then
  local conn = connect()
  mark("start")
  local c0 = os.clock()
  local st, h = request(conn)
  local bytes = 0
  for chunk in st:each_chunk() do bytes = bytes + #chunk end
  local cpu = os.clock() - c0
  mark("end")
  print(("RESULT n=1 ok=%d bytes=%d cpu=%.6f"):format(h:get(":status") == "200" and 1 or 0, bytes, cpu))
else
  error("unknown mode " .. tostring(mode))
end
