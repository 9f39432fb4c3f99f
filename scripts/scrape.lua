-- scrape.lua: the scraper every requests tutorial shows, politely.  It
-- reads a book catalogue page by page: the title of each book on a page
-- (CSS selectors on res:html()), then the page its "next" link points to,
-- until the last page.  It identifies itself with its own User-Agent, asks
-- robots.txt before each page (http.robots, RFC 9309: fetched once per
-- site), and spaces its requests with the session's rate_limit.
--
-- The catalogue is the fixture site lurl's tests serve (spec/servers/
-- fault_routes_html.py); start the fault server from the repository root,
-- then run the script on the first page:
--   /usr/bin/python3 spec/servers/fault_server.py 8081 &
--   lurl scripts/scrape.lua http://127.0.0.1:8081/site/catalogue/page-1.html
-- SCRAPE_RATE sets the requests per second (2 by default), SCRAPE_MAX_PAGES
-- a bound on the pages read (50).  Output: one line per book
-- ("page N: title"), then a summary line.  Exit status: 0 when every page
-- was read, 1 when a request failed, 2 without a URL, 3 when robots.txt
-- forbids the next page (the script stops there).
local http = require "http"

local url = arg[1] or os.getenv("SCRAPE_URL")
if not url or url == "" then
  io.stderr:write("usage: lurl scrape.lua FIRST_PAGE_URL (or set SCRAPE_URL)\n")
  os.exit(2)
end
local rate = tonumber(os.getenv("SCRAPE_RATE") or "2")
local max_pages = tonumber(os.getenv("SCRAPE_MAX_PAGES") or "50")

-- One session: one connection reused, our User-Agent on every request
-- (robots.txt rules are matched against its product token, "lurl-scrape"),
-- and at most `rate` requests a second, robots.txt's included.
local s <close> = http.session {
  headers = { ["User-Agent"] = "lurl-scrape/1.0 (+https://example.invalid/lurl)" },
  rate_limit = rate,
  timeout = 10,
}

local pages, books = 0, 0
while url and pages < max_pages do
  if not http.robots(url, { session = s }) then
    io.stderr:write(("robots.txt disallows %s: stopping\n"):format(url))
    os.exit(3)
  end
  local res, err = s:get(url)
  if not res then
    io.stderr:write(("GET %s failed: %s\n"):format(url, tostring(err)))
    os.exit(1)
  end
  if not res.ok then
    io.stderr:write(("GET %s answered %d %s\n"):format(url, res.status, res.reason))
    os.exit(1)
  end
  pages = pages + 1
  local doc = res:html()
  for a in doc:select("article.product_pod h3 a") do
    -- the link's text is cut ("A Light in the ..."); its title is whole
    books = books + 1
    print(("page %d: %s"):format(pages, a.attrs.title or a:text()))
  end
  local next_link = doc:select_one("li.next > a[href]")
  url = next_link and next_link:url("href")
end
print(("%d books on %d pages"):format(books, pages))
