-- shape "timeout": s:get(url, {timeout = 60}) on an empty session.
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local s <close> = http.session {}
local url = drive.url
drive.run(function() return s:get(url, { timeout = 60 }) end)
