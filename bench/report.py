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
    "rps_proc": ("req/s, whole process", "high", "{:,.0f}"),
    "cpu_us_proc": ("CPU us/req, whole process", "low", "{:.1f}"),
}

# The shapes of issue 16 (bench/shapes/NAME.lua), in table order.
SHAPES = [
    ("plain", "`s:get(url)` on an empty session"),
    ("timeout", "`s:get(url, {timeout = 60})`"),
    ("headers", "session with default headers (`Accept`, an API key)"),
    ("limits", "session with `max_connections`, `rate_limit`"),
    ("params", "`http.get(url, {params = {page = i, per_page = 50}})`"),
    ("base_url", "session with `base_url` + a per-request header"),
    ("parallel", "`http.parallel` of `{\"GET\", url, {timeout = 60}}` items"),
    ("tasks", "tasks looping `s:get`, session with `max_connections = 64`"),
]
SHAPE_BOUND = 1.2  # instructions per request, x the C program (issue 16)
JSON_BOUND = 1.3   # res:json() instructions, x lua-cjson's decode
PROCESS_BOUND = 0.85

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
    ran = {s for (s, _p, _m) in data} | {s for (s, _p) in status}

    def missing(what, scen, *peers):
        if scen not in ran:
            return  # not run this time (--only)
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


def shape_tables(data, status):
    """The shapes table (instructions and marked req/s per shape, each as a
    ratio to the C program doing plain GETs the same way) and the whole-
    process table.  Returns (shape headers, rows, process headers, rows)."""
    def m(run, metric):
        return med(data, "shape", run, metric)

    def ratio(a, b):
        return f"{a / b:.2f}" if a is not None and b else ""

    hdr = ("shape", "seq instr/req", "x C", "x C same bytes", "64 in flight instr/req", "x C",
           "x C same work", "seq req/s", "x C", "CPU x C", "64 in flight req/s", "x C", "CPU x C",
           f"<= {SHAPE_BOUND}x C same work, instr")
    body = []
    c_seq, c_conc = m("libcurl-C.seq", "ir_req"), m("libcurl-C.conc", "ir_req")
    c_seq_r, c_conc_r = m("libcurl-C.seq", "rps"), m("libcurl-C.conc", "rps")
    c_seq_c, c_conc_c = m("libcurl-C.seq", "cpu_us"), m("libcurl-C.conc", "cpu_us")

    def val(run, metric):
        v = m(run, metric)
        if v is not None:
            return fmt(metric, v)
        why = status.get(("shape", run), "")
        return why.split(" (")[0] if why else ""

    for name, what in [("libcurl-C", "C: plain GET, one easy handle / multi handle")] + SHAPES:
        si, ci = m(f"{name}.seq", "ir_req"), m(f"{name}.conc", "ir_req")
        sr, cr = m(f"{name}.seq", "rps"), m(f"{name}.conc", "rps")
        if all(v is None for v in (si, ci, sr, cr)) and not any(
                ("shape", f"{name}.{x}") in status for x in ("seq", "conc")):
            continue
        # the C program doing the same work: sending the same bytes
        # (seq-wire, conc-wire), and for http.parallel keeping every
        # response as it must (conc-keep); plain GETs for the other shapes
        wire = m(f"C-wire-{name}.seq", "ir_req") or c_seq
        cwire = (m("libcurl-C-keep.conc", "ir_req") if name == "parallel"
                 else m(f"C-wire-{name}.conc", "ir_req")) or c_conc
        worst = max((r for r in (si and wire and si / wire, ci and cwire and ci / cwire) if r),
                    default=None)
        verdict = "" if name == "libcurl-C" or worst is None else (
            "met" if worst <= SHAPE_BOUND else "MISSED")
        body.append((what, val(f"{name}.seq", "ir_req"), ratio(si, c_seq),
                     ratio(si, wire) + (f" ({fmt('ir_req', wire)})" if si and wire != c_seq else ""),
                     val(f"{name}.conc", "ir_req"), ratio(ci, c_conc),
                     ratio(ci, cwire) + (f" ({fmt('ir_req', cwire)})" if ci and cwire != c_conc else ""),
                     val(f"{name}.seq", "rps"), ratio(sr, c_seq_r),
                     ratio(m(f"{name}.seq", "cpu_us"), c_seq_c),
                     val(f"{name}.conc", "rps"), ratio(cr, c_conc_r),
                     ratio(m(f"{name}.conc", "cpu_us"), c_conc_c), verdict))
    keep = m("libcurl-C-keep.conc", "ir_req")
    if keep is not None:
        body.append(("C: 64 in flight, keeping every response (conc-keep)", "", "", "",
                     fmt("ir_req", keep), ratio(keep, c_conc), "", "", "", "",
                     val("libcurl-C-keep.conc", "rps"), ratio(m("libcurl-C-keep.conc", "rps"), c_conc_r),
                     ratio(m("libcurl-C-keep.conc", "cpu_us"), c_conc_c), ""))
    js, pl, cj = m("json.seq", "ir_req"), m("plain.seq", "ir_req"), m("cjson.seq", "ir_req")
    if js is not None and pl is not None and cj:
        beyond = js - pl
        body.append(("`res:json()` of the body, beyond the request", fmt("ir_req", beyond),
                     f"{beyond / cj:.2f} x cjson", "", "", "", "", "", "", "", "", "", "",
                     f"<= {JSON_BOUND}x cjson: " + ("met" if beyond / cj <= JSON_BOUND else "MISSED")))
        body.append(("lua-cjson's `cjson.decode` of the same body", fmt("ir_req", cj)) + ("",) * 12)
    elif ("shape", "json.seq") in status or ("shape", "cjson.seq") in status:
        body.append(("`res:json()` of the body, beyond the request",
                     status.get(("shape", "json.seq")) or status.get(("shape", "cjson.seq")))
                    + ("",) * 12)

    phdr = ("whole process, 20,000 GETs, 64 in flight", "req/s (median)", "min-max", "ratio",
            "best ratio", "marked req/s", "ratio", "CPU us/req", "ratio",
            f"best >= {PROCESS_BOUND}x")
    pbody = []
    for peer, ref, what in (("libcurl-C", None, "C multi, dropping responses"),
                            ("lurl-tasks", "libcurl-C", "lurl tasks, session with max_connections"),
                            ("libcurl-C-keep", None, "C multi, keeping every response"),
                            ("lurl-parallel", "libcurl-C-keep", "lurl http.parallel, option items")):
        v = med(data, "process", peer, "rps_proc")
        if v is None:
            if ("process", peer) in status:
                pbody.append((what, status[("process", peer)], "", "", "", "", "", "", "", ""))
            continue
        vals = data[("process", peer, "rps_proc")]
        mk, cpu = med(data, "process", peer, "rps"), med(data, "process", peer, "cpu_us_proc")
        r = rb = rm = rc = ""
        verdict = ""
        if ref and med(data, "process", ref, "rps_proc"):
            rv = v / med(data, "process", ref, "rps_proc")
            bv = best(data, "process", peer, "rps_proc") / best(data, "process", ref, "rps_proc")
            r, rb = f"{rv:.2f}", f"{bv:.2f}"
            rm = f"{mk / med(data, 'process', ref, 'rps'):.2f}"
            rc = f"{cpu / med(data, 'process', ref, 'cpu_us_proc'):.2f}"
            # judged on best repetitions, as the other speed targets (targets())
            verdict = "met" if bv >= PROCESS_BOUND else "MISSED"
            what += f" (vs {ref})"
        pbody.append((what, fmt("rps_proc", v), f"{fmt('rps_proc', min(vals))}-{fmt('rps_proc', max(vals))}",
                      r, rb, fmt("rps", mk), rm, fmt("cpu_us_proc", cpu), rc, verdict))
    return hdr, body, phdr, pbody


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
    for scen, _ in SCENARIOS + [("shape", ""), ("process", "")]:
        peers = {p for (s, p, _m) in data if s == scen} | {p for (s, p) in status if s == scen}
        for peer in sorted(peers, key=lambda p: (peer_key(p), p)):
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
    shdr, sbody, phdr, pbody = shape_tables(data, status)
    head = [f"date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", f"machine: {machine()}",
            f"command: {a.command}", f"parameters: {a.params}",
            f"load average (1, 5, 15 min) at start -> end: {a.load}"] + \
           [f"versions: {v}" for v in versions(a.lurl)]
    if body:
        print(table(headers, body))
        print()
    if tgt:
        print(table(("lurl target", "measured", "status"), tgt))
        print()
    if sbody:
        print("shapes: instructions per request (callgrind, I(B+N)-I(B) over N) and the marked "
              "interval's req/s,\neach x the C program doing plain GETs the same way; \"x C same bytes\" "
              "(seq) and \"x C same work\" (64 in flight):\nx the C program sending the shape's option, "
              "headers or query too (peer_libcurl seq-wire, conc-wire),\nfor http.parallel keeping every "
              "response (conc-keep); the verdict is on those")
        print(table(shdr, sbody))
        print()
    if pbody:
        print(table(phdr, pbody))
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
            if body:
                f.write(md_table(headers, body) + "\n")
            if tgt:
                f.write("\n## lurl targets\n\n")
                f.write(md_table(("target", "measured", "status"), tgt) + "\n")
            if sbody:
                f.write("\n## Shapes (issue 16)\n\nInstructions per request under callgrind "
                        "(I(B+N)-I(B) over N, B = 1 sequential or 64 in flight) and the "
                        "marked interval's req/s, each x the C program doing plain GETs the "
                        "same way (one reused easy handle; a multi handle, 64 in flight). "
                        "\"x C same bytes\" (sequential) and \"x C same work\" (64 in "
                        "flight) are against the C program sending the shape's option, "
                        "headers or query as well (peer_libcurl seq-wire, conc-wire): what "
                        "libcurl itself charges for them; for `http.parallel`, against the C "
                        "program that keeps every response as `http.parallel` must "
                        "(conc-keep).  The verdict is judged on those.\n\n")
                f.write(md_table(shdr, sbody) + "\n")
            if pbody:
                f.write("\n## Whole processes (issue 16)\n\nStart to exit, client pinned to "
                        "one CPU, nginx on the other; the marked interval beside it.\n\n")
                f.write(md_table(phdr, pbody) + "\n")
    if a.tsv:
        with open(a.tsv, "w") as f:
            f.write("scenario\tpeer\tmetric\tmedian\tmin\tmax\tratio_to_c\tstatus\tnote\n")
            for scen, peer, m, mid, lo, hi, ratio, state in rows(data, status):
                vals = ["", "", ""] if m is None else [f"{mid:g}", f"{lo:g}", f"{hi:g}"]
                f.write("\t".join([scen, peer, m or "", *vals,
                                   f"{ratio:.4f}" if ratio is not None else "",
                                   state, note(scen, peer)]) + "\n")
            for (scen, peer, m), vals in sorted(data.items()):
                if scen not in ("shape", "process"):
                    continue
                f.write("\t".join([scen, peer, m, f"{statistics.median(vals):g}", f"{min(vals):g}",
                                   f"{max(vals):g}", "", status.get((scen, peer), ""), ""]) + "\n")
    return 0


sys.exit(main())
