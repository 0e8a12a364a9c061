"""What relevance adds to `linkcrawl analyze`: time and peak memory of the command without
relevance (the default, the baseline), with relevance scored (--relevance:
relevance.parquet), and with --relevance-weight folding it into PageRank,
each run in its own process, on a synthetic web with page text.

    python bench/gen_web_graph.py DIR --text           # once: 1M pages, 10M links, text
    python bench/relevance_bench.py DIR [--repeat 3] [--weight 0.5]

Prints the median of each variant and its ratio to the baseline (issue 20's goal:
relevance and anchor classes add at most 50 % to analyze).
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
DEFAULT_DIR = HERE / "results" / "web-1m-text"


def run(args: list[str]) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one `linkcrawl analyze` process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "linkcrawl.cli", "analyze", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read() if process.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"analyze {' '.join(args)} failed: {stderr.strip()}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--weight", type=float, default=0.5)
    args = parser.parse_args()
    data = ["--data", str(args.dir)]
    variants = {
        "baseline (no relevance)": data,
        "relevance scored": [*data, "--relevance"],
        f"--relevance-weight {args.weight}": [*data, "--relevance-weight", str(args.weight)],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeat):  # interleaved, so that a busy moment hits every variant
        for name, argv in variants.items():
            results[name].append(run(argv))
    base = statistics.median(s for s, _ in results["baseline (no relevance)"])
    for name, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        peak = max(m for _, m in runs)
        times = ", ".join(f"{s:.1f}" for s, _ in runs)
        print(
            f"{name:32} median {seconds:7.1f} s ({times}); {seconds / base:.2f}x baseline; "
            f"peak {peak:,.0f} MB"
        )


if __name__ == "__main__":
    main()
