"""Link extraction from one response: every link with its rel, follow, anchor, position and kind.

One pass over the lxml tree that Scrapy (parsel) already built. Scrapy's ``LinkExtractor``
is not used: it keeps only a nofollow flag, drops duplicate links, gives image links no
anchor and ignores meta robots and X-Robots-Tag.

Position comes from the nearest enclosing landmark (HTML5 element, ARIA role, or id/class
token), memoised per element so that each element of the tree is classified at most once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from linkcrawl.urls import absolute_url

__all__ = [
    "DEFAULT_POSITION_RULES",
    "POSITIONS",
    "KINDS",
    "LinkExtractor",
    "PageLinks",
    "PositionRule",
    "parse_robots_directives",
]

POSITIONS = ("head", "header", "navigation", "content", "sidebar", "footer")
KINDS = ("anchor", "image", "area", "redirect", "refresh", "canonical")
NOFOLLOW_RELS = frozenset({"nofollow", "ugc", "sponsored"})
ANCHOR_MAX_CHARS = 1000

_WS = re.compile(r"\s+")
_TOKEN_SPLIT = re.compile(r"[-_]")
_REFRESH = re.compile(
    r"""^\s*\d*(?:\.\d*)?\s*[;,]?\s*(?:url\s*=\s*)?(?P<q>['"]?)(?P<url>.*?)(?P=q)\s*$""",
    re.IGNORECASE | re.DOTALL,
)
# X-Robots-Tag directives that contain a colon themselves and so are not a user-agent prefix.
_COLON_DIRECTIVES = frozenset(
    {"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"}
)
_SKIP_TEXT = frozenset({"script", "style", "noscript", "template"})


@dataclass(frozen=True)
class PositionRule:
    """One landmark rule: an element matching any of its tags, roles or id/class tokens
    puts the links inside it (up to a nearer landmark) at ``position``.

    A token matches an id or class name that equals it, or whose first or last ``-``/``_``
    separated part equals it (``site-footer``, ``nav-menu``), but not a part in the middle
    (``content-sidebar-wrap`` wraps content too, so it is not a sidebar).
    """

    position: str
    tags: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, rule: Mapping[str, Any]) -> PositionRule:
        """Build a rule from a settings mapping such as
        ``{"position": "sidebar", "tokens": ["related-posts"]}``."""
        position = rule["position"]
        if position not in POSITIONS:
            raise ValueError(f"unknown link position {position!r}; use one of {POSITIONS}")
        return cls(
            position,
            frozenset(t.lower() for t in rule.get("tags", ())),
            frozenset(r.lower() for r in rule.get("roles", ())),
            frozenset(t.lower() for t in rule.get("tokens", ())),
        )


DEFAULT_POSITION_RULES: tuple[PositionRule, ...] = (
    PositionRule("footer", frozenset({"footer"}), frozenset({"contentinfo"}),
                 frozenset({"footer", "colophon"})),
    PositionRule("navigation", frozenset({"nav"}), frozenset({"navigation", "menubar", "menu"}),
                 frozenset({"nav", "navbar", "navigation", "menu", "breadcrumb", "breadcrumbs"})),
    PositionRule("sidebar", frozenset({"aside"}), frozenset({"complementary"}),
                 frozenset({"sidebar", "widget", "widgets"})),
    PositionRule("header", frozenset({"header"}), frozenset({"banner"}),
                 frozenset({"header", "masthead"})),
    PositionRule("content", frozenset({"main", "article"}), frozenset({"main", "article"}),
                 frozenset()),
)

# Internal marker: "content" because a main/article landmark says so, as opposed to the
# default for links outside every landmark. A header or footer inside such content is the
# article's own header or footer (HTML's sectioning rule), so its links stay content.
_EXPLICIT_CONTENT = "content!"


@dataclass
class PageLinks:
    """The links of one page as parallel columns, plus what the page says about itself."""

    target: list[str] = field(default_factory=list)
    anchor: list[str] = field(default_factory=list)
    rel: list[str] = field(default_factory=list)
    follow: list[bool] = field(default_factory=list)
    position: list[str | None] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    title: str | None = None
    canonical: str | None = None
    meta_robots: str | None = None
    base: str | None = None
    nofollow: bool = False
    noindex: bool = False

    def __len__(self) -> int:
        return len(self.target)

    def add(self, target: str, anchor: str, rel: str, follow: bool, position: str | None,
            kind: str) -> None:
        self.target.append(target)
        self.anchor.append(anchor)
        self.rel.append(rel)
        self.follow.append(follow)
        self.position.append(position)
        self.kind.append(kind)


def parse_robots_directives(values: Iterable[str], user_agent: str = "linkcrawl") -> set[str]:
    """Directives from meta robots contents or X-Robots-Tag header values that apply to us.

    Each value is a comma list (``noindex, nofollow``); a value may be scoped to one crawler
    (``otherbot: nofollow``), and then applies only when that crawler is ``user_agent``.
    ``none`` means ``noindex, nofollow``.

    >>> sorted(parse_robots_directives(["otherbot: noindex", "NOFOLLOW"]))
    ['nofollow']
    """
    ua = user_agent.lower()
    found: set[str] = set()
    for value in values:
        value = value.strip().lower()
        head, sep, rest = value.partition(":")
        if sep and head.strip() not in _COLON_DIRECTIVES and "," not in head:
            if head.strip() not in (ua, "*"):
                continue
            value = rest
        for directive in value.split(","):
            directive = directive.strip()
            if directive == "none":
                found.update(("noindex", "nofollow"))
            elif directive:
                found.add(directive.partition(":")[0].strip())
    return found


def _collapse(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _visible_text(el: Any) -> str:
    """Text inside ``el``, without script/style, comments or processing instructions."""
    parts = [el.text or ""]
    for child in el:
        tag = child.tag
        if isinstance(tag, str) and tag.lower() not in _SKIP_TEXT:
            parts.append(_visible_text(child))
        if child.tail:
            parts.append(child.tail)
    return "".join(parts)


class LinkExtractor:
    """Extracts :class:`PageLinks` from an lxml tree, or from a Scrapy response.

    Parameters
    ----------
    position_rules
        Landmark rules checked in order, first match wins; user rules go before
        :data:`DEFAULT_POSITION_RULES`.
    user_agent
        The robots name that scoped meta robots / X-Robots-Tag directives must name.
    """

    def __init__(self, position_rules: Sequence[PositionRule] = DEFAULT_POSITION_RULES,
                 user_agent: str = "linkcrawl") -> None:
        self.rules = tuple(position_rules)
        self.user_agent = user_agent.lower()
        self._by_tag: dict[str, str] = {}
        self._by_role: dict[str, str] = {}
        self._by_token: dict[str, str] = {}
        for rule in self.rules:  # first match wins: earlier rules keep their keys
            pos = _EXPLICIT_CONTENT if rule.position == "content" else rule.position
            for tag in rule.tags:
                self._by_tag.setdefault(tag, pos)
            for role in rule.roles:
                self._by_role.setdefault(role, pos)
            for token in rule.tokens:
                self._by_token.setdefault(token, pos)
        self._robots_names = frozenset({"robots", self.user_agent})

    # -- position -------------------------------------------------------------------------

    def _landmark(self, el: Any) -> str | None:
        """The position an element itself declares, or None."""
        tag = el.tag
        if not isinstance(tag, str):
            return None
        found = self._by_tag.get(tag.lower())
        if found is not None:
            return found
        get = el.get
        role = get("role")
        if role:
            for r in role.lower().split():
                found = self._by_role.get(r)
                if found is not None:
                    return found
        if self._by_token:
            for attr in (get("id"), get("class")):
                if not attr:
                    continue
                for token in attr.lower().split():
                    found = self._by_token.get(token)
                    if found is None and ("-" in token or "_" in token):
                        pieces = _TOKEN_SPLIT.split(token)
                        found = self._by_token.get(pieces[0]) or self._by_token.get(pieces[-1])
                    if found is not None:
                        return found
        return None

    def _position(self, el: Any, memo: dict[Any, str]) -> str:
        """Position of links inside ``el``; walks up to the first memoised ancestor."""
        chain = []
        pos = None
        node = el
        while node is not None:
            pos = memo.get(node)
            if pos is not None:
                break
            chain.append(node)
            node = node.getparent()
        if pos is None:
            pos = "content"
        for node in reversed(chain):
            own = self._landmark(node)
            if own is None or pos == "footer":
                pass  # a page footer keeps everything inside it, menus included
            elif own in ("header", "footer") and pos == _EXPLICIT_CONTENT:
                pass  # an article's own header/footer is part of the content
            else:
                pos = own
            memo[node] = pos
        return pos

    # -- extraction ------------------------------------------------------------------------

    def from_response(self, response: Any) -> PageLinks:
        """Extract from a Scrapy ``HtmlResponse`` (its already-built lxml tree)."""
        headers = [v.decode("latin-1") for v in response.headers.getlist(b"X-Robots-Tag")]
        return self.extract(response.selector.root, response.url, headers)

    def extract(self, root: Any, url: str, x_robots_tag: Sequence[str] = ()) -> PageLinks:
        """Extract every link of the document ``root`` found at ``url``."""
        out = PageLinks()
        if root is None or not isinstance(root.tag, str):
            return out
        base = url
        head_robots: list[str] = []
        refresh: list[str] = []
        for el in root.iter("base", "meta", "title"):
            tag = el.tag
            if tag == "base":
                href = el.get("href")
                if href and out.base is None:
                    resolved = absolute_url(href, url)
                    if resolved:
                        base = out.base = resolved
            elif tag == "title":
                if out.title is None:
                    out.title = _collapse(_visible_text(el))[:ANCHOR_MAX_CHARS]
            else:
                name = (el.get("name") or "").strip().lower()
                if name in self._robots_names:
                    content = el.get("content") or ""
                    head_robots.append(content if name == "robots" else f"{name}: {content}")
                elif (el.get("http-equiv") or "").strip().lower() == "refresh":
                    refresh.append(el.get("content") or "")
        if head_robots:
            out.meta_robots = ", ".join(v.strip() for v in head_robots)
        directives = parse_robots_directives(head_robots, self.user_agent)
        directives |= parse_robots_directives(x_robots_tag, self.user_agent)
        out.nofollow = "nofollow" in directives
        out.noindex = "noindex" in directives
        page_follow = not out.nofollow

        for content in refresh:
            m = _REFRESH.match(content)
            target = absolute_url(m.group("url"), base) if m and m.group("url") else None
            if target:
                out.add(target, "", "", page_follow, "head", "refresh")

        memo: dict[Any, str] = {}
        for el in root.iter("a", "area", "link"):
            href = el.get("href")
            if href is None:
                continue
            tag = el.tag
            rel_raw = el.get("rel")
            rel = " ".join(rel_raw.lower().split()) if rel_raw else ""
            if tag == "link":
                if "canonical" not in rel.split():
                    continue
                target = absolute_url(href, base)
                if target is None:
                    continue
                if out.canonical is None:
                    out.canonical = target
                out.add(target, "", rel, page_follow, "head", "canonical")
                continue
            target = absolute_url(href, base)
            if target is None:
                continue
            if tag == "area":
                kind = "area"
                anchor = _collapse(el.get("alt") or "")
            elif len(el):
                anchor = _collapse(_visible_text(el))
                kind = "anchor"
                if not anchor:
                    for img in el.iter("img"):
                        kind = "image"
                        anchor = _collapse(img.get("alt") or "")
                        break
            else:
                anchor = _collapse(el.text or "") if el.text else ""
                kind = "anchor"
            follow = page_follow and not (rel and NOFOLLOW_RELS.intersection(rel.split()))
            out.add(target, anchor[:ANCHOR_MAX_CHARS], rel, follow,
                    self._position(el.getparent(), memo), kind)
        if memo:
            out.position = ["content" if p == _EXPLICIT_CONTENT else p for p in out.position]
        return out


def build_position_rules(custom: Iterable[Mapping[str, Any]] | None) -> tuple[PositionRule, ...]:
    """User rules (from the ``LINKCRAWL_POSITION_RULES`` setting) before the defaults."""
    user = tuple(PositionRule.from_mapping(r) for r in (custom or ()))
    return user + DEFAULT_POSITION_RULES


def html_root(html: str | bytes, url: str = "") -> Any:
    """Parse HTML the way parsel does, for extracting from saved pages."""
    parser = etree.HTMLParser(recover=True, encoding="utf-8" if isinstance(html, bytes) else None)
    return etree.fromstring(html, parser=parser, base_url=url or None)
