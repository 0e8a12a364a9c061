"""Crawl manifests: one form, whoever writes them (a crawl, a --workers crawl, an import)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from linkcrawl.dataset.manifest import build_manifest, read_manifest
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource, WebRequest
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import FAST, run_linkcrawl

# The manifest's fields, as docs/dataset.md and the design card describe them.
FIELDS = {
    "crawl_id",
    "schema_version",
    "status",
    "finish_reason",
    "failure",
    "seeds",
    "scope",
    "options",
    "settings",
    "versions",
    "started_at",
    "resumed_at",
    "resumes",
    "finished_at",
    "pid",
    "host",
    "locked",
    "workers",
    "distributed",
    "counts",
    "skipped",
    "since",
    "imported",
    "source",
    "archives",
    "problems",
    "render",
}
# format_time's form: UTC, microseconds, +00:00.
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")


def _two_sites(request: WebRequest) -> Resource | None:
    """a-example.com and b-example.com: a home page linking to three leaves, and to the
    other site's home page."""
    if request.host not in ("a-example.com", "b-example.com"):
        return None
    other = "b-example.com" if request.host == "a-example.com" else "a-example.com"
    if request.path == "/":
        links = "".join(f'<a href="/p{i}">{i}</a>' for i in range(3))
        links += f'<a href="http://{other}/">other</a>'
        return Resource(200, {"Content-Type": "text/html"}, links.encode())
    if request.path.startswith("/p"):
        return Resource(200, {"Content-Type": "text/html"}, b"<p>leaf</p>")
    return None


@pytest.mark.slow
def test_a_crawl_a_workers_crawl_and_an_import_write_the_same_fields(tmp_path):
    seeds = ["http://a-example.com/", "http://b-example.com/"]
    with LocalWebServer(LocalWeb(handler=_two_sites)) as server:
        for name, extra in (("one", []), ("two", ["--workers", "2"])):
            result = run_linkcrawl(
                ["crawl", *seeds, "--data", str(tmp_path), "--crawl-id", name, *extra, *FAST],
                proxy=server.proxy_url,
            )
            assert result.returncode == 0, result.stderr
    edges = pd.DataFrame({"source": ["http://x.example/"], "target": ["http://y.example/"]})
    import_edges(tmp_path, edges, "three")

    manifests = {}
    for name in ("one", "two", "three"):
        raw = json.loads((tmp_path / "crawls" / f"{name}.json").read_text())
        assert set(raw) == FIELDS, name
        manifest = read_manifest(tmp_path / "crawls" / f"{name}.json")
        assert manifest.status == "finished"
        for time in ("started_at", "finished_at"):
            assert TIME.match(raw[time]), (name, time, raw[time])
        manifests[name] = raw
    one, two, three = manifests["one"], manifests["two"], manifests["three"]
    # By hand: each site has 4 pages (its home page and 3 leaves); each home page has 4
    # links (its leaves and the other home page), each leaf none.
    assert one["counts"] == two["counts"] == {"pages": 8, "edges": 8, "errors": 0, "sitemaps": 0}
    assert one["scope"] == two["scope"] == ["a-example.com", "b-example.com"]
    assert (one["workers"], two["workers"], three["workers"]) == (1, 2, 1)
    assert (one["imported"], two["imported"], three["imported"]) == (False, False, True)
    assert one["settings"] == two["settings"]  # the effective settings, both alike
    assert three["counts"] == {"pages": 1, "edges": 1, "errors": 0}


def test_build_manifest_refuses_an_undeclared_field():
    with pytest.raises(TypeError, match="unknown manifest field colour"):
        build_manifest("c1", status="running", colour="blue")


def test_a_resumed_run_keeps_its_start_and_adds_the_time_it_opened():
    from datetime import UTC, datetime

    first = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    again = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    new = build_manifest("c1", opened_at=first, status="running")
    assert new["started_at"] == "2026-11-22T03:00:00.000000+00:00"
    assert new["resumed_at"] == []
    resumed = build_manifest("c1", base=new, opened_at=again, status="running")
    assert resumed["started_at"] == new["started_at"]
    assert resumed["resumed_at"] == ["2026-11-23T03:00:00.000000+00:00"]
