-- The offline variant of the example API suite: the same kind of tests,
-- run against http.mock instead of a server, so they pass on a laptop on a
-- train and in CI with no server and no credentials (docs/testing.md,
-- Offline suites).
--   cd scripts/api_tests
--   busted --run=offline                 # stock lua5.4 + http.so
--   busted --run=offline --lua=lurl      # under the lurl binary
--
-- The code under test is a small client of a users API (below, as a team's
-- own module would be); the mock plays the API, including the failures a
-- real one gives only on a bad day: a 503 storm, a connect timeout, a slow
-- answer.
local http = require "http"
require "http.assert"

-- The code under test: a client of https://api.example.com/v1.  (Lua's
-- assert would raise the error object; inside busted `assert` is luassert's,
-- which turns it into a string, hence must.)
local function must(res, err)
  if not res then error(err, 2) end
  return res
end

local function users_client(token)
  local s = http.session { base_url = "https://api.example.com/v1", timeout = { read = 0.2 },
    auth = http.bearer(token), headers = { Accept = "application/json" },
    retry = { attempts = 3, backoff = 0.01, statuses = { 503 } } }
  local c = {}
  function c.get(id) return must(s:get("/users/" .. id)):raise_for_status():json() end
  function c.create(user) return must(s:post("/users", { json = user })):raise_for_status():json() end
  function c.login(name, password)
    return must(s:post("/login", { data = { user = name, password = password } })):raise_for_status()
  end
  function c.me() return must(s:get("/me")):raise_for_status():json() end
  function c.all()
    local out = {}
    for u in s:paginate("/users", { items = function(res) return res:json() end }) do out[#out + 1] = u.name end
    return out
  end
  function c.close() s:close() end
  return c
end

describe("users API (offline)", function()
  local mock, api

  before_each(function()
    mock = http.mock()
    http.mock.install(mock) -- every session made from here on answers from mock
    api = users_client("t0ken")
  end)

  after_each(function()
    api.close()
    http.mock.uninstall()
  end)

  it("fetches a user", function()
    mock:get("/v1/users/1", { json = { id = 1, name = "Ada" } })
    assert.same({ id = 1, name = "Ada" }, api.get(1))
    assert.equal("Bearer t0ken", mock.calls[1].headers.authorization)
    assert.equal("application/json", mock.calls[1].headers.accept)
  end)

  it("creates a user with a JSON body", function()
    mock:post("/v1/users", function(req)
      local u = req:json()
      u.id = 7
      return { status = 201, json = u }
    end)
    assert.same({ id = 7, name = "Grace" }, api.create { name = "Grace" })
    assert.equal('{"name":"Grace"}', mock.calls[1].body)
    assert.equal(1, mock:called("POST", "/v1/users"))
  end)

  it("raises HTTPError on a 404", function()
    mock:get("^/v1/users/%d+$", { status = 404, json = { error = "no such user" } })
    local ok, err = pcall(api.get, 99)
    assert.is_false(ok)
    assert.equal("HTTPError", err.kind)
    assert.json_field(err.response, "error", "no such user")
  end)

  it("rides out a 503 storm with retries", function()
    mock:get("/v1/users/2", { status = 503, headers = { ["Retry-After"] = "0" } }, { times = 2 })
    mock:get("/v1/users/2", { json = { id = 2, name = "Alan" } })
    assert.equal("Alan", api.get(2).name)
    assert.equal(3, mock:called("GET", "/v1/users/2"))
  end)

  it("reports a connect timeout as a transport error", function()
    mock:get("/v1/users/3", { error = "ConnectTimeout" })
    local ok, err = pcall(api.get, 3)
    assert.is_false(ok)
    assert.equal("ConnectTimeout", err.kind)
    assert.equal(3, err.attempts) -- connection failures are retried too
  end)

  it("gives up on a slow answer with ReadTimeout", function()
    mock:get("/v1/users/4", { delay = 2, json = { id = 4 } })
    local ok, err = pcall(api.get, 4)
    assert.is_false(ok)
    assert.equal("ReadTimeout", err.kind)
  end)

  it("logs in with a form and keeps the session cookie", function()
    mock:post("/v1/login", { status = 204, headers = { ["Set-Cookie"] = "sid=s1; Path=/v1; HttpOnly" } })
    mock:get("/v1/me", function(req)
      if req.headers.cookie ~= "sid=s1" then return { status = 401 } end
      return { json = { name = "Ada" } }
    end)
    api.login("ada", "pw")
    assert.equal("password=pw&user=ada", mock.calls[1].body)
    assert.equal("Ada", api.me().name)
  end)

  it("walks every page over Link headers", function()
    mock:get("/v1/users", { json = { { name = "a" }, { name = "b" } },
      headers = { Link = '</v1/users?page=2>; rel="next"' } }, { times = 1 })
    mock:get("/v1/users", { json = { { name = "c" } } }, { query = { page = "2" } })
    assert.same({ "a", "b", "c" }, api.all())
    mock:assert_all_called()
  end)

  it("never reaches the network for a request no route answers", function()
    local ok, err = pcall(api.get, 5)
    assert.is_false(ok)
    assert.equal("ConnectionError", err.kind)
    assert.matches("no mock route matches GET /v1/users/5", err.message, 1, true)
    assert.equal(0, #mock.calls)
  end)
end)
