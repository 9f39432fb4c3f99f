-- lurl.transport: one hop through a session's `transport` function
-- (SPEC, Transports and test doubles).
--
--   http.session{ transport = function(req) return {status =, headers =, body =} end }
--
-- The function (or callable table) gets the request as it would go on the
-- wire: {method, url, headers, body}: url with `params` added, headers the
-- session's and the call's merged with what lurl derives from `auth`
-- (basic, bearer), `cookies`, the session's jar, `json` and `data`; body
-- the bytes that would be sent (nil when none).  It returns a response
-- table {status = n, headers = {name = value or {values}}, body = "" or
-- json = value}, or nil, err: err an error object, the name of an error
-- kind ("ConnectTimeout"), or a message (a ConnectionError).
--
-- Everything above the hop is lurl.exchange's and works as with libcurl:
-- redirects, retries, hooks, the total deadline, observers (tracing, HAR),
-- http.assert.  Set-Cookie fields go into the session's jar with RFC 6265's
-- domain and path rules.  `files` are encoded as multipart/form-data and an
-- open file's bytes read, so `body` is always the bytes that would be sent;
-- the URL is requoted and params form-encoded as the C side does them;
-- `max_body` applies to the answer's body (BodyTooLarge).
-- req.timeout is the read timeout in seconds (nil: none) and req.deadline
-- the total deadline on core.now()'s clock (nil: none), for a transport
-- that waits (lurl.mock's `delay`).  A transport may answer M.PASS to send
-- this hop over libcurl instead (lurl.mock's passthrough).  Not available
-- over a function transport: digest, NTLM, Negotiate and netrc auth (they
-- are libcurl's); libcurl's own options (connect timeouts, TLS, proxies)
-- have no meaning there.
local core = require "http.core"
local json = require "http.json"
local response = require "lurl.response"
local redirect = require "lurl.redirect"
local cookie = require "lurl.cookie"

local M = {}
-- The answer of a transport that lets a hop through to libcurl.
M.PASS = setmetatable({}, { __name = "lurl.transport.PASS" })
-- Response tables a transport vouches for (lurl.mock's kept answers):
-- tables with an integer status and a string body (or none) that are
-- never changed, so a hop skips their type checks.  Weak keys.
local checked = setmetatable({}, { __mode = "k" })
M.checked = checked

local STRIP_AUTH, NO_PARAMS, DROP_BODY = redirect.STRIP_AUTH, redirect.NO_PARAMS, redirect.DROP_BODY
local DEFAULT_UA = "lurl/" .. core.version().lurl

local function by_string(a, b) return tostring(a) < tostring(b) end
local function sorted_keys(t)
  local ks, strings = {}, true
  for k in pairs(t) do
    ks[#ks + 1] = k
    if strings and type(k) ~= "string" then strings = false end
  end
  if #ks > 1 then table.sort(ks, not strings and by_string or nil) end
  return ks
end

-- form encoding as lurl's C side does it (runtime/text.c, lurl_buf_add_pct
-- with form = 1): unreserved bytes as they are, space as '+', others %XX;
-- an integral float as an integer (cjson decodes every number as a float)
local function escape(s)
  if math.type(s) == "float" and s == math.floor(s) and s > -2^63 and s < 2^63 then
    s = math.tointeger(s)
  end
  return (tostring(s):gsub("[^%w%-%._~]", function(ch)
    if ch == " " then return "+" end
    return ("%%%02X"):format(ch:byte())
  end))
end

-- {k = v or {v1, v2}} -> "k=v&k=v1&k=v2", keys sorted; an array of {k, v}
-- pairs keeps its order
local function form(t)
  local out = {}
  local function add(k, v)
    if type(v) == "table" then
      for _, x in ipairs(v) do out[#out + 1] = escape(k) .. "=" .. escape(x) end
    else
      out[#out + 1] = escape(k) .. "=" .. escape(v)
    end
  end
  if #t > 0 then
    for _, p in ipairs(t) do add(p[1], p[2]) end
  else
    for _, k in ipairs(sorted_keys(t)) do add(k, t[k]) end
  end
  return table.concat(out, "&")
end

-- a header value on one line (a transport's CR or LF become spaces)
local function oneline(v)
  v = tostring(v)
  if v:find("[\r\n]") then v = v:gsub("[\r\n]", " ") end
  return v
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
-- RFC 4648 base64 (Basic credentials): three bytes make four characters.
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = (a << 16) | ((b or 0) << 8) | (c or 0)
    local q = { (n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63 }
    out[#out + 1] = B64:sub(q[1] + 1, q[1] + 1) .. B64:sub(q[2] + 1, q[2] + 1)
      .. (b and B64:sub(q[3] + 1, q[3] + 1) or "=") .. (c and B64:sub(q[4] + 1, q[4] + 1) or "=")
  end
  return table.concat(out)
end
M.base64 = base64

-- Case-insensitive merge of header tables into out (lower-case key -> {name, value}):
-- the named fields, then the {name, value} pairs in order (the first pair of
-- a name replaces the field, the next ones join it with ", ", as one field
-- of a response's headers table reads).
local function merge_headers(out, h)
  if not h then return end
  for k, v in pairs(h) do
    if math.type(k) ~= "integer" then
      local l = tostring(k):lower()
      if v == false then out[l] = nil else out[l] = { tostring(k), tostring(v) } end
    end
  end
  local seen = {}
  for _, p in ipairs(h) do
    local name, v = tostring(p[1]), p[2]
    local l = name:lower()
    if v == false then
      out[l] = nil
    elseif seen[l] and out[l] then
      out[l][2] = out[l][2] .. ", " .. tostring(v)
    else
      out[l] = { name, tostring(v) }
    end
    seen[l] = true
  end
end

-- The cookies of the session's jar that go to url (RFC 6265 5.4: domain,
-- path, secure, expiry).
local cookie_lines = core.cookie_lines
local function jar_cookies(jar, url)
  local list = jar:list()
  if #list == 0 then return list end
  local scheme, host = core.origin(url)
  host = (host or ""):lower()
  local path = url:match("^%a[%w+.-]*://[^/?#]*(/[^?#]*)") or "/"
  local out = {}
  for _, c in ipairs(list) do
    local d = c.domain:lower()
    local dom_ok = host == d or (not c.host_only and #host > #d and host:sub(-#d - 1) == "." .. d)
    local cp = c.path or "/"
    local path_ok = path == cp or (path:sub(1, #cp) == cp and (cp:sub(-1) == "/" or path:sub(#cp + 1, #cp + 1) == "/"))
    if dom_ok and path_ok and (not c.secure or scheme == "https") then out[#out + 1] = c end
  end
  return out
end
M.jar_cookies = jar_cookies

-- A multipart/form-data body of `files` (and the form fields of a `data`
-- table), as libcurl's mime.c lays it out: data fields first (a list value
-- one part per element), then files, each in sorted key order; a part
-- without content_type is application/octet-stream.  Names and file names
-- escape '"', CR and LF as %22, %0D, %0A (libcurl 7.81+).  The boundary is
-- in no part.  A file part is read through core.open (the state's file
-- policy).  The one encoder of lurl's Lua side: a function transport's
-- body and an auth flow's (lurl.auth) alike.  fname, argn: the call, for
-- errors ("a request" without them).  Returns body, content-type.
local function quoted(s)
  return (tostring(s):gsub('[\r\n"]', { ["\r"] = "%0D", ["\n"] = "%0A", ['"'] = "%22" }))
end

local function multipart(files, data, fname, argn)
  local function bad(field, why)
    local who = fname and ("#%d to '%s'"):format(argn, fname) or "to a request"
    error(("bad argument %s (field '%s': %s)"):format(who, field, why), 0)
  end
  local parts = {}
  if type(data) == "table" then
    for _, k in ipairs(sorted_keys(data)) do
      local v = data[k]
      local list = type(v) == "table" -- a list value: one part per element
      for _, e in ipairs(list and v or { v }) do
        if type(e) ~= "string" and type(e) ~= "number" and type(e) ~= "boolean" then
          bad("data." .. tostring(k), list and "list of strings expected" or "string expected")
        end
        parts[#parts + 1] = { tostring(k), nil, nil, tostring(e) }
      end
    end
  end
  for _, k in ipairs(sorted_keys(files)) do
    local f = files[k]
    if type(f) ~= "table" then bad("files." .. tostring(k), "http.file(path) or {content=...} expected") end
    local content, filename = f.content, f.filename
    if f.path then
      local fh, err = core.open(f.path, "rb")
      if not fh then bad("files." .. tostring(k), err) end
      content = fh:read("a") or ""
      fh:close()
    elseif type(content) ~= "string" then
      bad("files." .. tostring(k) .. ".content", "string expected")
    else
      filename = filename or tostring(k)
    end
    local ctype = tostring(f.content_type or "application/octet-stream")
    if ctype:find("[\r\n]") then bad("files." .. tostring(k), "CR or LF in content_type") end
    parts[#parts + 1] = { tostring(k), filename, ctype, content }
  end
  local boundary
  repeat
    local hex = {}
    for i = 1, 16 do hex[i] = ("%x"):format(math.random(0, 15)) end
    boundary = "------------------------lurl" .. table.concat(hex)
    local clash = false
    for _, p in ipairs(parts) do
      if p[4]:find(boundary, 1, true) then clash = true break end
    end
  until not clash
  local out = {}
  for _, p in ipairs(parts) do
    out[#out + 1] = "--" .. boundary .. "\r\nContent-Disposition: form-data; name=\"" .. quoted(p[1]) .. "\""
    if p[2] then out[#out + 1] = "; filename=\"" .. quoted(p[2]) .. "\"" end
    if p[3] then out[#out + 1] = "\r\nContent-Type: " .. p[3] end
    out[#out + 1] = "\r\n\r\n"
    out[#out + 1] = p[4]
    out[#out + 1] = "\r\n"
  end
  out[#out + 1] = "--" .. boundary .. "--\r\n"
  return table.concat(out), "multipart/form-data; boundary=" .. boundary
end
M.multipart = multipart

-- The read timeout of a request in seconds, nil when none (the `timeout`
-- option: a number is connect and read; default read 30 s; false or
-- math.huge waits forever).
local READ_DEFAULT = 30
local function read_timeout(to)
  if to == nil then return READ_DEFAULT end
  if type(to) == "table" then to = to.read == nil and READ_DEFAULT or to.read
  elseif to == nil then to = READ_DEFAULT end
  if type(to) ~= "number" or to >= 2147483.647 then return nil end
  return to
end

-- requests' requote_uri, as request_url.c applies it (runtime/text.h,
-- lurl_url_quotes): in the path, query and fragment, a space, a control,
-- '"<>\^`{|}' or a non-ASCII byte becomes %XX, a '%' that starts no %XX
-- escape %25; escapes already there are kept.
local QUOTED = '[%c "<>\\^`{|}%%\128-\255]'
local function requote(url)
  local head, rest = url:match("^(%a[%w+.-]*://[^/?#]*)(.*)$")
  if not head or not rest:find(QUOTED) then return url end
  rest = rest:gsub("%%(%x?%x?)", function(h) if #h < 2 then return "%25" .. h end end)
  rest = rest:gsub('[%c "<>\\^`{|}\128-\255]', function(c) return ("%%%02X"):format(c:byte()) end)
  return head .. rest
end

-- Speed trick: requoted URLs and their user part (user:password@, or
-- false), by the URL given.  A mocked session asks for the same few URLs
-- again and again, and requote() scans each one with a character class.
-- Invariant: both are functions of the URL alone.  Bounded as
-- lurl.exchange's joined URLs: the cache starts over at REQUOTE_KEEP URLs.
local REQUOTE_KEEP = 256
local requoted, nrequoted = {}, 0
local function requote_cached(url)
  local t = requoted[url]
  if t then return t[1], t[2] end
  local q = requote(url)
  t = { q, q:find("@", 1, true) and q:match("^%a[%w+.-]*://([^/?#]*)@") or false }
  if nrequoted >= REQUOTE_KEEP then requoted, nrequoted = {}, 0 end
  requoted[url], nrequoted = t, nrequoted + 1
  return t[1], t[2]
end

local function copy_map(h)
  local out = {}
  for k, v in next, h do out[k] = v end
  return out
end

-- Speed trick: the header map of a session's defaults (User-Agent and
-- d.headers merged, lower-case name -> {name, value}), kept in
-- sess._tmap and reused while the user agent is the same string and the
-- live d.headers holds the same keys and values (checked by one traversal
-- against a copy, as request_head.c's headset is).  The kept map is never
-- changed: a hop that adds to it works on a copy.
-- A shallow copy of a headers table and its number of fields, to check
-- the live table against: the same when each of its fields is in the copy
-- with the same value and it has as many (inline below: a call less on
-- every hop).
local function copy_of(t)
  local copy, n = {}, 0
  for k, v in pairs(t) do copy[k], n = v, n + 1 end
  return copy, n
end

local function session_map(sess, d, ua)
  local kept, dh = sess._tmap, d.headers
  if kept and kept.ua == ua then
    local copy, n = kept.copy, 0
    if dh == nil or copy == nil then
      if dh == copy then return kept.map end
    else
      for k, v in next, dh do
        if copy[k] ~= v then goto rebuild end
        n = n + 1
      end
      if n == kept.n then return kept.map end
    end
  end
  ::rebuild::
  local h = {}
  h["user-agent"] = { "User-Agent", type(ua) == "string" and ua or DEFAULT_UA }
  merge_headers(h, dh) -- headers' User-Agent wins, as in request_head.c
  local copy, n
  if type(dh) == "table" then copy, n = copy_of(dh) end
  sess._tmap = { ua = ua, copy = copy, n = n, map = h }
  return h
end

-- A request's headers (name -> value) and head lines, from its header map.
local function map_headers(h)
  local headers = {}
  for _, v in next, h do headers[v[1]] = v[2] end
  return headers
end

local function map_head(h)
  local head = {}
  for _, l in ipairs(sorted_keys(h)) do
    local name, value = h[l][1], h[l][2]
    head[#head + 1] = name .. ": " .. oneline(value) .. "\r\n"
  end
  return table.concat(head)
end

-- The request a transport gets: method, url and body are fields;
-- `headers` is made from the header map (req._h) when first read (most
-- mocked hops never read it).  The map is never changed once the request
-- is made, so the headers and the head lines made from it later are
-- those of the hop.
local REQ_INDEX = function(req, k)
  if k == "headers" then
    local headers = map_headers(req._h)
    rawset(req, "headers", headers)
    return headers
  end
end
M.req_index = REQ_INDEX
local REQ_MT = { __name = "lurl.transport.request", __index = REQ_INDEX }
-- The metatable a transport wants its requests made with (lurl.mock's,
-- whose __index serves `headers` through M.req_index), by transport;
-- REQ_MT for others.  Weak keys.
local req_mts = setmetatable({}, { __mode = "k" })
M.req_mts = req_mts

-- A `json` value's bytes; one cjson cannot encode raises as core.start's
-- request_body.c words it over libcurl, naming the field path ("field
-- 'json.x': cannot encode a function", from http.json's encode_at, which
-- client.lua hands core.start as core.config[1]), at the caller's line.
local function json_body(j, fname, argn)
  local ok, body = pcall(core.config[1], j)
  if ok then return body end
  body = tostring(body)
  if body:sub(1, 7) ~= "field '" then error(body, 0) end -- lua-cjson missing: as it is
  error(("bad argument #%d to '%s' (%s)"):format(argn or 3, fname or "request", body),
    require("lurl.redact").user_level())
end

-- The request the transport gets (headers lazily; see REQ_INDEX), with
-- its read timeout and total deadline (lurl.transport.hop's), and its body;
-- mt its metatable (REQ_MT when nil).
-- (opt() inline: `v = o.k; if v == nil then v = d.k end`, a few VM
-- instructions against a call's dozens, ten times a hop)
local NO_OPTS = {}
function M.build(sess, method, url, opts, flags, timeout, deadline, mt, fname, argn)
  local d, o = sess.defaults, opts or NO_OPTS
  local params = o.params
  if params == nil then params = d.params end
  if params and (flags & NO_PARAMS) == 0 then
    local q = type(params) == "table" and form(params) or tostring(params)
    if q ~= "" then url = url .. (url:find("?", 1, true) and "&" or "?") .. q end
  end
  local userinfo
  url, userinfo = requote_cached(url)
  local ua = o.user_agent
  if ua == nil then ua = d.user_agent end
  local h, own = session_map(sess, d, ua), false
  local oh = o.headers
  if oh then
    h, own = copy_map(h), true
    merge_headers(h, oh)
  end
  local body
  if (flags & DROP_BODY) == 0 then
    local j, data, b, files = o.json, o.data, o.body, o.files
    if j == nil then j = d.json end
    if data == nil then data = d.data end
    if b == nil then b = d.body end
    if files == nil then files = d.files end
    local ctype
    if files then
      body, ctype = multipart(files, data)
    elseif j ~= nil then
      body, ctype = json_body(j, fname, argn), "application/json"
    elseif data ~= nil then
      if type(data) == "table" then
        body, ctype = form(data), "application/x-www-form-urlencoded"
      else
        body = tostring(data)
      end
    elseif b == nil then -- no body: the type tests below are not free
    elseif type(b) == "string" then
      body = b
    elseif type(b) == "function" then
      local parts = {}
      for chunk in b do parts[#parts + 1] = chunk end
      body = table.concat(parts)
    elseif b ~= nil and io and io.type(b) == "file" then -- an open file: what is left of it
      body = b:read("a") or ""
    end
    if ctype and not h["content-type"] then
      if not own then h, own = copy_map(h), true end
      h["content-type"] = { "Content-Type", ctype }
    end
  end
  if (flags & STRIP_AUTH) ~= 0 then
    -- another host: the user's credentials stay, as in request_head.c
    if h["authorization"] or h["cookie"] or h["proxy-authorization"] then
      if not own then h, own = copy_map(h), true end
      h["authorization"], h["cookie"], h["proxy-authorization"] = nil, nil, nil
    end
  else
    -- basic ({user, password} or http.basic) and bearer, as request_head.c
    -- makes them; digest, netrc (and NTLM, Negotiate) are libcurl's and
    -- add nothing here; without an auth option, a URL's user:password is
    -- Basic, as libcurl sends it
    local auth, value = o.auth, nil
    if auth == nil then auth = d.auth end
    if auth ~= nil and type(auth) == "table" then
      local scheme = auth.scheme or "basic"
      if scheme == "basic" then
        local user, pw = auth.user or auth[1], auth.password or auth[2]
        value = "Basic " .. base64(tostring(user) .. ":" .. tostring(pw))
      elseif scheme == "bearer" then
        value = "Bearer " .. auth.token
      end
    elseif userinfo and not h["authorization"] then
      local dec = userinfo:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)
      if not userinfo:find(":", 1, true) then dec = dec .. ":" end
      value = "Basic " .. base64(dec)
    end
    if value then
      if not own then h, own = copy_map(h), true end
      h["authorization"] = { "Authorization", value }
    end
  end
  local crumbs
  local jar = sess.cookies
  local given = o.cookies
  if given == nil then given = d.cookies end
  if type(given) ~= "table" then given = nil end
  -- a Cookie header is sent instead of the jar's cookies, the request's
  -- after it (as over libcurl); an empty jar (most mocked sessions) costs
  -- one C call, not jar:list(); the request's cookies replace the jar's of
  -- their names
  local mine = h["cookie"]
  if mine then
    if given then crumbs = { mine[2] } end
  elseif jar and #cookie_lines(jar._share) > 0 then
    local list = jar_cookies(jar, url)
    if #list > 0 then
      crumbs = {}
      for _, c in ipairs(list) do
        if not given or given[c.name] == nil then crumbs[#crumbs + 1] = c.name .. "=" .. c.value end
      end
    end
  end
  if given then
    crumbs = crumbs or {}
    for _, k in ipairs(sorted_keys(given)) do crumbs[#crumbs + 1] = k .. "=" .. tostring(given[k]) end
  end
  if crumbs and #crumbs > 0 then
    if not own then h = copy_map(h) end
    h["cookie"] = { "Cookie", table.concat(crumbs, "; ") }
  end
  -- path is named so that the table is made with room for it (the mock
  -- sets it); _mt is the metatable a transport asked for (req_mts)
  return setmetatable({ method = method, url = url, body = body, _h = h, timeout = timeout,
    deadline = deadline, path = nil, _mt = mt }, mt or REQ_MT), body
end

-- The request the transport gets and its head lines (lurl.cassette).
function M.request(sess, method, url, opts, flags, fname, argn)
  local req = M.build(sess, method, url, opts, flags, nil, nil, nil, fname, argn)
  return req, map_head(req._h)
end

-- Set-Cookie fields of a transport's response into the session's jar, with
-- RFC 6265's rules (5.3): a Domain must domain-match the host (else the
-- cookie is ignored), no Domain makes a host-only cookie, the default path
-- is the request path's directory, Max-Age wins over Expires.
local function store_cookies(jar, url, res)
  local _, host = core.origin(url)
  host = (host or ""):lower()
  local rpath = url:match("^%a[%w+.-]*://[^/?#]*(/[^?#]*)") or "/"
  local dflt = rpath:match("^(.*)/[^/]*$")
  if not dflt or dflt == "" then dflt = "/" end
  for _, f in ipairs(res.header_list) do
    if f[1]:lower() == "set-cookie" then
      local name, value, attrs = cookie.set_cookie(f[2])
      if name and not value:find("[\t\r\n;]") then
        local o = { path = dflt, host_only = true, domain = host }
        local max_age, ok = nil, true
        for k, v in cookie.attributes(attrs) do
          if k == "domain" and v and v ~= "" then
            local dm = v:gsub("^%.", ""):lower()
            if host == dm or (#host > #dm and host:sub(-#dm - 1) == "." .. dm) then
              o.domain, o.host_only = dm, false
            else
              ok = false -- another site's domain: ignored
            end
          elseif k == "path" and v and v:sub(1, 1) == "/" then
            o.path = v
          elseif k == "secure" then
            o.secure = true
          elseif k == "httponly" then
            o.http_only = true
          elseif k == "max-age" and v and tonumber(v) then
            max_age = tonumber(v)
          elseif k == "expires" and v and not max_age then
            o.expires = core.getdate(v)
          end
        end
        if max_age then o.expires = max_age <= 0 and 1 or os.time() + max_age end
        -- an IP address has no subdomains: its cookies are host-only, as
        -- libcurl files them
        if host:find("^[%d.]+$") or host:find(":", 1, true) then o.host_only = true end
        if ok then jar:set(name, value, o) end
      end
    end
  end
end
M.store_cookies = store_cookies

-- Speed trick: the status line of each status, made once.
local status_lines = setmetatable({}, { __index = function(t, status)
  local line = ("HTTP/1.1 %d %s\r\n"):format(status, core.reason("", status))
  t[status] = line
  return line
end })

-- The header lines of a transport's response headers, and whether they
-- hold a Content-Type and a Set-Cookie.
local function header_lines(hs)
  local head = {}
  local has_ct, has_sc = false, false
  for _, k in ipairs(sorted_keys(hs)) do
    local v, name = hs[k], tostring(k)
    local l = name:lower()
    if l == "content-type" then has_ct = true elseif l == "set-cookie" then has_sc = true end
    if type(v) == "table" then
      for _, x in ipairs(v) do head[#head + 1] = name .. ": " .. oneline(x) .. "\r\n" end
    else
      head[#head + 1] = name .. ": " .. oneline(v) .. "\r\n"
    end
  end
  return table.concat(head), has_ct, has_sc
end

-- Speed trick: the header lines of a headers table a transport answers
-- again and again (a mock route's answer table), by the table, with a
-- copy of it to check against: reused while the live table holds the
-- same keys and values.  Only tables whose values are all strings or
-- numbers are kept (a list of values could change inside).  Weak keys:
-- an answer table no longer used takes its entry with it.
local kept_lines = setmetatable({}, { __mode = "k" })
-- (the check of a kept entry is inline in to_response)
local function lines_of(hs)
  local lines, has_ct, has_sc = header_lines(hs)
  for _, v in pairs(hs) do
    if type(v) == "table" then
      return { lines = lines, has_ct = has_ct, has_sc = has_sc, full = {} }
    end
  end
  local copy, n = copy_of(hs)
  local kept = { lines = lines, has_ct = has_ct, has_sc = has_sc, copy = copy, n = n, full = {} }
  kept_lines[hs] = kept
  return kept
end

local NO_HEADERS = {}

-- A transport's response is an http.response (lurl.response) whose lazy
-- fields differ in four: headers are a copy of the headers parsed from
-- the same head before (kept), header_list is parsed on its own when
-- read, _reqhead is made from the request's header map (res._reqmap) when
-- read, and timings are all 0.
local tlazy = {}
local headers_mt, parse_headers = response.headers_mt, core.parse_headers

-- Speed trick: the headers parsed from a head (a kept answer's status and
-- header lines, the same string each hop), by the head; a response gets a
-- copy (flat: names to strings), cheaper than parsing again.  Invariant:
-- core.parse_headers is a function of the head alone.  Bounded: starts
-- over at PARSED_KEEP heads.
local PARSED_KEEP = 64
local parsed_heads, nparsed = {}, 0

function tlazy.headers(r)
  local head = r._head
  local h0 = parsed_heads[head]
  local h = {}
  if h0 then
    for k, v in next, h0 do h[k] = v end
    return setmetatable(h, headers_mt)
  end
  local list
  h0, list = parse_headers(head)
  if rawget(r, "header_list") == nil then rawset(r, "header_list", list) end
  for k, v in next, h0 do h[k] = v end
  if nparsed >= PARSED_KEEP then parsed_heads, nparsed = {}, 0 end
  parsed_heads[head], nparsed = h0, nparsed + 1
  return setmetatable(h, headers_mt)
end
function tlazy.header_list(r)
  local h, list = parse_headers(r._head)
  if rawget(r, "headers") == nil then rawset(r, "headers", setmetatable(h, headers_mt)) end
  return list
end
function tlazy._reqhead(r) return map_head(r._reqmap) end
function tlazy.timings() return { dns = 0, connect = 0, tls = 0, ttfb = 0, total = 0, redirect = 0 } end

local TRESPONSE_MT = {}
for k, v in pairs(response.mt) do TRESPONSE_MT[k] = v end
TRESPONSE_MT.__index = response.index_with(tlazy)
response.response_mts[TRESPONSE_MT] = true -- res:json() and the rest accept these

-- A response object from the transport's table.
local function to_response(r, req, method, sent)
  local status, vouched = r.status, checked[r]
  if not vouched and math.type(status) ~= "integer" then
    error(("transport returned a response without an integer status (got %s)"):format(type(status)), 0)
  end
  local body, head = r.body, nil
  local hs = r.headers or NO_HEADERS
  local hl = kept_lines[hs]
  if hl then -- still the same keys and values?
    local copy, n = hl.copy, 0
    for k, v in next, hs do
      if copy[k] ~= v then
        hl = nil
        break
      end
      n = n + 1
    end
    if hl and n ~= hl.n then hl = nil end
  end
  if not hl then hl = lines_of(hs) end
  if body == nil and r.json ~= nil then
    body = json.encode(r.json)
    head = status_lines[status] .. hl.lines
    if not hl.has_ct then head = head .. "Content-Type: application/json\r\n" end
  else
    head = hl.full[status] -- the status line and the header lines
    if not head then
      head = status_lines[status] .. hl.lines
      hl.full[status] = head
    end
    if body == nil then body = "" elseif not vouched then body = tostring(body) end
  end
  local res = setmetatable({ status = status, url = req.url, body = body, method = method,
    _head = head, _reqmap = req._h, _reqbody = sent, http_version = "1.1",
    elapsed = 0 }, TRESPONSE_MT)
  return res, hl.has_sc
end

-- The error of a transport that returned nil, err.
local function to_error(err, method, url)
  if getmetatable(err) == core.error_mt then return err end
  if type(err) == "string" and core.errors[err] then
    return core.error(err, "transport: " .. err, method, url)
  end
  return core.error("ConnectionError", tostring(err or "transport returned no response"), method, url)
end

-- One hop (lurl.exchange's hop with a `transport`): res or nil, err.
function M.hop(sess, transport, method, url, opts, flags, _, deadline, fname, argn)
  local d, o = sess.defaults, opts or NO_OPTS
  local timeout = o.timeout
  if timeout == nil then timeout = d.timeout end
  if timeout == nil then timeout = READ_DEFAULT else timeout = read_timeout(timeout) end
  local req, sent = M.build(sess, method, url, opts, flags, timeout, deadline, req_mts[transport],
    fname, argn)
  local r, err = transport(req)
  if r == M.PASS then return r end
  if r == nil then return nil, to_error(err, method, req.url) end
  if not checked[r] and type(r) ~= "table" then
    error(("transport returned a %s (response table or nil, err expected)"):format(type(r)), 0)
  end
  local res, cookies_set = to_response(r, req, method, sent)
  local max_body = o.max_body
  if max_body == nil then max_body = d.max_body end
  if max_body ~= nil and type(max_body) == "number" and #res.body > max_body then
    return nil, core.error("BodyTooLarge",
      ("response body larger than max_body (%d bytes)"):format(math.floor(max_body)), method, req.url)
  end
  if cookies_set and sess.cookies then store_cookies(sess.cookies, req.url, res) end
  return res
end

return M
