"""The download handler of a rendering crawl: scrapy-playwright's, one for both schemes,
with its browser started beside the crawl rather than before it or at the first render.

scrapy-playwright's handler starts Playwright's driver in an ``engine_started`` handler
that the engine awaits, so no page is fetched until the driver is up (about a second),
and launches the browser at the first page to render. Here the driver and then the
browser, with the context pages render in, start in a task of their own at engine start:
the static fetches go on meanwhile, and a render waits only for what is not ready yet.
Scrapy builds one handler per scheme; http and https share this one, and so one driver
and one browser. Everything else, the browser's restart after a crash included, is
scrapy-playwright's.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, ClassVar

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from linkcrawl.crawl.render import CONTEXT, context_options

__all__ = ["RenderHandler"]

logger = logging.getLogger(__name__)


class RenderHandler(ScrapyPlaywrightDownloadHandler):
    lazy = False
    _per_crawler: ClassVar[weakref.WeakKeyDictionary[Any, RenderHandler]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        self._context_options = context_options(crawler.settings)
        self._ready: asyncio.Future[None] | None = None
        self._closed = False

    @classmethod
    def from_crawler(cls, crawler: Any) -> RenderHandler:
        handler = cls._per_crawler.get(crawler)
        if handler is None:
            handler = cls._per_crawler[crawler] = cls(crawler)
        return handler

    async def _maybe_launch_in_thread(self) -> None:
        # Connected to engine_started by scrapy-playwright: start, do not wait.
        self._start()

    def _start(self) -> asyncio.Future[None]:
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._launch_all())
        return self._ready

    async def _launch_all(self) -> None:
        await self._launch()  # Playwright's driver: without it nothing renders
        try:
            async with self.context_launch_lock:
                if CONTEXT not in self.context_wrappers:
                    await self._create_browser_context(CONTEXT, self._context_options)
        except Exception as exc:
            # The first page to render launches it, as scrapy-playwright does.
            logger.info("linkcrawl: the browser did not start ahead of its pages: %s", exc)

    async def _download_request(self, request: Any, spider: Any = None) -> Any:
        # Shielded: a render given up (its time budget) does not stop the launch.
        await asyncio.shield(self._start())
        return await super()._download_request(request, spider)

    async def close(self) -> None:
        if self._closed:
            return  # closed already, for the other scheme
        self._closed = True
        if self._ready is not None:
            try:
                await self._ready
            except Exception:
                pass  # said by the renders that waited for it
        await super().close()
