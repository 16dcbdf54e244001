"""Shared helpers of the benchmark scripts: a generated cohort, and timing each
table an iterator yields."""

from __future__ import annotations

import argparse
import time

from casework_analytics import load, synthetic


def generated_cohort(description: str):
    """Parse ``--cases --by --as-of`` and load a generated cohort of that size."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--by", nargs="+", default=["site"])
    parser.add_argument("--as-of", default=synthetic.DEFAULT_EXPORT_DATE)
    args = parser.parse_args()
    cohort = load(synthetic.generate(max(1, round(args.cases / 5.5)), seed=0))
    print(f"{len(cohort.cases):,} cases, {len(cohort.visits):,} visits; by={args.by}")
    return cohort, args


def time_tables(tables, label: str) -> None:
    """Print the time each ``(name, table)`` took to produce, then the total."""
    total = start = time.perf_counter()
    for name, table in tables:
        now = time.perf_counter()
        rows = len(table) if not isinstance(table, str) else 0
        print(f"  {name:<22} {now - start:6.2f} s  ({rows:,} rows)")
        start = now
    print(f"{label}: {time.perf_counter() - total:.1f} s")
