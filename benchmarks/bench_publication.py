"""Benchmark: the published dashboard's numbers for a national cohort (issue 14).

Usage: python benchmarks/bench_publication.py [--cases 100000] [--dir DIR] [--by site]

Loads the generated Parquet cohort of ``bench_national.py`` (generated there
first if missing), then times building the published dashboard's numbers
(:class:`casework_analytics.dashboard.Dashboard` with ``publish=True``),
and within it the publication audit (``publish.protect_counts``): its
counts, atoms and rounds, and how many audited counts each proof decided
on the first round.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from bench_national import GIB, cohort_folder

from casework_analytics import count_bounds, load, publish, synthetic
from casework_analytics.dashboard import Dashboard


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dir", type=Path, default=None, help="where the cohort is kept")
    parser.add_argument("--by", default="site")
    parser.add_argument("--as-of", default=synthetic.DEFAULT_EXPORT_DATE)
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.gettempdir()) / f"casework-national-{args.cases}-{args.seed}"
    cohort_folder(folder, args.cases, args.seed)

    started = time.perf_counter()
    cohort = load(folder)
    print(f"load: {time.perf_counter() - started:.1f} s")

    audit = {"seconds": 0.0}
    protect_counts = publish.protect_counts
    first_call = count_bounds.CountBounds.__call__

    def timed_protect(A, value, *rest, **options):
        audit["shape"] = A.shape
        began = time.perf_counter()
        result = protect_counts(A, value, *rest, **options)
        audit["seconds"] += time.perf_counter() - began
        audit["rounds"] = result.rounds
        audit["hidden"] = int(result.hidden.sum())
        return result

    def first_round(self, hidden, rows):
        out = first_call(self, hidden, rows)
        audit.setdefault("first round", dict(self.decided))
        return out

    publish.protect_counts = timed_protect
    count_bounds.CountBounds.__call__ = first_round
    started = time.perf_counter()
    Dashboard(cohort, args.as_of, by=args.by or None, publish=True)
    total = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
    print(f"published dashboard numbers: {total:.1f} s (peak {peak:.2f} GiB)")
    if "shape" in audit:
        counts, atoms = audit["shape"]
        print(
            f"  of which the audit: {audit['seconds']:.1f} s, {counts:,} counts, "
            f"{atoms:,} atoms, {audit['rounds']} rounds, {audit['hidden']:,} hidden"
        )
        for proof, n in audit.get("first round", {}).items():
            print(f"    first round, decided by {proof}: {n:,}")


if __name__ == "__main__":
    main()
