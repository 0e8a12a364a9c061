"""Whether a crawl still runs is told by the data directory's lock, not by the pid it
recorded: a crawl killed in a container (pid 1) or on another host can be resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from linkcrawl.dataset.manifest import read_manifest
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource, WebRequest
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow


def slow_site(request: WebRequest) -> Resource | None:
    """One host of 150 pages, each answered after 30 ms."""
    if request.host != "live-example.com" or request.path == "/robots.txt":
        return None
    time.sleep(0.03)
    n = int(request.path.strip("/") or 0)
    links = "".join(f'<a href="/{n * 3 + k}">{k}</a>' for k in (1, 2, 3) if n * 3 + k < 150)
    return Resource(200, {"Content-Type": "text/html"}, links.encode())


def start_crawl(server: LocalWebServer, data, crawl_id: str) -> subprocess.Popen:
    """A crawl in a subprocess, returned once it has written parts and its manifest."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = server.proxy_url
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linkcrawl.cli",
            "crawl",
            "http://live-example.com/",
            "--data",
            str(data),
            "--crawl-id",
            crawl_id,
            *FAST,
            "-s",
            "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            "-s",
            "LINKCRAWL_FLUSH_ROWS=5",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        path = data / "crawls" / f"{crawl_id}.json"
        if path.is_file() and json.loads(path.read_text()).get("counts", {}).get("pages"):
            return proc
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the crawl did not start")


def test_a_killed_crawl_that_recorded_pid_1_or_another_host_reads_interrupted(tmp_path):
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=slow_site)) as server:
        proc = start_crawl(server, data, "box")
        # A live crawl holds the lock: it runs, whatever pid it recorded.
        assert open_dataset(data).manifest("box").status == "running"
        refused = run_linkcrawl(["crawl", "--resume", "box", "--data", str(data)])
        assert refused.returncode == 1 and "still running" in refused.stderr
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        path = data / "crawls" / "box.json"
        fields = json.loads(path.read_text())
        assert fields["status"] == "running"
        # As if it had run in a container (pid 1, a host name of its own).
        path.write_text(json.dumps({**fields, "pid": 1, "host": "f3a1c2d4e5b6"}))
        # And one killed on another host, of a pid alive here (this one), which the lock
        # file no longer names (another crawl held it since).
        other = {**fields, "crawl_id": "elsewhere", "pid": os.getpid(), "host": "node2"}
        (data / "crawls" / "elsewhere.json").write_text(json.dumps(other))
        assert read_manifest(path).status == "interrupted"
        assert read_manifest(data / "crawls" / "elsewhere.json").status == "interrupted"
        resumed = run_linkcrawl(
            ["crawl", "--resume", "box", "--data", str(data), *FAST], proxy=server.proxy_url
        )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(path.read_text())["status"] == "finished"
    assert json.loads(path.read_text())["counts"]["pages"] == 150
