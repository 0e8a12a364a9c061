"""Moved to :mod:`linkcrawl.crawl.middlewares`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.crawl.middlewares import *  # noqa: F403
