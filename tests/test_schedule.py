"""A scheduled crawl that was stopped continues on the next run instead of starting over,
and an interrupted crawl exits 3 so that a job's next steps (analyze, prune) wait."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, WebRequest
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow


def slow_site(request: WebRequest):
    """A tree of 120 pages, each answered after 20 ms."""
    if request.host != "sched-example.com" or request.path == "/robots.txt":
        return None
    time.sleep(0.02)
    n = int(request.path.strip("/") or 0)
    return None if n >= 120 else _page(n)


def _page(n: int):
    from linkcrawl.demo.localweb import Resource

    links = "".join(f'<a href="/{n * 3 + k}">{k}</a>' for k in (1, 2, 3))
    return Resource(200, {"Content-Type": "text/html"}, links.encode())


def test_interrupted_crawl_exits_3_and_the_next_run_resumes_it(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("http://sched-example.com/\n")
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=slow_site)) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() != "http_proxy"}
        env["http_proxy"] = server.proxy_url
        args = [
            "crawl",
            "--resume-interrupted",
            "--seeds",
            str(seeds),
            "--data",
            str(data),
            *FAST,
            "-s",
            "CONCURRENT_REQUESTS_PER_DOMAIN=8",
        ]
        slow = [*args, "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "linkcrawl.cli", *slow],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(server.web.requests) < 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 3, err
        first = out.strip()
        assert f"continue it with `linkcrawl crawl --resume {first}`" in err
        manifest = json.loads((data / "crawls" / f"{first}.json").read_text())
        assert manifest["status"] == "interrupted"

        again = run_linkcrawl(args, proxy=server.proxy_url)
        assert again.returncode == 0, again.stderr
        assert again.stdout.strip() == first  # the same crawl, continued
        manifest = json.loads((data / "crawls" / f"{first}.json").read_text())
        assert manifest["status"] == "finished"
        assert manifest["counts"]["pages"] >= 120

        time.sleep(1.1)  # crawl ids are the UTC time to the second
        third = run_linkcrawl(args, proxy=server.proxy_url)
        assert third.returncode == 0, third.stderr
        assert third.stdout.strip() != first  # nothing to resume: a new crawl
