"""Per-case recovery timelines on the hand-built monitoring cohort of
``monitoring.py``; every number is worked out by hand there or in the comments.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitoring import AS_OF, N, P, hand_cohort

from casework_analytics import CaseworkError, load
from casework_analytics.timelines import (
    RecoveryDefinition,
    recovery_outcomes,
    recovery_timelines,
    weekly_status,
)


@pytest.fixture(scope="module")
def cohort():
    return hand_cohort()


@pytest.fixture(scope="module")
def outcomes(cohort):
    return recovery_outcomes(cohort, AS_OF).set_index("case_id")


def test_event_falls_on_the_day_of_the_screen_that_shows_it(outcomes):
    # H1: weeks 0-3 negative (days 2, 9, 16, 23): sustained on day 23. Week 4 holds a
    # negative on day 28 and a positive on day 31: the week is positive and its day is
    # 31, the positive screen, never 28.
    h1 = outcomes.loc["H1"]
    assert (h1["sustained_day"], h1["first_positive_day"], h1["relapse_day"]) == (23, 31, 31)
    assert (h1["relapse_time"], h1["relapse_observed"]) == (8, True)  # 31 - 23
    assert (h1["n_lapses"], h1["longest_negative_run"], h1["status"]) == (0, 17, "relapsed")
    assert (h1["weeks_negative"], h1["weeks_positive"]) == (21, 1)
    assert (h1["dropped_out"], h1["retention_days"]) == (False, 149)
    assert (h1["dropout_time"], h1["dropout_observed"]) == (149, False)


def test_retention_is_the_last_attended_visit(outcomes):
    # H2: missed on day 84, attended on day 90 of the same week: retained to day 90.
    # Monitoring ended as planned on day 91, so nothing after it is a dropout.
    h2 = outcomes.loc["H2"]
    assert (h2["retention_days"], h2["dropped_out"], h2["status"]) == (90, False, "abstinent")
    assert (h2["monitoring_ended"], h2["monitoring_completed"]) == (True, True)
    assert (h2["sustained_day"], h2["weeks_negative"], h2["weeks_missed"]) == (24, 13, 0)
    assert (h2["visits_scheduled"], h2["visits_attended"], h2["follow_up_days"]) == (14, 13, 90)
    assert (h2["first_positive_time"], h2["first_positive_observed"]) == (90, False)
    assert (h2["relapse_time"], h2["relapse_observed"]) == (66, False)  # 90 - 24


def test_dropout_counts_missed_visits_not_weeks(outcomes):
    # H3: two missed visits in week 2 (days 14 and 17) are a dropout on day 14; the
    # client came back on day 21 and stays a dropout, with the return recorded.
    h3 = outcomes.loc["H3"]
    assert (h3["dropped_out"], h3["dropout_day"], h3["dropout_rule"]) == (True, 14, "missed_visits")
    assert (h3["returned"], h3["return_day"], h3["retention_days"]) == (True, 21, 7)
    assert h3["status"] == "dropped_out"
    # The missed week counts positive (day 14) and is a lapse; the run restarts in
    # week 3 and reaches 4 in week 6 (day 42).
    assert (h3["first_positive_day"], h3["n_lapses"], h3["sustained_day"]) == (14, 1, 42)


def test_a_gap_without_rows_is_a_dropout(outcomes):
    # H4: last attended on day 22, nothing after it, due until day 151: a gap of 129 > 21
    # days, so a dropout on day 22 + 7 + 1 = 30. Due visits on days 29, 36, ..., 148
    # (18 weeks, 4-21) were never recorded; under missing_as="positive" the first of
    # them (day 29) is a relapse 7 days after sustained abstinence (day 22).
    h4 = outcomes.loc["H4"]
    assert (h4["dropout_day"], h4["dropout_rule"], h4["status"]) == (30, "gap", "dropped_out")
    assert (h4["weeks_unrecorded"], h4["retention_days"], h4["returned"]) == (18, 22, False)
    assert (h4["sustained_day"], h4["relapse_day"], h4["relapse_time"]) == (22, 29, 7)


def test_never_abstinent_and_never_attended(outcomes):
    # H5: positive every week from day 5 to 145; attended throughout (last gap to as_of
    # is 6 days): never abstinent, not a dropout, cannot relapse.
    h5 = outcomes.loc["H5"]
    assert (h5["status"], h5["sustained"], h5["relapsed"]) == ("never_abstinent", False, False)
    assert (h5["weeks_positive"], h5["first_positive_day"], h5["retention_days"]) == (21, 5, 145)
    assert pd.isna(h5["relapse_time"]) and pd.isna(h5["relapse_observed"])
    # H6: three missed visits: a dropout on day 0; never attended, so no retention.
    h6 = outcomes.loc["H6"]
    assert (h6["dropout_day"], h6["status"]) == (0, "dropped_out")
    assert pd.isna(h6["retention_days"]) and h6["visits_attended"] == 0
    # H7: no visit at all: not monitored, no survival times.
    h7 = outcomes.loc["H7"]
    assert (h7["monitored"], h7["status"]) == (False, "not_monitored")
    assert pd.isna(h7["dropout_time"]) and pd.isna(h7["first_positive_time"])
    # H8: two negative weeks so far: not yet abstinent, still monitored.
    assert outcomes.loc["H8", "status"] == "never_abstinent"


def test_a_closure_that_ends_monitoring_is_not_a_dropout(outcomes):
    # H10 died on day 60 (the taxonomy marks `died` as ending monitoring): due until day
    # 60, last visit day 56, so no gap dropout; weeks after it are not scheduled.
    h10 = outcomes.loc["H10"]
    assert (h10["dropped_out"], h10["status"], h10["sustained_day"]) == (False, "abstinent", 21)
    assert (h10["monitoring_ended"], h10["monitoring_completed"]) == (True, False)
    assert h10["weeks_unrecorded"] == 0 and (h10["relapse_time"], h10["relapse_observed"]) == (
        35,
        False,
    )


def test_missing_as_ignore_skips_missed_and_unrecorded_weeks(cohort):
    o = recovery_outcomes(cohort, AS_OF, definition=RecoveryDefinition(missing_as="ignore"))
    o = o.set_index("case_id")
    # H3 without its missed week: negatives in weeks 0, 1, 3, 4 make the run (day 28).
    assert (o.loc["H3", "sustained_day"], o.loc["H3", "n_lapses"]) == (28, 0)
    # H4's unrecorded weeks count neither way: no relapse, still a dropout on day 30.
    assert (o.loc["H4", "relapsed"], o.loc["H4", "dropout_day"]) == (False, 30)
    assert (o.loc["H4", "relapse_time"], o.loc["H4", "relapse_observed"]) == (0, False)


def test_weekly_table_by_hand(cohort):
    w = weekly_status(cohort, AS_OF)
    h1 = w[w["case_id"] == "H1"].set_index("week")
    assert len(h1) == 22  # weeks 0-21
    assert h1.loc[4, ["status", "day", "n_visits"]].tolist() == ["positive", 31, 2]
    h2 = w[w["case_id"] == "H2"].set_index("week")
    assert h2.loc[12, ["status", "day", "n_visits"]].tolist() == ["negative", 90, 2]
    assert h2.loc[13, ["status", "day"]].tolist() == ["not_scheduled", 91]
    h4 = w[w["case_id"] == "H4"].set_index("week")
    assert h4.loc[4, ["status", "day", "counted"]].tolist() == ["unrecorded", 29, "positive"]
    assert (h4["status"] == "unrecorded").sum() == 18
    h3 = w[w["case_id"] == "H3"].set_index("week")
    assert h3.loc[2, ["status", "day", "n_visits"]].tolist() == ["missed", 14, 2]
    assert len(w[w["case_id"] == "H8"]) == 2  # 20 May to 31 May: weeks 0 and 1


def test_planned_monitoring_length_ends_the_due_period(cohort):
    # With a planned 21 days of monitoring, H4 (last visit day 22) completed it.
    o = recovery_outcomes(cohort, AS_OF, definition=RecoveryDefinition(monitoring_days=21))
    h4 = o.set_index("case_id").loc["H4"]
    assert (h4["dropped_out"], h4["monitoring_completed"], h4["weeks_unrecorded"]) == (
        False,
        True,
        0,
    )


def test_gap_between_attended_visits_and_return():
    # H11: N on days 0, 7, 14, then on day 50 (gap 36 > 21): dropout on 14 + 8 = 22,
    # returned on day 50; the due visits on days 21, 28, 35, 42, 49 fall in weeks 3-7,
    # but week 7 (49-55) holds the day-50 visit, so 4 weeks are unrecorded.
    extra = pd.DataFrame(
        {
            "case_id": ["H11"],
            "placement_id": ["P1"],
            "client_id": ["K11"],
            "intake_date": ["2024-01-01"],
            "monitoring_end_date": ["2024-02-20"],
        }
    )
    visits = [("H11", "2024-01-01", d, N) for d in (0, 7, 14, 50)]
    cohort = hand_cohort(extra, visits)
    h11 = recovery_outcomes(cohort, AS_OF).set_index("case_id").loc["H11"]
    assert (h11["dropout_day"], h11["dropout_rule"], h11["returned"], h11["return_day"]) == (
        22,
        "gap",
        True,
        50,
    )
    assert (h11["weeks_unrecorded"], h11["retention_days"], h11["monitoring_completed"]) == (
        4,
        14,
        False,
    )


def test_definitions_are_checked():
    with pytest.raises(CaseworkError, match="`missing_as` must be one of"):
        RecoveryDefinition(missing_as="negative")
    # A gap rule shorter than the schedule would date dropouts after their gap
    # (one visit on day 0, gap 8, interval 30: dropout on day 31), even after as_of.
    with pytest.raises(CaseworkError, match="must be at least `schedule_interval_days`"):
        RecoveryDefinition(dropout_gap_days=8, schedule_interval_days=30)
    assert RecoveryDefinition(dropout_gap_days=7).dropout_gap_days == 7
    for field in ("sustained_weeks", "dropout_missed", "dropout_gap_days", "monitoring_days"):
        with pytest.raises(CaseworkError, match=f"`{field}` must be a whole number"):
            RecoveryDefinition(**{field: 0})
    with pytest.raises(CaseworkError, match="`sustained_weeks` must be a whole number"):
        RecoveryDefinition(sustained_weeks=True)
    with pytest.raises(CaseworkError, match="must be a RecoveryDefinition"):
        recovery_outcomes(hand_cohort(), AS_OF, definition={"missing_as": "ignore"})


def test_timelines_are_the_two_tables_at_once(cohort):
    weekly, outcomes = recovery_timelines(cohort, AS_OF)
    pd.testing.assert_frame_equal(weekly, weekly_status(cohort, AS_OF))
    pd.testing.assert_frame_equal(outcomes, recovery_outcomes(cohort, AS_OF))


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(["positive", "ignore"]))
def test_row_order_changes_nothing(rnd, missing_as):
    cohort = hand_cohort()
    tables = {n: cohort.table(n) for n in ("placements", "cases", "stages", "visits")}
    shuffled = {n: f.sample(frac=1, random_state=rnd.randrange(2**32)) for n, f in tables.items()}
    d = RecoveryDefinition(missing_as=missing_as)
    a = recovery_outcomes(load(tables), AS_OF, definition=d)
    b = recovery_outcomes(load(shuffled), AS_OF, definition=d)
    b = b.set_index("case_id").loc[a["case_id"]].reset_index()
    pd.testing.assert_frame_equal(a, b)


def _one_case(visits):
    """Case R, intake 2024-01-01, open, with ``visits`` as (day, result); None: missed."""
    day = pd.Timestamp("2024-01-01")
    rows = [
        ("R", (day + pd.Timedelta(days=d)).date().isoformat(), r is not None, r) for d, r in visits
    ]
    return load(
        {
            "placements": pd.DataFrame(
                {
                    "placement_id": ["P1"],
                    "site": ["S"],
                    "caseworker_id": ["W"],
                    "start_date": "2024-01-01",
                    "end_date": "2024-06-30",
                }
            ),
            "cases": pd.DataFrame(
                {
                    "case_id": ["R"],
                    "placement_id": ["P1"],
                    "client_id": ["K"],
                    "intake_date": ["2024-01-01"],
                }
            ),
            "stages": pd.DataFrame(
                {"case_id": ["R"], "stage": ["engagement"], "started_on": ["2024-01-01"]}
            ),
            "visits": pd.DataFrame(
                rows, columns=["case_id", "visit_date", "attended", "test_result"]
            ),
        }
    )


def test_a_long_gap_whose_due_weeks_all_hold_visits():
    # Attended on days 0 and 28, missed on 7, 14 and 21: the gap between the
    # attended visits is 28 > 21 days, but each of its due weeks holds a missed
    # visit, so no week is unrecorded. The three missed visits drop the case out on
    # day 7 (the first of two in a row), before the gap's day 0 + 7 + 1 = 8.
    # (Found by review: this raised IndexError before.)
    cohort = _one_case([(0, N), (7, None), (14, None), (21, None), (28, N)])
    weekly, out = recovery_timelines(cohort, "2024-01-30")
    assert weekly["status"].tolist() == ["negative", "missed", "missed", "missed", "negative"]
    o = out.iloc[0]
    assert (o["dropout_day"], o["dropout_rule"], o["weeks_unrecorded"]) == (7, "missed_visits", 0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 150), st.sampled_from(["N", "P", "M", "X"])),
        min_size=1,
        max_size=30,
        unique_by=lambda v: v[0],
    ),
    st.integers(1, 6),
    st.integers(1, 4),
    st.integers(7, 40),
)
def test_invariants_on_random_visit_lists(visits, k, missed, gap):
    result = {"N": N, "P": P, "M": None, "X": "not_done"}
    cohort = _one_case([(d, result[c]) for d, c in visits])
    d = RecoveryDefinition(sustained_weeks=k, dropout_missed=missed, dropout_gap_days=gap)
    weekly, out = recovery_timelines(cohort, AS_OF, definition=d)
    o = out.iloc[0]
    days = {day for day, _ in visits}
    # Every event sits on a day that a visit was recorded, or on a due day of a gap.
    recorded = weekly.loc[weekly["status"] != "not_scheduled", "day"]
    for column in ("first_positive_day", "sustained_day", "relapse_day"):
        if pd.notna(o[column]):
            assert o[column] in set(recorded)
    if pd.notna(o["retention_days"]):
        assert o["retention_days"] in days
    # Weeks reconcile with visits; a relapse needs sustained abstinence first.
    assert weekly["n_visits"].sum() == o["visits_scheduled"] == len(visits)
    assert not o["relapsed"] or (o["sustained"] and o["relapse_day"] > o["sustained_day"])
    assert o["longest_negative_run"] >= k or not o["sustained"]
    if o["dropped_out"] and pd.notna(o["retention_days"]):
        assert o["retention_days"] < o["dropout_day"]
    assert np.isin(o["status"], ["dropped_out", "relapsed", "abstinent", "never_abstinent"])
    # The weeks with visits and the dropout day, against a plain reading of the
    # module's definitions one visit at a time.
    kinds = {"P": "positive", "N": "negative", "X": "no_result", "M": "missed"}
    by_week = {}
    for day, c in sorted(visits):
        by_week.setdefault(day // 7, []).append((day, kinds[c]))
    seen = weekly.set_index("week").loc[sorted(by_week)]
    for week, in_week in by_week.items():
        status = min((k for _, k in in_week), key=list(kinds.values()).index)
        assert seen.loc[week, "status"] == status
        assert seen.loc[week, "day"] == min(day for day, k in in_week if k == status)
        assert seen.loc[week, "n_visits"] == len(in_week)
    due = (pd.Timestamp(AS_OF) - pd.Timestamp("2024-01-01")).days
    dropout = []
    ordered = sorted(visits)
    for i in range(len(ordered) - missed + 1):  # the first run of `missed` missed visits
        run = ordered[i : i + missed]
        if all(c == "M" for _, c in run) and (i == 0 or ordered[i - 1][1] != "M"):
            dropout.append(run[0][0])
            break
    attended = [day for day, c in ordered if c != "M"]
    for day, following in zip(attended, [*attended[1:], due], strict=False):
        if min(due, following) - day > gap:
            dropout.append(day + 7 + 1)  # one schedule interval after the last visit, then a day
            break
    expected = min(dropout) if dropout else None
    assert (pd.isna(o["dropout_day"]) and expected is None) or o["dropout_day"] == expected


def test_documented_case_keeps_coming_and_stays_negative():
    # BNNK Tebing Tinggi: monitoring ended as planned on 30 Sep 2024 (day 189). Ignoring
    # the one missed visit (27 May), the client is abstinent from day 14 on: 25 negative
    # weeks, sustained on day 35 (weeks 2-5), no relapse, no dropout.
    example = load("data/example")
    ignore = RecoveryDefinition(missing_as="ignore")
    o = recovery_outcomes(example, "2024-10-31", definition=ignore).iloc[0]
    assert (o["status"], o["weeks_negative"], o["sustained_day"]) == ("abstinent", 25, 35)
    assert (o["dropped_out"], o["monitoring_completed"], o["follow_up_days"]) == (False, True, 189)
    # Counted positive, the missed visit on day 63 is a relapse 28 days after day 35.
    o = recovery_outcomes(example, "2024-10-31").iloc[0]
    assert (o["status"], o["relapse_day"], o["relapse_time"]) == ("relapsed", 63, 28)


def test_dropping_the_weekly_grid_changes_no_table():
    """The dashboard frees the weekly grid before its audit; a per-week table asked
    for afterwards is built again, the same, and the outcomes stay as they were."""
    from casework_analytics.summary import Summary

    run = Summary(load("data/sample"), "2025-04-15", "site")
    weekly = run.table("weekly_status")
    sensitivity = run.table("recovery_sensitivity")
    outcomes = run.outcomes
    run.drop_weekly_grid()
    assert "_timeline" not in run.__dict__
    assert run.outcomes is outcomes
    pd.testing.assert_frame_equal(run.table("recovery_sensitivity"), sensitivity)
    pd.testing.assert_frame_equal(run.table("weekly_status"), weekly)
