"""Benchmark: every stage, exit and contact analysis on a generated cohort.

Usage: python benchmarks/bench_analyses.py [--cases 100000] [--by site]

Loads the cohort in memory (loading is measured by bench_load.py) and times
each table the ``summary`` command writes.
"""

from __future__ import annotations

import argparse

from timing import time_tables

from casework_analytics import load, synthetic
from casework_analytics.summary import stage_and_exit_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--by", nargs="+", default=["site"])
    parser.add_argument("--as-of", default=synthetic.DEFAULT_EXPORT_DATE)
    args = parser.parse_args()
    cohort = load(synthetic.generate(max(1, round(args.cases / 5.5)), seed=0))
    print(f"{len(cohort.cases):,} cases, {len(cohort.visits):,} visits; by={args.by}")
    time_tables(stage_and_exit_tables(cohort, args.as_of, args.by), "all analyses")


if __name__ == "__main__":
    main()
