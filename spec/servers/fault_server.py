#!/usr/bin/python3
"""Misbehaving HTTP/1.1 server for lurl's test suite (standard library only).

Usage: fault_server.py [PORT] [--host 127.0.0.1] [--hold-port N]

Binds HOST:PORT (PORT 0 or absent: the kernel picks one), prints
"PORT <n>" on stdout, then serves until killed.  With --hold-port N it also
keeps a bound but never-listening socket on HOST:N, so that connecting
there is refused and no other process can take the port (helper.dead_port).

Responses are written on the raw socket so that they can be wrong on purpose.
Routes (query parameters in brackets):

  /ok                       200 "ok" with Content-Length, keep-alive
  /truncated                Content-Length: 100, 10 bytes, close
  /badchunk                 chunked, then a malformed chunk-size line, close
  /stall[?after=N&secs=S]   headers + N body bytes of a longer body, silence
                            for S seconds (default 10), close
  /slowheaders[?secs=S]     silence for S seconds (default 10), then 200 "ok"
  /reset                    read the request, then close with RST
  /reset-mid-body           headers + part of the body, then RST
  /badstatus                "HTTP/1.1 abc garbage" then close
  /hugeheaders[?kb=N]       N KiB (default 300) of header fields, body "ok"
  /gzip-bad                 Content-Encoding: gzip, body that is not gzip
  /charset[?cs=latin-1]     text/plain; charset=<cs>, body "caf\\xe9" in cs
  /slowbody[?bytes=N&every=S]  N bytes (default 5), one every S s (0.5)
  /close-delimited          200 without Content-Length, body "ok", close
  /requests                 JSON list of the requests received so far
  /reset-log                clear that list
  anything else             404

Every request except /requests and /reset-log is recorded as
{"seq", "conn", "method", "target", "path", "query", "version",
 "headers": [[name, value], ...], "body", "body_size", "body_base64",
 "chunked", "trailers"}; "conn" numbers the TCP connection (1, 2, ...), so
tests can see whether a client reused a connection.
"""

import base64
import json
import os
import select
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

MAX_HEAD = 1024 * 1024          # request line + headers
MAX_BODY = 64 * 1024 * 1024     # request body

_log_lock = threading.Lock()
_log = []
_seq = 0
_conn_lock = threading.Lock()
_conn_counter = 0


class ClientGone(Exception):
    pass


class BadRequest(Exception):
    pass


def _next_conn_id():
    global _conn_counter
    with _conn_lock:
        _conn_counter += 1
        return _conn_counter


def _record(entry):
    global _seq
    with _log_lock:
        _seq += 1
        entry["seq"] = _seq
        _log.append(entry)


class Conn:
    """A buffered reader/writer over one accepted socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ClientGone()
        self.buf += data

    def read_until(self, sep, limit):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out, self.buf = self.buf[:i], self.buf[i + len(sep):]
                return out
            if len(self.buf) > limit:
                raise BadRequest("line or header block too long")
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            raise ClientGone()

    def wait(self, secs):
        """Sleep up to secs seconds; return early (ClientGone) if the
        client closes its side, so stalled threads do not pile up."""
        deadline = time.monotonic() + secs
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                r, _, _ = select.select([self.sock], [], [], min(left, 0.5))
            except (OSError, ValueError):
                raise ClientGone()
            if r:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    raise ClientGone()
                if not data:
                    raise ClientGone()
                self.buf += data   # pipelined bytes: keep, ignore

    def rst(self):
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


def read_request(conn):
    """Return a dict describing the next request, or None at clean EOF."""
    # Skip stray CRLFs between requests (RFC 9112 2.2).
    while True:
        try:
            line = conn.read_until(b"\r\n", 65536)
        except ClientGone:
            return None
        if line:
            break
    parts = line.split(b" ")
    if len(parts) != 3:
        raise BadRequest("bad request line")
    method, target, version = (p.decode("latin-1") for p in parts)
    headers = []
    total = len(line)
    while True:
        raw = conn.read_until(b"\r\n", MAX_HEAD)
        if not raw:
            break
        total += len(raw) + 2
        if total > MAX_HEAD:
            raise BadRequest("header block too long")
        if raw[:1] in (b" ", b"\t") and headers:      # obsolete folding
            headers[-1][1] += " " + raw.strip().decode("latin-1")
            continue
        if b":" not in raw:
            raise BadRequest("bad header line")
        name, value = raw.split(b":", 1)
        headers.append([name.decode("latin-1"), value.strip().decode("latin-1")])
    return {"method": method, "target": target, "version": version,
            "headers": headers}


def header(req, name):
    name = name.lower()
    for k, v in req["headers"]:
        if k.lower() == name:
            return v
    return None


def read_body(conn, req):
    te = header(req, "transfer-encoding")
    if header(req, "expect") and header(req, "expect").lower() == "100-continue":
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
    trailers = []
    if te is not None and "chunked" in te.lower():
        body = bytearray()
        while True:
            size_line = conn.read_until(b"\r\n", 4096)
            size_txt = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_txt, 16)
            except ValueError:
                raise BadRequest("bad chunk size")
            if size == 0:
                while True:
                    t = conn.read_until(b"\r\n", 65536)
                    if not t:
                        break
                    if b":" in t:
                        n, v = t.split(b":", 1)
                        trailers.append([n.decode("latin-1"),
                                         v.strip().decode("latin-1")])
                break
            if len(body) + size > MAX_BODY:
                raise BadRequest("body too large")
            body += conn.read_exact(size)
            if conn.read_exact(2) != b"\r\n":
                raise BadRequest("bad chunk terminator")
        return bytes(body), True, trailers
    cl = header(req, "content-length")
    if cl is not None:
        try:
            n = int(cl)
        except ValueError:
            raise BadRequest("bad content-length")
        if n < 0 or n > MAX_BODY:
            raise BadRequest("bad content-length")
        return conn.read_exact(n), False, trailers
    return b"", False, trailers


def wants_close(req):
    c = (header(req, "connection") or "").lower()
    if "close" in c:
        return True
    if req["version"] == "HTTP/1.0" and "keep-alive" not in c:
        return True
    return False


def response(status, reason, headers, body, head_only=False, close=False):
    lines = ["HTTP/1.1 %d %s" % (status, reason)]
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if close:
        lines.append("Connection: close")
    out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return out if head_only else out + body


def qint(q, name, default):
    try:
        return int(q.get(name, [default])[0])
    except (ValueError, TypeError):
        return default


def qfloat(q, name, default):
    try:
        return float(q.get(name, [default])[0])
    except (ValueError, TypeError):
        return default


def simple(conn, req, status, reason, body, ctype="text/plain",
           extra=(), close=False):
    hdrs = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
    hdrs.extend(extra)
    conn.send(response(status, reason, hdrs, body,
                       head_only=req["method"] == "HEAD", close=close))


def handle_route(conn, req, path, q):
    """Serve one request. Return True to keep the connection open."""
    close = wants_close(req)
    if path == "/ok":
        simple(conn, req, 200, "OK", b"ok", close=close)
        return not close
    if path == "/requests":
        with _log_lock:
            body = json.dumps(_log).encode()
        simple(conn, req, 200, "OK", body, "application/json", close=close)
        return not close
    if path == "/reset-log":
        with _log_lock:
            del _log[:]
        simple(conn, req, 200, "OK", b"ok", close=close)
        return not close
    if path == "/truncated":
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: 100\r\n\r\n" + b"0123456789")
        return False
    if path == "/badchunk":
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n"
                  b"5\r\nhello\r\nzz-not-hex\r\nworld\r\n")
        return False
    if path == "/stall":
        after = max(0, qint(q, "after", 10))
        secs = max(0.0, qfloat(q, "secs", 10))
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\n\r\n" % (after + 1000) + b"x" * after)
        conn.wait(secs)
        return False
    if path == "/slowheaders":
        conn.wait(max(0.0, qfloat(q, "secs", 10)))
        simple(conn, req, 200, "OK", b"ok", close=True)
        return False
    if path == "/reset":
        conn.rst()
        return False
    if path == "/reset-mid-body":
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: 1000\r\n\r\n" + b"y" * 100)
        time.sleep(0.2)   # let the client read the partial body first
        conn.rst()
        return False
    if path == "/badstatus":
        conn.send(b"HTTP/1.1 abc garbage\r\n")
        return False
    if path == "/hugeheaders":
        kb = max(0, qint(q, "kb", 300))
        parts = [b"HTTP/1.1 200 OK\r\n"]
        for i in range(kb):
            name = b"X-Huge-%05d: " % i
            parts.append(name + b"h" * (1024 - len(name) - 2) + b"\r\n")
        parts.append(b"Content-Type: text/plain\r\nContent-Length: 2\r\n")
        if close:
            parts.append(b"Connection: close\r\n")
        parts.append(b"\r\n")
        if req["method"] != "HEAD":
            parts.append(b"ok")
        conn.send(b"".join(parts))
        return not close
    if path == "/gzip-bad":
        body = b"this is definitely not gzip data\n"
        simple(conn, req, 200, "OK", body,
               extra=[("Content-Encoding", "gzip")], close=close)
        return not close
    if path == "/charset":
        cs = q.get("cs", ["latin-1"])[0]
        try:
            body = "caf\u00e9".encode(cs)
        except (LookupError, UnicodeError):
            simple(conn, req, 400, "Bad Request", b"unknown charset",
                   close=close)
            return not close
        simple(conn, req, 200, "OK", body, "text/plain; charset=" + cs,
               close=close)
        return not close
    if path == "/slowbody":
        n = max(0, qint(q, "bytes", 5))
        every = max(0.0, qfloat(q, "every", 0.5))
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n" % n)
        for i in range(n):
            if i:
                conn.wait(every)
            conn.send(b"%d" % (i % 10))
        return False
    if path == "/close-delimited":
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                  b"Connection: close\r\n\r\nok")
        return False
    simple(conn, req, 404, "Not Found", b"not found\n", close=close)
    return not close


UNLOGGED = ("/requests", "/reset-log")


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Conn(sock)
        conn_id = _next_conn_id()
        try:
            while True:
                try:
                    req = read_request(conn)
                    if req is None:
                        return
                    body, chunked, trailers = read_body(conn, req)
                except BadRequest as e:
                    msg = ("bad request: %s\n" % e).encode()
                    conn.send(b"HTTP/1.1 400 Bad Request\r\n"
                              b"Content-Type: text/plain\r\n"
                              b"Content-Length: %d\r\nConnection: close\r\n\r\n"
                              % len(msg) + msg)
                    return
                split = urllib.parse.urlsplit(req["target"])
                path = split.path
                if not path and req["target"].startswith("/"):
                    path = req["target"]
                q = urllib.parse.parse_qs(split.query)
                if path not in UNLOGGED:
                    _record({
                        "conn": conn_id,
                        "method": req["method"],
                        "target": req["target"],
                        "path": path,
                        "query": split.query,
                        "version": req["version"],
                        "headers": req["headers"],
                        "body": body.decode("utf-8", "replace"),
                        "body_size": len(body),
                        "body_base64": base64.b64encode(body).decode(),
                        "chunked": chunked,
                        "trailers": trailers,
                        "time": time.time(),
                    })
                if not handle_route(conn, req, path, q):
                    return
        except ClientGone:
            return
        except Exception as e:   # never let one connection kill the server
            sys.stderr.write("fault_server: connection %d: %r\n" % (conn_id, e))
            sys.stderr.flush()
        finally:
            try:
                sock.close()
            except OSError:
                pass


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        sys.stderr.write("fault_server: error from %r\n" % (client_address,))


def main(argv):
    host = "127.0.0.1"
    port = 0
    hold = None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--host":
            host = args.pop(0)
        elif a == "--hold-port":
            hold = int(args.pop(0))
        else:
            port = int(a)

    def die(*_):
        os._exit(0)
    signal.signal(signal.SIGTERM, die)
    signal.signal(signal.SIGINT, die)
    signal.signal(signal.SIGHUP, die)

    holder = None
    if hold is not None:
        holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        holder.bind((host, hold))   # bound, never listening: refused

    srv = Server((host, port), Handler)
    sys.stdout.write("PORT %d\n" % srv.server_address[1])
    sys.stdout.flush()
    try:
        srv.serve_forever(poll_interval=0.5)
    finally:
        if holder is not None:
            holder.close()


# ---------------------------------------------------------------------------
# Streaming routes (spec/stream_spec.lua, spec/upload_spec.lua,
# spec/scripts_stream_spec.lua).  Added after the routes above, which they
# leave untouched: handle_route and read_body are wrapped below.
#
#   /pattern?size=N           N bytes of a deterministic text pattern: record
#                             k (k = 0, 1, ...) is k in decimal, zero-padded
#                             to rec-1 digits, then "\n" (so byte i belongs to
#                             record i // rec); a size that is not a multiple
#                             of rec ends with a line without newline.
#       &rec=R                record length (default 64)
#       &eol=crlf             records end with CRLF (rec-2 digits)
#       &chunked=1            Transfer-Encoding: chunked, no Content-Length
#       &norange=1            ignore Range (always 200 with the whole body)
#       &rangefail=CODE       answer CODE to any request carrying Range
#       &block=B&pace=S       write B bytes (default 65536) at a time, sleeping
#                             S seconds between writes (default 0)
#       &cut=K&how=close|rst  stop after K body bytes of this response and
#                             close the connection (FIN, default) or reset it
#       &cuts=M               only cut the first M requests of this token
#       &token=T              name for /pattern-stats (default "-")
#     Range: bytes=a-b, a- and -n are honoured (206 + Content-Range, 416 when
#     unsatisfiable) unless norange or chunked.
#   /pattern-stats?token=T    JSON {"requests": n, "ranges": [...], "sent":
#                             [...], "done": [...], "gone": [...]}: per request
#                             of that token, the Range it asked for (null when
#                             none), body bytes written, whether the whole
#                             response was written, whether the client went
#                             away before that.
#   /digest                   any method: JSON {"size", "sha256", "chunked",
#                             "content_type", "content_length", "method"} of
#                             the request body, so large uploads can be
#                             checked without echoing them back.
# ---------------------------------------------------------------------------

import hashlib

_pattern_lock = threading.Lock()
_pattern_state = {}


def pattern_bytes(offset, length, rec, eol):
    """Bytes [offset, offset+length) of the /pattern stream."""
    if length <= 0:
        return b""
    width = rec - len(eol)
    first = offset // rec
    last = (offset + length - 1) // rec
    out = b"".join(b"%0*d" % (width, k) + eol for k in range(first, last + 1))
    start = offset - first * rec
    return out[start:start + length]


def parse_range(value, size):
    """(start, end_exclusive) for a single bytes range, "bad" when it cannot
    be satisfied, None when the header is not a single bytes range."""
    if not value or not value.startswith("bytes=") or "," in value:
        return None
    spec = value[6:].strip()
    a, sep, b = spec.partition("-")
    if not sep:
        return None
    try:
        if a == "":
            n = int(b)
            if n <= 0:
                return "bad"
            return (max(0, size - n), size)
        start = int(a)
        end = int(b) + 1 if b != "" else size
    except ValueError:
        return None
    if start >= size or end <= start:
        return "bad"
    return (start, min(end, size))


def _pattern_slot(token, rng):
    with _pattern_lock:
        st = _pattern_state.setdefault(
            token, {"requests": 0, "ranges": [], "sent": [], "done": [],
                    "gone": []})
        st["requests"] += 1
        st["ranges"].append(rng)
        st["sent"].append(0)
        st["done"].append(False)
        st["gone"].append(False)
        return st, st["requests"]


def route_pattern(conn, req, q):
    size = max(0, qint(q, "size", 1024))
    rec = max(3, qint(q, "rec", 64))
    eol = b"\r\n" if q.get("eol", [""])[0] == "crlf" else b"\n"
    chunked = q.get("chunked", [""])[0] == "1"
    norange = q.get("norange", [""])[0] == "1" or chunked
    block = max(1, qint(q, "block", 65536))
    pace = max(0.0, qfloat(q, "pace", 0))
    cut = qint(q, "cut", -1)
    cuts = qint(q, "cuts", -1)
    how = q.get("how", ["close"])[0]
    token = q.get("token", ["-"])[0]
    rangefail = qint(q, "rangefail", 0)
    head_only = req["method"] == "HEAD"
    close = wants_close(req)
    rng_hdr = header(req, "range")
    st, nth = _pattern_slot(token, rng_hdr)
    i = nth - 1
    if cuts >= 0 and nth > cuts:
        cut = -1

    if rng_hdr is not None and rangefail:
        simple(conn, req, rangefail, "Failed On Purpose", b"range refused\n",
               close=close)
        with _pattern_lock:
            st["done"][i] = True
        return not close

    status, reason, start, end = 200, "OK", 0, size
    hdrs = [("Content-Type", "text/plain")]
    if not norange:
        hdrs.append(("Accept-Ranges", "bytes"))
        r = parse_range(rng_hdr, size) if rng_hdr is not None else None
        if r == "bad":
            simple(conn, req, 416, "Range Not Satisfiable", b"",
                   extra=[("Content-Range", "bytes */%d" % size)], close=close)
            with _pattern_lock:
                st["done"][i] = True
            return not close
        if r is not None:
            status, reason, (start, end) = 206, "Partial Content", r
            hdrs.append(("Content-Range",
                         "bytes %d-%d/%d" % (start, end - 1, size)))
    if chunked:
        hdrs.append(("Transfer-Encoding", "chunked"))
    else:
        hdrs.append(("Content-Length", str(end - start)))
    conn.send(response(status, reason, hdrs, b"", close=close or cut >= 0))
    if head_only:
        with _pattern_lock:
            st["done"][i] = True
        return not close

    pos, sent = start, 0
    try:
        while pos < end:
            n = min(block, end - pos)
            if cut >= 0 and sent + n > cut:
                n = cut - sent
            data = pattern_bytes(pos, n, rec, eol)
            if data:
                conn.send(b"%x\r\n%s\r\n" % (len(data), data) if chunked
                          else data)
            pos += n
            sent += n
            with _pattern_lock:
                st["sent"][i] = sent
            if cut >= 0 and sent >= cut:
                if how == "rst":
                    conn.rst()
                return False
            if pace and pos < end:
                conn.wait(pace)
        if chunked:
            conn.send(b"0\r\n\r\n")
    except ClientGone:
        with _pattern_lock:
            st["gone"][i] = True
        raise
    with _pattern_lock:
        st["done"][i] = True
    return not close


def route_pattern_stats(conn, req, q):
    token = q.get("token", ["-"])[0]
    with _pattern_lock:
        st = _pattern_state.get(token, {"requests": 0, "ranges": [],
                                        "sent": [], "done": [], "gone": []})
        body = json.dumps(st).encode()
    close = wants_close(req)
    simple(conn, req, 200, "OK", body, "application/json", close=close)
    return not close


def route_digest(conn, req, q):
    body = req.get("_body", b"")
    out = {
        "method": req["method"],
        "size": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "chunked": req.get("_chunked", False),
        "content_type": header(req, "content-type"),
        "content_length": header(req, "content-length"),
    }
    close = wants_close(req)
    simple(conn, req, 200, "OK", json.dumps(out).encode(), "application/json",
           close=close)
    return not close


STREAM_ROUTES = {
    "/pattern": route_pattern,
    "/pattern-stats": route_pattern_stats,
    "/digest": route_digest,
}

_base_read_body = read_body
_base_handle_route = handle_route


def read_body(conn, req):
    """read_body, keeping the body on the request for /digest."""
    body, chunked, trailers = _base_read_body(conn, req)
    req["_body"], req["_chunked"] = body, chunked
    return body, chunked, trailers


# More routes live in spec/servers/fault_routes_*.py, one file per area
# (hostile framing, bombs, credentials...): each defines ROUTES, a dict of
# path -> function(conn, req, q) returning True to keep the connection, and
# may use this module's helpers through `import fault_server as fs`.
EXTRA_ROUTES = {}


def _load_route_modules():
    import glob
    import importlib
    here = os.path.dirname(os.path.abspath(__file__))
    if here not in sys.path:
        sys.path.insert(0, here)
    sys.modules.setdefault("fault_server", sys.modules[__name__])
    for f in sorted(glob.glob(os.path.join(here, "fault_routes_*.py"))):
        mod = importlib.import_module(os.path.basename(f)[:-3])
        EXTRA_ROUTES.update(mod.ROUTES)


def handle_route(conn, req, path, q):
    """The streaming routes first, then the area modules', then the original ones."""
    route = STREAM_ROUTES.get(path) or EXTRA_ROUTES.get(path)
    if route is not None:
        return route(conn, req, q)
    return _base_handle_route(conn, req, path, q)


if __name__ == "__main__":
    _load_route_modules()
    main(sys.argv[1:])
