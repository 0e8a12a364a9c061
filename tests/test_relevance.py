"""Page text and the relevance of links (issue 20): a crawl of a two-topic local web,
scores checked against a plain-Python TF-IDF cosine, --relevance-weight against networkx,
the page text of real article pages and what it costs in Parquet."""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import unicodedata
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import networkx as nx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scrapy.http import HtmlResponse

from linkcrawl.analysis import analyze
from linkcrawl.demo.localweb import LocalWeb, LocalWebServer
from linkcrawl.reports.backlinks import backlinks
from tests.conftest import FAST, SHARED_DATA, need_shared_data, run_linkcrawl

BENCHMARK = SHARED_DATA / "html" / "article-extraction-benchmark"

COOKING = [
    ("Slow-cooked tomato sauce", "A tomato sauce recipe with garlic, basil and olive oil.",
     "Simmer the tomatoes with garlic and basil for two hours; season the sauce with salt "
     "and olive oil. This recipe keeps a week and freezes well. Pasta loves this sauce."),
    ("Sourdough bread at home", "Bake sourdough bread with flour, water, salt and a starter.",
     "Feed the starter, mix flour and water, rest the dough, fold it and bake the bread in a "
     "hot oven. A good recipe needs patience, flour and salt."),
    ("Fresh pasta by hand", "Egg pasta recipe: flour, eggs, and a rolling pin.",
     "Knead flour and eggs into a dough, roll it thin and cut the pasta. Cook it two "
     "minutes in salted water and serve with tomato sauce and basil."),
]  # fmt: skip
ASTRONOMY = [
    ("Choosing a first telescope", "Refractor or reflector: a telescope for the night sky.",
     "A small refractor telescope shows the moon, Jupiter and Saturn. Aperture matters more "
     "than magnification; dark skies far from city light show faint galaxies."),
    ("Observing the planets", "When to see Jupiter, Saturn and Mars through a telescope.",
     "Jupiter's moons and Saturn's rings need a steady night sky. Mars is best at "
     "opposition; a telescope with a good eyepiece shows the planets clearly."),
    ("Galaxies and nebulae", "Deep sky objects: galaxies, nebulae and star clusters.",
     "The Andromeda galaxy and the Orion nebula are bright deep sky objects. A dark night "
     "sky and a wide telescope show star clusters and faint nebulae."),
]  # fmt: skip

COOK = "http://www.cook-target.com"
ASTRO = "http://www.astro-target.com"
# Referring sites: their topic, and the pages they link from
REFERRERS = {
    "kitchen-blog.net": COOKING,
    "recipe-corner.org": COOKING,
    "stargazer-blog.net": ASTRONOMY,
    "night-sky-club.org": ASTRONOMY,
}


def page(title: str, description: str, text: str, links: str = "") -> str:
    return (
        f'<html><head><title>{title}</title><meta name="description" content="{description}">'
        f"</head><body><nav><a href='/'>Home</a> <a href='/about.html'>About us and contact</a>"
        f"</nav><main><h1>{title}</h1><p>{text}</p><p>{links}</p></main>"
        "<footer><p>Copyright, privacy policy, cookie settings</p></footer></body></html>"
    )


def topic_web() -> LocalWeb:
    web = LocalWeb()
    for site, topic in ((COOK, COOKING), (ASTRO, ASTRONOMY)):
        web.add(
            f"{site}/",
            page(
                *topic[0],
                "".join(f'<a href="/p{i}.html">{t[0]}</a> ' for i, t in enumerate(topic[1:], 1)),
            ),
        )
        for i, t in enumerate(topic[1:], 1):
            web.add(f"{site}/p{i}.html", page(*t, '<a href="/">home</a>'))
        web.add(f"{site}/about.html", page("About", "Who we are", "We write about what we love."))
    for domain, topic in REFERRERS.items():
        base = f"http://www.{domain}"
        for i, t in enumerate(topic):
            # every page of a referrer links to both targets: one link on topic, one off
            links = (
                f'See <a href="{COOK}/p{1 + i % 2}.html">this</a> and '
                f'<a href="{ASTRO}/p{1 + i % 2}.html">that</a>. '
                + "".join(f'<a href="/p{j}.html">more</a> ' for j in range(len(topic)))
            )
            web.add(f"{base}/" if i == 0 else f"{base}/p{i}.html", page(*t, links))
        web.add(f"{base}/about.html", page("About", "Who we are", "A blog by friends."))
    return web  # fmt: skip


@pytest.fixture(scope="module")
def topic_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("relevance")
    seeds = [f"{COOK}/", f"{ASTRO}/", *(f"http://www.{d}/" for d in REFERRERS)]
    with LocalWebServer(topic_web()) as server:
        result = run_linkcrawl(
            ["crawl", *seeds, "--data", str(data), "--crawl-id", "t1", *FAST],
            proxy=server.proxy_url,
        )
    assert result.returncode == 0, result.stderr
    analyze(data, "t1", engine_options={"relevance": True})
    return data


def read(data: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(data / "authority" / "crawl_id=t1" / f"{table}.parquet")


# -- the reference: TF-IDF and cosine in plain Python ----------------------------------------

_WORD = re.compile(r"(?u)\b\w\w+\b")


def tokens(text: str) -> list[str]:
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c)
    )
    return _WORD.findall(plain)


def reference_vectors(documents: dict[str, str]) -> dict[str, dict[str, float]]:
    """tf = 1 + ln(count), idf = 1 + ln((1 + n) / (1 + df)), L2-normalised, per URL."""
    counts = {url: Counter(tokens(doc)) for url, doc in documents.items()}
    df = Counter(word for c in counts.values() for word in c)
    n = len(documents)
    vectors = {}
    for url, c in counts.items():
        v = {w: (1 + math.log(k)) * (1 + math.log((1 + n) / (1 + df[w]))) for w, k in c.items()}
        norm = math.sqrt(sum(x * x for x in v.values()))
        vectors[url] = {w: x / norm for w, x in v.items()} if norm else {}
    return vectors


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    na = math.sqrt(sum(x * x for x in a.values()))
    nb = math.sqrt(sum(x * x for x in b.values()))
    return sum(x * b.get(w, 0.0) for w, x in a.items()) / (na * nb)


def summed(vectors: list[dict[str, float]]) -> dict[str, float]:
    out: Counter[str] = Counter()
    for v in vectors:
        out.update(v)
    return dict(out)


def documents_of(data: Path) -> dict[str, str]:
    pages = pd.read_parquet(data / "pages", filters=[("crawl_id", "==", "t1")])
    cols = ["title", "description", "headings", "text"]
    docs = {
        row.url: " ".join("" if pd.isna(getattr(row, c)) else getattr(row, c) for c in cols)
        for row in pages.itertuples()
    }
    return {url: doc for url, doc in docs.items() if doc.strip()}


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.slow
def test_page_text_is_kept_from_the_main_content(topic_data):
    pages = pd.read_parquet(topic_data / "pages", filters=[("crawl_id", "==", "t1")])
    row = pages.set_index("url").loc[f"{COOK}/p1.html"]
    assert row["title"] == COOKING[1][0]
    assert row["description"] == COOKING[1][1]
    assert row["headings"] == COOKING[1][0]
    # the paragraphs of <main>; the menu and the footer's paragraph are not the text
    assert row["text"].startswith("Feed the starter") and row["text"].endswith("home")
    assert "Copyright" not in row["text"] and "About us" not in row["text"]


@pytest.mark.slow
def test_on_topic_links_score_above_off_topic_ones(topic_data):
    scored = read(topic_data, "relevance")
    topic = {**{d: "cooking" for d in ("kitchen-blog.net", "recipe-corner.org")},
             **{d: "astronomy" for d in ("stargazer-blog.net", "night-sky-club.org")},
             "cook-target.com": "cooking", "astro-target.com": "astronomy"}  # fmt: skip
    scored = scored[scored.source_domain.isin(REFERRERS)]
    on = scored.source_domain.map(topic) == scored.target_domain.map(topic)
    assert on.sum() == 12 and (~on).sum() == 12
    assert scored[on].relevance.min() > scored[~on].relevance.max()
    assert scored[on].domain_relevance.min() > scored[~on].domain_relevance.max()
    assert ((scored.relevance >= 0) & (scored.relevance <= 1)).all()


@pytest.mark.slow
def test_scores_match_a_plain_python_tf_idf_cosine(topic_data):
    documents = documents_of(topic_data)
    vectors = reference_vectors(documents)
    scored = read(topic_data, "relevance")
    edges = pd.read_parquet(topic_data / "edges", filters=[("crawl_id", "==", "t1")])
    cross = edges[edges.source_domain != edges.target_domain]
    # every distinct pair of pages linked across domains, once
    assert len(scored) == len(cross[["source", "target"]].drop_duplicates())
    checked = 0
    for row in scored.itertuples():
        if row.source in vectors and row.target in vectors:
            want = cosine(vectors[row.source], vectors[row.target])
            assert row.relevance == pytest.approx(want, abs=1e-5)
            checked += 1
        else:
            assert pd.isna(row.relevance)
    assert checked >= 24
    # a referring domain: the mean cosine of its linking pages with the site, the sum of
    # the site's pages' vectors
    domain_of = dict(zip(edges.source, edges.source_domain, strict=True))
    domain_of.update(zip(edges.target, edges.target_domain, strict=True))
    for (_, td), group in scored.groupby(["source_domain", "target_domain"]):
        linking = [vectors[u] for u in group.source.unique() if u in vectors]
        site = [v for u, v in vectors.items() if domain_of.get(u) == td]
        if not linking or not site:
            assert group.domain_relevance.isna().all()
            continue
        site_vector = summed(site)
        want = sum(cosine(v, site_vector) for v in linking) / len(linking)
        assert group.domain_relevance.to_numpy() == pytest.approx([want] * len(group), abs=1e-5)


@pytest.mark.slow
def test_backlinks_show_relevance_per_link_and_referring_domain(topic_data):
    report = backlinks(topic_data, "cook-target.com", limit=100)
    scored = read(topic_data, "relevance").set_index(["source", "target"])
    assert "relevance" in report.links.columns
    for row in report.links.itertuples():
        assert row.relevance == pytest.approx(scored.loc[(row.source, row.target), "relevance"])
    by_domain = report.domains.set_index("source_domain")["relevance"]
    assert by_domain["kitchen-blog.net"] > by_domain["stargazer-blog.net"]
    run = run_linkcrawl(["backlinks", "cook-target.com", "--data", str(topic_data),
                         "--format", "csv"])  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "relevance" in run.stdout.splitlines()[0].split(",")
    doms = run_linkcrawl(["backlinks", "cook-target.com", "--domains", "--data", str(topic_data),
                          "--format", "json"])  # fmt: skip
    assert doms.returncode == 0, doms.stderr
    rows = json.loads(doms.stdout)["rows"]
    assert {r["source_domain"]: r["relevance"] for r in rows}["kitchen-blog.net"] == (
        pytest.approx(by_domain["kitchen-blog.net"])
    )


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sparse", "networkx"])
def test_relevance_weight_matches_networkx_with_the_same_edge_weights(topic_data, engine):
    alpha = 0.8
    analyze(topic_data, "t1", engine=engine, relevance_weight=alpha)
    got = read(topic_data, "pages").set_index("url")["pagerank"]
    vectors = reference_vectors(documents_of(topic_data))
    edges = pd.read_parquet(topic_data / "edges", filters=[("crawl_id", "==", "t1")])
    pages = pd.read_parquet(topic_data / "pages", filters=[("crawl_id", "==", "t1")])
    position = {"content": 1.0, "header": 0.5, "navigation": 0.5, "sidebar": 0.4,
                "footer": 0.25, "head": 1.0}  # fmt: skip

    def weight(row, with_relevance: bool) -> float:
        w = 0.0 if not row.follow else (
            1.0 if row.kind in ("redirect", "refresh", "canonical")
            else position.get(row.position or "content", 1.0))  # fmt: skip
        if with_relevance and row.source_domain != row.target_domain:
            if row.source in vectors and row.target in vectors:
                r = cosine(vectors[row.source], vectors[row.target])
                w *= (1 - alpha) + alpha * round(r * 20) / 20
        return w

    def reference(with_relevance: bool) -> pd.Series:
        G = nx.DiGraph()
        G.add_nodes_from(set(edges.source) | set(edges.target) | set(pages.url))
        for row in edges.itertuples():
            w = weight(row, with_relevance)
            if row.source == row.target or w == 0:
                continue
            if not G.has_edge(row.source, row.target) or G[row.source][row.target]["weight"] < w:
                G.add_edge(row.source, row.target, weight=w)
        return pd.Series(nx.pagerank(G, tol=1e-12, max_iter=10_000))

    weighted, plain = reference(True), reference(False)
    assert (got - weighted.reindex(got.index)).abs().sum() < 1e-6
    # and it moved: the off-topic links pass less, so the targets' pages changed
    assert (weighted - plain).abs().sum() > 1e-3
    inbound = read(topic_data, "inbound")
    assert len(inbound) > 0
    # back to the unweighted tables (relevance scored) for the other tests
    analyze(topic_data, "t1", engine_options={"relevance": True})
    assert (read(topic_data, "pages").set_index("url")["pagerank"]
            - plain.reindex(got.index)).abs().sum() < 1e-6  # fmt: skip


@pytest.mark.slow
def test_bad_input_is_one_line(topic_data, tmp_path):
    d = ["--data", str(topic_data)]
    for args, message in (
        (["--relevance-weight", "0.5", "--engine", "duckdb"], "cannot weigh links by relevance"),
        (["--relevance-weight", "2"], "--relevance-weight"),
        (["--relevance", "--engine", "duckdb"], "--relevance applies to"),
    ):
        run = run_linkcrawl(["analyze", *d, *args])
        assert run.returncode != 0 and message in run.stderr, (args, run.stderr)
        assert "Traceback" not in run.stderr
    # the tables already written are still there and whole
    assert len(read(topic_data, "relevance")) > 0


def schema3_crawl(data: Path) -> None:
    """A crawl as linkcrawl wrote it before page text: pages without the text columns,
    files at schema version 3."""
    from linkcrawl.dataset.manifest import write_manifest
    from linkcrawl.dataset.schemas import EDGES_SCHEMA, PAGES_SCHEMA, table_from_columns

    write_manifest(data, {"crawl_id": "old", "status": "finished"})
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    pages = table_from_columns(
        {"url": ["http://a.com/", "http://b.com/"], "fetched_at": [ts, ts],
         "status": [200, 200], "title": ["A", "B"]}, PAGES_SCHEMA,
    ).drop_columns(["description", "headings", "text"])  # fmt: skip
    edges = table_from_columns(
        {"source": ["http://a.com/"], "target": ["http://b.com/"], "anchor": ["b"],
         "rel": [""], "follow": [True], "position": ["content"], "kind": ["anchor"],
         "ordinal": [0], "source_domain": ["a.com"], "target_domain": ["b.com"],
         "internal": [False], "discovered_at": [ts], "origin": ["html"]}, EDGES_SCHEMA,
    )  # fmt: skip
    for name, table in (("pages", pages), ("edges", edges)):
        table = table.replace_schema_metadata(
            {"linkcrawl.table": name, "linkcrawl.schema_version": "3"}
        )
        part = data / name / "crawl_id=old" / "part-00000.parquet"
        part.parent.mkdir(parents=True)
        pq.write_table(table, part)


def test_a_schema_3_crawl_reads_with_null_text_and_no_relevance(tmp_path):
    schema3_crawl(tmp_path)
    from linkcrawl import open_dataset

    pages = open_dataset(tmp_path).pages("old")
    assert pages["text"].isna().all() and pages["description"].isna().all()
    analyze(tmp_path, "old")
    report = backlinks(tmp_path, "b.com")
    assert report.links["relevance"].isna().all()
    assert report.domains["relevance"].isna().all()
    run = run_linkcrawl(["analyze", "--data", str(tmp_path), "--relevance-weight", "0.5"])
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "has no page text" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    run = run_linkcrawl(["analyze", "--data", str(tmp_path), "--relevance"])
    assert run.returncode == 1 and "has no page text" in run.stderr


# -- real pages: what the text is and what it costs --------------------------------------------


def test_page_text_of_real_article_pages_costs_under_2_kb(tmp_path):
    from linkcrawl.dataset.schemas import PAGES_SCHEMA, PARQUET_OPTIONS
    from linkcrawl.extract.links import LinkExtractor

    truth = json.loads((need_shared_data(BENCHMARK) / "ground-truth.json").read_text())
    extractor = LinkExtractor()
    rows: dict[str, list] = {c: [] for c in ("title", "description", "headings", "text")}
    shares = []
    for key, entry in truth.items():
        body = gzip.decompress((BENCHMARK / "html" / f"{key}.html.gz").read_bytes())
        links = extractor.from_response(HtmlResponse(url=entry["url"], body=body))
        for column in rows:
            rows[column].append(getattr(links, column))
        if links.text:  # how much of the excerpt is the article's own words
            article = set(tokens(entry["articleBody"]))
            words = tokens(links.text)
            shares.append(sum(w in article for w in words) / max(len(words), 1))
    n = len(truth)
    table = pa.table({c: pa.array(v, PAGES_SCHEMA.field(c).type) for c, v in rows.items()})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **PARQUET_OPTIONS, use_dictionary=False)
    meta = pq.read_metadata(io.BytesIO(buffer.getvalue()))
    compressed = sum(
        meta.row_group(g).column(i).total_compressed_size
        for g in range(meta.num_row_groups)
        for i in range(meta.num_columns)
    )
    per_page = compressed / n
    print(f"page text: {per_page:.0f} bytes per page compressed over {n} pages")
    assert per_page <= 2048
    assert sum(v is not None for v in rows["text"]) >= 0.9 * n
    assert sum(v is not None for v in rows["title"]) >= 0.95 * n
    # the excerpt is the article, not the menus: most of its words are in the article
    assert sorted(shares)[len(shares) // 2] >= 0.9


def test_the_arrow_tokeniser_gives_scikit_learns_tf_idf_on_real_pages():
    """The words pyarrow finds, weighed by TfidfTransformer, are what scikit-learn's own
    TfidfVectorizer (strip_accents="unicode", its default token pattern) gives: the
    cosine of every pair of the real article pages agrees."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from linkcrawl.analysis.relevance import vectorize
    from linkcrawl.extract.links import LinkExtractor

    truth = json.loads((need_shared_data(BENCHMARK) / "ground-truth.json").read_text())
    extractor, documents = LinkExtractor(), []
    for key, entry in truth.items():
        body = gzip.decompress((BENCHMARK / "html" / f"{key}.html.gz").read_bytes())
        links = extractor.from_response(HtmlResponse(url=entry["url"], body=body))
        parts = (links.title, links.description, links.headings, links.text)
        documents.append(" ".join(p or "" for p in parts))
    ours = vectorize(pa.array(documents))
    theirs = TfidfVectorizer(strip_accents="unicode", sublinear_tf=True).fit_transform(documents)
    assert ours.shape == theirs.shape
    difference = abs((ours @ ours.T) - (theirs @ theirs.T)).max()
    assert difference < 1e-5


@pytest.mark.slow
def test_the_report_shows_the_relevance_distribution(topic_data, tmp_path):
    from linkcrawl.reports.html import report

    html = report(topic_data, "cook-target.com", tmp_path / "r.html", "t1",
                  csv_dir=tmp_path / "csv")  # fmt: skip
    assert "<h2>Relevance distribution</h2>" in html
    got = pd.read_csv(tmp_path / "csv" / "relevance_histogram.csv")
    scored = read(topic_data, "relevance")
    per_domain = (
        scored[scored.target_domain == "cook-target.com"]
        .groupby("source_domain")["domain_relevance"].first().dropna()
    )  # fmt: skip
    want = [int(((per_domain >= b / 10) & (per_domain < (b + 1) / 10)).sum()) for b in range(10)]
    assert got["referring_domains"].tolist() == want and sum(want) == 4


def test_relevance_is_scored_only_when_asked(topic_data, tmp_path):
    # Off by default: it costs several times the rest of an analysis (docs/authority.md).
    import shutil

    data = tmp_path / "data"
    shutil.copytree(topic_data, data)
    analyze(data, "t1")
    assert not (data / "authority" / "crawl_id=t1" / "relevance.parquet").exists()
    assert backlinks(data, COOK.split("//")[1].removeprefix("www.")).links["relevance"].isna().all()
    run = run_linkcrawl(["analyze", "--data", str(data), "--relevance"])
    assert run.returncode == 0, run.stderr
    assert len(read(data, "relevance")) > 0
