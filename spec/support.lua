-- Small helpers shared by the spec files (server startup lives in
-- spec/helper.lua).  Use: local support = require "spec.support"
local cjson = require "cjson"
local http = require "http"
local helper = require "spec.helper"

local support = {}

-- the response, or an error naming why the request failed
function support.must(res, err)
  if not res then error("request failed: " .. tostring(err), 2) end
  return res
end

-- v with every cjson.null (recursively) turned into nil
function support.denull(v)
  if v == cjson.null then return nil end
  if type(v) == "table" then
    for k, x in pairs(v) do v[k] = support.denull(x) end
  end
  return v
end

-- s quoted for a POSIX shell
function support.q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- header value from httpbin's echo, whatever case the server used
function support.echoed_header(e, name)
  for k, v in pairs(e.headers) do
    if k:lower() == name:lower() then return v end
  end
  return nil
end

-- the fault server's record of what it received
function support.fault_reset()
  support.must(http.get(helper.fault .. "/reset-log"))
end

function support.fault_log()
  return cjson.decode(support.must(http.get(helper.fault .. "/requests")).body)
end

-- the whole file, or nil when it cannot be read
function support.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- writes s to path, raising on failure
function support.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  assert(f:close())
end

-- a local port whose connections hang unanswered (a full accept queue)
-- for hold_ms, with a function that frees it; nil when the kernel will
-- not cooperate
function support.black_hole(hold_ms)
  local py = [[
import select, socket, sys, time
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(0)
port = srv.getsockname()[1]
fill = []
for _ in range(4):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", port))
    except BlockingIOError: pass
    fill.append(c)
time.sleep(0.1)
probe = socket.socket(); probe.setblocking(False)
try: probe.connect(("127.0.0.1", port))
except BlockingIOError: pass
_, w, _ = select.select([], [probe], [], 0.3)
print(port if not w else "open", flush=True)
p = select.poll(); p.register(sys.stdout.fileno(), select.POLLERR)
p.poll(%d)
]]
  py = py:format(hold_ms or 30000)
  local f = assert(io.popen("/usr/bin/env -u PYTHONHOME -u PYTHONPATH /usr/bin/python3 -c '"
    .. py:gsub("'", "'\\''") .. "'", "r"))
  local port = tonumber(f:read("l"))
  if not port then f:close() return nil end
  return port, function() f:close() end
end

return support
