-- quickstart.lua: a first tour of lurl's http module.
-- Shows a GET with params, a POST with JSON, a transport error and a timing
-- breakdown, against httpbin.  Run it with a local httpbin:
--   scripts/with-httpbin build/lurl scripts/quickstart.lua
-- or point it at any httpbin:  lurl scripts/quickstart.lua http://127.0.0.1:8080
local http = require "http"

local base = arg[1] or os.getenv("HTTPBIN_URL")
if not base then
  io.stderr:write("usage: lurl quickstart.lua HTTPBIN_URL (or set HTTPBIN_URL)\n")
  os.exit(2)
end

-- 1. GET with query parameters: a list value repeats the key.
local res = assert(http.get(base .. "/get", { params = { q = "lua http", tag = { "a", "b" } } }))
print(("GET  %s -> %d %s"):format(res.url, res.status, res.reason))
print("     server saw args:", require("json").encode(res:json().args))

-- 2. POST a JSON body; httpbin echoes what it received.
res = assert(http.post(base .. "/post", { json = { name = "lurl", tags = http.array {} } }))
local echoed = res:json()
print(("POST %s -> %d, Content-Type %s"):format(res.url, res.status, echoed.headers["Content-Type"]))
print("     server saw body:", echoed.data)

-- 3. A transport failure is a value, not an exception.
local _, err = http.get(base .. "/delay/3", { timeout = 0.5 })
print("ERR  " .. tostring(err))
print("     kind " .. err.kind .. ", is a Timeout: " .. tostring(err:is("Timeout")))

-- 4. Where the time went.
res = assert(http.get(base .. "/redirect/2"))
local t = res.timings
print(("TIME %d after %d redirects: dns %.2f ms, connect %.2f ms, ttfb %.2f ms, redirects %.2f ms, total %.2f ms")
  :format(res.status, #res.history, t.dns * 1e3, t.connect * 1e3, t.ttfb * 1e3, t.redirect * 1e3, t.total * 1e3))
