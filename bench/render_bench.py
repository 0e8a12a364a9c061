"""Rendering's cost: `linkcrawl crawl --render always` and `--render auto` against a static
crawl (`--render never`) of the same local site, in the same run.

The site (default 300 pages, ~25 links each in the HTML) is served from memory on
127.0.0.1 by crawl_throughput's PrebuiltServer; every page loads one script, and one page
in ten is a client-rendered shell (an empty ``#root`` that its script fills with 5 links).
Each crawl runs in its own process with politeness off. Two figures per crawl:

- the wall time of the whole ``linkcrawl crawl`` process, start-up included, which is what
  ``auto`` is held to: at most 2x a static crawl;
- pages/s: (pages - 1) / (wall time - the wall time of the same mode's crawl of a
  one-page site), so that start-up and shut-down (Python, Scrapy, Playwright's driver, the
  browser's launch under ``always``) are not counted. (The pages table's ``fetched_at`` is
  when a page's parse began, before its rendering: no measure of it.)

    python bench/render_bench.py [--pages 300] [--repeat 3] [--concurrency 16]
    python bench/render_bench.py --modes never,auto      # auto against static only
    python bench/render_bench.py --polite [--pages 60]   # never and auto, default politeness

With ``--polite`` the crawls keep linkcrawl's default politeness (0.5 s between requests to
a site, AutoThrottle, two at a time), as a crawl of a real site runs; only ``never`` and
``auto`` are timed.

Needs linkcrawl[render] and chromium-headless-shell (see docs/rendering.md).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from crawl_throughput import PrebuiltServer, politeness_off

from linkcrawl.demo.localweb import LocalWeb, Resource

HOST = "www.render-bench-example.com"
ONE_PAGE = "www.one-page-example.com"
MODES = ("never", "always", "auto")


def build_site(pages: int, shell_every: int = 10, seed: int = 1) -> LocalWeb:
    """``pages`` pages; page n is a shell when n % shell_every == shell_every - 1 (the home
    page is not: a static crawl starts from its links)."""
    rng = random.Random(seed)
    web = LocalWeb()
    names = ["/", *(f"/p/{i}.html" for i in range(1, pages))]
    nav = "".join(f'<li><a href="/p/{i}.html">Section {i}</a></li>' for i in range(1, 6))
    for n, path in enumerate(names):
        script = f"/js/{n}.js"
        if n % shell_every == shell_every - 1:
            inserted = "".join(
                f'<a href=\\"{names[rng.randrange(1, pages)]}\\">Item {k}</a>' for k in range(5)
            )
            body = '<div id="root"></div>'
            js = f"document.getElementById('root').innerHTML = \"<main>{inserted}</main>\";"
        else:
            content = "".join(
                f'<p>Text {j} <a href="{names[rng.randrange(1, pages)]}">link {j}</a></p>'
                for j in range(20)
            )
            body = f"<header><a href='/'>Home</a></header><nav><ul>{nav}</ul></nav>"
            body += f"<main><h1>Page {n}</h1>{content}</main>"
            js = "window.analytics = {page: location.pathname};"
        web.add(
            f"http://{HOST}{path}",
            f"<!doctype html><html><head><meta charset=utf-8><title>Page {n}</title></head>"
            f'<body>{body}<script src="{script}"></script></body></html>',
        )
        web.add(
            f"http://{HOST}{script}",
            Resource(200, {"Content-Type": "application/javascript"}, js.encode()),
        )
    web.add(f"http://{ONE_PAGE}/", "<!doctype html><title>One</title><p>One page.</p>")
    return web


def crawl(
    mode: str,
    server: PrebuiltServer,
    data: str,
    concurrency: int,
    extra: list[str],
    host: str = HOST,
    polite: bool = False,
) -> tuple[int, float]:
    """One crawl; its pages and wall seconds."""
    cmd = [
        sys.executable,
        "-m",
        "linkcrawl.cli",
        "crawl",
        f"http://{host}/",
        "--data",
        data,
        "--crawl-id",
        "bench",
        "--no-sitemaps",
        "--render",
        mode,
        *([] if polite else ["--concurrency", str(concurrency), *politeness_off(concurrency)]),
        *extra,
    ]
    env = {**os.environ, "http_proxy": server.proxy_url}
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    pages = pd.read_parquet(Path(data) / "pages", columns=["url"])
    return len(pages), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--polite", action="store_true", help="default politeness")
    parser.add_argument(
        "--modes",
        default=",".join(MODES),
        help="the --render modes to time, comma-separated; never (static) is always timed",
    )
    args = parser.parse_args()
    if args.polite:
        return polite(args)
    modes = [m for m in MODES if m == "never" or m in args.modes.split(",")]
    server = PrebuiltServer(build_site(args.pages))
    rates: dict[str, list[float]] = {m: [] for m in modes}
    walls: dict[str, list[float]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            # The modes in turn, so that a change in the machine's load falls on each alike.
            for mode in modes:
                extra = [arg for setting in args.settings for arg in ("-s", setting)]
                _, base = crawl(mode, server, f"{tmp}/{mode}-one-{i}", 1, extra, ONE_PAGE)
                n, wall = crawl(mode, server, f"{tmp}/{mode}-{i}", args.concurrency, extra)
                rate = (n - 1) / (wall - base)
                rates[mode].append(rate)
                walls[mode].append(wall)
                print(
                    f"run {i + 1}: --render {mode:6}  {n} pages  {wall:5.1f} s wall, "
                    f"{base:4.1f} s of it start-up and shut-down  {rate:6.1f} pages/s",
                    flush=True,
                )
    server.close()
    rate = {m: statistics.median(r) for m, r in rates.items()}
    wall = {m: statistics.median(w) for m, w in walls.items()}
    if "always" in rate:
        print(
            f"median of {args.repeat}: static {rate['never']:.1f} pages/s, rendered (always) "
            f"{rate['always']:.1f} pages/s, "
            f"ratio always/static = {rate['always'] / rate['never']:.2f}"
        )
    if "auto" in rate:
        always = f"; always {wall['always']:.1f} s" if "always" in wall else ""
        print(
            f"median of {args.repeat}: wall time static {wall['never']:.1f} s, auto (1 page "
            f"in 10 rendered) {wall['auto']:.1f} s, ratio auto/static = "
            f"{wall['auto'] / wall['never']:.2f} (pages/s ratio "
            f"{rate['auto'] / rate['never']:.2f}){always}"
        )


def polite(args: argparse.Namespace) -> None:
    pages = 60 if args.pages == 300 else args.pages
    server = PrebuiltServer(build_site(pages))
    walls: dict[str, list[float]] = {"never": [], "auto": []}
    extra = [arg for setting in args.settings for arg in ("-s", setting)]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for mode in walls:
                n, wall = crawl(mode, server, f"{tmp}/{mode}-{i}", 0, extra, polite=True)
                walls[mode].append(wall)
                print(f"run {i + 1}: polite --render {mode:5}  {n} pages  {wall:5.1f} s wall")
    server.close()
    wall = {m: statistics.median(w) for m, w in walls.items()}
    print(
        f"median of {args.repeat}, polite: wall time static {wall['never']:.1f} s, auto (1 page "
        f"in 10 rendered) {wall['auto']:.1f} s, ratio auto/static = "
        f"{wall['auto'] / wall['never']:.2f}"
    )


if __name__ == "__main__":
    main()
