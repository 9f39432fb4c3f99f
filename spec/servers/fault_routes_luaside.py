"""Fault-server routes for lurl's Lua-side parsers and redaction.

  /luaside/padded?what=W&n=N
      200 "ok" with one header line padded with N spaces in all (default
      90000; a shape with k runs has k runs of N/k: libcurl takes header
      lines up to 100 KiB) in the shape W names, each one a shape that made a backtracking Lua
      pattern quadratic:
        cookie-mid     Set-Cookie: a=x<N>y; Path=/       (res.cookies' trim)
        cookie-name    Set-Cookie: b<N>=1; Path=/         (name before '=')
        cookie-noeq    Set-Cookie: c<N>d; Path=/          (no '=' at all)
        cookie-attrs   Set-Cookie: e=1;<N>Path<N>=<N>/x<N>; Domain=<N>h
        cookie-expires Set-Cookie: f=1; Expires=<N>Wed, 21 Oct 2037 07:28:00 GMT
        ctype          Content-Type: text/plain;<N>charset<N>x; charset=utf-8
        link           Link: <http://h/2>;<N>rel<N>=<N>"next"<N>x, <http://h/3>; rel="last"
        retry          Retry-After: <N>5
        auth           WWW-Authenticate: Basic<N>realm="x<N>"
        location       Location: /ok?<N>token=<N>x
      The status is 200 unless &status=S says otherwise (302: a padded
      Location that is followed).
  /luaside/location-creds?port=P&status=302
      a redirect whose Location carries a user, a password and secret
      query parameters: http://lu:LOCPASS9@127.0.0.1:P/ok?token=LOCTOK9&keep=locvisible
      (P: this server's own port unless given).
  /luaside/set-cookie
      200 with Set-Cookie: sc=SETCOOKIE7x6; Path=/; HttpOnly, and the same
      value echoed in a JSON body (a value that is in no request URL).
  /luaside/echo
      200 JSON {"target", "headers": [[name, value], ...]}: what arrived,
      proxy credentials included when lurl used this server as its proxy.
"""

import json

import fault_server as fs


RUNS = {"cookie-attrs": 5, "ctype": 2, "link": 4, "auth": 2, "location": 2}


def _padded_header(what, pad):
    if what == "cookie-mid":
        return "Set-Cookie", "a=x%sy; Path=/" % pad
    if what == "cookie-name":
        return "Set-Cookie", "b%s=1; Path=/" % pad
    if what == "cookie-noeq":
        return "Set-Cookie", "c%sd; Path=/" % pad
    if what == "cookie-attrs":
        return "Set-Cookie", "e=1;%sPath%s=%s/x%s; Domain=%sh" % (pad, pad, pad, pad, pad)
    if what == "cookie-expires":
        return "Set-Cookie", "f=1; Expires=%sWed, 21 Oct 2037 07:28:00 GMT" % pad
    if what == "ctype":
        return "Content-Type", "text/plain;%scharset%sx; charset=utf-8" % (pad, pad)
    if what == "link":
        return "Link", '<http://h/2>;%srel%s=%s"next"%sx, <http://h/3>; rel="last"' % (
            pad, pad, pad, pad)
    if what == "retry":
        return "Retry-After", "%s5" % pad
    if what == "auth":
        return "WWW-Authenticate", 'Basic%srealm="x%s"' % (pad, pad)
    if what == "location":
        return "Location", "/ok?%stoken=%sx" % (pad, pad)
    return None


def route_padded(conn, req, q):
    close = fs.wants_close(req)
    what = q.get("what", [""])[0]
    n = fs.qint(q, "n", 90000)
    h = _padded_header(what, " " * (n // RUNS.get(what, 1)))
    if h is None:
        fs.simple(conn, req, 400, "Bad Request", b"unknown what", close=close)
        return not close
    extra = [h]
    ctype = "text/plain"
    if h[0] == "Content-Type":
        ctype, extra = h[1], []
    status = fs.qint(q, "status", 200)
    fs.simple(conn, req, status, "OK", b"ok", ctype=ctype, extra=extra, close=close)
    return not close


def route_location_creds(conn, req, q):
    close = fs.wants_close(req)
    host = fs.header(req, "host") or "127.0.0.1"
    port = q.get("port", [host.rsplit(":", 1)[-1]])[0]
    status = fs.qint(q, "status", 302)
    loc = ("http://lu:LOCPASS9@127.0.0.1:%s/ok?token=LOCTOK9&keep=locvisible" % port)
    fs.simple(conn, req, status, "Found", b"redirect", extra=[("Location", loc)], close=close)
    return not close


def route_echo(conn, req, q):
    close = fs.wants_close(req)
    body = json.dumps({"target": req["target"], "headers": req["headers"]}).encode()
    fs.simple(conn, req, 200, "OK", body, "application/json", close=close)
    return not close


def route_set_cookie(conn, req, q):
    close = fs.wants_close(req)
    body = json.dumps({"set": "sc=SETCOOKIE7x6"}).encode()
    fs.simple(conn, req, 200, "OK", body, "application/json",
              extra=[("Set-Cookie", "sc=SETCOOKIE7x6; Path=/; HttpOnly")], close=close)
    return not close


ROUTES = {
    "/luaside/set-cookie": route_set_cookie,
    "/luaside/padded": route_padded,
    "/luaside/location-creds": route_location_creds,
    "/luaside/echo": route_echo,
}
