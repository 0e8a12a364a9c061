"""Bad input on every command: a real analysed dataset, corrupted in many ways, answers
with one line on stderr and a non-zero exit, never a traceback, and loses nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from linkcrawl.cli import main
from linkcrawl.dataset.schemas import SCHEMA_VERSION
from tests.conftest import FAST, run_linkcrawl

pytestmark = pytest.mark.slow

OLD, NEW = "demo0", "demo1"
TARGET = "alpha-example.com"
EDGES = f"edges/crawl_id={NEW}"
PAGES = f"pages/crawl_id={NEW}"
AUTHORITY = f"authority/crawl_id={NEW}"


@pytest.fixture(scope="module")
def analysed(demo_crawl, tmp_path_factory) -> Path:
    """The demo crawl, a copy of it as an older crawl, analysed and audited: every
    command answers on it."""
    source, crawl_id = demo_crawl
    data = tmp_path_factory.mktemp("bad-input") / "data"
    shutil.copytree(source, data)
    for table in ("edges", "pages"):
        shutil.copytree(data / table / f"crawl_id={crawl_id}", data / table / f"crawl_id={OLD}")
    fields = json.loads((data / "crawls" / f"{crawl_id}.json").read_text())
    fields.update(crawl_id=OLD, started_at="2026-01-01T03:00:00+00:00")
    fields["finished_at"] = "2026-01-01T03:10:00+00:00"
    (data / "crawls" / f"{OLD}.json").write_text(json.dumps(fields))
    for args in (["analyze", "--crawl-id", OLD], ["analyze"], ["audit"]):
        result = invoke([*args, "--data", str(data)])
        assert result.exit_code == 0, result.output
    return data


def invoke(args: list[str]) -> object:
    return CliRunner().invoke(main, args)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` and a digest of its bytes (folders as 'dir')."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".staging") or rel.endswith(".lock"):
            continue
        found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# -- corruptions: each changes a copy of the analysed dataset ---------------------------------


def _first_part(data: Path, partition: str) -> Path:
    return sorted((data / partition).glob("*.parquet"))[0]


def _manifest(data: Path, crawl_id: str = NEW) -> Path:
    return data / "crawls" / f"{crawl_id}.json"


def _edit_manifest(data: Path, **changes: object) -> None:
    path = _manifest(data)
    fields = json.loads(path.read_text())
    fields.update(changes)
    path.write_text(json.dumps(fields))


def _restamp(path: Path, version: str) -> None:
    table = pq.read_table(path)
    meta = dict(table.schema.metadata or {})
    meta[b"linkcrawl.schema_version"] = version.encode()
    pq.write_table(table.replace_schema_metadata(meta), path)


def no_parts(data: Path) -> None:
    shutil.rmtree(data / EDGES)
    shutil.rmtree(data / PAGES)


def other_schema(data: Path) -> None:
    pq.write_table(pa.table({"url": ["http://x.example/"], "n": [1]}), _first_part(data, EDGES))


def other_types(data: Path) -> None:
    path = _first_part(data, EDGES)
    table = pq.read_table(path)
    for name in ("ordinal", "follow", "discovered_at"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, table.column(name).cast(pa.string()))
    pq.write_table(table, path)


def pages_other_types(data: Path) -> None:
    path = _first_part(data, PAGES)
    table = pq.read_table(path)
    i = table.schema.get_field_index("status")
    pq.write_table(table.set_column(i, "status", table.column("status").cast(pa.string())), path)


def empty_part(data: Path) -> None:
    (data / EDGES / "part-99999.parquet").write_bytes(b"")


def part_is_a_folder(data: Path) -> None:
    (data / EDGES / "part-99999.parquet").mkdir()


def newer_part(data: Path) -> None:
    _restamp(_first_part(data, EDGES), str(SCHEMA_VERSION + 1))


def newer_manifest(data: Path) -> None:
    _edit_manifest(data, schema_version=SCHEMA_VERSION + 1)


def newer_authority(data: Path) -> None:
    for name in ("pages", "domains", "inbound"):
        _restamp(data / AUTHORITY / f"{name}.parquet", str(SCHEMA_VERSION + 1))


def truncated_authority(data: Path) -> None:
    for name in ("pages", "domains", "inbound"):
        path = data / AUTHORITY / f"{name}.parquet"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def wrong_authority(data: Path) -> None:
    # Each table holds another's rows: readable Parquet, the wrong columns.
    a = data / AUTHORITY
    pages, domains = (a / "pages.parquet").read_bytes(), (a / "domains.parquet").read_bytes()
    (a / "pages.parquet").write_bytes(domains)
    (a / "domains.parquet").write_bytes((a / "inbound.parquet").read_bytes())
    (a / "inbound.parquet").write_bytes(pages)


def authority_is_a_folder(data: Path) -> None:
    path = data / AUTHORITY / "domains.parquet"
    path.unlink()
    path.mkdir()


def manifest_not_json(data: Path) -> None:
    _manifest(data).write_text('{"crawl_id": "demo1", "status": "fini')


def manifest_not_an_object(data: Path) -> None:
    _manifest(data).write_text('["demo1"]')


def manifest_binary(data: Path) -> None:
    _manifest(data).write_bytes(b"\xff\xfe\x00\x01" * 64)


def manifest_is_a_folder(data: Path) -> None:
    _manifest(data).unlink()
    _manifest(data).mkdir()


def crawl_id_with_path(data: Path) -> None:
    _edit_manifest(data, crawl_id="../../etc")


def crawl_id_not_a_string(data: Path) -> None:
    _edit_manifest(data, crawl_id=["demo1"])


def manifest_field_types(data: Path) -> None:
    _edit_manifest(data, started_at=20260101, status=["finished"], counts="many", seeds=7)


CORRUPTIONS: dict[str, Callable[[Path], None]] = {
    f.__name__: f
    for f in (
        no_parts,
        other_schema,
        other_types,
        pages_other_types,
        empty_part,
        part_is_a_folder,
        newer_part,
        newer_manifest,
        newer_authority,
        truncated_authority,
        wrong_authority,
        authority_is_a_folder,
        manifest_not_json,
        manifest_not_an_object,
        manifest_binary,
        manifest_is_a_folder,
        crawl_id_with_path,
        crawl_id_not_a_string,
        manifest_field_types,
    )
}

# The commands that read what each corruption touches, and so must not answer as if all
# were well (they fail, or answer from the rest and say what they skipped). The others
# may answer, since what they read is whole.
_PARTS = {"analyze", "diff", "history", "broken", "report"}
_AUTHORITY = {"backlinks", "domains", "audit", "disavow", "report", "intersect"}
_MANIFEST = _PARTS | _AUTHORITY | {"prune"}
AFFECTED = {
    "no_parts": _PARTS,
    "other_schema": _PARTS - {"broken", "history"},
    "other_types": _PARTS,
    "pages_other_types": {"analyze", "broken"},
    "empty_part": _PARTS,
    "part_is_a_folder": _PARTS,
    "newer_part": _PARTS,
    "newer_manifest": _MANIFEST,
    "newer_authority": _AUTHORITY,
    "truncated_authority": _AUTHORITY,
    "wrong_authority": _AUTHORITY,
    "authority_is_a_folder": {"domains", "audit", "report"},
    "manifest_not_json": _MANIFEST,
    "manifest_not_an_object": _MANIFEST,
    "manifest_binary": _MANIFEST,
    "manifest_is_a_folder": _MANIFEST,
    "crawl_id_with_path": _MANIFEST,
    "crawl_id_not_a_string": _MANIFEST,
    "manifest_field_types": _MANIFEST,
}


def commands(data: Path, out: Path) -> dict[str, list[str]]:
    d = ["--data", str(data)]
    return {
        "analyze": ["analyze", *d],
        "backlinks": ["backlinks", TARGET, *d],
        "domains": ["domains", *d],
        "diff": ["diff", OLD, NEW, *d],
        "history": ["history", TARGET, *d],
        "broken": ["broken", *d],
        "audit": ["audit", *d],
        "disavow": ["disavow", TARGET, *d],
        "intersect": ["intersect", TARGET, "bravo-example.co.uk", *d],
        "report": ["report", TARGET, "--out", str(out / "report.html"), *d],
        "prune": ["prune", "--keep", "1", *d],
    }


def check_one_line(what: str, exit_code: int, stderr: str, output: str) -> list[str]:
    problems = []
    if "Traceback" in stderr or "Traceback" in output:
        problems.append(f"{what}: traceback:\n{stderr[-1500:]}")
    elif exit_code not in (0, 1, 2):
        problems.append(f"{what}: exit {exit_code}:\n{stderr[-800:]}")
    elif exit_code != 0:
        # Progress lines may come first; the error is one line, the last.
        lines = [line for line in stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("Error")]
        if len(errors) != 1 or lines[-1] != errors[0]:
            problems.append(f"{what}: {len(lines)} lines on stderr:\n{stderr[-800:]}")
    return problems


def check_kept(what: str, before: dict[str, str], after: dict[str, str], ok: bool) -> list[str]:
    """Nothing deleted or changed, except what a command that succeeded writes."""
    gone = [p for p in before if p not in after]
    changed = [p for p in before if p in after and after[p] != before[p]]
    if ok and what.startswith("prune"):
        gone = [p for p in gone if f"crawl_id={OLD}" not in p and p != f"crawls/{OLD}.json"]
    if what.startswith(("analyze", "audit")):
        # They rewrite the authority tables; that a write failed midway leaves the old
        # set whole is the authority writer's concern, not this test's.
        changed = [p for p in changed if not p.startswith("authority/")]
    return [f"{what}: {verb} {paths[:5]}" for verb, paths in (("deleted", gone),
            ("changed", changed)) if paths]  # fmt: skip


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_every_read_command_on_a_corrupt_dataset(corruption, analysed, tmp_path):
    problems: list[str] = []
    for name, args in commands(tmp_path / "data", tmp_path).items():
        data = tmp_path / "data"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(analysed, data)
        CORRUPTIONS[corruption](data)
        before = snapshot(data)
        result = invoke(args)
        what = f"{name} on {corruption}"
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            problems.append(f"{what}: raised {result.exception!r}")
            continue
        problems += check_one_line(what, result.exit_code, result.stderr, result.stdout)
        if name in AFFECTED[corruption] and result.exit_code == 0:
            if "skipped" not in result.stderr:
                problems.append(f"{what}: exit 0 without a word:\n{result.stderr[-800:]}")
        problems += check_kept(what, before, snapshot(data), result.exit_code == 0)
    assert not problems, "\n\n".join(problems)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` mounted read-only over itself: root ignores permission bits, not this."""
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_a_read_only_data_directory(analysed, tmp_path):
    """Commands that write into the data directory say in one line that they cannot;
    the others still answer."""
    data = tmp_path / "data"
    shutil.copytree(analysed, data)
    before = snapshot(data)
    problems: list[str] = []
    all_commands = commands(data, tmp_path)
    with read_only(data):
        with pytest.raises(OSError):
            (data / "probe").write_text("")
        for name in ("analyze", "prune", "audit", "report", "domains"):
            result = invoke(all_commands[name])
            what = f"{name} on a read-only directory"
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                problems.append(f"{what}: raised {result.exception!r}")
                continue
            problems += check_one_line(what, result.exit_code, result.stderr, result.stdout)
            # analyze and audit write authority tables, prune removes the older crawl;
            # report writes its page outside the data directory, domains only reads.
            if result.exit_code == 0 and name in ("analyze", "audit", "prune"):
                problems.append(f"{what}: exit 0")
            if result.exit_code != 0 and name in ("report", "domains"):
                problems.append(f"{what}: exit {result.exit_code}: {result.stderr}")
        result = invoke(["analyze", "--crawl-id", OLD, "--data", str(data)])
        problems += check_one_line("analyze OLD", result.exit_code, result.stderr, result.stdout)
    problems += check_kept("read-only", before, snapshot(data), False)
    assert not problems, "\n\n".join(problems)


# -- the crawl command -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "corruption",
    ["no_parts", "other_types", "empty_part", "newer_part", "newer_manifest",
     "manifest_not_json", "manifest_not_an_object", "crawl_id_with_path"],
)  # fmt: skip
def test_resume_of_a_corrupt_crawl(corruption, analysed, demo_server, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(analysed, data)
    _edit_manifest(data, status="interrupted")
    CORRUPTIONS[corruption](data)
    before = snapshot(data)
    result = run_linkcrawl(
        ["crawl", "--resume", NEW, "--data", str(data), *FAST], proxy=demo_server.proxy_url
    )
    problems = check_one_line(corruption, result.returncode, result.stderr, result.stdout)
    if result.returncode == 0:
        problems.append(f"{corruption}: exit 0\n{result.stderr[-800:]}")
    problems += check_kept(corruption, before, snapshot(data), False)
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize(
    "setting",
    ["CONCURRENT_REQUESTS=many", "DOWNLOAD_DELAY=soon", "LINKCRAWL_CHECK_EXTERNAL=perhaps",
     "DOWNLOAD_TIMEOUT=-"],
)  # fmt: skip
def test_settings_of_the_wrong_type(setting, demo_server, tmp_path):
    result = run_linkcrawl(
        ["crawl", "http://alpha-example.com/", "--data", str(tmp_path / "d"), "-s", setting],
        proxy=demo_server.proxy_url,
    )
    problems = check_one_line(setting, result.returncode, result.stderr, result.stdout)
    assert result.returncode in (1, 2) and not problems, "\n".join(problems) + result.stderr
    assert setting.split("=")[0] in result.stderr


def test_a_binary_seeds_file(demo_server, tmp_path):
    seeds = tmp_path / "seeds.bin"
    seeds.write_bytes(bytes(range(256)) * 40)
    result = run_linkcrawl(
        ["crawl", "--seeds", str(seeds), "--data", str(tmp_path / "d")],
        proxy=demo_server.proxy_url,
    )
    problems = check_one_line("binary seeds", result.returncode, result.stderr, result.stdout)
    assert result.returncode in (1, 2) and not problems, "\n".join(problems) + result.stderr
    assert not (tmp_path / "d" / "edges").exists()


def test_unreachable_hosts_under_check_external(tmp_path):
    """Each external host that cannot be reached is one line on stderr, whatever the
    number of its URLs, without a traceback; its URLs are pages rows with their error."""
    from linkcrawl.demo.localweb import LocalWeb, LocalWebServer

    hosts = [f"down{i}-example.invalid" for i in range(3)]  # .invalid never resolves
    web = LocalWeb()
    web.add(
        "http://home-example.com/",
        "".join(f'<a href="https://{h}/p{j}">x</a>' for h in hosts for j in range(4)),
    )
    with LocalWebServer(web) as server:
        result = run_linkcrawl(
            ["crawl", "http://home-example.com/", "--check-external",
             "--data", str(tmp_path), *FAST],
            proxy=server.proxy_url,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    for host in hosts:
        about = [line for line in lines if host in line]
        assert len(about) == 1 and "4 URL(s) failed" in about[0], result.stderr
    pages = pq.read_table(tmp_path / "pages").to_pandas()
    failed = pages[pages["url"].str.contains(".invalid/", regex=False)]
    assert len(failed) == 12 and failed["error"].notna().all()
