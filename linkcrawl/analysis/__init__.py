"""The graph stage: page PageRank, domain authority, and ranked backlinks of a crawl.

``analyze`` writes ``authority/crawl_id=<id>/{pages,domains,inbound}.parquet`` with
the engine chosen from :data:`linkcrawl.analysis.engines.REGISTRY`;
``backlinks`` and ``top_domains`` read them back; ``page_graph`` and ``pagerank`` serve
notebooks. How the numbers are computed: docs/authority.md.
"""

from __future__ import annotations

from linkcrawl.analysis.authority import analyze
from linkcrawl.analysis.definition import DEFAULT_POSITION_WEIGHTS, Definition, authority_scale
from linkcrawl.analysis.graph import load_graph, page_graph
from linkcrawl.analysis.pagerank import pagerank, pagerank_arrays

__all__ = [
    "DEFAULT_POSITION_WEIGHTS",
    "BacklinkReport",
    "Definition",
    "analyze",
    "authority_scale",
    "backlinks",
    "load_graph",
    "page_graph",
    "pagerank",
    "pagerank_arrays",
    "top_domains",
]


def __getattr__(name: str) -> object:
    # The backlink reports moved to linkcrawl.reports (they read the tables this package
    # writes); their names stay importable from here for one release.
    if name in ("BacklinkReport", "backlinks", "top_domains"):
        from linkcrawl.reports import backlinks as reports

        return getattr(reports, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
