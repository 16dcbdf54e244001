"""Benchmark: disclosure audit and protection of a generated publication.

Per site (and for All): a stage funnel (5 nested counts), the cases that
stopped at each stage (unpublished, got by differencing), exits by reason
with their total, and n_cases = n_exits + n_open across tables; sites sum
to All in every table. Sites have at least 11 cases (smaller ones are
folded into Other before publication); many counts are small.

Usage: python benchmarks/bench_audit.py [--cells 500 5000 20000] [--seed 0] [--exact]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from casework_analytics.disclosure import PublishedSet, audit, protect_set

STAGES = ["engagement", "assessment", "planning", "intervention", "termination"]
REASONS = ["goals_met", "referred", "moved", "schedule", "dropped_out", "other"]
CELLS_PER_SITE = 20


def publication(n_sites: int, seed: int = 0) -> PublishedSet:
    """A generated publication of ``n_sites`` sites (about 20 cells each)."""
    rng = np.random.default_rng(seed)
    sites = [f"S{i:04d}" for i in range(n_sites)]
    n_cases = rng.geometric(1 / 40, n_sites) + 10  # small sites are folded first
    reached = [n_cases]
    for _ in STAGES[1:]:
        reached.append(rng.binomial(reached[-1], 0.8))
    reached = np.column_stack(reached)  # site x stage
    stopped = reached - np.column_stack([reached[:, 1:], np.zeros(n_sites, dtype=int)])
    n_exits = rng.binomial(n_cases, 0.75)
    by_reason = np.vstack(
        [rng.multinomial(n, np.full(len(REASONS), 1 / len(REASONS))) for n in n_exits]
    )

    def with_all(values):
        return np.vstack([values, values.sum(axis=0, keepdims=True)])

    site_all = [*sites, "All"]
    stage_index = pd.MultiIndex.from_product([site_all, STAGES], names=["site", "stage"])
    funnel = pd.DataFrame({"reached": with_all(reached).ravel()}, index=stage_index)
    stop = pd.DataFrame({"stopped": with_all(stopped).ravel()}, index=stage_index)
    reason_all = np.column_stack([by_reason, by_reason.sum(axis=1)])
    exits = pd.DataFrame(
        {"n": with_all(reason_all).ravel()},
        index=pd.MultiIndex.from_product([site_all, [*REASONS, "All"]], names=["site", "reason"]),
    )
    totals = pd.DataFrame(
        {
            "n_cases": with_all(n_cases[:, None]).ravel(),
            "n_exits": with_all(n_exits[:, None]).ravel(),
            "n_open": with_all((n_cases - n_exits)[:, None]).ravel(),
        },
        index=pd.Index(site_all, name="site"),
    )
    ps = (
        PublishedSet()
        .add_table("funnel", funnel, counts=["reached"])
        .add_table("stopped", stop, counts=["stopped"], unpublished=["stopped"])
        .add_table("exits", exits, counts=["n"])
        .add_table("totals", totals, counts=["n_cases", "n_exits", "n_open"])
    )
    for name in ("funnel", "stopped", "exits", "totals"):
        ps.add_group_totals(name, group="site")
    ps.add_group_totals("exits", group="reason")
    ps.add_column_sums(table="totals", total="n_cases", parts=["n_exits", "n_open"])
    # reached_k = reached_{k+1} + stopped_k; reached at the first stage = n_cases
    pairs = pd.DataFrame(
        {
            "funnel": list(stage_index),
            "next": [
                (s, STAGES[i + 1]) if i + 1 < len(STAGES) else None
                for s in site_all
                for i in range(len(STAGES))
            ],
        }
    )
    rel = np.arange(len(pairs))
    has_next = pairs["next"].notna().to_numpy()
    terms = pd.concat(
        [
            pd.DataFrame(
                {
                    "relation": rel,
                    "table": "funnel",
                    "row": pairs["funnel"],
                    "column": "reached",
                    "coef": 1.0,
                }
            ),
            pd.DataFrame(
                {
                    "relation": rel[has_next],
                    "table": "funnel",
                    "row": pairs["next"][has_next],
                    "column": "reached",
                    "coef": -1.0,
                }
            ),
            pd.DataFrame(
                {
                    "relation": rel,
                    "table": "stopped",
                    "row": pairs["funnel"],
                    "column": "stopped",
                    "coef": -1.0,
                }
            ),
        ],
        ignore_index=True,
    )
    ps.add_relations(terms)
    first = pd.DataFrame({"totals": site_all, "funnel": [(s, STAGES[0]) for s in site_all]})
    ps.add_column_sums(("totals", "n_cases"), [("funnel", "reached")], rows=first)
    ps.add_column_sums(
        ("totals", "n_exits"),
        [("exits", "n")],
        rows=pd.DataFrame({"totals": site_all, "exits": [(s, "All") for s in site_all]}),
    )
    return ps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[500, 5000, 20000])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--exact", action="store_true", help="also time the exact audit (minutes at scale)"
    )
    args = parser.parse_args()
    for cells in args.cells:
        ps = publication(max(1, cells // CELLS_PER_SITE - 1), args.seed)
        start = time.perf_counter()
        result = protect_set(ps)
        protect_time = time.perf_counter() - start
        hidden = result.cells["hidden"].to_numpy()
        status = result.cells["status"].value_counts()
        print(
            f"{ps!r}: protect_set {protect_time:6.2f} s ({result.rounds} rounds, "
            f"{status.get('primary', 0):,} primary, {status.get('complementary', 0):,} "
            f"complementary, protected={result.protected})"
        )
        for exact in (False, True) if args.exact else (False,):
            start = time.perf_counter()
            table = audit(ps, hidden, exact=exact)
            print(
                f"  audit(exact={exact}) {time.perf_counter() - start:6.2f} s "
                f"({len(table):,} audited counts, {int(table['pinned'].sum())} pinned)"
            )


if __name__ == "__main__":
    main()
