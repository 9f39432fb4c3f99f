"""Fault-server routes for redirect parity with requests (spec/parity_redirect_spec.lua).

  /predir/raw-location[?abs=1]
      302 whose Location carries raw UTF-8 bytes (not percent-encoded):
      /predir/landed?w=<U+0161 as C5 A1>&k=%c3%a9 (an escape already in
      lower case, which a client keeps as it is).  abs=1: the same as an
      absolute URL on this server (from the Host header).
  /predir/landed
      200 whose body is the request target exactly as received.
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


ROUTES = {
    "/predir/raw-location": route_raw_location,
    "/predir/landed": route_landed,
}
