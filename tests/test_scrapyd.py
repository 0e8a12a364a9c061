"""The scrapyd deployment path, end to end: build the project's egg with scrapyd-client, start
a real scrapyd, deploy, schedule the links spider against a local web, read the Parquet."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pandas as pd
import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from tests.conftest import ROOT, free_port

pytestmark = pytest.mark.slow

scrapyd = pytest.importorskip("scrapyd", reason="scrapyd is in the test extras")
pytest.importorskip("scrapyd_client", reason="scrapyd-client is in the test extras")

BIN = Path(sys.executable).parent


def build_egg(tmp_path: Path) -> Path:
    """``scrapyd-deploy --build-egg`` on a copy of the project: it writes a setup.py and a
    build/ folder next to scrapy.cfg, which must not land in the working tree."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("scrapy.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "linkcrawl", project / "linkcrawl", ignore=shutil.ignore_patterns("__pycache__")
    )
    egg = tmp_path / "linkcrawl.egg"
    result = subprocess.run(
        [str(BIN / "scrapyd-deploy"), "--build-egg", str(egg)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return egg


def api(base: str, endpoint: str, fields=None, files=None) -> dict:
    """Call scrapyd's JSON API; GET without fields, POST (urlencoded or multipart) with.
    scrapyd answers 200 with ``{"status": "error"}`` on failure: the caller checks status."""
    url = f"{base}/{endpoint}"
    if fields is None:
        request = urllib.request.Request(url)
    elif files:
        boundary = uuid.uuid4().hex
        body = b""
        for name, value in fields:
            body += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        for name, path in files.items():
            body += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{Path(path).name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            body += Path(path).read_bytes() + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
    else:
        request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode())
    # Our own server on 127.0.0.1: never through a proxy the environment may name.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture
def scrapyd_server(tmp_path):
    """A real scrapyd on a free port of 127.0.0.1, run from a temporary directory, whose
    crawls reach the local web through ``http_proxy``; yields (base URL, web, workdir)."""
    # scrapyd 1.6 runs every job through pkg_resources, gone from setuptools 81 on; import it
    # in a child process (in this one its DeprecationWarning would be an error).
    check = subprocess.run([sys.executable, "-c", "import pkg_resources"], capture_output=True)
    if check.returncode != 0:
        pytest.fail("scrapyd 1.6 needs pkg_resources: pip install 'setuptools<81'")
    web = LocalWeb()
    web.add(
        "http://home-example.com/",
        '<a href="/about">About</a><a href="http://friend-example.org/">a friend</a>',
    )
    web.add(
        "http://home-example.com/about",
        '<a href="/">Home</a><a rel="nofollow" href="http://ads-example.net/x">ad</a>',
    )
    with LocalWebServer(web) as server:
        workdir = tmp_path / "scrapyd"
        workdir.mkdir()
        port = free_port()
        (workdir / "scrapyd.conf").write_text(
            "[scrapyd]\n"
            f"bind_address = 127.0.0.1\nhttp_port = {port}\n"
            "eggs_dir = eggs\nlogs_dir = logs\ndbs_dir = dbs\nitems_dir =\n"
            "max_proc = 1\npoll_interval = 0.2\n"
        )
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        log = open(workdir / "scrapyd.out", "wb")  # closed in the finally below
        process = subprocess.Popen(
            [sys.executable, "-m", "scrapyd"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if api(base, "daemonstatus.json")["status"] == "ok":
                        break
                except (urllib.error.URLError, ConnectionError):
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("scrapyd did not start:\n" + (workdir / "scrapyd.out").read_text())
                time.sleep(0.2)
            yield base, web, workdir
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def test_scrapyd_deploy_schedule_and_read_parquet(scrapyd_server, tmp_path):
    base, web, workdir = scrapyd_server
    egg = build_egg(tmp_path)
    added = api(
        base,
        "addversion.json",
        [("project", "linkcrawl"), ("version", "r1")],
        files={"egg": egg},
    )
    assert added["status"] == "ok", added
    assert added["spiders"] == 1
    spiders = api(base, "listspiders.json?project=linkcrawl")
    assert spiders["status"] == "ok" and spiders["spiders"] == ["links"], spiders

    data = tmp_path / "data"
    job = api(
        base,
        "schedule.json",
        [
            ("project", "linkcrawl"),
            ("spider", "links"),
            ("seeds", "http://home-example.com/"),
            ("data_dir", str(data)),
            ("crawl_id", "sd1"),
            # one JOBDIR per crawl id, where `linkcrawl crawl --resume` looks for it
            ("setting", f"JOBDIR={data / '.jobs' / 'sd1'}"),
            ("setting", "AUTOTHROTTLE_ENABLED=0"),
            ("setting", "DOWNLOAD_DELAY=0"),
        ],
    )
    assert job["status"] == "ok", job
    deadline = time.monotonic() + 120
    while True:
        jobs = api(base, "listjobs.json?project=linkcrawl")
        assert jobs["status"] == "ok", jobs
        if any(j["id"] == job["jobid"] for j in jobs["finished"]):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.3)

    log = (workdir / "logs" / "linkcrawl" / "links" / f"{job['jobid']}.log").read_text()
    assert "Traceback" not in log, log
    manifest = json.loads((data / "crawls" / "sd1.json").read_text())
    assert manifest["status"] == "finished", manifest
    edges = pd.read_parquet(data / "edges")
    pages = pd.read_parquet(data / "pages")
    assert set(edges.crawl_id.astype(str)) == {"sd1"}
    # the two pages above, by hand: four links, one of them nofollow
    assert set(zip(edges.source, edges.target, edges.follow, strict=True)) == {
        ("http://home-example.com/", "http://home-example.com/about", True),
        ("http://home-example.com/", "http://friend-example.org/", True),
        ("http://home-example.com/about", "http://home-example.com/", True),
        ("http://home-example.com/about", "http://ads-example.net/x", False),
    }
    assert sorted(pages.url) == ["http://home-example.com/", "http://home-example.com/about"]
    assert (pages.status == 200).all()
    # the crawl went through the local web, and only to the crawled site
    assert {host for _, host, _ in web.requests} == {"home-example.com"}
    assert (data / ".jobs" / "sd1").is_dir()


def test_scrapyd_reports_a_bad_egg_as_an_error_status(scrapyd_server, tmp_path):
    base, _, _ = scrapyd_server
    bad = tmp_path / "bad.egg"
    bad.write_bytes(b"not a zip file")
    answer = api(
        base, "addversion.json", [("project", "linkcrawl"), ("version", "r0")], {"egg": bad}
    )
    assert answer["status"] == "error"  # HTTP 200 all the same
