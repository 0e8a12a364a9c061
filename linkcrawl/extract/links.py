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

from linkcrawl.extract.urls import absolute_url

__all__ = [
    "DEFAULT_POSITION_RULES",
    "KINDS",
    "POSITIONS",
    "LinkExtractor",
    "PageLinks",
    "PositionRule",
    "build_position_rules",
    "html_root",
    "parse_robots_directives",
]

POSITIONS = ("head", "header", "navigation", "content", "sidebar", "footer")
KINDS = ("anchor", "image", "area", "redirect", "refresh", "canonical")
NOFOLLOW_RELS = frozenset({"nofollow", "ugc", "sponsored"})
ANCHOR_MAX_CHARS = 1000
# The page text kept for relevance (pages.description, headings, text): capped so that a
# page costs about a kilobyte compressed (docs/dataset.md gives the measured figure).
DESCRIPTION_MAX_CHARS = 300
HEADINGS_MAX_CHARS = 300
TEXT_MAX_CHARS = 1000
_HEADINGS = ("h1", "h2", "h3")

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
# A crawler name before a colon in a robots directive list (``googlebot: noindex``).
_UA_NAME = re.compile(r"[a-z0-9*][a-z0-9_.*-]*")
_MISSING = object()
_LANDMARK = object()  # key under which a transition table keeps its landmark
# Bound on remembered (tag, id, class, role) combinations: ids like "post-12345" are
# unbounded over a long crawl.
_DECLARED_CACHE_SIZE = 100_000


@dataclass(frozen=True)
class PositionRule:
    """One landmark rule: an element matching any of its tags, roles or id/class tokens
    puts the links inside it (up to a nearer landmark) at ``position``.

    A token matches an id or class name that equals it, or whose first or last ``-``/``_``
    separated part equals it (``site-footer``, ``nav-menu``; for a BEM name such as
    ``site-header__logo``, its block ``site-header``), but not a part in the middle
    (``content-sidebar`` holds content too, so it is not a sidebar), after dropping
    wrapper suffixes (``footer-wrap``, ``td-footer-wrapper``), and not a state
    modifier (``has-sidebar``, ``no-header``). A weak token matches a whole id or class
    name only, and is ignored inside content: page builders put ``widget`` on every block
    (``elementor-widget``) and Blogger wraps the post itself in ``div.widget.Blog``.
    """

    position: str
    tags: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()
    weak_tokens: frozenset[str] = frozenset()

    @classmethod
    def from_mapping(cls, rule: Mapping[str, Any]) -> PositionRule:
        """Build a rule from a settings mapping such as
        ``{"position": "sidebar", "tokens": ["related-posts"]}``.

        Keys: ``position`` (required), ``tags``, ``roles``, ``tokens``, ``weak_tokens``.
        """
        position = rule["position"]
        if position not in POSITIONS or position == "head":
            raise ValueError(f"unknown link position {position!r}; use one of {POSITIONS[1:]}")
        unknown = set(rule) - {"position", "tags", "roles", "tokens", "weak_tokens"}
        if unknown:
            raise ValueError(f"unknown key(s) {sorted(unknown)} in link position rule {rule!r}")

        def lower(key: str) -> frozenset[str]:
            value = rule.get(key, ())
            if isinstance(value, str):
                value = value.split()
            return frozenset(v.lower() for v in value)

        return cls(position, lower("tags"), lower("roles"), lower("tokens"), lower("weak_tokens"))


DEFAULT_POSITION_RULES: tuple[PositionRule, ...] = (
    PositionRule(
        "footer",
        tags=frozenset({"footer"}),
        roles=frozenset({"contentinfo"}),
        tokens=frozenset({"footer", "colophon"}),
    ),
    PositionRule(
        "navigation",
        tags=frozenset({"nav"}),
        roles=frozenset({"navigation", "menubar", "menu"}),
        tokens=frozenset(
            {
                "nav",
                "navbar",
                "navigation",
                "menu",
                "breadcrumb",
                "breadcrumbs",
                "navi",
                # run-together names seen on real templates (article-extraction-benchmark)
                "subnav",
                "submenu",
                "topnav",
                "mainnav",
                "sitenav",
                "sidenav",
                "mainmenu",
                "megamenu",
                "sidemenu",
                "menubar",
            }
        ),
    ),
    PositionRule(
        "sidebar",
        tags=frozenset({"aside"}),
        roles=frozenset({"complementary"}),
        tokens=frozenset({"sidebar"}),
        weak_tokens=frozenset({"widget", "widgets", "widget-area"}),
    ),
    PositionRule(
        "header",
        tags=frozenset({"header"}),
        roles=frozenset({"banner"}),
        tokens=frozenset({"header", "masthead"}),
    ),
    PositionRule(
        "content",
        tags=frozenset({"main", "article"}),
        roles=frozenset({"main", "article"}),
        weak_tokens=frozenset(
            {
                "main",
                "content",
                "main-content",
                "site-content",
                "content-area",
                "post",
                "entry",
                "entry-content",
                "post-body",
                "article-body",
                "story-body",
            }
        ),
    ),
)

# Position states while walking down from the root. "content" is the default for links
# outside every landmark. A state set by an HTML element or ARIA role (authored semantics)
# ends in "!"; one set by a class or id name (a guess) has no mark, except content named
# by a class or id, "content~". Inside an element landmark only the refinements of
# _REFINES apply; inside a class/id landmark the nearest landmark wins, so a wrapper that
# happens to be called "td-content-and-menu" cannot swallow the page.
_CONTENT_TOKEN = "content~"
_CONTENT_ELEMENT = "content!"
# Inside an element landmark, which positions a nearer landmark may set. A page footer
# or a menu keeps everything inside it: a "header" or "widget" class inside a mega menu is
# still the menu. Inside a header or sidebar only a menu is more specific. A header or
# footer inside main/article is the article's own (HTML's sectioning rule): content.
_REFINES: dict[str, frozenset[str]] = {
    "content": frozenset({"navigation", "sidebar"}),
    "header": frozenset({"navigation"}),
    "sidebar": frozenset({"navigation"}),
    "navigation": frozenset(),
    "footer": frozenset(),
}


def _plain(state: str) -> str:
    """The position a state stands for."""
    return "content" if state[:7] == "content" else state.rstrip("!")


# First parts of a class name that say "this page has/lacks X", not "this is X".
_MODIFIER_PREFIXES = frozenset({"has", "no", "with", "without", "is", "show", "hide", "hidden"})
# Last parts of a class name that say "this wraps X": X is the name that counts.
_WRAPPER_SUFFIXES = frozenset(
    {"wrap", "wrapper", "container", "inner", "outer", "holder", "area", "region", "full"}
)
# Elements that are never landmarks: themes put state classes on them (body.nav-open,
# html.header-sticky) that say nothing about where a link is.
_NOT_LANDMARKS = frozenset({"html", "body", "head", "a", "area"})


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
    #: The meta description, the h1-h3 headings (one a line) and an excerpt of the main
    #: text (the paragraphs in content, see :meth:`LinkExtractor.extract`), each capped.
    description: str | None = None
    headings: str | None = None
    text: str | None = None
    canonical: str | None = None
    meta_robots: str | None = None
    base: str | None = None
    nofollow: bool = False
    noindex: bool = False
    #: Signals that the page is a client-rendered shell (:mod:`linkcrawl.extract.shell`),
    #: filled only when asked for (``--render auto``).
    shell: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.target)

    def add(
        self, target: str, anchor: str, rel: str, follow: bool, position: str | None, kind: str
    ) -> None:
        self.target.append(target)
        self.anchor.append(anchor)
        self.rel.append(rel)
        self.follow.append(follow)
        self.position.append(position)
        self.kind.append(kind)


def parse_robots_directives(values: Iterable[str], user_agent: str = "linkcrawl") -> set[str]:
    """Directives from meta robots contents or X-Robots-Tag header values that apply to us.

    Each value is a comma list (``noindex, nofollow``). A directive may be scoped to one
    crawler (``otherbot: noindex, nofollow``): the scope runs from the name to the next
    name, and applies only when that name is ``user_agent`` (or ``*``). Several values
    (several headers, several meta tags) add up. ``none`` means ``noindex, nofollow``.
    Directive names are lower-cased; their values (``max-snippet: 20``) are dropped.

    >>> sorted(parse_robots_directives(["otherbot: noindex, nofollow", "NOARCHIVE"]))
    ['noarchive']
    >>> sorted(parse_robots_directives(["linkcrawl: none"]))
    ['nofollow', 'noindex']
    """
    ua = user_agent.lower()
    found: set[str] = set()
    for value in values:
        applies = True  # unscoped directives apply to every crawler
        for piece in value.lower().split(","):
            head, sep, rest = piece.partition(":")
            head = head.strip()
            if sep and head not in _COLON_DIRECTIVES and _UA_NAME.fullmatch(head):
                applies = head in (ua, "*")
                piece = rest
            if not applies:
                continue
            directive = piece.partition(":")[0].strip()
            if directive == "none":
                found.update(("noindex", "nofollow"))
            elif directive:
                found.add(directive)
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
        :data:`DEFAULT_POSITION_RULES` (see :func:`build_position_rules`).
    user_agent
        The robots name that scoped meta robots / X-Robots-Tag directives must name.

    Examples
    --------
    >>> page = html_root(b'<nav><a href="/about" rel="NoFollow">About</a></nav>')
    >>> links = LinkExtractor().extract(page, "http://example.com/")
    >>> links.target, links.rel, links.follow, links.position
    (['http://example.com/about'], ['nofollow'], [False], ['navigation'])
    """

    def __init__(
        self,
        position_rules: Sequence[PositionRule] = DEFAULT_POSITION_RULES,
        user_agent: str = "linkcrawl",
    ) -> None:
        self.rules = tuple(position_rules)
        self.user_agent = user_agent.lower()
        # key -> (rank, position state, weak); rank is the rule's index, so that on one
        # element the first rule that matches wins, whatever attribute it matched on.
        self._by_tag: dict[str, tuple[int, str, bool]] = {}
        self._by_role: dict[str, tuple[int, str, bool]] = {}
        self._by_token: dict[str, tuple[int, str, bool]] = {}
        self._by_whole_token: dict[str, tuple[int, str, bool]] = {}
        # Rank on one element, lowest wins: the user's rules in their order, then the
        # defaults' elements and roles, then the defaults' class/id names, then their weak
        # names; so <article class="nav-links"> is content, unless a user rule says otherwise.
        n = len(self.rules)
        for index, rule in enumerate(self.rules):
            default = rule in DEFAULT_POSITION_RULES
            element_rank = index
            token_rank = index + n if default else index
            weak_rank = index + 2 * n if default else index
            element_state = f"{rule.position}!"
            token_state = _CONTENT_TOKEN if rule.position == "content" else rule.position
            for tag in rule.tags:
                self._by_tag.setdefault(tag, (element_rank, element_state, False))
            for role in rule.roles:
                self._by_role.setdefault(role, (element_rank, element_state, False))
            for token in rule.tokens:
                self._by_token.setdefault(token, (token_rank, token_state, False))
                self._by_whole_token.setdefault(token, (token_rank, token_state, False))
            for token in rule.weak_tokens:
                self._by_whole_token.setdefault(token, (weak_rank, token_state, True))
        self._next: dict[tuple[str, bool], dict[Any, Any]] = {}
        self._declared_cache: dict[tuple[Any, ...], Any] = {}
        self._robots_names = frozenset({"robots", self.user_agent})

    # -- position -------------------------------------------------------------------------

    def _landmark(self, el: Any) -> tuple[str, bool] | None:
        """The position state an element itself declares and whether by a weak token."""
        tag = el.tag
        if not isinstance(tag, str):
            return None
        get = el.get
        return self._declared(tag, get("id"), get("class"), get("role"))

    def _declared(
        self, tag: str, id_: str | None, class_: str | None, role: str | None
    ) -> tuple[str, bool] | None:
        """What an element with this tag and these attributes declares; see _landmark."""
        tag = tag.lower()
        if tag in _NOT_LANDMARKS:
            return None
        best = self._by_tag.get(tag)
        if role:
            for r in role.lower().split():
                found = self._by_role.get(r)
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
        by_token = self._by_token
        by_whole = self._by_whole_token
        for attr in (id_, class_):
            if not attr:
                continue
            for token in attr.lower().split():
                found = by_whole.get(token)
                if found is None and "__" in token:
                    # BEM: "standard-navigation__primary-links" is part of its block
                    token = token.partition("__")[0]
                    found = by_whole.get(token)
                if found is None and ("-" in token or "_" in token):
                    pieces = _TOKEN_SPLIT.split(token)
                    while len(pieces) > 1 and pieces[-1] in _WRAPPER_SUFFIXES:
                        pieces.pop()  # "td-footer-wrapper" is the footer
                    first = pieces[0]
                    if first not in _MODIFIER_PREFIXES:
                        found = by_token.get(first)
                        last = by_token.get(pieces[-1])
                        if last is not None and (found is None or last[0] < found[0]):
                            found = last
                if found is not None and (best is None or found[0] < best[0]):
                    best = found
        return None if best is None else (best[1], best[2])

    def _refine(self, pos: str, state: str, weak: bool) -> str:
        """The state inside an element declaring ``state`` within a region at ``pos``."""
        if pos == "content":
            return state
        if pos == "footer":  # a page footer keeps its menus and widgets, even by name
            return pos
        if weak:  # weak names only ever refine the default
            return pos
        if pos[-1] == "!":
            inner = _plain(state)
            return f"{inner}!" if inner in _REFINES[_plain(pos)] else pos
        return state  # inside a class/id landmark the nearest landmark wins

    def _position(self, el: Any, memo: dict[Any, str]) -> str:
        """Position state of links inside ``el``; walks up to the first memoised ancestor."""
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
        transitions = self._next
        declared = self._declared_cache
        for node in reversed(chain):
            tag = node.tag
            if isinstance(tag, str):
                get = node.get
                # Menus repeat the same tag and attributes on every item: classify each
                # combination once per extractor, not once per element.
                key = (tag, get("id"), get("class"), get("role"))
                steps = declared.get(key)
                if steps is None:
                    if len(declared) > _DECLARED_CACHE_SIZE:
                        declared.clear()
                    own = self._declared(*key)
                    # state inside this element, by state outside it (None: not a landmark)
                    steps = declared[key] = transitions.setdefault(own, {}) if own else {}
                    if own:
                        steps[_LANDMARK] = own
                if steps:
                    nxt = steps.get(pos)
                    if nxt is None:
                        nxt = steps[pos] = self._refine(pos, *steps[_LANDMARK])
                    pos = nxt
            memo[node] = pos
        return pos

    def position_of(self, el: Any) -> str:
        """The position of a link element: one of :data:`POSITIONS` (never ``head``)."""
        return _plain(self._position(el.getparent(), {}))

    # -- extraction ------------------------------------------------------------------------

    def from_response(self, response: Any) -> PageLinks:
        """Extract from a Scrapy ``HtmlResponse`` (its already-built lxml tree)."""
        headers = [v.decode("latin-1") for v in response.headers.getlist(b"X-Robots-Tag")]
        return self.extract(response.selector.root, response.url, headers)

    def extract(self, root: Any, url: str, x_robots_tag: Sequence[str] = ()) -> PageLinks:
        """Extract every link of the document ``root`` found at ``url``.

        Parameters
        ----------
        root
            The lxml root element (``response.selector.root`` in Scrapy).
        url
            The URL the page was fetched from: relative hrefs resolve against it, or
            against the page's first ``<base href>`` wherever that stands.
        x_robots_tag
            Every ``X-Robots-Tag`` header value of the response (one per header).

        Returns
        -------
        PageLinks
            One row per link occurrence in document order: meta refresh first, then
            ``a``, ``area`` and ``link rel=canonical`` as they appear.
        """
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
                if name == "description":
                    if out.description is None:
                        described = _collapse(el.get("content") or "")
                        out.description = described[:DESCRIPTION_MAX_CHARS] or None
                elif name in self._robots_names:
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

        # One resolution per distinct href: pages repeat their menu links, and resolving
        # is the costliest step per link.
        resolved_hrefs: dict[str, str | None] = {}

        def resolve(href: str) -> str | None:
            target = resolved_hrefs.get(href, _MISSING)
            if target is _MISSING:
                target = resolved_hrefs[href] = absolute_url(href, base)
            return target  # type: ignore[return-value]

        for content in refresh:
            m = _REFRESH.match(content)
            target = resolve(m.group("url")) if m and m.group("url") else None
            if target:
                out.add(target, "", "", page_follow, "head", "refresh")

        memo: dict[Any, str] = {}
        position = self._position
        targets, anchors, rels = out.target, out.anchor, out.rel
        follows, positions, kinds = out.follow, out.position, out.kind
        rel_forms: dict[str, tuple[str, bool]] = {}  # raw rel -> (tokens, nofollow by rel)
        for el in root.iter("a", "area", "link"):
            href = el.get("href")
            if href is None:
                continue
            tag = el.tag
            rel_raw = el.get("rel")
            if rel_raw:
                form = rel_forms.get(rel_raw)
                if form is None:
                    tokens = rel_raw.lower().split()
                    form = rel_forms[rel_raw] = (
                        " ".join(tokens),
                        not NOFOLLOW_RELS.isdisjoint(tokens),
                    )
                rel, rel_nofollow = form
            else:
                rel, rel_nofollow = "", False
            if tag == "link":
                if "canonical" not in rel.split():
                    continue
                target = resolve(href)
                if target is None:
                    continue
                if out.canonical is None:
                    out.canonical = target
                out.add(target, "", rel, page_follow, "head", "canonical")
                continue
            target = resolve(href)
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
                text = el.text
                anchor = _collapse(text) if text else ""
                kind = "anchor"
            targets.append(target)
            anchors.append(anchor[:ANCHOR_MAX_CHARS])
            rels.append(rel)
            follows.append(page_follow and not rel_nofollow)
            positions.append(position(el.getparent(), memo))
            kinds.append(kind)
        if memo:
            plain = {state: _plain(state) for state in set(out.position) if state}
            out.position = [plain.get(p, p) if p else p for p in out.position]
        self._page_text(root, out, memo)
        return out

    def _page_text(self, root: Any, out: PageLinks, memo: dict[Any, str]) -> None:
        """Fill ``out.headings`` and ``out.text``: the h1-h3 outside navigation and
        footers, and the paragraphs in content (by the link positions' landmarks, so a
        menu or a footer's blurb is not the page's text), each run capped."""
        position = self._position
        out.headings = _capped_text(
            (el for el in root.iter(*_HEADINGS)
             if _plain(position(el, memo)) not in ("navigation", "footer", "sidebar")),
            HEADINGS_MAX_CHARS, "\n",
        )  # fmt: skip
        out.text = _capped_text(
            (el for el in root.iter("p") if _plain(position(el, memo)) == "content"),
            TEXT_MAX_CHARS, " ",
        )  # fmt: skip


def _capped_text(elements: Iterable[Any], cap: int, sep: str) -> str | None:
    """The visible text of ``elements``, each collapsed, joined by ``sep``, read until
    ``cap`` characters and cut there; None when none has text."""
    pieces: list[str] = []
    size = 0
    for el in elements:
        piece = _collapse(_visible_text(el))
        if piece:
            pieces.append(piece)
            size += len(piece) + 1
            if size >= cap:
                break
    return sep.join(pieces)[:cap] if pieces else None


def build_position_rules(custom: Iterable[Mapping[str, Any]] | None) -> tuple[PositionRule, ...]:
    """User rules (from the ``LINKCRAWL_POSITION_RULES`` setting) before the defaults."""
    user = tuple(PositionRule.from_mapping(r) for r in (custom or ()))
    return user + DEFAULT_POSITION_RULES


def html_root(html: str | bytes, url: str = "") -> Any:
    """Parse HTML the way parsel does, for extracting from saved pages."""
    parser = etree.HTMLParser(recover=True, encoding="utf-8" if isinstance(html, bytes) else None)
    return etree.fromstring(html, parser=parser, base_url=url or None)
