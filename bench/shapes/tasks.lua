-- shape "tasks": P tasks looping s:get on a session with max_connections = 64
-- (each response is dropped once checked).
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local s <close> = http.session { max_connections = 64 }
local url = drive.url
drive.run(function() return s:get(url) end)
