"""app_login.py: a small web application to log into, for lurl's session,
cookie, auth and retry specs (and scripts/login_then_fetch.lua).

A Flask Blueprint, `bp`; spec/servers/app.py registers it and spec/helper.lua
serves the app as helper.app.  Nothing here is a mock of lurl: it is an
ordinary site with a login form, so a client has to do what a browser does.

Login flow (user "alice", password "wonderland"):
  GET  /login         HTML form; sets the pre-session cookie `presession` and
                      embeds a CSRF token derived from it (hidden field
                      csrf_token).  A token only works with its own cookie.
  POST /login         user, password, csrf_token: sets the `session` cookie
                      (HttpOnly) and redirects (302) to /account; 403 on a
                      bad or missing CSRF token, 401 on bad credentials.
  GET  /account       HTML page for the session's user; 302 to /login without
                      a valid session.
  POST /api/token     with the session cookie: {"access_token", "token_type",
                      "expires_in", "user"}; 401 without.
  GET  /api/me        Authorization: Bearer <token>: {"user", "scopes"}; 401
                      with WWW-Authenticate: Bearer otherwise.
  POST /logout        ends the session, expires the cookie, {"logged_out"}.
  GET/POST /digest/<user>/<password>
                      HTTP Digest (qop=auth, MD5) for any method, echoing the
                      method and body it authenticated (httpbin's digest route
                      only answers GET).

Retry routes, counted per key so tests never interfere (any method):
  /retry/after/<key>?secs=N        429 with Retry-After: N the first time, 200 after
  /retry/after-date/<key>?secs=N   the same with Retry-After as an HTTP date
  /retry/flaky/<key>?fails=2&status=503[&retry_after=N]
                                   `status` `fails` times, then 200
  Each answers JSON {"key", "attempt", "status"}.

Cookie routes for the jar specs (any method):
  /jar/set?name=&value=[&domain=&path=&max_age=&expires=&secure=1&httponly=1]
      sets one cookie with exactly those attributes (expires: Unix time, sent
      as an HTTP date); several with name2=, value2=, ...
  /jar/seen[/<anything>]  {"cookies": {...}, "cookie_header", "host", "path"}
  /jar/chain/<key>/<n>?to=URL  a redirect chain: every hop sets cookie
      hop<n>=<key>, then goes to n-1; hop 0 redirects to `to` if given, or
      answers like /jar/seen.

Recorder:
  GET /login-log[?since=SEQ][&key=K]   {"requests": [...], "tokens": [...],
      "last": SEQ, "now": time}.  Each request: seq, t (Unix time when it
      arrived), method, path, query, key, host, cookies presented, the raw
      Cookie header, authorization (scheme and credential as sent), user
      agent, form fields (password masked), status, retry_after_at (the Unix
      time a Retry-After date pointed to).  Tokens: token, user, session, t.

State (counters, sessions, tokens, the log) lives in memory behind one
lock: app.py runs a single worker process, so every request sees it.
"""

import email.utils
import hashlib
import hmac
import re
import secrets
import threading
import time

import flask

bp = flask.Blueprint("login", __name__)

USERS = {"alice": "wonderland"}
SECRET = b"lurl-login-app-not-a-real-secret"
DIGEST_REALM = "lurl-app"
DIGEST_NONCE = "a7d3c1e9f05b4c2e8d6f"
DIGEST_OPAQUE = "0f1e2d3c"

_lock = threading.Lock()
_log = []          # recorded requests, each with "seq"
_counters = {}     # retry route key -> requests seen
_sessions = {}     # session id -> {"user", "active"}
_tokens = []       # {"token", "user", "session", "t"}
_token_user = {}   # token -> user


def bump(key):
    """Increments and returns the counter `key`."""
    with _lock:
        n = _counters.get(key, 0) + 1
        _counters[key] = n
    return n


# ------------------------------------------------------------- recorder --

@bp.before_request
def _arrived():
    flask.g.login_t = time.time()


@bp.after_request
def _record(resp):
    """Logs every request this blueprint answered (not the log itself), so
    tests can check what the application saw, including the status it gave."""
    req = flask.request
    if req.path == "/login-log":
        return resp
    form = {}
    for k in req.form:
        form[k] = "***" if k == "password" else req.form[k]
    key = req.args.get("key") or (req.view_args or {}).get("key")
    entry = {
        "t": flask.g.get("login_t", time.time()),
        "method": req.method,
        "path": req.path,
        "query": req.query_string.decode("latin-1"),
        "key": key,
        "host": req.host,
        "cookies": dict(req.cookies),
        "cookie_header": req.headers.get("Cookie"),
        "authorization": req.headers.get("Authorization"),
        "user_agent": req.headers.get("User-Agent"),
        "content_type": req.headers.get("Content-Type"),
        "body": req.get_data(as_text=True) if not req.form else None,
        "form": form,
        "status": resp.status_code,
        "retry_after": resp.headers.get("Retry-After"),
        "retry_after_at": flask.g.get("retry_after_at"),
        "location": resp.headers.get("Location"),
    }
    with _lock:
        entry["seq"] = len(_log) + 1
        _log.append(entry)
    return resp


@bp.route("/login-log")
def login_log():
    since = int(float(flask.request.args.get("since", "0")))
    key = flask.request.args.get("key")
    with _lock:
        out = [e for e in _log[since:] if key is None or e["key"] == key]
        last = len(_log)
        tokens = list(_tokens)
    return flask.jsonify(requests=out, tokens=tokens, last=last, now=time.time())


# ---------------------------------------------------------------- login --

def csrf_for(presession):
    """The CSRF token is bound to the pre-session cookie: a token copied
    from another visitor's form does not validate with your cookie."""
    return hmac.new(SECRET, presession.encode(), hashlib.sha256).hexdigest()[:32]


def current_user():
    """(user, session id) for a valid session cookie, else (None, None)."""
    sid = flask.request.cookies.get("session")
    if not sid:
        return None, None
    with _lock:
        sess = _sessions.get(sid)
    return (sess["user"], sid) if sess and sess["active"] else (None, None)


LOGIN_PAGE = """<!doctype html>
<html><head><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
%(error)s
<form method="post" action="/login">
  <input type="hidden" name="csrf_token" value="%(csrf)s">
  <label>User <input name="user" autocomplete="username"></label>
  <label>Password <input name="password" type="password"></label>
  <button type="submit">Sign in</button>
</form>
</body></html>
"""


def login_form(presession, status=200, error=""):
    resp = flask.make_response(LOGIN_PAGE % {
        "csrf": csrf_for(presession),
        "error": error and '<p class="error">%s</p>' % error}, status)
    resp.headers["Content-Type"] = "text/html; charset=utf-8"
    resp.set_cookie("presession", presession, httponly=True, path="/", samesite="Lax")
    return resp


@bp.route("/login", methods=["GET"])
def login_get():
    pre = flask.request.cookies.get("presession") or secrets.token_urlsafe(16)
    return login_form(pre)


@bp.route("/login", methods=["POST"])
def login_post():
    req = flask.request
    pre = req.cookies.get("presession")
    token = req.form.get("csrf_token", "")
    if not pre or not hmac.compare_digest(token, csrf_for(pre)):
        return flask.jsonify(error="bad or missing CSRF token"), 403
    user, password = req.form.get("user", ""), req.form.get("password", "")
    if USERS.get(user) != password:
        return login_form(pre, 401, "Wrong user or password.")
    sid = secrets.token_urlsafe(24)
    with _lock:
        _sessions[sid] = {"user": user, "active": True}
    resp = flask.redirect("/account", 302)
    resp.set_cookie("session", sid, httponly=True, path="/", samesite="Lax")
    resp.delete_cookie("presession", path="/")
    return resp


@bp.route("/account")
def account():
    user, _ = current_user()
    if not user:
        return flask.redirect("/login?next=/account", 302)
    html = ("<!doctype html>\n<html><head><title>Account</title></head>\n<body>\n"
            "<h1>Account of %s</h1>\n<p id=\"plan\">Plan: rabbit-hole</p>\n"
            "<form method=\"post\" action=\"/logout\"><button>Sign out</button></form>\n"
            "</body></html>\n" % user)
    return html, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.route("/api/token", methods=["POST"])
def api_token():
    user, sid = current_user()
    if not user:
        return flask.jsonify(error="login required"), 401
    token = secrets.token_urlsafe(24)
    with _lock:
        _tokens.append({"token": token, "user": user, "session": sid, "t": time.time()})
        _token_user[token] = user
    return flask.jsonify(access_token=token, token_type="Bearer", expires_in=3600, user=user)


@bp.route("/api/me")
def api_me():
    auth = flask.request.headers.get("Authorization", "")
    m = re.match(r"Bearer\s+(\S+)$", auth)
    with _lock:
        user = m and _token_user.get(m.group(1))
    if not user:
        resp = flask.jsonify(error="bearer token required")
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = 'Bearer realm="lurl-app"'
        return resp
    return flask.jsonify(user=user, scopes=["read"])


@bp.route("/logout", methods=["POST"])
def logout():
    user, sid = current_user()
    if sid:
        with _lock:
            _sessions[sid]["active"] = False
    resp = flask.jsonify(logged_out=bool(user), user=user)
    resp.delete_cookie("session", path="/")
    return resp


# --------------------------------------------------------------- digest --

ANY = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


@bp.route("/digest/<user>/<password>", methods=ANY)
def digest(user, password):
    """RFC 7616 Digest with qop=auth and MD5, for every method, so a client
    must send the body again with its credentials after the challenge."""
    req = flask.request
    auth = req.headers.get("Authorization", "")
    ok = False
    if auth.lower().startswith("digest "):
        p = dict((m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
                 for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', auth[7:]))
        ha1 = md5("%s:%s:%s" % (user, DIGEST_REALM, password))
        ha2 = md5("%s:%s" % (req.method, p.get("uri", "")))
        want = md5(":".join([ha1, p.get("nonce", ""), p.get("nc", ""), p.get("cnonce", ""),
                             p.get("qop", ""), ha2]))
        ok = (p.get("username") == user and p.get("nonce") == DIGEST_NONCE
              and p.get("uri") == req.full_path.rstrip("?")
              and hmac.compare_digest(p.get("response", ""), want))
    if not ok:
        resp = flask.jsonify(authenticated=False)
        resp.status_code = 401
        resp.headers["WWW-Authenticate"] = (
            'Digest realm="%s", qop="auth", nonce="%s", opaque="%s", algorithm=MD5'
            % (DIGEST_REALM, DIGEST_NONCE, DIGEST_OPAQUE))
        return resp
    return flask.jsonify(authenticated=True, user=user, method=req.method,
                         body=req.get_data(as_text=True),
                         content_type=req.headers.get("Content-Type"))


# -------------------------------------------------------------- retries --

def attempt_reply(key, n, status, headers=None):
    resp = flask.jsonify(key=key, attempt=n, status=status)
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


@bp.route("/retry/after/<key>", methods=ANY)
def retry_after_secs(key):
    n = bump("after:" + key)
    if n == 1:
        secs = flask.request.args.get("secs", "1")
        return attempt_reply(key, n, 429, {"Retry-After": secs})
    return attempt_reply(key, n, 200)


@bp.route("/retry/after-date/<key>", methods=ANY)
def retry_after_date(key):
    """Retry-After as an HTTP date.  Dates have whole seconds, so the date
    is rounded up: a client that waits until it will never be early."""
    n = bump("after-date:" + key)
    if n == 1:
        at = int(time.time()) + 1 + int(flask.request.args.get("secs", "1"))
        flask.g.retry_after_at = at
        return attempt_reply(key, n, 429,
                             {"Retry-After": email.utils.formatdate(at, usegmt=True)})
    return attempt_reply(key, n, 200)


@bp.route("/retry/flaky/<key>", methods=ANY)
def retry_flaky(key):
    args = flask.request.args
    n = bump("flaky:" + key)
    if n <= int(args.get("fails", "2")):
        headers = {}
        if "retry_after" in args:
            headers["Retry-After"] = args["retry_after"]
        return attempt_reply(key, n, int(args.get("status", "503")), headers)
    return attempt_reply(key, n, 200)


# -------------------------------------------------------------- cookies --

def set_cookie_header(args, suffix):
    """One Set-Cookie value from query parameters (name<suffix>,
    value<suffix>, ...), with only the attributes given: written by hand
    because werkzeug refuses Domain=localhost, and a test must control
    every attribute the client sees."""
    parts = ["%s=%s" % (args["name" + suffix], args.get("value" + suffix, ""))]
    if "domain" + suffix in args:
        parts.append("Domain=" + args["domain" + suffix])
    parts.append("Path=" + args.get("path" + suffix, "/"))
    if "max_age" + suffix in args:
        parts.append("Max-Age=" + args["max_age" + suffix])
    if "expires" + suffix in args:
        parts.append("Expires=" + email.utils.formatdate(int(args["expires" + suffix]),
                                                         usegmt=True))
    if args.get("secure" + suffix) == "1":
        parts.append("Secure")
    if args.get("httponly" + suffix) == "1":
        parts.append("HttpOnly")
    return "; ".join(parts)


@bp.route("/jar/set", methods=ANY)
def jar_set():
    args = flask.request.args
    headers = []
    suffix, i = "", 1
    while "name" + suffix in args:
        headers.append(set_cookie_header(args, suffix))
        i += 1
        suffix = str(i)
    resp = flask.jsonify(set=headers)
    for h in headers:
        resp.headers.add("Set-Cookie", h)
    return resp


def seen():
    req = flask.request
    return flask.jsonify(cookies=dict(req.cookies), cookie_header=req.headers.get("Cookie"),
                         host=req.host, path=req.path,
                         authorization=req.headers.get("Authorization"))


@bp.route("/jar/seen", methods=ANY)
@bp.route("/jar/seen/<path:rest>", methods=ANY)
def jar_seen(rest=None):
    return seen()


@bp.route("/jar/chain/<key>/<int:n>", methods=ANY)
def jar_chain(key, n):
    if n <= 0:
        to = flask.request.args.get("to")
        return flask.redirect(to, 302) if to else seen()
    query = flask.request.query_string.decode("latin-1")
    resp = flask.redirect("/jar/chain/%s/%d%s" % (key, n - 1, "?" + query if query else ""), 302)
    resp.set_cookie("hop%d" % n, key, path="/")
    return resp

