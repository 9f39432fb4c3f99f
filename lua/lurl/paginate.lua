-- lurl.paginate: walking a paginated API with a for loop (SPEC, Pagination).
--
--   for page in s:paginate("/items", {params = {per_page = 100}}) do ... end
--   for item in s:paginate("/items", {items = function(res) return res:json().data end}) do ... end
--
-- `next` picks the next request: "link" (the default: RFC 8288 rel="next",
-- resolved against the page's URL), or function(res, req) returning a URL,
-- a table of request options to apply to the same URL (e.g. new params for
-- a cursor; a `url` field changes the URL too), or nil to stop.
-- `max_pages` bounds the walk.  A page that fails (transport error or an
-- HTTP error status) raises: a walk never skips a page silently.
local core = require "http.core"

local M = {}

local WALK_KEYS = { next = true, items = true, max_pages = true }

local function merge(base, over)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(over) do
    if k ~= "url" then o[k] = v end
  end
  return o
end

-- send(method, url, opts) -> res | nil, err   (the session's request)
function M.walk(send, url, opts)
  if type(url) ~= "string" then
    error(("bad argument #1 to 'paginate' (string expected, got %s)"):format(type(url)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to 'paginate' (table expected, got %s)"):format(type(opts)), 3)
  end
  local ropts = {}
  for k, v in pairs(opts or {}) do
    if not WALK_KEYS[k] then ropts[k] = v end
  end
  local nextf = opts and opts.next or "link"
  local items = opts and opts.items
  local max_pages = opts and opts.max_pages
  if nextf ~= "link" and type(nextf) ~= "function" then
    error("bad argument #2 to 'paginate' (field 'next': \"link\" or function expected)", 3)
  end
  if items ~= nil and type(items) ~= "function" then
    error("bad argument #2 to 'paginate' (field 'items': function expected)", 3)
  end
  if max_pages ~= nil and (math.type(max_pages) ~= "integer" or max_pages < 1) then
    error("bad argument #2 to 'paginate' (field 'max_pages': positive integer expected)", 3)
  end

  local req = { url = url, opts = ropts }
  local pages = 0
  local buf, bi = nil, 0

  -- Fetches the page `req` describes and works out the one after it.
  local function fetch()
    local res, err = send("GET", req.url, req.opts)
    if not res then error(err, 0) end
    res:raise_for_status()
    pages = pages + 1
    local nxt
    if nextf == "link" then
      local l = res.links.next
      nxt = l and assert(core.resolve(res.url, l.url))
    else
      nxt = nextf(res, { url = req.url, opts = req.opts })
    end
    if max_pages and pages >= max_pages then nxt = nil end
    if type(nxt) == "string" then
      -- a URL from a Link header or the caller already holds its query
      local o = merge(req.opts, {})
      o.params = nil
      req = { url = nxt, opts = o }
    elseif type(nxt) == "table" then
      req = { url = nxt.url or req.url, opts = merge(req.opts, nxt) }
    elseif nxt == nil or nxt == false then
      req = nil
    else
      error(("paginate: 'next' returned a %s (URL, table or nil expected)"):format(type(nxt)), 0)
    end
    return res
  end

  return function()
    while true do
      if buf then
        bi = bi + 1
        if bi <= #buf then return buf[bi] end
        buf = nil
      end
      if not req then return nil end
      local res = fetch()
      if not items then return res end
      local list = items(res)
      if type(list) ~= "table" then
        error(("paginate: 'items' returned a %s (table expected)"):format(type(list)), 0)
      end
      buf, bi = list, 0
    end
  end
end

return M
