"""Several crawler processes on one crawl id, and the lock that keeps two crawls apart."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from linkcrawl.crawl.runner import DataDirLock, shard_seeds
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource, WebRequest
from tests.conftest import FAST, demo_seeds, run_linkcrawl


def test_shard_seeds_keeps_each_domain_in_one_worker():
    seeds = [
        "http://a.example.com/",
        "http://b.example.com/",
        "http://x.example.org/",
        "http://y.example.net/",
        "http://z.example.net/",
    ]
    shards = shard_seeds(seeds, 2)
    assert sorted(s for shard in shards for s in shard) == sorted(seeds)
    assert len(shards) == 2
    for domain in ("example.com", "example.net"):
        holders = [i for i, shard in enumerate(shards) if any(domain in s for s in shard)]
        assert len(holders) == 1
    assert shard_seeds(seeds, 8) == shard_seeds(seeds, 3)  # only 3 domains: 3 workers
    assert shard_seeds(seeds, 1) == [seeds]


@pytest.mark.slow
def test_two_workers_find_what_one_process_finds(demo_server, demo_crawl, tmp_path):
    data, crawl_id = demo_crawl
    result = run_linkcrawl(
        [
            "crawl",
            *demo_seeds(),
            "--data",
            str(tmp_path),
            "--crawl-id",
            "two",
            "--workers",
            "2",
            *FAST,
        ],
        proxy=demo_server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    key = ["source", "target", "ordinal"]
    one = pd.read_parquet(data / "edges", filters=[("crawl_id", "=", crawl_id)])
    two = pd.read_parquet(tmp_path / "edges")
    assert set(map(tuple, two[key].values)) == set(map(tuple, one[key].values))
    assert len(two) == len(one)
    parts = sorted(p.name for p in (tmp_path / "edges" / "crawl_id=two").iterdir())
    assert {p.split("-")[1] for p in parts} == {"w00", "w01"}
    manifest = json.loads((tmp_path / "crawls" / "two.json").read_text())
    assert manifest["status"] == "finished" and manifest["workers"] == 2
    assert manifest["counts"]["edges"] == len(two)
    assert not (tmp_path / ".jobs" / "two").exists()


def test_second_crawl_on_a_locked_data_directory_is_refused(demo_server, tmp_path):
    with DataDirLock(tmp_path, "first"):
        result = run_linkcrawl(
            ["crawl", "http://www.echo-example.io/", "--data", str(tmp_path), *FAST],
            proxy=demo_server.proxy_url,
        )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "already running" in lines[0] and "crawl first" in lines[0]
    assert not (tmp_path / "crawls").exists()
    # once released, the directory is free again
    with DataDirLock(tmp_path, "second"):
        pass


@pytest.mark.slow
def test_sigint_stops_all_workers_cleanly_and_resume_completes(tmp_path):
    """Ctrl-C on a two-worker crawl: one graceful stop for every worker, the crawl marked
    interrupted, and a resume finds what an uninterrupted crawl finds."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource

    def slow(request):
        if request.path == "/robots.txt":
            return None
        time.sleep(0.01)
        n = int(request.path.strip("/") or 0)
        if n >= 60:
            return None
        other = "b" if request.host.startswith("a") else "a"
        links = f'<a href="/{n + 1}">next</a><a href="/{n + 2}">skip</a>'
        links += f'<a href="http://{other}-example.com/{n + 5}">other</a>'
        return Resource(200, {"Content-Type": "text/html"}, links.encode())

    seeds = ["http://a-example.com/", "http://b-example.com/"]
    with LocalWebServer(LocalWeb(handler=slow)) as server:
        whole = run_linkcrawl(
            ["crawl", *seeds, "--data", str(tmp_path / "whole"), "--crawl-id", "w", *FAST],
            proxy=server.proxy_url,
        )
        assert whole.returncode == 0, whole.stderr
        env = {**os.environ, "http_proxy": server.proxy_url}
        data = tmp_path / "cut"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linkcrawl.cli",
                "crawl",
                *seeds,
                "--data",
                str(data),
                "--crawl-id",
                "k",
                "--workers",
                "2",
                *FAST,
                "-s",
                "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        before = len(server.web.requests)
        deadline = time.monotonic() + 60
        while len(server.web.requests) - before < 30 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C does: the whole group
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        assert "Traceback" not in err
        manifest = json.loads((data / "crawls" / "k.json").read_text())
        assert manifest["status"] == "interrupted"
        resumed = run_linkcrawl(
            ["crawl", "--resume", "k", "--data", str(data), *FAST], proxy=server.proxy_url
        )
        assert resumed.returncode == 0, resumed.stderr
    key = ["source", "target", "ordinal"]
    one = pd.read_parquet(tmp_path / "whole" / "edges")
    two = pd.read_parquet(data / "edges")
    assert set(map(tuple, two[key].values)) == set(map(tuple, one[key].values))
    assert not two.duplicated(key).any()
    assert json.loads((data / "crawls" / "k.json").read_text())["status"] == "finished"


def _many_host_site(served: list[str]):
    """Eight hosts of 40 pages each, every page answered after 30 ms; the URL of each page
    answered is appended to ``served`` once its response is ready."""
    import time

    from linkcrawl.demo.localweb import Resource

    def handler(request):
        if request.path == "/robots.txt" or not request.host.endswith("-example.com"):
            return None
        time.sleep(0.03)
        n = int(request.path.strip("/") or 0)
        if n >= 40:
            return None
        i = int(request.host[1])
        links = f'<a href="/{n + 1}">next</a><a href="/{n + 2}">skip</a>'
        links += f'<a href="http://h{(i + 1) % 8}-example.com/{n + 3}">other</a>'
        served.append(f"http://{request.host}/{request.path.lstrip('/')}")
        return Resource(200, {"Content-Type": "text/html"}, links.encode())

    return handler


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_one_stop_signal_to_the_parent_stops_every_worker_and_loses_no_page(tmp_path, signame):
    """What `systemctl stop` does with KillMode=mixed (one signal, to the main process
    only): every worker stops cleanly, and every page the server answered is a pages row."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import pyarrow.parquet as pq

    from linkcrawl.demo.localweb import LocalWeb, LocalWebServer

    served: list[str] = []
    seeds = [f"http://h{i}-example.com/" for i in range(8)]
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=_many_host_site(served))) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linkcrawl.cli",
                "crawl",
                *seeds,
                "--data",
                str(data),
                "--crawl-id",
                "stop",
                "--workers",
                "2",
                *FAST,
                "-s",
                "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while len(served) < 40 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the crawl ended before it was stopped"
        proc.send_signal(getattr(signal, signame))  # the parent only
        _, err = proc.communicate(timeout=90)
        answered = list(served)
    assert proc.returncode == 3, err
    assert "Traceback" not in err
    manifest = json.loads((data / "crawls" / "stop.json").read_text())
    assert manifest["status"] == "interrupted"
    assert len(answered) < 8 * 40  # stopped, not finished
    pages = pq.read_table(data / "pages" / "crawl_id=stop").column("url").to_pylist()
    missing = set(answered) - set(pages)
    assert not missing, f"{len(missing)} of {len(answered)} answered pages have no row"
    assert manifest["counts"]["pages"] == len(pages)
    for table in ("edges", "pages"):
        names = [p.name for p in (data / table / "crawl_id=stop").iterdir()]
        assert {n.split("-")[1] for n in names} == {"w00", "w01"}, names
    edges = {p.name for p in (data / "edges" / "crawl_id=stop").iterdir()}
    pages_parts = {p.name for p in (data / "pages" / "crawl_id=stop").iterdir()}
    assert edges <= pages_parts  # every edges part has its pages part


@pytest.mark.slow
def test_ctrl_c_while_the_workers_start_stops_them_once_without_a_traceback(tmp_path):
    """A Ctrl-C reaches the terminal's whole process group, workers still starting (not
    yet in a group of their own) included: each of them stops once, cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from linkcrawl.demo.localweb import LocalWeb, LocalWebServer

    served: list[str] = []
    seeds = [f"http://h{i}-example.com/" for i in range(4)]
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=_many_host_site(served))) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "linkcrawl.cli",
                "crawl",
                *seeds,
                "--data",
                str(data),
                "--crawl-id",
                "early",
                "--workers",
                "2",
                *FAST,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        manifest = data / "crawls" / "early.json"
        deadline = time.monotonic() + 60
        # The parent writes the manifest, then starts the workers.
        while not manifest.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=90)
    assert proc.returncode == 3, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert json.loads(manifest.read_text())["status"] == "interrupted"


def _fan(request: WebRequest) -> Resource | None:
    """a-example.com and b-example.com: the home page links to ten pages that link nowhere."""
    if request.host not in ("a-example.com", "b-example.com"):
        return None
    if request.path == "/":
        links = "".join(f'<a href="/p{i}">{i}</a>' for i in range(10))
        return Resource(200, {"Content-Type": "text/html"}, links.encode())
    if request.path.startswith("/p"):
        return Resource(200, {"Content-Type": "text/html"}, b"<p>leaf</p>")
    return None


def test_two_workers_record_the_skips_of_every_worker(tmp_path):
    """The parent's manifest adds up its workers' skips. By hand: with --max-pages 4 each
    domain's home page and three of its ten leaves are fetched, so seven leaves of each
    domain are skipped for the page budget, 14 in all, one worker per domain."""
    with LocalWebServer(LocalWeb(handler=_fan)) as server:
        for name, extra in (("one", []), ("two", ["--workers", "2"])):
            result = run_linkcrawl(
                [
                    "crawl",
                    "http://a-example.com/",
                    "http://b-example.com/",
                    *("--data", str(tmp_path / name), "--crawl-id", name, "--max-pages", "4"),
                    *extra,
                    *FAST,
                ],
                proxy=server.proxy_url,
            )
            assert result.returncode == 0, result.stderr
            manifest = json.loads((tmp_path / name / "crawls" / f"{name}.json").read_text())
            assert manifest["counts"]["pages"] == 8
            assert manifest["skipped"] == {"max-pages": 14}, name
            assert f"crawl {name} skipped: max-pages 14" in result.stderr
