"""The dataset on disk: schemas, crash-safe part files, crawl manifests, and readers.

Layout (see docs/dataset.md)::

    data/crawls/<crawl_id>.json
    data/edges/crawl_id=<id>/part-NNNNN.parquet
    data/pages/crawl_id=<id>/part-NNNNN.parquet
    data/authority/crawl_id=<id>/{pages,domains,inbound}.parquet

A part file appears only when complete: it is written under ``data/.staging/``, fsynced,
then moved into place with ``os.replace``. A crawl killed at any moment leaves a dataset
that pandas, DuckDB and polars read, short of at most the batch in flight.

The data directory may also be a URI: ``file:///srv/data`` is the local directory, and any
other scheme pyarrow knows (``s3://bucket/prefix``, ``gs://...``) is an object store, reached
through a :class:`RemotePath` (see docs/scaling.md, "Object stores").
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.acero as acero
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from linkcrawl.parquet_join import JoinError, join_parquet_files

__all__ = [
    "AUTHORITY_SCHEMAS",
    "CRAWL_TABLES",
    "DOMAINS_SCHEMA",
    "EDGES_SCHEMA",
    "INBOUND_SCHEMA",
    "PAGES_SCHEMA",
    "PAGE_AUTHORITY_SCHEMA",
    "SCHEMA_VERSION",
    "CrawlInterrupted",
    "Dataset",
    "DatasetError",
    "LinkcrawlError",
    "Manifest",
    "PartWriter",
    "RemotePath",
    "ResumeState",
    "SkippedPart",
    "clean_staging",
    "format_time",
    "manifest_path",
    "new_crawl_id",
    "open_dataset",
    "read_manifest",
    "replace_directory",
    "root_path",
    "staged_partition",
    "validate_crawl_id",
    "write_manifest",
    "write_table_atomic",
]

log = logging.getLogger(__name__)

# Bumped when a change to a schema would make an older linkcrawl misread the files; readers
# refuse files and manifests from a newer version rather than guess.
SCHEMA_VERSION = 1
TIMESTAMP = pa.timestamp("ms", tz="UTC")
# ~64k rows per row group: one huge row group overflows the dictionary page and falls back
# to plain encoding, and readers skip row groups by their statistics.
ROW_GROUP_SIZE = 65_536
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "row_group_size": ROW_GROUP_SIZE,
    "write_statistics": True,
}
# Columns that Parquet dictionary-encodes, per table: the repetitive ones. A URL or anchor
# column overflows the dictionary page and falls back to plain encoding anyway; trying
# costs a third of the write time and makes the file larger (bench/write_bench.py).
DICTIONARY_COLUMNS = {
    "edges": ["source", "rel", "position", "kind", "source_domain", "target_domain"],
    "pages": ["status", "error", "content_type", "meta_robots", "x_robots_tag", "depth"],
    # one URL per row and nearly distinct floats: only the domain repeats
    "authority/pages": ["domain"],
    "authority/domains": [],
    # sorted by target domain, a row group holds few target domains and their pages
    "authority/inbound": [
        "target", "target_domain", "source", "source_domain", "anchor", "rel", "position", "kind",
    ],
}  # fmt: skip


def _metadata(table: str) -> dict[str, str]:
    return {"linkcrawl.table": table, "linkcrawl.schema_version": str(SCHEMA_VERSION)}


# Low-cardinality columns (rel, position, kind, the domains) are plain ``string`` in Arrow
# and dictionary-encoded by Parquet on disk: the same bytes as an Arrow dictionary type,
# but every reader gets plain strings (an Arrow dictionary column comes back as pandas
# ``category`` and polars ``Categorical``, which compare and concatenate differently).
EDGES_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("anchor", pa.string(), nullable=False),
        pa.field("rel", pa.string(), nullable=False),
        pa.field("follow", pa.bool_(), nullable=False),
        pa.field("position", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("target_domain", pa.string(), nullable=False),
        pa.field("internal", pa.bool_(), nullable=False),
        pa.field("discovered_at", TIMESTAMP, nullable=False),
    ],
    metadata=_metadata("edges"),
)

PAGES_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("status", pa.int16()),
        pa.field("error", pa.string()),
        pa.field("content_type", pa.string()),
        pa.field("title", pa.string()),
        pa.field("canonical", pa.string()),
        pa.field("meta_robots", pa.string()),
        pa.field("x_robots_tag", pa.string()),
        pa.field("noindex", pa.bool_()),
        pa.field("nofollow", pa.bool_()),
        pa.field("depth", pa.int16()),
        pa.field("outlinks", pa.int32()),
        pa.field("bytes", pa.int64()),
        pa.field("elapsed_ms", pa.int32()),
        pa.field("fetched_at", TIMESTAMP, nullable=False),
    ],
    metadata=_metadata("pages"),
)

PAGE_AUTHORITY_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("pagerank", pa.float64(), nullable=False),
        pa.field("authority", pa.float64(), nullable=False),
        pa.field("inlinks", pa.int64(), nullable=False),
        pa.field("referring_domains", pa.int64(), nullable=False),
        pa.field("inbound_links", pa.int64(), nullable=False),
        pa.field("follow_share", pa.float64()),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata=_metadata("authority/pages"),
)

DOMAINS_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("pagerank", pa.float64(), nullable=False),
        pa.field("authority", pa.float64(), nullable=False),
        pa.field("referring_domains", pa.int64(), nullable=False),
        pa.field("inbound_links", pa.int64(), nullable=False),
        pa.field("follow_share", pa.float64()),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata=_metadata("authority/domains"),
)

INBOUND_SCHEMA = pa.schema(
    [
        pa.field("target", pa.string(), nullable=False),
        pa.field("target_domain", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("anchor", pa.string(), nullable=False),
        pa.field("rel", pa.string(), nullable=False),
        pa.field("follow", pa.bool_(), nullable=False),
        pa.field("position", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source_authority", pa.float64(), nullable=False),
        pa.field("source_domain_authority", pa.float64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata=_metadata("authority/inbound"),
)

AUTHORITY_SCHEMAS = {
    "pages": PAGE_AUTHORITY_SCHEMA,
    "domains": DOMAINS_SCHEMA,
    "inbound": INBOUND_SCHEMA,
}
CRAWL_TABLES = {"edges": EDGES_SCHEMA, "pages": PAGES_SCHEMA}

_CRAWL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_PART = re.compile(r"^part-(?:(?P<worker>[A-Za-z0-9]+)-)?(?P<n>\d+)\.parquet$")
# Words that DuckDB's or polars' Hive partition inference reads as a date, float or bool.
_TYPED_WORDS = frozenset({"nan", "inf", "infinity", "epoch", "true", "false"})
# Digits and separators alone (2026-11-22, 1.5.2), or a digit first and only T and Z as
# letters (20261122T030000Z), read as a date or date-time to polars or DuckDB.
_DATE_CHARS = str.maketrans("", "", "0123456789-_.")


class LinkcrawlError(Exception):
    """A problem a user can act on; its message is one line. The CLI prints it and exits 1."""


class CrawlInterrupted(LinkcrawlError):
    """A crawl (or one worker of it) stopped before its end for a reason outside it, its
    rows on disk; the CLI exits 3, as for any interrupted crawl."""

    exit_code = 3


class DatasetError(LinkcrawlError):
    """A problem with the data directory: missing, not a dataset, unknown crawl, bad file."""


def new_crawl_id(now: datetime | None = None) -> str:
    """A crawl id from the UTC time, such as ``c20261122T030000Z``.

    It sorts by time, and the leading letter keeps every reader from typing the partition
    value: polars reads a bare ``20261122T030000Z`` as a datetime.
    """
    return (now or datetime.now(UTC)).strftime("c%Y%m%dT%H%M%SZ")


def validate_crawl_id(crawl_id: str) -> str:
    """Return ``crawl_id`` if it is a usable partition value, else raise DatasetError.

    An id is 1-128 letters, digits, ``_``, ``-`` or ``.``, starting with a letter or digit,
    that pandas, DuckDB and polars all read back as a string: not a number (``20261122``,
    ``0x1f``), not a date or date-time (``2026-11-22``, ``20261122T030000Z``), not a word
    such as ``true``, ``nan`` or ``infinity``.
    """
    if not isinstance(crawl_id, str) or not _CRAWL_ID.match(crawl_id):
        raise DatasetError(
            f"bad crawl id {crawl_id!r}: use letters, digits, '_', '-' or '.' (at most 128)"
        )
    if _reads_as_number(crawl_id):
        raise DatasetError(
            f"bad crawl id {crawl_id!r}: it reads as a number, which readers would type "
            f"differently; add a letter (for example 'c{crawl_id}')"
        )
    letters = set(crawl_id.lower().translate(_DATE_CHARS))
    if (
        crawl_id.lower() in _TYPED_WORDS
        or not letters
        or (crawl_id[0].isdigit() and letters <= {"t", "z"})
    ):
        raise DatasetError(
            f"bad crawl id {crawl_id!r}: DuckDB or polars would read it as a date, number "
            f"or boolean; add a letter (for example 'c{crawl_id}')"
        )
    return crawl_id


def _reads_as_number(text: str) -> bool:
    for parse in (float, lambda s: int(s, 0)):
        try:
            parse(text)
        except ValueError:
            continue
        return True
    return False


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- where the data directory is ------------------------------------------------------------


class RemotePath:
    """A file or folder in an object store (any ``pyarrow.fs`` file system), with the part
    of :class:`pathlib.Path` that the dataset code uses: ``/``, ``name``, ``parent``,
    ``exists``, ``is_file``, ``is_dir``, ``iterdir``, ``glob`` (one level), ``mkdir``,
    ``read_bytes``, ``read_text``, ``write_bytes``, ``unlink``. ``str()`` gives its URI.

    Object stores have no rename: a file is written with one ``open_output_stream``, which
    an object store makes visible whole or not at all (one PUT), so readers never see part
    of a part file there either.
    """

    def __init__(self, fs: pafs.FileSystem, path: str, origin: tuple[str, str, str]) -> None:
        self.fs = fs
        self.path = path.rstrip("/")
        # (URI of the data directory without its query, its path in fs, the query): str()
        # maps a path in fs back to a URI that root_path() opens again.
        self.origin = origin

    def __str__(self) -> str:
        uri, base, query = self.origin
        return uri + self.path[len(base) :] + (f"?{query}" if query else "")

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and (self.fs, self.path) == (other.fs, other.path)

    def __hash__(self) -> int:
        return hash(self.path)

    def __lt__(self, other: RemotePath) -> bool:
        return self.path < other.path

    def __truediv__(self, name: str | Path) -> RemotePath:
        return RemotePath(self.fs, f"{self.path}/{name}", self.origin)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self.fs, self.path.rsplit("/", 1)[0], self.origin)

    def _type(self) -> pafs.FileType:
        return self.fs.get_file_info(self.path).type

    def exists(self) -> bool:
        return self._type() != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self._type() == pafs.FileType.File

    def is_dir(self) -> bool:
        return self._type() == pafs.FileType.Directory

    def iterdir(self) -> Iterator[RemotePath]:
        selector = pafs.FileSelector(self.path, allow_not_found=True)
        for info in sorted(self.fs.get_file_info(selector), key=lambda i: i.path):
            yield RemotePath(self.fs, info.path, self.origin)

    def glob(self, pattern: str) -> Iterator[RemotePath]:
        return (p for p in self.iterdir() if fnmatchcase(p.name, pattern))

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        self.fs.create_dir(self.path, recursive=True)

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.path) as fh:
            return fh.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, payload: bytes) -> None:
        with self.open_output_stream() as fh:
            fh.write(payload)

    def open_output_stream(self) -> Any:
        """A stream that writes this file; made visible whole when closed."""
        try:
            return self.fs.open_output_stream(self.path)
        except FileNotFoundError:
            # File systems with real folders want the parent first; object stores do not,
            # and save the request when it is not needed.
            self.fs.create_dir(self.parent.path, recursive=True)
            return self.fs.open_output_stream(self.path)

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.path)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def open_input_file(self) -> Any:
        return self.fs.open_input_file(self.path)


# File systems by scheme, host and options, made once: an S3 file system resolves its
# bucket's region when made, and a test's in-memory one keeps its files only while it lives.
_FILESYSTEMS: dict[tuple[str, str, str], pafs.FileSystem] = {}


def root_path(root: Path | str | RemotePath | os.PathLike[str]) -> Path | RemotePath:
    """The data directory ``root`` as a local :class:`~pathlib.Path` (a plain path, or a
    ``file://`` URI) or a :class:`RemotePath` (any other URI pyarrow's file systems know,
    such as ``s3://bucket/prefix?region=eu-west-1``); LinkcrawlError if it is neither."""
    if isinstance(root, (Path, RemotePath)):
        return root
    text = os.fspath(root)
    if "://" not in text:
        return Path(text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise LinkcrawlError(f"{text}: a file:// URI names a local path (file:///srv/data)")
        return Path(unquote(parts.path))
    key = (scheme, parts.netloc, parts.query)
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise LinkcrawlError(
            f"{text}: cannot open this data location ({_first_line(exc)})"
        ) from None
    fs = _FILESYSTEMS.setdefault(key, fs)
    uri = text.split("?", 1)[0].rstrip("/")
    return RemotePath(fs, path, (uri, path.rstrip("/"), parts.query))


def is_local(root: Path | str | RemotePath) -> bool:
    """True when ``root`` is on the local file system (a path or a ``file://`` URI)."""
    return isinstance(root_path(root), Path)


# -- writing ---------------------------------------------------------------------------------

_HOST = socket.gethostname().replace("~", "-")


def _staging_file(staging: Path, name: str) -> Path:
    """A file name in ``staging`` that says which process owns it: ``name~host~pid~ns.tmp``,
    so that a cleaner can tell a dead writer's leftovers from a live writer's file."""
    staging.mkdir(parents=True, exist_ok=True)
    return staging / f"{name}~{_HOST}~{os.getpid()}~{time.monotonic_ns()}.tmp"


def _fsync_dir(path: Path) -> None:
    # A rename is durable only once the directory holding it is synced.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _move_into_place(tmp: Path, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def atomic_write_bytes(path: Path, payload: bytes, staging: Path) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the new, never part."""
    if isinstance(path, RemotePath):
        path.write_bytes(payload)  # one PUT: whole or not at all
        return
    tmp = _staging_file(staging, path.name)
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        _move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_table_atomic(table: pa.Table, path: Path, staging: Path) -> None:
    """Write one Parquet file (zstd, dictionary encoding, ~64k-row groups) atomically.

    Dictionary encoding covers every column, or for edges and pages the columns of
    :data:`DICTIONARY_COLUMNS` (found by the schema's ``linkcrawl.table`` metadata).

    The file is written in ``staging`` (which must be on the same file system as ``path``
    and outside every dataset root), fsynced, then renamed to ``path``: readers see the
    whole file or none.
    """
    name = (table.schema.metadata or {}).get(b"linkcrawl.table", b"").decode()
    write_tables_atomic([table], table.schema, path, staging, DICTIONARY_COLUMNS.get(name, True))


def write_tables_atomic(
    tables: Iterable[pa.Table | pa.RecordBatch],
    schema: pa.Schema,
    path: Path | RemotePath,
    staging: Path,
    use_dictionary: bool | list[str] = True,
) -> None:
    """Write a stream of tables (or record batches) of ``schema`` as one Parquet file, with
    the options of :func:`write_table_atomic`, and atomically as it does.

    Whatever their lengths, the rows are cut into the row groups of one write of the
    whole: ``ROW_GROUP_SIZE`` rows each, the last one shorter. When ``tables`` is an
    iterator, a thread encodes and compresses each while it makes the next. No rows at
    all write a file with the schema and no row groups. On an object
    store the file is one output stream, visible whole when it closes; after a failure
    midway the object is removed (pyarrow's streams cannot abandon an upload: closing one
    completes it), so that no reader takes part of the rows for the whole table.
    """
    write_parts_atomic([tables], schema, path, staging, use_dictionary)


def write_parts_atomic(
    parts: Sequence[Iterable[pa.Table | pa.RecordBatch]],
    schema: pa.Schema,
    path: Path | RemotePath,
    staging: Path,
    use_dictionary: bool | list[str] = True,
) -> None:
    """:func:`write_tables_atomic` for a table given as consecutive parts, each a stream of
    tables, written at the same time: pyarrow encodes and compresses a file on one thread,
    so each part is written by a thread of its own to a file of its own, and the files
    are then joined into one (:mod:`linkcrawl.parquet_join`, which moves bytes and
    rewrites the footer only).

    Each part's rows are cut into row groups as one write of that part would cut them.
    When every part but the last holds a multiple of ``ROW_GROUP_SIZE`` rows, the file is
    byte for byte the one that :func:`write_tables_atomic` writes of all the rows. On an
    object store, and for one part, the parts are written one after the other.
    """
    options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}

    def write(sink: Any, tables: Iterable[pa.Table | pa.RecordBatch]) -> None:
        with pq.ParquetWriter(sink, schema, use_dictionary=use_dictionary, **options) as writer:
            if isinstance(tables, list | tuple):  # made already: nothing to overlap with
                for table in _row_group_aligned(tables):
                    writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
                return
            write_overlapped(writer, tables)

    def write_overlapped(writer: pq.ParquetWriter, tables: Iterable[Any]) -> None:
        # The pool is shut down (the last write done) before the writer closes the file.
        with ThreadPoolExecutor(1) as pool:
            pending: Future[None] | None = None
            for table in _row_group_aligned(tables):
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_table, table, row_group_size=ROW_GROUP_SIZE)
            if pending is not None:
                pending.result()

    def write_file(file: Path, tables: Iterable[Any]) -> None:
        # A native file: pyarrow writes it without taking the GIL for every page, which a
        # Python file object needs (and waits for while other threads run Python).
        with pa.OSFile(str(file), "wb") as sink:
            write(sink, tables)

    if isinstance(path, RemotePath):
        try:
            with path.open_output_stream() as stream:
                write(stream, itertools.chain.from_iterable(parts))
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            raise
        return
    name = Path(path).name
    files = [_staging_file(Path(staging), name if len(parts) == 1 else f"{name}.{i}")
             for i in range(len(parts))]  # fmt: skip
    try:
        if len(parts) == 1:
            write_file(files[0], parts[0])
        else:
            with ThreadPoolExecutor(len(parts) - 1) as pool:
                others = [
                    pool.submit(write_file, file, part)
                    for file, part in zip(files[1:], parts[1:], strict=True)
                ]
                try:
                    write_file(files[0], parts[0])
                finally:
                    for done in others:
                        done.exception()  # every writer finished before the files go
                for done in others:
                    done.result()
            _join_parts(files, schema, write, Path(staging), name)
        fd = os.open(files[0], os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _move_into_place(files[0], Path(path))
    finally:
        for file in files:
            file.unlink(missing_ok=True)


def _join_parts(
    files: list[Path], schema: pa.Schema, write: Callable[..., None], staging: Path, name: str
) -> None:
    """Join part files into the first (see :func:`write_parts_atomic`); if their footers
    are not as the join knows them (a pyarrow that writes new fields), write the rows
    again with one writer, from the part files."""
    try:
        join_parquet_files(files[0], files[1:])
    except JoinError as exc:
        log.warning("writing %s with one writer: %s", name, exc)
        whole = _staging_file(staging, name)
        try:
            with pa.OSFile(str(whole), "wb") as sink:
                write(sink, [pq.read_table(f, schema=schema) for f in files])
            os.replace(whole, files[0])
        finally:
            whole.unlink(missing_ok=True)


def _row_group_aligned(tables: Iterable[pa.Table | pa.RecordBatch]) -> Iterator[pa.Table]:
    """The rows of ``tables`` again, cut so that every table but the last holds a multiple
    of ``ROW_GROUP_SIZE`` rows, and none is empty: written one after the other, they make
    the row groups of one write of the whole."""
    held: list[pa.Table] = []
    rows = 0
    for table in tables:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        held.append(table)
        rows += table.num_rows
        if rows >= ROW_GROUP_SIZE:
            whole = pa.concat_tables(held)
            cut = rows - rows % ROW_GROUP_SIZE
            yield whole.slice(0, cut)
            held, rows = [whole.slice(cut)], rows - cut
    if rows:
        yield pa.concat_tables(held)


class PartWriter:
    """Appends part files to one table's partition of one crawl.

    ``worker`` names the writing process, so that several processes of one crawl never
    pick the same part name. Numbering continues after the parts already there, so a
    resumed crawl adds to its partition. ``write(table, part=n)`` writes part number ``n``
    (the pipeline gives an edges part and its pages part the same number).
    """

    def __init__(
        self,
        root: Path | str,
        table: str,
        crawl_id: str,
        schema: pa.Schema,
        worker: str | None = None,
    ) -> None:
        if worker is not None and not re.fullmatch(r"[A-Za-z0-9]+", worker):
            raise LinkcrawlError(f"bad worker name {worker!r}: use letters and digits")
        self.root = root_path(root)
        self.schema = schema
        self.partition = self.root / table / f"crawl_id={validate_crawl_id(crawl_id)}"
        self.staging = self.root / ".staging"
        self.worker = worker
        self.partition.mkdir(parents=True, exist_ok=True)
        self.next_part = 1 + max(self.part_numbers(), default=-1)
        self.rows_written = 0
        self.parts_written = 0

    def part_numbers(self) -> list[int]:
        """The numbers of this worker's part files already in the partition."""
        return sorted(
            int(m.group("n"))
            for p in self.partition.iterdir()
            if (m := _PART.match(p.name)) and m.group("worker") == self.worker
        )

    def part_path(self, part: int) -> Path:
        prefix = f"part-{self.worker}-" if self.worker else "part-"
        return self.partition / f"{prefix}{part:05d}.parquet"

    def write(self, table: pa.Table, part: int | None = None) -> Path | None:
        """Write ``table`` (cast to the schema) as the next part file; None if empty."""
        if part is not None:
            self.next_part = part
        if table.num_rows == 0:
            return None
        if not table.schema.equals(self.schema, check_metadata=True):
            table = table.cast(self.schema)
        path = self.part_path(self.next_part)
        write_table_atomic(table, path, self.staging)
        self.next_part += 1
        self.rows_written += table.num_rows
        self.parts_written += 1
        return path


def _park(path: Path, staging: Path) -> Path | None:
    """Move directory ``path`` into ``staging`` with one rename (None if it is not there),
    under a name that says its owner, so that clean_staging removes it if this process dies
    before it does."""
    parked = _staging_file(staging, f"replaced-{path.parent.name}-{path.name}")
    try:
        os.rename(path, parked)
    except FileNotFoundError:
        return None
    return parked


def replace_directory(new: Path, path: Path, staging: Path) -> None:
    """Put the directory ``new`` (in ``staging``) at ``path``, in place of the directory
    there: readers see all of the old one or all of the new one, never some of each.

    POSIX cannot swap two directories in one step, so the old one is renamed aside, the new
    one renamed in, and the old one removed: a crash between the two renames leaves nothing
    at ``path`` (and the old directory in ``staging``, for clean_staging), never a mix.
    When another writer puts its directory at ``path`` between the two renames, it is
    renamed aside in turn: the last writer wins, whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _fsync_dir(new)
    for _ in range(100):
        old = _park(path, staging)
        try:
            os.rename(new, path)
        except OSError as exc:
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
                continue  # a concurrent writer's directory arrived between the renames
            if old is not None:
                with contextlib.suppress(OSError):
                    os.rename(old, path)  # put the old one back rather than leave none
            raise
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return
    raise LinkcrawlError(f"{path}: other writers keep replacing it; try again")


def _crawl_is_going(root: Path | RemotePath, crawl_id: str) -> bool:
    """True when the crawl's manifest is gone or says prune is removing it."""
    path = manifest_path(root, crawl_id)
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False  # damaged, but there: its readers say so
    return isinstance(fields, dict) and fields.get("status") == "pruning"


@contextlib.contextmanager
def staged_partition(
    root: Path | str | RemotePath, table: str, crawl_id: str
) -> Iterator[Path | RemotePath]:
    """A directory to write one generation of ``<table>/crawl_id=<id>/`` into (such as the
    authority tables of one analysis), which replaces the partition whole when the block
    ends without an error: readers see every table of the old generation or every table of
    the new one, or, after a crash at the swap, none (see :func:`replace_directory`). On an
    error the new tables are removed and the old ones stay.

    Write files into it with the atomic writers, ``staging`` as usual. The directory is
    under ``data/.staging/``, named for its owner, so that clean_staging removes it if this
    process dies.

    If the crawl's manifest is gone or says ``pruning`` once the new partition is in place
    (a ``prune`` ran meanwhile), the partition is removed again and DatasetError raised:
    no partition outlives its crawl's manifest. prune marks the manifest before it lists
    partitions, so one of the two always sees the other.

    On an object store there is no rename: the old generation's files are deleted first,
    then the new ones written in place. A crash leaves some of the new tables or none,
    never old beside new; ``domains.parquet``, written last, marks a whole generation.
    Two writers at once are only kept apart on a local file system.
    """
    root = root_path(root)
    partition = root / table / f"crawl_id={validate_crawl_id(crawl_id)}"
    if isinstance(partition, RemotePath):
        for old in list(partition.glob("*")):
            if old.is_file():
                old.unlink(missing_ok=True)
        yield partition
        return
    staging = Path(root) / ".staging"
    new = _staging_file(staging, f"{table}-{crawl_id}")
    new.mkdir()
    try:
        yield new
        replace_directory(new, Path(partition), staging)
    finally:
        shutil.rmtree(new, ignore_errors=True)  # only there if the swap did not happen
    if _crawl_is_going(root, crawl_id):
        gone = _park(Path(partition), staging)
        if gone is not None:
            shutil.rmtree(gone, ignore_errors=True)
        raise DatasetError(
            f"crawl {crawl_id} was pruned while its {table} tables were written: none kept"
        )


def clean_staging(root: Path | str, max_age_s: float = 86_400.0) -> int:
    """Remove files left in ``data/.staging/`` by writers that died; returns how many.

    Several processes may share a data directory (the workers of one crawl, a crawl and an
    ``analyze``), so a file is removed only when its owner is a process of this host that
    no longer runs, or when it is older than ``max_age_s`` (any owner: a write never takes
    that long). ``max_age_s=0`` removes every file not owned by a live process.
    """
    if not is_local(root):
        return 0  # nothing is staged in an object store
    staging = root_path(root) / ".staging"
    if not staging.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    removed = 0
    for path in staging.iterdir():
        parts = path.name.rsplit("~", 3)
        owner_alive = False
        if len(parts) == 4 and parts[3].endswith(".tmp") and parts[2].isdigit():
            owner_alive = _pid_alive(int(parts[2]), parts[1])
        try:
            if path.is_dir():
                # The spill and output folders of the duckdb and spark engines: removed
                # only when their owner is known and dead (a long analysis may be running).
                if len(parts) == 4 and parts[2].isdigit() and not owner_alive:
                    shutil.rmtree(path, ignore_errors=True)
                    removed += 1
                continue
            if not path.is_file():
                continue
            if not owner_alive or (path.stat().st_mtime < cutoff and max_age_s > 0):
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass  # its writer renamed or removed it meanwhile
    return removed


def drop_unpaired_parts(root: Path | str, crawl_id: str, worker: str | None = None) -> list[Path]:
    """Remove this worker's edges parts that have no pages part of the same number.

    The pipeline writes edges part N, then pages part N: a crash between the two leaves
    edges whose pages row is missing, and a resumed crawl fetches those pages again. Run
    before resuming so that their edges are not written twice. Returns what was removed.
    """
    root = root_path(root)
    edges = PartWriter(root, "edges", crawl_id, EDGES_SCHEMA, worker)
    pages = PartWriter(root, "pages", crawl_id, PAGES_SCHEMA, worker)
    paired = set(pages.part_numbers())
    removed = []
    for n in edges.part_numbers():
        if n not in paired:
            path = edges.part_path(n)
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed and isinstance(edges.partition, Path):
        _fsync_dir(edges.partition)
    return removed


# -- manifests -------------------------------------------------------------------------------


def _pid_alive(pid: int | None, host: str | None) -> bool:
    if not pid or (host and host != socket.gethostname() and host != _HOST):
        return True  # another machine's process: we cannot tell, so trust the manifest
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# The data directory's crawl lock (linkcrawl.runner.DataDirLock), and what its file says:
# "pid N, crawl ID" for a crawl, "shared crawl ID" for the workers of a Redis crawl.
LOCK_FILE = ".crawl.lock"
_LOCK_TEXT = re.compile(r"(?:pid \d+, crawl|shared crawl) (?P<crawl_id>\S+)")


def crawl_lock(root: Path | str) -> tuple[bool, str | None] | None:
    """Whether a live process holds the crawl lock of data directory ``root``, and the
    crawl its lock file names (the holder's, or the last holder's); None when that cannot
    be told (an object store, or a file system without ``flock``).

    The kernel releases an ``flock`` when its holder dies, wherever its pid was recorded
    (pid 1 in a container) and on whichever host it ran, where the file system shares
    locks between hosts (NFSv4 does). The probe takes the lock for an instant, without
    waiting: a crawl starting at that instant tries again (:class:`DataDirLock`).
    """
    if not is_local(root):
        return None
    path = root_path(root) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False, None
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
        except BlockingIOError:
            held = True
        except OSError:
            return None
        match = _LOCK_TEXT.search(os.pread(fd, 200, 0).decode(errors="replace"))
    finally:
        os.close(fd)
    return held, match["crawl_id"] if match else None


def crawl_lock_holder(root: Path | str) -> str | None:
    """The id of the crawl that holds the crawl lock of ``root`` now, if any."""
    lock = crawl_lock(root)
    return lock[1] if lock is not None and lock[0] else None


@dataclass
class Manifest:
    """The record of one crawl: ``data/crawls/<crawl_id>.json``."""

    path: Path
    fields: dict[str, Any]

    @property
    def crawl_id(self) -> str:
        return self.fields["crawl_id"]

    @property
    def status(self) -> str:
        """running, finished, failed (it ran to its end, but every seed failed: see
        ``failure``) or interrupted; a running crawl whose process is gone is reported as
        interrupted.

        In a local data directory, whether a crawl run by ``linkcrawl crawl`` still runs
        is told by the data directory's lock (:func:`crawl_lock`): the crawl holds it while
        it runs, and the kernel lets it go when the process dies, so a crawl killed in a
        container (where it recorded pid 1) or on another host reads interrupted. Crawls
        that ran without the lock (scrapyd, ``scrapy crawl``), a crawl shared through
        Redis (its workers may run where this host's locks do not reach) and any crawl in
        an object store (nothing is locked there) are judged as before, by the pid and
        host they recorded: another host's crawl is trusted to run.
        """
        status = self.fields.get("status", "unknown")
        if status == "running" and not self._alive():
            return "interrupted"
        return status

    def _alive(self) -> bool:
        fields = self.fields
        if "distributed" not in fields:
            lock = crawl_lock(self.path.parent.parent)
            if lock is not None:
                held, holder = lock
                if holder == self.crawl_id:
                    return held
                if fields.get("locked"):
                    return False  # it ran under the lock, and no longer holds it
        return _pid_alive(fields.get("pid"), fields.get("host"))

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields, "status": self.status}


def manifest_path(root: Path | str, crawl_id: str) -> Path:
    """Where the manifest of ``crawl_id`` lives: ``<root>/crawls/<crawl_id>.json``."""
    return root_path(root) / "crawls" / f"{validate_crawl_id(crawl_id)}.json"


def write_manifest(root: Path | str, fields: dict[str, Any]) -> Path:
    """Write (replace) a crawl manifest atomically; ``fields`` must hold ``crawl_id``."""
    root = root_path(root)
    path = manifest_path(root, fields["crawl_id"])
    payload = json.dumps(fields, indent=2, sort_keys=True, default=str).encode() + b"\n"
    atomic_write_bytes(path, payload, root / ".staging")
    return path


def read_manifest(path: Path | str) -> Manifest:
    """Read one manifest; DatasetError if it is unreadable or from a newer linkcrawl."""
    path = root_path(path)
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable crawl manifest ({_first_line(exc)})") from None
    if not isinstance(fields, dict) or "crawl_id" not in fields:
        raise DatasetError(f"{path}: not a linkcrawl crawl manifest (no crawl_id)")
    _check_version(path, fields.get("schema_version"))
    crawl_id = fields["crawl_id"]
    if not isinstance(crawl_id, str) or not _CRAWL_ID.match(crawl_id):
        raise DatasetError(f"{path}: bad crawl_id {crawl_id!r} in the manifest")
    if path.name.endswith(".json") and path.name[: -len(".json")] != crawl_id:
        # Every command finds a crawl's files by its id: one manifest naming another
        # crawl would have them read, or prune remove, that crawl's files.
        raise DatasetError(
            f"{path}: the manifest names crawl {crawl_id!r}, not the crawl of its file name"
        )
    for name, kind in _MANIFEST_TYPES.items():
        value = fields.get(name)
        if value is not None and not isinstance(value, kind):
            raise DatasetError(
                f"{path}: bad {name} {_short(value)} in the manifest "
                f"(expected {' or '.join(k.__name__ for k in _as_tuple(kind))})"
            )
    for name in _MANIFEST_TIMES:
        if fields.get(name) is not None:
            fields[name] = _utc_time(path, name, fields[name])
    return Manifest(path, fields)


# Fields of a manifest that readers use, and the JSON types they must have.
_MANIFEST_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": str,
    "seeds": list,
    "counts": dict,
    "settings": dict,
    "pid": int,
    "host": str,
}
_MANIFEST_TIMES = ("started_at", "finished_at")


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def format_time(moment: datetime) -> str:
    """The one form of a time in a manifest: UTC, microseconds, ``+00:00``, such as
    ``2026-11-22T03:00:00.000000+00:00`` (it sorts as text in time order)."""
    if moment.tzinfo is None:
        raise ValueError("a manifest time must be aware (give tzinfo=UTC)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_time(path: Path, name: str, value: Any) -> str:
    """A manifest time in the one form of :func:`format_time`, whichever ISO 8601 form
    wrote it (``Z`` or an offset, with or without fractions); DatasetError if none."""
    try:
        if not isinstance(value, str):
            raise TypeError
        # ISO 8601's reduced forms (a year, a month) are a time too.
        value = value + "-01-01" if re.fullmatch(r"\d{4}", value) else value
        value = value + "-01" if re.fullmatch(r"\d{4}-\d{2}", value) else value
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise DatasetError(
            f"{path}: bad {name} {_short(value)} in the manifest (expected an ISO 8601 time)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # linkcrawl writes UTC; an old naive one too
    return format_time(moment)


def _check_version(path: Path, version: Any) -> None:
    try:
        number = int(version) if version is not None else SCHEMA_VERSION
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: unknown schema version {version!r}") from None
    if number > SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: written by a newer linkcrawl (schema version {number}; this one reads "
            f"up to {SCHEMA_VERSION}): upgrade linkcrawl"
        )


# -- reading ---------------------------------------------------------------------------------


class SkippedPart(NamedTuple):
    """A part file a ``skip_corrupt`` reader left out, and why."""

    path: Path
    reason: str


class ResumeState(NamedTuple):
    """A crawl's progress as its rows on disk record it (see :meth:`Dataset.resume_state`)."""

    done: set[str]
    frontier: list[tuple[str, int]]


_MAGIC = b"PAR1"


def _footer_problem(path: Path) -> str | None:
    """Why ``path`` is not a whole Parquet file (no footer magic), or None; reads 8 bytes."""
    try:
        with path.open_input_file() if isinstance(path, RemotePath) else open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < 12:
                return f"truncated Parquet file ({size} bytes)"
            fh.seek(0)
            head = fh.read(4)
            fh.seek(size - 4)
            tail = fh.read(4)
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    if head != _MAGIC:
        return "not a Parquet file"
    if tail != _MAGIC:
        return "truncated Parquet file (no footer)"
    return None


def _part_problem(path: Path, expected: pa.Schema | None = None) -> str | None:
    """Why a part file cannot be read (bad footer, bad metadata, newer schema version, a
    column of ``expected`` missing or of another type), or None."""
    problem = _footer_problem(path)
    if problem:
        return problem
    try:
        schema = pq.read_schema(path.open_input_file() if isinstance(path, RemotePath) else path)
    except (pa.ArrowException, OSError) as exc:
        return f"unreadable Parquet metadata ({_first_line(exc)})"
    version = (schema.metadata or {}).get(b"linkcrawl.schema_version")
    try:
        _check_version(path, version.decode(errors="replace") if version else None)
    except DatasetError as exc:
        return str(exc).partition(": ")[2]
    for field in expected or ():
        if field.name == "crawl_id":
            continue
        index = schema.get_field_index(field.name)
        if index < 0:
            return f"not a linkcrawl table of this kind (no column {field.name!r})"
        if not schema.field(index).type.equals(field.type):
            return (
                f"column {field.name!r} is {schema.field(index).type}, "
                f"not {field.type} as linkcrawl writes it"
            )
    return None


class Dataset:
    """A linkcrawl data directory, read with pyarrow and returned as pandas.

    ``skip_corrupt=True`` leaves out part files that cannot be read (truncated, damaged,
    from a newer linkcrawl) instead of raising; each reader call then lists what it left
    out in :attr:`skipped` and logs a warning.

    >>> ds = open_dataset("data")                         # doctest: +SKIP
    >>> edges = ds.edges(columns=["source", "target"])    # doctest: +SKIP
    """

    def __fspath__(self) -> str:
        # A Dataset stands wherever a data directory path is taken, so that a reader
        # opened with skip_corrupt=True can be handed to analysis and monitor functions.
        return str(self.root)

    def __init__(self, root: Path | str, *, skip_corrupt: bool = False) -> None:
        self.root = root_path(root)
        self.skip_corrupt = skip_corrupt
        self.skipped: list[SkippedPart] = []

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r})"

    # crawls

    def manifests(self) -> list[Manifest]:
        """Every crawl's manifest, newest first (by start time, then id)."""
        found = [read_manifest(p) for p in sorted((self.root / "crawls").glob("*.json"))]
        found.sort(key=lambda m: (m.fields.get("started_at") or "", m.crawl_id), reverse=True)
        return found

    def crawls(self) -> list[dict[str, Any]]:
        """The crawls' manifests as dicts, newest first; ``status`` is running, finished or
        interrupted (a crawl left ``running`` by a process that died reads interrupted)."""
        return [m.to_dict() for m in self.manifests()]

    def manifest(self, crawl_id: str) -> Manifest:
        """The manifest of ``crawl_id``; DatasetError naming the known crawls if none."""
        path = manifest_path(self.root, crawl_id)
        if not path.is_file():
            raise DatasetError(f"no crawl {crawl_id!r} in {self.root} ({self._known()})")
        return read_manifest(path)

    def _known(self) -> str:
        ids = [m.crawl_id for m in self.manifests()[:5]]
        return "newest: " + ", ".join(ids) if ids else "it holds no crawls"

    def resolve_crawl(self, crawl_id: str | None = None, *, finished: bool = True) -> str:
        """``crawl_id`` if it exists; by default the newest finished crawl."""
        if crawl_id is not None:
            return self.manifest(crawl_id).crawl_id
        manifests = self.manifests()
        for m in manifests:
            if not finished or m.status == "finished":
                return m.crawl_id
        if manifests:
            raise DatasetError(
                f"no finished crawl in {self.root}; name one with --crawl-id "
                f"(newest: {manifests[0].crawl_id}, {manifests[0].status})"
            )
        raise DatasetError(f"no crawl in {self.root}: run `linkcrawl crawl` first")

    # tables

    def _partition_files(self, table: str, crawl_id: str | None) -> list[Path]:
        base = self.root / table
        if crawl_id is not None:
            validate_crawl_id(crawl_id)
            partition = base / f"crawl_id={crawl_id}"
            if not partition.is_dir() and not manifest_path(self.root, crawl_id).is_file():
                raise DatasetError(f"no crawl {crawl_id!r} in {self.root} ({self._known()})")
            dirs = [partition]
        else:
            dirs = sorted(base.glob("crawl_id=*"))
        files = sorted(p for d in dirs if d.is_dir() for p in d.glob("*.parquet"))
        if crawl_id is not None and not files:
            self._check_rows_expected(table, crawl_id)
        elif crawl_id is None:
            present = {p.parent.name.partition("=")[2] for p in files}
            for m in self.manifests():
                if m.crawl_id in present:
                    continue
                try:
                    self._check_rows_expected(table, m.crawl_id)
                except DatasetError as exc:
                    if not self.skip_corrupt:
                        raise
                    self._skip(base / f"crawl_id={m.crawl_id}", str(exc))
        # A footer and schema check per file turns pyarrow's error about one damaged part
        # (which fails the whole read, or reads a column of another type as nulls) into a
        # line that names the file; a newer schema version is refused, not guessed at.
        good = []
        expected = CRAWL_TABLES.get(table)
        for path in files:
            problem = (
                "a folder, not a Parquet file" if path.is_dir() else _part_problem(path, expected)
            )
            if problem is None:
                good.append(path)
            elif self.skip_corrupt:
                self._skip(path, problem)
            else:
                raise DatasetError(_corrupt_message(path, problem))
        return good

    def _check_rows_expected(self, table: str, crawl_id: str) -> None:
        """DatasetError when the manifest of ``crawl_id`` counts rows of ``table`` that no
        part file holds: a finished crawl whose files were removed is not an empty one."""
        path = manifest_path(self.root, crawl_id)
        if not path.is_file():
            return
        counts = read_manifest(path).fields.get("counts") or {}
        expected = counts.get(table)
        if isinstance(expected, int) and expected > 0:
            raise DatasetError(
                f"crawl {crawl_id}: its manifest counts {expected} {table} rows, but "
                f"{self.root / table / f'crawl_id={crawl_id}'} holds no part file"
            )

    def authority_path(self, table: str, crawl_id: str) -> Path:
        """The file of one authority table (pages, domains or inbound) of ``crawl_id``,
        checked: DatasetError if it is missing, not a whole Parquet file, from a newer
        linkcrawl, or without the columns linkcrawl writes (audit columns may be added)."""
        schema = AUTHORITY_SCHEMAS.get(table)
        if schema is None:
            raise DatasetError(
                f"unknown authority table {table!r}: use one of {sorted(AUTHORITY_SCHEMAS)}"
            )
        path = self.root / "authority" / f"crawl_id={validate_crawl_id(crawl_id)}"
        path = path / f"{table}.parquet"
        if not path.exists():
            raise DatasetError(
                f"crawl {crawl_id} has not been analysed: run `linkcrawl analyze` first "
                f"(--crawl-id {crawl_id})"
            )
        problem = "a folder, not a Parquet file" if path.is_dir() else _part_problem(path, schema)
        if problem is not None:
            raise DatasetError(
                f"{path}: {problem}; run `linkcrawl analyze --crawl-id {crawl_id}` again"
            )
        return path

    def _skip(self, path: Path, reason: str) -> None:
        if all(s.path != path for s in self.skipped):
            self.skipped.append(SkippedPart(path, reason))
            log.warning("skipped %s: %s", path, reason)

    def arrow(
        self, table: str = "edges", crawl_id: str | None = None, *, skip_corrupt: bool | None = None
    ) -> pads.Dataset:
        """A ``pyarrow.dataset.Dataset`` over one table (all crawls, or one), for data
        larger than memory; ``crawl_id`` is a string column.

        Parameters
        ----------
        table : "edges" or "pages"
        crawl_id : one crawl, or None for all
        skip_corrupt : leave out unreadable part files (listed in :attr:`skipped`); by
            default the dataset's own setting
        """
        schema = CRAWL_TABLES.get(table)
        if schema is None:
            raise DatasetError(f"unknown table {table!r}: use one of {sorted(CRAWL_TABLES)}")
        skip = self.skip_corrupt if skip_corrupt is None else skip_corrupt
        previous, self.skip_corrupt = self.skip_corrupt, skip
        try:
            files = self._partition_files(table, crawl_id)
            if skip:
                files = [p for p in files if not self._skipped_for(p)]
        finally:
            self.skip_corrupt = previous
        full = schema.append(pa.field("crawl_id", pa.string()))
        if not files:
            return pads.dataset(full.empty_table())
        base = self.root / table
        remote = isinstance(base, RemotePath)
        return pads.dataset(
            [p.path if remote else str(p) for p in files],
            schema=full,
            format="parquet",
            filesystem=base.fs if remote else None,
            partitioning=pads.partitioning(pa.schema([("crawl_id", pa.string())]), flavor="hive"),
            partition_base_dir=base.path if remote else str(base),
        )

    def _skipped_for(self, path: Path) -> bool:
        problem = _part_problem(path)
        if problem is not None:
            self._skip(path, problem)
        return problem is not None

    def _read(
        self,
        table: str,
        crawl_id: str | None,
        columns: Sequence[str] | None,
        filters: Any,
        skip_corrupt: bool | None,
    ) -> Any:
        # Reading the manifests refuses crawls written by a newer linkcrawl; the part files'
        # own versions are checked when a read fails or skip_corrupt is on.
        if crawl_id is None:
            self.manifests()
        elif manifest_path(self.root, crawl_id).is_file():
            read_manifest(manifest_path(self.root, crawl_id))
        ds = self.arrow(table, crawl_id, skip_corrupt=skip_corrupt)
        unknown = [c for c in columns or () if c not in ds.schema.names]
        if unknown:
            raise DatasetError(
                f"{self.root / table}: no column {unknown[0]!r} (columns: "
                f"{', '.join(ds.schema.names)})"
            )
        try:
            result = ds.to_table(
                columns=list(columns) if columns else None, filter=_as_expression(filters)
            )
        except (pa.ArrowException, OSError) as exc:
            raise self._diagnose(table, crawl_id, exc) from None
        return result.to_pandas()

    def _diagnose(self, table: str, crawl_id: str | None, exc: BaseException) -> DatasetError:
        """The one-line error for a failed read: the first bad part file if there is one."""
        for path in self._partition_files(table, crawl_id):
            problem = _part_problem(path)
            if problem is not None:
                return DatasetError(_corrupt_message(path, problem))
        return DatasetError(f"{self.root / table}: {_first_line(exc)}")

    def edges(
        self,
        crawl_id: str | None = None,
        columns: Sequence[str] | None = None,
        filters: Any = None,
        *,
        skip_corrupt: bool | None = None,
    ) -> Any:
        """Edges as a pandas DataFrame: one crawl, or all crawls with a crawl_id column.

        ``filters`` is a ``pyarrow.dataset`` expression or pandas-style tuples, such as
        ``[("follow", "=", True)]``.
        """
        return self._read("edges", crawl_id, columns, filters, skip_corrupt)

    def pages(
        self,
        crawl_id: str | None = None,
        columns: Sequence[str] | None = None,
        filters: Any = None,
        *,
        skip_corrupt: bool | None = None,
    ) -> Any:
        """Pages as a pandas DataFrame: one crawl, or all crawls with a crawl_id column."""
        return self._read("pages", crawl_id, columns, filters, skip_corrupt)

    def counts(self, crawl_id: str) -> dict[str, int]:
        """Rows on disk for one crawl: pages, edges, and errors (pages with an error or a
        status of 400 or more)."""
        pages = self.arrow("pages", crawl_id).to_table(columns=["status", "error"])
        errors = pc.or_kleene(pc.is_valid(pages["error"]), pc.greater_equal(pages["status"], 400))
        return {
            "pages": pages.num_rows,
            "edges": self.arrow("edges", crawl_id).count_rows(),
            "errors": int(pc.sum(pc.fill_null(errors, False)).as_py() or 0),
        }

    def resume_state(self, crawl_id: str) -> ResumeState:
        """What a resumed crawl must know, from the rows on disk (which survive a SIGKILL,
        unlike Scrapy's JOBDIR queue and duplicate filter, whose last requests and buffered
        fingerprints die with the process).

        Returns the URLs already fetched (``done``: each has its pages row, so its edges
        are on disk too), and the ``frontier``: every edge target that is not done, with
        its depth (one more than the shallowest page linking to it), shallowest first.
        The spider decides which of them are in scope.
        """
        pages = self.arrow("pages", crawl_id).to_table(columns=["url", "depth"])
        fetched = pa.table({"url": pages["url"]})
        depth_of = pa.table(
            {"url": pages["url"], "depth": pc.fill_null(pages["depth"], 0).cast(pa.int32())}
        )
        # The edges are most of the rows on disk and are streamed through one Acero plan,
        # batch by batch: only the pages (the right, build side of both joins) and the
        # unfetched targets (the groups) are held, never the edges themselves.
        scan = acero.Declaration(
            "scan",
            acero.ScanNodeOptions(
                self.arrow("edges", crawl_id),
                columns=["source", "target"],
                batch_readahead=2,
                fragment_readahead=1,
            ),
        )
        links = acero.Declaration(
            "project",
            acero.ProjectNodeOptions(
                [pc.field("source"), pc.field("target")], ["source", "target"]
            ),
            inputs=[scan],
        )
        pending = acero.Declaration(
            "hashjoin",
            acero.HashJoinNodeOptions("left anti", ["target"], ["url"]),
            inputs=[
                links,
                acero.Declaration("table_source", acero.TableSourceNodeOptions(fetched)),
            ],
        )
        with_depth = acero.Declaration(
            "hashjoin",
            acero.HashJoinNodeOptions(
                "left outer", ["source"], ["url"], left_output=["target"], right_output=["depth"]
            ),
            inputs=[
                pending,
                acero.Declaration("table_source", acero.TableSourceNodeOptions(depth_of)),
            ],
        )
        shallowest = acero.Declaration(
            "aggregate",
            acero.AggregateNodeOptions([("depth", "hash_min", None, "depth_min")], keys=["target"]),
            inputs=[with_depth],
        )
        try:
            frontier = shallowest.to_table()
        except (pa.ArrowException, OSError) as exc:
            raise self._diagnose("edges", crawl_id, exc) from None
        # A target linked only from pages without a pages row has no depth: it sorts last,
        # at depth 1.
        frontier = frontier.sort_by([("depth_min", "ascending"), ("target", "ascending")])
        depths = pc.add(pc.fill_null(frontier["depth_min"], 0), 1)
        return ResumeState(
            done=set(pages["url"].to_pylist()),
            frontier=list(zip(frontier["target"].to_pylist(), depths.to_pylist(), strict=True)),
        )

    def authority(self, table: str = "domains", crawl_id: str | None = None) -> Any:
        """One authority table (pages, domains or inbound) of a crawl, as pandas."""
        if table not in AUTHORITY_SCHEMAS:
            raise DatasetError(
                f"unknown authority table {table!r}: use one of {sorted(AUTHORITY_SCHEMAS)}"
            )
        path = self.authority_path(table, self.resolve_crawl(crawl_id))
        try:
            if isinstance(path, RemotePath):
                return pq.read_table(path.path, filesystem=path.fs).to_pandas()
            return pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{path}: {_first_line(exc)}") from None


def _corrupt_message(path: Path, problem: str) -> str:
    return f"{path}: {problem}; move it away, or read around it with --skip-corrupt"


def _as_expression(filters: Any) -> Any:
    if filters is None or isinstance(filters, pads.Expression):
        return filters
    return pq.filters_to_expression(filters)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_dataset(
    path: Path | str | Dataset = "data", *, create: bool = False, skip_corrupt: bool = False
) -> Dataset:
    """Open a linkcrawl data directory.

    Parameters
    ----------
    path : the data directory (holding ``crawls/``, ``edges/``, ``pages/``), or an open
        :class:`Dataset`, which is returned as it is (with its own ``skip_corrupt``)
    create : make the directory if it does not exist, instead of raising
    skip_corrupt : read around part files that cannot be read and list them in
        ``Dataset.skipped``, instead of raising DatasetError

    Raises
    ------
    DatasetError
        ``path`` does not exist, is not a directory, or holds no linkcrawl dataset
        (neither ``crawls/`` nor ``edges/``), unless ``create`` is true.

    Examples
    --------
    >>> ds = open_dataset("data")                                 # doctest: +SKIP
    >>> ds.edges(ds.resolve_crawl(), columns=["source", "target"])  # doctest: +SKIP
    """
    if isinstance(path, Dataset):
        return path
    root = root_path(path)
    if create:
        root.mkdir(parents=True, exist_ok=True)
        return Dataset(root, skip_corrupt=skip_corrupt)
    if not root.exists():
        raise DatasetError(f"{root}: no such data directory")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory (give the data directory, such as data/)")
    if not (root / "crawls").is_dir() and not (root / "edges").is_dir():
        raise DatasetError(f"{root}: not a linkcrawl data directory (no crawls/ or edges/)")
    return Dataset(root, skip_corrupt=skip_corrupt)


def table_from_columns(columns: dict[str, Iterable[Any]], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from a dict of Python lists (column name -> values)."""
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema=schema)
