"""Crawl throughput: linkcrawl vs a bare Scrapy spider on the same generated local site.

A site of N pages (default 2,000) with ~50 links each is served from memory on 127.0.0.1;
each crawler runs in its own process with the server as its HTTP proxy, the same
concurrency, and politeness off (no robots.txt, no delay, no AutoThrottle). Pages/s is
measured by the server, from the first request to the last, so process start-up is not
counted for either. The bare spider follows every ``a[href]`` with ``response.follow_all``
and stores nothing; linkcrawl extracts every column and writes Parquet.

    python bench/crawl_throughput.py [--pages 2000] [--repeat 3] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

from linkcrawl.localweb import LocalWeb, LocalWebServer, Resource, WebRequest

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


class Clock:
    """Records the time of each request the server answers."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, request: WebRequest) -> Resource | None:
        with self.lock:
            self.times.append(time.perf_counter())
        if request.path == "/robots.txt":
            return Resource(404, {}, b"")
        return None

    def rate(self) -> tuple[int, float]:
        t = self.times
        return len(t), (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else 0.0


def politeness_off(concurrency: int) -> list[str]:
    """linkcrawl options for the same conditions as the bare spider's settings."""
    settings = [
        "ROBOTSTXT_OBEY=0",
        "AUTOTHROTTLE_ENABLED=0",
        "DOWNLOAD_DELAY=0",
        f"CONCURRENT_REQUESTS_PER_DOMAIN={concurrency}",
    ]
    return [arg for setting in settings for arg in ("-s", setting)]


def run(cmd: list[str], proxy: str, web: LocalWeb) -> tuple[int, float]:
    clock = Clock()
    web.handler = clock
    env = {**os.environ, "http_proxy": proxy}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return clock.rate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pages", type=int, default=2000, help="pages in all (4 sites with --workers)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=0, help="also run linkcrawl --workers N (0: skip)"
    )
    args = parser.parse_args()
    if args.workers:
        return bench_workers(args)
    web = build_site(args.pages)
    seed = f"http://{HOST}/"
    fast = politeness_off(args.concurrency)
    results: dict[str, list[float]] = {"bare scrapy": [], "linkcrawl": []}
    with LocalWebServer(web) as server, tempfile.TemporaryDirectory() as tmp:
        # Scrapy reads a callback's source (to warn about generators with return values),
        # so the bare spider must live in a file, not in ``python -c``.
        bare_py = os.path.join(tmp, "bare_spider.py")
        with open(bare_py, "w") as fh:
            fh.write(BARE_SPIDER)
        for i in range(args.repeat):
            n, rate = run(
                [sys.executable, bare_py, seed, str(args.concurrency)], server.proxy_url, web
            )
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
            n, rate = run(cmd, server.proxy_url, web)
            results["linkcrawl"].append(rate)
            print(f"run {i + 1}: linkcrawl    {n} requests  {rate:7.1f} pages/s", flush=True)
    bare = statistics.median(results["bare scrapy"])
    ours = statistics.median(results["linkcrawl"])
    print(
        f"median of {args.repeat}: bare scrapy {bare:.1f} pages/s, linkcrawl {ours:.1f} "
        f"pages/s, ratio linkcrawl/bare = {ours / bare:.2f}"
    )


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
    with LocalWebServer(web) as server, tempfile.TemporaryDirectory() as tmp:
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
                n, rate = run(cmd, server.proxy_url, web)
                results[workers].append(rate)
                print(
                    f"run {i + 1}: {workers} worker(s)  {n} requests  {rate:7.1f} pages/s",
                    flush=True,
                )
    one = statistics.median(results[1])
    many = statistics.median(results[args.workers])
    print(
        f"median of {args.repeat}: 1 worker {one:.1f} pages/s, {args.workers} workers "
        f"{many:.1f} pages/s, ratio = {many / one:.2f}"
    )


if __name__ == "__main__":
    main()
