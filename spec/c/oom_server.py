#!/usr/bin/python3
"""HTTP/1.1 server for spec/c/test_oom.c (standard library only).

Usage: oom_server.py   binds 127.0.0.1 on a port the kernel picks, prints
"PORT <n>" on stdout, serves until its stdin closes.

  /echo               200, JSON {method, path, query, headers (lower-case
                      names), body} of the request
  /redirect?to=PATH   302 to PATH
  /setcookie          200 with Set-Cookie: sid=s3cr3t; Path=/ and a Link header
  /status?code=N      N with a short body
"""

import http.server
import json
import sys
import threading
import urllib.parse


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each response waits for a delayed ACK

    def log_message(self, *args):
        pass

    def send(self, status, body, ctype="text/plain", headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("latin-1") if n else ""
        if url.path == "/echo":
            rec = {"method": self.command, "path": url.path, "query": url.query,
                   "headers": {k.lower(): v for k, v in self.headers.items()},
                   "body": body}
            return self.send(200, json.dumps(rec), "application/json; charset=utf-8")
        if url.path == "/redirect":
            return self.send(302, "", headers=(("Location", q["to"][0]),))
        if url.path == "/setcookie":
            return self.send(200, "set", headers=(
                ("Set-Cookie", "sid=s3cr3t; Path=/"),
                ("Set-Cookie", "lang=en; Path=/; HttpOnly"),
                ("Link", '<http://127.0.0.1/p2>; rel="next", <http://127.0.0.1/p9>; rel="last"')))
        if url.path == "/status":
            code = int(q.get("code", ["500"])[0])
            return self.send(code, "status %d" % code)
        return self.send(404, "not found")

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = handle_any


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
