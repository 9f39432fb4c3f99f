-- A deliberately failing copy of the example suite: every test below has
-- a wrong expectation, to show what a red API test prints.  Run it from
-- scripts/api_tests with
--   HTTPBIN_URL=http://127.0.0.1:8080 busted failing
-- and read the failures: each names what was expected, then shows the
-- request line, the headers sent, the status line, the response headers,
-- the timings and a body excerpt.  The requests carry credentials (a
-- bearer token, a cookie, a password in the URL) that must show up only as
-- "***", even where httpbin echoes them in the body.  spec/assert_spec.lua
-- runs this file and checks exactly that.
local http = require "http"
require "http.assert"

local BASE = os.getenv("HTTPBIN_URL")
if not BASE or BASE == "" then
  error("set HTTPBIN_URL to the base URL of an httpbin (or run through scripts/with-httpbin)", 0)
end
BASE = BASE:gsub("/+$", "")

local TOKEN = "failing-suite-token-7f3a9"
local COOKIE = "cookie-secret-51b2"
local PASSWORD = "url-secret-88c4"

describe("wrong expectations", function()
  local s

  before_each(function()
    s = http.session { base_url = BASE, timeout = 10, auth = http.bearer(TOKEN),
      cookies = { session = COOKIE } }
  end)

  after_each(function()
    s:close()
  end)

  it("expects 200 from a route that answers 404", function()
    local res = assert(s:get("/status/404"))
    assert.status(res, 200)
  end)

  it("expects another request id than the one the server sets", function()
    local res = assert(s:get("/response-headers", { params = { ["X-Request-Id"] = "req-41" } }))
    assert.header(res, "x-request-id", "req-42")
  end)

  it("expects a header httpbin never received", function()
    -- /headers echoes the request headers, the token and cookie included
    local res = assert(s:get("/headers"))
    assert.json_field(res, "headers.X-Trace", "on")
  end)

  it("expects a failed login with a password in the URL", function()
    local authed = BASE:gsub("^(%a+://)", "%1ada:" .. PASSWORD .. "@")
    local res = assert(http.get(authed .. "/get", { params = { step = "login" } }))
    assert.status(res, 401)
  end)
end)
