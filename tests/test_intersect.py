"""Link intersect on a hand-built web of referring domains: the prospects counted by hand,
and checked against a pandas computation over the raw edges table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from linkcrawl.analysis import analyze
from linkcrawl.errors import LinkcrawlError
from linkcrawl.reports.intersect import intersect
from linkcrawl.sources.edgelist import import_edges
from tests.conftest import run_linkcrawl

T, A, B, C = "t-example.com", "a-example.com", "b-example.com", "c-example.com"
# (source page, target page, rel)
LINKS = [
    # r1 links to all three competitors, from two pages
    ("http://r1.com/1", f"http://{A}/", ""),
    ("http://r1.com/2", f"http://{B}/", ""),
    ("http://r1.com/2", f"http://{C}/x", ""),
    # r2 links to a and b, and to the target (nofollow): already a referring domain
    ("http://r2.com/", f"http://{A}/", ""),
    ("http://r2.com/", f"http://{B}/", ""),
    ("http://r2.com/p", f"http://www.{T}/", "nofollow"),
    # r3: a only
    ("http://r3.com/", f"http://{A}/a", ""),
    # r4: b and c, one of them nofollow
    ("http://blog.r4.com/", f"http://{B}/", "nofollow"),
    ("http://www.r4.com/", f"http://{C}/", ""),
    # r5: the target only
    ("http://r5.com/", f"http://{T}/", ""),
    # r6: a twice from one page, once to its www host
    ("http://r6.com/", f"http://{A}/", ""),
    ("http://r6.com/", f"http://www.{A}/", ""),
    # the target itself links to a and b: never its own prospect
    (f"http://{T}/", f"http://{A}/", ""),
    (f"http://{T}/", f"http://{B}/", ""),
    # a competitor links to the other two
    (f"http://{A}/", f"http://{B}/", ""),
    (f"http://{A}/", f"http://{C}/", ""),
    # r7: c from three pages, and links that are not to any competitor
    ("http://r7.com/1", f"http://{C}/", ""),
    ("http://r7.com/2", f"http://{C}/", ""),
    ("http://r7.com/3", f"http://{C}/", ""),
    ("http://r7.com/3", "http://elsewhere.org/", ""),
    # internal links, for some structure
    ("http://r1.com/1", "http://r1.com/2", ""),
    (f"http://{A}/", f"http://{A}/a", ""),
]
# By hand: domain -> (competitors linked, links to them, followed)
EXPECTED = {
    "r1.com": ({A, B, C}, 3, 3),
    "r3.com": ({A}, 1, 1),
    "r4.com": ({B, C}, 2, 1),
    "r6.com": ({A}, 2, 2),
    A: ({B, C}, 2, 2),
    "r7.com": ({C}, 3, 3),
}


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    data = tmp_path_factory.mktemp("intersect") / "data"
    edges = pd.DataFrame(LINKS, columns=["source", "target", "rel"])
    edges["follow"] = edges.rel == ""
    import_edges(data, edges, "i1")
    analyze(data, "i1")
    return data


def authority(data) -> dict[str, float]:
    domains = pd.read_parquet(data / "authority" / "crawl_id=i1" / "domains.parquet")
    return dict(zip(domains.domain, domains.authority, strict=True))


def expected_order(data, wanted: dict) -> list[str]:
    auth = authority(data)
    return sorted(wanted, key=lambda d: (-auth[d], -len(wanted[d][0]), -wanted[d][1], d))


def pandas_prospects(data, target: str, competitors: list[str], least: int) -> dict:
    """The same question over the raw edges (domain targets): an independent computation."""
    edges = pd.read_parquet(data / "edges", filters=[("crawl_id", "=", "i1")])
    edges = edges[~edges.internal]
    on_target = set(edges[edges.target_domain == target].source_domain)
    theirs = edges[edges.target_domain.isin(competitors)]
    theirs = theirs[~theirs.source_domain.isin(on_target) & (theirs.source_domain != target)]
    out = {}
    for domain, group in theirs.groupby("source_domain"):
        hit = set(group.target_domain)
        if len(hit) >= least:
            out[domain] = (hit, len(group), int(group.follow.sum()))
    return out


def test_prospects_match_the_hand_count_and_pandas(web):
    report = intersect(web, T, [A, B, C])
    got = {
        row.domain: (set(row.linked), row.links, row.followed)
        for row in report.domains.itertuples()
    }
    assert got == EXPECTED == pandas_prospects(web, T, [A, B, C], 1)
    assert list(report.domains.domain) == expected_order(web, EXPECTED)
    assert (report.domains.competitors == report.domains.linked.map(len)).all()
    # The linked competitors are in the order given, the pages distinct.
    r1 = report.domains.set_index("domain").loc["r1.com"]
    assert list(r1.linked) == [A, B, C]
    assert sorted(r1.pages) == ["http://r1.com/1", "http://r1.com/2"]
    r7 = report.domains.set_index("domain").loc["r7.com"]
    assert sorted(r7.pages) == ["http://r7.com/1", "http://r7.com/2", "http://r7.com/3"]
    # Every link of a prospect to a competitor, once per competitor it points at.
    assert len(report.links) == sum(v[1] for v in EXPECTED.values())
    assert set(report.links.domain) == set(EXPECTED)
    assert report.links.groupby("domain").competitor.nunique().to_dict() == {
        d: len(v[0]) for d, v in EXPECTED.items()
    }
    s = report.summary
    assert s["prospects"] == 6 and s["competitors"] == [A, B, C]
    assert s["referring_domains"] == {T: 2, A: 5, B: 5, C: 4}


@pytest.mark.parametrize("least", [2, 3])
def test_min_keeps_domains_linking_to_that_many_competitors(web, least):
    report = intersect(web, T, [A, B, C], min_competitors=least)
    wanted = {d: v for d, v in EXPECTED.items() if len(v[0]) >= least}
    assert (
        set(report.domains.domain) == set(wanted) == set(pandas_prospects(web, T, [A, B, C], least))
    )
    assert list(report.domains.domain) == expected_order(web, wanted)


def test_a_url_prefix_competitor_counts_only_links_under_it(web):
    # Under http://a-example.com/a only r3's link: and r1 then links to b and c only.
    report = intersect(web, T, [f"http://{A}/a", B], min_competitors=1)
    got = {row.domain: set(row.linked) for row in report.domains.itertuples()}
    assert got == {
        "r1.com": {B},
        "r3.com": {f"http://{A}/a"},
        "r4.com": {B},
        A: {B},
    }


def test_bad_arguments_are_one_line(web):
    with pytest.raises(LinkcrawlError, match="between 1 and the number of competitors"):
        intersect(web, T, [A, B], min_competitors=3)
    with pytest.raises(LinkcrawlError, match="given twice"):
        intersect(web, T, [A, A])
    with pytest.raises(LinkcrawlError, match="target and a competitor"):
        intersect(web, T, [T])
    with pytest.raises(LinkcrawlError, match="at least one competitor"):
        intersect(web, T, [])


@pytest.mark.slow
def test_the_command(web):
    d = ["--data", str(web)]
    run = run_linkcrawl(["intersect", T, A, B, C, "--min", "2", "--format", "json", *d])
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert [r["domain"] for r in out["rows"]] == expected_order(
        web, {k: v for k, v in EXPECTED.items() if len(v[0]) >= 2}
    )
    assert out["summary"]["prospects"] == 3 and isinstance(out["rows"][0]["linked"], list)
    links = run_linkcrawl(["intersect", T, A, B, C, "--links", "--format", "csv", *d])
    assert links.returncode == 0, links.stderr
    assert links.stdout.count("\n") == 1 + sum(v[1] for v in EXPECTED.values())
    table = run_linkcrawl(["intersect", T, A, B, C, *d])
    assert table.returncode == 0 and "6 prospects" in table.stdout
    bad = run_linkcrawl(["intersect", T, A, "--min", "2", *d])
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "Error: --min must be between 1 and the number of competitors (1), not 2"
    ]
    none = run_linkcrawl(["intersect", T, *d])
    assert none.returncode == 2 and len(none.stderr.strip().splitlines()) == 1
