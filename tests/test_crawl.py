"""End-to-end crawls of the demo web served on 127.0.0.1: what lands in Parquet.

Expected edges are read off the demo web's HTML by hand (linkcrawl/demo/web/).
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from linkcrawl import open_dataset

ALPHA = "http://www.alpha-example.com/"
ECHO = "http://www.echo-example.io/"


@pytest.fixture(scope="module")
def edges(demo_crawl):
    data, crawl_id = demo_crawl
    return pd.read_parquet(data / "edges", filters=[("crawl_id", "=", crawl_id)])


@pytest.fixture(scope="module")
def pages(demo_crawl):
    data, crawl_id = demo_crawl
    return pd.read_parquet(data / "pages", filters=[("crawl_id", "=", crawl_id)])


def edge(edges, source, target, **where):
    rows = edges[(edges.source == source) & (edges.target == target)]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, f"expected one edge {source} -> {target} {where}, got {len(rows)}"
    return rows.iloc[0]


def test_every_reachable_page_is_fetched(pages):
    fetched = pages[pages.status.notna()]
    # 55 HTML pages in the demo web; private/secret.html is disallowed by robots.txt.
    html = fetched[fetched.content_type.str.startswith("text/html", na=False)]
    assert len(html[html.status == 200]) == 54
    assert f"{ALPHA}private/secret.html" not in set(fetched.url)
    assert not pages.url.duplicated().any()


def test_robots_disallowed_page_is_a_pages_row_with_an_error(pages):
    row = pages[pages.url == f"{ALPHA}private/secret.html"].iloc[0]
    assert pd.isna(row.status)
    assert row.error == "robots-disallowed"


def test_404_is_recorded(pages):
    row = pages[pages.url == f"{ALPHA}missing-page.html"].iloc[0]
    assert row.status == 404


def test_nofollow_ugc_sponsored_are_not_followed(edges):
    thread = "http://www.delta-example.net/threads/best-news-sites.html"
    e = edge(edges, thread, f"{ALPHA}sections/tech.html")
    assert (e.rel, bool(e.follow)) == ("ugc nofollow", False)
    e = edge(edges, thread, f"{ALPHA}about.html")
    assert (e.rel, bool(e.follow)) == ("ugc", False)
    e = edge(
        edges,
        "http://www.delta-example.net/sponsored/spring-sale.html",
        "http://www.bravo-example.co.uk/products/",
    )
    assert (e.rel, bool(e.follow)) == ("sponsored", False)
    e = edge(edges, "http://charlie-example.org/blog/media-literacy.html", ALPHA)
    assert (e.rel, bool(e.follow), e.position) == ("nofollow", False, "content")
    e = edge(edges, "http://charlie-example.org/", f"{ALPHA}sections/world.html")
    assert bool(e.follow) and e.rel == ""


def test_positions_in_three_template_styles(edges):
    # HTML5 elements
    assert edge(edges, ALPHA, f"{ALPHA}sections/world.html").position == "navigation"
    assert edge(edges, ALPHA, f"{ALPHA}stories/heatwave.html").position == "content"
    assert edge(edges, ALPHA, ECHO).position == "sidebar"
    assert edge(edges, ALPHA, f"{ALPHA}private/secret.html").position == "footer"
    # div ids and classes
    bravo = "http://www.bravo-example.co.uk/"
    assert edge(edges, bravo, f"{bravo}products/").position == "navigation"
    assert edge(edges, bravo, ALPHA).position == "sidebar"
    assert edge(edges, bravo, f"{bravo}terms.html").position == "footer"
    # ARIA roles
    delta = "http://www.delta-example.net/"
    assert edge(edges, delta, delta).position == "header"
    assert edge(edges, delta, f"{delta}members/").position == "navigation"
    assert edge(edges, delta, ECHO).position == "sidebar"
    assert edge(edges, delta, f"{delta}sponsored/spring-sale.html").position == "footer"


def test_sitewide_footer_link(edges):
    foxtrot = edges[(edges.source_domain == "foxtrot-example.com") & (edges.target == ALPHA)]
    assert len(foxtrot) == 6
    assert set(foxtrot.position) == {"footer"}
    assert set(foxtrot.anchor) == {"best alpha news"}


def test_redirect_is_an_edge_and_a_page(edges, pages):
    e = edge(edges, f"{ALPHA}old-news", "http://news.alpha-example.com/")
    assert e.kind == "redirect" and pd.isna(e.position) and bool(e.follow)
    assert pages[pages.url == f"{ALPHA}old-news"].iloc[0].status == 301
    # and the page linking to the redirecting URL keeps its own edge
    edge(edges, f"{ECHO}posts/redirects.html", f"{ALPHA}old-news", kind="anchor")


def test_each_page_says_how_it_was_found_and_each_link_that_it_is_in_the_html(edges, pages):
    # Without rendering every link is in the HTML as served.
    assert set(edges["origin"]) == {"html"}
    # (every redirect target of the demo web is the target of an anchor too)
    assert {"seed", "link"} <= set(pages["discovered_by"]) <= {"seed", "link", "redirect"}
    assert (pages[pages.discovered_by == "seed"].depth == 0).all()
    assert (pages[pages.discovered_by != "seed"].depth > 0).all()
    # A URL found by a link is the target of a link; one found by a redirect, of a redirect.
    by_kind = edges.groupby("target")["kind"].agg(set)
    for row in pages[pages.discovered_by != "seed"].itertuples():
        kinds = by_kind.get(row.url, set())
        if row.discovered_by == "redirect":
            assert kinds & {"redirect", "refresh"}, row.url
        else:
            assert kinds - {"redirect", "refresh"}, row.url


def test_meta_refresh_canonical_and_image(edges):
    e = edge(edges, f"{ECHO}moved.html", f"{ECHO}new-home.html")
    assert (e.kind, e.position) == ("refresh", "head")
    news = "http://news.alpha-example.com/2024/"
    e = edge(edges, f"{news}election-results-print.html", f"{news}election-results.html")
    assert (e.kind, e.position, e.rel) == ("canonical", "head", "canonical")
    e = edge(edges, ECHO, "http://www.bravo-example.co.uk/")
    assert (e.kind, e.anchor) == ("image", "Bravo Shop banner")


def test_base_href_and_non_ascii_anchor(edges):
    page = "http://news.alpha-example.com/past-coverage.html"
    edge(
        edges,
        page,
        "http://news.alpha-example.com/archive/2022-floods.html",
        anchor="the 2022 floods",
    )
    edge(edges, page, "http://news.alpha-example.com/2024/city-budget.html")
    bravo = "http://www.bravo-example.co.uk/"
    edge(edges, bravo, f"{bravo}products/cafe-creme.html", anchor="Café crème")


def test_meta_robots_nofollow_page(edges, pages):
    page = "http://golf-example.github.io/bookmarks.html"
    assert len(edges[edges.source == page]) == 11
    assert not edges[edges.source == page].follow.any()
    assert bool(pages[pages.url == page].iloc[0].nofollow)


def test_non_http_links_are_not_edges_and_external_targets_are_not_crawled(edges, pages):
    assert not edges.target.str.match(r"^(mailto|tel|javascript):").any()
    assert edges.target.str.match(r"^https?://").all()
    e = edge(edges, "http://charlie-example.org/resources.html", "http://unknown-example.com/")
    assert e.target_domain == "unknown-example.com" and not e.internal
    assert "http://unknown-example.com/" not in set(pages.url)


def test_registered_domains(edges):
    domains = set(edges.source_domain)
    assert domains == {
        "alpha-example.com",
        "bravo-example.co.uk",
        "charlie-example.org",
        "delta-example.net",
        "echo-example.io",
        "foxtrot-example.com",
        "golf-example.github.io",
    }
    internal = edges[edges.internal]
    assert (internal.source_domain == internal.target_domain).all()
    # news.alpha and www.alpha are one registered domain
    e = edge(edges, ALPHA, "http://news.alpha-example.com/", position="navigation")
    assert bool(e.internal)


def test_ordinals_are_document_order(edges):
    for _, group in edges.groupby("source"):
        assert sorted(group.ordinal) == list(range(len(group)))


def test_manifest_and_reader(demo_crawl, edges, pages):
    data, crawl_id = demo_crawl
    manifest = json.loads((data / "crawls" / f"{crawl_id}.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["counts"]["edges"] == len(edges)
    assert manifest["counts"]["pages"] == len(pages)
    ds = open_dataset(data)
    assert [c["crawl_id"] for c in ds.crawls()] == [crawl_id]
    assert len(ds.edges(crawl_id)) == len(edges)
    assert not (data / ".staging").exists() or not any((data / ".staging").iterdir())
