"""A crawl whose seeds all fail exits non-zero with one line naming the cause, its manifest
says ``failed``, and a scheduled job's analyze, diff and prune pass over it."""

from __future__ import annotations

import json

import pytest

from linkcrawl.crawl.runner import read_seeds_file
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource, WebRequest
from linkcrawl.spiders.links import parse_seeds
from tests.conftest import FAST, run_linkcrawl


def site(request: WebRequest) -> Resource | None:
    """ok-example.com: a page that links to its own second page; down-example.com: 503
    (but for robots.txt, which is not there: a 503 there would disallow every page)."""
    if request.host.startswith("down") and request.path != "/robots.txt":
        return Resource(503, {"Content-Type": "text/html"}, b"<h1>maintenance</h1>")
    if request.host == "ok-example.com" and request.path in ("/", "/2"):
        return Resource(200, {"Content-Type": "text/html"}, b'<a href="/2">two</a>')
    return None


def last_line(stderr: str) -> str:
    """The one line that says why, last, after the crawl's progress lines."""
    lines = stderr.strip().splitlines()
    assert len([line for line in lines if line.startswith("Error:")]) == 1, stderr
    return lines[-1]


def manifest(data, crawl_id: str) -> dict:
    return json.loads((data / "crawls" / f"{crawl_id}.json").read_text())


@pytest.mark.slow
def test_a_crawl_whose_seeds_all_fail_is_failed_and_skipped_by_the_job(tmp_path, free_port_url):
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=site)) as server:
        for crawl_id in ("good1", "good2"):
            good = run_linkcrawl(
                ["crawl", "ok-example.com", "--data", str(data), "--crawl-id", crawl_id, *FAST],
                proxy=server.proxy_url,
            )
            assert good.returncode == 0, good.stderr
        down = run_linkcrawl(
            ["crawl", "down-example.com", "--data", str(data), "--crawl-id", "down", *FAST],
            proxy=server.proxy_url,
        )
        # No proxy: a name that does not resolve, and loopback, which the guard refuses.
        unreachable = run_linkcrawl(
            [
                "crawl",
                "http://nosuch.invalid/",
                free_port_url,
                "--data",
                str(data),
                "--crawl-id",
                "unreachable",
                *FAST,
            ]
        )
        analyzed = run_linkcrawl(["analyze", "--data", str(data)])
        diffed = run_linkcrawl(["diff", "--data", str(data), "--format", "json"])
        pruned = run_linkcrawl(["prune", "--keep", "2", "--data", str(data)])

    assert down.returncode == 1
    assert down.stdout == ""
    assert last_line(down.stderr) == "Error: crawl down failed: its seed failed (HTTP 503)"
    assert "Traceback" not in down.stderr
    assert manifest(data, "down")["status"] == "failed"
    assert manifest(data, "down")["failure"] == "its seed failed (HTTP 503)"

    assert unreachable.returncode == 1, unreachable.stderr
    assert last_line(unreachable.stderr) == (
        "Error: crawl unreachable failed: all 2 seeds failed "
        "(1 DNS lookup failed, 1 refused by the address guard)"
    )
    assert manifest(data, "unreachable")["status"] == "failed"

    # The newest good crawl is the one analyze, diff and prune see.
    assert analyzed.returncode == 0, analyzed.stderr
    assert (data / "authority" / "crawl_id=good2").is_dir()
    assert not (data / "authority" / "crawl_id=unreachable").exists()
    assert diffed.returncode == 0, diffed.stderr
    assert json.loads(diffed.stdout)["rows"] == []  # good1 -> good2: the same links
    assert pruned.returncode == 0, pruned.stderr
    kept = {p.stem for p in (data / "crawls").glob("*.json")}
    assert {"good1", "good2"} <= kept  # the failed crawls are not among the 2 kept


@pytest.mark.slow
def test_a_crawl_of_several_workers_whose_seeds_all_fail_is_failed(tmp_path):
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=site)) as server:
        result = run_linkcrawl(
            [
                "crawl",
                "down-example.com",
                "down-example.org",
                "--workers",
                "2",
                "--data",
                str(data),
                "--crawl-id",
                "w",
                *FAST,
            ],
            proxy=server.proxy_url,
        )
    assert result.returncode == 1, result.stderr
    assert last_line(result.stderr) == ("Error: crawl w failed: all 2 seeds failed (2 HTTP 503)")
    assert manifest(data, "w")["status"] == "failed"
    assert manifest(data, "w")["workers"] == 2


def test_a_failed_crawl_cannot_be_resumed(tmp_path):
    data = tmp_path / "data"
    with LocalWebServer(LocalWeb(handler=site)) as server:
        down = run_linkcrawl(
            ["crawl", "down-example.com", "--data", str(data), "--crawl-id", "d", *FAST],
            proxy=server.proxy_url,
        )
        assert down.returncode == 1
        again = run_linkcrawl(["crawl", "--resume", "d", "--data", str(data)])
        resumed_newest = run_linkcrawl(
            ["crawl", "--resume-interrupted", "down-example.com", "--data", str(data), *FAST],
            proxy=server.proxy_url,
        )
        analyzed = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", "d"])
    assert analyzed.returncode == 1
    assert analyzed.stderr.strip().splitlines()[-1] == (
        "Error: crawl d failed (its seed failed (HTTP 503)): there is nothing to analyze"
    )
    assert "Traceback" not in analyzed.stderr
    assert not (data / "authority").exists()
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "Error: cannot resume d: it failed (its seed failed (HTTP 503)); start a new crawl"
    ]
    # A scheduled run after a failed one starts a new crawl (which fails too, here).
    assert resumed_newest.returncode == 1
    assert "crawl d failed" not in resumed_newest.stderr


@pytest.mark.parametrize(
    "seed", ["http:/host.example", "http:host.example", "mailto:a@b.example", "ftp://x.example/"]
)
def test_a_bad_seed_argument_is_reported_as_a_bad_seeds_file_line_is(tmp_path, seed):
    result = run_linkcrawl(["crawl", seed, "--data", str(tmp_path / "data")])
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"Error: bad seed: not an http(s) URL: {seed!r}"]
    assert not (tmp_path / "data" / "crawls").exists()
    seeds = tmp_path / "seeds.txt"
    seeds.write_text(f"{seed}\nhost.example\n")
    assert read_seeds_file(seeds) == (
        ["http://host.example/"],
        [f"{seeds}:1: not an http(s) URL: {seed!r}"],
    )


def test_seed_rule():
    problems: list[str] = []
    assert parse_seeds(
        ["example.com", "example.com:8080/x", "HTTPS://Example.com/a", "http:/x.example"], problems
    ) == ["http://example.com/", "http://example.com:8080/x", "https://example.com/a"]
    assert problems == ["not an http(s) URL: 'http:/x.example'"]


@pytest.fixture
def free_port_url():
    from tests.conftest import free_port

    return f"http://127.0.0.1:{free_port()}/"


def test_a_crawl_stopped_before_its_first_page_is_not_analysed(tmp_path):
    """An interrupted crawl with no rows on disk (stopped during start-up): one line, not a
    division by zero from the empty graph's scale."""
    data = tmp_path / "data"
    (data / "crawls").mkdir(parents=True)
    (data / "crawls" / "e.json").write_text(
        json.dumps(
            {
                "crawl_id": "e",
                "status": "interrupted",
                "seeds": ["http://ok-example.com/"],
                "started_at": "2026-12-01T03:00:00.000000+00:00",
                "finished_at": "2026-12-01T03:00:01.000000+00:00",
                "counts": {"pages": 0, "edges": 0, "errors": 0},
                "schema_version": 1,
            }
        )
    )
    analyzed = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", "e"])
    assert analyzed.returncode == 1, analyzed.stderr
    assert analyzed.stderr.strip().splitlines()[-1] == (
        "Error: crawl e has no pages on disk: there is nothing to analyze"
    )
    assert not (data / "authority").exists()


def test_crawl_failed_is_importable_from_the_runner_for_one_release():
    from linkcrawl.crawl.runner import CrawlFailed as old
    from linkcrawl.errors import CrawlFailed, LinkcrawlError

    assert old is CrawlFailed and issubclass(CrawlFailed, LinkcrawlError)
    assert CrawlFailed("crawl c1 failed: its seed failed", "c1").crawl_id == "c1"
