"""Monitoring across crawls: two real crawls of a local web that changes between them, and
what diff, history and broken make of them. Expected rows are counted by hand from the two
webs below."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from linkcrawl.errors import DatasetError
from linkcrawl.reports.monitor import DIFF_COLUMNS, broken, diff, history
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

B = "http://blog-example.com"
N = "http://news-example.net"
S = "http://shop-example.com"
MAKER = "http://maker-example.org/manual"  # another domain: checked, never crawled
SEEDS = [f"{B}/", f"{N}/", f"{S}/"]


def page(*links: str) -> str:
    return "<html><body>" + "".join(links) + "</body></html>"


def web_before() -> LocalWeb:
    web = LocalWeb()
    web.add(
        f"{B}/",
        page(
            '<a href="/review">Review</a>',
            '<a href="/links">Links</a>',
            '<a href="/old-post">Old</a>',
            '<a href="/gone-post">Gone</a>',
            f'<a href="{S}/">Shop</a>',
        ),
    )
    web.add(
        f"{B}/review",
        page(
            f'<a href="{S}/product">great product</a>',
            f'<a href="{S}/sale">sale</a>',
            f'<a href="{MAKER}">manual</a>',
        ),
    )
    web.add(
        f"{B}/links",
        page(f'<a href="{S}/">shop home</a>', f'<a rel="nofollow" href="{S}/faq">faq</a>'),
    )
    web.add(
        f"{B}/old-post",
        page(f'<a href="{S}/about">about the shop</a>', '<a href="/deep">deeper</a>'),
    )
    web.add(f"{B}/gone-post", page(f'<a href="{S}/contact">contact</a>'))
    web.add(f"{B}/deep", page(f'<a href="{S}/deal">deal</a>'))
    web.add(f"{N}/", page(f'<a href="{S}/">a shop</a>'))
    web.add(f"{S}/", page('<a href="/product">Product</a>', '<a href="/sale">Sale</a>'))
    for path in ("product", "sale", "sale-2026", "about", "contact", "faq", "deal", "new-arrivals"):
        web.add(f"{S}/{path}", page(f"<p>{path}</p>"))
    return web


def web_after() -> LocalWeb:
    """The same web a week later."""
    web = web_before()
    # a new page on the blog, linking to the shop
    web.add(
        f"{B}/",
        page(
            '<a href="/review">Review</a>',
            '<a href="/links">Links</a>',
            '<a href="/old-post">Old</a>',
            '<a href="/gone-post">Gone</a>',
            f'<a href="{S}/">Shop</a>',
            '<a href="/fresh">Fresh</a>',
        ),
    )
    web.add(f"{B}/fresh", page(f'<a href="{S}/">shop</a>'))
    # the sale moved (and the review followed it); a link added
    web.add(
        f"{B}/review",
        page(
            f'<a href="{S}/product">great product</a>',
            f'<a href="{S}/sale-2026">sale</a>',
            f'<a href="{MAKER}">manual</a>',
            f'<a href="{S}/new-arrivals">new arrivals</a>',
        ),
    )
    web.add(f"{S}/sale", Resource(301, {"Location": "/sale-2026"}, b""))
    # one link turned nofollow, another followed
    web.add(
        f"{B}/links",
        page(f'<a rel="nofollow" href="{S}/">shop home</a>', f'<a href="{S}/faq">faq</a>'),
    )
    web.add(f"{N}/", page(f'<a rel="sponsored" href="{S}/">a shop</a>'))
    # links removed from a page that is still there; /deep is no longer reached
    web.add(f"{B}/old-post", page("<p>rewritten</p>"))
    # pages turned 404
    del web.pages[("blog-example.com", "/gone-post")]
    del web.pages[("shop-example.com", "/product")]
    return web


@pytest.fixture(scope="module")
def two_crawls(tmp_path_factory):
    data = tmp_path_factory.mktemp("monitor")
    for crawl_id, web in (("c1", web_before()), ("c2", web_after())):
        with LocalWebServer(web) as server:
            result = run_linkcrawl(
                [
                    "crawl",
                    *SEEDS,
                    "--check-external",
                    *("--data", str(data), "--crawl-id", crawl_id),
                    *FAST,
                ],
                proxy=server.proxy_url,
            )
        assert result.returncode == 0, result.stderr
    return data


def rows(df: pd.DataFrame) -> set[tuple]:
    return set(df[DIFF_COLUMNS].itertuples(index=False, name=None))


# Backlinks of the shop that changed, with anchor and follow as the csv shows them.
SHOP_CHANGES = {
    ("lost", f"{B}/old-post", f"{S}/about", "about the shop", True, "link-removed"),
    ("lost", f"{B}/gone-post", f"{S}/contact", "contact", True, "source-gone"),
    ("lost", f"{B}/deep", f"{S}/deal", "deal", True, "source-not-crawled"),
    ("lost", f"{B}/review", f"{S}/sale", "sale", True, "target-redirects"),
    ("lost", f"{B}/links", f"{S}/", "shop home", False, "now-nofollow"),
    ("lost", f"{N}/", f"{S}/", "a shop", False, "now-nofollow"),
    ("new", f"{B}/fresh", f"{S}/", "shop", True, "source-new"),
    ("new", f"{B}/review", f"{S}/sale-2026", "sale", True, ""),
    ("new", f"{B}/review", f"{S}/new-arrivals", "new arrivals", True, ""),
    ("new", f"{B}/links", f"{S}/faq", "faq", True, "now-follow"),
}


def test_diff_of_a_target_reports_each_change_with_its_reason(two_crawls):
    changes = diff(two_crawls, target="shop-example.com")
    assert list(changes.columns) == DIFF_COLUMNS
    assert rows(changes) == SHOP_CHANGES
    assert len(changes) == len(SHOP_CHANGES)  # no duplicate rows
    assert (changes.change.iloc[:6] == "lost").all()
    assert changes.attrs["old_id"] == "c1" and changes.attrs["new_id"] == "c2"


def test_diff_of_everything_adds_the_internal_changes(two_crawls):
    changes = diff(two_crawls, "c1", "c2")
    internal = {
        ("lost", f"{B}/old-post", f"{B}/deep", "deeper", True, "link-removed"),
        ("new", f"{B}/", f"{B}/fresh", "Fresh", True, ""),
        # /sale now answers 301: its redirect is a link of the graph
        ("new", f"{S}/sale", f"{S}/sale-2026", "", True, ""),
    }
    assert rows(changes) == SHOP_CHANGES | internal


def test_diff_the_other_way_round(two_crawls):
    changes = diff(two_crawls, "c2", "c1", target="shop-example.com")
    reasons = {(c, s, t): r for c, s, t, _, _, r in rows(changes)}
    # the old crawl reached /deep: its link is new on a page c2 did not fetch
    assert reasons[("new", f"{B}/deep", f"{S}/deal")] == "source-new"
    assert reasons[("lost", f"{B}/fresh", f"{S}/")] == "source-not-crawled"
    assert reasons[("lost", f"{B}/links", f"{S}/faq")] == "now-nofollow"
    assert reasons[("new", f"{B}/links", f"{S}/")] == "now-follow"
    assert reasons[("lost", f"{B}/review", f"{S}/new-arrivals")] == "link-removed"
    assert len(changes) == len(SHOP_CHANGES)


def test_diff_by_url_prefix(two_crawls):
    changes = diff(two_crawls, target=f"{S}/sale")
    assert rows(changes) == {r for r in SHOP_CHANGES if r[2].startswith(f"{S}/sale")}


def test_diff_bad_input(two_crawls, tmp_path):
    with pytest.raises(DatasetError, match="no crawl 'c9'"):
        diff(two_crawls, "c1", "c9")
    with pytest.raises(DatasetError, match="itself"):
        diff(two_crawls, "c2", "c2")
    with pytest.raises(DatasetError, match="itself"):
        diff(two_crawls, old_id="c2")  # the new crawl defaults to the newest: c2
    with pytest.raises(DatasetError, match="two finished crawls"):
        diff(two_crawls, new_id="c1")  # no finished crawl before c1
    with pytest.raises(DatasetError, match="not a linkcrawl data directory"):
        diff(tmp_path)


def test_history_first_and_last_seen(two_crawls):
    links, per_crawl = history(two_crawls, "shop-example.com")
    seen = {
        (r.source, r.target): (r.first_seen, r.last_seen, r.crawls, r.live)
        for r in links.itertuples()
    }
    both = ("c1", "c2", 2, True)
    first = ("c1", "c1", 1, False)
    second = ("c2", "c2", 1, True)
    assert seen == {
        (f"{B}/", f"{S}/"): both,
        (f"{B}/review", f"{S}/product"): both,
        (f"{B}/links", f"{S}/"): both,
        (f"{B}/links", f"{S}/faq"): both,
        (f"{N}/", f"{S}/"): both,
        (f"{B}/review", f"{S}/sale"): first,
        (f"{B}/old-post", f"{S}/about"): first,
        (f"{B}/gone-post", f"{S}/contact"): first,
        (f"{B}/deep", f"{S}/deal"): first,
        (f"{B}/review", f"{S}/sale-2026"): second,
        (f"{B}/review", f"{S}/new-arrivals"): second,
        (f"{B}/fresh", f"{S}/"): second,
    }
    started = {
        c: pd.Timestamp(json.loads((two_crawls / "crawls" / f"{c}.json").read_text())["started_at"])
        for c in ("c1", "c2")
    }
    for r in links.itertuples():
        assert r.first_seen_at == started[r.first_seen]
        assert r.last_seen_at == started[r.last_seen]
    # anchor and follow as last seen
    last = links.set_index(["source", "target"])
    assert not last.loc[(f"{N}/", f"{S}/"), "follow"]
    assert last.loc[(f"{B}/links", f"{S}/faq"), "follow"]
    # c1: blog (8 links) and news (1), both followed; c2: blog (7), news sponsored only
    assert per_crawl[
        ["crawl_id", "referring_domains", "followed_referring_domains", "links"]
    ].values.tolist() == [["c1", 2, 2, 9], ["c2", 2, 1, 8]]


def test_history_of_a_target_without_backlinks(two_crawls):
    links, per_crawl = history(two_crawls, "nowhere-example.com")
    assert links.empty
    assert per_crawl.referring_domains.tolist() == [0, 0]


def test_broken_lists_404_targets_with_their_linking_pages(two_crawls):
    found = broken(two_crawls)  # the newest finished crawl: c2
    assert found.attrs["crawl_id"] == "c2"
    got = set(
        found[["target", "status", "source", "internal", "anchor"]].itertuples(
            index=False, name=None
        )
    )
    assert got == {
        (f"{S}/product", 404, f"{B}/review", False, "great product"),
        (f"{S}/product", 404, f"{S}/", True, "Product"),
        (f"{B}/gone-post", 404, f"{B}/", True, "Gone"),
        # checked with --check-external, never crawled
        (MAKER, 404, f"{B}/review", False, "manual"),
    }
    # the product page has links from two domains: it comes first
    assert found.target.iloc[0] == f"{S}/product"
    assert found.referring_domains.iloc[0] == 2


def test_broken_narrowed_to_a_target_and_an_older_crawl(two_crawls):
    shop = broken(two_crawls, target="shop-example.com")
    assert set(zip(shop.target, shop.source, strict=True)) == {
        (f"{S}/product", f"{B}/review"),
        (f"{S}/product", f"{S}/"),
    }
    before = broken(two_crawls, crawl_id="c1")
    assert set(zip(before.target, before.source, strict=True)) == {(MAKER, f"{B}/review")}
