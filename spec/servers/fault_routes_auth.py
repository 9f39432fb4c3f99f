"""Fault-server routes for auth flows (spec/auth_flows_spec.lua).

  /auth/sigv4, /auth/sigv4/sub%20dir/x%2Ay, /auth/sigv4-token, /auth/sigv4-s3/bucket/a%20key
      An AWS Signature Version 4 verifier: the signature is computed again
      by botocore (Debian's python3-botocore, an independent signer) over
      what was received, with the credentials below; x-amz-content-sha256
      must be the SHA-256 of the body received (hashlib).  The query is
      read as AWS reads it (decoded, encoded again, sorted by botocore).
      /auth/sigv4-token also wants X-Amz-Security-Token, signed.
      /auth/sigv4-s3/... is service "s3" (its path is not encoded twice).
      200 {"ok": true, ...} or 403 {"ok": false, "why": ...}.
  /auth/hmac
      200 when X-Signature is hex(HMAC-SHA256(HMAC_KEY, METHOD "\\n" target
      "\\n" body)) of what was received, else 403; the JSON answer has the
      target, the body's size and the signature received.
  /auth/hmac-redirect?to=URL&code=307
      a redirect to URL (relative or absolute).
  /auth/oauth/token?k=NAME&ttl=S&delay=S&mode=M
      an OAuth2 token endpoint (client-credentials and refresh grants):
      client cid / csecret by HTTP Basic or form fields; each token issued
      for NAME lives S seconds (default 60), answered after `delay`.
      mode=crlf issues a token with CR LF in it; mode=fail answers 500.
  /auth/oauth/resource?k=NAME
      200 {"token": T} for a live token of NAME, else 401.
  /auth/oauth/revoke?k=NAME
      every token of NAME is refused from now on.
  /auth/challenge?scheme=S&always=1
      401 with `WWW-Authenticate: S` (default Negotiate) when no
      Authorization came (always=1: whatever came), else 200; the JSON
      answer shows the Authorization received.
  /auth/ntlm
      an NTLM handshake on one connection: type 1 -> 401 with a type-2
      challenge, type 3 -> 200 {"user": ..., "domain": ..., "nt_len": n}.
  /auth/oauth/stats?k=NAME
      {"token_requests": n, "grants": [...], "client_auth": [...], "scopes": [...]}.
"""

import base64
import hashlib
import hmac
import json
import struct
import threading
import time
import urllib.parse

import fault_server as fs

SIGV4_KEY = "AKIDEXAMPLE"
SIGV4_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SIGV4_TOKEN = "FQoGZXIvYXdzEXAMPLE//token+with/odd=chars"
HMAC_KEY = b"hmac-test-key"
CLIENT_ID, CLIENT_SECRET = "cid", "csecret"


def _json(conn, req, status, doc, extra=()):
    body = json.dumps(doc).encode()
    reason = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}
    fs.simple(conn, req, status, reason.get(status, "Status"), body, "application/json",
              extra=extra, close=fs.wants_close(req))
    return not fs.wants_close(req)


def _sigv4_check(req, need_token):
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = req.get("_body", b"")
    authz = fs.header(req, "authorization") or ""
    if not authz.startswith("AWS4-HMAC-SHA256 "):
        return "no AWS4-HMAC-SHA256 Authorization", None
    fields = {}
    for part in authz[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = part.strip().partition("=")
        fields[k] = v
    try:
        key, date, region, service, term = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except (KeyError, ValueError):
        return "malformed Authorization", None
    if key != SIGV4_KEY or term != "aws4_request":
        return "unknown key or scope", None
    amz_date = fs.header(req, "x-amz-date") or ""
    if amz_date[:8] != date:
        return "x-amz-date does not match the scope", None
    payload = fs.header(req, "x-amz-content-sha256")
    if payload is not None and payload != "UNSIGNED-PAYLOAD" \
            and payload != hashlib.sha256(body).hexdigest():
        return "x-amz-content-sha256 is not the hash of the body received", None
    if "host" not in signed:
        return "host is not signed", None
    token = fs.header(req, "x-amz-security-token")
    if need_token and (token != SIGV4_TOKEN or "x-amz-security-token" not in signed):
        return "no signed X-Amz-Security-Token", None
    split = urllib.parse.urlsplit(req["target"])
    # the query as AWS reads it: decoded, then encoded the canonical way
    pairs = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
    query = "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
                     for k, v in pairs)
    url = "http://%s%s%s" % (fs.header(req, "host"), split.path, "?" + query if query else "")
    headers = {}
    for name in signed:
        v = fs.header(req, name)
        if v is None:
            return "signed header %s was not sent" % name, None
        headers[name] = v
    areq = AWSRequest(method=req["method"], url=url, headers=headers, data=body)
    areq.context["timestamp"] = amz_date
    cls = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = cls(Credentials(SIGV4_KEY, SIGV4_SECRET, token), service, region)
    canonical = signer.canonical_request(areq)
    want = signer.signature(signer.string_to_sign(areq, canonical), areq)
    info = {"signed_headers": signed, "region": region, "service": service, "payload": payload,
            "body_size": len(body), "target": req["target"], "canonical": canonical}
    if not hmac.compare_digest(want, sig):
        return "signature mismatch", info
    return None, info


def _sigv4_route(need_token):
    def route(conn, req, q):
        why, info = _sigv4_check(req, need_token)
        doc = dict(info or {})
        doc["ok"], doc["why"] = why is None, why
        return _json(conn, req, 200 if why is None else 403, doc)
    return route


def route_hmac(conn, req, q):
    body = req.get("_body", b"")
    msg = req["method"].encode() + b"\n" + req["target"].encode("latin-1") + b"\n" + body
    want = hmac.new(HMAC_KEY, msg, hashlib.sha256).hexdigest()
    got = fs.header(req, "x-signature") or ""
    ok = hmac.compare_digest(want, got)
    return _json(conn, req, 200 if ok else 403, {"ok": ok, "target": req["target"],
                                                 "body_size": len(body), "signature": got})


def route_hmac_redirect(conn, req, q):
    to = q.get("to", ["/auth/hmac"])[0]
    code = fs.qint(q, "code", 307)
    conn.send(fs.response(code, "Redirect", [("Location", to), ("Content-Length", "0")], b"",
                          close=fs.wants_close(req)))
    return not fs.wants_close(req)


_oauth_lock = threading.Lock()
_oauth = {}  # name -> {"tokens": {token: expiry}, "n": count, "grants": [...], ...}


def _state(name):
    st = _oauth.get(name)
    if st is None:
        st = {"tokens": {}, "n": 0, "grants": [], "client_auth": [], "scopes": []}
        _oauth[name] = st
    return st


def route_token(conn, req, q):
    name = q.get("k", ["default"])[0]
    ttl = fs.qfloat(q, "ttl", 60.0)
    delay = fs.qfloat(q, "delay", 0.0)
    mode = q.get("mode", [""])[0]
    form = dict(urllib.parse.parse_qsl(req.get("_body", b"").decode("latin-1"),
                                       keep_blank_values=True))
    authz = fs.header(req, "authorization") or ""
    if authz.startswith("Basic "):
        user, _, pw = base64.b64decode(authz[6:]).decode("latin-1").partition(":")
        cid, secret, how = urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(pw), "basic"
    else:
        cid, secret, how = form.get("client_id"), form.get("client_secret"), "post"
    with _oauth_lock:
        st = _state(name)
        st["n"] += 1
        st["grants"].append(form.get("grant_type"))
        st["client_auth"].append(how)
        st["scopes"].append(form.get("scope"))
        n = st["n"]
    if delay:
        time.sleep(delay)
    if mode == "fail":
        return _json(conn, req, 500, {"error": "server_error", "echo": form})
    if (cid, secret) != (CLIENT_ID, CLIENT_SECRET):
        return _json(conn, req, 401, {"error": "invalid_client"})
    grant = form.get("grant_type")
    if grant == "refresh_token" and not form.get("refresh_token"):
        return _json(conn, req, 400, {"error": "invalid_request"})
    if grant not in ("client_credentials", "refresh_token"):
        return _json(conn, req, 400, {"error": "unsupported_grant_type"})
    tok = "tok-%s-%d" % (name, n)
    if mode == "crlf":
        tok = tok + "\r\nX-Injected: 1"
    with _oauth_lock:
        _state(name)["tokens"][tok] = time.time() + ttl
    doc = {"access_token": tok, "token_type": "Bearer", "expires_in": ttl}
    if grant == "refresh_token":
        doc["refresh_token"] = "rt-%d" % n
    return _json(conn, req, 200, doc)


def route_resource(conn, req, q):
    name = q.get("k", ["default"])[0]
    authz = fs.header(req, "authorization") or ""
    tok = authz[7:] if authz.startswith("Bearer ") else None
    with _oauth_lock:
        exp = _state(name)["tokens"].get(tok)
    if exp is None or exp < time.time():
        return _json(conn, req, 401, {"error": "invalid_token", "token": tok},
                     extra=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
    return _json(conn, req, 200, {"token": tok})


def route_revoke(conn, req, q):
    name = q.get("k", ["default"])[0]
    with _oauth_lock:
        _state(name)["tokens"].clear()
    return _json(conn, req, 200, {"ok": True})


def route_stats(conn, req, q):
    name = q.get("k", ["default"])[0]
    with _oauth_lock:
        st = _state(name)
        doc = {"token_requests": st["n"], "grants": st["grants"],
               "client_auth": st["client_auth"], "scopes": st["scopes"]}
    return _json(conn, req, 200, doc)


def route_challenge(conn, req, q):
    """401 with WWW-Authenticate: SCHEME (no token) unless Authorization is
    there; the JSON answer shows the Authorization received."""
    scheme = q.get("scheme", ["Negotiate"])[0]
    got = fs.header(req, "authorization")
    if q.get("always", ["0"])[0] == "1" or not got:
        return _json(conn, req, 401, {"authorization": got}, extra=[("WWW-Authenticate", scheme)])
    return _json(conn, req, 200, {"authorization": got})


# An NTLM type-2 message: no target name, no target info; flags UNICODE |
# NTLM | ALWAYS_SIGN; a fixed server challenge.
_NTLM_TYPE2 = base64.b64encode(
    b"NTLMSSP\0" + struct.pack("<I", 2) + struct.pack("<HHI", 0, 0, 48)
    + struct.pack("<I", 0x00008201) + b"\x01\x23\x45\x67\x89\xab\xcd\xef" + b"\0" * 8
    + struct.pack("<HHI", 0, 0, 48)).decode()


def _ntlm_field(msg, at):
    n, _, off = struct.unpack_from("<HHI", msg, at)
    return msg[off:off + n]


def route_ntlm(conn, req, q):
    """The server side of an NTLM handshake on one connection: type 1 gets a
    401 with a type-2 challenge, type 3 gets 200 with the user, domain and
    the response lengths it carries (not checked cryptographically: no
    password database here)."""
    got = fs.header(req, "authorization") or ""
    msg = base64.b64decode(got[5:]) if got.startswith("NTLM ") else b""
    kind = struct.unpack_from("<I", msg, 8)[0] if msg[:8] == b"NTLMSSP\0" else 0
    if kind == 1:
        return _json(conn, req, 401, {"step": 1}, extra=[("WWW-Authenticate", "NTLM " + _NTLM_TYPE2)])
    if kind == 3:
        user = _ntlm_field(msg, 36).decode("utf-16-le", "replace")
        domain = _ntlm_field(msg, 28).decode("utf-16-le", "replace")
        return _json(conn, req, 200, {"step": 3, "user": user, "domain": domain,
                                      "lm_len": len(_ntlm_field(msg, 12)),
                                      "nt_len": len(_ntlm_field(msg, 20))})
    return _json(conn, req, 401, {"step": 0}, extra=[("WWW-Authenticate", "NTLM")])


ROUTES = {
    "/auth/ntlm": route_ntlm,
    "/auth/challenge": route_challenge,
    "/auth/sigv4": _sigv4_route(False),
    "/auth/sigv4/sub%20dir/x%2Ay": _sigv4_route(False),
    "/auth/sigv4-token": _sigv4_route(True),
    "/auth/sigv4-s3/bucket/a%20key": _sigv4_route(False),
    "/auth/hmac": route_hmac,
    "/auth/hmac-redirect": route_hmac_redirect,
    "/auth/oauth/token": route_token,
    "/auth/oauth/resource": route_resource,
    "/auth/oauth/revoke": route_revoke,
    "/auth/oauth/stats": route_stats,
}
