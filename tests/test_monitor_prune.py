"""prune: which crawls go, what goes with them, and that running crawls stay."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pandas as pd
import pytest

from linkcrawl.monitor import prune
from linkcrawl.storage import (
    EDGES_SCHEMA,
    PAGES_SCHEMA,
    DatasetError,
    PartWriter,
    table_from_columns,
    write_manifest,
    write_table_atomic,
)


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(child.stdout)


def add_crawl(root, crawl_id: str, day: int, status: str, pid: int | None = None) -> None:
    """A crawl of one page with one link, written with the storage layer's own writers."""
    url = f"http://{crawl_id}-example.com/"
    edges = {
        "source": [url],
        "target": ["http://target-example.com/"],
        "anchor": ["a"],
        "rel": [""],
        "follow": [True],
        "position": ["content"],
        "kind": ["anchor"],
        "ordinal": [0],
        "source_domain": [f"{crawl_id}-example.com"],
        "target_domain": ["target-example.com"],
        "internal": [False],
        "discovered_at": [pd.Timestamp(f"2026-11-{day:02d}", tz="UTC")],
    }
    PartWriter(root, "edges", crawl_id, EDGES_SCHEMA).write(table_from_columns(edges, EDGES_SCHEMA))
    pages = {f.name: [None] for f in PAGES_SCHEMA}
    pages.update(url=[url], status=[200], fetched_at=edges["discovered_at"])
    PartWriter(root, "pages", crawl_id, PAGES_SCHEMA).write(table_from_columns(pages, PAGES_SCHEMA))
    authority = root / "authority" / f"crawl_id={crawl_id}"
    write_table_atomic(
        table_from_columns(edges, EDGES_SCHEMA), authority / "inbound.parquet", root / ".staging"
    )
    jobdir = root / ".jobs" / crawl_id
    jobdir.mkdir(parents=True)
    (jobdir / "requests.seen").write_text("x")
    write_manifest(
        root,
        {
            "crawl_id": crawl_id,
            "status": status,
            "started_at": f"2026-11-{day:02d}T03:00:00+00:00",
            "pid": pid,
            "host": socket.gethostname(),
        },
    )


@pytest.fixture
def crawls(tmp_path):
    gone = dead_pid()
    add_crawl(tmp_path, "a0", 1, "running", os.getpid())  # oldest, still running
    add_crawl(tmp_path, "a1", 2, "finished")
    add_crawl(tmp_path, "a2", 3, "running", gone)  # its process died: interrupted
    add_crawl(tmp_path, "a3", 4, "finished")
    add_crawl(tmp_path, "a4", 5, "finished")
    add_crawl(tmp_path, "a5", 6, "interrupted")
    return tmp_path


def left(root) -> dict[str, set[str]]:
    return {
        "manifests": {p.stem for p in (root / "crawls").glob("*.json")},
        **{
            table: {p.name.removeprefix("crawl_id=") for p in (root / table).glob("crawl_id=*")}
            for table in ("edges", "pages", "authority")
        },
        "jobs": {p.name for p in (root / ".jobs").iterdir()},
    }


def test_prune_keeps_the_newest_finished_and_everything_newer(crawls):
    assert prune(crawls, keep=2, dry_run=True) == ["a1", "a2"]
    assert len(left(crawls)["manifests"]) == 6  # a dry run removes nothing
    assert prune(crawls, keep=2) == ["a1", "a2"]
    kept = {"a0", "a3", "a4", "a5"}
    assert left(crawls) == dict.fromkeys(["manifests", "edges", "pages", "authority", "jobs"], kept)
    assert set(pd.read_parquet(crawls / "edges").crawl_id.astype(str)) == kept
    assert list((crawls / ".staging").glob("pruned-*")) == []
    assert prune(crawls, keep=2) == []  # nothing more to do


def test_prune_never_removes_a_running_crawl(crawls):
    # everything older than a4 goes, except a0, whose process (this one) is alive
    assert prune(crawls, keep=1) == ["a1", "a2", "a3"]
    assert "a0" in left(crawls)["edges"]


def test_prune_spares_the_crawl_holding_the_lock(crawls):
    from linkcrawl.runner import DataDirLock

    # a crawl being resumed holds the lock before its manifest says running again
    with DataDirLock(crawls, "a2"):
        assert prune(crawls, keep=2) == ["a1"]
    # once its holder is gone the lock protects nothing (a1 went already), whatever its
    # file says: the pid of a killed holder may be another process's by now
    (crawls / ".crawl.lock").write_text(f"pid {os.getpid()}, crawl a2")
    assert prune(crawls, keep=1) == ["a2", "a3"]


def test_prune_bad_input(crawls, tmp_path_factory):
    for keep in (0, -1, 1.5, True):
        with pytest.raises(DatasetError, match="at least 1"):
            prune(crawls, keep=keep)
    with pytest.raises(DatasetError, match="no such data directory"):
        prune(tmp_path_factory.mktemp("x") / "missing", keep=1)
    assert prune(crawls, keep=3) == []  # three finished crawls, all kept


def test_broken_on_a_crawl_where_nothing_failed(tmp_path):
    from linkcrawl.monitor import broken

    add_crawl(tmp_path, "ok1", 1, "finished")
    assert broken(tmp_path, "ok1").empty
