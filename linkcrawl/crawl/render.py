"""JavaScript rendering (``linkcrawl crawl --render never|auto|always``): pages rendered in
the system's Chromium through scrapy-playwright, inside the crawler's own address guard.

A page is fetched by Scrapy as always; a page to render is then opened in Chromium with
its document answered from the body Scrapy fetched (the server is not asked twice, and
the DOM grows from exactly the HTML whose links are ``origin = html``). The DOM as it
stands once the page is loaded and quiet (or its time budget is spent) is
extracted by the same link extractor as the HTML. What the browser may fetch is decided
here, request by request, through Playwright's routing:

- images, fonts and media are not downloaded;
- a request to a loopback, private, link-local (cloud metadata) or otherwise non-public
  address is aborted, as the crawler's :class:`~linkcrawl.crawl.middlewares.GuardedResolver`
  would refuse it: an IP literal is judged as it is, ``localhost`` is refused, and a
  name is resolved by the crawl's own resolver, unless it goes through the proxy the crawl
  is configured with (``http_proxy``, ``https_proxy``), which the crawler trusts too;
  ``--allow-private`` lifts this, as it does for the crawler;
- the page may not navigate elsewhere (a script's redirect is aborted), service workers
  are blocked and WebRTC may not use UDP outside a proxy;
- WebSockets are judged like any request.

The number of pages open at once is ``LINKCRAWL_RENDER_PAGES`` (:func:`render_pages`); each
page has ``LINKCRAWL_RENDER_TIMEOUT`` seconds. A browser that crashes or is killed is launched
again by scrapy-playwright on the next page; a page whose rendering failed is tried again
(``LINKCRAWL_RENDER_RETRIES``) and otherwise keeps the links of its HTML, counted in
``linkcrawl/render/failed``: the crawl loses no page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import time
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urldefrag, urlsplit
from urllib.request import getproxies

from linkcrawl.crawl.middlewares import is_public_address
from linkcrawl.errors import LinkcrawlError
from linkcrawl.extract.links import PageLinks
from linkcrawl.extract.urls import host_of

__all__ = [
    "CONTEXT",
    "HEADLESS_SHELL",
    "RENDER_MODES",
    "BrowserGuard",
    "Renderer",
    "check_render",
    "context_options",
    "find_chromium",
    "link_origins",
    "render_pages",
    "render_settings",
]

logger = logging.getLogger(__name__)

RENDER_MODES = ("never", "auto", "always")
# Debian's package and program: Chromium's headless shell, without the desktop browser.
HEADLESS_SHELL = "chromium-headless-shell"
_INSTALL_BROWSER = (
    f"install Chromium's headless shell (apt-get install {HEADLESS_SHELL}) or set "
    "LINKCRAWL_CHROMIUM to a Chromium program"
)
_INSTALL_PLAYWRIGHT = "pip install 'linkcrawl[render]'"
# Playwright's resource types that are never downloaded: nothing in them holds a link.
_SKIPPED_RESOURCES = frozenset({"image", "font", "media"})
# scrapy-playwright's handler, as it is: a subclass that started the browser beside the
# crawl needed its private methods.
_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
# The browser context pages render in.
CONTEXT = "linkcrawl-render"
# Headers of the served response not given to the browser with its body: the body Scrapy
# hands over is decoded and whole, and cookies are off in a crawl.
_DROPPED_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "set-cookie", "connection"}
)


def render_mode(settings: Any) -> str:
    mode = str(settings.get("LINKCRAWL_RENDER") or "never").lower()
    if mode not in RENDER_MODES:
        raise LinkcrawlError(
            f"LINKCRAWL_RENDER={mode!r}: --render is one of {', '.join(RENDER_MODES)}"
        )
    return mode


def find_chromium(settings: Any) -> str:
    """The Chromium program to render with: ``LINKCRAWL_CHROMIUM`` if set, else
    ``chromium-headless-shell`` on PATH. Playwright never downloads a browser of its own."""
    configured = settings.get("LINKCRAWL_CHROMIUM") or ""
    if configured:
        path = shutil.which(configured) or configured
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise LinkcrawlError(
                f"--render needs Chromium, and LINKCRAWL_CHROMIUM={configured} is not a "
                f"program: {_INSTALL_BROWSER}"
            )
        return path
    found = shutil.which(HEADLESS_SHELL)
    if found is None:
        raise LinkcrawlError(f"--render needs Chromium, and none was found: {_INSTALL_BROWSER}")
    return found


def check_render(settings: Any) -> str:
    """Refuse, in one line, a ``--render`` that cannot run: an unknown mode, a bad
    ``--render-pattern``, a pattern without ``auto``, scrapy-playwright or Chromium
    missing. Returns the mode."""
    mode = render_mode(settings)
    pattern = settings.get("LINKCRAWL_RENDER_PATTERN") or ""
    if pattern:
        if mode != "auto":
            raise LinkcrawlError("--render-pattern chooses pages for --render auto: add it")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise LinkcrawlError(f"--render-pattern {pattern!r} is not a regex: {exc}") from None
    if mode == "never":
        return mode
    try:
        import scrapy_playwright  # noqa: F401
    except ImportError:
        raise LinkcrawlError(f"--render needs scrapy-playwright: {_INSTALL_PLAYWRIGHT}") from None
    find_chromium(settings)
    return mode


def _proxies() -> dict[str, str]:
    """The proxies Scrapy's HttpProxyMiddleware uses, by scheme (http, https)."""
    found = getproxies()
    return {s: found[s] for s in ("http", "https") if found.get(s)}


def render_pages(settings: Any) -> int:
    """How many pages may be open in the browser at once: ``LINKCRAWL_RENDER_PAGES``, or
    when it is 0, 4 per core this process may run on, between 4 and 16. A render spends
    much of its time waiting (its scripts' requests, the quiet period) rather than
    computing, so a core keeps several pages busy."""
    pages = settings.getint("LINKCRAWL_RENDER_PAGES", 0)
    if pages > 0:
        return pages
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return min(16, max(4, 4 * cores))


def context_options(settings: Any) -> dict[str, Any]:
    """Playwright's options for the browser context pages render in."""
    return {
        "service_workers": "block",
        "accept_downloads": False,
        "user_agent": settings.get("USER_AGENT"),
    }


def render_settings(settings: Any) -> dict[str, Any]:
    """The Scrapy settings that make the spider able to render: scrapy-playwright's
    download handler (which hands every request not marked for the browser to Scrapy's
    own HTTP handler) and its browser, the system's Chromium."""
    pages = render_pages(settings)
    budget = settings.getfloat("LINKCRAWL_RENDER_TIMEOUT", 20.0)
    launch: dict[str, Any] = {
        "executable_path": find_chromium(settings),
        "headless": True,
        "args": [
            # No UDP but through a proxy: WebRTC could reach any address otherwise.
            "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
            "--disable-background-networking",
            "--no-pings",
            *shlex.split(settings.get("LINKCRAWL_CHROMIUM_ARGS") or ""),
        ],
    }
    proxies = _proxies()
    if proxies and settings.getbool("HTTPPROXY_ENABLED", True):
        # Chromium takes one proxy; the guard resolves and checks whatever does not go
        # through the crawl's proxy for its scheme.
        launch["proxy"] = {"server": proxies.get("http") or proxies["https"]}
    return {
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
        "DOWNLOAD_HANDLERS": {"http": _HANDLER, "https": _HANDLER},
        "PLAYWRIGHT_BROWSER_TYPE": "chromium",
        "PLAYWRIGHT_LAUNCH_OPTIONS": launch,
        "PLAYWRIGHT_MAX_CONTEXTS": 1,
        "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": pages,
        "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": budget * 1000,
        "PLAYWRIGHT_RESTART_DISCONNECTED_BROWSER": True,
    }


class BrowserGuard:
    """Decides whether the browser may send a request, by the crawler's rules (see the
    module docstring)."""

    def __init__(self, allow_private: bool, proxied: frozenset[str]) -> None:
        self.allow_private = allow_private
        self.proxied = proxied  # schemes whose requests go through the crawl's proxy

    @classmethod
    def from_settings(cls, settings: Any) -> BrowserGuard:
        proxied: frozenset[str] = frozenset()
        if settings.getbool("HTTPPROXY_ENABLED", True):
            proxies = _proxies()
            # Chromium sends every scheme through the one proxy it is given.
            proxied = frozenset({"http", "https"}) if proxies else frozenset()
        return cls(settings.getbool("LINKCRAWL_ALLOW_PRIVATE"), proxied)

    async def allows(self, url: str) -> bool:
        parts = urlsplit(url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        if scheme in ("data", "blob", "about"):
            return True  # nothing leaves the browser
        if scheme not in ("http", "https"):
            return False
        if self.allow_private:
            return True
        host = (parts.hostname or "").rstrip(".").lower()
        if not host:
            return False
        if _is_address(host):
            return is_public_address(host)
        if host == "localhost" or host.endswith(".localhost"):
            return False  # Chromium answers these itself, never through a proxy
        if scheme in self.proxied:
            return True  # the proxy connects, as for the crawler's own requests
        return await _resolves_public(host)


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


async def _resolves_public(host: str) -> bool:
    """Whether the crawl's resolver gives ``host`` a public address. The crawler's
    GuardedResolver refuses non-public ones itself; another resolver's answer is checked
    here. (Chromium resolves the name again when it connects.)"""
    from scrapy.utils.defer import maybe_deferred_to_future
    from twisted.internet import reactor

    resolver = getattr(reactor, "resolver", None)
    try:
        if resolver is not None:
            address = await maybe_deferred_to_future(resolver.getHostByName(host))
        else:
            address = await maybe_deferred_to_future(reactor.resolve(host))  # type: ignore[arg-type]
    except Exception:
        return False
    return is_public_address(str(address))


def link_origins(html: PageLinks, rendered: PageLinks) -> list[str]:
    """Each rendered link's origin: ``html`` when the served HTML has a link of the same
    kind to the same target (as many times as the HTML has it), else ``rendered``."""
    served = Counter(zip(html.kind, html.target, strict=True))
    origins = []
    for key in zip(rendered.kind, rendered.target, strict=True):
        if served[key] > 0:
            served[key] -= 1
            origins.append("html")
        else:
            origins.append("rendered")
    return origins


@dataclass
class _Traffic:
    """A render's requests in flight, and when the last one started or ended. Requests
    are told apart, so that one of the page's previous document ending now (a reused
    page) is not taken for one of this render's."""

    requests: set[Any] = field(default_factory=set)
    last: float = 0.0

    @property
    def in_flight(self) -> int:
        return len(self.requests)

    def started(self, request: Any) -> None:
        self.requests.add(request)
        self.last = time.monotonic()

    def ended(self, request: Any) -> None:
        if request in self.requests:
            self.requests.discard(request)
            self.last = time.monotonic()

    def listeners(self) -> list[tuple[str, Any]]:
        return [
            ("request", self.started),
            ("requestfinished", self.ended),
            ("requestfailed", self.ended),
        ]


@dataclass
class _HostState:
    rendered: int = 0  # pages rendered for the shell signals (not --render-pattern)
    found: int = 0  # of them, pages on which rendering found a link the HTML lacked
    stopped: bool = False


class Renderer:
    """The spider's part of rendering: which pages to render, rendering one through the
    crawler's downloader (scrapy-playwright's handler), and what rendering found.

    Stats (the manifest's ``render``): ``linkcrawl/render/pages`` (pages rendered),
    ``links_only_rendered`` (links in no served HTML), ``failed`` (pages kept with the
    links of their HTML), ``hosts_stopped``, ``blocked`` (browser requests the guard
    aborted), ``resources_skipped`` (images, fonts, media), ``signal/<name>``.
    """

    def __init__(self, crawler: Any) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.mode = render_mode(settings)
        pattern = settings.get("LINKCRAWL_RENDER_PATTERN") or ""
        self.pattern = re.compile(pattern) if pattern else None
        self.probe_pages = settings.getint("LINKCRAWL_RENDER_PROBE_PAGES", 5)
        self.budget = settings.getfloat("LINKCRAWL_RENDER_TIMEOUT", 20.0)
        self.idle = settings.getfloat("LINKCRAWL_RENDER_IDLE", 0.1)
        self.retries = settings.getint("LINKCRAWL_RENDER_RETRIES", 2)
        self.context_options = context_options(settings)
        self.guard = BrowserGuard.from_settings(settings)
        self.hosts: dict[str, _HostState] = {}
        # The bound on pages open at once, rendering or free in the pool.
        self.pages = asyncio.Semaphore(render_pages(settings))
        self._guarded_contexts: weakref.WeakSet[Any] = weakref.WeakSet()
        # Pages open in the browser, free for the next render, and how many each rendered.
        self._idle_pages: list[Any] = []
        self._waiting = 0  # renders waiting for a page
        self._page_renders: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

    @classmethod
    def from_crawler(cls, crawler: Any) -> Renderer | None:
        """The spider's renderer; None under ``--render never``."""
        if render_mode(crawler.settings) == "never":
            return None
        return cls(crawler)

    @property
    def wants_signals(self) -> bool:
        return self.mode == "auto"

    def _inc(self, key: str, n: int = 1) -> None:
        if self.crawler.stats is not None:
            self.crawler.stats.inc_value(f"linkcrawl/render/{key}", n)

    def why(self, url: str, links: PageLinks) -> str | None:
        """Why the page at ``url``, whose HTML has ``links``, is to be rendered (``always``,
        ``pattern``, or its first shell signal); None if it is not."""
        if self.mode == "always":
            return "always"
        if self.pattern is not None and self.pattern.search(url):
            return "pattern"
        if not links.shell:
            return None
        state = self.hosts.setdefault(host_of(url), _HostState())
        if state.stopped:
            return None
        return links.shell[0]

    def observe(self, url: str, reason: str, only_rendered: int) -> None:
        """Record what rendering the page found; stop rendering its host for its shell
        signals once its first ``LINKCRAWL_RENDER_PROBE_PAGES`` rendered pages found no
        link that their HTML lacked."""
        self._inc("pages")
        self._inc(f"reason/{reason}")
        self._inc("links_only_rendered", only_rendered)
        if reason in ("always", "pattern") or self.probe_pages <= 0:
            return
        host = host_of(url)
        state = self.hosts.setdefault(host, _HostState())
        state.rendered += 1
        state.found += only_rendered > 0
        if not state.stopped and state.found == 0 and state.rendered >= self.probe_pages:
            state.stopped = True
            self._inc("hosts_stopped")
            logger.info(
                "linkcrawl: rendering %d pages of %s found no link their HTML lacks: "
                "its pages are not rendered from now on",
                state.rendered,
                host,
            )

    def failed(self) -> None:
        self._inc("failed")

    async def render(self, response: Any) -> Any:
        """The page of ``response`` (a Scrapy HtmlResponse) as Chromium renders it: an
        HtmlResponse of the DOM, UTF-8, with the served URL, status and headers. Raises
        what the browser raised once the retries are spent."""
        from scrapy.http import Headers, HtmlResponse

        attempt = 0
        while True:
            try:
                self._waiting += 1
                try:
                    await self.pages.acquire()
                finally:
                    self._waiting -= 1
                try:
                    # Made here, so that its time budget starts once a page is free.
                    request = self._request(response, self._idle_page(response.url))
                    try:
                        rendered = await self.crawler.engine.download_async(request)
                    except BaseException:
                        await self._put_back(request, reuse=False)
                        raise
                    guarded = request.meta.get("linkcrawl_guarded")
                    await self._put_back(request, reuse=bool(guarded))
                finally:
                    self.pages.release()
                if not guarded:
                    raise RuntimeError("the page's guard was not installed")
                break
            except Exception as exc:
                attempt += 1
                if attempt > self.retries:
                    raise
                logger.info("linkcrawl: rendering %s failed (%s); again", response.url, exc)
                # A browser that died is relaunched on the next page: give it a moment.
                await asyncio.sleep(0.5 * attempt)
        headers = Headers(response.headers)
        headers[b"Content-Type"] = b"text/html; charset=utf-8"
        return HtmlResponse(
            url=response.url,
            status=response.status,
            headers=headers,
            body=rendered.text.encode("utf-8", "surrogatepass"),
            request=response.request,
        )

    def _idle_page(self, url: str) -> Any:
        """A browser page that rendered before and is free, if there is one open whose
        document is not at ``url`` (going there would not load a new document)."""
        target = urldefrag(url).url
        for i in range(len(self._idle_pages) - 1, -1, -1):
            page = self._idle_pages[i]
            if page.is_closed():
                del self._idle_pages[i]
            elif urldefrag(page.url).url != target:
                return self._idle_pages.pop(i)
        return None

    async def _put_back(self, request: Any, reuse: bool) -> None:
        """After a render: its page, emptied, is kept for the next render (opening a page
        costs more than navigating one), or closed when the render failed or the page has
        rendered ``_PAGE_RENDERS`` pages."""
        page = request.meta.get("playwright_page")
        if page is None or page.is_closed():
            return
        traffic: _Traffic = request.meta["linkcrawl_traffic"]
        for event, listener in traffic.listeners():
            page.remove_listener(event, listener)
        renders = self._page_renders.get(page, 0) + 1
        self._page_renders[page] = renders
        if reuse and renders < _PAGE_RENDERS:
            try:
                if not self._waiting:
                    # Nothing to render next: its document unloaded, its scripts stopped,
                    # while it waits. (A render waiting navigates it at once.)
                    await page.goto("about:blank", timeout=_BLANK_TIMEOUT_MS)
            except Exception:
                pass
            else:
                self._idle_pages.append(page)
                return
        with contextlib.suppress(Exception):
            await page.close()

    def _request(self, response: Any, page: Any = None) -> Any:
        import scrapy
        from scrapy_playwright.page import PageMethod

        deadline = time.monotonic() + self.budget
        traffic = _Traffic()
        return scrapy.Request(
            response.url,
            dont_filter=True,
            meta={
                "playwright": True,
                # The page is this renderer's to keep open or close (_put_back).
                "playwright_include_page": True,
                **({"playwright_page": page} if page is not None else {}),
                "playwright_context": CONTEXT,
                "playwright_context_kwargs": self.context_options,
                "playwright_page_init_callback": self._init_page,
                "playwright_page_goto_kwargs": {"wait_until": "load"},
                "playwright_page_methods": [PageMethod(self._settle, deadline, traffic)],
                "linkcrawl_served": (response.status, _served_headers(response), response.body),
                "linkcrawl_traffic": traffic,
                # Scrapy's retries are for the network; a render is retried here.
                "dont_retry": True,
                "dont_obey_robotstxt": True,  # the page itself was allowed and fetched
                # Its own download slot per host: renders do not hold the slots of the
                # static fetches, and keep to the per-domain concurrency among themselves.
                "download_slot": f"render/{host_of(response.url)}",
            },
        )

    async def _settle(self, page: Any, deadline: float, traffic: _Traffic) -> None:
        """Wait, once the page is loaded, until it is quiet: no request of it in flight,
        no short timer of its scripts pending (:data:`_QUIET_SCRIPT`) and its set of links
        unchanged, all three for ``LINKCRAWL_RENDER_IDLE`` seconds; within what is left of
        its time budget."""
        while True:
            now = time.monotonic()
            if now >= deadline:
                self._inc("not_idle")  # the DOM as it stands at the end of the budget
                return
            if traffic.in_flight:
                await asyncio.sleep(min(_POLL, deadline - now))
                continue
            # Nothing in flight: the page's scripts, waited for in the page (one round trip).
            limit = (deadline - now) * 1000
            try:
                # Bounded here too: a page whose scripts never yield never answers.
                scripts = await asyncio.wait_for(
                    page.evaluate(_QUIET_WAIT, [self.idle * 1000, limit]),
                    timeout=deadline - now + 1.0,
                )
            except TimeoutError:
                self._inc("not_idle")
                return
            if scripts is False:
                continue  # the budget is spent: counted above
            # Its network quiet over the same last LINKCRAWL_RENDER_IDLE seconds (null: a
            # document without the counting script, whose network alone decides).
            if traffic.in_flight == 0 and time.monotonic() - traffic.last >= self.idle:
                return
            if scripts is None:
                await asyncio.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    async def _init_page(self, page: Any, request: Any) -> None:
        """Install the page's routes before it navigates. Playwright runs the route added
        last first, so these see every request before scrapy-playwright's own."""
        try:
            status, headers, body = request.meta["linkcrawl_served"]
            traffic: _Traffic = request.meta["linkcrawl_traffic"]
            traffic.last = time.monotonic()
            for event, listener in traffic.listeners():
                page.on(event, listener)
            served = {"done": False}

            async def route_page(route: Any, pw_request: Any) -> None:
                if pw_request.is_navigation_request() and pw_request.frame == page.main_frame:
                    if served["done"]:
                        self._inc("navigation_blocked")
                        await route.abort("blockedbyclient")
                        return
                    served["done"] = True
                    await route.fulfill(status=status, headers=headers, body=body)
                    return
                await self._route(route, pw_request)

            await page.route("**", route_page)
            context = page.context
            if context not in self._guarded_contexts:
                # Once per context (a relaunched browser has a new one): its WebSockets, and
                # the pages a page opens (window.open), which have the context's routes only.
                await context.route_web_socket(re.compile(r".*"), self._route_socket)
                await context.route("**", self._route)
                await context.add_init_script(_QUIET_SCRIPT)
                self._guarded_contexts.add(context)
            request.meta["linkcrawl_guarded"] = True
        except Exception:
            # An unguarded page must not load: closed, its navigation fails.
            await page.close()
            raise

    async def _route_socket(self, ws: Any) -> None:
        if await self.guard.allows(ws.url):
            ws.connect_to_server()
        else:
            self._inc("blocked")
            await ws.close()

    async def _route(self, route: Any, pw_request: Any) -> None:
        if pw_request.resource_type in _SKIPPED_RESOURCES:
            self._inc("resources_skipped")
            await route.abort("blockedbyclient")
            return
        if not await self.guard.allows(pw_request.url):
            self._inc("blocked")
            logger.info("linkcrawl: the browser's request to %s blocked", pw_request.url)
            await route.abort("blockedbyclient")
            return
        # Sent as the browser made it (the context carries the crawl's user agent), not
        # handed on to scrapy-playwright's route, which would ask the browser for every
        # request's headers first.
        await route.continue_()


# A browser page renders this many pages, then is closed and a new one opened: what a
# page's documents leave behind (its process's memory) is bounded.
_PAGE_RENDERS = 100
_BLANK_TIMEOUT_MS = 5000
# How often a settling page's timers and links are looked at, in the page, and its
# network, here.
_PAGE_POLL_MS = 15
_POLL = 0.015
# A timer of the page's scripts due within this many milliseconds is waited for...
_TIMER_WAIT_MS = 2000
# ... unless it was set by a timer callback this many timers deep: a script that polls by
# re-arming its own timer (the HTML standard clamps such timers from the same depth on).
_TIMER_NESTING = 5
# Run in every page before its own scripts: it counts the page's pending short timers,
# which a link may be waiting on (``setTimeout(() => nav.innerHTML = ..., 300)``) while
# no request is in flight. The page's setTimeout still behaves as the browser's.
_QUIET_SCRIPT = f"""(() => {{
  const pending = new Set();
  const native = {{set: window.setTimeout, clear: window.clearTimeout}};
  let depth = 0;
  window.setTimeout = function (handler, delay, ...args) {{
    if (typeof handler !== "function") return native.set.call(this, handler, delay, ...args);
    const level = depth + 1;
    const counted = level < {_TIMER_NESTING} && (Number(delay) || 0) <= {_TIMER_WAIT_MS};
    const id = native.set.call(this, function () {{
      const outer = depth;
      depth = level;
      try {{ return handler.apply(this, args); }}
      finally {{ depth = outer; pending.delete(id); }}
    }}, delay);
    if (counted) pending.add(id);
    return id;
  }};
  window.clearTimeout = function (id) {{
    pending.delete(id);
    return native.clear.call(this, id);
  }};
  const links = () => {{
    let hash = 0;
    for (const link of document.links) {{
      const href = link.href;
      for (let i = 0; i < href.length; i++) hash = (hash * 31 + href.charCodeAt(i)) | 0;
    }}
    return `${{document.links.length}}:${{hash}}`;
  }};
  // Resolves once, for ``quiet`` ms, no counted timer was pending and the links did not
  // change (true), or after ``limit`` ms (false); looked at every {_PAGE_POLL_MS} ms.
  Object.defineProperty(window, "__linkcrawlQuiet", {{
    value: (quiet, limit) => new Promise((resolve) => {{
      const start = performance.now();
      let seen = links(), since = start;
      const look = () => {{
        const now = performance.now(), current = links();
        if (current !== seen || pending.size > 0) {{ seen = current; since = now; }}
        if (now - since >= quiet) resolve(true);
        else if (now - start >= limit) resolve(false);
        else native.set.call(window, look, {_PAGE_POLL_MS});
      }};
      look();
    }}),
  }});
}})();"""
# The page's own scripts quiet (a promise); null in a document without the script above.
_QUIET_WAIT = (
    "([quiet, limit]) => window.__linkcrawlQuiet ? window.__linkcrawlQuiet(quiet, limit) : null"
)


def _served_headers(response: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, values in response.headers.items():
        key = name.decode("latin-1").lower()
        if key in _DROPPED_HEADERS:
            continue
        headers[key] = ", ".join(v.decode("latin-1") for v in values)
    return headers


def render_summary(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's ``render``: the render counts of a crawl's stats."""
    prefix = "linkcrawl/render/"
    summary = {
        "pages": int(stats.get(f"{prefix}pages", 0)),
        "links_only_rendered": int(stats.get(f"{prefix}links_only_rendered", 0)),
        "failed": int(stats.get(f"{prefix}failed", 0)),
        "hosts_stopped": int(stats.get(f"{prefix}hosts_stopped", 0)),
        "blocked": int(stats.get(f"{prefix}blocked", 0)),
        "resources_skipped": int(stats.get(f"{prefix}resources_skipped", 0)),
        "browsers_launched": int(stats.get("playwright/browser_count", 0)),
        # pages rendered by why: always, pattern, or the shell signal that chose them
        "reasons": {
            key.removeprefix(f"{prefix}reason/"): int(value)
            for key, value in sorted(stats.items())
            if key.startswith(f"{prefix}reason/")
        },
    }
    return summary
