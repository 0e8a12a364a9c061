"""Load a link graph made elsewhere (an edge list of URLs) as a linkcrawl crawl, so that
``analyze`` and ``backlinks`` run on it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.analysis.graph import url_hosts
from linkcrawl.dataset.layout import DataLocation, root_path, validate_crawl_id
from linkcrawl.dataset.manifest import build_manifest, write_manifest
from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, ROW_GROUP_SIZE
from linkcrawl.dataset.write import PartWriter
from linkcrawl.errors import LinkcrawlError, first_line
from linkcrawl.extract.urls import normalize_url, registered_domain

__all__ = ["import_edges", "read_edge_file"]

_DEFAULTS: dict[str, Any] = {
    "anchor": "",
    "rel": "",
    "follow": True,
    "position": "content",
    "kind": "anchor",
}


def _domains(urls: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Registered domain of each URL: one regex pass for hosts, tldextract once per host."""
    hosts = url_hosts(urls)
    encoded = pc.dictionary_encode(hosts)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    domains = pa.array(
        [registered_domain(h or "") for h in encoded.dictionary.to_pylist()], pa.string()
    )
    return domains.take(encoded.indices)


def read_edge_file(path: Path | str) -> tuple[pa.Table, int]:
    """An edge list from a Parquet, CSV or TSV file (by its extension; ``.txt`` is TSV)
    with ``source`` and ``target`` URL columns, the URLs normalised as a crawl writes
    them; returns the table and the number of rows left out for a source or target that
    is not an http(s) URL. LinkcrawlError, in one line, for a file that cannot be read."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise LinkcrawlError(f"edge list {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            table = pq.read_table(path)
        else:
            delimiter = "\t" if suffix in (".tsv", ".tab", ".txt") else ","
            table = pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter=delimiter),
                convert_options=pacsv.ConvertOptions(
                    column_types={"source": pa.string(), "target": pa.string()}
                ),
            )
    except (pa.ArrowException, OSError) as exc:
        raise LinkcrawlError(f"edge list {path} cannot be read: {first_line(exc)}") from None
    missing = [c for c in ("source", "target") if c not in table.column_names]
    if missing:
        raise LinkcrawlError(
            f"edge list {path} has no {' and no '.join(missing)} column "
            f"(its columns: {', '.join(table.column_names) or 'none'})"
        )
    urls = {}
    for side in ("source", "target"):
        column = table.column(side).cast(pa.string())
        # Normalised once per distinct URL: an edge list repeats its URLs.
        encoded = pc.dictionary_encode(column).combine_chunks()
        normal = pa.array(
            [normalize_url(u) if u else None for u in encoded.dictionary.to_pylist()],
            pa.string(),
        )
        urls[side] = normal.take(encoded.indices)
    keep = pc.and_(pc.is_valid(urls["source"]), pc.is_valid(urls["target"]))
    table = table.set_column(table.column_names.index("source"), "source", urls["source"])
    table = table.set_column(table.column_names.index("target"), "target", urls["target"])
    kept = table.filter(keep)
    return kept, table.num_rows - kept.num_rows


def import_edges(
    data_dir: DataLocation,
    edges: Any,
    crawl_id: str,
    *,
    pages: Iterable[str] | pa.Array | None = None,
    started_at: datetime | None = None,
    part_rows: int = 16 * ROW_GROUP_SIZE,
) -> str:
    """Write an edge list as a finished crawl of ``data_dir``.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory (created if missing): a path, or an object store
        URI (``s3://bucket/prefix``), written through the same dataset layer as a crawl.
    edges
        A pyarrow Table or pandas DataFrame with ``source`` and ``target`` URL columns
        (normalised, as :func:`linkcrawl.extract.urls.normalize_url` returns them), and optionally
        any other column of the edges table. Missing ones default to a followed anchor
        link in the content without anchor text or rel; ``ordinal`` to the row's index
        among its source's rows; domains to the URLs' registered domains.
    crawl_id
        The id of the new crawl.
    pages
        URLs of fetched pages (default: every source); they become pages rows.
    started_at
        The crawl's start time in the manifest (default now).
    part_rows
        Rows per part file.

    Returns
    -------
    str
        The crawl id.
    """
    validate_crawl_id(crawl_id)
    table = (
        edges if isinstance(edges, pa.Table) else pa.Table.from_pandas(edges, preserve_index=False)
    )
    n = table.num_rows
    now = started_at or datetime.now(UTC)
    now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)
    columns: dict[str, Any] = {}
    for name, value in _DEFAULTS.items():
        columns[name] = (
            table.column(name)
            if name in table.column_names
            else pa.array([value] * n, EDGES_SCHEMA.field(name).type)
        )
    source = table.column("source").combine_chunks()
    if "ordinal" in table.column_names:
        columns["ordinal"] = table.column("ordinal")
    else:
        # Index of each row among its source's rows, in the given order.
        codes = pc.dictionary_encode(source).indices.to_numpy(zero_copy_only=False)
        order = np.argsort(codes, kind="stable")
        starts = np.ones(n, dtype=bool)
        starts[1:] = codes[order][1:] != codes[order][:-1]
        run_start = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        ordinal = np.empty(n, dtype=np.int32)
        ordinal[order] = np.arange(n) - run_start
        columns["ordinal"] = ordinal
    for side in ("source", "target"):
        name = f"{side}_domain"
        columns[name] = (
            table.column(name) if name in table.column_names else _domains(table.column(side))
        )
    internal = pc.equal(columns["source_domain"], columns["target_domain"])
    full = pa.table(
        {
            "source": table.column("source"),
            "target": table.column("target"),
            **{
                k: columns[k]
                for k in (
                    "anchor",
                    "rel",
                    "follow",
                    "position",
                    "kind",
                    "ordinal",
                    "source_domain",
                    "target_domain",
                )
            },
            "internal": table.column("internal") if "internal" in table.column_names else internal,
            "discovered_at": pa.array(
                np.full(n, np.datetime64(now.replace(tzinfo=None), "ms")),
                EDGES_SCHEMA.field("discovered_at").type,
            ),
            # An edge list does not say whether a link was in the HTML or rendered.
            "origin": (
                table.column("origin")
                if "origin" in table.column_names
                else pa.nulls(n, EDGES_SCHEMA.field("origin").type)
            ),
        }
    ).cast(EDGES_SCHEMA)
    root = root_path(data_dir)  # a local path, or an object store's (s3://, mock://)
    writer = PartWriter(root, "edges", crawl_id, EDGES_SCHEMA)
    for start in range(0, max(n, 1), part_rows):
        writer.write(full.slice(start, part_rows))
    if pages is None:
        page_urls = pc.unique(source)
    elif isinstance(pages, pa.Array | pa.ChunkedArray):
        page_urls = pages
    else:
        page_urls = pa.array(list(pages), pa.string())
    fetched = pa.array(
        np.full(len(page_urls), np.datetime64(now.replace(tzinfo=None), "ms")),
        PAGES_SCHEMA.field("fetched_at").type,
    )
    page_table = pa.table(
        {
            f.name: (
                page_urls
                if f.name == "url"
                else fetched
                if f.name == "fetched_at"
                else pa.nulls(len(page_urls), f.type)
            )
            for f in PAGES_SCHEMA
        },
        schema=PAGES_SCHEMA,
    )
    page_writer = PartWriter(root, "pages", crawl_id, PAGES_SCHEMA)
    for start in range(0, len(page_urls), part_rows):
        page_writer.write(page_table.slice(start, part_rows))
    # Times in the crawl's own form (UTC, microseconds): a given start time in another
    # zone, or without fractions, wrote a second ISO form that sorted wrongly among the
    # crawls' and broke readers that parse them as one format.
    write_manifest(
        root,
        build_manifest(
            crawl_id,
            status="finished",
            started_at=now,
            finished_at=now,
            imported=True,
            source="edges",
            counts={"pages": len(page_urls), "edges": n, "errors": 0},
        ),
    )
    return crawl_id
