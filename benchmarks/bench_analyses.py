"""Benchmark: every stage, exit and contact analysis on a generated cohort.

Usage: python benchmarks/bench_analyses.py [--cases 100000] [--by site]

Loads the cohort in memory (loading is measured by bench_load.py) and times
each table the ``summary`` command writes.
"""

from __future__ import annotations

from timing import generated_cohort, time_tables

from casework_analytics.summary import RECOVERY_TABLES, TABLE_NAMES, Summary


def main() -> None:
    cohort, args = generated_cohort(__doc__.splitlines()[0])
    run = Summary(cohort, args.as_of, args.by)
    names = [n for n in TABLE_NAMES if n not in (*RECOVERY_TABLES, "cumulative_incidence")]
    time_tables(run.tables(names), "all analyses")


if __name__ == "__main__":
    main()
