-- fetch.lua: the script examples/embed/host.c runs.  Two requests at once
-- (each in its own task), one that the host's limits refuse, and a summary.
local base, tag = ...
local http = require "http"

local a = http.spawn(function() return assert(http.get(base .. "/ok?from=" .. tag .. "-a")) end)
local b = http.spawn(function() return assert(http.get(base .. "/ok?from=" .. tag .. "-b")) end)
local ra, rb = table.unpack(http.join({a, b}))

-- The host allowed only base's host: the same server under another name
-- is refused before any connection.
local other = base:gsub("//127%.0%.0%.1:", "//localhost:")
if other == base then other = "http://localhost:1" end
local _, err = http.get(other .. "/ok?from=" .. tag .. "-refused")

return ("%d %s, %d %s"):format(ra.status, ra.body, rb.status, rb.body), err.kind
