"""Moved to :mod:`linkcrawl.crawl.pipeline`;
this name is kept for one release (CHANGELOG, 0.2.0)."""

from linkcrawl.crawl.pipeline import *  # noqa: F403
