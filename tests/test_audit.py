"""Link audit: TrustRank and spam mass against networkx on a hand graph, and the whole audit
(flags, disavow) on a local web with a trusted core, a link exchange, a sitewide footer
link and a spam farm, crawled by the real command line."""

from __future__ import annotations

import os
import shutil

import networkx as nx
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.analysis.audit import audit_into, previous_trusted
from linkcrawl.analysis.definition import Definition
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from linkcrawl.errors import DatasetError
from linkcrawl.reports.audit import (
    AUDITED_DOMAINS_SCHEMA,
    AUDITED_INBOUND_SCHEMA,
    audit,
    core_pagerank,
    disavow,
    trustrank,
)
from tests.conftest import FAST, SHARED_DATA, need_shared_data, run_linkcrawl

# -- a hand graph: 0, 1, 2 trusted core linking each other and to 3, a good site; a farm
# 5..9 linking only to 4, a spam target that links back into the farm; 3 links back to 0;
# 10 is dangling and linked from 3.
EDGES = [(0, 1), (1, 0), (1, 2), (2, 0), (0, 3), (1, 3), (2, 3), (3, 0), (3, 10), (4, 5)]
EDGES += [(f, 4) for f in range(5, 10)]
N = 11
CORE = [0, 1, 2]


def hand_graph() -> nx.DiGraph:
    G = nx.DiGraph()
    G.add_nodes_from(range(N))
    G.add_edges_from(EDGES)
    return G


def arrays() -> tuple[np.ndarray, np.ndarray]:
    pairs = sorted(EDGES)
    return np.array([s for s, _ in pairs]), np.array([t for _, t in pairs])


def test_trustrank_is_pagerank_restarted_on_the_seeds():
    source, target = arrays()
    expected = nx.pagerank(
        hand_graph(), personalization={c: 1 for c in CORE}, tol=1e-14, max_iter=10_000
    )
    got = trustrank(source, target, N, CORE)
    assert got.sum() == pytest.approx(1.0)
    assert np.abs(got - [expected[i] for i in range(N)]).sum() < 1e-7
    # No trusted path reaches the farm or the spam target: exactly no trust.
    assert (got[4:10] == 0).all()
    assert got[3] > 0 and got[10] > 0


def test_spam_mass_on_a_farm_pushed_target():
    source, target = arrays()
    G = hand_graph()
    p = nx.pagerank(G, tol=1e-14, max_iter=10_000)
    # Core-based PageRank: jump 1/N on the core only, dangling rank spread uniformly. It
    # is linear in the jump vector, so it is |core|/N times nx.pagerank personalised on
    # the core with uniform dangling spread.
    core_nx = nx.pagerank(
        G,
        personalization={c: 1 for c in CORE},
        dangling={i: 1 for i in range(N)},
        tol=1e-14,
        max_iter=10_000,
    )
    p_core = core_pagerank(source, target, N, CORE, Definition(tol=1e-13))
    assert p_core.sum() == pytest.approx(len(CORE) / N)
    for i in range(N):
        assert p_core[i] == pytest.approx(len(CORE) / N * core_nx[i], abs=1e-11)
    # At the default tolerance, within the bound of docs/authority.md (tol · d / (1 − d)).
    assert np.abs(core_pagerank(source, target, N, CORE) - p_core).sum() < 6e-8
    mass = {i: 1 - p_core[i] / p[i] for i in range(N)}
    # The spam target's rank comes from the farm; its only core-based rank is what the
    # dangling node 10 spreads to everyone.
    assert mass[4] > 0.85
    # The good site is mostly vouched for by the core.
    assert mass[3] < 0.5
    assert mass[0] < mass[3] < mass[4]


# -- the local test web
TRUSTED = ["news-a-example.com", "news-b-example.org", "news-c-example.net"]
SHOP = "http://shop-example.com"
PILLS = "http://pills-example.com"
PARTNER = "http://partner-example.com"
BLOGROLL = "http://blogroll-example.net"
FARMS = [f"http://farm{i}-example.com" for i in range(1, 5)]
SEEDS = (
    [f"http://{d}/" for d in TRUSTED]
    + [f"{u}/" for u in (SHOP, PILLS, PARTNER, BLOGROLL)]
    + [f"{f}/" for f in FARMS]
)
EVIL = "<script>alert(1)</script>"


def page(*links: str) -> str:
    return "<html><body>" + "".join(links) + "</body></html>"


def audit_web() -> LocalWeb:
    web = LocalWeb()
    for i, domain in enumerate(TRUSTED):
        others = [d for d in TRUSTED if d != domain]
        web.add(
            f"http://{domain}/",
            page(
                *(f'<a href="http://{o}/">news</a>' for o in others),
                f'<a href="{SHOP}/">Shop Example</a>' if i < 2 else "",
                f'<a href="{SHOP}/shoes">shop-example.com</a>' if i == 2 else "",
            ),
        )
    web.add(
        f"{SHOP}/",
        page(
            '<a href="/shoes">Shoes</a>',
            f'<a href="{PARTNER}/">our partner</a>',
            f'<a href="http://{TRUSTED[0]}/">as seen in the news</a>',
        ),
    )
    web.add(f"{SHOP}/shoes", page('<a href="/">home</a>'))
    # A link exchange: the partner links back, with the money anchor.
    web.add(f"{PARTNER}/", page(f'<a href="{SHOP}/">buy cheap shoes</a>'))
    # A blogroll linking to the shop from the footer of every page, with the money anchor.
    footer = f'<footer><a href="{SHOP}/">buy cheap shoes</a></footer>'
    pages = [f"/post{i}" for i in range(1, 5)]
    web.add(
        f"{BLOGROLL}/",
        "<html><body>"
        + "".join(f'<a href="{p}">post</a>' for p in pages)
        + "".join(f'<a href="http://{d}/">news</a>' for d in TRUSTED)
        + f'<a href="{PARTNER}/">partner</a>'
        + f"{footer}</body></html>",
    )
    for p in pages:
        web.add(f"{BLOGROLL}{p}", f"<html><body><p>text</p>{footer}</body></html>")
    # The spam target links back to its farm, and to the shop with the money anchor and a
    # hostile one.
    web.add(
        f"{PILLS}/",
        page(
            *(f'<a href="{farm}/">partner</a>' for farm in FARMS),
            f'<a href="{SHOP}/">buy cheap shoes</a>',
            f'<a href="{SHOP}/shoes">&lt;script&gt;alert(1)&lt;/script&gt;</a>',
        ),
    )
    # The farm: four domains of six pages each, every page linking to the spam target.
    for farm in FARMS:
        subpages = [f"/p{i}" for i in range(1, 6)]
        web.add(
            f"{farm}/",
            page(
                *(f'<a href="{p}">more</a>' for p in subpages),
                f'<a href="{PILLS}/">cheap pills</a>',
            ),
        )
        for p in subpages:
            web.add(f"{farm}{p}", page(f'<a href="{PILLS}/">cheap pills</a>'))
    return web


def domain_graph(data) -> nx.DiGraph:
    """The domain graph of crawl a1 built from the edges table with networkx: A -> B for
    any followed link between pages of two domains (docs/authority.md)."""
    edges = pq.read_table(data / "edges" / "crawl_id=a1").to_pandas()
    cross = edges[edges.follow & (edges.source_domain != edges.target_domain)]
    G = nx.DiGraph()
    G.add_nodes_from(set(edges.source_domain) | set(edges.target_domain))
    G.add_edges_from(zip(cross.source_domain, cross.target_domain, strict=True))
    return G


@pytest.fixture(scope="module")
def audit_data(tmp_path_factory):
    """The audit web crawled (crawl a1) and analysed: the data directory."""
    data = tmp_path_factory.mktemp("audit")
    with LocalWebServer(audit_web()) as server:
        result = run_linkcrawl(
            ["crawl", *SEEDS, "--data", str(data), "--crawl-id", "a1", *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    analyze(data, "a1")
    return data


@pytest.mark.slow
def test_audit_without_trusted_list_suggests_candidates(audit_data):
    result = audit(audit_data, "a1")
    assert not result.trust_computed
    assert any("not computed" in note for note in result.notes)
    assert result.domains.trust.isna().all() and result.domains.spam_mass.isna().all()
    # Candidates by inverse PageRank: PageRank of the reversed domain graph (networkx).
    G = domain_graph(audit_data)
    inverse = nx.pagerank(G.reverse(), tol=1e-14, max_iter=10_000)
    assert len(result.candidates) == G.number_of_nodes()  # fewer than 20
    for domain, score in zip(
        result.candidates.domain, result.candidates.inverse_pagerank, strict=True
    ):
        assert score == pytest.approx(inverse[domain], abs=1e-8)
    assert result.candidates.inverse_pagerank.is_monotonic_decreasing
    flags = dict(zip(result.domains.domain, result.domains["flags"].map(list), strict=True))
    assert all("spam-mass" not in f for f in flags.values())
    assert all(flags[f.split("//")[1]] == ["link-farm"] for f in FARMS)


@pytest.mark.slow
def test_audit_with_trusted_core(audit_data, tmp_path):
    trusted = tmp_path / "trusted.txt"
    trusted.write_text("# the news\n" + "\n".join(f"https://www.{d}/" for d in TRUSTED) + "\n")
    result = audit(audit_data, "a1", trusted=trusted)
    assert result.trust_computed and result.trusted == sorted(TRUSTED)
    domains = result.domains.set_index("domain")

    # Trust and spam mass of the crawl's domain graph, computed independently with networkx.
    G = domain_graph(audit_data)
    n = G.number_of_nodes()
    p = nx.pagerank(G, tol=1e-14, max_iter=10_000)
    trust = nx.pagerank(G, personalization=dict.fromkeys(TRUSTED, 1), tol=1e-14, max_iter=10_000)
    core = nx.pagerank(
        G,
        personalization=dict.fromkeys(TRUSTED, 1),
        dangling=dict.fromkeys(G, 1),
        tol=1e-14,
        max_iter=10_000,
    )
    for d in G:
        assert domains.loc[d, "trust"] == pytest.approx(trust[d], abs=1e-8)
        # Core-based PageRank scaled to a good share of half the domains (audit's default).
        gamma = max(1.0, 0.5 * n / len(TRUSTED))
        mass = 1 - gamma * len(TRUSTED) / n * core[d] / p[d]
        assert domains.loc[d, "spam_mass"] == pytest.approx(min(max(mass, 0.0), 1.0), abs=1e-6)
    for farm in FARMS:
        assert domains.loc[farm.split("//")[1], "trust"] == 0
    assert domains.loc["pills-example.com", "trust"] == 0
    assert domains.loc["pills-example.com", "spam_mass"] > 0.95
    # The shop gets rank from the spam target and the blogroll too, but less than 3/4 of it
    # comes from outside the core: not a spam-mass domain.
    assert domains.loc["shop-example.com", "spam_mass"] < 0.75
    # Unscaled (good_share=0), m = 1 - p'/p exactly: a core of 3 out of 11 domains leaves
    # much of everyone's rank outside it.
    plain = audit(audit_data, "a1", trusted=trusted, good_share=0).domains.set_index("domain")
    for d in G:
        mass = 1 - len(TRUSTED) / n * core[d] / p[d]
        assert plain.loc[d, "spam_mass"] == pytest.approx(max(mass, 0.0), abs=1e-6)
    assert plain.loc["shop-example.com", "spam_mass"] > 0.5
    result = audit(audit_data, "a1", trusted=trusted)
    assert list(domains.loc["pills-example.com", "flags"]) == ["spam-mass"]
    assert list(domains.loc["shop-example.com", "flags"]) == []

    # The tables on disk carry the audit columns, and pandas, DuckDB and polars read them.
    out = audit_data / "authority" / "crawl_id=a1"
    assert pq.read_schema(out / "domains.parquet").names == AUDITED_DOMAINS_SCHEMA.names
    assert pq.read_schema(out / "inbound.parquet").names == AUDITED_INBOUND_SCHEMA.names
    import duckdb
    import polars as pl

    sql = (
        f"SELECT DISTINCT source_domain FROM '{out / 'inbound.parquet'}' "
        "WHERE list_contains(flags, 'sitewide') ORDER BY 1"
    )
    # The blogroll's footer, and every farm page's link to the spam target.
    farms = [f.split("//")[1] for f in FARMS]
    assert duckdb.sql(sql).fetchall() == [("blogroll-example.net",)] + [(f,) for f in farms]
    frame = pl.read_parquet(out / "inbound.parquet")
    assert frame.filter(pl.col("flags").list.contains("reciprocal"))[
        "source_domain"
    ].unique().sort().to_list() == [
        *farms,
        "partner-example.com",
        "pills-example.com",
        "shop-example.com",  # to the partner and to news-a, which link back
    ]

    # The shop's inbound links, flag by flag, by referring domain (hand count of the web).
    inbound = pq.read_table(out / "inbound.parquet").to_pandas()
    shop = inbound[inbound.target_domain == "shop-example.com"]
    by_domain = {
        d: sorted({f for flags in g["flags"] for f in flags})
        for d, g in shop.groupby("source_domain")
    }
    assert by_domain == {
        "blogroll-example.net": ["anchor-overuse", "sitewide"],
        "news-a-example.com": [],
        "news-b-example.org": [],
        "news-c-example.net": [],
        "partner-example.com": ["anchor-overuse", "reciprocal"],
        "pills-example.com": ["anchor-overuse", "spam-mass"],
    }
    # Every flag comes with its reason.
    assert (shop["flags"].map(len) == shop["flag_reasons"].map(len)).all()
    sitewide = shop[shop.source_domain == "blogroll-example.net"].flag_reasons.iloc[0]
    assert "from 5 of its 5 crawled pages" in " ".join(sitewide)
    # Links to the spam target from the farm are link-farm links.
    pills = inbound[inbound.target_domain == "pills-example.com"]
    assert len(pills) == 24 and all("link-farm" in f for f in pills["flags"])


@pytest.mark.slow
def test_disavow_file(audit_data, tmp_path):
    audit(audit_data, "a1", trusted=TRUSTED)
    text = disavow(audit_data, "shop-example.com")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert lines == [
        "domain:blogroll-example.net",
        "domain:partner-example.com",
        "domain:pills-example.com",
    ]
    assert "# spam-mass: pills-example.com spam mass" in text
    assert "# reciprocal: partner-example.com and shop-example.com link to each other" in text
    # Every line is a comment, a domain line or blank: no anchor text can start a line.
    assert all(x == "" or x.startswith(("# ", "domain:")) for x in text.splitlines())
    # Reproducible: the same audit gives the same bytes.
    assert disavow(audit_data, "http://www.shop-example.com/x") == text
    two = disavow(audit_data, "shop-example.com", min_flags=2)
    assert [x for x in two.splitlines() if x.startswith("domain:")] == lines
    three = disavow(audit_data, "shop-example.com", min_flags=3)
    assert not [x for x in three.splitlines() if x.startswith("domain:")]
    # A trusted domain is never listed, even when its links are flagged.
    fewer = disavow(audit_data, "shop-example.com", trusted=["partner-example.com"])
    assert "domain:partner-example.com" not in fewer
    farm = disavow(audit_data, "pills-example.com")
    assert [x for x in farm.splitlines() if x.startswith("domain:")] == [
        f"domain:{f.split('//')[1]}" for f in FARMS
    ]


@pytest.mark.slow
def test_audit_needs_an_analysis(audit_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(audit_data, data)
    shutil.rmtree(data / "authority")
    with pytest.raises(DatasetError, match="linkcrawl analyze"):
        audit(data, "a1")


@pytest.mark.slow
def test_disavow_needs_an_audit(audit_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(audit_data, data)
    shutil.rmtree(data / "authority")
    analyze(data, "a1")  # tables of a crawl never audited
    with pytest.raises(DatasetError, match="linkcrawl audit"):
        disavow(data, "shop-example.com")
    assert previous_trusted(open_dataset(data), "a1") is None


def audit_columns(data) -> dict[str, pd.DataFrame]:
    """The audit columns of crawl a1's tables, keyed for comparison."""
    out = data / "authority" / "crawl_id=a1"
    domains = pd.read_parquet(out / "domains.parquet")
    inbound = pd.read_parquet(out / "inbound.parquet")
    for frame in (domains, inbound):
        for column in ("flags", "flag_reasons"):
            if column in frame:
                frame[column] = frame[column].map(list)
    return {"domains": domains, "inbound": inbound}


@pytest.mark.slow
def test_audit_writes_a_new_generation_and_records_its_trusted_list(audit_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(audit_data, data)
    out = data / "authority" / "crawl_id=a1"
    analyze(data, "a1")
    # Second names of the analysed files: an audit that rewrote them in place would show.
    kept = {}
    for name in ("pages", "domains", "inbound"):
        os.link(out / f"{name}.parquet", tmp_path / f"{name}.parquet")
        kept[name] = (tmp_path / f"{name}.parquet").read_bytes()
    result = audit(data, "a1", trusted=TRUSTED)
    for name, payload in kept.items():
        assert (tmp_path / f"{name}.parquet").read_bytes() == payload
    assert (out / "pages.parquet").read_bytes() == kept["pages"]
    assert not list((data / ".staging").iterdir())
    ds = open_dataset(data)
    assert previous_trusted(ds, "a1") == sorted(TRUSTED) == result.trusted
    audit(data, "a1")
    assert previous_trusted(ds, "a1") == []


@pytest.mark.slow
def test_audit_into_a_folder_of_analysed_tables(audit_data, tmp_path):
    """What analyze calls on its freshly written tables: the same audit as audit()."""
    data = tmp_path / "data"
    shutil.copytree(audit_data, data)
    audit(data, "a1", trusted=TRUSTED)
    expected = audit_columns(data)
    folder = tmp_path / "fresh"
    folder.mkdir()
    analyze(data, "a1")
    for name in ("pages", "domains", "inbound"):
        shutil.copy(data / "authority" / "crawl_id=a1" / f"{name}.parquet", folder)
    lines: list[str] = []
    result = audit_into(open_dataset(data), "a1", folder, TRUSTED, Definition(), lines.append)
    assert result.trusted == sorted(TRUSTED) and lines
    got = {
        "domains": pd.read_parquet(folder / "domains.parquet"),
        "inbound": pd.read_parquet(folder / "inbound.parquet"),
    }
    for table, frame in got.items():
        for column in ("flags", "flag_reasons"):
            if column in frame:
                frame[column] = frame[column].map(list)
        pd.testing.assert_frame_equal(frame, expected[table])


@pytest.mark.slow
def test_analyze_again_re_audits_with_the_same_trusted_list(audit_data, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(audit_data, data)
    audit(data, "a1", trusted=TRUSTED, good_share=0.4)
    analyze(data, "a1")
    again = audit_columns(data)
    assert "flags" in again["domains"] and "flags" in again["inbound"]
    assert previous_trusted(open_dataset(data), "a1") == sorted(TRUSTED)
    audit(data, "a1", trusted=TRUSTED, good_share=0.4)
    fresh = audit_columns(data)
    for table in ("domains", "inbound"):
        pd.testing.assert_frame_equal(again[table], fresh[table])


@pytest.mark.slow
def test_audit_in_an_object_store(audit_data, tmp_path):
    """The same audit and disavow file on a copy of the data in an object store."""
    from linkcrawl.dataset.layout import root_path

    data = tmp_path / "data"
    shutil.copytree(audit_data, data)
    analyze(data, "a1")
    uri = f"mock:///{tmp_path.name}/data"
    remote = root_path(uri)
    for path in data.rglob("*"):
        if path.is_file() and ".staging" not in path.parts:
            (remote / str(path.relative_to(data))).write_bytes(path.read_bytes())
    audit(data, "a1", trusted=TRUSTED)
    audit(uri, "a1", trusted=TRUSTED)
    out = remote / "authority" / "crawl_id=a1"
    for table, expected in audit_columns(data).items():
        with (out / f"{table}.parquet").open_input_file() as fh:
            got = pq.read_table(fh).to_pandas()
        for column in ("flags", "flag_reasons"):
            if column in got:
                got[column] = got[column].map(list)
        pd.testing.assert_frame_equal(got, expected)
    assert disavow(uri, "shop-example.com") == disavow(data, "shop-example.com")


@pytest.mark.slow
def test_audit_of_tables_written_by_the_duckdb_engine(audit_data, tmp_path):
    """The audit reads the authority tables: the same flags whatever engine wrote them."""
    pytest.importorskip("duckdb")
    flags = {}
    for engine in ("sparse", "duckdb"):
        data = tmp_path / engine
        shutil.copytree(audit_data, data)
        analyze(data, "a1", engine=engine)
        result = audit(data, "a1", trusted=TRUSTED)
        inbound = audit_columns(data)["inbound"]
        keys = ["source", "target", "anchor", "kind", "position", "rel"]
        flags[engine] = (
            sorted(zip(*(inbound[k] for k in keys), inbound["flags"].map(tuple), strict=True)),
            result.domains.set_index("domain")[["trust", "spam_mass"]].sort_index(),
        )
    assert flags["sparse"][0] == flags["duckdb"][0]
    pd.testing.assert_frame_equal(flags["sparse"][1], flags["duckdb"][1], atol=1e-9)


def test_trustrank_on_polblogs_is_networkx_personalised():
    """TrustRank on a real hyperlink network (../shared/data): nx.pagerank restarted on
    ten seeds, to the tolerance's bound."""
    edges = pd.read_csv(need_shared_data(SHARED_DATA / "graphs" / "polblogs_edges.tsv"), sep="\t")
    nodes = pd.read_csv(SHARED_DATA / "graphs" / "polblogs_nodes.tsv", sep="\t")
    ids = {node: i for i, node in enumerate(nodes.id)}
    pairs = {(ids[s], ids[t]) for s, t in zip(edges.source_id, edges.target_id, strict=True)}
    pairs = sorted((s, t) for s, t in pairs if s != t)
    source = np.array([s for s, _ in pairs])
    target = np.array([t for _, t in pairs])
    n = len(ids)
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from(pairs)
    seeds = list(range(0, 1000, 100))
    expected = nx.pagerank(G, personalization=dict.fromkeys(seeds, 1), tol=1e-14, max_iter=10_000)
    got = trustrank(source, target, n, seeds)
    assert np.abs(got - [expected[i] for i in range(n)]).sum() < 6e-8
    core = nx.pagerank(
        G,
        personalization=dict.fromkeys(seeds, 1),
        dangling=dict.fromkeys(G, 1),
        tol=1e-14,
        max_iter=10_000,
    )
    p_core = core_pagerank(source, target, n, seeds)
    scaled = np.array([core[i] for i in range(n)]) * len(seeds) / n
    assert np.abs(p_core - scaled).sum() < 6e-8
