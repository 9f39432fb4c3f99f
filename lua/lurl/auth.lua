-- lurl.auth: the auth flows lurl computes itself (SPEC, Auth flows):
-- `auth = function(req)`, http.aws_sigv4{} and http.oauth2{}.
--
-- lurl.options finds them (M.is_flow) and puts the flow in the resolved
-- call (c.auth); lurl.exchange then calls M.prepare before each hop it
-- sends with auth (every retry, every redirect hop that keeps the origin:
-- a hop flagged STRIP_AUTH gets M.strip instead), and M.stale after a 401.
-- Flows libcurl computes (digest, NTLM, Negotiate, netrc) and the plain
-- basic and bearer headers never come here: runtime/request_head.c does
-- them.
--
-- A hop's request as an auth function sees it: {method, url, headers,
-- body}: url with `params` in its query (encoded as core.start encodes
-- them), headers the session's and the call's merged (names as given),
-- body the bytes that will be sent (json encoded, data form-encoded,
-- files as the multipart body lurl then sends itself) or nil for a body
-- read from a file or a function.  What the function leaves in
-- req.headers is sent; the hop goes to core.start with those headers,
-- the body as a string and auth = false.
local core = require "http.core"
local redirect = require "lurl.redirect"

local M = {}

local STRIP_AUTH, NO_PARAMS, DROP_BODY = redirect.STRIP_AUTH, redirect.NO_PARAMS, redirect.DROP_BODY
local sha256, hmac, hex, b64 = core.sha256, core.hmac, core.hex, core.base64
local cerror = core.error
-- the auth a hop's core.start gets once a flow has set its headers: no
-- credentials of libcurl's or lurl's C side, and the URL's dropped
-- (runtime/request_head.c, apply_auth; request.c, url_for_auth)
local FLOW_DONE = { scheme = "flow" }
-- Captured at load: a limited state has no `io` or `os` once its scripts run.
local io_type = io and io.type or function() return nil end
local io_open = io and io.open
-- A limited state's environment is its host's, not the script's: its
-- AWS_* variables are never read there (as LURL_TRACE is not).
local getenv = not core.limited() and os and os.getenv or function() return nil end

-- Is the auth option a flow of this module?  A function, or an object
-- made by http.aws_sigv4 / http.oauth2 (their `sign` field).
function M.is_flow(a)
  return type(a) == "function" or (type(a) == "table" and rawget(a, "sign") ~= nil)
end

local function opt(o, d, k)
  local v = o and o[k]
  if v == nil then v = d[k] end
  return v
end

local function copy(t)
  local o = {}
  if t then for k, v in pairs(t) do o[k] = v end end
  return o
end

-- The header named name (any case) in h: its key and value.
local function find_header(h, name)
  name = name:lower()
  for k, v in pairs(h) do
    if type(k) == "string" and k:lower() == name then return k, v end
  end
end

local function set_header(h, name, value)
  local k = find_header(h, name)
  while k do
    h[k] = nil
    k = find_header(h, name)
  end
  h[name] = value
end

------------------------------------------------------------ the hop's body

local function sorted(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks, function(a, b) return tostring(a) < tostring(b) end)
  return ks
end

-- The multipart body of `files` (and `data`) as lurl sends it when an
-- auth flow needs its bytes: lurl.transport's encoder, the parts
-- runtime/mime.c would make in the same order.  Returns body, content
-- type; nil when a file cannot be read here (a state without io: libcurl
-- then streams it, unsigned).
local function multipart(files, data, fname, argn)
  if not io_open then
    for _, f in pairs(files) do
      if type(f) == "table" and f.path then return nil end
    end
  end
  return require("lurl.transport").multipart(files, data, fname, argn)
end

-- The bytes the hop sends, its default content type, and the open file a
-- body is read from (nil: none).  `false` for a body from a function.
local function hop_body(opts, d, flags, fname, argn)
  if (flags & DROP_BODY) ~= 0 then return nil end
  local files = opt(opts, d, "files")
  if files ~= nil then
    if type(files) ~= "table" then return nil end -- core.start raises naming the field
    local body, ctype = multipart(files, opt(opts, d, "data"), fname, argn)
    if not body then return nil, nil, false end -- streamed by libcurl: unread here
    return body, ctype
  end
  local j = opt(opts, d, "json")
  if j ~= nil then
    local ok, body = pcall(core.config[1], j) -- raises "field 'json.x': why" (http.json)
    if not ok then error(("bad argument #%d to '%s' (%s)"):format(argn, fname, tostring(body)), 0) end
    return body, "application/json"
  end
  local data = opt(opts, d, "data")
  if type(data) == "table" then
    return core.form(data, fname, argn, "data"), "application/x-www-form-urlencoded"
  elseif type(data) == "string" then
    return data
  end
  local b = opt(opts, d, "body")
  if type(b) == "string" then return b end
  if io_type(b) == "file" then return nil, nil, b end
  if type(b) == "function" then return nil, nil, false end
  return nil
end

-- The hop's URL with `params` in its query, as core.start writes it.
local function hop_url(url, opts, d, flags, fname, argn)
  if (flags & NO_PARAMS) ~= 0 then return url, false end
  local params = opt(opts, d, "params")
  local q
  if type(params) == "table" then
    q = core.form(params, fname, argn, "params")
  elseif type(params) == "string" then
    q = params
  else
    return url, false -- none, or a bad one core.start names
  end
  if q == "" then return url, true end
  local qm = url:find("?", 1, true)
  return url .. (not qm and "?" or qm < #url and "&" or "") .. q, true
end

-- Before a hop sent with auth: runs the flow and returns the hop's url and
-- options (headers as the flow left them, body as a string, auth = false)
-- and the flow's stamp (what M.stale gets after a 401), or nil, err when
-- the flow failed (an OAuth2 token endpoint that would not answer).
function M.prepare(sess, a, method, url, opts, flags, fname, argn)
  local d = sess.defaults
  local full, had_params = hop_url(url, opts, d, flags, fname, argn)
  local headers = {}
  local dh = d.headers
  local oh = opts and opts.headers
  if dh then for k, v in pairs(dh) do headers[k] = v end end
  if oh then
    if type(oh) ~= "table" then return url, M.strip(opts) end -- core.start raises naming the field
    for k, v in pairs(oh) do
      if type(k) == "string" then
        local old = find_header(headers, k)
        if old then headers[old] = nil end
      end
      headers[k] = v
    end
  end
  for k, v in pairs(headers) do if v == false then headers[k] = nil end end
  local session_names = {} -- lower-case names of the session's headers
  if dh then for k in pairs(dh) do if type(k) == "string" then session_names[k:lower()] = k end end end
  local body, ctype, src = hop_body(opts, d, flags, fname, argn)
  if ctype and not find_header(headers, "Content-Type") then headers["Content-Type"] = ctype end
  local req = { method = method, url = full, headers = headers, body = body }
  local stamp, err
  if type(a) == "function" then
    a(req)
    if type(req.headers) ~= "table" then
      error(("bad argument #%d to '%s' (field 'auth': the function left req.headers a %s)")
        :format(argn, fname, type(req.headers)), 0)
    end
  else
    stamp, err = a:sign(req, sess, src)
    if err then return nil, err end
  end
  -- the headers sent are req.headers: a session's header the call or the
  -- flow removed is false, so core.start does not merge it back
  local sent = req.headers
  for l, k in pairs(session_names) do
    if not find_header(sent, l) then sent[k] = false end
  end
  local o = copy(opts)
  -- FLOW_DONE: core.start adds no credentials, and drops the URL's as for
  -- any auth option (an auth flow beats them, as requests' custom auth does)
  o.headers, o.auth = sent, FLOW_DONE
  if had_params then o.params = "" end
  if body then o.body, o.files, o.json, o.data = body, nil, nil, nil end
  return full, o, stamp
end

-- A hop that leaves the origin: core.start gets auth = false (it knows
-- no auth function), and no flow runs.
function M.strip(opts)
  local o = copy(opts)
  o.auth = false
  return o
end

-- After a 401 to a hop the flow signed with stamp: true when the flow
-- wants the hop sent again (OAuth2: once, with a new token).
function M.stale(a, stamp, opts, d, flags)
  if type(a) ~= "table" or not a.stale then return false end
  if (flags & DROP_BODY) == 0 then -- a body read from a file or a function is spent
    local b = opt(opts, d, "body")
    if type(b) == "function" or io_type(b) == "file" then return false end
  end
  return a:stale(stamp)
end

------------------------------------------------------------ shared helpers

local AUTH_MT -- lurl.client's, so tostring and __name are the same for every flow

local function need(fname, field, v, what)
  if type(v) ~= "string" or v == "" then
    error(("bad argument #1 to '%s' (field '%s': %s)"):format(fname, field, what), 3)
  end
  return v
end

-- RFC 3986 unreserved characters stay, everything else is %XX (upper case):
-- AWS's UriEncode.
local function uri_encode(s, keep_slash)
  return (s:gsub("[^%w%-%._~" .. (keep_slash and "/" or "") .. "]", function(ch)
    return ("%%%02X"):format(ch:byte())
  end))
end

local function pct_decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The UTC date and time of a Unix time, as SigV4 writes them
-- ("20261207T123456Z"): os.date may be gone in a limited state.
local function amz_date(t)
  t = math.floor(t)
  local days, secs = t // 86400, t % 86400
  -- days since 1970-01-01 to a civil date (Howard Hinnant's algorithm)
  local z = days + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local dd = doy - (153 * mp + 2) // 5 + 1
  local mm = mp < 10 and mp + 3 or mp - 9
  if mm <= 2 then y = y + 1 end
  return ("%04d%02d%02dT%02d%02d%02dZ"):format(y, mm, dd, secs // 3600, secs % 3600 // 60, secs % 60)
end
M.amz_date = amz_date

------------------------------------------------------------ AWS SigV4

local DEFAULT_PORT = { http = 80, https = 443 }

-- The canonical query: every pair decoded and encoded again the AWS way,
-- sorted by key, then value.
local function canonical_query(q)
  if not q or q == "" then return "" end
  local pairs_ = {}
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    pairs_[#pairs_ + 1] = { uri_encode(pct_decode(k)), uri_encode(pct_decode(v)) }
  end
  table.sort(pairs_, function(x, y)
    if x[1] ~= y[1] then return x[1] < y[1] end
    return x[2] < y[2]
  end)
  local out = {}
  for i, p in ipairs(pairs_) do out[i] = p[1] .. "=" .. p[2] end
  return table.concat(out, "&")
end

-- Signs req in place (SigV4, header form).
local function sigv4_sign(a, req, _, src)
  local url = req.url
  local scheme, host, port = core.origin(url)
  if not host then
    return nil, cerror("InvalidURL", "aws_sigv4 cannot sign this URL", req.method, url)
  end
  local rest = url:match("^%a[%w+.-]*://[^/?#]*(.*)$") or ""
  rest = rest:gsub("#.*$", "")
  local path, query = rest:match("^([^?]*)%??(.*)$")
  if path == "" then path = "/" end
  local h = req.headers
  local hostv = select(2, find_header(h, "Host"))
  if not hostv then
    hostv = host:find(":", 1, true) and "[" .. host .. "]" or host
    if port and port ~= DEFAULT_PORT[scheme] then hostv = hostv .. ":" .. port end
  end
  -- the payload's hash: the bytes sent; a file is read (and put back where
  -- it was) to hash it; a body from a function cannot be read in advance
  local payload
  if req.body then
    payload = hex(sha256(req.body))
  elseif src then
    local pos = src:seek()
    local all = src:read("a") or ""
    src:seek("set", pos)
    payload = hex(sha256(all))
  elseif src == false then
    payload = "UNSIGNED-PAYLOAD"
  else
    payload = hex(sha256(""))
  end
  local now = core.wallclock()
  local stamp = amz_date(now)
  local date = stamp:sub(1, 8)
  for _, n in ipairs { "Authorization", "X-Amz-Date", "X-Amz-Content-Sha256",
    "X-Amz-Security-Token" } do
    set_header(h, n, nil)
  end
  h["X-Amz-Date"] = stamp
  h["X-Amz-Content-Sha256"] = payload
  if a.token then h["X-Amz-Security-Token"] = a.token end
  -- the signed headers: host, content-type when there is one, x-amz-*
  local signed = { host = hostv }
  for k, v in pairs(h) do
    local l = type(k) == "string" and k:lower()
    if l and (l == "content-type" or l:sub(1, 6) == "x-amz-") then
      signed[l] = tostring(v)
    end
  end
  local names = sorted(signed)
  local canon_h = {}
  for i, n in ipairs(names) do
    canon_h[i] = n .. ":" .. signed[n]:gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "") .. "\n"
  end
  local signed_names = table.concat(names, ";")
  local cpath = a.service == "s3" and path or uri_encode(path, true)
  local creq = table.concat({ req.method, cpath, canonical_query(query), table.concat(canon_h),
    signed_names, payload }, "\n")
  local scope = date .. "/" .. a.region .. "/" .. a.service .. "/aws4_request"
  local sts = "AWS4-HMAC-SHA256\n" .. stamp .. "\n" .. scope .. "\n" .. hex(sha256(creq))
  local k = hmac("sha256", "AWS4" .. a.secret, date)
  k = hmac("sha256", k, a.region)
  k = hmac("sha256", k, a.service)
  k = hmac("sha256", k, "aws4_request")
  h["Authorization"] = "AWS4-HMAC-SHA256 Credential=" .. a.key .. "/" .. scope
    .. ", SignedHeaders=" .. signed_names .. ", Signature=" .. hex(hmac("sha256", k, sts))
  return nil
end

-- http.aws_sigv4{key=, secret=, token=, region=, service=}
function M.aws_sigv4(o, mt)
  AUTH_MT = AUTH_MT or mt
  if type(o) ~= "table" then
    error(("bad argument #1 to 'aws_sigv4' (table expected, got %s)"):format(type(o)), 2)
  end
  local key = o.key or getenv("AWS_ACCESS_KEY_ID")
  local secret = o.secret or getenv("AWS_SECRET_ACCESS_KEY")
  local token = o.token
  if token == nil and o.key == nil then token = getenv("AWS_SESSION_TOKEN") end
  if token == "" then token = nil end
  local region = o.region or getenv("AWS_REGION") or getenv("AWS_DEFAULT_REGION")
  need("aws_sigv4", "key", key, "string expected (or AWS_ACCESS_KEY_ID)")
  need("aws_sigv4", "secret", secret, "string expected (or AWS_SECRET_ACCESS_KEY)")
  if token ~= nil then need("aws_sigv4", "token", token, "string expected") end
  need("aws_sigv4", "region", region, "string expected (or AWS_REGION)")
  need("aws_sigv4", "service", o.service, "string expected")
  return setmetatable({ scheme = "aws_sigv4", key = key, secret = secret, token = token,
    region = region, service = o.service, sign = sigv4_sign }, AUTH_MT)
end

------------------------------------------------------------ OAuth2

-- Options of the session the token request does not take: its auth,
-- headers, cookies, hooks, body and streaming options.
local NOT_FOR_TOKEN = { auth = true, headers = true, cookies = true, params = true, data = true,
  json = true, files = true, body = true, stream = true, on_progress = true, progress = true,
  retry = true, hooks = true }

-- The session the token requests of `sess` go through: its defaults less
-- NOT_FOR_TOKEN, its transport and limits, but its own connection share
-- without a cookie jar, no hooks and no observers.
local function token_session(a, sess)
  local ts = a._sessions[sess]
  if ts then return ts end
  local options = require "lurl.options"
  local d = {}
  for k, v in pairs(sess.defaults) do
    if not NOT_FOR_TOKEN[k] then d[k] = v end
  end
  local tr = sess._transport
  ts = { defaults = d, _share = not tr and core.share(false) or false, _host_sems = {},
    _closed = false, _base_url = false, _hooks = false, _rate = sess._rate,
    _next_at = -math.huge, _conn_sem = sess._conn_sem, _host_limit = sess._host_limit,
    _observers = false, _har = false, _redact = false, _transport = tr,
    _call = false, cookies = nil }
  ts._call = options.mark(ts, options.resolve(nil, d, nil, "oauth2", 1))
  a._sessions[sess] = ts
  return ts
end

-- application/x-www-form-urlencoded, for the client's id and secret in
-- HTTP Basic (RFC 6749, 2.3.1)
local function form_escape(s)
  return (s:gsub("[^%w%-%._~ ]", function(ch) return ("%%%02X"):format(ch:byte()) end):gsub(" ", "+"))
end

local function token_error(a, kind, why)
  return cerror(kind, ("OAuth2 token endpoint %s: %s"):format(a.token_url, why), "POST", a.token_url)
end

-- Asks the token endpoint for a token, through sess's transport.
local function fetch(a, sess)
  local exchange = require "lurl.exchange"
  local ts = token_session(a, sess)
  local form = { grant_type = a.refresh_token and "refresh_token" or "client_credentials" }
  if a.refresh_token then form.refresh_token = a.refresh_token end
  if a.scope then form.scope = a.scope end
  local o = { data = form, headers = { Accept = "application/json" } }
  if a.auth_method == "post" then
    form.client_id, form.client_secret = a.client_id, a.client_secret
  else
    o.auth = { form_escape(a.client_id), form_escape(a.client_secret) }
  end
  local res, err = exchange.exchange(ts, "oauth2", 1, "POST", a.token_url, o, ts._call,
    redirect.FRESH)
  if not res then
    return nil, token_error(a, err.kind or "ConnectionError", err.message or tostring(err))
  end
  local ok, doc = pcall(res.json, res)
  if res.status < 200 or res.status > 299 then
    -- the status and RFC 6749's error code, not the response: an endpoint
    -- may echo the form, client secret included
    local code = ok and type(doc) == "table" and type(doc.error) == "string"
      and doc.error:match("^[%w_.-]+$") and #doc.error <= 64 and doc.error
    return nil, token_error(a, "HTTPError", ("answered %d %s%s"):format(res.status,
      res.reason or "", code and " (" .. code .. ")" or ""))
  end
  local tok = ok and type(doc) == "table" and doc.access_token
  if type(tok) ~= "string" or tok == "" then
    return nil, token_error(a, "HTTPError", "answered no access_token")
  end
  local life = ok and tonumber(doc.expires_in)
  a.token = tok
  -- expired a little early (a tenth of its life, 30 s at most), so it
  -- does not expire in flight
  a.expires = life and core.now() + life - math.min(30, life / 10) or math.huge
  if type(doc.refresh_token) == "string" and a.refresh_token then a.refresh_token = doc.refresh_token end
  return tok
end

-- Signs req with the token, fetching one first when there is none or it
-- expired; concurrent tasks wait for the one fetch under way.
local function oauth2_sign(a, req, sess)
  local task = require "lurl.task"
  task.acquire(a._sem)
  local _ <close> = a._sem
  local tok = a.token
  if not tok or core.now() >= a.expires then
    local err
    tok, err = fetch(a, sess)
    if not tok then return nil, err end
  end
  set_header(req.headers, "Authorization", "Bearer " .. tok)
  return tok
end

-- A 401 to a request sent with stamp (the token): the token is dropped
-- unless another request has already replaced it; the request is sent
-- again once.
local function oauth2_stale(a, stamp)
  if stamp and a.token == stamp then a.token = nil end
  return stamp ~= nil
end

local METHODS = { basic = true, post = true }

-- http.oauth2{token_url=, client_id=, client_secret=, scope=, auth_method=,
-- refresh_token=}
function M.oauth2(o, mt)
  AUTH_MT = AUTH_MT or mt
  if type(o) ~= "table" then
    error(("bad argument #1 to 'oauth2' (table expected, got %s)"):format(type(o)), 2)
  end
  need("oauth2", "token_url", o.token_url, "URL string expected")
  if not o.token_url:find("^[hH][tT][tT][pP][sS]?://") then
    error("bad argument #1 to 'oauth2' (field 'token_url': an http or https URL expected)", 2)
  end
  need("oauth2", "client_id", o.client_id, "string expected")
  need("oauth2", "client_secret", o.client_secret, "string expected")
  if o.scope ~= nil then need("oauth2", "scope", o.scope, "string expected") end
  if o.refresh_token ~= nil then need("oauth2", "refresh_token", o.refresh_token, "string expected") end
  local m = o.auth_method or "basic"
  if not METHODS[m] then
    error("bad argument #1 to 'oauth2' (field 'auth_method': \"basic\" or \"post\" expected)", 2)
  end
  local task = require "lurl.task"
  return setmetatable({ scheme = "oauth2", token_url = o.token_url, client_id = o.client_id,
    client_secret = o.client_secret, scope = o.scope, auth_method = m,
    refresh_token = o.refresh_token, sign = oauth2_sign, stale = oauth2_stale,
    _sem = task.semaphore(1), _sessions = setmetatable({}, { __mode = "k" }), expires = 0 },
    AUTH_MT)
end

M.STRIP_AUTH = STRIP_AUTH
return M
