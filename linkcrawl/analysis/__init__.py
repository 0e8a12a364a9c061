"""The graph stage: page PageRank, domain authority, and ranked backlinks of a crawl.

``analyze`` writes ``authority/crawl_id=<id>/{pages,domains,inbound}.parquet``;
``backlinks`` and ``top_domains`` read them back; ``page_graph`` and ``pagerank`` serve
notebooks. How the numbers are computed: docs/authority.md.
"""

from __future__ import annotations

from linkcrawl.analysis.authority import analyze, authority_scale
from linkcrawl.analysis.backlinks import BacklinkReport, backlinks, top_domains
from linkcrawl.analysis.graph import DEFAULT_POSITION_WEIGHTS, load_graph, page_graph
from linkcrawl.analysis.pagerank import ENGINES, pagerank, pagerank_arrays

__all__ = [
    "DEFAULT_POSITION_WEIGHTS",
    "ENGINES",
    "BacklinkReport",
    "analyze",
    "authority_scale",
    "backlinks",
    "load_graph",
    "page_graph",
    "pagerank",
    "pagerank_arrays",
    "top_domains",
]
