"""Import web archives (WARC 1.0/1.1 and ARC, plain or gzip) as a crawl, through the live
crawl's own spider callback, page item, Parquet pipeline and manifest.

Records are read with warcio (webrecorder's reader, pure Python): it reads WARC and ARC,
gzip per record, de-chunks and decodes Content-Encoding. A file gzipped whole (one member
for every record), which warcio refuses, is read through :mod:`gzip` instead.

An import reads its files twice. The first pass indexes every record's headers: which
request each response answers (a HEAD or POST response is not a page), every capture of
each URL (the newest one is imported: an archive often holds a URL several times, and a
crawl has one row per URL), and the response each revisit record points at. The second
pass hands the chosen captures, revisits resolved to their original payload, to
:meth:`LinkSpider.parse` as the Scrapy responses a live crawl would have built, inside a
real Scrapy crawl whose ``start()`` yields the page items and follows nothing.

Bad input (a file that is no archive, a record with broken headers, a truncated gzip
member or record, a payload that does not decode) is a :class:`Problem` with its file and
offset; the rest is imported.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import ipaddress
import zlib
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import BufferedReader, ChunkedDataReader

from linkcrawl.crawl.items import PageItem
from linkcrawl.dataset.layout import manifest_path, new_crawl_id, root_path, validate_crawl_id
from linkcrawl.dataset.manifest import build_manifest, read_manifest, write_manifest
from linkcrawl.errors import LinkcrawlError, first_line
from linkcrawl.extract.urls import host_of, normalize_url, registered_domain
from linkcrawl.spiders.links import LinkSpider

__all__ = [
    "PROBLEM_REASONS",
    "ArchiveSet",
    "ArchiveSpider",
    "Capture",
    "Problem",
    "WarcImport",
    "import_warc",
]

# Reasons of bad input: counted in the manifest's ``skipped`` and listed in ``problems``;
# `linkcrawl import warc` exits with status 4 when any occurred.
PROBLEM_REASONS = ("not-an-archive", "bad-record", "truncated", "undecodable-payload")
# A gzip file whose first member is not done within this much compressed input is read as
# one gzip stream (reading a per-record file that way works too, only offsets differ).
_MEMBER_PROBE = 1 << 20
_PROBLEMS_KEPT = 1000  # in the manifest; the counts are complete
# Parses handed to the parse pool at once: enough to keep its workers busy.
_IN_FLIGHT = 8
# Headers that describe the bytes on the wire, not the decoded payload a response holds.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
_READ = 1 << 16


@dataclass(frozen=True)
class Problem:
    """Input an import could not read: its file, byte offset, reason and what was wrong.

    ``offset`` is the record's offset in the file (of its gzip member in a per-record gzip
    file; in the decompressed stream, ``stream_offset``, for a file gzipped whole)."""

    file: str
    offset: int
    reason: str
    detail: str
    stream_offset: bool = False

    def line(self) -> str:
        where = f"offset {self.offset}" + (" (uncompressed)" if self.stream_offset else "")
        return f"{self.file} at {where}: {self.reason} ({self.detail})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "offset": self.offset,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass
class Capture:
    """One archived HTTP response, ready to become a Scrapy response."""

    url: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    fetched_at: int  # ms since the epoch: the record's WARC-Date
    # Over DOWNLOAD_MAXSIZE (stored or decoded): a page row with the error a crawl writes.
    too_large: bool = False
    # The server's address as the archiving crawler connected to it (WARC-IP-Address).
    ip: str | None = None

    def response(self) -> Any:
        """The response a live crawl builds from the same status, headers and body (the
        class from Scrapy's own ``responsetypes``, as its download handler picks it)."""
        import scrapy
        from scrapy.http import Headers
        from scrapy.responsetypes import responsetypes

        headers = Headers(self.headers)
        cls = responsetypes.from_args(headers=headers, url=self.url, body=self.body)
        # depth 0 for the callback's arithmetic; the page row's depth is set to null.
        request = scrapy.Request(self.url, meta={"depth": 0})
        return cls(
            url=self.url,
            status=self.status,
            headers=headers,
            body=self.body,
            request=request,
            ip_address=ipaddress.ip_address(self.ip) if self.ip else None,
        )


@dataclass
class _Record:
    """One record as the reader hands it on: WARC headers, HTTP head, stored payload."""

    offset: int
    rec_type: str
    headers: Any  # warcio StatusAndHeaders of the WARC record
    http: Any  # warcio StatusAndHeaders of the HTTP head, or None
    payload: bytes | None  # the HTTP payload as stored (None unless asked for)
    complete: bool  # the record's whole Content-Length was there
    too_large: bool = False  # the payload asked for was over the size cap: not kept

    def header(self, name: str) -> str | None:
        value = self.headers.get_header(name)
        return value.strip() if isinstance(value, str) else None


@dataclass
class _Entry:
    """A capture of a URL found by the first pass: a response, or a revisit of one."""

    key: tuple[int, int]  # (file index, record offset)
    url: str
    date: str
    revisit: bool
    original: tuple[int, int] | None = None  # for a resolved revisit


class PayloadError(Exception):
    """An HTTP payload that does not decode (chunking, Content-Encoding)."""


class PayloadTooLarge(Exception):
    """An HTTP payload over the size cap once decoded (a crawl's ``too-large``)."""


class _ArchiveFile:
    """One archive file: how to open it, and its records, read past bad ones."""

    def __init__(self, path: Path, index: int) -> None:
        self.path = path
        self.index = index
        self.name = str(path)
        self.whole_gzip = _gzipped_whole(path)

    def open(self) -> BinaryIO:
        raw = open(self.path, "rb")  # closed with the stream by the caller
        return gzip.GzipFile(fileobj=raw, mode="rb") if self.whole_gzip else raw  # type: ignore[return-value]

    def records(
        self, problems: _Problems, payload_of: Any = None, max_size: int = 0
    ) -> Iterator[_Record]:
        """Every record; a record that cannot be read is a problem, and reading goes on at
        the next record found after it. ``payload_of(offset)`` says whether to keep a
        record's payload (else it is read and dropped), up to ``max_size`` bytes (0: any)."""
        start: int | None = 0
        read = 0  # records read so far
        with self.open() as stream:
            while start is not None:
                stream.seek(start)
                iterator = ArchiveIterator(stream, arc2warc=True)
                offset = start
                try:
                    for record in iterator:
                        offset = iterator.offset
                        keep = payload_of is not None and payload_of(offset)
                        found = self._record(offset, record, keep, problems, max_size)
                        read += 1
                        yield found
                    start = None
                except Exception as exc:  # warcio, zlib and gzip raise many kinds
                    # Where reading failed: the record being parsed (warcio's offset moves
                    # to the next record once the last one was read to its end).
                    offset = max(offset, iterator.offset)
                    if read == 0 and offset == 0:
                        reason = "not-an-archive"
                    elif isinstance(exc, EOFError):
                        reason = "truncated"
                    else:
                        reason = "bad-record"
                    problems.add(self._problem(offset, reason, _one_line(exc)))
                    start = _resync(stream, offset + 1, self.whole_gzip or not _is_gzip(self.path))
                finally:
                    iterator.close()
        if read == 0 and not any(p.file == self.name for p in problems) and _size(self.path):
            problems.add(self._problem(0, "not-an-archive", "no WARC or ARC record in it"))

    def _record(
        self, offset: int, record: Any, keep: bool, problems: _Problems, max_size: int
    ) -> _Record:
        stream = record.raw_stream
        chunks: list[bytes] = []
        size = 0
        too_large = False
        while True:
            block = stream.read(_READ)
            if not block:
                break
            if keep:
                size += len(block)
                if max_size and size > max_size:
                    keep, too_large = False, True  # read on, keep nothing
                    chunks.clear()
                else:
                    chunks.append(block)
        complete = getattr(stream, "limit", 0) <= 0
        if not complete:  # whatever the record, the file is cut or broken there
            problems.add(
                self._problem(offset, "truncated", f"record ends {stream.limit} bytes short")
            )
        return _Record(
            offset,
            record.rec_type or "",
            record.rec_headers,
            record.http_headers,
            b"".join(chunks) if keep else (b"" if too_large else None),
            complete,
            too_large,
        )

    def _problem(self, offset: int, reason: str, detail: str) -> Problem:
        return Problem(self.name, offset, reason, detail, stream_offset=self.whole_gzip)


def _size(path: Path) -> int:
    return path.stat().st_size


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _gzipped_whole(path: Path) -> bool:
    """A gzip file whose first member does not end within the probe (or is the whole file)
    holds its records in one gzip stream, which warcio cannot iterate."""
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            return False
        f.seek(0)
        member = zlib.decompressobj(zlib.MAX_WBITS | 16)
        read = 0
        try:
            while read < _MEMBER_PROBE:
                block = f.read(_READ)
                if not block:
                    return True  # the member, if it ended, was the whole file
                read += len(block)
                member.decompress(block, _READ)
                while member.unconsumed_tail and not member.eof:
                    member.decompress(member.unconsumed_tail, _READ)
                if member.eof:
                    return not member.unused_data and not f.read(1)
        except zlib.error:
            return False  # the per-record reader reports it, with its offset
    return True


def _resync(stream: BinaryIO, start: int, plain: bool) -> int | None:
    """The offset of the next record at or after ``start``: the next gzip member header
    in a per-record gzip file, else the next line starting ``WARC/``; None if none."""
    markers = (b"\nWARC/1.", b"\nWARC/0.") if plain else (b"\x1f\x8b\x08",)
    try:
        stream.seek(start)
        position, tail = start, b""
        while block := stream.read(_READ):
            window = tail + block
            found = [i for i in (window.find(m) for m in markers) if i >= 0]
            if found:
                at = position - len(tail) + min(found)
                return at + 1 if plain else at
            tail = window[-8:]
            position += len(block)
    except (OSError, EOFError, zlib.error):
        return None  # a broken gzip stream cannot be read past
    return None


class _Problems:
    """Problems found, each once (both passes read the same files)."""

    def __init__(self, files: Sequence[str] = ()) -> None:
        self.found: dict[tuple[str, int, str], Problem] = {}
        self.order = {name: i for i, name in enumerate(files)}

    def add(self, problem: Problem) -> None:
        self.found.setdefault((problem.file, problem.offset, problem.reason), problem)

    def __iter__(self) -> Iterator[Problem]:
        # By file, in the order given, then by offset.
        ordered = sorted(self.found.values(), key=lambda p: (self.order.get(p.file, 0), p.offset))
        return iter(ordered)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for problem in self.found.values():
            out[problem.reason] = out.get(problem.reason, 0) + 1
        return out


def _one_line(exc: BaseException) -> str:
    line = " ".join(first_line(exc).split())
    return line if len(line) <= 160 else line[:157] + "..."


def _address(text: str | None) -> str | None:
    """A WARC-IP-Address as pages.ip holds it; None when absent or not an address."""
    try:
        return str(ipaddress.ip_address((text or "").strip("[]"))) if text else None
    except ValueError:
        return None


def _epoch_ms(date: str | None) -> int:
    if not date:
        return 0
    try:
        moment = datetime.fromisoformat(date.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _target_url(record: _Record) -> str | None:
    uri = record.header("WARC-Target-URI")
    if not uri:
        return None
    uri = uri.strip("<>")  # WARC 1.1 drafts wrote <uri>
    if not uri.lower().startswith(("http://", "https://")):
        return None  # dns:, whois:, file: ...: not a web page
    return normalize_url(uri)


def _status(http: Any) -> int | None:
    if http is None:
        return None
    try:
        return int(http.get_statuscode())
    except (TypeError, ValueError):
        return None


class ArchiveSet:
    """The captures of a set of archive files, and what could not be read in them.

    ``domains`` keeps only pages whose host is one of them or under one of them
    (``iana.org`` keeps ``www.iana.org``); a payload over ``max_size`` bytes (stored or
    decoded) is a ``too-large`` page, as in a crawl. :meth:`index` is the first pass;
    :meth:`captures` the second, yielding the chosen capture of each URL.
    """

    def __init__(
        self, paths: Sequence[Path | str], domains: Iterable[str] = (), max_size: int = 0
    ) -> None:
        self.files = [_ArchiveFile(Path(p), i) for i, p in enumerate(paths)]
        # DOWNLOAD_MAXSIZE: a payload over it, stored or decoded, is not parsed (nor held).
        self.max_size = max_size
        self.domains = tuple(sorted({d.strip().lower().strip(".") for d in domains if d.strip()}))
        self.problems = _Problems([f.name for f in self.files])
        self.skipped: dict[str, int] = {}
        self.chosen: dict[tuple[int, int], _Entry] = {}
        self.originals: dict[tuple[int, int], int] = {}  # original -> revisits waiting
        self.indexed = False

    def _skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def in_scope(self, url: str) -> bool:
        if not self.domains:
            return True
        host = host_of(url)
        return any(host == d or host.endswith("." + d) for d in self.domains)

    def index(self) -> int:
        """First pass: choose the capture of each URL; returns how many will be imported."""
        methods: dict[str, str] = {}  # record id -> method of the request it belongs to
        concurrent: dict[tuple[int, int], list[str]] = {}
        ids: dict[str, tuple[int, int]] = {}
        by_uri_date: dict[tuple[str, str], tuple[int, int]] = {}
        by_digest: dict[str, list[tuple[int, int]]] = {}
        uris: dict[tuple[int, int], str] = {}
        entries: dict[str, list[_Entry]] = {}
        references: dict[tuple[int, int], tuple[str | None, ...]] = {}
        for archive in self.files:
            for record in archive.records(self.problems):
                key = (archive.index, record.offset)
                rid = record.header("WARC-Record-ID")
                links = (record.header("WARC-Concurrent-To") or "").split()
                if record.rec_type == "request":
                    method = getattr(record.http, "protocol", None) or "GET"
                    for other in [rid, *links]:
                        if other:
                            methods[other] = method.upper()
                    continue
                if record.rec_type not in ("response", "revisit"):
                    continue
                url = _target_url(record)
                if url is None or (record.rec_type == "response" and _status(record.http) is None):
                    continue  # not an HTTP(S) response (dns:, a resource, no status line)
                if not record.complete:
                    continue  # a problem already (_ArchiveFile._record)
                date = record.header("WARC-Date") or ""
                concurrent[key] = [x for x in [rid, *links] if x]
                revisit = record.rec_type == "revisit"
                if revisit:
                    references[key] = (
                        record.header("WARC-Refers-To"),
                        (record.header("WARC-Refers-To-Target-URI") or "").strip("<>") or None,
                        record.header("WARC-Refers-To-Date"),
                        record.header("WARC-Payload-Digest"),
                    )
                else:
                    if rid:
                        ids[rid] = key
                    raw_uri = (record.header("WARC-Target-URI") or "").strip("<>")
                    by_uri_date.setdefault((raw_uri, date), key)
                    uris[key] = url
                    digest = record.header("WARC-Payload-Digest")
                    if digest:
                        by_digest.setdefault(digest, []).append(key)
                entries.setdefault(url, []).append(_Entry(key, url, date, revisit))
        for url, captures in entries.items():
            usable: list[_Entry] = []
            for entry in captures:
                method = next(
                    (methods[x] for x in concurrent.get(entry.key, ()) if x in methods), "GET"
                )
                if method != "GET":
                    self._skip("not-a-get")
                    continue
                if entry.revisit:
                    entry.original = self._resolve(
                        entry, references[entry.key], ids, by_uri_date, by_digest, uris
                    )
                    if entry.original is None:
                        self._skip("revisit-unresolved")
                        continue
                usable.append(entry)
            if not usable:
                continue
            if not self.in_scope(url):
                self._skip("out-of-scope")
                continue
            # The newest capture: the site as the archive saw it last.
            best = max(usable, key=lambda e: (_epoch_ms(e.date), e.key))
            self._skip("older-capture", len(usable) - 1)
            self.chosen[best.key] = best
            if best.original is not None:
                self.originals[best.original] = self.originals.get(best.original, 0) + 1
        self.skipped = {k: v for k, v in sorted(self.skipped.items()) if v}
        self.indexed = True
        return len(self.chosen)

    @staticmethod
    def _resolve(
        entry: _Entry,
        refs: tuple[str | None, ...],
        ids: dict[str, tuple[int, int]],
        by_uri_date: dict[tuple[str, str], tuple[int, int]],
        by_digest: dict[str, list[tuple[int, int]]],
        uris: dict[tuple[int, int], str],
    ) -> tuple[int, int] | None:
        """The response a revisit repeats: by WARC-Refers-To, else by its target URI and
        date, else by payload digest (a capture of the same URL first)."""
        refers_to, uri, date, digest = refs
        if refers_to and refers_to in ids:
            return ids[refers_to]
        if uri and date and (uri, date) in by_uri_date:
            return by_uri_date[(uri, date)]
        same = by_digest.get(digest or "", [])
        for key in same:
            if uris.get(key) == entry.url:
                return key
        return same[0] if same else None

    def captures(self) -> Iterator[Capture]:
        """Second pass: the chosen capture of each URL, a revisit with its original's
        payload, in the order the files hold them (a revisit read before its original
        waits for it)."""
        if not self.indexed:
            self.index()
        originals: dict[tuple[int, int], tuple[_Record, bytes | None] | None] = {}
        waiting: dict[tuple[int, int], list[_Record]] = {}
        remaining = dict(self.originals)
        for archive in self.files:
            wanted = {o for (i, o) in self.chosen if i == archive.index}
            wanted |= {o for (i, o) in self.originals if i == archive.index}
            if not wanted:
                continue
            for record in archive.records(self.problems, wanted.__contains__, self.max_size):
                key = (archive.index, record.offset)
                if record.payload is None:
                    continue
                if key in self.originals:
                    decoded = self._decoded(archive, record)
                    originals[key] = (record, decoded[0]) if decoded is not None else None
                    for revisit in waiting.pop(key, []):
                        yield from self._revisit(revisit, key, originals, remaining)
                entry = self.chosen.get(key)
                if entry is None:
                    continue
                if entry.revisit:
                    assert entry.original is not None
                    if entry.original in originals:
                        yield from self._revisit(record, entry.original, originals, remaining)
                    else:
                        waiting.setdefault(entry.original, []).append(record)
                    continue
                found = self._decoded(archive, record)
                if found is not None:
                    yield self._capture(record, record, found[0])
        for revisits in waiting.values():
            self._skip("revisit-unresolved", len(revisits))  # its original was unreadable

    def _revisit(
        self,
        revisit: _Record,
        key: tuple[int, int],
        originals: dict[tuple[int, int], tuple[_Record, bytes | None] | None],
        remaining: dict[tuple[int, int], int],
    ) -> Iterator[Capture]:
        found = originals[key]
        remaining[key] -= 1
        if remaining[key] <= 0:
            del originals[key]  # every revisit of it is done: let its payload go
        if found is None:
            self._skip("revisit-unresolved")
            return
        original, body = found
        yield self._capture(revisit, original, body)

    def _capture(self, record: _Record, original: _Record, body: bytes | None) -> Capture:
        """``body`` None: the payload was over the size cap."""
        # A revisit stores the headers of its own response; a 304 ("not modified") or a
        # revisit without an HTTP head stands for the original response as it was.
        own = record.http if _status(record.http) not in (None, 304) else None
        http = own or original.http
        url = _target_url(record)
        assert url is not None  # chosen records have one
        headers = [(k, v) for k, v in http.headers if k.lower() not in _WIRE_HEADERS]
        return Capture(
            url=url,
            status=_status(http) or 0,
            headers=headers,
            body=body or b"",
            fetched_at=_epoch_ms(record.header("WARC-Date")),
            too_large=body is None,
            ip=_address(record.header("WARC-IP-Address")),
        )

    def _decoded(self, archive: _ArchiveFile, record: _Record) -> tuple[bytes | None] | None:
        """The payload, de-chunked and decoded (in a tuple; ``(None,)`` when over the size
        cap); None, and a problem, if it does not decode."""
        assert record.payload is not None
        if record.too_large:
            return (None,)
        try:
            return (decode_payload(record.payload, record.http, self.max_size),)
        except PayloadTooLarge:
            return (None,)
        except PayloadError as exc:
            self.problems.add(archive._problem(record.offset, "undecodable-payload", str(exc)))
            return None


def decode_payload(payload: bytes, http: Any, max_size: int = 0) -> bytes:
    """An HTTP payload as stored, without its transfer and content encodings (warcio's
    readers); PayloadError when a declared Content-Encoding does not decode to its end,
    PayloadTooLarge when it decodes to more than ``max_size`` bytes (0: no cap), which
    is found out without decoding further (a few KB of gzip can hold gigabytes)."""
    encoding = (http.get_header("content-encoding") or "").strip().lower()
    chunked = "chunked" in (http.get_header("transfer-encoding") or "").lower()
    if encoding in ("", "identity"):
        encoding = ""
    elif encoding not in BufferedReader.get_supported_decompressors():
        raise PayloadError(f"unsupported Content-Encoding {encoding!r}")
    if not encoding and not chunked:
        return payload
    stream = io.BytesIO(payload)
    decomp = encoding or None
    try:
        reader: Any = (
            ChunkedDataReader(stream, decomp_type=decomp)
            if chunked
            else BufferedReader(stream, decomp_type=decomp)
        )
        blocks, size = [], 0
        while block := reader.read(_READ):
            size += len(block)
            if max_size and size > max_size:
                raise PayloadTooLarge(size)
            blocks.append(block)
        body = b"".join(blocks)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # zlib, brotli and warcio's own
        raise PayloadError(f"Content-Encoding {encoding}: {_one_line(exc)}") from None
    if encoding and payload:
        decompressor = reader.decompressor
        finished = getattr(decompressor, "eof", None)
        if finished is None and hasattr(decompressor, "is_finished"):
            finished = decompressor.is_finished()
        if decompressor is None or finished is False:
            what = "is not" if decompressor is None else "ends before the end of"
            raise PayloadError(f"the body {what} {encoding} data")
    return bytes(body)


class ArchiveSpider(LinkSpider):
    """The link spider reading an :class:`ArchiveSet` instead of the web: ``start()``
    hands each capture to :meth:`LinkSpider.parse`, as a live crawl hands it each
    download, and yields the page items; it follows nothing."""

    name = "links-archive"

    def __init__(self, archive: ArchiveSet | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if archive is None:
            raise ValueError("ArchiveSpider needs an archive (an ArchiveSet)")
        self.archive = archive

    def _configure(self, crawler: Any) -> None:
        super()._configure(crawler)
        # The manifest's scope: the domains asked for, else those of the pages.
        self.scope = frozenset(self.archive.domains)

    def _follow(self, *args: Any, **kwargs: Any) -> None:
        return None  # an import fetches nothing: the archive is all there is

    async def start(self) -> AsyncIterator[Any]:
        from scrapy.utils.defer import deferred_from_coro, maybe_deferred_to_future

        stats = self.crawler.stats
        in_flight: deque[tuple[Capture, Any]] = deque()
        captures = self.archive.captures()
        done = False
        while not done or in_flight:
            while not done and len(in_flight) < _IN_FLIGHT:
                capture = next(captures, None)
                if capture is None:
                    done = True
                    break
                if capture.too_large:
                    # What a crawl writes when the download goes over DOWNLOAD_MAXSIZE.
                    self.crawler.stats.inc_value("linkcrawl/archive/too_large")
                    yield PageItem(
                        url=capture.url,
                        fetched_at=capture.fetched_at,
                        domain=registered_domain(host_of(capture.url)),
                        error="too-large",
                    )
                    continue
                try:
                    response = capture.response()
                except ValueError as exc:  # a URL Scrapy refuses
                    stats.inc_value("linkcrawl/skipped/bad-url")
                    self.logger.warning("skipped %s: %s", capture.url, exc)
                    continue
                parsing = maybe_deferred_to_future(deferred_from_coro(self.parse(response)))
                in_flight.append((capture, parsing))
            if not in_flight:
                break
            capture, parsing = in_flight.popleft()
            for out in await parsing:
                if isinstance(out, PageItem):
                    out.fetched_at = capture.fetched_at  # when the archive captured it
                    out.depth = None  # an archive records no click depth
                    yield out
        for reason, n in {**self.archive.skipped, **self.archive.problems.counts()}.items():
            stats.set_value(f"linkcrawl/skipped/{reason}", n)


@dataclass
class WarcImport:
    """What :func:`import_warc` did: the crawl id, counts, what it skipped and why."""

    crawl_id: str
    status: str
    counts: dict[str, int]
    skipped: dict[str, int]
    problems: list[Problem] = field(default_factory=list)


def describe_archive(path: Path) -> dict[str, Any]:
    """A manifest's entry for one archive file: name, path, size and sha256."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {
        "name": path.name,
        "path": str(path.resolve()),
        "bytes": size,
        "sha256": digest.hexdigest(),
    }


def import_warc(
    files: Sequence[Path | str],
    data_dir: Path | str = "data",
    *,
    crawl_id: str | None = None,
    domains: Iterable[str] = (),
    settings: dict[str, Any] | None = None,
    progress_seconds: float = 0.0,
) -> WarcImport:
    """Import web archives (WARC 1.0/1.1, ARC; plain, gzip per record or whole) as a
    finished crawl of ``data_dir``.

    Each archived HTTP response (the newest capture of each URL; a revisit with its
    original's payload when that is in ``files``) is parsed by the live crawl's own
    spider callback and written by its pipeline, so its rows are those a crawl of the same
    responses writes; a 3xx with Location is a redirect edge. ``fetched_at`` is the
    record's WARC-Date; ``depth`` and ``discovered_by`` are null (an archive records
    neither). The manifest says ``source: warc`` and lists the files with their sha256.

    Parameters
    ----------
    files
        Archive files, read in this order.
    data_dir
        The linkcrawl data directory (created if missing).
    crawl_id
        The new crawl's id (default: one from the time now).
    domains
        Keep only pages on these hosts or under these domains (default: every page).
    settings
        Scrapy or linkcrawl settings (``-s``), e.g. ``LINKCRAWL_PARSE_WORKERS``.

    Returns
    -------
    WarcImport
        The crawl id, counts, skipped counts by reason, and the problems: input that
        could not be read, each with its file and offset (the rest was imported).

    Runs Scrapy's reactor in this process: call it once per process.

    >>> import_warc(["site.warc.gz"], "data").crawl_id   # doctest: +SKIP
    'c20261202T100000Z'
    """
    from linkcrawl.crawl.process import crawl_settings, project_settings, run_scrapy
    from linkcrawl.crawl.runner import DataDirLock

    if not files:
        raise LinkcrawlError("no archive files given")
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            what = "is a directory" if path.is_dir() else "does not exist"
            raise LinkcrawlError(f"archive {path} {what}")
    root = root_path(data_dir)
    if not isinstance(root, Path):
        raise LinkcrawlError(f"{data_dir}: an archive import needs a local data directory")
    crawl_id = validate_crawl_id(crawl_id or new_crawl_id())
    if manifest_path(root, crawl_id).is_file():
        raise LinkcrawlError(
            f"crawl {crawl_id} already exists in {root}: choose another --crawl-id"
        )
    archives = [describe_archive(p) for p in paths]
    given = settings or {}
    # 0 is no cap, as for Scrapy; a server's own settings module may set it too.
    max_size = int(
        given["DOWNLOAD_MAXSIZE"]
        if "DOWNLOAD_MAXSIZE" in given
        else project_settings().getint("DOWNLOAD_MAXSIZE")
    )
    archive = ArchiveSet(paths, domains, max_size)
    if archive.index() == 0:
        problems = list(archive.problems)
        why = f": {problems[0].line()}" if problems else " (no HTTP response records)"
        raise LinkcrawlError(f"nothing to import in {len(paths)} file(s){why}")
    root.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {"LOG_LEVEL": "WARNING", **(settings or {})}
    # One process reads the archive: a server's settings module that shares its crawls
    # through Redis does not make the import a worker of one.
    overrides["LINKCRAWL_REDIS_URL"] = ""
    # An archive is what was captured: the import reads no live sitemap.
    overrides["LINKCRAWL_SITEMAPS"] = False
    # ... nor renders pages, which would fetch their scripts from the live web today.
    overrides["LINKCRAWL_RENDER"] = "never"
    overrides["LINKCRAWL_RENDER_PATTERN"] = ""
    scrapy_settings = crawl_settings(
        root,
        crawl_id,
        progress_seconds=progress_seconds,
        overrides=overrides,
        manifest_fields={"source": "warc", "imported": True, "archives": archives, "locked": True},
    )
    scrapy_settings.set("JOBDIR", None, priority="cmdline")  # nothing to resume from
    with DataDirLock(root, crawl_id):
        run_scrapy(scrapy_settings, [], crawl_id, spider=ArchiveSpider, archive=archive)
        path = root / "crawls" / f"{crawl_id}.json"
        if not path.is_file():
            raise LinkcrawlError(f"import {crawl_id} wrote nothing to {root}")
        problems = list(archive.problems)
        manifest = read_manifest(path).fields
        manifest = build_manifest(
            crawl_id,
            base=manifest,
            problems=[p.to_dict() for p in problems[:_PROBLEMS_KEPT]],
            skipped=dict(
                sorted(
                    {
                        **(manifest.get("skipped") or {}),
                        **archive.skipped,
                        **archive.problems.counts(),
                    }.items()
                )
            ),
        )
        write_manifest(root, manifest)
    return WarcImport(
        crawl_id=crawl_id,
        status=str(manifest["status"]),
        counts=dict(manifest["counts"]),
        skipped=dict(manifest["skipped"]),
        problems=problems,
    )
