"""The command line: bad input gives one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from linkcrawl.cli import main
from linkcrawl.errors import DatasetError
from tests.conftest import FAST, ROOT, run_linkcrawl


def invoke(args):
    return CliRunner().invoke(main, args, catch_exceptions=False)


def assert_one_line_error(result, *words):
    assert result.exit_code != 0
    err = result.stderr if hasattr(result, "stderr") else result.output
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]


def test_missing_seeds_file(tmp_path):
    result = invoke(["crawl", "--seeds", str(tmp_path / "nope.txt"), "--data", str(tmp_path)])
    assert_one_line_error(result, "nope.txt", "does not exist")


def test_seeds_file_without_urls(tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("# only a comment\n\n   \n")
    result = invoke(["crawl", "--seeds", str(seeds), "--data", str(tmp_path)])
    assert_one_line_error(result, "no URL")


def test_data_directory_with_no_crawl(tmp_path):
    for command in (["analyze"], ["domains"], ["backlinks", "example.com"]):
        result = invoke([*command, "--data", str(tmp_path)])
        assert_one_line_error(result, str(tmp_path))


def test_missing_data_directory(tmp_path):
    result = invoke(["domains", "--data", str(tmp_path / "absent")])
    assert_one_line_error(result, "no such data directory")


def test_unknown_crawl_id(demo_crawl):
    data, _ = demo_crawl
    result = invoke(["analyze", "--data", str(data), "--crawl-id", "nosuchcrawl"])
    assert_one_line_error(result, "nosuchcrawl")


def test_engine_options_belong_to_their_engine(demo_crawl):
    data, _ = demo_crawl
    result = invoke(["analyze", "--data", str(data), "--memory-limit", "1GB"])
    assert_one_line_error(result, "--memory-limit applies to --engine duckdb, not sparse")
    result = invoke(["analyze", "--data", str(data), "--engine", "duckdb", "--master", "local"])
    assert_one_line_error(result, "--master applies to --engine spark, not duckdb")
    result = invoke(["analyze", "--data", str(data), "--engine", "igraph"])
    assert_one_line_error(result, "igraph")
    # From Python: an option the engine does not take is one line too, not a TypeError.
    from linkcrawl.analysis import analyze

    with pytest.raises(DatasetError, match="the duckdb engine takes no option master"):
        analyze(data, engine="duckdb", engine_options={"master": "local[2]"})


def test_bad_setting_and_bad_crawl_id(tmp_path):
    result = invoke(["crawl", "http://example.com/", "--data", str(tmp_path), "-s", "NOEQUALS"])
    assert_one_line_error(result, "NOEQUALS")
    result = invoke(
        ["crawl", "http://example.com/", "--data", str(tmp_path), "--crawl-id", "20261122"]
    )
    assert_one_line_error(result, "reads as a number")


def test_resume_unknown_crawl(tmp_path):
    result = invoke(["crawl", "--resume", "nothere", "--data", str(tmp_path)])
    assert_one_line_error(result, "nothere")


@pytest.mark.slow
def test_crawl_command_prints_crawl_id_and_progress(demo_server, tmp_path):
    result = run_linkcrawl(
        [
            "crawl",
            "http://www.echo-example.io/",
            "--data",
            str(tmp_path),
            "--crawl-id",
            "c1",
            "--same-host",
            *FAST,
        ],
        proxy=demo_server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "c1"
    assert "pages" in result.stderr and "links" in result.stderr
    assert "Traceback" not in result.stderr
    # a second crawl with the same id is refused, and the first one is left as it was
    again = run_linkcrawl(
        ["crawl", "http://www.echo-example.io/", "--data", str(tmp_path), "--crawl-id", "c1"],
        proxy=demo_server.proxy_url,
    )
    assert again.returncode != 0
    assert again.stderr.strip().splitlines() == [
        f"Error: crawl c1 already exists in {tmp_path}: choose another --crawl-id, or --resume c1"
    ]


def test_scrapy_list_from_the_project_root():
    result = subprocess.run(
        [sys.executable, "-m", "scrapy", "list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["links"]


@pytest.mark.slow
def test_scrapy_crawl_from_the_project_root(demo_server, tmp_path):
    env = {**os.environ, "http_proxy": demo_server.proxy_url}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "scrapy",
            "crawl",
            "links",
            "-a",
            "seeds=http://www.echo-example.io/,http://golf-example.github.io/",
            "-a",
            f"data_dir={tmp_path}",
            "-a",
            "crawl_id=s1",
            *FAST,
            "-s",
            "LOG_LEVEL=WARNING",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    pages = pd.read_parquet(tmp_path / "pages")
    assert {"http://www.echo-example.io/", "http://golf-example.github.io/"} <= set(pages.url)
    assert json.loads((tmp_path / "crawls" / "s1.json").read_text())["status"] == "finished"


@pytest.mark.slow
def test_seeds_file_with_garbage_lines_uses_the_good_ones(demo_server, tmp_path):
    seeds = tmp_path / "seeds.txt"
    seeds.write_bytes(
        b"# demo seeds\n"
        b"http://www.echo-example.io/   # the tech blog\n"
        b"not a url at all\n"
        b"ftp://files.example.com/\n"
        b"\xff\xfe garbage bytes\n"
        b"golf-example.github.io\n"
    )
    result = run_linkcrawl(
        [
            "crawl",
            "--seeds",
            str(seeds),
            "--data",
            str(tmp_path / "d"),
            "--crawl-id",
            "g1",
            "--max-depth",
            "0",
            *FAST,
        ],
        proxy=demo_server.proxy_url,
    )
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(":")[2] for w in warnings] == ["3", "4", "5"]
    pages = pd.read_parquet(tmp_path / "d" / "pages")
    assert set(pages.url) == {"http://www.echo-example.io/", "http://golf-example.github.io/"}


def test_data_directory_that_cannot_be_written(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = invoke(["crawl", "http://example.com/", "--data", str(not_a_dir)])
    assert_one_line_error(result, "is a file")
    result = invoke(["crawl", "http://example.com/", "--data", "/proc/linkcrawl-data"])
    assert_one_line_error(result, "/proc/linkcrawl-data")


def test_link_weights_from_a_settings_module_and_from_options(demo_crawl, tmp_path):
    import shutil

    data, crawl_id = demo_crawl
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    (tmp_path / "site_settings.py").write_text('LINKCRAWL_POSITION_WEIGHTS = {"footer": 0.0}\n')

    def footer_values(*args, env=None):
        result = subprocess.run(
            [sys.executable, "-m", "linkcrawl.cli", "analyze", "--data", str(copy), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **(env or {})},
        )
        assert result.returncode == 0, result.stderr
        inbound = pd.read_parquet(copy / "authority" / f"crawl_id={crawl_id}" / "inbound.parquet")
        return inbound[inbound.position == "footer"].value

    assert (footer_values() > 0).any()  # the default footer weight is 0.25
    own = {"SCRAPY_SETTINGS_MODULE": "site_settings", "PYTHONPATH": str(tmp_path)}
    assert (footer_values(env=own) == 0).all()
    assert (footer_values("--position-weight", "footer=0") == 0).all()
    assert (footer_values("--position-weight", "footer=0.5", env=own) > 0).any()


def test_skip_corrupt_reads_around_a_truncated_part(demo_crawl, tmp_path):
    import shutil

    data, crawl_id = demo_crawl
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    # a second part in the crawl's partition, cut short as a crash mid-copy would leave it
    partition = copy / "edges" / f"crawl_id={crawl_id}"
    good = sorted(partition.glob("*.parquet"))[0]
    bad = partition / "part-99999.parquet"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])

    result = invoke(["analyze", "--data", str(copy), "--crawl-id", crawl_id])
    assert_one_line_error(result, str(bad))
    result = CliRunner().invoke(
        main, ["analyze", "--data", str(copy), "--crawl-id", crawl_id, "--skip-corrupt"]
    )
    assert result.exit_code == 0, result.output
    assert f"skipped {bad}" in result.stderr
    domains = CliRunner().invoke(
        main, ["domains", "--data", str(copy), "--skip-corrupt", "--format", "csv"]
    )
    assert domains.exit_code == 0 and "alpha-example.com" in domains.stdout
