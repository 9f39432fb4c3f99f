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

The catalogue scripts/scrape.lua walks, and robots.txt, are in
fault_routes_scrape.py.
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
