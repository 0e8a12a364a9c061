"""analyze, backlinks and top_domains on small webs written as real Parquet datasets: link
weights, link farms, domain counts, authority scale, resumed crawls, errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze, backlinks, page_graph, pagerank, top_domains
from linkcrawl.dataset.manifest import write_manifest
from linkcrawl.dataset.schemas import (
    DICTIONARY_COLUMNS,
    DOMAINS_SCHEMA,
    EDGES_SCHEMA,
    INBOUND_SCHEMA,
    PAGE_AUTHORITY_SCHEMA,
    PAGES_SCHEMA,
)
from linkcrawl.dataset.write import PartWriter
from linkcrawl.errors import DatasetError, LinkcrawlError
from linkcrawl.extract.urls import host_of, registered_domain

WHEN = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def link(source, target, *, position="content", follow=True, rel="", anchor="", kind="anchor"):
    return {"source": source, "target": target, "position": position, "follow": follow,
            "rel": rel, "anchor": anchor, "kind": kind}  # fmt: skip


def write_crawl(root, links, *, pages=None, crawl_id="c1", times=1, started_at=WHEN):
    """Write ``links`` as a finished crawl, the way the pipeline does (one run of rows per
    page, ordinals in page order). ``times`` > 1 writes every page again in a later part,
    as a resumed crawl can."""
    rows = {name: [] for name in EDGES_SCHEMA.names}
    ordinal: dict[str, int] = {}
    for e in links:
        domain = registered_domain(host_of(e["source"]))
        target_domain = registered_domain(host_of(e["target"]))
        for name in ("source", "target", "anchor", "rel", "follow", "position", "kind"):
            rows[name].append(e[name])
        rows["ordinal"].append(ordinal.setdefault(e["source"], 0))
        ordinal[e["source"]] += 1
        rows["source_domain"].append(domain)
        rows["target_domain"].append(target_domain)
        rows["internal"].append(domain == target_domain)
        rows["discovered_at"].append(WHEN)
        rows["origin"].append("html")
    table = pa.table(rows, schema=EDGES_SCHEMA)
    edges = PartWriter(root, "edges", crawl_id, EDGES_SCHEMA)
    fetched = list(dict.fromkeys([e["source"] for e in links] + list(pages or [])))
    page_rows = {name: [None] * len(fetched) for name in PAGES_SCHEMA.names}
    page_rows["url"] = fetched
    page_rows["status"] = [200] * len(fetched)
    page_rows["fetched_at"] = [WHEN] * len(fetched)
    page_writer = PartWriter(root, "pages", crawl_id, PAGES_SCHEMA)
    for _ in range(times):
        edges.write(table)
        page_writer.write(pa.table(page_rows, schema=PAGES_SCHEMA))
    write_manifest(root, {"crawl_id": crawl_id, "status": "finished", "seeds": [],
                          "started_at": started_at.isoformat()})  # fmt: skip
    return root


def authority_table(root, name, crawl_id="c1"):
    return pd.read_parquet(root / "authority" / f"crawl_id={crawl_id}" / f"{name}.parquet")


# -- a strong page's links: content above footer above nofollow ----------------------------

STRONG = "http://www.strong-news.com/"
TARGET = "http://www.target-shop.com/product"
WEAK = "http://weak-blog.net/post"


def strong_page_web():
    links = [link(f"http://www.fan{i}.org/", STRONG) for i in range(10)]
    links += [
        link(STRONG, TARGET, anchor="great product"),
        link(STRONG, TARGET, position="footer", anchor="shop"),
        link(STRONG, TARGET, follow=False, rel="nofollow", anchor="ad"),
        link(STRONG, "http://www.strong-news.com/about", anchor="about"),
        link(WEAK, TARGET, anchor="great product"),
    ]
    return links


def test_followed_content_link_ranks_above_footer_and_nofollow(tmp_path):
    write_crawl(tmp_path, strong_page_web())
    analyze(tmp_path)
    report = backlinks(tmp_path, "target-shop.com")
    rows = report.links
    from_strong = rows[rows["source"] == STRONG].set_index("position")
    content = from_strong[from_strong["follow"]].loc["content"]
    footer = from_strong.loc["footer"]
    nofollow = from_strong[~from_strong["follow"]].iloc[0]
    assert content["rank"] < footer["rank"] < nofollow["rank"]
    assert rows.iloc[0]["source"] == STRONG and rows.iloc[0]["position"] == "content"
    assert nofollow["value"] == 0.0
    # Hand count: the footer link weighs 0.25 of the content link.
    assert footer["value"] == pytest.approx(0.25 * content["value"], rel=1e-12)
    # value = 0.85 * PR(strong) * w / (sum of its collapsed link weights: target 1 + about 1)
    G = nx.DiGraph()
    G.add_edges_from((f"http://www.fan{i}.org/", STRONG) for i in range(10))
    G.add_edges_from([(STRONG, TARGET), (STRONG, "http://www.strong-news.com/about"),
                      (WEAK, TARGET)])  # fmt: skip
    pr = nx.pagerank(G, tol=1e-12, max_iter=10_000)
    assert content["value"] == pytest.approx(0.85 * pr[STRONG] * 1.0 / 2.0, rel=1e-6)
    weak = rows[rows["source"] == WEAK].iloc[0]
    assert weak["value"] == pytest.approx(0.85 * pr[WEAK], rel=1e-6)
    assert content["rank"] < weak["rank"]
    assert report.summary["inbound_links"] == 4
    assert report.summary["referring_domains"] == 2
    assert report.summary["followed_share"] == pytest.approx(3 / 4)
    assert report.summary["top_anchors"][0] == ("great product", 2)
    assert report.summary["top_pages"] == [(TARGET, 2)]


def test_position_weights_and_nofollow_weight_are_settings(tmp_path):
    write_crawl(tmp_path, strong_page_web())
    analyze(tmp_path, position_weights={"footer": 1.0}, nofollow_weight=0.5)
    rows = backlinks(tmp_path, "target-shop.com").links
    from_strong = rows[rows["source"] == STRONG]
    values = dict(zip(from_strong["anchor"], from_strong["value"], strict=True))
    assert values["shop"] == pytest.approx(values["great product"], rel=1e-12)
    assert values["ad"] == pytest.approx(0.5 * values["great product"], rel=1e-12)
    with pytest.raises(LinkcrawlError, match="unknown link position"):
        analyze(tmp_path, position_weights={"banner": 1.0})
    with pytest.raises(LinkcrawlError, match=">= 0"):
        analyze(tmp_path, position_weights={"footer": -1})


# -- link farms: referring domains, not repeated links -------------------------------------

A = "http://www.popular-a.com/"
B = "http://www.popular-b.com/"


def link_farm_web():
    links = [link(f"http://www.independent{i}.org/review", A) for i in range(15)]
    farm = [f"http://farm-network.com/p{i}" for i in range(300)]
    for i, page in enumerate(farm):
        links.append(link(page, B, anchor="best deals"))
        links.append(link(page, farm[(i + 1) % len(farm)], position="navigation"))
    return links


def test_fifteen_referring_domains_outrank_a_300_page_link_farm(tmp_path):
    write_crawl(tmp_path, link_farm_web())
    analyze(tmp_path)
    domains = authority_table(tmp_path, "domains").set_index("domain")
    a, b = domains.loc["popular-a.com"], domains.loc["popular-b.com"]
    assert a["rank"] < b["rank"] and a["authority"] > b["authority"]
    assert (a["referring_domains"], a["inbound_links"]) == (15, 15)
    assert (b["referring_domains"], b["inbound_links"]) == (1, 300)
    assert domains.loc["popular-a.com", "rank"] == 1
    top = top_domains(tmp_path, limit=3)
    assert top["domain"].iloc[0] == "popular-a.com" and len(top) == 3
    assert list(top["rank"]) == [1, 2, 3]
    report = backlinks(tmp_path, "popular-b.com")
    assert report.summary["referring_domains"] == 1
    assert report.summary["inbound_links"] == 300
    assert len(report.links) == 50  # the default limit
    assert report.summary["top_anchors"] == [("best deals", 1)]


def test_domain_pagerank_matches_networkx_on_the_domain_graph(tmp_path):
    links = [
        *link_farm_web(),
        link(A, B),  # popular-a.com -> popular-b.com
        link(A, "http://www.independent3.org/", follow=False, rel="sponsored"),  # not counted
        link("http://www.independent0.org/review", "http://www.independent0.org/"),  # internal
    ]
    write_crawl(tmp_path, links)
    analyze(tmp_path)
    domains = authority_table(tmp_path, "domains").set_index("domain")
    D = nx.DiGraph()
    D.add_nodes_from(domains.index)
    D.add_edges_from((f"independent{i}.org", "popular-a.com") for i in range(15))
    D.add_edges_from([("farm-network.com", "popular-b.com"), ("popular-a.com", "popular-b.com")])
    expected = pd.Series(nx.pagerank(D, tol=1e-12, max_iter=10_000))
    assert (domains["pagerank"] - expected.reindex(domains.index)).abs().sum() < 1e-6
    # Authority: 100 ln(pr / floor) / ln(max / floor), floor = a domain without inlinks.
    floor = expected["farm-network.com"]
    top = expected.max()
    for name in ("popular-a.com", "popular-b.com", "independent3.org"):
        want = 100 * math.log(expected[name] / floor) / math.log(top / floor)
        assert domains.loc[name, "authority"] == pytest.approx(want, abs=1e-4)
    assert domains.loc["popular-a.com", "authority"] == pytest.approx(100.0)
    assert domains.loc["independent3.org", "authority"] == 0.0  # only a sponsored link
    assert domains.loc["independent3.org", "follow_share"] == 0.0
    assert domains.loc["independent3.org", "referring_domains"] == 1
    assert pd.isna(domains.loc["farm-network.com", "follow_share"])  # no inbound links


@pytest.mark.parametrize("n_domains", [300, 40_000])  # the domain pairs' sort keys are
# int32 below 32,768 domains, int64 above
def test_domain_pagerank_and_referring_domains_against_networkx_and_pandas(tmp_path, n_domains):
    import random

    rng = random.Random(n_domains)
    links = [
        link(f"http://d{d}.com/", f"http://d{rng.randrange(n_domains)}.com/{rng.randrange(3)}",
             follow=rng.random() < 0.8)
        for d in range(n_domains) for _ in range(2)
    ]  # fmt: skip
    write_crawl(tmp_path, links)
    analyze(tmp_path)
    domains = authority_table(tmp_path, "domains").set_index("domain")
    edges = pd.DataFrame(links)
    edges["source_domain"] = edges["source"].map(lambda u: registered_domain(host_of(u)))
    edges["target_domain"] = edges["target"].map(lambda u: registered_domain(host_of(u)))
    cross = edges[edges["source_domain"] != edges["target_domain"]]
    followed = cross[cross["follow"]]
    D = nx.DiGraph()
    D.add_nodes_from(domains.index)
    D.add_edges_from(zip(followed["source_domain"], followed["target_domain"], strict=True))
    expected = pd.Series(nx.pagerank(D, tol=1e-12, max_iter=10_000))
    assert (domains["pagerank"] - expected.reindex(domains.index)).abs().sum() < 1e-6
    referring = cross.groupby("target_domain")["source_domain"].nunique()
    assert (domains["referring_domains"] == referring.reindex(domains.index).fillna(0)).all()
    assert (domains["inbound_links"] == cross["target_domain"].value_counts()
            .reindex(domains.index).fillna(0)).all()  # fmt: skip


def test_a_fetched_page_without_links_adds_its_domain_to_the_domain_graph(tmp_path):
    # Domain authority is computed while the URLs are numbered, before the pages that
    # neither link nor are linked to are known: a new domain among them must still count.
    links = [link(f"http://www.fan{i}.org/", STRONG) for i in range(3)]
    links.append(link(STRONG, "http://www.fan0.org/"))
    write_crawl(tmp_path, links, pages=["http://www.isolated-site.com/"])
    analyze(tmp_path)
    domains = authority_table(tmp_path, "domains").set_index("domain")
    D = nx.DiGraph()
    D.add_nodes_from(["fan0.org", "fan1.org", "fan2.org", "strong-news.com", "isolated-site.com"])
    D.add_edges_from((f"fan{i}.org", "strong-news.com") for i in range(3))
    D.add_edge("strong-news.com", "fan0.org")
    expected = pd.Series(nx.pagerank(D, tol=1e-12, max_iter=10_000))
    assert sorted(domains.index) == sorted(D.nodes)
    assert (domains["pagerank"] - expected.reindex(domains.index)).abs().sum() < 1e-6
    inbound = authority_table(tmp_path, "inbound")
    by_domain = inbound.groupby("source_domain")["source_domain_authority"].first()
    assert (by_domain - domains["authority"].reindex(by_domain.index)).abs().max() < 1e-9


def test_page_authority_matches_networkx_and_the_log_scale(tmp_path):
    links = link_farm_web()
    write_crawl(tmp_path, links, pages=["http://lonely.example.net/"])
    analyze(tmp_path)
    pages = authority_table(tmp_path, "pages").set_index("url")
    G = nx.DiGraph()
    G.add_nodes_from(pages.index)
    for e in links:
        G.add_edge(e["source"], e["target"], weight=0.5 if e["position"] == "navigation" else 1)
    expected = pd.Series(nx.pagerank(G, tol=1e-12, max_iter=10_000))
    assert (pages["pagerank"] - expected.reindex(pages.index)).abs().sum() < 1e-6
    floor = expected["http://lonely.example.net/"]
    top = expected.max()
    want = 100 * (expected / floor).map(math.log) / math.log(top / floor)
    assert (pages["authority"] - want.reindex(pages.index)).abs().max() < 1e-4
    assert list(pages.sort_values("rank").index[:1]) == [expected.idxmax()]
    assert sorted(pages["rank"]) == list(range(1, len(pages) + 1))
    # The fetched page without links is a node, with its own domain.
    lonely = pages.loc["http://lonely.example.net/"]
    assert (lonely["authority"], lonely["inlinks"], lonely["domain"]) == (0.0, 0, "example.net")
    assert pages.loc[B, "inlinks"] == 300 and pages.loc[B, "referring_domains"] == 1
    assert pages.loc["http://farm-network.com/p1", "referring_domains"] == 0


def test_engines_agree_and_page_graph_is_the_reference(tmp_path):
    write_crawl(tmp_path, strong_page_web() + link_farm_web())
    G = page_graph(tmp_path)
    assert G[STRONG][TARGET] == {"weight": 1.0, "links": 3}
    assert G.nodes[TARGET]["domain"] == "target-shop.com"
    reference = pd.Series(nx.pagerank(G, tol=1e-12, max_iter=10_000))
    for engine in ("sparse", "networkx"):
        ours = pagerank(tmp_path, engine=engine)
        assert (ours - reference.reindex(ours.index)).abs().sum() < 1e-6
    tables = {}
    for engine in ("networkx", "sparse"):
        analyze(tmp_path, engine=engine)
        tables[engine] = authority_table(tmp_path, "inbound")
    pd.testing.assert_frame_equal(
        tables["networkx"].drop(columns=["value", "source_authority", "source_domain_authority"]),
        tables["sparse"].drop(columns=["value", "source_authority", "source_domain_authority"]),
    )
    assert (tables["networkx"]["value"] - tables["sparse"]["value"]).abs().max() < 1e-7


def test_page_inbound_links_and_follow_share_by_hand(tmp_path):
    page = "http://www.target-site.com/page"
    home = "http://www.target-site.com/"
    links = [
        link("http://a-blog.com/1", page),
        link("http://a-blog.com/1", page, follow=False, rel="nofollow", position="footer"),
        link("http://a-blog.com/2", page),
        link("http://a-blog.com/2", "http://news-b.org/x", follow=False, rel="nofollow"),
        link("http://news-b.org/x", page, follow=False, rel="ugc"),
        link(home, page),  # same domain: an inlink, not an inbound link
        link("http://shop.target-site.com/", page),  # another host of the same domain
        link(page, home),
    ]
    write_crawl(tmp_path, links)
    analyze(tmp_path)
    pages = authority_table(tmp_path, "pages").set_index("url")
    # Counted by hand from the list above.
    row = pages.loc[page]
    assert (row["inlinks"], row["inbound_links"], row["referring_domains"]) == (6, 4, 2)
    assert row["follow_share"] == 0.5  # two of a-blog.com's three links are followed
    assert (pages.loc["http://news-b.org/x", ["inbound_links", "follow_share"]] == [1, 0.0]).all()
    assert pages.loc[home, "inlinks"] == 1 and pages.loc[home, "inbound_links"] == 0
    assert pd.isna(pages.loc[home, "follow_share"])  # no inbound links
    assert pages.loc["http://a-blog.com/1", "inbound_links"] == 0


def test_pages_are_numbered_in_crawl_order_as_pandas_factorize_numbers_them(tmp_path):
    """Page ids (and so the order of ties) follow first appearance among the sources, then
    the targets, then the fetched pages, over several part files: the order that
    pandas.factorize gives the same URLs; domains likewise over source then target
    domains."""
    from linkcrawl.analysis import load_graph

    rng = np.random.default_rng(3)
    sites = [f"http://s{i}.example{i % 4}.com" for i in range(30)]
    links = [
        link(f"{sites[s]}/p{s % 7}", f"{sites[t]}/p{rng.integers(0, 9)}", anchor=f"a{s % 5}")
        for s, t in rng.integers(0, 30, (600, 2)).tolist()
    ]
    root = write_crawl(tmp_path, links[:300], pages=["http://lonely-page.net/"])
    more = PartWriter(root, "edges", "c1", EDGES_SCHEMA)  # a second part file
    rows = {name: [] for name in EDGES_SCHEMA.names}
    for i, e in enumerate(links[300:]):
        for name in ("source", "target", "anchor", "rel", "follow", "position", "kind"):
            rows[name].append(e[name])
        rows["ordinal"].append(i)
        rows["source_domain"].append(registered_domain(host_of(e["source"])))
        rows["target_domain"].append(registered_domain(host_of(e["target"])))
        rows["internal"].append(rows["source_domain"][-1] == rows["target_domain"][-1])
        rows["discovered_at"].append(WHEN)
        rows["origin"].append("html")
    more.write(pa.table(rows, schema=EDGES_SCHEMA))
    edges = pd.read_parquet(root / "edges", columns=["source", "target", "source_domain",
                                                     "target_domain"])  # fmt: skip
    fetched = pd.read_parquet(root / "pages", columns=["url"])["url"]
    graph = load_graph(root)
    codes, urls = pd.factorize(pd.concat([edges["source"], edges["target"], fetched]))
    assert graph.urls.to_pylist() == list(urls)
    assert [*graph.source, *graph.target] == codes[: 2 * len(edges)].tolist()
    codes, domains = pd.factorize(pd.concat([edges["source_domain"], edges["target_domain"]]))
    assert graph.domains.to_pylist() == [*domains, "lonely-page.net"]
    assert [*graph.source_domain, *graph.target_domain] == codes.tolist()


# -- the dataset: resumed crawls, schemas, readers -----------------------------------------


def test_a_page_written_twice_counts_once(tmp_path):
    once, twice = tmp_path / "once", tmp_path / "twice"
    write_crawl(once, strong_page_web())
    write_crawl(twice, strong_page_web(), times=2)
    for root in (once, twice):
        analyze(root)
    for name in ("pages", "domains", "inbound"):
        pd.testing.assert_frame_equal(authority_table(once, name), authority_table(twice, name))
    assert authority_table(once, "pages").set_index("url").loc[TARGET, "inlinks"] == 4


def test_a_large_inbound_table_is_in_order_in_row_groups_and_dictionary_encoded(tmp_path):
    # 150,000 links between 1,500 domains: inbound.parquet is several row groups, built
    # and written a chunk at a time.
    import random

    rng = random.Random(5)
    positions = ["content", "footer", "navigation"]
    links = [
        link(f"http://d{d}.com/p{p}", f"http://d{rng.randrange(1500)}.com/p{rng.randrange(10)}",
             position=rng.choice(positions), follow=rng.random() < 0.8, anchor=f"a{i % 37}")
        for d in range(1500) for p in range(10) for i in range(10)
    ]  # fmt: skip
    write_crawl(tmp_path, links)
    analyze(tmp_path)
    path = tmp_path / "authority" / "crawl_id=c1" / "inbound.parquet"
    meta = pq.read_metadata(path)
    assert meta.num_rows == sum(
        e["source"].split("/")[2] != e["target"].split("/")[2] for e in links
    )
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [65_536] * (
        meta.num_rows // 65_536
    ) + [meta.num_rows % 65_536]
    encoded = set(DICTIONARY_COLUMNS["authority/inbound"])
    for i in range(meta.num_row_groups):
        for j in range(meta.num_columns):
            column = meta.row_group(i).column(j)
            assert column.has_dictionary_page == (column.path_in_schema in encoded)
    # The order by its definition, in pandas: target domain (in the order the crawl met
    # it), then value and source authority highest first, then the edges' order (a
    # page's links have distinct anchors, so source and anchor name an edges row); rank
    # counts within the domain.
    inbound = pd.read_parquet(path)
    edges = pd.read_parquet(tmp_path / "edges")
    _, domains = pd.factorize(pd.concat([edges["source_domain"], edges["target_domain"]]))
    inbound["domain_id"] = inbound["target_domain"].map({d: i for i, d in enumerate(domains)})
    edges["row"] = np.arange(len(edges))
    rows = edges[["source", "anchor", "row"]]
    inbound = inbound.merge(rows, on=["source", "anchor"], how="left", validate="1:1")
    expected = inbound.sort_values(
        ["domain_id", "value", "source_authority", "row"],
        ascending=[True, False, False, True],
        kind="stable",
    )
    assert expected.index.tolist() == list(range(len(inbound)))
    assert (expected.groupby("target_domain").cumcount() + 1).tolist() == inbound["rank"].tolist()
    assert not list((tmp_path / ".staging").glob("*"))


def test_tables_have_the_declared_schemas_and_load_in_duckdb(tmp_path):
    write_crawl(tmp_path, strong_page_web())
    crawl_id = analyze(tmp_path)
    assert crawl_id == "c1"
    base = tmp_path / "authority" / "crawl_id=c1"
    for name, schema in (("pages", PAGE_AUTHORITY_SCHEMA), ("domains", DOMAINS_SCHEMA),
                         ("inbound", INBOUND_SCHEMA)):  # fmt: skip
        assert (
            pq.read_schema(base / f"{name}.parquet")
            .remove_metadata()
            .equals(schema.remove_metadata())
        )
    assert not list((tmp_path / ".staging").glob("*"))
    total = duckdb.sql(
        f"select sum(pagerank) from read_parquet('{base / 'pages.parquet'}')"
    ).fetchall()[0][0]
    assert total == pytest.approx(1.0, abs=1e-9)


def test_redirects_pass_full_weight_and_self_links_nothing(tmp_path):
    old, new = "http://www.moved-example.com/old", "http://www.moved-example.com/new"
    links = [
        link("http://www.fan0.org/", old, position="footer"),
        link(old, new, position=None, kind="redirect"),
        link(new, new),
    ]
    write_crawl(tmp_path, links)
    G = page_graph(tmp_path)
    assert G[old][new]["weight"] == 1.0 and not G.has_edge(new, new)
    assert G["http://www.fan0.org/"][old]["weight"] == 0.25


def test_latest_finished_crawl_by_default(tmp_path):
    write_crawl(tmp_path, strong_page_web(), crawl_id="c1")
    write_crawl(
        tmp_path, link_farm_web(), crawl_id="c2", started_at=datetime(2026, 11, 23, tzinfo=UTC)
    )
    assert analyze(tmp_path) == "c2"
    with pytest.raises(DatasetError, match="run `linkcrawl analyze` first"):
        backlinks(tmp_path, "target-shop.com", crawl_id="c1")
    assert backlinks(tmp_path, "popular-a.com").summary["crawl_id"] == "c2"


# -- targets and errors ------------------------------------------------------------------------


def test_targets_domain_host_and_url_prefix(tmp_path):
    links = [
        link("http://www.fan1.org/", "http://www.target-shop.com/stories/a"),
        link("http://www.fan2.org/", "http://www.target-shop.com/stories/b"),
        link("http://www.fan2.org/", "http://www.target-shop.com/storiesx"),
        link("http://www.fan3.org/", "http://blog.target-shop.com/stories/a"),
    ]
    write_crawl(tmp_path, links)
    analyze(tmp_path)
    assert backlinks(tmp_path, "target-shop.com").summary["inbound_links"] == 4
    assert backlinks(tmp_path, "TARGET-SHOP.COM").summary["inbound_links"] == 4
    assert backlinks(tmp_path, "blog.target-shop.com").summary["inbound_links"] == 1
    prefix = backlinks(tmp_path, "http://www.target-shop.com/stories/")
    assert prefix.summary["inbound_links"] == 2 and prefix.summary["referring_domains"] == 2
    assert set(prefix.links["target"]) == {"http://www.target-shop.com/stories/a",
                                           "http://www.target-shop.com/stories/b"}  # fmt: skip
    assert len(backlinks(tmp_path, "target-shop.com", limit=1).links) == 1


def test_a_target_without_inbound_links_is_an_empty_report(tmp_path):
    write_crawl(tmp_path, strong_page_web())
    analyze(tmp_path)
    report = backlinks(tmp_path, "nobody-links-here.com")
    assert report.links.empty
    assert list(report.links.columns) == [*INBOUND_SCHEMA.names, "relevance", "domain_relevance"]
    assert report.summary == {
        "target": "nobody-links-here.com", "crawl_id": "c1", "referring_domains": 0,
        "inbound_links": 0, "followed_share": None, "top_anchors": [], "top_pages": [],
    }  # fmt: skip


def test_errors_are_one_line_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such data directory"):
        analyze(tmp_path / "missing")
    write_crawl(tmp_path, strong_page_web())
    with pytest.raises(DatasetError, match="unknown engine 'igraph'"):
        analyze(tmp_path, engine="igraph")
    with pytest.raises(DatasetError, match="no crawl 'nope'"):
        analyze(tmp_path, crawl_id="nope")
    for call in (lambda: backlinks(tmp_path, "target-shop.com"), lambda: top_domains(tmp_path)):
        with pytest.raises(DatasetError, match="run `linkcrawl analyze` first") as err:
            call()
        assert "\n" not in str(err.value)
    analyze(tmp_path)
    with pytest.raises(DatasetError, match="bad target"):
        backlinks(tmp_path, "not a domain")


def test_a_crawl_without_links(tmp_path):
    write_crawl(tmp_path, [], pages=["http://www.alone.com/", "http://b.alone.com/"])
    analyze(tmp_path)
    pages = authority_table(tmp_path, "pages")
    assert list(pages["pagerank"]) == [0.5, 0.5] and list(pages["authority"]) == [0.0, 0.0]
    assert list(authority_table(tmp_path, "domains")["domain"]) == ["alone.com"]
    assert authority_table(tmp_path, "inbound").empty


def test_page_graph_counts_links_right_beyond_46341_pages(tmp_path):
    """``links`` on each page_graph edge is how many links its source has to its target:
    checked against a pandas count of the edges, on a crawl of 50,000 pages, past the
    46,341 pages where a pair key ``source * n_pages + target`` overflows int32."""
    n = 50_000
    url = [f"http://www.ring-example.com/p{i}" for i in range(n)]
    links = []
    for i in range(n):
        plain = {"anchor": "", "rel": "", "follow": True, "position": "content"}
        links.append({"source": url[i], "target": url[(i + 1) % n], "kind": "anchor", **plain})
        for _ in range(i % 3 + 1):  # 1, 2 or 3 links to the page after next
            links.append({"source": url[i], "target": url[(i + 2) % n], "kind": "anchor", **plain})
    write_crawl(tmp_path, links)
    G = page_graph(tmp_path)
    expected = (
        pd.DataFrame(links).groupby(["source", "target"]).size().rename("links").reset_index()
    )
    got = pd.DataFrame(
        [(u, v, d["links"]) for u, v, d in G.edges(data=True)],
        columns=["source", "target", "links"],
    )
    merged = expected.merge(got, on=["source", "target"], how="outer", suffixes=("", "_got"))
    assert len(merged) == len(expected) == 2 * n
    assert (merged["links"] == merged["links_got"]).all()


def test_the_weight_rule_is_one_rule_in_python_and_in_sql():
    """Definition.weight (the in-memory engines) and Definition.weight_sql (duckdb, spark)
    give every link the weight docs/authority.md states, by hand: follow x position, a
    link without a position or with an unknown one counting as content, a redirect,
    refresh or canonical passing full position weight."""
    import duckdb

    from linkcrawl.analysis.definition import Definition

    d = Definition.make({"content": 0.8, "footer": 0.2}, nofollow_weight=0.5)
    cases = [  # follow, kind, position, weight by hand
        (True, "link", "content", 0.8),
        (True, "link", "footer", 0.2),
        (False, "link", "footer", 0.1),
        (True, "link", None, 0.8),
        (True, "link", "banner", 0.8),
        (False, "link", None, 0.4),
        (True, "redirect", None, 1.0),
        (False, "canonical", "footer", 0.5),
        (True, "refresh", "head", 1.0),
    ]
    con = duckdb.connect()
    sql = d.weight_sql("follow", "kind", "position")
    for follow, kind, position, expected in cases:
        assert d.weight(follow, kind, position) == pytest.approx(expected)
        got = con.execute(
            f"SELECT {sql} FROM (SELECT ?::BOOLEAN AS follow, ?::VARCHAR AS kind, "
            "?::VARCHAR AS position)",
            [follow, kind, position],
        ).fetchone()[0]
        assert float(got) == pytest.approx(expected), (follow, kind, position)
