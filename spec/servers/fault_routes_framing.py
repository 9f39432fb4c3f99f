"""Hostile framing, bombs and slow headers (spec/hostile_response_spec.lua).

  /encoded?enc=E[&n=N][&chunked=1]
                         body "lurl decodes this line NNNNN\\n" x N (default
                         200) compressed with E: gzip, deflate (zlib),
                         deflate-raw (sent as "deflate"), br, zstd, or a
                         stack like "gzip,br" (applied left to right, as
                         Content-Encoding lists them); identity sends it
                         as it is with "Content-Encoding: identity"
  /bomb?enc=E&mib=M      M MiB (default 1024) of zero bytes compressed with
                         E (as above), with a Content-Length; the compressed
                         body is made once per (E, M) and kept
  /bomb-raw?enc=E        "Content-Encoding: E", body that is not E
  /zstd-window?log=L     a zstd frame whose window is 2^L bytes (default 27),
                         4 MiB of data
  /badlength?cl=V&body=B Content-Length: V (raw text), body B (default
                         "abc"), then close
  /twolengths?a=X&b=Y    two Content-Length lines X and Y, body of max(X, Y)
                         bytes; /twolengths?one=V: one line "Content-Length: V"
                         (e.g. "5, 6"), body of 6 bytes
  /trickleheaders?lines=N&every=S[&bytes=1]
                         status line, then N header lines, one every S s
                         (default 10 lines, 0.5 s), then "ok"; bytes=1:
                         one header line of about N+13 bytes, one byte
                         every S s
  /stallheaders?secs=S   status line and one header, then silence for S s
  /longheader?kb=K       one header line of K KiB (default 10240)
  /manyheaders?n=N&len=L N header lines of about L bytes each (default
                         3000 lines, 8 bytes), then "ok"
"""

import threading
import time
import zlib

import fault_server as fs

try:
    import brotli
except ImportError:     # the br routes answer 501 without python3-brotli
    brotli = None
try:
    import zstandard
except ImportError:     # the zstd routes answer 501 without python3-zstandard
    zstandard = None

MIB = 1024 * 1024


class Unsupported(Exception):
    pass


def _coder(enc, fast=False):
    """An object with compress(bytes) and flush() for one coding (fast:
    zlib's level 1, four times as quick on a bomb of zeros)."""
    lvl = 1 if fast else 9
    if enc == "gzip":
        return zlib.compressobj(lvl, zlib.DEFLATED, 31)
    if enc == "deflate":
        return zlib.compressobj(lvl, zlib.DEFLATED, 15)
    if enc == "deflate-raw":
        return zlib.compressobj(lvl, zlib.DEFLATED, -15)
    if enc == "br":
        if brotli is None:
            raise Unsupported("python3-brotli is not installed")
        c = brotli.Compressor(quality=5)

        class B:
            def compress(self, b):
                return c.process(b)

            def flush(self):
                return c.finish()
        return B()
    if enc == "zstd":
        if zstandard is None:
            raise Unsupported("python3-zstandard is not installed")
        return zstandard.ZstdCompressor(level=3).compressobj()
    raise Unsupported("unknown coding " + enc)


def _label(enc):
    return "deflate" if enc == "deflate-raw" else enc


def _encode_pieces(encs, pieces, fast=False):
    """Compresses an iterable of byte strings with each coding in turn."""
    data = pieces
    for enc in encs:
        c = _coder(enc, fast)
        out = []
        for p in data:
            o = c.compress(p)
            if o:
                out.append(o)
        out.append(c.flush())
        data = out
    return b"".join(data)


def _codings(q):
    enc = q.get("enc", ["gzip"])[0]
    return [e.strip() for e in enc.split(",") if e.strip()]


def _unsupported(conn, req, e):
    fs.simple(conn, req, 501, "Not Implemented", str(e).encode(), close=True)
    return False


def encoded(conn, req, q):
    encs = _codings(q)
    n = fs.qint(q, "n", 200)
    plain = b"".join(b"lurl decodes this line %05d\n" % i for i in range(n))
    try:
        body = plain if encs == ["identity"] else _encode_pieces(encs, [plain])
    except Unsupported as e:
        return _unsupported(conn, req, e)
    label = ", ".join(_label(e) for e in encs)
    if q.get("chunked", ["0"])[0] == "1":
        head = fs.response(200, "OK", [("Content-Type", "text/plain"),
                                       ("Content-Encoding", label),
                                       ("Transfer-Encoding", "chunked")],
                           b"", head_only=True, close=True)
        out = [head]
        for i in range(0, len(body), 7):   # small chunks: many writes
            piece = body[i:i + 7]
            out.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        out.append(b"0\r\n\r\n")
        conn.send(b"".join(out))
        return False
    fs.simple(conn, req, 200, "OK", body,
              extra=[("Content-Encoding", label)], close=True)
    return False


_bombs = {}
_bomb_lock = threading.Lock()


def _bomb(encs, mib):
    key = (tuple(encs), mib)
    with _bomb_lock:
        if key not in _bombs:
            zeros = b"\0" * MIB
            _bombs[key] = _encode_pieces(encs, (zeros for _ in range(mib)), True)
        return _bombs[key]


def bomb(conn, req, q):
    encs = _codings(q)
    mib = max(1, fs.qint(q, "mib", 1024))
    try:
        body = _bomb(encs, mib)
    except Unsupported as e:
        return _unsupported(conn, req, e)
    fs.simple(conn, req, 200, "OK", body, "application/octet-stream",
              extra=[("Content-Encoding", ", ".join(_label(e) for e in encs))],
              close=True)
    return False


def bomb_raw(conn, req, q):
    enc = q.get("enc", ["gzip"])[0]
    fs.simple(conn, req, 200, "OK", b"this is not " + enc.encode() + b" at all\n",
              extra=[("Content-Encoding", enc)], close=True)
    return False


def zstd_window(conn, req, q):
    if zstandard is None:
        return _unsupported(conn, req, "python3-zstandard is not installed")
    log = fs.qint(q, "log", 27)
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=log)
    c = zstandard.ZstdCompressor(compression_params=params).compressobj()
    body = c.compress(bytes(range(256)) * (4 * MIB // 256)) + c.flush()
    fs.simple(conn, req, 200, "OK", body, "application/octet-stream",
              extra=[("Content-Encoding", "zstd")], close=True)
    return False


def badlength(conn, req, q):
    cl = q.get("cl", ["100000000000000000000000"])[0]
    body = q.get("body", ["abc"])[0].encode()
    conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              b"Content-Length: " + cl.encode("latin-1") + b"\r\n"
              b"Connection: close\r\n\r\n" + body)
    return False


def twolengths(conn, req, q):
    if "one" in q:
        lines = [("Content-Length", q["one"][0])]
        n = 6
    else:
        a, b = fs.qint(q, "a", 5), fs.qint(q, "b", 6)
        lines = [("Content-Length", str(a)), ("Content-Length", str(b))]
        n = max(a, b)
    head = fs.response(200, "OK", [("Content-Type", "text/plain")] + lines,
                       b"", head_only=True, close=True)
    conn.send(head + b"abcdefghijklmnopqrstuvwxyz"[:n])
    return False


def trickleheaders(conn, req, q):
    n = max(0, fs.qint(q, "lines", 10))
    every = max(0.0, fs.qfloat(q, "every", 0.5))
    conn.send(b"HTTP/1.1 200 OK\r\n")
    if q.get("bytes", ["0"])[0] == "1":   # one header line, a byte at a time
        for b in b"X-Trickle: " + b"t" * n + b"\r\n":
            conn.wait(every)
            conn.send(bytes([b]))
        n = 0
    for i in range(n):
        conn.wait(every)
        conn.send(b"X-Trickle-%d: %d\r\n" % (i, i))
    conn.send(b"Content-Type: text/plain\r\nContent-Length: 2\r\n"
              b"Connection: close\r\n\r\nok")
    return False


def stallheaders(conn, req, q):
    conn.send(b"HTTP/1.1 200 OK\r\nX-First: 1\r\n")
    conn.wait(max(0.0, fs.qfloat(q, "secs", 10)))
    return False


def longheader(conn, req, q):
    kb = max(1, fs.qint(q, "kb", 10240))
    conn.send(b"HTTP/1.1 200 OK\r\nX-Long: ")
    piece = b"L" * 65536
    left = kb * 1024
    while left > 0:   # until the client gives up (ClientGone ends it)
        conn.send(piece[:min(left, len(piece))])
        left -= len(piece)
    conn.send(b"\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    return False


def manyheaders(conn, req, q):
    n = max(0, fs.qint(q, "n", 3000))
    ln = max(6, fs.qint(q, "len", 8))
    parts = [b"HTTP/1.1 200 OK\r\n"]
    for i in range(n):
        name = b"X%d: " % i
        parts.append(name + b"v" * max(1, ln - len(name) - 2) + b"\r\n")
    parts.append(b"Content-Length: 2\r\nConnection: close\r\n\r\nok")
    conn.send(b"".join(parts))
    return False


ROUTES = {
    "/encoded": encoded,
    "/bomb": bomb,
    "/bomb-raw": bomb_raw,
    "/zstd-window": zstd_window,
    "/badlength": badlength,
    "/twolengths": twolengths,
    "/trickleheaders": trickleheaders,
    "/stallheaders": stallheaders,
    "/longheader": longheader,
    "/manyheaders": manyheaders,
}
