"""Time and peak memory of `linkcrawl analyze` against networkx and igraph PageRank, on the
same synthetic web graph (bench/gen_web_graph.py), each run in its own process.

    python bench/gen_web_graph.py                     # once: 1M pages, 10M links
    python bench/analyze_bench.py [DIR] [--repeat 3] [--skip-networkx] [--skip-igraph]

analyze does everything (page and domain PageRank to an L1 change < 1e-8, counts,
authority, inbound ranking, three Parquet files written); the baselines only read the
source and target columns, build their graph and run PageRank with their defaults:
networkx from_pandas_edgelist, igraph Graph.DataFrame (names mapped by igraph), and
igraph-ids (URLs numbered by pandas.factorize, then a Graph of integer pairs). The
script also reports how far networkx's default answer is from the converged one.

`linkcrawl analyze` is timed as a command (its process, imports included, as a user
waits for it) and ``linkcrawl.analysis.analyze()`` as a library call from a plain Python
process (timed inside it, and as the whole process): the two should be within 10%, the
library needing no settings of its caller's process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE / "results" / "web-1m"

ANALYZE = """
import time
from linkcrawl.analysis import analyze
started = time.perf_counter()
crawl_id = analyze(DIR)
seconds = time.perf_counter() - started
"""

NETWORKX = """
import time
import networkx as nx
import pandas as pd
from linkcrawl.dataset.reader import open_dataset
started = time.perf_counter()
ds = open_dataset(DIR)
edges = ds.arrow("edges", ds.resolve_crawl()).to_table(columns=["source", "target"]).to_pandas()
G = nx.from_pandas_edgelist(edges, "source", "target", create_using=nx.DiGraph)
del edges
scores = nx.pagerank(G)
seconds = time.perf_counter() - started
pd.Series(scores, name="pagerank").rename_axis("url").reset_index().to_parquet(OUT)
"""

IGRAPH = """
import time
import igraph as ig
from linkcrawl.dataset.reader import open_dataset
started = time.perf_counter()
ds = open_dataset(DIR)
edges = ds.arrow("edges", ds.resolve_crawl()).to_table(columns=["source", "target"]).to_pandas()
g = ig.Graph.DataFrame(edges, directed=True, use_vids=False)
del edges
scores = g.pagerank(directed=True, damping=0.85)
seconds = time.perf_counter() - started
"""

# igraph as a user who knows it would feed it: URLs numbered with pandas first, then a
# Graph from the integer pairs (Graph.DataFrame above maps names in Python, much slower).
IGRAPH_IDS = """
import time
import numpy as np
import pandas as pd
import igraph as ig
from linkcrawl.dataset.reader import open_dataset
started = time.perf_counter()
ds = open_dataset(DIR)
edges = ds.arrow("edges", ds.resolve_crawl()).to_table(columns=["source", "target"])
codes, urls = pd.factorize(
    np.concatenate([edges.column(c).to_numpy(zero_copy_only=False) for c in ("source", "target")])
)
del edges
m = len(codes) // 2
g = ig.Graph(n=len(urls), edges=np.column_stack([codes[:m], codes[m:]]), directed=True)
del codes
scores = pd.Series(g.pagerank(directed=True, damping=0.85), index=urls)
seconds = time.perf_counter() - started
"""

EPILOGUE = """
import json, resource
print(json.dumps({"seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(code: str, **names: str) -> dict[str, float]:
    """Run ``code`` in a fresh Python process; returns its timed seconds, peak RSS and the
    process's wall time (imports included)."""
    prologue = "".join(f"{k} = {v!r}\n" for k, v in names.items())
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", prologue + code + EPILOGUE], stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate()
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"benchmark process failed ({proc.returncode})")
    result = json.loads(out.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def run_cli(data_dir: str) -> dict[str, float]:
    """Run ``linkcrawl analyze --data DIR`` as the command does; its wall time and peak RSS."""
    command = [sys.executable, "-c", "from linkcrawl.cli import main; main()"]
    started = time.perf_counter()
    proc = subprocess.Popen([*command, "analyze", "--data", data_dir], stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"linkcrawl analyze failed ({proc.returncode})")
    return {"seconds": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "process_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--repeat", type=int, default=3, help="runs of analyze (median)")
    parser.add_argument("--baseline-repeat", type=int, default=1)
    parser.add_argument("--skip-networkx", action="store_true")
    parser.add_argument("--skip-igraph", action="store_true")
    args = parser.parse_args()
    if not (args.dir / "edges").is_dir():
        raise SystemExit(f"{args.dir}: no dataset; run bench/gen_web_graph.py {args.dir} first")
    data_dir = str(args.dir)
    print(f"dataset {data_dir}; {os.cpu_count()} cpus; load average {os.getloadavg()}")

    results: dict[str, list[dict[str, float]]] = {"analyze": [], "cli": []}
    for _ in range(args.repeat):  # alternating, so that both see the same machine
        results["analyze"].append(run(ANALYZE, DIR=data_dir))
        print("analyze", results["analyze"][-1], flush=True)
        results["cli"].append(run_cli(data_dir))
        print("cli", results["cli"][-1], flush=True)
    nx_scores = None
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_igraph:
            for name, code in (("igraph", IGRAPH), ("igraph-ids", IGRAPH_IDS)):
                results[name] = []
                for _ in range(args.baseline_repeat):
                    results[name].append(run(code, DIR=data_dir))
                    print(name, results[name][-1], flush=True)
        if not args.skip_networkx:
            results["networkx"] = []
            out = str(Path(tmp) / "nx.parquet")
            for _ in range(args.baseline_repeat):
                results["networkx"].append(run(NETWORKX, DIR=data_dir, OUT=out))
                print("networkx", results["networkx"][-1], flush=True)
            import pandas as pd

            nx_scores = pd.read_parquet(out).set_index("url")["pagerank"]

    def median(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    base = {"s": median("analyze", "seconds"), "mb": median("analyze", "peak_rss_mb")}
    print()
    print(
        f"{'engine':10} {'runs':>4} {'time s':>8} {'process s':>9} {'peak RSS MB':>11} "
        f"{'time ÷ analyze':>14} {'RSS ÷ analyze':>13}"
    )
    for name in results:
        s, mb = median(name, "seconds"), median(name, "peak_rss_mb")
        print(
            f"{name:10} {len(results[name]):>4} {s:>8.1f} {median(name, 'process_s'):>9.1f} "
            f"{mb:>11.0f} {s / base['s']:>14.1f} {mb / base['mb']:>13.2f}"
        )
    print(f"analyze runs: {[round(r['seconds'], 1) for r in results['analyze']]}")
    cli = median("cli", "seconds")
    print(
        f"analyze() in a plain process: {median('analyze', 'process_s'):.2f} s as a process, "
        f"{base['s']:.2f} s the call; `linkcrawl analyze`: {cli:.2f} s "
        f"(process ÷ command {median('analyze', 'process_s') / cli:.2f})"
    )
    for name in ("igraph-ids", "networkx"):
        if name in results:
            print(f"{name} ÷ analyze: {median(name, 'seconds') / base['s']:.1f}x")
    if nx_scores is not None:
        from linkcrawl.analysis import pagerank

        # Unweighted, converged: the same graph networkx was given.
        ours = pagerank(
            data_dir,
            position_weights=dict.fromkeys(
                ["content", "header", "navigation", "sidebar", "footer", "head"], 1.0
            ),
            nofollow_weight=1.0,
        )
        l1 = (nx_scores.reindex(ours.index).fillna(0) - ours).abs().sum()
        print(
            f"networkx default (tol 1e-6 x n) is L1 {l1:.3f} from the converged PageRank "
            f"of the same unweighted graph (self-links aside)"
        )


if __name__ == "__main__":
    main()
