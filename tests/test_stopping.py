"""Stopping a crawl, and what it says meanwhile: real ``linkcrawl crawl`` subprocesses on a
slow local web, stopped with SIGINT once or twice or killed, their progress read from a
pipe (a journal) and from a pseudo-terminal."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource

pytestmark = pytest.mark.slow  # each test runs a crawl of its own

HOSTS = [f"www.{name}-slow.example" for name in ("alpha", "bravo", "charlie", "delta")]
PAGES_PER_HOST = 400
SEEDS = [f"http://{host}/" for host in HOSTS]
# Politeness off: our own server. Four hosts, two requests each at a time.
FAST = ["-s", "AUTOTHROTTLE_ENABLED=0", "-s", "DOWNLOAD_DELAY=0"]
DELAY = 0.2  # seconds per response: a crawl of 1,600 pages lasts well over a minute


class SlowSite:
    """Four hosts of binary-tree pages, each answered after ``DELAY`` seconds; ``stall()``
    holds every later response (until ``release()``), so that requests stay in flight."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.served: list[str] = []  # URLs of the pages whose response was sent
        self.stalled = threading.Event()
        self.released = threading.Event()

    def handler(self, request) -> Resource | None:
        if request.host not in HOSTS:
            return None
        path = request.path
        if path == "/":
            i = 0
        elif path.startswith("/p/") and path.endswith(".html") and path[3:-5].isdigit():
            i = int(path[3:-5])
        else:
            return None
        time.sleep(DELAY)
        if self.stalled.is_set():
            self.released.wait(60)
        n = PAGES_PER_HOST
        other = HOSTS[(HOSTS.index(request.host) + 1) % len(HOSTS)]
        body = (
            f"<!doctype html><title>{request.host} {i}</title><main>"
            f'<a href="/p/{(2 * i + 1) % n}.html">left</a>'
            f'<a href="/p/{(2 * i + 2) % n}.html">right</a>'
            f'<a href="http://{other}/p/{i}.html">partner</a></main>'
        ).encode()
        with self.lock:
            self.served.append(f"http://{request.host}{path}")
        return Resource(200, {"Content-Type": "text/html; charset=utf-8"}, body)

    def stall(self) -> None:
        self.stalled.set()

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def slow_site():
    site = SlowSite()
    with LocalWebServer(LocalWeb(handler=site.handler)) as server:
        site.proxy_url = server.proxy_url
        yield site
        site.release()


class Crawl:
    """A ``linkcrawl crawl`` subprocess whose stderr is read, line by line, as it comes."""

    def __init__(self, args: list[str], proxy: str, stderr: int | None = None) -> None:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = proxy
        self.lines: list[tuple[float, str]] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "linkcrawl.cli", "crawl", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr is None else stderr,
            text=True,
        )
        if stderr is None:
            self.reader = threading.Thread(target=self._read, daemon=True)
            self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        if self.proc.stderr is not None:
            self.reader.join(10)
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.lines)

    def stop(self) -> None:
        """SIGKILL it if it still runs; close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr is not None:
            self.reader.join(10)
            self.proc.stderr.close()
        self.proc.stdout.close()


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def pages_on_disk(data: Path, crawl_id: str) -> list[str]:
    partition = data / "pages" / f"crawl_id={crawl_id}"
    urls: list[str] = []
    for path in sorted(partition.glob("*.parquet")):
        urls += pq.read_table(path, columns=["url"])["url"].to_pylist()
    return urls


def manifest(data: Path, crawl_id: str) -> dict:
    return json.loads((data / "crawls" / f"{crawl_id}.json").read_text())


def read_by_everyone(data: Path, crawl_id: str) -> tuple[int, int]:
    """Pages and edges of the crawl as pandas, DuckDB and polars read them (all agree)."""
    counts = []
    for table in ("pages", "edges"):
        n = len(pd.read_parquet(data / table, filters=[("crawl_id", "=", crawl_id)]))
        glob = str(data / table / "*" / "*.parquet")
        sql = (
            f"select count(*) from read_parquet('{glob}', hive_partitioning=true) "
            f"where crawl_id = '{crawl_id}'"
        )
        assert duckdb.sql(sql).fetchall()[0][0] == n
        frame = pl.scan_parquet(data / table).filter(pl.col("crawl_id") == crawl_id)
        assert frame.select(pl.len()).collect().item() == n
        counts.append(n)
    return counts[0], counts[1]


def test_a_crawl_killed_in_its_first_seconds_leaves_rows_every_reader_opens(slow_site, tmp_path):
    crawl = Crawl(
        [*SEEDS, "--data", str(tmp_path), "--crawl-id", "early", *FAST], slow_site.proxy_url
    )
    try:
        wait_for(lambda: len(slow_site.served) >= 5, timeout=60)
        # Long before the 60 s flush: the first part follows the first pages within seconds.
        wait_for(lambda: any((tmp_path / "edges").glob("*/*.parquet")), timeout=20)
        wait_for(lambda: any((tmp_path / "pages").glob("*/*.parquet")), timeout=5)
    finally:
        crawl.stop()  # SIGKILL
    pages, edges = read_by_everyone(tmp_path, "early")
    assert pages > 0
    assert edges > 0
    assert pages <= len(slow_site.served)
    assert len(slow_site.served) < len(HOSTS) * PAGES_PER_HOST  # killed mid-crawl


def test_ctrl_c_is_acknowledged_at_once_and_every_fetched_row_is_written(slow_site, tmp_path):
    crawl = Crawl(
        [*SEEDS, "--data", str(tmp_path), "--crawl-id", "int1", *FAST], slow_site.proxy_url
    )
    try:
        wait_for(lambda: len(slow_site.served) >= 20)
        signalled = time.monotonic()
        crawl.proc.send_signal(signal.SIGINT)
        code = crawl.wait(timeout=60)
    finally:
        crawl.stop()
    acks = [(t, line) for t, line in crawl.lines if line.startswith("stopping: ")]
    assert len(acks) == 1, crawl.stderr
    t, ack = acks[0]
    assert t - signalled < 5.0, crawl.stderr
    assert re.search(
        r"finishing \d+ requests? in flight, then writing [\d,]+ pages / [\d,]+ links", ack
    )
    assert "Ctrl-C again to stop now" in ack
    assert code == 3, crawl.stderr
    assert "(done)" not in crawl.stderr
    assert "Traceback" not in crawl.stderr
    fields = manifest(tmp_path, "int1")
    assert fields["status"] == "interrupted"
    on_disk = pages_on_disk(tmp_path, "int1")
    # The requests in flight were finished: every page the server answered is a row.
    assert sorted(on_disk) == sorted(slow_site.served)
    assert fields["counts"]["pages"] == len(on_disk)
    last = crawl.lines[-1][1]
    assert f"{len(on_disk):,} pages" in last and "on disk" in last, crawl.stderr


PROGRESS_PAGES = re.compile(r"crawl \w+: (\d+) pages,")


def test_a_second_ctrl_c_stops_at_once_and_still_writes_the_rows_fetched(slow_site, tmp_path):
    # Flushes far apart: the rows fetched since the first part are in the buffer only.
    args = [*SEEDS, "--data", str(tmp_path), "--crawl-id", "int2", *FAST]
    args += [
        "-s",
        "LINKCRAWL_FIRST_FLUSH_SECONDS=0",
        "-s",
        "LINKCRAWL_PROGRESS_JOURNAL_SECONDS=0.1",
    ]
    crawl = Crawl(args, slow_site.proxy_url)
    try:
        wait_for(lambda: len(slow_site.served) >= 20)
        # Every response from now on hangs: a graceful stop would wait for them.
        slow_site.stall()
        time.sleep(2 * DELAY + 0.2)
        served = sorted(slow_site.served)

        def parsed_all_served() -> bool:
            counts = [PROGRESS_PAGES.match(line) for _, line in crawl.lines]
            return any(int(m[1]) >= len(served) for m in counts if m)

        wait_for(parsed_all_served, 30)
        crawl.proc.send_signal(signal.SIGINT)
        wait_for(lambda: any(line.startswith("stopping: ") for _, line in crawl.lines), 10)
        signalled = time.monotonic()
        crawl.proc.send_signal(signal.SIGINT)
        code = crawl.wait(timeout=30)
        assert time.monotonic() - signalled < 10  # it did not wait for the stalled requests
    finally:
        crawl.stop()
    assert code == 3, crawl.stderr
    assert "(done)" not in crawl.stderr
    assert "Traceback" not in crawl.stderr
    assert sorted(slow_site.served) == served  # nothing answered after the stall
    on_disk = pages_on_disk(tmp_path, "int2")
    assert sorted(on_disk) == served
    fields = manifest(tmp_path, "int2")
    assert fields["status"] == "interrupted"
    assert fields["counts"]["pages"] == len(on_disk)
    stopped = [line for _, line in crawl.lines if line.startswith("stopped: ")]
    assert stopped and stopped[0].startswith(f"stopped: {len(on_disk):,} pages"), crawl.stderr
    read_by_everyone(tmp_path, "int2")


PROGRESS = re.compile(
    r"crawl \w+: (?P<pages>[\d,]+) pages, [\d,]+ links, queue [\d,]+, [\d,]+ errors, "
    r"[\d.,]+ pages/s, (?P<done>[\d,]+)/(?P<budget>[\d,]+) pages budget, ETA \S+"
)


def test_progress_in_a_journal_is_one_line_every_interval(slow_site, tmp_path):
    args = [*SEEDS, "--data", str(tmp_path), "--max-pages", "10", *FAST]
    crawl = Crawl(
        [*args, "--crawl-id", "loud", "-s", "LINKCRAWL_PROGRESS_JOURNAL_SECONDS=0.2"],
        slow_site.proxy_url,
    )
    try:
        assert crawl.wait(timeout=60) == 0, crawl.stderr
    finally:
        crawl.stop()
    lines = [line for _, line in crawl.lines if line.startswith("crawl ")]
    # After the progress, the crawl's last line: what its bounds kept out.
    assert re.fullmatch(r"crawl loud skipped: max-pages [\d,]+", lines.pop()), crawl.stderr
    assert all("\r" not in line for line in lines)
    matches = [PROGRESS.match(line) for line in lines]
    assert all(matches), crawl.stderr
    assert len(lines) >= 3, crawl.stderr  # a crawl of 40 pages at 0.2 s lasts over 1.5 s
    assert {m["budget"] for m in matches} == {"40"}  # 10 pages on each of 4 domains
    assert lines[-1].endswith(" (done)") and matches[-1]["done"] == "40"

    # Without the lowered interval a journal gets the final line only (one every 30 s).
    crawl = Crawl([*args, "--crawl-id", "quiet"], slow_site.proxy_url)
    try:
        assert crawl.wait(timeout=60) == 0, crawl.stderr
    finally:
        crawl.stop()
    lines = [line for _, line in crawl.lines if line.startswith("crawl ")]
    assert len(lines) == 2 and lines[0].endswith(" (done)"), crawl.stderr
    assert re.fullmatch(r"crawl quiet skipped: max-pages [\d,]+", lines[1]), crawl.stderr


def test_progress_on_a_terminal_updates_in_place(slow_site, tmp_path):
    master, slave = pty.openpty()
    args = [*SEEDS, "--data", str(tmp_path), "--max-pages", "10", *FAST]
    crawl = Crawl(
        [*args, "-s", "LINKCRAWL_PROGRESS_SECONDS=0.1"], slow_site.proxy_url, stderr=slave
    )
    os.close(slave)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        assert crawl.proc.wait(timeout=60) == 0, out.decode(errors="replace")
    finally:
        os.close(master)
        crawl.stop()
    text = out.decode(errors="replace").replace("\r\n", "\n")  # the terminal's ONLCR
    # The crawl's last line, after the progress: what its bounds kept out.
    text, skipped = text.rstrip("\n").rsplit("\n", 1)
    assert re.fullmatch(r"crawl \w+ skipped: max-pages [\d,]+", skipped), skipped
    text += "\n"
    updates = text.split("\r")
    # Several updates of one line, each clearing what is left of the previous one.
    assert len(updates) >= 3, text
    assert all(PROGRESS.match(u) and "\x1b[K" in u for u in updates[1:]), text
    assert "\n" not in "".join(updates[1:-1])
    assert updates[-1].endswith(" (done)\x1b[K\n"), text
