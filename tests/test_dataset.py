"""Round trips through the pipeline's buffer and the part writer, read back by open_dataset,
pandas, DuckDB and polars."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scrapy.utils.test import get_crawler

from linkcrawl import open_dataset
from linkcrawl.crawl.items import PageItem
from linkcrawl.crawl.pipeline import ColumnBuffer, ParquetPipeline
from linkcrawl.dataset.manifest import read_manifest
from linkcrawl.dataset.schemas import (
    EDGES_SCHEMA,
    PAGES_SCHEMA,
    SCHEMA_VERSION,
    SITEMAPS_SCHEMA,
    table_from_columns,
)
from linkcrawl.dataset.write import PartWriter

# Text as pages carry it: any unicode (surrogates cannot be UTF-8), empty strings included.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
urls = st.one_of(
    st.builds(
        lambda host, path: f"http://{host}/{path}", st.sampled_from(["a.example", "b.test"]), text
    ),
    # Very long URLs: far past Parquet's dictionary page and any statistics truncation.
    st.builds(
        lambda n, c: "http://long.example/" + c * n,
        st.integers(2_000, 20_000),
        st.sampled_from(["a", "é", "字"]),
    ),
)
links = st.lists(
    st.tuples(
        urls,
        text,
        st.sampled_from(["", "nofollow", "ugc sponsored", "noopener noreferrer"]),
        st.booleans(),
        st.one_of(st.none(), st.sampled_from(["head", "navigation", "content", "footer"])),
        st.sampled_from(["anchor", "image", "area", "redirect", "refresh", "canonical"]),
        st.sampled_from(["a.example", "b.test", ""]),
    ),
    max_size=30,
)
pages = st.lists(
    st.tuples(
        urls,
        st.sampled_from(["a.example", "b.test"]),
        st.integers(0, 2**41),  # epoch ms, up to year 2039
        st.one_of(st.none(), st.integers(100, 599)),
        st.one_of(st.none(), text),
        links,
    ),
    min_size=1,
    max_size=12,
)


def make_item(url, domain, fetched_at, status, title, page_links) -> PageItem:
    item = PageItem(url=url, fetched_at=fetched_at, domain=domain, status=status, title=title)
    for target, anchor, rel, follow, position, kind, target_domain in page_links:
        item.target.append(target)
        item.anchor.append(anchor)
        item.rel.append(rel)
        item.follow.append(follow)
        item.position.append(position)
        item.kind.append(kind)
        item.target_domain.append(target_domain)
    return item


def expected_edges(spec) -> list[tuple]:
    """The edge rows of ``spec``, derived by hand from the design's column definitions."""
    rows = []
    for url, domain, fetched_at, _status, _title, page_links in spec:
        when = datetime.fromtimestamp(fetched_at / 1000, UTC)
        for ordinal, (target, anchor, rel, follow, position, kind, tdomain) in enumerate(
            page_links
        ):
            rows.append(
                (
                    url,
                    target,
                    anchor,
                    rel,
                    follow,
                    position,
                    kind,
                    ordinal,
                    domain,
                    tdomain,
                    domain == tdomain,
                    when,
                    "html",  # no page of the spec says otherwise
                )
            )
    return rows


def rows_of(df: pd.DataFrame) -> list[tuple]:
    out = []
    for row in df.itertuples(index=False):
        values = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in row]
        values[11] = values[11].to_pydatetime()
        values[7] = int(values[7])
        out.append(tuple(values))
    return out


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(spec=pages, batch=st.integers(1, 5))
def test_edges_round_trip(tmp_path_factory, spec, batch):
    """Items → the pipeline's column buffer → part files → open_dataset().edges() gives
    back every row, unchanged, in order, whatever the batching."""
    root = tmp_path_factory.mktemp("rt")
    edges = PartWriter(root, "edges", "rt1", EDGES_SCHEMA)
    pages_writer = PartWriter(root, "pages", "rt1", PAGES_SCHEMA)
    buffer = ColumnBuffer()
    for i, page in enumerate(spec):
        buffer.add(make_item(*page))
        if (i + 1) % batch == 0 or i == len(spec) - 1:
            if buffer.edge_rows:
                edges.write(buffer.edges_table())
            pages_writer.write(buffer.pages_table())
            buffer.clear()
    (root / "crawls").mkdir()
    ds = open_dataset(root)
    got = ds.edges("rt1", columns=[f.name for f in EDGES_SCHEMA])
    assert rows_of(got) == expected_edges(spec)
    got_pages = ds.pages("rt1")
    assert got_pages["url"].tolist() == [p[0] for p in spec]
    assert [None if pd.isna(s) else int(s) for s in got_pages["status"]] == [p[3] for p in spec]
    assert [
        None if t is None or t is pd.NA or (isinstance(t, float)) else t for t in got_pages["title"]
    ] == [p[4] for p in spec]
    assert got_pages["outlinks"].tolist() == [len(p[5]) for p in spec]


def test_non_nullable_column_refuses_null(tmp_path):
    """anchor is "" when a link has none; a null there is a spider bug, not a silent row."""
    buffer = ColumnBuffer()
    item = make_item(
        "http://a.example/",
        "a.example",
        0,
        200,
        None,
        [("http://b.test/", None, "", True, None, "anchor", "b.test")],
    )
    buffer.add(item)
    with pytest.raises((pa.ArrowInvalid, ValueError)):
        PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA).write(buffer.edges_table())
    assert not list((tmp_path / "edges" / "crawl_id=c1").iterdir())


def test_item_with_uneven_link_lists_is_refused_whole(tmp_path):
    buffer = ColumnBuffer()
    buffer.add(
        make_item(
            "http://a.example/",
            "a.example",
            0,
            200,
            "A",
            [("http://b.test/", "b", "", True, "content", "anchor", "b.test")],
        )
    )
    bad = make_item(
        "http://a.example/x",
        "a.example",
        0,
        200,
        "X",
        [("http://b.test/", "b", "", True, "content", "anchor", "b.test")],
    )
    bad.kind.append("anchor")
    with pytest.raises(ValueError, match="link lists differ in length"):
        buffer.add(bad)
    # the buffer holds the good page only, and still converts
    assert (buffer.page_rows, buffer.edge_rows) == (1, 1)
    assert buffer.edges_table().num_rows == 1
    assert buffer.pages_table()["url"].to_pylist() == ["http://a.example/"]


# -- the pipeline in a real Scrapy crawler ---------------------------------------------------


def run_pipeline(root, crawl_id, items, flush_rows=4):
    crawler = get_crawler(
        settings_dict={
            "LINKCRAWL_DATA_DIR": str(root),
            "LINKCRAWL_FLUSH_ROWS": flush_rows,
            "LINKCRAWL_FLUSH_SECONDS": 0,
        }
    )
    pipeline = ParquetPipeline.from_crawler(crawler)
    spider = SimpleNamespace(crawl_id=crawl_id, seeds=["http://a.example/"], scope={"a.example"})
    pipeline.open_spider(spider)
    for item in items:
        pipeline.process_item(item, spider)
    pipeline.close_spider(spider)
    pipeline.spider_closed(spider, "finished")
    return pipeline


def demo_items():
    a = make_item(
        "http://a.example/",
        "a.example",
        1_700_000_000_000,
        200,
        "A",
        [
            ("http://a.example/x", "x", "", True, "navigation", "anchor", "a.example"),
            ("http://b.test/", "", "nofollow", False, "content", "anchor", "b.test"),
            ("http://a.example/y", "why", "", True, "footer", "anchor", "a.example"),
        ],
    )
    x = make_item(
        "http://a.example/x",
        "a.example",
        1_700_000_000_500,
        200,
        "X",
        [
            ("http://a.example/", "home", "", True, "header", "anchor", "a.example"),
        ],
    )
    gone = make_item("http://a.example/y", "a.example", 1_700_000_001_000, 404, None, [])
    failed = PageItem(
        url="http://a.example/z", fetched_at=1_700_000_002_000, domain="a.example", error="timeout"
    )
    return [a, x, gone, failed]


def test_pipeline_writes_paired_parts_and_manifest(tmp_path):
    run_pipeline(tmp_path, "p1", demo_items(), flush_rows=2)
    edges = sorted(p.name for p in (tmp_path / "edges" / "crawl_id=p1").iterdir())
    pages = sorted(p.name for p in (tmp_path / "pages" / "crawl_id=p1").iterdir())
    # flush at 2 rows: [a] (3 edges), [x, gone] (2 pages), [failed] at close
    assert pages == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert edges == ["part-00000.parquet", "part-00001.parquet"]  # the last batch has none
    manifest = read_manifest(tmp_path / "crawls" / "p1.json")
    assert manifest.status == "finished"
    # hand count: 4 pages, 3 + 1 edges, errors: the 404 and the timeout
    assert manifest.fields["counts"] == {"pages": 4, "edges": 4, "errors": 2, "sitemaps": 0}
    assert set(manifest.fields["versions"]) >= {"linkcrawl", "scrapy", "pyarrow", "python"}
    assert manifest.fields["settings"]["LINKCRAWL_FLUSH_ROWS"] == 2
    got = open_dataset(tmp_path).edges("p1")
    assert got[["source", "target", "ordinal", "internal"]].values.tolist() == [
        ["http://a.example/", "http://a.example/x", 0, True],
        ["http://a.example/", "http://b.test/", 1, False],
        ["http://a.example/", "http://a.example/y", 2, True],
        ["http://a.example/x", "http://a.example/", 0, True],
    ]


def test_resumed_pipeline_writes_each_page_once(tmp_path):
    items = demo_items()
    run_pipeline(tmp_path, "p2", items[:2])
    manifest = read_manifest(tmp_path / "crawls" / "p2.json").fields
    manifest["status"] = "interrupted"
    (tmp_path / "crawls" / "p2.json").write_text(json.dumps(manifest))
    # The resumed run sees page x again (its queue was older than the dataset), and y twice.
    run_pipeline(tmp_path, "p2", [items[1], items[2], items[2], items[3]])
    ds = open_dataset(tmp_path)
    assert sorted(ds.pages("p2")["url"]) == sorted(i.url for i in items)
    assert len(ds.edges("p2")) == 4
    assert read_manifest(tmp_path / "crawls" / "p2.json").fields["counts"] == {
        "pages": 4,
        "edges": 4,
        "errors": 2,
        "sitemaps": 0,
    }


def test_failed_part_write_marks_the_crawl_interrupted(tmp_path):
    """A part that cannot be written (here: a null anchor from a buggy spider) must not
    leave a crawl that reads finished: its pages are not on disk."""
    crawler = get_crawler(
        settings_dict={"LINKCRAWL_DATA_DIR": str(tmp_path), "LINKCRAWL_FLUSH_SECONDS": 0}
    )
    pipeline = ParquetPipeline.from_crawler(crawler)
    spider = SimpleNamespace(crawl_id="e1", seeds=["http://a.example/"], scope={"a.example"})
    pipeline.open_spider(spider)
    bad = make_item(
        "http://a.example/",
        "a.example",
        0,
        200,
        None,
        [("http://b.test/", None, "", True, None, "anchor", "b.test")],
    )
    pipeline.process_item(bad, spider)
    # One line says why (no traceback): the crawl stops at the first failed write.
    pipeline.close_spider(spider)
    assert "non-nullable" in pipeline.write_error
    pipeline.spider_closed(spider, "finished")
    manifest = read_manifest(tmp_path / "crawls" / "e1.json")
    assert manifest.status == "interrupted"
    assert manifest.fields["finish_reason"].startswith("error writing parts: ArrowInvalid")
    assert manifest.fields["counts"] == {"pages": 0, "edges": 0, "errors": 0, "sitemaps": 0}


def test_pipeline_flushes_on_time_between_items(tmp_path):
    """With LINKCRAWL_FLUSH_SECONDS, rows reach disk even when no further item arrives."""
    crawler = get_crawler(
        settings_dict={"LINKCRAWL_DATA_DIR": str(tmp_path), "LINKCRAWL_FLUSH_SECONDS": 0.01}
    )
    pipeline = ParquetPipeline.from_crawler(crawler)
    spider = SimpleNamespace(crawl_id="t1", seeds=["http://a.example/"], scope={"a.example"})
    pipeline.open_spider(spider)
    pipeline._timer.stop()  # no reactor runs here; call what the timer calls
    pipeline.process_item(demo_items()[0], spider)
    assert not list((tmp_path / "pages" / "crawl_id=t1").iterdir())
    pipeline._last_flush -= 1.0
    pipeline._flush_if_due()
    pipeline.drain()  # the part is written by the writer thread
    assert len(list((tmp_path / "pages" / "crawl_id=t1").iterdir())) == 1
    pipeline.close_spider(spider)


# -- the directory as other tools read it ----------------------------------------------------


@pytest.fixture
def two_crawls(tmp_path):
    run_pipeline(tmp_path, "c20261122T030000Z", demo_items())
    run_pipeline(tmp_path, "c20261123T030000Z", demo_items()[:2])
    return tmp_path


def test_pandas_reads_the_directory(two_crawls):
    df = pd.read_parquet(two_crawls / "edges")
    assert len(df) == 8
    assert df.groupby("crawl_id", observed=True).size().to_dict() == {
        "c20261122T030000Z": 4,
        "c20261123T030000Z": 4,
    }
    one = pd.read_parquet(two_crawls / "edges", filters=[("crawl_id", "=", "c20261123T030000Z")])
    assert len(one) == 4
    # Low-cardinality columns are plain strings (Parquet dictionary-encodes them on disk).
    assert not isinstance(df["rel"].dtype, pd.CategoricalDtype)
    assert str(df["discovered_at"].dtype) == "datetime64[ms, UTC]"


def test_duckdb_reads_the_directory(two_crawls):
    glob = str(two_crawls / "edges" / "*" / "*.parquet")
    rel = duckdb.sql(
        f"select crawl_id, count(*) n, count(distinct source) s from "
        f"read_parquet('{glob}', hive_partitioning=true) group by crawl_id order by crawl_id"
    )
    assert rel.fetchall() == [("c20261122T030000Z", 4, 2), ("c20261123T030000Z", 4, 2)]
    described = duckdb.sql(
        f"describe select * from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["crawl_id"] == "VARCHAR"
    assert types["rel"] == "VARCHAR"
    assert types["ordinal"] == "INTEGER"
    assert types["discovered_at"] == "TIMESTAMP WITH TIME ZONE"


def test_polars_reads_the_directory(two_crawls):
    lf = pl.scan_parquet(two_crawls / "edges")
    schema = lf.collect_schema()
    assert schema["crawl_id"] == pl.String  # a bare 20261122T030000Z would be a Datetime
    assert schema["rel"] == pl.String
    counts = lf.filter(pl.col("crawl_id") == "c20261123T030000Z").select(pl.len()).collect().item()
    assert counts == 4
    pages = pl.scan_parquet(two_crawls / "pages").collect()
    assert pages.height == 6
    assert pages.schema["status"] == pl.Int16


def test_arrow_dataset_streams_one_crawl(two_crawls):
    ds = open_dataset(two_crawls).arrow("edges", "c20261122T030000Z")
    assert ds.count_rows() == 4
    assert ds.schema.field("crawl_id").type == pa.string()
    assert pq.read_schema(next(iter(ds.files))).metadata[b"linkcrawl.table"] == b"edges"


def test_crawls_newest_first(two_crawls):
    crawls = open_dataset(two_crawls).crawls()
    assert [c["crawl_id"] for c in crawls] == ["c20261123T030000Z", "c20261122T030000Z"]
    assert {c["status"] for c in crawls} == {"finished"}


# -- docs/dataset.md -------------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "dataset.md"


def doc_table(heading: str) -> list[list[str]]:
    """The rows of the first Markdown table after ``heading`` in docs/dataset.md."""
    text = DOC.read_text(encoding="utf-8").split(heading, 1)[1]
    rows = []
    for line in text.splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif rows:
            break
    return rows[2:]  # header and rule


@pytest.mark.parametrize(
    ("heading", "schema"),
    [("### edges", EDGES_SCHEMA), ("### pages", PAGES_SCHEMA), ("### sitemaps", SITEMAPS_SCHEMA)],
)
def test_documented_columns_are_the_schema(heading, schema):
    documented = [
        (name, type_, not_null == "yes") for name, type_, not_null, _ in doc_table(heading)
    ]
    # pyarrow spells the timestamp type "timestamp[ms, tz=UTC]"
    declared = [(f.name, str(f.type).replace("tz=", ""), not f.nullable) for f in schema]
    assert documented == declared


def test_documented_snippets_run(two_crawls, monkeypatch, capsys):
    """Every Python block of docs/dataset.md runs, in order, against a real directory."""
    (two_crawls.parent / "data").symlink_to(two_crawls)
    monkeypatch.chdir(two_crawls.parent)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 4
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert namespace["crawl_id"] == "c20261123T030000Z"
    assert namespace["top"].fetchall()[0][0] == "b.test"
    assert len(namespace["edges"]) == 4
    assert "4 edges; 1 between domains" in capsys.readouterr().out


# -- manifest times ----------------------------------------------------------------------------


def test_manifest_times_in_any_iso_form_read_as_one(tmp_path):
    """A crawl's manifest (microseconds, +00:00), import_edges' (given another zone) and a
    hand-written one (Z, no fractions) are read in one form, and sort in time order."""
    from linkcrawl.dataset.manifest import write_manifest
    from linkcrawl.reports.monitor import history
    from linkcrawl.sources.edgelist import import_edges

    edges = pd.DataFrame({"source": ["http://a-example.com/"], "target": ["http://b-example.org/"]})
    plus_two = datetime(2026, 11, 22, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    import_edges(tmp_path, edges, "imported", started_at=plus_two)  # 03:00 UTC
    written = json.loads((tmp_path / "crawls" / "imported.json").read_text())
    assert written["started_at"] == "2026-11-22T03:00:00.000000+00:00"
    for crawl_id, started in (("zulu", "2026-11-22T04:00:00Z"),
                              ("offset", "2026-11-22T04:30:00+02:00")):  # fmt: skip
        import_edges(tmp_path, edges, crawl_id)
        fields = json.loads((tmp_path / "crawls" / f"{crawl_id}.json").read_text())
        write_manifest(tmp_path, {**fields, "started_at": started})
    ds = open_dataset(tmp_path)
    assert [m.crawl_id for m in ds.manifests()] == ["zulu", "imported", "offset"]
    assert ds.manifest("offset").fields["started_at"] == "2026-11-22T02:30:00.000000+00:00"
    _, per_crawl = history(tmp_path, "b-example.org")
    assert list(per_crawl["crawl_id"]) == ["offset", "imported", "zulu"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"crawl_id": "c1", "schema_version": SCHEMA_VERSION + 1}, "newer linkcrawl"),
        ({"crawl_id": "c1", "started_at": "yesterday"}, "bad started_at"),
        ({"crawl_id": "c1", "started_at": 20261122}, "bad started_at"),
        ({"crawl_id": "c1", "status": ["finished"]}, "bad status"),
        ({"crawl_id": "../c1"}, "bad crawl_id"),
        ({"crawl_id": "c2"}, "not the crawl of its file name"),
    ],
)
def test_manifests_a_reader_cannot_trust_are_refused(tmp_path, fields, message):
    from linkcrawl.errors import DatasetError

    path = tmp_path / "crawls" / "c1.json"
    path.parent.mkdir()
    path.write_text(json.dumps(fields))
    with pytest.raises(DatasetError, match=re.escape(message)) as err:
        read_manifest(path)
    assert "\n" not in str(err.value)


def test_parts_of_a_newer_schema_or_other_types_are_refused(tmp_path):
    from linkcrawl.dataset.manifest import write_manifest
    from linkcrawl.errors import DatasetError

    write_manifest(tmp_path, {"crawl_id": "c1", "status": "finished"})
    table = pa.table(
        {f.name: pa.array([], f.type) for f in PAGES_SCHEMA}, schema=PAGES_SCHEMA
    ).append_column("extra", pa.array([], pa.int8()))
    part = tmp_path / "pages" / "crawl_id=c1" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    newer = table.schema.with_metadata({b"linkcrawl.schema_version": b"%d" % (SCHEMA_VERSION + 1)})
    pq.write_table(table.cast(newer), part)
    with pytest.raises(DatasetError, match="newer linkcrawl"):
        open_dataset(tmp_path).pages("c1")
    other = table.set_column(1, "status", pa.array([], pa.string()))
    pq.write_table(other, part)
    with pytest.raises(DatasetError, match="column 'status' is string, not int16"):
        open_dataset(tmp_path).pages("c1")
    ds = open_dataset(tmp_path, skip_corrupt=True)
    assert len(ds.pages("c1")) == 0 and [s.path.name for s in ds.skipped] == [part.name]


def test_parts_of_schema_version_1_read_the_added_columns_as_null(tmp_path):
    """A crawl written before edges.origin and pages.discovered_by (schema version 1) is
    still read, the new columns null; a version-2 file without them is refused."""
    from linkcrawl.dataset.manifest import write_manifest
    from linkcrawl.errors import DatasetError

    write_manifest(tmp_path, {"crawl_id": "old", "status": "finished"})
    full = table_from_columns(
        {
            "source": ["http://a.example/"],
            "target": ["http://b.example/"],
            "anchor": ["b"],
            "rel": [""],
            "follow": [True],
            "position": ["content"],
            "kind": ["anchor"],
            "ordinal": [0],
            "source_domain": ["a.example"],
            "target_domain": ["b.example"],
            "internal": [False],
            "discovered_at": [datetime(2026, 1, 1, tzinfo=UTC)],
        },
        EDGES_SCHEMA,
    )
    old = full.drop_columns(["origin"])
    old = old.replace_schema_metadata({"linkcrawl.table": "edges", "linkcrawl.schema_version": "1"})
    part = tmp_path / "edges" / "crawl_id=old" / "part-00000.parquet"
    part.parent.mkdir(parents=True)
    pq.write_table(old, part)

    got = open_dataset(tmp_path).edges("old")
    assert got["target"].tolist() == ["http://b.example/"]
    assert got["origin"].isna().all()
    glob = str(tmp_path / "edges" / "*" / "*.parquet")
    assert duckdb.sql(f"select target from read_parquet('{glob}')").fetchall() == [
        ("http://b.example/",)
    ]

    pq.write_table(old.replace_schema_metadata(full.schema.metadata), part)
    with pytest.raises(DatasetError, match="no column 'origin'"):
        open_dataset(tmp_path).edges("old")
