-- scripts/login_then_fetch.lua against the login app (helper.app): the
-- script runs as a user would run it (lurl when LURL_BIN is set, as under
-- ctest, else lua5.4), and the test checks both what it printed and what
-- the application saw: every request in order, the CSRF token and the
-- pre-session cookie it belongs to, one session cookie carried from the
-- login to the logout, the bearer token the API got being the one issued,
-- and no secret in the script's output.  The app's own rules (CSRF bound
-- to the pre-session, protected pages, bearer-only API) are checked too,
-- since the script proves nothing if the app lets anyone in.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local APP = assert(helper.app, "spec/helper.lua does not serve the login app (helper.app)")
local SCRIPT = "scripts/login_then_fetch.lua"

local must = support.must

local denull = support.denull

-- the app's recorder: requests after `since`, the tokens it issued, and
-- the last sequence number
local function app_log(since)
  local res = must(http.get(APP .. "/login-log", { params = { since = math.tointeger(since or 0) } }))
  local ok, v = pcall(cjson.decode, res.body)
  if not ok then error(("login-log %d: %s"):format(res.status, res.body:sub(1, 300))) end
  return denull(v)
end

local q = support.q

-- runs the script; returns stdout+stderr, the exit code
local function run_script(args, env)
  local cmd = { "env", "-u APP_URL", "-u APP_USER", "-u APP_PASSWORD" }
  for k, v in pairs(env or {}) do cmd[#cmd + 1] = q(k .. "=" .. v) end
  cmd[#cmd + 1] = q("LUA_CPATH=" .. package.cpath)
  cmd[#cmd + 1] = q("LUA_PATH=" .. package.path)
  cmd[#cmd + 1] = q(os.getenv("LURL_BIN") or "lua5.4")
  cmd[#cmd + 1] = q(SCRIPT)
  for _, a in ipairs(args or {}) do cmd[#cmd + 1] = q(a) end
  local p = assert(io.popen(table.concat(cmd, " ") .. " 2>&1", "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function lines(text)
  local out = {}
  for l in text:gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

-- "METHOD path status" for each recorded request
local function summary(reqs)
  local out = {}
  for i, r in ipairs(reqs) do out[i] = ("%s %s %d"):format(r.method, r.path, r.status) end
  return out
end

---------------------------------------------------------------------------

describe("scripts/login_then_fetch.lua", function()
  -- one run of the script, shared by the three tests below
  local run
  local function run_once()
    if not run then
      local since = app_log().last
      local out, code = run_script { APP }
      run = { out = out, code = code, log = app_log(since) }
    end
    return run
  end

  it("logs in, fetches the page and the API, logs out, and prints each step", function()
    local r = run_once()
    assert.equal(0, r.code, r.out)
    local l = lines(r.out)
    assert.equal(8, #l, r.out)
    assert.truthy(l[1]:find("^step 1: GET /login %-> 200, CSRF token found %(32 chars%), cookies: presession$"), l[1])
    assert.equal("step 2: POST /login as alice -> 302 -> /account 200, cookies: session", l[2])
    assert.equal('step 3: GET /account -> 200, page says "Account of alice"', l[3])
    assert.equal("step 4: POST /api/token -> 200, Bearer token received (32 chars)", l[4])
    assert.equal("step 5: GET /api/me with the token -> 200, user alice", l[5])
    assert.equal("step 6: POST /logout -> 200, logged out: true, cookies left: none", l[6])
    assert.equal("step 7: GET /account after logout -> 302 to /login?next=/account", l[7])
    assert.equal("done: logged in, fetched the account page and the API, logged out", l[8])
  end)

  it("did what a browser does, as the app saw it", function()
    local log = run_once().log
    local reqs = log.requests
    assert.same({
      "GET /login 200",
      "POST /login 302",
      "GET /account 200",     -- the redirect after the login
      "GET /account 200",     -- step 3
      "POST /api/token 200",
      "GET /api/me 200",
      "POST /logout 200",
      "GET /account 302",
    }, summary(reqs))

    -- the form was posted with the token, bound to the cookie it came with
    assert.is_nil(reqs[1].cookies.presession, "a pre-session cookie existed before the form")
    local pre = reqs[2].cookies.presession
    assert.truthy(pre, "the login POST carried no pre-session cookie")
    assert.equal("alice", reqs[2].form.user)
    assert.equal("***", reqs[2].form.password)
    assert.equal(32, #reqs[2].form.csrf_token)
    assert.equal("application/x-www-form-urlencoded", reqs[2].content_type)

    -- one session cookie from the login to the logout, then none
    local sid = reqs[3].cookies.session
    assert.truthy(sid, "the redirect after the login carried no session cookie")
    for i = 3, 7 do
      assert.equal(sid, reqs[i].cookies.session, "request " .. i .. " lost the session")
      assert.is_nil(reqs[i].cookies.presession, "the deleted pre-session cookie was sent again")
    end
    assert.is_nil(reqs[8].cookies.session, "the session cookie survived the logout")

    -- the API got the token the app issued to that session, as a bearer
    local issued
    for _, t in ipairs(log.tokens) do
      if t.session == sid then issued = t end
    end
    assert.truthy(issued, "no token was issued to the script's session")
    assert.equal("alice", issued.user)
    assert.equal("Bearer " .. issued.token, reqs[6].authorization)
    for i, r in ipairs(reqs) do
      if i ~= 6 then assert.is_nil(r.authorization, "request " .. i .. " sent Authorization") end
    end

    -- every request came from lurl
    for _, r in ipairs(reqs) do assert.truthy(r.user_agent:find("^lurl/"), r.user_agent) end
  end)

  it("never printed a secret", function()
    local r = run_once()
    local reqs = r.log.requests
    local secrets = { "wonderland" }
    for _, t in ipairs(r.log.tokens) do secrets[#secrets + 1] = t.token end
    for _, e in ipairs(reqs) do
      for _, v in pairs(e.cookies) do secrets[#secrets + 1] = v end
    end
    assert.truthy(#secrets >= 4)
    for _, secret in ipairs(secrets) do
      assert.is_nil(r.out:find(secret, 1, true), "the script printed a secret")
    end
  end)

  it("takes the URL from APP_URL", function()
    local since = app_log().last
    local out, code = run_script({}, { APP_URL = APP })
    assert.equal(0, code, out)
    assert.equal(8, #app_log(since).requests)
  end)

  it("stops at step 2 with status 1 when the password is wrong", function()
    local since = app_log().last
    local out, code = run_script({ APP }, { APP_PASSWORD = "not-it" })
    assert.equal(1, code, out)
    assert.truthy(out:find("step 2 failed: POST /login answered 401", 1, true), out)
    assert.is_nil(out:find("not-it", 1, true))
    assert.same({ "GET /login 200", "POST /login 401" }, summary(app_log(since).requests))
  end)

  it("prints its usage and exits 2 without a URL", function()
    local out, code = run_script {}
    assert.equal(2, code, out)
    assert.truthy(out:find("usage: lurl login_then_fetch.lua APP_URL", 1, true), out)
  end)

  it("fails at step 1 with status 1 when nothing listens", function()
    local out, code = run_script { "http://127.0.0.1:" .. helper.dead_port }
    assert.equal(1, code, out)
    assert.truthy(out:find("step 1 failed: ConnectionError", 1, true), out)
  end)
end)

describe("the login app's rules", function()
  it("refuses a login without the form's CSRF token, or with another visitor's", function()
    local since = app_log().last
    local s <close> = http.session { base_url = APP }
    local res = must(s:post("/login", { data = { user = "alice", password = "wonderland" }, allow_redirects = false }))
    assert.equal(403, res.status)
    -- a token from another session's form does not match our pre-session cookie
    local other <close> = http.session { base_url = APP }
    local token = must(other:get("/login")).text:match('name="csrf_token" value="([^"]+)"')
    must(s:get("/login"))
    res = must(s:post("/login", { data = { user = "alice", password = "wonderland", csrf_token = token },
      allow_redirects = false }))
    assert.equal(403, res.status)
    assert.is_nil(s.cookies:get("session"))
    assert.same({ "POST /login 403", "GET /login 200", "GET /login 200", "POST /login 403" },
      summary(app_log(since).requests))
  end)

  it("keeps /account, /api/token and /api/me closed without credentials", function()
    local s <close> = http.session { base_url = APP, allow_redirects = false }
    local res = must(s:get("/account"))
    assert.equal(302, res.status)
    assert.equal("/login?next=/account", res.headers["Location"])
    assert.equal(401, must(s:post("/api/token")).status)
    res = must(s:get("/api/me", { auth = http.bearer("made-up") }))
    assert.equal(401, res.status)
    assert.truthy(res.headers["WWW-Authenticate"]:find("^Bearer"))
  end)

  it("the bearer token works without the cookie, the cookie does not work for the API", function()
    local s <close> = http.session { base_url = APP }
    local token = must(s:get("/login")).text:match('name="csrf_token" value="([^"]+)"')
    assert.equal(200, must(s:post("/login", { data = { user = "alice", password = "wonderland", csrf_token = token } })).status)
    assert.equal(401, must(s:get("/api/me")).status)
    local bearer = must(s:post("/api/token")):json().access_token
    local me = must(http.get(APP .. "/api/me", { auth = http.bearer(bearer) })):json()
    assert.same({ user = "alice", scopes = { "read" } }, me)
  end)
end)
