"""One page cannot stall the crawl: parsing runs in worker processes with a time budget.

A page that libxml2 parses in quadratic time (one tag holding 300,000 attributes) becomes a
pages row with error ``parse-timeout`` while every other page is fetched and its edges
written; the workers never outlive the crawl, however it stops; and the columns extracted
in a worker are those extracted in the crawl's own thread.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from tests.conftest import DEMO_WEB, FAST, SHARED_DATA, run_linkcrawl

pytestmark = pytest.mark.slow

SITE = "http://good-example.com"
HTML = {"Content-Type": "text/html; charset=utf-8"}
PAGES = 30
# The pages columns that do not depend on timing.
PAGE_COLUMNS = [
    *("url", "status", "error", "content_type", "title", "canonical", "meta_robots"),
    *("x_robots_tag", "noindex", "nofollow", "outlinks", "bytes"),
]


def pathological_page(attributes: int = 300_000) -> bytes:
    """About 3 MB: one tag with ``attributes`` distinct attributes, then a link."""
    attrs = " ".join(f"a{i}=x" for i in range(attributes))
    return (
        f"<html><body><div {attrs}><a href='/p1'>in the bad page</a></div></body></html>".encode()
    )


def site(bad_first: bool = True) -> LocalWeb:
    """A home page linking to the bad page and to PAGES pages that link on in a ring; the
    normal pages trickle in (in flight while the bad page parses)."""
    web = LocalWeb()
    ring = "".join(f"<a href='/p{i}'>page {i}</a>" for i in range(PAGES))
    bad = "<a href='/bad'>bad</a>"
    web.add(f"{SITE}/", f"<title>home</title>{bad if bad_first else ''}{ring}")
    for i in range(PAGES):
        body = f"<title>p{i}</title><a href='/p{(i + 1) % PAGES}'>next</a><a href='/'>home</a>"
        web.add(f"{SITE}/p{i}", Resource(200, HTML, body.encode(), chunk_size=64, chunk_delay=0.05))
    web.add(f"{SITE}/bad", Resource(200, HTML, pathological_page()))
    return web


def parse_workers(crawl_pid: int) -> set[int]:
    """Pids of the parse worker processes whose parent is ``crawl_pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == crawl_pid and b"linkcrawl.crawl.parsepool" in cmdline:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is still a running parse worker (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z" and b"linkcrawl.crawl.parsepool" in cmdline


@contextmanager
def crawling(data: Path, proxy: str, *settings: str) -> Iterator[subprocess.Popen]:
    """A crawl of SITE running in a subprocess; killed on the way out if still running."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = proxy
    args = ["crawl", f"{SITE}/", "--data", str(data), "--crawl-id", "b1", *FAST]
    for setting in settings:
        args += ["-s", setting]
    # stderr to a file: a pipe nobody reads while the crawl runs could fill and block it
    with open(data.parent / "stderr.txt", "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "linkcrawl.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def watch(process: subprocess.Popen, timeout: float, data: Path) -> tuple[set[int], str]:
    """Wait for the crawl to exit, noting every parse worker it had; its stderr."""
    workers: set[int] = set()
    deadline = time.monotonic() + timeout
    while process.poll() is None:
        workers |= parse_workers(process.pid)
        if time.monotonic() > deadline:
            stderr = (data.parent / "stderr.txt").read_text()
            pytest.fail(f"the crawl did not finish in {timeout:.0f} s: {stderr[-3000:]}")
        time.sleep(0.1)
    return workers, (data.parent / "stderr.txt").read_text()


def assert_all_gone(workers: set[int]) -> None:
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "a parse worker outlived the crawl"


def test_a_page_over_its_budget_is_a_row_and_the_crawl_goes_on(tmp_path):
    data = tmp_path / "data"
    with LocalWebServer(site()) as server:
        started = time.monotonic()
        with crawling(
            data,
            server.proxy_url,
            "LINKCRAWL_PARSE_TIMEOUT=2",
            # a reactor frozen for more than this would time the trickling pages out
            "DOWNLOAD_TIMEOUT=10",
            "RETRY_TIMES=0",
        ) as crawl:
            workers, stderr = watch(crawl, 120, data)
        elapsed = time.monotonic() - started
    assert crawl.returncode == 0, stderr
    assert "Traceback" not in stderr, stderr
    assert elapsed < 60
    assert workers, "no parse worker was seen"
    assert_all_gone(workers)

    pages = pd.read_parquet(data / "pages").set_index("url")
    bad = pages.loc[f"{SITE}/bad"]
    assert bad["status"] == 200
    assert bad["error"] == "parse-timeout"
    assert bad["bytes"] == len(pathological_page())
    assert bad["outlinks"] == 0
    good = pages.drop(f"{SITE}/bad")
    assert sorted(good.index) == sorted([f"{SITE}/", *(f"{SITE}/p{i}" for i in range(PAGES))])
    assert (good["status"] == 200).all()
    assert good["error"].isna().all(), good[good["error"].notna()]["error"]
    edges = pd.read_parquet(data / "edges")
    assert f"{SITE}/bad" not in set(edges["source"])
    out = edges.groupby("source")["target"].apply(set)
    for i in range(PAGES):
        assert out[f"{SITE}/p{i}"] == {f"{SITE}/p{(i + 1) % PAGES}", f"{SITE}/"}
    assert len(out[f"{SITE}/"]) == PAGES + 1


@pytest.mark.parametrize("stop", ["SIGTERM", "two SIGINTs", "SIGKILL"])
def test_no_parse_worker_outlives_a_stopped_crawl(tmp_path, stop):
    data = tmp_path / "data"
    web = site()
    # SIGTERM stops cleanly, finishing the page in hand: within its budget.
    budget = "3" if stop == "SIGTERM" else "600"
    with (
        LocalWebServer(web) as server,
        crawling(data, server.proxy_url, f"LINKCRAWL_PARSE_TIMEOUT={budget}") as crawl,
    ):
        workers: set[int] = set()
        deadline = time.monotonic() + 60
        # Stop while a worker is inside the bad page.
        while ("GET", "good-example.com", "/bad") not in web.requests or not workers:
            assert crawl.poll() is None, "the crawl ended before its bad page"
            assert time.monotonic() < deadline, "no parse worker took the bad page"
            workers |= parse_workers(crawl.pid)
            time.sleep(0.1)
        time.sleep(1.0)
        workers |= parse_workers(crawl.pid)
        if stop == "SIGTERM":
            crawl.send_signal(signal.SIGTERM)
        elif stop == "SIGKILL":
            crawl.kill()
        else:
            crawl.send_signal(signal.SIGINT)
            time.sleep(0.5)
            crawl.send_signal(signal.SIGINT)
        more, stderr = watch(crawl, 60, data)
    assert_all_gone(workers | more)
    if stop == "SIGTERM":
        assert "Traceback" not in stderr, stderr
        pages = pd.read_parquet(data / "pages").set_index("url")
        assert pages.loc[f"{SITE}/bad", "error"] == "parse-timeout"


def test_a_worker_extracts_what_the_crawl_thread_extracts(tmp_path):
    """Every page of the demo web and pages in hard encodings (KOI8-R named only in the
    header, Shift_JIS, UTF-16 without a declaration): the same rows either way."""
    web = LocalWeb(DEMO_WEB)
    wpull = SHARED_DATA / "html" / "wpull"
    hard = {
        "krokozyabry.html": "text/html; charset=KOI8-R",
        "mojibake.html": "text/html; charset=Shift_JIS",
        "videogame_top.htm": "text/html",
        "kcna.html": "text/html",
    }
    links = "".join(f"<a href='/{name}'>{name}</a>" for name in hard)
    web.add("http://encodings-example.com/", links)
    for name, ctype in hard.items():
        body = (wpull / name).read_bytes()
        web.add(
            f"http://encodings-example.com/{name}", Resource(200, {"Content-Type": ctype}, body)
        )
    seeds = [f"http://{host}/" for host in web.hosts()]
    tables = {}
    with LocalWebServer(web) as server:
        for workers in (0, 2):
            data = tmp_path / f"w{workers}"
            setting = f"LINKCRAWL_PARSE_WORKERS={workers}"
            result = run_linkcrawl(
                ["crawl", *seeds, "--data", str(data), "--crawl-id", "e1", *FAST, "-s", setting],
                proxy=server.proxy_url,
            )
            assert result.returncode == 0, result.stderr
            edges = pd.read_parquet(data / "edges").drop(columns=["discovered_at", "crawl_id"])
            pages = pd.read_parquet(data / "pages")[PAGE_COLUMNS]
            tables[workers] = (
                edges.sort_values(["source", "ordinal"]).reset_index(drop=True),
                pages.sort_values("url").reset_index(drop=True),
            )
    in_thread, in_workers = tables[0], tables[2]
    assert len(in_thread[0]) > 500
    pd.testing.assert_frame_equal(in_thread[0], in_workers[0])
    pd.testing.assert_frame_equal(in_thread[1], in_workers[1])
    edges = in_workers[0]
    koi8 = edges[edges["source"] == "http://encodings-example.com/krokozyabry.html"]
    assert list(koi8["anchor"]) == ["Кракозябры"]
