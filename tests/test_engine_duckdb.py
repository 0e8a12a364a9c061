"""The duckdb engine against the default sparse engine (itself checked against networkx): every
authority table, on a real crawl of the demo web, on the polblogs hyperlink network, on a
hand graph with the awkward cases, and under a memory limit small enough to make DuckDB
spill to disk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.analysis.definition import Definition
from linkcrawl.analysis.engines import DuckDBOptions, registration
from linkcrawl.analysis.engines import duckdb as duckdb_engine
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.dataset.schemas import AUTHORITY_SCHEMAS
from linkcrawl.errors import LinkcrawlError
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import run_linkcrawl
from tests.test_analysis import link, write_crawl
from tests.test_pagerank import polblogs

TABLES = ("pages", "domains", "inbound")


def duckdb_analyze(
    data, crawl_id=None, *, position_weights=None, nofollow_weight=0.0, progress=None, **options
):
    """linkcrawl.analysis.analyze with the duckdb engine; ``options`` are its engine options."""
    return analyze(
        data,
        crawl_id,
        engine="duckdb",
        position_weights=position_weights,
        nofollow_weight=nofollow_weight,
        progress=progress,
        engine_options=options,
    )


def copy_crawl(src: Path, dst: Path) -> Path:
    """The crawl's data without any authority tables, so that each engine writes its own."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("authority", ".staging"))
    return dst


def both_engines(src: Path, tmp_path: Path, crawl_id: str | None = None, **options):
    """Run the sparse engine and the duckdb engine on two copies of ``src``; returns the
    authority directories (sparse, duckdb)."""
    sparse = copy_crawl(src, tmp_path / "sparse")
    ours = copy_crawl(src, tmp_path / "duckdb")
    weights = {k: options.pop(k) for k in ("position_weights", "nofollow_weight") if k in options}
    crawl_id = analyze(sparse, crawl_id, engine="sparse", **weights)
    assert duckdb_analyze(ours, crawl_id, **weights, **options) == crawl_id
    assert not list((ours / ".staging").iterdir())  # nothing left behind, spill files included
    part = f"crawl_id={crawl_id}"
    return sparse / "authority" / part, ours / "authority" / part


def assert_same_tables(expected: Path, got: Path) -> None:
    """Every table as the sparse engine wrote it: same schema (metadata included), same
    rows; PageRank within L1 1e-6, authority within 1e-4, counts equal, and row order (the
    ranks) equal wherever the scores that order them differ by more than 1e-9."""
    for name in TABLES:
        a = pq.read_table(expected / f"{name}.parquet")
        b = pq.read_table(got / f"{name}.parquet")
        assert b.schema.equals(AUTHORITY_SCHEMAS[name], check_metadata=True), name
        assert a.schema.equals(b.schema, check_metadata=True), name
        assert a.num_rows == b.num_rows, name
        a, b = a.to_pandas(), b.to_pandas()
        key = {"pages": ["url"], "domains": ["domain"]}.get(name)
        if key is None:
            # Inbound rows as sets: one row per link from another domain.
            key = ["target", "source", "anchor", "rel", "follow", "position", "kind"]
            a["n"] = a.groupby(key, dropna=False).cumcount()
            b["n"] = b.groupby(key, dropna=False).cumcount()
            key = [*key, "n"]
        ka = a.set_index(key).sort_index()
        kb = b.set_index(key).sort_index()
        assert ka.index.equals(kb.index), name
        for column in ka.columns:
            x, y = ka[column], kb[column]
            if column == "pagerank":
                assert (x - y).abs().sum() < 1e-6, name
            elif column in ("authority", "source_authority", "source_domain_authority"):
                assert (x - y).abs().max() < 1e-4, (name, column)
            elif column == "value":
                assert np.allclose(x, y, rtol=1e-6, atol=1e-12), name
            elif column == "follow_share":
                pd.testing.assert_series_equal(x, y, check_exact=False, rtol=1e-12)
            elif column != "rank":
                pd.testing.assert_series_equal(x, y, check_exact=True, obj=f"{name}.{column}")
        score = {"pages": "pagerank", "domains": "pagerank", "inbound": "value"}[name]
        order_a, order_b = a[key[0]].to_numpy(), b[key[0]].to_numpy()
        scores = a[score].to_numpy()
        # Where the sparse engine's order has a near-tie, the two may order it differently.
        near_tie = np.zeros(len(a), dtype=bool)
        if len(a) > 1:
            close = np.abs(np.diff(scores)) <= 1e-9
            near_tie[1:] |= close
            near_tie[:-1] |= close
        differ = order_a != order_b
        assert not (differ & ~near_tie).any(), f"{name}: rows out of order"
        # Ranks by position: 1, 2, ... (within each target domain for inbound links).
        assert (a["rank"].to_numpy() == b["rank"].to_numpy()).all(), name
        if name == "inbound":
            assert (a["target_domain"].to_numpy() == b["target_domain"].to_numpy()).all()


# -- real crawls ------------------------------------------------------------------------------


def test_demo_web_crawl_matches_the_sparse_engine(demo_crawl, tmp_path):
    root, crawl_id = demo_crawl
    expected, got = both_engines(root, tmp_path, crawl_id, threads=2)
    assert_same_tables(expected, got)
    # What users load it with: pandas, DuckDB and polars all read the three files.
    for name in TABLES:
        path = got / f"{name}.parquet"
        frame = pd.read_parquet(path)
        assert len(frame) == duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall()[0][0]
        assert pl.read_parquet(path).columns == list(frame.columns)
    total = duckdb.sql(f"SELECT sum(pagerank) FROM '{got / 'pages.parquet'}'").fetchall()[0][0]
    assert total == pytest.approx(1.0, abs=1e-9)
    domains = pl.read_parquet(got / "domains.parquet")
    assert domains["rank"].to_list() == list(range(1, len(domains) + 1))


def column_encodings(path: Path) -> list[tuple[str, tuple[str, ...], bool]]:
    """Each column chunk of a Parquet file as (column, its encodings, whether it has a
    dictionary page), row group by row group, read from the file's metadata."""
    meta = pq.ParquetFile(path).metadata
    return [
        (
            meta.schema.column(j).path,
            tuple(sorted(meta.row_group(i).column(j).encodings)),
            meta.row_group(i).column(j).dictionary_page_offset is not None,
        )
        for i in range(meta.num_row_groups)
        for j in range(meta.num_columns)
    ]


def test_demo_web_crawl_has_the_sparse_engines_encodings(demo_crawl, tmp_path):
    root, crawl_id = demo_crawl
    expected, got = both_engines(root, tmp_path, crawl_id)
    for name in TABLES:
        ours = column_encodings(got / f"{name}.parquet")
        assert ours == column_encodings(expected / f"{name}.parquet"), name
        # As dataset.schemas declares them: pages dictionary-encode their domain only.
        if name == "pages":
            assert {c for c, _, dictionary in ours if dictionary} == {"domain"}


@pytest.fixture(scope="module")
def polblogs_data(tmp_path_factory):
    urls, links = polblogs()
    root = tmp_path_factory.mktemp("polblogs")
    import_edges(root, pd.DataFrame(links, columns=["source", "target"]), "polblogs1", pages=urls)
    return root


def test_polblogs_matches_the_sparse_engine(polblogs_data, tmp_path):
    expected, got = both_engines(polblogs_data, tmp_path, memory_limit="500MB")
    assert_same_tables(expected, got)
    pages = pd.read_parquet(got / "pages.parquet")
    assert len(pages) == 1490 - 2  # two blogs listed twice under messy labels merge


def test_polblogs_through_analyze_with_engine_options(polblogs_data, tmp_path):
    root = copy_crawl(polblogs_data, tmp_path / "data")
    lines: list[str] = []
    analyze(
        root,
        engine="duckdb",
        progress=lines.append,
        engine_options={"memory_limit": "1GB", "threads": 1},
    )
    assert lines[0].startswith("analyze polblogs1: 1488 pages, 19090 links,")
    # 19,090 links fit in memory many times over: the power iteration runs there.
    assert any("page PageRank done (" in line and "iterations in memory" in line for line in lines)
    assert lines[-1].startswith("analyze polblogs1: wrote ")


# -- the awkward cases, by hand ------------------------------------------------------------------

HUB = "http://www.hub-news.com/"
SHOP = "http://www.shop-example.co.uk/product"
OLD, NEW = "http://www.moved-example.com/old", "http://www.moved-example.com/new"
BLOG = "https://alice.github.io/post"


def awkward_web() -> list[dict]:
    """Duplicates, self-links, nofollow, a redirect, a dead end, positions, anchors."""
    return [
        link(HUB, SHOP, anchor="great shop"),
        link(HUB, SHOP, position="footer", anchor="shop"),  # parallel: counts once, at 1.0
        link(HUB, HUB, position="navigation"),  # self-link: passes nothing
        link(HUB, BLOG, follow=False, rel="nofollow", anchor="alice"),
        link(HUB, OLD, position="sidebar"),
        link(OLD, NEW, position=None, kind="redirect"),
        link(NEW, SHOP, position="header", rel="sponsored", follow=False),
        link(BLOG, HUB, anchor="news"),
        link(BLOG, "http://dead-end.org/", anchor="dead"),  # never crawled, links nowhere
        link(SHOP, SHOP, kind="image"),
        link("http://b.hub-news.com/", HUB, position="footer"),
    ]


@pytest.fixture
def awkward_crawl(tmp_path):
    # Written twice, as a resumed crawl can: every link row appears two times. A fetched
    # page without links must still be a page, on a domain of its own.
    root = write_crawl(
        tmp_path / "awkward", awkward_web(), pages=["http://lonely.example.net/"], times=2
    )
    return root


def test_awkward_web_matches_the_sparse_engine(awkward_crawl, tmp_path):
    expected, got = both_engines(awkward_crawl, tmp_path)
    assert_same_tables(expected, got)
    pages = pd.read_parquet(got / "pages.parquet").set_index("url")
    # By hand: SHOP has three links in from other pages (two from HUB, one from NEW; its
    # image self-link does not count), from two domains, one of three followed.
    assert pages.loc[SHOP, ["inlinks", "referring_domains", "inbound_links"]].tolist() == [3, 2, 3]
    assert pages.loc[SHOP, "follow_share"] == pytest.approx(2 / 3)
    assert pages.loc["http://lonely.example.net/", "domain"] == "example.net"
    assert pages.loc["http://lonely.example.net/", "authority"] == 0.0
    inbound = pd.read_parquet(got / "inbound.parquet")
    assert len(inbound) == 7  # the two repeated rows of each link count once


def test_the_registered_engine_writes_into_the_folder_it_is_given(awkward_crawl, tmp_path):
    engine = registration("duckdb").load()
    assert engine is duckdb_engine.ENGINE
    ds = open_dataset(awkward_crawl)
    out = tmp_path / "out"
    out.mkdir()
    options = DuckDBOptions(memory_limit="200MB", threads=1)
    engine.analyze(ds, "c1", Definition.make(), out, options, lambda line: None)
    assert sorted(p.name for p in out.iterdir()) == [f"{t}.parquet" for t in sorted(TABLES)]
    assert not (awkward_crawl / "authority").exists()  # staging and swapping are the caller's
    sparse = copy_crawl(awkward_crawl, tmp_path / "sparse")
    analyze(sparse)
    assert_same_tables(sparse / "authority" / "crawl_id=c1", out)
    for bad, message in (
        (DuckDBOptions(threads=0), "bad thread count"),
        (DuckDBOptions(memory_limit="lots"), "bad memory limit"),
    ):
        with pytest.raises(LinkcrawlError, match=message):
            engine.analyze(ds, "c1", Definition.make(), out, bad, lambda line: None)


def test_weights_are_settings(awkward_crawl, tmp_path):
    weights = {"position_weights": {"footer": 0.0, "sidebar": 1.0}, "nofollow_weight": 0.5}
    expected, got = both_engines(awkward_crawl, tmp_path, **weights)
    assert_same_tables(expected, got)
    inbound = pd.read_parquet(got / "inbound.parquet")
    hub_blog = inbound[(inbound["source"] == HUB) & (inbound["target"] == BLOG)]
    assert hub_blog["value"].iloc[0] > 0  # nofollow passes half weight now


def test_skip_corrupt_reads_around_a_truncated_part(awkward_crawl, tmp_path):
    part = awkward_crawl / "edges" / "crawl_id=c1" / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(LinkcrawlError, match="skip-corrupt") as err:
        duckdb_analyze(awkward_crawl)
    assert "\n" not in str(err.value)
    sparse = copy_crawl(awkward_crawl, tmp_path / "sparse")
    ours = copy_crawl(awkward_crawl, tmp_path / "ours")
    analyze(open_dataset(sparse, skip_corrupt=True))
    ds = open_dataset(ours, skip_corrupt=True)
    duckdb_analyze(ds)
    assert [s.path.name for s in ds.skipped] == ["part-00001.parquet"]
    part = Path("authority") / "crawl_id=c1"
    assert_same_tables(sparse / part, ours / part)


def test_a_crawl_without_links(tmp_path):
    root = write_crawl(
        tmp_path / "data", [], pages=["http://www.alone.com/", "http://b.alone.com/"]
    )
    duckdb_analyze(root)
    pages = pd.read_parquet(root / "authority" / "crawl_id=c1" / "pages.parquet")
    assert list(pages["pagerank"]) == [0.5, 0.5] and list(pages["authority"]) == [0.0, 0.0]
    assert pages["url"].tolist() == ["http://www.alone.com/", "http://b.alone.com/"]
    domains = pd.read_parquet(root / "authority" / "crawl_id=c1" / "domains.parquet")
    assert domains["domain"].tolist() == ["alone.com"]
    assert pq.read_table(root / "authority" / "crawl_id=c1" / "inbound.parquet").num_rows == 0


# -- out of core ------------------------------------------------------------------------------


def generated_web(root: Path, n_pages: int, n_links: int, seed: int = 7) -> Path:
    """A random web: pages on a few hundred domains, links skewed toward popular pages, a
    share of them nofollow and in the footer."""
    rng = np.random.default_rng(seed)
    domain = rng.integers(0, 300, n_pages)
    urls = np.array([f"https://www.site{d}.com/page/{i}" for i, d in enumerate(domain)])
    source = rng.integers(0, n_pages, n_links)
    target = (rng.pareto(1.2, n_links) * 50).astype(np.int64) % n_pages
    edges = pa.table(
        {
            "source": urls[np.sort(source)],
            "target": urls[target],
            "follow": rng.random(n_links) > 0.1,
            "position": np.array(["content", "footer", "navigation"])[rng.integers(0, 3, n_links)],
        }
    )
    import_edges(root, edges, "gen1")
    return root


@pytest.mark.slow
def test_spills_under_a_small_memory_limit_and_still_agrees(tmp_path):
    # Half a million links take more than half of 48 MB as a matrix in memory: PageRank
    # iterates in DuckDB, and the tables spill.
    data = generated_web(tmp_path / "gen", 40_000, 500_000)
    spill = tmp_path / "spill"
    seen_spill_files: list[int] = []
    lines: list[str] = []

    def progress(line: str) -> None:
        # Mid-iteration, DuckDB's temp directory holds the tables it pushed out of memory.
        seen_spill_files.append(len(list(spill.rglob("*"))) if spill.exists() else 0)
        lines.append(line)

    expected, got = both_engines(
        data,
        tmp_path,
        memory_limit="48MB",
        threads=1,
        temp_directory=spill,
        progress=progress,
    )
    assert max(seen_spill_files) > 0
    assert any("page PageRank iteration 10, L1 change" in line for line in lines)
    assert any("iterations in DuckDB" in line for line in lines)
    assert_same_tables(expected, got)


# -- the command line and errors -------------------------------------------------------------


def test_command_line(awkward_crawl):
    args = ["analyze", "--data", str(awkward_crawl), "--engine", "duckdb"]
    result = run_linkcrawl([*args, "--memory-limit", "200MB", "--threads", "1"])
    assert result.returncode == 0, result.stderr
    assert "page PageRank done (" in result.stderr
    domains = pd.read_parquet(awkward_crawl / "authority" / "crawl_id=c1" / "domains.parquet")
    assert "hub-news.com" in set(domains["domain"])
    bad = run_linkcrawl([*args, "--memory-limit", "lots"])
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "Error: bad memory limit 'lots': use a size such as 2GB or 500MB"
    ]


def test_bad_memory_limit_is_one_line(awkward_crawl):
    for bad in ("lots", "2XB"):
        with pytest.raises(LinkcrawlError, match="bad memory limit") as err:
            duckdb_analyze(awkward_crawl, memory_limit=bad)
        assert "\n" not in str(err.value)
    with pytest.raises(LinkcrawlError, match="bad thread count"):
        duckdb_analyze(awkward_crawl, threads=0)
    assert not (awkward_crawl / "authority").exists()


def test_without_duckdb_installed_says_what_to_install(awkward_crawl):
    # A fresh interpreter where `import duckdb` fails, as it does when it is not installed.
    code = (
        "import sys; sys.modules['duckdb'] = None\n"
        "from linkcrawl.analysis import analyze\n"
        "from linkcrawl.errors import LinkcrawlError\n"
        "try:\n"
        f"    analyze({str(awkward_crawl)!r}, engine='duckdb')\n"
        "except LinkcrawlError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().endswith("pip install 'linkcrawl[duckdb]'"), result.stderr
