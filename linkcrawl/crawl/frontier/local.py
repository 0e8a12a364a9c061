"""The frontier of a crawl run by one process: Scrapy's own scheduler, its queue in the
crawl's JOBDIR (``data/.jobs/<crawl_id>``); the pipeline writes the manifest."""

from __future__ import annotations

from typing import Any

from linkcrawl.crawl.frontier import Frontier
from linkcrawl.crawl.process import crawl_settings, run_scrapy
from linkcrawl.dataset.layout import manifest_path
from linkcrawl.dataset.manifest import read_manifest

__all__ = ["SingleProcess"]


class SingleProcess(Frontier):
    """One Scrapy process, this one, crawls every domain of the crawl."""

    def worker_settings(self, worker: str) -> dict[str, Any]:
        return {}  # crawl_settings already gives it its JOBDIR

    def run(self) -> str | None:
        plan = self.plan
        settings = crawl_settings(
            plan.data_dir, plan.crawl_id, manifest_fields=plan.manifest_fields, **plan.options
        )
        return run_scrapy(settings, plan.seeds, plan.crawl_id)

    def _manifest(self) -> dict[str, Any]:
        return read_manifest(manifest_path(self.plan.data_dir, self.plan.crawl_id)).fields

    def all_done(self) -> bool:
        """The pipeline marked the crawl finished: Scrapy closed it with its queue empty."""
        return self._manifest().get("status") == "finished"

    def skipped(self) -> dict[str, int]:
        """The pipeline's count, with the crawl's earlier runs."""
        return dict(self._manifest().get("skipped") or {})
