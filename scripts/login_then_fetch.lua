-- login_then_fetch.lua: logging into a web application the way a browser
-- does, with one lurl session.  It fetches the login page, reads its form
-- (res:html() and doc:form(): the hidden CSRF token among the fields),
-- submits it with the credentials (the session's cookie
-- jar keeps the pre-session cookie the token is bound to, then the session
-- cookie the login sets), follows the redirect to the protected page,
-- trades the session for a bearer token, calls the JSON API with it, and
-- logs out.  Each step prints one line; cookie values and the token are
-- secrets and are never printed.
--
-- The application is the fixture app of lurl's test suite (spec/servers/
-- app.py with app_login.py: user "alice", password "wonderland").  Start it
-- from the repository root, then run the script:
--   /usr/bin/gunicorn --chdir spec/servers -k gthread --threads 8 -b 127.0.0.1:8000 app:app &
--   lurl scripts/login_then_fetch.lua http://127.0.0.1:8000
-- or put the URL in APP_URL instead of arg[1].  APP_USER and APP_PASSWORD
-- override the credentials.  Exit status: 0 when every step worked, 1 when
-- one failed (stderr says which), 2 without a URL.
local http = require "http"

local base = arg[1] or os.getenv("APP_URL")
if not base or base == "" then
  io.stderr:write("usage: lurl login_then_fetch.lua APP_URL (or set APP_URL)\n")
  os.exit(2)
end
local user = os.getenv("APP_USER") or "alice"
local password = os.getenv("APP_PASSWORD") or "wonderland"

local step = 0

local function say(fmt, ...)
  print(("step %d: " .. fmt):format(step, ...))
end

-- Stops the script with the step that failed; exit status 1.
local function fail(fmt, ...)
  io.stderr:write(("step %d failed: " .. fmt .. "\n"):format(step, ...))
  os.exit(1)
end

-- res, err -> res, or a failure naming the transport error.
local function check(res, err)
  if not res then fail("%s", tostring(err)) end
  return res
end

-- The names of the cookies in the jar, never their values.
local function cookie_names(s)
  local names = {}
  for _, c in ipairs(s.cookies:list()) do names[#names + 1] = c.name end
  table.sort(names)
  return #names > 0 and table.concat(names, ", ") or "none"
end

-- One session for the whole visit: it keeps the cookies, reuses the
-- connection and resolves every path against the application's URL.
local s <close> = http.session { base_url = base, timeout = 10,
  headers = { Accept = "text/html,application/json;q=0.9" } }

-- 1. The login form.  The CSRF token in its hidden field only validates
--    together with the pre-session cookie this response sets.
step = 1
local res = check(s:get("/login"))
if res.status ~= 200 then fail("GET /login answered %d", res.status) end
local form = res:html():form("form[action$='/login']")
if not form then fail("no login form on the page") end
local csrf = form.fields.csrf_token
if not csrf then fail("no csrf_token field in the login form") end
say("GET /login -> %d, CSRF token found (%d chars), cookies: %s", res.status, #csrf, cookie_names(s))

-- 2. Submit the form with the credentials filled in: it posts to its
--    action with every field it holds.  The app answers 302 to /account;
--    a 302 after a POST is followed with a GET, carrying the new cookie.
step = 2
res = check(form:submit(s, { user = user, password = password }))
if res.status ~= 200 or not res.history or #res.history == 0 then
  fail("POST /login answered %d (wrong user or password?)", (res.history and res.history[1] or res).status)
end
say("POST /login as %s -> %d -> %s %d, cookies: %s", user, res.history[1].status,
  res.url:sub(#base + 1), res.status, cookie_names(s))

-- 3. The protected page, now that the jar holds the session cookie.
step = 3
res = check(s:get("/account", { allow_redirects = false }))
if res.status ~= 200 then fail("GET /account answered %d: not logged in", res.status) end
local heading = res.text:match("<h1>(.-)</h1>")
say('GET /account -> %d, page says "%s"', res.status, heading or "?")

-- 4. A bearer token for the API, issued to the logged-in session.
step = 4
res = check(s:post("/api/token"))
if res.status ~= 200 then fail("POST /api/token answered %d", res.status) end
local token = res:json().access_token
if type(token) ~= "string" then fail("no access_token in the answer") end
say("POST /api/token -> %d, %s token received (%d chars)", res.status, res:json().token_type, #token)

-- 5. The JSON API takes the token, not the cookie.
step = 5
res = check(s:get("/api/me", { auth = http.bearer(token), headers = { Accept = "application/json" } }))
if res.status ~= 200 then fail("GET /api/me answered %d", res.status) end
say("GET /api/me with the token -> %d, user %s", res.status, tostring(res:json().user))

-- 6. Log out: the app ends the session and expires its cookie.
step = 6
res = check(s:post("/logout"))
if res.status ~= 200 then fail("POST /logout answered %d", res.status) end
say("POST /logout -> %d, logged out: %s, cookies left: %s", res.status,
  tostring(res:json().logged_out), cookie_names(s))

-- 7. The protected page is closed again: the app sends us to the form.
step = 7
res = check(s:get("/account", { allow_redirects = false }))
if res.status ~= 302 then fail("GET /account after logout answered %d", res.status) end
say("GET /account after logout -> %d to %s", res.status, res.headers["Location"])

print("done: logged in, fetched the account page and the API, logged out")
