"""Authority on a real crawl of the demo web: the sparse engine against networkx, and the
tables against the crawl they came from."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from linkcrawl.analysis import page_graph, pagerank


def test_sparse_engine_agrees_with_networkx_on_the_crawled_demo_web(demo_crawl):
    data, crawl_id = demo_crawl
    sparse = pagerank(data, crawl_id, engine="sparse")
    graph = page_graph(data, crawl_id)
    reference = pd.Series(
        nx.pagerank(graph, alpha=0.85, weight="weight", tol=1e-12, max_iter=10_000)
    )
    assert set(sparse.index) == set(reference.index)
    l1 = np.abs(sparse.sort_index().to_numpy() - reference.sort_index().to_numpy()).sum()
    assert l1 < 1e-6
    assert sparse.sum() == pytest.approx(1.0, abs=1e-9)
    # every crawled page and every link target is a node
    edges = pd.read_parquet(data / "edges", filters=[("crawl_id", "=", crawl_id)])
    pages = pd.read_parquet(data / "pages", filters=[("crawl_id", "=", crawl_id)])
    assert set(edges.source) | set(edges.target) | set(pages.url) == set(sparse.index)
