-- Benchmark peer: LuaSocket 3.1 (Debian's lua-socket) on Lua 5.4.
--
--   lua5.4 peer_luasocket.lua seq URL N    N GETs with socket.http.request
--   lua5.4 peer_luasocket.lua stream URL   one GET into a counting ltn12 sink
--
-- socket.http always sends "Connection: close": every request opens a new
-- connection (there is no keep-alive API), which is what a LuaSocket user
-- gets.  It has no concurrency of its own and no multipart API, so it has
-- no rows in those scenarios.
-- Prints "@mark start", "@mark end" and a RESULT line (bench/peer_libcurl.c).
local http = require "socket.http"

local mode, url = arg[1], arg[2]

local function mark(what)
  io.stdout:write("@mark ", what, "\n")
  io.stdout:flush()
end

if mode == "seq" then
  local n = tonumber(arg[3])
  local ok, bytes = 0, 0
  mark("start")
  local c0 = os.clock()
  for _ = 1, n do
    local body, code = http.request(url)
    assert(body, code)
    if code == 200 then ok = ok + 1 end
    bytes = bytes + #body
  end
  local cpu = os.clock() - c0
  mark("end")
  print(("RESULT n=%d ok=%d bytes=%d cpu=%.6f"):format(n, ok, bytes, cpu))
elseif mode == "stream" then
  local bytes = 0
  local function sink(chunk)
    if chunk then bytes = bytes + #chunk end
    return 1
  end
  mark("start")
  local c0 = os.clock()
  local r, code = http.request { url = url, sink = sink }
  assert(r, code)
  local cpu = os.clock() - c0
  mark("end")
  print(("RESULT n=1 ok=%d bytes=%d cpu=%.6f"):format(code == 200 and 1 or 0, bytes, cpu))
else
  error("unknown mode " .. tostring(mode))
end
