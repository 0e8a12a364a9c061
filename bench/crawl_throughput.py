"""Crawl throughput: linkcrawl vs a bare Scrapy spider on the same generated local site.

A site of N pages (default 2,000) with ~50 links each is served from memory on 127.0.0.1;
each crawler runs in its own process with the server as its HTTP proxy, the same
concurrency, and politeness off (no robots.txt, no delay, no AutoThrottle). Pages/s is
measured by the server, from the first request to the last, so process start-up is not
counted for either. The bare spider follows every ``a[href]`` with ``response.follow_all``
and stores nothing; linkcrawl extracts every column and writes Parquet.

    python bench/crawl_throughput.py [--pages 2000] [--repeat 3] [--concurrency 16]
    python bench/crawl_throughput.py --workers 2     # N worker processes vs one
    python bench/crawl_throughput.py --parse-workers 0,1,2   # extraction in-process vs pool

With --parse-workers each value is one linkcrawl crawl of the same site per repeat, in
turn, so that a change in the machine's load falls on every value alike; the ratios are
to the first value.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from urllib.parse import urlsplit

from linkcrawl.demo.localweb import LocalWeb, Resource

HOST = "www.bench-example.com"

BARE_SPIDER = textwrap.dedent(
    """
    import sys
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class Bare(scrapy.Spider):
        name = "bare"
        start_urls = [sys.argv[1]]

        def parse(self, response):
            yield from response.follow_all(css="a[href]", callback=self.parse)

    process = CrawlerProcess(dict(
        CONCURRENT_REQUESTS=int(sys.argv[2]), CONCURRENT_REQUESTS_PER_DOMAIN=int(sys.argv[2]),
        ROBOTSTXT_OBEY=False, AUTOTHROTTLE_ENABLED=False, DOWNLOAD_DELAY=0,
        LOG_LEVEL="WARNING", TELNETCONSOLE_ENABLED=False, COOKIES_ENABLED=False,
        ALLOWED_DOMAINS=None,
    ))
    Bare.allowed_domains = ["bench-example.com"]
    process.crawl(Bare)
    process.start()
    """
)


def build_site(
    pages: int,
    seed: int = 1,
    host: str = HOST,
    web: LocalWeb | None = None,
    cross: list[str] | None = None,
) -> LocalWeb:
    """A site of ``pages`` pages: 10 nav, 30 content, 5 sidebar, 5 footer links each,
    a few to other domains; links point at pages of every depth. ``cross`` hosts get one
    sidebar link each from every page (sites of one crawl linking to each other)."""
    rng = random.Random(seed)
    web = web if web is not None else LocalWeb()
    nav = "".join(f'<li><a href="/section/{i}/">Section {i}</a></li>' for i in range(10))
    footer = "".join(f'<a href="/about/{i}.html">About {i}</a> ' for i in range(4))
    footer += '<a href="http://partner-example.org/" rel="nofollow">Partner</a>'
    names = [f"/p/{i}.html" for i in range(pages - 15)]
    names += [f"/section/{i}/" for i in range(10)] + [f"/about/{i}.html" for i in range(4)]
    for n, path in enumerate(["/", *names]):
        content = "".join(
            f'<p>Paragraph {j} with <a href="{names[rng.randrange(len(names))]}">a link '
            f"number {j}</a> in running text.</p>"
            for j in range(30)
        )
        friends = [f"http://{h}/p/{rng.randrange(pages - 15)}.html" for h in cross or []]
        friends += [f"http://site{rng.randrange(500)}-example.com/" for _ in range(5)]
        sidebar = "".join(
            f'<li><a href="{url}">Friend {k}</a></li>' for k, url in enumerate(friends[:5])
        )
        html = (
            f"<!doctype html><html><head><meta charset=utf-8><title>Page {n}</title></head>"
            f"<body><header><a href='/'>Home</a></header><nav><ul>{nav}</ul></nav>"
            f"<main><h1>Page {n}</h1>{content}</main><aside><ul>{sidebar}</ul></aside>"
            f"<footer>{footer}</footer></body></html>"
        )
        web.add(f"http://{host}{path}", html)
    return web


class PrebuiltServer:
    """The benchmark's web server: every response of a :class:`LocalWeb` rendered to bytes
    up front and served by an asyncio loop in a thread, keep-alive, absolute-form proxy
    requests. It costs a few tens of microseconds of CPU a request, against some hundreds
    for the ThreadingHTTPServer the tests use, so that it takes little of the two cores
    the crawlers are measured on. Records the time of each request."""

    def __init__(self, web: LocalWeb) -> None:
        self.responses = {key: self._render(r) for key, r in web.pages.items()}
        self.not_found = self._render(Resource(404, {"Content-Type": "text/html"}, b"no"))
        self.times: list[float] = []
        self.loop = asyncio.new_event_loop()
        self.server = self.loop.run_until_complete(
            self.loop.create_server(self._protocol, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.proxy_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def _render(resource: Resource) -> bytes:
        head = [f"HTTP/1.1 {resource.status} X"]
        head += [f"{k}: {v}" for k, v in resource.headers.items()]
        head.append(f"Content-Length: {len(resource.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + resource.body

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
                    target = head.split(b" ", 2)[1].decode("latin-1")
                    parts = urlsplit(target)
                    path = parts.path + (f"?{parts.query}" if parts.query else "")
                    server.times.append(time.perf_counter())
                    self.transport.write(
                        server.responses.get((parts.hostname or "", path), server.not_found)
                    )

        return Http()

    def rate(self) -> tuple[int, float]:
        t = self.times
        return len(t), (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


def politeness_off(concurrency: int) -> list[str]:
    """linkcrawl options for the same conditions as the bare spider's settings."""
    settings = [
        "ROBOTSTXT_OBEY=0",
        "AUTOTHROTTLE_ENABLED=0",
        "DOWNLOAD_DELAY=0",
        f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
    ]
    return [arg for setting in settings for arg in ("-s", setting)]


def run(cmd: list[str], server: PrebuiltServer) -> tuple[int, float]:
    """Run one crawler process against ``server``; its requests and pages/s."""
    server.times = []
    env = {**os.environ, "http_proxy": server.proxy_url}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return server.rate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages",
        type=int,
        default=None,
        help="pages in all: default 2,000, or 8,000 on 4 sites with --workers (a longer run, "
        "so that the workers' start-up skew of ~0.5 s weighs little)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=0, help="also run linkcrawl --workers N (0: skip)"
    )
    parser.add_argument(
        "--parse-workers",
        default="",
        help="compare LINKCRAWL_PARSE_WORKERS values, e.g. 0,2 (0: extraction in the "
        "crawl's own thread), on the same site in this script",
    )
    args = parser.parse_args()
    if args.parse_workers:
        args.pages = args.pages or 2000
        return bench_parse_workers(args)
    if args.workers:
        args.pages = args.pages or 8000
        return bench_workers(args)
    args.pages = args.pages or 2000
    web = build_site(args.pages)
    seed = f"http://{HOST}/"
    fast = politeness_off(args.concurrency)
    results: dict[str, list[float]] = {"bare scrapy": [], "linkcrawl": []}
    server = PrebuiltServer(web)
    with tempfile.TemporaryDirectory() as tmp:
        # Scrapy reads a callback's source (to warn about generators with return values),
        # so the bare spider must live in a file, not in ``python -c``.
        bare_py = os.path.join(tmp, "bare_spider.py")
        with open(bare_py, "w") as fh:
            fh.write(BARE_SPIDER)
        for i in range(args.repeat):
            n, rate = run([sys.executable, bare_py, seed, str(args.concurrency)], server)
            results["bare scrapy"].append(rate)
            print(f"run {i + 1}: bare scrapy  {n} requests  {rate:7.1f} pages/s", flush=True)
            cmd = [
                sys.executable,
                "-m",
                "linkcrawl.cli",
                "crawl",
                seed,
                "--data",
                tmp,
                "--crawl-id",
                f"bench{i}",
                "--concurrency",
                str(args.concurrency),
                *fast,
            ]
            n, rate = run(cmd, server)
            results["linkcrawl"].append(rate)
            print(f"run {i + 1}: linkcrawl    {n} requests  {rate:7.1f} pages/s", flush=True)
    bare = statistics.median(results["bare scrapy"])
    ours = statistics.median(results["linkcrawl"])
    print(
        f"median of {args.repeat}: bare scrapy {bare:.1f} pages/s, linkcrawl {ours:.1f} "
        f"pages/s, ratio linkcrawl/bare = {ours / bare:.2f}"
    )


def bench_parse_workers(args: argparse.Namespace) -> None:
    """linkcrawl with extraction in the crawl's thread vs in a pool of worker processes."""
    counts = [int(n) for n in args.parse_workers.split(",")]
    web = build_site(args.pages)
    seed = f"http://{HOST}/"
    fast = politeness_off(args.concurrency)
    results: dict[int, list[float]] = {n: [] for n in counts}
    server = PrebuiltServer(web)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for n in counts:
                cmd = [
                    sys.executable,
                    "-m",
                    "linkcrawl.cli",
                    "crawl",
                    seed,
                    "--data",
                    f"{tmp}/{n}-{i}",
                    "--concurrency",
                    str(args.concurrency),
                    *fast,
                    "-s",
                    f"LINKCRAWL_PARSE_WORKERS={n}",
                ]
                requests, rate = run(cmd, server)
                results[n].append(rate)
                print(
                    f"run {i + 1}: parse workers {n}  {requests} requests  {rate:7.1f} pages/s",
                    flush=True,
                )
    base = statistics.median(results[counts[0]])
    line = ", ".join(
        f"{n} workers {statistics.median(r):.1f} pages/s ({statistics.median(r) / base:.2f}x)"
        for n, r in results.items()
    )
    print(f"median of {args.repeat}: {line}")


CPU_BOUND = "x = 0\nfor i in range(20_000_000):\n    x += i * i\n"


def machine_ceiling() -> float:
    """How much faster two CPU-bound processes finish than one on this machine: the
    ceiling for N=2 crawler processes (2.0 on two idle cores; a shared VM gives less)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", CPU_BOUND], check=True)
    one = time.perf_counter() - started
    started = time.perf_counter()
    both = [subprocess.Popen([sys.executable, "-c", CPU_BOUND]) for _ in range(2)]
    for process in both:
        process.wait()
    return 2 * one / (time.perf_counter() - started)


def bench_workers(args: argparse.Namespace) -> None:
    """linkcrawl with --workers N vs one process, on 4 sites that link to each other."""
    hosts = [f"www.shard{i}-example.com" for i in range(4)]
    web = LocalWeb()
    for i, host in enumerate(hosts):
        build_site(
            args.pages // 4, seed=i, host=host, web=web, cross=[h for h in hosts if h != host]
        )
    seeds = [f"http://{h}/" for h in hosts]
    fast = politeness_off(args.concurrency)
    results: dict[int, list[float]] = {1: [], args.workers: []}
    ceilings: list[float] = []
    server = PrebuiltServer(web)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for workers in results:
                cmd = [
                    sys.executable,
                    "-m",
                    "linkcrawl.cli",
                    "crawl",
                    *seeds,
                    "--data",
                    f"{tmp}/{workers}-{i}",
                    "--concurrency",
                    str(args.concurrency),
                    "--workers",
                    str(workers),
                    *fast,
                ]
                n, rate = run(cmd, server)
                results[workers].append(rate)
                print(
                    f"run {i + 1}: {workers} worker(s)  {n} requests  {rate:7.1f} pages/s",
                    flush=True,
                )
    if args.workers == 2:
        for i in range(args.repeat):
            ceilings.append(machine_ceiling())
            print(f"run {i + 1}: two CPU-bound processes vs one: {ceilings[-1]:.2f}x", flush=True)
    one = statistics.median(results[1])
    many = statistics.median(results[args.workers])
    print(
        f"median of {args.repeat}: 1 worker {one:.1f} pages/s, {args.workers} workers "
        f"{many:.1f} pages/s, ratio = {many / one:.2f}"
    )
    if ceilings:
        print(
            f"machine ceiling, two CPU-bound processes vs one (median): "
            f"{statistics.median(ceilings):.2f}x"
        )


if __name__ == "__main__":
    main()
