"""The Scrapy settings module of the project (scrapy.cfg, the scrapy entry point, scrapyd
eggs): the settings themselves are in :mod:`linkcrawl.crawl.settings`."""

from linkcrawl.crawl.settings import *  # noqa: F403
