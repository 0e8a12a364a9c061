"""Workers sharing one crawl through a real Redis (``linkcrawl crawl --redis``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter

import pandas as pd
import pytest
import redis

from linkcrawl.crawl.runner import DataDirLock
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from linkcrawl.extract.urls import host_of
from tests.conftest import FAST, free_port, redis_server, run_linkcrawl, start_server

SITES = 4
PAGES = 100  # per site
SEEDS = [f"http://s{k}-example.com/" for k in range(SITES)]
KEY = ["source", "target", "ordinal"]


@pytest.fixture(scope="module")
def redis_url():
    """One redis-server for the module's tests."""
    yield from redis_server()


def _page(request) -> Resource | None:
    """Page n of site k links to n+1, 2n and n+7 on its site and to n+3 on the next site;
    answers take a few milliseconds, so that a crawl lasts a few seconds."""
    if request.path in ("/robots.txt", "/sitemap.xml"):
        return None  # 404: no rules, no sitemap
    k = int(request.host[1 : request.host.index("-")])
    n = int(request.path.strip("/") or 0)
    if n >= PAGES:
        return None
    time.sleep(0.02)
    other = f"s{(k + 1) % SITES}-example.com"
    links = "".join(f'<a href="/{m}">{m}</a>' for m in (n + 1, 2 * n, n + 7))
    links += f'<a href="http://{other}/{n + 3}">next site</a>'
    body = f"<!doctype html><title>{k}/{n}</title><main>{links}</main>".encode()
    return Resource(200, {"Content-Type": "text/html; charset=utf-8"}, body)


@pytest.fixture(scope="module")
def web():
    with LocalWebServer(LocalWeb(handler=_page)) as server:
        yield server


@pytest.fixture(scope="module")
def single(web, tmp_path_factory):
    """The same web crawled by one process, as the reference."""
    data = tmp_path_factory.mktemp("single")
    result = run_linkcrawl(
        ["crawl", *SEEDS, "--data", str(data), "--crawl-id", "one", *FAST], proxy=web.proxy_url
    )
    assert result.returncode == 0, result.stderr
    pages = pd.read_parquet(data / "pages")
    assert len(pages) > 300  # the web is as big as the tests below assume
    return pd.read_parquet(data / "edges"), pages


def _worker(args: list[str], web, redis_url: str, worker: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = web.proxy_url
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linkcrawl.cli",
            "crawl",
            *args,
            "--redis",
            redis_url,
            "-s",
            f"LINKCRAWL_WORKER={worker}",
            "-s",
            "LINKCRAWL_REDIS_WORKER_TIMEOUT=2",
            *FAST,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _fetches(web, pages: bool = True) -> Counter[tuple[str, str]]:
    """The requests the server saw: of pages, or (``pages`` False) of /sitemap.xml."""
    return Counter(
        (host, path)
        for method, host, path in web.web.requests
        if (path not in ("/robots.txt", "/sitemap.xml") if pages else path == "/sitemap.xml")
    )


def _edge_set(frame: pd.DataFrame) -> set[tuple]:
    return set(map(tuple, frame[KEY].values))


@pytest.mark.slow
def test_two_workers_share_one_crawl(web, redis_url, single, tmp_path):
    edges, pages = single
    data = tmp_path / "data"
    before = _fetches(web)
    maps_before = _fetches(web, pages=False)
    workers = [
        _worker([*SEEDS, "--data", str(data), "--crawl-id", "shared"], web, redis_url, w)
        for w in ("wa", "wb")
    ]
    outputs = [w.communicate(timeout=120) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    fetched = _fetches(web) - before
    # One worker looked for each site's sitemap, once.
    maps = _fetches(web, pages=False) - maps_before
    assert maps == Counter((host_of(seed), "/sitemap.xml") for seed in SEEDS)
    # Every page once between the two workers (the seeds too: the first to queue one wins).
    assert fetched and max(fetched.values()) == 1, fetched.most_common(3)
    assert sum(fetched.values()) == len(pages)

    shared_edges = pd.read_parquet(data / "edges")
    shared_pages = pd.read_parquet(data / "pages")
    assert _edge_set(shared_edges) == _edge_set(edges)
    assert len(shared_edges) == len(edges)
    assert sorted(shared_pages["url"]) == sorted(pages["url"])
    # Both did part of the work, each in part files of its own.
    names = [p.name for p in (data / "pages" / "crawl_id=shared").iterdir()]
    assert {n.split("-")[1] for n in names} == {"wa", "wb"}

    manifest = json.loads((data / "crawls" / "shared.json").read_text())
    assert manifest["status"] == "finished"
    assert set(manifest["distributed"]["workers"]) == {"wa", "wb"}
    assert {w["status"] for w in manifest["distributed"]["workers"].values()} == {"finished"}
    assert manifest["counts"]["pages"] == len(pages)
    assert manifest["counts"]["edges"] == len(edges)
    assert "127.0.0.1" in manifest["distributed"]["redis"]

    import duckdb
    import polars as pl

    glob = str(data / "edges" / "**" / "*.parquet")
    assert duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()[0][0] == len(edges)
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == len(edges)

    # A worker started after the crawl finished is told so.
    late = run_linkcrawl(
        ["crawl", *SEEDS, "--data", str(data), "--crawl-id", "shared", "--redis", redis_url]
    )
    assert late.returncode == 1
    assert late.stderr.strip().splitlines() == [
        "Error: crawl shared already finished: choose another --crawl-id"
    ]


@pytest.mark.slow
def test_killed_worker_loses_no_page(web, redis_url, single, tmp_path):
    """SIGKILL one of two workers mid-crawl: the other puts back what the dead one held
    and had not written, and the crawl finds every page the single process found."""
    edges, pages = single
    data = tmp_path / "data"
    args = [*SEEDS, "--data", str(data), "--crawl-id", "cut", "-s", "LINKCRAWL_FLUSH_ROWS=150"]
    before = _fetches(web)
    victim = _worker(args, web, redis_url, "wa")
    survivor = _worker(args, web, redis_url, "wb")
    parts = data / "pages" / "crawl_id=cut"
    deadline = time.monotonic() + 60
    # Kill once the victim has written a part and holds more (batches are of 150 rows).
    while not (parts.is_dir() and any(p.name.startswith("part-wa-") for p in parts.iterdir())):
        assert time.monotonic() < deadline and victim.poll() is None, victim.communicate()
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    _out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err

    # The victim held pages it had fetched and not written: the survivor fetched them again.
    assert max((_fetches(web) - before).values()) == 2
    cut_pages = pd.read_parquet(data / "pages")
    cut_edges = pd.read_parquet(data / "edges")
    assert sorted(cut_pages["url"]) == sorted(pages["url"])  # none lost, none twice
    assert _edge_set(cut_edges) == _edge_set(edges)
    assert len(cut_edges) == len(edges)
    manifest = json.loads((data / "crawls" / "cut.json").read_text())
    assert manifest["status"] == "finished"
    sections = manifest["distributed"]["workers"]
    assert sections["wa"]["status"] == "lost" and sections["wb"]["status"] == "finished"
    assert manifest["counts"]["pages"] == len(pages)


@pytest.mark.slow
def test_worker_stopped_with_ctrl_c_hands_its_work_over(web, redis_url, single, tmp_path):
    """SIGINT stops one worker gracefully: it writes what it fetched, gives back what it
    held, says how to rejoin, and the other worker finishes the crawl."""
    _edges, pages = single
    data = tmp_path / "data"
    before = _fetches(web)
    args = [*SEEDS, "--data", str(data), "--crawl-id", "ctrlc"]
    stopped = _worker(args, web, redis_url, "wa")
    other = _worker(args, web, redis_url, "wb")
    server = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 60
    # Stop it once it takes part (registered in Redis: Scrapy handles SIGINT by then).
    while sum((_fetches(web) - before).values()) < 60 or not server.hexists(
        "linkcrawl:ctrlc:workers", "wa"
    ):
        assert time.monotonic() < deadline and stopped.poll() is None, stopped.communicate()
        time.sleep(0.05)
    twin = run_linkcrawl(["crawl", *args, "--redis", redis_url, "-s", "LINKCRAWL_WORKER=wa"])
    assert twin.returncode == 1
    assert twin.stderr.strip().splitlines() == [
        "Error: worker wa of crawl ctrlc is running: give each worker its own id "
        "(-s LINKCRAWL_WORKER=...), or if it died, wait LINKCRAWL_REDIS_WORKER_TIMEOUT seconds"
    ]
    stopped.send_signal(signal.SIGINT)
    _out, err = stopped.communicate(timeout=60)
    assert stopped.returncode == 3, err
    assert "start it again with the same --redis and --crawl-id ctrlc to rejoin" in err
    _out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    assert max((_fetches(web) - before).values()) == 1
    assert sorted(pd.read_parquet(data / "pages")["url"]) == sorted(pages["url"])
    manifest = json.loads((data / "crawls" / "ctrlc.json").read_text())
    sections = manifest["distributed"]["workers"]
    assert sections["wa"]["status"] == "interrupted" and sections["wb"]["status"] == "finished"
    assert manifest["status"] == "finished"


@pytest.mark.slow
def test_max_pages_is_a_cap_on_the_whole_crawl(web, redis_url, tmp_path):
    """Each site has 100 pages: two workers with --max-pages 10 fetch 10 of each, not 10
    each (the count is kept in Redis)."""
    data = tmp_path / "data"
    args = [*SEEDS, "--data", str(data), "--crawl-id", "capped", "--max-pages", "10"]
    workers = [_worker(args, web, redis_url, w) for w in ("wa", "wb")]
    for worker in workers:
        _out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
    pages = pd.read_parquet(data / "pages")
    assert pages["url"].is_unique
    per_site = pages["url"].str.extract(r"//([^/]+)/")[0].value_counts()
    assert per_site.to_dict() == {f"s{k}-example.com": 10 for k in range(SITES)}

    # Every URL found is fetched or refused for the cap once, crawl-wide (Redis's
    # duplicate filter comes first): the manifest adds up the skips of both workers.
    edges = pd.read_parquet(data / "edges")
    found = set(edges["target"]) | set(SEEDS)
    manifest = json.loads((data / "crawls" / "capped.json").read_text())
    sections = manifest["distributed"]["workers"]
    by_worker = {name: w["skipped"].get("max-pages", 0) for name, w in sections.items()}
    assert manifest["skipped"]["max-pages"] == len(found - set(pages["url"])), by_worker
    assert sum(by_worker.values()) == len(found - set(pages["url"]))
    # The fields of every other manifest (tests/test_manifest.py).
    from tests.test_manifest import FIELDS

    assert set(manifest) == FIELDS


def test_redis_unreachable_is_one_line(tmp_path):
    port = free_port()  # nothing listens there
    result = run_linkcrawl(
        [
            "crawl",
            "http://s0-example.com/",
            "--data",
            str(tmp_path),
            "--crawl-id",
            "x",
            "--redis",
            f"redis://127.0.0.1:{port}/0",
        ]
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: cannot reach Redis at redis://127.0.0.1:{port}/0"
    )
    assert not (tmp_path / "crawls").exists()


def test_redis_needs_a_crawl_id(tmp_path, redis_url):
    result = run_linkcrawl(
        ["crawl", "http://s0-example.com/", "--data", str(tmp_path), "--redis", redis_url]
    )
    assert result.returncode == 1
    assert "--redis needs --crawl-id" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_shared_lock_lets_in_the_same_crawl_only(tmp_path):
    with DataDirLock(tmp_path, "a", shared=True), DataDirLock(tmp_path, "a", shared=True):
        for other in (
            lambda: DataDirLock(tmp_path, "b", shared=True),
            lambda: DataDirLock(tmp_path, "c"),
        ):
            with pytest.raises(Exception, match="shared crawl a"):
                with other():
                    pass
    with DataDirLock(tmp_path, "c"):
        with pytest.raises(Exception, match="crawl c"):
            with DataDirLock(tmp_path, "a", shared=True):
                pass


@pytest.mark.slow
def test_redis_going_away_stops_the_worker_and_a_rejoin_finishes(web, single, tmp_path):
    """Redis dies mid-crawl: the worker stops within seconds with one line and exit 3,
    its pages on disk and the manifest interrupted (not hung, not a traceback per
    request). Rejoined to a new, empty Redis, it queues the links on disk not fetched
    yet and finishes the crawl: the same pages as one process, none twice."""
    edges, pages = single
    port = free_port()
    command = [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no"]
    server = start_server(command, port, "redis-server", timeout=10)
    url = f"redis://127.0.0.1:{port}/0"
    data = tmp_path / "data"
    args = [*SEEDS, "--data", str(data), "--crawl-id", "gone", "-s", "LINKCRAWL_FLUSH_ROWS=150"]
    before = _fetches(web)
    worker = _worker(args, web, url, "wa")
    parts = data / "pages" / "crawl_id=gone"
    deadline = time.monotonic() + 60
    while not (parts.is_dir() and any(parts.iterdir())) or (
        sum((_fetches(web) - before).values()) < 200
    ):
        assert time.monotonic() < deadline and worker.poll() is None, worker.communicate()
        time.sleep(0.05)
    server.kill()
    server.wait()
    stopped_at = time.monotonic()
    _out, err = worker.communicate(timeout=60)
    assert time.monotonic() - stopped_at < 30
    assert worker.returncode == 3, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"Error: lost Redis at {url} (")
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(
            "worker wa stopped with its pages on disk; once Redis is back, start it again "
            "with the same --redis and --crawl-id gone to rejoin"
        )
    )
    written = pd.read_parquet(data / "pages")
    assert 0 < len(written) < len(pages)
    manifest = json.loads((data / "crawls" / "gone.json").read_text())
    assert manifest["status"] == "interrupted"
    section = manifest["distributed"]["workers"]["wa"]
    assert section["status"] == "interrupted"
    assert section["finish_reason"].startswith("redis unreachable: ")

    # Redis is back, empty (no persistence): the rejoined worker finishes from the disk.
    server = start_server(command, port, "redis-server", timeout=10)
    try:
        rejoined = _worker(args, web, url, "wa")
        _out, err = rejoined.communicate(timeout=120)
    finally:
        server.kill()
        server.wait()
    assert rejoined.returncode == 0, err
    final = pd.read_parquet(data / "pages")
    assert sorted(final["url"]) == sorted(pages["url"])  # none lost, none twice
    final_edges = pd.read_parquet(data / "edges")
    assert _edge_set(final_edges) == _edge_set(edges)
    assert len(final_edges) == len(edges)
    manifest = json.loads((data / "crawls" / "gone.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["counts"]["pages"] == len(pages)


def _down(request) -> Resource | None:
    """Every page answers 503 (robots.txt is not there: a 503 there disallows all)."""
    if request.path == "/robots.txt":
        return None
    return Resource(503, {"Content-Type": "text/html"}, b"<h1>maintenance</h1>")


@pytest.mark.slow
def test_a_shared_crawl_whose_seeds_all_fail_is_failed(redis_url, tmp_path):
    """As a crawl of one process or of --workers: ran to its end, fetched nothing."""
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=_down)) as down:
        worker = _worker(
            ["http://s0-example.com/", "--data", str(data), "--crawl-id", "down"],
            down,
            redis_url,
            "wa",
        )
        _out, err = worker.communicate(timeout=120)
    assert worker.returncode == 1, err
    assert err.strip().splitlines()[-1] == "Error: crawl down failed: its seed failed (HTTP 503)"
    manifest = json.loads((data / "crawls" / "down.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["failure"] == "its seed failed (HTTP 503)"
    assert manifest["distributed"]["workers"]["wa"]["status"] == "finished"


def _slow_seed(request) -> Resource | None:
    """One page, answered after 5 s, with no links."""
    if request.path == "/robots.txt":
        return None
    time.sleep(5)
    return Resource(200, {"Content-Type": "text/html"}, b"<title>slow</title><p>slow</p>")


@pytest.mark.slow
def test_a_worker_joining_while_the_queue_is_empty_is_not_a_resume(redis_url, tmp_path):
    """wb starts while wa holds the only request in flight: the shared queue is empty
    then. Its manifest section is its own (its start), and the crawl was never resumed
    (scrapy-redis's Scheduler has a __len__: an empty queue once read as no frontier)."""
    data = tmp_path / "data"
    args = ["http://s0-example.com/", "--data", str(data), "--crawl-id", "join"]
    with LocalWebServer(LocalWeb(handler=_slow_seed)) as web:
        first = _worker(args, web, redis_url, "wa")
        deadline = time.monotonic() + 60
        while not any(path == "/" for _m, _h, path in web.web.requests):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = _worker(args, web, redis_url, "wb")
        for worker in (first, second):
            _out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
    manifest = json.loads((data / "crawls" / "join.json").read_text())
    sections = manifest["distributed"]["workers"]
    assert manifest["status"] == "finished"
    assert manifest["resumed_at"] == []
    assert sections["wb"]["started_at"] > sections["wa"]["started_at"]
    assert sections["wb"]["counts"]["pages"] == 0  # it fetched nothing: wa had the page
