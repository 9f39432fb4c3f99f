-- lurl.html: the policy half of HTML documents (the mechanism is
-- runtime/html.c): which charset a response's bytes are in, URLs resolved
-- against the document, and forms as their successful controls.
--
-- res:html() and http.html(text [, base_url]) come here; elements get
-- url() and form() from this file through core.html_methods.
local core = require "http.core"

local M = {}
local methods = core.html_methods

-- The WHATWG Encoding Standard's labels that differ from iconv's names:
-- latin-1 and ASCII labels mean windows-1252 in a browser.
local ALIASES = {
  ["iso-8859-1"] = "windows-1252", ["iso8859-1"] = "windows-1252", latin1 = "windows-1252",
  ["l1"] = "windows-1252", ["ascii"] = "windows-1252", ["us-ascii"] = "windows-1252",
  ["cp1252"] = "windows-1252", ["x-cp1252"] = "windows-1252",
  ["utf8"] = "utf-8", ["unicode-1-1-utf-8"] = "utf-8",
  ["x-sjis"] = "shift_jis", ["gb2312"] = "gbk", ["x-gbk"] = "gbk",
}

-- A <meta charset=...> or <meta http-equiv content="...; charset=...">
-- in the first 1024 bytes (the prescan of the HTML standard, simplified).
local function sniff(body)
  local head = body:sub(1, 1024):lower()
  for tag in head:gmatch("<meta[%s/][^>]*>") do
    local cs = tag:match("charset%s*=%s*[\"']?%s*([%w%-_:%.]+)")
    if cs then return cs end
  end
end

-- The body as UTF-8 text: a BOM wins, then the Content-Type's charset,
-- then a <meta> one; without any, the bytes are taken as UTF-8 (gumbo
-- turns ill-formed sequences into U+FFFD).
function M.decode(body, declared)
  local b1, b2, b3 = body:byte(1, 3)
  if b1 == 0xEF and b2 == 0xBB and b3 == 0xBF then return body:sub(4) end
  local cs
  if b1 == 0xFF and b2 == 0xFE then cs = "utf-16le"
  elseif b1 == 0xFE and b2 == 0xFF then cs = "utf-16be" end
  if cs then return core.to_utf8(body:sub(3), cs) or body end
  for _, c in ipairs({ declared or false, sniff(body) or false }) do
    if c then
      c = ALIASES[c] or c
      -- a page declaring UTF-16 in a <meta> is ASCII-compatible: browsers read UTF-8
      if c == "utf-16" or c == "utf-16le" or c == "utf-16be" then c = "utf-8" end
      if c == "utf-8" then return body end
      local text = core.to_utf8(body, c)
      if text then return text end
    end
  end
  return body
end

-- http.html(text [, base_url]): text is taken as UTF-8.
function M.parse(text, base_url)
  if type(text) ~= "string" then
    error(("bad argument #1 to 'html' (string expected, got %s)"):format(type(text)), 2)
  end
  if base_url ~= nil and type(base_url) ~= "string" then
    error(("bad argument #2 to 'html' (string expected, got %s)"):format(type(base_url)), 2)
  end
  return core.html_parse(text, base_url)
end

-- res:html()
function M.response(r)
  return core.html_parse(M.decode(r.body, r.encoding), r.url)
end

-- The URL relative references of the document resolve against: its
-- first <base href> (itself resolved against the document's URL), else
-- the document's URL.  Worked out once per document.
local function base_of(el)
  local info = core.html_info(el)
  local base = info.base
  if base == nil then
    base = info.url or false
    local b = info.doc:select_one("base[href]")
    if b then
      local href = b.attrs.href:gsub("^%s+", ""):gsub("%s+$", "")
      base = base and core.resolve(base, href) or href
    end
    info.base = base
  end
  return base or nil
end

-- el:url(name) -> the attribute as an absolute URL, or nil (no such
-- attribute, or no URL to resolve a relative one against: then the value
-- as it is).
function methods.url(el, name)
  local v = el:attr(name)
  if not v then return nil end
  v = v:gsub("^[%s]+", ""):gsub("[%s]+$", "")
  local base = base_of(el)
  if not base then return v end
  return (core.resolve(base, v))
end

return M
