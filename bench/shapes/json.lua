-- shape "json": s:get(url) and res:json() of the body on an empty session;
-- bench/run subtracts the "plain" shape to get res:json()'s own cost.
local http = require "http"
local drive = dofile(arg[0]:match("^(.*/)") .. "drive.lua")
local s <close> = http.session {}
local url = drive.url
drive.run(function()
  local res, err = s:get(url)
  if not res then return nil, err end
  local v = res:json()
  if v.id ~= 12345 or v.owner.id ~= 42 then error("unexpected JSON: " .. res.body) end
  return res
end)
