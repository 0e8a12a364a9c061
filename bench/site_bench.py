"""Time `linkcrawl site` on one 1M-page site, against `linkcrawl analyze` of the same crawl.

Builds DIR (default bench/results/site-1m) with bench/gen_web_graph.py --site if it is not
there: one site of 1,000,000 linked pages and 1,000 sitemap-only orphans, about 10M links.
Then runs, each in a fresh process and --repeat times (default 3): `linkcrawl analyze` (the
baseline: the whole-crawl analysis on the same graph), `linkcrawl site DOMAIN --issues`
(the audit and every issue list, the counts printed) and `linkcrawl site DOMAIN --format
csv` (the per-page table of every URL written out too). Prints the median wall time (imports
included: what a user waits for) and peak RSS of each, their ratios to analyze's, and the
goal of issue 19: <= 10 s and <= 3 GB for `linkcrawl site`.

    python bench/site_bench.py [DIR] [--pages N] [--repeat 3]
    flock /work/bench.lock python bench/site_bench.py      # on a shared machine
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "results" / "site-1m"
DOMAIN = "bigsite-example.com"
LINKCRAWL = [sys.executable, "-m", "linkcrawl.cli"]
GOAL_SECONDS, GOAL_MB = 10.0, 3 * 1024


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
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"linkcrawl {' '.join(args)} failed: {errors}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--pages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = args.dir
    if not (data / "edges").is_dir():
        subprocess.run(
            [sys.executable, str(HERE / "gen_web_graph.py"), str(data), "--site",
             "--pages", str(args.pages)],
            check=True,
        )  # fmt: skip
    d = ["--data", str(data)]
    commands = {
        "analyze": ["analyze", *d],
        "site --issues": ["site", DOMAIN, *d, "--issues"],
        "site --format csv": ["site", DOMAIN, *d, "--format", "csv"],
    }
    print(f"dataset {data}; {os.cpu_count()} cpus; load average {os.getloadavg()}", flush=True)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            results[name].append(run(command))
            seconds, mb = results[name][-1]
            print(f"{name:18} {seconds:7.2f} s {mb:7.0f} MB", flush=True)

    def median(name: str, i: int) -> float:
        return statistics.median(r[i] for r in results[name])

    base_s, base_mb = median("analyze", 0), median("analyze", 1)
    print(f"\n{'command':18} {'runs':>4} {'time s':>8} {'peak RSS MB':>11} "
          f"{'time ÷ analyze':>14} {'RSS ÷ analyze':>13}")  # fmt: skip
    for name in results:
        s, mb = median(name, 0), median(name, 1)
        print(f"{name:18} {len(results[name]):>4} {s:>8.2f} {mb:>11.0f} "
              f"{s / base_s:>14.2f} {mb / base_mb:>13.2f}")  # fmt: skip
    s, mb = median("site --issues", 0), median("site --issues", 1)
    verdict = "met" if s <= GOAL_SECONDS and mb <= GOAL_MB else "NOT met"
    print(f"\ngoal (issue 19): linkcrawl site <= {GOAL_SECONDS:.0f} s and <= {GOAL_MB} MB: "
          f"{verdict} ({s:.2f} s, {mb:.0f} MB; load average {os.getloadavg()})")  # fmt: skip


if __name__ == "__main__":
    main()
