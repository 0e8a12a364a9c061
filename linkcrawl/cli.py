"""The linkcrawl command line: thin click commands, one library call each."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from linkcrawl import __version__
from linkcrawl.dataset.layout import root_path
from linkcrawl.dataset.reader import open_dataset
from linkcrawl.errors import LinkcrawlError, UnknownColumn
from linkcrawl.reports.output import TABLE_LIMIT, Output, escape_terminal

# The terminal-safety escape is the output module's, under the name the commands use.
_escape_terminal = escape_terminal


class _Group(click.Group):
    """Turns a :class:`LinkcrawlError` or an :class:`OSError` (a file system's refusal)
    anywhere below into one line and exit status 1, and a usage error (an unknown option,
    a bad value) into one line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LinkcrawlError as exc:
            raise _failure(exc.exit_code)(str(exc)) from None
        except BrokenPipeError:
            # The reader of a pipe stopped (`linkcrawl domains --format csv | head`): not
            # an error to report. Python's own advice: point stdout at devnull, so that the
            # flush at exit does not fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except OSError as exc:
            # The file system refused (read-only, full, a folder where a file goes, no
            # permission): the user can act on it, and the path and reason say how.
            raise click.ClickException(_os_error(exc)) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "linkcrawl"
            click.echo(f"Error: {exc.format_message()} (see '{where} --help')", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(0)


@functools.cache
def _failure(exit_code: int) -> type[click.ClickException]:
    """The ClickException that exits with ``exit_code`` (a LinkcrawlError's: 1, or 3 for an
    interrupted crawl); click declares the status on the class."""
    return type(f"Failure{exit_code}", (click.ClickException,), {"exit_code": exit_code})


# The one --format of every command that prints rows (given by _prints_rows).
_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help='table: for people; csv, json {"rows": [...], "total": N}: every row, exact values.',
)
_limit_option = click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help=f"Print at most this many rows; 0: all (default: {TABLE_LIMIT} in a table, all in "
    "csv and json).",
)
_columns_option = click.option(
    "--columns",
    default=None,
    metavar="A,B,...",
    help="The columns to print, in this order (an unknown name lists the known ones).",
)


def _os_error(exc: OSError) -> str:
    """An OSError as one line: the file(s) it names and the system's reason."""
    text = str(exc).strip()
    reason = exc.strerror or (text.splitlines()[0] if text else "") or type(exc).__name__
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    return _escape_terminal(f"{where}: {reason}" if where else reason)


def _prints_rows(command: Any) -> Any:
    """Give a command that prints rows --format, --limit and --columns, handed to it as one
    :class:`~linkcrawl.reports.output.Output` ``out``."""

    @functools.wraps(command)
    def run(*args: Any, fmt: str, limit: int | None, columns: str | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        out = Output(
            fmt=fmt,
            limit=limit,
            columns=tuple(c.strip() for c in columns.split(",") if c.strip()) if columns else None,
            command=ctx.command_path,
            terminal=_stdout_is_terminal(),
            width=shutil.get_terminal_size().columns,
            # color=True: click would otherwise strip ANSI-looking sequences from data
            # written to a file; what reaches a terminal is escaped before this.
            write=lambda text: click.echo(text, nl=False, color=True),
            note=lambda line: click.echo(line, err=True),
        )
        try:
            return command(*args, out=out, **kwargs)
        except UnknownColumn as exc:
            raise click.UsageError(str(exc), ctx) from None

    return _format_option(_limit_option(_columns_option(run)))


def _stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _hint(line: str | None) -> None:
    """An empty answer's hint (the target under another spelling), on stderr."""
    if line:
        click.echo(_escape_terminal(line), err=True)


def _parse_settings(pairs: Sequence[str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise LinkcrawlError(f"bad setting {pair!r}: use -s NAME=VALUE")
        settings[name.strip()] = value
    if settings:
        _check_setting_types(settings)
    return settings


def _check_setting_types(settings: dict[str, Any]) -> None:
    """Refuse a -s value that cannot be the type of the setting's default (a number, a
    boolean): Scrapy would raise it from inside the crawl, as a traceback."""
    from linkcrawl.crawl.runner import project_settings

    defaults = project_settings()
    for name, value in settings.items():
        default = defaults.get(name)
        try:
            if isinstance(default, bool):
                _as_bool(value)
            elif isinstance(default, int | float):
                float(value)  # Scrapy reads some int defaults as floats (DOWNLOAD_DELAY)
        except ValueError:
            kind = "a boolean" if isinstance(default, bool) else "a number"
            raise LinkcrawlError(
                f"bad setting {name}={value!r}: {name} takes {kind} (default {default!r})"
            ) from None


def _as_bool(value: str) -> bool:
    # Scrapy's Settings.getbool accepts these, and raises ValueError for anything else.
    from scrapy.settings import BaseSettings

    return BaseSettings({"v": value}).getbool("v")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="linkcrawl")
def main() -> None:
    """Crawl seed domains, store every link as Parquet, rank backlinks by authority.

    Every command reads and writes the data directory (default: data/).
    """


# The one place that says which commands work on a data directory in an object store
# (s3://, gs://, ...): None, or why the command needs a local one. Every command that
# takes --data is listed (tests/test_object_store.py checks), so a new one says which it
# is before it meets an object store.
LOCAL_ONLY: dict[str, str | None] = {
    "crawl": None,  # --workers N hands URLs over through local files: refused by crawl()
    "analyze": None,  # an engine that needs a local directory says so (its registration)
    "diff": None,
    "history": None,
    "broken": None,
    # The authority tables are read through Dataset.authority_arrow() / authority().
    "backlinks": None,
    "domains": None,
    "intersect": None,  # reads inbound.parquet through Dataset.authority_arrow()
    "report": None,  # the HTML file (--out) is written to a local path
    "demo": None,  # crawl and analyze, as above, then domains and backlinks
    "audit": None,  # a new generation of the authority folder, staged as analyze's is
    # It reads through Dataset.arrow() only, but tests/test_object_store.py does not run it
    # against a bucket yet: refused there until it does.
    "site": None,  # reads through Dataset.arrow() only
    "disavow": None,
    "import edges": None,  # written through the dataset's writers, as a crawl's parts are
    "import warc": "archive imports are built and tested on local directories only",
    "prune": "it removes a crawl's partitions by renaming them aside, which object stores "
    "cannot do",
}


def _data_location(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """``--data``: a local path, a ``file://`` URI (made a path), or an object store URI,
    refused for a command that needs a local directory (:data:`LOCAL_ONLY`)."""
    try:
        root = root_path(value)
    except LinkcrawlError as exc:
        raise click.BadParameter(str(exc)) from None
    # The command as typed after `linkcrawl`: "backlinks", or "import warc" in a group.
    words = []
    at: click.Context | None = ctx
    while at is not None and at.parent is not None:
        words.append(at.info_name or at.command.name or "")
        at = at.parent
    name = " ".join(reversed(words))
    if not isinstance(root, Path):
        reason = LOCAL_ONLY.get(name, "it does not say that it works on an object store")
        if reason is not None:
            raise click.BadParameter(
                f"{value}: `linkcrawl {name}` needs a local data directory: {reason}"
            )
    return str(root)


_data_option = click.option(
    "--data",
    "data_dir",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False),
    callback=_data_location,
    help="The data directory: a path, or a URI (file:///srv/data, s3://bucket/prefix).",
)


def _reads_dataset(command: Any) -> Any:
    """Give a command that reads the dataset a --skip-corrupt option: the data directory is
    then opened to read around unreadable part files, and each one skipped is reported."""

    @functools.wraps(command)
    def run(*args: Any, skip_corrupt: bool, data_dir: str, **kwargs: Any) -> Any:
        if not skip_corrupt:
            return command(*args, data_dir=data_dir, **kwargs)
        dataset = open_dataset(data_dir, skip_corrupt=True)
        try:
            return command(*args, data_dir=dataset, **kwargs)
        finally:
            for part in dataset.skipped:
                click.echo(_escape_terminal(f"skipped {part.path}: {part.reason}"), err=True)

    return click.option(
        "--skip-corrupt",
        is_flag=True,
        help="Read around part files that cannot be read, and say which were skipped.",
    )(run)


_crawl_id_option = click.option(
    "--crawl-id", default=None, help="A crawl id (default: the newest finished crawl)."
)


@main.command()
@click.argument("urls", nargs=-1)
@click.option(
    "--seeds",
    "seeds_file",
    type=click.Path(dir_okay=False),
    help="A file of seed URLs, one a line; # starts a comment.",
)
@_data_option
@click.option("--crawl-id", default=None, help="Id of the new crawl (default: the UTC time).")
@click.option(
    "--max-depth",
    type=click.IntRange(min=0),
    default=None,
    help="Follow links at most this many hops from a seed.",
)
@click.option(
    "--max-pages",
    type=click.IntRange(min=1),
    default=None,
    help="Fetch at most this many pages per registered domain.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=None,
    help="Requests in flight at once, across all sites (default 16).",
)
@click.option("--same-host", is_flag=True, help="Stay on the seeds' host names.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Crawler processes, the seeds' domains shared out between them.",
)
@click.option(
    "--redis",
    "redis_url",
    default=None,
    envvar="LINKCRAWL_REDIS_URL",
    metavar="URL",
    help="Share the crawl's frontier through this Redis (redis://HOST:PORT/DB) with the "
    "other workers started with the same --crawl-id (needs linkcrawl[distributed]).",
)
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow loopback and private addresses (a staging site); refused by default.",
)
@click.option(
    "--check-external",
    is_flag=True,
    help="Fetch each link target on other domains once to record its status.",
)
@click.option(
    "--no-sitemaps",
    is_flag=True,
    help="Do not read the seeds' sitemaps (robots.txt Sitemap lines, else /sitemap.xml).",
)
@click.option(
    "--render",
    type=click.Choice(["never", "auto", "always"]),
    default=None,
    help="Render pages in Chromium for the links scripts insert: never (default), auto "
    "(pages that look client-rendered, or match --render-pattern), always "
    "(needs linkcrawl[render] and chromium-headless-shell; docs/rendering.md).",
)
@click.option(
    "--render-pattern",
    default=None,
    metavar="REGEX",
    help="With --render auto, also render the pages whose URL matches this regex.",
)
@click.option(
    "--resume",
    default=None,
    metavar="CRAWL_ID",
    help="Continue an interrupted crawl into the same crawl partition.",
)
@click.option(
    "--resume-interrupted",
    is_flag=True,
    help="If the newest crawl was interrupted, continue it instead of starting a new one "
    "(for scheduled crawls).",
)
@click.option(
    "--incremental",
    is_flag=True,
    help="Build on the newest finished crawl of the same seeds: conditional requests, and "
    "the links of unchanged pages copied from it (docs/dataset.md, incremental crawls).",
)
@click.option(
    "--since",
    default=None,
    metavar="CRAWL_ID",
    help="With --incremental: the finished crawl to build on (implies --incremental).",
)
@click.option(
    "--revisit",
    type=click.Choice(["full", "adaptive"]),
    default=None,
    help="With --incremental: full requests every earlier page (the default); adaptive "
    "requests only the pages due by their revisit interval or a newer sitemap lastmod, most "
    "authoritative first, and carries the others forward (docs/scheduling.md; implies "
    "--incremental).",
)
@click.option(
    "-s",
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A Scrapy or linkcrawl setting, e.g. -s DOWNLOAD_DELAY=2.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO).")
def crawl(
    urls: tuple[str, ...],
    seeds_file: str | None,
    data_dir: str,
    crawl_id: str | None,
    max_depth: int | None,
    max_pages: int | None,
    concurrency: int | None,
    same_host: bool,
    workers: int,
    redis_url: str | None,
    allow_private: bool,
    check_external: bool,
    no_sitemaps: bool,
    render: str | None,
    render_pattern: str | None,
    resume: str | None,
    resume_interrupted: bool,
    incremental: bool,
    since: str | None,
    revisit: str | None,
    settings: tuple[str, ...],
    verbose: bool,
) -> None:
    """Crawl the registered domains of the seed URLs and write edges and pages.

    Links to other domains are recorded, not crawled. Once the links are crawled, the
    seeds' sitemaps are read: their entries go to the sitemaps table, and the pages no
    link reached are crawled too (--no-sitemaps: not). Polite by default: robots.txt,
    AutoThrottle, two requests at a time per site. Prints the crawl id; exits with status 3
    when the crawl was interrupted (Ctrl-C, SIGTERM), so a scheduled job stops there.

    \b
    Example:
      linkcrawl crawl https://example.com/ --max-pages 500
      linkcrawl crawl --seeds seeds.txt --data /srv/linkcrawl
      linkcrawl crawl --seeds seeds.txt --incremental   # what changed since the last one
      linkcrawl crawl --seeds seeds.txt --revisit adaptive --max-pages 2000   # weekly
      linkcrawl crawl https://app.example.com/ --render auto --render-pattern '/app/'
      linkcrawl crawl --seeds seeds.txt --data /mnt/shared --redis redis://10.0.0.5:6379/0 \\
          --crawl-id weekly48        # the same command on every machine
    """
    from linkcrawl.crawl.runner import crawl as run_crawl
    from linkcrawl.crawl.runner import read_seeds_file

    seeds = list(urls)
    if seeds_file:
        from_file, problems = read_seeds_file(seeds_file)
        for problem in problems:
            click.echo(_escape_terminal(f"warning: {problem}"), err=True)
        if not from_file and not seeds:
            raise LinkcrawlError(f"seeds file {seeds_file} has no URL in it")
        seeds += from_file
    overrides: dict[str, Any] = {"LOG_LEVEL": "INFO" if verbose else "WARNING"}
    if check_external:
        overrides["LINKCRAWL_CHECK_EXTERNAL"] = True
    if allow_private:
        overrides["LINKCRAWL_ALLOW_PRIVATE"] = True
    if no_sitemaps:
        overrides["LINKCRAWL_SITEMAPS"] = False
    if render is not None:
        overrides["LINKCRAWL_RENDER"] = render
    if render_pattern is not None:
        overrides["LINKCRAWL_RENDER_PATTERN"] = render_pattern
    if revisit is not None:
        overrides["LINKCRAWL_REVISIT"] = revisit
        incremental = incremental or revisit == "adaptive"
    overrides.update(_parse_settings(settings))
    done = run_crawl(
        seeds,
        data_dir=data_dir,
        crawl_id=crawl_id,
        resume=resume,
        resume_interrupted=resume_interrupted,
        max_depth=max_depth,
        max_pages=max_pages,
        concurrency=concurrency,
        same_host=same_host,
        settings=overrides,
        progress_seconds=2.0,
        workers=workers,
        redis=redis_url,
        incremental=incremental,
        since=since,
    )
    click.echo(done)
    record = open_dataset(data_dir).manifest(done)
    if "skipped" in record.fields:  # absent from manifests of older linkcrawl versions
        # Every URL a bound or a trap guard kept out, by reason: a cut is never silent.
        skipped = record.fields["skipped"] or {}
        click.echo(
            f"crawl {done} skipped: "
            + (", ".join(f"{reason} {n:,}" for reason, n in skipped.items()) or "nothing"),
            err=True,
        )
    rendered = record.fields.get("render")
    if rendered:
        click.echo(
            f"crawl {done} rendered {rendered.get('pages', 0):,} pages: "
            f"{rendered.get('links_only_rendered', 0):,} links only rendering found, "
            f"{rendered.get('failed', 0):,} pages kept their HTML's links (rendering failed)",
            err=True,
        )
    status = record.status
    if status != "finished" and redis_url:
        click.echo(
            f"this worker of crawl {done} stopped before the crawl finished: start it again "
            f"with the same --redis and --crawl-id {done} to rejoin",
            err=True,
        )
        sys.exit(3)
    if status != "finished":
        # The last line says what is on disk, and why the crawl stopped.
        counts = record.fields.get("counts") or {}
        reason = record.fields.get("finish_reason") or "stopped"
        click.echo(
            f"crawl {done} is {status} ({_escape_terminal(reason)}): "
            f"{counts.get('pages', 0):,} pages and {counts.get('edges', 0):,} links on disk; "
            f"continue it with `linkcrawl crawl --resume {done}`",
            err=True,
        )
        sys.exit(3)


# `linkcrawl import warc` exits with this when it imported the archives but had to skip
# input it could not read (each piece named on stderr): distinct from 1, nothing imported.
SKIPPED_INPUT_EXIT = 4
# Problems named one a line before the rest are summed up.
_PROBLEM_LINES = 10


@main.group(name="import")
def import_() -> None:
    """Load link data made elsewhere as a crawl: web archives, or an edge list."""


@import_.command(name="warc")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@_data_option
@click.option("--crawl-id", default=None, help="Id of the new crawl (default: the UTC time).")
@click.option(
    "--domains",
    multiple=True,
    metavar="DOMAIN[,DOMAIN...]",
    help="Import only pages on these hosts or under these domains (default: all).",
)
@click.option(
    "-s",
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A Scrapy or linkcrawl setting, e.g. -s LINKCRAWL_PARSE_WORKERS=4.",
)
def import_warc(
    files: tuple[str, ...],
    data_dir: str,
    crawl_id: str | None,
    domains: tuple[str, ...],
    settings: tuple[str, ...],
) -> None:
    """Import web archives (WARC 1.0/1.1 or ARC, plain or gzip) as a finished crawl.

    Every archived HTML response goes through the same extraction and pipeline as a live
    crawl; a 3xx with Location is a redirect edge; a revisit record takes its original's
    payload when that is in FILES; of a URL captured several times, the newest capture.
    Prints the crawl id. A record that cannot be read is skipped and named with its file
    and offset; the rest is imported, and the exit status is 4.

    \b
    Example:
      linkcrawl import warc crawl-00000.warc.gz crawl-00001.warc.gz --crawl-id site2014
      linkcrawl import warc CC-MAIN-*.warc.gz --domains example.com,example.org
    """
    from linkcrawl.sources.warc import PROBLEM_REASONS
    from linkcrawl.sources.warc import import_warc as run_import

    wanted = [d for given in domains for d in given.replace(",", " ").split()]
    done = run_import(
        list(files),
        data_dir,
        crawl_id=crawl_id,
        domains=wanted,
        settings=_parse_settings(settings),
        progress_seconds=2.0,
    )
    click.echo(done.crawl_id)
    for problem in done.problems[:_PROBLEM_LINES]:
        click.echo(_escape_terminal(f"skipped: {problem.line()}"), err=True)
    if len(done.problems) > _PROBLEM_LINES:
        rest = len(done.problems) - _PROBLEM_LINES
        click.echo(f"skipped: {rest:,} more (the manifest lists them)", err=True)
    counts = done.counts
    click.echo(
        f"imported {counts.get('pages', 0):,} pages and {counts.get('edges', 0):,} links "
        f"from {len(files)} file(s) into crawl {done.crawl_id}; left out: "
        + (", ".join(f"{reason} {n:,}" for reason, n in done.skipped.items()) or "nothing"),
        err=True,
    )
    if done.status != "finished":
        click.echo(f"import {done.crawl_id} is {done.status}", err=True)
        sys.exit(3)
    if any(done.skipped.get(reason) for reason in PROBLEM_REASONS):
        sys.exit(SKIPPED_INPUT_EXIT)


@import_.command(name="edges")
@click.argument("file", type=click.Path(dir_okay=False))
@_data_option
@click.option("--crawl-id", default=None, help="Id of the new crawl (default: the UTC time).")
def import_edges(file: str, data_dir: str, crawl_id: str | None) -> None:
    """Import an edge list (Parquet, CSV or TSV with source and target URL columns, and
    optionally any other column of the edges table) as a finished crawl.

    URLs are normalised as a crawl writes them; a row whose source or target is not an
    http(s) URL is left out, and counted. Prints the crawl id.

    \b
    Example:
      linkcrawl import edges links.csv --crawl-id partner-graph
      linkcrawl analyze --crawl-id partner-graph
    """
    from linkcrawl.dataset.layout import manifest_path, new_crawl_id
    from linkcrawl.sources.edgelist import import_edges as run_import
    from linkcrawl.sources.edgelist import read_edge_file

    crawl_id = crawl_id or new_crawl_id()
    if manifest_path(data_dir, crawl_id).is_file():
        raise LinkcrawlError(
            f"crawl {crawl_id} already exists in {data_dir}: choose another --crawl-id"
        )
    edges, dropped = read_edge_file(file)
    done = run_import(data_dir, edges, crawl_id)
    click.echo(done)
    record = open_dataset(data_dir).manifest(done)
    counts = record.fields.get("counts") or {}
    click.echo(
        f"imported {counts.get('edges', 0):,} links of {counts.get('pages', 0):,} pages into "
        f"crawl {done}" + (f"; left out {dropped:,} rows without http(s) URLs" if dropped else ""),
        err=True,
    )


@main.command()
@_reads_dataset
@_data_option
@_crawl_id_option
@click.option(
    "--engine",
    type=click.Choice(["sparse", "networkx", "duckdb", "spark"]),
    default="sparse",
    show_default=True,
    help="sparse: scipy, in memory; networkx: the reference; duckdb: SQL out of core "
    "(--memory-limit); spark: PySpark (--master). See docs/scaling.md.",
)
@click.option(
    "--memory-limit",
    metavar="SIZE",
    help="duckdb engine: memory limit, e.g. 2GB (spills to disk beyond it).",
)
@click.option(
    "--threads",
    type=click.IntRange(1),
    help="duckdb engine: threads (default: DuckDB's, one per core).",
)
@click.option(
    "--temp-directory",
    type=click.Path(file_okay=False),
    help="duckdb engine: where to spill beyond the memory limit (default data/.staging).",
)
@click.option(
    "--master",
    metavar="URL",
    help="spark engine: the Spark master, e.g. local[2] (default) or spark://host:7077.",
)
@click.option(
    "--position-weight",
    "position_weights",
    multiple=True,
    metavar="POSITION=W",
    help="Weight of links at a position, e.g. --position-weight footer=0.1.",
)
@click.option(
    "--nofollow-weight",
    type=click.FloatRange(0, 1),
    default=None,
    help="Weight of nofollow/ugc/sponsored links (default 0, or LINKCRAWL_NOFOLLOW_WEIGHT).",
)
@click.option(
    "--relevance-weight",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    metavar="ALPHA",
    help="Scale each link between domains by (1 - ALPHA) + ALPHA x its relevance "
    "(TF-IDF cosine of the two pages' text); 0: off. See docs/authority.md.",
)
@click.option(
    "--relevance",
    is_flag=True,
    default=False,
    help="sparse and networkx engines: score the relevance of each link between domains "
    "(relevance.parquet, shown by backlinks and report); implied by --relevance-weight.",
)
def analyze(
    data_dir: str,
    crawl_id: str | None,
    engine: str,
    memory_limit: str | None,
    threads: int | None,
    temp_directory: str | None,
    master: str | None,
    position_weights: tuple[str, ...],
    nofollow_weight: float | None,
    relevance_weight: float,
    relevance: bool,
) -> None:
    """Compute page and domain authority of a crawl and rank every inbound link.

    Writes data/authority/crawl_id=<id>/{pages,domains,inbound}.parquet, and with
    --relevance relevance.parquet (the relevance of each link between domains, sparse
    and networkx engines, from the page text the crawl kept). Link weights
    default to the settings LINKCRAWL_POSITION_WEIGHTS and LINKCRAWL_NOFOLLOW_WEIGHT
    (linkcrawl/settings.py, or your own module named by SCRAPY_SETTINGS_MODULE); the
    options override them.

    \b
    Example:
      linkcrawl analyze
      linkcrawl analyze --crawl-id c20261122T030000Z --position-weight footer=0.1
      linkcrawl analyze --engine duckdb --memory-limit 2GB
      linkcrawl analyze --relevance
      linkcrawl analyze --relevance-weight 0.5
    """
    from linkcrawl.analysis.authority import analyze as run_analyze
    from linkcrawl.crawl.runner import project_settings

    settings = project_settings()
    weights: dict[str, float] = {
        str(k): float(v) for k, v in settings.getdict("LINKCRAWL_POSITION_WEIGHTS").items()
    }
    if nofollow_weight is None:
        nofollow_weight = settings.getfloat("LINKCRAWL_NOFOLLOW_WEIGHT")
    for pair in position_weights:
        name, sep, value = pair.partition("=")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise LinkcrawlError(f"bad --position-weight {pair!r}: use POSITION=WEIGHT")
    engine_options: dict[str, object] = {}
    option_engines: tuple[tuple[str, object, tuple[str, ...]], ...] = (
        ("memory_limit", memory_limit, ("duckdb",)),
        ("threads", threads, ("duckdb",)),
        ("temp_directory", temp_directory, ("duckdb",)),
        ("master", master, ("spark",)),
        ("relevance", True if relevance else None, ("sparse", "networkx")),
    )
    for option, given, engines in option_engines:
        if given is None:
            continue
        if engine not in engines:
            flag = "--" + option.replace("_", "-")
            raise LinkcrawlError(f"{flag} applies to --engine {engines[0]}, not {engine}")
        engine_options[option] = given
    done = run_analyze(
        data_dir,
        crawl_id=crawl_id,
        engine=engine,
        engine_options=engine_options,
        position_weights=weights or None,
        nofollow_weight=nofollow_weight,
        relevance_weight=relevance_weight,
        progress=lambda line: click.echo(line, err=True),
    )
    click.echo(f"analysed crawl {done}: tables in {root_path(data_dir) / 'authority'}", err=True)


@main.command()
@_reads_dataset
@click.argument("target")
@_data_option
@_crawl_id_option
@click.option(
    "--anchors",
    "show_anchors",
    is_flag=True,
    help="Print the anchor classes (exact, partial, branded, naked, generic, image, empty) "
    "by referring domains instead.",
)
@click.option(
    "--keywords",
    multiple=True,
    metavar="PHRASE[,PHRASE...]",
    help="With --anchors: the phrases of exact and partial matches (default: the title of "
    "each linked page).",
)
@click.option(
    "--networks",
    "show_networks",
    is_flag=True,
    help="Print the referring subnets (/24, IPv6 /48) with their referring domains and IPs.",
)
@click.option(
    "--domains",
    "show_domains",
    is_flag=True,
    help="Print one row per referring domain (links, value, authority, relevance) instead.",
)
@_prints_rows
def backlinks(
    target: str,
    data_dir: str,
    crawl_id: str | None,
    show_anchors: bool,
    keywords: tuple[str, ...],
    show_networks: bool,
    show_domains: bool,
    out: Output,
) -> None:
    """The best inbound links of TARGET, a registered domain or a URL prefix.

    \b
    Example:
      linkcrawl backlinks example.com --limit 50
      linkcrawl backlinks https://example.com/blog/ --format csv > backlinks.csv
      linkcrawl backlinks example.com --anchors --keywords "running shoes,trail shoes"
      linkcrawl backlinks example.com --domains

    The relevance column is the TF-IDF cosine of the linking page's text and the target
    page's (per referring domain: its linking pages against the target site), 0 to 1,
    empty when the analysis has none (docs/authority.md).
    """
    if keywords and not show_anchors:
        raise click.UsageError("--keywords applies to --anchors")
    if show_anchors + show_networks + show_domains > 1:
        raise click.UsageError("give one of --anchors, --networks and --domains")
    if show_anchors:
        _anchor_classes(target, data_dir, crawl_id, _phrases(keywords), out)
        return
    if show_networks:
        from linkcrawl.reports.networks import referring_networks

        net = referring_networks(data_dir, target, crawl_id)
        n = net.summary
        if out.fmt == "table":
            per = n["ips_per_subnet"]
            click.echo(
                _escape_terminal(
                    f"Referring networks of {n['target']} (crawl {n['crawl_id']}): "
                    f"{n['referring_domains']:,} referring domains, {n['domains_with_ip']:,} "
                    f"with a known address, {n['referring_ips']:,} IPs, "
                    f"{n['referring_subnets']:,} subnets"
                    + (f", {per:.2f} IPs per subnet" if per is not None else "")
                )
            )
        for line in n["flags"]:
            click.echo(_escape_terminal(line), err=True)
        out.rows(net.subnets, title="", extra={"summary": n})
        return
    from linkcrawl.reports.backlinks import backlinks as run_backlinks

    report = run_backlinks(data_dir, target, crawl_id=crawl_id, limit=None)
    s = report.summary
    _hint(s.get("hint"))
    if out.fmt == "table":
        click.echo(
            _escape_terminal(
                f"Backlinks of {s['target']} (crawl {s['crawl_id']}): "
                f"{s['referring_domains']:,} referring domains, {s['inbound_links']:,} links, "
                f"{100 * (s['followed_share'] or 0):.0f}% followed"
            )
        )
        if s.get("top_anchors"):
            click.echo(
                "Top anchors (by referring domains): "
                + _escape_terminal(
                    ", ".join(
                        f'"{a}" {n:,}' if a else f"(none) {n:,}" for a, n in s["top_anchors"][:5]
                    )
                )
            )
        if s.get("top_pages"):
            click.echo(
                "Top linked pages: "
                + _escape_terminal(", ".join(f"{u} {n:,}" for u, n in s["top_pages"][:5]))
            )
    columns = [
        "rank",
        "value",
        "source",
        "target",
        "anchor",
        "rel",
        "position",
        "kind",
        "source_authority",
        "source_domain_authority",
        "relevance",
    ]
    if show_domains:
        out.rows(report.domains, title="", extra={"summary": s})
        return
    out.rows(report.links, title="", default=columns, extra={"summary": s})


@main.command()
@_reads_dataset
@click.argument("target")
@click.argument("competitors", nargs=-1, required=True)
@_data_option
@_crawl_id_option
@click.option(
    "--min",
    "min_competitors",
    type=int,
    default=1,
    show_default=True,
    help="Keep domains that link to at least this many of the competitors.",
)
@click.option("--links", "show_links", is_flag=True, help="Print every prospect's links instead.")
@_prints_rows
def intersect(
    target: str,
    competitors: tuple[str, ...],
    data_dir: str,
    crawl_id: str | None,
    min_competitors: int,
    show_links: bool,
    out: Output,
) -> None:
    """Link prospects: domains linking to at least --min of the COMPETITORs but not to
    TARGET, by authority, with their linking pages.

    TARGET and each COMPETITOR are a registered domain, a host or a URL prefix. A domain
    with any link to TARGET, followed or not, is left out.

    \b
    Example:
      linkcrawl intersect example.com rival-a.com rival-b.com rival-c.com --min 2
      linkcrawl intersect example.com rival-a.com --links --format csv > prospects.csv
    """
    from linkcrawl.reports.intersect import intersect as run_intersect

    report = run_intersect(
        data_dir, target, list(competitors), crawl_id, min_competitors=min_competitors
    )
    s = report.summary
    extra = {"summary": s}
    if out.fmt == "table":
        click.echo(
            _escape_terminal(
                f"Link intersect of {s['target']} (crawl {s['crawl_id']}): {s['prospects']:,} "
                f"prospect{'' if s['prospects'] == 1 else 's'} linking to at least "
                f"{s['min_competitors']} of {len(s['competitors'])} competitors, not to "
                f"{s['target']}"
            )
        )
    if show_links:
        out.rows(report.links, title="", extra=extra)
    else:
        out.rows(report.domains, title="", extra=extra)


def _phrases(given: Sequence[str]) -> list[str] | None:
    """--keywords, each given once or comma-separated; None when none is given."""
    phrases = [p.strip() for item in given for p in item.split(",") if p.strip()]
    return phrases or None


def _anchor_classes(
    target: str, data_dir: str, crawl_id: str | None, keywords: list[str] | None, out: Output
) -> None:
    from linkcrawl.reports.anchors import anchor_classes

    report = anchor_classes(data_dir, target, crawl_id, keywords=keywords)
    s = report.summary
    if out.fmt == "table":
        against = "titles of the linked pages" if keywords is None else ", ".join(keywords)
        n = s["referring_domains"]
        click.echo(
            _escape_terminal(
                f"Anchor classes of {s['target']} (crawl {s['crawl_id']}): {n:,} referring "
                f"domain{'' if n == 1 else 's'}; exact and partial against: {against}"
            )
        )
    if s["over_optimised"]:
        click.echo(s["over_optimised"], err=True)
    out.rows(report.classes, title="", extra={"summary": s})


@main.command()
@_reads_dataset
@_data_option
@_crawl_id_option
@_prints_rows
def domains(data_dir: str, crawl_id: str | None, out: Output) -> None:
    """Registered domains ranked by authority.

    \b
    Example:
      linkcrawl domains --limit 10
      linkcrawl domains --format csv > domains.csv        # every domain
    """
    from linkcrawl.reports.backlinks import top_domains

    out.rows(top_domains(data_dir, crawl_id=crawl_id, limit=None))


@main.command()
@_reads_dataset
@click.argument("old_id", required=False)
@click.argument("new_id", required=False)
@_data_option
@click.option("--target", default=None, help="Only backlinks of this domain, host or URL prefix.")
@_prints_rows
def diff(
    old_id: str | None, new_id: str | None, data_dir: str, target: str | None, out: Output
) -> None:
    """New and lost links between two crawls, each lost link with its reason.

    OLD_ID and NEW_ID default to the last two finished crawls. Reasons of a lost link:
    source-not-crawled, source-gone, target-redirects, link-removed, now-nofollow; of a
    new link: empty (added to a page fetched before), source-new, now-follow.

    \b
    Example:
      linkcrawl diff
      linkcrawl diff c20261115T030000Z c20261122T030000Z --target example.com --format csv
    """
    from linkcrawl.reports.monitor import diff as run_diff

    changes = run_diff(data_dir, old_id, new_id, target=target)
    a = changes.attrs
    _hint(a.get("hint"))
    scope = f" to {a['target']}" if a["target"] else ""
    new, lost = (changes.change == "new").sum(), (changes.change == "lost").sum()
    title = f"Links{scope} from {a['old_id']} to {a['new_id']}: {new:,} new, {lost:,} lost"
    out.rows(changes, title=title, extra={"old_id": a["old_id"], "new_id": a["new_id"]})


@main.command()
@_reads_dataset
@click.argument("target")
@_data_option
@click.option(
    "--domains",
    "by_domains",
    is_flag=True,
    help="Print the referring domains gained and lost from each crawl to the next instead.",
)
@_prints_rows
def history(target: str, data_dir: str, by_domains: bool, out: Output) -> None:
    """Each backlink of TARGET across all finished crawls: first and last seen, and the
    referring domains of each crawl.

    TARGET is a registered domain, a host or a URL prefix. --limit and --columns apply to
    the backlinks; JSON has the per-crawl counts under "referring_domains". With
    --domains: one row per crawl with its date, its referring domains, the new and lost
    ones since the crawl before (new_domains and lost_domains list them: --columns).

    \b
    Example:
      linkcrawl history example.com
      linkcrawl history https://example.com/blog/ --format json
      linkcrawl history example.com --domains
    """
    if by_domains:
        from linkcrawl.reports.monitor import velocity

        rows = velocity(data_dir, target)
        title = f"Referring domains of {target}, new and lost per crawl:"
        columns = ["date", "crawl_id", "referring_domains", "new", "lost", "net"]
        out.rows(rows, title=title, default=columns)
        return
    from linkcrawl.reports.monitor import history as run_history

    links, per_crawl = run_history(data_dir, target)
    _hint(links.attrs.get("hint"))
    if out.fmt == "table":
        whole = dataclasses.replace(out, limit=0, columns=None)
        whole.rows(per_crawl, title="Referring domains per crawl:")
        out.rows(links, title="\nBacklinks:")
        return
    records = [
        dict(zip(per_crawl.columns, row, strict=True))
        for row in per_crawl.itertuples(index=False, name=None)
    ]
    out.rows(links, extra={"referring_domains": records})


@main.command()
@_reads_dataset
@_data_option
@_crawl_id_option
@click.option(
    "--target", default=None, help="Only broken targets under this domain, host or URL prefix."
)
@_prints_rows
def broken(data_dir: str, crawl_id: str | None, target: str | None, out: Output) -> None:
    """Links whose target answered 4xx/5xx or failed, with the pages that link to it.

    Targets on other domains have a status only when the crawl ran with --check-external.

    \b
    Example:
      linkcrawl broken --target example.com
      linkcrawl broken --format csv > broken.csv
    """
    from linkcrawl.reports.monitor import broken as run_broken

    links = run_broken(data_dir, crawl_id, target=target)
    _hint(links.attrs.get("hint"))
    out.rows(links, extra={"crawl_id": links.attrs["crawl_id"]})


@main.command()
@_reads_dataset
@click.argument("domain")
@_data_option
@_crawl_id_option
@click.option(
    "--max-depth-ok",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Pages deeper than this many clicks are listed as too_deep.",
)
@click.option("--issues", "list_issues", is_flag=True, help="Print how many rows each issue has.")
@click.option(
    "--issue",
    default=None,
    metavar="NAME",
    help="Print one issue list (names: --issues), the fix with the most effect first.",
)
@_prints_rows
def site(
    domain: str,
    data_dir: str,
    crawl_id: str | None,
    max_depth_ok: int,
    list_issues: bool,
    issue: str | None,
    out: Output,
) -> None:
    """The site audit of DOMAIN: per page status, indexability, click depth, inlinks,
    outlinks, link score (internal PageRank, 0-100), sitemap and orphan; and the issue
    lists (orphans, links to redirects and errors, redirect chains, ...).

    \b
    Example:
      linkcrawl site example.com
      linkcrawl site example.com --issues
      linkcrawl site example.com --issue links_to_redirect --format csv > fix.csv
    """
    from linkcrawl.reports.site_audit import ISSUES
    from linkcrawl.reports.site_audit import site as run_site

    if list_issues and issue is not None:
        raise LinkcrawlError("give --issues or --issue NAME, not both")
    if issue is not None and issue not in ISSUES:
        raise LinkcrawlError(f"unknown issue {issue!r}: choose from {', '.join(ISSUES)}")
    audit = run_site(data_dir, domain, crawl_id, max_depth_ok=max_depth_ok)
    s = audit.summary
    extra = {"summary": s}
    if out.fmt == "table":
        depth = "no seed on the site" if s["max_depth"] is None else f"max depth {s['max_depth']}"
        click.echo(
            _escape_terminal(
                f"Site {s['domain']} (crawl {s['crawl_id']}): {s['pages']:,} URLs, "
                f"{s['indexable']:,} indexable, {s['in_sitemap']:,} in sitemaps, {depth}"
            )
        )
    if list_issues:
        out.rows(audit.counts(), title="Issues (--issue NAME lists one):", extra=extra)
    elif issue is not None:
        out.rows(audit.issue(issue), title=f"{issue}: {ISSUES[issue]}", extra=extra)
    else:
        columns = ["url", "status", "indexable", "not_indexable_because", "depth",
                   "link_score", "inlinks", "unique_inlinks", "outlinks_internal",
                   "in_sitemap", "orphan"]  # fmt: skip
        out.rows(audit.pages, title="", default=columns, extra=extra)


@main.command()
@_reads_dataset
@_data_option
@_crawl_id_option
@click.option(
    "--trusted",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Trusted domains, one a line ('#' comments). Without it: seed candidates only.",
)
@click.option(
    "--good-share",
    type=click.FloatRange(0, 1),
    default=None,
    help="Share of domains assumed good, to scale a small trusted core (default 0.5).",
)
@click.option(
    "--target",
    default=None,
    help="Also check this domain's anchor profile: over-optimised when more than 20% of "
    "its referring domains use an exact-match anchor.",
)
@click.option(
    "--keywords",
    multiple=True,
    metavar="PHRASE[,PHRASE...]",
    help="With --target: the exact-match phrases (default: the linked pages' titles).",
)
@_prints_rows
def audit(
    data_dir: str,
    crawl_id: str | None,
    trusted: str | None,
    good_share: float | None,
    target: str | None,
    keywords: tuple[str, ...],
    out: Output,
) -> None:
    """TrustRank, spam mass and toxic-link flags, added to the authority tables.

    Run after `linkcrawl analyze`. Prints the domains with trust, spam mass and flags, or,
    without --trusted, the domains to review as trusted seeds (by inverse PageRank).
    Formulas and thresholds: docs/audit.md.

    \b
    Example:
      linkcrawl audit --trusted trusted.txt
      linkcrawl disavow example.com --out disavow.txt
    """
    from linkcrawl.reports.audit import GOOD_SHARE
    from linkcrawl.reports.audit import audit as run_audit

    if keywords and target is None:
        raise click.UsageError("--keywords applies to --target")

    result = run_audit(
        data_dir,
        crawl_id,
        trusted=trusted,
        good_share=GOOD_SHARE if good_share is None else good_share,
        progress=lambda line: click.echo(line, err=True),
        target=target,
        keywords=_phrases(keywords),
    )
    for note in result.notes:
        click.echo(_escape_terminal(note), err=True)
    click.echo(f"audit {result.crawl_id}: {result.flagged_links:,} flagged links", err=True)
    if not result.trust_computed:
        out.rows(result.candidates, title="Trusted seed candidates (review them):")
        return
    columns = ["domain", "authority", "trust", "spam_mass", "flags", "referring_domains"]
    out.rows(result.domains, default=columns)


@main.command()
@_reads_dataset
@_data_option
@_crawl_id_option
@click.argument("target")
@click.option(
    "--min-flags",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="List a domain when its links carry at least this many distinct flags.",
)
@click.option(
    "--trusted",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="More domains never to list, one a line (the audit's trusted ones never are).",
)
@click.option("--urls", is_flag=True, help="List the linking pages' URLs, not their domains.")
@click.option(
    "--no-reasons", is_flag=True, help="Leave out the comment lines giving each entry's flags."
)
@click.option(
    "--split",
    is_flag=True,
    help="Over Google's limits, write several files (OUT-1.txt, OUT-2.txt, ...) instead of "
    "refusing; needs --out.",
)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Default: stdout.")
def disavow(
    data_dir: str,
    crawl_id: str | None,
    target: str,
    min_flags: int,
    trusted: str | None,
    urls: bool,
    no_reasons: bool,
    split: bool,
    out: str | None,
) -> None:
    """A disavow file (Google's format) for the flagged domains linking to TARGET.

    Run `linkcrawl audit` first. Reproducible: sorted, no date. Review before uploading.
    The file keeps within Google's limits (100,000 lines, 2 MB, URLs of 2,048
    characters): one that would not is refused, naming the limit, and nothing is
    written; --split writes it as several files instead.

    \b
    Example:
      linkcrawl disavow example.com --min-flags 2 --out disavow.txt
      linkcrawl disavow example.com --urls --split --out disavow.txt
    """
    from linkcrawl.reports.audit import disavow_files

    if split and out is None:
        raise click.UsageError("--split writes files: give --out FILE")
    texts = disavow_files(
        data_dir,
        target,
        crawl_id,
        min_flags=min_flags,
        trusted=trusted,
        urls=urls,
        reasons=not no_reasons,
        split=split,
    )
    if out is None:
        # Escaped for a terminal only: redirected, the file is exactly the one --out writes.
        terminal = _stdout_is_terminal()
        click.echo(_escape_terminal(texts[0]) if terminal else texts[0], nl=False, color=True)
        return
    path = Path(out)
    if len(texts) == 1:
        paths = [path]
    else:
        stem, suffix = path.stem, path.suffix or ".txt"
        paths = [path.with_name(f"{stem}-{i}{suffix}") for i in range(1, len(texts) + 1)]
    _write_all(paths, [text.encode("utf-8") for text in texts])
    entry = "http" if urls else "domain:"
    for where, text in zip(paths, texts, strict=True):
        listed = sum(line.startswith(entry) for line in text.splitlines())
        click.echo(f"wrote {where}: {listed:,} {'pages' if urls else 'domains'}", err=True)


def _write_all(paths: list[Path], payloads: list[bytes]) -> None:
    """Write every file or none: each is staged beside its place, and the staged files are
    moved into place once all are whole."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, payload in zip(paths, payloads, strict=True):
            tmp = path.with_name(f".{path.name}~{os.getpid()}.tmp")
            staged.append((tmp, path))
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


@main.command()
@_reads_dataset
@_data_option
@_crawl_id_option
@click.argument("target")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default="report.html",
    show_default=True,
    help="The HTML file to write.",
)
@click.option(
    "--csv-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also write every table of the report in full to this folder, as CSV, and the "
    "site audit's lists, a CSV file per issue.",
)
@click.option(
    "--title", default=None, help="The report's heading [default: Backlink report: TARGET]."
)
def report(
    data_dir: str,
    crawl_id: str | None,
    target: str,
    out: str,
    csv_dir: str | None,
    title: str | None,
) -> None:
    """One self-contained HTML report of TARGET's backlinks (opens offline).

    What changed since the previous crawl, authority, referring domains over time and
    their authority histogram, new and lost referring domains, anchor classes and
    anchors, follow/nofollow and position splits, top backlinks, new and lost links,
    broken links, flagged links after an audit, and the site audit. Tables sort and
    filter in the page.

    \b
    Example:
      linkcrawl report example.com --out report.html
    """
    from linkcrawl.reports.html import report as run_report

    run_report(
        data_dir,
        target,
        out,
        crawl_id,
        warn=lambda line: click.echo(_escape_terminal(line), err=True),
        csv_dir=csv_dir,
        title=title,
    )
    click.echo(f"wrote {out}" + (f" and {csv_dir}/" if csv_dir else ""), err=True)


@main.command()
@_data_option
@click.option("--keep", type=click.IntRange(min=1), required=True, help="Finished crawls to keep.")
@click.option("--dry-run", is_flag=True, help="Only list the crawls that would go.")
def prune(data_dir: str, keep: int, dry_run: bool) -> None:
    """Remove old crawls: keep the KEEP newest finished crawls and any newer one.

    Removes each old crawl's partitions (edges, pages, authority), JOBDIR and manifest;
    never a running crawl.

    \b
    Example:
      linkcrawl prune --keep 30
      linkcrawl prune --keep 7 --dry-run
    """
    from linkcrawl.reports.monitor import prune as run_prune

    removed = run_prune(data_dir, keep, dry_run=dry_run)
    for crawl_id in removed:
        click.echo(crawl_id)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {len(removed)} crawl(s) from {data_dir}", err=True)


@main.command()
@_data_option
@click.option(
    "--web",
    "web_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="A folder of sites to serve instead, one sub-folder per host name "
    "(default: the demo web bundled with linkcrawl).",
)
@click.option(
    "--target",
    default="alpha-example.com",
    show_default=True,
    help="The domain whose backlinks are shown.",
)
def demo(data_dir: str, web_dir: str | None, target: str) -> None:
    """Crawl and analyse the bundled demo web, served on 127.0.0.1, and print the results.

    The demo web's sites are served by a local server that Scrapy uses as its HTTP proxy,
    so the pages keep their real-looking URLs and nothing leaves this machine.
    """
    from linkcrawl.analysis.authority import analyze as run_analyze
    from linkcrawl.crawl.runner import crawl as run_crawl
    from linkcrawl.demo import web_root
    from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
    from linkcrawl.reports.backlinks import backlinks as run_backlinks
    from linkcrawl.reports.backlinks import top_domains

    if web_dir is None:
        web_dir = str(web_root())
    web = LocalWeb(web_dir)
    hosts = web.hosts()
    if not hosts:
        raise LinkcrawlError(f"{web_dir}: no sites to serve (expected one folder per host)")
    with LocalWebServer(web) as server:
        os.environ["http_proxy"] = server.proxy_url
        click.echo(f"serving {len(hosts)} demo sites on {server.proxy_url}", err=True)
        crawl_id = run_crawl(
            [f"http://{h}/" for h in hosts],
            data_dir=data_dir,
            # Our own server on this machine: no need to be gentle with it.
            settings={"LOG_LEVEL": "WARNING", "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0},
            progress_seconds=2.0,
        )
    run_analyze(data_dir, crawl_id=crawl_id)
    out = Output(
        limit=10,
        width=shutil.get_terminal_size().columns,
        write=lambda text: click.echo(text, nl=False),
        see_all="`linkcrawl domains --limit 0` for all",
    )
    out.rows(
        top_domains(data_dir, crawl_id=crawl_id, limit=None),
        title=f"\nTop domains by authority (crawl {crawl_id}):",
    )
    report = run_backlinks(data_dir, target, crawl_id=crawl_id, limit=None)
    s = report.summary
    _hint(s.get("hint"))
    click.echo(
        _escape_terminal(
            f"\nBest backlinks of {target}: {s['referring_domains']:,} referring domains, "
            f"{s['inbound_links']:,} links"
        )
    )
    out.see_all = f"`linkcrawl backlinks {target} --limit 0` for all"
    columns = ["rank", "value", "source", "target", "anchor", "follow", "position"]
    out.rows(report.links, default=columns)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
