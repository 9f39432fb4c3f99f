"""bench/report.py: turns bench/run's raw measurements into the results table.

    report.py --raw RAW.tsv --lurl PATH --command CMD --params TEXT
              [--md FILE] [--tsv FILE] [--smoke]

RAW.tsv has one line per measurement, tab separated:
    scenario  peer  repetition  metric  value
or, for a peer that could not run or failed:
    scenario  peer  -  status  "n/a (why)" | "FAILED (why)"

Prints one table (median, min-max and ratio to the C libcurl program of the
same scenario) and the lurl targets with met / MISSED; writes the same as
Markdown and TSV when asked.  With --smoke it prints only whether each peer
answered correctly, never a number.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

C = "libcurl-C"

SCENARIOS = [
    ("startup", "startup"),
    ("seq", "sequential keep-alive GETs"),
    ("conc", "concurrent GETs"),
    ("stream", "streaming download"),
    ("upload", "multipart upload"),
    ("memtask", "memory per waiting task"),
    ("callgrind", "instructions per request"),
]

# name, better ("high"/"low"), format
METRICS = {
    "rps": ("req/s", "high", "{:,.0f}"),
    "cpu_us": ("CPU us/req", "low", "{:.1f}"),
    "mibps": ("MiB/s", "high", "{:,.0f}"),
    "rss_mib": ("peak RSS MiB", "low", "{:.1f}"),
    "cpu_ms_gib": ("CPU ms/GiB", "low", "{:,.0f}"),
    "ms": ("ms", "low", "{:.2f}"),
    "bytes_task": ("bytes/task", "low", "{:,.0f}"),
    "ir_req": ("instr/req", "low", "{:,.0f}"),
}

PEERS = ["libcurl-C", "libcurl-C+hdrs", "libcurl-C-save", "curl-cli", "py-requests", "py-httpx", "py-aiohttp", "lua-http",
         "luasocket", "lua5.4", "lurl", "lurl-http", "lurl-parallel", "lurl-spawn",
         "lurl-chunks", "lurl-save", "hyperfine"]

NOTES = {
    ("startup", "libcurl-C"): "curl_global_init + one easy handle",
    ("startup", "lua5.4"): "reference: lua5.4 -e ''",
    ("startup", "lurl"): "lurl -e ''",
    ("startup", "lurl-http"): "lurl -e 'require \"http\"'",
    ("*", "libcurl-C+hdrs"): "libcurl-C with lurl's default setup (share, cookie engine, "
                              "UA + Accept-Encoding, parsed URL): libcurl's floor for lurl",
    ("*", "curl-cli"): "whole process timed, startup included",
    ("*", "lua-http"): "Debian's 5.3 files on lua5.4",
    ("seq", "luasocket"): "new connection per request (socket.http sends Connection: close)",
    ("seq", "lua-http"): "one h1 connection, a stream per request",
    ("conc", "lua-http"): "one connection per coroutine",
    ("conc", "lurl-parallel"): "s:parallel(list, {concurrency=P})",
    ("conc", "lurl-spawn"): "P http.spawn workers looping s:get",
    ("stream", "lurl-chunks"): "res:chunks(65536)",
    ("stream", "libcurl-C-save"): "body written to a tmpfs file with fwrite",
    ("stream", "lurl-save"): "res:save(a tmpfs file); target vs libcurl-C-save",
    ("upload", "py-requests"): "builds the multipart body in memory",
    ("upload", "curl-cli"): "curl -F file=@FILE, whole process",
    ("memtask", "lurl-spawn"): "http.spawn + s:get per task",
}


def note(scen, peer):
    return NOTES.get((scen, peer)) or NOTES.get(("*", peer), "")


def load(path):
    data, status = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            scen, peer, _rep, metric, value = parts
            if metric == "status":
                status.setdefault((scen, peer), value)
            else:
                data.setdefault((scen, peer, metric), []).append(float(value))
    return data, status


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def versions(lurl):
    out = []
    try:
        v = subprocess.run([lurl, "-v"], capture_output=True, text=True, timeout=10).stdout
        out.append("; ".join(x.strip() for x in v.splitlines()[:3]))
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        v = subprocess.run(["curl", "--version"], capture_output=True, text=True, timeout=10).stdout
        out.append(v.splitlines()[0].split(" (")[0])
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    mods = []
    for m in ("requests", "httpx", "aiohttp"):
        try:
            mods.append(f"{m} {__import__(m).__version__}")
        except Exception:  # a missing peer is reported in the table
            pass
    out.append(f"Python {platform.python_version()} ({', '.join(mods)})")
    return out


def peer_key(p):
    return PEERS.index(p) if p in PEERS else len(PEERS)


def rows(data, status):
    """Yields (scen, peer, metric, median, lo, hi, ratio, state) in table order."""
    for scen, _ in SCENARIOS:
        peers = {p for (s, p, _m) in data if s == scen} | {p for (s, p) in status if s == scen}
        metrics = [m for m in METRICS if any(s == scen and mm == m for (s, _p, mm) in data)]
        for peer in sorted(peers, key=peer_key):
            if (scen, peer) in status and not any((scen, peer, m) in data for m in metrics):
                yield scen, peer, None, None, None, None, None, status[(scen, peer)]
                continue
            for m in metrics:
                vals = data.get((scen, peer, m))
                if not vals:
                    continue
                med = statistics.median(vals)
                ref = data.get((scen, C, m))
                ratio = med / statistics.median(ref) if ref and statistics.median(ref) else None
                yield scen, peer, m, med, min(vals), max(vals), ratio, status.get((scen, peer), "")


def fmt(metric, v):
    return METRICS[metric][2].format(v) if v is not None else ""


def med(data, scen, peer, metric):
    vals = data.get((scen, peer, metric))
    return statistics.median(vals) if vals else None


def best(data, scen, peer, metric):
    """The best repetition: noise from other load only ever slows a run down,
    so the fastest run is the estimate of a client's uncontended speed."""
    vals = data.get((scen, peer, metric))
    if not vals:
        return None
    return max(vals) if METRICS[metric][1] == "high" else min(vals)


def targets(data, status):
    """The lurl targets of issue 6: (what, measured text, state).

    Speed targets (req/s, MiB/s) are judged on the best repetition of each
    side (see best()); the median ratio is shown beside it, and for request
    rates the CPU-per-request ratio too, which load on the machine barely
    moves.  CPU, RSS and instruction targets are judged on medians."""
    out = []

    def missing(what, scen, *peers):
        why = next((status[(scen, p)] for p in peers if (scen, p) in status), "not measured")
        out.append((what, "", why))

    def speed_target(what, scen, peer, metric, ref_peer, bound):
        a, b = best(data, scen, peer, metric), best(data, scen, ref_peer, metric)
        if a is None or b is None:
            return missing(what, scen, peer, ref_peer)
        text = (f"best {a / b:.2f}x ({fmt(metric, a)} vs {fmt(metric, b)} {METRICS[metric][0]}); "
                f"median {med(data, scen, peer, metric) / med(data, scen, ref_peer, metric):.2f}x")
        ca, cb = med(data, scen, peer, "cpu_us"), med(data, scen, ref_peer, "cpu_us")
        if ca is not None and cb is not None:
            text += f"; CPU/req {ca / cb:.2f}x"
        ca, cb = med(data, scen, peer, "cpu_ms_gib"), med(data, scen, ref_peer, "cpu_ms_gib")
        if ca is not None and cb is not None:
            text += f"; CPU/GiB {ca / cb:.2f}x"
        out.append((what, text, "met" if a / b >= bound else "MISSED"))

    def cost_target(what, scen, peer, metric, ref_peer, bound):
        a, b = med(data, scen, peer, metric), med(data, scen, ref_peer, metric)
        if a is None or b is None:
            return missing(what, scen, peer, ref_peer)
        out.append((what, f"{a / b:.2f}x ({fmt(metric, a)} vs {fmt(metric, b)} {METRICS[metric][0]})",
                    "met" if a / b <= bound else "MISSED"))

    def rss_target(what, scen, peer):
        a = med(data, scen, peer, "rss_mib")
        if a is None:
            return missing(what, scen, peer)
        out.append((what, f"{a:.1f} MiB", "met" if a < 16 else "MISSED"))

    speed_target("sequential req/s >= 0.95 x C", "seq", "lurl", "rps", C, 0.95)
    cost_target("sequential CPU/request <= 1.3 x C", "seq", "lurl", "cpu_us", C, 1.3)
    speed_target("concurrent req/s >= 0.85 x C (http.parallel)", "conc", "lurl-parallel", "rps", C,
                 0.85)
    speed_target("concurrent req/s >= 0.85 x C (spawned tasks)", "conc", "lurl-spawn", "rps", C,
                 0.85)
    speed_target("streaming MiB/s >= 0.95 x C (res:chunks)", "stream", "lurl-chunks", "mibps", C,
                 0.95)
    rss_target("streaming peak RSS < 16 MiB (res:chunks)", "stream", "lurl-chunks")
    speed_target("streaming MiB/s >= 0.95 x C writing the file (res:save)", "stream", "lurl-save",
                 "mibps", "libcurl-C-save", 0.95)
    rss_target("streaming peak RSS < 16 MiB (res:save)", "stream", "lurl-save")
    speed_target("upload MiB/s >= 0.9 x curl -F", "upload", "lurl", "mibps", "curl-cli", 0.9)
    rss_target("upload peak RSS < 16 MiB", "upload", "lurl")
    for peer, what in (("lurl-http", "startup with require \"http\" <= C init + 2 ms"),
                       ("lurl", "startup (lurl -e '') <= C init + 2 ms")):
        a, b = med(data, "startup", peer, "ms"), med(data, "startup", C, "ms")
        if a is None or b is None:
            missing(what, "startup", peer, C)
            continue
        lo = best(data, "startup", peer, "ms") - best(data, "startup", C, "ms")
        out.append((what, f"median {a - b:+.2f} ms ({a:.2f} vs {b:.2f} ms); fastest runs {lo:+.2f} ms",
                    "met" if a - b <= 2.0 else "MISSED"))
    cost_target("callgrind instructions/request <= 1.3 x C", "callgrind", "lurl", "ir_req", C, 1.3)
    return out


def table(headers, body):
    widths = [max(len(str(r[i])) for r in [headers] + body) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def md_table(headers, body):
    esc = lambda c: str(c).replace("|", "\\|")
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in body:
        lines.append("| " + " | ".join(esc(c) for c in r) + " |")
    return "\n".join(lines)


def smoke(data, status):
    body, failed = [], 0
    for scen, _ in SCENARIOS:
        peers = {p for (s, p, _m) in data if s == scen} | {p for (s, p) in status if s == scen}
        for peer in sorted(peers, key=peer_key):
            st = status.get((scen, peer)) or "ok"
            failed += st.startswith("FAILED")
            body.append((scen, peer, st))
    print(table(("scenario", "peer", "check"), body))
    ok = sum(1 for r in body if r[2] == "ok")
    na = sum(1 for r in body if r[2].startswith("n/a"))
    print(f"\nsmoke: {ok} passed, {failed} failed, {na} skipped")
    return failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--lurl", required=True)
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--params", default="")
    ap.add_argument("--load", default="")
    ap.add_argument("--md")
    ap.add_argument("--tsv")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    data, status = load(a.raw)
    if a.smoke:
        return 1 if smoke(data, status) else 0

    headers = ("scenario", "peer", "metric", "median", "min-max", "vs C", "note")
    body = []
    for scen, peer, m, mid, lo, hi, ratio, state in rows(data, status):
        if m is None:
            body.append((scen, peer, "", state, "", "", note(scen, peer)))
        else:
            body.append((scen, peer, METRICS[m][0], fmt(m, mid), f"{fmt(m, lo)}-{fmt(m, hi)}",
                         f"{ratio:.2f}" if ratio is not None else "", note(scen, peer)))
    tgt = targets(data, status)
    head = [f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", f"machine: {machine()}",
            f"command: {a.command}", f"parameters: {a.params}",
            f"load average (1, 5, 15 min) at start -> end: {a.load}"] + \
           [f"versions: {v}" for v in versions(a.lurl)]
    print(table(headers, body))
    print()
    print(table(("lurl target", "measured", "status"), tgt))
    print()
    print("\n".join(head))

    if a.md:
        with open(a.md, "w") as f:
            f.write("# lurl benchmark results\n\n")
            f.write("\n".join(f"- {h}" for h in head) + "\n\n")
            f.write("Ratios are peer median / C libcurl median of the same scenario in the same "
                    "run (for req/s and MiB/s higher is better; for CPU, RSS, ms, bytes and "
                    "instructions lower is better).  Speed targets are judged on each side's "
                    "best repetition, which other load on the machine cannot flatter.\n\n")
            f.write(md_table(headers, body) + "\n\n## lurl targets\n\n")
            f.write(md_table(("target", "measured", "status"), tgt) + "\n")
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("scenario\tpeer\tmetric\tmedian\tmin\tmax\tratio_to_c\tstatus\tnote\n")
            for scen, peer, m, mid, lo, hi, ratio, state in rows(data, status):
                vals = ["", "", ""] if m is None else [f"{mid:g}", f"{lo:g}", f"{hi:g}"]
                f.write("\t".join([scen, peer, m or "", *vals,
                                   f"{ratio:.4f}" if ratio is not None else "",
                                   state, note(scen, peer)]) + "\n")
    return 0


sys.exit(main())
