"""Write a synthetic web-like link graph as a linkcrawl dataset, for bench/analyze_bench.py.

Shape, by default: 1M pages on ~20k registered domains whose sizes follow Zipf's law, each
domain served by a few hosts (www., blog., shop.); 10M links, about 70 % internal (to
pages of the same domain, skewed toward its top pages, as navigation does) and 30 % to
other domains (skewed toward globally popular pages, so in-degree has a heavy tail);
positions, nofollow, image links and redirects in plausible shares; 90 % of the pages
fetched, the rest only linked to. URLs are real strings (~45 bytes), as a crawl writes.

    python bench/gen_web_graph.py [DIR] [--pages N] [--edges M] [--seed S] [--text]

``--text`` gives every fetched page the page text a crawl keeps (title, description,
headings, text; schema 4), of the average lengths measured on the article-extraction
pages of ../shared/data (74, 129, 158 and 928 characters), in synthetic words: each domain
writes about one of 200 topics, 60 % of its words from the topic's 300, the rest from 5,000
common words drawn by Zipf's law, for bench/analyze_bench.py --relevance.

``generate_site`` (``--site``) builds one big site instead, for bench/site_bench.py: a
home page, sections and a ten-way tree of pages below them, every page with navigation
and footer links, its children and a few related pages in its content; some pages
noindex, canonicalised, redirected, missing or blocked by robots.txt, and a sitemap that
lists most pages and some orphans no page links to.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.dataset.schemas import PAGES_SCHEMA, SITEMAPS_SCHEMA
from linkcrawl.dataset.write import PartWriter
from linkcrawl.sources.edgelist import import_edges

DEFAULT_DIR = Path(__file__).resolve().parent / "results" / "web-1m"
CRAWL_ID = "synthetic1M"
SUFFIXES = ["com", "com", "com", "org", "net", "co.uk", "io", "de", "github.io"]
SUBHOSTS = ["www", "www", "www", "www", "blog", "shop"]
SECTIONS = ["news", "blog", "products", "about", "docs", "stories", "tag", "category"]
WORDS = [
    "home", "about us", "contact", "read more", "click here", "pricing", "blog", "news",
    "best running shoes", "cheap flights", "python tutorial", "privacy policy", "terms",
    "login", "sign up", "download", "documentation", "next", "previous", "archive",
]  # fmt: skip
POSITIONS = ["content", "navigation", "footer", "header", "sidebar"]
POSITION_SHARE = [0.40, 0.25, 0.15, 0.10, 0.10]


TOPICS = 200
TOPIC_WORDS = 300
COMMON_WORDS = 5000
# words per column: about the article pages' characters (74, 129, 158, 928) / 6.5
TEXT_WORDS = {"title": 11, "description": 20, "headings": 24, "text": 143}
_SYLLABLES = [c + v for c in "bcdfghklmnprstvz" for v in "aeiou"]


def _words(n: int, offset: int) -> list[str]:
    """``n`` distinct pronounceable words (2-4 syllables), the ``offset``-th on."""
    out = []
    for i in range(offset, offset + n):
        word, k = "", i + len(_SYLLABLES)
        while k:
            k, r = divmod(k, len(_SYLLABLES))
            word += _SYLLABLES[r]
        out.append(word)
    return out


def page_text(urls: pa.Array, seed: int = 1, chunk: int = 50_000) -> dict[str, pa.Array]:
    """Synthetic page text (see the module docstring) for each URL, its domain's topic
    chosen by the URL's host."""
    rng = np.random.default_rng(seed + 7)
    common = pa.array(_words(COMMON_WORDS, 0))
    topical = pa.array(_words(TOPICS * TOPIC_WORDS, COMMON_WORDS))
    hosts = pc.struct_field(pc.extract_regex(urls, r"^https?://[^.]+\.(?P<d>[^/]+)"), [0])
    topic = pc.hash_64(hosts) if hasattr(pc, "hash_64") else None
    if topic is None:
        codes = pc.dictionary_encode(hosts).indices.to_numpy()
        topic = codes % TOPICS
    else:
        topic = (topic.to_numpy().astype(np.uint64) % TOPICS).astype(np.int64)
    zipf = 1.0 / np.arange(1, COMMON_WORDS + 1)
    zipf /= zipf.sum()
    columns: dict[str, list[pa.Array]] = {name: [] for name in TEXT_WORDS}
    for start in range(0, len(urls), chunk):
        t = topic[start : start + chunk]
        for name, n in TEXT_WORDS.items():
            from_topic = rng.random((len(t), n)) < 0.6
            words = np.where(
                from_topic,
                COMMON_WORDS + t[:, None] * TOPIC_WORDS + rng.integers(0, TOPIC_WORDS, (len(t), n)),
                rng.choice(COMMON_WORDS, (len(t), n), p=zipf),
            ).ravel()
            vocab = pa.concat_arrays([common, topical])
            lists = pa.ListArray.from_arrays(
                pa.array(np.arange(0, len(words) + 1, n, dtype=np.int32)), vocab.take(words)
            )
            columns[name].append(pc.binary_join(lists, " "))
    return {name: pa.concat_arrays(parts) for name, parts in columns.items()}


def add_page_text(directory: Path, crawl_id: str, seed: int = 1) -> None:
    """Rewrite the pages of ``crawl_id`` with :func:`page_text` filled in."""
    import pyarrow.dataset as pads

    folder = directory / "pages" / f"crawl_id={crawl_id}"
    parts = sorted(folder.glob("*.parquet"))
    pages = pads.dataset([str(p) for p in parts], format="parquet").to_table()
    text = page_text(pages.column("url").combine_chunks(), seed)
    pages = pa.table(
        {f.name: text[f.name] if f.name in text else pages.column(f.name) for f in PAGES_SCHEMA},
        schema=PAGES_SCHEMA,
    )
    for part in parts:
        part.unlink()
    writer = PartWriter(directory, "pages", crawl_id, PAGES_SCHEMA)
    for start in range(0, pages.num_rows, 1 << 18):
        writer.write(pages.slice(start, 1 << 18))


def generate(n_pages: int, n_edges: int, seed: int = 1) -> tuple[pa.Table, pa.Array]:
    """The edges table (source, target, anchor, rel, follow, position, kind, ordinal) and
    the URLs of the fetched pages."""
    rng = np.random.default_rng(seed)
    n_domains = max(1, n_pages // 50)
    # Zipf domain sizes: a few huge sites, a long tail of small ones (each >= 1 page).
    size = 1.0 / np.arange(1, n_domains + 1)
    size = np.maximum(1, np.floor(size / size.sum() * n_pages)).astype(np.int64)
    size[0] += n_pages - size.sum()
    domain_of_page = np.repeat(np.arange(n_domains), size)
    domain_start = np.concatenate([[0], np.cumsum(size)[:-1]])

    names = [f"site{i}-{'abcdefgh'[i % 8]}.{SUFFIXES[i % len(SUFFIXES)]}" for i in range(n_domains)]
    sub = rng.integers(0, len(SUBHOSTS), n_pages)
    sub[domain_start] = 0  # every site has a www home page
    section = rng.integers(0, len(SECTIONS), n_pages)
    index = np.arange(n_pages) - domain_start[domain_of_page]
    urls = pa.array(
        [
            f"https://{SUBHOSTS[s]}.{names[d]}/" if i == 0
            else f"https://{SUBHOSTS[s]}.{names[d]}/{SECTIONS[c]}/page-{i}.html"
            for d, s, c, i in zip(domain_of_page.tolist(), sub.tolist(), section.tolist(),
                                  index.tolist(), strict=True)
        ],
        pa.string(),
    )  # fmt: skip

    fetched = np.flatnonzero(rng.random(n_pages) < 0.9)
    fetched = np.union1d(fetched, domain_start)
    rng.shuffle(fetched)  # crawl order
    outdegree = rng.poisson(n_edges / len(fetched) - 1, len(fetched)) + 1
    outdegree[-1] += n_edges - outdegree.sum()  # exactly n_edges links
    while outdegree[-1] < 1:  # poisson overshoot: take the excess from the largest pages
        i = int(np.argmax(outdegree[:-1]))
        take = min(outdegree[i] - 1, 1 - outdegree[-1])
        outdegree[i] -= take
        outdegree[-1] += take
    source = np.repeat(fetched, outdegree)
    ordinal = np.arange(n_edges) - np.repeat(np.cumsum(outdegree) - outdegree, outdegree)

    internal = rng.random(n_edges) < 0.7
    src_domain = domain_of_page[source]
    # Internal: skewed toward the first pages of the domain (home, sections).
    u = rng.random(n_edges)
    internal_target = domain_start[src_domain] + (size[src_domain] * u**3).astype(np.int64)
    # External: a global popularity order, heavy-tailed.
    popularity = rng.permutation(n_pages)
    external_target = popularity[(n_pages * rng.random(n_edges) ** 4).astype(np.int64)]
    target = np.where(internal, internal_target, external_target)

    position = rng.choice(len(POSITIONS), n_edges, p=POSITION_SHARE)
    nofollow = rng.random(n_edges) < np.where(internal, 0.02, 0.15)
    rel = np.where(nofollow, "nofollow", "")
    kind_draw = rng.random(n_edges)
    kind = np.where(kind_draw < 0.05, "image", np.where(kind_draw < 0.051, "redirect", "anchor"))
    anchor = rng.integers(0, len(WORDS), n_edges)
    positions = pa.array(POSITIONS).take(pa.array(position))
    positions = pc.if_else(pa.array(kind == "redirect"), pa.scalar(None, pa.string()), positions)
    edges = pa.table(
        {
            "source": urls.take(pa.array(source)),
            "target": urls.take(pa.array(target)),
            "anchor": pa.array(WORDS).take(pa.array(anchor)),
            "rel": pa.array(rel),
            "follow": pa.array(~nofollow),
            "position": positions,
            "kind": pa.array(kind),
            "ordinal": pa.array(ordinal.astype(np.int32)),
        }
    )
    return edges, urls.take(pa.array(fetched))


SITE_HOST = "www.bigsite-example.com"
SITE_DIR = Path(__file__).resolve().parent / "results" / "site-1m"
SITE_CRAWL_ID = "site1M"


def generate_site(
    n_pages: int, seed: int = 1, orphans: int = 1000
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """One site of ``n_pages`` linked pages plus ``orphans`` only its sitemap lists: the
    edges table, the pages table (PAGES_SCHEMA) and the sitemap entries (SITEMAPS_SCHEMA).
    About 10 links a page: 5 in the navigation (home, 4 sections), 1 in the footer, the
    page's children in a ten-way tree and 3 related pages (skewed toward the top) in its
    content."""
    rng = np.random.default_rng(seed)
    total = n_pages + orphans
    ids = np.arange(total)
    urls = pa.array(
        [f"https://{SITE_HOST}/"]
        + [f"https://{SITE_HOST}/{SECTIONS[i % len(SECTIONS)]}/page-{i}.html"
           for i in range(1, total)],
        pa.string(),
    )  # fmt: skip
    # What each page is: 1 % noindex, 1 % canonicalised, 0.5 % redirects, 0.5 % missing,
    # 0.2 % blocked by robots.txt; the home page is a plain page.
    draw = rng.random(total)
    draw[0] = 1.0
    redirect = draw < 0.005
    missing = (draw >= 0.005) & (draw < 0.010)
    blocked = (draw >= 0.010) & (draw < 0.012)
    noindex = (draw >= 0.012) & (draw < 0.022)
    canonicalised = (draw >= 0.022) & (draw < 0.032)
    has_links = ~(redirect | missing | blocked)
    linked = ids < n_pages  # the orphans are linked by no page

    sources, targets, positions, kinds, follows = [], [], [], [], []

    def add(source: np.ndarray, target: np.ndarray, position: str | None, kind: str,
            follow: np.ndarray | bool = True) -> None:  # fmt: skip
        sources.append(source)
        targets.append(target)
        positions.append(np.full(len(source), position, dtype=object))
        kinds.append(np.full(len(source), kind, dtype=object))
        follows.append(np.broadcast_to(np.asarray(follow, bool), len(source)))

    pages_with_links = ids[has_links]
    sections = np.arange(1, 5)
    for target in [0, *sections.tolist()]:
        add(pages_with_links, np.full(len(pages_with_links), target), "navigation", "anchor")
    add(pages_with_links, np.full(len(pages_with_links), 5), "footer", "anchor")
    parent = (ids[1:n_pages] - 1) // 10
    child = ids[1:n_pages]
    keep = has_links[parent]
    add(parent[keep], child[keep], "content", "anchor")
    for _ in range(3):
        related = (n_pages * rng.random(len(pages_with_links)) ** 2).astype(np.int64)
        add(pages_with_links, related, "content", "anchor", rng.random(len(related)) > 0.02)
    hop_source = ids[redirect]
    add(hop_source, rng.integers(0, n_pages, len(hop_source)), None, "redirect")
    canon_source = ids[canonicalised]
    add(canon_source, rng.integers(0, n_pages, len(canon_source)), "head", "canonical")
    source = np.concatenate(sources)
    order = np.argsort(source, kind="stable")  # a page's links are one run of rows
    source = source[order]
    target = np.concatenate(targets)[order]
    follow = np.concatenate(follows)[order]
    starts = np.ones(len(source), bool)
    starts[1:] = source[1:] != source[:-1]
    ordinal = np.arange(len(source)) - np.maximum.accumulate(
        np.where(starts, np.arange(len(source)), 0)
    )
    edges = pa.table(
        {
            "source": urls.take(pa.array(source)),
            "target": urls.take(pa.array(target)),
            "anchor": pa.array(WORDS).take(pa.array(rng.integers(0, len(WORDS), len(source)))),
            "rel": pa.array(np.where(follow, "", "nofollow")),
            "follow": pa.array(follow),
            "position": pa.array(np.concatenate(positions)[order], pa.string()),
            "kind": pa.array(np.concatenate(kinds)[order], pa.string()),
            "ordinal": pa.array(ordinal.astype(np.int32)),
        }
    )
    status = np.where(redirect, 301, np.where(missing, 404, 200)).astype(np.int16)
    canonical = np.full(total, None, dtype=object)
    canonical_of = dict(zip(canon_source.tolist(), target[np.isin(source, canon_source) &
                        (edges.column("kind").to_numpy(zero_copy_only=False) == "canonical")]
                        .tolist(), strict=True))  # fmt: skip
    url_list = urls.to_pylist()
    for page, to in canonical_of.items():
        canonical[page] = url_list[to]
    now = np.datetime64(datetime(2026, 1, 1), "ms")
    depth = np.zeros(total, np.int16)
    discovered_by = np.where(linked, "link", "sitemap").astype(object)
    discovered_by[0] = "seed"
    pages = pa.table(
        {
            "url": urls,
            "status": pa.array(status, mask=blocked),
            "error": pa.array(np.where(blocked, "robots-disallowed", None), pa.string()),
            "content_type": pa.array(
                np.where(blocked, None, "text/html; charset=utf-8"), pa.string()
            ),
            "title": pa.array(np.where(has_links, "A page", None), pa.string()),
            "canonical": pa.array(canonical, pa.string()),
            "noindex": pa.array(noindex, mask=~has_links),
            "nofollow": pa.array(np.zeros(total, bool), mask=~has_links),
            "depth": pa.array(depth),
            "fetched_at": pa.array(np.full(total, now), PAGES_SCHEMA.field("fetched_at").type),
            "discovered_by": pa.array(discovered_by, pa.string()),
        }
    )
    pages = pa.table(
        {f.name: pages.column(f.name) if f.name in pages.column_names
         else pa.nulls(total, f.type) for f in PAGES_SCHEMA},
        schema=PAGES_SCHEMA,
    )  # fmt: skip
    listed = np.flatnonzero((rng.random(total) < 0.9) | ~linked)
    sitemaps = pa.table(
        {
            "sitemap": pa.array([f"https://{SITE_HOST}/sitemap.xml"] * len(listed)),
            "url": urls.take(pa.array(listed)),
            "domain": pa.array(["bigsite-example.com"] * len(listed)),
            "lastmod": pa.nulls(len(listed), SITEMAPS_SCHEMA.field("lastmod").type),
            "changefreq": pa.nulls(len(listed), pa.string()),
            "priority": pa.nulls(len(listed), pa.float64()),
            "fetched_at": pa.array(
                np.full(len(listed), now), SITEMAPS_SCHEMA.field("fetched_at").type
            ),
        },
        schema=SITEMAPS_SCHEMA,
    )
    return edges, pages, sitemaps


def write_site(directory: Path, n_pages: int, seed: int, crawl_id: str) -> None:
    """Write :func:`generate_site`'s site as crawl ``crawl_id`` of ``directory``: the edges
    and manifest by import_edges, then the pages with their statuses and the sitemap
    entries as a crawl writes them."""
    edges, pages, sitemaps = generate_site(n_pages, seed)
    import_edges(directory, edges, crawl_id, pages=pages.column("url"),
                 started_at=datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    for part in (directory / "pages" / f"crawl_id={crawl_id}").glob("*.parquet"):
        part.unlink()  # import_edges knows no statuses: these pages do
    writer = PartWriter(directory, "pages", crawl_id, PAGES_SCHEMA)
    for start in range(0, pages.num_rows, 1 << 20):
        writer.write(pages.slice(start, 1 << 20))
    PartWriter(directory, "sitemaps", crawl_id, SITEMAPS_SCHEMA).write(sitemaps)
    print(f"{directory}: crawl {crawl_id}, one site of {pages.num_rows:,} pages, "
          f"{edges.num_rows:,} links, {sitemaps.num_rows:,} sitemap entries")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=None)
    parser.add_argument("--site", action="store_true", help="one big site (generate_site)")
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crawl-id", default=CRAWL_ID)
    parser.add_argument("--text", action="store_true", help="page text (add_page_text)")
    args = parser.parse_args()
    if args.site:
        crawl_id = SITE_CRAWL_ID if args.crawl_id == CRAWL_ID else args.crawl_id
        write_site(args.dir or SITE_DIR, args.pages, args.seed, crawl_id)
        return
    args.dir = args.dir or DEFAULT_DIR
    started = time.perf_counter()
    edges, fetched = generate(args.pages, args.edges, args.seed)
    generated = time.perf_counter()
    import_edges(
        args.dir, edges, args.crawl_id, pages=fetched, started_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    if args.text:
        add_page_text(args.dir, args.crawl_id, args.seed)
    print(
        f"{args.dir}: crawl {args.crawl_id}, {args.pages:,} pages ({len(fetched):,} fetched), "
        f"{edges.num_rows:,} edges; generated in {generated - started:.1f} s, "
        f"written in {time.perf_counter() - generated:.1f} s"
    )


if __name__ == "__main__":
    main()
