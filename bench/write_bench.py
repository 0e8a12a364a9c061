"""Writer throughput and bytes per edge: the Parquet pipeline against plain pyarrow and pandas.

A realistic crawl is generated in memory first (not timed): pages on 40 sites, 50 links a
page (a shared navigation and footer per site, content links into the site's sections,
some links to other sites, a few nofollow), URLs sharing hosts and paths as real sites do.
Then, timed, the same pages go through:

- linkcrawl: ``ParquetPipeline.process_item`` for every page (column buffering, flush
  every 65,536 edge rows as a paired edges/pages part: zstd, dictionary, fsync, rename);
- baseline 1: ``pyarrow.parquet.write_table`` of the finished edges table, pyarrow's
  defaults (snappy, one file, no fsync), building the table not timed;
- baseline 2: ``DataFrame.to_parquet`` of the same edges, pandas' defaults;
- baseline 3, the straightforward exporter: one dict per link, ``pa.Table.from_pylist``
  and ``pq.write_table`` per 65,536 rows (as a per-link item exporter would).

Reported: edge rows/s (median of ``--repeat`` runs), the time of one ``process_item`` for a
page of 50 links, and bytes per edge on disk, each with its ratio to the baselines.

    python bench/write_bench.py [--pages 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
from scrapy.utils.test import get_crawler

from linkcrawl.crawl.items import PageItem
from linkcrawl.crawl.pipeline import ColumnBuffer, ParquetPipeline

LINKS_PER_PAGE = 50
SECTIONS = ["news", "sport", "business", "culture", "opinion", "travel", "tech", "science"]
WORDS = (
    "the a market city report new first plan how why after over more world local "
    "season results review guide update best week council water energy school"
).split()


def make_pages(n_pages: int, seed: int = 7) -> list[PageItem]:
    rng = random.Random(seed)
    hosts = [f"www.site{i:02d}-example.com" for i in range(40)]
    domains = [h[4:] for h in hosts]
    nav = {
        h: [(f"https://{h}/{s}/", s.title()) for s in SECTIONS]
        + [(f"https://{h}/", "Home"), (f"https://{h}/about/contact", "Contact")]
        for h in hosts
    }
    items = []
    start_ms = 1_795_000_000_000
    for p in range(n_pages):
        k = rng.randrange(len(hosts))
        host, domain = hosts[k], domains[k]
        section = rng.choice(SECTIONS)
        url = f"https://{host}/{section}/2026/11/{'-'.join(rng.sample(WORDS, 5))}-{p}"
        item = PageItem(
            url=url,
            fetched_at=start_ms + p * 40,
            domain=domain,
            status=200,
            content_type="text/html; charset=utf-8",
            title=" ".join(rng.sample(WORDS, 7)).capitalize(),
            noindex=False,
            nofollow=False,
            depth=rng.randrange(6),
            bytes=rng.randrange(20_000, 200_000),
            elapsed_ms=rng.randrange(30, 900),
        )
        links = [(t, a, "navigation") for t, a in nav[host]]
        while len(links) < LINKS_PER_PAGE - 6:
            if rng.random() < 0.12:
                j = rng.randrange(len(hosts))
                target = f"https://{hosts[j]}/{rng.choice(SECTIONS)}/{rng.randrange(5000)}"
                links.append((target, " ".join(rng.sample(WORDS, 3)), "content"))
            else:
                slug = "-".join(rng.sample(WORDS, 4))
                target = (
                    f"https://{host}/{rng.choice(SECTIONS)}/2026/11/{slug}-{rng.randrange(n_pages)}"
                )
                links.append((target, " ".join(rng.sample(WORDS, rng.randrange(2, 9))), "content"))
        links += [
            (f"https://{host}/legal/privacy", "Privacy", "footer"),
            (f"https://{host}/legal/terms", "Terms", "footer"),
            ("https://twitter.com/share", "", "footer"),
            (f"https://{host}/feed.xml", "", "head"),
            (f"https://{host}/static/logo.png", "logo", "header"),
            (url, "", "head"),
        ]
        for i, (target, anchor, position) in enumerate(links):
            external = not target.startswith(f"https://{host}/")
            rel = "nofollow" if external and rng.random() < 0.3 else ""
            item.target.append(target)
            item.anchor.append(anchor)
            item.rel.append(rel)
            item.follow.append(rel == "")
            item.position.append(position)
            item.kind.append("canonical" if i == len(links) - 1 else "anchor")
            item.target_domain.append(target.split("/")[2].removeprefix("www."))
        items.append(item)
    return items


def run_pipeline(items: list[PageItem], root: Path) -> tuple[float, float, float]:
    """Wall time, CPU time of this (the crawl's) thread, and CPU time of the process."""
    crawler = get_crawler(
        settings_dict={"LINKCRAWL_DATA_DIR": str(root), "LINKCRAWL_FLUSH_SECONDS": 0}
    )
    pipeline = ParquetPipeline.from_crawler(crawler)
    spider = SimpleNamespace(crawl_id="bench1", seeds=["https://www.site00-example.com/"])
    pipeline.open_spider(spider)
    t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
    for item in items:
        pipeline.process_item(item, spider)
    pipeline.close_spider(spider)
    elapsed = time.perf_counter() - t0
    thread_cpu, process_cpu = time.thread_time() - c0, time.process_time() - p0
    pipeline.spider_closed(spider, "finished")
    return elapsed, thread_cpu, process_cpu


def buffer_only(items: list[PageItem]) -> float:
    """process_item's own per-page work: buffering, without the batch's Parquet write."""
    buffer = ColumnBuffer()
    t0 = time.perf_counter()
    for item in items:
        buffer.add(item)
    return time.perf_counter() - t0


def naive_exporter(items: list[PageItem], path: Path) -> float:
    t0 = time.perf_counter()
    rows: list[dict] = []
    n = 0
    for item in items:
        for i, target in enumerate(item.target):
            rows.append(
                {
                    "source": item.url,
                    "target": target,
                    "anchor": item.anchor[i],
                    "rel": item.rel[i],
                    "follow": item.follow[i],
                    "position": item.position[i],
                    "kind": item.kind[i],
                    "ordinal": i,
                    "source_domain": item.domain,
                    "target_domain": item.target_domain[i],
                    "internal": item.domain == item.target_domain[i],
                    "discovered_at": item.fetched_at,
                }
            )
        if len(rows) >= 65_536:
            pq.write_table(pa.Table.from_pylist(rows), path / f"part-{n:05d}.parquet")
            rows, n = [], n + 1
    if rows:
        pq.write_table(pa.Table.from_pylist(rows), path / f"part-{n:05d}.parquet")
    return time.perf_counter() - t0


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*.parquet"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    items = make_pages(args.pages)
    n_edges = sum(len(i.target) for i in items)
    print(f"{args.pages:,} pages, {n_edges:,} edges ({LINKS_PER_PAGE} links a page), 40 sites")

    ours, ours_thread, ours_cpu, ours_buffer = [], [], [], []
    plain, pandas_t, naive = [], [], []
    with tempfile.TemporaryDirectory(prefix="linkcrawl-bench-") as tmp:
        tmp_path = Path(tmp)
        for r in range(args.repeat):
            root = tmp_path / f"run{r}"
            wall, thread_cpu, process_cpu = run_pipeline(items, root)
            ours.append(wall)
            ours_thread.append(thread_cpu)
            ours_cpu.append(process_cpu)
            ours_buffer.append(buffer_only(items))
            edges_dir = root / "edges" / "crawl_id=bench1"
            table = pq.read_table(edges_dir)  # the same rows, as one table
            t0 = time.perf_counter()
            pq.write_table(table, tmp_path / "plain.parquet")
            plain.append(time.perf_counter() - t0)
            df = table.to_pandas()
            t0 = time.perf_counter()
            df.to_parquet(tmp_path / "pandas.parquet")
            pandas_t.append(time.perf_counter() - t0)
            (tmp_path / "naive").mkdir(exist_ok=True)
            naive.append(naive_exporter(items, tmp_path / "naive"))
            ours_bytes = dir_bytes(edges_dir)
            plain_bytes = (tmp_path / "plain.parquet").stat().st_size
            pandas_bytes = (tmp_path / "pandas.parquet").stat().st_size
            parts = len(list(edges_dir.glob("*.parquet")))
            if r < args.repeat - 1:
                shutil.rmtree(root)

    def rate(times: list[float]) -> float:
        return n_edges / statistics.median(times)

    print()
    print("writer throughput (edge rows/s, median of", args.repeat, "runs)")
    print(f"  linkcrawl pipeline (process_item + {parts} part pairs) {rate(ours):>12,.0f}")
    print(f"    per CPU-second of the crawl's thread         {rate(ours_thread):>12,.0f}")
    print(f"    per CPU-second of the process (both threads) {rate(ours_cpu):>12,.0f}")
    print(f"  baseline pq.write_table (table prebuilt)      {rate(plain):>12,.0f}")
    print(f"  baseline DataFrame.to_parquet (prebuilt)      {rate(pandas_t):>12,.0f}")
    print(f"  baseline per-link dicts, from_pylist + write  {rate(naive):>12,.0f}")
    print(f"  ratio linkcrawl / pq.write_table: {rate(ours) / rate(plain):.2f}")
    print(f"  ratio linkcrawl / to_parquet:     {rate(ours) / rate(pandas_t):.2f}")
    print(f"  ratio linkcrawl / per-link dicts: {rate(ours) / rate(naive):.2f}")
    per_page_all = statistics.median(ours_thread) / args.pages * 1e6
    per_page_buf = statistics.median(ours_buffer) / args.pages * 1e6
    print()
    print(
        f"process_item per page of {LINKS_PER_PAGE} links (CPU of the crawl's thread), "
        "flushes included: "
        f"{per_page_all:.1f} µs; buffering alone: {per_page_buf:.1f} µs"
    )
    print()
    print("bytes per edge on disk")
    print(f"  linkcrawl (zstd, dictionary, 64k row groups) {ours_bytes / n_edges:>7.1f}")
    print(f"  baseline pq.write_table (snappy)            {plain_bytes / n_edges:>7.1f}")
    print(f"  baseline DataFrame.to_parquet               {pandas_bytes / n_edges:>7.1f}")
    print(f"  ratio linkcrawl / pq.write_table: {ours_bytes / plain_bytes:.2f}")
    print()
    part_writer_from_batches(items, args.repeat)


def part_writer_from_batches(items: list, repeat: int) -> None:
    """PartWriter alone, fed Arrow batches already in memory (the pipeline's column buffer
    built them): staging, zstd, fsync and rename of each part, no Python rows."""
    from linkcrawl.crawl.pipeline import ColumnBuffer
    from linkcrawl.dataset.schemas import EDGES_SCHEMA
    from linkcrawl.dataset.write import PartWriter

    buffer, batches = ColumnBuffer(), []
    for i, item in enumerate(items, 1):
        buffer.add(item)
        if i % 1300 == 0:  # ~65k edges a part, as LINKCRAWL_FLUSH_ROWS
            batches.append(buffer.edges_table())
            buffer.clear()
    if buffer.edges_table().num_rows:
        batches.append(buffer.edges_table())
    rows = sum(b.num_rows for b in batches)
    rates = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            writer = PartWriter(tmp, "edges", "cbench", EDGES_SCHEMA)
            started = time.perf_counter()
            for batch in batches:
                writer.write(batch)
            rates.append(rows / (time.perf_counter() - started))
    plain = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            for n, batch in enumerate(batches):
                pq.write_table(batch, f"{tmp}/{n}.parquet")
            plain.append(rows / (time.perf_counter() - started))
    ours, base = statistics.median(rates), statistics.median(plain)
    print(f"PartWriter from in-memory Arrow batches ({len(batches)} parts of ~65k rows)")
    print(f"  linkcrawl PartWriter (zstd, fsync, rename) {ours:>12,.0f} rows/s")
    print(f"  baseline pq.write_table per batch          {base:>12,.0f} rows/s")
    print(f"  ratio: {ours / base:.2f}")


if __name__ == "__main__":
    main()
