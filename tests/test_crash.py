"""Crashes and signals: a real ``linkcrawl crawl`` subprocess on a local web, killed with
SIGKILL, SIGTERM or SIGINT; the dataset stays readable and the crawl can be resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from linkcrawl import open_dataset
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource

HOSTS = [f"www.{name}-crash.example" for name in ("alpha", "bravo", "charlie", "delta")]
PAGES_PER_HOST = 75
SEEDS = [f"http://{host}/" for host in HOSTS]
FAST = [
    "-s",
    "AUTOTHROTTLE_ENABLED=0",
    "-s",
    "DOWNLOAD_DELAY=0",
    "-s",
    "CONCURRENT_REQUESTS_PER_DOMAIN=2",
]


def page(host: str, i: int) -> bytes:
    """Page i of host: a nav bar, ten links in the site, one to the next site, one outside."""
    n = PAGES_PER_HOST
    nav = "".join(f'<a href="/p/{k}.html">section {k}</a>' for k in range(3))
    body = "".join(f'<a href="/p/{(i * 7 + k * 13) % n}.html">read {k}</a>' for k in range(10))
    other = HOSTS[(HOSTS.index(host) + 1) % len(HOSTS)]
    return (
        f"<!doctype html><title>{host} {i}</title><nav>{nav}</nav><main>{body}"
        f'<a href="http://{other}/p/{i}.html">partner</a>'
        f'<a href="http://elsewhere.example/{i}" rel="nofollow">out</a></main>'
    ).encode()


def handler(request):
    if request.host not in HOSTS:
        return None
    path = request.path
    if path == "/":
        i = 0
    elif path.startswith("/p/") and path.endswith(".html") and path[3:-5].isdigit():
        i = int(path[3:-5])
    else:
        return None
    return Resource(200, {"Content-Type": "text/html; charset=utf-8"}, page(request.host, i))


@pytest.fixture(scope="module")
def crash_web():
    with LocalWebServer(LocalWeb(handler=handler)) as server:
        yield server


def start_crawl(args: list[str], proxy: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = proxy
    return subprocess.Popen(
        [sys.executable, "-m", "linkcrawl.cli", "crawl", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> str:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-2000:]
    return err


def pages_on_disk(data: Path, crawl_id: str) -> int:
    partition = data / "pages" / f"crawl_id={crawl_id}"
    if not partition.is_dir():
        return 0
    total = 0
    for path in partition.glob("*.parquet"):
        try:
            total += pq.read_metadata(path).num_rows
        except OSError:  # pragma: no cover - parts appear whole; a race with a rename
            pass
    return total


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def edge_keys(df: pd.DataFrame) -> set[tuple[str, str, int]]:
    return set(zip(df["source"], df["target"], df["ordinal"].astype(int), strict=True))


@pytest.fixture(scope="module")
def uninterrupted(crash_web, tmp_path_factory):
    """The reference: the same web crawled without interruption."""
    data = tmp_path_factory.mktemp("full")
    finish(
        start_crawl(
            [*SEEDS, "--data", str(data), "--crawl-id", "full1", *FAST], crash_web.proxy_url
        )
    )
    edges = pd.read_parquet(data / "edges")
    # The crawl reached every page of every site (hand count), so it is a fair reference.
    assert pd.read_parquet(data / "pages")["url"].nunique() == len(HOSTS) * (PAGES_PER_HOST + 1)
    return edges


def assert_readable_by_everyone(data: Path, crawl_id: str) -> int:
    """pandas, DuckDB and polars read the whole directory; returns the edge count."""
    n = len(pd.read_parquet(data / "edges", filters=[("crawl_id", "=", crawl_id)]))
    glob = str(data / "edges" / "*" / "*.parquet")
    assert (
        duckdb.sql(
            f"select count(*) from read_parquet('{glob}', hive_partitioning=true) "
            f"where crawl_id = '{crawl_id}'"
        ).fetchall()[0][0]
        == n
    )
    assert (
        pl.scan_parquet(data / "edges")
        .filter(pl.col("crawl_id") == crawl_id)
        .select(pl.len())
        .collect()
        .item()
        == n
    )
    assert pl.scan_parquet(data / "pages").collect().height == pages_on_disk(data, crawl_id)
    assert len(open_dataset(data).edges(crawl_id)) == n
    return n


def manifest(data: Path, crawl_id: str) -> dict:
    return json.loads((data / "crawls" / f"{crawl_id}.json").read_text())


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_crawl(crash_web, uninterrupted, tmp_path):
    proc = start_crawl(
        [
            *SEEDS,
            "--data",
            str(tmp_path),
            "--crawl-id",
            "k1",
            "-s",
            "LINKCRAWL_FLUSH_ROWS=100",
            *FAST,
        ],
        crash_web.proxy_url,
    )
    # Late enough that Scrapy's duplicate filter has written fingerprints to its file.
    wait_for(lambda: pages_on_disk(tmp_path, "k1") >= 200)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()

    before = assert_readable_by_everyone(tmp_path, "k1")
    assert 0 < before < len(uninterrupted)
    assert open_dataset(tmp_path).crawls()[0]["status"] == "interrupted"

    finish(
        start_crawl(
            ["--resume", "k1", "--data", str(tmp_path), "-s", "LINKCRAWL_FLUSH_ROWS=100", *FAST],
            crash_web.proxy_url,
        )
    )
    assert manifest(tmp_path, "k1")["status"] == "finished"
    resumed = open_dataset(tmp_path).edges("k1")
    assert edge_keys(resumed) == edge_keys(uninterrupted)
    assert len(resumed) == len(uninterrupted)  # and no page written twice


@pytest.mark.slow
def test_sigkill_leaves_a_readable_interrupted_crawl(crash_web, uninterrupted, tmp_path):
    proc = start_crawl(
        [
            *SEEDS,
            "--data",
            str(tmp_path),
            "--crawl-id",
            "k2",
            "-s",
            "LINKCRAWL_FLUSH_ROWS=50",
            *FAST,
        ],
        crash_web.proxy_url,
    )

    def read_while_writing() -> bool:
        # Users query the directory while a crawl writes into it: every read succeeds.
        # (DuckDB refuses a glob that matches no file at all: wait for the first part.)
        if any((tmp_path / "edges").glob("*/*.parquet")):
            pd.read_parquet(tmp_path / "edges")
            glob = str(tmp_path / "edges" / "*" / "*.parquet")
            duckdb.sql(
                f"select count(*) from read_parquet('{glob}', hive_partitioning=true)"
            ).fetchall()
            pl.scan_parquet(tmp_path / "edges").select(pl.len()).collect()
            reads.append(1)
        return pages_on_disk(tmp_path, "k2") >= 20

    reads: list[int] = []
    wait_for(read_while_writing)
    assert reads
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    before = assert_readable_by_everyone(tmp_path, "k2")
    assert 0 < before < len(uninterrupted)
    ds = open_dataset(tmp_path)
    assert ds.crawls()[0]["status"] == "interrupted"
    # The manifest is rewritten after each part: a kill between the two leaves it one part
    # behind the rows on disk, never ahead.
    parts = sorted((tmp_path / "pages" / "crawl_id=k2").glob("*.parquet"))
    last_part = pq.read_metadata(parts[-1]).num_rows
    lag = pages_on_disk(tmp_path, "k2") - manifest(tmp_path, "k2")["counts"]["pages"]
    assert lag in (0, last_part)
    # Every edge on disk belongs to a crawled page, or to the one pair cut in half.
    finish(start_crawl(["--resume", "k2", "--data", str(tmp_path), *FAST], crash_web.proxy_url))
    assert manifest(tmp_path, "k2")["status"] == "finished"
    resumed = open_dataset(tmp_path).edges("k2")
    # Whatever the resume could find is written once.
    assert not resumed.duplicated(["source", "target", "ordinal"]).any()
    assert edge_keys(resumed) <= edge_keys(uninterrupted)


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_resume_completes(crash_web, uninterrupted, tmp_path, signum):
    # Nothing is flushed by size or time before the signal: whatever is on disk after it
    # was written by the shutdown.
    proc = start_crawl(
        [
            *SEEDS,
            "--data",
            str(tmp_path),
            "--crawl-id",
            "s1",
            "-s",
            "LINKCRAWL_PROGRESS_SECONDS=0.2",
            "-s",
            "LINKCRAWL_PROGRESS_JOURNAL_SECONDS=0.2",
            "-s",
            "LINKCRAWL_FIRST_FLUSH_SECONDS=0",
            *FAST,
        ],
        crash_web.proxy_url,
    )
    seen = []

    def crawled_some() -> bool:
        line = proc.stderr.readline()
        seen.append(line)
        return " pages," in line and int(line.split(": ")[1].split()[0]) >= 20

    wait_for(crawled_some)
    assert pages_on_disk(tmp_path, "s1") == 0
    signalled = time.monotonic()
    proc.send_signal(signum)
    proc.communicate(timeout=30)
    assert time.monotonic() - signalled < 10
    fields = manifest(tmp_path, "s1")
    assert fields["status"] == "interrupted"
    assert fields["finish_reason"] == "shutdown"
    on_disk = pages_on_disk(tmp_path, "s1")
    assert on_disk >= 20
    assert fields["counts"]["pages"] == on_disk
    assert fields["counts"]["edges"] == assert_readable_by_everyone(tmp_path, "s1")

    finish(start_crawl(["--resume", "s1", "--data", str(tmp_path), *FAST], crash_web.proxy_url))
    assert manifest(tmp_path, "s1")["status"] == "finished"
    resumed = open_dataset(tmp_path).edges("s1")
    assert edge_keys(resumed) == edge_keys(uninterrupted)
    assert len(resumed) == len(uninterrupted)
