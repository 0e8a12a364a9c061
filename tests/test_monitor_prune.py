"""prune: which crawls go, what goes with them, and that running crawls stay."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest

from linkcrawl.dataset.manifest import write_manifest
from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, table_from_columns
from linkcrawl.dataset.write import PartWriter, write_table_atomic
from linkcrawl.errors import DatasetError
from linkcrawl.reports.monitor import prune
from tests.conftest import run_linkcrawl


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
    from linkcrawl.crawl.runner import DataDirLock

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
    from linkcrawl.reports.monitor import broken

    add_crawl(tmp_path, "ok1", 1, "finished")
    assert broken(tmp_path, "ok1").empty


# -- on copies of a real crawl: what a prune removes, and what a killed one leaves ---------


@pytest.fixture(scope="module")
def analysed_demo(demo_crawl, tmp_path_factory):
    """A copy of the demo crawl with its authority tables."""
    from linkcrawl.analysis import analyze

    root = tmp_path_factory.mktemp("analysed") / "data"
    shutil.copytree(demo_crawl[0], root, ignore=shutil.ignore_patterns("authority", ".staging"))
    analyze(root, "demo1")
    return root


def copy_crawls(source, root, days: dict[str, int], parts: int = 1) -> None:
    """Crawls of ``root`` that are copies of the demo crawl in ``source``, started on the
    given days of November 2026, finished; ``parts`` copies of each part file."""
    fields = json.loads((source / "crawls" / "demo1.json").read_text())
    for crawl_id, day in days.items():
        for table in ("edges", "pages", "authority"):
            partition = root / table / f"crawl_id={crawl_id}"
            partition.mkdir(parents=True)
            for file in (source / table / "crawl_id=demo1").glob("*.parquet"):
                if table == "authority":
                    shutil.copy(file, partition / file.name)
                    continue
                for n in range(parts):
                    shutil.copy(file, partition / f"part-{n:05d}.parquet")
        started = f"2026-11-{day:02d}T03:00:00+00:00"
        write_manifest(root, {**fields, "crawl_id": crawl_id, "started_at": started})
    shutil.rmtree(root / ".staging", ignore_errors=True)


def files_of(root) -> dict[str, set[str]]:
    """Every crawl's files, by crawl id: ``table/name``."""
    found: dict[str, set[str]] = {}
    for table in ("edges", "pages", "authority"):
        for partition in (root / table).glob("crawl_id=*"):
            crawl_id = partition.name.removeprefix("crawl_id=")
            found.setdefault(crawl_id, set()).update(
                f"{table}/{p.name}" for p in partition.iterdir()
            )
    return found


def manifest_status(root) -> dict[str, str]:
    return {p.stem: json.loads(p.read_text())["status"] for p in (root / "crawls").glob("*.json")}


def test_prune_refuses_a_manifest_that_names_another_crawl(analysed_demo, tmp_path):
    root = tmp_path / "data"
    copy_crawls(analysed_demo, root, {"p1": 1, "p2": 2, "p3": 3})
    # p1's manifest claims to be p3's: pruning by it removed p3, the newest crawl
    fields = json.loads((root / "crawls" / "p3.json").read_text())
    fields["started_at"] = "2026-11-01T03:00:00+00:00"
    (root / "crawls" / "p1.json").write_text(json.dumps(fields))
    before = files_of(root)
    result = run_linkcrawl(["prune", "--data", str(root), "--keep", "1"])
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "p1.json" in result.stderr and "'p3'" in result.stderr
    assert files_of(root) == before
    assert sorted(manifest_status(root)) == ["p1", "p2", "p3"]


def snapshot(root) -> set[tuple[str, int]]:
    entries = set()
    for folder in ("crawls", "edges", "pages", "authority"):
        with contextlib.suppress(FileNotFoundError):
            entries |= {(e.path, e.inode()) for e in os.scandir(root / folder)}
    return entries


def kill_at_first_change(proc: subprocess.Popen, root, delay: float | None) -> None:
    """SIGKILL ``proc`` after ``delay`` seconds, or (None) as soon as a manifest or
    partition of ``root`` changes; either way when it ends by itself at the latest."""
    before = snapshot(root)
    deadline = time.monotonic() + (60 if delay is None else delay)
    while proc.poll() is None and time.monotonic() < deadline:
        if delay is None and snapshot(root) != before:
            break
        time.sleep(0.0005)
    proc.kill()
    proc.wait()


@pytest.mark.slow
def test_a_prune_killed_half_way_leaves_no_finished_crawl_short_of_rows(analysed_demo, tmp_path):
    days = {f"k{day:02d}": day for day in range(1, 13)}
    template = tmp_path / "template"
    copy_crawls(analysed_demo, template, days, parts=20)
    whole = files_of(template)
    rng = random.Random(16)
    for attempt, delay in enumerate([None, None, rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5)]):
        root = tmp_path / f"data{attempt}"
        shutil.copytree(template, root)
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkcrawl.cli", "prune", "--data", str(root), "--keep", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        kill_at_first_change(proc, root, delay)
        status, files = manifest_status(root), files_of(root)
        for crawl_id, said in status.items():
            if said == "finished":
                assert files.get(crawl_id) == whole[crawl_id], f"{crawl_id} finished, short"
        assert set(files) <= set(status), "a partition without its manifest"

        # a later prune finishes what the killed one began, even when it keeps every crawl
        again = run_linkcrawl(["prune", "--data", str(root), "--keep", "20"])
        assert again.returncode == 0, again.stderr
        status, files = manifest_status(root), files_of(root)
        assert set(status.values()) <= {"finished"}, status
        assert {c: files[c] for c in status} == {c: whole[c] for c in status}
        assert set(files) == set(status)
        last = run_linkcrawl(["prune", "--data", str(root), "--keep", "1"])
        assert last.returncode == 0, last.stderr
        assert manifest_status(root) == {"k12": "finished"}
        assert files_of(root) == {"k12": whole["k12"]}
        assert list((root / ".staging").iterdir()) == []


def open_files(pid: int) -> set[str]:
    """The files process ``pid`` has open (Linux)."""
    found = set()
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                found.add(os.readlink(fd.path))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="watches /proc/<pid>/fd")
def test_a_prune_racing_an_analyze_leaves_no_partition_without_its_manifest(
    analysed_demo, tmp_path
):
    # The duckdb engine reads the part files while it computes, so a prune makes it fail
    # rather than write: the in-memory engine, which reads them all first, is the case.
    for attempt in range(4):
        root = tmp_path / f"data{attempt}"
        copy_crawls(analysed_demo, root, {"r1": 1, "r2": 2}, parts=100)
        shutil.rmtree(root / "authority" / "crawl_id=r1")  # r1 is about to be analysed
        rows = {table: str(root / table / "crawl_id=r1") for table in ("edges", "pages")}
        command = [sys.executable, "-m", "linkcrawl.cli", "analyze", "--data", str(root)]
        analyze = subprocess.Popen(
            [*command, "--crawl-id", "r1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # The moment the analysis has read its crawl's rows (it opened part files of both
        # tables and closed them all) and works on them, r1 is pruned: rows, manifest.
        seen: set[str] = set()
        while analyze.poll() is None:
            now = {t for p in open_files(analyze.pid) for t, d in rows.items() if p.startswith(d)}
            if seen == set(rows) and not now:
                break
            seen |= now
        assert prune(root, keep=1) == ["r1"]
        _, stderr = analyze.communicate(timeout=120)
        assert "Traceback" not in stderr, stderr
        if analyze.returncode:  # progress lines, then one line that says why
            assert stderr.strip().splitlines()[-1].startswith("Error: "), stderr
        assert manifest_status(root) == {"r2": "finished"}
        files = files_of(root)
        assert set(files) == {"r2"}, f"partitions without a manifest: {set(files) - {'r2'}}"
        if seen == set(rows):
            break  # else the reads were too quick to see: again
    assert seen == set(rows), "the analysis was never seen reading"
