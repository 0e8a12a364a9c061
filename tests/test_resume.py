"""``crawl --resume`` continues a crawl with its own bounds and settings, from its manifest;
an option given again with ``--resume`` overrides it, and the manifest says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource, WebRequest
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

AGENT = "resume-test/1"


class Site:
    """One host of 500 pages, each linking to the next three, answered after 40 ms; the
    User-Agent of every page request is kept."""

    def __init__(self) -> None:
        self.agents: list[str] = []

    def __call__(self, request: WebRequest) -> Resource | None:
        if request.host != "bound-example.com" or request.path == "/robots.txt":
            return None
        self.agents.append(request.headers.get("User-Agent", ""))
        time.sleep(0.04)
        n = int(request.path.strip("/") or 0)
        links = "".join(f'<a href="/{n * 3 + k}">{k}</a>' for k in (1, 2, 3) if n * 3 + k < 500)
        return Resource(200, {"Content-Type": "text/html"}, links.encode())


def interrupted_crawl(server: LocalWebServer, site: Site, data, crawl_id: str, *args: str):
    """Start a crawl, stop it with SIGINT once it has fetched 8 pages; its manifest."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    env["http_proxy"] = server.proxy_url
    before = len(site.agents)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linkcrawl.cli",
            "crawl",
            "http://bound-example.com/",
            "--data",
            str(data),
            "--crawl-id",
            crawl_id,
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(site.agents) - before < 8 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    manifest = json.loads((data / "crawls" / f"{crawl_id}.json").read_text())
    assert manifest["status"] == "interrupted"
    return manifest


def pages_of(data, crawl_id: str) -> list[str]:
    return pq.read_table(data / "pages" / f"crawl_id={crawl_id}").column("url").to_pylist()


def test_resume_keeps_the_bounds_and_settings_and_records_an_override(tmp_path):
    site = Site()
    data = tmp_path / "data"
    bounded = [*FAST, "--max-pages", "30", "-s", f"USER_AGENT={AGENT}"]
    slow = ["-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"]
    with LocalWebServer(LocalWeb(handler=site)) as server:
        first = interrupted_crawl(server, site, data, "kept", *bounded, *slow)
        assert first["options"]["max_pages"] == 30
        assert first["options"]["settings"]["USER_AGENT"] == AGENT
        assert len(pages_of(data, "kept")) < 30  # stopped before its bound
        before = len(site.agents)
        resumed = run_linkcrawl(
            ["crawl", "--resume", "kept", "--data", str(data), *FAST], proxy=server.proxy_url
        )
        assert resumed.returncode == 0, resumed.stderr
        after_resume = site.agents[before:]

        # The same crawl with the bound raised on resume.
        second = interrupted_crawl(server, site, data, "raised", *bounded, *slow)
        assert len(pages_of(data, "raised")) < 30
        raised = run_linkcrawl(
            # Its own seed given again is no override.
            [
                "crawl",
                "bound-example.com",
                "--resume",
                "raised",
                "--data",
                str(data),
                *FAST,
                "--max-pages",
                "45",
            ],
            proxy=server.proxy_url,
        )
        assert raised.returncode == 0, raised.stderr

    pages = pages_of(data, "kept")
    assert len(pages) == len(set(pages)) == 30  # the bound held across the resume
    assert after_resume and set(after_resume) == {AGENT}  # and so did every -s
    manifest = json.loads((data / "crawls" / "kept.json").read_text())
    assert manifest["status"] == "finished"
    assert manifest["options"] == first["options"]
    assert manifest["settings"]["LINKCRAWL_MAX_PAGES_PER_DOMAIN"] == 30
    assert manifest.get("resumes", []) == []  # nothing overridden

    assert second["options"]["max_pages"] == 30
    assert len(pages_of(data, "raised")) == 45
    manifest = json.loads((data / "crawls" / "raised.json").read_text())
    assert manifest["options"]["max_pages"] == 45
    assert manifest["options"]["settings"]["USER_AGENT"] == AGENT
    assert [r["overrides"] for r in manifest["resumes"]] == [{"max_pages": 45}]
    assert manifest["settings"]["LINKCRAWL_MAX_PAGES_PER_DOMAIN"] == 45


def test_a_crawl_being_pruned_is_not_resumed(tmp_path):
    """A prune killed half-way leaves the crawl `pruning`, some partitions gone: resumed, its
    manifest would say running and then finished over missing rows."""
    data = tmp_path / "data"
    (data / "crawls").mkdir(parents=True)
    (data / "crawls" / "p.json").write_text(
        json.dumps(
            {
                "crawl_id": "p",
                "status": "pruning",
                "seeds": ["http://example.com/"],
                "started_at": "2026-12-01T03:00:00.000000+00:00",
                "finished_at": "2026-12-01T03:00:01.000000+00:00",
                "counts": {"pages": 0, "edges": 0, "errors": 0},
                "schema_version": 1,
            }
        )
    )
    resumed = run_linkcrawl(["crawl", "--resume", "p", "--data", str(data)])
    assert resumed.returncode == 1
    assert resumed.stderr.strip().splitlines() == [
        "Error: cannot resume p: it is being pruned (`linkcrawl prune` finishes that)"
    ]
    assert json.loads((data / "crawls" / "p.json").read_text())["status"] == "pruning"
