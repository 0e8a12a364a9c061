"""A part file that cannot be written stops the crawl: a real ``linkcrawl crawl`` subprocess
whose files may not grow beyond 16 KiB (RLIMIT_FSIZE, so writes fail with EFBIG as on a
full disk, without privileges), on a local web whose later pages carry long titles."""

from __future__ import annotations

import json
import os
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource

pytestmark = pytest.mark.slow  # each test runs a crawl of its own

HOSTS = ["www.alpha-full.example", "www.bravo-full.example"]
PAGES_PER_HOST = 500
SEEDS = [f"http://{host}/" for host in HOSTS]
FILE_SIZE_LIMIT = 16 * 1024
# The shallow pages have short titles, so the first parts fit under the limit; a batch of
# the deeper pages, with 1,000 random characters of title each, does not. Their edges
# parts (two short links a page) still fit: the edges part is written, its pages part fails.
SHORT_TITLES = 60

# The child process: files limited to argv[1] bytes, SIGXFSZ ignored so that a write beyond
# the limit fails with EFBIG instead of killing the process; then the real command line.
LIMITED = (
    "import resource, runpy, signal, sys;"
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
    "limit = int(sys.argv.pop(1));"
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit));"
    "sys.argv = ['linkcrawl', *sys.argv[1:]];"
    "runpy.run_module('linkcrawl.cli', run_name='__main__')"
)


def crawl_limited(limit: int, args: list[str], proxy: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = proxy
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), "crawl", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def title(host: str, i: int) -> str:
    if i < SHORT_TITLES:
        return f"{host} {i}"
    rng = random.Random(f"{host}/{i}")
    return "".join(rng.choices(string.ascii_letters + string.digits, k=1000))


class Site:
    def __init__(self) -> None:
        self.served: list[str] = []

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
        self.served.append(f"http://{request.host}{path}")
        n = PAGES_PER_HOST
        body = (
            f"<!doctype html><title>{title(request.host, i)}</title><main>"
            f'<a href="/p/{(2 * i + 1) % n}.html">l</a><a href="/p/{(2 * i + 2) % n}.html">r</a>'
            "</main>"
        ).encode()
        return Resource(200, {"Content-Type": "text/html; charset=utf-8"}, body)


@pytest.fixture
def site():
    site = Site()
    with LocalWebServer(LocalWeb(handler=site.handler)) as server:
        site.proxy_url = server.proxy_url
        yield site


def part_numbers(data: Path, table: str, crawl_id: str) -> set[str]:
    partition = data / table / f"crawl_id={crawl_id}"
    return {p.name for p in partition.glob("*.parquet")}


@pytest.mark.parametrize("parse_workers", [0, 2])
def test_the_first_failed_write_stops_the_crawl_and_leaves_paired_parts(
    site, tmp_path, parse_workers
):
    args = [*SEEDS, "--data", str(tmp_path), "--crawl-id", "full", "-s", "AUTOTHROTTLE_ENABLED=0"]
    args += ["-s", f"LINKCRAWL_PARSE_WORKERS={parse_workers}"]
    # No JOBDIR (its request queue is a file too), and parts of 30 pages (60 links).
    args += ["-s", "DOWNLOAD_DELAY=0", "-s", "JOBDIR=", "-s", "LINKCRAWL_FLUSH_ROWS=60"]
    # Scrapy's scraper lets responses wait for parsing up to SCRAPER_SLOT_MAX_ACTIVE_SIZE
    # bytes (5 MB, thousands of these pages); on a loaded machine that queue is what grows.
    # Bounded to four responses of at least 1 KiB each, the count below is exact.
    args += ["-s", f"SCRAPER_SLOT_MAX_ACTIVE_SIZE={4 * 1024}"]
    result = crawl_limited(FILE_SIZE_LIMIT, args, site.proxy_url)
    err = result.stderr
    assert result.returncode == 3, err

    # One line says why; no traceback, no item repr.
    why = [line for line in err.splitlines() if "cannot write part files" in line]
    assert len(why) == 1, err
    assert "File too large" in why[0]
    assert "Traceback" not in err
    assert "PageItem" not in err and "<title>" not in err

    # What is on disk: pages parts, each edges part with its pages part (the edges part of
    # the batch whose pages part failed was removed), every page's links with it.
    edges_parts = part_numbers(tmp_path, "edges", "full")
    pages_parts = part_numbers(tmp_path, "pages", "full")
    assert pages_parts
    assert edges_parts <= pages_parts
    pages = pd.read_parquet(tmp_path / "pages", filters=[("crawl_id", "=", "full")])
    edges = pd.read_parquet(tmp_path / "edges", filters=[("crawl_id", "=", "full")])
    assert len(pages) > 0
    assert len(edges) == pages["outlinks"].sum()
    assert set(edges["source"]) <= set(pages["url"])
    glob = str(tmp_path / "edges" / "*" / "*.parquet")
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == len(edges)
    assert pl.scan_parquet(tmp_path / "pages").select(pl.len()).collect().item() == len(pages)
    # No file over the limit was left half-written anywhere.
    assert not list((tmp_path / ".staging").glob("*"))
    for path in (tmp_path / "pages" / "crawl_id=full").glob("*.parquet"):
        pq.read_metadata(path)

    # The crawl stopped fetching at the first failure: at most a batch and the requests in
    # flight were fetched and not kept, not the rest of the site.
    assert len(site.served) < len(HOSTS) * PAGES_PER_HOST / 2
    if parse_workers == 0:
        # Parsed as they arrive: the failed batch, the next batch (parsed while the failed
        # one was being written), the requests in flight (CONCURRENT_REQUESTS) and the
        # responses waiting in the scraper (four, by the setting above).
        assert len(site.served) - len(pages) <= 30 + 30 + 16 + 4
    # With a parse pool, responses waiting for a worker are in flight too, as many as
    # Scrapy's scraper lets wait (SCRAPER_SLOT_MAX_ACTIVE_SIZE, in bytes): only the bound
    # above, well short of the site, holds for them.

    fields = json.loads((tmp_path / "crawls" / "full.json").read_text())
    assert fields["status"] == "interrupted"
    assert fields["finish_reason"].startswith("error writing parts: OSError")
    assert fields["counts"]["pages"] == len(pages)
    assert fields["counts"]["edges"] == len(edges)

    # The last line says what is on disk.
    last = err.strip().splitlines()[-1]
    assert re.search(rf"\b{len(pages):,} pages and {len(edges):,} links on disk\b", last), err
    assert "(done)" not in err


def test_a_disk_full_from_the_start_is_one_line(site, tmp_path):
    # Not even the manifest (a few hundred bytes) can be written.
    args = [*SEEDS, "--data", str(tmp_path), "--crawl-id", "none", "-s", "JOBDIR="]
    result = crawl_limited(100, args, site.proxy_url)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot write to {tmp_path} (OSError: [Errno 27] File too large): "
        "nothing of crawl none written"
    ]
    assert len(site.served) <= len(SEEDS)  # at most the seeds, before the crawl closed
