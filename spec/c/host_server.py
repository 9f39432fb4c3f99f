#!/usr/bin/python3
"""Small HTTP/1.1 server for the embedding tests (standard library only).

Usage: host_server.py [PORT [ADDRESS]]   (0 or absent: the kernel picks one)

Binds ADDRESS (default 127.0.0.1; test_host uses 0.0.0.0 so a test can also
reach it through the machine's other address), prints "PORT <n>" on stdout, serves until killed or until
its stdin closes (so a test that dies does not leave it behind).

  /ok                 200 "ok"
  /slow?ms=N          200 "slow" after N ms (default 300)
  /redirect?to=URL[&code=N]  N (default 302) to URL
  /big?n=BYTES        200, BYTES of "x" (default 1 MiB), written in 64 KiB pieces
  /requests           JSON list of the requests received so far
  /reset-log          clears that list
  anything else       404

Each request but /requests and /reset-log is recorded as {"method",
"path", "query", "host", "t_start", "t_end", "body" (its first 4 KiB)} as soon as it arrives (t_end stays null until
the response is ready); the times are
time.monotonic(), the same clock as C's CLOCK_MONOTONIC, so a C test can
compare them with its own timestamps.
"""

import http.server
import json
import sys
import threading
import time
import urllib.parse

_log = []
_lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: the tests read /requests
        pass

    def send(self, status, body, ctype="text/plain", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_big(self, n):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        piece = b"x" * 65536
        try:
            while n > 0:
                self.wfile.write(piece[:min(n, len(piece))])
                n -= len(piece)
        except OSError:  # the client gave up (a cap, a refusal): fine
            self.close_connection = True

    def handle_any(self):
        t_start = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if url.path == "/requests":
            with _lock:
                return self.send(200, json.dumps(_log), "application/json")
        if url.path == "/reset-log":
            with _lock:
                _log.clear()
            return self.send(200, "ok")
        entry = {"method": self.command, "path": url.path, "query": url.query,
                 "host": self.headers.get("Host"), "t_start": t_start, "t_end": None,
                 "body": data[:4096].decode("latin-1")}
        with _lock:  # logged on arrival: a test may look while it is served
            _log.append(entry)
        if url.path == "/ok":
            status, body, extra = 200, "ok", ()
        elif url.path == "/slow":
            time.sleep(int(q.get("ms", ["300"])[0]) / 1000.0)
            status, body, extra = 200, "slow", ()
        elif url.path == "/redirect":
            code = int(q.get("code", ["302"])[0])
            status, body, extra = code, "", (("Location", q["to"][0]),)
        elif url.path == "/big":
            entry["t_end"] = time.monotonic()
            return self.send_big(int(q.get("n", [str(1 << 20)])[0]))
        else:
            status, body, extra = 404, "not found", ()
        entry["t_end"] = time.monotonic()
        self.send(status, body, headers=extra)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client that gave up (a cap, a refusal) is what the tests do


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    address = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    server = Server((address, port), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # returns when the parent closes our stdin or dies


if __name__ == "__main__":
    main()
