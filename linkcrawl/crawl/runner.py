"""Running a crawl: settings, the JOBDIR that makes it resumable, and the Scrapy process."""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from linkcrawl.crawl.frontier import CrawlPlan, Frontier
from linkcrawl.crawl.frontier.local import SingleProcess
from linkcrawl.crawl.frontier.workers import LocalWorkers, shard_seeds
from linkcrawl.crawl.incremental import resolve_since
from linkcrawl.crawl.process import crawl_settings, project_settings, run_scrapy
from linkcrawl.crawl.render import check_render
from linkcrawl.dataset.layout import (
    RemotePath,
    manifest_path,
    new_crawl_id,
    root_path,
    utcnow,
    validate_crawl_id,
)
from linkcrawl.dataset.manifest import LOCK_FILE, format_time, read_manifest
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import CrawlFailed, LinkcrawlError
from linkcrawl.spiders.links import parse_seeds, seed_url

_COMMENT = re.compile(r"(^|\s)#.*$")
# Settings that change how one run logs, not what the crawl is: not kept for a resume.
_PER_RUN_SETTINGS = frozenset({"LOG_LEVEL", "LOG_ENABLED", "LOG_FILE", "LOG_STDOUT"})

__all__ = [
    "CrawlFailed",  # linkcrawl.errors.CrawlFailed; importable from here for one release
    "DataDirLock",
    "crawl",
    "crawl_failure",
    "crawl_options",
    "crawl_settings",
    "project_settings",
    "read_seeds_file",
    "run_scrapy",
    "shard_seeds",
]


def read_seeds_file(path: Path | str) -> tuple[list[str], list[str]]:
    """Seed URLs from a file, and the problems found in it.

    One URL a line (``example.com`` means ``http://example.com/``); ``#`` at the start of
    a line or after white space starts a comment; blank lines are skipped. A line that is
    not an http(s) URL is reported as ``<file>:<line>: ...`` and left out, so one bad line
    does not stop a scheduled crawl of the good ones.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8", errors="replace")
    except FileNotFoundError:
        raise LinkcrawlError(f"seeds file {path} does not exist") from None
    except IsADirectoryError:
        raise LinkcrawlError(f"seeds file {path} is a directory") from None
    except OSError as exc:
        raise LinkcrawlError(f"seeds file {path} cannot be read: {exc.strerror}") from None
    if b"\x00" in raw[:65536]:
        # A binary file (an archive, an image given by mistake): one line, not one
        # warning per line of noise.
        raise LinkcrawlError(f"seeds file {path} is not a text file (it holds NUL bytes)")
    seeds: list[str] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", line).strip()
        if not line:
            continue
        url = seed_url(line)
        if url is not None:
            seeds.append(url)
        else:
            shown = line if len(line) <= 80 else line[:77] + "..."
            problems.append(f"{path}:{number}: not an http(s) URL: {shown!r}")
    return seeds, problems


def crawl_options(
    *,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    settings: Mapping[str, Any] | None = None,
    since: str | None = None,
) -> dict[str, Any]:
    """The options of a crawl as its manifest records them (``options``), so that a
    resume runs with the same bounds and settings: ``max_depth``, ``max_pages``,
    ``concurrency``, ``same_host``, ``settings`` (every ``-s``, less those that only
    change how this one run logs, such as ``LOG_LEVEL``) and ``since`` (the crawl an
    incremental crawl builds on; None for a full crawl)."""
    return {
        "max_depth": max_depth,
        "max_pages": max_pages,
        "concurrency": concurrency,
        "same_host": bool(same_host),
        "settings": {k: v for k, v in (settings or {}).items() if k not in _PER_RUN_SETTINGS},
        "since": since,
    }


def _recorded_options(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The options a crawl's manifest records; for a manifest written before linkcrawl
    recorded them, its bounds as the effective settings it recorded show them."""
    recorded = manifest.get("options")
    if isinstance(recorded, dict):
        return crawl_options(
            max_depth=recorded.get("max_depth"),
            max_pages=recorded.get("max_pages"),
            concurrency=recorded.get("concurrency"),
            same_host=bool(recorded.get("same_host")),
            settings=recorded.get("settings") or {},
            since=recorded.get("since"),
        )
    effective = manifest.get("settings") or {}
    depth = effective.get("LINKCRAWL_MAX_DEPTH")
    pages = effective.get("LINKCRAWL_MAX_PAGES_PER_DOMAIN")
    return crawl_options(
        max_depth=int(depth) if depth is not None and int(depth) >= 0 else None,
        max_pages=int(pages) if pages else None,
        same_host=str(effective.get("LINKCRAWL_SAME_HOST")).lower() in ("1", "true"),
    )


def _resumed_options(
    recorded: dict[str, Any], given: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The options of a resumed crawl: those it recorded, overridden by those given with
    ``--resume``; and the overrides (what changed), for the manifest."""
    options = {**recorded, "settings": dict(recorded["settings"])}
    changed: dict[str, Any] = {}
    for name in ("max_depth", "max_pages", "concurrency"):
        if given[name] is not None and given[name] != recorded[name]:
            options[name] = changed[name] = given[name]
    if given["same_host"] and not recorded["same_host"]:
        options["same_host"] = changed["same_host"] = True
    for name, value in given["settings"].items():
        if recorded["settings"].get(name) != value:
            options["settings"][name] = value
            changed.setdefault("settings", {})[name] = value
    return options, changed


def crawl(
    seeds: Iterable[str] = (),
    *,
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    resume: str | None = None,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    settings: Mapping[str, Any] | None = None,
    progress_seconds: float = 0.0,
    workers: int = 1,
    resume_interrupted: bool = False,
    redis: str | None = None,
    incremental: bool = False,
    since: str | None = None,
) -> str:
    """Crawl the registered domains of ``seeds`` into ``data_dir``; return the crawl id.

    ``redis`` (a ``redis://HOST:PORT/DB`` URL, or the ``LINKCRAWL_REDIS_URL`` setting) makes
    this process one worker of a crawl whose frontier is shared through Redis: start the
    same command, with the same ``crawl_id``, on every machine
    (:mod:`linkcrawl.crawl.frontier.redis`).

    ``resume_interrupted`` resumes the newest crawl instead when it was interrupted, so a
    scheduled crawl that was killed continues rather than silently starting over.
    ``workers`` > 1 runs that many crawler processes on one crawl id, the seeds' registered
    domains dealt out between them (:func:`shard_seeds`); each writes its own part files.

    ``resume`` continues an interrupted crawl (its seeds come from its manifest) into the
    same crawl partition, from its JOBDIR; a resumed incremental crawl goes on as one,
    on the same earlier crawl.

    ``incremental`` builds on an earlier finished crawl (``since``, by default the newest
    finished crawl of the same seeds): requests carry its validators, and the edges of
    pages that answer 304 Not Modified, or whose body digest is unchanged, are copied
    from it (:mod:`linkcrawl.crawl.incremental`). The new crawl is complete on its own.

    Runs Scrapy's reactor in this process, so call
    it once per process (a notebook can run ``linkcrawl crawl`` as a subprocess instead).

    >>> crawl(["http://example.com/"], data_dir="data", max_pages=50)   # doctest: +SKIP
    'c20261122T030000Z'
    """
    root = root_path(data_dir)
    problems: list[str] = []
    seed_list = parse_seeds(list(seeds), problems)
    if problems:
        raise LinkcrawlError("bad seed: " + "; ".join(problems))
    incremental = incremental or since is not None
    if incremental and resume is not None:
        raise LinkcrawlError(
            "--resume continues a crawl as it started (incremental or not): "
            "leave out --incremental and --since"
        )
    if since is not None:
        validate_crawl_id(since)
    given = crawl_options(
        max_depth=max_depth,
        max_pages=max_pages,
        concurrency=concurrency,
        same_host=same_host,
        settings=settings,
    )
    # Settings for this run only (LOG_LEVEL): not recorded, not restored by a resume.
    per_run = {k: v for k, v in (settings or {}).items() if k in _PER_RUN_SETTINGS}
    redis = redis or (settings or {}).get("LINKCRAWL_REDIS_URL")
    redis = redis or project_settings().get("LINKCRAWL_REDIS_URL")
    if redis:
        if workers != 1:
            raise LinkcrawlError(
                "--redis and --workers do not combine: start one `linkcrawl crawl --redis` "
                "per worker (several on one machine if you like)"
            )
        if resume is not None or resume_interrupted:
            raise LinkcrawlError(
                "a crawl shared through Redis is rejoined, not resumed: run the same "
                "`linkcrawl crawl --redis URL --crawl-id ID` again"
            )
        # Here: scrapy-redis is an optional extra, and slow to import.
        from linkcrawl.crawl.frontier.redis import SharedRedis

        plan = _shared_plan(
            seed_list, root, crawl_id, given, per_run, progress_seconds, since, incremental
        )
        return _run(SharedRedis(plan, str(redis)))
    plan = _local_plan(
        seed_list,
        root,
        crawl_id,
        resume,
        resume_interrupted,
        given,
        per_run,
        progress_seconds,
        incremental,
        since,
    )
    if plan.previous:
        # Resume with the same sharding as the crawl's first run.
        recorded = int(plan.previous.get("workers") or 1)
        workers = recorded if recorded > 1 else workers
    if workers < 1:
        raise LinkcrawlError(f"--workers must be at least 1, not {workers}")
    if workers > 1 and plan.local_root is None:
        raise LinkcrawlError(
            "--workers hands URLs over through local files: with an object store as --data, "
            "run workers with --redis instead"
        )
    shards = shard_seeds(plan.seeds, workers, plan.options["same_host"])
    return _run(LocalWorkers(plan, shards) if len(shards) > 1 else SingleProcess(plan))


def _run(frontier: Frontier) -> str:
    """Run a planned crawl through its frontier and record its end; returns its id."""
    plan = frontier.plan
    frontier.check()
    # --render needs scrapy-playwright and Chromium: refused here, in one line, before
    # anything is written (linkcrawl.crawl.render).
    check_render(_effective_settings(plan.options["overrides"]))
    _writable_data_dir(plan.data_dir)
    with DataDirLock(plan.data_dir, plan.crawl_id, shared=frontier.shared):
        if plan.previous:
            # A resume rebuilds its queue from the rows on disk (Dataset.resume_state),
            # which survive a SIGKILL; the old job state may have lost requests in flight.
            frontier.clear_jobdir()
        frontier.run()
        status = _record_end(frontier)
    if status in ("finished", "failed"):
        # The queue is empty and every page is on disk: the job state is no longer needed.
        frontier.clear_jobdir()
    if status == "failed":
        failure = read_manifest(manifest_path(plan.data_dir, plan.crawl_id)).fields.get("failure")
        raise CrawlFailed(f"crawl {plan.crawl_id} failed: {failure}", plan.crawl_id)
    return plan.crawl_id


def _effective_settings(overrides: Mapping[str, Any]) -> Any:
    settings = project_settings()
    for name, value in overrides.items():
        settings.set(name, value, priority="cmdline")
    return settings


def _record_end(frontier: Frontier) -> str:
    """Record in the crawl's manifest what its workers skipped, and whether it failed: it
    ran to its end and fetched nothing (:func:`crawl_failure`). Returns its status."""
    plan = frontier.plan
    fields: dict[str, Any] = {"skipped": frontier.skipped()}
    if frontier.all_done():
        seeds = read_manifest(manifest_path(plan.data_dir, plan.crawl_id)).fields.get("seeds")
        failure = crawl_failure(plan.data_dir, plan.crawl_id, list(seeds or plan.seeds))
        if failure is not None:
            fields.update(status="failed", failure=failure)
    return str(frontier.update_manifest(fields)["status"])


def _local_plan(
    seed_list: list[str],
    data_dir: Path | RemotePath,
    crawl_id: str | None,
    resume: str | None,
    resume_interrupted: bool,
    given: dict[str, Any],
    per_run: dict[str, Any],
    progress_seconds: float,
    incremental: bool = False,
    since: str | None = None,
) -> CrawlPlan:
    """A new crawl, or the resume of an interrupted one (its seeds, bounds and settings
    from its manifest, unless given again). A new incremental crawl is told the crawl it
    builds on here; a resumed one keeps its own."""
    options = _run_options(given, per_run, progress_seconds)
    previous: dict[str, Any] = {}
    if resume is None and resume_interrupted and (data_dir / "crawls").is_dir():
        newest = open_dataset(data_dir).manifests()
        if newest and newest[0].status == "interrupted":
            resume = newest[0].crawl_id
    if resume is not None:
        crawl_id = validate_crawl_id(resume)
        path = manifest_path(data_dir, crawl_id)
        if not path.is_file():
            raise LinkcrawlError(f"cannot resume: no crawl {crawl_id!r} in {data_dir}")
        manifest = read_manifest(path)
        if manifest.fields.get("distributed"):
            raise LinkcrawlError(
                f"crawl {crawl_id} is shared through Redis: rejoin it with "
                f"`linkcrawl crawl --redis URL --crawl-id {crawl_id}`"
            )
        if manifest.status == "running":
            raise LinkcrawlError(
                f"cannot resume {crawl_id}: it is still running (pid {manifest.fields.get('pid')})"
            )
        if manifest.status == "finished":
            raise LinkcrawlError(f"cannot resume {crawl_id}: it already finished")
        if manifest.status == "pruning":
            # Resumed, its manifest would say running, then finished, over missing rows.
            raise LinkcrawlError(
                f"cannot resume {crawl_id}: it is being pruned (`linkcrawl prune` finishes that)"
            )
        if manifest.status == "failed":
            raise LinkcrawlError(
                f"cannot resume {crawl_id}: it failed ({manifest.fields.get('failure')}); "
                "start a new crawl"
            )
        previous = manifest.fields
        # The rows on disk are the resumed crawl's queue: a part file that cannot be read
        # is refused here, in one line, not as a traceback from inside Scrapy.
        open_dataset(data_dir).counts(crawl_id)
        # The crawl's own seeds, bounds and settings, unless given again: then recorded.
        recorded, changed = _resumed_options(_recorded_options(previous), given)
        own_seeds = parse_seeds(previous.get("seeds", []))
        if seed_list and seed_list != own_seeds:
            changed["seeds"] = seed_list
        seed_list = seed_list or own_seeds
        if recorded.get("since"):
            # An incremental crawl goes on building on its earlier crawl, which must still
            # be there: its spider reads it at start.
            try:
                resolve_since(data_dir, seed_list, recorded["since"])
            except LinkcrawlError as exc:
                raise LinkcrawlError(
                    f"cannot resume {crawl_id}: it is an incremental crawl on "
                    f"{recorded['since']} ({str(exc).partition(': ')[2]})"
                ) from None
        options = _run_options(recorded, per_run, progress_seconds)
        options["overrides"]["LINKCRAWL_RESUME"] = True
        resumes = list(previous.get("resumes") or [])
        if changed:
            resumes.append({"at": format_time(utcnow()), "overrides": changed})
        manifest_fields: dict[str, Any] = {"options": recorded, "resumes": resumes}
    else:
        crawl_id = validate_crawl_id(crawl_id or new_crawl_id())
        if manifest_path(data_dir, crawl_id).is_file():
            raise LinkcrawlError(
                f"crawl {crawl_id} already exists in {data_dir}: choose "
                f"another --crawl-id, or --resume {crawl_id}"
            )
        if incremental and seed_list:
            given = {**given, "since": resolve_since(data_dir, seed_list, since)}
            options = _run_options(given, per_run, progress_seconds)
        manifest_fields = {"options": given, "since": given["since"]}
    if not seed_list:
        raise LinkcrawlError("no seed URLs: give URLs as arguments or in --seeds FILE")
    if isinstance(data_dir, Path):
        # Whether it still runs is then told by the lock it holds (Manifest.status).
        manifest_fields["locked"] = True
    return CrawlPlan(data_dir, crawl_id, seed_list, options, previous, manifest_fields)


def _shared_plan(
    seeds: list[str],
    data_dir: Path | RemotePath,
    crawl_id: str | None,
    given: dict[str, Any],
    per_run: dict[str, Any],
    progress_seconds: float,
    since: str | None = None,
    incremental: bool = False,
) -> CrawlPlan:
    """This process's part of a crawl shared through Redis: joined (its seeds from its
    manifest, if not given) or started, never resumed. A worker joining an incremental
    crawl builds on the crawl its manifest names."""
    if not crawl_id:
        raise LinkcrawlError(
            "--redis needs --crawl-id: start every worker of one crawl with the same id"
        )
    crawl_id = validate_crawl_id(crawl_id)
    path = manifest_path(data_dir, crawl_id)
    if path.is_file():
        manifest = read_manifest(path)
        if not manifest.fields.get("distributed"):
            raise LinkcrawlError(
                f"crawl {crawl_id} already exists in {data_dir} and is not shared through "
                "Redis: choose another --crawl-id"
            )
        if manifest.status in ("finished", "failed", "pruning"):
            state = {"finished": "already finished", "pruning": "is being pruned"}.get(
                manifest.status, manifest.status
            )
            raise LinkcrawlError(f"crawl {crawl_id} {state}: choose another --crawl-id")
        seeds = seeds or parse_seeds(manifest.fields.get("seeds", []))
        since = manifest.fields.get("since") or (since if incremental else None)
        incremental = incremental or bool(since)
    if not seeds:
        raise LinkcrawlError("no seed URLs: give URLs as arguments or in --seeds FILE")
    if incremental:
        given = {**given, "since": resolve_since(data_dir, seeds, since)}
    options = _run_options(given, per_run, progress_seconds)
    manifest_fields = {"options": given, "since": given["since"]}
    return CrawlPlan(data_dir, crawl_id, seeds, options, {}, manifest_fields)


# How the pages table's error names read in a failure line.
_CAUSES = {
    "dns-error": "DNS lookup failed",
    "blocked-address": "refused by the address guard",
    "connection-refused": "connection refused",
    "connection-failed": "connection failed",
    "timeout": "timed out",
    "robots-disallowed": "disallowed by robots.txt",
    "too-large": "too large",
}


def crawl_failure(data_dir: Path | str | RemotePath, crawl_id: str, seeds: list[str]) -> str | None:
    """Why a crawl that ran to its end failed, or None if it did not: it failed when no
    page was fetched (every pages row has an error or a status of 400 or more), which
    happens when every seed fails. Says how each seed failed, such as ``all 3 seeds
    failed (2 DNS lookup failed, 1 HTTP 503)``."""
    try:
        pages = (
            open_dataset(data_dir)
            .arrow("pages", crawl_id)
            .to_table(columns=["url", "status", "error"])
        )
    except LinkcrawlError:
        rows: dict[str, tuple[Any, Any]] = {}
    else:
        rows = {}
        for url, status, error in zip(
            pages["url"].to_pylist(),
            pages["status"].to_pylist(),
            pages["error"].to_pylist(),
            strict=True,
        ):
            if error is None and status is not None and status < 400:
                return None  # a page was fetched
            rows[url] = (status, error)
    causes: dict[str, int] = {}
    for seed in seeds:
        status, error = rows.get(seed, (None, None))
        if error is not None:
            cause = _CAUSES.get(error, error)
        elif status is not None:
            cause = f"HTTP {status}"
        else:
            cause = "not fetched"
        causes[cause] = causes.get(cause, 0) + 1
    listed = ", ".join(
        f"{n} {cause}" for cause, n in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    if len(seeds) == 1:
        return f"its seed failed ({listed.partition(' ')[2]})"
    return f"all {len(seeds)} seeds failed ({listed})"


def _run_options(
    options: dict[str, Any], per_run: dict[str, Any], progress_seconds: float
) -> dict[str, Any]:
    """The keyword arguments of :func:`crawl_settings` for a crawl's options."""
    return {
        "max_depth": options["max_depth"],
        "max_pages": options["max_pages"],
        "concurrency": options["concurrency"],
        "same_host": options["same_host"],
        "progress_seconds": progress_seconds,
        "since": options.get("since"),
        "overrides": {**options["settings"], **per_run},
    }


def _writable_data_dir(data_dir: Path | RemotePath) -> None:
    if isinstance(data_dir, RemotePath):
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as exc:
            raise LinkcrawlError(f"cannot write to {data_dir}: {exc}") from None
        return
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LinkcrawlError(f"cannot create data directory {data_dir}: {exc.strerror}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise LinkcrawlError(f"cannot write to data directory {data_dir}: permission denied")


class DataDirLock:
    """A lock on a data directory for the length of a crawl (local file systems only: in an
    object store nothing is locked, and two crawls of one id there would mix).

    ``flock`` on ``<data>/.crawl.lock``: the kernel releases it when the process dies, so a
    killed crawl never holds it forever. A second crawl on the same directory is refused
    with the pid and crawl id of the one that holds it.

    With ``shared`` the lock is held shared by every worker of one crawl shared through
    Redis (``crawl --redis``), which write into one data directory: another worker of the
    same crawl id is let in, any other crawl is refused. flock spans machines only on file
    systems that support it across clients (NFSv4 does); elsewhere each machine's workers
    are kept apart from that machine's other crawls only.
    """

    def __init__(self, data_dir: Path | RemotePath, crawl_id: str, *, shared: bool = False) -> None:
        self.remote = isinstance(data_dir, RemotePath)
        self.path = Path(str(data_dir)) / LOCK_FILE
        self.crawl_id = crawl_id
        self.shared = shared
        self.fd: int | None = None

    def __enter__(self) -> DataDirLock:
        if self.remote:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LinkcrawlError(
                f"cannot write to data directory {self.path.parent}: {exc.strerror}"
            ) from None
        me = f"shared crawl {self.crawl_id}" if self.shared else None
        try:
            self._lock_exclusive(fd)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            joined = me is not None and self._join(fd, me)
            if not joined:
                os.close(fd)
                raise LinkcrawlError(
                    f"a crawl is already running on {self.path.parent} ({holder}); wait for "
                    "it to finish or use another --data directory"
                ) from None
            self.fd = fd
            return self
        os.ftruncate(fd, 0)
        os.pwrite(fd, (me or f"pid {os.getpid()}, crawl {self.crawl_id}").encode(), 0)
        if self.shared:
            # Written while exclusive, so a joining worker reads whose lock it is; then
            # shared, so the crawl's other workers can join.
            fcntl.flock(fd, fcntl.LOCK_SH)
        self.fd = fd
        return self

    @staticmethod
    def _lock_exclusive(fd: int) -> None:
        """flock it exclusively, trying again for a moment: a reader of the crawls' status
        may hold it for an instant (storage.crawl_lock)."""
        for _ in range(10):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                time.sleep(0.05)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    @staticmethod
    def _join(fd: int, me: str) -> bool:
        """Take the lock shared if the workers of our crawl hold it. Workers started at once
        may find the first of them between its exclusive lock and its shared one (flock
        converts a lock by dropping it first): they try again for a little while."""
        for _ in range(50):
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                if holder not in ("", me):
                    return False  # an exclusive crawl, or another shared one
                time.sleep(0.1)
                continue
            # The file names the crawl of the shared holders, not an exclusive one.
            if os.pread(fd, 200, 0).decode(errors="replace").strip() == me:
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return False

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            if not self.shared:
                os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
