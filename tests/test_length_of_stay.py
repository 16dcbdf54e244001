"""TEDS-D length of stay on the toy cohort, worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from toy import AS_OF, toy_tables

from casework_analytics import load
from casework_analytics.length_of_stay import length_of_stay, length_of_stay_summary, teds_los_code


@pytest.fixture(scope="module")
def toy():
    return load(toy_tables())


def test_teds_codes_follow_the_bands():
    # Bands from domain.md: 1-30 exact, 31-45, 46-60, 61-90, 91-120, 121-180, 181-365, >365.
    days = [1, 30, 31, 45, 46, 60, 61, 90, 91, 120, 121, 180, 181, 365, 366]
    assert teds_los_code(days).tolist() == [
        1,
        30,
        31,
        31,
        32,
        32,
        33,
        33,
        34,
        34,
        35,
        35,
        36,
        36,
        37,
    ]


def test_los_is_admission_to_the_earlier_of_last_contact_and_discharge(toy):
    los = length_of_stay(toy, AS_OF).set_index("case_id")
    # A: last contact = held session 22 Mar (before closure 1 May): 21 days.
    # C: last contact = held session 28 Apr (closure 30 Apr): 49 days -> code 32.
    # D: last contact = held session 15 Mar = intake: 0 days -> code 1.
    assert los.loc[["A", "C", "D"], "los_days"].tolist() == [21, 49, 0]
    assert los.loc[["A", "C", "D"], "los_code"].tolist() == [21, 32, 1]
    assert pd.isna(los.loc["B", "los_days"])  # open: censored
    assert los.loc["B", "days_observed"] == 117


def test_summary_median_and_iqr(toy):
    s = length_of_stay_summary(toy, AS_OF).iloc[0]
    # Closed LOS values 0, 21, 49: median 21, linear quartiles 10.5 and 35.
    assert (s["n_cases"], s["n_closed"], s["n_open"]) == (5, 3, 2)
    assert (s["median_days"], s["q1_days"], s["q3_days"]) == (21, 10.5, 35)
    assert s["n_under_90_days"] == 3


def test_a_contact_before_intake_is_never_the_last_contact():
    # D (intake 15 Mar, closed 20 Mar) gets a held session dated 1 Mar, before intake:
    # the loader warns, and LOS stays 0 days (last real contact on 15 Mar), not -14.
    tables = toy_tables()
    tables["sessions"] = pd.concat(
        [
            tables["sessions"],
            pd.DataFrame({"case_id": ["D"], "session_date": ["2024-03-01"], "status": ["held"]}),
        ],
        ignore_index=True,
    )
    cohort = load(tables)
    assert "before_intake" in set(cohort.problems["rule"])
    los = length_of_stay(cohort, AS_OF).set_index("case_id")
    assert los.loc["D", "los_days"] == 0 and (los["los_days"].dropna() >= 0).all()
