-- lurl.cookie: linear parsers of the cookie headers a server sends.
--
-- Set-Cookie and Cookie values come from servers lurl does not control,
-- so every function here does a bounded number of passes over its input:
-- no pattern that backtracks over a run of spaces (a trim written as
-- "^%s*(.-)%s*$" costs n^2/2 steps on a value padded with n spaces, 25 s
-- for 90,000 of them).  Used by res.cookies (lurl.response), the HAR
-- recorder's cookie objects and the redaction rules (lurl.redact).
local find, sub, match, lower = string.find, string.sub, string.match, string.lower

local M = {}

-- trim(s) -> s without leading and trailing whitespace.  Both searches
-- are linear: find stops at the first non-space, and "^.*()%S" expands
-- to the end once and steps back to the last non-space.
local function trim(s)
  local i = find(s, "%S")
  if not i then return "" end
  return sub(s, i, match(s, "^.*()%S"))
end
M.trim = trim

-- set_cookie(value) -> name, value, attributes | nil: the name and value
-- of a Set-Cookie field (trimmed), and the text from the first ';' on
-- ("" when none).  nil when the first piece has no '=' or an empty name,
-- or a name with whitespace inside (a browser ignores such a cookie).
function M.set_cookie(v)
  local semi = find(v, ";", 1, true)
  local pair = semi and sub(v, 1, semi - 1) or v
  local eq = find(pair, "=", 1, true)
  if not eq then return nil end
  local name = trim(sub(pair, 1, eq - 1))
  if name == "" or find(name, "%s") then return nil end
  return name, trim(sub(pair, eq + 1)), semi and sub(v, semi) or ""
end

-- attributes(text) -> iterator of (lower-case key, value or nil) over
-- "; Path=/; HttpOnly" (what set_cookie returns third).
function M.attributes(text)
  local pos, n = 1, #text
  return function()
    while pos <= n do
      local semi = find(text, ";", pos, true) or n + 1
      local piece = sub(text, pos, semi - 1)
      pos = semi + 1
      local eq = find(piece, "=", 1, true)
      local k = trim(eq and sub(piece, 1, eq - 1) or piece)
      if k ~= "" then return lower(k), eq and trim(sub(piece, eq + 1)) or nil end
    end
  end
end

-- pairs(text) -> iterator of (name, value) over a Cookie header
-- ("a=1; b=2"); a piece without '=' gives (false, piece).
function M.pairs(text)
  local pos, n = 1, #text
  return function()
    while pos <= n do
      local semi = find(text, ";", pos, true) or n + 1
      local piece = sub(text, pos, semi - 1)
      pos = semi + 1
      local eq = find(piece, "=", 1, true)
      if eq then return trim(sub(piece, 1, eq - 1)), trim(sub(piece, eq + 1)) end
      piece = trim(piece)
      if piece ~= "" then return false, piece end
    end
  end
end

return M
