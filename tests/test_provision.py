""".ci/provision, which `make test` and .ci/run call: the system programs the tests run
(redis-server, chromium) are there, installed as root, or named in one line; and tests whose
../shared/data material is missing skip, or fail in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REQUIRE_SHARED_DATA, ROOT, need_shared_data

PROVISION = ROOT / ".ci" / "provision"


@pytest.fixture
def bare_path() -> Iterator[Path]:
    """A PATH folder holding only the shell and `id`: no redis-server, no apt-get. Readable
    by every user, as the unprivileged run below needs."""
    folder = Path(tempfile.mkdtemp(prefix="linkcrawl-path-"))
    try:
        folder.chmod(0o755)
        for tool in ("bash", "id"):
            (folder / tool).symlink_to(shutil.which(tool))
        yield folder
    finally:
        shutil.rmtree(folder)


def provision(path: Path, *args: str, as_nobody: bool = False) -> subprocess.CompletedProcess:
    command = [str(PROVISION), *args]
    if as_nobody:
        command = [
            shutil.which("setpriv") or "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            *command,
        ]
    return subprocess.run(
        command, env={"PATH": str(path)}, capture_output=True, text=True, timeout=60
    )


def test_without_redis_and_not_root_a_line_each_says_what_to_install(bare_path):
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop privileges")
    result = provision(bare_path, as_nobody=os.geteuid() == 0)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: tests/test_distributed.py needs redis-server: install it "
        "(sudo apt-get install redis-server) and run make test again",
        "error: tests/test_render.py needs chromium-headless-shell: install it "
        "(sudo apt-get install chromium-headless-shell) and run make test again",
    ]
    assert "Traceback" not in result.stderr


def test_as_root_dry_run_names_the_install_and_runs_nothing(bare_path):
    if os.geteuid() != 0:
        pytest.skip("the install branch runs as root only")
    # apt-get is there, redis-server is not: a real run would install it.
    (bare_path / "apt-get").symlink_to(shutil.which("apt-get") or "/usr/bin/apt-get")
    result = provision(bare_path, "--dry-run")
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("would run: apt-get update && apt-get install -y")
    assert {"redis-server", "chromium-headless-shell"} <= set(line.split())


def test_with_everything_installed_it_does_nothing():
    programs = ("redis-server", "chromium-headless-shell")
    if any(shutil.which(p) is None for p in programs) or not Path("/usr/bin/chromium").exists():
        pytest.skip("redis-server, chromium-headless-shell or chromium is not installed here")
    folders = {str(Path(shutil.which(p) or "").parent) for p in programs}
    result = provision(Path(os.pathsep.join(sorted(folders))), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


def test_missing_shared_data_skips_and_fails_in_ci(tmp_path, monkeypatch):
    missing = tmp_path / "shared" / "data" / "graphs"
    monkeypatch.delenv(REQUIRE_SHARED_DATA, raising=False)
    with pytest.raises(pytest.skip.Exception, match="is absent"):
        need_shared_data(missing)
    monkeypatch.setenv(REQUIRE_SHARED_DATA, "1")
    with pytest.raises(pytest.fail.Exception, match=REQUIRE_SHARED_DATA):
        need_shared_data(missing)
    assert need_shared_data(tmp_path) == tmp_path


def test_ci_requires_the_shared_data_and_runs_make_test_then_lint():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert f"export {REQUIRE_SHARED_DATA}=1" in lines
    commands = [line for line in lines if line and not line.startswith(("#", "set ", "cd "))]
    assert commands[-2:] == ["make test", "make lint"]
