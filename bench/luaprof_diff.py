"""bench/luaprof_diff.py: the Lua lines one request of a shape runs.

    luaprof_diff.py BASE.txt MORE.txt N [REF_BASE.txt REF_MORE.txt REF_N] [TOP]

BASE and MORE are bench/luaprof.lua outputs of the same shape script making
B and B + N requests.  Prints Lua VM instructions per request by function
line and by file; with a reference pair (the plain shape), the shape minus
the reference.
"""
import sys


def load(path):
    out = {}
    with open(path) as f:
        for line in f:
            n, k = line.rstrip("\n").split(" ", 1)
            out[k] = out.get(k, 0) + int(n)
    return out


def per_request(base, more, n):
    b, m = load(base), load(more)
    return {k: (m.get(k, 0) - b.get(k, 0)) / n for k in set(b) | set(m)}


def main():
    a = sys.argv[1:]
    shape = per_request(a[0], a[1], int(a[2]))
    ref = per_request(a[3], a[4], int(a[5])) if len(a) >= 6 else {}
    top = int(a[6]) if len(a) >= 7 else (int(a[3]) if len(a) == 4 else 40)
    total = sum(shape.values())
    rtotal = sum(ref.values())
    print(f"Lua VM instructions per request: {total:,.0f}" +
          (f" (reference {rtotal:,.0f}, extra {total - rtotal:+,.0f})" if ref else ""))
    files, rfiles = {}, {}
    for k, v in shape.items():
        files[k.rsplit(":", 1)[0]] = files.get(k.rsplit(":", 1)[0], 0) + v
    for k, v in ref.items():
        rfiles[k.rsplit(":", 1)[0]] = rfiles.get(k.rsplit(":", 1)[0], 0) + v
    print("\nby file (extra, own)")
    for k in sorted(set(files) | set(rfiles), key=lambda k: -abs(files.get(k, 0) - rfiles.get(k, 0))):
        d = files.get(k, 0) - rfiles.get(k, 0)
        if abs(d) >= 1:
            print(f"{d:+9.1f} {files.get(k, 0):9.1f}  {k}")
    print("\nby line (extra, own)")
    rows = sorted(set(shape) | set(ref), key=lambda k: -abs(shape.get(k, 0) - ref.get(k, 0)))
    for k in rows[:top]:
        d = shape.get(k, 0) - ref.get(k, 0)
        if abs(d) >= 0.5:
            print(f"{d:+9.1f} {shape.get(k, 0):9.1f}  {k}")


main()
