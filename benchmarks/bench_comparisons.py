"""Benchmark: funnel tables (crude and case-mix adjusted) and a Cox model on
synthetic per-case rows.

Usage: python benchmarks/bench_comparisons.py [--rows 1000000] [--groups 40] [--seed 0]

The rows are generated here with numpy (not the casework generator): a site,
sex, age, ASSIST risk and primary substance per case, a completion outcome
that depends on risk, age and site, and days to dropout (1 to 365, so many
tied times for Efron's method) with an event flag.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from timing import time_tables

from casework_analytics.comparisons import case_mix_model, cox_model, funnel_table


def synthetic_cases(rows: int, groups: int, seed: int) -> pd.DataFrame:
    """One row per case; every column drawn with a seeded numpy generator."""
    rng = np.random.default_rng(seed)
    site = rng.integers(0, groups, rows)
    risk = rng.choice(np.array(["low", "moderate", "high"]), rows, p=[0.4, 0.4, 0.2])
    substance = rng.choice(
        np.array(["methamphetamine", "cannabis", "opioid", "alcohol"]), rows, p=[0.6, 0.2, 0.1, 0.1]
    )
    age = rng.uniform(16, 65, rows).round()
    sex = rng.choice(np.array(["male", "female"]), rows, p=[0.8, 0.2])
    site_effect = rng.normal(0, 0.2, groups)[site]
    logit = 0.5 - 1.2 * (risk == "high") - 0.5 * (risk == "moderate") + 0.01 * (age - 35)
    completed = rng.random(rows) < 1 / (1 + np.exp(-(logit + site_effect)))
    hazard = np.exp(0.6 * (risk == "high") - 0.01 * (age - 35) + site_effect) / 200
    days = np.ceil(rng.exponential(1 / hazard)).clip(1, 365)
    return pd.DataFrame(
        {
            "site": np.char.add("site_", site.astype(str)),
            "sex": sex,
            "age_at_intake": age,
            "assist_risk": risk,
            "primary_substance": substance,
            "completed": completed.astype(int),
            "days": days,
            "dropped_out": (days < 365).astype(int),
        }
    )


def steps(rows: int, groups: int, seed: int):
    cases = synthetic_cases(rows, groups, seed)
    yield "generate rows", cases
    yield "funnel_table (crude)", funnel_table(cases, outcome="completed", by="site").table
    model = case_mix_model(cases, outcome="completed")
    yield "case_mix_model", model.table
    adjusted = funnel_table(
        cases.assign(expected=model.expected), outcome="completed", by="site", expected="expected"
    )
    yield "funnel_table (O/E)", adjusted.table
    yield (
        "cox_model",
        cox_model(
            cases,
            duration="days",
            event="dropped_out",
            covariates=["age_at_intake", "sex", "assist_risk", "primary_substance"],
            group="site",
        ),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"{args.rows:,} cases in {args.groups} sites")
    time_tables(steps(args.rows, args.groups, args.seed), "comparisons")


if __name__ == "__main__":
    main()
