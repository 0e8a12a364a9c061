"""Adaptive revisits (``linkcrawl crawl --incremental --revisit adaptive``): a per-URL revisit
interval that shrinks when a page changed and grows when it did not, and the plan of which
pages of the earlier crawl an incremental crawl requests.

The rule is Nutch's ``AdaptiveFetchSchedule`` (which StormCrawler's adaptive scheduler
follows): a page found changed gets ``interval * (1 - dec_rate)``, one found unchanged
``interval * (1 + inc_rate)``, bounded to ``[min, max]``. The defaults are Nutch's
(``db.fetch.schedule.adaptive.inc_rate`` 0.4, ``dec_rate`` 0.2, ``min_interval`` 60 s,
``max_interval`` 365 days); the first interval is one day, not Nutch's 30
(``db.fetch.interval.default``), so that a weekly crawl fetches a page again until it has
been seen unchanged five times (1.4^5 days > 7 days). Settings:
``LINKCRAWL_REVISIT_INC_RATE``, ``_DEC_RATE``, ``_MIN_S``, ``_MAX_S``, ``_INITIAL_S``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from linkcrawl.crawl.incremental import EarlierCrawl
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import LinkcrawlError

__all__ = ["RevisitPlan", "RevisitSchedule", "page_authority", "plan_revisits", "revisit_mode"]

logger = logging.getLogger(__name__)

REVISIT_MODES = ("full", "adaptive")
DAY_S = 86_400


def revisit_mode(settings: Any) -> str:
    """``LINKCRAWL_REVISIT``: full (every page of the earlier crawl is requested) or
    adaptive; a LinkcrawlError in one line for anything else."""
    mode = str(settings.get("LINKCRAWL_REVISIT") or "full").lower()
    if mode not in REVISIT_MODES:
        raise LinkcrawlError(f"--revisit must be full or adaptive, not {mode!r}")
    return mode


@dataclass(frozen=True, slots=True)
class RevisitSchedule:
    """Nutch's adaptive fetch schedule: the rates and bounds of a page's revisit interval."""

    inc_rate: float = 0.4
    dec_rate: float = 0.2
    min_s: int = 60
    max_s: int = 365 * DAY_S
    initial_s: int = DAY_S

    @classmethod
    def from_settings(cls, settings: Any) -> RevisitSchedule:
        schedule = cls(
            inc_rate=settings.getfloat("LINKCRAWL_REVISIT_INC_RATE", 0.4),
            dec_rate=settings.getfloat("LINKCRAWL_REVISIT_DEC_RATE", 0.2),
            min_s=settings.getint("LINKCRAWL_REVISIT_MIN_S", 60),
            max_s=settings.getint("LINKCRAWL_REVISIT_MAX_S", 365 * DAY_S),
            initial_s=settings.getint("LINKCRAWL_REVISIT_INITIAL_S", DAY_S),
        )
        if not (0 <= schedule.dec_rate < 1 and schedule.inc_rate >= 0):
            raise LinkcrawlError("LINKCRAWL_REVISIT_DEC_RATE must be in [0, 1), INC_RATE >= 0")
        if not 0 < schedule.min_s <= schedule.max_s:
            raise LinkcrawlError("LINKCRAWL_REVISIT_MIN_S must be > 0 and <= MAX_S")
        return schedule

    def next_interval(self, previous_s: int | None, changed: bool) -> int:
        """The interval after a fetch: ``previous_s`` (the initial interval when the page
        had none) shrunk when the page changed, grown when it did not, within the bounds."""
        base = self.initial_s if previous_s is None else previous_s
        scaled = base * (1 - self.dec_rate) if changed else base * (1 + self.inc_rate)
        return int(min(self.max_s, max(self.min_s, round(scaled))))


@dataclass(slots=True)
class RevisitPlan:
    """Which URLs of the earlier crawl are requested (``due``, most authoritative first)
    and which are carried forward without a request (``not_due``; ``over_budget``: due,
    but the ``--max-pages`` budget went to more authoritative pages)."""

    due: list[str] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)
    over_budget: list[str] = field(default_factory=list)
    by_authority: bool = False
    # Of the due pages (requested or over budget): those due only by a sitemap lastmod.
    by_lastmod: set[str] = field(default_factory=set)


def page_authority(data_dir: Any, crawl_id: str) -> dict[str, float] | None:
    """Each page's authority in the analysis of ``crawl_id`` (``linkcrawl analyze``), or
    None when that crawl has no analysis."""
    ds = open_dataset(data_dir)
    try:
        table = ds.authority_arrow("pages", crawl_id).to_table(columns=["url", "authority"])
    except (LinkcrawlError, FileNotFoundError, OSError):
        return None
    return dict(zip(table["url"].to_pylist(), table["authority"].to_pylist(), strict=True))


def plan_revisits(
    earlier: EarlierCrawl,
    now_ms: int,
    authority: dict[str, float] | None,
    max_pages: int = 0,
    domain_of: Any = None,
    exclude: set[str] | frozenset[str] = frozenset(),
    lastmod: dict[str, int] | None = None,
) -> RevisitPlan:
    """Split the earlier crawl's pages into due and not due at ``now_ms``: a page is due
    when it has no ``next_due`` (the earlier crawl was not adaptive, or its budget left it
    out), its ``next_due`` has passed, or its sitemap ``lastmod`` (``lastmod``: URL ->
    the latest moment its value can mean, ms; see ``sitemaps.lastmod_bounds``) is after
    its last fetch. Due pages are ordered by ``authority`` (highest first; without an
    analysis, in the earlier crawl's fetch order); with ``max_pages`` (per domain,
    ``domain_of(url)``) the first ``max_pages`` due pages of a domain are requested and the
    rest are carried over budget."""
    plan = RevisitPlan(by_authority=authority is not None)
    schedule = earlier.schedule_rows()
    urls = schedule["url"]
    next_due = schedule["next_due"]
    fetched = schedule["fetched_at"]
    lastmod = lastmod or {}
    due: list[tuple[float, int, str]] = []
    for order, (url, when, last) in enumerate(zip(urls, next_due, fetched, strict=True)):
        if url in exclude:
            continue
        changed = lastmod.get(url)
        if (
            when is None
            or when <= now_ms
            or (changed is not None and last is not None and changed > last)
        ):
            if when is not None and when > now_ms:
                plan.by_lastmod.add(url)
            score = authority.get(url, 0.0) if authority is not None else 0.0
            due.append((-score, order, url))
        else:
            plan.not_due.append(url)
    due.sort()
    taken: dict[str, int] = {}
    for _, _, url in due:
        if max_pages:
            domain = domain_of(url)
            if taken.get(domain, 0) >= max_pages:
                plan.over_budget.append(url)
                continue
            taken[domain] = taken.get(domain, 0) + 1
        plan.due.append(url)
    return plan
