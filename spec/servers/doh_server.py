#!/usr/bin/python3
"""A DNS-over-HTTPS responder for spec/options_net_spec.lua (standard library).

Usage: doh_server.py CERT KEY

Serves HTTPS on 127.0.0.1 with a kernel-chosen port, prints "PORT <n>",
then answers POST /dns-query (RFC 8484, application/dns-message): every A
question gets 127.0.0.1, any other type an empty answer.  libcurl's
doh_url must be https, which the fault server does not speak.  Exits when
its stdin closes (the spec holds the other end), so it never outlives the
test run.
"""

import http.server
import ssl
import struct
import sys
import threading


def dns_answer(query):
    """The answer to a DNS query message: 127.0.0.1 for an A question."""
    ident = struct.unpack(">H", query[:2])[0]
    pos = 12
    while query[pos] != 0:                 # the question's name, label by label
        pos += 1 + query[pos]
    qtype, qclass = struct.unpack(">HH", query[pos + 1:pos + 5])
    question = query[12:pos + 5]
    answers = b""
    if qtype == 1 and qclass == 1:          # A IN: 127.0.0.1, the name by pointer
        answers = struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4) + bytes([127, 0, 0, 1])
    head = struct.pack(">HHHHHH", ident, 0x8180, 1, 1 if answers else 0, 0, 0)
    return head + question + answers

QUERIES = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        try:
            msg = dns_answer(body)
            status = 200
        except (IndexError, struct.error):
            msg, status = b"not a DNS message\n", 400
        self.send_response(status)
        self.send_header("Content-Type", "application/dns-message")
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        self.wfile.write(msg)

    def log_message(self, *args):
        pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("PORT %d" % srv.server_address[1], flush=True)
    sys.stdin.read()  # until the spec closes its end


if __name__ == "__main__":
    main()
