"""The exceptions every layer of linkcrawl raises, with the one line the CLI prints.

Every linkcrawl exception a caller may catch is declared here, except the parse pool's
internal ParseCancelled/ParseFailed, which never leave the crawl.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "CrawlFailed",
    "CrawlInterrupted",
    "DatasetError",
    "DisavowLimitError",
    "LinkcrawlError",
    "UnknownColumn",
    "first_line",
]


class LinkcrawlError(Exception):
    """A problem a user can act on; its message is one line. The CLI prints it and exits
    with :attr:`exit_code`."""

    exit_code: ClassVar[int] = 1


class CrawlInterrupted(LinkcrawlError):
    """A crawl (or one worker of it) stopped before its end for a reason outside it, its
    rows on disk; the CLI exits 3, as for any interrupted crawl."""

    exit_code = 3


class DatasetError(LinkcrawlError):
    """A problem with the data directory: missing, not a dataset, unknown crawl, bad file."""


class UnknownColumn(LinkcrawlError, ValueError):
    """A column list (``--columns``) names a column the table does not have; the message
    lists the known ones. The CLI reports it as a usage error (exit 2)."""

    exit_code = 2


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none): how an
    error from a dependency (pyarrow, DuckDB) becomes part of a one-line LinkcrawlError."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# The name this function had while it was private; kept for the modules not yet moved to
# first_line.
_first_line = first_line


class CrawlFailed(LinkcrawlError):
    """A crawl ran to its end, but fetched nothing: every seed failed. Its manifest says
    ``failed``, with the cause in ``failure``; ``crawl_id`` names it."""

    def __init__(self, message: str, crawl_id: str) -> None:
        super().__init__(message)
        self.crawl_id = crawl_id


class DisavowLimitError(LinkcrawlError):
    """A disavow file would exceed one of Google's limits (``limit``: ``lines``, ``bytes``,
    ``url-length`` or ``entry``); the message says which, and what to do. Nothing is
    written."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit
