"""Fault-server routes for lurl's HTML specs (spec/html_spec.lua).

  /html/<name>[?ct=<content-type>]
      the file spec/fixtures/html/<name> as it is on disk (its bytes, in
      whatever charset it was written), with Content-Type `ct` (default
      text/html, no charset: the page's <meta> or UTF-8 decides).
  /html/deep?n=N[&tag=div]
      N nested <tag> elements around the text "bottom", closed again,
      then <p id=after>after</p>: a page deeper than any browser nests.
  /html/echo-form (any method)
      200, text/plain: the method, the request target and the body received,
      one per line (what a submitted form sent).

The fixture site of scripts/scrape.lua (a catalogue of 3 pages):
  /site/catalogue/page-N.html   N = 1..3, three books each (article.product_pod
      h3 a[title]), li.next > a to the next page but on the last
  /site/private/secret.html     a page robots.txt disallows
  /robots.txt                   the site's rules (a "BadBot" group disallowing
      everything, a "*" group disallowing /site/private/ but open.html, and
      *.pdf); 503 when asked through the Host "localhost" (an unreachable
      robots.txt, RFC 9309: disallow all)
"""

import os

import fault_server as fs

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "html")


def _file_route(name):
    path = os.path.join(_DIR, name)

    def route(conn, req, q):
        with open(path, "rb") as f:
            body = f.read()
        ctype = q.get("ct", ["text/html"])[0]
        fs.simple(conn, req, 200, "OK", body, ctype, close=fs.wants_close(req))
        return not fs.wants_close(req)
    return route


def route_deep(conn, req, q):
    n = fs.qint(q, "n", 1000)
    tag = q.get("tag", ["div"])[0]
    body = ("<html><body>" + ("<%s>" % tag) * n + "bottom" + ("</%s>" % tag) * n
            + "<p id=after>after</p></body></html>").encode()
    fs.simple(conn, req, 200, "OK", body, "text/html; charset=utf-8", close=fs.wants_close(req))
    return not fs.wants_close(req)


def route_echo_form(conn, req, q):
    body = req.get("_body") or b""
    out = ("%s\n%s\n" % (req["method"], req["target"])).encode("latin-1") + body
    fs.simple(conn, req, 200, "OK", out, close=fs.wants_close(req))
    return not fs.wants_close(req)


ROUTES = {"/html/deep": route_deep, "/html/echo-form": route_echo_form}
for _name in os.listdir(_DIR):
    ROUTES["/html/" + _name] = _file_route(_name)


ROBOTS = b"""# the fixture site's rules
User-agent: BadBot
Disallow: /

User-agent: *
Disallow: /site/private/
Allow: /site/private/open.html
Disallow: /*.pdf$
"""

BOOKS = ["A Light in the Attic", "Tipping the Velvet", "Soumission", "Sharp Objects",
         "Sapiens: A Brief History of Humankind", "The Requiem Red", "The Dirty Little Secrets",
         "The Coming Woman", "The Boys in the Boat"]
PAGES = 3


def route_robots(conn, req, q):
    close = fs.wants_close(req)
    if (fs.header(req, "host") or "").startswith("localhost"):
        fs.simple(conn, req, 503, "Service Unavailable", b"try later", close=close)
    else:
        fs.simple(conn, req, 200, "OK", ROBOTS, close=close)
    return not close


def _catalogue_page(n):
    def route(conn, req, q):
        items = []
        for title in BOOKS[(n - 1) * 3:n * 3]:
            items.append('<li><article class="product_pod"><h3><a href="../books/%s.html" title="%s">'
                         '%s</a></h3><p class="price_color">&pound;10.00</p></article></li>'
                         % (title.lower().replace(" ", "-").replace(":", ""), title, title[:12]))
        nxt = '<li class="next"><a href="page-%d.html">next</a></li>' % (n + 1) if n < PAGES else ""
        body = ('<!DOCTYPE html><html><head><meta charset="utf-8"><title>Catalogue, page %d</title>'
                '</head><body><ol class="row">%s</ol><ul class="pager"><li class="current">Page %d of %d</li>'
                '%s</ul></body></html>' % (n, "".join(items), n, PAGES, nxt)).encode()
        fs.simple(conn, req, 200, "OK", body, "text/html; charset=utf-8", close=fs.wants_close(req))
        return not fs.wants_close(req)
    return route


def route_secret(conn, req, q):
    fs.simple(conn, req, 200, "OK", b"<p>secret</p>", "text/html", close=fs.wants_close(req))
    return not fs.wants_close(req)


ROUTES["/robots.txt"] = route_robots
ROUTES["/site/private/secret.html"] = route_secret
for _n in range(1, PAGES + 1):
    ROUTES["/site/catalogue/page-%d.html" % _n] = _catalogue_page(_n)
