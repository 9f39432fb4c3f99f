#!/usr/bin/python3
"""Wait until the test servers answer (used by spec/helper.lua).

Usage: wait_ready.py --timeout SECS --run RUNDIR CHECK...

Each CHECK is "name|kind|target|log1,log2,...":
  http   target "host:port/path"  plain HTTP GET, status must be 200
  https  target "host:port"       TLS (no verification) GET /__ready, any status
  unix   target "/path/sock"      HTTP GET /__ready over a Unix socket, any status
  h2c    target "host:port"       HTTP/2 preface, expects a SETTINGS frame back
  tcp    target "host:port"       TCP connect succeeds

RUNDIR/<name>.pid holds the server's pid (written by supervise.sh); a server
that has exited fails its check at once instead of after the timeout.
Exit status 0 when all are ready; otherwise 1 after printing, for every
server that is not ready, the reason and the tail of its logs.
"""

import os
import socket
import ssl
import sys
import time


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    state = st[st.rfind(")") + 2:].split(" ", 1)[0]
    return state not in ("Z", "X")


def hostport(t):
    host, _, port = t.rpartition(":")
    return host, int(port)


def http_get(sock, host, path):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lurl-spec-ready\r\n"
                  "Connection: close\r\n\r\n" % (path, host)).encode())
    data = b""
    while b"\r\n" not in data and len(data) < 4096:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    line = data.split(b"\r\n", 1)[0].decode("latin-1")
    if not line.startswith("HTTP/"):
        raise RuntimeError("no HTTP status line (got %r)" % line[:80])
    parts = line.split(" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def check(kind, target):
    if kind == "http":
        hp, _, path = target.partition("/")
        host, port = hostport(hp)
        with socket.create_connection((host, port), timeout=2) as s:
            status = http_get(s, "%s:%d" % (host, port), "/" + path)
        if status != 200:
            raise RuntimeError("GET /%s answered %d" % (path, status))
    elif kind == "https":
        host, port = hostport(target)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=2) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                http_get(s, "localhost:%d" % port, "/__ready")
    elif kind == "unix":
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            s.connect(target)
            http_get(s, "localhost", "/__ready")
    elif kind == "h2c":
        host, port = hostport(target)
        with socket.create_connection((host, port), timeout=2) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                      b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
            head = b""
            while len(head) < 9:
                chunk = s.recv(9 - len(head))
                if not chunk:
                    raise RuntimeError("connection closed before SETTINGS")
                head += chunk
            if head[3] != 4:
                raise RuntimeError("first frame is type %d, not SETTINGS" % head[3])
    elif kind == "tcp":
        with socket.create_connection(hostport(target), timeout=2):
            pass
    else:
        raise RuntimeError("unknown check kind " + kind)


def tail(path, n=25):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 16384))
            lines = f.read().decode("utf-8", "replace").splitlines()[-n:]
    except OSError as e:
        return ["(cannot read: %s)" % e]
    return lines or ["(empty)"]


def main(argv):
    timeout = 15.0
    run = None
    checks = []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--timeout":
            timeout = float(args.pop(0))
        elif a == "--run":
            run = args.pop(0)
        else:
            name, kind, target, logs = a.split("|", 3)
            checks.append({"name": name, "kind": kind, "target": target,
                           "logs": [l for l in logs.split(",") if l],
                           "error": "not tried yet"})
    start = time.monotonic()
    deadline = start + timeout
    pending = list(checks)
    failed = []
    while pending and time.monotonic() < deadline:
        for c in list(pending):
            pid = None
            if run:
                try:
                    with open(os.path.join(run, c["name"] + ".pid")) as f:
                        pid = int(f.read().strip())
                except (OSError, ValueError):
                    pid = None
            try:
                check(c["kind"], c["target"])
                pending.remove(c)
                print("ready %s %.2fs" % (c["name"], time.monotonic() - start))
                continue
            except Exception as e:
                c["error"] = "%s: %s" % (type(e).__name__, e)
            if pid is not None and not alive(pid):
                c["error"] = "process %d exited (last probe: %s)" % (pid, c["error"])
                pending.remove(c)
                failed.append(c)
        if pending:
            time.sleep(0.05)
    failed.extend(pending)
    if not failed:
        return 0
    out = []
    elapsed = time.monotonic() - start
    shown = set()
    for c in failed:
        out.append("server %r (%s check on %s) not ready after %.1fs: %s"
                   % (c["name"], c["kind"], c["target"], elapsed, c["error"]))
    for c in failed:
        for log in c["logs"]:
            if log in shown:
                continue
            shown.add(log)
            out.append("---- tail of %s (%s) ----" % (log, c["name"]))
            out.extend("  | " + l for l in tail(log))
    print("\n".join(out))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
