"""Fault-server routes for what lurl builds and sends (request head, auth).

  /reqhead/digest?realm=R&nonce=N&user=U&pass=P
      HTTP Digest (RFC 7616, MD5, qop=auth) protecting a small JSON body.
      Without an Authorization header, or with one that is not a valid
      answer to THIS route's realm and nonce for U/P: 401 with
      WWW-Authenticate: Digest realm="R", nonce="N", qop="auth".  With a
      valid answer: 200 {"user": U, "realm": R, "nonce": N}.  Two instances
      with different realms and nonces stand for two servers.
  /reqhead/redirect?to=URL[&status=302]
      a redirect to URL (absolute), body "redirect".
"""

import hashlib
import json
import re

import fault_server as fs


def _md5(s):
    return hashlib.md5(s.encode("latin-1")).hexdigest()


def _params(v):
    """The name=value pairs of a Digest credentials header."""
    out = {}
    for m in re.finditer(r'(\w+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^,\s]*)', v):
        val = m.group(3) if m.group(3) is not None else m.group(2)
        out[m.group(1).lower()] = val
    return out


def _valid(req, realm, nonce, user, pw, auth):
    if not auth or not auth.lower().startswith("digest "):
        return False
    p = _params(auth[7:])
    if p.get("username") != user or p.get("realm") != realm or p.get("nonce") != nonce:
        return False
    ha1 = _md5("%s:%s:%s" % (user, realm, pw))
    ha2 = _md5("%s:%s" % (req["method"], p.get("uri", "")))
    if p.get("qop"):
        want = _md5(":".join([ha1, nonce, p.get("nc", ""), p.get("cnonce", ""),
                              p.get("qop"), ha2]))
    else:
        want = _md5("%s:%s:%s" % (ha1, nonce, ha2))
    return p.get("response") == want


def route_digest(conn, req, q):
    realm = q.get("realm", ["one"])[0]
    nonce = q.get("nonce", ["nonce-one"])[0]
    user = q.get("user", ["u"])[0]
    pw = q.get("pass", ["p"])[0]
    close = fs.wants_close(req)
    if _valid(req, realm, nonce, user, pw, fs.header(req, "authorization")):
        body = json.dumps({"user": user, "realm": realm, "nonce": nonce}).encode()
        fs.simple(conn, req, 200, "OK", body, "application/json", close=close)
    else:
        chal = 'Digest realm="%s", nonce="%s", qop="auth", algorithm=MD5' % (realm, nonce)
        fs.simple(conn, req, 401, "Unauthorized", b"unauthorized",
                  extra=[("WWW-Authenticate", chal)], close=close)
    return not close


def route_redirect(conn, req, q):
    to = q.get("to", ["/ok"])[0]
    status = fs.qint(q, "status", 302)
    close = fs.wants_close(req)
    fs.simple(conn, req, status, "Found", b"redirect", extra=[("Location", to)],
              close=close)
    return not close


ROUTES = {
    "/reqhead/digest": route_digest,
    "/reqhead/redirect": route_redirect,
}
