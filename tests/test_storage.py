"""The dataset layer: crawl ids, staging, part files, manifests, bad files, resume state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from itertools import pairwise

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkcrawl import DatasetError, open_dataset
from linkcrawl.dataset.layout import new_crawl_id, validate_crawl_id
from linkcrawl.dataset.manifest import read_manifest, write_manifest
from linkcrawl.dataset.schemas import (
    EDGES_SCHEMA,
    PAGES_SCHEMA,
    PARQUET_OPTIONS,
    SCHEMA_VERSION,
    table_from_columns,
)
from linkcrawl.dataset.write import (
    PartWriter,
    clean_staging,
    drop_unpaired_parts,
    write_table_atomic,
    write_tables_atomic,
)

# -- crawl ids -------------------------------------------------------------------------------


def partition_types(root, crawl_id):
    """How DuckDB, polars and pyarrow (pandas) type the partition value ``crawl_id``."""
    part = root / "edges" / f"crawl_id={crawl_id}"
    part.mkdir(parents=True)
    pq.write_table(pa.table({"source": ["a"]}), part / "part-00000.parquet")
    glob = str(root / "edges" / "*" / "*.parquet")
    described = duckdb.sql(
        f"describe select * from read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    duck = {row[0]: row[1] for row in described}["crawl_id"]
    polars = pl.scan_parquet(root / "edges").collect_schema()["crawl_id"]
    arrow = pq.read_table(root / "edges").schema.field("crawl_id").type.value_type
    return duck, polars, arrow


@pytest.mark.parametrize(
    "crawl_id", ["20261122T030000Z", "2026-11-22", "20261122", "0x1F", "1.5.2", "infinity", "NaN"]
)
def test_ids_that_readers_would_type_are_refused(tmp_path, crawl_id):
    # The readers themselves say why: at least one types the value as non-string.
    assert partition_types(tmp_path, crawl_id) != ("VARCHAR", pl.String, pa.string())
    with pytest.raises(DatasetError, match="bad crawl id"):
        validate_crawl_id(crawl_id)


id_chars = st.sampled_from("0123456789abcdefTZtzeEx-_.")


@settings(max_examples=40, deadline=None)
@given(crawl_id=st.text(id_chars, min_size=1, max_size=18))
def test_every_accepted_id_reads_as_a_string(tmp_path_factory, crawl_id):
    try:
        validate_crawl_id(crawl_id)
    except DatasetError:
        return
    types = partition_types(tmp_path_factory.mktemp("ids"), crawl_id)
    assert types == ("VARCHAR", pl.String, pa.string())


def test_new_crawl_id_is_valid_and_sorts_by_time():
    first = new_crawl_id(datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC))
    assert first == "c20261122T030000Z"
    assert validate_crawl_id(first) == first
    assert new_crawl_id(datetime(2026, 11, 22, 3, 0, 1, tzinfo=UTC)) > first


@pytest.mark.parametrize("crawl_id", ["", "a/b", "../x", "a b", "crawl_id=x", "x" * 129])
def test_ids_that_are_not_path_segments_are_refused(crawl_id):
    with pytest.raises(DatasetError, match="bad crawl id"):
        validate_crawl_id(crawl_id)


# -- staging and atomic writes ---------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def test_clean_staging_spares_live_writers(tmp_path):
    staging = tmp_path / ".staging"
    staging.mkdir()
    host = os.uname().nodename
    mine = staging / f"part-00001.parquet~{host}~{os.getpid()}~1.tmp"
    dead = staging / f"part-00002.parquet~{host}~{dead_pid()}~2.tmp"
    remote = staging / "part-00003.parquet~some-other-host~1~3.tmp"
    unnamed = staging / "leftover.tmp"
    for path in (mine, dead, remote, unnamed):
        path.write_bytes(b"PAR1")
    assert clean_staging(tmp_path) == 2
    assert sorted(p.name for p in staging.iterdir()) == sorted([mine.name, remote.name])
    # Old files go whoever owns them: no write takes a day.
    old = datetime(2020, 1, 1).timestamp()
    os.utime(remote, (old, old))
    assert clean_staging(tmp_path) == 1
    assert [p.name for p in staging.iterdir()] == [mine.name]


def test_clean_staging_removes_the_folders_of_dead_engines_only(tmp_path):
    """The duckdb and spark engines stage folders (spill files, Spark's parts)."""
    staging = tmp_path / ".staging"
    host = os.uname().nodename
    live = staging / f"duckdb~{host}~{os.getpid()}~1.tmp"
    dead = staging / f"spark~{host}~{dead_pid()}~2.tmp"
    unnamed = staging / "somebody-elses"
    for folder in (live, dead, unnamed):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "part-0.parquet").write_bytes(b"PAR1")
    assert clean_staging(tmp_path, max_age_s=0) == 1
    assert sorted(p.name for p in staging.iterdir()) == sorted([live.name, unnamed.name])


def test_write_table_atomic_leaves_no_staging_file(tmp_path):
    table = pa.table({"x": list(range(100_000))})
    path = tmp_path / "out" / "t.parquet"
    write_table_atomic(table, path, tmp_path / ".staging")
    assert pq.read_table(path).equals(table)
    assert list((tmp_path / ".staging").iterdir()) == []
    meta = pq.read_metadata(path)
    assert meta.num_row_groups == 2  # ~64k-row groups
    assert meta.row_group(0).column(0).compression == "ZSTD"


@pytest.mark.parametrize("as_list", [False, True])
def test_a_stream_of_any_lengths_gets_the_row_groups_of_one_write(tmp_path, as_list):
    # Tables and record batches of uneven lengths, an empty one among them: the file is
    # cut as one write of the whole table is (65,536 rows a group, the last shorter).
    whole = pa.table({"x": list(range(150_000))})
    cuts = [0, 1, 70_000, 70_000, 131_072, 149_999, 150_000]
    pieces = [whole.slice(a, b - a) for a, b in pairwise(cuts)]
    pieces[1] = pieces[1].to_batches()[0]
    tables = pieces if as_list else iter(pieces)
    path = tmp_path / "t.parquet"
    write_tables_atomic(tables, whole.schema, path, tmp_path / ".staging")
    assert pq.read_table(path).equals(whole)
    meta = pq.read_metadata(path)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        65_536, 65_536, 150_000 - 131_072
    ]  # fmt: skip
    write_tables_atomic(iter([whole.slice(0, 0)]), whole.schema, path, tmp_path / ".staging")
    assert pq.read_table(path).num_rows == 0 and pq.read_metadata(path).num_row_groups == 0


def _varied_table(n):
    """Rows of many Parquet types: dictionary-encoded and plain strings with nulls,
    booleans, doubles, timestamps, a list column (nested schema elements)."""
    return pa.table(
        {
            "url": [f"https://site{i % 977}.example/{i}" for i in range(n)],
            "kind": [("anchor", "redirect", None)[i % 3] for i in range(n)],
            "follow": [i % 5 != 0 for i in range(n)],
            "value": [i / 7 for i in range(n)],
            "at": pa.array([i * 1000 for i in range(n)], pa.timestamp("ms", tz="UTC")),
            "tags": [["a", "b"][: i % 3] for i in range(n)],
        }
    ).replace_schema_metadata({"linkcrawl.table": "test"})


@pytest.mark.parametrize(
    "cuts",
    [
        [0, 150_000],  # one piece
        [0, 131_072, 150_000],  # whole row groups, then the rest
        [0, 1_000, 65_537, 150_000],  # pieces across row groups
        [0, 0, 150_000, 150_000],  # empty pieces first and last
    ],
)
def test_a_stream_of_tables_writes_the_file_one_write_of_the_whole_writes(tmp_path, cuts):
    whole = _varied_table(150_000)
    staging = tmp_path / ".staging"
    streamed, one = tmp_path / "streamed.parquet", tmp_path / "one.parquet"
    pieces = (whole.slice(a, b - a) for a, b in pairwise(cuts))
    write_tables_atomic(pieces, whole.schema, streamed, staging, ["kind"])
    assert list(staging.iterdir()) == []
    # The reference: pyarrow writing the whole table at once, with the same options.
    pq.write_table(whole, one, use_dictionary=["kind"], **PARQUET_OPTIONS)
    assert streamed.read_bytes() == one.read_bytes()
    assert pq.read_table(streamed).equals(whole)
    assert pq.read_schema(streamed).metadata == whole.schema.metadata
    meta = pq.read_metadata(streamed)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [
        65_536, 65_536, 150_000 - 131_072
    ]  # fmt: skip
    for i in range(meta.num_row_groups):
        for j in range(meta.num_columns):
            column = meta.row_group(i).column(j)
            assert column.has_dictionary_page == (column.path_in_schema == "kind")


def test_failed_write_leaves_neither_file_nor_staging(tmp_path):
    schema = pa.schema([pa.field("source", pa.string(), nullable=False)])
    bad = pa.Table.from_arrays([pa.array(["a", None], pa.string())], schema=schema)
    with pytest.raises(pa.ArrowInvalid, match="non-nullable"):
        write_table_atomic(bad, tmp_path / "t.parquet", tmp_path / ".staging")
    assert not (tmp_path / "t.parquet").exists()
    assert list((tmp_path / ".staging").iterdir()) == []


# -- part files ------------------------------------------------------------------------------


def edge_table(n: int, source: str = "http://a.example/") -> pa.Table:
    return table_from_columns(
        {
            "source": [source] * n,
            "target": [f"http://b.example/{i}" for i in range(n)],
            "anchor": [""] * n,
            "rel": [""] * n,
            "follow": [True] * n,
            "position": [None] * n,
            "kind": ["anchor"] * n,
            "ordinal": list(range(n)),
            "source_domain": ["a.example"] * n,
            "target_domain": ["b.example"] * n,
            "internal": [False] * n,
            "discovered_at": [datetime(2026, 11, 22, tzinfo=UTC)] * n,
        },
        EDGES_SCHEMA,
    )


def page_table(urls: list[str], depth: int = 0) -> pa.Table:
    n = len(urls)
    columns = {f.name: [None] * n for f in PAGES_SCHEMA}
    columns.update(
        url=urls,
        status=[200] * n,
        depth=[depth] * n,
        outlinks=[0] * n,
        fetched_at=[datetime(2026, 11, 22, tzinfo=UTC)] * n,
    )
    return table_from_columns(columns, PAGES_SCHEMA)


def test_part_numbering_continues_and_workers_do_not_collide(tmp_path):
    w = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    assert w.write(edge_table(0)) is None
    assert w.write(edge_table(3)).name == "part-00000.parquet"
    assert w.write(edge_table(3)).name == "part-00001.parquet"
    a = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA, worker="w00")
    assert a.write(edge_table(1)).name == "part-w00-00000.parquet"
    again = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    assert again.write(edge_table(1)).name == "part-00002.parquet"
    assert open_dataset(tmp_path).arrow("edges", "c1").count_rows() == 8
    with pytest.raises(Exception, match="bad worker name"):
        PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA, worker="../x")


def test_drop_unpaired_parts_removes_edges_without_their_pages(tmp_path):
    edges = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    pages = PartWriter(tmp_path, "pages", "c1", PAGES_SCHEMA)
    edges.write(edge_table(2), part=0)
    pages.write(page_table(["http://a.example/"]), part=0)
    pages.write(page_table(["http://a.example/404"]), part=1)  # a pages-only part
    edges.write(edge_table(2, "http://a.example/x"), part=2)  # killed before pages part 2
    other = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA, worker="w01")
    other.write(edge_table(1), part=0)  # another worker's, maybe mid-flush: not ours
    removed = drop_unpaired_parts(tmp_path, "c1")
    assert [p.name for p in removed] == ["part-00002.parquet"]
    names = sorted(p.name for p in (tmp_path / "edges" / "crawl_id=c1").iterdir())
    assert names == ["part-00000.parquet", "part-w01-00000.parquet"]


# -- manifests -------------------------------------------------------------------------------


def test_running_manifest_of_a_dead_process_reads_interrupted(tmp_path):
    fields = {
        "crawl_id": "c1",
        "status": "running",
        "pid": dead_pid(),
        "host": os.uname().nodename,
        "started_at": "2026-11-22T03:00:00+00:00",
    }
    path = write_manifest(tmp_path, fields)
    assert read_manifest(path).status == "interrupted"
    assert open_dataset(tmp_path).crawls()[0]["status"] == "interrupted"
    write_manifest(tmp_path, {**fields, "pid": os.getpid()})
    assert read_manifest(path).status == "running"
    # Another machine's crawl: its pid means nothing here, the manifest is trusted.
    write_manifest(tmp_path, {**fields, "host": "elsewhere.invalid"})
    assert read_manifest(path).status == "running"


def test_manifest_from_a_newer_version_is_refused(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "finished", "schema_version": 99})
    PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA).write(edge_table(1))
    for read in (lambda ds: ds.crawls(), lambda ds: ds.edges("c1"), lambda ds: ds.edges()):
        with pytest.raises(DatasetError, match=r"c1\.json: written by a newer linkcrawl"):
            read(open_dataset(tmp_path))


def test_unreadable_manifest_names_its_path(tmp_path):
    (tmp_path / "crawls").mkdir()
    (tmp_path / "crawls" / "c1.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"crawls/c1\.json: unreadable crawl manifest"):
        open_dataset(tmp_path).crawls()


# -- bad directories and files ---------------------------------------------------------------


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError) as exc:
        open_dataset(tmp_path)
    assert one_line(exc) == f"{tmp_path}: not a linkcrawl data directory (no crawls/ or edges/)"
    with pytest.raises(DatasetError, match="no such data directory"):
        open_dataset(tmp_path / "absent")
    (tmp_path / "file.parquet").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a directory"):
        open_dataset(tmp_path / "file.parquet")


@pytest.fixture
def dataset_with_truncated_part(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "interrupted"})
    w = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    w.write(edge_table(5))
    bad = w.write(edge_table(7))
    w.write(edge_table(11))
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # as a copy interrupted half way would leave it
    return tmp_path, bad


def test_truncated_part_is_named(dataset_with_truncated_part):
    root, bad = dataset_with_truncated_part
    with pytest.raises(DatasetError) as exc:
        open_dataset(root).edges("c1")
    assert one_line(exc).startswith(f"{bad}: truncated Parquet file (no footer)")
    assert "--skip-corrupt" in str(exc.value)


def test_skip_corrupt_reads_around_and_reports(dataset_with_truncated_part):
    root, bad = dataset_with_truncated_part
    ds = open_dataset(root, skip_corrupt=True)
    assert len(ds.edges("c1")) == 5 + 11
    assert [(s.path, s.reason) for s in ds.skipped] == [(bad, "truncated Parquet file (no footer)")]
    # per call, too
    assert len(open_dataset(root).edges(skip_corrupt=True)) == 16


def test_threads_share_a_dataset_each_with_its_own_skip_corrupt(dataset_with_truncated_part):
    """One Dataset read by two threads at once, one reading around the damaged part and one
    refusing it: each call gets what its own skip_corrupt asks for, every time, and the
    dataset's own setting stays as it was made (a call used to swap it while it listed the
    files, so a call in another thread read with the wrong setting)."""
    root, bad = dataset_with_truncated_part
    ds = open_dataset(root)
    rounds = 60
    start = threading.Barrier(2)
    got: dict[bool, list[object]] = {True: [], False: []}

    def read(skip: bool) -> None:
        start.wait()
        for _ in range(rounds):
            try:
                got[skip].append(ds.arrow("edges", "c1", skip_corrupt=skip).count_rows())
            except DatasetError as exc:
                got[skip].append(str(exc).partition(":")[0])

    threads = [threading.Thread(target=read, args=(skip,)) for skip in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got[True] == [5 + 11] * rounds  # the two whole parts, by hand
    assert got[False] == [str(bad)] * rounds  # refused, naming the damaged part
    assert ds.skip_corrupt is False
    with pytest.raises(DatasetError):
        ds.edges("c1")
    assert [s.path for s in ds.skipped] == [bad]


def test_part_from_a_newer_version_is_named(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "finished"})
    w = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    w.write(edge_table(2))
    newer = EDGES_SCHEMA.with_metadata(
        {"linkcrawl.table": "edges", "linkcrawl.schema_version": str(SCHEMA_VERSION + 1)}
    )
    # A newer version that changed a column's type: this version cannot read it as is.
    newer = newer.set(newer.get_field_index("ordinal"), pa.field("ordinal", pa.string()))
    table = edge_table(2).set_column(7, "ordinal", pa.array(["first", "second"]))
    table = table.cast(newer.remove_metadata()).replace_schema_metadata(newer.metadata)
    pq.write_table(table, tmp_path / "edges" / "crawl_id=c1" / "part-00001.parquet")
    with pytest.raises(DatasetError) as exc:
        open_dataset(tmp_path).edges("c1")
    newer_version = f"written by a newer linkcrawl (schema version {SCHEMA_VERSION + 1}"
    assert f"part-00001.parquet: {newer_version}" in one_line(exc)
    ds = open_dataset(tmp_path, skip_corrupt=True)
    assert len(ds.edges("c1")) == 2
    assert [s.path.name for s in ds.skipped] == ["part-00001.parquet"]


def test_unknown_crawl_id(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "finished"})
    ds = open_dataset(tmp_path)
    with pytest.raises(DatasetError) as exc:
        ds.edges("nosuch")
    assert one_line(exc) == f"no crawl 'nosuch' in {tmp_path} (newest: c1)"
    with pytest.raises(DatasetError, match="no crawl 'nosuch'"):
        ds.arrow("pages", "nosuch")
    with pytest.raises(DatasetError, match="no column 'nope'"):
        ds.edges("c1", columns=["nope"])


def test_a_stray_file_in_staging_does_not_disturb_readers(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "running"})
    PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA).write(edge_table(3))
    (tmp_path / ".staging").mkdir(exist_ok=True)
    (tmp_path / ".staging" / "part-00001.parquet~h~1~1.tmp").write_bytes(b"PAR1 half")
    assert len(open_dataset(tmp_path).edges("c1")) == 3
    assert pl.scan_parquet(tmp_path / "edges").collect().height == 3


# -- resume ----------------------------------------------------------------------------------


def test_resume_state_from_rows_on_disk(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "interrupted"})
    edges = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    pages = PartWriter(tmp_path, "pages", "c1", PAGES_SCHEMA)
    # / (depth 0) links to /a and /b; /a (depth 1) links to /b, /c and back to /.
    home, a, b, c = (f"http://s.example/{p}" for p in ("", "a", "b", "c"))
    root_links = edge_table(2, home).set_column(1, "target", pa.array([a, b]))
    a_links = edge_table(3, a).set_column(1, "target", pa.array([b, c, home]))
    edges.write(pa.concat_tables([root_links, a_links]))
    pages.write(pa.concat_tables([page_table([home], 0), page_table([a], 1)]))
    state = open_dataset(tmp_path).resume_state("c1")
    assert state.done == {home, a}
    assert state.frontier == [(b, 1), (c, 2)]
    shutil.rmtree(tmp_path / "edges")
    assert open_dataset(tmp_path).resume_state("c1").frontier == []


def test_resume_state_of_a_real_crawl_matches_pandas(demo_crawl, tmp_path):
    """resume_state streams the edges; the answer is the one a plain pandas reading of the
    whole tables gives, on a real crawl cut as an interruption leaves it (every other page
    not fetched yet, so neither its row nor its links are on disk)."""
    import pandas as pd

    source, crawl_id = demo_crawl
    data = tmp_path / "data"
    shutil.copytree(source, data)
    pages_dir = data / "pages" / f"crawl_id={crawl_id}"
    edges_dir = data / "edges" / f"crawl_id={crawl_id}"
    pages = pq.read_table(pages_dir)
    kept = pages.filter(pa.array([i % 2 == 0 for i in range(pages.num_rows)]))
    kept_urls = set(kept["url"].to_pylist())
    edges = pq.read_table(edges_dir)
    edges = edges.filter(pa.array([s in kept_urls for s in edges["source"].to_pylist()]))
    for d in (pages_dir, edges_dir):
        shutil.rmtree(d)
    PartWriter(data, "pages", crawl_id, PAGES_SCHEMA).write(kept.select(PAGES_SCHEMA.names))
    PartWriter(data, "edges", crawl_id, EDGES_SCHEMA).write(edges.select(EDGES_SCHEMA.names))

    p = pd.read_parquet(pages_dir, columns=["url", "depth"])
    e = pd.read_parquet(edges_dir, columns=["source", "target"])
    depth_of = p.groupby("url")["depth"].min()
    pending = e[~e["target"].isin(set(p["url"]))]
    shallowest = pending.assign(depth=pending["source"].map(depth_of)).groupby("target")["depth"]
    rows = [(t, d) for t, d in shallowest.min().items()]
    # Targets whose linking pages have no depth (reached from a sitemap only) have none
    # either, and come last; then by URL.
    rows.sort(key=lambda r: (pd.isna(r[1]), 0 if pd.isna(r[1]) else r[1], r[0]))
    expected = [(t, None if pd.isna(d) else int(d) + 1) for t, d in rows]

    state = open_dataset(data).resume_state(crawl_id)
    assert state.done == set(p["url"]) and len(state.done) > 10
    assert len(expected) > 20 and {d for _, d in expected} != {1}
    assert None not in {d for _, d in expected}  # every demo page is reached by a link
    assert state.frontier == expected


def test_counts_from_disk(tmp_path):
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "interrupted"})
    PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA).write(edge_table(4))
    t = page_table(["http://a.example/", "http://a.example/x", "http://a.example/y"])
    t = t.set_column(1, "status", pa.array([200, 404, None], pa.int16()))
    t = t.set_column(2, "error", pa.array([None, None, "timeout"]))
    PartWriter(tmp_path, "pages", "c1", PAGES_SCHEMA).write(t)
    assert open_dataset(tmp_path).counts("c1") == {
        "pages": 3,
        "edges": 4,
        "errors": 2,
        "sitemaps": 0,
    }


def test_manifest_json_is_plain(tmp_path):
    path = write_manifest(tmp_path, {"crawl_id": "c1", "status": "finished", "counts": {}})
    assert json.loads(path.read_text()) == {"counts": {}, "crawl_id": "c1", "status": "finished"}


def test_resume_state_gives_no_depth_below_pages_without_one(tmp_path):
    """A page reached from a sitemap only has no depth: its link targets have none either
    (not depth 1), and come after those of known depth."""
    write_manifest(tmp_path, {"crawl_id": "c1", "status": "interrupted"})
    home, orphan, b, c = (f"http://s.example/{p}" for p in ("", "orphan", "b", "c"))
    edges = PartWriter(tmp_path, "edges", "c1", EDGES_SCHEMA)
    pages = PartWriter(tmp_path, "pages", "c1", PAGES_SCHEMA)
    edges.write(
        pa.concat_tables(
            [
                edge_table(1, home).set_column(1, "target", pa.array([b])),
                edge_table(2, orphan).set_column(1, "target", pa.array([b, c])),
            ]
        )
    )
    no_depth = page_table([orphan], 0).set_column(
        PAGES_SCHEMA.get_field_index("depth"), "depth", pa.nulls(1, pa.int16())
    )
    pages.write(pa.concat_tables([page_table([home], 0), no_depth]))
    assert open_dataset(tmp_path).resume_state("c1").frontier == [(b, 1), (c, None)]
