-- http.assert: luassert assertions made for HTTP responses.
--
--   local http = require "http"
--   require "http.assert"
--   local res = assert(http.get(url))
--   assert.status(res, 200)                  -- or "2xx", or {200, 201}
--   assert.header(res, "content-type", "application/json")
--   assert.header_matches(res, "content-type", "^application/json")
--   assert.json_field(res, "items[1].name", "x")
--   assert.body_matches(res, "hello %a+")    -- body_contains for plain text
--   assert.selector_count(res, "ul.items > li", 3)   -- HTML bodies
--   assert.selector_text(res, "h1", "Welcome")
--   assert.selector_text_pattern(res, ".price", "^£%d+")
--   assert.elapsed_under(res, 0.5)
--   assert.timing_under(res, "ttfb", 0.2)
--   assert.is_not.status(res, "5xx")         -- luassert's modifiers work
--
-- Each is registered with luassert's assert:register, so busted's global
-- `assert` (the same luassert object) gains them; each returns the
-- response, so `local res = assert.status(assert(http.get(u)), 200)` reads
-- well.  A failing assertion explains itself: the expectation, then the
-- request line, the headers sent, the status line, the response headers,
-- the timings and a short body excerpt, all with secrets redacted
-- (lurl.redact decides what is secret, as for traces and HAR files; body
-- excerpts are scrubbed of the credentials and cookie values the exchange
-- carried, the proxies' credentials and the cookie values of open
-- sessions' jars, since servers like httpbin echo them).  M.explain(res) gives the same block for a message
-- of your own.
local has_luassert, luassert = pcall(require, "luassert")
if not has_luassert then
  error("http.assert needs luassert (Debian: lua-luassert, installed with lua-busted): "
    .. tostring(luassert), 2)
end
local say = require "say"
local util = require "luassert.util"
local json = require "http.json"
local trace = require "lurl.trace"
local redact = require "lurl.redact"
local core = require "http.core"

local M = {}

local type, tostring, ipairs, pairs = type, tostring, ipairs, pairs
local fmt, concat = string.format, table.concat

local MAX_HEADERS = 16      -- header lines shown per side
local MAX_EXCERPT = 240     -- body bytes shown
local PHASES = { dns = true, connect = true, tls = true, ttfb = true, total = true, redirect = true }

------------------------------------------------------------------ explaining

-- Folds each whitespace run that holds a line break into one space, in
-- one pass (a pattern like "%s*[\r\n]%s*" backtracks over every run of
-- spaces without a line break: quadratic on a padded body).
local function fold_lines(s)
  local out, pos, n = {}, 1, #s
  while pos <= n do
    local i, j = s:find("%s+", pos)
    if not i then out[#out + 1] = s:sub(pos); break end
    out[#out + 1] = s:sub(pos, i - 1)
    local run = s:sub(i, j)
    out[#out + 1] = run:find("[\r\n]") and " " or run
    pos = j + 1
  end
  return concat(out)
end

-- A one-line, printable excerpt of a body: whitespace runs with a line
-- break folded to one space (pretty-printed JSON stays readable), other
-- control bytes escaped, secrets scrubbed, cut at MAX_EXCERPT bytes.
local function excerpt(body, secrets)
  if type(body) ~= "string" then return "(none)" end
  if body == "" then return "(empty)" end
  local s = redact.excerpt(body, secrets, 1, MAX_EXCERPT * 2)
  s = fold_lines(s)
  s = s:sub(1, (s:match("^.*()%S") or 0))
  local cut = #s > MAX_EXCERPT
  s = s:sub(1, MAX_EXCERPT)
  s = s:gsub("[%z\1-\31\127]", function(c) return fmt("\\%d", c:byte()) end)
  return fmt("(%d bytes) %s%s", #body, s, (cut or #body > MAX_EXCERPT * 2) and " ..." or "")
end

-- Response fields that never explain a failure; left out of messages
-- unless an assertion is about them.
local ROUTINE = { date = true, server = true, connection = true, ["keep-alive"] = true,
  ["access-control-allow-origin"] = true, ["access-control-allow-credentials"] = true }

local function header_lines(out, indent, list, focus, skip, ctx)
  local shown, hidden = 0, 0
  for _, f in ipairs(list) do
    local name = f[1]:lower()
    if name == focus or (shown < MAX_HEADERS and not (skip and skip[name])) then
      out[#out + 1] = indent .. f[1] .. ": " .. tostring(redact.header(f[1], f[2], ctx))
      shown = shown + 1
    else
      hidden = hidden + 1
    end
  end
  if hidden > 0 then
    out[#out + 1] = fmt("%s(%d more header line%s not shown)", indent, hidden, hidden == 1 and "" or "s")
  end
end

-- The secret strings of an exchange, longest first: its own, the proxies'
-- credentials and the cookie values of open sessions' jars.
local exchange_secrets = redact.response_secrets

-- explain(res [, focus]) -> the multi-line context block failure messages
-- carry: request line and headers, status line and headers, timings,
-- body excerpt.  `focus` (a header name) is always shown.  Secrets are
-- redacted; URL passwords become "***".
function M.explain(res, focus)
  if type(res) ~= "table" or type(res.status) ~= "number" then
    return "  (no response: " .. tostring(res) .. ")"
  end
  local ctx = rawget(res, "_redact")
  local secrets = exchange_secrets(res)
  local out = {}
  local req = type(res.request) == "table" and res.request or {}
  local pad = "            "
  out[#out + 1] = "  request:  " .. tostring(req.method or res.method or "?") .. " " ..
    tostring(redact.url(req.url or res.url, ctx))
  header_lines(out, pad, redact.request_pairs(res), focus and focus:lower(), nil, ctx)
  local hist = type(res.history) == "table" and #res.history or 0
  out[#out + 1] = fmt("  response: HTTP/%s %d %s%s", tostring(res.http_version or "1.1"),
    res.status, tostring(res.reason or ""),
    hist > 0 and fmt(" (after %d redirect%s)", hist, hist == 1 and "" or "s") or "")
  header_lines(out, pad, type(res.header_list) == "table" and res.header_list or {},
    focus and focus:lower(), ROUTINE, ctx)
  if type(res.timings) == "table" then
    out[#out + 1] = "  timing:   " .. trace.timing_line(res.timings)
  end
  out[#out + 1] = "  body:     " .. excerpt(res.body, secrets)
  return concat(out, "\n")
end

-- How a value reads in a message: JSON-ish, short.
local function show(v)
  if v == json.null then return "null" end
  local t = type(v)
  if t == "string" then return fmt("%q", #v > 120 and (v:sub(1, 120) .. "...") or v) end
  if t == "table" then
    local ok, s = pcall(json.encode, v)
    if ok then return #s > 160 and (s:sub(1, 160) .. "...") or s end
  end
  return tostring(v)
end

------------------------------------------------------------------ plumbing

-- luassert formats the message key with the arguments; every assertion
-- here builds its whole text itself and hands it over as the one argument.
say:set("assertion.http.failed", "%s")

local function is_error(v)
  return type(v) == "table" and getmetatable(v) == core.error_mt
end

-- The response argument, or a failure text when there is none (a nil from
-- a failed request, or an http.parallel slot holding an error).
local function need_response(res)
  if type(res) == "table" and type(res.status) == "number" then return res end
  if is_error(res) then return nil, "Expected an HTTP response, got error: " .. tostring(res) end
  return nil, "Expected an HTTP response, got " .. (res == nil and "nil" or type(res))
end

local function argerror(name, n, msg, level)
  error(fmt("bad argument #%d to '%s' (%s)", n, name, msg), (level or 1) + 1)
end

-- Registers one assertion.  check(state, args, level) returns
-- ok, describe, res, focus: describe(negated) builds the expectation
-- sentence, only called when the assertion fails.
local function register(name, check)
  local function callback(state, args, level)
    local ok, describe, res, focus, msg_index = check(state, args, level)
    if ok ~= state.mod then
      local text = describe(not state.mod)
      -- the expectation quotes values from the body too (json_field):
      -- scrubbed like the excerpt
      if res then text = redact.scrub(text, exchange_secrets(res)) .. "\n" .. M.explain(res, focus) end
      local user_msg = msg_index and args[msg_index]
      if user_msg ~= nil then state.failure_message = user_msg end
      for i = 1, args.n do args[i] = nil end
      args[1], args.n, args.nofmt = text, 1, { true }
    end
    if res then return ok, { res } end
    return ok
  end
  luassert:register("assertion", name, callback, "assertion.http.failed", "assertion.http.failed")
end

-- The response (or failure) shared by every check: a missing response
-- fails both ways, since "is not status 200" cannot be said of nothing.
local function with_response(state, args, fail_name)
  local res, why = need_response(args[1])
  if not res then
    state.mod = true
    return nil, function() return why .. " (" .. fail_name .. ")" end
  end
  return res
end

------------------------------------------------------------------ status

local function status_spec(want, level)
  local t = type(want)
  if math.type(want) == "integer" then
    return function(s) return s == want end, tostring(want)
  elseif t == "string" then
    local class = want:match("^([1-5])[xX][xX]$")
    if class then
      class = tonumber(class)
      return function(s) return s // 100 == class end, class .. "xx"
    end
    local n = tonumber(want)
    if n and math.type(n) == "integer" then return function(s) return s == n end, want end
  elseif t == "table" and #want > 0 then
    local preds, names = {}, {}
    for i, w in ipairs(want) do preds[i], names[i] = status_spec(w, level + 1) end
    return function(s)
      for _, p in ipairs(preds) do if p(s) then return true end end
      return false
    end, "one of " .. concat(names, ", ")
  end
  argerror("status", 2, "status code, class like \"2xx\" or list of them expected, got " ..
    show(want), level + 1)
end

-- assert.status(res, 200 | "2xx" | {200, 201} [, message])
register("status", function(state, args, level)
  local res, fail = with_response(state, args, "status")
  if not res then return false, fail end
  local pred, label = status_spec(args[2], level)
  local ok = pred(res.status)
  return ok, function(negated)
    return fmt("Expected status %s%s, got %d %s", negated and "not to be " or "", label,
      res.status, tostring(res.reason or ""))
  end, res, nil, 3
end)

------------------------------------------------------------------ headers

local function header_name(name, fname, level)
  if type(name) ~= "string" then
    argerror(fname, 2, "header name expected, got " .. type(name), level + 1)
  end
  return name
end

-- every value of a field, plus the joined value res.headers gives
local function header_values(res, name)
  local want, vals = name:lower(), {}
  for _, f in ipairs(res.header_list or {}) do
    if f[1]:lower() == want then vals[#vals + 1] = f[2] end
  end
  return vals
end

local function shown_values(name, vals, ctx)
  if #vals == 0 then return "(absent)" end
  local out = {}
  for i, v in ipairs(vals) do out[i] = show(redact.header(name, v, ctx)) end
  return concat(out, ", ")
end

-- assert.header(res, name [, value [, message]]): with a value, passes when
-- the field's value (or, for a repeated field, one of its values or all of
-- them joined with ", ") equals it exactly; without one, when the field is
-- present.  assert.has_no.header(res, name) checks absence.
register("header", function(state, args, level)
  local res, fail = with_response(state, args, "header")
  if not res then return false, fail end
  local name = header_name(args[2], "header", level)
  local want = args[3]
  local vals = header_values(res, name)
  local ok
  if want == nil then
    ok = #vals > 0
  else
    want = tostring(want)
    ok = concat(vals, ", ") == want
    for _, v in ipairs(vals) do ok = ok or v == want end
  end
  return ok, function(negated)
    if want == nil then
      return fmt("Expected header %s to be %s, got %s", name, negated and "absent" or "present",
        shown_values(name, vals, rawget(res, "_redact")))
    end
    local ctx = rawget(res, "_redact")
    return fmt("Expected header %s %sto be %s, got %s", name, negated and "not " or "",
      show(redact.header(name, want, ctx)), shown_values(name, vals, ctx))
  end, res, name, 4
end)

-- assert.header_matches(res, name, pattern [, message]): a Lua pattern
-- that one of the field's values (or their ", " join) must match.
register("header_matches", function(state, args, level)
  local res, fail = with_response(state, args, "header_matches")
  if not res then return false, fail end
  local name = header_name(args[2], "header_matches", level)
  local pat = args[3]
  if type(pat) ~= "string" then argerror("header_matches", 3, "pattern expected, got " .. type(pat), level) end
  local vals = header_values(res, name)
  local ok = #vals > 0 and concat(vals, ", "):find(pat) ~= nil
  for _, v in ipairs(vals) do ok = ok or v:find(pat) ~= nil end
  return ok, function(negated)
    return fmt("Expected header %s %sto match pattern %s, got %s", name, negated and "not " or "",
      show(redact.is_secret_header(name, rawget(res, "_redact")) and "***" or pat),
      shown_values(name, vals, rawget(res, "_redact")))
  end, res, name, 4
end)

------------------------------------------------------------------ JSON

-- "items[1].name", "a.b", "[2]", 'headers["Content-Type"]' -> steps:
-- strings are object keys, integers are array indices from 1.
local function parse_path(path, level)
  local steps, i, n = {}, 1, #path
  local function bad(why) argerror("json_field", 2, fmt("bad JSON path %q: %s", path, why), level + 2) end
  if n == 0 then bad("empty") end
  while i <= n do
    local c = path:sub(i, i)
    if c == "[" then
      local num, j = path:match("^%[%s*(%d+)%s*%]()", i)
      if num then
        steps[#steps + 1] = math.tointeger(tonumber(num))
      else
        local key
        key, j = path:match('^%[%s*"(.-)"%s*%]()', i)
        if not key then key, j = path:match("^%[%s*'(.-)'%s*%]()", i) end
        if not key then bad("expected [number] or [\"key\"] at position " .. i) end
        steps[#steps + 1] = key
      end
      i = j
    else
      if c == "." then
        if i == 1 or i == n then bad("'.' at the start or end") end
        i = i + 1
      elseif i ~= 1 then
        bad("expected '.' or '[' at position " .. i)
      end
      local key, j = path:match("^([^%.%[%]]+)()", i)
      if not key then bad("empty key at position " .. i) end
      steps[#steps + 1] = key
      i = j
    end
  end
  return steps
end

local function step_text(prefix, step)
  if math.type(step) == "integer" then return prefix .. "[" .. step .. "]" end
  if step:match("^[%a_][%w_%-]*$") then return prefix == "" and step or (prefix .. "." .. step) end
  return prefix .. fmt("[%q]", step)
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

local function keys_of(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = tostring(k) end
  table.sort(ks)
  if #ks > 12 then ks = { concat(ks, ", ", 1, 12) .. ", ..." } end
  return concat(ks, ", ")
end

-- Walks decoded JSON; returns found, value, or false, why-not (naming the
-- deepest part of the path that exists).
local function resolve(doc, steps)
  local cur, prefix = doc, ""
  for _, step in ipairs(steps) do
    local here = step_text(prefix, step)
    if type(cur) ~= "table" then
      return false, fmt("%s is %s, not an object or array", prefix == "" and "the body" or prefix,
        show(cur))
    end
    local v = cur[step]
    if v == nil and math.type(step) == "integer" then v = cur[tostring(step)] end
    if v == nil then
      if math.type(step) == "integer" then
        return false, fmt("%s is missing (%s has %d element%s)", here,
          prefix == "" and "the body" or prefix, #cur, #cur == 1 and "" or "s")
      end
      return false, fmt("%s is missing (%s has %s)", here, prefix == "" and "the body" or prefix,
        count(cur) == 0 and "no fields" or ("fields: " .. keys_of(cur)))
    end
    cur, prefix = v, here
  end
  return true, cur
end

-- assert.json_field(res, path [, expected [, message]]): the body decoded
-- as JSON has a value at `path` ("items[1].name": dots for object keys,
-- [n] for array indices from 1, ["odd.key"] for keys with dots), deeply
-- equal to `expected` when given (tables compare by content; json.null
-- for JSON null).  assert.is_not.json_field(res, path) checks absence.
register("json_field", function(state, args, level)
  local res, fail = with_response(state, args, "json_field")
  if not res then return false, fail end
  local path = args[2]
  if type(path) ~= "string" then argerror("json_field", 2, "path string expected, got " .. type(path), level) end
  local steps = parse_path(path, level)
  local has_expected = args.n >= 3
  local want = args[3]
  local ok_doc, doc = pcall(json.decode, res.body)
  if not ok_doc then
    state.mod = true -- "not a field of a non-JSON body" would pass by accident
    local why = tostring(doc):gsub("^.-:%d+: ", "")
    return false, function()
      return fmt("Expected a JSON body with field %s, but the body is not JSON (%s)", path, why)
    end, res, nil, 4
  end
  local found, v = resolve(doc, steps)
  local ok = found
  if found and has_expected then ok = util.deepcompare(v, want, true) and true or false end
  return ok, function(negated)
    if not has_expected then
      if negated then return fmt("Expected JSON field %s to be absent, got %s", path, show(v)) end
      return fmt("Expected JSON field %s to be present, but %s", path, v)
    end
    if not found then
      return fmt("Expected JSON field %s to be %s, but %s", path, show(want), v)
    end
    return fmt("Expected JSON field %s %sto be %s, got %s", path, negated and "not " or "",
      show(want), show(v))
  end, res, nil, 4
end)

------------------------------------------------------------------ body

-- assert.body_matches(res, pattern [, message]): Lua pattern on res.body.
register("body_matches", function(state, args, level)
  local res, fail = with_response(state, args, "body_matches")
  if not res then return false, fail end
  local pat = args[2]
  if type(pat) ~= "string" then argerror("body_matches", 2, "pattern expected, got " .. type(pat), level) end
  local ok = (res.body or ""):find(pat) ~= nil
  return ok, function(negated)
    return fmt("Expected body %sto match pattern %s", negated and "not " or "", show(pat))
  end, res, nil, 3
end)

-- assert.body_contains(res, text [, message]): plain substring of res.body.
register("body_contains", function(state, args, level)
  local res, fail = with_response(state, args, "body_contains")
  if not res then return false, fail end
  local text = args[2]
  if type(text) ~= "string" then argerror("body_contains", 2, "string expected, got " .. type(text), level) end
  local ok = (res.body or ""):find(text, 1, true) ~= nil
  return ok, function(negated)
    return fmt("Expected body %sto contain %s", negated and "not " or "", show(text))
  end, res, nil, 3
end)

------------------------------------------------------------------ html

-- The parsed body of a response, once per response (the documents are
-- kept as long as their responses, no longer).
local docs = setmetatable({}, { __mode = "k" })
local function html_of(res)
  local doc = docs[res]
  if not doc then
    doc = require("lurl.html").response(res)
    docs[res] = doc
  end
  return doc
end

local MAX_MATCHES_SHOWN = 3
local MAX_MATCH_BYTES = 200

-- The matches of css (a checked selector), up to `max` of them, and how many.
local function matches(doc, css, max)
  local got, n = {}, 0
  for e in doc:select(css) do
    n = n + 1
    if n <= max then got[n] = e end
  end
  return got, n
end

-- The selector argument: a string that compiles (the error says where not).
local function selector_arg(doc, css, fname, level)
  if type(css) ~= "string" then argerror(fname, 2, "selector expected, got " .. type(css), level + 1) end
  local ok, err = pcall(doc.select_one, doc, css)
  if not ok then
    argerror(fname, 2, (tostring(err):gsub("^.-:%d+: ", ""):gsub("^select_one: ", "")), level + 1)
  end
end

-- The byte offsets where the compound selectors of css end, outside
-- brackets, parentheses and strings; nil for a group (a ',' at the top).
local function compound_ends(css)
  local ends, depth, quote, i, n = {}, 0, nil, 1, #css
  while i <= n do
    local c = css:sub(i, i)
    if quote then
      if c == "\\" then i = i + 1 elseif c == quote then quote = nil end
    elseif c == "\\" then
      i = i + 1
    elseif c == '"' or c == "'" then
      quote = c
    elseif c == "[" or c == "(" then
      depth = depth + 1
    elseif c == "]" or c == ")" then
      depth = depth - 1
    elseif depth == 0 and c == "," then
      return nil
    end
    if depth == 0 and not quote and not c:find("^[%s>+~]") then
      local nx = css:sub(i + 1, i + 1)
      if nx == "" or nx:find("^[%s>+~]") then ends[#ends + 1] = i end
    end
    i = i + 1
  end
  return ends
end

-- One match as a line of a message: its outer HTML, on one line, cut.
local function shown_match(e)
  local s = fold_lines(e:outer_html())
  if #s > MAX_MATCH_BYTES then
    s = s:sub(1, MAX_MATCH_BYTES):gsub("[\128-\191]*$", ""):gsub("[\192-\255]$", "") .. " ..."
  end
  return "    " .. s:gsub("[%z\1-\31\127]", " ")
end

-- Lines that show what the document holds near css: up to three matches
-- of css when it matches, else of the longest prefix of it that does.
local function near_matches(doc, css)
  local got, n = matches(doc, css, MAX_MATCHES_SHOWN)
  local label = fmt("  matches of %s (%d):", show(css), n)
  if n == 0 then
    local ends = compound_ends(css) or {}
    for k = #ends - 1, 1, -1 do
      local prefix = css:sub(1, ends[k])
      got, n = matches(doc, prefix, MAX_MATCHES_SHOWN)
      if n > 0 then
        label = fmt("  longest prefix that matches: %s (%d match%s):", show(prefix), n,
          n == 1 and "" or "es")
        break
      end
    end
    if n == 0 then return "  no prefix of the selector matches" end
  end
  local out = { label }
  for _, e in ipairs(got) do out[#out + 1] = shown_match(e) end
  if n > #got then out[#out + 1] = fmt("    (and %d more)", n - #got) end
  return concat(out, "\n")
end

-- assert.selector_count(res, css, n [, message]): the HTML body has
-- exactly n elements matching css.
register("selector_count", function(state, args, level)
  local res, fail = with_response(state, args, "selector_count")
  if not res then return false, fail end
  local doc = html_of(res)
  local css, want = args[2], args[3]
  selector_arg(doc, css, "selector_count", level)
  if math.type(want) ~= "integer" or want < 0 then
    argerror("selector_count", 3, "count expected, got " .. show(want), level)
  end
  local _, n = matches(doc, css, 0)
  return n == want, function(negated)
    return fmt("Expected selector %s %sto match %d time%s, it matched %d\n%s", show(css),
      negated and "not " or "", want, want == 1 and "" or "s", n, near_matches(doc, css))
  end, res, nil, 4
end)

-- The text of the first match of css, or nil.
local function first_text(res, args, fname, level)
  local doc = html_of(res)
  local css, want = args[2], args[3]
  selector_arg(doc, css, fname, level + 1)
  if type(want) ~= "string" then argerror(fname, 3, "string expected, got " .. type(want), level + 1) end
  local e = doc:select_one(css)
  return doc, css, want, e and e:text()
end

-- assert.selector_text(res, css, text [, message]): the text of the first
-- element matching css (whitespace collapsed, as el:text()) equals text.
register("selector_text", function(state, args, level)
  local res, fail = with_response(state, args, "selector_text")
  if not res then return false, fail end
  local doc, css, want, got = first_text(res, args, "selector_text", level)
  return got == want, function(negated)
    return fmt("Expected the text of %s %sto be %s, %s\n%s", show(css), negated and "not " or "",
      show(want), got and "got " .. show(got) or "nothing matches", near_matches(doc, css))
  end, res, nil, 4
end)

-- assert.selector_text_pattern(res, css, pattern [, message]): the same
-- with a Lua pattern.
register("selector_text_pattern", function(state, args, level)
  local res, fail = with_response(state, args, "selector_text_pattern")
  if not res then return false, fail end
  local doc, css, pat, got = first_text(res, args, "selector_text_pattern", level)
  return got ~= nil and got:find(pat) ~= nil, function(negated)
    return fmt("Expected the text of %s %sto match pattern %s, %s\n%s", show(css),
      negated and "not " or "", show(pat), got and "got " .. show(got) or "nothing matches",
      near_matches(doc, css))
  end, res, nil, 4
end)

------------------------------------------------------------------ time

local function seconds_arg(v, fname, n, level)
  if type(v) ~= "number" or v < 0 then
    argerror(fname, n, "non-negative number of seconds expected, got " .. show(v), level + 1)
  end
  return v
end

-- assert.elapsed_under(res, seconds [, message]): res.elapsed (the whole
-- exchange, redirects included) is strictly less than `seconds`.
register("elapsed_under", function(state, args, level)
  local res, fail = with_response(state, args, "elapsed_under")
  if not res then return false, fail end
  local limit = seconds_arg(args[2], "elapsed_under", 2, level)
  local took = res.elapsed or 0
  return took < limit, function(negated)
    return fmt("Expected the exchange %sto take under %.3f s, it took %.3f s",
      negated and "not " or "", limit, took)
  end, res, nil, 3
end)

-- assert.timing_under(res, phase, seconds [, message]): one phase of
-- res.timings (dns, connect, tls, ttfb, total, redirect) is under the bound.
register("timing_under", function(state, args, level)
  local res, fail = with_response(state, args, "timing_under")
  if not res then return false, fail end
  local phase = args[2]
  if not PHASES[phase] then
    argerror("timing_under", 2, "phase dns, connect, tls, ttfb, total or redirect expected, got " ..
      show(phase), level)
  end
  local limit = seconds_arg(args[3], "timing_under", 3, level)
  local took = (res.timings or {})[phase] or 0
  return took < limit, function(negated)
    return fmt("Expected %s time %sto be under %.3f s, it was %.3f s", phase,
      negated and "not " or "", limit, took)
  end, res, nil, 4
end)

M.assert = luassert
return M
