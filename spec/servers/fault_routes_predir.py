"""Fault-server routes for redirect parity with requests (spec/parity_redirect_spec.lua).

  /predir/raw-location[?abs=1]
      302 whose Location carries raw UTF-8 bytes (not percent-encoded):
      /predir/landed?w=<U+0161 as C5 A1>&k=%c3%a9 (an escape already in
      lower case, which a client keeps as it is).  abs=1: the same as an
      absolute URL on this server (from the Host header).
  /predir/landed
      200 whose body is the request target exactly as received.
  /predir/goto?loc=L[&status=S]
      S (default 302) with Location: L exactly as given, empty body.
  /predir/badcoding[?loc=L&status=S&coding=C&chunked=1]
      S (default 302), Location: L when given, Content-Encoding: C
      (default gzip) over a body that is no such coding; Content-Length
      framing, or chunked with chunked=1; keep-alive.
"""

import fault_server as fs

# the bytes C5 A1 (U+0161) as latin-1 text: fs.response encodes the head
# with latin-1, so they go out raw
_RAW = "/predir/landed?w=\xc5\xa1&k=%c3%a9"


def route_raw_location(conn, req, q):
    loc = _RAW
    if q.get("abs", ["0"])[0] == "1":
        loc = "http://%s%s" % (fs.header(req, "host"), _RAW)
    conn.send(fs.response(302, "Found", [("Location", loc), ("Content-Length", "0")], b"",
                          close=fs.wants_close(req)))
    return not fs.wants_close(req)


def route_landed(conn, req, q):
    fs.simple(conn, req, 200, "OK", req["target"].encode("latin-1"), close=fs.wants_close(req))
    return not fs.wants_close(req)


def route_goto(conn, req, q):
    status = fs.qint(q, "status", 302)
    conn.send(fs.response(status, "Redirect", [("Location", q.get("loc", ["/"])[0]),
                                               ("Content-Length", "0")], b"",
                          close=fs.wants_close(req)))
    return not fs.wants_close(req)


_NOT_CODED = b"this body is not in the coding its Content-Encoding names" * 4


def route_badcoding(conn, req, q):
    status = fs.qint(q, "status", 302)
    heads = [("Content-Encoding", q.get("coding", ["gzip"])[0]), ("Content-Type", "text/plain")]
    if "loc" in q:
        heads.append(("Location", q["loc"][0]))
    if q.get("chunked", ["0"])[0] == "1":
        heads.append(("Transfer-Encoding", "chunked"))
        half = len(_NOT_CODED) // 2
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c)
                        for c in (_NOT_CODED[:half], _NOT_CODED[half:])) + b"0\r\n\r\n"
    else:
        heads.append(("Content-Length", str(len(_NOT_CODED))))
        body = _NOT_CODED
    conn.send(fs.response(status, "Redirect", heads, body, close=fs.wants_close(req)))
    return not fs.wants_close(req)


ROUTES = {
    "/predir/goto": route_goto,
    "/predir/badcoding": route_badcoding,
    "/predir/raw-location": route_raw_location,
    "/predir/landed": route_landed,
}
