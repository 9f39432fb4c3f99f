"""bench/cgcompare.py: where one shape's extra instructions per request go.

    cgcompare.py REF_BASE.cg REF_MORE.cg SHAPE_BASE.cg SHAPE_MORE.cg N [TOP]

Each pair is callgrind output of the same program making B and B + N
requests (bench/run's shapes scenario keeps them with --keep, under
runs/shape-cg.NAME.MODE.*.cg).  Prints, per request, the shape minus the
reference (usually the plain shape): instructions by shared object, then the
TOP functions by their own (exclusive) cost and by inclusive cost.  With a
lurl linked against the static liblua5.4.a the Lua internals have names
(luaV_execute, luaH_*, luaC_*); Debian's liblua5.4.so has only the API.
"""
import subprocess
import sys

def costs(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=100",
                          path], capture_output=True, text=True, check=True).stdout
    by_fn, by_obj = {}, {}
    for line in out.splitlines():
        parts = line.strip().split(None, 2)
        if len(parts) < 3 or not parts[0][0].isdigit() or "[" not in line:
            continue
        try:
            n = int(parts[0].replace(",", ""))
        except ValueError:
            continue
        rest = line.split(")", 1)[1].strip() if parts[1].startswith("(") else line
        fn, obj = rest.rsplit("[", 1)
        obj = obj.rstrip("]").rsplit("/", 1)[-1]
        key = f"{fn.strip().split(':', 1)[-1]} [{obj}]"
        by_fn[key] = by_fn.get(key, 0) + n
        by_obj[obj] = by_obj.get(obj, 0) + n
    return by_fn, by_obj

def per_request(base, more, n, inclusive):
    f0, o0 = costs(base, inclusive)
    f1, o1 = costs(more, inclusive)
    fn = {k: (f1.get(k, 0) - f0.get(k, 0)) / n for k in set(f0) | set(f1)}
    obj = {k: (o1.get(k, 0) - o0.get(k, 0)) / n for k in set(o0) | set(o1)}
    return fn, obj

def show(title, ref, shape, top, skip=lambda k: False):
    print(title)
    rows = sorted(((shape.get(k, 0) - ref.get(k, 0), k) for k in set(ref) | set(shape)),
                  key=lambda r: -abs(r[0]))
    shown = 0
    for v, k in rows:
        if abs(v) < 50 or skip(k):
            continue
        print(f"{v:+12,.0f}  {shape.get(k, 0):10,.0f}  {k}")
        shown += 1
        if shown >= top:
            break
    print()

def main():
    rb, rm, sb, sm, n = sys.argv[1:6]
    n = int(n)
    top = int(sys.argv[6]) if len(sys.argv) > 6 else 30
    rx, rxo = per_request(rb, rm, n, "no")
    sx, sxo = per_request(sb, sm, n, "no")
    print(f"per request: reference {sum(rxo.values()):,.0f}, shape {sum(sxo.values()):,.0f}, "
          f"extra {sum(sxo.values()) - sum(rxo.values()):+,.0f}\n")
    print("columns: shape minus reference, the shape's own figure, function [object]\n")
    show("by object (exclusive)", rxo, sxo, top)
    show("by function, exclusive (where the instructions are executed)", rx, sx, top)
    ri, _ = per_request(rb, rm, n, "yes")
    si, _ = per_request(sb, sm, n, "yes")
    noise = ("(below main)", "main [", "__libc_start_main", "pmain [", "docall [", "???")
    show("by function, inclusive (what calls them)", ri, si, top,
         lambda k: k.startswith("0x") or any(x in k for x in noise))

main()
