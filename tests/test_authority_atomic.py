"""The authority tables of one analysis appear together or not at all: analyses killed at
many moments, a running crawl refused, a prune racing an analyze."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.analysis.authority import analysable_crawl
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.dataset.write import write_table_atomic
from linkcrawl.errors import DatasetError
from linkcrawl.reports.audit import audit
from tests.conftest import FAST, demo_seeds, run_linkcrawl

TABLES = ("domains", "inbound", "pages")
# The second version of the demo crawl's rows, which changes all three tables: without the
# links of one site.
DROPPED = "charlie-example.org"


def copy_crawl(demo_crawl, target: Path) -> Path:
    """The demo crawl's rows and manifest, without any analysis or staging files, and the
    second version of its edges beside them (see :func:`use_rows`)."""
    data, _ = demo_crawl
    shutil.copytree(data, target, ignore=shutil.ignore_patterns("authority", ".staging"))
    other = target.parent / "edges-new"
    other.mkdir()
    for part in sorted((target / "edges" / "crawl_id=demo1").glob("*.parquet")):
        table = pq.read_table(part)
        kept = table.filter(pc.not_equal(table["source_domain"], DROPPED))
        write_table_atomic(kept, other / part.name, target / ".staging")
    shutil.rmtree(target / ".staging")
    return target


def use_rows(root: Path, which: str) -> None:
    """Make the crawl's edges partition hold the "old" or the "new" version of its rows."""
    partition = root / "edges" / "crawl_id=demo1"
    marker = root.parent / "rows-version"
    current = marker.read_text() if marker.exists() else "old"
    if current != which:
        parked = root.parent / f"edges-{current}"
        os.rename(partition, parked)
        os.rename(root.parent / f"edges-{which}", partition)
        marker.write_text(which)


@pytest.fixture(scope="module")
def generations_of(demo_crawl, tmp_path_factory):
    """The demo crawl's authority tables from its two versions of rows, by engine: a
    function of the engine giving {"old": ..., "new": ...}, each a dict of table name to
    pyarrow Table, written by analyses that nothing interrupted."""
    made: dict[str, dict] = {}

    def generations(engine: str) -> dict:
        if engine in made:
            return made[engine]
        found = {}
        for name in ("old", "new"):
            root = copy_crawl(demo_crawl, tmp_path_factory.mktemp(name) / "data")
            use_rows(root, name)
            analyze(root, "demo1", engine=engine)
            out = root / "authority" / "crawl_id=demo1"
            found[name] = {t: pq.read_table(out / f"{t}.parquet") for t in TABLES}
        for table in TABLES:  # else the test below could not tell the generations apart
            assert not same(found["old"][table], found["new"][table]), table
        made[engine] = found
        return found

    return generations


def same(a: pa.Table, b: pa.Table) -> bool:
    """Equal tables, floats to 1e-12: DuckDB's parallel sums differ in the last bits
    from one run to the next."""
    if a.schema != b.schema or a.num_rows != b.num_rows:
        return False
    for name in a.column_names:
        x, y = a[name], b[name]
        if pa.types.is_floating(x.type):
            x, y = x.to_numpy(zero_copy_only=False), y.to_numpy(zero_copy_only=False)
            if not np.allclose(x, y, rtol=0, atol=1e-12, equal_nan=True):
                return False
        elif not x.equals(y):
            return False
    return True


def state(partition: Path, generations) -> str:
    """Which generation the tables in ``partition`` are: "old", "new" or "absent"; fails
    the test on a mix, a partial set or a table of neither."""
    if not partition.exists():
        return "absent"
    names = sorted(p.name for p in partition.iterdir())
    assert names == [f"{t}.parquet" for t in TABLES], names
    seen = set()
    for table in TABLES:
        written = pq.read_table(partition / f"{table}.parquet")
        which = [g for g, tables in generations.items() if same(tables[table], written)]
        assert which, f"{table}.parquet is of neither analysis"
        seen.add(which[0])
    assert len(seen) == 1, f"tables of two analyses side by side: {seen}"
    return seen.pop()


def snapshot(partition: Path) -> set[tuple[str, int]]:
    try:
        return {(e.name, e.inode()) for e in os.scandir(partition)}
    except FileNotFoundError:
        return set()


def start_analyze(root: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "linkcrawl.cli", "analyze", "--data", str(root), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill_at_first_change(proc: subprocess.Popen, partition: Path, timeout: float = 60) -> None:
    """SIGKILL ``proc`` as soon as anything in ``partition`` changes (a table replaced, the
    directory gone or back), or when it ends by itself."""
    before = snapshot(partition)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if snapshot(partition) != before:
            break
        time.sleep(0.0005)
    proc.kill()
    proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sparse", "duckdb"])
def test_an_analysis_killed_at_any_moment_leaves_one_generation_or_none(
    engine, demo_crawl, generations_of, tmp_path
):
    generations = generations_of(engine)
    root = copy_crawl(demo_crawl, tmp_path / "data")
    partition = root / "authority" / "crawl_id=demo1"
    analyze(root, "demo1", engine=engine)
    assert state(partition, generations) == "old"

    started = time.monotonic()
    use_rows(root, "new")
    whole = run_linkcrawl(["analyze", "--data", str(root), "--engine", engine])
    assert whole.returncode == 0, whole.stderr
    runtime = time.monotonic() - started
    assert state(partition, generations) == "new"

    rng = random.Random(16)
    seen = []
    for attempt in range(6):
        current = state(partition, generations)
        # each analysis replaces the tables with the other generation's
        use_rows(root, "old" if current == "new" else "new")
        proc = start_analyze(root, ["--crawl-id", "demo1", "--engine", engine])
        if attempt % 2 == 0:
            kill_at_first_change(proc, partition)
        else:
            time.sleep(rng.uniform(0.3, runtime))
            proc.kill()
            proc.wait()
        seen.append(state(partition, generations))
        if seen[-1] == "absent":
            # readers say what to do, as for a crawl never analysed
            with pytest.raises(DatasetError, match="analyze"):
                open_dataset(root).authority("domains", "demo1")

    # leftovers of the killed analyses are in data/.staging until the next analysis
    use_rows(root, "old")
    finished = run_linkcrawl(["analyze", "--data", str(root), "--engine", engine])
    assert finished.returncode == 0, finished.stderr
    assert state(partition, generations) == "old"
    assert list((root / ".staging").iterdir()) == [], seen


@pytest.mark.slow
def test_an_audit_killed_at_any_moment_leaves_the_tables_of_one_generation(demo_crawl, tmp_path):
    root = copy_crawl(demo_crawl, tmp_path / "data")
    partition = root / "authority" / "crawl_id=demo1"
    analyze(root, "demo1")
    pages = (partition / "pages.parquet").read_bytes()
    trusted = tmp_path / "trusted.txt"
    trusted.write_text("alpha-example.com\n")
    command = [sys.executable, "-m", "linkcrawl.cli", "audit", "--data", str(root)]
    for _ in range(3):
        proc = subprocess.Popen(
            [*command, "--trusted", str(trusted)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        kill_at_first_change(proc, partition)
        if not partition.exists():
            break  # killed between the two renames: no tables, as after none
        names = sorted(p.name for p in partition.iterdir())
        assert names == [f"{t}.parquet" for t in TABLES], names
        # audited inbound beside unaudited domains, or the other way round, is a mix
        audited = {
            "flags" in pq.read_schema(partition / f"{t}.parquet").names
            for t in ("inbound", "domains")
        }
        assert len(audited) == 1, "an audited table beside an unaudited one"
        assert (partition / "pages.parquet").read_bytes() == pages
        analyze(root, "demo1")  # unaudited again, for the next round

    analyze(root, "demo1")
    audit(root, "demo1", trusted=["alpha-example.com"])
    assert sorted(p.name for p in partition.iterdir()) == [f"{t}.parquet" for t in TABLES]
    assert (partition / "pages.parquet").read_bytes() == pages
    assert "flags" in pq.read_schema(partition / "inbound.parquet").names
    assert "trust" in pq.read_schema(partition / "domains.parquet").names
    assert list((root / ".staging").iterdir()) == []


def test_analyze_refuses_a_crawl_that_is_still_running(demo_server, tmp_path):
    root = tmp_path / "data"
    # one page per host every two seconds: the crawl runs for a while
    slow = [*FAST, "-s", "DOWNLOAD_DELAY=2"]
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = demo_server.proxy_url
    command = [sys.executable, "-m", "linkcrawl.cli", "crawl", *demo_seeds()]
    crawl = subprocess.Popen(
        [*command, "--data", str(root), "--crawl-id", "live1", *slow],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        manifest = root / "crawls" / "live1.json"
        deadline = time.monotonic() + 60
        # Until its first part file, the crawl has nothing to analyse even once it stops.
        while not list(root.glob("pages/crawl_id=live1/*.parquet")) or not manifest.is_file():
            assert crawl.poll() is None and time.monotonic() < deadline, "the crawl did not start"
            time.sleep(0.1)
        assert json.loads(manifest.read_text())["status"] == "running"

        named = run_linkcrawl(["analyze", "--data", str(root), "--crawl-id", "live1"])
        assert named.returncode == 1, named.stderr
        assert named.stderr.strip().count("\n") == 0, named.stderr
        assert "live1 is still running" in named.stderr
        default = run_linkcrawl(["analyze", "--data", str(root)])
        assert default.returncode == 1
        assert "no finished crawl" in default.stderr, default.stderr
        assert crawl.poll() is None, "the crawl ended before the check"
        assert not (root / "authority").exists()
    finally:
        crawl.send_signal(signal.SIGKILL)
        crawl.wait()
    # killed, it is interrupted: its rows so far can be analysed on purpose
    assert analysable_crawl(root, "live1") == "live1"


def read_at(directory: int, name: str) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=directory)
    with os.fdopen(fd) as file:
        return file.read()


def test_directories_replaced_by_several_writers_at_once_are_seen_whole(tmp_path):
    from linkcrawl.dataset.write import replace_directory

    target, staging = tmp_path / "authority" / "crawl_id=x", tmp_path / ".staging"
    staging.mkdir()
    errors: list[BaseException] = []
    done = threading.Event()

    def write(writer: int) -> None:
        try:
            for n in range(60):
                new = staging / f"new-{writer}-{n}"
                new.mkdir()
                for name in ("a", "b", "c"):
                    (new / name).write_text(f"{writer}-{n}")
                replace_directory(new, target, staging)
        except BaseException as exc:
            errors.append(exc)

    def read() -> None:
        while not done.is_set():
            # Files read through one open directory are of one generation; by path, two
            # reads may straddle a swap.
            try:
                fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue  # between two renames
            try:
                seen = {name: read_at(fd, name) for name in os.listdir(fd)}
            except FileNotFoundError:
                continue  # removed, once replaced, while it was read
            finally:
                os.close(fd)
            if seen and (sorted(seen) != ["a", "b", "c"] or len(set(seen.values())) != 1):
                errors.append(AssertionError(f"a mix: {seen}"))
                return

    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert errors == []
    assert {p.read_text() for p in target.iterdir()} <= {f"{w}-59" for w in range(3)}
    assert list(staging.iterdir()) == []
