-- shape "base_url": a session with base_url, a relative path and a
-- per-request header.
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local base, path = drive.url:match("^(https?://[^/]+)(/.*)$")
local s <close> = http.session { base_url = base }
drive.run(function(i) return s:get(path, { headers = { ["X-Request-Id"] = i } }) end)
