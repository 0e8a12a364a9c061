"""Sitemaps (issue 18): robots.txt Sitemap lines, the /sitemap.xml fallback, indexes and
gzip, the protocol's limits, orphan pages, and the sitemaps table read back by pandas,
DuckDB and polars. Each crawl is the real command line in a subprocess, against a local
web; lastmod values are checked against datetimes written here by hand."""

from __future__ import annotations

import gzip
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from linkcrawl import open_dataset
from linkcrawl.crawl.sitemaps import parse_lastmod, parse_priority
from linkcrawl.dataset.schemas import SITEMAPS_SCHEMA
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from tests.conftest import FAST, run_linkcrawl

SITE = "http://www.map-example.com"
FALLBACK = "http://fallback-example.net"
PLAIN = "http://plain-example.org"
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def xml(body: str) -> Resource:
    return Resource(200, {"Content-Type": "application/xml"}, body.encode())


def urlset(*entries: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {NS}>{"".join(entries)}</urlset>'


def url_entry(loc: str, extra: str = "") -> str:
    return f"<url><loc>{loc}</loc>{extra}</url>"


def index(*locs: str) -> str:
    children = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f'<?xml version="1.0"?><sitemapindex {NS}>{children}</sitemapindex>'


def mapped_web() -> LocalWeb:
    """Three sites: one whose robots.txt names an index (a gzip child, a plain child, a
    malformed one and a missing one), one with only /sitemap.xml, one with no sitemap."""
    web = LocalWeb()
    web.add(
        f"{SITE}/robots.txt",
        Resource(
            200,
            {"Content-Type": "text/plain"},
            f"User-agent: *\nDisallow: /private/\nSitemap: {SITE}/sitemap_index.xml\n".encode(),
        ),
    )
    web.add(f"{SITE}/", '<a href="/a.html">a</a> <a href="/old">old</a>')
    web.add(f"{SITE}/a.html", '<a href="/">home</a>')
    web.add(f"{SITE}/old", Resource(301, {"Location": "/moved.html"}, b""))
    web.add(f"{SITE}/moved.html", "<title>moved</title>")
    web.add(f"{SITE}/orphan.html", "<title>orphan</title>")
    web.add(f"{SITE}/blog/post.html", '<a href="/blog/from-orphan.html">next</a>')
    web.add(f"{SITE}/blog/from-orphan.html", "<title>linked from an orphan</title>")
    web.add(
        f"{SITE}/sitemap_index.xml",
        xml(
            index(
                f"{SITE}/sitemaps/pages.xml.gz",
                f"{SITE}/sitemaps/blog.xml",
                f"{SITE}/sitemaps/broken.xml",
                f"{SITE}/sitemaps/missing.xml",
            )
        ),
    )
    pages = urlset(
        url_entry(f"{SITE}/", "<lastmod>2024-05-01</lastmod><priority>1.0</priority>"),
        url_entry(f"{SITE}/a.html", "<lastmod>2024-05-01T10:30:00+02:00</lastmod>"),
        url_entry(
            f"{SITE}/orphan.html",
            "<lastmod>2023</lastmod><changefreq>Weekly</changefreq><priority>0.3</priority>",
        ),
        url_entry("http://other-example.org/elsewhere"),  # a row, out of scope: not crawled
        url_entry(f"{SITE}/private/hidden.html"),  # robots.txt disallows it
    )
    web.add(
        f"{SITE}/sitemaps/pages.xml.gz",
        Resource(200, {"Content-Type": "application/x-gzip"}, gzip.compress(pages.encode())),
    )
    web.add(f"{SITE}/sitemaps/blog.xml", xml(urlset(url_entry(f"{SITE}/blog/post.html"))))
    web.add(f"{SITE}/sitemaps/broken.xml", xml("this is not a sitemap <<"))
    web.add(
        f"{FALLBACK}/robots.txt", Resource(200, {"Content-Type": "text/plain"}, b"User-agent: *\n")
    )
    web.add(f"{FALLBACK}/", "<title>fallback home</title>")
    web.add(f"{FALLBACK}/lonely.html", "<title>only in /sitemap.xml</title>")
    web.add(
        f"{FALLBACK}/sitemap.xml",
        xml(urlset(url_entry(f"{FALLBACK}/"), url_entry(f"{FALLBACK}/lonely.html"))),
    )
    web.add(f"{PLAIN}/", "<title>no sitemap here</title>")
    return web


def crawl(web, data, *args, crawl_id="c1"):
    named = ["--crawl-id", crawl_id] if crawl_id else []
    with LocalWebServer(web) as server:
        result = run_linkcrawl(
            ["crawl", *args, "--data", str(data), *named, *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    return result


def manifest(data, crawl_id="c1"):
    return json.loads((data / "crawls" / f"{crawl_id}.json").read_text())


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    """One crawl of the three sites, sitemaps on (the default): (data, web)."""
    data = tmp_path_factory.mktemp("sitemaps")
    web = mapped_web()
    crawl(web, data, f"{SITE}/", f"{FALLBACK}/", f"{PLAIN}/")
    return data, web


@pytest.mark.slow
def test_sitemap_pages_enter_the_crawl_with_null_depth(mapped):
    data, _ = mapped
    pages = pd.read_parquet(data / "pages").set_index("url")
    row = pages.loc
    # Reached by links: their click depth, found by a link (or the seed).
    assert row[f"{SITE}/", "discovered_by"] == "seed" and row[f"{SITE}/", "depth"] == 0
    assert row[f"{SITE}/a.html", "discovered_by"] == "link"
    assert row[f"{SITE}/a.html", "depth"] == 1
    # Only a redirect reaches it.
    assert row[f"{SITE}/moved.html", "discovered_by"] == "redirect"
    # In a sitemap only: no click depth.
    for url in (f"{SITE}/orphan.html", f"{SITE}/blog/post.html", f"{FALLBACK}/lonely.html"):
        assert row[url, "discovered_by"] == "sitemap", url
        assert pd.isna(row[url, "depth"]), url
        assert row[url, "status"] == 200
    # Linked only from a page no link reaches: found by a link, depth still unknown.
    assert row[f"{SITE}/blog/from-orphan.html", "discovered_by"] == "link"
    assert pd.isna(row[f"{SITE}/blog/from-orphan.html", "depth"])
    # Out of scope, or disallowed by robots.txt: a row in the sitemaps table, not crawled.
    assert "http://other-example.org/elsewhere" not in pages.index
    assert row[f"{SITE}/private/hidden.html", "error"] == "robots-disallowed"
    assert pages.index.is_unique


@pytest.mark.slow
def test_failed_sitemaps_are_pages_rows_and_the_crawl_goes_on(mapped):
    data, web = mapped
    pages = pd.read_parquet(data / "pages").set_index("url")
    assert pages.loc[f"{SITE}/sitemaps/broken.xml", "error"] == "sitemap-malformed"
    assert pages.loc[f"{SITE}/sitemaps/missing.xml", "error"] == "sitemap-http-error"
    assert pages.loc[f"{SITE}/sitemaps/missing.xml", "status"] == 404
    # Files read whole are not pages (they are not nodes of the link graph).
    for url in (
        f"{SITE}/sitemap_index.xml",
        f"{SITE}/sitemaps/blog.xml",
        f"{FALLBACK}/sitemap.xml",
    ):
        assert url not in pages.index
    # No sitemap at all: the /sitemap.xml guess that answers 404 is no row.
    assert f"{PLAIN}/sitemap.xml" not in pages.index
    assert ("GET", "plain-example.org", "/sitemap.xml") in web.requests
    # The Sitemap lines come from the robots.txt the crawl read for its rules: one fetch.
    assert web.requests.count(("GET", "www.map-example.com", "/robots.txt")) == 1
    record = manifest(data)
    assert record["status"] == "finished"
    assert record["counts"]["sitemaps"] == 8
    assert record["counts"]["errors"] == 3  # broken.xml, missing.xml, the disallowed page


@pytest.mark.slow
def test_sitemaps_table_reads_back_in_pandas_duckdb_and_polars(mapped):
    data, _ = mapped
    gz = f"{SITE}/sitemaps/pages.xml.gz"
    expected = {
        # url: (sitemap, lastmod, changefreq, priority), lastmod written by hand in UTC
        f"{SITE}/": (gz, datetime(2024, 5, 1, tzinfo=UTC), None, 1.0),
        f"{SITE}/a.html": (gz, datetime(2024, 5, 1, 8, 30, tzinfo=UTC), None, None),
        f"{SITE}/orphan.html": (gz, datetime(2023, 1, 1, tzinfo=UTC), "weekly", 0.3),
        "http://other-example.org/elsewhere": (gz, None, None, None),
        f"{SITE}/private/hidden.html": (gz, None, None, None),
        f"{SITE}/blog/post.html": (f"{SITE}/sitemaps/blog.xml", None, None, None),
        f"{FALLBACK}/": (f"{FALLBACK}/sitemap.xml", None, None, None),
        f"{FALLBACK}/lonely.html": (f"{FALLBACK}/sitemap.xml", None, None, None),
    }
    frame = pd.read_parquet(data / "sitemaps")
    assert len(frame) == 8 and set(frame.crawl_id) == {"c1"}
    for r in frame.itertuples():
        sitemap, lastmod, changefreq, priority = expected[r.url]
        assert r.sitemap == sitemap
        assert (pd.isna(r.lastmod) and lastmod is None) or r.lastmod == pd.Timestamp(lastmod)
        assert (r.changefreq if pd.notna(r.changefreq) else None) == changefreq
        assert (r.priority if pd.notna(r.priority) else None) == priority
    assert frame.loc[frame.url == "http://other-example.org/elsewhere", "domain"].item() == (
        "other-example.org"
    )
    assert str(frame.lastmod.dtype) == "datetime64[ms, UTC]"
    files = pq.ParquetDataset(data / "sitemaps" / "crawl_id=c1")
    assert files.schema.remove_metadata().equals(SITEMAPS_SCHEMA.remove_metadata())
    glob = str(data / "sitemaps" / "*" / "*.parquet")
    con = duckdb.connect()
    n, orphan_lastmod = con.execute(
        f"SELECT count(*), max(lastmod) FILTER (url LIKE '%orphan%') "
        f"FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchone()
    assert n == 8 and orphan_lastmod == datetime(2023, 1, 1, tzinfo=UTC)
    polars = pl.read_parquet(glob, hive_partitioning=True)
    assert polars.height == 8
    assert polars.filter(pl.col("url") == f"{SITE}/orphan.html")["priority"].item() == 0.3
    assert sorted(open_dataset(data).arrow("sitemaps", "c1").to_table()["url"].to_pylist()) == (
        sorted(expected)
    )


@pytest.mark.slow
def test_orphan_query_of_the_docs_finds_the_orphans(mapped):
    """The DuckDB query in docs/dataset.md, run as it is written there."""
    data, _ = mapped
    text = (Path(__file__).parent.parent / "docs" / "dataset.md").read_text()
    block = text.split("<!-- query: orphans -->", 1)[1]
    query = block.split("```sql", 1)[1].split("```", 1)[0].replace("'data/", f"'{data}/")
    assert query.count(f"'{data}/") == 3
    found = {row[0] for row in duckdb.sql(query).fetchall()}
    assert found == {
        f"{SITE}/orphan.html",
        f"{SITE}/blog/post.html",
        f"{SITE}/private/hidden.html",  # disallowed by robots.txt, linked by none
        f"{FALLBACK}/lonely.html",
    }


@pytest.mark.slow
def test_workers_read_the_same_sitemaps(mapped, tmp_path):
    """--workers 2: each worker reads its own seeds' sitemaps; the pages fetched and the
    sitemap rows are those of the one-process crawl."""
    one, _ = mapped
    crawl(mapped_web(), tmp_path, f"{SITE}/", f"{FALLBACK}/", f"{PLAIN}/", "--workers", "2")
    columns = ["sitemap", "url", "lastmod", "changefreq", "priority"]
    for table, key in (("pages", ["url"]), ("sitemaps", columns)):
        want = pd.read_parquet(one / table)[key].sort_values(key).reset_index(drop=True)
        got = pd.read_parquet(tmp_path / table)[key].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want)
    pages = pd.read_parquet(tmp_path / "pages").set_index("url")
    assert pages.loc[f"{SITE}/orphan.html", "discovered_by"] == "sitemap"
    assert manifest(tmp_path)["counts"]["sitemaps"] == 8


@pytest.mark.slow
def test_max_depth_crawls_sitemap_pages_but_not_their_links(tmp_path):
    """Under --max-depth the site's sitemap entries are still crawled; the links on pages
    of unknown depth are not followed (no depth to bound them by), and are counted."""
    crawl(mapped_web(), tmp_path, f"{SITE}/", "--max-depth", "1")
    pages = pd.read_parquet(tmp_path / "pages").set_index("url")
    assert pages.loc[f"{SITE}/blog/post.html", "discovered_by"] == "sitemap"
    assert f"{SITE}/blog/from-orphan.html" not in pages.index
    assert manifest(tmp_path)["skipped"]["max-depth"] >= 1


@pytest.mark.slow
def test_robots_txt_is_read_for_its_sitemaps_when_its_rules_are_not_obeyed(tmp_path):
    web = mapped_web()
    crawl(web, tmp_path, f"{SITE}/", "-s", "ROBOTSTXT_OBEY=0")
    pages = pd.read_parquet(tmp_path / "pages").set_index("url")
    assert pages.loc[f"{SITE}/orphan.html", "discovered_by"] == "sitemap"
    # No rules obeyed: requested (the web has no such page), not robots-disallowed.
    assert pages.loc[f"{SITE}/private/hidden.html", "status"] == 404
    assert web.requests.count(("GET", "www.map-example.com", "/robots.txt")) == 1


@pytest.mark.slow
def test_an_index_is_read_one_file_at_a_time(tmp_path):
    """Streaming: a site's next sitemap file is fetched only once the pages of the one
    before are, so an index never has all its files' URLs queued at once (the 20 pages of
    a file are all requested between it and the next); two sites go on side by side."""
    hosts = ("www.index-example.com", "www.other-index-example.org")
    web = LocalWeb()
    for host in hosts:
        web.add(f"http://{host}/", "<title>home</title>")
        children = [f"http://{host}/maps/{k}.xml" for k in range(3)]
        web.add(f"http://{host}/sitemap.xml", xml(index(*children)))
        for k, child in enumerate(children):
            entries = [url_entry(f"http://{host}/p{k}-{i}") for i in range(20)]
            web.add(child, xml(urlset(*entries)))
            for i in range(20):
                web.add(f"http://{host}/p{k}-{i}", "<title>p</title>")
    crawl(web, tmp_path, *(f"http://{host}/" for host in hosts))
    for host in hosts:
        order = [path for _, h, path in web.requests if h == host]
        files = [order.index(f"/maps/{k}.xml") for k in range(3)]
        assert [b - a for a, b in itertools.pairwise(files)] == [21, 21], order
    # Side by side: each site's first file is read before the other's last.
    first = {h: web.requests.index(("GET", h, "/maps/0.xml")) for h in hosts}
    last = {h: web.requests.index(("GET", h, "/maps/2.xml")) for h in hosts}
    assert first[hosts[0]] < last[hosts[1]] and first[hosts[1]] < last[hosts[0]]
    assert len(pd.read_parquet(tmp_path / "pages")) == 2 * 61
    assert len(pd.read_parquet(tmp_path / "sitemaps")) == 2 * 60


@pytest.mark.slow
def test_no_sitemaps_reads_none(tmp_path):
    web = mapped_web()
    crawl(web, tmp_path, f"{SITE}/", f"{FALLBACK}/", "--no-sitemaps")
    pages = pd.read_parquet(tmp_path / "pages")
    assert set(pages.discovered_by) == {"seed", "link", "redirect"}
    assert not any("sitemap" in path for _, _, path in web.requests)
    assert not (tmp_path / "sitemaps" / "crawl_id=c1").exists() or not list(
        (tmp_path / "sitemaps" / "crawl_id=c1").glob("*.parquet")
    )
    assert manifest(tmp_path)["counts"]["sitemaps"] == 0


@pytest.mark.slow
def test_limits_are_enforced_and_counted(tmp_path):
    host = "http://www.limits-example.com"
    web = LocalWeb()
    many = urlset(*(url_entry(f"{host}/p{i}.html") for i in range(5)))
    big = urlset(*(url_entry(f"{host}/big{i}.html") for i in range(100)))
    # Small on the wire, over the limit once gunzipped: read no further than the limit.
    bomb = gzip.compress(urlset(url_entry(f"{host}/x.html")).encode() + b" " * 50_000)
    robots = "".join(f"Sitemap: {host}/{name}\n" for name in ("many.xml", "big.xml", "bomb.xml.gz"))
    web.add(f"{host}/robots.txt", Resource(200, {"Content-Type": "text/plain"}, robots.encode()))
    web.add(f"{host}/", "<title>home</title>")
    web.add(f"{host}/many.xml", xml(many))
    web.add(f"{host}/big.xml", xml(big))
    web.add(f"{host}/bomb.xml.gz", Resource(200, {"Content-Type": "application/gzip"}, bomb))
    for i in range(5):
        web.add(f"{host}/p{i}.html", "<title>p</title>")
    assert len(big) > 3000 and len(bomb) < 3000
    limits = ["-s", "LINKCRAWL_SITEMAP_MAX_URLS=3", "-s", "LINKCRAWL_SITEMAP_MAX_BYTES=3000"]
    crawl(web, tmp_path, f"{host}/", *limits)
    pages = pd.read_parquet(tmp_path / "pages").set_index("url")
    assert pages.loc[f"{host}/many.xml", "error"] == "sitemap-too-many-urls"
    assert pages.loc[f"{host}/big.xml", "error"] == "sitemap-too-large"
    assert pages.loc[f"{host}/bomb.xml.gz", "error"] == "sitemap-too-large"
    sitemaps = pd.read_parquet(tmp_path / "sitemaps")
    # The first 3 entries are kept, and crawled; the rest are counted.
    assert sorted(sitemaps.url) == [f"{host}/p{i}.html" for i in range(3)]
    assert {f"{host}/p{i}.html" for i in range(3)} <= set(pages.index)
    assert f"{host}/p3.html" not in pages.index
    skipped = manifest(tmp_path)["skipped"]
    assert skipped["sitemap-urls-over-limit"] == 2
    assert skipped["sitemap-too-large"] == 2


@pytest.mark.slow
def test_max_pages_bounds_what_sitemaps_add(tmp_path):
    host = "http://www.bound-example.com"
    web = LocalWeb()
    web.add(f"{host}/", '<a href="/linked.html">linked</a>')
    web.add(f"{host}/linked.html", "<title>linked</title>")
    for i in range(20):
        web.add(f"{host}/orphan{i}.html", "<title>orphan</title>")
    web.add(
        f"{host}/sitemap.xml",
        xml(urlset(*(url_entry(f"{host}/orphan{i}.html") for i in range(20)))),
    )
    crawl(web, tmp_path, f"{host}/", "--max-pages", "5")
    pages = pd.read_parquet(tmp_path / "pages")
    assert len(pages) == 5
    # The links first: both pages they reach are in, then 3 of the sitemap's.
    assert {f"{host}/", f"{host}/linked.html"} <= set(pages.url)
    assert (pages.discovered_by == "sitemap").sum() == 3
    # The entries are data all the same.
    assert len(pd.read_parquet(tmp_path / "sitemaps")) == 20
    assert manifest(tmp_path)["skipped"]["max-pages"] == 17


@pytest.mark.slow
def test_resume_reads_sitemaps_again_without_duplicate_rows(mapped, tmp_path):
    """A crawl stopped before its sitemap pages were fetched: the resume fetches them, from
    the sitemaps read again, and writes no sitemap file's rows twice."""
    import shutil

    source, _ = mapped
    data = tmp_path / "data"
    shutil.copytree(source, data)
    pages_dir = data / "pages" / "crawl_id=c1"
    pages = pq.read_table(pages_dir)
    gone = {f"{SITE}/orphan.html", f"{SITE}/blog/post.html", f"{SITE}/blog/from-orphan.html"}
    kept = pages.filter([u not in gone for u in pages["url"].to_pylist()])
    shutil.rmtree(pages_dir)
    pages_dir.mkdir()
    pq.write_table(kept.select(kept.schema.names), pages_dir / "part-00000.parquet")
    record = manifest(data)
    record.update(status="interrupted", finish_reason="shutdown")
    (data / "crawls" / "c1.json").write_text(json.dumps(record))
    crawl(mapped_web(), data, "--resume", "c1", crawl_id=None)
    after = pd.read_parquet(data / "pages")
    assert after.url.is_unique and gone <= set(after.url)
    row = after.set_index("url").loc
    assert row[f"{SITE}/orphan.html", "discovered_by"] == "sitemap"
    assert pd.isna(row[f"{SITE}/blog/from-orphan.html", "depth"])
    sitemaps = pd.read_parquet(data / "sitemaps")
    assert len(sitemaps) == 8 and manifest(data)["counts"]["sitemaps"] == 8


def test_lastmod_and_priority_as_the_protocol_writes_them():
    ms = lambda *a: int(datetime(*a, tzinfo=UTC).timestamp() * 1000)  # noqa: E731
    assert parse_lastmod("2024") == ms(2024, 1, 1)
    assert parse_lastmod("2024-05") == ms(2024, 5, 1)
    assert parse_lastmod("2024-05-01") == ms(2024, 5, 1)
    assert parse_lastmod(" 2024-05-01T10:30:00+02:00 ") == ms(2024, 5, 1, 8, 30)
    assert parse_lastmod("2024-05-01T10:30:15.5Z") == ms(2024, 5, 1, 10, 30, 15) + 500
    assert parse_lastmod("yesterday") is None and parse_lastmod(None) is None
    assert parse_priority("0.8") == 0.8 and parse_priority("1.5") is None
    assert parse_priority("high") is None and parse_priority("") is None


def test_pipeline_writes_sitemap_rows_once_across_a_resume(tmp_path):
    """SitemapItems -> sitemaps part files (counted in the manifest); a resumed run that
    reads the same file again writes its rows no second time. Flushed every 2 rows: one
    file's rows stay in one part however many there are."""
    from linkcrawl.crawl.items import PageItem
    from linkcrawl.crawl.sitemaps import SitemapItem
    from tests.test_dataset import run_pipeline

    def entries(sitemap, *urls):
        n = len(urls)
        return SitemapItem(
            sitemap=sitemap,
            fetched_at=1_700_000_000_000,
            url=list(urls),
            domain=["a.example"] * n,
            lastmod=[1_600_000_000_000] + [None] * (n - 1),
            changefreq=["daily"] + [None] * (n - 1),
            priority=[0.5] + [None] * (n - 1),
        )

    one = entries("http://a.example/s1.xml", *(f"http://a.example/{i}" for i in range(3)))
    two = entries("http://a.example/s2.xml", "http://a.example/9")
    home = PageItem(url="http://a.example/", fetched_at=1_700_000_000_000, domain="a.example")
    run_pipeline(tmp_path, "s1", [one, home], flush_rows=2)
    record = manifest(tmp_path, "s1")
    assert record["counts"] == {"pages": 1, "edges": 0, "errors": 0, "sitemaps": 3}
    record["status"] = "interrupted"
    (tmp_path / "crawls" / "s1.json").write_text(json.dumps(record))
    run_pipeline(tmp_path, "s1", [one, two], flush_rows=2)
    parts = sorted((tmp_path / "sitemaps" / "crawl_id=s1").iterdir())
    assert [pq.read_metadata(p).num_rows for p in parts] == [3, 1]
    frame = open_dataset(tmp_path).arrow("sitemaps", "s1").to_table().to_pandas()
    assert sorted(frame.url) == ["http://a.example/0", "http://a.example/1",
                                 "http://a.example/2", "http://a.example/9"]  # fmt: skip
    first = frame.set_index("url").loc["http://a.example/0"]
    assert first.lastmod == pd.Timestamp(1_600_000_000_000, unit="ms", tz="UTC")
    assert (first.changefreq, first.priority) == ("daily", 0.5)
    assert manifest(tmp_path, "s1")["counts"]["sitemaps"] == 4
