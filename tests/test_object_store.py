"""The data directory as a URI: ``file://`` end to end, and an object store (pyarrow's
in-memory ``mock://`` file system, the code path of ``s3://``) for crawl and readers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.cli import LOCAL_ONLY, main
from linkcrawl.dataset.layout import RemotePath, root_path
from linkcrawl.dataset.manifest import write_manifest
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, table_from_columns
from linkcrawl.dataset.write import PartWriter, drop_unpaired_parts
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import FAST, demo_seeds, free_port, run_linkcrawl, start_server

KEY = ["source", "target", "ordinal"]
# moto's S3 takes any keys; no request may reach an instance metadata service
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _edge_set(frame: pd.DataFrame) -> set[tuple]:
    return set(map(tuple, frame[KEY].values))


def test_root_path_kinds(tmp_path):
    assert root_path(str(tmp_path)) == tmp_path
    assert root_path(f"file://{tmp_path}") == tmp_path
    remote = root_path("mock:///store/data")
    assert isinstance(remote, RemotePath)
    assert str(remote / "crawls" / "a.json") == "mock:///store/data/crawls/a.json"
    assert root_path(str(remote / "edges")).fs is remote.fs  # one file system per store


@pytest.mark.slow
def test_file_uri_end_to_end(demo_server, demo_crawl, tmp_path):
    """crawl, analyze, backlinks and domains with --data file:///...: the same dataset as a
    crawl into a plain path, and pandas reads it."""
    reference, crawl_id = demo_crawl
    uri = f"file://{tmp_path}/store"
    result = run_linkcrawl(
        ["crawl", *demo_seeds(), "--data", uri, "--crawl-id", "uri1", *FAST],
        proxy=demo_server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    edges = pd.read_parquet(tmp_path / "store" / "edges")
    one = pd.read_parquet(reference / "edges", filters=[("crawl_id", "=", crawl_id)])
    assert _edge_set(edges) == _edge_set(one) and len(edges) == len(one)
    analyzed = run_linkcrawl(["analyze", "--data", uri])
    assert analyzed.returncode == 0, analyzed.stderr
    assert (tmp_path / "store" / "authority" / "crawl_id=uri1" / "domains.parquet").is_file()
    domains = run_linkcrawl(["domains", "--data", uri, "--format", "json"])
    assert domains.returncode == 0, domains.stderr
    ranked = json.loads(domains.stdout)["rows"]
    assert {d["domain"] for d in ranked} <= set(edges["target_domain"])
    target = ranked[0]["domain"]
    backlinks = run_linkcrawl(["backlinks", target, "--data", uri, "--format", "csv"])
    assert backlinks.returncode == 0, backlinks.stderr
    inbound = edges[(edges.target_domain == target) & ~edges.internal]
    assert backlinks.stdout.count("\n") > 1 and len(inbound) > 0


def _blank(schema: pa.Schema, n: int) -> dict[str, list]:
    """Nulls, or for a non-nullable column its type's zero value."""
    zero = {pa.string(): "", pa.bool_(): False}
    return {f.name: [None if f.nullable else zero.get(f.type, 0)] * n for f in schema}


def _tables(n: int) -> tuple[pa.Table, pa.Table]:
    urls = [f"http://a.example.com/{i}" for i in range(n)]
    pages = table_from_columns(
        _blank(PAGES_SCHEMA, n)
        | {"url": urls, "status": [200] * n, "depth": [1] * n, "outlinks": [1] * n},
        PAGES_SCHEMA,
    )
    columns = _blank(EDGES_SCHEMA, n) | {
        "source": urls,
        "target": [f"http://b.example.org/{i}" for i in range(n)],
        "ordinal": [0] * n,
        "follow": [True] * n,
        "source_domain": ["example.com"] * n,
        "target_domain": ["example.org"] * n,
        "internal": [False] * n,
    }
    return table_from_columns(columns, EDGES_SCHEMA), pages


@pytest.mark.parametrize("kind", ["local", "object store"])
def test_parts_manifests_and_readers(kind, tmp_path):
    """The same writes through a local path and through an object store read back alike."""
    root = str(tmp_path) if kind == "local" else f"mock:///{tmp_path.name}/data"
    edges, pages = _tables(5)
    for part in (0, 1):
        PartWriter(root, "edges", "c1", EDGES_SCHEMA, "w1").write(edges, part=part)
    PartWriter(root, "pages", "c1", PAGES_SCHEMA, "w1").write(pages, part=0)
    write_manifest(root, {"crawl_id": "c1", "status": "finished", "started_at": "2026"})
    # Edges part 1 has no pages part: a crash between the two writes.
    removed = drop_unpaired_parts(root, "c1", "w1")
    assert [p.name for p in removed] == ["part-w1-00001.parquet"]
    ds = open_dataset(root)
    assert [m.crawl_id for m in ds.manifests()] == ["c1"]
    assert ds.resolve_crawl() == "c1"
    read = ds.edges("c1")
    assert len(read) == 5 and set(read["target"]) == set(edges["target"].to_pylist())
    assert ds.counts("c1") == {"pages": 5, "edges": 5, "errors": 0, "sitemaps": 0}
    state = ds.resume_state("c1")
    assert state.done == set(pages["url"].to_pylist()) and len(state.frontier) == 5
    assert list(ds.pages()["crawl_id"].unique()) == ["c1"]


def test_import_edges_into_an_object_store(tmp_path, monkeypatch):
    """import_edges with an object-store data directory writes the crawl there, as a
    crawl does, and not into a local folder named after the scheme."""
    monkeypatch.chdir(tmp_path)
    root = f"mock:///{tmp_path.name}/imported"
    edges = pd.DataFrame(
        {
            "source": ["http://a.example.com/", "http://a.example.com/", "http://b.example.org/"],
            "target": ["http://b.example.org/", "http://c.example.net/x", "http://a.example.com/"],
        }
    )
    assert import_edges(root, edges, "imp1") == "imp1"
    ds = open_dataset(root)
    assert ds.manifest("imp1").status == "finished"
    read = ds.edges("imp1")
    assert set(zip(read.source, read.target, strict=True)) == set(
        zip(edges.source, edges.target, strict=True)
    )
    assert dict(zip(read.target, read.target_domain, strict=True)) == {
        "http://b.example.org/": "example.org",
        "http://c.example.net/x": "example.net",
        "http://a.example.com/": "example.com",
    }
    assert sorted(ds.pages("imp1")["url"]) == ["http://a.example.com/", "http://b.example.org/"]
    assert list(tmp_path.iterdir()) == []  # no local "mock:" folder


def test_crawl_into_an_object_store(demo_server, demo_crawl, tmp_path):
    """A whole crawl written to an object store (in memory, so crawled and read back in one
    process) holds what a crawl to a local directory holds."""
    reference, crawl_id = demo_crawl
    script = textwrap.dedent(
        f"""
        import json, sys
        from linkcrawl.crawl.runner import crawl
        from linkcrawl.storage import open_dataset
        seeds = {demo_seeds()!r}
        done = crawl(seeds, data_dir="mock:///bucket/data", crawl_id="obj1",
                     settings={{"AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0,
                               "LOG_LEVEL": "WARNING"}})
        ds = open_dataset("mock:///bucket/data")
        edges = ds.edges(done, columns=["source", "target", "ordinal"])
        print(json.dumps({{"status": ds.manifest(done).status,
                          "edges": edges.values.tolist(),
                          "pages": sorted(ds.pages(done)["url"])}}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = demo_server.proxy_url
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got["status"] == "finished"
    one = pd.read_parquet(reference / "edges", filters=[("crawl_id", "=", crawl_id)])
    assert set(map(tuple, got["edges"])) == _edge_set(one) and len(got["edges"]) == len(one)
    pages = pd.read_parquet(reference / "pages", filters=[("crawl_id", "=", crawl_id)])
    assert got["pages"] == sorted(pages["url"])
    assert not (tmp_path / "mock:").exists() and not os.path.exists("mock:")


@pytest.fixture(scope="module")
def s3_server():
    """An S3-compatible server on a free port of 127.0.0.1 (moto's, from the test extra)."""
    try:
        import moto.server  # noqa: F401  (only checks that it is installed)
    except ImportError:
        pytest.fail("moto is not installed: pip install 'moto[server]' (the test extra has it)")
    port = free_port()
    proc = start_server([sys.executable, "-m", "moto.server", "-p", str(port)], port, "moto")
    yield port
    proc.kill()
    proc.wait()


@pytest.mark.slow
def test_crawl_to_s3(demo_server, demo_crawl, s3_server, monkeypatch, tmp_path):
    """`linkcrawl crawl --data s3://...` against an S3 API, then `linkcrawl broken` and
    pandas read it there."""
    reference, crawl_id = demo_crawl
    for name, value in S3_KEYS.items():
        monkeypatch.setenv(name, value)
    options = f"endpoint_override=127.0.0.1:{s3_server}&scheme=http&region=us-east-1"
    uri = f"s3://linkcrawl-test/data?{options}&allow_bucket_creation=true"
    result = run_linkcrawl(
        ["crawl", *demo_seeds(), "--data", uri, "--crawl-id", "s3a", *FAST],
        proxy=demo_server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    broken = run_linkcrawl(["broken", "--data", uri, "--format", "json"])
    assert broken.returncode == 0, broken.stderr
    # analyze writes its tables into the object store; they equal a local analysis's.
    analyzed = run_linkcrawl(["analyze", "--data", uri])
    assert analyzed.returncode == 0, analyzed.stderr
    local = tmp_path / "local"
    shutil.copytree(reference, local, ignore=shutil.ignore_patterns("authority", ".*"))
    analyze(local, crawl_id)

    import pyarrow.fs as pafs

    fs = pafs.FileSystem.from_uri(f"s3://linkcrawl-test?{options}")[0]
    edges = pd.read_parquet("linkcrawl-test/data/edges", filesystem=fs)
    one = pd.read_parquet(reference / "edges", filters=[("crawl_id", "=", crawl_id)])
    assert _edge_set(edges) == _edge_set(one) and len(edges) == len(one)
    assert list(edges["crawl_id"].unique()) == ["s3a"]
    manifest = json.loads(fs.open_input_stream("linkcrawl-test/data/crawls/s3a.json").read())
    assert manifest["status"] == "finished" and manifest["counts"]["edges"] == len(one)
    assert not any(
        ".staging" in i.path
        for i in fs.get_file_info(pafs.FileSelector("linkcrawl-test", recursive=True))
    )
    there = tmp_path / "from-s3"
    there.mkdir()
    for table in ("pages", "domains", "inbound"):
        path = f"linkcrawl-test/data/authority/crawl_id=s3a/{table}.parquet"
        with fs.open_input_stream(path) as stream:
            (there / f"{table}.parquet").write_bytes(stream.read())
    assert_same_analysis(local / "authority" / f"crawl_id={crawl_id}", there)
    # The reader gives the authority tables in the bucket as it gives local ones.
    ds = open_dataset(uri)
    inbound = ds.authority_arrow("inbound", "s3a").to_table().to_pandas()
    pd.testing.assert_frame_equal(inbound, pd.read_parquet(there / "inbound.parquet"))
    domains = ds.authority("domains", "s3a")
    pd.testing.assert_frame_equal(domains, pd.read_parquet(there / "domains.parquet"))
    # and every other command that LOCAL_ONLY says works on an object store reads it there
    # as it reads the local copy
    # (a second crawl, for diff: the first one's rows under another id)
    for table in ("edges", "pages"):
        for info in fs.get_file_info(
            pafs.FileSelector(f"linkcrawl-test/data/{table}/crawl_id=s3a")
        ):
            fs.copy_file(info.path, info.path.replace("crawl_id=s3a", "crawl_id=s3b"))
    with fs.open_output_stream("linkcrawl-test/data/crawls/s3b.json") as stream:
        stream.write(json.dumps({**manifest, "crawl_id": "s3b"}).encode())
    # A local copy of the bucket, to run each command on both.
    copy = tmp_path / "copy"
    pafs.copy_files("linkcrawl-test/data", str(copy), source_filesystem=fs)
    target = ["alpha-example.com"]
    # s3b (the newest) has no authority tables: the analysed crawl s3a is named
    analysed = ["--crawl-id", "s3a"]
    arguments = {
        "history": target, "diff": ["s3a", "s3b"], "audit": analysed, "domains": analysed,
        "backlinks": [*target, *analysed], "report": [*target, *analysed],
        "disavow": [*target, *analysed], "site": [*target, *analysed],
        "intersect": ["foxtrot-example.com", "github.com", "wikipedia.org", *target, *analysed],
    }  # fmt: skip
    ran = []
    # (the import commands write a new crawl: tests above import into an object store)
    writers = {"crawl", "analyze", "demo", "import edges", "import warc"}
    for command in sorted(LOCAL_ONLY.keys() - writers):
        if LOCAL_ONLY[command] is not None:
            continue
        outputs = []
        for where, data in (("s3", uri), ("local", str(copy))):
            extra = ["--out", str(tmp_path / f"{where}.html")] if command == "report" else []
            if command in ("backlinks", "domains", "diff", "history", "broken", "site",
                           "intersect"):  # fmt: skip
                extra = ["--format", "json", "--limit", "0"]
            run = run_linkcrawl([command, *arguments.get(command, []), *extra, "--data", data])
            assert run.returncode == 0, (command, where, run.stderr)
            outputs.append(run.stdout)
        assert outputs[0] == outputs[1], command
        ran.append(command)
        if command == "backlinks":
            rows = json.loads(outputs[0])["rows"]
            inbound_of = inbound[inbound.target_domain == "alpha-example.com"]
            assert len(rows) == len(inbound_of) > 0
            assert {(r["source"], r["target"]) for r in rows} == set(
                zip(inbound_of.source, inbound_of.target, strict=True)
            )
        if command == "domains":
            rows = json.loads(outputs[0])["rows"]
            assert [r["domain"] for r in rows] == list(domains.sort_values("rank").domain)
        if command == "intersect":
            # The prospects, counted with pandas from the inbound rows read above.
            rows = json.loads(outputs[0])["rows"]
            to = inbound.groupby("target_domain").source_domain.apply(set)
            rivals = to["github.com"] | to["wikipedia.org"] | to["alpha-example.com"]
            prospects = rivals - to["foxtrot-example.com"] - {"foxtrot-example.com"}
            assert {r["domain"] for r in rows} == prospects and len(prospects) == 2
    assert {"backlinks", "domains", "report", "site", "intersect"} <= set(ran)
    # and the variants of issue 20 read there as here
    variants = [
        ["history", *target, "--domains"],
        ["backlinks", *target, "--anchors", *analysed],
        # (no rows: the crawl went through the local web's proxy, so no page has an ip)
        ["backlinks", *target, "--networks", *analysed],
    ]
    for variant in variants:
        answers = []
        for data in (uri, str(copy)):
            run = run_linkcrawl([*variant, "--format", "json", "--limit", "0", "--data", data])
            assert run.returncode == 0, (variant, run.stderr)
            answers.append(json.loads(run.stdout))
        assert answers[0] == answers[1], variant
        assert answers[0]["rows"] or variant[2] == "--networks", variant
    # the same page, but for where a note says the data directory is
    html = {
        where: (tmp_path / f"{where}.html").read_text().replace(escape(data), "DATA")
        for where, data in (("s3", uri), ("local", str(copy)))
    }
    assert html["s3"] == html["local"] and "alpha-example.com" in html["s3"]
    # demo crawls and analyses its bundled web into the object store, then reports there
    assert LOCAL_ONLY["demo"] is None
    demo = run_linkcrawl(["demo", "--data", uri.replace("/data?", "/demo?")], timeout=300)
    assert demo.returncode == 0, demo.stderr
    assert "Best backlinks of alpha-example.com" in demo.stdout
    assert fs.get_file_info(pafs.FileSelector("linkcrawl-test/demo/authority", recursive=True))


def assert_same_analysis(here, there):
    """The authority tables of two crawls of one web that fetched its pages in different
    orders: the same rows and values. Pages and domains are numbered in crawl order, and
    that order breaks exact ties (and orders inbound.parquet's target domains), so ranks
    must agree only where the score that orders them is not tied within its group."""
    tables = {
        "pages": (["url"], "pagerank", None),
        "domains": (["domain"], "pagerank", None),
        "inbound": (
            ["target", "source", "anchor", "rel", "follow", "position", "kind"],
            "value",
            "target_domain",
        ),
    }
    for table, (key, score, group) in tables.items():
        a = pd.read_parquet(here / f"{table}.parquet")
        b = pd.read_parquet(there / f"{table}.parquet")
        assert len(a) == len(b) and list(a.columns) == list(b.columns), table
        for frame in (a, b):
            frame["n"] = frame.groupby(key, dropna=False).cumcount()
        both = a.merge(b, on=[*key, "n"], suffixes=("", "_s3"), validate="one_to_one")
        assert len(both) == len(a), table
        for column in a.columns:
            if column in (*key, "n", "rank"):
                continue
            x, y = both[column], both[f"{column}_s3"]
            if x.dtype.kind == "f":
                assert np.allclose(x, y, rtol=1e-9, atol=1e-15, equal_nan=True), (table, column)
            else:
                assert ((x == y) | (x.isna() & y.isna())).all(), (table, column)
        groups = both[group] if group else pd.Series(0, index=both.index)
        ordered = both.assign(_g=groups).sort_values(["_g", score])
        close = (ordered[score].diff().abs() <= 1e-12) & (ordered["_g"] == ordered["_g"].shift())
        tied = close | close.shift(-1, fill_value=False)
        untied = ordered[~tied]
        assert len(untied) > 0, table
        assert (untied["rank"] == untied["rank_s3"]).all(), table


def test_every_command_with_data_says_whether_it_works_on_an_object_store():
    commands = [
        (f"{name} {sub}", subcommand)
        for name, command in main.commands.items()
        for sub, subcommand in getattr(command, "commands", {}).items()
    ] + list(main.commands.items())
    takes_data = {
        name for name, command in commands if any(p.name == "data_dir" for p in command.params)
    }
    assert "import warc" in takes_data
    assert takes_data == set(LOCAL_ONLY)


# Arguments a command needs before it reaches --data.
_ARGUMENTS = {
    "backlinks": ["example.com"],
    "history": ["example.com"],
    "report": ["example.com"],
    "disavow": ["example.com"],
    "prune": ["--keep", "1"],
    "import warc": [str(Path(__file__).parent / "test_object_store.py")],  # any file
}
_REFUSING = sorted(name for name, reason in LOCAL_ONLY.items() if reason is not None)


@pytest.mark.parametrize("command", _REFUSING)
def test_a_command_that_needs_a_local_directory_refuses_s3_in_one_line(
    command, s3_server, monkeypatch
):
    """Each command that needs a local data directory says why, in the one line of
    LOCAL_ONLY, exits non-zero, and writes nothing to the object store."""
    for name, value in S3_KEYS.items():
        monkeypatch.setenv(name, value)
    options = f"endpoint_override=127.0.0.1:{s3_server}&scheme=http&region=us-east-1"
    uri = f"s3://linkcrawl-refused/data?{options}&allow_bucket_creation=true"
    result = run_linkcrawl([*command.split(), *_ARGUMENTS.get(command, []), "--data", uri])
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"`linkcrawl {command}` needs a local data directory: {LOCAL_ONLY[command]}" in lines[0]
    import pyarrow.fs as pafs

    fs = pafs.FileSystem.from_uri(f"s3://linkcrawl-refused?{options}")[0]
    assert fs.get_file_info("linkcrawl-refused").type == pafs.FileType.NotFound


def test_an_engine_that_needs_a_local_directory_says_so():
    result = run_linkcrawl(["analyze", "--engine", "duckdb", "--data", "mock:///bucket/data"])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the duckdb engine needs a local data directory" in lines[0]


@pytest.mark.parametrize("kind", ["local", "object store"])
def test_a_table_stream_that_fails_midway_leaves_no_file(kind, tmp_path):
    """write_tables_atomic: a failure while the tables are made leaves no file, neither
    on disk (the staged file is dropped) nor in an object store (where closing the stream
    completes the upload, so the object is removed), and no staged leftovers."""
    from linkcrawl.dataset.schemas import INBOUND_SCHEMA
    from linkcrawl.dataset.write import write_tables_atomic

    root = root_path(str(tmp_path) if kind == "local" else f"mock:///{tmp_path.name}/data")
    path = root / "authority" / "inbound.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = tmp_path / ".staging"

    def tables():
        yield INBOUND_SCHEMA.empty_table()
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_tables_atomic(tables(), INBOUND_SCHEMA, path, staging)
    assert not path.exists()
    assert not staging.exists() or not list(staging.iterdir())
    # and without the failure, the file is there and reads back
    write_tables_atomic(iter([INBOUND_SCHEMA.empty_table()]), INBOUND_SCHEMA, path, staging)
    assert path.exists()
