"""Time of `linkcrawl analyze --engine spark --master local[2]` against the default sparse
engine on the same synthetic web graph (bench/gen_web_graph.py), each run in its own process.

    python bench/engine_spark_bench.py [DIR] [--pages 20000] [--edges 200000] [--repeat 3]
                                       [--master local[2]]

DIR (default bench/results/web-<pages>) is generated first if it holds no crawl. Both engines
do the whole analysis (page and domain PageRank to an L1 change < 1e-8, counts, authority,
inbound ranking, the three Parquet files) into their own copy of DIR. The spark time is
given with and without the start of its session (the JVM), which a cluster pays once.
Prints the median of each and the ratio spark / sparse.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Both through linkcrawl.analysis.analyze, the engine chosen by name from the registry.
SPARSE = """
import time
from linkcrawl.analysis import analyze
started = time.perf_counter()
analyze(DIR, engine="sparse")
RESULT = {"seconds": time.perf_counter() - started, "session": 0.0, "iterations": None}
"""

SPARK = """
import time, re, warnings
warnings.simplefilter("ignore")
started = time.perf_counter()
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master(MASTER).config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "4").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
session = time.perf_counter() - started
from linkcrawl.analysis import analyze
lines = []
analyze(DIR, engine="spark", progress=lines.append, engine_options={"master": MASTER})
seconds = time.perf_counter() - started
spark.stop()
done = [l for l in lines if "converged" in l][0]
iterations = int(re.search(r"pages in (\\d+)", done).group(1))
RESULT = {"seconds": seconds, "session": session, "iterations": iterations}
"""


def run(code: str, data: Path, master: str) -> dict:
    """Run ``code`` in a fresh process on a copy of ``data``; returns its RESULT."""
    with tempfile.TemporaryDirectory(dir=data.parent) as tmp:
        copy = Path(tmp) / "data"
        shutil.copytree(data, copy, ignore=shutil.ignore_patterns("authority", ".staging"))
        program = (
            f"DIR = {str(copy)!r}\nMASTER = {master!r}\n{code}\n"
            "import json\nprint('RESULT ' + json.dumps(RESULT))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=False
        )
        if out.returncode:
            raise SystemExit(out.stderr[-3000:])
    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path)
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine (median)")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()
    data = args.dir or HERE / "results" / f"web-{args.pages}"
    if not (data / "crawls").is_dir():
        subprocess.run(
            [sys.executable, str(HERE / "gen_web_graph.py"), str(data), "--pages",
             str(args.pages), "--edges", str(args.edges), "--crawl-id", "synthetic1"],
            check=True,
        )  # fmt: skip
    results: dict[str, list[dict]] = {"sparse": [], "spark": []}
    for i in range(args.repeat):
        for name, code in (("sparse", SPARSE), ("spark", SPARK)):
            result = run(code, data, args.master)
            results[name].append(result)
            print(
                f"run {i + 1} {name:6}: {result['seconds']:8.1f} s "
                f"(session start {result['session']:.1f} s)"
                + (f", {result['iterations']} page iterations" if result["iterations"] else ""),
                flush=True,
            )
    median = {n: statistics.median(r["seconds"] for r in rs) for n, rs in results.items()}
    warm = statistics.median(r["seconds"] - r["session"] for r in results["spark"])
    print(f"{data}: median of {args.repeat}")
    print(f"  sparse             {median['sparse']:8.1f} s")
    print(f"  spark {args.master:12} {median['spark']:8.1f} s, {warm:.1f} s without session start")
    print(f"  ratio spark / sparse: {median['spark'] / median['sparse']:.1f}x "
          f"({warm / median['sparse']:.1f}x without session start)")  # fmt: skip


if __name__ == "__main__":
    main()
