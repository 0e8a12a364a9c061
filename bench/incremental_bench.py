"""Incremental recrawl: ``crawl --incremental`` of an unchanged site against the first crawl.

A site of N pages (default 2,000, ~50 links each: ``crawl_throughput.build_site``) is
served from memory on 127.0.0.1 by a server that sends an ETag with every page and
answers a matching If-None-Match with ``304 Not Modified``, as web servers do for static
files. Each run crawls it into a fresh data directory, then recrawls it with
``--incremental``, each crawl in its own process with politeness off. Printed per run and
as medians: the bytes the server wrote (status lines, headers and bodies) and the crawl
process's wall time, start-up included, the recrawl as a share of the first crawl (the
issue's bounds: 10% of the bytes, 30% of the time). A third row: the adaptive recrawl
(``--revisit adaptive``) of the unchanged site, after one adaptive recrawl that gave every
page its revisit interval, so that no page is due and none is requested. Also checked:
each recrawl's edges are the first crawl's, row for row. For scale, the same URLs fetched
once by a bare Scrapy spider that parses nothing: the floor of any recrawl that sends one
request per page.

    flock /work/bench.lock python bench/incremental_bench.py [--pages 2000] [--repeat 3]
        [--page-kb 30]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource as rusage
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_throughput import HOST, build_site, politeness_off

from linkcrawl.demo.localweb import LocalWeb, Resource

EDGE_COLUMNS = "source, target, anchor, rel, follow, position, kind, ordinal"
# The floor of any crawl that sends one request per page: a bare Scrapy spider given every
# URL of the site at start, whose callback does nothing, with the same politeness off.
BARE_FETCH = textwrap.dedent(
    """
    import sys
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Bare(scrapy.Spider):
        name = "bare"

        async def start(self):
            for url in open(sys.argv[1]).read().split():
                yield scrapy.Request(url, callback=self.parse)

        def parse(self, response):
            return None

    process = CrawlerProcess(dict(
        CONCURRENT_REQUESTS=16, CONCURRENT_REQUESTS_PER_DOMAIN=16, ROBOTSTXT_OBEY=False,
        AUTOTHROTTLE_ENABLED=False, DOWNLOAD_DELAY=0, LOG_LEVEL="WARNING",
        TELNETCONSOLE_ENABLED=False, COOKIES_ENABLED=False,
    ))
    process.crawl(Bare)
    process.start()
    """
)


class ValidatingServer:
    """Every page of a :class:`LocalWeb` rendered up front twice, as a 200 with its ETag
    and as a 304, served by an asyncio loop in a thread (a few tens of microseconds of CPU
    a request, so that the server takes little of the cores the crawl is measured on).
    Counts the bytes it writes."""

    def __init__(self, web: LocalWeb) -> None:
        self.full: dict[tuple[str, str], bytes] = {}
        self.not_modified: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        for key, resource in web.pages.items():
            etag = '"' + hashlib.sha1(resource.body).hexdigest()[:20] + '"'
            headers = {**resource.headers, "ETag": etag}
            self.full[key] = self._render(Resource(resource.status, headers, resource.body))
            short = self._render(Resource(304, {"ETag": etag}), length=False)
            self.not_modified[key] = (etag.encode(), short)
        self.not_found = self._render(Resource(404, {"Content-Type": "text/html"}, b"no"))
        self.sent = 0
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            self.loop.create_server(self._protocol, "127.0.0.1", 0)
        )
        self.proxy_url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _render(resource: Resource, length: bool = True) -> bytes:
        head = [f"HTTP/1.1 {resource.status} X"]
        head += [f"{k}: {v}" for k, v in resource.headers.items()]
        if length:
            head.append(f"Content-Length: {len(resource.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + resource.body

    def answer(self, head: bytes) -> bytes:
        lines = head.split(b"\r\n")
        parts = urlsplit(lines[0].split(b" ", 2)[1].decode("latin-1"))
        key = (parts.hostname or "", parts.path + (f"?{parts.query}" if parts.query else ""))
        if key not in self.full:
            return self.not_found
        match = next(
            (
                ln.split(b":", 1)[1].strip()
                for ln in lines
                if ln.lower().startswith(b"if-none-match:")
            ),
            None,
        )
        etag, short = self.not_modified[key]
        return short if match == etag else self.full[key]

    def _protocol(self) -> asyncio.Protocol:
        server = self

        class Http(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport
                self.buffer = b""

            def data_received(self, data: bytes) -> None:
                self.buffer += data
                while b"\r\n\r\n" in self.buffer:
                    head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
                    response = server.answer(head)
                    server.sent += len(response)
                    self.transport.write(response)

        return Http()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def crawl(
    server: ValidatingServer, data: Path, crawl_id: str, *extra: str
) -> tuple[int, float, float]:
    """One crawl process; the bytes the server wrote for it, its wall time, and the CPU
    time (user and system) of it and its parse workers: on a machine shared with other
    work the wall time varies with their load, the CPU time much less."""
    import os

    env = {**os.environ, "http_proxy": server.proxy_url}
    cmd = [sys.executable, "-m", "linkcrawl.cli", "crawl", f"http://{HOST}/", "--data", str(data)]
    cmd += ["--crawl-id", crawl_id, "--no-sitemaps", *politeness_off(16), *extra]
    sent = server.sent
    before = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return server.sent - sent, wall, cpu


def bare_fetch(server: ValidatingServer, urls: Path) -> tuple[float, float]:
    """The bare Scrapy spider fetching every URL once: its wall and CPU time."""
    import os

    env = {**os.environ, "http_proxy": server.proxy_url}
    before = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    start = time.perf_counter()
    cmd = [sys.executable, "-c", BARE_FETCH, str(urls)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = rusage.getrusage(rusage.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def edge_rows(data: Path, crawl_id: str) -> list[tuple]:
    files = str(data / "edges" / f"crawl_id={crawl_id}" / "*.parquet")
    sql = f"SELECT {EDGE_COLUMNS}, count(*) FROM read_parquet('{files}') GROUP BY ALL ORDER BY ALL"
    return duckdb.sql(sql).fetchall()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--page-kb",
        type=int,
        default=0,
        help="pad each page with prose to about this many KB (0: the site as built, ~4 KB "
        "a page; real pages' HTML is often 30 KB or more)",
    )
    args = parser.parse_args()
    web = build_site(args.pages)
    if args.page_kb:
        for resource in web.pages.values():
            missing = max(0, args.page_kb * 1024 - len(resource.body))
            prose = b"<p>" + b"Words that carry no link, as most of a page does. " * (missing // 51)
            resource.body = resource.body.replace(b"</main>", prose + b"</p></main>")
    server = ValidatingServer(web)
    runs = []
    try:
        for run in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="linkcrawl-incr-") as tmp:
                data = Path(tmp)
                first_bytes, first_time, first_cpu = crawl(server, data, "first")
                again_bytes, again_time, again_cpu = crawl(server, data, "again", "--incremental")
                assert edge_rows(data, "again") == edge_rows(data, "first"), "edges differ"
                # Every page due (the crawl before has no intervals): it gives them theirs.
                crawl(server, data, "scheduled", "--revisit", "adaptive", "--since", "again")
                due_bytes, due_time, due_cpu = crawl(
                    server, data, "adaptive", "--revisit", "adaptive", "--since", "scheduled"
                )
                assert edge_rows(data, "adaptive") == edge_rows(data, "first"), "edges differ"
                urls = data / "urls.txt"
                urls.write_text("\n".join(f"http://{h}{p}" for h, p in server.full))
                bare_time, bare_cpu = bare_fetch(server, urls)
            timings = (first_time, again_time, first_cpu, again_cpu, bare_time, bare_cpu)
            runs.append((first_bytes, again_bytes, *timings, due_bytes, due_time, due_cpu))
            print(
                f"run {run + 1}: first {first_bytes / 1e6:.2f} MB {first_time:.2f} s "
                f"(CPU {first_cpu:.2f} s); incremental {again_bytes / 1e6:.3f} MB "
                f"{again_time:.2f} s (CPU {again_cpu:.2f} s): bytes "
                f"{again_bytes / first_bytes:.1%}, time {again_time / first_time:.1%}, "
                f"CPU {again_cpu / first_cpu:.1%}; bare Scrapy fetch of every URL "
                f"{bare_time:.2f} s (CPU {bare_cpu:.2f} s); adaptive, nothing due "
                f"{due_bytes / 1e6:.3f} MB {due_time:.2f} s (CPU {due_cpu:.2f} s): "
                f"time {due_time / first_time:.1%}",
                flush=True,
            )
    finally:
        server.close()
    byte_ratio = statistics.median(r[1] / r[0] for r in runs)
    time_ratio = statistics.median(r[3] / r[2] for r in runs)
    cpu_ratio = statistics.median(r[5] / r[4] for r in runs)
    floor = statistics.median(r[6] / r[2] for r in runs)
    size = statistics.mean(len(r.body) for r in web.pages.values()) / 1024
    print(
        f"{args.pages:,} pages of {size:.1f} KB, medians of {len(runs)}: first crawl "
        f"{statistics.median(r[0] for r in runs) / 1e6:.2f} MB, "
        f"{statistics.median(r[2] for r in runs):.2f} s; incremental recrawl "
        f"{statistics.median(r[1] for r in runs) / 1e6:.3f} MB, "
        f"{statistics.median(r[3] for r in runs):.2f} s; "
        f"ratio bytes {byte_ratio:.1%} (bound 10%), time {time_ratio:.1%} (bound 30%), "
        f"CPU {cpu_ratio:.1%}; a bare Scrapy spider fetching every URL once, parsing "
        f"nothing, takes {floor:.1%} of the first crawl's time: the floor of a recrawl "
        "that requests every page"
    )
    print(
        f"adaptive recrawl (--revisit adaptive, no page due), medians of {len(runs)}: "
        f"{statistics.median(r[8] for r in runs) / 1e6:.3f} MB, "
        f"{statistics.median(r[9] for r in runs):.2f} s; ratio bytes "
        f"{statistics.median(r[8] / r[0] for r in runs):.1%} (bound 10%), time "
        f"{statistics.median(r[9] / r[2] for r in runs):.1%} (bound 30%), CPU "
        f"{statistics.median(r[10] / r[4] for r in runs):.1%}"
    )


if __name__ == "__main__":
    main()
