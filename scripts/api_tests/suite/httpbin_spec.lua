-- An example API test suite, written the way a team would test its own
-- HTTP API with busted and lurl; here the API is httpbin.
--
-- Run it from scripts/api_tests against any httpbin (your own, or a local
-- one started by scripts/with-httpbin):
--   HTTPBIN_URL=http://127.0.0.1:8080 busted               # stock lua5.4 + http.so
--   HTTPBIN_URL=http://127.0.0.1:8080 busted --lua=lurl    # under the lurl binary
--   HTTPBIN_URL=... busted -o junit > report.xml           # JUnit XML for CI
--   ../with-httpbin busted                                 # starts httpbin for you
--
-- Each test makes a real request and checks the answer with the
-- assertions of http.assert; a failure prints the request, the status,
-- the headers and a body excerpt (see failing/ for what that looks like).
local http = require "http"
require "http.assert"

local BASE = os.getenv("HTTPBIN_URL")
if not BASE or BASE == "" then
  error("set HTTPBIN_URL to the base URL of an httpbin (or run through scripts/with-httpbin)", 0)
end
BASE = BASE:gsub("/+$", "")

describe("httpbin API", function()
  local s

  before_each(function()
    s = http.session { base_url = BASE, timeout = 10, headers = { ["X-Suite"] = "api-example" } }
  end)

  after_each(function()
    s:close()
  end)

  describe("GET /get", function()
    it("echoes query parameters and our headers", function()
      local res = assert(s:get("/get", { params = { q = "lua http", tags = { "a", "b" } } }))
      assert.status(res, 200)
      assert.header_matches(res, "content-type", "^application/json")
      assert.json_field(res, "args.q", "lua http")
      assert.json_field(res, "args.tags", { "a", "b" })
      assert.json_field(res, "args.tags[2]", "b")
      assert.json_field(res, "headers.X-Suite", "api-example")
      assert.is_not.json_field(res, "args.missing")
    end)

    it("answers quickly", function()
      local res = assert(s:get("/get"))
      assert.status(res, "2xx")
      assert.elapsed_under(res, 5)
      assert.timing_under(res, "ttfb", 5)
    end)
  end)

  describe("POST /post", function()
    it("echoes a JSON body", function()
      local res = assert(s:post("/post", { json = { items = { { name = "a" }, { name = "b" } } } }))
      assert.status(res, 200)
      assert.json_field(res, "json.items[2].name", "b")
      assert.json_field(res, "headers.Content-Type", "application/json")
    end)

    it("echoes a form", function()
      local res = assert(s:post("/post", { data = { user = "ada", lang = "lua" } }))
      assert.status(res, 200)
      assert.json_field(res, "form", { user = "ada", lang = "lua" })
    end)
  end)

  describe("authentication", function()
    it("accepts a bearer token", function()
      local res = assert(s:get("/bearer", { auth = http.bearer("example-token") }))
      assert.status(res, 200)
      assert.json_field(res, "authenticated", true)
    end)

    it("refuses a request without one", function()
      local res = assert(s:get("/bearer"))
      assert.status(res, 401)
      assert.is_not.status(res, "2xx")
      assert.header(res, "www-authenticate", "Bearer")
    end)
  end)

  describe("status codes and headers", function()
    it("reports server errors as responses", function()
      local res = assert(s:get("/status/503"))
      assert.status(res, "5xx")
      assert.status(res, { 502, 503, 504 })
    end)

    it("sets the response headers we ask for", function()
      local res = assert(s:get("/response-headers", { params = { ["X-Request-Id"] = "req-42" } }))
      assert.header(res, "x-request-id", "req-42")
      assert.has_no.header(res, "x-not-sent")
    end)
  end)

  describe("redirects and cookies", function()
    it("follows a redirect chain", function()
      local res = assert(s:get("/redirect/2"))
      assert.status(res, 200)
      assert.are.equal(2, #res.history)
      assert.json_field(res, "url", BASE .. "/get")
      assert.timing_under(res, "redirect", 5)
    end)

    it("keeps cookies in a session", function()
      local res = assert(s:get("/cookies/set", { params = { flavor = "oat" } }))
      assert.status(res, 200)
      assert.json_field(res, "cookies.flavor", "oat")
    end)
  end)

  describe("GET /html", function()
    it("serves a page", function()
      local res = assert(s:get("/html"))
      assert.status(res, 200)
      assert.header_matches(res, "content-type", "^text/html")
      assert.body_matches(res, "<h1>Herman Melville %- Moby%-Dick</h1>")
      assert.body_contains(res, "Moby-Dick")
    end)
  end)
end)
