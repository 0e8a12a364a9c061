"""analyze, backlinks and top_domains on small webs written as real Parquet datasets: link
weights, link farms, domain counts, authority scale, resumed crawls, errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import duckdb
import networkx as nx
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze, backlinks, page_graph, pagerank, top_domains
from linkcrawl.dataset.manifest import write_manifest
from linkcrawl.dataset.schemas import (
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


def test_urls_numbered_by_hash_as_dictionary_encode_numbers_them(monkeypatch):
    from linkcrawl.analysis import graph

    chunks = [
        pa.array([f"http://site{i % 7}.com/p{i % 13}" for i in range(k, k + 50)])
        for k in (0, 30, 100)
    ]
    column = pa.chunked_array(chunks)
    expected = column.combine_chunks().dictionary_encode()
    # dictionary_encode, then the hashed numbering in one batch and in several
    for threshold, batch in ((10**9, 1 << 20), (0, 1 << 20), (0, 40)):
        monkeypatch.setattr(graph, "_HASH_MIN", threshold)
        monkeypatch.setattr(graph, "_HASH_BATCH", batch)
        dictionary, (ids,) = graph._encode([column])
        assert dictionary.equals(expected.dictionary)
        assert ids.tolist() == expected.indices.to_pylist()
        # The targets come as a polars Series (read by polars), between Arrow columns.
        first, rest = column.slice(0, 30), column.slice(30)
        series = pl.from_arrow(column.slice(30, 60))
        dictionary, (a, b, c) = graph._encode([first, series, rest.slice(60)])
        assert dictionary.equals(expected.dictionary)
        assert [*a, *b, *c] == expected.indices.to_pylist()


def test_dictionary_chunks_numbered_by_first_appearance_as_pandas_does():
    # The small edges columns are read as a dictionary per row group; several columns
    # share one numbering, and null is -1.
    from linkcrawl.analysis import graph

    plain = [
        ["footer", None, "content", "footer", "sidebar"],
        ["nav", "content", None, "header"],
        ["header", "aside", "aside"],
    ]
    column = pa.chunked_array([pc.dictionary_encode(pa.array(values)) for values in plain])
    other = pa.chunked_array([pc.dictionary_encode(pa.array(["zzz", "nav", None]))])
    assert graph._unify_dictionaries([column, other]) is not None  # the path for these
    dictionary, (ids, other_ids) = graph._encode([column, other])
    values = [v for values in plain for v in values] + ["zzz", "nav", None]
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    assert dictionary.to_pylist() == list(uniques)
    assert [*ids, *other_ids] == codes.tolist()
    assert ids.dtype == np.int32


def test_urls_hashed_as_they_are_read_are_numbered_as_pandas_does(monkeypatch):
    """The target URLs come as a stream of batches, numbered as they come, in a hash
    table sized for an eighth of the strings known beforehand: it grows, and the ids
    must still be pandas' own, in first appearance order across the pieces."""
    from linkcrawl.analysis import graph

    rng = np.random.default_rng(7)
    monkeypatch.setattr(graph, "_HASH_MIN", 0)
    for distinct, size in ((5_000, 5_000), (900, 40_000), (1, 3)):
        urls = np.array([f"https://site{i % 97}.com/page-{i}" for i in range(distinct)])
        values = urls[rng.integers(0, distinct, size)]
        head, batches, tail = values[: size // 4], np.array_split(values[size // 4 :], 5), urls

        def stream(batches=batches):
            return iter([pl.Series(batch) for batch in batches])

        dictionary, (a, b, c) = graph._encode(
            [pa.chunked_array([pa.array(head)]), stream, pa.chunked_array([pa.array(tail)])]
        )
        codes, uniques = pd.factorize(np.concatenate([values, tail]))
        assert dictionary.to_pylist() == list(uniques)
        assert [*a, *b, *c] == codes.tolist()


def test_urls_whose_first_hashes_collide_are_numbered_by_dictionary_encode(monkeypatch):
    # Two URLs with one first hash (odds of 1 in 10^7 for a million URLs): the numbering
    # starts again with dictionary_encode, reading the streams again, including target
    # URLs that came hashed from their reading thread.
    from linkcrawl.analysis import graph

    hashes = graph._hashes
    monkeypatch.setattr(graph, "_HASH_MIN", 0)
    monkeypatch.setattr(graph, "_hashes", lambda s: (hashes(s)[0] & np.uint64(3), hashes(s)[1]))
    urls = [f"https://s{i % 5}.com/{i % 11}" for i in range(60)]

    def stream():
        series = pl.Series(urls[20:40])
        return iter([graph._Hashed(series, graph._hashes(series)), pl.Series(urls[40:45])])

    dictionary, (a, b, c) = graph._encode(
        [pa.chunked_array([pa.array(urls[:20])]), stream, pa.chunked_array([pa.array(urls[45:])])]
    )
    codes, uniques = pd.factorize(np.array(urls))
    assert dictionary.to_pylist() == list(uniques)
    assert [*a, *b, *c] == codes.tolist()


def test_urls_are_numbered_without_pandas_internals(monkeypatch):
    # The hashed numbering uses pandas' own hash table class; a pandas that moved it
    # leaves the numbering to dictionary_encode, with the same ids.
    import sys

    from linkcrawl.analysis import graph

    monkeypatch.setattr(graph, "_HASH_MIN", 0)
    monkeypatch.setitem(sys.modules, "pandas._libs.hashtable", None)  # import fails
    urls = [f"https://s{i % 5}.com/{i % 11}" for i in range(60)]
    dictionary, (a, b) = graph._encode(
        [pa.chunked_array([pa.array(urls[:20])]), lambda: iter([pl.Series(urls[20:])])]
    )
    codes, uniques = pd.factorize(np.array(urls))
    assert dictionary.to_pylist() == list(uniques)
    assert [*a, *b] == codes.tolist()


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


def test_inbound_written_in_two_parts_is_the_file_one_writer_writes(tmp_path, monkeypatch):
    # 150,000 links between 1,500 domains: inbound.parquet is more than two row groups,
    # enough to be cut in two parts at a row group, written at once and joined.
    import random

    import linkcrawl.analysis.authority as authority

    rng = random.Random(5)
    positions = ["content", "footer", "navigation"]
    links = [
        link(f"http://d{d}.com/p{p}", f"http://d{rng.randrange(1500)}.com/p{rng.randrange(10)}",
             position=rng.choice(positions), follow=rng.random() < 0.8, anchor=f"a{i % 37}")
        for d in range(1500) for p in range(10) for i in range(10)
    ]  # fmt: skip
    write_crawl(tmp_path, links)
    parts_written = []

    def spy(parts, *args):
        parts_written.append(len(parts))
        return write_parts_atomic(parts, *args)

    write_parts_atomic = authority.write_parts_atomic
    monkeypatch.setattr(authority, "write_parts_atomic", spy)
    path = tmp_path / "authority" / "crawl_id=c1" / "inbound.parquet"
    monkeypatch.setattr(authority, "_INBOUND_PARTS_MIN", 10**12)
    analyze(tmp_path)
    one_writer = path.read_bytes()
    assert pq.read_metadata(path).num_rows > 2 * 65_536
    # Chunks larger than the table (the cut inside the one chunk), and smaller ones.
    for chunk in (authority._INBOUND_CHUNK, 30_000):
        monkeypatch.setattr(authority, "_INBOUND_PARTS_MIN", 0)
        monkeypatch.setattr(authority, "_INBOUND_CHUNK", chunk)
        analyze(tmp_path)
        assert path.read_bytes() == one_writer
    assert parts_written == [1, 2, 2]
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
    assert report.links.empty and list(report.links.columns) == INBOUND_SCHEMA.names
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


def test_inbound_order_is_domain_then_value_then_source_authority():
    """The sort of inbound.parquet against the plain definition: three stable sorts,
    least significant key first."""
    from linkcrawl.analysis.authority import _inbound_order

    rng = np.random.default_rng(1)
    for trial in range(200):
        n = int(rng.integers(1, 300))
        n_domains = 3 if trial % 4 else 70_000  # one radix pass, and two
        domain = rng.integers(0, n_domains, n).astype(np.int32)
        # many equal values (one page's links into a domain), or none; and nofollow
        # links, which pass nothing (value 0), from sources of any authority
        value = rng.choice([0.0, 0.1, 0.2, 0.3], n) if trial % 2 else rng.random(n)
        if trial % 3 == 0:
            value[rng.random(n) < 0.3] = 0.0
        authority = rng.choice([10.0, 20.0] if trial % 5 else [0.0, 10.0, 100.0], n)
        expected = np.argsort(-authority, kind="stable")
        expected = expected[np.argsort(-value[expected], kind="stable")]
        expected = expected[np.argsort(domain[expected], kind="stable")]
        got = _inbound_order(domain, value, authority, n_domains)
        assert got.tolist() == expected.tolist()


def test_float_radix_argsort_is_numpys_stable_argsort():
    # Keys with ties, both signs, zeros of both signs, infinities, tiny and huge values,
    # and keys equal in some 16-bit digits (skipped passes).
    from linkcrawl.analysis.authority import _argsort_floats

    rng = np.random.default_rng(7)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1e308, -1e308, 1.0])
    for trial in range(300):
        n = int(rng.integers(0, 400))
        if trial % 3 == 0:
            key = rng.choice(specials, n)
        elif trial % 3 == 1:
            key = rng.choice(rng.normal(size=5), n)  # few distinct values: many ties
        else:
            key = rng.normal(scale=10.0 ** rng.integers(-300, 300), size=n)
        expected = np.argsort(key, kind="stable")
        assert _argsort_floats(key).tolist() == expected.tolist()
    # Ranks: highest score first, ties in id order.
    from linkcrawl.analysis.authority import _ranks

    scores = np.array([0.2, 0.5, 0.2, 0.1, 0.5])
    ranks, order = _ranks(scores)
    assert order.tolist() == [1, 4, 0, 2, 3] and ranks.tolist() == [3, 1, 4, 5, 2]


def _mmapped_blocks_for_a_new_array() -> int | None:
    """How many blocks glibc's malloc maps for a fresh 64 MB array (None without glibc)."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]  # fmt: skip

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = Mallinfo2
    except (OSError, AttributeError):
        return None
    before = libc.mallinfo2().hblks
    block = bytearray(64 << 20)
    after = libc.mallinfo2().hblks
    del block
    return after - before


def test_analyze_allocation_settings_are_kept_to_it_unless_the_user_chose(tmp_path, monkeypatch):
    from numpy._core import multiarray

    write_crawl(tmp_path, strong_page_web())
    pool, madvise = pa.default_memory_pool().backend_name, multiarray._get_madvise_hugepage()
    mapped = _mmapped_blocks_for_a_new_array()
    seen = []

    def progress(line):
        seen.append(
            (
                pa.default_memory_pool().backend_name,
                multiarray._get_madvise_hugepage(),
                _mmapped_blocks_for_a_new_array(),
            )
        )

    analyze(tmp_path, progress=progress)
    # During analyze: the system allocator, no huge pages, and glibc's malloc serves a
    # large array from its heap, where freed memory is kept.
    assert set(seen) == {("system", False, None if mapped is None else 0)}
    # Restored afterwards.
    assert pa.default_memory_pool().backend_name == pool
    assert multiarray._get_madvise_hugepage() == madvise
    assert _mmapped_blocks_for_a_new_array() == mapped
    # A user's choice is kept.
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", pool)
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1" if madvise else "0")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "131072")
    seen.clear()
    analyze(tmp_path, progress=progress)
    assert set(seen) == {(pool, madvise, mapped)}


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
