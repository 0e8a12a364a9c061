"""`linkcrawl analyze --engine spark`: the authority tables of one crawl computed with PySpark
DataFrame joins, on a cluster or on ``local[N]``.

The same computation as :func:`linkcrawl.analysis.authority.analyze` (docs/authority.md),
step by step, with Spark doing the work that grows with the crawl: numbering URLs, the
de-duplication of resumed crawls, the collapse of parallel links, the PageRank power
iteration (one join and one aggregate per step, page and domain graph in the same steps),
the counts and the ranking of inbound links. The driver holds only a few numbers per
iteration. Spark writes each table sorted into ``data/.staging/``; its part files are then
streamed, row group by row group, into the one Parquet file of the contract.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from linkcrawl.analysis.definition import (
    HOST_PATTERN,
    INBOUND_ORDER,
    RANK_ORDER,
    Definition,
    authority_sql,
    floor,
)
from linkcrawl.analysis.engines import SparkOptions
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

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["ENGINE", "SparkEngine"]

INSTALL_HINT = "the spark engine needs PySpark: pip install 'linkcrawl[spark]'"

# A first-seen key orders the URLs (and the domains) as the sparse engine numbers them: by
# the column of first appearance (sources, then targets, then fetched pages), then by row.
# A row is (part file index, row in the file), each part file sorted by name as the
# dataset lists them. The key itself serves as the node id: unique, and in id order.
_ROW_BITS = 40  # rows per part file < 2^40
_COLUMN_SHIFT = 61  # part files < 2^21
_SOURCE, _TARGET, _PAGE = 0, 1, 2
# Graph of a node in the PageRank loop: both graphs iterate in the same Spark jobs.
_PAGES, _DOMAINS = 0, 1
_PROGRESS_EVERY = 10  # iterations between progress lines

# Console logging of a session this module starts: errors only, so that the progress lines
# of `linkcrawl analyze` stay readable (Spark's INFO/WARN lines run to hundreds).
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
"""


class SparkEngine:
    """The :class:`~linkcrawl.analysis.engines.Engine` of ``--engine spark``."""

    def analyze(
        self,
        dataset: Dataset,
        crawl_id: str,
        definition: Definition,
        out: Path | RemotePath,
        options: SparkOptions | None,
        say: Callable[[str], None],
    ) -> None:
        """Write the three authority tables of ``crawl_id`` into the folder ``out``.

        ``options.master`` is the Spark master of the session started here (``local[N]``,
        ``spark://HOST:PORT``, ``yarn``...), ignored when a SparkSession is already active
        in this thread (a notebook's or a test's): that one is used as it is, and left
        running. ``options.spark_conf``: extra settings for the session started here.
        With a cluster master the data directory must be a path that the driver and every
        executor see: executors read the part files and write under ``data/.staging/``.

        Raises LinkcrawlError when PySpark is not installed, Java cannot be started or an
        option is not of its type; DatasetError when PageRank does not converge.
        """
        options = options or SparkOptions()
        _check_options(options)
        if isinstance(dataset.root, RemotePath) or isinstance(out, RemotePath):
            raise DatasetError(f"{dataset.root}: the spark engine needs a local data directory")
        edge_files = [Path(f) for f in getattr(dataset.arrow("edges", crawl_id), "files", [])]
        page_files = [Path(f) for f in getattr(dataset.arrow("pages", crawl_id), "files", [])]
        with _session(options.master, options.spark_conf, say) as spark:
            _Run(spark, Path(dataset.root), crawl_id, definition, say).run(
                edge_files, page_files, Path(out)
            )


ENGINE = SparkEngine()


def _check_options(options: SparkOptions) -> None:
    if not isinstance(options.master, str) or not options.master.strip():
        raise LinkcrawlError(
            f"bad Spark master {options.master!r}: use local[N], spark://HOST:PORT or yarn"
        )
    conf = options.spark_conf
    if not isinstance(conf, Mapping) or not all(isinstance(k, str) for k in conf):
        raise LinkcrawlError(f"bad Spark settings {conf!r}: use a mapping of names to values")


# -- the session ------------------------------------------------------------------------------


def _import_pyspark() -> Any:
    try:
        # PySpark warns (FutureWarning) about pandas >= 3 on import and session start; it
        # does not concern this module, which moves no data through pandas.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*PySpark", category=FutureWarning)
            import pyspark.sql
    except ImportError:
        raise LinkcrawlError(INSTALL_HINT) from None
    return pyspark.sql


def _java_problem() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").is_file():
        return None
    if shutil.which("java"):
        return None
    return "the spark engine needs Java 17 or newer: no java on PATH and JAVA_HOME is not set"


@contextmanager
def _session(
    master: str, spark_conf: Mapping[str, str] | None, say: Callable[[str], None]
) -> Iterator[SparkSession]:
    """The SparkSession active in this thread, left running; or a new one on ``master``,
    stopped at the end (which also ends its executors; the JVM stays for the process)."""
    sql = _import_pyspark()
    active = sql.SparkSession.getActiveSession()
    if active is not None:
        say(f"spark: using the active session ({active.sparkContext.master})")
        yield active
        return
    problem = _java_problem()
    if problem:
        raise LinkcrawlError(problem)
    conf = {
        "spark.app.name": "linkcrawl analyze",
        # The console progress bar would overwrite the progress lines on stderr.
        "spark.ui.showConsoleProgress": "false",
        **({"spark.ui.enabled": "false"} if master.startswith("local") else {}),
        # Spark's default of 200 shuffle partitions costs more in task overhead than the
        # work of a small crawl on local[N]; a cluster sets its own.
        **({"spark.sql.shuffle.partitions": str(2 * _local_cores(master))}
           if master.startswith("local") else {}),
    }  # fmt: skip
    conf.update(spark_conf or {})
    with tempfile.TemporaryDirectory(prefix="linkcrawl-spark-") as tmp:
        if "spark.driver.extraJavaOptions" not in conf:
            log4j = Path(tmp, "log4j2.properties")
            log4j.write_text(_LOG4J2)
            conf["spark.driver.extraJavaOptions"] = f"-Dlog4j2.configurationFile={log4j.as_uri()}"
        builder = sql.SparkSession.builder.master(master)
        for key, value in conf.items():
            builder = builder.config(key, str(value))
        say(f"spark: starting a session on {master}")
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*PySpark", category=FutureWarning)
                spark = builder.getOrCreate()
        except Exception as exc:  # pyspark raises PySparkRuntimeError, or Py4J errors
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise LinkcrawlError(f"could not start Spark on {master}: {first}") from None
        try:
            spark.sparkContext.setLogLevel("ERROR")
            yield spark
        finally:
            spark.stop()


def _local_cores(master: str) -> int:
    inside = master[master.find("[") + 1 : master.find("]")] if "[" in master else "1"
    inside = inside.split(",")[0]
    if inside == "*":
        return os.cpu_count() or 1
    try:
        return max(1, int(inside))
    except ValueError:
        return 1


# -- the computation --------------------------------------------------------------------------


class _Run:
    """One analysis on one session: the DataFrames it builds and caches, released at the end."""

    def __init__(
        self,
        spark: SparkSession,
        root: Path,
        crawl_id: str,
        definition: Definition,
        say: Callable[[str], None],
    ) -> None:
        from pyspark.sql import functions as F

        self.F = F
        self.spark = spark
        self.root = root
        self.crawl_id = crawl_id
        self.definition = definition
        self.damping = definition.damping
        self.say = say
        self.cached: list[DataFrame] = []
        self.partitions = int(spark.conf.get("spark.sql.shuffle.partitions") or "200")

    def log(self, line: str) -> None:
        self.say(f"analyze {self.crawl_id} (spark): {line}")

    def keep(self, df: DataFrame) -> DataFrame:
        """Materialise ``df`` until the end of the run, as a local checkpoint rather than a
        cache: a cached DataFrame keeps its whole plan, which Spark prints (for its SQL
        listeners) on every query that reads it, and nested plans make that string grow
        to the point of costing seconds per PageRank iteration."""
        df = df.localCheckpoint(eager=True)
        self.cached.append(df)
        return df

    def run(self, edge_files: list[Path], page_files: list[Path], out: Path) -> None:
        staging = _staging_file(self.root / ".staging", "spark")
        try:
            links, urls, domains = self.graph(edge_files, page_files)
            page_pr, domain_pr = self.pagerank(links, urls, domains)
            pages = self.pages_table(links, urls, page_pr)
            domains_table = self.domains_table(links, domains, domain_pr)
            inbound = self.inbound_table(links, pages, domains_table)
            for name, df, schema in (
                ("pages", pages.orderBy("rank"), PAGE_AUTHORITY_SCHEMA),
                ("inbound", inbound, INBOUND_SCHEMA),
                ("domains", domains_table.orderBy("rank"), DOMAINS_SCHEMA),
            ):
                part_dir = staging / name
                df.select(*schema.names).write.parquet(str(part_dir))
                _write_single_file(
                    part_dir, schema, out / f"{name}.parquet", self.root / ".staging"
                )
                self.log(f"wrote {name}.parquet")
        finally:
            for df in self.cached:
                _release(df)
            shutil.rmtree(staging, ignore_errors=True)

    # -- reading ------------------------------------------------------------------------------

    def read(self, files: list[Path], schema: str) -> DataFrame:
        """The rows of ``files`` (sorted, as the dataset lists them) with ``row``, their
        position in that order (file index << 40 | row in the file)."""
        F = self.F
        if not files:
            return self.spark.createDataFrame([], f"{schema}, row bigint")
        index = F.create_map(
            *[x for i, p in enumerate(files) for x in (F.lit(Path(p).name), F.lit(i))]
        )
        df = self.spark.read.schema(schema).parquet(*[str(Path(p).resolve()) for p in files])
        file_index = index[F.col("_metadata.file_name")].cast("long")
        row = F.shiftleft(file_index, _ROW_BITS) + F.col("_metadata.row_index")
        return df.select("*", row.alias("row"))

    def graph(
        self, edge_files: list[Path], page_files: list[Path]
    ) -> tuple[DataFrame, DataFrame, DataFrame]:
        """The link rows after de-duplication, with node ids and weights; the pages (url,
        id, domain, domain_id) and the domains (domain, domain_id)."""
        from pyspark.sql import Window

        F = self.F
        edges = self.read(
            edge_files,
            "source string, target string, anchor string, rel string, follow boolean, "
            "position string, kind string, ordinal int, source_domain string, "
            "target_domain string",
        )
        # A resumed crawl can hold a page twice: keep the first of each
        # (source, ordinal, target, kind), as the sparse engine does.
        first = Window.partitionBy("source", "ordinal", "target", "kind").orderBy("row")
        edges = (
            edges.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n", "ordinal")
        )
        edges = self.keep(edges)
        fetched = self.read(page_files, "url string")

        def key(column: int) -> Column:
            return F.col("row") + F.lit(column << _COLUMN_SHIFT)

        # Each URL's id is its first-seen key; its domain the one of its first link row
        # (a URL's registered domain is the same in every row).
        seen = (
            edges.select(F.col("source").alias("url"), key(_SOURCE).alias("key"),
                         F.col("source_domain").alias("domain"))
            .unionByName(edges.select(F.col("target").alias("url"), key(_TARGET).alias("key"),
                                      F.col("target_domain").alias("domain")))
            .unionByName(fetched.select("url", key(_PAGE).alias("key"),
                                        F.lit(None).cast("string").alias("domain")))
        )  # fmt: skip
        urls = seen.groupBy("url").agg(
            F.min("key").alias("id"), F.min_by("domain", "key").alias("domain")
        )
        urls = self.keep(urls)
        # Fetched pages that neither link nor are linked to: resolve their hosts, each
        # once, on the driver (there are few; the links carry their domains already).
        missing = urls.where(F.col("domain").isNull())
        hosts = [
            r["host"]
            for r in missing.select(F.regexp_extract("url", HOST_PATTERN, 1).alias("host"))
            .distinct()
            .collect()
        ]
        if hosts:
            resolved = self.spark.createDataFrame(
                [(h, registered_domain(h or "")) for h in hosts], "host string, resolved string"
            )
            urls = self.keep(
                urls.withColumn("host", F.regexp_extract("url", HOST_PATTERN, 1))
                .join(F.broadcast(resolved), "host", "left")
                .select("url", "id", F.coalesce("domain", "resolved").alias("domain"))
            )
        domains = (
            edges.select(F.col("source_domain").alias("domain"), key(_SOURCE).alias("key"))
            .unionByName(
                edges.select(F.col("target_domain").alias("domain"), key(_TARGET).alias("key"))
            )
            .unionByName(
                urls.where(F.col("id") >= F.lit(_PAGE << _COLUMN_SHIFT)).select(
                    "domain", F.col("id").alias("key")
                )
            )
            .groupBy("domain")
            .agg(F.min("key").alias("domain_id"))
        )
        domains = self.keep(domains)
        urls = self.keep(urls.join(domains, "domain").select("url", "id", "domain", "domain_id"))

        # The definition's weight of each link row, as Spark SQL.
        weight = F.expr(
            f"CAST({self.definition.weight_sql('follow', 'kind', 'position')} AS DOUBLE)"
        )
        ids = urls.select("url", "id", "domain_id")
        links = (
            edges.join(
                ids.withColumnsRenamed({"url": "source", "id": "sid", "domain_id": "sdid"}),
                "source",
            )
            .join(
                ids.withColumnsRenamed({"url": "target", "id": "tid", "domain_id": "tdid"}),
                "target",
            )
            .withColumn("weight", weight)
        )
        links = self.keep(links)
        n_links = links.count()
        n_pages, n_domains = urls.count(), domains.count()
        self.log(f"{n_pages} pages, {n_links} links, {n_domains} domains")
        self.n = {_PAGES: n_pages, _DOMAINS: n_domains}
        return links, urls, domains

    # -- PageRank -----------------------------------------------------------------------------

    def pagerank(
        self, links: DataFrame, urls: DataFrame, domains: DataFrame
    ) -> tuple[DataFrame, DataFrame]:
        """Page PageRank (weighted) and domain PageRank (unweighted, followed links between
        domains) by power iteration, both graphs in the same Spark jobs. Returns for each
        (id, pagerank, authority)."""
        from pyspark.sql import Observation

        F = self.F
        d = self.damping
        # Page graph: self-links dropped, parallel links at their highest weight, links of
        # weight 0 left out (they pass nothing).
        page_links = (
            links.where((F.col("sid") != F.col("tid")) & (F.col("weight") > 0))
            .groupBy(F.col("sid").alias("src"), F.col("tid").alias("dst"))
            .agg(F.max("weight").alias("w"))
        )
        domain_links = (
            links.where(F.col("follow") & (F.col("sdid") != F.col("tdid")))
            .select(F.col("sdid").alias("src"), F.col("tdid").alias("dst"))
            .distinct()
            .withColumn("w", F.lit(1.0))
        )
        graph_links = page_links.withColumn("g", F.lit(_PAGES)).unionByName(
            domain_links.withColumn("g", F.lit(_DOMAINS))
        )
        out_weight = graph_links.groupBy("g", "src").agg(F.sum("w").alias("out_weight"))
        # The transition matrix: each link passes d · w / Σw of its source's rank.
        matrix = (
            graph_links.join(out_weight, ["g", "src"])
            .select("g", "src", "dst", (F.lit(d) * F.col("w") / F.col("out_weight")).alias("p"))
            .repartition(self.partitions, "g", "src")
        )
        matrix = self.keep(matrix)
        linked = graph_links.select("g", F.col("dst").alias("id")).distinct().withColumn(
            "linked", F.lit(True)
        )  # fmt: skip
        nodes = (
            urls.select(F.lit(_PAGES).alias("g"), "id")
            .unionByName(
                domains.select(F.lit(_DOMAINS).alias("g"), F.col("domain_id").alias("id"))
            )
            .join(
                out_weight.select("g", F.col("src").alias("id"), "out_weight"), ["g", "id"], "left"
            )
            .join(linked, ["g", "id"], "left")
            .select(
                "g", "id",
                F.col("out_weight").isNull().alias("dangling"),
                F.coalesce("out_weight", F.lit(0.0)).alias("out_weight"),
                F.coalesce("linked", F.lit(False)).alias("linked"),
            )
        )  # fmt: skip
        nodes = self.keep(nodes)
        self.out_weight = nodes.where(F.col("g") == _PAGES).select("id", "out_weight")

        n = self.n
        x0 = F.when(F.col("g") == _PAGES, F.lit(1.0 / max(n[_PAGES], 1))).otherwise(
            F.lit(1.0 / max(n[_DOMAINS], 1))
        )
        ranks = (
            nodes.select("g", "id", "dangling", x0.alias("pr"))
            .repartition(self.partitions, "g", "id")
            .localCheckpoint(eager=True)
        )
        dangling_sum = self._sums(ranks, F.when(F.col("dangling"), F.col("pr")))
        done = {g: iters for g, iters in ((_PAGES, 0), (_DOMAINS, 0)) if n[g] == 0}
        previous: DataFrame | None = None
        self.log(f"PageRank: {matrix.count()} links in the page and domain graphs")
        for iteration in range(1, self.definition.max_iter + 1):
            active = [g for g in (_PAGES, _DOMAINS) if g not in done]
            if not active:
                break
            base = F.lit(0.0)
            for g in active:
                # The random jump, and the rank of dangling nodes spread uniformly.
                value = d * dangling_sum.get(g, 0.0) / n[g] + (1.0 - d) / n[g]
                base = F.when(F.col("g") == g, F.lit(value)).otherwise(base)
            passed = (
                matrix.where(F.col("g").isin(*active))
                .join(ranks.select("g", F.col("id").alias("src"), "pr"), ["g", "src"])
                .groupBy("g", F.col("dst").alias("id"))
                .agg(F.sum(F.col("p") * F.col("pr")).alias("passed"))
            )
            step = F.coalesce("passed", F.lit(0.0)) + base
            observed = Observation(f"pagerank-{iteration}")
            new = (
                ranks.join(passed, ["g", "id"], "left")
                .select(
                    "g", "id", "dangling",
                    F.when(F.col("g").isin(*active), step).otherwise(F.col("pr")).alias("pr"),
                    F.abs(step - F.col("pr")).alias("change"),
                )
            )  # fmt: skip
            # One Spark job per iteration: the checkpoint (which cuts the lineage, so that
            # plans do not grow with the iterations) computes the sums as it goes.
            sums = [
                F.sum(F.when(F.col("g") == g, F.col(c))).alias(f"{c}{g}")
                for g in (_PAGES, _DOMAINS)
                for c in ("change", "dangling_pr")
            ]
            new = (
                new.withColumn("dangling_pr", F.when(F.col("dangling"), F.col("pr")))
                .observe(observed, *sums)
                .drop("dangling_pr", "change")
                .localCheckpoint(eager=True)
            )
            stats = observed.get
            if previous is not None:
                _release(previous)
            previous = ranks
            ranks = new
            dangling_sum = {g: stats[f"dangling_pr{g}"] or 0.0 for g in (_PAGES, _DOMAINS)}
            change = {g: stats[f"change{g}"] or 0.0 for g in (_PAGES, _DOMAINS)}
            for g in active:
                if change[g] < self.definition.tol:
                    done[g] = iteration
            if iteration % _PROGRESS_EVERY == 0:
                changes = ", ".join(
                    f"{name} {change[g]:.2e}"
                    for g, name in ((_PAGES, "pages"), (_DOMAINS, "domains"))
                    if g in active
                )
                self.log(f"PageRank iteration {iteration}: L1 change {changes}")
        else:
            raise DatasetError(
                f"PageRank did not converge to L1 < {self.definition.tol} in "
                f"{self.definition.max_iter} iterations"
            )
        self.cached += [ranks] + ([previous] if previous is not None else [])
        self.log(
            f"PageRank converged: pages in {done[_PAGES]} iterations, domains in {done[_DOMAINS]}"
        )
        return self._authority(ranks, nodes)

    def _sums(self, ranks: DataFrame, column: Column) -> dict[int, float]:
        F = self.F
        return {
            r["g"]: r["s"] or 0.0
            for r in ranks.groupBy("g").agg(F.sum(column).alias("s")).collect()
        }

    def _authority(self, ranks: DataFrame, nodes: DataFrame) -> tuple[DataFrame, DataFrame]:
        """PageRank renormalised to sum 1, and authority on the log scale of
        :func:`linkcrawl.analysis.authority.authority_scale`."""
        F = self.F
        d = self.damping
        total = self._sums(ranks, F.col("pr"))
        dangling = self._sums(ranks, F.when(F.col("dangling"), F.col("pr")))
        top = {r["g"]: r["top"] for r in ranks.groupBy("g").agg(F.max("pr").alias("top")).collect()}
        norm = F.lit(1.0)
        authority = F.lit(0.0)
        for g in (_PAGES, _DOMAINS):
            if not self.n[g]:
                continue
            norm = F.when(F.col("g") == g, F.lit(total[g])).otherwise(norm)
            lowest = floor(dangling[g] / total[g], self.n[g], d)
            score = F.expr(authority_sql("pagerank", "linked", lowest, top[g] / total[g]))
            authority = F.when(F.col("g") == g, score).otherwise(authority)
        result = (
            ranks.select("g", "id", (F.col("pr") / norm).alias("pagerank"))
            .join(nodes.select("g", "id", "linked"), ["g", "id"])
            .select("g", "id", "pagerank", authority.alias("authority"))
        )
        result = self.keep(result)
        page = result.where(F.col("g") == _PAGES).drop("g")
        domain = result.where(F.col("g") == _DOMAINS).drop("g")
        return page, domain

    # -- tables -------------------------------------------------------------------------------

    def _counts(self, links: DataFrame, by: str) -> DataFrame:
        """Per target (``by``: tid or tdid), over the links from other domains: referring
        domains, inbound links and the followed share."""
        F = self.F
        return (
            links.where(F.col("sdid") != F.col("tdid"))
            .groupBy(F.col(by).alias("id"))
            .agg(
                F.count_distinct("sdid").alias("referring_domains"),
                F.count(F.lit(1)).alias("inbound_links"),
                F.sum(F.col("follow").cast("long")).alias("followed"),
            )
        )

    def _with_counts(self, df: DataFrame, counts: DataFrame) -> DataFrame:
        F = self.F
        return (
            df.join(counts, "id", "left")
            .fillna(0, ["referring_domains", "inbound_links", "followed"])
            .withColumn(
                "follow_share",
                F.when(F.col("inbound_links") > 0, F.col("followed") / F.col("inbound_links")).cast(
                    "double"
                ),
            )
        )

    def _ranked(self, df: DataFrame) -> DataFrame:
        """``df`` with ``rank``: 1 for the highest pagerank, ties in id (first-seen) order.
        Sorted in ranges across partitions, numbered within each, then offset by the sizes
        of the partitions before: no single-partition window."""
        from pyspark.sql import Window

        F = self.F
        order = _order(RANK_ORDER)
        spread = self.keep(
            df.repartitionByRange(self.partitions, *order).withColumn(
                "_part", F.spark_partition_id()
            )
        )
        sizes = dict(
            (r["_part"], r["count"]) for r in spread.groupBy("_part").count().collect()
        )  # fmt: skip
        offsets, total = {}, 0
        for part in sorted(sizes):
            offsets[part], total = total, total + sizes[part]
        offset = F.create_map(*[x for p, o in offsets.items() for x in (F.lit(p), F.lit(o))])
        within = Window.partitionBy("_part").orderBy(*order)
        if not offsets:
            return df.withColumn("rank", F.lit(0).cast("long"))
        return spread.withColumn(
            "rank", (F.row_number().over(within) + offset[F.col("_part")]).cast("long")
        ).drop("_part")

    def pages_table(self, links: DataFrame, urls: DataFrame, page_pr: DataFrame) -> DataFrame:
        F = self.F
        inlinks = (
            links.where(F.col("sid") != F.col("tid"))
            .groupBy(F.col("tid").alias("id"))
            .agg(F.count(F.lit(1)).alias("inlinks"))
        )
        pages = urls.join(page_pr, "id").join(inlinks, "id", "left").fillna(0, ["inlinks"])
        pages = self._with_counts(pages, self._counts(links, "tid"))
        pages = self.keep(self._ranked(pages))
        self.log("page PageRank done")
        return pages

    def domains_table(
        self, links: DataFrame, domains: DataFrame, domain_pr: DataFrame
    ) -> DataFrame:
        F = self.F
        table = domains.select("domain", F.col("domain_id").alias("id")).join(domain_pr, "id")
        table = self._with_counts(table, self._counts(links, "tdid"))
        table = self.keep(self._ranked(table))
        self.log("domain PageRank done")
        return table

    def inbound_table(self, links: DataFrame, pages: DataFrame, domains: DataFrame) -> DataFrame:
        """One row per link from another domain, valued by the PageRank it passes:
        value = d · PR(source) · w(link) / Σ w(source's links), ranked within the target
        domain (highest value, then the stronger source page, then edges-table order).
        Sorted by target domain id, then rank."""
        from pyspark.sql import Window

        F = self.F
        sources = pages.select(
            F.col("id").alias("sid"),
            F.col("pagerank").alias("source_pagerank"),
            F.col("authority").alias("source_authority"),
        ).join(self.out_weight.withColumnRenamed("id", "sid"), "sid")
        share = F.when(F.col("out_weight") > 0, F.col("weight") / F.col("out_weight")).otherwise(
            F.lit(0.0)
        )
        inbound = (
            links.where(F.col("sdid") != F.col("tdid"))
            .join(sources, "sid")
            .join(
                domains.select(
                    F.col("id").alias("sdid"), F.col("authority").alias("source_domain_authority")
                ),
                "sdid",
            )
            .withColumn("value", F.lit(self.damping) * F.col("source_pagerank") * share)
        )
        within = Window.partitionBy("tdid").orderBy(*_order(INBOUND_ORDER))
        return inbound.withColumn("rank", F.row_number().over(within).cast("long")).orderBy(
            "tdid", "rank"
        )


def _order(order: tuple[tuple[str, bool], ...]) -> list[Column]:
    """The definition's order (:data:`~linkcrawl.analysis.definition.RANK_ORDER`...) as
    Spark sort columns."""
    from pyspark.sql import functions as F

    return [F.col(name).desc() if descending else F.col(name).asc() for name, descending in order]


def _release(df: DataFrame) -> None:
    """Drop the blocks of a checkpointed iterate no longer needed (Spark would keep them
    until the driver's garbage collector runs)."""
    try:
        df._jdf.queryExecution().analyzed().rdd().unpersist(False)
    except Exception:  # Spark Connect, or a plan that is not a checkpoint: leave it to GC
        pass


# -- writing ----------------------------------------------------------------------------------


def _write_single_file(part_dir: Path, schema: pa.Schema, path: Path, staging: Path) -> None:
    """Stream Spark's part files (in part order: the table is sorted across them) into one
    Parquet file of ``schema`` with the options of write_table_atomic, atomically."""
    parts = sorted(part_dir.glob("part-*.parquet"))
    write_tables_atomic(_batches(parts, schema), schema, path, staging)


def _batches(parts: list[Path], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    for part in parts:
        for batch in pq.ParquetFile(part).iter_batches(batch_size=ROW_GROUP_SIZE):
            yield pa.RecordBatch.from_arrays(
                [batch.column(f.name).cast(f.type) for f in schema], schema=schema
            )
