"""Fault-server routes for the response side of requests parity (issue 17).

  /presp/bytes?hex=H&ctype=C
      200 whose body is exactly the bytes H spells in hex (so a test can
      send a BOM, UTF-16/UTF-32 text or ill-formed UTF-8), with
      Content-Type C (default application/json, no charset).
"""
import fault_server as fs


def route_bytes(conn, req, q):
    close = fs.wants_close(req)
    try:
        body = bytes.fromhex(q.get("hex", [""])[0])
    except ValueError:
        fs.simple(conn, req, 400, "Bad Request", b"bad hex", close=close)
        return not close
    ctype = q.get("ctype", ["application/json"])[0]
    fs.simple(conn, req, 200, "OK", body, ctype=ctype, close=close)
    return not close


ROUTES = {"/presp/bytes": route_bytes}
