-- lurl.cookies: a session's cookie jar, in the Lua shape SPEC gives it.
--
-- The cookies themselves live in libcurl's cookie engine, inside the
-- session's share handle (runtime/share.c): it applies domain and host-only
-- rules, paths, expiry (Max-Age and Expires), Secure and the public suffix
-- list, for every hop of a redirect chain.  This file only translates
-- between that engine's Netscape cookies.txt lines and Lua tables, so what
-- `save` writes is what curl -b reads and what curl -c writes `load` reads.
local core = require "http.core"

local M = {}
local JAR_MT = { __name = "http.cookies" }
local jar = {}
JAR_MT.__index = jar

local HEADER = "# Netscape HTTP Cookie File\n# Written by lurl; curl -b and -c read and write this format.\n\n"

local function check(self, fname)
  if getmetatable(self) ~= JAR_MT then
    error(("bad argument #1 to '%s' (cookie jar expected; call it as jar:%s())"):format(fname, fname), 3)
  end
  return self._share
end

-- Netscape line -> cookie table.
local function parse(line)
  local http_only = false
  if line:sub(1, 10) == "#HttpOnly_" then
    http_only = true
    line = line:sub(11)
  end
  local domain, sub, path, secure, expires, name, value =
    line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
  if not domain then return nil end
  return {
    name = name, value = value,
    domain = domain:gsub("^%.", ""),
    host_only = sub ~= "TRUE",
    path = path,
    secure = secure == "TRUE",
    expires = tonumber(expires) ~= 0 and tonumber(expires) or nil,
    http_only = http_only,
  }
end

local function domain_matches(cookie_domain, want)
  want = want:lower():gsub("^%.", "")
  local d = cookie_domain:lower()
  return d == want or (#d > #want and d:sub(-#want - 1) == "." .. want)
end

-- jar:list() -> array of {name, value, domain, path, expires, secure,
-- host_only, http_only}; expired cookies are not listed.
function jar.list(self)
  local out = {}
  local now = os.time()
  for _, line in ipairs(core.cookie_lines(check(self, "list"))) do
    local c = parse(line)
    -- libcurl drops expired cookies lazily (when it next builds a Cookie
    -- header); a cookie deleted by Max-Age=0 is still in its list until then
    if c and not (c.expires and c.expires <= now) then out[#out + 1] = c end
  end
  return out
end

-- jar:get(name [, domain]) -> value | nil
function jar.get(self, name, domain)
  check(self, "get")
  if type(name) ~= "string" then
    error(("bad argument #1 to 'get' (string expected, got %s)"):format(type(name)), 2)
  end
  for _, c in ipairs(jar.list(self)) do
    if c.name == name and (domain == nil or domain_matches(c.domain, domain)) then
      return c.value
    end
  end
  return nil
end

local function field(v, want, name)
  if v ~= nil and type(v) ~= want then
    error(("bad argument #3 to 'set' (field '%s': %s expected, got %s)"):format(name, want, type(v)), 3)
  end
end

-- jar:set(name, value, {domain=, path="/", expires=, secure=, host_only=,
-- http_only=})
-- domain is required: a cookie belongs to a site.  expires is a Unix time;
-- without it the cookie lasts as long as the session.
function jar.set(self, name, value, o)
  local share = check(self, "set")
  if type(name) ~= "string" or name == "" or name:find("[%s;=\t]") then
    error("bad argument #1 to 'set' (cookie name expected)", 2)
  end
  if type(value) ~= "string" or value:find("[\t\r\n;]") then
    error("bad argument #2 to 'set' (cookie value string without tab, CR, LF or ';' expected)", 2)
  end
  if type(o) ~= "table" or type(o.domain) ~= "string" then
    error("bad argument #3 to 'set' (table with a 'domain' field expected)", 2)
  end
  field(o.path, "string", "path"); field(o.expires, "number", "expires")
  field(o.secure, "boolean", "secure"); field(o.host_only, "boolean", "host_only")
  field(o.http_only, "boolean", "http_only")
  local d = o.domain:gsub("^%.", "")
  local line = table.concat({
    o.host_only and d or "." .. d,
    o.host_only and "FALSE" or "TRUE",
    o.path or "/",
    o.secure and "TRUE" or "FALSE",
    tostring(math.floor(o.expires or 0)),
    name, value }, "\t")
  core.cookie_add(share, o.http_only and "#HttpOnly_" .. line or line)
end

function jar.clear(self)
  core.cookie_add(check(self, "clear"), "ALL")
end

-- jar:save(path): writes the jar in cookies.txt format, through a temporary
-- file renamed into place, and raises when it cannot.
function jar.save(self, path)
  local share = check(self, "save")
  if type(path) ~= "string" then
    error(("bad argument #1 to 'save' (string expected, got %s)"):format(type(path)), 2)
  end
  local lines, now = {}, os.time()
  for _, line in ipairs(core.cookie_lines(share)) do
    local c = parse(line)
    if c and not (c.expires and c.expires <= now) then lines[#lines + 1] = line end
  end
  local tmp = path .. ".lurl-tmp"
  local f, err = core.open(tmp, "wb")
  if not f then error("cannot save cookie jar: " .. err, 2) end
  local ok, werr = f:write(HEADER, table.concat(lines, "\n"), #lines > 0 and "\n" or "")
  local closed, cerr = f:close()
  if not ok or not closed then
    core.remove(tmp)
    error("cannot save cookie jar: " .. tostring(werr or cerr), 2)
  end
  local renamed, rerr = core.rename(tmp, path)
  if not renamed then
    core.remove(tmp)
    error("cannot save cookie jar: " .. rerr, 2)
  end
  return true
end

-- jar:load(path): adds the cookies of a cookies.txt file (curl -c writes
-- them); raises when the file cannot be read.
function jar.load(self, path)
  local share = check(self, "load")
  if type(path) ~= "string" then
    error(("bad argument #1 to 'load' (string expected, got %s)"):format(type(path)), 2)
  end
  local f, err = core.open(path, "rb")
  if not f then error("cannot load cookie jar: " .. err, 2) end
  local n = 0
  for line in f:lines() do
    line = line:gsub("\r$", "")
    if line ~= "" and (line:sub(1, 1) ~= "#" or line:sub(1, 10) == "#HttpOnly_") then
      if parse(line) then
        core.cookie_add(share, line)
        n = n + 1
      end
    end
  end
  f:close()
  return n
end

JAR_MT.__tostring = function(self) return ("http.cookies (%d cookies)"):format(#jar.list(self)) end

function M.new(share)
  return setmetatable({ _share = share }, JAR_MT)
end

return M
