"""Fault-server routes for res:json() (spec/json_decode_spec.lua).

  /json/echo
      200, Content-Type: application/json, whose body is the request's
      body exactly as received (any bytes: UTF-16, NULs, bad JSON).
"""

import fault_server as fs


def route_echo(conn, req, q):
    fs.simple(conn, req, 200, "OK", req.get("_body", b""), ctype="application/json",
              close=fs.wants_close(req))
    return not fs.wants_close(req)


ROUTES = {
    "/json/echo": route_echo,
}
