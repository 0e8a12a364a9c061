"""Hands URLs between the worker processes of one crawl (``linkcrawl crawl --workers N``).

Each worker owns some of the crawl's registered domains (or hosts, with ``--same-host``).
A worker that finds a link into a domain another worker owns does not drop it: it writes it
to that worker's inbox, a folder of small files under ``data/.jobs/<crawl_id>/exchange/``,
and the owner schedules it. So N workers crawl what one process would, each domain's
politeness and duplicate filter staying in one process.

A worker closes only when every worker is idle and every URL sent has been received
(each worker publishes its idle flag and its sent/received counts in a status file), so
no worker stops while another may still hand it work. A worker whose process is gone
counts as idle.
"""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from scrapy import signals
from scrapy.exceptions import DontCloseSpider, NotConfigured

from linkcrawl.crawl.frontier import CrawlPlan, Frontier
from linkcrawl.crawl.pipeline import SKIPPED_FILE, add_skipped, recorded_settings
from linkcrawl.crawl.process import crawl_settings, run_scrapy
from linkcrawl.dataset.layout import _pid_alive, utcnow
from linkcrawl.dataset.manifest import build_manifest, write_manifest
from linkcrawl.dataset.reader import Dataset
from linkcrawl.extract.urls import host_of, registered_domain

__all__ = ["LocalWorkers", "WorkerExchange", "shard_seeds"]

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A worker's start-up state, shared with its parent (see _supervise).
_STARTING, _READY, _STOPPED_STARTING = 0, 1, 2


class LocalWorkers(Frontier):
    """``--workers N``: one crawler process per shard of the seeds' registered domains
    (:func:`shard_seeds`), on this machine. This process starts them, passes stops on, and
    keeps the crawl's manifest; each worker writes its own part files, and hands the URLs
    of domains it does not own to their owners (:class:`WorkerExchange`)."""

    def __init__(self, plan: CrawlPlan, shards: list[list[str]]) -> None:
        """``shards``: the seeds of each worker (:func:`shard_seeds`)."""
        super().__init__(plan)
        same_host = bool(plan.options["same_host"])
        self.shards = shards
        self.owners: dict[str, str] = {}
        for i, shard in enumerate(self.shards):
            for seed in shard:
                host = host_of(seed)
                self.owners[host if same_host else registered_domain(host)] = _worker_id(i)
        self.exit_codes: list[int | None] = []

    def worker_settings(self, worker: str) -> dict[str, Any]:
        assert self.jobdir is not None  # the runner refuses --workers on an object store
        return {
            "LINKCRAWL_WORKER": worker,
            # This process owns the crawl's manifest; a worker writes only part files.
            "LINKCRAWL_WRITE_MANIFEST": False,
            "LINKCRAWL_DOMAIN_OWNERS": self.owners,
            "JOBDIR": str(self.jobdir / worker),
        }

    def run(self) -> str:
        plan = self.plan
        settings = crawl_settings(plan.data_dir, plan.crawl_id, **plan.options)
        manifest = build_manifest(
            plan.crawl_id,
            base=plan.previous,
            opened_at=utcnow(),
            status="running",
            seeds=plan.seeds,
            scope=sorted(self.owners),
            settings=recorded_settings(settings),
            workers=len(self.shards),
            finished_at=None,
            finish_reason=None,
            **plan.manifest_fields,
        )
        write_manifest(plan.data_dir, manifest)
        context = multiprocessing.get_context("spawn")
        states = [context.Value("i", _STARTING) for _ in self.shards]
        processes = [
            context.Process(
                target=_worker_main,
                args=(
                    str(plan.data_dir),
                    plan.crawl_id,
                    _worker_id(i),
                    shard,
                    dict(plan.options),
                    self.worker_settings(_worker_id(i)),
                    states[i],
                ),
                name=f"linkcrawl-worker-{i:02d}",
            )
            for i, shard in enumerate(self.shards)
        ]
        _supervise(processes, states)
        self.exit_codes = [p.exitcode for p in processes]
        finished = self.all_done()
        reason = (
            "finished"
            if finished
            else "worker-exit-codes " + ",".join(str(code) for code in self.exit_codes)
        )
        manifest = build_manifest(
            plan.crawl_id,
            base=manifest,
            status="finished" if finished else "interrupted",
            finish_reason=reason,
            finished_at=utcnow(),
            counts=Dataset(plan.data_dir).counts(plan.crawl_id),
            skipped=self.skipped(),
        )
        write_manifest(plan.data_dir, manifest)
        return reason

    def all_done(self) -> bool:
        """Every worker exited 0: it closed only once every worker was idle and every URL
        handed over was received (:meth:`WorkerExchange.all_done`)."""
        return bool(self.exit_codes) and all(code == 0 for code in self.exit_codes)

    def skipped(self) -> dict[str, int]:
        assert self.jobdir is not None
        return add_skipped(
            self.plan.previous.get("skipped"),
            *(_worker_skipped(self.jobdir / _worker_id(i)) for i in range(len(self.shards))),
        )


def _worker_id(i: int) -> str:
    return f"w{i:02d}"


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
    worker_settings: dict[str, Any],
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
    # The frontier's settings for this worker (its id, JOBDIR, the domains' owners) last.
    overrides = {**options.pop("overrides"), **worker_settings}
    settings = crawl_settings(data_dir, crawl_id, overrides=overrides, **options)
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


class WorkerExchange:
    """A Scrapy extension, on in worker processes only (``LINKCRAWL_DOMAIN_OWNERS`` set)."""

    poll_seconds = 0.5

    def __init__(self, crawler: Any, me: str, owners: dict[str, str], root: Path) -> None:
        self.crawler = crawler
        self.me = me
        self.owners = owners
        self.workers = sorted(set(owners.values()))
        self.root = root
        self.inbox = root / "inbox" / me
        self.outbox: dict[str, list[str]] = defaultdict(list)
        self.sent = 0
        self.received = 0
        self._seq = 0
        self._idle: bool | None = None
        self._loop: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> WorkerExchange:
        settings = crawler.settings
        owners = settings.getdict("LINKCRAWL_DOMAIN_OWNERS")
        me = settings.get("LINKCRAWL_WORKER")
        if not owners or not me:
            raise NotConfigured  # silently: only worker processes use it
        root = (
            Path(settings.get("LINKCRAWL_DATA_DIR"))
            / ".jobs"
            / settings.get("LINKCRAWL_CRAWL_ID")
            / "exchange"
        )
        ext = cls(crawler, me, owners, root)
        crawler.signals.connect(ext.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(ext.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    # -- lifecycle ------------------------------------------------------------------------

    def spider_opened(self, spider: Any) -> None:
        from twisted.internet import task  # not at module level: it must not pick a reactor

        for folder in (self.inbox, self.root / "status", self.root / "tmp"):
            folder.mkdir(parents=True, exist_ok=True)
        # Counts survive a resume: the status file is the record of what was exchanged.
        previous = self._read_status(self.me)
        self.sent = previous.get("sent", 0)
        self.received = previous.get("received", 0)
        spider.exchange = self
        self._publish(idle=False)
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(self.poll_seconds, now=False)

    def spider_closed(self, spider: Any, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self.flush()

    def spider_idle(self, spider: Any) -> None:
        self.flush()
        if self.poll():
            raise DontCloseSpider
        self._publish(idle=True)
        if not self.all_done():
            raise DontCloseSpider

    # -- sending and receiving ----------------------------------------------------------------

    def owner(self, key: str) -> str | None:
        """The worker that owns a registered domain (or host), or None if no one does."""
        return self.owners.get(key)

    def send(self, worker: str, url: str, depth: int | None) -> None:
        # An unknown click depth (a sitemap's URL, or a link on such a page) is sent as "".
        self.outbox[worker].append(f"{'' if depth is None else depth}\t{url}")

    def tick(self) -> None:
        self.flush()
        self.poll()

    def flush(self) -> None:
        """Write pending URLs to their owners' inboxes, one file per owner, atomically."""
        wrote = False
        for worker, lines in self.outbox.items():
            if not lines:
                continue
            self._seq += 1
            name = f"{self.me}-{os.getpid()}-{self._seq:08d}.tsv"
            tmp = self.root / "tmp" / name
            tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
            inbox = self.root / "inbox" / worker
            inbox.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, inbox / name)
            self.sent += len(lines)
            lines.clear()
            wrote = True
        if wrote:
            self._publish(idle=False)

    def poll(self) -> int:
        """Schedule the URLs other workers sent; returns how many arrived."""
        arrived = 0
        spider = self.crawler.spider
        for path in sorted(self.inbox.glob("*.tsv")):
            try:
                text = path.read_text(encoding="utf-8")
                path.unlink()
            except FileNotFoundError:
                continue
            lines = [line for line in text.splitlines() if line]
            arrived += len(lines)
            self.received += len(lines)
            # Busy before scheduling: no one may see this worker idle with work in hand.
            self._publish(idle=False)
            for line in lines:
                depth, _, url = line.partition("\t")
                request = spider.follow_handed_over(url, int(depth) if depth else None)
                if request is not None:
                    self.crawler.engine.crawl(request)
        return arrived

    # -- termination ------------------------------------------------------------------------

    def _publish(self, idle: bool) -> None:
        self._idle = idle
        status = {"idle": idle, "sent": self.sent, "received": self.received, "pid": os.getpid()}
        tmp = self.root / "tmp" / f"status-{self.me}.json"
        tmp.write_text(json.dumps(status), encoding="utf-8")
        os.replace(tmp, self.root / "status" / f"{self.me}.json")

    def _read_status(self, worker: str) -> dict[str, Any]:
        try:
            return json.loads((self.root / "status" / f"{worker}.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def all_done(self) -> bool:
        """True when every worker is idle (or gone) and every URL sent was received."""
        sent = received = 0
        for worker in self.workers:
            status = self._read_status(worker)
            if not status:
                return False  # not started yet
            if not status["idle"] and _pid_alive(status.get("pid"), None):
                return False
            sent += status["sent"]
            received += status["received"]
        if sent != received:
            return False
        return not any((self.root / "inbox").glob("*/*.tsv"))
