"""Read the tables and answer a question: backlinks, monitor (diff, history, broken),
audit and disavow, the site audit, the HTML report, and how the commands print.

``linkcrawl.reports.site(data_dir, domain)`` is the site audit (:mod:`.site_audit`), imported on
first use so that the other reports do not pay for it."""

from __future__ import annotations

from typing import Any

__all__ = ["site"]


def __getattr__(name: str) -> Any:
    if name == "site":
        from linkcrawl.reports.site_audit import site

        return site
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
