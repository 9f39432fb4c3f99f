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

-- ---- forms ----

-- A form as a scraper submits it: its action, method, enctype and fields.
local FORM = {}
local FORM_MT = { __name = "http.form", __index = FORM }

-- The names of a form's fields in the order their first control comes in
-- the document (form -> list), for submit to send them in that order.
local ORDER = setmetatable({}, { __mode = "k" })

-- Adds a name/value pair; a repeated name becomes a list, in tree order.
local function add(fields, name, value, order)
  local old = fields[name]
  if old == nil then
    fields[name] = value
    order[#order + 1] = name
  elseif type(old) == "table" then
    old[#old + 1] = value
  else
    fields[name] = { old, value }
  end
end

-- Input types that never submit (or only as the button that submitted
-- the form: a scraper names that one in `extra`) and file inputs (files=).
local NOT_SUBMITTED = { submit = true, reset = true, button = true, image = true, file = true }

local function option_value(o)
  return o.attrs.value or o:text()
end

local function add_select(fields, name, sel, order)
  local multiple = sel.attrs.multiple ~= nil
  local any = false
  for o in sel:select("option:checked:enabled") do
    add(fields, name, option_value(o), order)
    any = true
    if not multiple then return end
  end
  -- a single-choice select without a selected option shows, and submits,
  -- its first enabled one (unless it is displayed as a list box)
  local size = tonumber(sel.attrs.size or "1") or 1
  if not any and not multiple and size <= 1 then
    local first = sel:select_one("option:enabled")
    if first then add(fields, name, option_value(first), order) end
  end
end

-- The controls are those HTML's form owner rule gives the form: a control
-- with a `form` attribute belongs to the first element of the document
-- with that id if it is a <form>, else to none; one without, to its
-- nearest <form> ancestor.  So only a form that is the first element
-- with its id, and named by some form= attribute, can own controls
-- outside it (or inside another form); then the whole document is read,
-- else the form's subtree.
local CONTROLS = "input:enabled, select:enabled, textarea:enabled"

-- Whether form is the first element of its document with its id.
local function first_with_id(doc, form, id)
  for e in doc:select("[id]") do
    if e.attrs.id == id then return e == form end
  end
  return false
end

local function owned(c, form, by_id)
  local fa = c.attrs.form
  if fa ~= nil then return by_id ~= nil and fa == by_id end
  local p = c.parent
  while p and p.tag ~= "form" do p = p.parent end
  return p == form
end

-- The entry list of HTML's form submission for the controls a scraper
-- meets: in tree order, leaving out disabled and nameless controls,
-- buttons, file inputs and unchecked boxes.
local function fields_of(form)
  local fields, order = {}, {}
  local doc, by_id = form, nil
  local id = form.attrs.id
  if id and id ~= "" then -- an empty id is no id: form="" names no form
    local info = core.html_info(form)
    local refs = info.form_refs -- the ids form= attributes name, found once per document
    if not refs then
      refs = {}
      for e in info.doc:select("[form]") do refs[e.attrs.form] = true end
      info.form_refs = refs
    end
    if refs[id] and first_with_id(info.doc, form, id) then doc, by_id = info.doc, id end
  end
  for c in doc:select(CONTROLS) do
    local name = c.attrs.name
    if name and name ~= "" and owned(c, form, by_id) then
      local tag = c.tag
      if tag == "input" then
        local t = (c.attrs.type or "text"):lower()
        if t == "checkbox" or t == "radio" then
          if c.attrs.checked then add(fields, name, c.attrs.value or "on", order) end
        elseif not NOT_SUBMITTED[t] then
          add(fields, name, c.attrs.value or "", order)
        end
      elseif tag == "select" then
        add_select(fields, name, c, order)
      else -- textarea: its text as written, newlines as CRLF
        add(fields, name, (c:text(true):gsub("\r?\n", "\r\n")), order)
      end
    end
  end
  return fields, order
end

-- el:form([css]) -> the form matching css (default "form") among el and
-- its descendants, or nil.
function methods.form(el, css)
  local f
  if css == nil and el.tag == "form" then f = el else f = el:select_one(css or "form") end
  if not f then return nil end
  if f.tag ~= "form" then
    error(("bad argument #1 to 'form' (%q matches a <%s>, not a <form>)"):format(css, f.tag), 2)
  end
  local info = core.html_info(f)
  local method = (f.attrs.method or "get"):upper()
  if method ~= "POST" then method = "GET" end
  local action = f.attrs.action
  if action and action:match("%S") then
    action = f:url("action")
  else -- no action: the document's own URL
    action = info.url
  end
  local fields, order = fields_of(f)
  local form = setmetatable({
    action = action,
    method = method,
    enctype = (f.attrs.enctype or "application/x-www-form-urlencoded"):lower(),
    fields = fields,
    element = f,
  }, FORM_MT)
  ORDER[form] = order
  return form
end

-- A value of `extra` that is a file part: http.file(path) or {content=}.
local function is_part(v)
  if type(v) ~= "table" then return false end
  local mt = getmetatable(v)
  return (type(mt) == "table" and mt.__name == "http.file") or v.content ~= nil
end

-- The fields as {name, value} pairs: the form's names in document order
-- (a repeated name's values together, at its first place), then the
-- names it did not have (extra's, or set in form.fields), sorted.  A
-- value that is neither a scalar nor a list of them leaves the map as it
-- is, for the encoder to raise naming the field.
local function scalar(v)
  local t = type(v)
  return t == "string" or t == "number" or t == "boolean"
end

local function in_order(form, fields)
  local list, seen, bad = {}, {}, false
  local function emit(k)
    seen[k] = true
    local v = fields[k]
    if type(v) == "table" and getmetatable(v) == nil then
      local n = 0
      for _ in pairs(v) do n = n + 1 end
      for i = 1, n do
        if not scalar(v[i]) then bad = true end
      end
    elseif not scalar(v) then
      bad = true
    end
    list[#list + 1] = { k, v } -- a list value repeats the name
  end
  for _, k in ipairs(ORDER[form] or {}) do
    if not seen[k] and fields[k] ~= nil then emit(k) end
  end
  local rest = {}
  for k in pairs(fields) do
    if not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(rest) do emit(k) end
  return bad and fields or list
end

-- form:submit([session_or_http [, extra [, opts]]]) -> res, err
-- Sends the fields (extra ones merged over them; an extra value false
-- drops a field) as the form would, in document order: GET puts them in
-- the query, POST in the body, urlencoded, or multipart when the form's enctype says so (the
-- fields as plain parts, the file parts of `extra` and opts.files as files).
function FORM.submit(form, s, extra, opts)
  if getmetatable(form) ~= FORM_MT then
    error("bad self to 'submit' (http.form expected; call it with ':')", 2)
  end
  if extra ~= nil and type(extra) ~= "table" then
    error(("bad argument #2 to 'submit' (table expected, got %s)"):format(type(extra)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #3 to 'submit' (table expected, got %s)"):format(type(opts)), 2)
  end
  if not form.action then
    error("bad self to 'submit' (the form has no action and its document no URL)", 2)
  end
  s = s or require "http"
  local fields = {}
  for k, v in pairs(form.fields) do fields[k] = v end
  for k, v in pairs(extra or {}) do
    if v == false then fields[k] = nil else fields[k] = v end
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  local url = form.action
  if form.method == "GET" then
    url = url:gsub("#.*$", ""):gsub("%?.*$", "") -- the form's fields replace the query
    o.params = in_order(form, fields)
  elseif form.enctype == "multipart/form-data" then
    local files = {}
    if o.files ~= nil then
      if type(o.files) ~= "table" then
        error(("bad argument #3 to 'submit' (field 'files': table expected, got %s)")
          :format(type(o.files)), 2)
      end
      for k, v in pairs(o.files) do files[k] = v end
    end
    for k, v in pairs(fields) do
      if is_part(v) then files[k], fields[k] = v, nil end
    end
    o.files, o.data = files, fields -- files may be empty: still multipart
  else
    o.data = in_order(form, fields)
  end
  local mt = getmetatable(s)
  if type(mt) == "table" and mt.__name == "http.session" then
    return s:request(form.method, url, o)
  end
  return s.request(form.method, url, o)
end

M.form_mt = FORM_MT

return M
