"""The spark engine of `linkcrawl analyze` against the sparse engine (itself checked against
networkx): a crawl of the demo web, polblogs, and a hand graph with the awkward cases, on a
real Spark local[2] session."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.sources.edgelist import import_edges

pytest.importorskip("pyspark")


pytestmark = pytest.mark.slow

TABLES = ("pages", "domains", "inbound")
INBOUND_LINK = ["target_domain", "target", "source", "source_domain", "anchor", "rel", "follow",
                "position", "kind"]  # fmt: skip


@pytest.fixture(scope="module")
def spark():
    """One local[2] session for the module (the JVM starts once); analyze() uses it as the
    active session and leaves it running."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PySpark", category=FutureWarning)
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master("local[2]")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def both_engines(data: Path, tmp_path: Path, **options) -> tuple[Path, Path]:
    """Copies of ``data`` analysed by the sparse engine and by the spark engine."""
    sparse, spark = tmp_path / "sparse", tmp_path / "spark"
    shutil.copytree(data, sparse)
    shutil.copytree(data, spark)
    crawl_sparse = analyze(sparse, engine="sparse", **options)
    lines: list[str] = []
    crawl_spark = analyze(spark, engine="spark", progress=lines.append, **options)
    assert crawl_sparse == crawl_spark
    assert any("PageRank converged" in line for line in lines)
    return sparse / "authority" / f"crawl_id={crawl_sparse}", spark / "authority" / (
        f"crawl_id={crawl_spark}"
    )


def assert_ranks_agree(a: pd.DataFrame, b: pd.DataFrame, score: str = "pagerank") -> None:
    """Ranks equal wherever the reference score is more than 1e-9 from every other (ties and
    near-ties may order differently: sums in another order differ in the last bits)."""
    assert sorted(b["rank"]) == list(range(1, len(b) + 1))
    values = np.sort(a[score].to_numpy())
    gaps = np.diff(values)
    alone = np.ones(len(values), dtype=bool)
    alone[1:] &= gaps > 1e-9
    alone[:-1] &= gaps > 1e-9
    distinct = a[score].isin(values[alone])
    assert distinct.any()
    assert (a.loc[distinct, "rank"] == b.loc[distinct, "rank"]).all()


def compare(sparse: Path, spark: Path) -> dict[str, pd.DataFrame]:
    """Every table of the spark engine against the sparse engine's; returns spark's."""
    out = {}
    for name in TABLES:
        a, b = pq.read_table(sparse / f"{name}.parquet"), pq.read_table(spark / f"{name}.parquet")
        assert b.schema.equals(a.schema, check_metadata=True), name
        assert a.num_rows == b.num_rows, name
        out[name] = b.to_pandas()
    for name, key in (("pages", "url"), ("domains", "domain")):
        a = pq.read_table(sparse / f"{name}.parquet").to_pandas().set_index(key)
        b = out[name].set_index(key)
        assert set(a.index) == set(b.index)
        b = b.reindex(a.index)
        assert (a["pagerank"] - b["pagerank"]).abs().sum() < 1e-6, name
        assert b["pagerank"].sum() == pytest.approx(1.0, abs=1e-12)
        assert (a["authority"] - b["authority"]).abs().max() < 1e-4, name
        counts = ["referring_domains", "inbound_links"] + (["inlinks"] if name == "pages" else [])
        assert (a[counts] == b[counts]).all().all(), name
        pd.testing.assert_series_equal(a["follow_share"], b["follow_share"], atol=1e-12)
        if name == "pages":
            assert (a["domain"] == b["domain"]).all()
        assert_ranks_agree(a, b)
    a = pq.read_table(sparse / "inbound.parquet").to_pandas()
    b = out["inbound"]
    # The same links, each once, in the same order of target domains.
    assert list(a["target_domain"]) == list(b["target_domain"])
    key = a[INBOUND_LINK].astype(str).agg("|".join, axis=1)
    assert sorted(key) == sorted(b[INBOUND_LINK].astype(str).agg("|".join, axis=1))
    for column in ("value", "source_authority", "source_domain_authority"):
        # Parallel links of one pair are the same row but for ordinal: compare sums.
        va = a.groupby(key)[column].sum()
        vb = b.groupby(b[INBOUND_LINK].astype(str).agg("|".join, axis=1))[column].sum()
        np.testing.assert_allclose(
            vb.reindex(va.index), va, atol=1e-4 if "auth" in column else 1e-9
        )
    # Within each target domain: ranks 1..k by value, equal where the value is not (near-)tied.
    for _, group in b.groupby("target_domain", sort=False):
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert (np.diff(group["value"].to_numpy()) <= 1e-12).all()
    near_tie = a.groupby("target_domain")["value"].transform(
        lambda v: v.apply(lambda x: (abs(v - x) < 1e-9).sum() > 1)
    )
    assert (a.loc[~near_tie, "rank"].to_numpy() == b.loc[~near_tie, "rank"].to_numpy()).all()
    return out


def test_demo_crawl_matches_the_sparse_engine(spark, demo_crawl, tmp_path):
    data, crawl_id = demo_crawl
    sparse, ours = both_engines(data, tmp_path)
    assert ours.name == f"crawl_id={crawl_id}"
    tables = compare(sparse, ours)
    assert len(tables["pages"]) > 50 and len(tables["inbound"]) > 0
    # Read back by the three readers users load it with.
    import duckdb
    import polars as pl

    pages = str(ours / "pages.parquet")
    with duckdb.connect() as db:
        rows, total = db.execute(
            f"SELECT count(*), sum(pagerank) FROM read_parquet('{pages}')"
        ).fetchone()
    assert rows == len(tables["pages"]) and total == pytest.approx(1.0)
    frame = pl.read_parquet(ours / "domains.parquet")
    assert frame["rank"].to_list() == list(range(1, len(frame) + 1))
    assert frame.schema["domain"] == pl.String
    assert pd.read_parquet(ours / "inbound.parquet")["rank"].min() == 1
    # One file each, nothing else left in the authority directory or in staging.
    assert sorted(p.name for p in ours.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)
    assert not any((ours.parent.parent / ".staging").iterdir())


def test_demo_crawl_has_the_sparse_engines_encodings(spark, demo_crawl, tmp_path):
    from tests.test_engine_duckdb import column_encodings

    data, _ = demo_crawl
    sparse, ours = both_engines(data, tmp_path)
    for name in TABLES:
        expected = column_encodings(sparse / f"{name}.parquet")
        assert column_encodings(ours / f"{name}.parquet") == expected, name


@pytest.fixture(scope="module")
def polblogs_data(tmp_path_factory):
    from tests.test_pagerank import polblogs

    urls, links = polblogs()
    root = tmp_path_factory.mktemp("polblogs")
    import_edges(root, pd.DataFrame(links, columns=["source", "target"]), "polblogs1", pages=urls)
    return root


def test_polblogs_matches_the_sparse_engine(spark, polblogs_data, tmp_path):
    sparse, ours = both_engines(polblogs_data, tmp_path)
    tables = compare(sparse, ours)
    assert len(tables["pages"]) == 1488  # the isolated blogs too
    assert tables["pages"]["url"].iloc[0] == "http://dailykos.com/"


def hand_graph(root: Path) -> None:
    """Duplicates of a resumed crawl (in a later part file), a self-link, parallel links,
    nofollow, a redirect, a target never fetched, and a fetched page without links."""
    rows = [
        # source, target, anchor, rel, follow, position, kind, ordinal
        ("http://a.com/", "http://b.com/", "b", "", True, "content", "anchor", 0),
        ("http://a.com/", "http://b.com/", "b again", "", True, "footer", "anchor", 1),
        ("http://a.com/", "http://a.com/", "home", "", True, "header", "anchor", 2),
        ("http://a.com/", "http://c.org/x", "x", "nofollow", False, "content", "anchor", 3),
        ("http://b.com/", "http://a.com/", "a", "", True, "navigation", "anchor", 0),
        ("http://b.com/", "http://c.org/x", "x from b", "", True, "content", "anchor", 1),
        ("http://c.org/x", "http://d.net/", "d", "", True, "sidebar", "anchor", 0),
        ("http://c.org/x", "http://c.org/y", "", "", True, None, "redirect", 1),
        # The resumed crawl fetched b.com again: the same link, kept once (the first).
        ("http://b.com/", "http://c.org/x", "x again", "", True, "content", "anchor", 1),
    ]
    columns = ["source", "target", "anchor", "rel", "follow", "position", "kind", "ordinal"]
    edges = pd.DataFrame(rows, columns=columns).astype({"ordinal": "int32"})
    pages = ["http://a.com/", "http://b.com/", "http://c.org/x", "http://e.io/"]
    import_edges(root, edges, "hand1", pages=pages, part_rows=4)


def test_hand_graph(spark, tmp_path):
    data = tmp_path / "data"
    hand_graph(data)
    assert len(list((data / "edges" / "crawl_id=hand1").glob("*.parquet"))) == 3
    # damping 0.5: fewer iterations, and an option passed through.
    sparse, ours = both_engines(data, tmp_path, damping=0.5, nofollow_weight=0.0)
    tables = compare(sparse, ours)
    pages = tables["pages"].set_index("url")
    # Counted by hand: the duplicate counts once, the self-link never.
    assert pages.loc[
        "http://c.org/x", ["inlinks", "referring_domains", "inbound_links"]
    ].tolist() == [2, 2, 2]
    assert pages.loc["http://c.org/x", "follow_share"] == 0.5
    assert pages.loc["http://b.com/", ["inlinks", "referring_domains"]].tolist() == [2, 1]
    assert pages.loc["http://a.com/", "inlinks"] == 1
    assert pages.loc["http://e.io/", "domain"] == "e.io"
    assert pages.loc["http://e.io/", "authority"] == 0.0
    assert set(pages.index) == {"http://a.com/", "http://b.com/", "http://c.org/x", "http://c.org/y",
                                "http://d.net/", "http://e.io/"}  # fmt: skip
    inbound = tables["inbound"]
    assert len(inbound) == 6  # links between domains, the duplicate once
    assert "x again" not in set(inbound["anchor"])
    nofollow = inbound[inbound["rel"] == "nofollow"]
    assert nofollow["value"].tolist() == [0.0]
    # The a.com -> b.com pair passes its rank at the content link's weight (1 of 1 + 0.5...
    # collapsed: a's out-weight is b 1.0 + c 0 = 1.0), split by each link's own weight.
    a_pr = pages.loc["http://a.com/", "pagerank"]
    to_b = inbound[inbound["target"] == "http://b.com/"].set_index("anchor")["value"]
    assert to_b["b"] == pytest.approx(0.5 * a_pr * 1.0)
    assert to_b["b again"] == pytest.approx(0.5 * a_pr * 0.25)


def test_missing_crawl_is_one_line(tmp_path):
    from linkcrawl.errors import DatasetError

    hand_graph(tmp_path)
    with pytest.raises(DatasetError, match="no crawl 'nope'"):
        analyze(tmp_path, "nope", engine="spark")


def test_no_java_is_one_line(tmp_path):
    # In a fresh process (no active session), with no java on PATH and no JAVA_HOME.
    import subprocess
    import sys

    hand_graph(tmp_path)
    env = {"PATH": str(tmp_path / "no-bin"), "HOME": str(tmp_path)}
    code = (
        "from linkcrawl.analysis import analyze\n"
        "from linkcrawl.errors import LinkcrawlError\n"
        f"try:\n    analyze({str(tmp_path)!r}, engine='spark')\n"
        "except LinkcrawlError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines() == [
        "the spark engine needs Java 17 or newer: no java on PATH and JAVA_HOME is not set"
    ]
    assert not (tmp_path / "authority").exists()
