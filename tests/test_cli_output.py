"""What the read commands print: nothing from a crawled page drives the terminal in any
format, exports are complete and exact, tables fit the terminal, and a target given with
the wrong scheme gets a hint."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
import tty
from datetime import timedelta

import pyarrow as pa
import pytest
from click.testing import CliRunner

from linkcrawl.analysis import analyze
from linkcrawl.cli import main
from linkcrawl.dataset.schemas import PAGES_SCHEMA
from linkcrawl.dataset.write import PartWriter
from tests.test_analysis import WHEN, link, write_crawl

VICTIM = "http://alpha-example.com/"
# What a hostile page can put in an anchor or a URL: colours, clearing the screen, an OSC 8
# hyperlink that shows one URL and opens another, a window title, the bidirectional override
# and isolates (U+202E, U+2066-2069) that make text read backwards, C1 controls (CSI, NEL).
HOSTILE = [
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://evil-example.net/\x1b\\click me\x1b]8;;\x1b\\",
    "\x1b]0;owned\x07title",
    "gnp.\u202eexe",
    "\u2066iso\u2067late\u2068d\u2069",
    "\x9b2J c1 \x85 next",
    '=HYPERLINK("http://evil-example.net/")',
]
HOSTILE_PATHS = ["x\x1b[2Jy", "bidi\u202eagain", "c1\x9bz"]
# No byte of these may reach a terminal: C0 but newline (tab is harmless but absent here),
# DEL, C1, and the bidirectional controls.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FANS = 30  # referring domains of the victim: more than a table's 20 rows


def hostile_links():
    links = []
    for i in range(FANS):
        anchor = HOSTILE[i % len(HOSTILE)] if i < 2 * len(HOSTILE) else f"fan {i}"
        path = HOSTILE_PATHS[i % len(HOSTILE_PATHS)] if i < len(HOSTILE_PATHS) else f"p{i}"
        links.append(link(f"http://fan{i:02d}-example.org/", VICTIM + path, anchor=anchor))
    links.append(link("http://fan00-example.org/", "http://fan01-example.org/", anchor="pal"))
    return links


@pytest.fixture(scope="module")
def hostile_data(tmp_path_factory):
    """Two finished crawls of the same hostile links; the second also records 404s."""
    root = tmp_path_factory.mktemp("hostile")
    links = hostile_links()
    # the first crawl lacks the hostile links, so that they are new links in the diff
    write_crawl(root, links[10:], crawl_id="c1", started_at=WHEN)
    write_crawl(root, links, crawl_id="c2", started_at=WHEN + timedelta(days=7))
    broken = [VICTIM + p for p in HOSTILE_PATHS]
    pages = {name: [None] * len(broken) for name in PAGES_SCHEMA.names}
    pages.update(url=broken, status=[404] * len(broken), fetched_at=[WHEN] * len(broken))
    PartWriter(root, "pages", "c2", PAGES_SCHEMA).write(pa.table(pages, schema=PAGES_SCHEMA))
    analyze(root, crawl_id="c2")
    return root


COMMANDS = {
    "backlinks": ["backlinks", "alpha-example.com"],
    "diff": ["diff", "--target", "alpha-example.com"],
    "history": ["history", "alpha-example.com"],
    "broken": ["broken"],
}


def run_on_a_terminal(args, data):
    """Run the CLI with stdout on a real pseudo-terminal; return what the terminal got."""
    master, slave = pty.openpty()
    tty.setraw(slave)  # no newline translation: the bytes as the program wrote them
    env = {**os.environ, "COLUMNS": "2000"}
    with subprocess.Popen(
        [sys.executable, "-m", "linkcrawl.cli", *args, "--data", str(data)],
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    ) as proc:
        os.close(slave)
        received = bytearray()
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer of the slave end is gone
                break
            if not chunk:
                break
            received += chunk
        os.close(master)
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) == 0, stderr
    return received.decode("utf-8")


def run_to_file(args, data, path):
    with open(path, "wb") as stdout:
        result = subprocess.run(
            [sys.executable, "-m", "linkcrawl.cli", *args, "--data", str(data)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    return path.read_text(encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_no_raw_control_character_reaches_a_terminal_in_any_format(hostile_data, command):
    problems = []
    for fmt in ("table", "csv", "json"):
        shown = run_on_a_terminal([*COMMANDS[command], "--format", fmt], hostile_data)
        assert shown.strip(), (command, fmt)
        found = RAW.search(shown)
        if found:
            problems.append((fmt, shown[max(0, found.start() - 40) : found.end() + 40]))
        elif fmt != "json":
            # the hostile text is there, visibly escaped
            assert "\\x1b[31mred" in shown and "\\u202e" in shown, (command, fmt)
        else:
            # on a terminal too, JSON escapes decode to the exact values
            document = json.loads(shown)
            assert RAW.search(json.dumps(document["rows"], ensure_ascii=False))
    assert not problems, problems


@pytest.mark.slow
def test_exports_redirected_to_a_file_keep_the_exact_values(hostile_data, tmp_path):
    want = {(e["source"], e["target"], e["anchor"]) for e in hostile_links()}
    want = {row for row in want if row[1].startswith(VICTIM)}
    for fmt in ("csv", "json"):
        text = run_to_file(
            ["backlinks", "alpha-example.com", "--format", fmt], hostile_data, tmp_path / fmt
        )
        if fmt == "json":
            rows = json.loads(text)["rows"]
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
            # a cell a spreadsheet would run as a formula is neutralised, nothing else
            for row in rows:
                if row["anchor"].startswith("'="):
                    row["anchor"] = row["anchor"][1:]
        got = {(r["source"], r["target"], r["anchor"]) for r in rows}
        assert got == want, fmt
    text = run_to_file(["broken", "--format", "json"], hostile_data, tmp_path / "broken.json")
    assert {r["target"] for r in json.loads(text)["rows"]} == {VICTIM + p for p in HOSTILE_PATHS}


# -- complete exports, limits, columns, one JSON shape -----------------------------------------


def invoke(args, **env):
    result = CliRunner(env=env or None).invoke(main, args, catch_exceptions=False)
    return result


def test_exports_have_every_row_and_tables_say_they_are_cut(hostile_data):
    data = ["--data", str(hostile_data)]
    table = invoke(["backlinks", "alpha-example.com", *data], COLUMNS="250")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[-1] == "20 of 30 rows; --limit 0 for all, or --format csv"
    assert sum("fan" in line and "-example.org" in line for line in lines) == 20
    everything = invoke(["backlinks", "alpha-example.com", *data, "--limit", "0"], COLUMNS="250")
    assert sum("-example.org" in line for line in everything.stdout.splitlines()) == 30
    assert "rows; --limit 0" not in everything.stdout

    exported = invoke(["backlinks", "alpha-example.com", *data, "--format", "csv"])
    assert len(list(csv.DictReader(io.StringIO(exported.stdout)))) == 30
    document = json.loads(
        invoke(["backlinks", "alpha-example.com", *data, "--format", "json"]).stdout
    )
    assert len(document["rows"]) == 30 and document["total"] == 30
    assert document["summary"]["referring_domains"] == 30
    cut = json.loads(
        invoke(["backlinks", "alpha-example.com", *data, "--format", "json", "--limit", "3"]).stdout
    )
    assert len(cut["rows"]) == 3 and cut["total"] == 30


@pytest.mark.parametrize(
    "args",
    [
        ["backlinks", "alpha-example.com"],
        ["domains"],
        ["diff"],
        ["history", "alpha-example.com"],
        ["broken"],
    ],
)
def test_every_read_command_has_one_json_shape_and_a_limit(hostile_data, args):
    data = ["--data", str(hostile_data)]
    full = invoke([*args, *data, "--format", "json"])
    assert full.exit_code == 0, full.output
    document = json.loads(full.stdout)
    assert isinstance(document["rows"], list) and document["total"] == len(document["rows"])
    assert document["total"] >= 2
    one = json.loads(invoke([*args, *data, "--format", "json", "--limit", "1"]).stdout)
    assert len(one["rows"]) == 1 and one["total"] == document["total"]
    assert one["rows"][0] == document["rows"][0]
    rows = list(csv.DictReader(io.StringIO(invoke([*args, *data, "--format", "csv"]).stdout)))
    assert len(rows) == document["total"]


def test_columns_choose_and_an_unknown_one_lists_the_known(hostile_data):
    data = ["--data", str(hostile_data)]
    result = invoke(["domains", *data, "--format", "csv", "--columns", "domain,rank"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "domain,rank"
    result = invoke(["domains", *data, "--columns", "domain,nosuch"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'nosuch'" in lines[0] and "domain, " in lines[0] and "authority" in lines[0]


def test_tables_fit_the_terminal_and_format_numbers_for_people(hostile_data):
    data = ["--data", str(hostile_data)]
    for width in (60, 100):
        result = invoke(["backlinks", "alpha-example.com", *data], COLUMNS=str(width))
        assert result.exit_code == 0, result.output
        table = result.stdout.split("\n\n", 1)[1].splitlines()
        assert max(len(line) for line in table) <= width, table
        assert any("…" in line for line in table)
    result = invoke(["domains", *data], COLUMNS="300")
    assert "e-" not in result.stdout and "e+" not in result.stdout  # no scientific notation
    csv_rows = list(
        csv.DictReader(io.StringIO(invoke(["domains", *data, "--format", "csv"]).stdout))
    )
    json_rows = json.loads(invoke(["domains", *data, "--format", "json"]).stdout)["rows"]
    # exports keep the exact floats the table rounds
    assert [float(r["authority"]) for r in csv_rows] == [r["authority"] for r in json_rows]
    assert any(len(r["authority"]) > 8 for r in csv_rows)


def test_timestamps_iso_and_lists_as_lists(hostile_data, tmp_path):
    data = ["--data", str(hostile_data)]
    history = json.loads(invoke(["history", "alpha-example.com", *data, "--format", "json"]).stdout)
    assert history["rows"][0]["first_seen_at"] in ("2026-11-22T03:00:00Z", "2026-11-29T03:00:00Z")
    assert history["referring_domains"][0]["started_at"] == "2026-11-22T03:00:00Z"
    csv_text = invoke(["history", "alpha-example.com", *data, "--format", "csv"]).stdout
    assert "2026-11-29T03:00:00Z" in csv_text
    trusted = tmp_path / "trusted.txt"
    trusted.write_text("fan01-example.org\nfan02-example.org\n")
    audit = json.loads(
        invoke(["audit", *data, "--trusted", str(trusted), "--format", "json"]).stdout
    )
    assert all(isinstance(r["flags"], list) for r in audit["rows"])
    table = invoke(["audit", *data, "--trusted", str(trusted)], COLUMNS="300").stdout
    assert "[" not in table and "array(" not in table


# -- a target with the wrong scheme or www. --------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["backlinks", "https://alpha-example.com/"],
        ["history", "https://alpha-example.com/"],
        ["diff", "--target", "https://alpha-example.com/"],
        ["broken", "--target", "https://alpha-example.com/"],
        ["backlinks", "http://www.alpha-example.com/"],
        ["backlinks", "www.alpha-example.com"],
    ],
)
def test_a_target_with_the_wrong_spelling_gets_a_hint(hostile_data, args):
    result = invoke([*args, "--data", str(hostile_data), "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "did you mean that?" in lines[0]
    spelled = "alpha-example.com" if "://" not in args[1 if len(args) == 2 else 2] else VICTIM
    assert f"the crawl has {spelled} " in lines[0], lines[0]


def test_a_right_target_and_an_unknown_one_get_no_hint(hostile_data):
    for target in (
        "http://alpha-example.com/",
        "nobody-example.com",
        "https://nobody-example.com/",
    ):
        result = invoke(["backlinks", target, "--data", str(hostile_data)])
        assert result.exit_code == 0, result.output
        assert "did you mean" not in result.stderr


# -- the table's pieces ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, shown",
    [
        (1204, "1,204"),
        (1234567, "1,234,567"),
        (12345.678, "12,346"),
        (100.0, "100.0"),
        (0.7777777, "0.7778"),
        (0.000001234567, "0.000001235"),
        (1.5e-15, "0.000000000000"),
        (0.0, "0"),
        (-0.25, "-0.2500"),
    ],
)
def test_numbers_for_people(value, shown):
    from linkcrawl.reports.output import _human

    assert _human(value) == shown


def test_wide_characters_are_counted_as_two_columns():
    import pandas as pd

    from linkcrawl.reports.output import render_table

    table = render_table(pd.DataFrame({"anchor": ["日本語のリンク" * 4], "n": [1]}), 30)
    lines = table.splitlines()
    assert lines[1].endswith("  1") and "…" in lines[1]
    # kana and kanji take two terminal columns each
    columns = sum(2 if "\u3000" <= c <= "\u9fff" else 1 for c in lines[1])
    assert 28 <= columns <= 30, (columns, lines[1])


def test_exported_timestamps_are_iso_8601_to_the_microsecond():
    import pandas as pd

    from linkcrawl.reports.output import Output

    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(
                ["2026-11-22T03:00:00.000123Z", None, "2026-11-22T04:00:00Z"], format="ISO8601"
            )
        }
    )
    written = []
    Output(fmt="json", write=written.append).rows(frame)
    assert json.loads(written[0])["rows"] == [
        {"at": "2026-11-22T03:00:00.000123Z"},
        {"at": None},
        {"at": "2026-11-22T04:00:00Z"},
    ]


def test_a_reader_that_stops_reading_is_not_an_error(hostile_data):
    """`linkcrawl ... | head`: the pipe's reader is gone before the rows are written. That
    is no error of the command's to report (no 'Broken pipe' line, no traceback)."""
    command = ["broken", "--format", "csv", "--data", str(hostile_data)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkcrawl.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the command has written anything: its write gets EPIPE
    _, err = proc.communicate(timeout=120)
    assert err.decode() == ""


def test_every_command_that_prints_rows_has_the_one_format_option():
    """--format is declared once: every command that has it offers the same choices, the
    same default and the same help, together with --limit and --columns."""
    formats = {
        name: next(p for p in command.params if p.name == "fmt")
        for name, command in main.commands.items()
        if any(p.name == "fmt" for p in command.params)
    }
    assert {"backlinks", "domains", "diff", "history", "broken", "audit"} <= set(formats)
    described = {
        (tuple(o.opts), tuple(o.type.choices), o.default, o.help) for o in formats.values()
    }
    assert len(described) == 1
    assert described.pop()[:3] == (("--format",), ("table", "csv", "json"), "table")
    for name in formats:
        assert {"limit", "columns"} <= {p.name for p in main.commands[name].params}, name
