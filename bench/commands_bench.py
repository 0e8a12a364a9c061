"""Time every read command of linkcrawl on synthetic crawls, against `linkcrawl analyze`.

Builds what it needs in DIR (default bench/results/commands-1m): --crawls synthetic crawls
written by bench/gen_web_graph.py (seeds 1, 2, ...; crawls already in DIR are reused), each
analysed. Then runs, each in a fresh process and --repeat times: `linkcrawl analyze` of
the newest crawl (the baseline), `audit`, `diff` of the two newest crawls, `backlinks
DOMAIN`, `report DOMAIN` and `history DOMAIN` over all the crawls; DOMAIN is the newest
crawl's top domain by authority (the one with most backlinks) unless --domain says. Prints
the median wall time of each process (imports included: what a user waits for) and its
peak RSS, and their ratios to analyze's.

    python bench/commands_bench.py [DIR] [--pages N] [--links M] [--crawls 5] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "results" / "commands-1m"
LINKCRAWL = [sys.executable, "-m", "linkcrawl.cli"]


def finished_crawls(data_dir: Path) -> list[str]:
    """The finished crawls of ``data_dir``, oldest first (as the commands order them)."""
    if not (data_dir / "crawls").is_dir():
        return []
    from linkcrawl.dataset.reader import open_dataset

    ds = open_dataset(data_dir)
    return [m.crawl_id for m in reversed(ds.manifests()) if m.status == "finished"]


def build(data_dir: Path, pages: int, links: int, crawls: int) -> list[str]:
    """Generate and analyse crawls until ``data_dir`` has ``crawls`` analysed ones."""
    seed = 1
    while len(finished_crawls(data_dir)) < crawls:
        crawl_id = f"w{seed}"
        if not (data_dir / "edges" / f"crawl_id={crawl_id}").is_dir():
            print(f"generating crawl {crawl_id} ({pages:,} pages, {links:,} links)", flush=True)
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "gen_web_graph.py"),
                    str(data_dir),
                    *("--pages", str(pages), "--edges", str(links)),
                    *("--seed", str(seed), "--crawl-id", crawl_id),
                ],
                check=True,
            )
        seed += 1
    ids = finished_crawls(data_dir)
    for crawl_id in ids:
        if not (data_dir / "authority" / f"crawl_id={crawl_id}" / "inbound.parquet").is_file():
            print(f"analysing crawl {crawl_id}", flush=True)
            subprocess.run(
                [*LINKCRAWL, "analyze", "--data", str(data_dir), "--crawl-id", crawl_id],
                check=True,
                stderr=subprocess.DEVNULL,
            )
    return ids


def top_domain(data_dir: Path, crawl_id: str) -> str:
    import pyarrow.parquet as pq

    path = data_dir / "authority" / f"crawl_id={crawl_id}" / "domains.parquet"
    domains = pq.read_table(path, columns=["domain", "rank"]).to_pandas()
    return str(domains.sort_values("rank").domain.iloc[0])


def run(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one linkcrawl process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*LINKCRAWL, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    errors = proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"linkcrawl {' '.join(args)} failed ({proc.returncode}): {errors}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--pages", type=int, default=1_000_000, help="pages per crawl")
    parser.add_argument("--links", type=int, default=10_000_000, help="links per crawl")
    parser.add_argument("--crawls", type=int, default=5, help="crawls for history")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command (median)")
    parser.add_argument("--domain", default=None, help="DOMAIN (default: the top domain)")
    parser.add_argument(
        "--only", default=None, help="comma-separated commands to time (analyze always runs)"
    )
    args = parser.parse_args()
    data = args.dir
    data.mkdir(parents=True, exist_ok=True)
    ids = build(data, args.pages, args.links, args.crawls)
    old, new = ids[-2], ids[-1]
    domain = args.domain or top_domain(data, new)
    d = ("--data", str(data))
    print(
        f"dataset {data}: {len(ids)} crawls ({', '.join(ids)}); DOMAIN {domain}; "
        f"{os.cpu_count()} cpus; load average {os.getloadavg()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        commands = {
            "analyze": ["analyze", *d, "--crawl-id", new],
            "audit": ["audit", *d, "--crawl-id", new],
            "diff": ["diff", old, new, *d],
            "backlinks": ["backlinks", domain, *d, "--crawl-id", new],
            "report": ["report", domain, *d, "--crawl-id", new, "--out", f"{tmp}/report.html"],
            "history": ["history", domain, *d],
        }
        if args.only:
            wanted = {"analyze", *args.only.split(",")}
            commands = {k: v for k, v in commands.items() if k in wanted}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                results[name].append(run(command))
                seconds, mb = results[name][-1]
                print(f"{name:10} {seconds:7.2f} s {mb:7.0f} MB", flush=True)

    def median(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name])

    base_s, base_mb = median("analyze", 0), median("analyze", 1)
    print()
    print(
        f"{'command':10} {'runs':>4} {'time s':>8} {'peak RSS MB':>11} "
        f"{'time ÷ analyze':>14} {'RSS ÷ analyze':>13}"
    )
    for name in results:
        s, mb = median(name, 0), median(name, 1)
        print(
            f"{name:10} {len(results[name]):>4} {s:>8.2f} {mb:>11.0f} "
            f"{s / base_s:>14.2f} {mb / base_mb:>13.2f}"
        )


if __name__ == "__main__":
    main()
