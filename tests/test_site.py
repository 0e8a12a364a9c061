"""The site audit (linkcrawl site) on real crawls: a local web built so that every field and
issue has a hand-counted answer, and depth and link score against networkx on the demo web
and on a site served from ../shared/data/warc/iana.warc.gz."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner

from linkcrawl.analysis.definition import Definition
from linkcrawl.cli import main
from linkcrawl.dataset.schemas import SITEMAPS_SCHEMA, table_from_columns
from linkcrawl.dataset.write import PartWriter
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from linkcrawl.extract.urls import registered_domain
from linkcrawl.reports.site_audit import ISSUES, PAGE_COLUMNS, site
from tests.conftest import FAST, SHARED_DATA, run_linkcrawl

pytestmark = pytest.mark.slow  # every test reads a crawl made by the real command line

HOST = "www.site-example.com"
DOMAIN = "site-example.com"
B = f"http://{HOST}"
NAV = '<nav><a href="/">Home</a><a href="/a.html">A</a></nav>'
FOOT = '<footer><a href="/about.html">About</a></footer>'
SITEMAP = ["/", "/a.html", "/orphan.html", "/noindex.html", "/r1", "/canon-a.html",
           "/missing.html"]  # fmt: skip


def html(body: str, head: str = "") -> Resource:
    page = f"<!doctype html><html><head><title>t</title>{head}</head><body>{body}</body></html>"
    return Resource(200, {"Content-Type": "text/html; charset=utf-8"}, page.encode())


def redirect(to: str) -> Resource:
    return Resource(301, {"Location": to}, b"")


def canonical(path: str) -> str:
    return f'<link rel="canonical" href="{B}{path}">'


def audit_web() -> LocalWeb:
    """The site: a 5-deep chain (a -> b -> c -> d -> e), a 3-hop redirect chain (r1), a
    redirect loop (loop1 <-> loop2), a canonical chain (canon-a -> canon-b -> canon-c), a
    canonical to a 404 (canon-404), a noindex page, a robots-blocked page, a nofollowed
    link (nf), a dead end, a 404, and an orphan listed only in the sitemap."""
    web = LocalWeb()
    pages = {
        "/": NAV + '<main><a href="/a.html">start</a><a href="/r1">chain</a>'
        '<a href="/loop1">loop</a><a href="/canon-a.html">ca</a><a href="/canon-404.html">c4</a>'
        '<a href="/noindex.html">ni</a><a href="/private/secret.html">secret</a>'
        '<a href="/nf.html" rel="nofollow">nf</a><a href="/missing.html">missing</a>'
        '<a href="http://other-example.org/">ext</a></main>' + FOOT,
        "/a.html": NAV + '<main><a href="/b.html">b</a></main>' + FOOT,
        "/b.html": NAV + '<main><a href="/c.html">c</a></main>' + FOOT,
        "/c.html": NAV + '<main><a href="/d.html">d</a></main>' + FOOT,
        "/d.html": NAV + '<main><a href="/e.html">e</a></main>' + FOOT,
        "/e.html": NAV + FOOT,
        "/about.html": NAV + '<main><a href="/dead-end.html">dead</a></main>' + FOOT,
        "/dead-end.html": "<main><p>nothing to click</p></main>",
        "/final.html": NAV + FOOT,
        "/nf.html": NAV + FOOT,
        "/private/secret.html": NAV + FOOT,
        "/orphan.html": "<main><p>only the sitemap knows me</p></main>",
    }
    for path, body in pages.items():
        web.add(B + path, html(body))
    web.add(B + "/canon-a.html", html(NAV + FOOT, canonical("/canon-b.html")))
    web.add(B + "/canon-b.html", html(NAV + FOOT, canonical("/canon-c.html")))
    web.add(B + "/canon-c.html", html(NAV + FOOT, canonical("/canon-c.html")))
    web.add(B + "/canon-404.html", html(NAV + FOOT, canonical("/missing.html")))
    web.add(B + "/noindex.html", html(NAV + FOOT, '<meta name="robots" content="noindex">'))
    for path, to in {"/r1": "/r2", "/r2": "/r3", "/r3": "/final.html",
                     "/loop1": "/loop2", "/loop2": "/loop1"}.items():  # fmt: skip
        web.add(B + path, redirect(to))
    robots = f"User-agent: *\nDisallow: /private/\nSitemap: {B}/sitemap.xml\n"
    web.add(B + "/robots.txt", Resource(200, {"Content-Type": "text/plain"}, robots.encode()))
    entries = "".join(f"<url><loc>{B}{u}</loc></url>" for u in SITEMAP)
    xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</urlset>'
    web.add(B + "/sitemap.xml", Resource(200, {"Content-Type": "application/xml"}, xml.encode()))
    return web


def write_sitemap_rows(data: Path, crawl_id: str) -> None:
    """The sitemap's entries as the sitemaps source writes them, unless the crawl did."""
    if list((data / "sitemaps" / f"crawl_id={crawl_id}").glob("*.parquet")):
        return
    now = datetime.now(UTC)
    rows = table_from_columns(
        {
            "sitemap": [f"{B}/sitemap.xml"] * len(SITEMAP),
            "url": [B + u for u in SITEMAP],
            "domain": [DOMAIN] * len(SITEMAP),
            "fetched_at": [now] * len(SITEMAP),
        },
        SITEMAPS_SCHEMA,
    )
    PartWriter(data, "sitemaps", crawl_id, SITEMAPS_SCHEMA).write(rows)


@pytest.fixture(scope="module")
def site_crawl(tmp_path_factory):
    data = tmp_path_factory.mktemp("site-data")
    with LocalWebServer(audit_web()) as server:
        result = run_linkcrawl(
            ["crawl", f"{B}/", "--data", str(data), "--crawl-id", "s1", *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    write_sitemap_rows(data, "s1")
    return data


@pytest.fixture(scope="module")
def audit(site_crawl):
    return site(site_crawl, DOMAIN)


def orphan_fetched(data: Path) -> bool:
    """Whether the crawl fetched the orphan from the sitemap (the sitemaps source of issue
    18 does; a crawl without it knows the orphan from the sitemaps table only)."""
    pages = pd.read_parquet(data / "pages")
    return f"{B}/orphan.html" in set(pages.url)


# -- the reference: networkx on the same internal graph, built here from the Parquet -------


def reference(data: Path, crawl_id: str, domain: str) -> tuple[dict, dict, dict]:
    """Depth, content depth and link score of each URL of ``domain``, computed from the
    pages and edges tables with networkx (BFS, pagerank) and the documented rules."""
    pages = pd.read_parquet(data / "pages", filters=[("crawl_id", "=", crawl_id)])
    edges = pd.read_parquet(data / "edges", filters=[("crawl_id", "=", crawl_id)])
    pages = pages[pages.url.map(lambda u: registered_domain(u.split("/")[2]) == domain)]
    edges = edges[(edges.source_domain == domain) & (edges.target_domain == domain)]
    pages = pages.sort_values("fetched_at").drop_duplicates("url", keep="last")
    status = dict(zip(pages.url, pages.status, strict=True))
    canon = dict(zip(pages.url, pages.canonical, strict=True))
    hops = edges[edges.kind.isin(["redirect", "refresh"])].sort_values("ordinal")
    step = hops.drop_duplicates("source").set_index("source").target.to_dict()

    def final(url):
        seen = {url}
        while url in step:
            url = step[url]
            if url in seen:
                return None
            seen.add(url)
        return url

    seeds = list(pages[pages.discovered_by == "seed"].url)
    clicks = edges[edges.kind.isin(["anchor", "image", "area"])]
    walk = edges[edges.follow & edges.kind.isin(["anchor", "image", "area", "redirect", "refresh"])]
    depth = {}
    for name, links in (("depth", walk), ("content", walk[~walk.position.isin(
            ["header", "navigation", "sidebar", "footer"])])):  # fmt: skip
        G = nx.DiGraph()
        G.add_nodes_from(seeds)
        G.add_edges_from(zip(links.source, links.target, strict=True))
        depth[name] = nx.multi_source_dijkstra_path_length(G, seeds) if seeds else {}

    nodes = [u for u, s in status.items() if s == 200 and u not in step]
    eligible = {u for u in nodes if pd.isna(canon[u]) or canon[u] == u}
    rule = Definition()
    G = nx.DiGraph()
    G.add_nodes_from(nodes)
    for s, t, f, k, p in zip(clicks.source, clicks.target, clicks.follow, clicks.kind,
                             clicks.position, strict=True):  # fmt: skip
        t = final(t)
        w = rule.weight(bool(f), k, p)
        if s in G and t in eligible and s != t and w > 0:
            G.add_edge(s, t, weight=max(w, G.edges[s, t]["weight"] if G.has_edge(s, t) else 0))
    pr = nx.pagerank(G, alpha=0.85, weight="weight", tol=1e-13, max_iter=10_000)
    n = len(nodes)
    dangling = sum(pr[u] for u in nodes if G.out_degree(u, weight="weight") == 0)
    lowest = (0.15 + 0.85 * dangling) / n
    top = max(pr.values())
    score = {}
    for u in nodes:
        linked = G.in_degree(u, weight="weight") > 0
        score[u] = 100 * math.log(max(pr[u], lowest) / lowest) / math.log(top / lowest)
        score[u] = min(max(score[u], 0.0), 100.0) if linked else 0.0
    return depth["depth"], depth["content"], score


def check_against_networkx(data: Path, crawl_id: str, domain: str) -> int:
    depth, content_depth, score = reference(data, crawl_id, domain)
    pages = site(data, domain, crawl_id).pages.set_index("url")
    fetched = pages[pages.status.notna() | pages.error.notna()]
    for url, row in fetched.iterrows():
        assert row.depth == depth.get(url), url
        assert row.content_depth == content_depth.get(url), url
        if url in score:
            assert row.link_score == pytest.approx(score[url], abs=1e-4), url
        else:
            assert pd.isna(row.link_score), url
    assert set(score) <= set(pages.index)
    return len(fetched)


# -- the hand-counted answers --------------------------------------------------------------


def test_every_field_of_every_page(site_crawl, audit):
    import linkcrawl.reports

    assert linkcrawl.reports.site is site  # the library function, under its documented name
    orphan_200 = orphan_fetched(site_crawl)
    pages = audit.pages.set_index("url")
    assert list(audit.pages.columns) == PAGE_COLUMNS
    # url: status, indexable because, depth, content depth, inlinks (followed, nofollow,
    # unique, content, navigation, footer), outlinks (internal, external), in sitemap, orphan
    no = None
    expected = {
        "/": (200, no, 0, 0, 13, 0, 13, 0, 13, 0, 11, 1, True, False),
        "/a.html": (200, no, 1, 1, 14, 0, 13, 1, 13, 0, 3, 0, True, False),
        "/b.html": (200, no, 2, 2, 1, 0, 1, 1, 0, 0, 4, 0, False, False),
        "/c.html": (200, no, 3, 3, 1, 0, 1, 1, 0, 0, 4, 0, False, False),
        "/d.html": (200, no, 4, 4, 1, 0, 1, 1, 0, 0, 4, 0, False, False),
        "/e.html": (200, no, 5, 5, 1, 0, 1, 1, 0, 0, 3, 0, False, False),
        "/about.html": (200, no, 1, no, 13, 0, 13, 0, 0, 13, 3, 0, False, False),
        "/dead-end.html": (200, no, 2, no, 1, 0, 1, 1, 0, 0, 0, 0, False, False),
        "/final.html": (200, no, 4, 4, 0, 0, 0, 0, 0, 0, 3, 0, False, False),
        "/nf.html": (200, no, no, no, 0, 1, 1, 0, 0, 0, 3, 0, False, False),
        "/canon-a.html": (200, "canonicalised", 1, 1, 1, 0, 1, 1, 0, 0, 3, 0, True, False),
        "/canon-b.html": (200, "canonicalised", no, no, 0, 0, 0, 0, 0, 0, 3, 0, False, False),
        "/canon-c.html": (200, no, no, no, 0, 0, 0, 0, 0, 0, 3, 0, False, False),
        "/canon-404.html": (200, "canonicalised", 1, 1, 1, 0, 1, 1, 0, 0, 3, 0, False, False),
        "/noindex.html": (200, "noindex", 1, 1, 1, 0, 1, 1, 0, 0, 3, 0, True, False),
        "/private/secret.html": (no, "robots-blocked", 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, False, False),
        "/missing.html": (404, "client-error", 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, True, False),
        "/r1": (301, "redirect", 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, True, False),
        "/r2": (301, "redirect", 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, False, False),
        "/r3": (301, "redirect", 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, False, False),
        "/loop1": (301, "redirect", 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, False, False),
        "/loop2": (301, "redirect", 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, False, False),
        "/orphan.html": (200 if orphan_200 else no, no if orphan_200 else "not-crawled",
                         no, no, 0, 0, 0, 0, 0, 0, 0, 0, True, True),
    }  # fmt: skip
    assert sorted(pages.index) == sorted(B + p for p in expected)
    names = ["status", "not_indexable_because", "depth", "content_depth", "inlinks",
             "inlinks_nofollow", "unique_inlinks", "inlinks_content", "inlinks_navigation",
             "inlinks_footer", "outlinks_internal", "outlinks_external", "in_sitemap",
             "orphan"]  # fmt: skip
    for path, values in expected.items():
        row = pages.loc[B + path]
        got = tuple(None if pd.isna(row[n]) else row[n] for n in names)
        assert got == values, path
        assert row.indexable == (values[1] is None), path
    # the page at depth 5 counts clicks; redirects count a level (r1, r2, r3, final.html)
    assert pages.loc[f"{B}/e.html", "depth"] == 5
    assert pages.loc[f"{B}/final.html", "depth"] == 4
    canonicals = pages.canonical.dropna().to_dict()
    assert canonicals == {
        f"{B}/canon-a.html": f"{B}/canon-b.html",
        f"{B}/canon-b.html": f"{B}/canon-c.html",
        f"{B}/canon-404.html": f"{B}/missing.html",
    }
    redirects = pages[pages.redirect_hops.notna()]
    assert redirects.redirect_hops.to_dict() == {
        f"{B}/r1": 3, f"{B}/r2": 2, f"{B}/r3": 1, f"{B}/loop1": 2, f"{B}/loop2": 2,
    }  # fmt: skip
    assert set(redirects.redirect_to.dropna()) == {f"{B}/final.html"}
    assert redirects.redirect_to.isna().sum() == 2  # the loop has no final target


def test_link_score_rules(site_crawl, audit):
    pages = audit.pages.set_index("url")
    score = pages.link_score
    # /a.html: linked from every page's navigation and from the home page's content
    assert score.idxmax() == f"{B}/a.html" and score.max() == 100.0
    assert score[f"{B}/"] > score[f"{B}/b.html"] > 0
    # canonicalised pages and a page linked only by nofollow receive nothing; a page only
    # reached through a redirect gets what the links to the redirect pass
    for path in ("/canon-a.html", "/canon-b.html", "/canon-c.html", "/canon-404.html", "/nf.html"):
        assert score[B + path] == 0.0, path
    assert score[f"{B}/final.html"] > 0
    # URLs that do not answer 200 are not in the graph
    for path in ("/r1", "/r2", "/r3", "/loop1", "/loop2", "/missing.html", "/private/secret.html"):
        assert pd.isna(score[B + path]), path
    # down the chain each page passes on less
    chain = [score[f"{B}/{p}.html"] for p in "abcde"]
    assert chain == sorted(chain, reverse=True)
    assert audit.pages.link_score.dropna().is_monotonic_decreasing  # the strongest first
    assert check_against_networkx(site_crawl, "s1", DOMAIN) >= 22


def links(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [
        (s.removeprefix(B), t.removeprefix(B))
        for s, t in zip(frame.source, frame.target, strict=True)
    ]


def test_every_issue(site_crawl, audit):
    orphan_200 = orphan_fetched(site_crawl)
    score = audit.pages.set_index("url").link_score
    counts = dict(zip(audit.counts().issue, audit.counts().rows, strict=True))
    assert list(counts) == list(ISSUES)
    assert counts == audit.summary["issues"]

    def urls(name: str, column: str = "url") -> list[str]:
        return [u.removeprefix(B) for u in audit.issue(name)[column]]

    assert urls("orphans") == ["/orphan.html"]
    single = audit.issue("single_inlink")
    assert sorted(urls("single_inlink")) == sorted(
        [
            "/b.html",
            "/c.html",
            "/d.html",
            "/e.html",
            "/dead-end.html",
            "/noindex.html",
            "/canon-a.html",
            "/canon-404.html",
        ]
    )
    by_source = {"/b.html": "/a.html", "/c.html": "/b.html", "/d.html": "/c.html",
                 "/e.html": "/d.html", "/dead-end.html": "/about.html"}  # fmt: skip
    for url, source in zip(single.url, single.source, strict=True):
        assert source.removeprefix(B) == by_source.get(url.removeprefix(B), "/")
    # the fix with the most effect first: by the linking page's score
    assert list(single.source_link_score) == sorted(single.source_link_score, reverse=True)
    assert list(single.source_link_score) == [score[s] for s in single.source]
    deep = audit.issue("too_deep")
    assert sorted(zip(urls("too_deep"), deep.depth, strict=True)) == [
        ("/d.html", 4),
        ("/e.html", 5),
        ("/final.html", 4),
    ]
    assert list(deep.link_score) == sorted(deep.link_score, reverse=True)

    to_redirect = audit.issue("links_to_redirect").set_index("target")
    assert links(audit.issue("links_to_redirect")) in ([("/", "/r1"), ("/", "/loop1")],
                                                       [("/", "/loop1"), ("/", "/r1")])  # fmt: skip
    r1, loop = to_redirect.loc[f"{B}/r1"], to_redirect.loc[f"{B}/loop1"]
    assert (r1.anchor, loop.anchor) == ("chain", "loop")  # read for these rows only
    assert (r1.final_target, r1.final_status, r1.hops, r1.loop) == (
        f"{B}/final.html",
        200,
        3,
        False,
    )
    assert (pd.isna(loop.final_target), loop.hops, loop.loop) == (True, 2, True)
    errors = audit.issue("links_to_error")
    assert links(errors) == [("/", "/missing.html")] and list(errors.status) == [404]
    assert links(audit.issue("links_to_noindex")) == [("/", "/noindex.html")]
    canonicalised = audit.issue("links_to_canonicalised")
    pairs = zip(urls("links_to_canonicalised", "target"), canonicalised.canonical, strict=True)
    assert sorted((t, c.removeprefix(B)) for t, c in pairs) == [
        ("/canon-404.html", "/missing.html"),
        ("/canon-a.html", "/canon-b.html"),
    ]
    assert set(canonicalised.source) == {f"{B}/"}
    assert links(audit.issue("links_to_blocked")) == [("/", "/private/secret.html")]

    chains = audit.issue("redirect_chains").set_index("url")
    assert sorted(chains.index) == [f"{B}/loop1", f"{B}/r1"]
    assert chains.loc[f"{B}/r1", "hops"] == 3
    assert chains.loc[f"{B}/r1", "chain"] == " -> ".join(
        B + p for p in ["/r1", "/r2", "/r3", "/final.html"]
    )
    assert chains.loc[f"{B}/loop1", "loop"] and chains.loc[f"{B}/loop1", "hops"] == 2
    assert chains.loc[f"{B}/loop1", "chain"] == f"{B}/loop1 -> {B}/loop2 -> {B}/loop1"
    chain = audit.issue("canonical_chains")
    rows = chain[["url", "canonical", "canonical_of_canonical"]].itertuples(index=False)
    assert [tuple(r) for r in rows] == [
        (f"{B}/canon-a.html", f"{B}/canon-b.html", f"{B}/canon-c.html")
    ]
    non_200 = audit.issue("canonical_to_non_200")
    assert list(zip(urls("canonical_to_non_200"), non_200.canonical_status, strict=True)) == [
        ("/canon-404.html", 404)
    ]
    nofollow = audit.issue("nofollowed_internal")
    assert links(nofollow) == [("/", "/nf.html")] and list(nofollow.rel) == ["nofollow"]
    assert list(nofollow.anchor) == ["nf"] and list(nofollow.position) == ["content"]
    assert urls("sitemap_non_200") == ["/missing.html"]
    assert urls("sitemap_noindex") == ["/noindex.html"]
    assert urls("sitemap_redirect") == ["/r1"]
    assert list(audit.issue("sitemap_redirect").redirect_to) == [f"{B}/final.html"]
    assert urls("sitemap_canonicalised") == ["/canon-a.html"]
    dead = ["/dead-end.html", "/orphan.html"] if orphan_200 else ["/dead-end.html"]
    assert sorted(urls("no_outlinks")) == dead


def test_command_line(site_crawl, audit):
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, ["site", *args, "--data", str(site_crawl)])

    result = run(DOMAIN, "--issues", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert {r["issue"]: r["rows"] for r in document["rows"]} == audit.summary["issues"]
    assert document["summary"]["domain"] == DOMAIN
    # a host or a URL of the site names the same site
    result = run(f"{B}/", "--issue", "links_to_redirect", "--format", "csv")
    assert result.exit_code == 0, result.output
    exported = pd.read_csv(io.StringIO(result.stdout))
    assert len(exported) == 2 and set(exported.hops) == {2, 3}
    result = run(HOST, "--format", "csv")
    read_back = pl.read_csv(io.StringIO(result.stdout))
    assert read_back.height == len(audit.pages)
    assert read_back.filter(pl.col("url") == f"{B}/e.html")["depth"].to_list() == [5]
    result = run(DOMAIN, "--max-depth-ok", "4", "--issue", "too_deep", "--format", "json")
    assert [r["url"] for r in json.loads(result.stdout)["rows"]] == [f"{B}/e.html"]
    table = run(DOMAIN, "--issues")
    assert table.exit_code == 0 and "links_to_redirect" in table.stdout
    # bad input: one line, exit 1 (or 2 for a bad option value), no traceback
    for args, code, words in [
        (("other-example.net",), 1, "has no page of other-example.net"),
        ((DOMAIN, "--issue", "nope"), 1, "unknown issue 'nope'"),
        ((DOMAIN, "--issues", "--issue", "orphans"), 1, "not both"),
        ((DOMAIN, "--crawl-id", "c404"), 1, "no crawl 'c404'"),
        ((DOMAIN, "--max-depth-ok", "-1"), 2, "-1"),
        (("",), 1, "bad"),
    ]:
        result = run(*args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output


# -- against networkx on real crawls -------------------------------------------------------


def test_depth_and_link_score_on_the_demo_web_match_networkx(demo_crawl):
    data, crawl_id = demo_crawl
    edges = pd.read_parquet(data / "edges", columns=["source_domain"])
    domains = sorted(set(edges.source_domain))
    assert len(domains) >= 3
    checked = sum(check_against_networkx(data, crawl_id, d) for d in domains)
    assert checked >= 30


def warc_web(path: Path) -> LocalWeb:
    """The responses of a WARC file as a local web (the first response per URL)."""
    from warcio.archiveiterator import ArchiveIterator

    web = LocalWeb()
    seen = set()
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if url in seen:
                continue
            seen.add(url)
            headers = {
                k: v
                for k, v in record.http_headers.headers
                if k.lower() in ("content-type", "location")
            }
            status = int(record.http_headers.get_statuscode())
            web.add(url, Resource(status, headers, record.content_stream().read()))
    return web


def test_depth_and_link_score_on_iana_match_networkx(tmp_path):
    path = SHARED_DATA / "warc" / "iana.warc.gz"
    assert path.is_file(), f"{path} is missing: ../shared/data must be beside the repository"
    with LocalWebServer(warc_web(path)) as server:
        result = run_linkcrawl(
            # The archive holds some 25 pages that link to thousands it does not hold: a
            # bound keeps the crawl to seconds, and the reference reads the same crawl.
            [
                "crawl",
                "http://www.iana.org/",
                "--data",
                str(tmp_path),
                "--crawl-id",
                "iana",
                "--max-pages",
                "120",
                *FAST,
                # One request at a time: which 120 pages the bound keeps is then the same
                # on every run (under load, parallel fetches kept a set without a redirect).
                "-s",
                "CONCURRENT_REQUESTS=1",
            ],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    audit = site(tmp_path, "iana.org")
    pages = audit.pages
    assert (pages.status == 200).sum() >= 10
    assert pages.redirect_hops.notna().sum() >= 1
    assert check_against_networkx(tmp_path, "iana", "iana.org") == len(pages)


def test_html_report_site_section(site_crawl, audit, tmp_path):
    import datetime as dt
    import re

    TODAY = dt.date(2026, 12, 2)  # the report's date, fixed for equal bytes

    from linkcrawl.analysis import analyze
    from linkcrawl.reports.html import report

    analyze(site_crawl, "s1")
    out = tmp_path / "report.html"
    folder = tmp_path / "lists"
    text = report(site_crawl, DOMAIN, out, csv_dir=folder, date=TODAY)
    assert "<h2>Site audit</h2>" in text
    for name, rows in audit.summary["issues"].items():
        if rows:
            assert f"<h3>{name} ({rows:,})</h3>" in text, name
    assert "<h3>canonical_to_non_200" in text and "<h3>orphans (1)</h3>" in text
    # still self-contained: no reference outside the page, no image, no script but the
    # report's own table sorter (allowed by its CSP hash)
    from linkcrawl.reports.html import SCRIPT

    refs = re.findall(r'(?:href|src)\s*=\s*"([^"]*)"', text, re.I)
    assert all(r.startswith("#") for r in refs)
    assert "<img" not in text
    assert re.findall(r"<script[^>]*>(.*?)</script>", text, re.S | re.I) == [SCRIPT]
    # the full lists in --csv-dir, read back as the command line exports them
    chains = pd.read_csv(folder / "redirect_chains.csv")
    assert sorted(chains.url) == [f"{B}/loop1", f"{B}/r1"]
    assert len(pd.read_csv(folder / "pages.csv")) == len(audit.pages)
    assert report(site_crawl, DOMAIN, date=TODAY) == text  # the same bytes twice
    # without csv_dir, the report writes its one file and nothing beside it
    before = set(tmp_path.iterdir())
    report(site_crawl, DOMAIN, tmp_path / "again.html")
    assert set(tmp_path.iterdir()) - before == {tmp_path / "again.html"}


def test_a_page_fetched_twice_counts_once(site_crawl, audit, tmp_path):
    """A resumed crawl can hold a page, and its links, twice: the audit is the same."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(site_crawl, data)
    for table in ("pages", "edges"):
        partition = data / table / "crawl_id=s1"
        for part in sorted(partition.glob("*.parquet")):
            shutil.copy(part, partition / f"part-again{part.name[5:]}")
    again = site(data, DOMAIN)
    pd.testing.assert_frame_equal(again.pages, audit.pages)
    assert again.summary == audit.summary
