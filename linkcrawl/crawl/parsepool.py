"""Link extraction in worker processes, each page within a time budget, off the reactor.

libxml2's HTML parser is quadratic in some inputs (one tag holding 300,000 attributes takes
minutes), and parsing in the reactor's thread would freeze every download in flight until
it returned. So the spider hands each page to a :class:`ParsePool`: a few worker processes,
each fed by a thread of this process that waits on its pipe. A page still parsing when its
budget runs out has its worker killed (a thread could not be stopped: it would burn a core
for minutes) and replaced; the page is recorded with the error ``parse-timeout``.

Workers are plain ``python -c`` processes speaking pickle over their stdin and stdout, not
:mod:`multiprocessing` ones: spawn and forkserver re-import the caller's ``__main__``
(a script that starts a crawl without a ``__main__`` guard would start it again in every
worker) and leave helper processes running until the interpreter exits.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from linkcrawl.extract.links import LinkExtractor, PageLinks, PositionRule
from linkcrawl.extract.urls import host_of, registered_domain

__all__ = [
    "PARSE_CRASHED",
    "PARSE_TIMEOUT",
    "PageJob",
    "ParseCancelled",
    "ParseFailed",
    "ParsePool",
    "extract_page",
]

logger = logging.getLogger(__name__)

PARSE_TIMEOUT = "parse-timeout"
PARSE_CRASHED = "parse-crashed"
# A worker imports Scrapy, lxml and the suffix list before it is ready; on a loaded machine
# that takes seconds, and it is not charged to any page's budget.
_START_TIMEOUT = 120.0
# The worker's side: the caller's sys.path first (scrapyd runs a crawl from an egg that
# is on sys.path only), then the loop. Anything the worker prints goes to stderr, so that
# stdout carries nothing but the replies. The package's __init__ is not run: it imports the
# dataset layer (pandas, pyarrow), which would triple a worker's memory (to about 200 MB)
# and its start-up time, and extraction needs none of it.
_BOOT = (
    "import importlib.util, os, pickle, sys\n"
    "out = os.fdopen(os.dup(1), 'wb')\n"
    "os.dup2(2, 1)\n"
    "sys.path[:] = pickle.load(sys.stdin.buffer)\n"
    "spec = importlib.util.find_spec('linkcrawl')\n"
    "sys.modules['linkcrawl'] = importlib.util.module_from_spec(spec)\n"
    "from linkcrawl.crawl.parsepool import serve\n"
    "serve(sys.stdin.buffer, out)\n"
)


class ParseCancelled(Exception):
    """The pool closed before the page was parsed (the crawl stopped uncleanly): the page
    has no row, so that a resumed crawl fetches it again."""


class ParseFailed(Exception):
    """A page's extraction did not finish: ``error`` is what its pages row says."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class PageJob:
    """What a worker needs to rebuild one response and extract its links.

    ``response_class`` is Scrapy's class for the response (its selector type and encoding
    rules come from it); ``page_url`` is the normalised URL the links resolve against.
    """

    response_class: type
    url: str
    headers: dict[bytes, list[bytes]]
    body: bytes
    page_url: str
    x_robots_tag: tuple[str, ...]
    #: Also look for the signals of a client-rendered shell (``--render auto``).
    shell: bool = False


def extract_page(
    extractor: LinkExtractor,
    response: Any,
    page_url: str,
    x_robots_tag: Sequence[str],
    shell: bool = False,
) -> tuple[PageLinks, list[str]]:
    """The links of a Scrapy text response and the registered domain of each target;
    with ``shell``, ``links.shell`` holds the signals that the page is a client-rendered
    shell (:func:`linkcrawl.extract.shell.shell_signals`).

    The same call runs in a worker (on the rebuilt response) and in the reactor's thread
    with ``LINKCRAWL_PARSE_WORKERS = 0``, so both give the same columns.
    """
    root = response.selector.root
    links = extractor.extract(root, page_url, x_robots_tag)
    if shell:
        from linkcrawl.extract.shell import shell_signals

        links.shell = shell_signals(root, links)
    return links, [registered_domain(host_of(t)) for t in links.target]


def serve(inp: Any, out: Any) -> None:
    """A worker's loop: read a job, write ``("ok", result)`` or ``("error", exception)``.

    Started by :class:`ParsePool`; the first message is the extractor's configuration.
    """
    # The parent decides when a worker ends: the SIGTERM that `systemctl stop` sends to
    # every process of the service would otherwise kill a worker in the middle of a page
    # of a crawl that is stopping cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()

    def exit_with_parent() -> None:
        # A parent killed outright (SIGKILL, the OOM killer) cannot kill its workers; one
        # that is idle sees its stdin close, one in the middle of a page needs this.
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()
    from scrapy.http import Headers

    rules, user_agent = pickle.load(inp)
    extractor = LinkExtractor(rules, user_agent=user_agent)
    pickle.dump("ready", out)
    out.flush()
    while True:
        try:
            job: PageJob = pickle.load(inp)
        except EOFError:
            return
        try:
            response = job.response_class(url=job.url, headers=Headers(job.headers), body=job.body)
            reply: tuple[str, Any] = (
                "ok",
                extract_page(extractor, response, job.page_url, job.x_robots_tag, job.shell),
            )
        except Exception as exc:  # the parent raises it as the callback's error
            reply = ("error", exc)
        try:
            data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            data = pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
        out.write(data)
        out.flush()


class _Worker:
    """One worker process and its pipes; used only by the pool thread that owns it."""

    def __init__(self, setup: tuple[Any, ...]) -> None:
        # A session of its own: a Ctrl-C at the terminal is the crawl's to handle, not
        # the worker's (which would die in the middle of a page of a crawl stopping cleanly).
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        self._setup = setup

    def wait_ready(self) -> None:
        """Send the configuration and wait until the worker has imported what it needs."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        pickle.dump(list(sys.path), stdin)
        pickle.dump(self._setup, stdin)
        stdin.flush()
        if not select.select([stdout], [], [], _START_TIMEOUT)[0]:
            raise OSError(f"parse worker not ready after {_START_TIMEOUT:.0f} s")
        if pickle.load(stdout) != "ready":
            raise OSError("parse worker failed to start")

    def run(self, job: PageJob, timeout: float) -> tuple[str, Any]:
        """The worker's reply to ``job``; kills the worker if it takes over ``timeout``."""
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        try:
            pickle.dump(job, stdin, protocol=pickle.HIGHEST_PROTOCOL)
            stdin.flush()
            if not select.select([stdout], [], [], timeout if timeout > 0 else None)[0]:
                self.kill()
                return "failed", PARSE_TIMEOUT
            return pickle.load(stdout)
        except (OSError, EOFError, pickle.UnpicklingError):
            # Died in the middle of the page (a crash in libxml2, the OOM killer).
            self.kill()
            return "failed", PARSE_CRASHED

    def signal_kill(self) -> None:
        """Kill the process without touching the pipes its pool thread may be reading."""
        if self.process.poll() is None:
            self.process.kill()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass


class ParsePool:
    """Extracts links from responses in up to ``workers`` processes, off the reactor,
    giving each page ``timeout`` seconds (0: no limit).

    A component of one crawler, made by :meth:`from_crawler`: it starts with the spider and
    kills its workers when the spider closes, the engine stops or the reactor shuts down
    (a second Ctrl-C), so that no worker outlives the crawl. Workers start as pages need
    them, one at first. :meth:`submit` returns a Deferred that fires with the result of
    :func:`extract_page`, or fails with :class:`ParseFailed` (``parse-timeout``,
    ``parse-crashed``) or the extraction's own exception.
    """

    def __init__(
        self,
        position_rules: Sequence[PositionRule],
        user_agent: str,
        workers: int,
        timeout: float,
        crawler: Any = None,
    ) -> None:
        if workers < 1:
            raise ValueError("a parse pool needs at least one worker")
        self.workers = workers
        self.timeout = timeout
        self._setup = (tuple(position_rules), user_agent)
        self._crawler = crawler  # for its stats, which exist only once the crawl runs
        self._jobs: queue.SimpleQueue[tuple[PageJob, Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._live: set[_Worker] = set()
        self._busy = 0
        self._pending: set[Any] = set()  # Deferreds not fired yet; reactor thread only
        self._closed = False
        self._reactor: Any = None
        self._trigger: Any = None

    @classmethod
    def from_crawler(cls, crawler: Any, extractor: LinkExtractor) -> ParsePool | None:
        """The pool ``LINKCRAWL_PARSE_WORKERS`` and ``LINKCRAWL_PARSE_TIMEOUT`` ask for, tied
        to the crawler's signals; None when extraction stays in the reactor's thread."""
        from scrapy import signals

        settings = crawler.settings
        workers = settings.getint("LINKCRAWL_PARSE_WORKERS")
        if workers <= 0:
            return None
        pool = cls(
            extractor.rules,
            extractor.user_agent,
            workers,
            settings.getfloat("LINKCRAWL_PARSE_TIMEOUT"),
            crawler,
        )
        if not settings.get("LINKCRAWL_SINCE"):
            # An incremental crawl may parse few pages or none: its first page to parse
            # starts the pool (submit), rather than a worker importing at start for nothing.
            crawler.signals.connect(pool.start, signal=signals.spider_opened)
        crawler.signals.connect(pool.close, signal=signals.spider_closed)
        crawler.signals.connect(pool.close, signal=signals.engine_stopped)
        return pool

    def start(self, *_: Any, **__: Any) -> None:
        """Start the first worker, so that it imports while the first pages download."""
        from twisted.internet import reactor  # the crawler's, installed by now

        with self._lock:
            if self._closed or self._reactor is not None:
                return
            self._reactor = reactor
            # An unclean stop (a second Ctrl-C) stops the reactor without closing the spider.
            # zope.interface methods have no self: without the mypy-zope plugin, mypy reads
            # twisted's reactor interfaces one argument off.
            self._trigger = reactor.addSystemEventTrigger(
                "before",
                "shutdown",  # type: ignore[arg-type]
                self.close,
            )
            self._grow()

    def submit(self, job: PageJob) -> Any:
        """A Deferred for the extraction of ``job`` (see the class docstring)."""
        from twisted.internet.defer import Deferred

        if self._reactor is None:
            self.start()
        d: Deferred[Any] = Deferred()
        with self._lock:
            if self._closed:
                d.errback(ParseCancelled())
                return d
            self._pending.add(d)
            self._jobs.put((job, d))
            if self._busy + self._jobs.qsize() > len(self._threads):
                self._grow()
        return d

    def _grow(self) -> None:
        """Add a pool thread (and so a worker), up to ``workers``; holds the lock."""
        if len(self._threads) >= self.workers:
            return
        thread = threading.Thread(
            target=self._serve, name=f"linkcrawl-parse-{len(self._threads)}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _new_worker(self) -> _Worker | None:
        with self._lock:
            if self._closed:
                return None
            worker = _Worker(self._setup)
            self._live.add(worker)
        try:
            worker.wait_ready()
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self._retire(worker)
            if not self._closed:
                logger.error("linkcrawl: a parse worker did not start: %s", exc)
            return None
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._live.discard(worker)

    def _serve(self) -> None:
        """A pool thread: feeds one worker, replacing it after a timeout or a crash."""
        worker: _Worker | None = None
        while True:
            if worker is None and not self._closed:
                worker = self._new_worker()
            task = self._jobs.get()
            if task is None or self._closed:
                break
            job, d = task
            with self._lock:
                self._busy += 1
            started = time.monotonic()
            if worker is None:
                worker = self._new_worker()
            if worker is None:
                outcome: tuple[str, Any] = ("failed", "parse-worker-failed")
            else:
                outcome = worker.run(job, self.timeout)
            with self._lock:
                self._busy -= 1
            if outcome[0] == "failed" and worker is not None:
                self._retire(worker)
                worker = None
            if self._closed:
                break
            self._reactor.callFromThread(self._deliver, job, d, outcome, started)
        if worker is not None:
            self._retire(worker)

    def _deliver(self, job: PageJob, d: Any, outcome: tuple[str, Any], started: float) -> None:
        if d not in self._pending:
            return  # cancelled by close()
        self._pending.discard(d)
        status, value = outcome
        if status == "ok":
            d.callback(value)
            return
        if status == "failed":
            if self._crawler is not None and self._crawler.stats is not None:
                self._crawler.stats.inc_value(f"linkcrawl/{value}")
            if value == PARSE_TIMEOUT:
                logger.warning(
                    "linkcrawl: %s still parsing after %.0f s (%d bytes); recorded with "
                    "error parse-timeout",
                    job.page_url,
                    time.monotonic() - started,
                    len(job.body),
                )
            else:
                logger.warning("linkcrawl: %s: parse worker died (%s)", job.page_url, value)
            value = ParseFailed(value)
        d.errback(value)

    def close(self, *_args: Any, **_kwargs: Any) -> None:
        """Stop the pool threads and kill the workers (idempotent). Pages still waiting,
        which happens only when the crawl stops uncleanly, fail with ParseCancelled: their
        callbacks end rather than stay pending in a stopped reactor."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            live = list(self._live)
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        for worker in live:
            worker.signal_kill()
        # Each thread wakes at its worker's death and reaps it.
        deadline = time.monotonic() + 5.0
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        pending, self._pending = self._pending, set()
        for d in pending:
            d.errback(ParseCancelled())
        if self._trigger is not None and self._reactor is not None:
            try:
                self._reactor.removeSystemEventTrigger(self._trigger)
            except (ValueError, KeyError):
                pass  # already running: this is that trigger
            self._trigger = None
