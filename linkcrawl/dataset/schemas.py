"""The Parquet schemas of the dataset, declared once, with their version and encodings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

# Bumped when a change to a schema would make an older linkcrawl misread the files; readers
# refuse files and manifests from a newer version rather than guess.
SCHEMA_VERSION = 1


TIMESTAMP = pa.timestamp("ms", tz="UTC")


# ~64k rows per row group: one huge row group overflows the dictionary page and falls back
# to plain encoding, and readers skip row groups by their statistics.
ROW_GROUP_SIZE = 65_536


PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "row_group_size": ROW_GROUP_SIZE,
    "write_statistics": True,
}


# Columns that Parquet dictionary-encodes, per table: the repetitive ones. A URL or anchor
# column overflows the dictionary page and falls back to plain encoding anyway; trying
# costs a third of the write time and makes the file larger (bench/write_bench.py).
DICTIONARY_COLUMNS = {
    "edges": ["source", "rel", "position", "kind", "source_domain", "target_domain"],
    "pages": ["status", "error", "content_type", "meta_robots", "x_robots_tag", "depth"],
    # one URL per row and nearly distinct floats: only the domain repeats
    "authority/pages": ["domain"],
    "authority/domains": [],
    # sorted by target domain, a row group holds few target domains and their pages
    "authority/inbound": [
        "target", "target_domain", "source", "source_domain", "anchor", "rel", "position", "kind",
    ],
}  # fmt: skip


def _metadata(table: str) -> dict[str, str]:
    return {"linkcrawl.table": table, "linkcrawl.schema_version": str(SCHEMA_VERSION)}


# Low-cardinality columns (rel, position, kind, the domains) are plain ``string`` in Arrow
# and dictionary-encoded by Parquet on disk: the same bytes as an Arrow dictionary type,
# but every reader gets plain strings (an Arrow dictionary column comes back as pandas
# ``category`` and polars ``Categorical``, which compare and concatenate differently).
EDGES_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("anchor", pa.string(), nullable=False),
        pa.field("rel", pa.string(), nullable=False),
        pa.field("follow", pa.bool_(), nullable=False),
        pa.field("position", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("ordinal", pa.int32(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("target_domain", pa.string(), nullable=False),
        pa.field("internal", pa.bool_(), nullable=False),
        pa.field("discovered_at", TIMESTAMP, nullable=False),
    ],
    metadata=_metadata("edges"),
)


PAGES_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("status", pa.int16()),
        pa.field("error", pa.string()),
        pa.field("content_type", pa.string()),
        pa.field("title", pa.string()),
        pa.field("canonical", pa.string()),
        pa.field("meta_robots", pa.string()),
        pa.field("x_robots_tag", pa.string()),
        pa.field("noindex", pa.bool_()),
        pa.field("nofollow", pa.bool_()),
        pa.field("depth", pa.int16()),
        pa.field("outlinks", pa.int32()),
        pa.field("bytes", pa.int64()),
        pa.field("elapsed_ms", pa.int32()),
        pa.field("fetched_at", TIMESTAMP, nullable=False),
    ],
    metadata=_metadata("pages"),
)


PAGE_AUTHORITY_SCHEMA = pa.schema(
    [
        pa.field("url", pa.string(), nullable=False),
        pa.field("domain", pa.string(), nullable=False),
        pa.field("pagerank", pa.float64(), nullable=False),
        pa.field("authority", pa.float64(), nullable=False),
        pa.field("inlinks", pa.int64(), nullable=False),
        pa.field("referring_domains", pa.int64(), nullable=False),
        pa.field("inbound_links", pa.int64(), nullable=False),
        pa.field("follow_share", pa.float64()),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata=_metadata("authority/pages"),
)


DOMAINS_SCHEMA = pa.schema(
    [
        pa.field("domain", pa.string(), nullable=False),
        pa.field("pagerank", pa.float64(), nullable=False),
        pa.field("authority", pa.float64(), nullable=False),
        pa.field("referring_domains", pa.int64(), nullable=False),
        pa.field("inbound_links", pa.int64(), nullable=False),
        pa.field("follow_share", pa.float64()),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata=_metadata("authority/domains"),
)


INBOUND_SCHEMA = pa.schema(
    [
        pa.field("target", pa.string(), nullable=False),
        pa.field("target_domain", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("anchor", pa.string(), nullable=False),
        pa.field("rel", pa.string(), nullable=False),
        pa.field("follow", pa.bool_(), nullable=False),
        pa.field("position", pa.string()),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("source_authority", pa.float64(), nullable=False),
        pa.field("source_domain_authority", pa.float64(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("rank", pa.int64(), nullable=False),
    ],
    metadata=_metadata("authority/inbound"),
)


AUTHORITY_SCHEMAS = {
    "pages": PAGE_AUTHORITY_SCHEMA,
    "domains": DOMAINS_SCHEMA,
    "inbound": INBOUND_SCHEMA,
}


CRAWL_TABLES = {"edges": EDGES_SCHEMA, "pages": PAGES_SCHEMA}


def table_from_columns(columns: dict[str, Iterable[Any]], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from a dict of Python lists (column name -> values)."""
    return pa.table({f.name: pa.array(columns[f.name], f.type) for f in schema}, schema=schema)
