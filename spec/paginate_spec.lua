-- Pagination (SPEC, Pagination): s:paginate and http.paginate walk a
-- collection by Link headers (the default), or by a `next` function that
-- returns a URL, a table of request options (cursor, offset) or nil; `items`
-- turns the walk into one item at a time; `max_pages` stops early; a page
-- that fails raises.  Pagination composes with concurrency: a walk can run
-- in a task, and each page's items can be fetched in parallel.
--
-- The fixture app (spec/servers/app_api.py) serves 95 items and records
-- every request, so each test checks exactly which pages the server was
-- asked for: a walk must end at the last page, never fetch one page too
-- many, and never skip one.
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"
local cjson = require "cjson"

local APP = helper.app
local TOTAL = 95

local must = support.must

local function app_stats(tag)
  return cjson.decode(must(http.get(APP .. "/api/stats", { params = { tag = tag } })).body)
end

-- the values of query parameter `name` in the requests the app recorded
local function recorded(tag, name)
  local out = {}
  for _, r in ipairs(app_stats(tag).requests) do
    out[#out + 1] = ("&" .. r.query):match("&" .. name .. "=([^&]*)") or false
  end
  return out
end

local function ids(list)
  local out = {}
  for i, item in ipairs(list) do out[i] = item.id end
  return out
end

local function range(a, b)
  local out = {}
  for i = a, b do out[#out + 1] = i end
  return out
end

local function cursor_next(res)
  local c = res:json().next_cursor
  -- JSON null decodes to cjson.null, which is truthy: test for a string
  if type(c) == "string" then return { params = { limit = 20, cursor = c, tag = "cursor" } } end
  return nil
end

-------------------------------------------------------------------------------
describe("paginate by Link headers", function()
  before_each(function() must(http.get(APP .. "/api/stats/reset")) end)

  it("walks every page and stops exactly at the last one", function()
    local s <close> = http.session { base_url = APP }
    local pages, items, last = 0, {}, nil
    for page in s:paginate("/api/items", { params = { per_page = 10, tag = "link" } }) do
      pages = pages + 1
      assert.are.equal(200, page.status)
      local body = page:json()
      assert.are.equal(pages, body.page)
      for _, it in ipairs(body.data) do items[#items + 1] = it end
      last = page
    end
    assert.are.equal(10, pages)
    assert.are.same(range(1, TOTAL), ids(items))
    assert.is_nil(last.links.next)
    -- the server was asked for pages 1..10, once each, nothing more
    assert.are.same({ false, "2", "3", "4", "5", "6", "7", "8", "9", "10" }, recorded("link", "page"))
  end)

  it("ends without an empty page when the total is a multiple of the page size", function()
    local pages, n = 0, 0
    for page in http.paginate(APP .. "/api/items", { params = { per_page = 5, tag = "exact" } }) do
      pages = pages + 1
      n = n + #page:json().data
    end
    assert.are.equal(19, pages)
    assert.are.equal(TOTAL, n)
    assert.are.equal(19, app_stats("exact").count)
  end)

  it("resolves relative Link URLs against the page's URL", function()
    local urls = {}
    for page in http.paginate(APP .. "/api/items?relative=1&tag=rel", { params = { per_page = 30 } }) do
      urls[#urls + 1] = page.url
    end
    assert.are.equal(4, #urls)
    for i = 2, 4 do
      assert.matches("^" .. APP:gsub("%p", "%%%0") .. "/api/items%?", urls[i])
      assert.matches("page=" .. i, urls[i], 1, true)
    end
    assert.are.same({ false, "2", "3", "4" }, recorded("rel", "page"))
  end)

  it("stops after max_pages without asking for the next page", function()
    local pages = 0
    for _ in http.paginate(APP .. "/api/items", { params = { tag = "max" }, max_pages = 3 }) do
      pages = pages + 1
    end
    assert.are.equal(3, pages)
    assert.are.equal(3, app_stats("max").count)
  end)

  it("stops early when the loop breaks, fetching nothing more", function()
    for page in http.paginate(APP .. "/api/items", { params = { tag = "brk" } }) do
      if page:json().page == 2 then break end
    end
    assert.are.equal(2, app_stats("brk").count)
  end)

  it("raises when a page fails in the middle of the walk", function()
    local seen = {}
    local ok, err = pcall(function()
      for page in http.paginate(APP .. "/api/items", { params = { tag = "fail", fail_page = 3 } }) do
        seen[#seen + 1] = page:json().page
      end
    end)
    assert.is_false(ok)
    assert.are.same({ 1, 2 }, seen)
    assert.are.equal("table", type(err))
    assert.are.equal("HTTPError", err.kind)
    assert.are.equal(500, err.response.status)
    assert.matches("page=3", err.url, 1, true)
    -- the server got page 3 and nothing after it
    assert.are.same({ false, "2", "3" }, recorded("fail", "page"))
  end)

  it("raises a transport error in the middle of the walk", function()
    local dead = "http://127.0.0.1:" .. helper.dead_port .. "/api/items"
    local pages = 0
    local ok, err = pcall(function()
      for _ in http.paginate(APP .. "/api/items", { params = { tag = "deadnext" },
          next = function(res) if res:json().page == 1 then return dead end end }) do
        pages = pages + 1
      end
    end)
    assert.is_false(ok)
    assert.are.equal(1, pages)
    assert.are.equal("ConnectionError", err.kind)
    assert.are.equal(1, app_stats("deadnext").count)
  end)
end)

-------------------------------------------------------------------------------
describe("paginate with a next function", function()
  before_each(function() must(http.get(APP .. "/api/stats/reset")) end)

  it("follows a cursor given back as new params (a table of options)", function()
    local s <close> = http.session { base_url = APP }
    local pages, items = 0, {}
    for page in s:paginate("/api/cursor", { params = { limit = 20, tag = "cursor" }, next = cursor_next }) do
      pages = pages + 1
      for _, it in ipairs(page:json().data) do items[#items + 1] = it end
    end
    assert.are.equal(5, pages)
    assert.are.same(range(1, TOTAL), ids(items))
    local cursors = recorded("cursor", "cursor")
    assert.are.equal(5, #cursors)
    assert.is_false(cursors[1]) -- the first page has no cursor
    for i = 2, 5 do assert.is_string(cursors[i]) end
    for _, lim in ipairs(recorded("cursor", "limit")) do assert.are.equal("20", lim) end
  end)

  it("walks an offset/limit API, receiving the previous request", function()
    local reqs = {}
    local function next_offset(res, req)
      reqs[#reqs + 1] = req
      local body = res:json()
      local off = math.tointeger(body.offset + body.limit)
      if off < body.total then return { params = { offset = off, limit = 30, tag = "offset" } } end
    end
    local items = {}
    for item in http.paginate(APP .. "/api/offset", { params = { offset = 0, limit = 30, tag = "offset" },
        next = next_offset, items = function(res) return res:json().data end }) do
      items[#items + 1] = item
    end
    assert.are.same(range(1, TOTAL), ids(items))
    assert.are.same({ "0", "30", "60", "90" }, recorded("offset", "offset"))
    assert.are.equal(4, #reqs)
    assert.matches("/api/offset", reqs[1].url, 1, true)
    assert.are.equal(30, reqs[2].opts.params.offset)
  end)

  it("accepts a URL string, and a table with a url field", function()
    local walked = {}
    local function nxt(res)
      local p = res:json().page
      if p == 1 then return APP .. "/api/items?page=3&tag=mixed" end
      if p == 3 then return { url = APP .. "/api/items", params = { page = 5, tag = "mixed" } } end
      return nil
    end
    for page in http.paginate(APP .. "/api/items", { params = { tag = "mixed" }, next = nxt }) do
      walked[#walked + 1] = page:json().page
    end
    assert.are.same({ 1, 3, 5 }, walked)
    -- a returned URL is the next request as is: the first request's params
    -- are not added to it a second time
    local queries = {}
    for i, r in ipairs(app_stats("mixed").requests) do queries[i] = r.query end
    assert.are.same({ "tag=mixed", "page=3&tag=mixed", "page=5&tag=mixed" }, queries)
  end)
end)

-------------------------------------------------------------------------------
describe("paginate items mode", function()
  before_each(function() must(http.get(APP .. "/api/stats/reset")) end)

  it("yields one item at a time across pages", function()
    local s <close> = http.session { base_url = APP }
    local got = {}
    for item in s:paginate("/api/items", { params = { per_page = 25, tag = "items" },
        items = function(res) return res:json().data end }) do
      got[#got + 1] = item
    end
    assert.are.equal(TOTAL, #got)
    assert.are.same(range(1, TOTAL), ids(got))
    assert.are.equal("item-095", got[TOTAL].name)
    assert.are.equal(4, app_stats("items").count)
  end)

  it("fetches a page only when its items are needed", function()
    local n = 0
    for _ in http.paginate(APP .. "/api/items", { params = { per_page = 10, tag = "lazy" },
        items = function(res) return res:json().data end }) do
      n = n + 1
      if n == 12 then break end
    end
    assert.are.equal(2, app_stats("lazy").count)
  end)
end)

-------------------------------------------------------------------------------
describe("paginate with concurrency", function()
  before_each(function() must(http.get(APP .. "/api/stats/reset")) end)

  it("walks pages and fetches each page's item details in parallel", function()
    local s <close> = http.session { base_url = APP }
    local details = {}
    for page in s:paginate("/api/items", { params = { per_page = 20, tag = "walk" } }) do
      local list = {}
      for i, it in ipairs(page:json().data) do
        -- lua-cjson decodes every number as a float: 1.0 would give "/api/items/1.0"
        list[i] = { "GET", ("/api/items/%d"):format(it.id), { params = { tag = "detail", delay = 0.05 } } }
      end
      for _, res in ipairs(s:parallel(list, { concurrency = 5 })) do
        -- a slot holds a response or an error object
        if not res.status then error("detail failed: " .. tostring(res)) end
        details[#details + 1] = res:json()
      end
    end
    assert.are.equal(TOTAL, #details)
    assert.are.same(range(1, TOTAL), ids(details))
    assert.are.equal("details of item 95", details[TOTAL].detail)
    assert.are.equal(5, app_stats("walk").count)
    local st = app_stats("detail")
    assert.are.equal(TOTAL, st.count)
    assert.are.equal(5, st.max_in_flight)
  end)

  it("runs walks in tasks side by side", function()
    local function walk(tag)
      local n = 0
      for item in http.paginate(APP .. "/api/items", { params = { per_page = 10, tag = tag },
          items = function(res) return res:json().data end }) do
        n = n + item.id
      end
      return n
    end
    local a, b = http.spawn(walk, "wa"), http.spawn(walk, "wb")
    assert.are.same({ TOTAL * (TOTAL + 1) / 2, TOTAL * (TOTAL + 1) / 2 }, http.join({ a, b }))
    assert.are.equal(10, app_stats("wa").count)
    assert.are.equal(10, app_stats("wb").count)
    -- the two walks interleaved on the server
    local sa, sb = app_stats("wa").requests, app_stats("wb").requests
    assert.is_true(sa[1].arrival < sb[#sb].arrival and sb[1].arrival < sa[#sa].arrival)
  end)
end)

-------------------------------------------------------------------------------
describe("paginate arguments", function()
  it("are checked before anything is sent", function()
    local s <close> = http.session()
    local cases = {
      { { next = "header" }, "field 'next'" },
      { { max_pages = 0 }, "field 'max_pages'" },
      { { items = "data" }, "field 'items'" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(s.paginate, s, APP .. "/api/items", c[1])
      assert.is_false(ok)
      assert.matches(c[2], err, 1, true)
    end
    assert.matches("bad argument #1 to 'paginate'", select(2, pcall(http.paginate, 42)), 1, true)
  end)
end)
