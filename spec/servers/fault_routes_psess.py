"""Fault-server routes for session, header and cookie parity with requests
(spec/parity_session_spec.lua).

  /psess/digest-cookie
      Digest authentication (user "u", password "p", realm "psess", qop
      auth, MD5) whose 401 challenge also sets the cookie psess_dc=c401.
      The authenticated request must carry a valid Digest Authorization AND
      that cookie: then 200 with a JSON body {"cookie": <Cookie header>}.
      A valid Authorization without the cookie gets 403 "cookie missing";
      anything else the 401 again.
"""

import hashlib
import json
import re

import fault_server as fs

_USER, _PASS, _REALM, _NONCE = "u", "p", "psess", "3f2a9c0d5e7b41a6"
_COOKIE = "psess_dc=c401"


def _md5(s):
    return hashlib.md5(s.encode("latin-1")).hexdigest()


def _digest_ok(req):
    auth = fs.header(req, "authorization") or ""
    if not auth.lower().startswith("digest "):
        return False
    p = dict((k.lower(), a if a else b)
             for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', auth[7:]))
    if p.get("username") != _USER or p.get("realm") != _REALM or p.get("nonce") != _NONCE:
        return False
    ha1 = _md5("%s:%s:%s" % (_USER, _REALM, _PASS))
    ha2 = _md5("%s:%s" % (req["method"], p.get("uri", "")))
    want = _md5("%s:%s:%s:%s:%s:%s" % (ha1, _NONCE, p.get("nc", ""), p.get("cnonce", ""),
                                       p.get("qop", ""), ha2))
    return p.get("response") == want


def route_digest_cookie(conn, req, q):
    close = fs.wants_close(req)
    if _digest_ok(req):
        cookie = fs.header(req, "cookie") or ""
        if _COOKIE in [c.strip() for c in cookie.split(";")]:
            body = json.dumps({"cookie": cookie}).encode()
            fs.simple(conn, req, 200, "OK", body, "application/json", close=close)
        else:
            fs.simple(conn, req, 403, "Forbidden", b"cookie missing", close=close)
        return not close
    challenge = 'Digest realm="%s", nonce="%s", qop="auth", algorithm=MD5' % (_REALM, _NONCE)
    fs.simple(conn, req, 401, "Unauthorized", b"auth first", close=close,
              extra=[("WWW-Authenticate", challenge), ("Set-Cookie", _COOKIE + "; Path=/")])
    return not close


ROUTES = {
    "/psess/digest-cookie": route_digest_cookie,
}
