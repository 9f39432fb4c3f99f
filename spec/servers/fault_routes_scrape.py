"""Fault-server routes for robots.txt and the scraper (spec/robots_spec.lua,
spec/scrape_spec.lua, scripts/scrape.lua).

A book catalogue shaped like books.toscrape.com:

  / and /index.html
      the first page of the catalogue, its links relative to /
      ("catalogue/page-2.html").
  /catalogue/page-N.html          (N = 1..4)
      six books a page (two on the last): each an <article class=
      "product_pod"> with <h3><a href=... title="FULL TITLE">SHORT...</a>
      </h3> and <p class="price_color">; every page but the last has
      <li class="next"><a href="page-N+1.html">next</a></li>.
  /catalogue/category/books/poetry_23/index.html and .../page-2.html
      a category of two pages; robots.txt allows the first only.
  /basket/
      a page robots.txt disallows (linked from every page).

Every request is in the fault server's log (/requests) with its headers and
the time it arrived, so a spec sees the User-Agent and the spacing.

robots.txt:

  /robots.txt
      by the Host header's name (port aside): what /robots-set stored for
      that name, else the catalogue's own (CATALOGUE_ROBOTS below).
  /robots-set?host=NAME[&status=N][&location=URL][&ctype=T][&delay=S]
      (POST, the body is the robots.txt) stores what /robots.txt answers for
      Host NAME: status (default 200), a Location, a Content-Type (default
      text/plain), a delay in seconds before answering.  Answers "ok".
  /robots-final.txt
      200 with the body stored for the Host's name (a redirect's target).
  /robots-hop?n=K
      302 to /robots-hop?n=K-1, and from n=1 to /robots-final.txt: with
      location=/robots-hop?n=K, robots.txt reaches its file in K+1 redirects.
"""

import html
import threading

import fault_server as fs

CATALOGUE_ROBOTS = """\
# robots.txt of the fixture book catalogue (spec/servers/fault_routes_scrape.py)
User-agent: *
Disallow: /basket/
Disallow: /catalogue/category/
Allow: /catalogue/category/books/poetry_23/index.html$
Crawl-delay: 1

User-agent: GreedyBot
Disallow: /
"""

# Titles (some long enough to be cut in the link text, as on the real
# site; one with an ampersand, one with non-ASCII letters) and prices.
BOOKS = [
    ("A Light in the Attic", "51.77"),
    ("Tipping the Velvet", "53.74"),
    ("Soumission", "50.10"),
    ("Sharp Objects", "47.82"),
    ("Sapiens: A Brief History of Humankind", "54.23"),
    ("The Requiem Red", "22.65"),
    ("The Dirty Little Secrets of Getting Your Dream Job", "33.34"),
    ("The Coming Woman: A Novel Based on the Life of the Infamous Feminist, Victoria Woodhull", "17.93"),
    ("The Boys in the Boat: Nine Americans and Their Epic Quest for Gold at the 1936 Berlin Olympics", "22.60"),
    ("The Black Maria", "52.15"),
    ("Starving Hearts (Triangular Trade Trilogy, #1)", "13.99"),
    ("Shakespeare's Sonnets", "20.66"),
    ("Set Me Free", "17.46"),
    ("Scott Pilgrim's Precious Little Life (Scott Pilgrim #1)", "52.29"),
    ("Rip it Up and Start Again", "35.02"),
    ("Our Band Could Be Your Life: Scenes from the American Indie Underground, 1981-1991", "57.25"),
    ("Olio", "23.88"),
    ("Mesaerion: The Best Science Fiction Stories 1800-1849", "37.59"),
    ("Libertarianism for Beginners", "51.33"),
    ("Les Misérables & Other Stories", "28.34"),
]
PER_PAGE = 6
PAGES = (len(BOOKS) + PER_PAGE - 1) // PER_PAGE

POETRY = [
    [("Howl and Other Poems", "40.45"), ("Leaves of Grass", "21.99")],
    [("The Waste Land", "12.34"), ("Ariel", "31.50")],
]


def _slug(title, i):
    s = "".join(c if c.isalnum() else "-" for c in title.lower())
    while "--" in s:
        s = s.replace("--", "-")
    return "%s_%d" % (s.strip("-"), 1000 - i)


def _pod(title, price, href):
    short = title if len(title) <= 40 else title[:37] + "..."
    return """
            <li class="col-xs-6 col-sm-4 col-md-3 col-lg-3">
              <article class="product_pod">
                <div class="image_container"><a href="%(href)s"><img src="/media/%(n)d.jpg" alt="%(t)s" class="thumbnail"></a></div>
                <p class="star-rating Three"><i class="icon-star"></i></p>
                <h3><a href="%(href)s" title="%(t)s">%(s)s</a></h3>
                <div class="product_price"><p class="price_color">\u00a3%(p)s</p>
                  <p class="instock availability"><i class="icon-ok"></i> In stock</p></div>
              </article>
            </li>""" % {"href": html.escape(href), "t": html.escape(title), "s": html.escape(short),
                        "p": price, "n": len(title)}


def _page(heading, books, prefix, page, pages, next_href, root):
    pods = "".join(_pod(t, p, prefix + _slug(t, i) + "/index.html") for i, (t, p) in books)
    pager = ""
    if pages > 1:
        pager = '<ul class="pager"><li class="current">Page %d of %d</li>' % (page, pages)
        if next_href:
            pager += '<li class="next"><a href="%s">next</a></li>' % next_href
        pager += "</ul>"
    return ("""<!DOCTYPE html>
<html lang="en-us" class="no-js">
<head>
  <title>%(h)s | Books to Scrape - Sandbox</title>
  <meta http-equiv="content-type" content="text/html; charset=UTF-8" />
</head>
<body id="default" class="default">
  <header class="container-fluid"><a href="%(root)sindex.html">Books to Scrape</a>
    <a href="%(root)sbasket/">Basket</a></header>
  <div class="page_inner">
    <div class="page-header action"><h1>%(h)s</h1></div>
    <section>
      <ol class="row">%(pods)s
      </ol>
      <div>%(pager)s</div>
    </section>
  </div>
</body>
</html>
""" % {"h": heading, "pods": pods, "pager": pager, "root": root}).encode("utf-8")


def _send(conn, req, status, reason, body, ctype="text/html; charset=utf-8", extra=()):
    close = fs.wants_close(req)
    fs.simple(conn, req, status, reason, body, ctype, extra=extra, close=close)
    return not close


def _catalogue_page(n, at_root):
    books = list(enumerate(BOOKS))[(n - 1) * PER_PAGE:n * PER_PAGE]
    if at_root:
        nxt = "catalogue/page-%d.html" % (n + 1) if n < PAGES else None
        body = _page("All products", books, "catalogue/", n, PAGES, nxt, "")
    else:
        nxt = "page-%d.html" % (n + 1) if n < PAGES else None
        body = _page("All products", books, "", n, PAGES, nxt, "../")

    def route(conn, req, q):
        return _send(conn, req, 200, "OK", body)
    return route


def _poetry_page(n):
    books = [(100 + 2 * n + i, b) for i, b in enumerate(POETRY[n - 1])]
    nxt = "page-2.html" if n == 1 else None
    body = _page("Poetry", books, "../../../", n, 2, nxt, "../../../../")

    def route(conn, req, q):
        return _send(conn, req, 200, "OK", body)
    return route


def route_basket(conn, req, q):
    return _send(conn, req, 200, "OK", b"<!DOCTYPE html><title>Basket</title><p>Your basket is empty.")


# ------------------------------------------------------------- robots.txt

_lock = threading.Lock()
_robots = {}   # host name -> {"status", "location", "ctype", "delay", "body"}


def _host_name(req):
    h = (fs.header(req, "host") or "").lower()
    if h.startswith("["):
        return h[:h.find("]") + 1]
    return h.rsplit(":", 1)[0] if ":" in h else h


def route_robots_set(conn, req, q):
    host = q.get("host", [""])[0].lower()
    entry = {
        "status": fs.qint(q, "status", 200),
        "location": q.get("location", [None])[0],
        "ctype": q.get("ctype", ["text/plain"])[0],
        "delay": fs.qfloat(q, "delay", 0),
        "body": req.get("_body") or b"",
    }
    with _lock:
        _robots[host] = entry
    return _send(conn, req, 200, "OK", b"ok", "text/plain")


def _entry(req):
    with _lock:
        return _robots.get(_host_name(req))


def route_robots(conn, req, q):
    e = _entry(req)
    if e is None:
        return _send(conn, req, 200, "OK", CATALOGUE_ROBOTS.encode(), "text/plain")
    if e["delay"]:
        conn.wait(e["delay"])
    extra = [("Location", e["location"])] if e["location"] else []
    reason = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found",
              403: "Forbidden", 410: "Gone", 500: "Internal Server Error",
              503: "Service Unavailable"}.get(e["status"], "Whatever")
    return _send(conn, req, e["status"], reason, e["body"], e["ctype"], extra=extra)


def route_robots_final(conn, req, q):
    e = _entry(req)
    return _send(conn, req, 200, "OK", e["body"] if e else b"", "text/plain")


def route_robots_hop(conn, req, q):
    n = fs.qint(q, "n", 1)
    loc = "/robots-hop?n=%d" % (n - 1) if n > 1 else "/robots-final.txt"
    return _send(conn, req, 302, "Found", b"", "text/plain", extra=[("Location", loc)])


ROUTES = {
    "/": _catalogue_page(1, True),
    "/index.html": _catalogue_page(1, True),
    "/catalogue/category/books/poetry_23/index.html": _poetry_page(1),
    "/catalogue/category/books/poetry_23/page-2.html": _poetry_page(2),
    "/basket/": route_basket,
    "/robots.txt": route_robots,
    "/robots-set": route_robots_set,
    "/robots-final.txt": route_robots_final,
    "/robots-hop": route_robots_hop,
}
for _n in range(1, PAGES + 1):
    ROUTES["/catalogue/page-%d.html" % _n] = _catalogue_page(_n, False)
