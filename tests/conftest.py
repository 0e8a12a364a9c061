"""Shared fixtures: the local many-host web, and one crawl of the demo web per test session."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from linkcrawl.demo import web_root
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer

ROOT = Path(__file__).resolve().parent.parent
DEMO_WEB = web_root()
SHARED_DATA = ROOT.parent / "shared" / "data"
# Set by .ci/run: there, a test whose material in ../shared/data is missing fails; elsewhere
# (a clone without the folder beside it) it skips with the reason.
REQUIRE_SHARED_DATA = "LINKCRAWL_REQUIRE_SHARED_DATA"
# Politeness off: these are our own servers on 127.0.0.1.
FAST = ["-s", "AUTOTHROTTLE_ENABLED=0", "-s", "DOWNLOAD_DELAY=0"]


def need_shared_data(path: Path) -> Path:
    """``path`` (under ../shared/data) if it exists; else skip the test, or fail it when
    LINKCRAWL_REQUIRE_SHARED_DATA=1, so that CI never passes with the real pages unread."""
    if path.exists():
        return path
    reason = f"{path} is absent: ../shared/data is not beside the repository"
    if os.environ.get(REQUIRE_SHARED_DATA, "") not in ("", "0"):
        pytest.fail(f"{reason} ({REQUIRE_SHARED_DATA} is set)", pytrace=False)
    pytest.skip(reason)


def demo_seeds() -> list[str]:
    return [f"http://{host}/" for host in LocalWeb(DEMO_WEB).hosts()]


def run_linkcrawl(
    args: list[str], proxy: str | None = None, timeout: float = 120, **kwargs
) -> subprocess.CompletedProcess:
    """Run the real ``linkcrawl`` command line in a subprocess (Scrapy's reactor runs once
    per process), with the local web as its HTTP proxy."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
    if proxy:
        env["http_proxy"] = proxy
    return subprocess.run(
        [sys.executable, "-m", "linkcrawl.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        **kwargs,
    )


@pytest.fixture(scope="session")
def demo_server():
    """The bundled demo web, served on a free port of 127.0.0.1."""
    with LocalWebServer(LocalWeb(DEMO_WEB)) as server:
        yield server


@pytest.fixture(scope="session")
def demo_crawl(demo_server, tmp_path_factory):
    """One crawl of the whole demo web: (data_dir, crawl_id)."""
    data = tmp_path_factory.mktemp("demo-data")
    result = run_linkcrawl(
        ["crawl", *demo_seeds(), "--data", str(data), "--crawl-id", "demo1", *FAST],
        proxy=demo_server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    return data, "demo1"


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(args: list[str], port: int, name: str, timeout: float = 30) -> subprocess.Popen:
    """Start a server process (Redis, moto's S3) and wait until it accepts connections on
    ``port``; fail the test, with ``name``, if it exits or is not up within ``timeout``."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"{name} did not start on port {port}")
            time.sleep(0.05)


def redis_server() -> Iterator[str]:
    """A throw-away redis-server on a free port of 127.0.0.1, no persistence: its URL while
    the generator runs (the fixtures ``redis_url`` of the tests that need one)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server (CI does)")
    port = free_port()
    proc = start_server(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        port,
        "redis-server",
        timeout=10,
    )
    yield f"redis://127.0.0.1:{port}/0"
    proc.kill()
    proc.wait()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of the test's own."""
    yield from redis_server()
