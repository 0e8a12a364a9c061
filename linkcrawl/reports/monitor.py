"""Monitoring across crawls: new and lost links with reasons, backlink history, broken links,
and pruning old crawls."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.dataset.manifest import Manifest, crawl_lock_holder, write_manifest
from linkcrawl.dataset.reader import Dataset, open_dataset
from linkcrawl.dataset.write import clean_staging
from linkcrawl.errors import DatasetError, LinkcrawlError, _first_line
from linkcrawl.reports.target import Target, parse_target, target_hint

__all__ = [
    "DIFF_COLUMNS",
    "LOST_REASONS",
    "NEW_REASONS",
    "History",
    "broken",
    "diff",
    "history",
    "prune",
    "velocity",
]

DIFF_COLUMNS = ["change", "source", "target", "anchor", "follow", "reason"]
# Why a link of the old crawl is not in the new one as it was, most specific first.
LOST_REASONS = (
    "source-not-crawled",
    "source-gone",
    "target-redirects",
    "link-removed",
    "now-nofollow",
)
NEW_REASONS = ("", "source-new", "now-follow")
# A request robots.txt forbade was never sent: the target is not broken, only unvisited.
_NOT_BROKEN_ERRORS = ("robots-disallowed",)


# -- shared readers --------------------------------------------------------------------------


def _finished(ds: Dataset) -> list[Manifest]:
    """The finished crawls, oldest first."""
    return [m for m in reversed(ds.manifests()) if m.status == "finished"]


def _finished_or_raise(ds: Dataset) -> list[Manifest]:
    """The finished crawls, oldest first; at least one."""
    crawls = _finished(ds)
    if not crawls:
        raise DatasetError(f"no finished crawl in {ds.root}: run `linkcrawl crawl` first")
    return crawls


def _backlink_filter(target: Target | None) -> Any:
    """Links to ``target`` from other registered domains; None selects every link."""
    if target is None:
        return None
    return target.expression() & _EXTERNAL


_EXTERNAL = pc.field("internal") == False  # noqa: E712 (an Arrow expression)


def _hint(
    ds: Dataset, crawl_ids: list[str], target: Target, what: str, *, backlinks: bool = True
) -> str | None:
    """The hint for an empty answer about ``target`` in these crawls (another scheme or
    ``www.``: see :func:`~linkcrawl.reports.target.target_hint`)."""

    def has_rows(spelling: Target) -> bool:
        expression = spelling.expression()
        if backlinks:
            expression = expression & _EXTERNAL
        expression = expression & pc.field("crawl_id").isin(crawl_ids)
        return not ds.edges(None, columns=["target"], filters=expression).empty

    return target_hint(target, has_rows, what)


# DuckDB's share of a report's memory: beyond it, DuckDB spills to disk, so that a crawl ten
# times larger needs more disk and time, not a larger machine.
_MEMORY_LIMIT = "1500MB"


@contextmanager
def _connect() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB of its own: its settings are this connection's, not the
    process's. Insertion order is not kept (every answer says its ORDER BY), which lets
    DuckDB stream; what does not fit in memory spills to a temporary folder of its own."""
    with tempfile.TemporaryDirectory(prefix="linkcrawl-duckdb-") as spill:
        config: dict[str, str | bool | int | float | list[str]] = {
            "preserve_insertion_order": False,
            "temp_directory": spill,
            "memory_limit": _MEMORY_LIMIT,
        }
        con = duckdb.connect(config=config)
        # A library call draws nothing on its caller's terminal (a setting of this
        # connection's session only).
        con.execute("SET enable_progress_bar = false")
        try:
            yield con
        finally:
            con.close()


def _register(
    con: duckdb.DuckDBPyConnection, ds: Dataset, table: str, crawl_ids: list[str], name: str
) -> None:
    """A view ``name`` over ``table`` of these crawls, with a ``crawl_id`` column.

    Local part files are read by DuckDB's own Parquet reader, which reads only the
    columns a query names and, for a filter, decodes the other columns only where rows
    pass; an object store is read through pyarrow's dataset (its file system).
    Either way the part files are those :meth:`Dataset.arrow` checked.
    """
    selects = []
    for i, crawl_id in enumerate(crawl_ids):
        data = ds.arrow(table, crawl_id)
        files = getattr(data, "files", None) if isinstance(ds.root, Path) else None
        part = f"{name}_{i}"
        if files:
            con.read_parquet(files, hive_partitioning=False).create_view(part)
        else:
            con.register(part, data)
        literal = crawl_id.replace("'", "''")  # a checked crawl id has no quote; still
        selects.append(
            f"SELECT * EXCLUDE (crawl_id), '{literal}' AS crawl_id FROM {part}"
            if not files
            else f"SELECT *, '{literal}' AS crawl_id FROM {part}"
        )
    con.execute(f"CREATE VIEW {name} AS " + " UNION ALL ".join(selects))


def _query(con: duckdb.DuckDBPyConnection, ds: Dataset, sql: str) -> pa.Table:
    try:
        return con.sql(sql).to_arrow_table()
    except duckdb.Error as exc:
        raise DatasetError(f"{ds.root}: {_first_line(exc)}") from None


# The occurrence of a link whose anchor stands for it: the first followed one in page order,
# else the first one (as a DuckDB sort key).
_FIRST_OCCURRENCE = "(CASE WHEN follow THEN 0 ELSE 4294967296 END + ordinal)"


class BacklinkScan:
    """The backlinks of one target in every finished crawl (and in ``crawl_id``), read
    from the edges once into a table of a DuckDB connection of its own: the HTML report
    asks :func:`velocity`, :func:`history` and :func:`diff` about the same target, and
    each of them would scan every crawl's edges again. Each method answers as the
    function of its name; the scan happens at the first of them (its error, if any, is
    each method's). A context manager: leaving it closes the connection.

    >>> with BacklinkScan(ds, "example.com", "c2") as scan:   # doctest: +SKIP
    ...     per_step, changes = scan.velocity(), scan.diff()
    """

    def __init__(self, data_dir: Path | str | Dataset, target: str, crawl_id: str) -> None:
        self._ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
        self._target = target
        self._parsed = parse_target(target)
        self._crawl_id = crawl_id
        self._stack = ExitStack()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._failure: LinkcrawlError | None = None

    def __enter__(self) -> BacklinkScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _scanned(self) -> duckdb.DuckDBPyConnection:
        if self._failure is not None:
            raise self._failure
        if self._con is None:
            ids = [m.crawl_id for m in _finished(self._ds)]
            if self._crawl_id not in ids:
                ids.append(self._crawl_id)
            con = self._stack.enter_context(_connect())
            try:
                _register(con, self._ds, "edges", ids, "edges_all")
                con.execute(
                    "CREATE TEMP TABLE target_links AS SELECT crawl_id, source, target, "
                    "source_domain, anchor, follow, ordinal FROM edges_all "
                    f"WHERE NOT internal AND {self._parsed.sql()}"
                )
            except duckdb.Error as exc:
                self._failure = DatasetError(f"{self._ds.root}: {_first_line(exc)}")
                raise self._failure from None
            except LinkcrawlError as exc:
                self._failure = exc
                raise
            self._con = con
        return self._con

    def velocity(self) -> pd.DataFrame:
        """:func:`velocity` of the target."""
        crawls = _finished_or_raise(self._ds)
        return _velocity(self._scanned(), self._ds, crawls, "target_links")

    def history(self, *, links: bool = True) -> History:
        """:func:`history` of the target."""
        crawls = _finished_or_raise(self._ds)
        return _history(self._scanned(), self._ds, crawls, self._parsed, "target_links", links)

    def diff(self) -> pd.DataFrame:
        """:func:`diff` of the target's backlinks from the crawl before ``crawl_id``."""
        old_id, new_id = _diff_ids(self._ds, None, self._crawl_id)
        con = self._scanned()
        for crawl_id, side in ((old_id, "old"), (new_id, "new")):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {side}_edges AS SELECT * EXCLUDE (crawl_id) "
                f"FROM target_links WHERE crawl_id = {_sql_text(crawl_id)}"
            )
        return _diff(con, self._ds, old_id, new_id, self._target)


# -- diff ------------------------------------------------------------------------------------


def diff(
    data_dir: Path | str | Dataset = "data",
    old_id: str | None = None,
    new_id: str | None = None,
    target: str | None = None,
) -> pd.DataFrame:
    """New and lost links between two crawls, each with the reason.

    A link is identified by its source and target URLs: several occurrences on one page
    are one link (followed if any occurrence is), and a link that moved on its page is
    unchanged. Changes of anchor text alone are not reported.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    old_id, new_id
        The two crawls. By default ``new_id`` is the newest finished crawl and ``old_id``
        the finished crawl before it.
    target
        Only the backlinks of this target: links from other registered domains to a
        registered domain (``example.com``), a host (``www.example.com``) or a URL prefix
        (``https://example.com/blog/``), as in ``linkcrawl backlinks``. By default every
        link, internal ones included.

    Returns
    -------
    pandas.DataFrame
        Columns ``change, source, target, anchor, follow, reason``; ``change`` is ``lost``
        or ``new``, lost rows first, then by target and source. ``df.attrs`` holds
        ``old_id`` and ``new_id``, and ``hint`` when neither crawl has a link to
        ``target`` but has one to another spelling of it (another scheme, ``www.``).

        A lost link's reason is the first that holds of:

        - ``source-not-crawled``: the source page was not fetched by the new crawl (not
          reached, out of its scope, or over a page cap); the link may still be there.
        - ``source-gone``: the source page now fails: 4xx, 5xx, a network error, or a
          redirect (the page no longer exists at that URL).
        - ``target-redirects``: the page was fetched and the link is gone, and its target
          now redirects (the source probably links to the new location instead).
        - ``link-removed``: the page was fetched and the link is gone.
        - ``now-nofollow``: the link is still there but no longer followed (rel nofollow,
          ugc or sponsored, or a page-wide nofollow). One row, not new plus lost; its
          anchor and follow are those of the new crawl.

        A new link's reason is empty when it was added to a page the old crawl fetched,
        ``source-new`` when the old crawl did not fetch its page (a new page, or one not
        reached then), and ``now-follow`` when a nofollow link became followed (one row).
        Anchor and follow of a lost link are those of the old crawl.

    Raises
    ------
    DatasetError
        Fewer than two finished crawls, an unknown crawl id, a bad target.

    Examples
    --------
    >>> changes = diff("data", target="example.com")                 # doctest: +SKIP
    >>> changes[changes.change == "lost"].reason.value_counts()      # doctest: +SKIP
    """
    ds = open_dataset(data_dir)
    old_id, new_id = _diff_ids(ds, old_id, new_id)
    parsed = parse_target(target) if target is not None else None
    where = f"WHERE NOT internal AND {parsed.sql()}" if parsed is not None else ""
    scope = _scope(ds, new_id)
    with _connect() as con:
        for crawl_id, side in ((old_id, "old"), (new_id, "new")):
            _register(con, ds, "edges", [crawl_id], f"{side}_edges_all")
        try:
            if where:
                # A target's links are few: scanned once (each scan decodes the URL columns
                # of every row), then read from memory.
                extra = ", source_domain" if scope else ""
                for side in ("old", "new"):
                    con.execute(
                        f"CREATE TEMP TABLE {side}_edges AS SELECT source, target, anchor, "
                        f"follow, ordinal{extra} FROM {side}_edges_all {where}"
                    )
            else:
                for side in ("old", "new"):
                    con.execute(f"CREATE VIEW {side}_edges AS SELECT * FROM {side}_edges_all")
        except duckdb.Error as exc:
            raise DatasetError(f"{ds.root}: {_first_line(exc)}") from None
        return _diff(con, ds, old_id, new_id, target)


def _scope(ds: Dataset, crawl_id: str) -> list[str]:
    return sorted(set(ds.manifest(crawl_id).fields.get("scope") or ()))


def _diff(
    con: duckdb.DuckDBPyConnection, ds: Dataset, old_id: str, new_id: str, target: str | None
) -> pd.DataFrame:
    """:func:`diff` on a connection with the links of each crawl, as ``old_edges`` and
    ``new_edges`` (those of ``target`` only, when one is given)."""
    parsed = parse_target(target) if target is not None else None
    scope = _scope(ds, new_id)
    for crawl_id, side in ((old_id, "old"), (new_id, "new")):
        _register(con, ds, "pages", [crawl_id], f"{side}_pages")
    try:
        for statement in _diff_sql(scope):
            con.execute(statement)
        urls = con.sql("SELECT url FROM urls ORDER BY id").to_arrow_table()
        result = con.sql(_DIFF_RESULT).to_arrow_table()
    except duckdb.Error as exc:
        raise DatasetError(f"{ds.root}: {_first_line(exc)}") from None
    empty = parsed is not None and not result.num_rows and not _any_rows(con, ds)
    # Each URL once, as a category: a diff of two unrelated crawls changes every link, and
    # its sources and targets repeat.
    categories = pd.Index(urls.column("url").to_pandas())
    changes = pd.DataFrame(
        {
            "change": result.column("change").to_pandas(),
            "source": pd.Categorical.from_codes(result.column("sid").to_numpy(), categories),
            "target": pd.Categorical.from_codes(result.column("tid").to_numpy(), categories),
            "anchor": result.column("anchor").to_pandas(),
            "follow": result.column("follow").to_numpy(zero_copy_only=False).astype(bool),
            "reason": result.column("reason").to_pandas(),
        },
        columns=DIFF_COLUMNS,
    )
    changes.attrs.update(old_id=old_id, new_id=new_id, target=target)
    if parsed is not None and empty:
        changes.attrs["hint"] = _hint(ds, [old_id, new_id], parsed, "no backlinks to")
    return changes


def _any_rows(con: duckdb.DuckDBPyConnection, ds: Dataset) -> bool:
    sql = "SELECT (SELECT count(*) FROM old_edges) + (SELECT count(*) FROM new_edges) AS n"
    return bool(_query(con, ds, sql).column("n")[0].as_py())


def _diff_sql(scope: list[str]) -> list[str]:
    """The diff as DuckDB statements: every URL of both crawls numbered in sorted order
    (so that ordering by number is ordering by URL), the links of both crawls grouped once
    by (source, target) numbers, the changed ones joined with the pages' last answers for
    their reasons (``_DIFF_RESULT`` reads them out)."""
    extra = ", source_domain" if scope else ""
    domain = ", any_value(source_domain) AS source_domain" if scope else ""
    if scope:
        netloc = "regexp_replace(split_part(su.url, '/', 3), '^.*@', '')"
        host = (
            f"(CASE WHEN starts_with({netloc}, '[') THEN split_part({netloc}, ']', 1) || ']' "
            f"ELSE split_part({netloc}, ':', 1) END)"
        )
        listed = _sql_list(scope)
        in_scope = f"(list_contains({listed}, {host}) OR list_contains({listed}, l.source_domain))"
        scope_join = "JOIN urls su ON su.id = l.sid"
    else:
        in_scope, scope_join = "true", ""
    ok = "coalesce({s}.s.status BETWEEN 200 AND 299 AND {s}.s.error IS NULL, false)"
    redirects = "coalesce({s}.s.status BETWEEN 300 AND 399, false)"

    def status(side: str) -> str:
        return f"""
        CREATE TEMP TABLE {side}_status AS
        SELECT u.id, arg_max({{'status': p.status, 'error': p.error}}, p.fetched_at) AS s
        FROM {side}_pages p JOIN urls u ON u.url = p.url GROUP BY u.id
        """

    return [
        "CREATE TYPE change_kind AS ENUM ('lost', 'new')",
        "CREATE TYPE change_reason AS ENUM ("
        + ", ".join(f"'{r}'" for r in (*LOST_REASONS, *NEW_REASONS))
        + ")",
        """
        CREATE TEMP TABLE urls AS
        SELECT url, (row_number() OVER (ORDER BY url) - 1)::INTEGER AS id FROM (
            SELECT DISTINCT url FROM (
                SELECT DISTINCT source AS url FROM old_edges
                UNION ALL SELECT DISTINCT target FROM old_edges
                UNION ALL SELECT DISTINCT source FROM new_edges
                UNION ALL SELECT DISTINCT target FROM new_edges
            )
        )
        """,
        f"""
        CREATE TEMP TABLE links AS
        WITH e AS (
            SELECT false AS in_new, source, target, anchor, follow, ordinal{extra}
            FROM old_edges
            UNION ALL
            SELECT true, source, target, anchor, follow, ordinal{extra}
            FROM new_edges
        )
        SELECT s.id AS sid, t.id AS tid,
            bool_or(follow) FILTER (WHERE NOT in_new) AS old_follow,
            bool_or(follow) FILTER (WHERE in_new) AS new_follow,
            arg_min(anchor, {_FIRST_OCCURRENCE}) FILTER (WHERE NOT in_new) AS old_anchor,
            arg_min(anchor, {_FIRST_OCCURRENCE}) FILTER (WHERE in_new) AS new_anchor
            {domain}
        FROM e JOIN urls s ON s.url = e.source JOIN urls t ON t.url = e.target
        GROUP BY s.id, t.id
        HAVING old_follow IS DISTINCT FROM new_follow
        """,
        status("old"),
        status("new"),
        f"""
        CREATE TEMP TABLE changes AS
        SELECT 'lost' AS change, l.sid, l.tid, l.old_anchor AS anchor, l.old_follow AS follow,
            CASE
                WHEN ns.id IS NULL OR NOT {in_scope} THEN 'source-not-crawled'
                WHEN NOT {ok.format(s="ns")} THEN 'source-gone'
                WHEN {redirects.format(s="nt")} AND NOT {redirects.format(s="ot")}
                    THEN 'target-redirects'
                ELSE 'link-removed'
            END AS reason
        FROM links l
        {scope_join}
        LEFT JOIN new_status ns ON ns.id = l.sid
        LEFT JOIN new_status nt ON nt.id = l.tid
        LEFT JOIN old_status ot ON ot.id = l.tid
        WHERE l.new_follow IS NULL
        UNION ALL
        SELECT 'lost', sid, tid, new_anchor, false, 'now-nofollow'
        FROM links WHERE old_follow AND NOT new_follow
        UNION ALL
        SELECT 'new', l.sid, l.tid, l.new_anchor, l.new_follow,
            CASE WHEN {ok.format(s="os")} THEN '' ELSE 'source-new' END
        FROM links l LEFT JOIN old_status os ON os.id = l.sid
        WHERE l.old_follow IS NULL
        UNION ALL
        SELECT 'new', sid, tid, new_anchor, true, 'now-follow'
        FROM links WHERE NOT old_follow AND new_follow
        """,
    ]


# Lost rows first, then by target and source: URL numbers are in URL order.
_DIFF_RESULT = """
SELECT change::change_kind AS change, sid, tid, anchor, follow, reason::change_reason AS reason
FROM changes ORDER BY change, tid, sid
"""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_text(v) for v in values) + "]"


def _sql_text(value: str) -> str:
    """A string as a SQL literal."""
    return "'" + value.replace("'", "''") + "'"


def _diff_ids(ds: Dataset, old_id: str | None, new_id: str | None) -> tuple[str, str]:
    finished = [m.crawl_id for m in _finished(ds)]
    if new_id is None:
        if not finished:
            raise DatasetError(_too_few(ds, finished))
        new_id = finished[-1]
    else:
        new_id = ds.manifest(new_id).crawl_id
    if old_id is None:
        # The finished crawl that started before the new one.
        order = {m.crawl_id: i for i, m in enumerate(reversed(ds.manifests()))}
        earlier = [c for c in finished if order[c] < order[new_id]]
        if not earlier:
            raise DatasetError(_too_few(ds, finished))
        old_id = earlier[-1]
    else:
        old_id = ds.manifest(old_id).crawl_id
    if old_id == new_id:
        raise DatasetError(f"cannot diff crawl {old_id} with itself: give two different crawls")
    return old_id, new_id


def _too_few(ds: Dataset, finished: list[str]) -> str:
    return (
        f"diff needs two finished crawls in {ds.root} ({len(finished)} found): run "
        "`linkcrawl crawl` again, or name two crawls"
    )


# -- history ---------------------------------------------------------------------------------


# Newest first seen first (crawls without a start time last), then by target and source.
_HISTORY_LINKS = """
SELECT l.* FROM (
    SELECT source, target,
        arg_max(source_domain, ord) AS source_domain, arg_max(anchor, ord) AS anchor,
        arg_max(follow, ord) AS follow, arg_min(crawl_id, ord) AS first_seen,
        min(ord) AS first_ord, arg_max(crawl_id, ord) AS last_seen, max(ord) AS last_ord,
        count(*) AS crawls
    FROM pairs JOIN crawl_order USING (crawl_id) GROUP BY source, target
) l JOIN crawl_order f ON f.ord = l.first_ord
ORDER BY f.started DESC NULLS LAST, l.target, l.source
"""
_HISTORY_PER_CRAWL = """
SELECT crawl_id, count(DISTINCT source_domain) AS referring_domains,
    count(DISTINCT source_domain) FILTER (WHERE follow) AS followed_referring_domains,
    count(*) AS links
FROM pairs GROUP BY crawl_id
"""


_HISTORY_COLUMNS = [
    "source",
    "target",
    "source_domain",
    "anchor",
    "follow",
    "first_seen",
    "first_seen_at",
    "last_seen",
    "last_seen_at",
    "crawls",
    "live",
]


class History(NamedTuple):
    """The backlinks of a target across crawls: ``links`` and ``referring_domains``."""

    links: pd.DataFrame
    referring_domains: pd.DataFrame


def history(
    data_dir: Path | str | Dataset = "data", target: str = "", *, links: bool = True
) -> History:
    """Every backlink of a target across all finished crawls: when first and last seen.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    target
        A registered domain (``example.com``), a host (``www.example.com``) or a URL
        prefix (``https://example.com/blog/``). Backlinks are links from other registered
        domains, as in ``linkcrawl backlinks``.

    Returns
    -------
    History
        A named tuple ``(links, referring_domains)``:

        - ``links``: one row per backlink (source, target), with source_domain, anchor and
          follow as last seen, first_seen and last_seen (crawl ids), first_seen_at and
          last_seen_at (those crawls' start times, UTC), crawls (in how many crawls it
          was seen) and live (seen in the newest finished crawl). Newest first_seen first.
        - ``referring_domains``: one row per finished crawl, oldest first: crawl_id,
          started_at, referring_domains, followed_referring_domains (domains with at
          least one followed link to the target) and links.

        Interrupted and running crawls are left out: a link missing from a partial crawl
        says nothing about the link. When there is no backlink, ``links.attrs["hint"]``
        names another spelling of the target that has some (another scheme, ``www.``).

        With ``links=False`` only ``referring_domains`` is computed (``links`` is empty),
        which reads less: the HTML report's chart.

    Examples
    --------
    >>> links, per_crawl = history("data", "example.com")            # doctest: +SKIP
    >>> links[~links.live]  # the lost backlinks                     # doctest: +SKIP
    """
    parsed = parse_target(target)
    ds = open_dataset(data_dir)
    crawls = _finished_or_raise(ds)
    with _connect() as con:
        _register(con, ds, "edges", [m.crawl_id for m in crawls], "edges_all")
        backlinks_from = f"edges_all WHERE NOT internal AND {parsed.sql()}"
        return _history(con, ds, crawls, parsed, backlinks_from, links)


def _history(
    con: duckdb.DuckDBPyConnection,
    ds: Dataset,
    crawls: list[Manifest],
    parsed: Target,
    backlinks_from: str,
    links: bool,
) -> History:
    """:func:`history` of these crawls on a connection where ``FROM {backlinks_from}``
    reads the target's backlinks in them (and maybe others), with a ``crawl_id``."""
    ids = [m.crawl_id for m in crawls]
    times: list[Any] = [m.fields.get("started_at") for m in crawls]
    started = pd.Series(pd.to_datetime(times, utc=True), index=ids)
    con.register(
        "crawl_order",
        pa.table(
            {
                "crawl_id": ids,
                "ord": range(len(ids)),
                "started": pa.array(started.reset_index(drop=True)),
            }
        ),
    )
    # One row per link and crawl (as in diff), then one per link across the crawls.
    anchor = f", arg_min(anchor, {_FIRST_OCCURRENCE}) AS anchor" if links else ""
    pairs = f"""
        CREATE OR REPLACE TEMP TABLE pairs AS
        SELECT crawl_id, source, target, any_value(source_domain) AS source_domain,
            bool_or(follow) AS follow{anchor}
        FROM {backlinks_from}
        GROUP BY crawl_id, source, target
    """
    try:
        con.execute(pairs)
    except duckdb.Error as exc:
        raise DatasetError(f"{ds.root}: {_first_line(exc)}") from None
    per_crawl = _query(con, ds, _HISTORY_PER_CRAWL).to_pandas()
    found = _query(con, ds, _HISTORY_LINKS).to_pandas() if links else None
    domains = pd.DataFrame({"crawl_id": ids, "started_at": started.to_numpy()})
    counts = ["referring_domains", "followed_referring_domains", "links"]
    per_crawl = per_crawl.set_index("crawl_id")
    for column in counts:
        domains[column] = domains["crawl_id"].map(per_crawl[column]).fillna(0).astype("int64")
    if found is None:
        return History(pd.DataFrame(columns=_HISTORY_COLUMNS), domains)
    backlinks = pd.DataFrame(
        {
            "source": found["source"],
            "target": found["target"],
            "source_domain": found["source_domain"],
            "anchor": found["anchor"],
            "follow": found["follow"].astype(bool),
            "first_seen": found["first_seen"],
            "first_seen_at": started.array.take(found["first_ord"].to_numpy()),
            "last_seen": found["last_seen"],
            "last_seen_at": started.array.take(found["last_ord"].to_numpy()),
            "crawls": found["crawls"].astype("int64"),
            "live": found["last_ord"].to_numpy() == len(ids) - 1,
        },
        columns=_HISTORY_COLUMNS,
    )
    if backlinks.empty:
        backlinks.attrs["hint"] = _hint(ds, ids, parsed, "no backlinks to")
    return History(backlinks, domains)


VELOCITY_COLUMNS = [
    "crawl_id",
    "date",
    "started_at",
    "referring_domains",
    "new",
    "lost",
    "net",
    "new_domains",
    "lost_domains",
]


def velocity(data_dir: Path | str | Dataset = "data", target: str = "") -> pd.DataFrame:
    """New and lost referring domains of a target from each finished crawl to the next.

    A referring domain of a crawl is a registered domain with at least one link to the
    target in it, from another registered domain (followed or not), as in ``history``.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory (a path, an object store URI, or a Dataset).
    target
        A registered domain, a host or a URL prefix.

    Returns
    -------
    pandas.DataFrame
        One row per finished crawl, oldest first: ``crawl_id``, ``date`` (the crawl's
        start, UTC, as YYYY-MM-DD), ``started_at``, ``referring_domains``, ``new`` (domains
        not referring in the crawl before), ``lost`` (referring in the crawl before, not in
        this one), ``net`` (new − lost), and the domains themselves, sorted, in
        ``new_domains`` and ``lost_domains``. The first crawl has nothing to compare with:
        its ``new``, ``lost`` and ``net`` are null and its lists empty. A domain whose
        pages a crawl did not fetch counts as lost from it: ``diff --target`` gives each
        lost link's reason.

    Examples
    --------
    >>> velocity("data", "example.com")[["date", "new", "lost"]]     # doctest: +SKIP
    """
    parsed = parse_target(target)
    ds = data_dir if isinstance(data_dir, Dataset) else open_dataset(data_dir)
    crawls = _finished_or_raise(ds)
    with _connect() as con:
        _register(con, ds, "edges", [m.crawl_id for m in crawls], "edges_all")
        return _velocity(con, ds, crawls, f"edges_all WHERE NOT internal AND {parsed.sql()}")


def _velocity(
    con: duckdb.DuckDBPyConnection, ds: Dataset, crawls: list[Manifest], backlinks_from: str
) -> pd.DataFrame:
    """:func:`velocity` of these crawls on a connection where ``FROM {backlinks_from}``
    reads the target's backlinks in them (and maybe others), with a ``crawl_id``."""
    ids = [m.crawl_id for m in crawls]
    times: list[Any] = [m.fields.get("started_at") for m in crawls]
    started = pd.to_datetime(times, utc=True)
    found = _query(
        con, ds, f"SELECT DISTINCT crawl_id, source_domain FROM {backlinks_from}"
    ).to_pandas()
    per_crawl = found.groupby("crawl_id")["source_domain"].agg(set).to_dict()
    rows = []
    before: set[str] | None = None
    for crawl_id, at in zip(ids, started, strict=True):
        now: set[str] = per_crawl.get(crawl_id, set())
        gained = sorted(now - before) if before is not None else []
        gone = sorted(before - now) if before is not None else []
        rows.append(
            {
                "crawl_id": crawl_id,
                "date": at.strftime("%Y-%m-%d") if not pd.isna(at) else None,
                "started_at": at,
                "referring_domains": len(now),
                "new": len(gained) if before is not None else None,
                "lost": len(gone) if before is not None else None,
                "net": len(gained) - len(gone) if before is not None else None,
                "new_domains": gained,
                "lost_domains": gone,
            }
        )
        before = now
    frame = pd.DataFrame(rows, columns=VELOCITY_COLUMNS)
    for column in ("new", "lost", "net"):
        frame[column] = frame[column].astype("Int64")
    return frame


def _link_pairs(edges: pd.DataFrame, by: Iterable[str] = ()) -> pd.DataFrame:
    """One row per (source, target): a link is the same link across crawls when it joins
    the same two URLs, wherever it sits on the page. Its ``follow`` is true when any
    occurrence is followed, and its anchor is that of the first followed occurrence (the
    first occurrence if none is followed)."""
    if edges.empty:
        return edges.drop(columns="ordinal").reset_index(drop=True)
    # Integer codes and one lexsort: three times faster than sorting the URL strings.
    codes = _pair_codes(edges, [*by, "source", "target"])
    rank = np.where(edges["follow"].to_numpy(bool), 0, 1 << 31)
    rank = rank + edges["ordinal"].to_numpy(np.int64)
    order = np.lexsort((rank, codes))
    ordered = codes[order]
    first = order[np.r_[True, ordered[1:] != ordered[:-1]]]
    return edges.iloc[np.sort(first)].drop(columns="ordinal").reset_index(drop=True)


def _pair_codes(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """An integer per distinct combination of ``keys``, by hashing (no string sort)."""
    return frame.groupby(keys, sort=False).ngroup().to_numpy()


# -- broken ----------------------------------------------------------------------------------


def broken(
    data_dir: Path | str | Dataset = "data", crawl_id: str | None = None, target: str | None = None
) -> pd.DataFrame:
    """Links whose target is broken: it answered 4xx or 5xx, or failed (DNS, timeout,
    refused connection), with the pages that link to it.

    A target's status is known when the crawl fetched it: a page of the crawled domains,
    or a link to another domain checked with ``linkcrawl crawl --check-external``. A
    request robots.txt forbade is not broken. Redirects are not broken either: a redirect
    to a broken page shows up as a ``redirect`` link whose target is broken.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    crawl_id
        The crawl; by default the newest finished one.
    target
        Only broken targets under a registered domain (``example.com``), a host or a URL
        prefix; all linking pages are listed, internal ones too. By default every
        broken target.

    Returns
    -------
    pandas.DataFrame
        One row per (broken target, linking page): target, status (null for a network
        error), error, referring_domains (distinct domains linking to the target), source,
        source_domain, internal, anchor, follow, kind. Targets with the most referring
        domains first: the best prospects for broken-link building. When the crawl has
        no link at all to ``target``, ``attrs["hint"]`` names another spelling of it
        that has some (another scheme, ``www.``).

    Examples
    --------
    >>> links = broken("data", target="example.com")                 # doctest: +SKIP
    >>> links.groupby("target").source.count()                       # doctest: +SKIP
    """
    ds = open_dataset(data_dir)
    crawl_id = ds.resolve_crawl(crawl_id)
    failed = pc.field("status") >= 400
    errored = pc.field("error").is_valid() & ~pc.field("error").isin(list(_NOT_BROKEN_ERRORS))
    pages = ds.pages(
        crawl_id,
        columns=["url", "status", "error", "fetched_at"],
        filters=failed | errored,
    )
    pages = pages.sort_values("fetched_at", kind="stable").drop_duplicates("url", keep="last")
    # typed: an empty Python list would be a null-typed value set, which pyarrow refuses
    urls = pa.array(pages["url"].tolist(), pa.string())
    parsed = parse_target(target) if target is not None else None
    columns = [
        "source",
        "target",
        "source_domain",
        "internal",
        "anchor",
        "follow",
        "kind",
        "ordinal",
    ]
    found = _links_to(ds, crawl_id, urls, parsed, columns)
    if found is None:
        expression = pc.field("target").isin(urls)
        if parsed is not None:
            expression = expression & parsed.expression()
        found = ds.edges(crawl_id, columns=columns, filters=expression)
    links = _link_pairs(found)
    links = links.merge(
        pages[["url", "status", "error"]].rename(columns={"url": "target"}), on="target"
    )
    links["referring_domains"] = links.groupby("target")["source_domain"].transform("nunique")
    links = links.sort_values(
        ["referring_domains", "target", "internal", "source"],
        ascending=[False, True, True, True],
        kind="stable",
    ).reset_index(drop=True)
    links["status"] = links["status"].astype("Int16")
    links.attrs.update(crawl_id=crawl_id, target=target)
    if parsed is not None and links.empty:
        has_links = _has_links_to(ds, crawl_id, parsed)
        if not has_links:
            links.attrs["hint"] = _hint(ds, [crawl_id], parsed, "no links to", backlinks=False)
    return links[
        [
            "target",
            "status",
            "error",
            "referring_domains",
            "source",
            "source_domain",
            "internal",
            "anchor",
            "follow",
            "kind",
        ]
    ]


def _links_to(
    ds: Dataset, crawl_id: str, urls: pa.Array, parsed: Target | None, columns: list[str]
) -> pd.DataFrame | None:
    """The edges of a crawl (these columns) whose target is one of ``urls`` (and under
    ``parsed``), in the files' row order, as :meth:`Dataset.edges` gives them; None when
    the part files are not local or DuckDB cannot read them (the caller then asks
    ``Dataset.edges``, which says what is wrong with which file).

    DuckDB tests the target's domain first and decodes the URL columns only where it
    matches; pyarrow's filter decodes every column of every row first."""
    data = ds.arrow("edges", crawl_id)
    files = getattr(data, "files", None) if isinstance(ds.root, Path) else None
    if not files:
        return None
    condition = parsed.sql() if parsed is not None else "true"
    try:
        with _connect() as con:
            con.register("wanted", pa.table({"url": urls}))
            con.register("part_files", pa.table({"filename": files, "part": range(len(files))}))
            con.read_parquet(
                files, hive_partitioning=False, filename=True, file_row_number=True
            ).create_view("edges")
            found = con.sql(
                f"SELECT {', '.join(columns)} FROM edges JOIN part_files USING (filename) "
                f"WHERE {condition} AND target IN (SELECT url FROM wanted) "
                "ORDER BY part, file_row_number"
            ).to_arrow_table()
    except duckdb.Error:
        return None
    schema = pa.schema([data.schema.field(c) for c in columns])
    return found.cast(schema).to_pandas()


def _has_links_to(ds: Dataset, crawl_id: str, parsed: Target) -> bool:
    """Whether any link of the crawl points under ``parsed``, internal ones too."""
    data = ds.arrow("edges", crawl_id)
    files = getattr(data, "files", None) if isinstance(ds.root, Path) else None
    if files:
        try:
            with _connect() as con:
                con.read_parquet(files, hive_partitioning=False).create_view("edges")
                sql = f"SELECT 1 FROM edges WHERE {parsed.sql()} LIMIT 1"
                return bool(con.sql(sql).fetchall())
        except duckdb.Error:
            pass  # Dataset.edges says which file is wrong
    return not ds.edges(crawl_id, columns=["target"], filters=parsed.expression()).empty


# -- prune -----------------------------------------------------------------------------------


def prune(data_dir: Path | str = "data", keep: int = 10, *, dry_run: bool = False) -> list[str]:
    """Remove old crawls: keep the ``keep`` newest finished crawls and every crawl newer
    than the oldest of them; remove the rest, never a running crawl.

    A removed crawl loses its partitions in every table (``edges``, ``pages``,
    ``authority`` and any other ``<table>/crawl_id=<id>/``), its JOBDIR under ``.jobs/``,
    then its manifest. Its manifest is first rewritten with status ``pruning`` (so that
    no reader takes the crawl for a finished one while its rows go, and a prune killed
    half-way is finished by the next, whatever ``keep``); each partition is then moved
    into ``.staging/`` with one rename, so a reader of all crawls never sees part of a
    table's partition. Interrupted crawls newer than the oldest kept finished crawl stay,
    so that they can still be resumed. Staging files of writers that died go too.

    A manifest whose ``crawl_id`` is not its file name is refused (DatasetError, nothing
    removed): which crawl it names cannot be told.

    Parameters
    ----------
    data_dir
        The linkcrawl data directory.
    keep
        How many finished crawls to keep; at least 1.
    dry_run
        Only say which crawls would be removed.

    Returns
    -------
    list of str
        The removed crawl ids (or those that would be), oldest first.

    Examples
    --------
    >>> prune("data", keep=7)                                        # doctest: +SKIP
    ['c20261101T030000Z', 'c20261102T030000Z']
    """
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        raise DatasetError(f"keep must be a whole number of at least 1, not {keep!r}")
    ds = open_dataset(data_dir)
    if not isinstance(ds.root, Path):
        raise DatasetError(f"{ds.root}: prune needs a local data directory (it renames)")
    root: Path = ds.root
    manifests = list(reversed(ds.manifests()))  # oldest first
    for m in manifests:
        if m.path.name != f"{m.crawl_id}.json":
            raise DatasetError(
                f"{m.path}: its crawl_id is {m.crawl_id!r}, not its file name; fix or move "
                "it before pruning (nothing was removed)"
            )
    finished = [m for m in manifests if m.status == "finished"]
    doomed = []
    if len(finished) > keep:
        oldest_kept = manifests.index(finished[-keep])
        protected = _lock_holder(root)
        doomed = [
            m for m in manifests[:oldest_kept] if m.status != "running" and m.crawl_id != protected
        ]
    # A prune killed half-way left these: finished now, whatever their age.
    doomed += [m for m in manifests if m.fields.get("status") == "pruning" and m not in doomed]
    doomed.sort(key=manifests.index)
    if dry_run:
        return [m.crawl_id for m in doomed]
    clean_staging(root)
    for manifest in doomed:
        _remove_crawl(root, manifest)
    return [m.crawl_id for m in doomed]


def _lock_holder(root: Path) -> str | None:
    """The crawl id that holds the data directory's crawl lock (``.crawl.lock``, held by
    ``linkcrawl crawl``) now: between taking the lock and writing its manifest, a resumed
    crawl still reads as interrupted."""
    return crawl_lock_holder(root)


def _remove_crawl(root: Path, manifest: Manifest) -> None:
    crawl_id = manifest.crawl_id
    if manifest.fields.get("status") != "pruning":
        # First, so that a prune killed below never leaves "finished" over missing rows,
        # and an analyze finishing meanwhile sees the crawl going (see staged_partition).
        write_manifest(root, {**manifest.fields, "status": "pruning"})
    staging = root / ".staging"
    staging.mkdir(exist_ok=True)
    partitions = [
        p
        for table in sorted(root.iterdir())
        if table.is_dir() and not table.name.startswith((".", "_")) and table.name != "crawls"
        for p in [table / f"crawl_id={crawl_id}"]
        if p.is_dir()
    ]
    jobdir = root / ".jobs" / crawl_id
    if jobdir.is_dir():
        partitions.append(jobdir)
    for partition in partitions:
        # The owner suffix lets a later clean-up tell whose leftover this is.
        parked = staging / (
            f"pruned-{partition.parent.name}-{crawl_id}~{socket.gethostname()}~"
            f"{os.getpid()}~{time.monotonic_ns()}"
        )
        try:
            os.replace(partition, parked)
        except FileNotFoundError:
            continue  # an analyze replacing its tables moved it aside meanwhile
        shutil.rmtree(parked, ignore_errors=True)
    # Last: with its partitions gone, a crash here leaves a manifest a rerun removes.
    manifest.path.unlink(missing_ok=True)
