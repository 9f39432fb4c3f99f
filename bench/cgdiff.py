"""bench/cgdiff.py: where the instructions of one request go, from callgrind.

    cgdiff.py BASE.cg MORE.cg N [TOP]

BASE.cg and MORE.cg are callgrind outputs of the same program making 1 and
1 + N requests.  Prints, per request (the difference divided by N):
the instructions spent in each shared object (exclusive), then the TOP
named functions by inclusive cost.  Functions without symbols (Debian
ships libcurl and liblua stripped) are left out of the second list; the
first still counts them.  bench/run writes this for lurl and for the C
program into bench/out/ with every full run.
"""
import re
import subprocess
import sys

LINE = re.compile(r"\s*([\d,]+) \([^)]*\)\s+(.*?)\s*\[(.*)\]\s*$")


def costs(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=100",
                          path], capture_output=True, text=True, check=True).stdout
    by_fn, by_obj = {}, {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        fn, obj = m.group(2), m.group(3).rsplit("/", 1)[-1]
        key = f"{fn.split(':', 1)[-1]} [{obj}]"
        by_fn[key] = by_fn.get(key, 0) + n
        by_obj[obj] = by_obj.get(obj, 0) + n
    return by_fn, by_obj


def main():
    base, more, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    _, obj0 = costs(base, "no")
    _, obj1 = costs(more, "no")
    print("instructions per request by object (exclusive)")
    rows = sorted(((obj1.get(k, 0) - obj0.get(k, 0)) / n, k) for k in set(obj0) | set(obj1))
    for v, k in reversed(rows):
        if abs(v) >= 50:
            print(f"{v:12,.0f}  {k}")
    fn0, _ = costs(base, "yes")
    fn1, _ = costs(more, "yes")
    print("\nnamed functions per request (inclusive)")
    rows = sorted(((fn1.get(k, 0) - fn0.get(k, 0)) / n, k) for k in set(fn0) | set(fn1))
    shown = 0
    for v, k in reversed(rows):
        if k.startswith("0x") or "(below main)" in k or k.startswith("???"):
            continue
        print(f"{v:12,.0f}  {k}")
        shown += 1
        if shown >= top:
            break


main()
