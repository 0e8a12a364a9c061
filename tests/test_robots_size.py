"""A robots.txt is not lost on the way, which Scrapy would take as "no robots.txt": allow
everything. Over the download size cap it is read up to its first 500 KiB, as Google
does; a robots.txt that redirects is followed (up to 5 hops, as Google does)."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

TEXT = {"Content-Type": "text/plain"}
HOME = "<a href='/private/secret'>s</a><a href='/public'>p</a><a href='/late'>l</a>"


REDIRECTED = ("http://redirect-example.com", "http://loop-example.com")


def big_robots() -> bytes:
    """11 MiB: rules first, then comments, then a rule past 500 KiB (Google ignores it)."""
    head = b"User-agent: *\nDisallow: /private/\n"
    padding = b"# " + b"x" * 98 + b"\n"  # 101 bytes a line
    body = head + padding * (600 * 1024 // len(padding)) + b"Disallow: /late\n"
    return body + padding * ((11 * 1024 * 1024 - len(body)) // len(padding))


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    data = tmp_path_factory.mktemp("robots-size")
    robots = big_robots()
    assert len(robots) > 10 * 1024 * 1024  # over DOWNLOAD_MAXSIZE's default
    web = LocalWeb()
    sites = {
        # with Content-Length: refused before the body today
        "http://length-example.com": Resource(200, TEXT, robots),
        # chunked, no length: cut at the cap mid-stream today
        "http://chunked-example.com": Resource(200, TEXT, robots, chunk_size=256 * 1024),
        # compressed although we asked for identity: cut after decompression
        "http://gzip-example.com": Resource(
            200, {**TEXT, "Content-Encoding": "gzip"}, gzip.compress(robots, 1)
        ),
    }
    # http -> https style: the rules are one redirect away
    web.add("http://redirect-example.com/robots.txt", Resource(301, {"Location": "/r/1"}))
    web.add("http://redirect-example.com/r/1", Resource(302, {"Location": "/files/robots"}))
    web.add("http://redirect-example.com/files/robots", Resource(200, TEXT, big_robots()[:100]))
    # endless: after 5 hops, no rules
    web.add("http://loop-example.com/robots.txt", Resource(302, {"Location": "/robots.txt"}))
    for site, resource in sites.items():
        web.add(f"{site}/robots.txt", resource)
        web.add(f"{site}/", HOME)
        for path in ("/private/secret", "/public", "/late"):
            web.add(f"{site}{path}", "<p>page</p>")
    for site in REDIRECTED:
        web.add(f"{site}/", HOME)
        for path in ("/private/secret", "/public", "/late"):
            web.add(f"{site}{path}", "<p>page</p>")
    seeds = [f"{s}/" for s in [*sites, *REDIRECTED]]
    with LocalWebServer(web) as server:
        result = run_linkcrawl(
            ["crawl", *seeds, "--data", str(data), "--crawl-id", "r1", *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return web, pd.read_parquet(data / "pages").set_index("url"), list(sites)


def test_rules_in_the_first_500_kib_are_obeyed(crawled):
    web, pages, sites = crawled
    for site in sites:
        host = site.removeprefix("http://")
        assert ("GET", host, "/private/secret") not in web.requests, site
        assert pages.error[f"{site}/private/secret"] == "robots-disallowed", site
        assert pages.status[f"{site}/public"] == 200, site


def test_rules_past_500_kib_are_ignored(crawled):
    _, pages, sites = crawled
    for site in sites:
        assert pages.status[f"{site}/late"] == 200, site


def test_a_robots_txt_that_redirects_is_followed(crawled):
    web, pages, _ = crawled
    assert ("GET", "redirect-example.com", "/files/robots") in web.requests
    assert ("GET", "redirect-example.com", "/private/secret") not in web.requests
    assert pages.error["http://redirect-example.com/private/secret"] == "robots-disallowed"
    assert pages.status["http://redirect-example.com/public"] == 200
    # A redirect loop: five hops followed, then no rules (the crawl goes on).
    hops = [r for r in web.requests if r[1:] == ("loop-example.com", "/robots.txt")]
    assert len(hops) == 6
    assert pages.status["http://loop-example.com/private/secret"] == 200
