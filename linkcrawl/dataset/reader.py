"""Reading a dataset back: Dataset and open_dataset, with corrupt parts skipped or refused."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.acero as acero
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from linkcrawl.dataset.layout import (
    DataLocation,
    DataRoot,
    RemotePath,
    authority_path,
    manifest_path,
    root_path,
    sorted_paths,
    validate_crawl_id,
)
from linkcrawl.dataset.manifest import Manifest, _check_version, read_manifest
from linkcrawl.dataset.schemas import ADDED_COLUMNS, AUTHORITY_SCHEMAS, CRAWL_TABLES
from linkcrawl.errors import DatasetError, first_line

log = logging.getLogger(__name__)


class SkippedPart(NamedTuple):
    """A part file a ``skip_corrupt`` reader left out, and why."""

    path: DataRoot
    reason: str


class ResumeState(NamedTuple):
    """A crawl's progress as its rows on disk record it (see :meth:`Dataset.resume_state`)."""

    done: set[str]
    frontier: list[tuple[str, int | None]]


_MAGIC = b"PAR1"


def _footer_problem(path: DataRoot) -> str | None:
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


def _part_problem(
    path: DataRoot, expected: pa.Schema | None = None, table: str | None = None
) -> str | None:
    """Why a part file cannot be read (bad footer, bad metadata, newer schema version, a
    column of ``expected`` missing or of another type), or None."""
    problem = _footer_problem(path)
    if problem:
        return problem
    try:
        schema = pq.read_schema(path.open_input_file() if isinstance(path, RemotePath) else path)
    except (pa.ArrowException, OSError) as exc:
        return f"unreadable Parquet metadata ({first_line(exc)})"
    raw = (schema.metadata or {}).get(b"linkcrawl.schema_version")
    version = raw.decode(errors="replace") if raw else None
    try:
        _check_version(path, version)
    except DatasetError as exc:
        return str(exc).partition(": ")[2]
    added = ADDED_COLUMNS.get(table or "", {})
    file_version = int(version) if version and version.isdigit() else 1
    for field in expected or ():
        if field.name == "crawl_id":
            continue
        index = schema.get_field_index(field.name)
        if index < 0 and added.get(field.name, 1) > file_version:
            continue  # written before the column existed: read as null
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
    out in :attr:`skipped` and logs a warning. Each reader call can choose otherwise with
    its own ``skip_corrupt`` argument.

    A Dataset does not change after it is made (:attr:`skipped` only grows), so threads
    may share one, each call with its own ``skip_corrupt``.

    >>> ds = open_dataset("data")                         # doctest: +SKIP
    >>> edges = ds.edges(columns=["source", "target"])    # doctest: +SKIP
    """

    def __fspath__(self) -> str:
        # A Dataset stands wherever a data directory path is taken, so that a reader
        # opened with skip_corrupt=True can be handed to analysis and monitor functions.
        return str(self.root)

    def __init__(self, root: DataLocation, *, skip_corrupt: bool = False) -> None:
        self._root = root_path(root)
        self._skip_corrupt = skip_corrupt
        self._skipped: list[SkippedPart] = []
        self._skipped_lock = threading.Lock()

    @property
    def root(self) -> DataRoot:
        """The data directory: a local path, or a folder in an object store."""
        return self._root

    @property
    def skip_corrupt(self) -> bool:
        """The reader calls' default: read around unreadable part files (True) or raise."""
        return self._skip_corrupt

    @property
    def skipped(self) -> list[SkippedPart]:
        """The part files reader calls with ``skip_corrupt`` left out so far, and why."""
        with self._skipped_lock:
            return list(self._skipped)

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r})"

    # crawls

    def manifests(self) -> list[Manifest]:
        """Every crawl's manifest, newest first (by start time, then id)."""
        found = [read_manifest(p) for p in sorted_paths((self.root / "crawls").glob("*.json"))]
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

    def _partition_files(self, table: str, crawl_id: str | None, skip: bool) -> list[DataRoot]:
        """The readable part files of one table (one crawl, or all), checked one by one;
        ``skip``: an unreadable one is left out and listed in :attr:`skipped`, else it
        raises DatasetError."""
        base = self.root / table
        if crawl_id is not None:
            validate_crawl_id(crawl_id)
            partition = base / f"crawl_id={crawl_id}"
            if not partition.is_dir() and not manifest_path(self.root, crawl_id).is_file():
                raise DatasetError(f"no crawl {crawl_id!r} in {self.root} ({self._known()})")
            dirs = [partition]
        else:
            dirs = sorted_paths(base.glob("crawl_id=*"))
        files = sorted_paths(p for d in dirs if d.is_dir() for p in d.glob("*.parquet"))
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
                    if not skip:
                        raise
                    self._skip(base / f"crawl_id={m.crawl_id}", str(exc))
        # A footer and schema check per file turns pyarrow's error about one damaged part
        # (which fails the whole read, or reads a column of another type as nulls) into a
        # line that names the file; a newer schema version is refused, not guessed at.
        good = []
        expected = CRAWL_TABLES.get(table)
        for path in files:
            problem = (
                "a folder, not a Parquet file"
                if path.is_dir()
                else _part_problem(path, expected, table)
            )
            if problem is None:
                good.append(path)
            elif skip:
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

    def authority_path(self, table: str, crawl_id: str) -> DataRoot:
        """The file of one authority table (pages, domains or inbound) of ``crawl_id``,
        checked: DatasetError if it is missing, not a whole Parquet file, from a newer
        linkcrawl, or without the columns linkcrawl writes (audit columns may be added)."""
        schema = AUTHORITY_SCHEMAS.get(table)
        if schema is None:
            raise DatasetError(
                f"unknown authority table {table!r}: use one of {sorted(AUTHORITY_SCHEMAS)}"
            )
        path = authority_path(self.root, crawl_id)
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

    def _skip(self, path: DataRoot, reason: str) -> None:
        with self._skipped_lock:
            if any(s.path == path for s in self._skipped):
                return
            self._skipped.append(SkippedPart(path, reason))
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
        files = self._partition_files(table, crawl_id, self._skips(skip_corrupt))
        full = schema.append(pa.field("crawl_id", pa.string()))
        if not files:
            return pads.dataset(full.empty_table())
        base = self.root / table
        partitioning = pads.partitioning(pa.schema([("crawl_id", pa.string())]), flavor="hive")
        if isinstance(base, RemotePath):
            return pads.dataset(
                [p.path for p in files if isinstance(p, RemotePath)],
                schema=full,
                format="parquet",
                filesystem=base.fs,
                partitioning=partitioning,
                partition_base_dir=base.path,
            )
        return pads.dataset(
            [str(p) for p in files],
            schema=full,
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=str(base),
        )

    def _skips(self, skip_corrupt: bool | None) -> bool:
        """A call's ``skip_corrupt``, or the dataset's own when the call gives None."""
        return self._skip_corrupt if skip_corrupt is None else skip_corrupt

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
            raise self._diagnose(table, crawl_id, exc, skip_corrupt) from None
        return result.to_pandas()

    def _diagnose(
        self,
        table: str,
        crawl_id: str | None,
        exc: BaseException,
        skip_corrupt: bool | None = None,
    ) -> DatasetError:
        """The one-line error for a failed read: the first bad part file if there is one."""
        for path in self._partition_files(table, crawl_id, self._skips(skip_corrupt)):
            problem = _part_problem(path)
            if problem is not None:
                return DatasetError(_corrupt_message(path, problem))
        return DatasetError(f"{self.root / table}: {first_line(exc)}")

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
        """Rows on disk for one crawl: pages, edges, errors (pages with an error or a
        status of 400 or more) and sitemaps (entries of the sitemaps read)."""
        pages = self.arrow("pages", crawl_id).to_table(columns=["status", "error"])
        errors = pc.or_kleene(pc.is_valid(pages["error"]), pc.greater_equal(pages["status"], 400))
        return {
            "pages": pages.num_rows,
            "edges": self.arrow("edges", crawl_id).count_rows(),
            "errors": int(pc.sum(pc.fill_null(errors, False)).as_py() or 0),
            "sitemaps": self.arrow("sitemaps", crawl_id).count_rows(),
        }

    def resume_state(self, crawl_id: str) -> ResumeState:
        """What a resumed crawl must know, from the rows on disk (which survive a SIGKILL,
        unlike Scrapy's JOBDIR queue and duplicate filter, whose last requests and buffered
        fingerprints die with the process).

        Returns the URLs already fetched (``done``: each has its pages row, so its edges
        are on disk too), and the ``frontier``: every edge target that is not done, with
        its depth (one more than the shallowest page linking to it), shallowest first;
        None, last, when no page linking to it has a depth (pages reached from a sitemap
        only). The spider decides which of them are in scope.
        """
        pages = self.arrow("pages", crawl_id).to_table(columns=["url", "depth"])
        fetched = pa.table({"url": pages["url"]})
        depth_of = pa.table({"url": pages["url"], "depth": pages["depth"].cast(pa.int32())})
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
        # A target linked only from pages without a depth (or without a pages row) has no
        # depth either: it sorts last.
        frontier = frontier.sort_by([("depth_min", "ascending"), ("target", "ascending")])
        depths = pc.add(frontier["depth_min"], 1)
        return ResumeState(
            done=set(pages["url"].to_pylist()),
            frontier=list(zip(frontier["target"].to_pylist(), depths.to_pylist(), strict=True)),
        )

    def authority_arrow(self, table: str = "inbound", crawl_id: str | None = None) -> pads.Dataset:
        """One authority table (pages, domains or inbound) of a crawl (default: the newest
        finished one) as a ``pyarrow.dataset.Dataset``, checked as :meth:`authority_path`
        checks it; in a local directory or an object store alike (``pyarrow`` reads the
        path of an object store only with its file system, which this passes)."""
        path = self.authority_path(table, self.resolve_crawl(crawl_id))
        try:
            if isinstance(path, RemotePath):
                return pads.dataset(path.path, format="parquet", filesystem=path.fs)
            return pads.dataset(str(path), format="parquet")
        except (pa.ArrowException, OSError) as exc:
            raise DatasetError(f"{path}: {first_line(exc)}") from None

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
            raise DatasetError(f"{path}: {first_line(exc)}") from None


def _corrupt_message(path: DataRoot, problem: str) -> str:
    return f"{path}: {problem}; move it away, or read around it with --skip-corrupt"


def _as_expression(filters: Any) -> Any:
    if filters is None or isinstance(filters, pads.Expression):
        return filters
    return pq.filters_to_expression(filters)


def open_dataset(
    path: DataLocation = "data", *, create: bool = False, skip_corrupt: bool = False
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
