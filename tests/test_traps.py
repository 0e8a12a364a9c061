"""Trap guards tell a trap from a large site: a shop of 10,000 numbered products and a
forum of numbered threads are crawled whole, an endless calendar and an endless "next
page" of empty search results are cut, and every skip is in the manifest by reason and
on the crawl's last line."""

from __future__ import annotations

import calendar
import itertools
import json
import re
from collections import Counter

import pandas as pd
import pytest

from linkcrawl.crawl.items import PageItem
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from linkcrawl.spiders.links import LinkSpider, PatternEvidence, pattern_keys
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

HTML = {"Content-Type": "text/html; charset=utf-8"}
# The shop had 10,000 products against a limit of 2,000; here 3,000 against 200
# keep the test near 30 s.
PRODUCTS = 3_000
THREADS = 600
PER_LIST = 100
# The guards' thresholds, lowered from 2,000 and 200 so that the traps are reached soon.
DIGIT_VARIANTS = 200
QUERY_VARIANTS = 100

WORDS = (
    "amber azure brass cedar cobalt copper coral ivory jade linen maple marble ochre olive "
    "onyx pearl pine plum quartz rust sage slate teak"
).split()
THINGS = "bench cabinet chair clock desk lamp mirror rug shelf sofa stool table vase".split()
STYLES = "classic compact modern nordic rustic tall wide".split()
FINISHES = "matte glossy oiled painted polished waxed".split()
NAMES = [" ".join(t) for t in itertools.product(FINISHES, WORDS, STYLES, THINGS)][:PRODUCTS]
assert len(NAMES) == PRODUCTS == len(set(NAMES))


def page(title: str, body: str) -> Resource:
    return Resource(200, HTML, f"<title>{title}</title><body>{body}</body>".encode())


def shop(path: str) -> Resource | None:
    if path == "/":
        lists = PRODUCTS // PER_LIST
        return page("Shop", "".join(f"<a href='/list/{i}.html'>page {i}</a>" for i in range(lists)))
    if m := re.fullmatch(r"/list/(\d+)\.html", path):
        first = int(m[1]) * PER_LIST
        return page(
            f"Catalogue page {m[1]}",
            "".join(
                f"<a href='/product/{n}.html'>{NAMES[n]}</a>"
                for n in range(first, first + PER_LIST)
            ),
        )
    if (m := re.fullmatch(r"/product/(\d+)\.html", path)) and int(m[1]) < PRODUCTS:
        n = int(m[1])
        related = [(n + k) % PRODUCTS for k in (1, 7, 31)]
        return page(
            NAMES[n],
            f"<h1>{NAMES[n]}</h1><a href='/'>Shop</a>"
            + "".join(f"<a href='/product/{r}.html'>{NAMES[r]}</a>" for r in related),
        )
    return None


def forum(path: str) -> Resource | None:
    if path == "/":
        return page("Forum", "<a href='/forum.php?start=0'>topics</a>")
    if m := re.fullmatch(r"/forum\.php\?start=(\d+)", path):
        start = int(m[1])
        if start >= THREADS:
            return None
        links = "".join(
            f"<a href='/viewtopic.php?t={t}'>{NAMES[t * 7 % PRODUCTS]}?</a>"
            for t in range(start, start + 50)
        )
        return page("Topics", links + f"<a href='/forum.php?start={start + 50}'>older</a>")
    if (m := re.fullmatch(r"/viewtopic\.php\?t=(\d+)", path)) and int(m[1]) < THREADS:
        t = int(m[1])
        return page(f"{NAMES[t * 7 % PRODUCTS]}?", "<p>Which one? <a href='/'>Forum</a></p>")
    return None


def events(path: str) -> Resource | None:
    """An endless calendar, one page a month, and an endless next page of no results."""
    if path == "/":
        return page(
            "Events", "<a href='/calendar/2026/12/'>calendar</a><a href='/search?page=1'>all</a>"
        )
    if m := re.fullmatch(r"/calendar/(\d+)/(\d+)/", path):
        year, month = int(m[1]), int(m[2])
        if not 1 <= month <= 12 or not 1 <= year <= 9999:
            return None
        before = (year, month - 1) if month > 1 else (year - 1, 12)
        after = (year, month + 1) if month < 12 else (year + 1, 1)
        days = "".join(f"<td>{d}</td>" for d in range(1, calendar.monthrange(year, month)[1] + 1))
        return page(
            f"Events in {calendar.month_name[month]} {year}",
            f"<a href='/calendar/{before[0]}/{before[1]}/'>« {calendar.month_name[before[1]]}</a>"
            f"<a href='/calendar/{after[0]}/{after[1]}/'>{calendar.month_name[after[1]]} »</a>"
            f"<a href='/'>Events</a><table><tr>{days}</tr></table><p>No events.</p>",
        )
    if m := re.fullmatch(r"/search\?page=(\d+)", path):
        n = int(m[1])
        return page(
            f"Results, page {n}", f"<p>No results.</p><a href='/search?page={n + 1}'>next</a>"
        )
    return None


SITES = {"shop-example.com": shop, "forum-example.com": forum, "events-example.com": events}


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    data = tmp_path_factory.mktemp("traps")
    web = LocalWeb(handler=lambda r: SITES[r.host](r.path) if r.host in SITES else None)
    with LocalWebServer(web) as server:
        result = run_linkcrawl(
            [
                "crawl",
                *(f"http://{host}/" for host in SITES),
                "--data",
                str(data),
                "--crawl-id",
                "t1",
                *FAST,
                "-s",
                f"LINKCRAWL_MAX_DIGIT_VARIANTS={DIGIT_VARIANTS}",
                "-s",
                f"LINKCRAWL_MAX_QUERY_VARIANTS={QUERY_VARIANTS}",
                "-s",
                "CONCURRENT_REQUESTS_PER_DOMAIN=8",
            ],
            proxy=server.proxy_url,
            timeout=600,
        )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    pages = pd.read_parquet(data / "pages").set_index("url")
    manifest = json.loads((data / "crawls" / "t1.json").read_text())
    return pages, manifest, result.stderr


def test_a_shop_with_numbered_products_is_crawled_whole(crawled):
    pages, _, _ = crawled
    products = pages[pages.index.str.match(r"^http://shop-example\.com/product/\d+\.html$")]
    assert len(products) == PRODUCTS
    assert (products.status == 200).all()


def test_a_forum_with_numbered_threads_is_crawled_whole(crawled):
    pages, _, _ = crawled
    threads = pages[pages.index.str.startswith("http://forum-example.com/viewtopic.php?t=")]
    assert len(threads) == THREADS
    assert (threads.status == 200).all()


def test_an_endless_calendar_and_empty_result_pages_are_cut(crawled):
    pages, _, _ = crawled
    months = pages.index.str.match(r"^http://events-example\.com/calendar/")
    assert DIGIT_VARIANTS <= months.sum() <= DIGIT_VARIANTS + 10
    searches = pages.index.str.startswith("http://events-example.com/search?")
    assert QUERY_VARIANTS <= searches.sum() <= QUERY_VARIANTS + 10


def test_every_skip_is_in_the_manifest_and_on_the_last_line(crawled):
    _, manifest, stderr = crawled
    skipped = manifest["skipped"]
    assert skipped["digit-variants"] >= 1  # each cut calendar page leaves 1-2 new months
    assert skipped["query-variants"] == 1  # the one next page after the last fetched one
    assert set(skipped) <= {"digit-variants", "query-variants"}
    last = stderr.strip().splitlines()[-1]
    assert f"digit-variants {skipped['digit-variants']:,}" in last, last
    assert "query-variants 1" in last, last


def test_repeated_numbers_are_not_repeated_segments():
    # Numbers repeat in real paths (a 10 x 10 x 10 box; 11:00 on 11 Nov 2011); relative-link
    # loops repeat words: /a/b/a/b/a/ is still one.
    spider = LinkSpider(seeds="http://shop-example.com/")
    spider.max_url_length = 2083
    spider.max_segment_repeats = 3
    spider.max_query_variants = spider.max_digit_variants = 0
    spider.query_variants, spider.digit_variants = Counter(), Counter()
    assert spider.trap_reason("http://shop-example.com/boxes/10/10/10/") is None
    assert spider.trap_reason("http://shop-example.com/news/2011/11/11/11/") is None
    assert spider.trap_reason("http://shop-example.com/a/b/a/b/a/") == "repeated-segments"


def _item(url: str, title: str, links: list[tuple[str, str]]) -> PageItem:
    return PageItem(
        url=url,
        fetched_at=0,
        domain="example.com",
        status=200,
        title=title,
        target=[t for t, _ in links],
        anchor=[a for _, a in links],
    )


def test_pattern_evidence_tells_repeating_pages_from_distinct_ones():
    evidence = PatternEvidence(100)
    month_key = pattern_keys("http://cal-example.com/2026/1/")[1]
    product_key = pattern_keys("http://shop-example.com/p/1.html")[1]
    evidence.watch(month_key, 200)
    evidence.watch(product_key, 200)
    for n in range(49):
        year, month = divmod(n, 12)
        evidence.observe(
            f"http://cal-example.com/{2000 + year}/{month + 1}/",
            _item(
                "",
                f"{calendar.month_name[month + 1]} {2000 + year}",
                [(f"http://cal-example.com/{2000 + year}/{month + 2}/", "next")],
            ),
        )
        evidence.observe(
            f"http://shop-example.com/p/{n}.html",
            _item("", NAMES[n], [(f"http://shop-example.com/p/{n + 1}.html", NAMES[n + 1])]),
        )
    # 49 pages: not judged yet; a pattern never watched is never judged
    assert evidence.verdict(month_key) is None and evidence.verdict(product_key) is None
    evidence.observe("http://cal-example.com/2100/1/", _item("", "January 2100", []))
    evidence.observe("http://shop-example.com/p/99.html", _item("", NAMES[99], []))
    assert evidence.verdict(month_key) is True  # 50 months, 13 looks
    assert evidence.verdict(product_key) is False  # 50 products, 50 looks
    assert evidence.verdict(pattern_keys("http://other-example.com/x/1")[1]) is None
