-- lurl.redact: the one set of redaction rules.
--
-- Traces (lurl.trace), HAR recordings (lurl.har), http.assert failure
-- messages and error objects all redact through this module, and this
-- module through runtime/redact.c for URLs (core.redact, core.url_secrets,
-- core.scrub), so a secret reads "***" the same way everywhere.  What is
-- secret is a closed list (SPEC, Errors; docs/debugging.md):
--   * header values: Authorization and Proxy-Authorization (a known scheme
--     word is kept), Cookie and Set-Cookie (names and attributes kept),
--     X-Api-Key, Api-Key, X-Auth-Token, X-Access-Token, X-Amz-Security-Token
--     (whole value);
--   * URLs, in request lines, errors and the Location, Content-Location and
--     Referer headers: the user part and the values of the query parameters
--     access_token, token, api_key, apikey, client_secret, password, sig,
--     signature, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token;
--   * plus the names given with the `redact` option (session or request):
--     header fields whose value is hidden whole, and query parameters.
-- Bodies (HAR content, assert excerpts) are scrubbed of the secret strings
-- an exchange carried, in every form a server may echo them: the raw and
-- decoded values above, Basic credentials, the proxy's credentials and the
-- cookie values of the jars.
--
-- A context (`ctx`) carries what a session or a request adds: {names =
-- lower-case array of extra names, set = the same as a set, proxies =
-- array of proxy URLs, share = the session's cookie share or nil}.
local core = require "http.core"
local cookie = require "lurl.cookie"

local M = {}

local type, tostring, pairs, ipairs = type, tostring, pairs, ipairs
local find, sub, lower, byte, char = string.find, string.sub, string.lower, string.byte, string.char
local concat = table.concat

local MASK = "***"
M.MASK = MASK

-- how each secret header field is shown
local SECRET_FIELDS = {
  ["authorization"] = "auth", ["proxy-authorization"] = "auth",
  ["cookie"] = "cookie", ["set-cookie"] = "set-cookie",
  ["x-api-key"] = "whole", ["api-key"] = "whole", ["x-auth-token"] = "whole",
  ["x-access-token"] = "whole", ["x-amz-security-token"] = "whole", -- http.aws_sigv4's
  -- URLs, redacted like a request URL (a Location can carry a password)
  ["location"] = "url", ["content-location"] = "url", ["referer"] = "url",
}
local SCHEMES = { basic = true, bearer = true, digest = true, negotiate = true,
  ntlm = true, token = true, ["aws4-hmac-sha256"] = true, hoba = true, mutual = true }

-- Secret strings shorter than this are not hunted for in free text: a
-- cookie "id=1" would otherwise turn every "1" of a body into "***".
local MIN_SECRET = 3
M.MIN_SECRET = MIN_SECRET

------------------------------------------------------------------ contexts

-- The stack level of the first function outside lurl's own Lua files, as
-- seen from the function calling this one's caller: argument errors point
-- at the user's line, however many (tail) calls lurl made on the way.
local function user_level()
  local getinfo = debug and debug.getinfo
  if not getinfo then return 1 end
  local level = 3
  while true do
    local info = getinfo(level, "S")
    if not info then return 1 end
    local src = info.source
    if info.what ~= "C" and not (src:find("^@lua/http/") or src:find("^@lua/lurl/")) then
      return level - 1
    end
    level = level + 1
  end
end
M.user_level = user_level

-- names(v, fname, argn) -> lower-case array of the `redact` option's
-- names, or nil.  Raises an argument error naming the field otherwise.
function M.names(v, fname, argn)
  if v == nil or v == false then return nil end
  local function bad(why)
    error(("bad argument #%d to '%s' (field 'redact': %s)"):format(argn or 1, fname or "session", why),
      user_level())
  end
  if type(v) == "string" then v = { v } end
  if type(v) ~= "table" then bad("array of header or parameter names expected, got " .. type(v)) end
  local out = {}
  for i = 1, #v do
    local s = v[i]
    if type(s) ~= "string" or s == "" then
      bad(("item %d: non-empty name string expected, got %s"):format(i, type(s) == "string" and "\"\"" or type(s)))
    end
    out[#out + 1] = lower(s)
  end
  for k in pairs(v) do
    if math.type(k) ~= "integer" or k < 1 or k > #v then bad("array of names expected (not a map)") end
  end
  return #out > 0 and out or nil
end

local function add_proxies(list, o)
  if type(o) ~= "table" then return end
  if type(o.proxy) == "string" then list[#list + 1] = o.proxy end
  if type(o.proxies) == "table" then
    for _, p in pairs(o.proxies) do
      if type(p) == "string" then list[#list + 1] = p end
    end
  end
end

-- context(defaults, opts, base, fname, argn) -> ctx or nil: the names and
-- proxies of a session's defaults and a request's options, on top of
-- `base` (a session's context).
function M.context(defaults, opts, base, fname, argn)
  local names, set, proxies = {}, {}, {}
  local function add_names(list)
    for _, n in ipairs(list or {}) do
      if not set[n] then set[n] = true; names[#names + 1] = n end
    end
  end
  if base then
    add_names(base.names)
    for _, p in ipairs(base.proxies) do proxies[#proxies + 1] = p end
  end
  if defaults then
    add_names(M.names(defaults.redact, fname, argn))
    add_proxies(proxies, defaults)
  end
  if opts then
    add_names(M.names(opts.redact, fname, argn))
    add_proxies(proxies, opts)
  end
  if #names == 0 and #proxies == 0 then return nil end
  return { names = #names > 0 and names or nil, set = set, proxies = proxies }
end

local function names_of(ctx) return ctx and ctx.names end

------------------------------------------------------------------ showing

-- url(u, ctx) -> u with its secret parts as "***".
function M.url(u, ctx)
  if type(u) ~= "string" then return u end
  return core.redact(u, names_of(ctx))
end

local function how(name, ctx)
  local l = lower(tostring(name))
  local h = SECRET_FIELDS[l]
  if h == nil and ctx and ctx.set[l] then h = "whole" end
  return h
end

-- Is this header field one whose value is hidden (wholly or in part)?
function M.is_secret_header(name, ctx)
  local h = how(name, ctx)
  return h ~= nil and h ~= "url"
end

-- header(name, value, ctx) -> the value safe to show.
--   Authorization: Bearer abc   -> Bearer ***
--   Cookie: a=1; b=2            -> a=***; b=***
--   Set-Cookie: s=abc; Path=/   -> s=***; Path=/
--   Location: https://u:pw@h/   -> https://u:***@h/
function M.header(name, value, ctx)
  local h = how(name, ctx)
  if not h then return value end
  value = tostring(value)
  if h == "url" then return core.redact(value, names_of(ctx)) end
  if h == "auth" then
    local v = cookie.trim(value)
    local sp = find(v, "%s")
    local scheme = sp and sub(v, 1, sp - 1)
    if scheme and SCHEMES[lower(scheme)] and find(v, "%S", sp) then return scheme .. " " .. MASK end
    return MASK
  elseif h == "cookie" then
    local out = {}
    for n in cookie.pairs(value) do out[#out + 1] = n and (n .. "=" .. MASK) or MASK end
    return concat(out, "; ")
  elseif h == "set-cookie" then
    local n, _, attrs = cookie.set_cookie(value)
    if not n then return MASK end
    return n .. "=" .. MASK .. attrs
  end
  return MASK
end

-- list(pairs, ctx) -> a redacted copy of a {name, value} list.
function M.list(list, ctx)
  local out = {}
  for i, f in ipairs(list or {}) do out[i] = { f[1], M.header(f[1], f[2], ctx) } end
  return out
end

-- The request headers of a response as {name, value} pairs, in the order
-- lurl set them (res.request.headers is a map; the raw block keeps order).
function M.request_pairs(res)
  local raw = rawget(res, "_reqhead")
  if raw == nil and type(res) == "table" and getmetatable(res) then
    local ok, v = pcall(function() return res._reqhead end)
    if ok then raw = v end
  end
  if type(raw) == "string" then
    local _, list = core.parse_headers("HTTP/1.1 0 x\r\n" .. raw)
    return list
  end
  local list = {}
  local req = res.request
  for k, v in pairs(type(req) == "table" and type(req.headers) == "table" and req.headers or {}) do
    list[#list + 1] = { k, v }
  end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

------------------------------------------------------------------ secrets

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64V = {}
for i = 1, 64 do B64V[byte(B64, i)] = i - 1 end

local function ch(n) return sub(B64, n + 1, n + 1) end

local function b64encode(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = byte(s, i, i + 2)
    local v = (a << 16) | ((b or 0) << 8) | (c or 0)
    out[#out + 1] = ch((v >> 18) & 63) .. ch((v >> 12) & 63) ..
      (b and ch((v >> 6) & 63) or "=") .. (c and ch(v & 63) or "=")
  end
  return concat(out)
end
M.base64 = b64encode

local function b64decode(s)
  local bits, acc, out = 0, 0, {}
  for i = 1, #s do
    local v = B64V[byte(s, i)]
    if v then
      acc = ((acc << 6) | v) & 0xFFFFFF
      bits = bits + 6
      if bits >= 8 then
        bits = bits - 8
        out[#out + 1] = char((acc >> bits) & 0xFF)
      end
    end
  end
  return concat(out)
end

M.base64_decode = b64decode

local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local function add(set, s)
  if type(s) == "string" and #s >= MIN_SECRET then set[s] = true end
end

-- The forms of "user:password" credentials a server may echo: the
-- password raw and decoded, and the Basic header libcurl builds.
local function add_userinfo(set, user, pw)
  add(set, pw)
  add(set, unescape(pw))
  add(set, b64encode(unescape(user) .. ":" .. unescape(pw)))
end

-- add_url(set, u, ctx): the secrets of a URL (its user part, the values of
-- its secret query parameters) raw, decoded and as Basic credentials.
function M.add_url(set, u, ctx)
  if type(u) ~= "string" then return end
  local t = core.url_secrets(u, names_of(ctx))
  for _, v in ipairs(t) do
    add(set, v)
    add(set, unescape(v))
    add(set, unescape((v:gsub("%+", " "))))
  end
  if t.password then
    local colon = find(t.userinfo, ":", 1, true)
    add_userinfo(set, sub(t.userinfo, 1, colon - 1), t.password)
  elseif t.user then
    add(set, t.user)
    add(set, unescape(t.user))
    local user = t.user
    if sub(user, -1) == ":" then user = sub(user, 1, -2) end
    add(set, user)
    add(set, b64encode(unescape(user) .. ":"))
  end
end

-- add_header(set, name, value, ctx): the credentials one header carries,
-- in every form a server may echo them.
function M.add_header(set, name, value, ctx)
  local h = how(name, ctx)
  if not h then return end
  value = tostring(value)
  if h == "url" then return M.add_url(set, value, ctx) end
  if h == "auth" then
    local v = cookie.trim(value)
    local sp = find(v, "%s")
    local scheme = sp and sub(v, 1, sp - 1)
    local cred = sp and cookie.trim(sub(v, sp + 1))
    -- with a known scheme only the credentials are secret, so an echo
    -- reads "Bearer ***" like the header does
    if not (scheme and SCHEMES[lower(scheme)]) then add(set, v) end
    if cred then
      add(set, cred)
      if lower(scheme) == "basic" then
        local plain = b64decode(cred)
        add(set, plain)
        local colon = find(plain, ":", 1, true)
        if colon then add(set, sub(plain, colon + 1)) end
      end
    end
  elseif h == "cookie" then
    for n, v in cookie.pairs(value) do if n then add(set, v) end end
  elseif h == "set-cookie" then
    local n, v = cookie.set_cookie(value)
    if n then add(set, v) end
  else
    add(set, cookie.trim(value))
  end
end

-- A proxy URL's credentials: what libcurl sends as Proxy-Authorization.
local function add_proxy(set, p)
  if type(p) ~= "string" then return end
  local t = core.url_secrets(p)
  if t.password then
    local colon = find(t.userinfo, ":", 1, true)
    add_userinfo(set, sub(t.userinfo, 1, colon - 1), t.password)
  elseif t.user then
    add(set, t.user)
    add(set, unescape(t.user))
    add(set, b64encode(unescape(t.user) .. ":"))
  end
end

local ENV_PROXIES = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY" }

-- add_jar(set, share): the values of the cookies in a session's jar.
function M.add_jar(set, share)
  local ok, lines = pcall(core.cookie_lines, share)
  if not ok or type(lines) ~= "table" then return end
  for _, line in ipairs(lines) do
    -- the value is the last tab-separated field of a Netscape line
    local tab = line:match("^.*()\t")
    if tab then add(set, sub(line, tab + 1)) end
  end
end

-- add_context(set, ctx): what a context adds (proxy credentials), the
-- proxies of the environment (libcurl uses them), and the cookie values
-- of the jars: the context's session's, or every open session's.
function M.add_context(set, ctx)
  for _, p in ipairs(ctx and ctx.proxies or {}) do add_proxy(set, p) end
  local getenv = os and os.getenv
  if getenv then
    for _, e in ipairs(ENV_PROXIES) do add_proxy(set, getenv(e)) end
  end
  if ctx and ctx.share then
    M.add_jar(set, ctx.share)
  elseif core.open_jars then
    for share in pairs(core.open_jars) do M.add_jar(set, share) end
  end
end

-- secrets(res, set, ctx) -> set: every secret string an exchange carried
-- (request credentials and cookies, cookies the response set, URL
-- secrets, the Location's), looking into the earlier hops of a redirect
-- chain too.  The response's own context (res._redact, from the request's
-- options) is used when ctx is not given.
function M.secrets(res, set, ctx)
  set = set or {}
  if type(res) ~= "table" then return set end
  ctx = ctx or rawget(res, "_redact")
  local req = rawget(res, "request") or (getmetatable(res) and res.request)
  if type(req) == "table" then M.add_url(set, req.url, ctx) end
  for _, f in ipairs(M.request_pairs(res)) do M.add_header(set, f[1], f[2], ctx) end
  M.add_url(set, res.url, ctx)
  if type(res.header_list) == "table" then
    for _, f in ipairs(res.header_list) do M.add_header(set, f[1], f[2], ctx) end
  end
  local hist = rawget(res, "history")
  if type(hist) == "table" then
    for _, h in ipairs(hist) do M.secrets(h, set, ctx) end
  end
  return set
end

-- secret_list(set) -> the set as an array, longest first (so a secret
-- that contains another is replaced whole).
function M.secret_list(set)
  local list = {}
  for s in pairs(set) do list[#list + 1] = s end
  table.sort(list, function(a, b) return #a > #b or (#a == #b and a < b) end)
  return list
end

-- scrub(text, list [, i, j]) -> text with every occurrence of each
-- secret of the list (from secret_list) replaced by "***", in one pass
-- whatever the number of secrets.  With i, j: that range of the text (as
-- string.sub counts), a secret crossing its edges masked too.
function M.scrub(text, list, i, j)
  if type(text) ~= "string" then return text end
  if not list or #list == 0 then return i and text:sub(i, j or -1) or text end
  return core.scrub(text, list, i, j)
end

-- excerpt(text, list, i, j) -> text:sub(i, j) scrubbed of the secrets of
-- the list (longest first), those crossing its edges included; the work is
-- bounded by the range and the longest secret, not by the whole text.
function M.excerpt(text, list, i, j)
  local n = #text
  i, j = math.max(1, i), math.min(n, j)
  if i > j then return "" end
  local longest = list[1] and #list[1] or 0
  local wi, wj = math.max(1, i - longest), math.min(n, j + longest)
  return M.scrub(text:sub(wi, wj), list, i - wi + 1, j - wi + 1)
end

-- response_secrets(res) -> the secret list for text about one response:
-- its exchange's secrets, its context's proxies, the environment's
-- proxies and the cookie values of open sessions' jars.
function M.response_secrets(res)
  local ctx = rawget(res, "_redact")
  local set = M.secrets(res, {}, ctx)
  M.add_context(set, ctx)
  return M.secret_list(set)
end

------------------------------------------------------------------ errors

-- error(err, ctx, url): applies a context's extra names to an error object
-- made in C (which knows the closed list only), in place: err.url, and
-- the message when it quotes the request URL's secrets.
function M.error(err, ctx, url)
  if type(err) ~= "table" or not names_of(ctx) then return err end
  if type(err.url) == "string" then err.url = core.redact(err.url, ctx.names) end
  if type(err.message) == "string" then
    local set = {}
    M.add_url(set, url, ctx)
    M.add_url(set, err.url, ctx)
    err.message = M.scrub(err.message, M.secret_list(set))
  end
  return err
end

-- error_text(err, ctx) -> tostring(err) with the context's names applied.
function M.error_text(err, ctx)
  if type(err) ~= "table" then return tostring(err) end
  if not names_of(ctx) then return tostring(err) end
  local copy = { kind = err.kind, message = err.message, method = err.method, url = err.url }
  M.error(copy, ctx, err.url)
  if copy.method and copy.url then
    return ("%s: %s (%s %s)"):format(tostring(copy.kind), tostring(copy.message), copy.method, copy.url)
  end
  return ("%s: %s"):format(tostring(copy.kind), tostring(copy.message))
end

return M
