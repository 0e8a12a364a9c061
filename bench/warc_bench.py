"""Archive import vs live crawl: `linkcrawl import warc` against `linkcrawl crawl` of the same
pages served from the local web, on the same machine, in the same run.

The archive is the real pages of ../shared/data/warc (iana.warc.gz, IAH-urls-wget.warc
and the Common Crawl sample: their http responses, payloads as stored, chunked or
gzip-encoded as they came) written ``--copies`` times under host names of their own
(``c7.www.iana.org``), so both commands handle some thousands of pages. The live crawl
gets every URL as a seed, depth 0 (the pages are exactly the archive's), politeness off,
from a server that answers from memory. Each command is timed from start to exit, start-up
included for both (what a user waits for), and its pages/s is pages written / seconds;
the crawl's rate as its server saw it (start-up left out) is printed beside it.

    python bench/warc_bench.py [--copies 30] [--repeat 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawl_throughput import PrebuiltServer, politeness_off
from warcio.archiveiterator import ArchiveIterator
from warcio.warcwriter import WARCWriter

from linkcrawl.demo.localweb import LocalWeb, Resource

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "warc"
ARCHIVES = ("iana.warc.gz", "IAH-urls-wget.warc", "cc-main-2020-34-sample.warc.gz")
WIRE = {"content-encoding", "transfer-encoding", "content-length"}


def build(copies: int, warc: Path) -> LocalWeb:
    """Write the bench archive; return the local web serving the same responses."""
    newest: dict[str, tuple] = {}  # one capture per URL, the newest, as the import keeps
    for name in ARCHIVES:
        path = SHARED / name
        if not path.is_file():
            sys.exit(f"{path} is missing: ../shared/data must be beside the repository")
        with open(path, "rb") as stream:
            for record in ArchiveIterator(stream):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                if record.rec_type != "response" or not uri.startswith("http://"):
                    continue
                date = record.rec_headers.get_header("WARC-Date")
                if uri not in newest or newest[uri][1] <= date:
                    newest[uri] = (uri, date, record.http_headers, record.raw_stream.read())
    web = LocalWeb()
    with open(warc, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for k in range(copies):
            for uri, date, http, raw in newest.values():
                scheme, _, rest = uri.partition("://")
                url = f"{scheme}://c{k}.{rest}"
                record = writer.create_warc_record(
                    url,
                    "response",
                    payload=io.BytesIO(raw),
                    length=len(raw),
                    http_headers=http,
                    warc_headers_dict={"WARC-Date": date},
                )
                writer.write_record(record)
    # The live crawl gets what the archive holds, decoded as a browser would have it.
    with open(warc, "rb") as stream:
        for record in ArchiveIterator(stream):
            http = record.http_headers
            headers = {k: v for k, v in http.headers if k.lower() not in WIRE}
            body = record.content_stream().read()
            status = int(http.get_statuscode())
            web.add(
                record.rec_headers.get_header("WARC-Target-URI"), Resource(status, headers, body)
            )
    return web


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def pages_of(data: str, crawl_id: str) -> int:
    manifest = json.loads((Path(data) / "crawls" / f"{crawl_id}.json").read_text())
    return int(manifest["counts"]["pages"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warc = Path(tmp) / "bench.warc.gz"
        web = build(args.copies, warc)
        urls = [f"http://{host}{path}" for host, path in web.pages]
        seeds = Path(tmp) / "seeds.txt"
        seeds.write_text("\n".join(urls) + "\n")
        print(
            f"archive: {len(urls):,} pages, {warc.stat().st_size / 1e6:.1f} MB "
            f"({args.copies} copies of the shared archives' http responses)",
            flush=True,
        )
        server = PrebuiltServer(web)
        env = {**os.environ, "http_proxy": server.proxy_url}
        linkcrawl = [sys.executable, "-m", "linkcrawl.cli"]
        ratios = []
        crawl_rates, import_rates = [], []
        for i in range(args.repeat):
            data = os.path.join(tmp, f"data{i}")
            server.times = []
            seconds = timed(
                [
                    *(*linkcrawl, "crawl", "--seeds", str(seeds), "--data", data),
                    *("--crawl-id", "live", "--max-depth", "0"),
                    *("--concurrency", str(args.concurrency), *politeness_off(args.concurrency)),
                ],
                env,
            )
            _, served_rate = server.rate()
            crawled = pages_of(data, "live")
            crawl_rate = crawled / seconds
            seconds_import = timed(
                [*linkcrawl, "import", "warc", str(warc), "--data", data, "--crawl-id", "warc"]
            )
            imported = pages_of(data, "warc")
            import_rate = imported / seconds_import
            if imported != crawled:
                sys.exit(f"run {i + 1}: the import wrote {imported} pages, the crawl {crawled}")
            crawl_rates.append(crawl_rate)
            import_rates.append(import_rate)
            ratios.append(import_rate / crawl_rate)
            print(
                f"run {i + 1}: crawl {crawled:,} pages in {seconds:.1f} s = {crawl_rate:6.1f} "
                f"pages/s ({served_rate:.1f} at the server, start-up left out); import "
                f"{imported:,} pages in {seconds_import:.1f} s = {import_rate:6.1f} pages/s; "
                f"ratio {ratios[-1]:.2f}",
                flush=True,
            )
        server.close()
    print(
        f"median of {args.repeat}: crawl {statistics.median(crawl_rates):.1f} pages/s, import "
        f"{statistics.median(import_rates):.1f} pages/s, ratio import/crawl = "
        f"{statistics.median(ratios):.2f} (goal >= 3)"
    )


if __name__ == "__main__":
    main()
