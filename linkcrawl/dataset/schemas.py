"""The Parquet schemas of the dataset, declared once, with their version and encodings."""

from __future__ import annotations

from collections.abc import Iterable, Sized
from typing import Any

import pyarrow as pa

# Bumped when a change to a schema would make an older linkcrawl misread the files; readers
# refuse files and manifests from a newer version rather than guess.
# 2: edges.origin and pages.discovered_by (issue 18).
# 3: pages.ip (issue 20); pages.etag, last_modified, content_sha1, not_modified,
#    edges_from, revisit, revisit_interval_s, next_due (issue 21).
# 4: pages.description, headings, text (issue 20, relevance); authority/relevance.
SCHEMA_VERSION = 4


# Columns added after version 1, with the version that added them. A part file of an
# older version lacks them, and readers give null there: not recorded, rather than a guess.
ADDED_COLUMNS: dict[str, dict[str, int]] = {
    "edges": {"origin": 2},
    "pages": {
        "discovered_by": 2,
        "ip": 3,
        "etag": 3,
        "last_modified": 3,
        "content_sha1": 3,
        "not_modified": 3,
        "edges_from": 3,
        "revisit": 3,
        "revisit_interval_s": 3,
        "next_due": 3,
        "description": 4,
        "headings": 4,
        "text": 4,
    },
}


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
    "edges": ["source", "rel", "position", "kind", "source_domain", "target_domain", "origin"],
    "pages": [
        "status", "error", "content_type", "meta_robots", "x_robots_tag", "depth", "discovered_by",
        "edges_from", "revisit",
    ],
    "sitemaps": ["sitemap", "domain", "changefreq"],
    # one URL per row and nearly distinct floats: only the domain repeats
    "authority/pages": ["domain"],
    "authority/domains": [],
    # sorted by target domain, a row group holds few target domains and their pages
    "authority/inbound": [
        "target", "target_domain", "source", "source_domain", "anchor", "rel", "position", "kind",
    ],
    "authority/relevance": ["target", "target_domain", "source", "source_domain"],
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
        # html: in the HTML as served; rendered: only in the DOM after JavaScript ran.
        # Null where the source does not say (edge-list imports, files before version 2).
        pa.field("origin", pa.string()),
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
        # How the crawl found the URL: seed, link, sitemap or redirect (null: not recorded).
        pa.field("discovered_by", pa.string()),
        # The server's address the page came from, as the connection saw it (null through
        # a proxy, where the connection is the proxy's; and for a failed fetch).
        pa.field("ip", pa.string()),
        # The response's validators, as an incremental crawl sends them back
        # (If-None-Match, If-Modified-Since), and the SHA-1 of its body (hex): a page
        # whose digest is unchanged is unchanged even from a server that sends no
        # validators (linkcrawl.crawl.incremental).
        pa.field("etag", pa.string()),
        pa.field("last_modified", TIMESTAMP),
        pa.field("content_sha1", pa.string()),
        # The server answered 304 Not Modified to this crawl's conditional request.
        pa.field("not_modified", pa.bool_()),
        # The crawl whose edges rows of this page were carried into this crawl (a 304, or
        # a body whose digest is unchanged); null when the page was parsed in this crawl.
        pa.field("edges_from", pa.string()),
        # --revisit adaptive (linkcrawl.crawl.revisit): due (requested), not_due or
        # over_budget (due, but --max-pages went to more authoritative pages): carried
        # forward from edges_from without a request. Null in other crawls.
        pa.field("revisit", pa.string()),
        # The page's revisit interval after this crawl, and when it is due again.
        pa.field("revisit_interval_s", pa.int64()),
        pa.field("next_due", TIMESTAMP),
        # The page text relevance is computed from (linkcrawl.analysis.relevance), each
        # capped: the meta description, the h1-h3 headings one a line, and an excerpt of
        # the paragraphs in the page's content (not its menus, sidebars or footer).
        # Null for a page without them, a page that is not HTML, and before version 4.
        pa.field("description", pa.string()),
        pa.field("headings", pa.string()),
        pa.field("text", pa.string()),
    ],
    metadata=_metadata("pages"),
)


# One row per <url> entry of a sitemap the crawl read (issue 18): what the site says it has,
# to set against what its links reach (orphan pages are in here and in no edge's target).
SITEMAPS_SCHEMA = pa.schema(
    [
        pa.field("sitemap", pa.string(), nullable=False),  # the sitemap file's URL
        pa.field("url", pa.string(), nullable=False),  # the entry's <loc>, normalised
        pa.field("domain", pa.string(), nullable=False),  # registered domain of url
        pa.field("lastmod", TIMESTAMP),  # <lastmod> as UTC; null when absent or unreadable
        pa.field("changefreq", pa.string()),
        pa.field("priority", pa.float64()),
        pa.field("fetched_at", TIMESTAMP, nullable=False),  # when the sitemap was read
    ],
    metadata=_metadata("sitemaps"),
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


# One row per distinct (source page, target page) pair of a link from one domain to
# another (schema 4; linkcrawl.analysis.relevance): the TF-IDF cosine of the two pages'
# text, and of the source's domain (its pages linking to the target domain) with the
# target's site. Null where a side has no text. Ordered by target domain, then relevance.
RELEVANCE_SCHEMA = pa.schema(
    [
        pa.field("target", pa.string(), nullable=False),
        pa.field("target_domain", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_domain", pa.string(), nullable=False),
        pa.field("relevance", pa.float64()),
        pa.field("domain_relevance", pa.float64()),
    ],
    metadata=_metadata("authority/relevance"),
)


AUTHORITY_SCHEMAS = {
    "pages": PAGE_AUTHORITY_SCHEMA,
    "domains": DOMAINS_SCHEMA,
    "inbound": INBOUND_SCHEMA,
    "relevance": RELEVANCE_SCHEMA,
}


CRAWL_TABLES = {"edges": EDGES_SCHEMA, "pages": PAGES_SCHEMA, "sitemaps": SITEMAPS_SCHEMA}


def table_from_columns(columns: dict[str, Iterable[Any]], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from a dict of Python lists (column name -> values); a
    nullable column left out is null (a column added in a later schema version, say)."""
    lengths = {len(v) for v in columns.values() if isinstance(v, Sized)}
    n = lengths.pop() if len(lengths) == 1 else None
    arrays = {}
    for f in schema:
        if f.name not in columns and f.nullable and n is not None:
            arrays[f.name] = pa.nulls(n, f.type)
        else:
            arrays[f.name] = pa.array(columns[f.name], f.type)
    return pa.table(arrays, schema=schema)
