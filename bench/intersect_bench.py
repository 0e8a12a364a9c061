"""Time `linkcrawl intersect TARGET` with three competitors, and `backlinks TARGET
--anchors` and `--networks`, against `linkcrawl backlinks TARGET` on the same analysed
crawl (bench/gen_web_graph.py, then `linkcrawl analyze`).

TARGET is the domain ranked --rank by authority (default 1, the one with most backlinks),
the competitors the three ranked after it: the heaviest case, four of the largest inbound
sets of the crawl. Each command runs in a fresh process (imports included, as a user
waits), alternating, --repeat times; prints medians and the ratio intersect ÷ backlinks.

    python bench/gen_web_graph.py && linkcrawl analyze --data bench/results/web-1m
    python bench/intersect_bench.py [DIR] [--repeat 3] [--rank 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import pyarrow.parquet as pq
from commands_bench import run

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "results" / "web-1m"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rank", type=int, default=1, help="the target's authority rank")
    args = parser.parse_args()
    data = args.dir
    from linkcrawl.dataset.reader import open_dataset

    crawl_id = open_dataset(data).resolve_crawl()
    path = data / "authority" / f"crawl_id={crawl_id}" / "domains.parquet"
    if not path.is_file():
        raise SystemExit(f"{data}: crawl {crawl_id} not analysed: run linkcrawl analyze first")
    domains = pq.read_table(path, columns=["domain", "rank", "referring_domains"]).to_pandas()
    ranked = domains.sort_values("rank").reset_index(drop=True)
    picked = ranked.iloc[args.rank - 1 : args.rank + 3]
    target, *rivals = list(picked.domain)
    d = ["--data", str(data), "--crawl-id", crawl_id]
    print(
        f"dataset {data}, crawl {crawl_id}; target {target}, competitors {', '.join(rivals)} "
        f"(referring domains {', '.join(f'{n:,}' for n in picked.referring_domains)}); "
        f"{os.cpu_count()} cpus; load average {os.getloadavg()}",
        flush=True,
    )
    commands = {
        "backlinks": ["backlinks", target, *d, "--format", "csv"],
        "intersect": ["intersect", target, *rivals, *d, "--format", "csv"],
        "intersect --min 2": ["intersect", target, *rivals, "--min", "2", *d, "--format", "csv"],
        "backlinks --anchors": ["backlinks", target, "--anchors", *d, "--format", "csv"],
        "backlinks --networks": ["backlinks", target, "--networks", *d, "--format", "csv"],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            results[name].append(run(command))
            seconds, mb = results[name][-1]
            print(f"{name:20} {seconds:7.2f} s {mb:7.0f} MB", flush=True)
    base_s = statistics.median(r[0] for r in results["backlinks"])
    base_mb = statistics.median(r[1] for r in results["backlinks"])
    print()
    print(f"{'command':20} {'runs':>4} {'time s':>8} {'peak RSS MB':>11} {'÷ backlinks':>11}")
    for name, runs in results.items():
        s = statistics.median(r[0] for r in runs)
        mb = statistics.median(r[1] for r in runs)
        print(
            f"{name:20} {len(runs):>4} {s:>8.2f} {mb:>11.0f} {s / base_s:>11.2f}"
            f"  (RSS {mb / base_mb:.2f})"
        )


if __name__ == "__main__":
    main()
