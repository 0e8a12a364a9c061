"""Running a crawl: settings, the JOBDIR that makes it resumable, and the Scrapy process."""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import multiprocessing.connection
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from linkcrawl.crawl.pipeline import REDIS_LOST, SKIPPED_FILE, add_skipped
from linkcrawl.dataset.layout import (
    RemotePath,
    manifest_path,
    new_crawl_id,
    root_path,
    utcnow,
    validate_crawl_id,
)
from linkcrawl.dataset.manifest import LOCK_FILE, format_time, read_manifest, write_manifest
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import CrawlInterrupted, LinkcrawlError
from linkcrawl.extract.urls import host_of, registered_domain
from linkcrawl.spiders.links import LinkSpider, parse_seeds, seed_url

_COMMENT = re.compile(r"(^|\s)#.*$")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Settings that change how one run logs, not what the crawl is: not kept for a resume.
_PER_RUN_SETTINGS = frozenset({"LOG_LEVEL", "LOG_ENABLED", "LOG_FILE", "LOG_STDOUT"})
# A worker's start-up state, shared with its parent (see _supervise).
_STARTING, _READY, _STOPPED_STARTING = 0, 1, 2

__all__ = [
    "CrawlFailed",
    "DataDirLock",
    "crawl",
    "crawl_failure",
    "crawl_options",
    "crawl_settings",
    "read_seeds_file",
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


def project_settings() -> Settings:
    """linkcrawl's settings module, overlaid with the module that ``SCRAPY_SETTINGS_MODULE``
    names, if any: a server keeps its own defaults there (politeness, link weights)."""
    settings = Settings()
    settings.setmodule("linkcrawl.settings", priority="project")
    own = os.environ.get("SCRAPY_SETTINGS_MODULE")
    if own and own != "linkcrawl.settings":
        try:
            settings.setmodule(own, priority="project")
        except ImportError as exc:
            raise LinkcrawlError(
                f"SCRAPY_SETTINGS_MODULE={own}: cannot import it ({exc})"
            ) from None
    return settings


def crawl_settings(
    data_dir: Path | str,
    crawl_id: str,
    *,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    progress_seconds: float = 0.0,
    overrides: Mapping[str, Any] | None = None,
    manifest_fields: Mapping[str, Any] | None = None,
) -> Settings:
    """The Scrapy settings of one crawl: linkcrawl's defaults (and the user's settings
    module, see :func:`project_settings`), then the options, then ``overrides``
    (``-s NAME=VALUE``) last. ``manifest_fields`` go into the crawl's manifest as they are
    (``LINKCRAWL_MANIFEST_FIELDS``: the options of :func:`crawl_options`)."""
    settings = project_settings()
    settings.set("LINKCRAWL_DATA_DIR", str(data_dir), priority="cmdline")
    settings.set("LINKCRAWL_CRAWL_ID", crawl_id, priority="cmdline")
    root = root_path(data_dir)
    # Scrapy's JOBDIR is a local folder: none for an object store (--resume rebuilds the
    # queue from the rows written there).
    jobdir = str(root / ".jobs" / crawl_id) if isinstance(root, Path) else None
    settings.set("JOBDIR", jobdir, priority="cmdline")
    if max_depth is not None:
        # Not Scrapy's DEPTH_LIMIT, where 0 means no limit: here 0 means the seeds only.
        settings.set("LINKCRAWL_MAX_DEPTH", max_depth, priority="cmdline")
    if max_pages is not None:
        settings.set("LINKCRAWL_MAX_PAGES_PER_DOMAIN", max_pages, priority="cmdline")
    if concurrency is not None:
        settings.set("CONCURRENT_REQUESTS", concurrency, priority="cmdline")
    if same_host:
        settings.set("LINKCRAWL_SAME_HOST", True, priority="cmdline")
    if progress_seconds:
        settings.set("LINKCRAWL_PROGRESS_SECONDS", progress_seconds, priority="cmdline")
    for name, value in (overrides or {}).items():
        settings.set(name, value, priority="cmdline")
    if manifest_fields:
        settings.set("LINKCRAWL_MANIFEST_FIELDS", dict(manifest_fields), priority="cmdline")
    return settings


def crawl_options(
    *,
    max_depth: int | None = None,
    max_pages: int | None = None,
    concurrency: int | None = None,
    same_host: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The options of a crawl as its manifest records them (``options``), so that a
    resume runs with the same bounds and settings: ``max_depth``, ``max_pages``,
    ``concurrency``, ``same_host`` and ``settings`` (every ``-s``, less those that only
    change how this one run logs, such as ``LOG_LEVEL``)."""
    return {
        "max_depth": max_depth,
        "max_pages": max_pages,
        "concurrency": concurrency,
        "same_host": bool(same_host),
        "settings": {k: v for k, v in (settings or {}).items() if k not in _PER_RUN_SETTINGS},
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
    same crawl partition, from its JOBDIR. Runs Scrapy's reactor in this process, so call
    it once per process (a notebook can run ``linkcrawl crawl`` as a subprocess instead).

    >>> crawl(["http://example.com/"], data_dir="data", max_pages=50)   # doctest: +SKIP
    'c20261122T030000Z'
    """
    data_dir = root_path(data_dir)
    problems: list[str] = []
    seed_list = parse_seeds(list(seeds), problems)
    if problems:
        raise LinkcrawlError("bad seed: " + "; ".join(problems))
    given = crawl_options(
        max_depth=max_depth,
        max_pages=max_pages,
        concurrency=concurrency,
        same_host=same_host,
        settings=settings,
    )
    # Settings for this run only (LOG_LEVEL): not recorded, not restored by a resume.
    per_run = {k: v for k, v in (settings or {}).items() if k in _PER_RUN_SETTINGS}
    options = _run_options(given, per_run, progress_seconds)
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
        return _crawl_shared(
            seed_list,
            data_dir=data_dir,
            crawl_id=crawl_id,
            redis_url=str(redis),
            options={**options, "manifest_fields": {"options": given}},
        )
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
        if "distributed" in manifest.fields:
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
        options = _run_options(recorded, per_run, progress_seconds)
        resumes = list(previous.get("resumes") or [])
        if changed:
            resumes.append({"at": format_time(utcnow()), "overrides": changed})
        manifest_fields = {"options": recorded, "resumes": resumes}
        # Each worker's queue lives in its own JOBDIR: resume with the same sharding.
        workers = int(previous.get("workers") or workers)
    else:
        manifest_fields = {"options": given}
        crawl_id = validate_crawl_id(crawl_id or new_crawl_id())
        if manifest_path(data_dir, crawl_id).is_file():
            raise LinkcrawlError(
                f"crawl {crawl_id} already exists in {data_dir}: choose "
                f"another --crawl-id, or --resume {crawl_id}"
            )
    if not seed_list:
        raise LinkcrawlError("no seed URLs: give URLs as arguments or in --seeds FILE")
    if workers < 1:
        raise LinkcrawlError(f"--workers must be at least 1, not {workers}")
    if workers > 1 and isinstance(data_dir, RemotePath):
        raise LinkcrawlError(
            "--workers hands URLs over through local files: with an object store as --data, "
            "run workers with --redis instead"
        )
    _writable_data_dir(data_dir)
    if isinstance(data_dir, Path):
        # Whether it still runs is then told by the lock it holds (Manifest.status).
        manifest_fields["locked"] = True
    if previous:
        options["overrides"]["LINKCRAWL_RESUME"] = True
    with DataDirLock(data_dir, crawl_id):
        if previous and isinstance(data_dir, Path):
            # A resume rebuilds its queue from the rows on disk (Dataset.resume_state),
            # which survive a SIGKILL; the old job state may have lost requests in flight.
            shutil.rmtree(data_dir / ".jobs" / crawl_id, ignore_errors=True)
        shards = shard_seeds(seed_list, workers, options["same_host"])
        if len(shards) == 1:
            scrapy_settings = crawl_settings(
                data_dir, crawl_id, manifest_fields=manifest_fields, **options
            )
            run_scrapy(scrapy_settings, seed_list, crawl_id)
            status = _mark_failed(data_dir, read_manifest(manifest_path(data_dir, crawl_id)))
            jobdir = scrapy_settings["JOBDIR"]
        else:
            status = _run_workers(
                data_dir, crawl_id, seed_list, shards, options, previous, manifest_fields
            )
            jobdir = str(data_dir / ".jobs" / crawl_id)
    if status in ("finished", "failed") and jobdir:
        # The queue is empty and every page is on disk: the job state is no longer needed.
        shutil.rmtree(jobdir, ignore_errors=True)
    if status == "failed":
        failure = read_manifest(manifest_path(data_dir, crawl_id)).fields.get("failure")
        raise CrawlFailed(f"crawl {crawl_id} failed: {failure}", crawl_id)
    return crawl_id


class CrawlFailed(LinkcrawlError):
    """A crawl ran to its end, but fetched nothing: every seed failed. Its manifest says
    ``failed``, with the cause in ``failure``; ``crawl_id`` names it."""

    def __init__(self, message: str, crawl_id: str) -> None:
        super().__init__(message)
        self.crawl_id = crawl_id


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


def crawl_failure(data_dir: Path | str, crawl_id: str, seeds: list[str]) -> str | None:
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


def _mark_failed(data_dir: Path | RemotePath, manifest: Any) -> str:
    """The crawl's status, ``failed`` (and so marked in its manifest) when it finished
    with every seed failed."""
    status = manifest.fields.get("status")
    if status != "finished":
        return manifest.status
    failure = crawl_failure(data_dir, manifest.crawl_id, list(manifest.fields.get("seeds", [])))
    if failure is None:
        return status
    write_manifest(data_dir, {**manifest.fields, "status": "failed", "failure": failure})
    return "failed"


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


def _crawl_shared(
    seeds: list[str],
    *,
    data_dir: Path | RemotePath,
    crawl_id: str | None,
    redis_url: str,
    options: dict[str, Any],
) -> str:
    """Run this process as one worker of a crawl shared through Redis; see :func:`crawl`."""
    from linkcrawl.crawl.frontier import redis as distributed  # scrapy-redis is an optional extra

    if not crawl_id:
        raise LinkcrawlError(
            "--redis needs --crawl-id: start every worker of one crawl with the same id"
        )
    crawl_id = validate_crawl_id(crawl_id)
    path = manifest_path(data_dir, crawl_id)
    if path.is_file():
        manifest = read_manifest(path)
        if "distributed" not in manifest.fields:
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
    if not seeds:
        raise LinkcrawlError("no seed URLs: give URLs as arguments or in --seeds FILE")
    _writable_data_dir(data_dir)
    overrides = options.pop("overrides")
    worker = overrides.get("LINKCRAWL_WORKER") or distributed.default_worker_id()
    if not re.fullmatch(r"[A-Za-z0-9]+", str(worker)):
        raise LinkcrawlError(f"bad worker id {worker!r}: use letters and digits")
    client = distributed.connect(redis_url)
    try:
        distributed.check_worker_id(client, crawl_id, str(worker))
    finally:
        client.close()
    overrides.update(distributed.distributed_settings(redis_url, str(worker)))
    with DataDirLock(data_dir, crawl_id, shared=True):
        reason = run_scrapy(
            crawl_settings(data_dir, crawl_id, overrides=overrides, **options), seeds, crawl_id
        )
    if reason and reason.startswith(REDIS_LOST):
        raise CrawlInterrupted(
            f"lost Redis at {distributed.public_url(redis_url)} "
            f"({reason.removeprefix(REDIS_LOST).lstrip(': ')}): worker {worker} stopped with "
            f"its pages on disk; once Redis is back, start it again with the same --redis "
            f"and --crawl-id {crawl_id} to rejoin"
        )
    return crawl_id


def run_scrapy(settings: Settings, seeds: list[str], crawl_id: str) -> str | None:
    """Run the link spider in this process; returns Scrapy's finish reason.

    SIGINT and SIGTERM are handled here, not by Scrapy: the first stops the crawl
    gracefully (the requests in flight finish, every row is written) and is acknowledged at
    once on stderr with what is still to be written; the second writes the rows fetched so
    far, marks the crawl interrupted and stops the process without waiting (Scrapy's own
    second-signal handler would stop the reactor with the buffered rows unwritten).
    """
    from linkcrawl.crawl.pipeline import stop_now, stop_requested

    # A signal during the seconds of start-up, before the reactor runs, would raise
    # KeyboardInterrupt in the middle of an import (or kill the process): it is held, and
    # acted on once the reactor runs.
    held: list[int] = []
    received: list[int] = []
    forced: list[str] = []
    reactor: Any = None

    def on_signal(signum: int, _frame: Any) -> None:
        # Only reactor.callFromThread here: the interrupted code may be anywhere.
        if reactor is None or not reactor.running:
            held.append(signum)
        else:
            reactor.callFromThread(act, signum)

    def act(signum: int) -> None:
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            answers = crawler.signals.send_catch_log(signal=stop_requested, signame=name)
            if not any(answer for _, answer in answers):
                again = "Ctrl-C" if signum == signal.SIGINT else name
                line = f"stopping: finishing the requests in flight ({again} again to stop now)"
                print(line, file=sys.stderr, flush=True)
            stopping = process.stop()
            stopping.addBoth(lambda _: stop_reactor())
        elif len(received) == 2:
            crawler.signals.send_catch_log(signal=stop_now)
            forced.append("forced-shutdown")
            stop_reactor()

    def stop_reactor() -> None:
        with contextlib.suppress(RuntimeError):  # already stopping
            reactor.stop()

    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, on_signal) for sig in stop_signals}
    try:
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(LinkSpider)
        process.crawl(crawler, seeds=seeds, crawl_id=crawl_id)
        from twisted.internet import reactor as installed  # the one CrawlerProcess installed

        reactor = installed

        def act_on_held() -> None:
            try:
                started = crawler.engine.running
            except RuntimeError:  # Scrapy's "not set yet"
                started = False
            if held and not started and crawler.crawling:
                # A graceful stop before the engine runs would not stop it: wait for it.
                reactor.callLater(0.05, act_on_held)
                return
            for signum in held:
                act(signum)
            held.clear()

        reactor.callWhenRunning(act_on_held)
        process.start(install_signal_handlers=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if forced:
        return forced[0]
    if not crawler.stats:
        return None
    error = crawler.stats.get_value("linkcrawl/write_error")
    root = settings.get("LINKCRAWL_DATA_DIR") or "data"
    if error and not manifest_path(root, crawl_id).is_file():
        raise LinkcrawlError(
            f"cannot write to {root} ({error}): nothing of crawl {crawl_id} written"
        )
    return crawler.stats.get_value("finish_reason")


def shard_seeds(seeds: list[str], workers: int, same_host: bool = False) -> list[list[str]]:
    """Split seeds between workers by registered domain, so that each domain is crawled by
    exactly one worker (its politeness and duplicate filter stay in one process).

    Domains are dealt out largest first to the worker with the fewest seeds; the result
    depends only on the seeds, so a resumed crawl shards the same way.
    """
    by_domain: dict[str, list[str]] = {}
    for seed in seeds:
        host = host_of(seed)
        by_domain.setdefault(host if same_host else registered_domain(host), []).append(seed)
    shards: list[list[str]] = [[] for _ in range(min(workers, len(by_domain)))]
    for _, group in sorted(by_domain.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        min(shards, key=len).extend(group)
    order = {seed: i for i, seed in enumerate(seeds)}
    return [sorted(shard, key=order.__getitem__) for shard in shards]


def _worker_main(
    data_dir: str,
    crawl_id: str,
    worker: str,
    seeds: list[str],
    options: dict[str, Any],
    state: Any = None,
) -> None:
    """Entry point of one worker process (spawned): crawl one shard of the seeds.

    ``state`` (a shared integer, see :func:`_supervise`) tells the parent when this worker
    can take a stop signal, and this worker whether a stop came before that.
    """
    # A stop reaches a worker once, from its parent. The parent started this process with
    # SIGINT and SIGTERM ignored, so a Ctrl-C sent to the terminal's process group during
    # start-up does not reach it too; in a group of its own from here on, none does.
    os.setpgrp()
    _stop_with_parent(signal.SIGINT)
    stopped: list[int] = []

    def stop(signum: int, _frame: Any) -> None:
        stopped.append(signum)
        if len(stopped) == 1:
            # Arrived after the check below, before run_scrapy's own handlers: pass it on.
            timer = threading.Timer(0.2, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()

    for sig in _STOP_SIGNALS:
        signal.signal(sig, stop)
    # Whether a blocked signal mask survives the spawn depends on how Python starts the
    # process: the parent's is not wanted here either way.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if state is not None:
        with state.get_lock():
            stopped_early = state.value == _STOPPED_STARTING
            state.value = _READY
        if stopped_early:
            sys.exit(3)  # stopped while starting: nothing fetched, nothing to write
    overrides = {
        **options.pop("overrides"),
        "LINKCRAWL_WORKER": worker,
        # The parent process owns the crawl's manifest; a worker writes only part files.
        "LINKCRAWL_WRITE_MANIFEST": False,
    }
    settings = crawl_settings(data_dir, crawl_id, overrides=overrides, **options)
    settings.set("JOBDIR", str(Path(data_dir) / ".jobs" / crawl_id / worker), priority="cmdline")
    if stopped:
        sys.exit(3)
    reason = run_scrapy(settings, seeds, crawl_id)
    sys.exit(0 if reason == "finished" else 3)


def _stop_with_parent(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (elsewhere, nothing)."""
    try:
        import ctypes  # here: Linux only, and only in worker processes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signum)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_workers(
    data_dir: Path,
    crawl_id: str,
    seeds: list[str],
    shards: list[list[str]],
    options: dict[str, Any],
    previous: dict[str, Any],
    fields: dict[str, Any],
) -> str:
    """Crawl with one process per shard; the parent keeps the manifest (``previous``: the
    manifest of the crawl resumed, if any; ``fields``: more fields for it)."""
    now = format_time(utcnow())
    manifest = {
        **previous,
        "crawl_id": crawl_id,
        "status": "running",
        "seeds": seeds,
        "workers": len(shards),
        "started_at": previous.get("started_at") or now,
        "resumed_at": [*previous.get("resumed_at", []), now] if previous else [],
        "finished_at": None,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "settings": dict(options["overrides"]),
        **fields,
    }
    write_manifest(data_dir, manifest)
    owners = {}
    for i, shard in enumerate(shards):
        for seed in shard:
            host = host_of(seed)
            owners[host if options["same_host"] else registered_domain(host)] = f"w{i:02d}"
    options = {**options, "overrides": {**options["overrides"], "LINKCRAWL_DOMAIN_OWNERS": owners}}
    context = multiprocessing.get_context("spawn")
    states = [context.Value("i", _STARTING) for _ in shards]
    processes = [
        context.Process(
            target=_worker_main,
            args=(str(data_dir), crawl_id, f"w{i:02d}", shard, dict(options), states[i]),
            name=f"linkcrawl-worker-{i:02d}",
        )
        for i, shard in enumerate(shards)
    ]
    _supervise(processes, states)
    finished = all(p.exitcode == 0 for p in processes)
    failure = crawl_failure(data_dir, crawl_id, seeds) if finished else None
    if failure is not None:
        manifest["failure"] = failure
    manifest["skipped"] = add_skipped(
        previous.get("skipped"),
        *(_worker_skipped(data_dir / ".jobs" / crawl_id / f"w{i:02d}") for i in range(len(shards))),
    )
    manifest.update(
        status="failed" if failure else "finished" if finished else "interrupted",
        finish_reason="finished"
        if finished
        else "worker-exit-codes " + ",".join(str(p.exitcode) for p in processes),
        finished_at=format_time(utcnow()),
        counts=count_rows(data_dir, crawl_id),
    )
    write_manifest(data_dir, manifest)
    return manifest["status"]


def _worker_skipped(jobdir: Path) -> dict[str, int]:
    """The skips one worker left in its JOBDIR (none if it died before writing them)."""
    try:
        counts = json.loads((jobdir / SKIPPED_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return counts if isinstance(counts, dict) else {}


def _supervise(processes: list[Any], states: list[Any]) -> None:
    """Start the worker processes and wait for them, passing stops on exactly once each.

    A stop signal to this process (a Ctrl-C, or the SIGTERM a service manager sends the
    main process only) is forwarded once to every worker still running; a second one is
    forwarded once more (Scrapy's "stop now"). A worker that fails stops the others with one
    SIGINT: they close only when all are idle and would wait for it forever. Never more
    than that: a worker still stopping that gets another signal stops uncleanly.

    A worker still starting (``states[i]`` not yet ready) ignores signals; its stop is
    left in its state instead, and it exits as soon as it reads it.
    """
    received: list[int] = []
    # Blocked, this process keeps a signal that arrives meanwhile; ignored, the workers
    # inherit that across exec (a signal mask they would not).
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in _STOP_SIGNALS}
    try:
        try:
            for process in processes:
                process.start()
        finally:
            for sig in _STOP_SIGNALS:
                signal.signal(sig, lambda signum, _f: received.append(signum))
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        stops: list[int] = []
        sent = [0] * len(processes)
        while True:
            if len(stops) < 2 and len(received) > len(stops):
                stops.append(received[len(stops)])
            if not stops and any(p.exitcode not in (None, 0) for p in processes):
                stops.append(signal.SIGINT)
            for i, process in enumerate(processes):
                while sent[i] < len(stops) and process.exitcode is None:
                    with states[i].get_lock():
                        if states[i].value == _READY:
                            os.kill(process.pid, stops[sent[i]])
                        else:
                            states[i].value = _STOPPED_STARTING
                    sent[i] += 1
            running = [p.sentinel for p in processes if p.exitcode is None]
            if not running:
                break
            multiprocessing.connection.wait(running, timeout=0.1)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def count_rows(data_dir: Path, crawl_id: str) -> dict[str, int]:
    """Pages, edges and errors of a crawl, counted from its part files."""
    ds = open_dataset(data_dir)
    edges = ds.arrow("edges", crawl_id).count_rows()
    pages = ds.arrow("pages", crawl_id).to_table(columns=["status", "error"])
    status = pages.column("status").to_numpy(zero_copy_only=False)
    errors = pages.column("error").is_valid().to_numpy(zero_copy_only=False)
    failed = int((errors | (status >= 400)).sum())
    return {"pages": pages.num_rows, "edges": edges, "errors": failed}


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
