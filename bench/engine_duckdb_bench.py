"""Time and peak memory of `linkcrawl analyze --engine duckdb --memory-limit 2GB` against
`linkcrawl analyze` (the default sparse engine) on the same synthetic web graph
(bench/gen_web_graph.py), each a run of the command line in its own process on its own copy
of the dataset, alternating.

    python bench/gen_web_graph.py                      # once: 1M pages, 10M links
    python bench/engine_duckdb_bench.py [DIR] [--memory-limit 2GB] [--threads 2] [--repeat 3]

Both engines do the whole analysis (page and domain PageRank to an L1 change < 1e-8, counts,
authority, inbound ranking, the three Parquet files). Reported: wall seconds, where the duckdb
engine's page PageRank iterated (in memory or in DuckDB) and its seconds per iteration, the
seconds until the graph is numbered and joined (the relational steps), peak RSS of the
process, and the ratios duckdb / sparse.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "results" / "web-1m"


def run(args: list[str]) -> dict:
    """Run ``linkcrawl ARGS`` in a fresh process; returns its wall seconds, its progress lines
    (seconds since start, line) and its peak RSS."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "linkcrawl.cli", *args], stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    lines = [(time.perf_counter() - started, line.rstrip()) for line in proc.stderr]
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit("benchmark process failed:\n" + "\n".join(line for _, line in lines))
    return {"seconds": seconds, "lines": lines, "peak_rss_mb": usage.ru_maxrss / 1024}


def iteration_seconds(lines: list[tuple[float, str]]) -> tuple[int, float, str] | None:
    """Page PageRank iterations, seconds per iteration and where it ran, from the duckdb
    engine's line "page PageRank done (N iterations in WHERE, S s)"."""
    for _, line in lines:
        if "page PageRank done (" in line:
            detail = line.split("(", 1)[1]
            iterations = int(detail.split(" iterations")[0])
            # (Older versions iterated in DuckDB only, and did not say where.)
            where = detail.split(" iterations")[1].split(",")[0].strip() or "in DuckDB"
            seconds = float(detail.split(", ")[1].split(" s")[0])
            return iterations, seconds / max(iterations, 1), where
    return None


def relational_seconds(lines: list[tuple[float, str]]) -> float | None:
    """Seconds until the duckdb engine has numbered the URLs and joined the links (its line
    "N pages, M links, D domains")."""
    return next((at for at, line in lines if " links, " in line and " pages, " in line), None)


def copy_dataset(src: Path, dst: Path) -> str:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("authority", ".staging"))
    return str(dst)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine (median)")
    args = parser.parse_args()
    if not (args.dir / "edges").is_dir():
        raise SystemExit(f"{args.dir}: no dataset; run bench/gen_web_graph.py {args.dir} first")
    print(
        f"dataset {args.dir}; {os.cpu_count()} cpus; load average {os.getloadavg()}; "
        f"duckdb memory_limit={args.memory_limit} threads={args.threads}"
    )
    results: dict[str, list[dict]] = {"sparse": [], "duckdb": []}
    # The copies sit next to the dataset, on the same disk.
    with tempfile.TemporaryDirectory(dir=args.dir.parent, prefix="bench-duckdb-") as tmp:
        sparse_dir = copy_dataset(args.dir, Path(tmp) / "sparse")
        duckdb_dir = copy_dataset(args.dir, Path(tmp) / "duckdb")
        for i in range(args.repeat):
            # Alternate, so that a change of load on the machine hits both.
            for engine in ("sparse", "duckdb"):
                if engine == "sparse":
                    result = run(["analyze", "--data", sparse_dir])
                else:
                    result = run(
                        ["analyze", "--data", duckdb_dir, "--engine", "duckdb",
                         "--memory-limit", args.memory_limit, "--threads", str(args.threads)]
                    )  # fmt: skip
                results[engine].append(result)
                per_iter = iteration_seconds(result["lines"])
                extra = (
                    f", {per_iter[0]} page iterations {per_iter[2]} at {per_iter[1]:.3f} s, "
                    f"graph numbered and joined at {relational_seconds(result['lines']):.1f} s"
                    if per_iter
                    else ""
                )
                print(
                    f"run {i + 1} {engine}: {result['seconds']:.1f} s, "
                    f"peak RSS {result['peak_rss_mb']:.0f} MB{extra}",
                    flush=True,
                )
                if engine == "duckdb" and i == 0:
                    for at, line in result["lines"]:
                        print(f"    {at:7.1f} s  {line}")

    def median(engine: str, key: str) -> float:
        return statistics.median(r[key] for r in results[engine])

    sparse_s, duck_s = median("sparse", "seconds"), median("duckdb", "seconds")
    sparse_mb, duck_mb = median("sparse", "peak_rss_mb"), median("duckdb", "peak_rss_mb")
    per_iter = statistics.median(
        p[1] for r in results["duckdb"] if (p := iteration_seconds(r["lines"]))
    )
    relational = statistics.median(
        t for r in results["duckdb"] if (t := relational_seconds(r["lines"])) is not None
    )
    print(f"median of {args.repeat}:")
    print(f"  sparse  {sparse_s:7.1f} s   peak RSS {sparse_mb:6.0f} MB")
    print(
        f"  duckdb  {duck_s:7.1f} s   peak RSS {duck_mb:6.0f} MB   "
        f"{per_iter:.3f} s per page PageRank iteration"
    )
    print(
        f"  duckdb's relational steps (read, number, join: {relational:.1f} s) against the "
        f"sparse engine's whole analysis: {relational / sparse_s:.2f}x"
    )
    print(f"  duckdb / sparse: time {duck_s / sparse_s:.2f}x, peak RSS {duck_mb / sparse_mb:.2f}x")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps({"finished": started, "sparse_s": sparse_s, "duckdb_s": duck_s,
                      "sparse_rss_mb": sparse_mb, "duckdb_rss_mb": duck_mb,
                      "duckdb_s_per_iteration": per_iter,
                      "duckdb_relational_s": relational}))  # fmt: skip


if __name__ == "__main__":
    main()
