"""`linkcrawl import warc` on real archives: the rows equal those of a live crawl of the
same archived responses, revisits and redirects, whole-file gzip and ARC, bad input
reported and skipped, and the imported crawl read by pandas, DuckDB, polars and analyze."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator

from linkcrawl.cli import main
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer, Resource
from linkcrawl.extract.urls import normalize_url
from tests.conftest import FAST, SHARED_DATA, run_linkcrawl

WARC_DIR = SHARED_DATA / "warc"
IANA = WARC_DIR / "iana.warc.gz"
IAH = WARC_DIR / "IAH-urls-wget.warc"
CC = WARC_DIR / "cc-main-2020-34-sample.warc.gz"
LINKS_TEST = WARC_DIR / "link-extraction-test.warc"
ROW = ["source", "target", "anchor", "rel", "follow", "position", "kind", "ordinal"]
WIRE = {"content-encoding", "transfer-encoding", "content-length"}


def shared(path: Path) -> Path:
    """These tests are about real archives: without them they fail, they never skip."""
    if not path.is_file():
        pytest.fail(f"{path} is missing: ../shared/data must be beside the repository")
    return path


# -- the reference: the archive's newest response per URL, read with warcio directly ----------


def archived_responses(*paths: Path) -> dict[str, Resource]:
    """URL -> the newest archived HTTP response of it (status, headers, decoded body), a
    revisit taking the body of the response it names (by target URI and date, else by
    payload digest). GET responses only: wget and Heritrix archive no others here."""
    responses: dict[str, tuple[datetime, Resource]] = {}
    by_uri_date: dict[tuple[str, str], bytes] = {}
    by_digest: dict[str, bytes] = {}
    revisits = []
    for path in paths:
        with open(shared(path), "rb") as stream:
            for record in ArchiveIterator(stream, arc2warc=True):
                uri = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")
                if record.rec_type not in ("response", "revisit") or not uri.startswith("http"):
                    continue
                date = record.rec_headers.get_header("WARC-Date")
                http = record.http_headers
                body = record.content_stream().read()
                status = int(http.get_statuscode())
                headers = {k: v for k, v in http.headers if k.lower() not in WIRE}
                if record.rec_type == "response":
                    by_uri_date[(uri, date)] = body
                    by_digest.setdefault(record.rec_headers.get_header("WARC-Payload-Digest"), body)
                    found = (uri, date, Resource(status, headers, body))
                else:
                    refers = (
                        record.rec_headers.get_header("WARC-Refers-To-Target-URI"),
                        record.rec_headers.get_header("WARC-Refers-To-Date"),
                        record.rec_headers.get_header("WARC-Payload-Digest"),
                    )
                    found = (uri, date, Resource(status, headers, b""))
                    revisits.append((found, refers))
                url = normalize_url(uri)
                when = datetime.fromisoformat(date.replace("Z", "+00:00"))
                if url not in responses or responses[url][0] <= when:
                    responses[url] = (when, found[2])
    for (_uri, _date, resource), (ref_uri, ref_date, digest) in revisits:
        body = by_uri_date.get((ref_uri, ref_date)) or by_digest.get(digest)
        assert body is not None, "every revisit of these archives has its original in them"
        resource.body = body
    return {url: resource for url, (_, resource) in responses.items()}


def edge_rows(data: Path, crawl_id: str, sources: set[str] | None = None) -> list[tuple]:
    edges = pd.read_parquet(data / "edges", filters=[("crawl_id", "==", crawl_id)])
    if sources is not None:
        edges = edges[edges["source"].isin(sources)]
    return sorted(
        tuple(None if pd.isna(v) else v for v in row)
        for row in edges[ROW].itertuples(index=False, name=None)
    )


def pages(data: Path, crawl_id: str) -> pd.DataFrame:
    return pd.read_parquet(data / "pages", filters=[("crawl_id", "==", crawl_id)]).set_index("url")


def manifest(data: Path, crawl_id: str) -> dict:
    return json.loads((data / "crawls" / f"{crawl_id}.json").read_text())


# -- one import of the three real archives, and one live crawl of the same responses --------


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """iana.warc.gz, IAH-urls-wget.warc and the Common Crawl sample imported as one crawl."""
    data = tmp_path_factory.mktemp("warc-data")
    files = [str(shared(p)) for p in (IANA, IAH, CC)]
    result = run_linkcrawl(["import", "warc", *files, "--data", str(data), "--crawl-id", "w1"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "w1"
    assert "Traceback" not in result.stderr
    return data, result


@pytest.mark.slow
def test_import_writes_the_rows_a_live_crawl_of_the_same_responses_writes(imported, tmp_path):
    """The archive's responses served from the local web and crawled live (every archived
    URL a seed, depth 0: the archive is all there is) give the same edge rows, and the
    same page rows, as the import; the Common Crawl sample brings windows-1251 and gb2312."""
    data, _ = imported
    archive = archived_responses(IANA, IAH, CC)
    # The local web serves plain HTTP through its proxy; the archives' few https pages
    # (12 of the 73 URLs, in IAH and iana) cannot be fetched there, so the comparison is of
    # the http ones.
    served = {url: r for url, r in archive.items() if url.startswith("http://")}
    assert (len(served), len(archive)) == (61, 73)
    seeds = tmp_path / "seeds.txt"
    seeds.write_text("\n".join(served) + "\n")
    with LocalWebServer(LocalWeb(pages=served)) as server:
        live = run_linkcrawl(
            [
                *("crawl", "--seeds", str(seeds), "--data", str(data), "--crawl-id", "live"),
                *("--max-depth", "0", "-s", "ROBOTSTXT_OBEY=0", *FAST),
            ],
            proxy=server.proxy_url,
            timeout=300,
        )
    assert live.returncode == 0, live.stderr
    live_rows = edge_rows(data, "live")
    imported_rows = edge_rows(data, "w1", set(served))
    assert len(live_rows) > 6000
    assert imported_rows == live_rows
    columns = ["status", "content_type", "title", "canonical", "meta_robots", "x_robots_tag"]
    columns += ["noindex", "nofollow", "outlinks", "bytes", "description", "headings", "text"]
    ours = pages(data, "w1").loc[sorted(served), columns]
    theirs = pages(data, "live").loc[sorted(served), columns]
    pd.testing.assert_frame_equal(ours, theirs)
    # the page text comes out of the same extraction: the archive's HTML pages have it
    assert ours["text"].notna().sum() >= 10 and ours["headings"].notna().sum() >= 10


@pytest.mark.slow
def test_pages_have_the_archived_server_address(imported):
    """pages.ip is the WARC-IP-Address of the capture each row comes from (the newest
    response or revisit of its URL, read here with warcio): wget's archive has one for
    every record, the Common Crawl sample one per host, and iana.warc.gz none."""
    data, _ = imported
    newest: dict[str, tuple[str, str | None]] = {}
    for path in (IANA, IAH, CC):
        with open(shared(path), "rb") as stream:
            for record in ArchiveIterator(stream, arc2warc=True):
                uri = (record.rec_headers.get_header("WARC-Target-URI") or "").strip("<>")
                if record.rec_type not in ("response", "revisit") or not uri.startswith("http"):
                    continue
                date = record.rec_headers.get_header("WARC-Date")
                url = normalize_url(uri)
                if url and (url not in newest or date >= newest[url][0]):
                    newest[url] = (date, record.rec_headers.get_header("WARC-IP-Address"))
    rows = pages(data, "w1")
    fetched = rows[rows.error.isna()]
    expected = {url: newest[url][1] for url in fetched.index}
    got = {url: (None if pd.isna(ip) else ip) for url, ip in fetched.ip.items()}
    assert got == expected
    assert sum(ip is not None for ip in got.values()) >= 20
    assert "207.241.224.2" in got.values() and "62.113.195.126" in got.values()


@pytest.mark.slow
def test_revisits_take_their_original_payload(imported):
    """The newest capture of 18 iana.warc.gz URLs (style sheets, fonts, scripts, images) is
    a revisit record: each page row has the status of the revisit and the size of the
    payload it repeats, and no revisit is left unresolved."""
    data, _ = imported
    with open(IANA, "rb") as stream:
        newest: dict[str, tuple[str, str]] = {}
        for record in ArchiveIterator(stream):
            if record.rec_type in ("response", "revisit"):
                url = normalize_url(record.rec_headers.get_header("WARC-Target-URI"))
                date = record.rec_headers.get_header("WARC-Date")
                if url not in newest or newest[url][0] <= date:
                    newest[url] = (date, record.rec_type)
    revisited = sorted(url for url, (_, kind) in newest.items() if kind == "revisit")
    assert len(revisited) == 18
    reference = archived_responses(IANA)
    rows = pages(data, "w1").loc[revisited]
    assert list(rows["bytes"]) == [len(reference[url].body) for url in revisited]
    assert (rows["bytes"] > 0).all() and (rows["status"] == 200).all()
    skipped = manifest(data, "w1")["skipped"]
    assert "revisit-unresolved" not in skipped


def revisit_of(original: Path, target: Path) -> tuple[str, str]:
    """A WARC holding one revisit record, a week later, of the first HTML response of
    ``original`` (WARC-Refers-To-Target-URI and -Date, identical-payload-digest profile);
    returns its URL and date."""
    from warcio.warcwriter import WARCWriter

    with open(shared(original), "rb") as stream:
        for record in ArchiveIterator(stream):
            ctype = record.http_headers.get_header("Content-Type") if record.http_headers else ""
            if record.rec_type == "response" and (ctype or "").startswith("text/html"):
                uri = record.rec_headers.get_header("WARC-Target-URI")
                date = record.rec_headers.get_header("WARC-Date")
                digest = record.rec_headers.get_header("WARC-Payload-Digest")
                http = record.http_headers
                break
    later = "2014-02-02T10:00:00Z"
    with open(target, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        revisit = writer.create_revisit_record(uri, digest, uri, date, http_headers=http)
        revisit.rec_headers.replace_header("WARC-Date", later)
        writer.write_record(revisit)
    return normalize_url(uri), later


@pytest.mark.slow
def test_redirects_are_edges_to_their_location(imported):
    """Each 3xx response with a Location in IAH-urls-wget.warc is one redirect edge from
    its URL to the Location, through the spider's own redirect path."""
    data, _ = imported
    expected = set()
    with open(IAH, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            http = record.http_headers
            if 300 <= int(http.get_statuscode()) < 400 and http.get_header("Location"):
                source = normalize_url(record.rec_headers.get_header("WARC-Target-URI"))
                expected.add((source, normalize_url(http.get_header("Location"))))
    assert len(expected) >= 8  # 7 x 302 and 2 x 301, one URL captured twice
    edges = pd.read_parquet(data / "edges", filters=[("crawl_id", "==", "w1")])
    redirects = edges[edges["kind"] == "redirect"]
    found = set(zip(redirects["source"], redirects["target"], strict=True))
    assert expected <= found
    assert redirects["position"].isna().all()


@pytest.mark.slow
def test_manifest_says_warc_with_the_files_and_their_digests(imported):
    import hashlib

    data, result = imported
    record = manifest(data, "w1")
    assert record["source"] == "warc" and record["imported"] is True
    assert record["status"] == "finished" and record["problems"] == []
    assert [a["name"] for a in record["archives"]] == [IANA.name, IAH.name, CC.name]
    for entry, path in zip(record["archives"], (IANA, IAH, CC), strict=True):
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert entry["bytes"] == path.stat().st_size
    assert record["counts"]["pages"] == len(archived_responses(IANA, IAH, CC))
    assert "imported" in result.stderr and "left out" in result.stderr
    rows = pages(data, "w1")
    # An archive records no click depth nor how its crawler found a page; fetched_at is
    # the capture's WARC-Date (2014 for iana, 2020 for the Common Crawl sample).
    assert rows["depth"].isna().all() and rows["discovered_by"].isna().all()
    years = set(rows["fetched_at"].dt.year)
    assert {2014, 2020} <= years and max(years) < 2025


@pytest.mark.slow
def test_readers_and_analyze_read_the_imported_crawl(imported):
    data, _ = imported
    edges_glob = str(data / "edges" / "**" / "*.parquet")
    n = manifest(data, "w1")["counts"]["edges"]
    assert len(pd.read_parquet(data / "edges", filters=[("crawl_id", "==", "w1")])) == n
    lazy = pl.scan_parquet(edges_glob, hive_partitioning=True)
    assert lazy.filter(pl.col("crawl_id") == "w1").select(pl.len()).collect().item() == n
    count = duckdb.sql(
        f"select count(*) from read_parquet('{edges_glob}', hive_partitioning=true) "
        "where crawl_id = 'w1'"
    ).fetchall()
    assert count == [(n,)]
    result = run_linkcrawl(["analyze", "--data", str(data), "--crawl-id", "w1"])
    assert result.returncode == 0, result.stderr
    domains = pd.read_parquet(data / "authority" / "crawl_id=w1" / "domains.parquet")
    assert "iana.org" in set(domains["domain"])


# -- other forms of the same archives -----------------------------------------------------------


def arc_of(warc: Path, arc: Path) -> None:
    """An ARC v1 file holding the response records of ``warc``, written the way the ARC
    format lays a record out (a header line: URL, IP, date, content type, length)."""
    body = b"1 0 linkcrawl-test\nURL IP-address Archive-date Content-type Archive-length\n"
    out = [b"filedesc://test.arc 0.0.0.0 20140103000000 text/plain %d\n" % len(body) + body]
    out.append(b"\n")
    with open(warc, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            uri = record.rec_headers.get_header("WARC-Target-URI")
            date = record.rec_headers.get_header("WARC-Date")
            block = record.raw_stream.read()
            http = record.http_headers.to_bytes()
            content = http + block
            stamp = date.replace("-", "").replace(":", "").replace("T", "").replace("Z", "")
            ctype = (record.http_headers.get_header("Content-Type") or "-").split(";")[0]
            head = f"{uri} 0.0.0.0 {stamp} {ctype} {len(content)}\n".encode()
            out.append(head + content + b"\n")
    arc.write_bytes(b"".join(out))


@pytest.mark.slow
def test_whole_file_gzip_arc_and_a_revisit_in_another_file(imported, tmp_path):
    """IAH-urls-wget.warc gzipped as one stream, and its responses as an ARC file, import
    to the rows its plain form imported; a revisit of an iana page in a file read before
    iana.warc.gz takes the page's payload from there."""
    data, _ = imported
    whole = tmp_path / "iah-whole.warc.gz"
    whole.write_bytes(gzip.compress(shared(IAH).read_bytes()))
    arc = tmp_path / "iah.arc"
    arc_of(IAH, arc)
    iah_urls = set(archived_responses(IAH))
    expected = edge_rows(data, "w1", iah_urls)
    assert len(expected) > 100
    for crawl_id, path in (("whole", whole), ("arc", arc)):
        result = run_linkcrawl(
            ["import", "warc", str(path), "--data", str(data), "--crawl-id", crawl_id]
        )
        assert result.returncode == 0, result.stderr
        assert edge_rows(data, crawl_id) == expected, crawl_id
        assert set(pages(data, crawl_id).index) == iah_urls
    revisits = tmp_path / "revisit.warc.gz"
    url, later = revisit_of(IANA, revisits)
    result = run_linkcrawl(
        ["import", "warc", str(revisits), str(IANA), "--data", str(data), "--crawl-id", "rv"]
    )
    assert result.returncode == 0, result.stderr
    page_edges = edge_rows(data, "rv", {url})
    assert len(page_edges) > 20
    assert page_edges == edge_rows(data, "w1", {url})
    assert str(pages(data, "rv").loc[url, "fetched_at"]).startswith(later[:10])


# -- bad input ------------------------------------------------------------------------------------


def patched_copy(source: Path, target: Path, header: bytes) -> str:
    """A copy of ``source`` in which the first HTML response has the HTTP header line
    ``header`` in place of one of its own (overwritten, padded to the same length, so every
    length in the file stays right); returns that response's URL."""
    raw = shared(source).read_bytes()
    with open(source, "rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            ctype = record.http_headers.get_header("Content-Type") if record.http_headers else ""
            if record.rec_type == "response" and (ctype or "").startswith("text/html"):
                url = record.rec_headers.get_header("WARC-Target-URI")
                start = iterator.offset
                break
    head_end = raw.index(b"\r\n\r\n", raw.index(b"\r\n\r\n", start) + 4)
    lines = raw[start:head_end].split(b"\r\n")
    victim = next(line for line in lines[lines.index(b"") + 2 :] if len(line) >= 22)
    assert len(victim) >= len(header)
    patched = header.ljust(len(victim))
    at = raw.index(victim, start)
    target.write_bytes(raw[:at] + patched + raw[at + len(victim) :])
    return normalize_url(url)


@pytest.mark.slow
def test_bad_input_is_reported_and_the_rest_imported(tmp_path):
    """A truncated gzip member, a file that is no WARC, a record with a broken header and
    a payload that does not decode: each named with its file, offset and reason, one line
    each; every readable page imported; exit status 4; no traceback."""
    truncated = tmp_path / "truncated.warc.gz"
    whole = shared(IANA).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    not_warc = tmp_path / "not-a-warc.warc"
    shutil.copy(SHARED_DATA / "url" / "urltestdata.json", not_warc)
    broken = tmp_path / "broken-header.warc"
    iah = shared(IAH).read_bytes()
    # The Content-Length of a request record's WARC header, made not a number.
    first = iah.index(b"Content-Length: ", iah.index(b"WARC-Type: request", 5000)) + 16
    end = iah.index(b"\r\n", first)
    broken.write_bytes(iah[:first] + b"x9z" + iah[end:])
    undecodable = tmp_path / "undecodable.warc"
    # Content-Encoding: gzip over a body that is not gzip.
    bad_url = patched_copy(LINKS_TEST, undecodable, b"Content-Encoding: gzip")
    files = [truncated, not_warc, broken, undecodable, shared(CC)]
    data = tmp_path / "data"
    result = run_linkcrawl(
        ["import", "warc", *map(str, files), "--data", str(data), "--crawl-id", "bad"]
    )
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("skipped: ")]
    reasons = {}
    for line in lines:
        path, _, rest = line.removeprefix("skipped: ").partition(" at offset ")
        offset, _, reason = rest.partition(": ")
        reasons[Path(path).name] = (int(offset.split()[0]), reason.split()[0])
    assert reasons[truncated.name][1] == "truncated"
    assert reasons[not_warc.name] == (0, "not-an-archive")
    assert reasons[broken.name][1] == "bad-record"
    assert reasons[undecodable.name][1] == "undecodable-payload"
    assert len(lines) == 4
    record = manifest(data, "bad")
    assert record["status"] == "finished"
    assert {p["reason"] for p in record["problems"]} == {
        "truncated",
        "not-an-archive",
        "bad-record",
        "undecodable-payload",
    }
    rows = pages(data, "bad")
    # The rest is there: the 16 Common Crawl pages, the 8 other pages of the link test,
    # the pages before the cut of iana and around the broken record of IAH.
    assert set(archived_responses(CC)) <= set(rows.index)
    assert bad_url not in rows.index
    links_pages = set(archived_responses(LINKS_TEST)) - {bad_url}
    assert links_pages <= set(rows.index)
    iah_pages = set(archived_responses(IAH)) & set(rows.index)
    assert len(iah_pages) >= len(archived_responses(IAH)) - 2
    assert (rows.index.str.contains("iana.org")).sum() >= 5


def test_import_of_nothing_readable_fails_in_one_line(tmp_path):
    not_warc = tmp_path / "x.warc"
    shutil.copy(shared(SHARED_DATA / "url" / "urltestdata.json"), not_warc)
    result = CliRunner().invoke(main, ["import", "warc", str(not_warc), "--data", str(tmp_path)])
    assert result.exit_code == 1
    [line] = result.output.strip().splitlines()
    assert line.startswith(
        f"Error: nothing to import in 1 file(s): {not_warc} at offset 0: not-an-archive "
        "(Unknown archive format"
    )
    assert not (tmp_path / "crawls").exists()
    missing = CliRunner().invoke(main, ["import", "warc", str(tmp_path / "no.warc")])
    assert missing.exit_code == 1 and "does not exist" in missing.output


# -- import edges --------------------------------------------------------------------------------


def test_import_edges_loads_an_edge_list_file(tmp_path):
    csv = tmp_path / "links.csv"
    csv.write_text(
        "source,target,anchor\n"
        "http://a.example/,http://b.example/x,one\n"
        "HTTP://A.example:80/,http://b.example/y#frag,two\n"
        "mailto:me@a.example,http://b.example/,three\n"
    )
    runner = CliRunner()
    result = runner.invoke(
        main, ["import", "edges", str(csv), "--data", str(tmp_path), "--crawl-id", "e1"]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "e1"
    assert "left out 1 rows" in result.stderr
    edges = pd.read_parquet(tmp_path / "edges")
    assert list(edges["target"]) == ["http://b.example/x", "http://b.example/y"]
    assert set(edges["source"]) == {"http://a.example/"}
    assert list(edges["anchor"]) == ["one", "two"]
    assert manifest(tmp_path, "e1")["source"] == "edges"
    again = runner.invoke(
        main, ["import", "edges", str(csv), "--data", str(tmp_path), "--crawl-id", "e1"]
    )
    assert again.exit_code == 1 and "already exists" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text("from,to\nhttp://a.example/,http://b.example/\n")
    refused = runner.invoke(main, ["import", "edges", str(bad), "--data", str(tmp_path)])
    assert refused.exit_code == 1
    assert refused.output.strip().splitlines() == [
        f"Error: edge list {bad} has no source and no target column (its columns: from, to)"
    ]


def head_pair(source: Path, target: Path) -> str:
    """A WARC holding a HEAD request and its response (paired by WARC-Concurrent-To), the
    response being the first one of ``source`` at a URL of its own; returns that URL."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(shared(source), "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type == "response":
                uri = record.rec_headers.get_header("WARC-Target-URI") + "?asked-with-head"
                http = record.http_headers
                body = record.raw_stream.read()
                break
    with open(target, "wb") as out:
        writer = WARCWriter(out, gzip=False)
        response = writer.create_warc_record(
            uri, "response", payload=io.BytesIO(body), length=len(body), http_headers=http
        )
        request = writer.create_warc_record(
            uri,
            "request",
            payload=io.BytesIO(b""),
            length=0,
            http_headers=StatusAndHeaders("HEAD / HTTP/1.1", [], is_http_request=True),
        )
        request.rec_headers.add_header(
            "WARC-Concurrent-To", response.rec_headers.get_header("WARC-Record-ID")
        )
        writer.write_record(response)
        writer.write_record(request)
    return normalize_url(uri)


@pytest.mark.slow
def test_domains_keep_their_hosts_pages_and_head_responses_are_no_pages(tmp_path):
    """--domains keeps the pages on the hosts named or under the domains named (the
    Common Crawl sample has 16 pages on 15 hosts); a response to a HEAD request is not a
    page; a stored X-Robots-Tag: nofollow header makes the page's links nofollow; a
    payload over DOWNLOAD_MAXSIZE is the too-large row a crawl writes."""
    head = tmp_path / "head.warc"
    head_url = head_pair(CC, head)
    robots = tmp_path / "x-robots.warc"
    nofollow_url = patched_copy(LINKS_TEST, robots, b"X-Robots-Tag: nofollow")
    data = tmp_path / "data"
    result = run_linkcrawl(
        [
            *("import", "warc", str(shared(CC)), str(head), str(robots)),
            *("--data", str(data), "--crawl-id", "d", "--domains", "live-radsport.ch,01spb.ru"),
            *("--domains", "0900-hovenier.nl", "--domains", "www.example.com"),
            # 01spb.ru/company/ is 104,567 bytes; the others are under 40,000.
            *("-s", "DOWNLOAD_MAXSIZE=50000"),
        ]
    )
    assert result.returncode == 0, result.stderr
    rows = pages(data, "d")
    example = sorted(u for u in archived_responses(LINKS_TEST) if "//www.example.com/" in u)
    assert len(example) == 8  # and one on example.org, out of scope
    assert sorted(rows.index) == [
        "http://01spb.ru/company/",
        "http://06.live-radsport.ch/fahrerstatistik_801/Anthony_Ravard.html",
        "http://06.live-radsport.ch/tippspiel/stats_140_petzi.html",
        "http://0900-hovenier.nl/gelderland/oosterbeek/",
        *example,
    ]
    assert head_url not in rows.index
    record = manifest(data, "d")
    assert record["skipped"] == {"not-a-get": 1, "out-of-scope": 13}
    assert record["scope"] == [
        "01spb.ru",
        "0900-hovenier.nl",
        "live-radsport.ch",
        "www.example.com",
    ]
    big = rows.loc["http://01spb.ru/company/"]
    assert big["error"] == "too-large" and pd.isna(big["status"]) and big["outlinks"] == 0
    assert rows.drop(index="http://01spb.ru/company/")["error"].isna().all()
    assert rows.loc[nofollow_url, "x_robots_tag"] == "nofollow"
    assert rows.loc[nofollow_url, "nofollow"]
    edges = pd.read_parquet(data / "edges", filters=[("crawl_id", "==", "d")])
    assert len(edges[edges["source"] == nofollow_url]) >= 1
    assert not edges[edges["source"] == nofollow_url]["follow"].any()
    assert edges[edges["source"] != nofollow_url]["follow"].any()


def test_decode_payload_refuses_what_a_browser_could_not_read():
    """The payload of a real page gzip-encoded decodes to the page; cut short, or not gzip
    at all, it is an undecodable payload; a gzip bomb stops at the size cap, before it is
    decoded whole."""
    from warcio.statusandheaders import StatusAndHeaders

    from linkcrawl.sources.warc import PayloadError, PayloadTooLarge, decode_payload

    page = archived_responses(CC)["http://01spb.ru/company/"].body
    gzip_head = StatusAndHeaders("200 OK", [("Content-Encoding", "gzip")], protocol="HTTP/1.1")
    encoded = gzip.compress(page)
    assert decode_payload(encoded, gzip_head) == page
    with pytest.raises(PayloadError, match="ends before the end of gzip data"):
        decode_payload(encoded[: len(encoded) // 2], gzip_head)
    with pytest.raises(PayloadError, match="is not gzip data"):
        decode_payload(page, gzip_head)
    bomb = gzip.compress(b"\0" * (64 << 20))  # 64 MB in about 64 KB
    with pytest.raises(PayloadTooLarge):
        decode_payload(bomb, gzip_head, max_size=1 << 20)
    chunked = StatusAndHeaders("200 OK", [("Transfer-Encoding", "chunked")], protocol="HTTP/1.1")
    assert decode_payload(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", chunked) == b"hello world"
    odd = StatusAndHeaders("200 OK", [("Content-Encoding", "compress")], protocol="HTTP/1.1")
    with pytest.raises(PayloadError, match="unsupported Content-Encoding 'compress'"):
        decode_payload(page, odd)
