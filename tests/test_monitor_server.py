"""The server files in contrib/: the systemd units pass systemd's own checker, and the cron
line crawls, analyses and prunes, and skips a run while the previous one holds its lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from tests.conftest import ROOT

CONTRIB = ROOT / "contrib"


def unit_settings(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            found.setdefault(name.strip(), []).append(value.strip())
    return found


def test_systemd_units_say_what_the_issue_asks():
    service = unit_settings(CONTRIB / "systemd" / "linkcrawl-crawl.service")
    assert service["Type"] == ["oneshot"]
    assert service["KillSignal"] == ["SIGINT"]
    assert service["KillMode"] == ["mixed"]  # SIGINT once, to the main process only
    assert re.fullmatch(r"\d+min", service["TimeoutStopSec"][0])
    assert [c.split()[1] for c in service["ExecStart"]] == ["crawl", "analyze", "prune"]
    timer = unit_settings(CONTRIB / "systemd" / "linkcrawl-crawl.timer")
    assert timer["Persistent"] == ["true"]
    assert timer["OnCalendar"] and timer["RandomizedDelaySec"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_units_verify(tmp_path):
    # systemd checks that the commands exist: point them at a real executable here.
    service = (CONTRIB / "systemd" / "linkcrawl-crawl.service").read_text()
    service = service.replace("/srv/linkcrawl/venv/bin/linkcrawl", shutil.which("true"))
    service = re.sub(r"(?m)^(User|Group)=.*$", r"\1=root", service)
    (tmp_path / "linkcrawl-crawl.service").write_text(service)
    shutil.copy(CONTRIB / "systemd" / "linkcrawl-crawl.timer", tmp_path)
    result = subprocess.run(
        [
            "systemd-analyze",
            "verify",
            "--man=no",
            "linkcrawl-crawl.service",
            "linkcrawl-crawl.timer",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "linkcrawl-crawl" not in result.stderr, result.stderr  # no warning about our units


def cron_command(home: Path) -> str:
    lines = [
        line
        for line in (CONTRIB / "cron.example").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)
    assert len(fields) == 6  # minute hour day month weekday command
    return fields[5].replace("/srv/linkcrawl", str(home))


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("flock") is None, reason="needs flock (util-linux)")
def test_cron_line_runs_and_skips_while_the_last_run_holds_the_lock(tmp_path):
    home = tmp_path / "srv"
    (home / "venv" / "bin").mkdir(parents=True)
    # the venv the cron line names: this one's linkcrawl, politeness off for our own server
    wrapper = home / "venv" / "bin" / "linkcrawl"
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = crawl ]; then set -- "$@" -s AUTOTHROTTLE_ENABLED=0 '
        f'-s DOWNLOAD_DELAY=0; fi\nexec {sys.executable} -m linkcrawl.cli "$@"\n'
    )
    wrapper.chmod(0o755)
    (home / "seeds.txt").write_text("http://cron-example.com/\n")
    web = LocalWeb()
    web.add(
        "http://cron-example.com/", '<a href="/a">a</a><a href="http://else-example.org/">x</a>'
    )
    web.add("http://cron-example.com/a", '<a href="/">home</a>')
    command = cron_command(home)
    with LocalWebServer(web) as server:
        env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "no_proxy")}
        env["http_proxy"] = server.proxy_url
        # the previous run still holds the lock: this one is skipped, at once
        holder = subprocess.Popen(
            ["flock", str(home / "cron.lock"), "sleep", "30"], start_new_session=True
        )
        try:
            deadline = time.monotonic() + 10
            while subprocess.run(["flock", "-n", str(home / "cron.lock"), "true"]).returncode == 0:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            skipped = subprocess.run(["sh", "-c", command], env=env, timeout=30)
        finally:
            # the lock is held by sleep too (it inherits the descriptor): end both
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        assert skipped.returncode == 1
        assert not (home / "data").exists()
        done = subprocess.run(["sh", "-c", command], env=env, timeout=180)
    log = (home / "crawl.log").read_text()
    assert done.returncode == 0, log
    manifests = [json.loads(p.read_text()) for p in (home / "data" / "crawls").glob("*.json")]
    assert [m["status"] for m in manifests] == ["finished"]
    crawl_id = manifests[0]["crawl_id"]
    assert (home / "data" / "authority" / f"crawl_id={crawl_id}" / "domains.parquet").is_file()
    # prune ran last, and with one crawl of the 30 it keeps, removed none
    assert "removed 0 crawl(s) from data" in log.splitlines()[-1], log
