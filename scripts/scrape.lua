-- scrape.lua: the scraper every requests tutorial shows, done politely.
--
-- Walks a book catalogue shaped like books.toscrape.com: prints the title
-- and the price of every book on a page, then follows the page's "next"
-- link, up to the last page.  Politely, as a crawler should:
--   * one session, whose rate_limit spaces the requests (RATE per second,
--     default 2) and whose User-Agent names the bot;
--   * robots.txt asked before every page (http.robots, RFC 9309; fetched
--     once, through the same session); a page it disallows is not fetched,
--     and the walk stops there;
--   * retries of 429 and 503 answers that honour Retry-After;
--   * never the same page twice (a "next" loop ends the walk).
--
-- It talks to the fixture catalogue of lurl's specs (spec/servers/
-- fault_routes_scrape.py, served by the fault server).  From the
-- repository root:
--   /usr/bin/python3 spec/servers/fault_server.py 8000 &
--   lurl scripts/scrape.lua http://127.0.0.1:8000/ [RATE [USER_AGENT]]
-- (with stock lua5.4, put the directory of http.so in LUA_CPATH).
-- Prints "title<TAB>price" per book on stdout, a summary on stderr.  Exit
-- status: 0 when the walk ended (at the last page, or at a page robots.txt
-- disallows), 1 when the first page is disallowed or a page failed, 2 on
-- bad arguments.
local http = require "http"

local start = arg[1]
if not start or start == "" then
  io.stderr:write("usage: lurl scrape.lua SITE_URL [RATE [USER_AGENT]]\n")
  os.exit(2)
end
local rate = tonumber(arg[2] or "2")
if not rate or rate <= 0 then
  io.stderr:write("scrape.lua: RATE must be a positive number of requests per second\n")
  os.exit(2)
end
local user_agent = arg[3] or "lurl-books-tutorial/1.0 (+https://example.com/about-this-bot)"

local s <close> = http.session {
  rate_limit = rate,
  headers = { ["User-Agent"] = user_agent },
  timeout = 10,
  retry = { attempts = 3, statuses = { 429, 503 } },
}

local function fail(fmt, ...)
  io.stderr:write("scrape.lua: ", fmt:format(...), "\n")
  os.exit(1)
end

local seen, pages, books = {}, 0, 0
local url = start
while url and not seen[url] do
  seen[url] = true
  -- the session's User-Agent chooses the robots.txt group
  if not http.robots(url, { session = s }) then
    io.stderr:write(("scrape.lua: robots.txt disallows %s for %s: not fetched\n"):format(url, user_agent))
    if pages == 0 then os.exit(1) end
    break
  end
  local res, err = s:get(url)
  if not res then fail("%s: %s", url, tostring(err)) end
  if not res.ok then fail("%s: HTTP %d", url, res.status) end
  local doc = res:html()
  pages = pages + 1
  for book in doc:select("article.product_pod") do
    local a = book:select_one("h3 a")
    -- the link text is cut ("A Light in the ..."); the title attribute is whole
    local title = a and (a:attr("title") or a:text()) or "?"
    local price = book:select_one(".price_color")
    print(title .. "\t" .. (price and price:text() or "?"))
    books = books + 1
  end
  local next_link = doc:select_one("li.next a")
  url = next_link and next_link:url("href") -- resolved against the page's URL
end
io.stderr:write(("scrape.lua: %d books on %d pages\n"):format(books, pages))
