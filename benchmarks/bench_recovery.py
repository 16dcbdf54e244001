"""Benchmark: recovery timelines, outcomes and survival on a generated cohort.

Usage: python benchmarks/bench_recovery.py [--cases 100000] [--by site]
"""

from __future__ import annotations

import argparse

from timing import time_tables

from casework_analytics import load, synthetic
from casework_analytics.summary import recovery_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--by", nargs="+", default=["site"])
    parser.add_argument("--as-of", default=synthetic.DEFAULT_EXPORT_DATE)
    args = parser.parse_args()
    cohort = load(synthetic.generate(max(1, round(args.cases / 5.5)), seed=0))
    print(f"{len(cohort.cases):,} cases, {len(cohort.visits):,} visits; by={args.by}")
    time_tables(recovery_tables(cohort, args.as_of, args.by), "all recovery analyses")


if __name__ == "__main__":
    main()
