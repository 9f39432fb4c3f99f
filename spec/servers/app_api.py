"""/api: the collection, slow endpoint and request recorder of the fixture app.

Registered by app.py.  Every route is under /api.

Collection: ITEMS items (95), ids 1..95, each {"id", "name"}.

  GET /api/items?page=N&per_page=M          page N (from 1) of M items (default
        10, at most 100) as {"data": [...], "page", "per_page", "total",
        "pages"}; the Link header has rel="first", rel="last", rel="prev"
        (not on page 1) and rel="next" (not on the last page).  Links keep
        every other query parameter.  relative=1 makes them relative URLs
        ("/api/items?..."), fail_page=K answers page K with 500.
  GET /api/cursor?cursor=C&limit=M          {"data": [...], "next_cursor": C2 or
        null}; C is opaque (absent for the first page); a bad one gives 400.
  GET /api/offset?offset=O&limit=M          {"data": [...], "offset", "limit",
        "total"}.
  GET /api/items/<id>[?delay=S]             {"id", "name", "detail"} after S
        seconds; 404 {"error"} for an unknown id.
  GET /api/slow?secs=S                      answers {"slept", "aborted"} after S
        seconds (default 1), or earlier when the client closes the
        connection, which it notices within 50 ms and records as aborted.
  ANY /api/status/<code>                    that status, body {"status": code}.

Recorder: every /api request except /api/stats* is recorded as
  {"seq", "method", "path", "query", "tag" (the tag= query parameter),
   "host" (Host header), "conn" (client port: one per TCP connection),
   "arrival", "finish" (time.time() when the handler started and ended;
   finish null while in flight), "status", "aborted"}.

  GET  /api/stats[?tag=T][&path=P]  {"count", "max_in_flight",
        "max_in_flight_by_host": {host: n}, "connections": {conn: requests},
        "distinct_connections", "requests": [records in arrival order]},
        restricted to records with tag T and/or whose path starts with P.
        max_in_flight is the largest number of those requests the server
        was handling at one moment.
  POST|GET /api/stats/reset          forget every record.
"""

import base64
import json
import math
import select
import socket
import threading
import time

import flask

bp = flask.Blueprint("api", __name__, url_prefix="/api")

ITEMS = 95
DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100

_lock = threading.Lock()
_records = []
_seq = 0


def _json(obj, status=200, headers=None):
    resp = flask.Response(json.dumps(obj), status=status, mimetype="application/json")
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _item(i):
    return {"id": i, "name": "item-%03d" % i}


def _int_arg(name, default, lo=None, hi=None):
    """Query parameter as an int; aborts with 400 when it is not one."""
    raw = flask.request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        flask.abort(_json({"error": "%s must be an integer" % name}, 400))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        flask.abort(_json({"error": "%s out of range" % name}, 400))
    return v


# ---------------------------------------------------------------- recorder

def _recorded():
    return not flask.request.path.startswith("/api/stats")


@bp.before_request
def _arrive():
    if not _recorded():
        return
    global _seq
    env = flask.request.environ
    with _lock:
        _seq += 1
        rec = {
            "seq": _seq,
            "method": flask.request.method,
            "path": flask.request.path,
            "query": env.get("QUERY_STRING", ""),
            "tag": flask.request.args.get("tag"),
            "host": flask.request.host,
            "conn": env.get("REMOTE_PORT"),
            "arrival": time.time(),
            "finish": None,
            "status": None,
            "aborted": False,
        }
        _records.append(rec)
    flask.g.lurl_record = rec


@bp.after_request
def _status(resp):
    rec = flask.g.get("lurl_record")
    if rec is not None:
        rec["status"] = resp.status_code
    return resp


@bp.teardown_request
def _leave(exc):
    rec = flask.g.get("lurl_record")
    if rec is not None:
        rec["finish"] = time.time()
        if rec["status"] is None:
            rec["status"] = 500


def _max_overlap(recs, now):
    """Largest number of intervals [arrival, finish] open at one moment
    (an unfinished request is open until now)."""
    events = []
    for r in recs:
        events.append((r["arrival"], 1))
        events.append((r["finish"] if r["finish"] is not None else now, -1))
    # at equal times a finish counts before an arrival: back-to-back
    # requests on one connection are not concurrent
    events.sort(key=lambda e: (e[0], e[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


@bp.route("/stats")
def stats():
    tag = flask.request.args.get("tag")
    path = flask.request.args.get("path")
    with _lock:
        recs = [dict(r) for r in _records
                if (tag is None or r["tag"] == tag) and (path is None or r["path"].startswith(path))]
    now = time.time()
    conns, hosts = {}, {}
    for r in recs:
        conns[r["conn"]] = conns.get(r["conn"], 0) + 1
        hosts.setdefault(r["host"], []).append(r)
    return _json({
        "count": len(recs),
        "max_in_flight": _max_overlap(recs, now),
        "max_in_flight_by_host": {h: _max_overlap(rs, now) for h, rs in hosts.items()},
        "connections": conns,
        "distinct_connections": len(conns),
        "requests": recs,
    })


@bp.route("/stats/reset", methods=["GET", "POST"])
def stats_reset():
    global _seq
    with _lock:
        _records.clear()
        _seq = 0
    return _json({"reset": True})


# ---------------------------------------------------------------- collection

def _page_url(page, per_page):
    """URL of another page keeping the other query parameters."""
    args = flask.request.args.to_dict(flat=False)
    args["page"] = [str(page)]
    args["per_page"] = [str(per_page)]
    relative = flask.request.args.get("relative") == "1"
    return flask.url_for("api.items", _external=not relative, **args)


@bp.route("/items")
def items():
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    pages = max(1, math.ceil(ITEMS / per_page))
    page = _int_arg("page", 1, 1)
    if _int_arg("fail_page", 0) == page:
        return _json({"error": "page %d failed on purpose" % page}, 500)
    first = (page - 1) * per_page + 1
    data = [_item(i) for i in range(first, min(first + per_page, ITEMS + 1))]
    links = ['<%s>; rel="first"' % _page_url(1, per_page)]
    if page > 1:
        links.append('<%s>; rel="prev"' % _page_url(min(page - 1, pages), per_page))
    if page < pages:
        links.append('<%s>; rel="next"' % _page_url(page + 1, per_page))
    links.append('<%s>; rel="last"' % _page_url(pages, per_page))
    return _json({"data": data, "page": page, "per_page": per_page, "total": ITEMS, "pages": pages},
                 headers={"Link": ", ".join(links)})


def _encode_cursor(offset):
    return base64.urlsafe_b64encode(("offset:%d" % offset).encode()).decode().rstrip("=")


def _decode_cursor(c):
    try:
        raw = base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode()
        kind, _, n = raw.partition(":")
        if kind != "offset":
            raise ValueError(raw)
        return int(n)
    except ValueError:
        return None


@bp.route("/cursor")
def cursor():
    limit = _int_arg("limit", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    c = flask.request.args.get("cursor")
    offset = 0
    if c:
        offset = _decode_cursor(c)
        if offset is None or offset < 0 or offset >= ITEMS:
            return _json({"error": "bad cursor"}, 400)
    data = [_item(i) for i in range(offset + 1, min(offset + limit, ITEMS) + 1)]
    nxt = offset + limit
    return _json({"data": data, "next_cursor": _encode_cursor(nxt) if nxt < ITEMS else None})


@bp.route("/offset")
def offset():
    limit = _int_arg("limit", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    off = _int_arg("offset", 0, 0)
    data = [_item(i) for i in range(off + 1, min(off + limit, ITEMS) + 1)]
    return _json({"data": data, "offset": off, "limit": limit, "total": ITEMS})


@bp.route("/items/<int:item_id>")
def item(item_id):
    delay = float(flask.request.args.get("delay", "0") or 0)
    if delay > 0:
        time.sleep(min(delay, 30))
    if not 1 <= item_id <= ITEMS:
        return _json({"error": "no item %d" % item_id}, 404)
    d = _item(item_id)
    d["detail"] = "details of item %d" % item_id
    return _json(d)


# ---------------------------------------------------------------- slow, status

def _client_gone(sock):
    """True when the peer has closed its end (EOF or reset is readable)."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


@bp.route("/slow")
def slow():
    secs = min(float(flask.request.args.get("secs", "1") or 1), 60.0)
    sock = flask.request.environ.get("gunicorn.socket")
    start = time.time()
    aborted = False
    while True:
        left = start + secs - time.time()
        if left <= 0:
            break
        if sock is not None and _client_gone(sock):
            aborted = True
            break
        time.sleep(min(0.05, left))
    rec = flask.g.get("lurl_record")
    if rec is not None:
        rec["aborted"] = aborted
    return _json({"slept": round(time.time() - start, 3), "aborted": aborted})


@bp.route("/status/<int:code>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def status(code):
    if not 200 <= code <= 599:
        return _json({"error": "status out of range"}, 400)
    return _json({"status": code}, code)
