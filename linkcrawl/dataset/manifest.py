"""Crawl manifests (data/crawls/<id>.json) and the lock that says a crawl is still running."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import platform
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from linkcrawl.dataset.layout import (
    _CRAWL_ID,
    DataLocation,
    DataRoot,
    _pid_alive,
    manifest_path,
    root_path,
)
from linkcrawl.dataset.schemas import SCHEMA_VERSION
from linkcrawl.dataset.write import atomic_write_bytes
from linkcrawl.errors import DatasetError, _first_line

# The data directory's crawl lock (linkcrawl.crawl.runner.DataDirLock), and what its file says:
# "pid N, crawl ID" for a crawl, "shared crawl ID" for the workers of a Redis crawl.
LOCK_FILE = ".crawl.lock"


_LOCK_TEXT = re.compile(r"(?:pid \d+, crawl|shared crawl) (?P<crawl_id>\S+)")


def crawl_lock(root: DataLocation) -> tuple[bool, str | None] | None:
    """Whether a live process holds the crawl lock of data directory ``root``, and the
    crawl its lock file names (the holder's, or the last holder's); None when that cannot
    be told (an object store, or a file system without ``flock``).

    The kernel releases an ``flock`` when its holder dies, wherever its pid was recorded
    (pid 1 in a container) and on whichever host it ran, where the file system shares
    locks between hosts (NFSv4 does). The probe takes the lock for an instant, without
    waiting: a crawl starting at that instant tries again (:class:`DataDirLock`).
    """
    local = root_path(root)
    if not isinstance(local, Path):
        return None  # nothing is locked in an object store
    path = local / LOCK_FILE
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


def crawl_lock_holder(root: DataLocation) -> str | None:
    """The id of the crawl that holds the crawl lock of ``root`` now, if any."""
    lock = crawl_lock(root)
    return lock[1] if lock is not None and lock[0] else None


@dataclass
class Manifest:
    """The record of one crawl: ``data/crawls/<crawl_id>.json``."""

    path: DataRoot
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
        if not fields.get("distributed"):
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


def write_manifest(root: DataLocation, fields: dict[str, Any]) -> DataRoot:
    """Write (replace) a crawl manifest atomically; ``fields`` must hold ``crawl_id``."""
    root = root_path(root)
    path = manifest_path(root, fields["crawl_id"])
    payload = json.dumps(fields, indent=2, sort_keys=True, default=str).encode() + b"\n"
    atomic_write_bytes(path, payload, root / ".staging")
    return path


def read_manifest(path: DataLocation) -> Manifest:
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


def _utc_time(path: DataRoot, name: str, value: Any) -> str:
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


def _check_version(path: DataRoot, version: Any) -> None:
    try:
        number = int(version) if version is not None else SCHEMA_VERSION
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: unknown schema version {version!r}") from None
    if number > SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: written by a newer linkcrawl (schema version {number}; this one reads "
            f"up to {SCHEMA_VERSION}): upgrade linkcrawl"
        )


# Every field of a manifest, with its value until something sets it; build_manifest writes
# them all, so a crawl, a --workers crawl, a --redis crawl and an import read alike.
MANIFEST_DEFAULTS: dict[str, Any] = {
    "crawl_id": None,
    "schema_version": SCHEMA_VERSION,
    # running, finished, interrupted or failed (see Manifest.status); pruning while pruned
    "status": "running",
    "finish_reason": None,
    # why a crawl that ran to its end failed (every seed failed), else None
    "failure": None,
    "seeds": [],
    # the registered domains (or hosts, with --same-host) the crawl stays in
    "scope": [],
    # the options a resume restores (linkcrawl.crawl.runner.crawl_options)
    "options": {},
    # the effective Scrapy settings that tell how the crawl ran
    "settings": {},
    "versions": {},
    "started_at": None,
    "resumed_at": [],
    # the overrides each resume gave
    "resumes": [],
    "finished_at": None,
    # the process that runs the crawl (None for one shared through Redis)
    "pid": None,
    "host": None,
    # ran under the data directory's lock (its liveness is told by the lock)
    "locked": False,
    "workers": 1,
    # a crawl shared through Redis: the server and each worker's section
    "distributed": None,
    "counts": {"pages": 0, "edges": 0, "errors": 0, "sitemaps": 0},
    # what the crawl did not request, by reason
    "skipped": {},
    # an incremental crawl (linkcrawl crawl --incremental): the finished crawl it builds on
    "since": None,
    # loaded from an edge list or an archive (linkcrawl.sources), not crawled
    "imported": False,
    # where the rows came from: crawl (a live crawl), warc (linkcrawl import warc), edges
    "source": "crawl",
    # the archive files an import read: [{"name", "path", "bytes", "sha256"}, ...]
    "archives": [],
    # input an import could not read, first ones: [{"file", "offset", "reason", "detail"}]
    "problems": [],
    # what --render auto|always did (linkcrawl.crawl.render.render_summary); None: never
    "render": None,
}
_MANIFEST_TIME_LISTS = ("resumed_at",)


def build_manifest(
    crawl_id: str,
    *,
    base: Mapping[str, Any] | None = None,
    opened_at: datetime | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """The manifest of crawl ``crawl_id``, every field of :data:`MANIFEST_DEFAULTS` in it.

    ``base`` is the manifest it replaces (the crawl resumed, or the one being updated): its
    fields are kept unless ``fields`` set them. ``opened_at``, the time a run opens the
    crawl, becomes ``started_at`` for a new crawl, and is added to ``resumed_at`` of one
    that already started; with it, ``pid`` and ``host`` are this process's. Times may be
    given as aware datetimes (written with :func:`format_time`) or as written already.
    ``versions`` and ``schema_version`` are always those of this linkcrawl, which writes
    the file. An unknown field name raises TypeError: a new field is declared above.
    """
    unknown = sorted(set(fields) - MANIFEST_DEFAULTS.keys())
    if unknown:
        raise TypeError(f"unknown manifest field {', '.join(unknown)}: declare it first")
    manifest = copy.deepcopy(MANIFEST_DEFAULTS)
    manifest.update(base or {})
    if opened_at is not None:
        if manifest.get("started_at"):
            manifest["resumed_at"] = [*(manifest.get("resumed_at") or []), opened_at]
        else:
            manifest["started_at"], manifest["resumed_at"] = opened_at, []
        manifest.update(pid=os.getpid(), host=socket.gethostname())
    manifest.update(fields)
    manifest.update(crawl_id=crawl_id, schema_version=SCHEMA_VERSION, versions=versions())
    for name in _MANIFEST_TIMES:
        manifest[name] = _written_time(manifest[name])
    for name in _MANIFEST_TIME_LISTS:
        manifest[name] = [_written_time(t) for t in manifest[name] or []]
    return manifest


def _written_time(value: Any) -> Any:
    return format_time(value) if isinstance(value, datetime) else value


def versions() -> dict[str, str]:
    """The versions of what writes a manifest: linkcrawl, Scrapy, pyarrow and Python."""
    from linkcrawl import __version__  # the package imports this module first

    found = {"linkcrawl": __version__, "python": platform.python_version()}
    for name in ("scrapy", "pyarrow"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return dict(sorted(found.items()))
