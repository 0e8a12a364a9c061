"""A crawl frontier shared through Redis: N ``linkcrawl crawl --redis URL`` workers, one crawl.

Built on scrapy-redis (``pip install 'linkcrawl[distributed]'``): its Scheduler, its
duplicate filter and its sorted-set priority queue, with linkcrawl's own
:class:`~linkcrawl.spiders.links.LinkSpider` (not ``RedisSpider``). Every key of a crawl
starts with ``linkcrawl:<crawl_id>:``, so several crawls can share one Redis server
(a single server: Redis Cluster is not supported, the scripts below touch several keys).

What this adds to scrapy-redis, and why:

* No page is lost when a worker dies. Popping a request moves it, in one Lua script, from
  the shared queue to the worker's *in-flight* set; when the pipeline hands a batch of
  pages to its writer the batch's requests move to a *batch* set named after the part
  number, which is deleted once the part file is on disk. A worker whose heartbeat
  (``LINKCRAWL_REDIS_WORKER_TIMEOUT``) has expired is *lost*: a live worker puts its
  in-flight requests back in the queue, and each of its batches too, unless that batch's
  pages part file exists (its rows are on disk; an edges part without its pages part is
  removed first, so no edge is written twice).
* The crawl ends when it is done everywhere: a worker closes only when the queue is empty,
  every live worker is idle and no worker holds in-flight or unwritten requests
  (scrapy-redis alone would keep idle workers open forever, or close one that another
  worker is about to feed).
* ``--max-pages`` is a cap on the whole crawl, per registered domain, counted in Redis
  when a request is first queued (seeds count but are never refused). The spider's trap
  guards (query and digit variants) stay counters of each worker.
* Duplicates are found with Scrapy's own request fingerprinter (``REQUEST_FINGERPRINTER``),
  as a single-process crawl finds them, and every worker may be given the seeds: a seed
  another worker queued first is a duplicate like any other request.
* One manifest, ``crawls/<crawl_id>.json``, for all workers: each worker's section
  (host, pid, status, counts) under ``distributed.workers``, merged under a Redis lock.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scrapy import Request, signals
from scrapy.exceptions import CloseSpider, DontCloseSpider

from linkcrawl.crawl.frontier import CrawlPlan, Frontier
from linkcrawl.crawl.pipeline import REDIS_LOST, add_skipped
from linkcrawl.crawl.process import crawl_settings, run_scrapy
from linkcrawl.dataset.layout import manifest_path, root_path, utcnow
from linkcrawl.dataset.manifest import build_manifest, read_manifest, write_manifest
from linkcrawl.dataset.reader import Dataset
from linkcrawl.dataset.schemas import PAGES_SCHEMA
from linkcrawl.dataset.write import PartWriter
from linkcrawl.errors import CrawlInterrupted, LinkcrawlError
from linkcrawl.extract.urls import host_of, normalize_url, registered_domain

try:  # an optional extra: the message below says how to install it
    import redis
    from scrapy_redis.dupefilter import RFPDupeFilter
    from scrapy_redis.queue import PriorityQueue
    from scrapy_redis.scheduler import Scheduler
except ImportError:  # pragma: no cover - exercised only without the extra
    # No module, then: connect() says how to install it.
    redis = None  # type: ignore[assignment]
    RFPDupeFilter = PriorityQueue = Scheduler = object

logger = logging.getLogger(__name__)

__all__ = [
    "FrontierQueue",
    "RedisDupeFilter",
    "RedisScheduler",
    "SharedRedis",
    "check_worker_id",
    "connect",
    "default_worker_id",
    "distributed_settings",
    "key_prefix",
]

INSTALL_HINT = "--redis needs scrapy-redis: pip install 'linkcrawl[distributed]'"
# How often a worker renews its heartbeat and looks for lost workers, in seconds.
_TICK_SECONDS = 0.5
# After the crawl finished, its Redis keys expire after this many seconds (stragglers
# still closing may read them meanwhile).
_FINISHED_KEYS_TTL = 3600

# What the manifest keeps of each worker.
_SECTION_FIELDS = (
    "status",
    "finish_reason",
    "host",
    "pid",
    "started_at",
    "finished_at",
    "counts",
    "skipped",
)
# Fields of a worker's manifest that are the worker's, not the crawl's: the crawl's are
# made from every worker's section (or, for failure, by the runner once the crawl ended).
_WORKER_FIELDS = ("pid", "host", "counts", "skipped", "status", "finish_reason", "failure")
# Queue a request unless its fingerprint was seen; count it against its domain's cap. The
# score is -priority, then the order of arrival: first in, first out within a priority, as
# in Scrapy's own queues (members of one score would come out sorted by their bytes,
# that is by URL, one site after another, with one site's slots busy and the rest idle).
_PUSH = """
if ARGV[1] ~= '' then
  if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
end
if ARGV[4] ~= '' then
  local n = redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  if tonumber(ARGV[5]) > 0 and n > tonumber(ARGV[5]) then return 2 end
end
local score = tonumber(ARGV[3]) * 4294967296 + redis.call('INCR', KEYS[5])
redis.call('ZADD', KEYS[2], score, ARGV[2])
if ARGV[6] ~= '' then redis.call('ZREM', KEYS[4], ARGV[6]) end
return 1
"""
# Take the first request of the queue into this worker's in-flight set, and say busy.
_POP = """
local r = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #r == 0 then return false end
redis.call('ZREM', KEYS[1], r[1])
redis.call('ZADD', KEYS[2], r[2], r[1])
redis.call('SET', KEYS[3], 'busy', 'PX', ARGV[1])
return r[1]
"""
# Move the requests of one batch of pages from in-flight to the batch's own set.
_BATCH = """
for i = 2, #ARGV do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s then
    redis.call('ZREM', KEYS[1], ARGV[i])
    redis.call('ZADD', KEYS[2], s, ARGV[i])
  end
end
redis.call('SADD', KEYS[3], ARGV[1])
return 1
"""
# Is the crawl done everywhere? 'busy', 'done', or 'lost' and the lost workers with work.
# A worker that holds the sitemaps' entries (state 'sitemaps') is busy to the others, and
# idle to itself (ARGV[2]): it queues them once everything else is done.
_CHECK = """
local p = ARGV[1]
if redis.call('ZCARD', p .. 'requests') > 0 then return {'busy'} end
local lost = {'lost'}
for _, w in ipairs(redis.call('HKEYS', p .. 'workers')) do
  local state = redis.call('GET', p .. 'alive:' .. w)
  local held = redis.call('ZCARD', p .. 'inflight:' .. w)
    + redis.call('SCARD', p .. 'batches:' .. w)
  if state then
    local waiting = state == 'idle' or (w == ARGV[2] and state == 'sitemaps')
    if not waiting or held > 0 then return {'busy'} end
  elseif held > 0 then
    table.insert(lost, w)
  end
end
if #lost > 1 then return lost end
return {'done'}
"""
# Replace a value only if it is still the one read (a lost planner's claim).
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# Workers whose heartbeat expired while they still hold requests.
_LOST = """
local p = ARGV[1]
local lost = {}
for _, w in ipairs(redis.call('HKEYS', p .. 'workers')) do
  if redis.call('EXISTS', p .. 'alive:' .. w) == 0 and
     redis.call('ZCARD', p .. 'inflight:' .. w) + redis.call('SCARD', p .. 'batches:' .. w) > 0
  then
    table.insert(lost, w)
  end
end
return lost
"""


def key_prefix(crawl_id: str) -> str:
    """The prefix of every Redis key of one crawl."""
    return f"linkcrawl:{crawl_id}:"


def default_worker_id() -> str:
    """This process's worker id: host name (letters and digits) and pid, e.g. ``node7p4242``.

    Part file names carry it, so it must differ between the workers of one crawl.
    """
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:24] or "host"
    return f"{host}p{os.getpid()}"


def public_url(url: str) -> str:
    """The Redis URL without its password, for manifests and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}:***@{netloc}"
    else:
        netloc = f":***@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str) -> Any:
    """A Redis client for ``url``, checked with a PING; LinkcrawlError with one line if
    scrapy-redis is not installed or the server cannot be reached."""
    if redis is None:
        raise LinkcrawlError(INSTALL_HINT)
    try:
        client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10)
        client.ping()
    except ValueError as exc:
        raise LinkcrawlError(f"bad --redis URL {public_url(url)!r}: {exc}") from None
    except redis.RedisError as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LinkcrawlError(f"cannot reach Redis at {public_url(url)}: {message}") from None
    return client


def check_worker_id(server: Any, crawl_id: str, worker: str) -> None:
    """LinkcrawlError if a live worker of ``crawl_id`` already has the id ``worker``."""
    if server.exists(f"{key_prefix(crawl_id)}alive:{worker}"):
        raise LinkcrawlError(
            f"worker {worker} of crawl {crawl_id} is running: give each worker its own id "
            "(-s LINKCRAWL_WORKER=...), or if it died, wait LINKCRAWL_REDIS_WORKER_TIMEOUT "
            "seconds"
        )


def stopped_by_lost_redis(root: Any, crawl_id: str) -> bool:
    """True when a worker of the shared crawl ``crawl_id`` stopped because Redis went away
    (its manifest section says so). The links that worker found after the loss were never
    queued, and a Redis restarted without its data has lost the queue: a worker joining
    such a crawl queues every link on disk not fetched yet, as a resume does, and Redis
    drops the ones it knows."""
    path = manifest_path(root, crawl_id)
    if not path.is_file():
        return False
    workers = (read_manifest(path).fields.get("distributed") or {}).get("workers") or {}
    return any(str(w.get("finish_reason")).startswith(REDIS_LOST) for w in workers.values())


def distributed_settings(url: str, worker: str) -> dict[str, Any]:
    """The Scrapy settings that make a crawl one worker of a shared Redis frontier."""
    return {
        "LINKCRAWL_REDIS_URL": url,
        "LINKCRAWL_WORKER": worker,
        "SCHEDULER": "linkcrawl.crawl.frontier.redis.RedisScheduler",
        # scrapy-redis's own names, for anyone reading the settings; RedisScheduler sets the
        # keys from the crawl id itself.
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_CLASS": "linkcrawl.crawl.frontier.redis.FrontierQueue",
        "DUPEFILTER_CLASS": "linkcrawl.crawl.frontier.redis.RedisDupeFilter",
        "REDIS_URL": url,
        # The queue and the duplicate filter live in Redis, not in a JOBDIR.
        "JOBDIR": None,
    }


def _redis_down(exc: BaseException) -> bool:
    """True for the errors of a Redis that went away (refused, reset, timed out)."""
    return redis is not None and isinstance(exc, redis.ConnectionError | redis.TimeoutError)


def _survives_redis_loss(default: Any = None) -> Callable[[Any], Any]:
    """A RedisScheduler method that, once Redis is gone (or when its call finds it gone),
    returns ``default`` instead of raising: the worker is stopping (see
    :meth:`RedisScheduler.lost_redis`), and a traceback per request helps no one."""

    def wrap(method: Any) -> Any:
        @functools.wraps(method)
        def guarded(self: RedisScheduler, *args: Any, **kwargs: Any) -> Any:
            if self.lost is not None:
                return default
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                if not _redis_down(exc):
                    raise
                self.lost_redis(exc)
                return default

        return guarded

    return wrap


class RedisDupeFilter(RFPDupeFilter):
    """scrapy-redis's duplicate filter, fingerprinting with Scrapy's request fingerprinter
    (what ``REQUEST_FINGERPRINTER`` says), not scrapy-redis's own JSON-and-SHA1 scheme, so
    a distributed crawl drops exactly the requests a single-process crawl drops."""

    def __init__(self, server: Any, key: str, fingerprinter: Any, debug: bool = False) -> None:
        super().__init__(server, key, debug=debug)
        self.fingerprinter = fingerprinter

    def request_fingerprint(self, request: Any) -> str:
        return self.fingerprinter.fingerprint(request).hex()

    def close(self, reason: str = "") -> None:
        pass  # shared with the other workers; its key expires after the crawl finished


class FrontierQueue(PriorityQueue):
    """scrapy-redis's sorted-set queue (by -priority, so with ``DEPTH_PRIORITY = 1``
    shallower pages first: breadth-first across all workers; then first in, first out),
    whose pop also records the request in the worker's in-flight set, in one step.
    Requests are pushed by :meth:`RedisScheduler.enqueue_request`."""

    def __init__(
        self, server: Any, spider: Any, key: str, serializer: Any = None, frontier: Any = None
    ) -> None:
        super().__init__(server, spider, key, serializer)
        self.frontier = frontier
        self._pop = server.register_script(_POP)

    def encode(self, request: Any) -> bytes:
        return self._encode_request(request)

    def pop(self, timeout: int = 0) -> Any:
        f = self.frontier
        data = self._pop(keys=[self.key, f.inflight_key, f.alive_key], args=[f.ttl_ms])
        if not data:
            return None
        f.state = "busy"
        request = self._decode_request(data)
        f.inflight[_page_key(request.url)] = data
        return request


def _page_key(url: str) -> str:
    """The URL a request's pages row will carry (the spider normalises it the same way)."""
    return normalize_url(url) or url


class RedisScheduler(Scheduler):
    """The scheduler of one worker of a distributed crawl (``SCHEDULER``).

    scrapy-redis's Scheduler with linkcrawl's keys, queue and duplicate filter, plus the
    bookkeeping that lets N workers end together and lose no page when one dies (see the
    module's docstring). Settings: ``LINKCRAWL_REDIS_URL``, ``LINKCRAWL_CRAWL_ID``,
    ``LINKCRAWL_WORKER``, ``LINKCRAWL_DATA_DIR``, ``LINKCRAWL_MAX_PAGES_PER_DOMAIN``,
    ``LINKCRAWL_REDIS_WORKER_TIMEOUT``.
    """

    def __init__(self, server: Any, crawler: Any, crawl_id: str, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        settings = crawler.settings
        self.crawler = crawler
        self.stats = crawler.stats
        self.url = settings.get("LINKCRAWL_REDIS_URL")
        self.crawl_id = crawl_id
        self.worker = settings.get("LINKCRAWL_WORKER")
        self.root = settings.get("LINKCRAWL_DATA_DIR") or "data"
        self.max_pages = settings.getint("LINKCRAWL_MAX_PAGES_PER_DOMAIN")
        self.ttl_ms = int(1000 * settings.getfloat("LINKCRAWL_REDIS_WORKER_TIMEOUT", 60.0))
        p = self.prefix = key_prefix(self.crawl_id)
        self.inflight_key = f"{p}inflight:{self.worker}"
        self.alive_key = f"{p}alive:{self.worker}"
        self.batches_key = f"{p}batches:{self.worker}"
        self.state = "busy"
        # URL -> the queued form of its request, for the requests this worker holds.
        self.inflight: dict[str, bytes] = {}
        self.pipeline: Any = None
        self._push = server.register_script(_PUSH)
        self._batch = server.register_script(_BATCH)
        self._check = server.register_script(_CHECK)
        self._lost = server.register_script(_LOST)
        self._loop: Any = None
        self._last_lost_scan = 0.0
        # Why Redis is out of reach, once it is: the worker then stops (lost_redis).
        self.lost: str | None = None
        # --revisit adaptive: this worker writes the rows of the pages the plan carries.
        self.carrying = False

    @classmethod
    def from_crawler(cls, crawler: Any) -> RedisScheduler:
        settings = crawler.settings
        # The spider's crawl id: `scrapy crawl links -a crawl_id=...` gives it there.
        crawl_id = getattr(crawler.spider, "crawl_id", None) or settings.get("LINKCRAWL_CRAWL_ID")
        if not crawl_id or not settings.get("LINKCRAWL_WORKER"):
            raise LinkcrawlError("a distributed crawl needs a crawl id and a worker id")
        server = connect(settings.get("LINKCRAWL_REDIS_URL"))
        p = key_prefix(crawl_id)
        frontier = cls(
            server,
            crawler,
            persist=True,
            queue_key=f"{p}requests",
            queue_cls="linkcrawl.crawl.frontier.redis.FrontierQueue",
            dupefilter=RedisDupeFilter(
                server,
                f"{p}dupefilter",
                crawler.request_fingerprinter,
                debug=settings.getbool("DUPEFILTER_DEBUG"),
            ),
            dupefilter_key=f"{p}dupefilter",
            crawl_id=crawl_id,
        )
        crawler.signals.connect(frontier.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(frontier.spider_error, signal=signals.spider_error)
        return frontier

    # -- lifecycle ------------------------------------------------------------------------

    def open(self, spider: Any) -> None:
        from twisted.internet import task  # not at module level: it must not pick a reactor

        self.spider = spider
        self.queue = FrontierQueue(self.server, spider, self.queue_key, frontier=self)
        self._register()
        spider.frontier = self
        self._loop = task.LoopingCall(self.tick)
        self._loop.start(_TICK_SECONDS, now=False)

    def _register(self) -> None:
        p, me = self.prefix, self.worker
        check_worker_id(self.server, self.crawl_id, me)
        fields = f'{{"host": "{socket.gethostname()}", "pid": {os.getpid()}}}'
        pipe = self.server.pipeline()
        pipe.hset(f"{p}workers", me, fields)
        pipe.hdel(f"{p}lost", me)
        # Busy from the start: no other worker may end the crawl before our seeds are in.
        pipe.set(self.alive_key, "busy", px=self.ttl_ms)
        pipe.execute()
        # Requests a previous process of this worker id held when it died.
        self.recover(me)

    def close(self, reason: str) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._hand_back()

    @_survives_redis_loss()
    def _hand_back(self) -> None:
        # The pipeline has written its last batch: what is still in flight was never
        # finished (a shutdown cancels downloads). Give it back to the other workers.
        self._requeue(self.inflight_key)
        self.inflight.clear()
        self.server.delete(self.alive_key)

    def lost_redis(self, exc: BaseException) -> None:
        """Redis went away: stop this worker, as a shutdown would. The pipeline writes the
        pages it holds; the links found since cannot be queued, and a worker that rejoins
        the crawl queues every link on disk that is not fetched yet (see
        :func:`stopped_by_lost_redis`). Called from any thread; the first call counts."""
        if self.lost is not None:
            return
        self.lost = (str(exc).splitlines() or [type(exc).__name__])[0]
        logger.error("lost Redis at %s (%s): stopping this worker", public_url(self.url), self.lost)
        self.stats.set_value("linkcrawl/redis/lost", self.lost)
        from twisted.internet import reactor

        reactor.callFromThread(self._stop)

    def _stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            from scrapy.utils.defer import deferred_from_coro

            deferred_from_coro(engine.close_spider_async(reason=f"{REDIS_LOST}: {self.lost}"))

    @_survives_redis_loss()
    def tick(self) -> None:
        """Renew the heartbeat; look for lost workers now and then; wake an idle engine
        when other workers queued requests (Scrapy otherwise looks every 5 s)."""
        self.server.set(self.alive_key, self.state, px=self.ttl_ms)
        now = time.monotonic()
        if now - self._last_lost_scan >= min(5.0, self.ttl_ms / 2000):
            self._last_lost_scan = now
            for worker in self._lost(args=[self.prefix]):
                self.recover(worker.decode())
        if self.state in ("idle", "sitemaps"):
            slot = getattr(self.crawler.engine, "_slot", None)
            if slot is not None:
                slot.nextcall.schedule()

    # -- scheduling ---------------------------------------------------------------------------

    @_survives_redis_loss(False)
    def enqueue_request(self, request: Any) -> bool:
        fp = "" if request.dont_filter else self.df.request_fingerprint(request)
        domain, cap = "", 0
        if fp and self.max_pages and not request.meta.get("external"):
            domain = registered_domain(host_of(request.url))
            # Seeds are counted, never refused (as in a single-process crawl).
            cap = self.max_pages if request.meta.get("depth", 0) > 0 else 0
        old = self.inflight.pop(_page_key(request.url), None) if request.dont_filter else None
        result = self._push(
            keys=[
                self.df.key,
                self.queue.key,
                f"{self.prefix}pagecounts",
                self.inflight_key,
                f"{self.prefix}arrivals",
            ],
            args=[fp, self.queue.encode(request), -request.priority, domain, cap, old or ""],
        )
        if result == 0:
            self.df.log(request, self.spider)
            return False
        if result == 2:
            self.stats.inc_value("linkcrawl/skipped/max-pages")
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    @_survives_redis_loss()
    def next_request(self) -> Any:
        request = self.queue.pop()
        if request is not None:
            self.stats.inc_value("scheduler/dequeued/redis")
        return request

    @_survives_redis_loss(False)
    def has_pending_requests(self) -> bool:
        return bool(super().has_pending_requests())

    # -- --revisit adaptive: one plan for all workers ---------------------------------------
    # The claim ``<prefix>revisit-plan`` goes "planning:W" (worker W makes the plan) ->
    # "carrying:W" (the pages W carries are in the duplicate filter, the due pages queued;
    # W writes the carried rows) -> "carried" (every carried row is on disk).

    @_survives_redis_loss("ready")
    def claim_revisit_plan(self) -> str:
        """Which part this worker takes in an adaptive revisit's plan, made once per crawl:
        ``plan`` (it makes the plan and carries the pages that are not due), ``takeover``
        (the worker making it was lost: this one makes it again, for the pages not on
        disk yet), ``carry`` (the worker carrying the pages was lost: this one carries
        those not on disk yet), ``wait`` (another worker is making it: ask again soon) or
        ``ready`` (made: the pages carried are in the duplicate filter, so no worker
        requests them)."""
        key = f"{self.prefix}revisit-plan"
        if self.server.set(key, f"planning:{self.worker}", nx=True):
            return "plan"
        value = (self.server.get(key) or b"").decode()
        state, _, holder = value.partition(":")
        if state not in ("planning", "carrying"):
            return "ready"
        if holder != self.worker and self.server.exists(f"{self.prefix}alive:{holder}"):
            return "wait" if state == "planning" else "ready"
        # Its worker is gone (or is this one, restarted): take its part over.
        role = "takeover" if state == "planning" else "carry"
        if self.take_over_claim(value, f"{state}:{self.worker}"):
            if role == "carry":
                self.carrying = True
            return role
        return "wait"

    @_survives_redis_loss(False)
    def claim_sitemaps(self) -> bool:
        """True for the one worker of the crawl that reads the seed hosts' sitemaps (a
        crawl without an adaptive revisit, whose planner reads them): the first to ask."""
        return bool(self.server.set(f"{self.prefix}sitemaps", self.worker, nx=True))

    @_survives_redis_loss(False)
    def take_over_claim(self, value: str, mine: str) -> bool:
        """Set the plan's claim to ``mine`` if it still is ``value`` (as read)."""
        key = f"{self.prefix}revisit-plan"
        return bool(self.server.eval(_TAKE_OVER, 1, key, value, mine))

    @_survives_redis_loss()
    def reserve(self, urls: Iterable[str]) -> None:
        """Put the requests of ``urls`` in the duplicate filter, so that no worker requests
        them (an adaptive revisit carries them without a request)."""
        fingerprint = self.crawler.request_fingerprinter.fingerprint
        batch: list[str] = []
        for url in urls:
            batch.append(fingerprint(Request(url)).hex())
            if len(batch) >= 10_000:
                self.server.sadd(self.df.key, *batch)
                batch = []
        if batch:
            self.server.sadd(self.df.key, *batch)

    @_survives_redis_loss()
    def revisit_plan_ready(self, planned_at: int, lastmod: dict[str, int] | None = None) -> None:
        """The plan made at ``planned_at`` (ms since the epoch) is ready, its carried pages
        reserved: the other workers may start; this one writes the carried rows
        (``carried`` once they are on disk). ``lastmod``: the sitemap lastmods that made
        pages due, for a worker that carries them after this one is lost (the same plan)."""
        pipe = self.server.pipeline()
        if lastmod:
            pipe.hset(f"{self.prefix}revisit-lastmod", mapping=lastmod)
        pipe.set(f"{self.prefix}revisit-plan-at", planned_at)
        pipe.set(f"{self.prefix}revisit-plan", f"carrying:{self.worker}")
        pipe.execute()
        self.carrying = True

    @_survives_redis_loss(None)
    def revisit_plan_time(self) -> int | None:
        """When the plan was made (ms since the epoch), once it is ready."""
        value = self.server.get(f"{self.prefix}revisit-plan-at")
        return int(value) if value is not None else None

    @_survives_redis_loss({})
    def revisit_lastmod(self) -> dict[str, int]:
        """The sitemap lastmods that made pages due in the plan (``revisit_plan_ready``)."""
        values = self.server.hgetall(f"{self.prefix}revisit-lastmod")
        return {url.decode(): int(ms) for url, ms in values.items()}

    def _carried(self) -> None:
        """At idle, every row written: the carried rows of this worker are on disk."""
        if self.carrying:
            self.take_over_claim(f"carrying:{self.worker}", "carried")
            self.carrying = False

    def _carrier_lost(self) -> bool:
        """True when the worker carrying the plan's pages was lost before it was done (its
        rows not all on disk): a request to carry them is queued (see
        ``LinkSpider.carry_rest``), for any worker to take."""
        value = (self.server.get(f"{self.prefix}revisit-plan") or b"").decode()
        state, _, holder = value.partition(":")
        if state != "carrying" or holder == self.worker:
            return False
        if self.server.exists(f"{self.prefix}alive:{holder}"):
            return False
        carry = getattr(self.spider, "carry_request", None)
        if carry is None:
            return False
        self.crawler.engine.crawl(carry(value))
        return True

    # -- pages on disk ------------------------------------------------------------------------

    @_survives_redis_loss()
    def batch_started(self, part: int, urls: Iterable[str]) -> None:
        """The pipeline is about to write part ``part`` holding the pages of ``urls``."""
        members = [m for m in (self.inflight.pop(u, None) for u in urls) if m is not None]
        self._batch(
            keys=[self.inflight_key, self._batch_key(self.worker, part), self.batches_key],
            args=[part, *members],
        )

    @_survives_redis_loss()
    def batch_written(self, part: int) -> None:
        """Part ``part`` is on disk: its requests are done. (Called in the writer thread.)"""
        pipe = self.server.pipeline()
        pipe.delete(self._batch_key(self.worker, part))
        pipe.srem(self.batches_key, part)
        pipe.execute()

    def _batch_key(self, worker: str, part: int) -> str:
        return f"{self.prefix}batch:{worker}:{part}"

    @_survives_redis_loss()
    def spider_error(self, failure: Any, response: Any, spider: Any) -> None:
        # A callback that failed writes no pages row: its request is done all the same.
        if response is not None:
            self.done_without_row(response.url)

    @_survives_redis_loss()
    def done_without_row(self, url: str) -> None:
        """The request of ``url`` is done, and makes no pages row."""
        data = self.inflight.pop(_page_key(url), None)
        if data is not None:
            self.server.zrem(self.inflight_key, data)

    # -- the end of the crawl ---------------------------------------------------------------

    def spider_idle(self, spider: Any) -> None:
        """Close only when the crawl is done everywhere, never while work may still come,
        or when Redis is gone (then with that reason, never as finished)."""
        if self.lost is None:
            self._idle()
        if self.lost is not None:
            raise CloseSpider(f"{REDIS_LOST}: {self.lost}")

    @_survives_redis_loss()
    def _idle(self) -> None:
        if self.pipeline is not None:
            self.pipeline.flush(wait=True)
        if self.inflight or self.server.zcard(self.inflight_key):
            # Nothing is downloading or being parsed and every page is written: what is
            # left was dropped on the way (for example a failed callback without a row).
            self.stats.inc_value("linkcrawl/redis/dropped_in_flight", len(self.inflight))
            self.inflight.clear()
            self.server.delete(self.inflight_key)
        self._carried()
        holds = getattr(self.spider, "holds_sitemap_entries", None)
        holding = bool(holds and holds())
        self.state = "sitemaps" if holding else "idle"
        self.server.set(self.alive_key, self.state, px=self.ttl_ms)
        while True:
            status, *lost = (s.decode() for s in self._check(args=[self.prefix, self.worker]))
            if status != "lost":
                break
            for worker in lost:
                self.recover(worker)
        if status == "done" and self._carrier_lost():
            status = "busy"
        if status == "done" and holding:
            # The link crawl is done everywhere: the sitemaps' entries that no link
            # reached go to the shared queue now, as a crawl of one process requests them.
            for request in self.spider.release_sitemap_entries():
                self.crawler.engine.crawl(request)
            status = "busy"
        if status == "done":
            self.server.set(f"{self.prefix}done", "1")
            return  # Scrapy closes the spider, reason "finished"
        raise DontCloseSpider

    @_survives_redis_loss(0)
    def recover(self, worker: str) -> int:
        """Put back in the queue the requests a lost worker held and did not write to disk;
        returns how many. Its batches whose pages part file exists are done already."""
        lock = self.server.lock(f"{self.prefix}recover:{worker}", timeout=60)
        if not lock.acquire(blocking=False):
            return 0  # another worker is recovering it
        try:
            requeued = 0
            pages = PartWriter(self.root, "pages", self.crawl_id, PAGES_SCHEMA, worker)
            edges_dir = root_path(self.root) / "edges" / pages.partition.name
            batches_key = f"{self.prefix}batches:{worker}"
            for raw in self.server.smembers(batches_key):
                part = int(raw)
                key = self._batch_key(worker, part)
                if not pages.part_path(part).exists():
                    # The edges part may be on disk without its pages: its pages are fetched
                    # again, so these edges would be written twice.
                    (edges_dir / pages.part_path(part).name).unlink(missing_ok=True)
                    requeued += self._requeue(key)
                pipe = self.server.pipeline()
                pipe.delete(key)
                pipe.srem(batches_key, part)
                pipe.execute()
            requeued += self._requeue(f"{self.prefix}inflight:{worker}")
            if worker != self.worker:
                self.server.hset(f"{self.prefix}lost", worker, utcnow().isoformat())
                self.stats.inc_value("linkcrawl/redis/requeued_from_lost_workers", requeued)
            return requeued
        finally:
            lock.release()

    def _requeue(self, key: str) -> int:
        pipe = self.server.pipeline()
        pipe.zcard(key)
        pipe.zunionstore(self.queue_key, [self.queue_key, key], aggregate="MIN")
        pipe.delete(key)
        return int(pipe.execute()[0])

    # -- the manifest -------------------------------------------------------------------------

    def write_manifest(self, section: dict[str, Any]) -> None:
        """Merge this worker's manifest into the crawl's, under a Redis lock (the workers
        may run on several machines; the data directory is all they share besides Redis).

        The crawl is ``finished`` once one worker saw it done everywhere (every row is
        then on disk), ``running`` while any worker that is not lost runs, and
        ``interrupted`` when every worker stopped before that. Without Redis (lost), the
        merge goes ahead unlocked: a worker that stops must still record why.
        """
        if not self._merge_manifest_locked(section):
            self._merge_manifest(section, {})

    @_survives_redis_loss(False)
    def _merge_manifest_locked(self, section: dict[str, Any]) -> bool:
        with manifest_lock(self.server, self.crawl_id, self.ttl_ms):
            lost = {
                k.decode(): v.decode() for k, v in self.server.hgetall(f"{self.prefix}lost").items()
            }
            self._merge_manifest(section, lost)
        return True

    def _merge_manifest(self, section: dict[str, Any], lost: dict[str, str]) -> None:
        """Write the crawl's manifest with this worker's ``section`` in it; ``lost``: the
        workers found lost, with when."""
        path = manifest_path(self.root, self.crawl_id)
        current = read_manifest(path).fields if path.is_file() else {}
        distributed = current.get("distributed") or {}
        workers = dict(distributed.get("workers") or {})
        workers[self.worker] = {key: section.get(key) for key in _SECTION_FIELDS}
        for name, entry in workers.items():
            if name in lost and entry.get("status") == "running":
                entry.update(status="lost", finished_at=lost[name])
        entries = workers.values()
        fields: dict[str, Any] = {
            "seeds": _union(current.get("seeds", []), section.get("seeds", [])),
            "scope": sorted(set(current.get("scope", [])) | set(section.get("scope", []))),
            "started_at": min(
                s for s in (current.get("started_at"), section.get("started_at")) if s
            ),
            # The crawl has no one process; see distributed.workers.
            "pid": None,
            "host": None,
            "workers": len(workers),
            "distributed": {"redis": public_url(self.url), "workers": workers},
            # Every worker's skips (a worker rejoining under its id replaces its own).
            "skipped": add_skipped(*(e.get("skipped") for e in entries)),
        }
        ended = current.get("status") in ("finished", "failed")
        if ended or any(e.get("finish_reason") == "finished" for e in entries):
            finished_at = current.get("finished_at") or section.get("finished_at")
            fields.update(
                # failed: the crawl ended and every seed failed (the runner's verdict)
                status="failed" if current.get("status") == "failed" else "finished",
                finish_reason="finished",
                finished_at=finished_at,
                counts=Dataset(self.root).counts(self.crawl_id),
            )
            if not ended and self.lost is None:
                self._expire_keys()
        elif any(e.get("status") == "running" for e in entries):
            fields.update(status="running", finish_reason=None, finished_at=None)
            fields["counts"] = _sum_counts(e.get("counts") for e in entries)
        else:
            reasons = sorted({str(e.get("finish_reason")) for e in entries})
            fields.update(
                status="interrupted",
                finish_reason="workers stopped: " + ", ".join(reasons),
                finished_at=section.get("finished_at"),
                counts=Dataset(self.root).counts(self.crawl_id),
            )
        # The crawl-wide fields of the worker's manifest (options, settings, versions).
        crawl = {k: v for k, v in section.items() if k not in _WORKER_FIELDS}
        write_manifest(
            self.root, build_manifest(self.crawl_id, base={**current, **crawl}, **fields)
        )

    def _expire_keys(self) -> None:
        # Workers still closing read some of them; nothing needs them an hour later.
        for key in self.server.scan_iter(match=f"{self.prefix}*", count=1000):
            if not key.endswith(b"manifest-lock"):
                self.server.expire(key, _FINISHED_KEYS_TTL)


def manifest_lock(server: Any, crawl_id: str, ttl_ms: int) -> Any:
    """The Redis lock under which the workers of a crawl write its manifest. It expires
    like a heartbeat: a worker killed while holding it is lost."""
    expiry = max(5.0, ttl_ms / 1000)
    return server.lock(
        f"{key_prefix(crawl_id)}manifest-lock", timeout=expiry, blocking_timeout=4 * expiry
    )


class SharedRedis(Frontier):
    """``--redis URL``: this process is one worker of a crawl whose frontier is shared
    through Redis (:class:`RedisScheduler`); the other workers, on this machine or others,
    were started the same way. Their manifest is one, merged under a Redis lock."""

    shared = True

    def __init__(self, plan: CrawlPlan, url: str) -> None:
        super().__init__(plan)
        self.url = url
        self.worker = str(plan.options["overrides"].get("LINKCRAWL_WORKER") or default_worker_id())
        settings = plan.options["overrides"]
        self.ttl_ms = int(1000 * float(settings.get("LINKCRAWL_REDIS_WORKER_TIMEOUT", 60.0)))

    @property
    def jobdir(self) -> None:
        return None  # the queue and the duplicate filter live in Redis

    def check(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9]+", self.worker):
            raise LinkcrawlError(f"bad worker id {self.worker!r}: use letters and digits")
        client = connect(self.url)
        try:
            check_worker_id(client, self.plan.crawl_id, self.worker)
        finally:
            client.close()

    def worker_settings(self, worker: str) -> dict[str, Any]:
        return distributed_settings(self.url, worker)

    def run(self) -> str | None:
        plan = self.plan
        options = dict(plan.options)
        overrides = {**options.pop("overrides"), **self.worker_settings(self.worker)}
        settings = crawl_settings(
            plan.data_dir,
            plan.crawl_id,
            overrides=overrides,
            manifest_fields=plan.manifest_fields,
            **options,
        )
        reason = run_scrapy(settings, plan.seeds, plan.crawl_id)
        if reason and reason.startswith(REDIS_LOST):
            raise CrawlInterrupted(
                f"lost Redis at {public_url(self.url)} "
                f"({reason.removeprefix(REDIS_LOST).lstrip(': ')}): worker {self.worker} "
                f"stopped with its pages on disk; once Redis is back, start it again with "
                f"the same --redis and --crawl-id {plan.crawl_id} to rejoin"
            )
        return reason

    def _manifest(self) -> dict[str, Any]:
        return read_manifest(manifest_path(self.plan.data_dir, self.plan.crawl_id)).fields

    def all_done(self) -> bool:
        """A worker saw the crawl done everywhere (and marked its manifest finished)."""
        return self._manifest().get("status") in ("finished", "failed")

    def skipped(self) -> dict[str, int]:
        """The sum of the workers' sections, as their merges left it."""
        return dict(self._manifest().get("skipped") or {})

    def update_manifest(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Under the workers' Redis lock; without it if Redis is gone meanwhile. The skips
        are the workers' sections' sum, always: a worker still closing merges its own."""
        fields = {k: v for k, v in fields.items() if k != "skipped"}
        try:
            server = connect(self.url)
        except LinkcrawlError:
            return super().update_manifest(fields)
        try:
            with manifest_lock(server, self.plan.crawl_id, self.ttl_ms):
                return super().update_manifest(fields)
        except Exception as exc:
            if not _redis_down(exc):
                raise
            return super().update_manifest(fields)
        finally:
            server.close()


def _union(first: list[str], second: list[str]) -> list[str]:
    return list(dict.fromkeys([*first, *second]))


def _sum_counts(counts: Iterable[dict[str, int] | None]) -> dict[str, int]:
    total = {"pages": 0, "edges": 0, "errors": 0, "sitemaps": 0}
    for c in counts:
        for key, n in (c or {}).items():
            total[key] = total.get(key, 0) + n
    return total
