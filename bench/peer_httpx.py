"""Benchmark peer: Python httpx (Debian's python3-httpx), synchronous client.

    peer_httpx.py seq URL N        N GETs over one httpx.Client
    peer_httpx.py stream URL       client.stream("GET"), iter_bytes(64 KiB)
    peer_httpx.py upload URL FILE  multipart POST, files={"file": open(FILE)}

Prints "@mark start", "@mark end" and a RESULT line as described in
bench/peer_libcurl.c.
"""
import json
import os
import sys
import time

import httpx


def mark(what):
    print("@mark " + what, flush=True)


def main():
    mode, url = sys.argv[1], sys.argv[2]
    with httpx.Client(timeout=None) as s:
        if mode == "seq":
            n = int(sys.argv[3])
            ok = nbytes = 0
            mark("start")
            c0 = time.process_time()
            for _ in range(n):
                r = s.get(url)
                ok += r.status_code == 200
                nbytes += len(r.content)
            cpu = time.process_time() - c0
            mark("end")
            print(f"RESULT n={n} ok={ok} bytes={nbytes} cpu={cpu:.6f}")
        elif mode == "stream":
            nbytes = 0
            mark("start")
            c0 = time.process_time()
            with s.stream("GET", url) as r:
                for chunk in r.iter_bytes(65536):
                    nbytes += len(chunk)
            cpu = time.process_time() - c0
            mark("end")
            print(f"RESULT n=1 ok={int(r.status_code == 200)} bytes={nbytes} cpu={cpu:.6f}")
        elif mode == "upload":
            path = sys.argv[3]
            mark("start")
            c0 = time.process_time()
            with open(path, "rb") as f:
                r = s.post(url, files={"file": f})
            cpu = time.process_time() - c0
            mark("end")
            recv = json.loads(r.content)["received"]
            print(f"RESULT n=1 ok={int(r.status_code == 200)} bytes={os.path.getsize(path)} "
                  f"cpu={cpu:.6f} recv={recv}")
        else:
            sys.exit("unknown mode " + mode)


main()
