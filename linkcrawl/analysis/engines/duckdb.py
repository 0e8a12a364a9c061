"""`linkcrawl analyze --engine duckdb`: the analysis as SQL over the Parquet dataset in
DuckDB, under a memory limit, for link graphs larger than RAM.

It writes the same three authority tables as the default sparse engine, by the rules of
:class:`~linkcrawl.analysis.definition.Definition` (its weights, damping, tolerance, floor,
scale and orders, turned into SQL): URLs numbered by first appearance (sources, then
targets, then fetched pages, in file order), repeated link rows of a resumed crawl dropped,
self-links dropped, parallel links collapsed at their highest weight. DuckDB reads the part
files, joins, aggregates and sorts, spilling to ``temp_directory`` when the memory limit is
reached; the tables stream out of it, a row group at a time, into the Parquet writer.
PageRank runs in this process's memory (the definition's power iteration) when the
collapsed graph fits in half the limit, else as SQL in DuckDB.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from linkcrawl.analysis.definition import (
    HOST_PATTERN,
    INBOUND_ORDER,
    RANK_ORDER,
    Definition,
    authority_scale,
    authority_sql,
    floor,
    order_sql,
)
from linkcrawl.analysis.engines import DuckDBOptions
from linkcrawl.analysis.iteration import power_iteration, transition_matrix
from linkcrawl.dataset.layout import RemotePath
from linkcrawl.dataset.reader import Dataset
from linkcrawl.dataset.schemas import (
    DOMAINS_SCHEMA,
    INBOUND_SCHEMA,
    PAGE_AUTHORITY_SCHEMA,
    ROW_GROUP_SIZE,
)
from linkcrawl.dataset.write import _staging_file, write_tables_atomic
from linkcrawl.errors import DatasetError, LinkcrawlError
from linkcrawl.extract.urls import registered_domain

__all__ = ["ENGINE", "DuckDBEngine"]

# Row keys: file index and row number within the file in one BIGINT, so that "first seen"
# is a min() and file order an ORDER BY. The top bits say which column a URL was seen in
# (sources before targets before fetched pages, as the sparse engine numbers them).
_FILE_SHIFT = 40
_SIDE_SHIFT = 60
# Progress lines during PageRank: one every this many iterations.
_PROGRESS_EVERY = 10
# What PageRank in this process's memory takes, at its peak, per link of the collapsed
# graph (the links fetched from DuckDB, the matrix being built, scipy's CSR of it) and per
# node (the iterates, the dangling mask, the results).
_BYTES_PER_LINK = 64
_BYTES_PER_NODE = 64
# The string column of each numbered table.
_STRING_COLUMN = {"urls": "url", "domains": "domain"}


class DuckDBEngine:
    """The :class:`~linkcrawl.analysis.engines.Engine` of ``--engine duckdb``."""

    def analyze(
        self,
        dataset: Dataset,
        crawl_id: str,
        definition: Definition,
        out: Path | RemotePath,
        options: DuckDBOptions | None,
        say: Callable[[str], None],
    ) -> None:
        """Write the three authority tables of ``crawl_id`` into the folder ``out``.

        Raises LinkcrawlError for a missing DuckDB, a bad memory limit or thread count;
        DatasetError for an unreadable part file, or when DuckDB ran out of memory under
        the limit.
        """
        options = options or DuckDBOptions()
        _check_threads(options.threads)
        duckdb = _import_duckdb()
        edge_files = _files(dataset, "edges", crawl_id)
        page_files = _files(dataset, "pages", crawl_id)
        root, out = _local(dataset.root), _local(out)
        staging = root / ".staging"
        own_temp = options.temp_directory is None
        # A directory named as staging files are, so that its owner can be told;
        # clean_staging removes it only once that process is gone.
        temp = Path(options.temp_directory or _staging_file(staging, "duckdb"))
        try:
            con = _connect(duckdb, options.memory_limit, options.threads, temp)
            try:
                with con:
                    _Analysis(con, crawl_id, definition, say).run(
                        edge_files, page_files, out, staging
                    )
            except duckdb.OutOfMemoryException as exc:
                raise DatasetError(
                    "DuckDB ran out of memory under memory_limit="
                    f"{options.memory_limit or 'default'} ({_first_line(exc)}); raise "
                    "--memory-limit or give a temp directory with more room"
                ) from None
            except (duckdb.IOException, duckdb.InvalidInputException) as exc:
                raise DatasetError(f"{root}: crawl {crawl_id}: {_first_line(exc)}") from None
        finally:
            if own_temp:
                shutil.rmtree(temp, ignore_errors=True)


ENGINE = DuckDBEngine()


def _local(path: Path | RemotePath) -> Path:
    if isinstance(path, RemotePath):
        raise DatasetError(f"{path}: the duckdb engine needs a local data directory")
    return Path(path)


def _check_threads(threads: int | None) -> None:
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise LinkcrawlError(f"bad thread count {threads!r}: use a whole number >= 1")


def _import_duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise LinkcrawlError(
            "the duckdb engine needs DuckDB: pip install 'linkcrawl[duckdb]'"
        ) from None
    return duckdb


def _connect(duckdb: Any, memory_limit: str | None, threads: int | None, temp: Path) -> Any:
    """An in-memory DuckDB that spills to ``temp``; bad settings raise one clear line."""
    config: dict[str, Any] = {
        "temp_directory": str(temp),
        # Nothing here relies on insertion order (every order is an ORDER BY on row keys),
        # and keeping it costs memory in large joins and aggregates.
        "preserve_insertion_order": False,
    }
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = str(memory_limit)
    try:
        return duckdb.connect(":memory:", config=config)
    except duckdb.Error as exc:
        if memory_limit is not None and "emory" in str(exc):
            raise LinkcrawlError(
                f"bad memory limit {memory_limit!r}: use a size such as 2GB or 500MB"
            ) from None
        raise LinkcrawlError(f"cannot start DuckDB: {_first_line(exc)}") from None


def _files(ds: Dataset, table: str, crawl_id: str) -> list[str]:
    """The part files of one table of one crawl, in the order the sparse engine reads them
    (corrupt ones left out when the dataset was opened with skip_corrupt)."""
    return list(getattr(ds.arrow(table, crawl_id), "files", None) or [])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def _bytes(size: str) -> int | None:
    """Bytes in a size as DuckDB prints one (``1.8 GiB``); None if it is not one."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", str(size))
    if not match or match.group(2).lower() not in _UNITS:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_float(value: float) -> str:
    # repr round-trips a double exactly; DuckDB reads it as a DOUBLE literal.
    return f"{float(value)!r}::DOUBLE"


@dataclass
class _Analysis:
    """The steps of one analysis on one DuckDB connection. Tables are created in the
    connection's in-memory database and spill to its temp directory."""

    con: Any
    crawl_id: str
    definition: Definition
    say: Callable[[str], None]
    _unique_hashes: dict[str, bool] = field(default_factory=dict)
    _memory_limit: int | None = None

    def sql(self, query: str) -> None:
        self.con.execute(query)

    def scalar(self, query: str) -> Any:
        return self.con.execute(query).fetchall()[0][0]

    # -- the steps --------------------------------------------------------------------------

    def run(self, edge_files: list[str], page_files: list[str], out: Path, staging: Path) -> None:
        self.read(edge_files, page_files)
        n, n_dom = self.number()
        n_links = self.links()
        self.say(f"analyze {self.crawl_id}: {n} pages, {n_links} links, {n_dom} domains")
        self.say(f"analyze {self.crawl_id}: page PageRank done ({self.page_pagerank(n)})")
        pages = out / "pages.parquet"
        _write_parquet(self.con, self.pages_queries(), PAGE_AUTHORITY_SCHEMA, pages, staging)
        self.say(f"analyze {self.crawl_id}: domain PageRank done ({self.domain_pagerank(n_dom)})")
        inbound = out / "inbound.parquet"
        _write_parquet(
            self.con,
            self.inbound_queries(),
            INBOUND_SCHEMA,
            inbound,
            staging,
        )
        domains = out / "domains.parquet"
        _write_parquet(self.con, self.domains_queries(), DOMAINS_SCHEMA, domains, staging)

    def read(self, edge_files: list[str], page_files: list[str]) -> None:
        """Views over the part files, each row keyed by (file index, row number)."""
        key = f"(file_index::BIGINT << {_FILE_SHIFT}) | file_row_number"
        if edge_files:
            files = "[" + ", ".join(_sql_string(f) for f in edge_files) + "]"
            self.sql(
                f"""CREATE VIEW e AS SELECT source, target, anchor, rel, follow, position, kind,
                    ordinal, source_domain, target_domain, {key} AS rk
                FROM read_parquet({files}, file_row_number = true, hive_partitioning = false)"""
            )
        else:
            self.sql(
                """CREATE VIEW e AS SELECT NULL::VARCHAR AS source, NULL::VARCHAR AS target,
                    NULL::VARCHAR AS anchor, NULL::VARCHAR AS rel, NULL::BOOLEAN AS follow,
                    NULL::VARCHAR AS position, NULL::VARCHAR AS kind, NULL::INTEGER AS ordinal,
                    NULL::VARCHAR AS source_domain, NULL::VARCHAR AS target_domain,
                    NULL::BIGINT AS rk
                WHERE false"""
            )
        if page_files:
            files = "[" + ", ".join(_sql_string(f) for f in page_files) + "]"
            self.sql(
                f"""CREATE VIEW p AS SELECT url, {key} AS rk
                FROM read_parquet({files}, file_row_number = true, hive_partitioning = false)"""
            )
        else:
            self.sql("CREATE VIEW p AS SELECT NULL::VARCHAR AS url, NULL::BIGINT AS rk WHERE false")

    def number(self) -> tuple[int, int]:
        """Page ids and domain ids by first appearance, as the sparse engine numbers them;
        each page's domain. Returns (pages, domains)."""
        src, tgt, pag = (f"({side}::BIGINT << {_SIDE_SHIFT})" for side in (0, 1, 2))
        # First appearance and domain of each URL, per column first: a source URL fills a
        # run of rows, so its column aggregates fast, and the costly target column carries
        # nothing else. A page's domain comes from its rows as a source, else as a target
        # (the last row of each, as the sparse engine's array assignment leaves it).
        self.sql(
            """CREATE TABLE source_first AS
            SELECT source AS url, min(rk) AS k, arg_max(source_domain, rk) AS dom
            FROM e GROUP BY source"""
        )
        self.sql(
            """CREATE TABLE target_first AS
            SELECT target AS url, min(rk) AS k, arg_max(target_domain, rk) AS dom
            FROM e GROUP BY target"""
        )
        self.sql(
            f"""CREATE TABLE url_first AS
            SELECT url, min(k) AS k,
                any_value(dom) FILTER (WHERE side = 0) AS source_dom,
                any_value(dom) FILTER (WHERE side = 1) AS target_dom
            FROM (
                SELECT url, k | {src} AS k, dom, 0 AS side FROM source_first
                UNION ALL SELECT url, k | {tgt}, dom, 1 FROM target_first
                UNION ALL SELECT url, rk | {pag}, NULL, 2 FROM p
            ) GROUP BY url"""
        )
        self.sql("DROP TABLE source_first")
        self.sql("DROP TABLE target_first")
        self.sql(
            """CREATE TABLE urls AS
            SELECT (row_number() OVER (ORDER BY k) - 1)::BIGINT AS id, url,
                coalesce(source_dom, target_dom) AS dom, hash(url) AS h
            FROM url_first"""
        )
        self.sql("DROP TABLE url_first")
        self.sql(
            f"""CREATE TABLE dom_first AS
            SELECT dom, min(k) AS k FROM (
                SELECT source_domain AS dom, rk | {src} AS k FROM e
                UNION ALL SELECT target_domain, rk | {tgt} FROM e
            ) GROUP BY dom"""
        )
        self._domains_of_linkless_pages(pag)
        self.sql(
            """CREATE TABLE domains AS
            SELECT (row_number() OVER (ORDER BY k) - 1)::BIGINT AS id, dom AS domain,
                hash(dom) AS h
            FROM dom_first"""
        )
        self.sql("DROP TABLE dom_first")
        self.sql(
            """CREATE TABLE page_domain AS
            SELECT u.id, d.id AS dom_id FROM urls u JOIN domains d ON u.dom = d.domain"""
        )
        return self.scalar("SELECT count(*) FROM urls"), self.scalar("SELECT count(*) FROM domains")

    def _domains_of_linkless_pages(self, page_side: str) -> None:
        """Fetched pages that neither link nor are linked to: their hosts' registered
        domains (tldextract, once per distinct host, in Python: hosts are few), appended
        to the domains in the order of those pages' ids."""
        hosts = self.con.execute(
            f"""SELECT DISTINCT regexp_extract(url, {_sql_string(HOST_PATTERN)}, 1) AS host
            FROM urls WHERE dom IS NULL"""
        ).fetchall()
        if not hosts:
            return
        mapping = pa.table(
            {
                "host": pa.array([h for (h,) in hosts], pa.string()),
                "domain": pa.array([registered_domain(h or "") for (h,) in hosts], pa.string()),
            }
        )
        self.con.register("host_domain", mapping)
        self.sql(
            f"""UPDATE urls SET dom = hd.domain FROM host_domain hd
            WHERE urls.dom IS NULL
                AND regexp_extract(urls.url, {_sql_string(HOST_PATTERN)}, 1) = hd.host"""
        )
        self.con.unregister("host_domain")
        # A page's domain already known keeps its id; new ones come after, by page id.
        self.sql(
            f"""INSERT INTO dom_first
            SELECT u.dom, min(u.id) | {page_side} FROM urls u
            ANTI JOIN dom_first d ON u.dom = d.dom
            GROUP BY u.dom"""
        )

    def _match(self, column: str, alias: str, table: str) -> str:
        """The join condition of a string column with ``table`` (urls or domains) under
        ``alias``: on their 64-bit hashes, a third faster than on strings, when no two
        strings of ``table`` share a hash (every string joined is in it); else on the
        strings."""
        if table not in self._unique_hashes:
            self._unique_hashes[table] = self.scalar(
                f"SELECT count(DISTINCT h) = count(*) FROM {table}"
            )
        if self._unique_hashes[table]:
            return f"hash({column}) = {alias}.h"
        return f"{column} = {alias}.{_STRING_COLUMN[table]}"

    def links(self) -> int:
        """Link rows as ids and weights, one per (source, ordinal, target, kind): the first
        in file order, as a resumed crawl may hold a page twice. Returns how many."""
        self.sql(
            f"""CREATE TABLE links AS
            SELECT e.rk, s.id AS s, t.id AS t, sd.id AS sd, td.id AS td, e.ordinal, e.kind,
                e.follow,
                CAST({self.definition.weight_sql("e.follow", "e.kind", "e.position")} AS DOUBLE)
                    AS w,
                -- Only links between domains reach inbound.parquet: their strings are
                -- kept here, which spares joins of the URLs back in when it is written.
                CASE WHEN sd.id <> td.id THEN e.position END AS position,
                CASE WHEN sd.id <> td.id THEN e.anchor END AS anchor,
                CASE WHEN sd.id <> td.id THEN e.rel END AS rel,
                CASE WHEN sd.id <> td.id THEN e.source END AS source_url,
                CASE WHEN sd.id <> td.id THEN e.target END AS target_url
            FROM e
            JOIN urls s ON {self._match("e.source", "s", "urls")}
            JOIN urls t ON {self._match("e.target", "t", "urls")}
            JOIN domains sd ON {self._match("e.source_domain", "sd", "domains")}
            JOIN domains td ON {self._match("e.target_domain", "td", "domains")}"""
        )
        # Distinct hashes of the four columns: a third of the time of grouping by them. Two
        # links that share a hash only cost the exact pass below, which finds no repeat.
        rows, distinct = self.con.execute(
            "SELECT count(*), count(DISTINCT hash(s, ordinal, t, kind)) FROM links"
        ).fetchall()[0]
        if rows > distinct:
            self.sql(
                """CREATE OR REPLACE TABLE links AS SELECT * FROM links
                QUALIFY row_number() OVER (PARTITION BY s, ordinal, t, kind ORDER BY rk) = 1"""
            )
            kept = self.scalar("SELECT count(*) FROM links")
            if kept < rows:
                self.say(f"analyze {self.crawl_id}: dropped {rows - kept} repeated link rows")
            rows = kept
        return int(rows)

    def page_pagerank(self, n: int) -> str:
        """Page PageRank over the collapsed links of positive weight (page_rank: id,
        pagerank, authority; page_out: id, out_weight). Returns "N iterations, S s"."""
        self.sql(
            """CREATE TABLE page_graph AS
            SELECT s, t, max(w) AS w FROM links WHERE s <> t AND w > 0 GROUP BY s, t"""
        )
        self.sql(
            """CREATE TABLE page_out AS
            SELECT s AS id, sum(w) AS out_weight FROM page_graph GROUP BY s"""
        )
        done = self._pagerank("page", "page_graph", "page_out", n)
        self.sql("DROP TABLE page_graph")
        return done

    def domain_pagerank(self, n_dom: int) -> str:
        """Domain PageRank: A -> B when a followed link goes from a page on A to a page on
        B, A != B, unweighted. Returns "N iterations, S s"."""
        self.sql(
            """CREATE TABLE domain_graph AS
            SELECT DISTINCT sd AS s, td AS t, 1.0::DOUBLE AS w FROM links
            WHERE sd <> td AND follow"""
        )
        self.sql(
            """CREATE TABLE domain_out AS
            SELECT s AS id, sum(w) AS out_weight FROM domain_graph GROUP BY s"""
        )
        done = self._pagerank("domain", "domain_graph", "domain_out", n_dom)
        self.sql("DROP TABLE domain_graph")
        return done

    def _pagerank(self, name: str, graph: str, out: str, n: int) -> str:
        """PageRank of the collapsed links of ``graph`` (s, t, w) by the definition's power
        iteration; writes ``<name>_rank`` (id, pagerank, authority). Returns "N iterations
        <where>, S s" (S: the iterations' time).

        The matrix and the rank vectors go into this process's memory, for
        :func:`~linkcrawl.analysis.iteration.power_iteration`, when they take at most half
        of the memory limit (DuckDB's own limit is lowered by as much meanwhile); larger
        graphs iterate in DuckDB, out of core."""
        if n == 0:
            self.sql(
                f"""CREATE TABLE {name}_rank
                (id BIGINT, pagerank DOUBLE, authority DOUBLE)"""
            )
            return "0 iterations, 0.0 s"
        links = int(self.scalar(f"SELECT count(*) FROM {graph}"))
        need = _BYTES_PER_LINK * links + _BYTES_PER_NODE * n
        limit = self.memory_limit()
        if need <= limit // 2:
            self.sql(f"SET memory_limit = '{limit - need}B'")
            try:
                return self._pagerank_in_memory(name, graph, n)
            finally:
                self.sql(f"SET memory_limit = '{limit}B'")
        return self._pagerank_in_duckdb(name, graph, out, n)

    def memory_limit(self) -> int:
        """DuckDB's memory limit in bytes, as configured when the connection was made."""
        if self._memory_limit is None:
            limit = _bytes(self.scalar("SELECT current_setting('memory_limit')"))
            self._memory_limit = limit if limit is not None else 2**31
        return self._memory_limit

    def _pagerank_in_memory(self, name: str, graph: str, n: int) -> str:
        definition = self.definition
        links = self.con.execute(f"SELECT s, t, w FROM {graph}").fetchnumpy()
        P, dangling = transition_matrix(links["s"], links["t"], links["w"], n, definition.damping)
        del links
        started = time.perf_counter()
        pagerank, iterations = power_iteration(
            P,
            dangling,
            damping=definition.damping,
            tol=definition.tol,
            max_iter=definition.max_iter,
            what=f"{name} PageRank",
        )
        seconds = time.perf_counter() - started
        linked = np.diff(P.indptr) > 0  # row v of d·Pᵀ holds v's counted inlinks
        del P
        lowest = floor(float(pagerank[dangling].sum()), n, definition.damping)
        ranks = pa.table(
            {
                "id": pa.array(np.arange(n, dtype=np.int64)),
                "pagerank": pa.array(pagerank),
                "authority": pa.array(authority_scale(pagerank, lowest, linked)),
            }
        )
        self.con.register(f"{name}_rank_arrow", ranks)
        try:
            self.sql(f"CREATE TABLE {name}_rank AS SELECT * FROM {name}_rank_arrow")
        finally:
            self.con.unregister(f"{name}_rank_arrow")
        return f"{iterations} iterations in memory, {seconds:.1f} s"

    def _pagerank_in_duckdb(self, name: str, graph: str, out: str, n: int) -> str:
        """Power iteration as SQL, one table per iterate, as
        :func:`~linkcrawl.analysis.iteration.power_iteration` computes it."""
        damping = self.definition.damping
        d = _sql_float(damping)
        # The transition matrix, pre-normalised: p = d * w / out_weight(source). Stored in
        # source order, each iteration's join reads the iterate in order: twice as fast.
        self.sql(
            f"""CREATE TABLE {name}_matrix AS
            SELECT g.s, g.t, g.w / o.out_weight * {d} AS p
            FROM {graph} g JOIN {out} o ON g.s = o.id
            ORDER BY g.s"""
        )
        self.sql(
            f"""CREATE TABLE {name}_x AS
            SELECT r.range AS id, 1.0::DOUBLE / {n} AS r, o.id IS NULL AS dangling
            FROM range({n}) r LEFT JOIN {out} o ON r.range = o.id"""
        )
        self._perfect_aggregate(n)
        jump = _sql_float((1.0 - damping) / n)
        started = time.perf_counter()
        for iteration in range(1, self.definition.max_iter + 1):
            # x' = P^T x + d * (rank of dangling nodes) / n + (1 - d) / n
            self.sql(
                f"""CREATE OR REPLACE TABLE {name}_x_next AS
                WITH spread AS (
                    SELECT {d} * coalesce(sum(r) FILTER (WHERE dangling), 0.0) / {n} + {jump}
                        AS b
                    FROM {name}_x
                ),
                passed AS (
                    SELECT m.t AS id, sum(m.p * x.r) AS v
                    FROM {name}_matrix m JOIN {name}_x x ON m.s = x.id
                    GROUP BY m.t
                )
                SELECT x.id, coalesce(passed.v, 0.0) + spread.b AS r, x.r AS r_old, x.dangling
                FROM {name}_x x LEFT JOIN passed ON x.id = passed.id, spread"""
            )
            self.sql(f"DROP TABLE {name}_x")
            self.sql(f"ALTER TABLE {name}_x_next RENAME TO {name}_x")
            err = self.scalar(f"SELECT sum(abs(r - r_old)) FROM {name}_x")
            if iteration % _PROGRESS_EVERY == 0:
                self.say(
                    f"analyze {self.crawl_id}: {name} PageRank iteration {iteration}, "
                    f"L1 change {err:.3g}"
                )
            if err < self.definition.tol:
                break
        else:
            raise DatasetError(
                f"{name} PageRank did not converge to L1 < {self.definition.tol} in "
                f"{self.definition.max_iter} iterations"
            )
        seconds = time.perf_counter() - started
        self.sql(f"DROP TABLE {name}_matrix")
        total = self.scalar(f"SELECT sum(r) FROM {name}_x")
        self.sql(
            f"""CREATE TABLE {name}_pr AS
            SELECT x.id, x.r / {_sql_float(total)} AS pagerank, x.dangling,
                x.id IN (SELECT t FROM {graph}) AS linked
            FROM {name}_x x"""
        )
        self.sql(f"DROP TABLE {name}_x")
        top, dangling_sum = self.con.execute(
            f"""SELECT max(pagerank), coalesce(sum(pagerank) FILTER (WHERE dangling), 0.0)
            FROM {name}_pr"""
        ).fetchall()[0]
        authority = authority_sql("pagerank", "linked", floor(dangling_sum, n, damping), top)
        self.sql(
            f"""CREATE TABLE {name}_rank AS
            SELECT id, pagerank, {authority} AS authority FROM {name}_pr"""
        )
        self.sql(f"DROP TABLE {name}_pr")
        return f"{iteration} iterations in DuckDB, {seconds:.1f} s"

    def _perfect_aggregate(self, n: int) -> None:
        """Let DuckDB sum each iterate's shares per target in an array indexed by node id
        (a "perfect hash" aggregate) instead of a hash table: a third of the time of an
        iteration on a million nodes. The array holds 2^bits slots per thread; it is used
        only while those fit easily in the memory limit, else the hash table (which can
        spill) stays."""
        bits = max(1, n - 1).bit_length()
        threads = int(self.scalar("SELECT current_setting('threads')"))
        # ~32 bytes a slot (key, sum state, validity), a quarter of the limit at most.
        if bits > 12 and (32 << bits) * threads <= self.memory_limit() // 4:
            self.sql(f"SET perfect_ht_threshold = {bits}")
        else:
            self.sql("RESET perfect_ht_threshold")

    # -- the tables -------------------------------------------------------------------------

    def chunk_rows(self) -> int:
        """Rows of an output table sorted at a time. Sorting rows that carry URL strings
        takes more memory than DuckDB spills gracefully, so each table is written as
        several ordered queries over ranges of its sort key, each one in memory."""
        return max(ROW_GROUP_SIZE, self.memory_limit() // 1000)

    def _counts(self, key: str, table: str) -> None:
        """Referring domains, inbound links and the followed share over the links from
        other domains, per ``key`` (t or td), as authority._inbound_counts does; per page
        (t) also inlinks, the links from any other page. A share over no links is NULL
        (DuckDB's x / 0), as the sparse engine's NaN is written."""
        inlinks = ", count(*) FILTER (WHERE s <> t) AS inlinks" if key == "t" else ""
        cross = "sd <> td"
        self.sql(
            f"""CREATE TABLE {table} AS
            SELECT {key} AS id, count(*) FILTER (WHERE {cross}) AS inbound_links,
                count(DISTINCT sd) FILTER (WHERE {cross}) AS referring_domains,
                (count(*) FILTER (WHERE {cross} AND follow))::DOUBLE
                    / count(*) FILTER (WHERE {cross}) AS follow_share{inlinks}
            FROM links GROUP BY {key}"""
        )

    def _ordered(self, name: str) -> int:
        """``<name>_order``: each node's place in the table, strongest first, ties in id
        (first seen) order; returns the number of nodes."""
        self.sql(
            f"""CREATE TABLE {name}_order AS
            SELECT id, row_number() OVER (ORDER BY {order_sql(RANK_ORDER)}) AS place
            FROM {name}_rank"""
        )
        return self.scalar(f"SELECT count(*) FROM {name}_order")

    def _by_place(self, n: int, query: str) -> Iterator[str]:
        """``query`` (with ``{lo}`` and ``{hi}`` for a range of places) once per chunk."""
        step = self.chunk_rows()
        for lo in range(0, max(n, 1), step):
            yield query.format(lo=lo, hi=lo + step)

    def pages_queries(self) -> Iterator[str]:
        """pages.parquet: one row per page, strongest first."""
        self._counts("t", "page_counts")
        n = self._ordered("page")
        return self._by_place(
            n,
            """SELECT u.url, dn.domain, r.pagerank, r.authority,
                coalesce(c.inlinks, 0) AS inlinks,
                coalesce(c.referring_domains, 0) AS referring_domains,
                coalesce(c.inbound_links, 0) AS inbound_links,
                c.follow_share
            FROM page_order o
            JOIN page_rank r ON r.id = o.id
            JOIN urls u ON u.id = o.id
            JOIN page_domain pd ON pd.id = o.id
            JOIN domains dn ON dn.id = pd.dom_id
            LEFT JOIN page_counts c ON c.id = o.id
            WHERE o.place > {lo} AND o.place <= {hi}
            ORDER BY o.place""",
        )

    def domains_queries(self) -> Iterator[str]:
        """domains.parquet: one row per domain, strongest first."""
        self._counts("td", "domain_counts")
        n = self._ordered("domain")
        return self._by_place(
            n,
            """SELECT dn.domain, r.pagerank, r.authority,
                coalesce(c.referring_domains, 0) AS referring_domains,
                coalesce(c.inbound_links, 0) AS inbound_links,
                c.follow_share
            FROM domain_order o
            JOIN domain_rank r ON r.id = o.id
            JOIN domains dn ON dn.id = o.id
            LEFT JOIN domain_counts c ON c.id = o.id
            WHERE o.place > {lo} AND o.place <= {hi}
            ORDER BY o.place""",
        )

    def inbound_queries(self) -> Iterator[str]:
        """inbound.parquet: one row per link from another domain, valued by the PageRank it
        passes: value = d · PR(source) · w / Σ w(source's collapsed links). Rows in target
        domain id order (first seen), then by value, source authority and file order, as
        the sparse engine writes them; the writer numbers the rank within each target
        domain (``_group``). Written a range of target domains at a time."""
        d = _sql_float(self.definition.damping)
        self.sql(
            f"""CREATE TABLE inbound_rows AS
            SELECT l.rk, l.s, l.sd, l.td, l.source_url, l.target_url, l.anchor, l.rel,
                l.follow, l.position, l.kind,
                r.authority AS source_authority,
                dr.authority AS source_domain_authority,
                {d} * r.pagerank * CASE WHEN o.out_weight > 0
                    THEN l.w / o.out_weight ELSE 0.0 END AS value
            FROM links l
            JOIN page_rank r ON r.id = l.s
            JOIN domain_rank dr ON dr.id = l.sd
            LEFT JOIN page_out o ON o.id = l.s
            WHERE l.sd <> l.td"""
        )
        # Target domains are few next to links: their row counts come to Python to cut
        # the ranges.
        sizes = self.con.execute(
            "SELECT td, count(*) FROM inbound_rows GROUP BY td ORDER BY td"
        ).fetchall()
        query = """SELECT i.target_url AS target, dt.domain AS target_domain,
                i.source_url AS source, ds.domain AS source_domain, i.anchor, i.rel, i.follow,
                i.position, i.kind, i.source_authority, i.source_domain_authority, i.value,
                i.td AS _group
            FROM inbound_rows i
            JOIN domains dt ON dt.id = i.td
            JOIN domains ds ON ds.id = i.sd
            WHERE i.td >= {lo} AND i.td <= {hi}
            ORDER BY i.td, """ + order_sql(
            INBOUND_ORDER, value="i.value", source_authority="i.source_authority", row="i.rk"
        )
        if not sizes:
            return iter([query.format(lo=0, hi=-1)])
        step = self.chunk_rows()
        ranges: list[tuple[int, int]] = []
        rows = 0
        for td, count in sizes:
            if ranges and rows + count <= step:
                ranges[-1] = (ranges[-1][0], td)
                rows += count
            else:
                ranges.append((td, td))
                rows = count
        return (query.format(lo=lo, hi=hi) for lo, hi in ranges)


def _batches(con: Any, queries: Iterable[str]) -> Iterator[pa.RecordBatch]:
    """The result batches of several queries, one after the other, each streamed."""
    for query in queries:
        reader = con.sql(query).to_arrow_reader(ROW_GROUP_SIZE)
        try:
            yield from reader
        finally:
            reader.close()


def _ranked(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """``batches`` with a ``rank`` column appended: 1, 2, ... in the order the rows come,
    restarting at 1 where the ``_group`` column (if there is one) changes. Counting in the
    stream spares DuckDB a window over the whole table."""
    group, count = None, 0
    for batch in batches:
        n = batch.num_rows
        if n == 0:
            continue
        index = np.arange(n, dtype=np.int64)
        if "_group" in batch.schema.names:
            g = batch.column("_group").to_numpy(zero_copy_only=False)
            starts = np.empty(n, dtype=bool)
            starts[0] = g[0] != group
            np.not_equal(g[1:], g[:-1], out=starts[1:])
            # Rows before the batch's first group start continue the previous group.
            start = np.maximum.accumulate(np.where(starts, index, -1))
            rank = np.where(start >= 0, index - start, count + index) + 1
            group = g[-1]
            batch = batch.drop_columns(["_group"])
        else:
            rank = count + index + 1
        count = int(rank[-1])
        yield pa.RecordBatch.from_arrays(
            [*batch.columns, pa.array(rank)], names=[*batch.schema.names, "rank"]
        ).cast(schema)


def _write_parquet(
    con: Any,
    queries: Iterable[str],
    schema: pa.Schema,
    path: Path,
    staging: Path,
) -> None:
    """Stream the results of ``queries`` (the columns of ``schema`` but rank, in order, and
    an optional ``_group`` to rank within) into one Parquet file with the options of
    :func:`~linkcrawl.storage.write_table_atomic` (``dictionary``: the columns to
    dictionary-encode), atomically (staged, fsynced, renamed). A thread encodes and
    compresses each row group while DuckDB makes the next."""
    write_tables_atomic(_ranked(_batches(con, queries), schema), schema, path, staging)
