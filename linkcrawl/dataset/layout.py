"""Where things live in a data directory: crawl ids, part names, local and object-store roots."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from linkcrawl.errors import DatasetError, LinkcrawlError, first_line

_CRAWL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


_PART = re.compile(r"^part-(?:(?P<worker>[A-Za-z0-9]+)-)?(?P<n>\d+)\.parquet$")


# Words that DuckDB's or polars' Hive partition inference reads as a date, float or bool.
_TYPED_WORDS = frozenset({"nan", "inf", "infinity", "epoch", "true", "false"})


# Digits and separators alone (2026-11-22, 1.5.2), or a digit first and only T and Z as
# letters (20261122T030000Z), read as a date or date-time to polars or DuckDB.
_DATE_CHARS = str.maketrans("", "", "0123456789-_.")


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


DataRoot: TypeAlias = Path | RemotePath
"""A data directory, or a file or folder in one: a local :class:`~pathlib.Path` or a
:class:`RemotePath` in an object store. Code typed with it uses only what both have (``/``,
``name``, ``parent``, ``exists``, ``is_file``, ``is_dir``, ``iterdir``, ``glob`` of one
level, ``mkdir``, ``read_bytes``, ``read_text``, ``write_bytes``, ``unlink``) and tells
them apart with ``isinstance`` where an object store differs (no rename, no fsync); code
that needs a local file system takes :class:`~pathlib.Path`."""

DataLocation: TypeAlias = str | os.PathLike[str] | RemotePath
"""What a user may name a data directory with: a path, a URI (``file://``, ``s3://``), a
:class:`DataRoot`, or an open :class:`~linkcrawl.dataset.reader.Dataset` (a path-like).
:func:`root_path` makes it a :data:`DataRoot`."""


def sorted_paths(paths: Iterable[DataRoot]) -> list[DataRoot]:
    """``paths`` in pathlib's order (by their parts), local or remote alike."""
    return sorted(paths, key=lambda p: p.path.split("/") if isinstance(p, RemotePath) else p.parts)


# File systems by scheme, host and options, made once: an S3 file system resolves its
# bucket's region when made, and a test's in-memory one keeps its files only while it lives.
_FILESYSTEMS: dict[tuple[str, str, str], pafs.FileSystem] = {}


def root_path(root: DataLocation) -> DataRoot:
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
            f"{text}: cannot open this data location ({first_line(exc)})"
        ) from None
    fs = _FILESYSTEMS.setdefault(key, fs)
    uri = text.split("?", 1)[0].rstrip("/")
    return RemotePath(fs, path, (uri, path.rstrip("/"), parts.query))


def is_local(root: DataLocation) -> bool:
    """True when ``root`` is on the local file system (a path or a ``file://`` URI)."""
    return isinstance(root_path(root), Path)


_HOST = socket.gethostname().replace("~", "-")


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


def manifest_path(root: DataLocation, crawl_id: str) -> DataRoot:
    """Where the manifest of ``crawl_id`` lives: ``<root>/crawls/<crawl_id>.json``."""
    return root_path(root) / "crawls" / f"{validate_crawl_id(crawl_id)}.json"


def partition_path(root: DataLocation, table: str, crawl_id: str) -> DataRoot:
    """The Hive partition of one crawl in a table: ``<root>/<table>/crawl_id=<id>``, with
    ``table`` ``edges``, ``pages`` or ``authority`` (which holds three files)."""
    return root_path(root) / table / f"crawl_id={validate_crawl_id(crawl_id)}"


def authority_path(root: DataLocation, crawl_id: str) -> DataRoot:
    """The folder of one crawl's authority tables: ``<root>/authority/crawl_id=<id>``."""
    return partition_path(root, "authority", crawl_id)
