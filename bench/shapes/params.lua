-- shape "params": http.get(url, {params = {page = i, per_page = 50}}) on the
-- module's default session (nginx serves the file whatever the query).
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local url = drive.url
drive.run(function(i) return http.get(url, { params = { page = i, per_page = 50 } }) end)
