"""bench/html/peers.py PEER PAGE SELECTORS REPS: the Python peers of the
HTML benchmark, called as their users call them.

  bs4   BeautifulSoup(html, "html.parser") and soup.select(css) (soupsieve)
  lxml  lxml.html.document_fromstring(html) and doc.cssselect(css)

Each round parses the page (already read, as text) and counts the matches of
every selector; prints the median seconds of a round and the counts.
"""
import sys
import time


def main():
    peer, page, sels, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(page, "rb") as f:
        text = f.read().decode("utf-8")
    with open(sels) as f:
        selectors = [line.rstrip("\n") for line in f if line.strip()]
    if peer == "bs4":
        from bs4 import BeautifulSoup

        def run():
            soup = BeautifulSoup(text, "html.parser")
            return [len(soup.select(css)) for css in selectors]
    elif peer == "lxml":
        import lxml.html

        def run():
            doc = lxml.html.document_fromstring(text)
            return [len(doc.cssselect(css)) for css in selectors]
    else:
        sys.exit("unknown peer " + peer)
    times, counts = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        counts = run()
        times.append(time.perf_counter() - t0)
    times.sort()
    print("%.6f %s" % (times[(reps - 1) // 2], ",".join(map(str, counts))))


main()
