"""The dataset on disk: schemas, crash-safe part files, crawl manifests, and readers.

Layout (see README, "The dataset on disk")::

    data/crawls/<crawl_id>.json
    data/edges/crawl_id=<id>/part-NNNNN.parquet
    data/pages/crawl_id=<id>/part-NNNNN.parquet
    data/authority/crawl_id=<id>/{pages,domains,inbound}.parquet

A part file appears only when complete: it is written under ``data/.staging/``, fsynced,
then moved into place with ``os.replace``. A crawl killed at any moment leaves a dataset
that pandas, DuckDB and polars read, short of at most the batch in flight.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

__all__ = [
    "AUTHORITY_SCHEMAS",
    "DOMAINS_SCHEMA",
    "EDGES_SCHEMA",
    "INBOUND_SCHEMA",
    "PAGES_SCHEMA",
    "PAGE_AUTHORITY_SCHEMA",
    "Dataset",
    "DatasetError",
    "LinkcrawlError",
    "PartWriter",
    "new_crawl_id",
    "open_dataset",
    "validate_crawl_id",
]

SCHEMA_VERSION = 1
TIMESTAMP = pa.timestamp("ms", tz="UTC")
ROW_GROUP_SIZE = 65_536

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
    metadata={"linkcrawl.table": "edges", "linkcrawl.schema_version": str(SCHEMA_VERSION)},
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
    metadata={"linkcrawl.table": "pages", "linkcrawl.schema_version": str(SCHEMA_VERSION)},
)

PAGE_AUTHORITY_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("pagerank", pa.float64(), nullable=False),
        pa.field("authority", pa.float64(), nullable=False),
        pa.field("inlinks", pa.int64(), nullable=False),
        pa.field("referring_domains", pa.int64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata={"linkcrawl.table": "authority/pages"},
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
    metadata={"linkcrawl.table": "authority/domains"},
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
    metadata={"linkcrawl.table": "authority/inbound"},
)

AUTHORITY_SCHEMAS = {
    "pages": PAGE_AUTHORITY_SCHEMA,
    "domains": DOMAINS_SCHEMA,
    "inbound": INBOUND_SCHEMA,
}
CRAWL_TABLES = {"edges": EDGES_SCHEMA, "pages": PAGES_SCHEMA}

_CRAWL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_PART = re.compile(r"^part-(?:(?P<worker>[A-Za-z0-9]+)-)?(?P<n>\d+)\.parquet$")


class LinkcrawlError(Exception):
    """A problem a user can act on; its message is one line. The CLI prints it and exits 1."""


class DatasetError(LinkcrawlError):
    """A problem with the data directory: missing, not a dataset, unknown crawl, bad file."""


def new_crawl_id(now: datetime | None = None) -> str:
    """A crawl id from the UTC time, such as ``20261122T030000Z``: sorts by time, and has
    letters so that no reader takes the partition value for a number."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def validate_crawl_id(crawl_id: str) -> str:
    """Return ``crawl_id`` if it is a usable partition value, else raise DatasetError."""
    if not _CRAWL_ID.match(crawl_id or ""):
        raise DatasetError(
            f"bad crawl id {crawl_id!r}: use letters, digits, '_', '-' or '.' (at most 128)"
        )
    try:
        float(crawl_id)
    except ValueError:
        return crawl_id
    raise DatasetError(
        f"bad crawl id {crawl_id!r}: it reads as a number, which readers would type "
        "differently; add a letter (for example 'c{crawl_id}')"
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def _fsync_dir(path: Path) -> None:
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


def atomic_write_bytes(path: Path, payload: bytes, staging: Path) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the new, never part."""
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f"{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_table_atomic(table: pa.Table, path: Path, staging: Path) -> None:
    """Write one Parquet file (zstd, dictionary encoding, ~64k-row groups) atomically."""
    staging.mkdir(parents=True, exist_ok=True)
    tmp = staging / f"{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp"
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        use_dictionary=True,
        row_group_size=ROW_GROUP_SIZE,
        write_statistics=True,
    )
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class PartWriter:
    """Appends part files to one table's partition of one crawl.

    ``worker`` names the writing process, so that several processes of one crawl never
    pick the same part name. Numbering continues after the parts already there, so a
    resumed crawl adds to its partition.
    """

    def __init__(self, root: Path | str, table: str, crawl_id: str, schema: pa.Schema,
                 worker: str | None = None) -> None:
        self.root = Path(root)
        self.schema = schema
        self.partition = self.root / table / f"crawl_id={validate_crawl_id(crawl_id)}"
        self.staging = self.root / ".staging"
        self.worker = worker
        self.partition.mkdir(parents=True, exist_ok=True)
        self._next = 1 + max(
            (int(m.group("n")) for p in self.partition.iterdir()
             if (m := _PART.match(p.name)) and m.group("worker") == worker),
            default=-1,
        )
        self.rows_written = 0
        self.parts_written = 0

    def write(self, table: pa.Table) -> Path | None:
        """Write ``table`` (cast to the schema) as the next part file; None if empty."""
        if table.num_rows == 0:
            return None
        table = table.cast(self.schema) if table.schema != self.schema else table
        prefix = f"part-{self.worker}-" if self.worker else "part-"
        path = self.partition / f"{prefix}{self._next:05d}.parquet"
        write_table_atomic(table, path, self.staging)
        self._next += 1
        self.rows_written += table.num_rows
        self.parts_written += 1
        return path


def clean_staging(root: Path | str, max_age_s: float = 0.0) -> int:
    """Remove files left in ``data/.staging/`` by a crawl that died; returns how many.

    ``max_age_s`` spares files younger than that, which a live writer may still own.
    """
    staging = Path(root) / ".staging"
    removed = 0
    if not staging.is_dir():
        return 0
    cutoff = time.time() - max_age_s
    for path in staging.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime <= cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


# -- manifests -------------------------------------------------------------------------------


def _pid_alive(pid: int | None, host: str | None) -> bool:
    if not pid or (host and host != socket.gethostname()):
        return True  # another machine's process: we cannot tell, so trust the manifest
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
        """running, finished or interrupted; a running crawl whose process is gone is
        reported as interrupted."""
        status = self.fields.get("status", "unknown")
        if status == "running" and not _pid_alive(self.fields.get("pid"), self.fields.get("host")):
            return "interrupted"
        return status

    def to_dict(self) -> dict[str, Any]:
        return {**self.fields, "status": self.status}


def manifest_path(root: Path | str, crawl_id: str) -> Path:
    return Path(root) / "crawls" / f"{validate_crawl_id(crawl_id)}.json"


def write_manifest(root: Path | str, fields: dict[str, Any]) -> Path:
    """Write (replace) a crawl manifest atomically."""
    root = Path(root)
    path = manifest_path(root, fields["crawl_id"])
    payload = json.dumps(fields, indent=2, sort_keys=True, default=str).encode() + b"\n"
    atomic_write_bytes(path, payload, root / ".staging")
    return path


def read_manifest(path: Path) -> Manifest:
    try:
        fields = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable crawl manifest ({exc})") from None
    if not isinstance(fields, dict) or "crawl_id" not in fields:
        raise DatasetError(f"{path}: not a linkcrawl crawl manifest (no crawl_id)")
    return Manifest(path, fields)


# -- reading ---------------------------------------------------------------------------------


class Dataset:
    """A linkcrawl data directory, read with pyarrow and returned as pandas.

    >>> ds = open_dataset("data")                         # doctest: +SKIP
    >>> edges = ds.edges(columns=["source", "target"])    # doctest: +SKIP
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r})"

    # crawls

    def manifests(self) -> list[Manifest]:
        """Every crawl's manifest, newest first (by start time, then id)."""
        found = [read_manifest(p) for p in sorted((self.root / "crawls").glob("*.json"))]
        found.sort(key=lambda m: (m.fields.get("started_at") or "", m.crawl_id), reverse=True)
        return found

    def crawls(self) -> list[dict[str, Any]]:
        """The crawls' manifests as dicts, newest first."""
        return [m.to_dict() for m in self.manifests()]

    def manifest(self, crawl_id: str) -> Manifest:
        path = manifest_path(self.root, crawl_id)
        if not path.is_file():
            known = ", ".join(m.crawl_id for m in self.manifests()[:5]) or "none"
            raise DatasetError(f"no crawl {crawl_id!r} in {self.root} (newest: {known})")
        return read_manifest(path)

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
        dirs = [base / f"crawl_id={crawl_id}"] if crawl_id else sorted(base.glob("crawl_id=*"))
        return sorted(p for d in dirs if d.is_dir() for p in d.glob("*.parquet"))

    def arrow(self, table: str = "edges", crawl_id: str | None = None) -> pads.Dataset:
        """A ``pyarrow.dataset.Dataset`` over one table (all crawls, or one), for data
        larger than memory; ``crawl_id`` is a column."""
        schema = CRAWL_TABLES.get(table)
        if schema is None:
            raise DatasetError(f"unknown table {table!r}: use one of {sorted(CRAWL_TABLES)}")
        if crawl_id is not None:
            validate_crawl_id(crawl_id)
        files = self._partition_files(table, crawl_id)
        full = schema.append(pa.field("crawl_id", pa.string()))
        if not files:
            return pads.dataset(pa.table({f.name: pa.array([], f.type) for f in full}))
        return pads.dataset(
            [str(p) for p in files],
            schema=full,
            format="parquet",
            partitioning=pads.partitioning(pa.schema([("crawl_id", pa.string())]),
                                           flavor="hive"),
            partition_base_dir=str(self.root / table),
        )

    def _read(self, table: str, crawl_id: str | None, columns: Sequence[str] | None,
              filters: Any) -> Any:
        ds = self.arrow(table, crawl_id)
        try:
            result = ds.to_table(columns=list(columns) if columns else None,
                                 filter=_as_expression(filters))
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(f"{self.root / table}: {_first_line(exc)}") from None
        return result.to_pandas()

    def edges(self, crawl_id: str | None = None, columns: Sequence[str] | None = None,
              filters: Any = None) -> Any:
        """Edges as a pandas DataFrame: one crawl, or all crawls with a crawl_id column."""
        return self._read("edges", crawl_id, columns, filters)

    def pages(self, crawl_id: str | None = None, columns: Sequence[str] | None = None,
              filters: Any = None) -> Any:
        """Pages as a pandas DataFrame: one crawl, or all crawls with a crawl_id column."""
        return self._read("pages", crawl_id, columns, filters)

    def authority(self, table: str = "domains", crawl_id: str | None = None) -> Any:
        """One authority table (pages, domains or inbound) of a crawl, as pandas."""
        if table not in AUTHORITY_SCHEMAS:
            raise DatasetError(f"unknown authority table {table!r}: use one of "
                               f"{sorted(AUTHORITY_SCHEMAS)}")
        crawl_id = self.resolve_crawl(crawl_id)
        path = self.root / "authority" / f"crawl_id={crawl_id}" / f"{table}.parquet"
        if not path.is_file():
            raise DatasetError(f"crawl {crawl_id} has no authority tables: run "
                               f"`linkcrawl analyze --crawl-id {crawl_id}` first")
        try:
            return pq.read_table(path).to_pandas()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DatasetError(f"{path}: {_first_line(exc)}") from None


def _as_expression(filters: Any) -> Any:
    if filters is None or isinstance(filters, pads.Expression):
        return filters
    return pq.filters_to_expression(filters)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_dataset(path: Path | str = "data", *, create: bool = False) -> Dataset:
    """Open a linkcrawl data directory.

    Raises :class:`DatasetError` when ``path`` does not exist or holds no linkcrawl
    dataset (neither ``crawls/`` nor ``edges/``), unless ``create`` is true.
    """
    root = Path(path)
    if create:
        root.mkdir(parents=True, exist_ok=True)
        return Dataset(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such data directory")
    if not (root / "crawls").is_dir() and not (root / "edges").is_dir():
        raise DatasetError(f"{root}: not a linkcrawl data directory (no crawls/ or edges/)")
    return Dataset(root)


def table_from_columns(columns: dict[str, Iterable[Any]], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from a dict of Python lists (column name -> values)."""
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema=schema)
