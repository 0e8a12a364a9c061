"""The exceptions every layer of linkcrawl raises, with the one line the CLI prints."""

from __future__ import annotations


class LinkcrawlError(Exception):
    """A problem a user can act on; its message is one line. The CLI prints it and exits 1."""


class CrawlInterrupted(LinkcrawlError):
    """A crawl (or one worker of it) stopped before its end for a reason outside it, its
    rows on disk; the CLI exits 3, as for any interrupted crawl."""

    exit_code = 3


class DatasetError(LinkcrawlError):
    """A problem with the data directory: missing, not a dataset, unknown crawl, bad file."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class CrawlFailed(LinkcrawlError):
    """A crawl ran to its end, but fetched nothing: every seed failed. Its manifest says
    ``failed``, with the cause in ``failure``; ``crawl_id`` names it."""

    def __init__(self, message: str, crawl_id: str) -> None:
        super().__init__(message)
        self.crawl_id = crawl_id
