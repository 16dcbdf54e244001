"""Benchmark: recovery timelines, outcomes and survival on a generated cohort.

Usage: python benchmarks/bench_recovery.py [--cases 100000] [--by site]
"""

from __future__ import annotations

from timing import generated_cohort, time_tables

from casework_analytics.summary import RECOVERY_TABLES, Summary


def main() -> None:
    cohort, args = generated_cohort(__doc__.splitlines()[0])
    run = Summary(cohort, args.as_of, args.by)
    names = [*RECOVERY_TABLES, "cumulative_incidence"]
    time_tables(run.tables(names), "all recovery analyses")


if __name__ == "__main__":
    main()
