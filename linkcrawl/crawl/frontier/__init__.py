"""Where the URLs of one crawl wait, behind one interface: Scrapy's own queue in this process
(:class:`~linkcrawl.crawl.frontier.local.SingleProcess`), handed between local worker
processes (``--workers``, :class:`~linkcrawl.crawl.frontier.workers.LocalWorkers`), or shared
through Redis (``--redis``, :class:`~linkcrawl.crawl.frontier.redis.SharedRedis`).

:func:`linkcrawl.crawl.runner.crawl` decides the crawl (its id, seeds, options, what it
resumes), picks a frontier and talks to it only through :class:`Frontier`.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from linkcrawl.dataset.layout import RemotePath, manifest_path
from linkcrawl.dataset.manifest import build_manifest, read_manifest, write_manifest

__all__ = ["CrawlPlan", "Frontier"]


@dataclass
class CrawlPlan:
    """One run of a crawl, as the runner decided it."""

    data_dir: Path | RemotePath
    crawl_id: str
    seeds: list[str]
    #: The keyword arguments of :func:`linkcrawl.crawl.runner.crawl_settings`
    #: (``max_depth``, ..., and ``overrides``: the ``-s`` settings).
    options: dict[str, Any]
    #: The manifest of the crawl this run resumes; empty for a new crawl.
    previous: dict[str, Any] = field(default_factory=dict)
    #: More fields for its manifest (``options``, ``resumes``, ``locked``).
    manifest_fields: dict[str, Any] = field(default_factory=dict)

    @property
    def local_root(self) -> Path | None:
        """The data directory when it is local (where JOBDIRs and locks can live)."""
        return self.data_dir if isinstance(self.data_dir, Path) else None


class Frontier(ABC):
    """What the runner needs from where a crawl's URLs wait.

    A run is: :meth:`run` (start the crawl, or join it, and wait for this process's part
    of it), then the runner reads :meth:`all_done` and :meth:`skipped` and records the
    crawl's end with :meth:`update_manifest` (``failed`` when it ran to its end and every
    seed failed).
    """

    #: Other processes, not started by this one, crawl the same crawl id into the same
    #: data directory: its lock is shared between them (DataDirLock(shared=True)).
    shared: ClassVar[bool] = False

    def __init__(self, plan: CrawlPlan) -> None:
        self.plan = plan

    @property
    def jobdir(self) -> Path | None:
        """Local state of the crawl (Scrapy JOBDIRs, handed-over URLs): removed before a
        resume (the rows on disk are its queue) and once the crawl ended; None if none."""
        root = self.plan.local_root
        return root / ".jobs" / self.plan.crawl_id if root is not None else None

    def clear_jobdir(self) -> None:
        if self.jobdir is not None:
            shutil.rmtree(self.jobdir, ignore_errors=True)

    def check(self) -> None:
        """Refuse, with a LinkcrawlError and before anything is locked or written, a crawl
        this frontier cannot run. Nothing, unless the frontier says otherwise."""
        return None

    @abstractmethod
    def worker_settings(self, worker: str) -> dict[str, Any]:
        """The Scrapy settings that make a crawl process worker ``worker`` of this
        frontier, on top of :func:`linkcrawl.crawl.runner.crawl_settings`."""

    @abstractmethod
    def run(self) -> str | None:
        """Start the crawl (or join it) and wait until this process's workers stopped;
        returns why they stopped (Scrapy's finish reason, ``finished`` when they ran to
        the end). Raises :class:`~linkcrawl.errors.LinkcrawlError` for what a user can act
        on (a second worker with one id, an unreachable Redis)."""

    @abstractmethod
    def all_done(self) -> bool:
        """After :meth:`run`: True when the whole crawl ran to its end (its queue empty
        in every worker), so that whether it failed can be told from its rows."""

    @abstractmethod
    def skipped(self) -> dict[str, int]:
        """After :meth:`run`: what the crawl did not request, by reason, added up over its
        workers and its earlier runs."""

    def update_manifest(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Write ``fields`` into the crawl's manifest; returns the manifest written. A
        frontier whose manifest other processes write too does it under their lock."""
        root = self.plan.data_dir
        current = read_manifest(manifest_path(root, self.plan.crawl_id)).fields
        if all(current.get(name) == value for name, value in fields.items()):
            return current  # nothing new: no write (the disk may be full)
        manifest = build_manifest(self.plan.crawl_id, base=current, **fields)
        write_manifest(root, manifest)
        return manifest
