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

return support
