-- paginate.lua: walking a paginated API with lurl, two ways.
--
-- Shows s:paginate following RFC 8288 Link headers (rel="next", the
-- default), then the same collection walked by cursor with a `next`
-- function that returns new query parameters, in items mode (one item at a
-- time).  Prints what each walk saw: pages, items, first and last id.
--
-- It talks to the fixture app of lurl's specs (spec/servers/app.py).  Run
-- the app, then the script:
--   /usr/bin/gunicorn --chdir spec/servers -k gthread --threads 32 -b 127.0.0.1:8000 app:app &
--   lurl scripts/paginate.lua http://127.0.0.1:8000 [PER_PAGE]
-- (or set APP_URL instead of the first argument; with stock lua5.4, put the
-- directory of http.so in LUA_CPATH).
local http = require "http"

local base = arg[1] or os.getenv("APP_URL")
if not base then
  io.stderr:write("usage: lurl paginate.lua APP_URL [PER_PAGE]   (or set APP_URL)\n")
  os.exit(2)
end
local per_page = math.tointeger(tonumber(arg[2] or "10"))
if not per_page or per_page < 1 then
  io.stderr:write("paginate.lua: PER_PAGE must be a positive integer\n")
  os.exit(2)
end

local s <close> = http.session { base_url = base, headers = { Accept = "application/json" }, timeout = 10 }

-- 1. Link headers: each page says where the next one is; the walk ends on
--    the page without rel="next".
local pages, count, first, last = 0, 0, nil, nil
for page in s:paginate("/api/items", { params = { per_page = per_page } }) do
  pages = pages + 1
  for _, item in ipairs(page:json().data) do
    count = count + 1
    first = first or item.id
    last = item.id
  end
end
print(("link:   %d pages, %d items, ids %d..%d"):format(pages, count, first or 0, last or 0))

-- 2. A cursor: the body carries the next cursor (JSON null on the last
--    page, which lua-cjson decodes as cjson.null, so test for a string).
--    Returning a table of options re-sends the same URL with new params.
local cursor_pages = 0
local function next_cursor(res)
  cursor_pages = cursor_pages + 1
  local c = res:json().next_cursor
  if type(c) == "string" then return { params = { limit = per_page, cursor = c } } end
  return nil
end

count, first, last = 0, nil, nil
for item in s:paginate("/api/cursor", {
  params = { limit = per_page },
  next = next_cursor,
  items = function(res) return res:json().data end, -- one item at a time
}) do
  count = count + 1
  first = first or item.id
  last = item.id
end
print(("cursor: %d pages, %d items, ids %d..%d"):format(cursor_pages, count, first or 0, last or 0))
