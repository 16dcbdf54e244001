"""The hand-built monitoring cohort shared by the recovery tests.

Every number below was worked out by hand from the visit lists, following
the definitions in the docstring of ``casework_analytics.timelines``.
Intake is Monday 1 January 2024 unless said; the end of observation is
31 May 2024, day 151 (week 21 covers days 147-153). Visits fall on other
weekdays than the intake's, and some weeks hold two visits.

H1  N on days 2, 9, 16, 23, 28; P on day 31; N every 7 days from 37 to 149.
H2  N on days 3, 10, ..., 80 (weekly); missed day 84; N day 90 (both in
    week 12); monitoring_end_date 1 April (day 91).
H3  N days 0, 7; missed days 14 and 17 (one week); N every 7 days 21..147.
H4  N days 1, 8, 15, 22, then no rows at all.
H5  P every 7 days from day 5 to 145.
H6  missed days 0, 7, 14, then no rows.
H7  no visits.
H8  intake 20 May 2024 (as_of is day 11): N days 1 and 8.
H10 N every 7 days 0..56; closed 1 March (day 60), "meninggal dunia".
"""

from __future__ import annotations

import pandas as pd

from casework_analytics import load

AS_OF = "2024-05-31"
N, P, M = "negative", "positive", None  # M: scheduled, not attended


def _visits() -> list[tuple[str, str, int, str | None]]:
    rows = [("H1", "2024-01-01", d, N) for d in (2, 9, 16, 23, 28)]
    rows += [("H1", "2024-01-01", 31, P)]
    rows += [("H1", "2024-01-01", d, N) for d in range(37, 150, 7)]
    rows += [("H2", "2024-01-01", d, N) for d in range(3, 81, 7)]
    rows += [("H2", "2024-01-01", 84, M), ("H2", "2024-01-01", 90, N)]
    rows += [("H3", "2024-01-01", d, N) for d in (0, 7)]
    rows += [("H3", "2024-01-01", d, M) for d in (14, 17)]
    rows += [("H3", "2024-01-01", d, N) for d in range(21, 148, 7)]
    rows += [("H4", "2024-01-01", d, N) for d in (1, 8, 15, 22)]
    rows += [("H5", "2024-01-01", d, P) for d in range(5, 146, 7)]
    rows += [("H6", "2024-01-01", d, M) for d in (0, 7, 14)]
    rows += [("H8", "2024-05-20", d, N) for d in (1, 8)]
    rows += [("H10", "2024-01-01", d, N) for d in range(0, 57, 7)]
    return rows


def hand_cohort(extra_cases=None, extra_visits=()):
    """The hand cohort as an in-memory source."""
    intake = {"H8": "2024-05-20"}
    ids = ["H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H10"]
    cases = pd.DataFrame(
        {
            "case_id": ids,
            "placement_id": ["P1"] * 4 + ["P2"] * 5,
            "client_id": [f"K{i}" for i in range(len(ids))],
            "intake_date": [intake.get(c, "2024-01-01") for c in ids],
            "closed_date": [None] * 8 + ["2024-03-01"],
            "closure_reason": [None] * 8 + ["meninggal dunia"],
            "monitoring_end_date": [None, "2024-04-01"] + [None] * 7,
        }
    )
    if extra_cases is not None:
        cases = pd.concat([cases, extra_cases], ignore_index=True)
    visits = pd.DataFrame(
        [
            (
                case,
                (pd.Timestamp(start) + pd.Timedelta(days=day)).date().isoformat(),
                result is not None,
                result,
            )
            for case, start, day, result in [*_visits(), *extra_visits]
        ],
        columns=["case_id", "visit_date", "attended", "test_result"],
    )
    placements = pd.DataFrame(
        {
            "placement_id": ["P1", "P2"],
            "site": ["S1", "S2"],
            "caseworker_id": ["W1", "W2"],
            "start_date": "2024-01-01",
            "end_date": "2024-06-30",
        }
    )
    stages = pd.DataFrame(
        {"case_id": cases["case_id"], "stage": "engagement", "started_on": cases["intake_date"]}
    )
    cohort = load({"placements": placements, "cases": cases, "stages": stages, "visits": visits})
    assert not cohort.has_errors, cohort.problems
    return cohort
