"""Running a crawl: settings, the JOBDIR that makes it resumable, and the Scrapy process."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import re
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from linkcrawl.pipelines import REDIS_LOST
from linkcrawl.spiders.links import LinkSpider, parse_seeds
from linkcrawl.storage import (
    CrawlInterrupted,
    LinkcrawlError,
    RemotePath,
    manifest_path,
    new_crawl_id,
    open_dataset,
    read_manifest,
    root_path,
    utcnow,
    validate_crawl_id,
    write_manifest,
)
from linkcrawl.urls import host_of, registered_domain

_COMMENT = re.compile(r"(^|\s)#.*$")

__all__ = ["DataDirLock", "crawl", "crawl_settings", "read_seeds_file", "shard_seeds"]


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
        parsed = parse_seeds([line])
        if len(parsed) == 1 and " " not in line:
            seeds.append(parsed[0])
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
) -> Settings:
    """The Scrapy settings of one crawl: linkcrawl's defaults (and the user's settings
    module, see :func:`project_settings`), then the options, then ``overrides``
    (``-s NAME=VALUE``) last."""
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
    return settings


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
    same command, with the same ``crawl_id``, on every machine (:mod:`linkcrawl.distributed`).

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
    seed_list = parse_seeds(list(seeds))
    options = {
        "max_depth": max_depth,
        "max_pages": max_pages,
        "concurrency": concurrency,
        "same_host": same_host,
        "progress_seconds": progress_seconds,
        "overrides": dict(settings or {}),
    }
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
            options=options,
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
        previous = manifest.fields
        # The rows on disk are the resumed crawl's queue: a part file that cannot be read
        # is refused here, in one line, not as a traceback from inside Scrapy.
        open_dataset(data_dir).counts(crawl_id)
        seed_list = seed_list or parse_seeds(previous.get("seeds", []))
        # Each worker's queue lives in its own JOBDIR: resume with the same sharding.
        workers = int(previous.get("workers") or workers)
    else:
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
    if previous:
        options["overrides"]["LINKCRAWL_RESUME"] = True
    with DataDirLock(data_dir, crawl_id):
        if previous and isinstance(data_dir, Path):
            # A resume rebuilds its queue from the rows on disk (Dataset.resume_state),
            # which survive a SIGKILL; the old job state may have lost requests in flight.
            shutil.rmtree(data_dir / ".jobs" / crawl_id, ignore_errors=True)
        shards = shard_seeds(seed_list, workers, same_host)
        if len(shards) == 1:
            scrapy_settings = crawl_settings(data_dir, crawl_id, **options)
            run_scrapy(scrapy_settings, seed_list, crawl_id)
            status = read_manifest(manifest_path(data_dir, crawl_id)).status
            jobdir = scrapy_settings["JOBDIR"]
        else:
            status = _run_workers(data_dir, crawl_id, seed_list, shards, options, previous)
            jobdir = str(data_dir / ".jobs" / crawl_id)
    if status == "finished" and jobdir:
        # The queue is empty and every page is on disk: the job state is no longer needed.
        shutil.rmtree(jobdir, ignore_errors=True)
    return crawl_id


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
    from linkcrawl import distributed  # scrapy-redis is an optional extra

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
        if manifest.status == "finished":
            raise LinkcrawlError(f"crawl {crawl_id} already finished: choose another --crawl-id")
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
    """Run the link spider in this process; returns Scrapy's finish reason."""
    # Scrapy installs its graceful-stop handlers only once its reactor runs; a Ctrl-C or
    # SIGTERM during the seconds of start-up before that would raise KeyboardInterrupt in
    # the middle of an import (or kill the process). Hold such a signal, and send it again
    # once Scrapy's handlers are in place.
    held: list[int] = []
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {
        sig: signal.signal(sig, lambda signum, _frame: held.append(signum)) for sig in stop_signals
    }
    try:
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(LinkSpider)
        process.crawl(crawler, seeds=seeds, crawl_id=crawl_id)
        from twisted.internet import reactor  # the one CrawlerProcess installed

        def send_held() -> None:
            for signum in dict.fromkeys(held):
                os.kill(os.getpid(), signum)

        # After every startup trigger, Scrapy's handler installation among them.
        reactor.callWhenRunning(reactor.callLater, 0, send_held)
        process.start()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return crawler.stats.get_value("finish_reason") if crawler.stats else None


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
    data_dir: str, crawl_id: str, worker: str, seeds: list[str], options: dict[str, Any]
) -> None:
    """Entry point of one worker process (spawned): crawl one shard of the seeds."""
    # Signals reach a worker once, from its parent: a Ctrl-C sent to the terminal's process
    # group would otherwise arrive twice (directly and forwarded), and a second SIGINT makes
    # Scrapy stop uncleanly. If the parent dies, the worker stops gracefully too.
    os.setpgrp()
    _stop_with_parent(signal.SIGINT)
    overrides = {
        **options.pop("overrides"),
        "LINKCRAWL_WORKER": worker,
        # The parent process owns the crawl's manifest; a worker writes only part files.
        "LINKCRAWL_WRITE_MANIFEST": False,
    }
    settings = crawl_settings(data_dir, crawl_id, overrides=overrides, **options)
    settings.set("JOBDIR", str(Path(data_dir) / ".jobs" / crawl_id / worker), priority="cmdline")
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
) -> str:
    """Crawl with one process per shard; the parent keeps the manifest."""
    now = utcnow().isoformat()
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
    }
    write_manifest(data_dir, manifest)
    owners = {}
    for i, shard in enumerate(shards):
        for seed in shard:
            host = host_of(seed)
            owners[host if options["same_host"] else registered_domain(host)] = f"w{i:02d}"
    options = {**options, "overrides": {**options["overrides"], "LINKCRAWL_DOMAIN_OWNERS": owners}}
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=_worker_main,
            args=(str(data_dir), crawl_id, f"w{i:02d}", shard, dict(options)),
            name=f"linkcrawl-worker-{i:02d}",
        )
        for i, shard in enumerate(shards)
    ]
    for process in processes:
        process.start()

    def forward(signum: int, _frame: Any) -> None:
        # A service manager signals the parent only; each worker shuts down gracefully.
        for process in processes:
            if process.pid and process.is_alive():
                os.kill(process.pid, signum)

    old = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while any(p.is_alive() for p in processes):
            for process in processes:
                process.join(0.5)
                if process.exitcode not in (None, 0):
                    # A worker failed: the others would wait for it forever (they close
                    # only when all are idle), so stop them gracefully too.
                    forward(signal.SIGINT, None)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    finished = all(p.exitcode == 0 for p in processes)
    manifest.update(
        status="finished" if finished else "interrupted",
        finish_reason="finished"
        if finished
        else "worker-exit-codes " + ",".join(str(p.exitcode) for p in processes),
        finished_at=utcnow().isoformat(),
        counts=count_rows(data_dir, crawl_id),
    )
    write_manifest(data_dir, manifest)
    return manifest["status"]


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
        self.path = Path(str(data_dir)) / ".crawl.lock"
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
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
