-- shape "plain": s:get(url) on an empty session (bench/shapes/drive.lua).
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local s <close> = http.session {}
local url = drive.url
drive.run(function() return s:get(url) end)
