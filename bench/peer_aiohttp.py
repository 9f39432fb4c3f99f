"""Benchmark peer: Python aiohttp (Debian's python3-aiohttp), asyncio.

    peer_aiohttp.py seq URL N        N GETs awaited one after the other
    peer_aiohttp.py conc URL N P     N GETs by P worker coroutines
    peer_aiohttp.py wait URL T       T coroutines each waiting on URL at once
    peer_aiohttp.py stream URL       one GET, content.iter_chunked(64 KiB)
    peer_aiohttp.py upload URL FILE  multipart POST of FILE (FormData)

All requests share one ClientSession whose connector has no connection
limit (aiohttp's default of 100 would cap the wait scenario).  Prints
"@mark start", "@mark end" and a RESULT line as described in
bench/peer_libcurl.c.
"""
import asyncio
import json
import os
import sys
import time

import aiohttp


def mark(what):
    print("@mark " + what, flush=True)


async def fetch(s, url):
    async with s.get(url) as r:
        body = await r.read()
        return r.status, len(body)


async def many(s, url, n, p):
    counts = [0, 0]
    todo = iter(range(n))

    async def worker():
        for _ in todo:
            status, size = await fetch(s, url)
            counts[0] += status == 200
            counts[1] += size

    await asyncio.gather(*(worker() for _ in range(p)))
    return counts


async def main():
    mode, url = sys.argv[1], sys.argv[2]
    conn = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        if mode in ("seq", "conc", "wait"):
            n = int(sys.argv[3])
            p = {"seq": 1, "conc": int(sys.argv[4]) if mode == "conc" else 1, "wait": n}[mode]
            mark("start")
            c0 = time.process_time()
            ok, nbytes = await many(s, url, n, p)
            cpu = time.process_time() - c0
            mark("end")
            print(f"RESULT n={n} ok={ok} bytes={nbytes} cpu={cpu:.6f}")
        elif mode == "stream":
            nbytes = 0
            mark("start")
            c0 = time.process_time()
            async with s.get(url) as r:
                async for chunk in r.content.iter_chunked(65536):
                    nbytes += len(chunk)
            cpu = time.process_time() - c0
            mark("end")
            print(f"RESULT n=1 ok={int(r.status == 200)} bytes={nbytes} cpu={cpu:.6f}")
        elif mode == "upload":
            path = sys.argv[3]
            mark("start")
            c0 = time.process_time()
            with open(path, "rb") as f:
                form = aiohttp.FormData()
                form.add_field("file", f, filename=os.path.basename(path))
                async with s.post(url, data=form) as r:
                    answer = await r.read()
            cpu = time.process_time() - c0
            mark("end")
            recv = json.loads(answer)["received"]
            print(f"RESULT n=1 ok={int(r.status == 200)} bytes={os.path.getsize(path)} "
                  f"cpu={cpu:.6f} recv={recv}")
        else:
            sys.exit("unknown mode " + mode)


asyncio.run(main())
