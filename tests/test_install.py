"""A stranger's install: `make dist` builds a wheel that carries the demo web and declares the
dependencies, it installs into a fresh virtual environment outside the checkout, and
`linkcrawl demo` then runs from any folder; `make demo` installs the base dependencies only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.conftest import ROOT, run_linkcrawl

WEB = ROOT / "linkcrawl" / "demo" / "web"


def clean_env() -> dict[str, str]:
    """The environment without what would let the checkout leak into an installed run."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "http_proxy", "no_proxy")
    return {k: v for k, v in os.environ.items() if k not in drop and k.lower() not in drop}


def demo_files() -> dict[str, bytes]:
    """Every file of the demo web in the checkout, by its path inside the package."""
    return {
        str(path.relative_to(ROOT)): path.read_bytes()
        for path in WEB.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def test_demo_runs_from_another_folder_without_web_dir(tmp_path):
    """The demo web is found through the package, not the working directory (it used to be
    read from ./data/demo-web, so `linkcrawl demo` worked only at the repository root)."""
    result = run_linkcrawl(["demo"], cwd=tmp_path, timeout=180)
    assert result.returncode == 0, result.stderr
    hosts = sorted(p.name for p in WEB.iterdir() if p.is_dir())
    assert f"serving {len(hosts)} demo sites" in result.stderr
    assert "Best backlinks of alpha-example.com" in result.stdout
    (manifest,) = (tmp_path / "data" / "crawls").glob("*.json")
    assert json.loads(manifest.read_text())["status"] == "finished"


def make_dry_run(tmp_path: Path, target: str) -> str:
    """The commands `make TARGET` would run in a checkout with no .venv yet."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    result = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_demo_installs_the_base_dependencies_only(tmp_path):
    installs = [line for line in make_dry_run(tmp_path, "demo").splitlines() if " -e " in line]
    assert installs == [".venv/bin/python -m pip install --quiet -e ."]


def test_make_test_provisions_first_and_installs_the_test_extras(tmp_path):
    lines = make_dry_run(tmp_path, "test").splitlines()
    provision = lines.index(".ci/provision")
    extras = next(i for i, line in enumerate(lines) if '-e ".[' in line)
    pytest_line = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert provision < extras < pytest_line
    assert "test" in lines[extras].partition('".[')[2].rstrip('"]').split(",")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel `make dist` builds (into a folder of the test's own)."""
    dist = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        ["make", "-C", str(ROOT), "dist", f"DIST={dist}", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stderr
    (found,) = dist.glob("linkcrawl-*.whl")
    return found


@pytest.mark.slow
def test_wheel_carries_the_demo_web_and_declares_the_dependencies(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        web = {name: archive.read(name) for name in names if name.startswith("linkcrawl/demo/web/")}
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = archive.read(metadata).decode().split("\n\n", 1)[0].splitlines()
    assert web == demo_files()
    assert {name.split("/", 1)[0] for name in names} == {"linkcrawl", metadata.split("/")[0]}
    # A plain `pip install` pulls what pyproject.toml declares: the wheel says so.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    required = [
        Requirement(line.partition(": ")[2])
        for line in headers
        if line.startswith("Requires-Dist: ")
    ]
    base = {(r.name, str(r.specifier)) for r in required if r.marker is None}
    assert base == {(r.name, str(r.specifier)) for r in map(Requirement, declared)}
    assert "License-Expression: Apache-2.0" in headers


@pytest.mark.slow
def test_wheel_installs_and_runs_the_demo_outside_the_checkout(wheel, tmp_path):
    """The wheel in a fresh venv outside the repository, run from a folder of its own.

    The venv gets linkcrawl from the wheel alone (``--no-deps``) and its dependencies from
    this test run's environment through a ``.pth`` line: installing them from the package
    index would take about 1 GB and minutes on every run, while the dependency list itself
    is checked in the wheel's metadata above. A ``.pth`` line only appends a folder to
    ``sys.path``, after the venv's own site-packages and without running that folder's own
    ``.pth`` files, so an editable install of the checkout there cannot shadow the wheel;
    the test checks that linkcrawl and its demo web are read from inside the new venv.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    install = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    assert install.returncode == 0, install.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    deps = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site) / "linkcrawl_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args),
            cwd=elsewhere,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=clean_env(),
        )

    where = run(
        str(python),
        "-c",
        "import linkcrawl, linkcrawl.demo; print(linkcrawl.__file__); "
        "print(linkcrawl.demo.web_root())",
    )
    assert where.returncode == 0, where.stderr
    module, web = (Path(line) for line in where.stdout.splitlines())
    assert module.is_relative_to(venv) and web.is_relative_to(venv)
    assert not module.is_relative_to(ROOT)

    linkcrawl = str(venv / "bin" / "linkcrawl")
    usage = run(linkcrawl, "--help")
    assert usage.returncode == 0, usage.stderr
    assert "demo" in usage.stdout
    demo_usage = run(linkcrawl, "demo", "--help")
    assert demo_usage.returncode == 0, demo_usage.stderr
    assert "--web" in demo_usage.stdout

    demo = run(linkcrawl, "demo", timeout=180)
    assert demo.returncode == 0, demo.stderr
    assert "Top domains by authority" in demo.stdout
    assert "Best backlinks of alpha-example.com" in demo.stdout
    (manifest,) = (elsewhere / "data" / "crawls").glob("*.json")
    assert json.loads(manifest.read_text())["status"] == "finished"


def server_instructions() -> dict[str, str]:
    """The texts that tell a stranger how to install linkcrawl on a server."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Run on a server") :]
    texts = {"README.md, Run on a server": section.split("\n## ", 1)[0]}
    for path in [ROOT / "docs" / "server.md", *sorted((ROOT / "contrib").rglob("*.*"))]:
        texts[str(path.relative_to(ROOT))] = path.read_text()
    return texts


def test_server_instructions_name_docs_that_exist():
    named = {
        (where, doc)
        for where, text in server_instructions().items()
        for doc in re.findall(r"docs/[\w.-]+\.md", text)
    }
    assert ("contrib/systemd/linkcrawl-crawl.service", "docs/server.md") in named
    assert [(where, doc) for where, doc in named if not (ROOT / doc).is_file()] == []


def test_server_instructions_install_a_wheel_or_a_checkout_not_an_index_name():
    """linkcrawl has no package index entry: `pip install linkcrawl` would fail, or install
    whatever someone else published under that name."""
    installs = [
        (where, match.group(1))
        for where, text in server_instructions().items()
        for match in re.finditer(r"pip install (?:--?\w[\w-]* )*'?([^\s'`]+)", text)
    ]
    assert installs
    from_index = [
        (where, what)
        for where, what in installs
        if not what.startswith(("/", "./", "dist/")) and what.split("[")[0] in ("linkcrawl", "")
    ]
    assert from_index == []
