"""Weekly timelines and recovery outcomes on a hand-made monitoring cohort.

Week patterns (one letter per week from intake; P positive, N negative,
M missed, X attended without a result, - no visit scheduled), end of
observation 2024-04-30:

R1 (intake 1 Jan)  P N N N N P N M M           then nothing
R2 (intake 1 Jan)  N N M N N N P N N N N N N   (weeks 0-12)
R3 (intake 1 Jan)  no visits at all
R4 (intake 15 Apr) N N                          (still in monitoring)
R5 (intake 1 Jan)  N x 15 (weeks 0-14, last visit day 98)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from casework_analytics import CaseworkError, load
from casework_analytics.recovery import (
    recovery_headline,
    recovery_outcomes,
    recovery_sensitivity,
    weekly_status,
)

AS_OF = "2024-04-30"
PATTERNS = {
    "R1": ("2024-01-01", "PNNNNPNMM"),
    "R2": ("2024-01-01", "NNMNNNPNNNNNN"),
    "R3": ("2024-01-01", ""),
    "R4": ("2024-04-15", "NN"),
    "R5": ("2024-01-01", "N" * 15),
}


def _visits():
    rows = []
    for case, (intake, pattern) in PATTERNS.items():
        for week, letter in enumerate(pattern):
            if letter == "-":
                continue
            date = pd.Timestamp(intake) + pd.Timedelta(days=7 * week)
            result = {"P": "positive", "N": "negative"}.get(letter)
            rows.append((case, date, letter != "M", result))
    return pd.DataFrame(rows, columns=["case_id", "visit_date", "attended", "test_result"])


@pytest.fixture(scope="module")
def cohort():
    cases = pd.DataFrame(
        {
            "case_id": list(PATTERNS),
            "placement_id": ["P1", "P1", "P2", "P2", "P2"],
            "client_id": list("abcde"),
            "intake_date": [i for i, _ in PATTERNS.values()],
        }
    )
    return load(
        {
            "placements": pd.DataFrame(
                {
                    "placement_id": ["P1", "P2"],
                    "site": ["S1", "S2"],
                    "caseworker_id": ["W1", "W2"],
                    "start_date": ["2024-01-01"] * 2,
                    "end_date": ["2024-04-30"] * 2,
                }
            ),
            "cases": cases,
            "stages": pd.DataFrame(
                {
                    "case_id": list(PATTERNS),
                    "stage": "engagement",
                    "started_on": cases["intake_date"],
                }
            ),
            "visits": _visits(),
        }
    )


def test_weekly_table_covers_intake_to_as_of(cohort):
    w = weekly_status(cohort, AS_OF)
    # 1 Jan -> 30 Apr is 120 days: weeks 0-17 (18 rows); 15 Apr -> 30 Apr: weeks 0-2.
    assert w.groupby("case_id").size().to_dict() == {
        "R1": 18,
        "R2": 18,
        "R3": 18,
        "R4": 3,
        "R5": 18,
    }
    r1 = w[w["case_id"] == "R1"]["status"].tolist()
    assert r1[:10] == [
        "positive",
        "negative",
        "negative",
        "negative",
        "negative",
        "positive",
        "negative",
        "missed",
        "missed",
        "not_scheduled",
    ]
    counted = w[w["case_id"] == "R1"]["counted"]
    assert counted.iloc[7:9].tolist() == ["positive", "positive"] and pd.isna(counted.iloc[9])
    ignore = weekly_status(cohort, AS_OF, missing_as="ignore")
    assert ignore[ignore["case_id"] == "R1"]["counted"].isna().sum() == 2 + 9


def test_outcomes_under_missing_as_positive(cohort):
    o = recovery_outcomes(cohort, AS_OF).set_index("case_id")
    # R1: run of 4 negatives (weeks 1-4) -> sustained on day 28; positive week 5 -> relapse
    # day 35; the intake positive is a lapse; weeks 7-8 missed -> dropout from day 49;
    # last attended before it: week 6 (day 42).
    r1 = o.loc["R1"]
    assert (r1["sustained_day"], r1["relapse_day"], r1["n_lapses"]) == (28, 35, 1)
    assert (r1["dropout_day"], r1["retention_days"], r1["status"]) == (49, 42, "dropped_out")
    assert (r1["weeks_negative"], r1["weeks_positive"], r1["weeks_missed"]) == (5, 2, 2)
    # R2: the missed week 2 counts positive: runs 2, 3, 6 -> sustained at week 10 (day 70),
    # no relapse; positives in weeks 2 and 6 are lapses; one missed visit is no dropout.
    r2 = o.loc["R2"]
    assert (r2["longest_negative_run"], r2["sustained_day"], r2["relapsed"]) == (6, 70, False)
    assert (r2["n_lapses"], r2["first_positive_day"], r2["dropped_out"]) == (2, 14, False)
    assert r2["status"] == "abstinent"
    assert not o.loc["R3", "monitored"] and o.loc["R3", "status"] == "closed"
    assert pd.isna(o.loc["R3", "dropout_time"])
    assert o.loc["R4", "status"] == "in_monitoring"
    assert (o.loc["R5", "sustained_day"], o.loc["R5", "retention_days"]) == (21, 98)


def test_outcomes_under_missing_as_ignore(cohort):
    o = recovery_outcomes(cohort, AS_OF, missing_as="ignore").set_index("case_id")
    # R2 without its missed week: negatives in weeks 0,1,3,4 are 4 in a row -> sustained
    # on day 28, then the positive in week 6 (day 42) is a relapse.
    r2 = o.loc["R2"]
    assert (r2["sustained_day"], r2["relapse_day"], r2["n_lapses"]) == (28, 42, 0)
    assert r2["longest_negative_run"] == 6 and r2["status"] == "relapsed"


def test_event_times_and_censoring(cohort):
    o = recovery_outcomes(cohort, AS_OF).set_index("case_id")
    assert (o.loc["R1", "dropout_time"], o.loc["R1", "dropout_observed"]) == (49, True)
    # R2 never dropped out: censored at its last scheduled visit (week 12, day 84).
    assert (o.loc["R2", "dropout_time"], o.loc["R2", "dropout_observed"]) == (84, False)
    assert (o.loc["R2", "relapse_time"], o.loc["R2", "relapse_observed"]) == (84, False)
    assert (o.loc["R1", "relapse_time"], o.loc["R1", "relapse_observed"]) == (35, True)
    assert (o.loc["R1", "first_positive_time"], o.loc["R1", "first_positive_observed"]) == (0, True)


def test_headline_by_hand(cohort):
    h = recovery_headline(cohort, AS_OF).set_index("metric")
    # Eligible for 90-day retention: intake on or before 31 Jan -> R1, R2, R3, R5;
    # retained (attended on or after day 90): R5 only.
    assert (h.loc["retention_90", "numerator"], h.loc["retention_90", "denominator"]) == (1, 4)
    low, high = proportion_confint(1, 4, method="wilson")
    assert h.loc["retention_90", "ci_low"] == pytest.approx(low)
    # KM of dropout over monitored R1 (event 49), R2 (84+), R4 (14+), R5 (98+):
    # S(49) = 1 - 1/3, unchanged to day 90.
    assert h.loc["retention_90_km", "estimate"] == pytest.approx(2 / 3)
    # Monitored R1, R2, R4, R5: sustained R1, R2, R5; not relapsed R2, R4, R5.
    assert h.loc["sustained_abstinence", "estimate"] == pytest.approx(3 / 4)
    assert h.loc["not_relapsed", "estimate"] == pytest.approx(3 / 4)


def test_sensitivity_shows_the_change(cohort):
    s = recovery_sensitivity(cohort, AS_OF).set_index("metric")
    # Ignoring R2's missed week turns a later positive into a relapse: 3/4 -> 2/4.
    assert s.loc["not_relapsed", "difference"] == pytest.approx(-0.25)
    assert s.loc["retention_90", "difference"] == 0


def test_bad_definitions_are_clear(cohort):
    with pytest.raises(CaseworkError, match="`missing_as` must be one of"):
        recovery_outcomes(cohort, AS_OF, missing_as="negative")
    with pytest.raises(CaseworkError, match="`sustained_weeks`"):
        recovery_outcomes(cohort, AS_OF, sustained_weeks=0)


def test_row_order_does_not_matter(cohort):
    tables = {name: cohort.table(name) for name in ("placements", "cases", "stages", "visits")}
    shuffled = {n: f.sample(frac=1, random_state=3) for n, f in tables.items()}
    a = recovery_outcomes(load(tables), AS_OF)
    b = recovery_outcomes(load(shuffled), AS_OF).set_index("case_id").loc[a["case_id"]]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index())


def test_example_case_keeps_coming_and_stays_negative():
    example = load("data/example")
    o = recovery_outcomes(example, "2024-10-31", missing_as="ignore").iloc[0]
    assert o["sustained"] and not o["relapsed"] and not o["dropped_out"]
    assert o["weeks_negative"] == 25 and np.isclose(o["follow_up_days"], 189)
