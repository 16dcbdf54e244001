"""Messy and broken sources: every bad row is reported on its own, with the row
number a person sees, and nothing is silently mis-read.

Row numbers are CSV lines (header = line 1) or Excel rows; for the tiny
cohort of ``conftest.TINY`` the cases are lines 2-4 and an appended case is
line 5.
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pandas as pd
from conftest import TINY

from casework_analytics import load


def _frames() -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(StringIO(text), dtype=str) for name, text in TINY.items()}


def _one(cohort, rule, table="cases"):
    hit = cohort.problems.query("table == @table and rule == @rule")
    assert len(hit) == 1, cohort.problems
    return hit.iloc[0]


def _reconciles(cohort):
    counts = cohort.counts
    assert (counts["read"] == counts["accepted"] + counts["rejected"]).all()
    for row in counts.itertuples():
        assert len(cohort.rejected[row.table]) == row.rejected


# ---------------------------------------------------------------- dates out of range


def test_placeholder_dates_in_csv_are_row_problems(with_rows):
    source = with_rows(cases="D,P1,K4,2024-04-01,,9999-12-31,\nE,P1,K5,01/01/1600,,,")
    cohort = load(source)
    hits = cohort.problems.query("rule == 'date_out_of_range'")
    assert hits[["row", "column", "severity", "value"]].values.tolist() == [
        [5, "closed_date", "warning", "9999-12-31"],
        [6, "intake_date", "error", "01/01/1600"],
    ]
    assert "1677-09-22 to 2262-04-11" in hits["message"].iloc[0]
    cases = cohort.cases.set_index("case_id")
    assert pd.isna(cases.loc["D", "closed_date"])  # cleared: the case is open
    assert str(cohort.cases["closed_date"].dtype) == "datetime64[ns]"
    assert cohort.rejected["cases"]["row"].tolist() == [6]


def test_out_of_range_dates_in_memory():
    frames = _frames()
    cases = frames["cases"].astype(object)
    cases.loc[2, "closed_date"] = dt.datetime(9999, 12, 31)
    frames["cases"] = cases
    cohort = load(frames)
    assert _one(cohort, "date_out_of_range")["row"] == 3
