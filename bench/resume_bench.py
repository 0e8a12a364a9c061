"""Time and peak memory of reading a crawl's resume state (``Dataset.resume_state``) on a
crawl-shaped dataset of 30M edges, against the full read it replaced, each run in its own
process.

    python bench/resume_bench.py [DIR] [--repeat 3] [--pages N] [--edges M]

The first run writes the dataset (bench/gen_web_graph.py's generator: 3M pages on
Zipf-sized domains, 30M links, 90 % of the pages fetched) as a crawl would: edges and
pages part files of the same number, pages with their depth, an interrupted manifest.
Later runs reuse it. The baseline is the old resume_state: both tables read whole with
``to_table``, then filtered, joined and grouped in memory. Both must return the same
state; the script checks it by the sizes and a digest of each.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "results" / "resume-30m"
CRAWL_ID = "resume30M"

# The resume_state of linkcrawl before it streamed: every edge's source and target in
# memory, then an is_in filter, a join and a group_by over them.
BASELINE = """
import pyarrow as pa, pyarrow.compute as pc
from linkcrawl.storage import Dataset
def resume(ds, crawl_id):
    pages = ds.arrow("pages", crawl_id).to_table(columns=["url", "depth"])
    edges = ds.arrow("edges", crawl_id).to_table(columns=["source", "target"])
    done = pages["url"].combine_chunks()
    pending = edges.filter(pc.invert(pc.is_in(edges["target"], value_set=done)))
    depth_of = pa.table(
        {"source": pages["url"], "depth": pc.fill_null(pages["depth"], 0).cast(pa.int32())}
    )
    frontier = (
        pending.join(depth_of, "source", join_type="left outer")
        .group_by("target")
        .aggregate([("depth", "min")])
        .sort_by([("depth_min", "ascending"), ("target", "ascending")])
    )
    depths = pc.add(pc.fill_null(frontier["depth_min"], 0), 1)
    return set(done.to_pylist()), list(zip(frontier["target"].to_pylist(), depths.to_pylist()))
started = time.perf_counter()
done, frontier = resume(Dataset(DIR), CRAWL_ID)
"""

CURRENT = """
from linkcrawl.storage import Dataset
started = time.perf_counter()
done, frontier = Dataset(DIR).resume_state(CRAWL_ID)
"""

FOOTER = """
seconds = time.perf_counter() - started
import hashlib, resource
digest = hashlib.sha256(repr((sorted(done), frontier)).encode()).hexdigest()[:16]
print(json.dumps({"seconds": seconds, "done": len(done), "frontier": len(frontier),
                  "digest": digest,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(root: Path, n_pages: int, n_edges: int) -> None:
    """Write the crawl-shaped dataset: parts of ~20k fetched pages and their edges."""
    import numpy as np
    import pyarrow as pa

    sys.path.insert(0, str(HERE))
    from gen_web_graph import generate as web_graph

    from linkcrawl.dataset.manifest import write_manifest
    from linkcrawl.dataset.schemas import PAGES_SCHEMA
    from linkcrawl.dataset.write import PartWriter
    from linkcrawl.sources.edgelist import import_edges

    started = time.perf_counter()
    edges, fetched = web_graph(n_pages, n_edges, seed=1)
    # The generator writes each fetched page's links as one run of rows, in crawl order.
    counts = pa.table({"source": edges["source"]}).group_by("source", use_threads=False)
    per_page = dict(
        zip(
            *(counts.aggregate([("source", "count")]).column(c).to_pylist()
              for c in ("source", "source_count")),
            strict=True,
        )
    )  # fmt: skip
    rng = np.random.default_rng(2)
    depth = np.minimum(rng.geometric(0.35, len(fetched)) - 1, 12).astype(np.int16)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    page_writer = PartWriter(root, "pages", CRAWL_ID, PAGES_SCHEMA)
    per_part, row = 20_000, 0
    urls = fetched.to_pylist()
    for part, start in enumerate(range(0, len(urls), per_part)):
        chunk = urls[start : start + per_part]
        rows = sum(per_page.get(u, 0) for u in chunk)
        import_edges(root, edges.slice(row, rows), CRAWL_ID, pages=[], started_at=now)
        row += rows
        n = len(chunk)
        page_writer.write(
            pa.table(
                {
                    f.name: (
                        pa.array(chunk, f.type) if f.name == "url"
                        else pa.array(depth[start : start + n], f.type) if f.name == "depth"
                        else pa.array(np.full(n, np.datetime64("2026-01-01", "ms")), f.type)
                        if f.name == "fetched_at"
                        else pa.nulls(n, f.type)
                    )
                    for f in PAGES_SCHEMA
                },
                schema=PAGES_SCHEMA,
            ),
            part=part,
        )  # fmt: skip
    assert row == edges.num_rows, (row, edges.num_rows)
    write_manifest(
        root,
        {
            "crawl_id": CRAWL_ID,
            "status": "interrupted",
            "started_at": now.isoformat(),
            "seeds": [],
            "counts": {"pages": len(urls), "edges": edges.num_rows},
        },
    )
    print(
        f"wrote {root}: {len(urls):,} pages, {edges.num_rows:,} edges in "
        f"{time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )


def run(code: str, root: Path) -> dict[str, float]:
    script = f"import json, time\nDIR = {str(root)!r}\nCRAWL_ID = {CRAWL_ID!r}\n" + code + FOOTER
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pages", type=int, default=3_000_000)
    parser.add_argument("--edges", type=int, default=30_000_000)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    if not (args.dir / "crawls" / f"{CRAWL_ID}.json").is_file():
        generate(args.dir, args.pages, args.edges)
    if args.generate_only:
        return
    results: dict[str, list[dict[str, float]]] = {"baseline": [], "resume_state": []}
    for _ in range(args.repeat):
        for name, code in (("baseline", BASELINE), ("resume_state", CURRENT)):
            results[name].append(run(code, args.dir))
    answers = {name: {(r["done"], r["frontier"], r["digest"]) for r in rs}
               for name, rs in results.items()}  # fmt: skip
    if answers["baseline"] != answers["resume_state"] or len(answers["baseline"]) != 1:
        raise SystemExit(f"resume_state and the baseline disagree: {answers}")
    ((done, frontier, _),) = answers["baseline"]
    print(f"{args.dir}: {done:,} pages fetched, {frontier:,} targets to resume; "
          f"median of {args.repeat} runs")  # fmt: skip
    print(f"{'method':13} {'time s':>7} {'process s':>9} {'peak RSS MB':>11}")
    base: dict[str, float] = {}
    for name, rs in results.items():
        s = statistics.median(r["seconds"] for r in rs)
        p = statistics.median(r["process_s"] for r in rs)
        mb = statistics.median(r["peak_rss_mb"] for r in rs)
        base = base or {"s": s, "mb": mb}
        print(f"{name:13} {s:7.1f} {p:9.1f} {mb:11.0f}")
    print(f"resume_state ÷ baseline: time {s / base['s']:.2f}, peak RSS {mb / base['mb']:.2f}")


if __name__ == "__main__":
    main()
