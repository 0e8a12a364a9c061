"""The sparse PageRank against networkx: hand graphs, random graphs (hypothesis), and the real
polblogs hyperlink network from ../shared/data/graphs."""

from __future__ import annotations

import csv
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkcrawl.analysis import analyze, pagerank, pagerank_arrays
from linkcrawl.analysis.graph import collapse_links, load_graph
from linkcrawl.analysis.iteration import power_iteration, transition_matrix
from linkcrawl.extract.urls import normalize_url
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import need_shared_data

# The module (the package exports its function pagerank under the same name).
GRAPHS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "graphs"


def reference(n: int, links: list[tuple[int, int, float]]) -> np.ndarray:
    """nx.pagerank, converged for real, on a DiGraph built the documented way: self-links
    dropped, parallel links kept once at their highest weight."""
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    for u, v, w in links:
        if u == v:
            continue
        if not G.has_edge(u, v) or G[u][v]["weight"] < w:
            G.add_edge(u, v, weight=w)
    scores = nx.pagerank(G, alpha=0.85, tol=1e-12, max_iter=10_000, weight="weight")
    return np.array([scores[i] for i in range(n)])


def run(n: int, links: list[tuple[int, int, float]]) -> np.ndarray:
    source = np.array([u for u, _, _ in links], dtype=np.int64)
    target = np.array([v for _, v, _ in links], dtype=np.int64)
    weight = np.array([w for _, _, w in links], dtype=np.float64)
    return pagerank_arrays(source, target, weight, n)[0]


def test_cycle_is_uniform():
    # By symmetry every node of a directed cycle has rank 1/n.
    scores = run(5, [(i, (i + 1) % 5, 1.0) for i in range(5)])
    np.testing.assert_allclose(scores, 0.2, atol=1e-9)


def test_two_nodes_by_hand():
    # a -> b; b is dangling, so its rank spreads over both. With d = 0.85 and n = 2:
    #   a = 0.15 / 2 + 0.85 b / 2  and  a + b = 1   =>   1.425 a = 0.5.
    a = 0.5 / 1.425
    scores = run(2, [(0, 1, 1.0)])
    np.testing.assert_allclose(scores, [a, 1 - a], atol=1e-8)


def test_weights_split_rank_in_proportion():
    # 0 links to 1 with weight 1 and to 2 with weight 0.25: 1 gets four times 2's share.
    links = [(0, 1, 1.0), (0, 2, 0.25), (1, 0, 1.0), (2, 0, 1.0)]
    scores = run(3, links)
    np.testing.assert_allclose(scores, reference(3, links), atol=1e-9)
    jump = 0.15 / 3
    assert (scores[1] - jump) == pytest.approx(4 * (scores[2] - jump), rel=1e-6)


def test_duplicates_count_once_at_highest_weight_and_self_links_are_dropped():
    with_extras = [(0, 1, 0.25), (0, 1, 1.0), (0, 1, 0.5), (0, 0, 1.0), (0, 2, 0.5), (2, 2, 1.0)]
    plain = [(0, 1, 1.0), (0, 2, 0.5)]
    np.testing.assert_allclose(run(3, with_extras), run(3, plain), atol=1e-12)
    np.testing.assert_allclose(run(3, with_extras), reference(3, plain), atol=1e-9)


def test_zero_weight_links_make_a_page_dangling():
    # A page whose only links are nofollow (weight 0) passes nothing to them: its rank
    # spreads uniformly, exactly as for a page without links.
    np.testing.assert_allclose(
        run(3, [(0, 1, 0.0), (1, 2, 1.0)]), run(3, [(1, 2, 1.0)]), atol=1e-12
    )


def test_empty_and_linkless_graphs():
    assert len(run(0, [])) == 0
    np.testing.assert_allclose(run(4, []), 0.25)


def test_converges_where_networkx_default_tolerance_stops_early():
    # A long chain mixes slowly; nx.pagerank's default stops at L1 change < n * 1e-6.
    n = 3000
    links = [(i, i + 1, 1.0) for i in range(n - 1)]
    exact = reference(n, links)
    ours = run(n, links)
    assert np.abs(ours - exact).sum() < 1e-6
    G = nx.DiGraph((u, v) for u, v, _ in links)
    loose = nx.pagerank(G)
    assert np.abs(np.array([loose[i] for i in range(n)]) - exact).sum() > 1e-4


links_strategy = st.integers(1, 25).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(
            st.tuples(
                st.integers(0, n - 1),
                st.integers(0, n - 1),
                st.sampled_from([0.0, 0.25, 0.4, 0.5, 1.0]),
            ),
            max_size=80,
        ),
    )
)


@settings(max_examples=200, deadline=None)
@given(links_strategy)
def test_random_graphs_agree_with_networkx(case):
    n, links = case
    ours = run(n, links)
    assert ours.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.abs(ours - reference(n, links)).sum() < 1e-6


@settings(max_examples=100, deadline=None)
@given(links_strategy)
def test_collapsed_links_are_the_reference_digraph(case):
    # As the analysis calls it: the distinct weights and each link's index among them
    # known beforehand (CrawlGraph.levels).
    n, links = case
    G = nx.DiGraph()
    for u, v, w in links:
        if u != v and (not G.has_edge(u, v) or G[u][v]["weight"] < w):
            G.add_edge(u, v, weight=w)
    source = np.array([u for u, _, _ in links], dtype=np.int32)
    target = np.array([v for _, v, _ in links], dtype=np.int32)
    weight = np.array([w for _, _, w in links], dtype=np.float64)
    distinct, index = np.unique(np.append(weight, [0.1, 2.0]), return_inverse=True)
    levels = (distinct, index[: len(links)].astype(np.uint8))
    for keep_zero in (True, False):
        got = collapse_links(source, target, weight, n, keep_zero=keep_zero, levels=levels)
        want = sorted(
            (u, v, d["weight"]) for u, v, d in G.edges(data=True) if keep_zero or d["weight"] > 0
        )
        assert list(zip(*(a.tolist() for a in got), strict=True)) == want


# -- the real graph ---------------------------------------------------------------------------


def polblogs() -> tuple[list[str], list[tuple[str, str]]]:
    """Node URLs (labels trimmed of the trailing junk some carry) and links as URL pairs."""
    need_shared_data(GRAPHS / "polblogs_edges.tsv")
    with open(GRAPHS / "polblogs_nodes.tsv", newline="") as fh:
        labels = {row["id"]: row["label"] for row in csv.DictReader(fh, delimiter="\t")}
    url = {
        i: normalize_url("http://" + label.strip().rstrip("/") + "/") for i, label in labels.items()
    }
    with open(GRAPHS / "polblogs_edges.tsv", newline="") as fh:
        links = [
            (url[r["source_id"]], url[r["target_id"]]) for r in csv.DictReader(fh, delimiter="\t")
        ]
    return sorted(set(url.values())), links


@pytest.fixture(scope="module")
def polblogs_crawl(tmp_path_factory):
    urls, links = polblogs()
    root = tmp_path_factory.mktemp("polblogs")
    edges = pd.DataFrame(links, columns=["source", "target"])
    import_edges(root, edges, "polblogs1", pages=urls)
    return root, urls, links


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_polblogs_sparse_engine_matches_networkx(polblogs_crawl, threads):
    # Large graphs multiply in two threads, half of the rows each: both ways here.
    root, urls, links = polblogs_crawl
    # Two blogs are listed twice under messy labels, and merge: "atrios.blogspot.com/ " and
    # "atrios.blogspot.com", "celluloid-wisdom.com/pw" and "celluloid-wisdom.com/pw/".
    assert len(urls) == 1490 - 2
    G = nx.DiGraph()
    G.add_nodes_from(urls)
    G.add_edges_from((u, v) for u, v in links if u != v)
    expected = pd.Series(nx.pagerank(G, tol=1e-12, max_iter=10_000))
    if threads is None:
        ours = pagerank(root)
    else:
        graph = load_graph(root)
        P, dangling = transition_matrix(*graph.collapsed(keep_zero=False), graph.n_pages, 0.85)
        x, _ = power_iteration(P, dangling, damping=0.85, threads=threads)
        ours = pd.Series(x, index=graph.urls.to_pylist())
    assert len(ours) == len(urls)  # the 266 isolated blogs are nodes too
    assert (ours - expected.reindex(ours.index)).abs().sum() < 1e-6
    assert ours.idxmax() == expected.idxmax()


def test_polblogs_engines_agree_in_the_written_tables(polblogs_crawl):
    root, _, _ = polblogs_crawl
    tables = {}
    for engine in ("networkx", "sparse"):
        analyze(root, engine=engine)
        tables[engine] = {
            t: pd.read_parquet(root / "authority" / "crawl_id=polblogs1" / f"{t}.parquet")
            for t in ("pages", "domains")
        }
    for t, key in (("pages", "url"), ("domains", "domain")):
        a = tables["networkx"][t].set_index(key)
        b = tables["sparse"][t].set_index(key).reindex(a.index)
        assert (a["pagerank"] - b["pagerank"]).abs().sum() < 1e-6
        assert (a["authority"] - b["authority"]).abs().max() < 1e-3


def test_polblogs_domain_rollup_of_messy_labels(polblogs_crawl):
    root, _, _ = polblogs_crawl
    analyze(root)
    domains = pd.read_parquet(root / "authority" / "crawl_id=polblogs1" / "domains.parquet")
    names = set(domains["domain"])
    # blogspot.com is a public (private-section) suffix: each blog is a domain of its own.
    assert {"atrios.blogspot.com", "brunon.blogspot.com"} <= names
    assert "blogspot.com" not in names
    assert "celluloid-wisdom.com" in names  # from the label "celluloid-wisdom.com/pw"
    assert "thegillfamily.us" in names  # "vernsblog.thegillfamily.us:8180"
