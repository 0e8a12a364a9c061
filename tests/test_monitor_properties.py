"""diff against a slow reference written with sets and dicts, on random pairs of crawls
written with the storage layer's own writers (hypothesis)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.fs as pafs
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from linkcrawl.dataset.layout import root_path
from linkcrawl.dataset.manifest import write_manifest
from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, table_from_columns
from linkcrawl.dataset.write import PartWriter
from linkcrawl.reports.monitor import DIFF_COLUMNS, LOST_REASONS, NEW_REASONS, diff, history
from linkcrawl.sources.edgelist import import_edges

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


# -- a generated pair of crawls against pandas set arithmetic ---------------------------------

DOMAINS = ["d0-example.com", "d1-example.org", "d2-example.net"]
ANCHORS = ["", "home", "read more", "shop"]


def generated_pair(seed: int) -> tuple[pd.DataFrame, dict, pd.DataFrame, dict]:
    """Two crawls of 120 pages: the second keeps most links of the first (some turned
    nofollow or followed), drops some, adds some, and fetches other pages; the status of
    each fetched page in each crawl."""
    rng = np.random.default_rng(seed)
    urls = [f"http://{d}/p{i}" for d in DOMAINS for i in range(40)]

    def links(n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "source": rng.choice(urls, n),
                "target": rng.choice(urls, n),
                "anchor": rng.choice(ANCHORS, n),
                "follow": rng.random(n) < 0.7,
            }
        )

    old = links(900)
    kept = old[rng.random(len(old)) < 0.75].copy()
    flip = rng.random(len(kept)) < 0.1
    kept.loc[flip, "follow"] = ~kept.loc[flip, "follow"]
    new = pd.concat([kept, links(300)], ignore_index=True).sample(frac=1, random_state=seed)
    # Pages the new crawl did not reach: their links are lost as source-not-crawled.
    unreached = set(rng.choice(urls, 10, replace=False))
    new = new[~new.source.isin(unreached)]
    old_pages = sorted(set(old.source) | set(rng.choice(urls, 20)))
    new_pages = sorted((set(new.source) | set(rng.choice(urls, 20))) - unreached)

    def statuses(pages: list[str]) -> dict[str, int]:
        # Most pages fine, some gone, some redirecting.
        drawn = rng.choice([200] * 8 + [404, 301], len(pages)).tolist()
        return dict(zip(pages, drawn, strict=True))

    return old.reset_index(drop=True), statuses(old_pages), new, statuses(new_pages)


def pandas_reference(
    old: pd.DataFrame, old_pages: dict, new: pd.DataFrame, new_pages: dict
) -> pd.DataFrame:
    """diff as set arithmetic over (source, target) pairs, with pandas."""

    def pairs(edges: pd.DataFrame) -> pd.DataFrame:
        edges = edges.assign(ordinal=edges.groupby("source").cumcount())
        first = edges.sort_values(["source", "target", "follow", "ordinal"], ascending=[1, 1, 0, 1])
        first = first.drop_duplicates(["source", "target"])[["source", "target", "anchor"]]
        follow = edges.groupby(["source", "target"], as_index=False)["follow"].any()
        return first.merge(follow, on=["source", "target"])

    both = pairs(old).merge(
        pairs(new), on=["source", "target"], how="outer", suffixes=("_old", "_new"), indicator=True
    )
    lost = both[both._merge == "left_only"]
    old_status, new_status = pd.Series(old_pages), pd.Series(new_pages)
    fetched = lost.source.isin(new_status.index)
    source_ok = lost.source.map(new_status).eq(200)
    redirects = lost.target.map(new_status).eq(301) & ~lost.target.map(old_status).eq(301)
    reason = np.select(
        [~fetched, ~source_ok, redirects],
        ["source-not-crawled", "source-gone", "target-redirects"],
        "link-removed",
    )
    lost = pd.DataFrame(
        {
            "change": "lost",
            "source": lost.source,
            "target": lost.target,
            "anchor": lost.anchor_old,
            "follow": lost.follow_old.astype(bool),
            "reason": reason,
        }
    )
    added = both[both._merge == "right_only"]
    added = pd.DataFrame(
        {
            "change": "new",
            "source": added.source,
            "target": added.target,
            "anchor": added.anchor_new,
            "follow": added.follow_new.astype(bool),
            "reason": np.where(added.source.map(old_status).eq(200), "", "source-new"),
        }
    )
    kept = both[both._merge == "both"]
    turned = kept[kept.follow_old.astype(bool) != kept.follow_new.astype(bool)]
    turned = pd.DataFrame(
        {
            "change": np.where(turned.follow_new.astype(bool), "new", "lost"),
            "source": turned.source,
            "target": turned.target,
            "anchor": turned.anchor_new,
            "follow": turned.follow_new.astype(bool),
            "reason": np.where(turned.follow_new.astype(bool), "now-follow", "now-nofollow"),
        }
    )
    out = pd.concat([lost, added, turned], ignore_index=True)
    return out.sort_values(["change", "target", "source"]).reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_diff_of_generated_crawls_matches_pandas_set_arithmetic(seed, tmp_path):
    old, old_pages, new, new_pages = generated_pair(seed)
    for crawl_id, edges, pages, day in (("g1", old, old_pages, 1), ("g2", new, new_pages, 8)):
        when = pd.Timestamp(f"2026-11-{day:02d}", tz="UTC")
        import_edges(tmp_path, edges, crawl_id, pages=[], started_at=when)
        columns = {f.name: [None] * len(pages) for f in PAGES_SCHEMA}
        columns.update(url=list(pages), status=list(pages.values()), fetched_at=[when] * len(pages))
        PartWriter(tmp_path, "pages", crawl_id, PAGES_SCHEMA).write(
            table_from_columns(columns, PAGES_SCHEMA)
        )
    expected = pandas_reference(old, old_pages, new, new_pages)
    assert set(expected.reason) == set(LOST_REASONS) | set(NEW_REASONS)
    got = diff(tmp_path, "g1", "g2")
    assert list(got.columns) == DIFF_COLUMNS
    assert got.values.tolist() == expected[DIFF_COLUMNS].values.tolist()
    # Narrowed to the backlinks of one domain: the same rows, from other domains only.
    target = DOMAINS[1]
    domain = lambda urls: urls.str.split("/").str[2]  # noqa: E731
    keep = (domain(expected.target) == target) & (domain(expected.source) != target)
    narrowed = diff(tmp_path, "g1", "g2", target=target)
    assert narrowed.values.tolist() == expected[keep][DIFF_COLUMNS].values.tolist()


def test_diff_and_history_read_an_object_store_as_a_local_directory(tmp_path):
    # mock:// is pyarrow's in-memory file system: the code path of s3://.
    old, old_pages, new, new_pages = generated_pair(4)
    local = tmp_path / "data"
    for crawl_id, edges, pages, day in (("g1", old, old_pages, 1), ("g2", new, new_pages, 8)):
        when = pd.Timestamp(f"2026-11-{day:02d}", tz="UTC")
        import_edges(local, edges, crawl_id, pages=list(pages), started_at=when)
    remote = f"mock:///{tmp_path.name}/data"
    store = root_path(remote)
    pafs.copy_files(str(local), store.path, destination_filesystem=store.fs)
    assert diff(remote).values.tolist() == diff(local).values.tolist()
    assert len(diff(remote, target=DOMAINS[0])) > 0
    for table_local, table_remote in zip(
        history(local, DOMAINS[0]), history(remote, DOMAINS[0]), strict=True
    ):
        pd.testing.assert_frame_equal(table_local, table_remote)
