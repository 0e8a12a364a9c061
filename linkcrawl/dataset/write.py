"""Crash-safe writes: staged files moved into place, part files, whole partitions swapped
at once."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from linkcrawl.dataset.layout import (
    _HOST,
    _PART,
    DataLocation,
    DataRoot,
    RemotePath,
    _pid_alive,
    manifest_path,
    partition_path,
    root_path,
)
from linkcrawl.dataset.schemas import (
    DICTIONARY_COLUMNS,
    EDGES_SCHEMA,
    PAGES_SCHEMA,
    PARQUET_OPTIONS,
    ROW_GROUP_SIZE,
)
from linkcrawl.errors import DatasetError, LinkcrawlError


def _staging_file(staging: Path, name: str) -> Path:
    """A file name in ``staging`` that says which process owns it: ``name~host~pid~ns.tmp``,
    so that a cleaner can tell a dead writer's leftovers from a live writer's file."""
    staging.mkdir(parents=True, exist_ok=True)
    return staging / f"{name}~{_HOST}~{os.getpid()}~{time.monotonic_ns()}.tmp"


def _local_staging(staging: DataRoot) -> Path:
    """``staging`` for a write to a local file, which is renamed from it into place: it
    must be local too (an object store's writes are one PUT, and stage nothing)."""
    if isinstance(staging, RemotePath):
        raise TypeError(f"{staging}: a local file is staged on the local file system")
    return staging


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


def atomic_write_bytes(path: DataRoot, payload: bytes, staging: DataRoot) -> None:
    """Write ``payload`` to ``path`` so that readers see the old file or the new, never part.

    ``staging``: the data directory's ``.staging`` (unused in an object store)."""
    if isinstance(path, RemotePath):
        path.write_bytes(payload)  # one PUT: whole or not at all
        return
    tmp = _staging_file(_local_staging(staging), path.name)
    try:
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        _move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_table_atomic(table: pa.Table, path: DataRoot, staging: DataRoot) -> None:
    """Write one Parquet file (zstd, dictionary encoding, ~64k-row groups) atomically.

    Dictionary encoding covers every column, or for edges and pages the columns of
    :data:`DICTIONARY_COLUMNS` (found by the schema's ``linkcrawl.table`` metadata).

    The file is written in ``staging`` (which must be on the same file system as ``path``
    and outside every dataset root), fsynced, then renamed to ``path``: readers see the
    whole file or none.
    """
    write_tables_atomic([table], table.schema, path, staging)


def dictionary_columns(schema: pa.Schema) -> bool | list[str]:
    """The columns to dictionary-encode in a table of ``schema``: those of
    :data:`DICTIONARY_COLUMNS` for the table its ``linkcrawl.table`` metadata names, every
    column for a table without."""
    name = (schema.metadata or {}).get(b"linkcrawl.table", b"").decode()
    return DICTIONARY_COLUMNS.get(name, True)


def write_tables_atomic(
    tables: Iterable[pa.Table | pa.RecordBatch],
    schema: pa.Schema,
    path: DataRoot,
    staging: DataRoot,
    use_dictionary: bool | list[str] | None = None,
) -> None:
    """Write a stream of tables (or record batches) of ``schema`` as one Parquet file, with
    the options of :func:`write_table_atomic`, and atomically as it does; the columns
    dictionary-encoded are ``use_dictionary``, by default :func:`dictionary_columns`.

    Whatever their lengths, the rows are cut into the row groups of one write of the
    whole: ``ROW_GROUP_SIZE`` rows each, the last one shorter. When ``tables`` is an
    iterator, a thread encodes and compresses each while it makes the next. No rows at
    all write a file with the schema and no row groups. On an object store the file is
    one output stream, visible whole when it closes; after a failure midway the object is
    removed (pyarrow's streams cannot abandon an upload: closing one completes it), so
    that no reader takes part of the rows for the whole table.
    """
    if use_dictionary is None:
        use_dictionary = dictionary_columns(schema)
    options = {k: v for k, v in PARQUET_OPTIONS.items() if k != "row_group_size"}

    def write(sink: Any) -> None:
        with pq.ParquetWriter(sink, schema, use_dictionary=use_dictionary, **options) as writer:
            # The pool is shut down (the last write done) before the writer closes the file.
            with ThreadPoolExecutor(1) as pool:
                pending: Future[None] | None = None
                for table in _row_group_aligned(tables):
                    if pending is not None:
                        pending.result()
                    pending = pool.submit(writer.write_table, table, row_group_size=ROW_GROUP_SIZE)
                if pending is not None:
                    pending.result()

    if isinstance(path, RemotePath):
        try:
            with path.open_output_stream() as stream:
                write(stream)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            raise
        return
    tmp = _staging_file(_local_staging(staging), Path(path).name)
    try:
        # A native file: pyarrow writes it without taking the GIL for every page, which a
        # Python file object needs (and waits for while other threads run Python).
        with pa.OSFile(str(tmp), "wb") as sink:
            write(sink)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        _move_into_place(tmp, Path(path))
    finally:
        tmp.unlink(missing_ok=True)


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
        root: DataLocation,
        table: str,
        crawl_id: str,
        schema: pa.Schema,
        worker: str | None = None,
    ) -> None:
        if worker is not None and not re.fullmatch(r"[A-Za-z0-9]+", worker):
            raise LinkcrawlError(f"bad worker name {worker!r}: use letters and digits")
        self.root = root_path(root)
        self.schema = schema
        self.partition = partition_path(self.root, table, crawl_id)
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

    def part_path(self, part: int) -> DataRoot:
        prefix = f"part-{self.worker}-" if self.worker else "part-"
        return self.partition / f"{prefix}{part:05d}.parquet"

    def write(self, table: pa.Table, part: int | None = None) -> DataRoot | None:
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


def _crawl_is_going(root: DataRoot, crawl_id: str) -> bool:
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
def staged_partition(root: DataLocation, table: str, crawl_id: str) -> Iterator[DataRoot]:
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
    partition = partition_path(root, table, crawl_id)
    if isinstance(partition, RemotePath):
        for old in list(partition.glob("*")):
            if old.is_file():
                old.unlink(missing_ok=True)
        yield partition
        return
    staging = _local_staging(root / ".staging")
    new = _staging_file(staging, f"{table}-{crawl_id}")
    new.mkdir()
    try:
        yield new
        replace_directory(new, partition, staging)
    finally:
        shutil.rmtree(new, ignore_errors=True)  # only there if the swap did not happen
    if _crawl_is_going(root, crawl_id):
        gone = _park(partition, staging)
        if gone is not None:
            shutil.rmtree(gone, ignore_errors=True)
        raise DatasetError(
            f"crawl {crawl_id} was pruned while its {table} tables were written: none kept"
        )


def clean_staging(root: DataLocation, max_age_s: float = 86_400.0) -> int:
    """Remove files left in ``data/.staging/`` by writers that died; returns how many.

    Several processes may share a data directory (the workers of one crawl, a crawl and an
    ``analyze``), so a file is removed only when its owner is a process of this host that
    no longer runs, or when it is older than ``max_age_s`` (any owner: a write never takes
    that long). ``max_age_s=0`` removes every file not owned by a live process.
    """
    local = root_path(root)
    if not isinstance(local, Path):
        return 0  # nothing is staged in an object store
    staging = local / ".staging"
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


def drop_unpaired_parts(
    root: DataLocation, crawl_id: str, worker: str | None = None
) -> list[DataRoot]:
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
