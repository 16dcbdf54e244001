"""Benchmark: load a generated national-size cohort from Parquet.

Usage: python benchmarks/bench_load.py [--cases 100000] [--seed 0]

Prints the sizes, the wall time of ``load`` and its peak memory (tracemalloc
peak of Python allocations plus the process's peak resident set size).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc

from casework_analytics import load, synthetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mean_cases = 5.5
    placements = max(1, round(args.cases / mean_cases))
    t0 = time.perf_counter()
    tables = synthetic.generate(placements, seed=args.seed, mean_cases=mean_cases)
    print(
        f"generate: {time.perf_counter() - t0:.1f} s; "
        + ", ".join(f"{len(f):,} {n}" for n, f in tables.items())
    )
    with tempfile.TemporaryDirectory() as tmp:
        synthetic.write(tables, tmp, format="parquet")
        del tables
        t0 = time.perf_counter()
        cohort = load(tmp)
        elapsed = time.perf_counter() - t0
        del cohort
        # A second, traced run measures memory; tracing slows it, so it is not timed.
        tracemalloc.start()
        cohort = load(tmp)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(cohort.summary())
    print(
        f"load from Parquet: {elapsed:.1f} s; peak traced memory {peak / 2**20:,.0f} MiB; "
        f"process peak RSS {rss:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
