"""Benchmark: build the HTML dashboard for a generated cohort.

Usage: python benchmarks/bench_report.py [--cases 10000] [--by site]

Prints the time of each dashboard step (from the report's own progress
lines) and the total, so a slow step stands out.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from casework_analytics import synthetic
from casework_analytics.report import build_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--by", default="site")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tables = synthetic.generate(max(1, round(args.cases / 5.5)), seed=0)
        source = synthetic.write(tables, Path(tmp) / "cohort", format="parquet")
        print(f"{len(tables['cases']):,} cases, {len(tables['visits']):,} visits")
        last = [time.perf_counter(), "start"]

        def step(line: str) -> None:
            now = time.perf_counter()
            print(f"  {now - last[0]:6.2f} s  {last[1]}")
            last[:] = [now, line]

        started = time.perf_counter()
        out = build_report(
            source,
            synthetic.DEFAULT_EXPORT_DATE,
            Path(tmp) / "report.html",
            by=args.by,
            progress=step,
        )
        size = out.stat().st_size
    print(f"report: {time.perf_counter() - started:.1f} s, {size / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
