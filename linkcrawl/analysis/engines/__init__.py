"""The engines that compute the authority tables, behind one contract, and their registry.

An engine takes a dataset, a crawl id and a :class:`~linkcrawl.analysis.definition.Definition`
and writes ``pages.parquet``, ``domains.parquet`` and ``inbound.parquet`` into the folder
it is given, with the schemas of :mod:`linkcrawl.dataset.schemas`. The caller
(:func:`linkcrawl.analysis.analyze`) checks the crawl, stages that folder and swaps it in;
the engine only computes and writes. The CLI's ``--engine`` choices and help come from
:data:`REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from linkcrawl.errors import DatasetError

if TYPE_CHECKING:
    from linkcrawl.analysis.definition import Definition
    from linkcrawl.dataset.layout import RemotePath
    from linkcrawl.dataset.reader import Dataset

__all__ = [
    "REGISTRY",
    "DuckDBOptions",
    "Engine",
    "MemoryOptions",
    "NoOptions",
    "Registration",
    "SparkOptions",
    "engine_options",
    "registration",
]


class Engine(Protocol):
    """What every engine implements."""

    def analyze(
        self,
        dataset: Dataset,
        crawl_id: str,
        definition: Definition,
        out: Path | RemotePath,
        options: Any,
        say: Callable[[str], None],
    ) -> None:
        """Write the three authority tables of ``crawl_id`` into the folder ``out``."""
        ...


@dataclass(frozen=True)
class NoOptions:
    """An engine that takes no options."""


@dataclass(frozen=True)
class MemoryOptions:
    # score the links between domains (relevance.parquet); --relevance-weight implies it
    relevance: bool = False


@dataclass(frozen=True)
class DuckDBOptions:
    memory_limit: str | None = None  # e.g. "2GB"; DuckDB spills to disk beyond it
    threads: int | None = None  # default DuckDB's, one per core
    temp_directory: Path | None = None  # where to spill; default data/.staging


@dataclass(frozen=True)
class SparkOptions:
    master: str = "local[2]"  # or spark://host:7077, yarn, ...
    spark_conf: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Registration:
    """One engine: its name, one line of help, its options, and where it lives (imported
    on first use, so that a missing optional dependency costs nothing until chosen)."""

    name: str
    summary: str
    options: type
    where: str  # "module:attribute" of the Engine
    local_only: bool  # needs a local data directory (no object store)
    audits: bool  # can compute the audit columns (linkcrawl audit) too
    # writes authority/relevance.parquet and weighs links by it (--relevance-weight)
    relevance: bool = False

    def load(self) -> Engine:
        module, _, attribute = self.where.partition(":")
        engine: Engine = getattr(importlib.import_module(module), attribute)
        return engine


REGISTRY: dict[str, Registration] = {
    r.name: r
    for r in (
        Registration(
            "sparse",
            "scipy power iteration in memory (the default)",
            MemoryOptions,
            "linkcrawl.analysis.engines.memory:SPARSE",
            local_only=False,
            audits=True,
            relevance=True,
        ),
        Registration(
            "networkx",
            "networkx's PageRank, the reference (small crawls only)",
            MemoryOptions,
            "linkcrawl.analysis.engines.memory:NETWORKX",
            local_only=False,
            audits=True,
            relevance=True,
        ),
        Registration(
            "duckdb",
            "SQL over the Parquet files, out of core under --memory-limit",
            DuckDBOptions,
            "linkcrawl.analysis.engines.duckdb:ENGINE",
            local_only=True,
            audits=False,
        ),
        Registration(
            "spark",
            "PySpark DataFrames, on a cluster or local[N]",
            SparkOptions,
            "linkcrawl.analysis.engines.spark:ENGINE",
            local_only=True,
            audits=False,
        ),
    )
}


def registration(name: str) -> Registration:
    """The registered engine ``name``; DatasetError naming the choices if there is none."""
    try:
        return REGISTRY[name]
    except KeyError:
        names = list(REGISTRY)
        choices = ", ".join(names[:-1]) + " or " + names[-1]
        raise DatasetError(f"unknown engine {name!r}: use {choices}") from None


def engine_options(name: str, given: Mapping[str, Any] | None) -> Any:
    """The options object of engine ``name`` from ``given`` (None values are left at their
    defaults); DatasetError for an option the engine does not take."""
    known = {f.name for f in fields(registration(name).options)}
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - known)
    if unknown:
        raise DatasetError(f"the {name} engine takes no option {', '.join(unknown)}")
    return registration(name).options(**given)
