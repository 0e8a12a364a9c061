"""The README's Python snippets run, as written, against the output of a demo crawl."""

from __future__ import annotations

import re
import subprocess
import sys

from linkcrawl.analysis import analyze
from tests.conftest import ROOT


def python_snippets() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_snippets():
    assert python_snippets()


def test_readme_snippets_run_on_the_demo_crawl(demo_crawl, tmp_path):
    data, crawl_id = demo_crawl
    analyze(data, crawl_id=crawl_id)
    (tmp_path / "data").symlink_to(data)
    for snippet in python_snippets():
        result = subprocess.run(
            [sys.executable, "-c", snippet],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "alpha-example.com" in result.stdout
