-- shape "headers": a session with default headers (Accept, an API key).
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local s <close> = http.session {
  headers = { Accept = "application/json", ["X-Api-Key"] = "k-3f9a2c71d04e4b8a9e15" },
}
local url = drive.url
drive.run(function() return s:get(url) end)
