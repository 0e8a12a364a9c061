"""Write a synthetic web-like link graph as a linkcrawl dataset, for bench/analyze_bench.py.

Shape, by default: 1M pages on ~20k registered domains whose sizes follow Zipf's law, each
domain served by a few hosts (www., blog., shop.); 10M links, about 70 % internal (to
pages of the same domain, skewed toward its top pages, as navigation does) and 30 % to
other domains (skewed toward globally popular pages, so in-degree has a heavy tail);
positions, nofollow, image links and redirects in plausible shares; 90 % of the pages
fetched, the rest only linked to. URLs are real strings (~45 bytes), as a crawl writes.

    python bench/gen_web_graph.py [DIR] [--pages N] [--edges M] [--seed S]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crawl-id", default=CRAWL_ID)
    args = parser.parse_args()
    started = time.perf_counter()
    edges, fetched = generate(args.pages, args.edges, args.seed)
    generated = time.perf_counter()
    import_edges(
        args.dir, edges, args.crawl_id, pages=fetched, started_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    print(
        f"{args.dir}: crawl {args.crawl_id}, {args.pages:,} pages ({len(fetched):,} fetched), "
        f"{edges.num_rows:,} edges; generated in {generated - started:.1f} s, "
        f"written in {time.perf_counter() - generated:.1f} s"
    )


if __name__ == "__main__":
    main()
