"""Crawl policy against local webs built for each case: scope, bounds, traps, Crawl-delay,
external checks. Each crawl is the real command line in a subprocess."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow


def crawl(web, tmp_path, *args, crawl_id="c1"):
    with LocalWebServer(web) as server:
        result = run_linkcrawl(
            ["crawl", *args, "--data", str(tmp_path), "--crawl-id", crawl_id, *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    edges = pd.read_parquet(tmp_path / "edges")
    pages = pd.read_parquet(tmp_path / "pages")
    return edges, pages, result


def calendar(request):
    """An endless calendar: every month links to the next one."""
    path = request.path
    if path.startswith("/calendar/"):
        year, month = map(int, path.strip("/").split("/")[1:3])
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return Resource(
            200,
            {"Content-Type": "text/html"},
            f'<a href="/calendar/{year}/{month:02d}/">next</a>'.encode(),
        )
    return None


def test_endless_calendar_ends_by_itself(tmp_path):
    web = LocalWeb(handler=calendar)
    web.add("http://cal-example.com/", '<a href="/calendar/2026/01/">calendar</a>')
    edges, pages, _ = crawl(
        web, tmp_path, "http://cal-example.com/", "-s", "LINKCRAWL_MAX_DIGIT_VARIANTS=25"
    )
    months = pages[pages.url.str.contains("/calendar/")]
    assert len(months) == 25
    # the link to the 26th month is still an edge: recorded, not crawled
    assert edges.target.str.contains("/calendar/").sum() == 26


def test_query_explosion_and_repeated_segments(tmp_path):
    def handler(request):
        path = request.path
        if path.startswith("/search?"):
            n = int(path.rpartition("=")[2])
            return Resource(
                200,
                {"Content-Type": "text/html"},
                f'<a href="/search?page={n + 1}">more</a>'.encode(),
            )
        if path.startswith("/a/"):  # relative links that nest forever: /a/b/a/b/...
            return Resource(200, {"Content-Type": "text/html"}, b'<a href="b/a/">deeper</a>')
        return None

    web = LocalWeb(handler=handler)
    web.add("http://trap-example.com/", '<a href="/search?page=1">s</a><a href="/a/">a</a>')
    _, pages, _ = crawl(
        web, tmp_path, "http://trap-example.com/", "-s", "LINKCRAWL_MAX_QUERY_VARIANTS=10"
    )
    assert pages.url.str.contains("/search").sum() == 10
    nested = pages[pages.url.str.contains("/a/")].url
    # /a/, /a/b/a/ and /a/b/a/b/a/ would repeat 'a' three times: not requested
    assert sorted(nested) == ["http://trap-example.com/a/", "http://trap-example.com/a/b/a/"]


def test_max_pages_max_depth_and_scope(tmp_path):
    web = LocalWeb()
    for i in range(20):
        web.add(
            f"http://www.chain-example.com/{i}.html",
            f'<a href="/{i + 1}.html">next</a><a href="http://shop.chain-example.com/">'
            f'shop</a><a href="http://other-example.net/{i}">other</a>',
        )
    web.add("http://shop.chain-example.com/", "<a href='/cart'>cart</a>")
    _, pages, _ = crawl(
        web, tmp_path / "a", "http://www.chain-example.com/0.html", "--max-depth", "3"
    )
    chain = pages[pages.url.str.startswith("http://www.chain-example.com/")]
    assert sorted(chain.url) == [f"http://www.chain-example.com/{i}.html" for i in range(4)]
    # another host of the same registered domain is in scope; other domains are not
    assert "http://shop.chain-example.com/" in set(pages.url)
    assert not pages.url.str.contains("other-example").any()
    _, pages, _ = crawl(
        web, tmp_path / "b", "http://www.chain-example.com/0.html", "--max-pages", "5"
    )
    assert len(pages) == 5
    _, pages, _ = crawl(
        web,
        tmp_path / "c",
        "http://www.chain-example.com/0.html",
        "--same-host",
        "--max-depth",
        "2",
    )
    assert set(pages.url) == {f"http://www.chain-example.com/{i}.html" for i in range(3)}


def test_check_external_records_status_of_targets_once(tmp_path):
    web = LocalWeb()
    web.add(
        "http://home-example.com/",
        '<a href="http://ok-example.org/">ok</a>'
        '<a href="http://ok-example.org/gone">gone</a><a href="/2">2</a>',
    )
    web.add("http://home-example.com/2", '<a href="http://ok-example.org/gone">again</a>')
    web.add("http://ok-example.org/", "<a href='/deep'>not crawled</a>")
    _, pages, _ = crawl(web, tmp_path, "http://home-example.com/", "--check-external")
    status = dict(zip(pages.url, pages.status, strict=True))
    assert status["http://ok-example.org/"] == 200
    assert status["http://ok-example.org/gone"] == 404
    assert "http://ok-example.org/deep" not in status  # checked, never crawled
    assert pages.url.is_unique


def test_head_refused_falls_back_to_get(tmp_path):
    def no_head(request):
        if request.host == "nohead-example.org" and request.method == "HEAD":
            return Resource(405, {}, b"")
        return None

    web = LocalWeb(handler=no_head)
    web.add("http://home-example.com/", '<a href="http://nohead-example.org/">x</a>')
    web.add("http://nohead-example.org/", "fine")
    _, pages, _ = crawl(web, tmp_path, "http://home-example.com/", "--check-external")
    assert pages.set_index("url").status["http://nohead-example.org/"] == 200
    methods = [m for m, host, path in web.requests if host == "nohead-example.org" and path == "/"]
    assert methods == ["HEAD", "GET"]


def test_crawl_delay_is_honoured(tmp_path):
    web = LocalWeb()
    web.add(
        "http://slow-example.com/robots.txt",
        Resource(200, {"Content-Type": "text/plain"}, b"User-agent: *\nCrawl-delay: 1\n"),
    )
    web.add("http://slow-example.com/", "".join(f'<a href="/{i}">{i}</a>' for i in range(4)))
    for i in range(4):
        web.add(f"http://slow-example.com/{i}", "page")
    crawl(web, tmp_path, "http://slow-example.com/")
    times = [
        t
        for (_, host, path), t in zip(web.requests, web.times, strict=True)
        if host == "slow-example.com" and path != "/robots.txt"
    ]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The home page, its 4 links, and the /sitemap.xml guess: sitemaps keep the delay too.
    assert len(times) == 6 and ("GET", "slow-example.com", "/sitemap.xml") in web.requests
    assert min(gaps) >= 0.9, gaps
