"""Disavow files within Google's limits: the packing on hand-built entries counted by hand,
and the command on a hand-built web of 30,000 link exchanges whose reasons make the file
larger than 2 MB."""

from __future__ import annotations

import pandas as pd
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.errors import DisavowLimitError
from linkcrawl.reports.audit import audit, disavow, disavow_files
from linkcrawl.reports.disavow import (
    MAX_BYTES,
    MAX_LINES,
    MAX_URL_CHARS,
    DisavowEntry,
    pack_disavow,
)
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import run_linkcrawl

HEADER = ["# head one", "# head two"]


def entries(n: int, comments: int = 0, width: int = 0) -> list[DisavowEntry]:
    return [
        DisavowEntry(f"domain:d{i:0{width}d}.com", tuple(f"# c{j}" for j in range(comments)))
        for i in range(n)
    ]


def test_google_limits_are_declared_once():
    assert (MAX_LINES, MAX_BYTES, MAX_URL_CHARS) == (100_000, 2_000_000, 2_048)


def test_lines_limit_counts_blank_and_comment_lines():
    # 2 header lines + 49,999 entries of 2 lines (a blank line, the domain) = 100,000 lines.
    fits = entries(49_999)
    (text,) = pack_disavow(HEADER, fits)
    assert text.count("\n") == 100_000 and len(text.encode()) < MAX_BYTES
    assert text.splitlines()[:4] == ["# head one", "# head two", "", "domain:d0.com"]
    # One entry more is two lines more.
    with pytest.raises(
        DisavowLimitError, match="100,002 lines, over Google's limit of 100,000"
    ) as e:
        pack_disavow(HEADER, entries(50_000))
    assert e.value.limit == "lines"


def test_bytes_limit_is_the_utf8_size():
    # Each entry: "\n" + "# " + 98 × "é" (2 bytes each) + "\n" + "domain:dNNNNN.com\n"
    # = 1 + 199 + 18 = 218 bytes; the header is 11 + 11 = 22 bytes.
    one = [DisavowEntry(e.line, ("# " + "é" * 98,)) for e in entries(9_174, width=5)]
    (text,) = pack_disavow(HEADER, one)
    assert len(text.encode("utf-8")) == 22 + 9_174 * 218 == 1_999_954
    more = [*one, DisavowEntry("domain:d99999.com", ("# " + "é" * 98,))]
    with pytest.raises(
        DisavowLimitError, match="2,000,172 bytes, over Google's limit of 2,000,000"
    ):
        pack_disavow(HEADER, more)


def test_url_length_limit_is_refused_even_split():
    url = "http://spam.example/" + "a" * (MAX_URL_CHARS - 20)
    assert len(url) == 2_048
    (text,) = pack_disavow(HEADER, [DisavowEntry(url)])
    assert url in text.splitlines()
    for split in (False, True):
        with pytest.raises(DisavowLimitError, match="2,049 characters is over Google's limit") as e:
            pack_disavow(HEADER, [DisavowEntry(url + "b")], split=split)
        assert e.value.limit == "url-length"
    # A domain line is not a URL: the length limit is not its (a domain is at most 253).
    pack_disavow(HEADER, [DisavowEntry("domain:" + "a" * 3000)])


def test_split_keeps_each_file_within_the_limits_and_every_entry_with_its_comments():
    many = entries(60_000, comments=1)  # 180,002 lines: two files
    parts = pack_disavow(HEADER, many, split=True)
    # Each part: 2 header lines + "# part i of n" + k entries × 3 lines ≤ 100,000: k ≤ 33,332.
    assert len(parts) == 2
    seen = []
    for i, text in enumerate(parts, 1):
        lines = text.splitlines()
        assert len(lines) <= MAX_LINES and len(text.encode()) <= MAX_BYTES
        assert lines[:3] == [*HEADER, f"# part {i} of 2"]
        body = lines[3:]
        for k in range(0, len(body), 3):
            blank, comment, line = body[k : k + 3]
            assert (blank, comment) == ("", "# c0") and line.startswith("domain:")
            seen.append(line)
    assert seen == [e.line for e in many]
    assert len(parts[0].splitlines()) == 3 + 33_332 * 3
    # Under the limits, split writes the one file it would write without.
    assert pack_disavow(HEADER, entries(10), split=True) == pack_disavow(HEADER, entries(10))


# -- the command on a hand-built web: t.com links to 30,000 domains and each links back,
# so every one of them is flagged reciprocal (one comment line of about 50 bytes each).
N = 30_000


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    data = tmp_path_factory.mktemp("exchange") / "data"
    names = [f"d{i:05d}.com" for i in range(N)]
    edges = pd.DataFrame(
        {
            "source": ["http://t.com/"] * N + [f"http://{d}/" for d in names],
            "target": [f"http://{d}/" for d in names] + ["http://t.com/"] * N,
        }
    )
    import_edges(data, edges, "x1")
    analyze(data, "x1")
    audit(data, "x1")
    return data, names


@pytest.mark.slow
def test_over_two_megabytes_is_refused_with_one_line_and_nothing_written(exchange, tmp_path):
    data, _names = exchange
    out = tmp_path / "disavow.txt"
    result = run_linkcrawl(["disavow", "t.com", "--data", str(data), "--out", str(out)])
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "over Google's limit of 2,000,000 bytes" in line and "--split" in line
    assert "Traceback" not in result.stderr and not list(tmp_path.iterdir())
    with pytest.raises(DisavowLimitError, match="2,000,000 bytes"):
        disavow(data, "t.com")


@pytest.mark.slow
def test_split_writes_every_domain_once_across_files_within_the_limits(exchange, tmp_path):
    data, names = exchange
    out = tmp_path / "disavow.txt"
    result = run_linkcrawl(["disavow", "t.com", "--data", str(data), "--out", str(out), "--split"])
    assert result.returncode == 0, result.stderr
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["disavow-1.txt", "disavow-2.txt"]
    listed = []
    for f in files:
        raw = f.read_bytes()
        assert len(raw) <= MAX_BYTES and raw.count(b"\n") <= MAX_LINES
        text = raw.decode("utf-8")  # UTF-8, or this raises
        listed += [x[len("domain:") :] for x in text.splitlines() if x.startswith("domain:")]
        assert all(x == "" or x.startswith(("# ", "domain:")) for x in text.splitlines())
    assert listed == names
    assert "wrote" in result.stderr and "disavow-2.txt" in result.stderr
    # Without the reasons the same list is one file: one line per domain and a header.
    (one,) = disavow_files(data, "t.com", reasons=False, split=True)
    assert [x for x in one.splitlines() if x.startswith("domain:")] == [
        f"domain:{d}" for d in names
    ]
    assert len(one.splitlines()) == 3 + 2 * N  # header, and a blank line before each domain


@pytest.mark.slow
def test_urls_lists_the_linking_pages(exchange, tmp_path):
    data, names = exchange
    text = disavow(data, "t.com", urls=True, reasons=False)
    pages = [x for x in text.splitlines() if x and not x.startswith("#")]
    assert pages == [f"http://{d}/" for d in names]
    bad = run_linkcrawl(["disavow", "t.com", "--data", str(data), "--split"])
    assert bad.returncode == 2 and "--split writes files: give --out FILE" in bad.stderr
