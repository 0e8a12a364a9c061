"""TARGET, as every report takes it (a registered domain, a host or a URL prefix), parsed once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow.compute as pc

from linkcrawl.errors import DatasetError
from linkcrawl.extract.urls import host_of, normalize_url, registered_domain

__all__ = ["Target", "parse_target", "target_hint"]

# Characters that cannot be in a bare host: a path, a query, a fragment, user info, spaces.
_NOT_IN_HOST = frozenset("/?#@\\ \t\r\n")


@dataclass(frozen=True)
class Target:
    """A parsed TARGET: what the reports select, and the name they print.

    ``kind`` is ``domain`` (every host of a registered domain), ``host`` (one host, such
    as ``www.example.com``, or ``example.com:8080``) or ``prefix`` (the URLs starting with
    a normalised http(s) URL). ``name`` is the domain, the host or the prefix; ``domain``
    the registered domain in every case.
    """

    kind: str
    name: str
    domain: str

    @property
    def host_pattern(self) -> str:
        """For a host target: the regular expression (RE2, as Arrow and DuckDB read it)
        that a URL on that host matches."""
        return f"^https?://{self.name.replace('.', '[.]')}(:[0-9]+)?/"

    def expression(self, target: str = "target", domain: str = "target_domain") -> Any:
        """The ``pyarrow.dataset`` filter on a table with a URL column ``target`` and its
        registered domain ``domain`` (edges, inbound.parquet) that selects this target."""
        on_domain = pc.field(domain) == self.domain
        if self.kind == "prefix":
            return on_domain & pc.starts_with(pc.field(target), self.name)
        if self.kind == "host":
            return on_domain & pc.match_substring_regex(pc.field(target), self.host_pattern)
        return on_domain

    def sql(self, target: str = "target", domain: str = "target_domain") -> str:
        """The same filter as a DuckDB condition (values as SQL literals)."""
        on_domain = f"{domain} = {_literal(self.domain)}"
        if self.kind == "prefix":
            return f"({on_domain} AND starts_with({target}, {_literal(self.name)}))"
        if self.kind == "host":
            return f"({on_domain} AND regexp_matches({target}, {_literal(self.host_pattern)}))"
        return f"({on_domain})"

    def other_spellings(self) -> list[Target]:
        """The targets a user may have meant instead: a URL prefix with the other scheme
        and with or without ``www.``; a ``www.`` host without it. A bare registered domain
        already covers all of its hosts."""
        if self.kind == "prefix":
            scheme, rest = self.name.split("://", 1)
            host, slash, path = rest.partition("/")
            other = "http" if scheme == "https" else "https"
            hosts = [host]
            if host.startswith("www."):
                hosts.append(host[4:])
            elif self.domain == host.split(":")[0]:
                hosts.append("www." + host)
            spellings = [f"{s}://{h}{slash}{path}" for h in hosts for s in (scheme, other)]
            return [parse_target(s) for s in spellings if s != self.name]
        if self.kind == "host" and self.name.startswith("www."):
            return [parse_target(self.name[4:])]
        return []


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_target(text: str) -> Target:
    """TARGET as the reports take it.

    - A URL with ``://`` is a prefix: normalised as a crawl normalises links (host
      lower-case and IDNA-encoded, default port dropped, fragment dropped); http and https
      only.
    - Anything else is a host name, lower-cased, a trailing dot dropped, IDNA-encoded:
      its registered domain (public suffix list) is a ``domain`` target, which covers
      every host of it; a host below it (``www.example.com``) or with a port is a ``host``
      target.

    Raises
    ------
    DatasetError
        An empty target, a URL that is not http(s), or a bare name with a path, query,
        user info or spaces in it (give a URL prefix instead).

    Examples
    --------
    >>> parse_target("WWW.Example.com.")
    Target(kind='host', name='www.example.com', domain='example.com')
    >>> parse_target("https://example.com")
    Target(kind='prefix', name='https://example.com/', domain='example.com')
    """
    raw = text.strip() if isinstance(text, str) else ""
    bad = DatasetError(f"bad target {text!r}: give a domain or an http(s) URL prefix")
    if "://" in raw:
        url = normalize_url(raw)
        if url is None:
            raise bad
        return Target("prefix", url, registered_domain(host_of(url)))
    name = raw.lower().rstrip(".")
    if not name or _NOT_IN_HOST & set(name):
        raise bad
    url = normalize_url(f"http://{name}/")
    if url is None:
        raise bad
    host = url[len("http://") : -1]  # IDNA-encoded, a default port dropped
    domain = registered_domain(host_of(url))
    if not domain:
        raise bad
    return Target("domain" if host == domain else "host", host, domain)


def target_hint(
    target: str | Target, has_rows: Callable[[Target], bool], what: str = "no backlinks to"
) -> str | None:
    """One line for an empty answer about ``target``: the other spelling of it (scheme,
    ``www.``) that the data has, or None when none does.

    ``has_rows(spelling)`` says whether any row of the table asked matches that
    :class:`Target`; the reports call this only when their answer is empty, so a right
    target costs nothing.
    """
    parsed = target if isinstance(target, Target) else parse_target(target)
    for spelling in parsed.other_spellings():
        if has_rows(spelling):
            return f"{what} {parsed.name}; the crawl has {spelling.name} — did you mean that?"
    return None
