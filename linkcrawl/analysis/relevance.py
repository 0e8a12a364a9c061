"""Topical relevance of links between domains: TF-IDF vectors of the pages' text
(scikit-learn) and their cosine, per linking page and target page, and per referring
domain and target site (docs/authority.md, "Relevance").

Only links from one domain to another are scored: relevance says whether a site that
vouches for another writes about the same thing, which a site's links to itself do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkcrawl.errors import DatasetError

if TYPE_CHECKING:
    from scipy import sparse

    from linkcrawl.analysis.graph import CrawlGraph
    from linkcrawl.dataset.reader import Dataset

__all__ = [
    "TEXT_COLUMNS",
    "VECTORIZER_SETTINGS",
    "LinkRelevance",
    "has_page_text",
    "link_relevance",
    "page_documents",
    "relevance_table",
]

# The pages columns a page's document is made of, joined by a space, in this order.
TEXT_COLUMNS = ("title", "description", "headings", "text")

# The words of a document: lower-cased, accents stripped (NFKD, marks dropped), runs of two
# or more letters, digits or underscores; what scikit-learn's TfidfVectorizer(
# strip_accents="unicode") finds with its default token_pattern r"(?u)\b\w\w+\b", done
# here by pyarrow's compute kernels over the whole column: tokenising a million pages in
# Python would cost minutes. No stop list: the IDF discounts the words every page has.
# Non-word characters other than (ASCII) white space become a space, then the text splits
# at white space: the same runs as splitting at r"[^\pL\pN_]+", at half the cost (RE2
# then matches punctuation only, not every gap between two words).
_NOT_WORD_NOR_SPACE = r"[^\pL\pN_\s]+"
MIN_WORD_CHARS = 2
# scikit-learn TfidfTransformer settings (docs/authority.md gives the formula they stand
# for): tf = 1 + ln(count), smoothed idf = 1 + ln((1 + n) / (1 + df)), each page's
# vector L2-normalised.
VECTORIZER_SETTINGS: dict[str, Any] = {
    "norm": "l2",
    "use_idf": True,
    "smooth_idf": True,
    "sublinear_tf": True,
}
# Documents tokenised at a time: their words as Arrow strings stay a few hundred MB.
_DOCUMENT_CHUNK = 100_000
# Pairs scored at a time: two gathered sparse blocks of this many rows stay small.
_CHUNK = 200_000


def page_documents(dataset: Dataset, crawl_id: str) -> tuple[pa.Array, pa.Table]:
    """The URL and the text columns (:data:`TEXT_COLUMNS`) of each page of the crawl that
    has any; none for a crawl written before the page text (schema 4). A page's document
    is its columns joined by a space (:func:`documents_of`), built a chunk at a time by
    :func:`word_counts`: a million pages' documents at once would be gigabytes."""
    table = dataset.arrow("pages", crawl_id).to_table(columns=["url", *TEXT_COLUMNS])
    keep = pc.is_valid(table.column(TEXT_COLUMNS[0]))
    for column in TEXT_COLUMNS[1:]:
        keep = pc.or_(keep, pc.is_valid(table.column(column)))
    table = table.filter(keep)
    return table.column("url").combine_chunks(), table.select(list(TEXT_COLUMNS))


def documents_of(texts: pa.Table | pa.Array, start: int = 0, length: int | None = None) -> pa.Array:
    """The documents of rows ``start`` to ``start + length`` of ``texts`` (the text columns
    joined by a space, nulls as empty), or of an array of documents as they are."""
    length = len(texts) - start if length is None else length
    if not isinstance(texts, pa.Table):
        return texts.slice(start, length)
    columns = [pc.fill_null(texts.column(c).slice(start, length), "") for c in TEXT_COLUMNS]
    joined = pc.binary_join_element_wise(*columns, " ")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def has_page_text(dataset: Dataset, crawl_id: str) -> bool:
    """Whether any page of the crawl has page text (a crawl before schema 4 has none)."""
    table = dataset.arrow("pages", crawl_id).to_table(columns=list(TEXT_COLUMNS[1:]))
    return any(table.column(c).null_count < table.num_rows for c in TEXT_COLUMNS[1:])


def word_counts(documents: pa.Table | pa.Array) -> sparse.csr_matrix:
    """The document-term count matrix of ``documents`` (one row each; columns: the words
    in order of first appearance)."""
    from scipy import sparse

    vocabulary = pa.array([], pa.string())
    blocks = []
    for start in range(0, len(documents), _DOCUMENT_CHUNK):
        text = documents_of(documents, start, _DOCUMENT_CHUNK)
        text = pc.utf8_normalize(pc.utf8_lower(text), "NFKD")
        text = pc.replace_substring_regex(text, r"\pM", "")
        text = pc.replace_substring_regex(text, _NOT_WORD_NOR_SPACE, " ")
        words = pc.utf8_split_whitespace(text)
        doc = pc.list_parent_indices(words)
        flat = pc.list_flatten(words)
        keep = pc.greater_equal(pc.utf8_length(flat), MIN_WORD_CHARS)
        doc, flat = doc.filter(keep), flat.filter(keep)
        encoded = pc.dictionary_encode(flat)
        local = encoded.dictionary
        known = pc.index_in(local, value_set=vocabulary)
        new = pc.is_null(known)
        ids = pc.fill_null(known, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        fresh = np.flatnonzero(new.to_numpy(zero_copy_only=False))
        ids[fresh] = len(vocabulary) + np.arange(len(fresh))
        vocabulary = pa.concat_arrays([vocabulary, local.filter(new)])
        column = ids[encoded.indices.to_numpy(zero_copy_only=False)]
        block = sparse.csr_matrix(
            (np.ones(len(column), np.float32), (doc.to_numpy(), column)),
            shape=(len(text), max(len(vocabulary), 1)),
        )
        block.sum_duplicates()
        blocks.append(block)
    width = max(len(vocabulary), 1)
    if not blocks:
        return sparse.csr_matrix((0, width), dtype=np.float32)
    return sparse.vstack(
        [sparse.csr_matrix(b, shape=(b.shape[0], width)) for b in blocks], format="csr"
    )


def vectorize(documents: pa.Table | pa.Array) -> sparse.csr_matrix:
    """The TF-IDF vectors of ``documents`` (one row each, L2-normalised; a document
    without words a zero row), the IDF fitted on them: :func:`word_counts` weighed by
    scikit-learn's ``TfidfTransformer(**VECTORIZER_SETTINGS)``."""
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = word_counts(documents)
    if counts.shape[0] == 0:
        return counts
    return TfidfTransformer(**VECTORIZER_SETTINGS).fit_transform(counts).tocsr()


def _rowwise_dot(
    left: sparse.csr_matrix, right: sparse.csr_matrix, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """left[a[i]] · right[b[i]] for each i, a chunk of rows at a time."""
    out = np.zeros(len(a), dtype=np.float64)
    for start in range(0, len(a), _CHUNK):
        stop = start + _CHUNK
        product = left[a[start:stop]].multiply(right[b[start:stop]])
        out[start:stop] = np.asarray(product.sum(axis=1)).ravel()
    return np.clip(out, 0.0, 1.0, out=out)


def _against_rows(
    left: sparse.csr_matrix, right: sparse.csr_matrix, a: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """left[a[i]] · right[b[i]] for each i, by row of ``right``: a site's row is dense
    (every word of its pages), so it is gathered once per site, not once per page."""
    out = np.zeros(len(a), dtype=np.float64)
    order = np.argsort(b, kind="stable")
    sites, starts = np.unique(b[order], return_index=True)
    bounds = [*starts.tolist(), len(order)]
    for site, start, stop in zip(sites.tolist(), bounds[:-1], bounds[1:], strict=True):
        picked = order[start:stop]
        row = right.getrow(site).toarray().ravel()
        out[picked] = left[a[picked]] @ row
    return np.clip(out, 0.0, 1.0, out=out)


def _inverse(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of an integer array, ascending, and each key's index among
    them: one argsort (numpy's np.unique with return_inverse takes several)."""
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    inverse = np.empty(len(keys), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def _normalized(matrix: sparse.csr_matrix) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Rows scaled to unit L2 norm, and which rows are non-zero."""
    from scipy import sparse

    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sparse.diags(scale.astype(matrix.dtype)) @ matrix, norms > 0


@dataclass
class LinkRelevance:
    """Relevance of the links between domains of one crawl graph.

    One entry per distinct (source page, target page) pair of a link from one domain to
    another, sorted by source then target (ids of the graph): ``relevance`` is the cosine
    of the two pages' vectors, ``domain_relevance`` that of the source's domain against
    the target's site: the mean, over the source domain's pages that link to the target
    domain, of each page's cosine with the site (the sum of the vectors of all its
    pages); NaN where a side has no text.
    ``pair_of_link`` gives each link row its pair (-1: a link within a domain).
    """

    source: np.ndarray
    target: np.ndarray
    relevance: np.ndarray
    domain_relevance: np.ndarray
    pair_of_link: np.ndarray
    pages_with_text: int

    def of_links(self) -> np.ndarray:
        """The relevance of each link row (NaN within a domain or without text)."""
        out = np.full(len(self.pair_of_link), np.nan)
        cross = self.pair_of_link >= 0
        out[cross] = self.relevance[self.pair_of_link[cross]]
        return out


def link_relevance(
    graph: CrawlGraph, urls: pa.Array, documents: pa.Table | pa.Array
) -> LinkRelevance:
    """Score every link between domains of ``graph`` from the documents of the pages at
    ``urls`` (:func:`page_documents`); see :class:`LinkRelevance`."""
    from scipy import sparse

    n = max(graph.n_pages, 1)
    cross_rows = np.flatnonzero(graph.source_domain != graph.target_domain)
    key = graph.source[cross_rows].astype(np.int64) * n + graph.target[cross_rows]
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    first = np.ones(len(sorted_key), dtype=bool)
    first[1:] = sorted_key[1:] != sorted_key[:-1]
    pairs = sorted_key[first]
    pair_of_link = np.full(len(graph.source), -1, dtype=np.int64)
    pair_of_link[cross_rows[order]] = np.cumsum(first) - 1
    source, target = pairs // n, pairs % n

    vectors = vectorize(documents)
    n_documents = len(documents)
    del documents  # the text is a gigabyte at a million pages: free it for what follows
    doc_of_page = np.full(graph.n_pages, -1, dtype=np.int64)
    if n_documents:
        index = pc.fill_null(pc.index_in(urls, value_set=graph.urls), -1)
        ids = index.to_numpy(zero_copy_only=False).astype(np.int64)
        found = np.flatnonzero(ids >= 0)
        doc_of_page[ids[found]] = found
    has_words = np.zeros(max(vectors.shape[0], 1), dtype=bool)
    if vectors.shape[0]:
        has_words[: vectors.shape[0]] = np.diff(vectors.indptr) > 0

    def doc(pages: np.ndarray) -> np.ndarray:
        d = doc_of_page[pages]
        ok = d >= 0
        ok[ok] = has_words[d[ok]]
        return np.where(ok, d, -1)

    source_doc, target_doc = doc(source), doc(target)
    relevance = np.full(len(pairs), np.nan)
    scored = np.flatnonzero((source_doc >= 0) & (target_doc >= 0))
    relevance[scored] = _rowwise_dot(vectors, vectors, source_doc[scored], target_doc[scored])

    # Referring domain against target site: the distinct (source domain, target domain)
    # pairs; each the mean, over its source pages with text (each page once), of the
    # cosine of the page against the site (the sum of the vectors of the site's pages).
    # A mean of page cosines rather than the cosine of the pages' sum: the sum of a big
    # referring domain's pages is a dense row per domain pair, gigabytes at 1M pages.
    domain_relevance = np.full(len(pairs), np.nan)
    if vectors.shape[0] and vectors.shape[1] and len(pairs):
        nd = max(graph.n_domains, 1)
        n_docs = vectors.shape[0]
        dkey = graph.page_domain[source].astype(np.int64) * nd + graph.page_domain[target]
        dpairs, pair_dpair = _inverse(dkey)
        with_text = np.flatnonzero(source_doc >= 0)
        triple = _inverse(pair_dpair[with_text] * n_docs + source_doc[with_text])[0]
        rows, cols = triple // n_docs, triple % n_docs
        page_of_doc = np.full(n_docs, -1, dtype=np.int64)
        page_of_doc[doc_of_page[doc_of_page >= 0]] = np.flatnonzero(doc_of_page >= 0)
        in_graph = np.flatnonzero(page_of_doc >= 0)
        member = sparse.csr_matrix(
            (
                np.ones(len(in_graph), dtype=np.float32),
                (graph.page_domain[page_of_doc[in_graph]], in_graph),
            ),
            shape=(nd, n_docs),
        )
        site, site_ok = _normalized(member @ vectors)
        site_of = dpairs[rows] % nd
        ok = site_ok[site_of]
        rows, cols, site_of = rows[ok], cols[ok], site_of[ok]
        cosines = _against_rows(vectors, site, cols, site_of)
        total = np.bincount(rows, weights=cosines, minlength=len(dpairs))
        count = np.bincount(rows, minlength=len(dpairs))
        by_dpair = np.divide(total, count, out=np.full(len(dpairs), np.nan), where=count > 0)
        domain_relevance = by_dpair[pair_dpair]
    return LinkRelevance(source, target, relevance, domain_relevance, pair_of_link,
                         pages_with_text=n_documents)  # fmt: skip


def relevance_table(graph: CrawlGraph, scored: LinkRelevance) -> pa.Table:
    """authority/relevance.parquet: one row per scored pair, ordered by target domain,
    then relevance (highest first, unknown last)."""
    from linkcrawl.dataset.schemas import AUTHORITY_SCHEMAS

    target_domain = graph.page_domain[scored.target]
    unknown = np.isnan(scored.relevance)
    order = np.lexsort((unknown, -np.nan_to_num(scored.relevance), target_domain))
    source, target = scored.source[order], scored.target[order]
    columns = {
        "target": graph.urls.take(pa.array(target)),
        "target_domain": graph.domains.take(pa.array(graph.page_domain[target])),
        "source": graph.urls.take(pa.array(source)),
        "source_domain": graph.domains.take(pa.array(graph.page_domain[source])),
        "relevance": pa.array(scored.relevance[order], from_pandas=True),
        "domain_relevance": pa.array(scored.domain_relevance[order], from_pandas=True),
    }
    return pa.table(columns, schema=AUTHORITY_SCHEMAS["relevance"])


def require_page_text(dataset: Dataset, crawl_id: str) -> None:
    """DatasetError unless the crawl has page text (for ``--relevance-weight``)."""
    if not has_page_text(dataset, crawl_id):
        raise DatasetError(
            f"crawl {crawl_id} has no page text (crawled before linkcrawl kept it, schema 4): "
            "--relevance and --relevance-weight need it; crawl again or analyze without them"
        )
