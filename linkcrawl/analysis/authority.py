"""`linkcrawl analyze`: one crawl's page and domain authority and ranked inbound links,
written as the three authority tables by the engine chosen (:mod:`linkcrawl.analysis.engines`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from linkcrawl.analysis.audit import audit_into, audit_metadata
from linkcrawl.analysis.definition import DAMPING, TOL, Definition, authority_scale
from linkcrawl.analysis.engines import engine_options as options_of
from linkcrawl.analysis.engines import registration
from linkcrawl.analysis.relevance import require_page_text
from linkcrawl.dataset.layout import RemotePath, authority_path, root_path
from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.dataset.write import clean_staging, staged_partition
from linkcrawl.errors import DatasetError

__all__ = ["analysable_crawl", "analyze", "authority_scale"]


def analyze(
    data_dir: Path | str = "data",
    crawl_id: str | None = None,
    engine: str = "sparse",
    position_weights: Mapping[str, float] | None = None,
    nofollow_weight: float = 0.0,
    *,
    damping: float = DAMPING,
    tol: float = TOL,
    progress: Callable[[str], None] | None = None,
    engine_options: Mapping[str, Any] | None = None,
    relevance_weight: float = 0.0,
) -> str:
    """Compute page and domain authority of one crawl and rank its inbound links.

    Writes ``authority/crawl_id=<id>/pages.parquet``, ``domains.parquet`` and
    ``inbound.parquet`` under ``data_dir`` and returns the crawl id. The three tables of
    one analysis appear together: they are written into a directory under
    ``data/.staging/`` that then replaces the crawl's authority directory whole (on an
    object store the old tables are deleted first; see
    :func:`linkcrawl.dataset.write.staged_partition`).

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    crawl_id
        The crawl to analyse; default the newest finished crawl.
    engine
        A name in :data:`linkcrawl.analysis.engines.REGISTRY`: ``"sparse"`` (in memory,
        the default), ``"networkx"`` (the reference), ``"duckdb"`` (out of core),
        ``"spark"``. All write the same tables (docs/scaling.md: which for which size).
    position_weights, nofollow_weight, damping, tol
        The analysis (:class:`~linkcrawl.analysis.definition.Definition`): link weights by
        position (updating content 1.0, header and navigation 0.5, sidebar 0.4, footer
        0.25) and of a nofollow, ugc or sponsored link (default 0), the damping factor,
        and the absolute L1 change at which the iteration stops.
    progress
        Called with a short line at each stage (the CLI prints them to stderr).
    engine_options
        The engine's options (its ``Registration.options``), such as duckdb's
        ``memory_limit``, ``threads``, ``temp_directory``, spark's ``master``, or the
        in-memory engines' ``relevance`` (True: score relevance, relevance.parquet; off by
        default: it costs several times the rest of the analysis, docs/authority.md).
    relevance_weight
        α in [0, 1]: scale each link between domains by (1 − α) + α · relevance (rule 1
        of the :class:`~linkcrawl.analysis.definition.Definition`; docs/authority.md).
        Default 0, off. Needs a crawl with page text and an engine that scores relevance
        (sparse, networkx); it implies ``relevance``.

    Raises
    ------
    DatasetError
        No such data directory or crawl, a crawl that is still running or being pruned,
        an unknown engine or option, or a local-only engine given an object store.

    Examples
    --------
    >>> crawl_id = analyze("data")                               # doctest: +SKIP
    >>> import pandas as pd                                      # doctest: +SKIP
    >>> pd.read_parquet(f"data/authority/crawl_id={crawl_id}/domains.parquet")  # doctest: +SKIP
    """
    definition = Definition.make(
        position_weights, nofollow_weight, damping=damping, tol=tol,
        relevance_weight=relevance_weight,
    )  # fmt: skip
    chosen = registration(engine)
    if definition.relevance_weight > 0 and not chosen.relevance:
        raise DatasetError(
            f"the {engine} engine cannot weigh links by relevance: use --engine sparse or "
            "networkx with --relevance-weight"
        )
    options = options_of(engine, engine_options)
    root = data_dir.root if isinstance(data_dir, Dataset) else root_path(data_dir)
    if chosen.local_only and isinstance(root, RemotePath):
        raise DatasetError(f"{root}: the {engine} engine needs a local data directory")
    ds = open_dataset(data_dir)
    say = progress or (lambda line: None)
    crawl_id = analysable_crawl(ds, crawl_id)
    if definition.relevance_weight > 0 or getattr(options, "relevance", False):
        require_page_text(ds, crawl_id)
    # Tables that were audited are audited again, with the same trusted list and
    # good_share: a new analysis never silently drops the audit columns. Read first: in
    # an object store the partition is emptied before the new tables are written.
    audited = audit_metadata(ds, crawl_id)
    with staged_partition(ds.root, "authority", crawl_id) as out:
        chosen.load().analyze(ds, crawl_id, definition, out, options, say)
        if audited is not None:
            trusted, good_share = audited
            say(f"analyze {crawl_id}: the tables were audited: auditing the new ones")
            audit_into(ds, crawl_id, out, trusted, definition, say, good_share=good_share)
    say(f"analyze {crawl_id}: wrote {authority_path(ds.root, crawl_id)}")
    return crawl_id


def analysable_crawl(data_dir: Path | str | Dataset, crawl_id: str | None) -> str:
    """The crawl an analysis of ``crawl_id`` reads (by default the newest finished one),
    after removing the staging leftovers of analyses that died; DatasetError if it is
    still running (its tables would be of the part on disk so far, and read as the whole)
    or being pruned."""
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    status = ds.manifest(crawl_id).status
    if status == "running":
        raise DatasetError(
            f"crawl {crawl_id} is still running: analyze it once it has finished "
            "(or stop it; an interrupted crawl can be analysed)"
        )
    if status == "pruning":
        raise DatasetError(f"crawl {crawl_id} is being pruned: there is nothing to analyze")
    if status == "failed":
        failure = ds.manifest(crawl_id).fields.get("failure") or "every seed failed"
        raise DatasetError(f"crawl {crawl_id} failed ({failure}): there is nothing to analyze")
    if ds.arrow("pages", crawl_id).count_rows() == 0:
        # A crawl stopped before its first page: an empty graph has no authority to scale.
        raise DatasetError(f"crawl {crawl_id} has no pages on disk: there is nothing to analyze")
    if isinstance(ds.root, Path):  # nothing is staged in an object store
        clean_staging(ds.root)
    return crawl_id
