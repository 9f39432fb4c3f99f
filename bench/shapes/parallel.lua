-- shape "parallel": http.parallel of {"GET", url, {timeout = 60}} items, P in
-- flight (the list is built inside the measured part, as a script does).
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local url = drive.url
drive.batch(function(n, p)
  local items = {}
  for i = 1, n do items[i] = { "GET", url, { timeout = 60 } } end
  return http.parallel(items, { concurrency = p })
end)
