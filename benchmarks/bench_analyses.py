"""Benchmark: every stage, exit and contact analysis on a generated cohort.

Usage: python benchmarks/bench_analyses.py [--cases 100000] [--by site]

Loads the cohort in memory (loading is measured by bench_load.py) and times
each table the ``summary`` command writes.
"""

from __future__ import annotations

from timing import generated_cohort, time_tables

from casework_analytics.summary import Summary


def main() -> None:
    cohort, args = generated_cohort(__doc__.splitlines()[0])
    run = Summary(cohort, args.as_of, args.by)
    names = [
        "stage_progress",
        "stage_funnel",
        "exits",
        "exit_stage",
        "length_of_stay",
        "contacts",
        "association",
        "exit_type_test",
    ]
    time_tables(run.tables(names), "all analyses")


if __name__ == "__main__":
    main()
