"""diff against a slow reference written with sets and dicts, on random pairs of crawls
written with the storage layer's own writers (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from linkcrawl.dataset.manifest import write_manifest
from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, table_from_columns
from linkcrawl.dataset.write import PartWriter
from linkcrawl.reports.monitor import DIFF_COLUMNS, diff

SOURCES = [f"http://{host}/{path}" for host in ("a-example.com", "b-example.org") for path in "xy"]
# pages no link is taken from: fetched or not, found or not
URLS = [*SOURCES, "http://c-example.net/", "http://c-example.net/t"]
# (status, error) of a fetched URL: fine, redirect, not found, server error, network error
FETCHES = [(200, None), (301, None), (404, None), (503, None), (None, "timeout")]
# the pages no link is taken from: fine or redirecting, most of the time
TARGET_FETCHES = [(200, None), (301, None), (301, None), (404, None)]

link = st.tuples(st.sampled_from(URLS), st.booleans(), st.sampled_from(["", "a", "b"]))
crawl = st.fixed_dictionaries(
    {
        # the URLs this crawl fetched, and how each answered
        "pages": st.dictionaries(st.sampled_from(SOURCES), st.sampled_from(FETCHES)),
        "targets": st.dictionaries(
            st.sampled_from(URLS[len(SOURCES) :]), st.sampled_from(TARGET_FETCHES)
        ),
        # the links of each page, in page order: (target, follow, anchor)
        "links": st.dictionaries(st.sampled_from(SOURCES), st.lists(link, max_size=4)),
    }
)


def consistent(c: dict) -> dict:
    """A page with links was fetched with 200 in that crawl, as in a real crawl."""
    fetched = {s: (200, None) for s, links in c["links"].items() if links}
    return {"pages": {**c["pages"], **c["targets"], **fetched}, "links": c["links"]}


def write(root: Path, crawl_id: str, day: int, c: dict) -> None:
    rows = [
        (source, target, anchor, follow, ordinal)
        for source, links in c["links"].items()
        for ordinal, (target, follow, anchor) in enumerate(links)
    ]
    when = pd.Timestamp(f"2026-11-{day:02d}", tz="UTC")
    if rows:
        source, target, anchor, follow, ordinal = map(list, zip(*rows, strict=True))
        edges = {
            "source": source,
            "target": target,
            "anchor": anchor,
            "rel": ["" if f else "nofollow" for f in follow],
            "follow": follow,
            "position": ["content"] * len(rows),
            "kind": ["anchor"] * len(rows),
            "ordinal": ordinal,
            "source_domain": [s.split("/")[2] for s in source],
            "target_domain": [t.split("/")[2] for t in target],
            "internal": [
                s.split("/")[2] == t.split("/")[2] for s, t in zip(source, target, strict=True)
            ],
            "discovered_at": [when] * len(rows),
        }
        PartWriter(root, "edges", crawl_id, EDGES_SCHEMA).write(
            table_from_columns(edges, EDGES_SCHEMA)
        )
    if c["pages"]:
        pages = {f.name: [None] * len(c["pages"]) for f in PAGES_SCHEMA}
        pages["url"] = list(c["pages"])
        pages["status"] = [s for s, _ in c["pages"].values()]
        pages["error"] = [e for _, e in c["pages"].values()]
        pages["fetched_at"] = [when] * len(c["pages"])
        PartWriter(root, "pages", crawl_id, PAGES_SCHEMA).write(
            table_from_columns(pages, PAGES_SCHEMA)
        )
    write_manifest(
        root,
        {"crawl_id": crawl_id, "status": "finished", "started_at": when.isoformat()},
    )


def reference(old: dict, new: dict) -> set[tuple]:
    """The documented rules, spelled out one link at a time."""

    def links(c):
        found = {}
        for source, occurrences in c["links"].items():
            for target, follow, anchor in occurrences:
                key = (source, target)
                if key not in found or (follow and not found[key][0]):
                    found[key] = (follow, anchor)
        return found

    def ok(c, url):
        return (
            c["pages"].get(url, (None, "absent"))[1] is None
            and 200 <= (c["pages"].get(url, (0, None))[0] or 0) < 300
        )

    def redirects(c, url):
        status = c["pages"].get(url, (None, None))[0]
        return status is not None and 300 <= status < 400

    before, after = links(old), links(new)
    out = set()
    for (source, target), (follow, anchor) in before.items():
        if (source, target) in after:
            now_follow, now_anchor = after[(source, target)]
            if follow and not now_follow:
                out.add(("lost", source, target, now_anchor, False, "now-nofollow"))
            elif not follow and now_follow:
                out.add(("new", source, target, now_anchor, True, "now-follow"))
            continue
        if source not in new["pages"]:
            reason = "source-not-crawled"
        elif not ok(new, source):
            reason = "source-gone"
        elif redirects(new, target) and not redirects(old, target):
            reason = "target-redirects"
        else:
            reason = "link-removed"
        out.add(("lost", source, target, anchor, follow, reason))
    for (source, target), (follow, anchor) in after.items():
        if (source, target) not in before:
            reason = "" if ok(old, source) else "source-new"
            out.add(("new", source, target, anchor, follow, reason))
    return out


@settings(max_examples=100, deadline=None)
@given(crawl.map(consistent), crawl.map(consistent))
@example(  # the rarest reason, every run: the link went and its target now redirects
    {
        "pages": {SOURCES[0]: (200, None), URLS[-1]: (200, None)},
        "links": {SOURCES[0]: [(URLS[-1], True, "a")]},
    },
    {"pages": {SOURCES[0]: (200, None), URLS[-1]: (301, None)}, "links": {}},
)
def test_diff_matches_the_reference(old, new):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write(root, "o1", 1, old)
        write(root, "n1", 2, new)
        changes = diff(root)
    got = list(changes[DIFF_COLUMNS].itertuples(index=False, name=None))
    assert len(got) == len(set(got))
    assert set(got) == reference(old, new)
    assert list(changes.change) == sorted(changes.change)  # lost rows first
