"""The README's Python snippets run, as written, against the output of a demo crawl."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from linkcrawl.analysis import analyze
from tests.conftest import ROOT


def python_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run_snippet(snippet: str, cwd) -> str:
    result = subprocess.run(
        [sys.executable, "-c", snippet], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_has_snippets():
    assert python_snippets()


def test_readme_snippets_run_on_the_demo_crawl(demo_crawl, tmp_path):
    data, crawl_id = demo_crawl
    analyze(data, crawl_id=crawl_id)
    (tmp_path / "data").symlink_to(data)
    for snippet in python_snippets():
        assert "alpha-example.com" in run_snippet(snippet, tmp_path)


def test_readme_snippets_count_one_crawl_of_several(demo_crawl, tmp_path):
    """With an older copy of the crawl beside it, each snippet reading the edges prints
    what it prints for the crawl alone: counts over every crawl in data/ would double."""
    data, crawl_id = demo_crawl
    analyze(data, crawl_id=crawl_id)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    (one / "data").symlink_to(data)
    shutil.copytree(data, two / "data")
    root = two / "data"
    for table in ("edges", "pages"):
        shutil.copytree(root / table / f"crawl_id={crawl_id}", root / table / "crawl_id=older")
    manifest = json.loads((root / "crawls" / f"{crawl_id}.json").read_text())
    started = datetime.fromisoformat(manifest["started_at"]) - timedelta(days=7)
    manifest.update(crawl_id="older", started_at=started.isoformat())
    (root / "crawls" / "older.json").write_text(json.dumps(manifest))
    readers = [s for s in python_snippets() if "data/edges" in s]
    assert len(readers) == 3  # pandas, DuckDB, polars
    for snippet in readers:
        alone = run_snippet(snippet, one)
        assert sorted(run_snippet(snippet, two).splitlines()) == sorted(alone.splitlines())


def test_readme_tree_shows_every_package_folder():
    """ "How it is built" names each subpackage of linkcrawl/ (by its folder), so the tree
    a newcomer reads is the one on disk."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## How it is built\n", 1)[1].split("\n## ", 1)[0]
    package = ROOT / "linkcrawl"
    folders = {p.parent.relative_to(package) for p in package.rglob("__init__.py")}
    for folder in sorted(folders - {Path(".")}):
        assert f"  {folder.name}/" in section, folder
