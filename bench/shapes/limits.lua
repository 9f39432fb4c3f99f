-- shape "limits": a session with max_connections and a rate_limit far above
-- what one client can reach (it must not throttle, only be checked).
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local s <close> = http.session { max_connections = 64, rate_limit = 1e6 }
local url = drive.url
drive.run(function() return s:get(url) end)
